//! `rtm2m margin`: margins every account of a portfolio file on a market snapshot file.

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use rtm2m_margin::account::Portfolio;
use rtm2m_margin::engine::{margin_portfolio, MarginReport, Model};
use rtm2m_margin::market::MarketSnapshot;
use serde_json::json;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

/// Margin model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelName {
    /// Deribit-style per-position standard margin.
    Standard,
    /// rtm2m's portfolio model (scenario grid, cross-asset, contingencies, dynamic liquidation add-on).
    Rtm2m,
    /// Deribit's portfolio margin (risk matrix) with the parameters Deribit publishes for BTC, per currency.
    DeribitPm,
    /// Derive's PMRM_2 portfolio margin with Derive's published test parameters, per underlying.
    DerivePmrm2,
}

/// Arguments of `rtm2m margin`.
#[derive(Debug, Args)]
pub struct MarginArgs {
    /// Portfolio JSON file (accounts, positions, collateral; format in docs/margin.md).
    #[arg(long)]
    pub portfolio: PathBuf,
    /// Market snapshot JSON file (oracle prices, forwards, rates, mark IVs; format in docs/margin.md).
    #[arg(long)]
    pub market: PathBuf,
    /// Margin model of the accounts that do not name their own (`model`, `model_by_underlying` in the file).
    #[arg(long, value_enum, default_value = "rtm2m")]
    pub model: ModelName,
    /// One JSON report per account per line instead of text.
    #[arg(long)]
    pub json: bool,
}

fn text(r: &MarginReport) -> String {
    let ratio = r
        .margin_ratio
        .map_or("n/a".to_owned(), |x| format!("{:.4}", x));
    let mut s = format!(
        "{}  model={}  equity_usd={:.2}  im_usd={:.2}  mm_usd={:.2}  margin_ratio={ratio}  status={}",
        r.account,
        r.model,
        r.equity_usd,
        r.im_usd,
        r.mm_usd,
        json!(r.status).as_str().unwrap_or("?"),
    );
    if let Some(w) = &r.worst_scenario {
        s.push_str(&format!(
            "\n  worst: {} pnl_usd={:.2}",
            w.scenario, w.pnl_usd
        ));
    }
    for p in &r.positions {
        s.push_str(&format!(
            "\n  {} size={} value_usd={:.2} pnl_worst_usd={:.2} delta={:.4}",
            p.instrument, p.size, p.value_usd, p.pnl_worst_usd, p.greeks.delta_coin
        ));
    }
    s
}

/// Runs `rtm2m margin`; fails (exit status 1) when a file cannot be read or any account cannot be margined
/// (the other accounts are still reported).
pub fn run(args: &MarginArgs) -> anyhow::Result<()> {
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).with_context(|| format!("{}: cannot read", p.display()))
    };
    let portfolio = Portfolio::from_json(&read(&args.portfolio)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.portfolio.display()))?;
    let market = MarketSnapshot::from_json(&read(&args.market)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.market.display()))?;
    let name = args
        .model
        .to_possible_value()
        .expect("every model has a name");
    let model = Model::preset(name.get_name())
        .ok_or_else(|| anyhow::anyhow!("model {} has no preset", name.get_name()))?;
    let reports = margin_portfolio(&portfolio, &market, &model)?;
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = 0usize;
    for (account, report) in portfolio.accounts.iter().zip(reports) {
        match report {
            Ok(r) if args.json => writeln!(out, "{}", serde_json::to_string(&r)?)?,
            Ok(r) => writeln!(out, "{}", text(&r))?,
            Err(e) => {
                failed += 1;
                if args.json {
                    writeln!(
                        out,
                        "{}",
                        json!({"account": account.id, "error": e.to_string()})
                    )?;
                } else {
                    writeln!(out, "{}  error: {e}", account.id)?;
                }
            }
        }
    }
    out.flush()?;
    if failed > 0 {
        bail!("{failed} account(s) could not be margined");
    }
    Ok(())
}
