//! One module per subcommand.

pub mod bench;
pub mod conformance;
pub mod import;
pub mod index;
pub mod iv;
pub mod margin;
pub mod price;
pub mod proof;
pub mod simulate;
