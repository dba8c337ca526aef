//! One module per subcommand.

pub mod bench;
pub mod bench_engine;
pub mod conformance;
pub mod import;
pub mod index;
pub mod iv;
pub mod margin;
pub mod price;
pub mod proof;
pub mod replay;
pub mod run;
pub mod serve;
pub mod simulate;
pub mod state_hash;
pub mod surface;
