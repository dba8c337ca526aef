//! The pricing core held to an independent high-precision reference.
//!
//! The files in `tests/golden/` come from `tools/reference/gen_golden.py`: prices from the textbook
//! generalised Black–Scholes formula in 60-digit arithmetic, Greeks by numerical differentiation of that price
//! (not from closed-form Greeks, so a transcription error in the library's formulas cannot hide), implied
//! vols as exact roots for the double-precision premium the library sees. What the tolerances mean is in
//! `tools/reference/README.md`.
//!
//! Run with `cargo test -p rtm2m-pricing --test accuracy -- --nocapture` to see the accuracy achieved.

use rtm2m_pricing::{
    black_scholes, implied_vol_black_scholes, BsInputs, Greeks, IvError, OptionKind,
};
use std::path::PathBuf;

/// Relative tolerance on the price and every Greek.
const GREEK_TOLERANCE_REL: f64 = 1e-9;
/// Absolute floors are this fraction of the natural scale of each output's unit (see [`OUTPUTS`]).
const FLOOR_FRACTION: f64 = 1e-10;
/// Implied vol: `|σ − σ_true| ≤ IV_TOLERANCE_ABS + IV_TOLERANCE_ULPS·2⁻⁵²·price/vega`, i.e. 64 ulps of the
/// premium mapped into vol through vega, plus an absolute 1e-12 of vol.
const IV_TOLERANCE_ABS: f64 = 1e-12;
const IV_TOLERANCE_ULPS: f64 = 64.0;
/// How many offending rows a failure lists.
const FAILURES_SHOWN: usize = 12;

/// One data row of a golden file, with its line number in the file (the header is line 1).
struct Row {
    line: usize,
    fields: Vec<String>,
}

impl Row {
    fn num(&self, column: usize) -> f64 {
        let text = &self.fields[column];
        text.parse().unwrap_or_else(|_| {
            panic!(
                "line {}: column {column} is not a number: {text:?}",
                self.line
            )
        })
    }

    fn kind(&self) -> OptionKind {
        match self.fields[0].as_str() {
            "call" => OptionKind::Call,
            "put" => OptionKind::Put,
            other => panic!("line {}: unknown option type {other:?}", self.line),
        }
    }
}

/// Reads `tests/golden/<name>`, checks its header and the number of columns of every row.
fn read_golden(name: &str, header: &str, rows_min: usize) -> Vec<Row> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "golden", name]
        .iter()
        .collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (regenerate with `python3 tools/reference/gen_golden.py`)",
            path.display()
        )
    });
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(header), "{name}: unexpected header");
    let columns = header.split(',').count();
    let rows: Vec<Row> = lines
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| {
            let fields: Vec<String> = l.split(',').map(str::to_owned).collect();
            assert_eq!(
                fields.len(),
                columns,
                "{name} line {}: expected {columns} fields",
                i + 2
            );
            Row {
                line: i + 2,
                fields,
            }
        })
        .collect();
    // A truncated or emptied file must not pass silently.
    assert!(
        rows.len() >= rows_min,
        "{name}: only {} rows, expected at least {rows_min}",
        rows.len()
    );
    rows
}

/// One output of [`black_scholes`]: its column in `bs_greeks.csv`, how to read it from [`Greeks`], and its
/// absolute floor as a function of spot.
struct Output {
    name: &'static str,
    column: usize,
    get: fn(&Greeks) -> f64,
    floor: fn(f64) -> f64,
}

/// Floors by unit: an output in currency (price, vega per 1.00 vol, theta per year, rho per 1.00 rate, volga
/// per 1.00 vol²) scales with spot, so its floor is 1e-10·S; delta, vanna (delta per 1.00 vol) and charm
/// (delta per year) are dimensionless in the underlying, floor 1e-10; gamma is delta per unit of spot,
/// floor 1e-10/S. Below a floor, the relative error of a value crossing zero is meaningless.
const OUTPUTS: [Output; 9] = [
    Output {
        name: "price",
        column: 7,
        get: |g| g.price,
        floor: |s| FLOOR_FRACTION * s,
    },
    Output {
        name: "delta",
        column: 8,
        get: |g| g.delta,
        floor: |_| FLOOR_FRACTION,
    },
    Output {
        name: "gamma",
        column: 9,
        get: |g| g.gamma,
        floor: |s| FLOOR_FRACTION / s,
    },
    Output {
        name: "vega",
        column: 10,
        get: |g| g.vega,
        floor: |s| FLOOR_FRACTION * s,
    },
    Output {
        name: "theta",
        column: 11,
        get: |g| g.theta,
        floor: |s| FLOOR_FRACTION * s,
    },
    Output {
        name: "rho",
        column: 12,
        get: |g| g.rho,
        floor: |s| FLOOR_FRACTION * s,
    },
    Output {
        name: "vanna",
        column: 13,
        get: |g| g.vanna,
        floor: |_| FLOOR_FRACTION,
    },
    Output {
        name: "volga",
        column: 14,
        get: |g| g.volga,
        floor: |s| FLOOR_FRACTION * s,
    },
    Output {
        name: "charm",
        column: 15,
        get: |g| g.charm,
        floor: |_| FLOOR_FRACTION,
    },
];

/// The worst case seen for one output.
#[derive(Default)]
struct Worst {
    /// Largest |got − ref|/tolerance, and the line it occurred on.
    ratio: f64,
    ratio_line: usize,
    /// Largest |got − ref|/|ref| where the relative tolerance is the binding one, and its line.
    relative: f64,
    relative_line: usize,
}

#[test]
fn black_scholes_price_and_greeks_match_the_40_digit_reference() {
    let header = "type,spot,strike,expiry_years,vol,rate,dividend,price,delta,gamma,vega,theta,rho,vanna,volga,charm";
    let rows = read_golden("bs_greeks.csv", header, 1000);
    let mut worst: Vec<Worst> = OUTPUTS.iter().map(|_| Worst::default()).collect();
    let mut failures = Vec::new();
    for row in &rows {
        let inputs = BsInputs {
            spot: row.num(1),
            strike: row.num(2),
            expiry_years: row.num(3),
            vol: row.num(4),
            rate: row.num(5),
            dividend: row.num(6),
        };
        let greeks = match black_scholes(row.kind(), &inputs) {
            Ok(g) => g,
            Err(e) => {
                failures.push(format!(
                    "line {}: black_scholes returned Err({e})",
                    row.line
                ));
                continue;
            }
        };
        for (output, worst) in OUTPUTS.iter().zip(worst.iter_mut()) {
            let expected = row.num(output.column);
            let got = (output.get)(&greeks);
            let error = (got - expected).abs();
            let relative_part = GREEK_TOLERANCE_REL * expected.abs();
            let tolerance = relative_part.max((output.floor)(inputs.spot));
            // A NaN output counts as infinitely far out, so it fails.
            let ratio = if error.is_nan() {
                f64::INFINITY
            } else {
                error / tolerance
            };
            if ratio > worst.ratio || worst.ratio_line == 0 {
                worst.ratio = ratio;
                worst.ratio_line = row.line;
            }
            if relative_part >= tolerance && error / expected.abs() > worst.relative {
                worst.relative = error / expected.abs();
                worst.relative_line = row.line;
            }
            if ratio > 1.0 {
                failures.push(format!(
                    "line {}: {} got {got:e}, reference {expected:e}, error {error:.3e} > tolerance {tolerance:.3e} \
                     ({ratio:.3e}×)",
                    row.line, output.name
                ));
            }
        }
    }
    println!(
        "black_scholes vs 40-digit reference, {} rows (tolerance max(1e-9·|ref|, floor)):",
        rows.len()
    );
    for (output, worst) in OUTPUTS.iter().zip(&worst) {
        println!(
            "  {:<5} max rel error {:.2e} (line {:>4}), worst error/tolerance {:.2e} (line {:>4})",
            output.name, worst.relative, worst.relative_line, worst.ratio, worst.ratio_line
        );
    }
    assert!(
        failures.is_empty(),
        "{} outputs out of tolerance in bs_greeks.csv; first {}:\n{}",
        failures.len(),
        FAILURES_SHOWN.min(failures.len()),
        failures
            .iter()
            .take(FAILURES_SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn implied_vol_recovers_the_exact_vol_of_each_double_premium() {
    let header = "type,price,spot,strike,expiry_years,rate,dividend,vol_true,vega";
    let rows = read_golden("iv_cases.csv", header, 1000);
    let (mut ratio_worst, mut ratio_worst_line) = (0.0_f64, 0);
    let (mut error_worst, mut error_worst_line) = (0.0_f64, 0);
    let mut failures = Vec::new();
    for row in &rows {
        let price = row.num(1);
        let (vol_true, vega) = (row.num(7), row.num(8));
        let result = implied_vol_black_scholes(
            row.kind(),
            price,
            row.num(2),
            row.num(3),
            row.num(4),
            row.num(5),
            row.num(6),
        );
        let vol = match result {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!(
                    "line {}: Err({e:?}), true vol {vol_true:e}",
                    row.line
                ));
                continue;
            }
        };
        let error = (vol - vol_true).abs();
        let tolerance = IV_TOLERANCE_ABS + IV_TOLERANCE_ULPS * f64::EPSILON * price / vega;
        let ratio = if error.is_nan() {
            f64::INFINITY
        } else {
            error / tolerance
        };
        if ratio > ratio_worst || ratio_worst_line == 0 {
            (ratio_worst, ratio_worst_line) = (ratio, row.line);
        }
        if error > error_worst {
            (error_worst, error_worst_line) = (error, row.line);
        }
        if ratio > 1.0 {
            failures.push(format!(
                "line {}: vol {vol:e}, true {vol_true:e}, error {error:.3e} > tolerance {tolerance:.3e} ({ratio:.3e}×)",
                row.line
            ));
        }
    }
    println!(
        "implied_vol_black_scholes, {} rows (tolerance 1e-12 + 64·2⁻⁵²·price/vega): worst error/tolerance \
         {ratio_worst:.2e} (line {ratio_worst_line}), worst absolute error {error_worst:.2e} (line {error_worst_line})",
        rows.len()
    );
    assert!(
        failures.is_empty(),
        "{} implied vols out of tolerance in iv_cases.csv; first {}:\n{}",
        failures.len(),
        FAILURES_SHOWN.min(failures.len()),
        failures
            .iter()
            .take(FAILURES_SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn implied_vol_reports_why_a_premium_has_no_solution() {
    let header = "type,price,spot,strike,expiry_years,rate,dividend,expected";
    let rows = read_golden("iv_no_solution.csv", header, 50);
    let mut failures = Vec::new();
    for row in &rows {
        let expected = match row.fields[7].as_str() {
            "below_intrinsic" => IvError::BelowIntrinsic,
            "above_upper_bound" => IvError::AboveUpperBound,
            other => panic!("line {}: unknown expectation {other:?}", row.line),
        };
        let result = implied_vol_black_scholes(
            row.kind(),
            row.num(1),
            row.num(2),
            row.num(3),
            row.num(4),
            row.num(5),
            row.num(6),
        );
        if result != Err(expected) {
            failures.push(format!(
                "line {}: expected Err({expected:?}), got {result:?}",
                row.line
            ));
        }
    }
    println!(
        "implied_vol_black_scholes, {} premiums with no solution",
        rows.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} no-solution premiums misreported; first {}:\n{}",
        failures.len(),
        rows.len(),
        FAILURES_SHOWN.min(failures.len()),
        failures
            .iter()
            .take(FAILURES_SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
