//! Generators shared by the surface's property tests.

use proptest::prelude::*;
use rtm2m_surface::svi::SviRaw;

/// Raw SVI slices with a positive minimum total variance and wings within Lee's bound.
pub fn svi_strategy() -> impl Strategy<Value = SviRaw> {
    (
        0.002..0.05_f64,
        0.02..0.6_f64,
        -0.8..0.8_f64,
        -0.2..0.2_f64,
        0.05..0.6_f64,
    )
        .prop_map(|(level, b, rho, m, sigma)| SviRaw {
            // a chosen so that the minimum total variance is `level`.
            a: level - b * sigma * (1.0 - rho * rho).sqrt(),
            b,
            rho,
            m,
            sigma,
        })
        .prop_filter("wings within Lee's bound", |s| {
            let (l, r) = s.wing_slopes();
            l < 1.9 && r < 1.9
        })
}
