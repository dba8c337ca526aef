//! Criterion benchmarks of the pricing core: scalar reference vs SIMD batch, and implied volatility.
//! Inputs are random realistic crypto options (vol 30–150%, T one day to one year, ±60% log-moneyness).

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rtm2m_pricing::batch::{
    implied_vol_batch, price_batch_with, random_crypto_options, GreeksBatch, IvBatch, KernelIsa,
};
use rtm2m_pricing::{black_scholes, black_scholes_price, implied_vol_black_scholes, OptionKind};

const N: usize = 4096;

fn pricing(c: &mut Criterion) {
    let batch = random_crypto_options(N, 11);
    let mut group = c.benchmark_group("price_and_greeks");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("scalar", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for k in 0..batch.len() {
                let (kind, inputs) = batch.get(k);
                let g = black_scholes(kind, &inputs).expect("valid inputs");
                sum += g.price + g.delta + g.gamma + g.vega + g.theta + g.rho;
            }
            black_box(sum)
        })
    });
    for isa in [KernelIsa::Portable, KernelIsa::Avx2Fma, KernelIsa::Avx512] {
        let mut out = GreeksBatch::default();
        group.bench_function(format!("batch_{isa:?}"), |b| {
            b.iter(|| {
                price_batch_with(&batch, &mut out, 1, isa).expect("valid batch");
                black_box(out.price[0])
            })
        });
    }
    group.finish();

    let mut ivs = IvBatch::default();
    for k in 0..batch.len() {
        let (kind, inputs) = batch.get(k);
        ivs.sign.push(batch.sign[k]);
        ivs.price
            .push(black_scholes_price(kind, &inputs).expect("valid inputs"));
        ivs.spot.push(inputs.spot);
        ivs.strike.push(inputs.strike);
        ivs.expiry_years.push(inputs.expiry_years);
        ivs.rate.push(inputs.rate);
        ivs.dividend.push(inputs.dividend);
    }
    let mut group = c.benchmark_group("implied_vol");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("scalar", |b| {
        b.iter_batched(
            || (),
            |_| {
                let mut sum = 0.0;
                for k in 0..N {
                    let kind = if ivs.sign[k] > 0.0 {
                        OptionKind::Call
                    } else {
                        OptionKind::Put
                    };
                    sum += implied_vol_black_scholes(
                        kind,
                        ivs.price[k],
                        ivs.spot[k],
                        ivs.strike[k],
                        ivs.expiry_years[k],
                        ivs.rate[k],
                        ivs.dividend[k],
                    )
                    .unwrap_or(0.0);
                }
                black_box(sum)
            },
            BatchSize::SmallInput,
        )
    });
    let mut out = Vec::new();
    group.bench_function("batch", |b| {
        b.iter(|| {
            implied_vol_batch(&ivs, &mut out, 1).expect("valid batch");
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, pricing);
criterion_main!(benches);
