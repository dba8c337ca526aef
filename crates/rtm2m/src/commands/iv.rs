//! `rtm2m iv`: implied volatilities from a CSV of premiums.

use crate::table::{open_input, read_table, write_number};
use anyhow::Context;
use clap::Args;
use rtm2m_pricing::{implied_vol_black_scholes, OptionKind};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

/// Input columns of `rtm2m iv`.
pub const IV_COLUMNS: [&str; 7] = [
    "type",
    "price",
    "spot",
    "strike",
    "expiry_years",
    "rate",
    "dividend",
];

/// Arguments of `rtm2m iv`.
#[derive(Debug, Args)]
pub struct IvArgs {
    /// Input CSV (`type,price,spot,strike,expiry_years,rate,dividend`); standard input when absent or `-`.
    #[arg(long)]
    pub input: Option<PathBuf>,
}

/// Runs `rtm2m iv`.
pub fn run(args: &IvArgs) -> anyhow::Result<()> {
    let rows = read_table(open_input(args.input.as_deref())?, &IV_COLUMNS)?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    out.write_all(b"iv,error\n")?;
    for row in &rows {
        let n = &row.numbers;
        let kind = if row.is_call {
            OptionKind::Call
        } else {
            OptionKind::Put
        };
        match implied_vol_black_scholes(kind, n[0], n[1], n[2], n[3], n[4], n[5]) {
            Ok(iv) => {
                write_number(&mut out, iv)?;
                out.write_all(b",\n")?;
            }
            Err(e) => {
                if let rtm2m_pricing::IvError::Invalid { field, reason } = e {
                    eprintln!("line {}: {field}: {reason}", row.line);
                }
                out.write_all(b",")?;
                out.write_all(e.code().as_bytes())?;
                out.write_all(b"\n")?;
            }
        }
    }
    out.flush().context("writing the output")?;
    Ok(())
}
