//! One module per subcommand.

pub mod bench;
pub mod iv;
pub mod price;
