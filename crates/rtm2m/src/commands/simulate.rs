//! `rtm2m simulate`: simulations on synthetic populations. `simulate cascade` runs a price shock through a
//! seeded population twice — accounts re-marked at every step, and only every `--mark-interval` seconds — with
//! the liquidations' price impact fed back into the index, and reports what the latency of marking costs
//! (`rtm2m_liquidation::cascade`, docs/liquidation.md).

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use rtm2m_liquidation::cascade::{
    compare_marking, CascadeComparison, CascadeParams, CascadeReport,
};
use rtm2m_liquidation::impact::ImpactModel;
use serde_json::json;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

/// Arguments of `rtm2m simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// What to simulate.
    #[command(subcommand)]
    pub what: Simulation,
}

/// The simulations.
#[derive(Debug, Subcommand)]
pub enum Simulation {
    /// Liquidation cascade after a price shock: continuous against periodic marking.
    Cascade(CascadeArgs),
}

/// Price-impact model of liquidation flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImpactKind {
    /// ΔP/P = 1%·Q/depth (uniform book depth).
    Linear,
    /// ΔP/P = Y·σ_daily·√(Q/V_daily) (square-root law, Tóth et al. 2011).
    Sqrt,
}

/// Arguments of `rtm2m simulate cascade`.
#[derive(Debug, Args)]
pub struct CascadeArgs {
    /// Accounts in the synthetic population.
    #[arg(long, default_value_t = 10_000)]
    pub accounts: usize,
    /// Seed of the population and of the price path's noise.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Exogenous relative move of the index over the crash (−0.2: −20%).
    #[arg(long, default_value_t = -0.2, allow_negative_numbers = true)]
    pub shock: f64,
    /// Length of the crash, seconds.
    #[arg(long, default_value_t = 1800)]
    pub crash_seconds: i64,
    /// Length of the simulation, seconds.
    #[arg(long, default_value_t = 7200)]
    pub duration: i64,
    /// Step of the price path, seconds: the continuous marking re-marks at every step.
    #[arg(long, default_value_t = 60)]
    pub step: i64,
    /// Interval of the periodic marking, seconds (a multiple of --step).
    #[arg(long, default_value_t = 3600)]
    pub mark_interval: i64,
    /// Price-impact model of the liquidation flow.
    #[arg(long, value_enum, default_value_t = ImpactKind::Linear)]
    pub impact: ImpactKind,
    /// Linear impact: USD notional that moves the index by 1%.
    #[arg(long, default_value_t = 20e6)]
    pub depth_usd_per_pct: f64,
    /// Square-root impact: Y (of order 1).
    #[arg(long, default_value_t = 1.0)]
    pub impact_y: f64,
    /// Square-root impact: daily volatility, fraction (default: --noise-vol / √365).
    #[arg(long)]
    pub vol_daily: Option<f64>,
    /// Square-root impact: daily traded volume, USD.
    #[arg(long, default_value_t = 2e9)]
    pub volume_daily_usd: f64,
    /// Annual vol of the price path's noise, fraction.
    #[arg(long, default_value_t = 0.5)]
    pub noise_vol: f64,
    /// Rise of the ATM vol per unit of log fall of the index.
    #[arg(long, default_value_t = 1.0)]
    pub vol_spot_beta: f64,
    /// Insurance fund at the start, USD.
    #[arg(long, default_value_t = 1e6)]
    pub insurance_fund_usd: f64,
    /// Liquidation fee, fraction of the value traded.
    #[arg(long, default_value_t = 0.005)]
    pub fee_rate: f64,
    /// Most cascade rounds per mark.
    #[arg(long, default_value_t = 50)]
    pub max_rounds: u32,
    /// Write both runs' liquidation events here, JSON Lines `{"marking": ..., "event": {...}}`.
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// One JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

fn params(args: &CascadeArgs) -> CascadeParams {
    let defaults = CascadeParams::rtm2m_default();
    let impact = match args.impact {
        ImpactKind::Linear => ImpactModel::Linear {
            depth_usd_per_pct: args.depth_usd_per_pct,
        },
        ImpactKind::Sqrt => ImpactModel::Sqrt {
            y: args.impact_y,
            vol_daily: args.vol_daily.unwrap_or(args.noise_vol / 365.0f64.sqrt()),
            volume_daily_usd: args.volume_daily_usd,
        },
    };
    CascadeParams {
        accounts: args.accounts,
        seed: args.seed,
        shock: args.shock,
        crash_s: args.crash_seconds,
        duration_s: args.duration,
        step_s: args.step,
        mark_interval_s: args.mark_interval,
        noise_vol: args.noise_vol,
        vol_spot_beta: args.vol_spot_beta,
        impact,
        insurance_fund_usd: args.insurance_fund_usd,
        liquidation_fee_rate: args.fee_rate,
        max_rounds: args.max_rounds,
        keep_events: args.events.is_some(),
        ..defaults
    }
}

fn impact_text(m: &ImpactModel) -> String {
    match *m {
        ImpactModel::Linear { depth_usd_per_pct } => {
            format!("linear (depth {depth_usd_per_pct} USD per 1%)")
        }
        ImpactModel::Sqrt {
            y,
            vol_daily,
            volume_daily_usd,
        } => format!("sqrt (Y {y}, daily vol {vol_daily}, daily volume {volume_daily_usd} USD)"),
    }
}

/// The table's rows for one run: (label, value).
fn rows(r: &CascadeReport) -> Vec<(&'static str, String)> {
    let f = &r.insurance_fund;
    vec![
        ("marks", r.marks.to_string()),
        ("rounds", r.rounds.to_string()),
        ("rounds max per mark", r.rounds_max_per_mark.to_string()),
        ("round limit hit", r.round_limit_hit.to_string()),
        ("liquidations", r.liquidations.to_string()),
        ("accounts liquidated", r.accounts_liquidated.to_string()),
        ("close-outs", r.close_outs.to_string()),
        ("bankruptcies", r.bankruptcies.to_string()),
        ("bad debt USD", format!("{:.2}", r.bad_debt_usd)),
        ("fund fees in USD", format!("{:.2}", f.fees_usd)),
        ("fund paid out USD", format!("{:.2}", f.paid_usd)),
        ("fund drawdown USD", format!("{:.2}", f.drawdown_max_usd)),
        ("fund final USD", format!("{:.2}", f.balance_usd)),
        (
            "socialised loss USD",
            format!("{:.2}", r.socialised_loss_usd),
        ),
        ("traded value USD", format!("{:.0}", r.traded_value_usd)),
        ("delta sold BTC", format!("{:.4}", r.delta_sold_coin)),
        ("index final USD", format!("{:.2}", r.index_final_usd)),
        ("index min USD", format!("{:.2}", r.index_min_usd)),
        (
            "impact cumulative %",
            format!("{:.4}", 100.0 * r.impact_cumulative),
        ),
    ]
}

fn table(c: &CascadeComparison) -> String {
    let p = &c.params;
    let (a, b) = (&c.continuous.report, &c.periodic.report);
    let mut s = format!(
        "cascade: {} accounts (notional {:.0} USD), seed {}, shock {}% over {} s, {} s path in {} s steps\n\
         impact: {}\nexogenous index: {} -> {:.2} USD (min {:.2})\n\n",
        p.accounts,
        c.population_notional_usd,
        p.seed,
        p.shock * 100.0,
        p.crash_s,
        p.duration_s,
        p.step_s,
        impact_text(&p.impact),
        p.spot0_usd,
        c.exogenous_final_usd,
        c.exogenous_min_usd,
    );
    let head_b = format!("every {} s", b.mark_interval_s);
    s.push_str(&format!("{:<28}{:>20}{:>20}\n", "", "continuous", head_b));
    for ((name, x), (_, y)) in rows(a).into_iter().zip(rows(b)) {
        s.push_str(&format!("{name:<28}{x:>20}{y:>20}\n"));
    }
    s.push_str(&format!(
        "\nlatency cost (bad debt, every {} s − continuous): {:.2} USD\n",
        b.mark_interval_s,
        b.bad_debt_usd - a.bad_debt_usd
    ));
    s
}

fn write_events(path: &PathBuf, c: &CascadeComparison) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::new(file);
    for (marking, outcome) in [("continuous", &c.continuous), ("periodic", &c.periodic)] {
        for e in &outcome.events {
            writeln!(out, "{}", json!({"marking": marking, "event": e}))?;
        }
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Runs `rtm2m simulate`.
pub fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    match &args.what {
        Simulation::Cascade(a) => {
            let p = params(a);
            let c = compare_marking(&p)?;
            if let Some(path) = &a.events {
                write_events(path, &c)?;
            }
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            if a.json {
                let extra = c.periodic.report.bad_debt_usd - c.continuous.report.bad_debt_usd;
                let body = json!({
                    "params": c.params,
                    "population_notional_usd": c.population_notional_usd,
                    "exogenous_final_usd": c.exogenous_final_usd,
                    "exogenous_min_usd": c.exogenous_min_usd,
                    "continuous": c.continuous.report,
                    "periodic": c.periodic.report,
                    "bad_debt_extra_periodic_usd": extra,
                });
                writeln!(out, "{body}")?;
            } else {
                write!(out, "{}", table(&c))?;
            }
            out.flush()?;
            Ok(())
        }
    }
}
