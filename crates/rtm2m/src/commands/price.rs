//! `rtm2m price`: premiums and Greeks from a CSV of options.

use crate::table::{open_input, read_table, write_number, Row};
use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use rtm2m_pricing::american::{american_greeks, AmericanSettings};
use rtm2m_pricing::batch::{price_batch, GreeksBatch, OptionBatch};
use rtm2m_pricing::monte_carlo::{european_mc, McSettings};
use rtm2m_pricing::{black_scholes, BsInputs, OptionKind, PricingError};
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

/// Input columns of `rtm2m price`.
pub const PRICE_COLUMNS: [&str; 7] = [
    "type",
    "spot",
    "strike",
    "expiry_years",
    "vol",
    "rate",
    "dividend",
];

/// Exercise style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Style {
    /// Exercise at expiry only.
    European,
    /// Exercise at any time up to expiry.
    American,
}

/// Pricing model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Model {
    /// Closed form (European) or the Leisen–Reimer tree with Richardson extrapolation (American).
    Analytic,
    /// Seeded Monte Carlo (European), Greeks by common-random-number bumps.
    Mc,
}

/// Arguments of `rtm2m price`.
#[derive(Debug, Args)]
pub struct PriceArgs {
    /// Exercise style.
    #[arg(long, value_enum, default_value_t = Style::European)]
    pub style: Style,
    /// Pricing model.
    #[arg(long, value_enum, default_value_t = Model::Analytic)]
    pub model: Model,
    /// Input CSV (`type,spot,strike,expiry_years,vol,rate,dividend`); standard input when absent or `-`.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Monte Carlo paths per option (with `--model mc`).
    #[arg(long, default_value_t = 200_000)]
    pub paths: usize,
    /// Monte Carlo seed (with `--model mc`): the same seed gives bit-identical output.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Append a `std_error` column with the Monte Carlo standard error of the price (with `--model mc`).
    #[arg(long)]
    pub with_std_error: bool,
}

/// Runs `rtm2m price`.
pub fn run(args: &PriceArgs) -> anyhow::Result<()> {
    if args.style == Style::American && args.model == Model::Mc {
        bail!("--style american --model mc: American Monte Carlo is not offered; use --model analytic (tree)");
    }
    let rows = read_table(open_input(args.input.as_deref())?, &PRICE_COLUMNS)?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mc = args.model == Model::Mc;
    out.write_all(b"price,delta,gamma,vega,theta,rho,error")?;
    if mc && args.with_std_error {
        out.write_all(b",std_error")?;
    }
    out.write_all(b"\n")?;
    match (args.style, args.model) {
        (Style::European, Model::Analytic) => write_batch(&rows, &mut out)?,
        (Style::American, _) => {
            let settings = AmericanSettings::default();
            for row in &rows {
                let (kind, inputs) = option_of(row);
                let result = american_greeks(kind, &inputs, &settings);
                write_result(
                    &mut out,
                    result.map(|g| [g.price, g.delta, g.gamma, g.vega, g.theta, g.rho]),
                    None,
                )?;
            }
        }
        (Style::European, Model::Mc) => {
            let settings = McSettings {
                paths: args.paths,
                seed: args.seed,
                antithetic: true,
                control_variate: true,
            };
            for row in &rows {
                let (kind, inputs) = option_of(row);
                let (greeks, std_error) = match mc_greeks(kind, &inputs, &settings) {
                    Ok((g, se)) => (Ok(g), Some(se)),
                    Err(e) => (Err(e), None),
                };
                write_result(
                    &mut out,
                    greeks,
                    if args.with_std_error {
                        Some(std_error)
                    } else {
                        None
                    },
                )?;
            }
        }
    }
    out.flush().context("writing the output")?;
    Ok(())
}

fn option_of(row: &Row) -> (OptionKind, BsInputs) {
    let n = &row.numbers;
    let kind = if row.is_call {
        OptionKind::Call
    } else {
        OptionKind::Put
    };
    (
        kind,
        BsInputs {
            spot: n[0],
            strike: n[1],
            expiry_years: n[2],
            vol: n[3],
            rate: n[4],
            dividend: n[5],
        },
    )
}

/// European closed form through the SIMD batch path (all cores for large inputs).
fn write_batch(rows: &[Row], out: &mut impl Write) -> anyhow::Result<()> {
    let mut batch = OptionBatch::with_capacity(rows.len());
    for row in rows {
        let (kind, inputs) = option_of(row);
        batch.push(kind, &inputs);
    }
    let mut greeks = GreeksBatch::default();
    price_batch(&batch, &mut greeks, 0)?;
    for i in 0..rows.len() {
        let result = match greeks.error(i) {
            Some(e) => Err(e),
            None => Ok([
                greeks.price[i],
                greeks.delta[i],
                greeks.gamma[i],
                greeks.vega[i],
                greeks.theta[i],
                greeks.rho[i],
            ]),
        };
        write_result(out, result, None)?;
    }
    Ok(())
}

fn write_result(
    out: &mut impl Write,
    result: Result<[f64; 6], PricingError>,
    std_error: Option<Option<f64>>,
) -> io::Result<()> {
    match result {
        Ok(values) => {
            for v in values {
                write_number(out, v)?;
                out.write_all(b",")?;
            }
        }
        Err(e) => {
            out.write_all(b",,,,,,")?;
            out.write_all(e.to_string().replace(',', ";").as_bytes())?;
        }
    }
    if let Some(se) = std_error {
        out.write_all(b",")?;
        if let Some(se) = se {
            write_number(out, se)?;
        }
    }
    out.write_all(b"\n")
}
/// Monte Carlo price with Greeks by central bumps on common random numbers (same seed for every bump),
/// so the differences are not swamped by sampling noise. Returns the Greeks and the price's standard error.
fn mc_greeks(
    kind: OptionKind,
    i: &BsInputs,
    settings: &McSettings,
) -> Result<([f64; 6], f64), PricingError> {
    i.validate()?;
    if i.expiry_years == 0.0 || i.vol == 0.0 {
        // A deterministic payoff: the limit values are exact and sampling adds nothing.
        let g = black_scholes(kind, i)?;
        return Ok(([g.price, g.delta, g.gamma, g.vega, g.theta, g.rho], 0.0));
    }
    let price_at = |inputs: &BsInputs| european_mc(kind, inputs, settings).map(|r| r.price);
    let base = european_mc(kind, i, settings)?;
    let ds = 1e-3 * i.spot;
    let up = price_at(&BsInputs {
        spot: i.spot + ds,
        ..*i
    })?;
    let down = price_at(&BsInputs {
        spot: i.spot - ds,
        ..*i
    })?;
    let dv = 1e-3;
    let vega = (price_at(&BsInputs {
        vol: i.vol + dv,
        ..*i
    })? - price_at(&BsInputs {
        vol: (i.vol - dv).max(0.0),
        ..*i
    })?) / (i.vol + dv - (i.vol - dv).max(0.0));
    let dt = (1.0 / 365.0_f64).min(0.5 * i.expiry_years);
    let theta = if dt > 0.0 {
        (price_at(&BsInputs {
            expiry_years: i.expiry_years - dt,
            ..*i
        })? - base.price)
            / dt
    } else {
        0.0
    };
    let dr = 1e-4;
    let rho = (price_at(&BsInputs {
        rate: i.rate + dr,
        ..*i
    })? - price_at(&BsInputs {
        rate: i.rate - dr,
        ..*i
    })?) / (2.0 * dr);
    let delta = (up - down) / (2.0 * ds);
    let gamma = (up - 2.0 * base.price + down) / (ds * ds);
    Ok(([base.price, delta, gamma, vega, theta, rho], base.std_error))
}
