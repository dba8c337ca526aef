//! `rtm2m bench`: throughput of the batch paths on random, realistic crypto inputs.

use anyhow::bail;
use clap::{Args, ValueEnum};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rtm2m_pricing::batch::{
    detected_isa, implied_vol_batch, price_batch, random_crypto_options, GreeksBatch, IvBatch,
    OptionBatch,
};
use rtm2m_pricing::{black_scholes_price, BsInputs, OptionKind};
use std::time::Instant;

/// What to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// Premium + delta, gamma, vega, theta, rho through the SIMD batch kernel.
    Price,
    /// Implied volatility from premiums.
    Iv,
    /// The real-time engine: index tick → all margins, single fill, durable ingest (`bench_engine`).
    Engine,
    /// Volatility-surface refits of a real chain: cold, warm, and one expiry after a quote change.
    Surface,
    /// The service under load: `--rate` events/s posted over HTTP on loopback for `--seconds`, with API
    /// latency percentiles (`rtm2m serve`, docs/service.md).
    Serve,
}

/// Which random inputs to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Inputs {
    /// Realistic crypto options: vol 30–150%, T one day to one year, ±60% log-moneyness.
    Crypto,
    /// The distribution of the QuantLib peer's own benchmark (`ql_peer bench-price|bench-iv`): S = 100,
    /// K = 100·e^{0.6(u − 1/2)}, T = 0.01 + 2u, vol = 0.2 + u, r = 0.05u, q = 0.02u; for side-by-side ratios.
    QuantlibPeer,
}

/// Arguments of `rtm2m bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to time.
    #[arg(value_enum)]
    pub target: Target,
    /// Number of options per timed pass.
    #[arg(long, default_value_t = 1_000_000)]
    pub n: usize,
    /// Threads (0 = all cores). Default: 1 for `price` and `iv` (one core's throughput), all cores for
    /// `engine` (as `rtm2m run` runs).
    #[arg(long)]
    pub threads: Option<usize>,
    /// `engine`: leave the engine's worker threads to the operating system instead of pinning each to a
    /// core of its own (done when they fill the process's cores).
    #[arg(long)]
    pub no_pin: bool,
    /// Timed passes; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
    /// The random inputs.
    #[arg(long, value_enum, default_value_t = Inputs::Crypto)]
    pub inputs: Inputs,
    /// Print a JSON summary as the last line.
    #[arg(long)]
    pub json: bool,
    /// `engine`: accounts of the synthetic population.
    #[arg(long, default_value_t = 100_000)]
    pub accounts: usize,
    /// `engine`: positions over all accounts.
    #[arg(long, default_value_t = 1_000_000)]
    pub positions: usize,
    /// `surface`: the chain file (default: the 2026-02-06 04:30 Deribit snapshot of ../shared/data).
    #[arg(long)]
    pub chain: Option<std::path::PathBuf>,
    /// `surface`: the underlying whose chain is timed.
    #[arg(long, default_value = "BTC")]
    pub underlying: String,
    /// `serve`: events per second posted.
    #[arg(long, default_value_t = 10_000)]
    pub rate: u64,
    /// `serve`: seconds of load.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
}

/// Random options with the QuantLib peer's benchmark distribution (seeded).
pub fn quantlib_peer_options(n: usize, seed: u64) -> OptionBatch {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut batch = OptionBatch::with_capacity(n);
    for _ in 0..n {
        let kind = if rng.random_bool(0.5) {
            OptionKind::Call
        } else {
            OptionKind::Put
        };
        let inputs = BsInputs {
            spot: 100.0,
            strike: 100.0 * (0.6 * (rng.random::<f64>() - 0.5)).exp(),
            expiry_years: 0.01 + 2.0 * rng.random::<f64>(),
            vol: 0.2 + rng.random::<f64>(),
            rate: 0.05 * rng.random::<f64>(),
            dividend: 0.02 * rng.random::<f64>(),
        };
        batch.push(kind, &inputs);
    }
    batch
}

/// Runs `rtm2m bench`.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    if args.target == Target::Engine {
        return super::bench_engine::run(args);
    }
    if args.target == Target::Surface {
        return super::surface::bench(args);
    }
    if args.target == Target::Serve {
        return super::serve::bench(args.rate, args.seconds, args.json);
    }
    if args.n == 0 {
        bail!("--n: must be at least 1");
    }
    if args.repeat == 0 {
        bail!("--repeat: must be at least 1");
    }
    let options = match args.inputs {
        Inputs::Crypto => random_crypto_options(args.n, 7),
        Inputs::QuantlibPeer => quantlib_peer_options(args.n, 42),
    };
    let threads = match args.threads.unwrap_or(1) {
        0 => std::thread::available_parallelism().map_or(1, |p| p.get()),
        n => n,
    };
    let mut seconds = Vec::with_capacity(args.repeat);
    let mut checksum = 0.0;
    let name = match args.target {
        Target::Engine => bail!("the engine bench runs on its own (bench_engine)"),
        Target::Surface => bail!("the surface bench runs on its own (surface::bench)"),
        Target::Serve => bail!("the service bench runs on its own (serve::bench)"),
        Target::Price => {
            let mut out = GreeksBatch::default();
            price_batch(&options, &mut out, threads)?; // warm-up (allocates the outputs)
            for _ in 0..args.repeat {
                let start = Instant::now();
                price_batch(&options, &mut out, threads)?;
                seconds.push(start.elapsed().as_secs_f64());
                checksum += out.price.iter().sum::<f64>()
                    + out.delta.iter().sum::<f64>()
                    + out.gamma.iter().sum::<f64>()
                    + out.vega.iter().sum::<f64>()
                    + out.theta.iter().sum::<f64>()
                    + out.rho.iter().sum::<f64>();
            }
            "price"
        }
        Target::Iv => {
            let mut ivs = IvBatch::default();
            for k in 0..options.len() {
                let (kind, inputs) = options.get(k);
                ivs.sign.push(options.sign[k]);
                ivs.price.push(black_scholes_price(kind, &inputs)?);
                ivs.spot.push(inputs.spot);
                ivs.strike.push(inputs.strike);
                ivs.expiry_years.push(inputs.expiry_years);
                ivs.rate.push(inputs.rate);
                ivs.dividend.push(inputs.dividend);
            }
            let mut out = Vec::new();
            implied_vol_batch(&ivs, &mut out, threads)?;
            for _ in 0..args.repeat {
                let start = Instant::now();
                implied_vol_batch(&ivs, &mut out, threads)?;
                seconds.push(start.elapsed().as_secs_f64());
                checksum += out.iter().map(|r| r.unwrap_or(0.0)).sum::<f64>();
            }
            "iv"
        }
    };
    seconds.sort_by(f64::total_cmp);
    let median = seconds[seconds.len() / 2];
    let per_second = args.n as f64 / median;
    let ns_per_item = median * 1e9 / args.n as f64;
    println!(
        "{name}: n={} threads={threads} isa={:?} median of {} passes: {median:.6} s, {per_second:.0}/s, {ns_per_item:.2} ns/item (checksum {checksum:.6e})",
        args.n,
        detected_isa(),
        args.repeat
    );
    if args.json {
        let summary = serde_json::json!({
            "name": name,
            "n": args.n,
            "threads": threads,
            "seconds": median,
            "per_second": per_second,
            "ns_per_item": ns_per_item,
        });
        println!("{summary}");
    }
    Ok(())
}
