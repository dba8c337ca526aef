//! Runs venues' published vector files through the matching model and compares with their results.

use crate::error::MarginError;
use crate::{deribit_pm, pmrm2, standard};
use std::path::Path;

/// Largest relative difference from a published number that still counts as reproducing it.
pub const REL_TOLERANCE: f64 = 1e-9;

/// One compared quantity of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct Compared {
    /// Name of the quantity, e.g. `mm`.
    pub name: &'static str,
    /// Our value.
    pub actual: f64,
    /// The venue's published value.
    pub expected: f64,
}

impl Compared {
    /// Relative difference `|actual − expected| / |expected|` (absolute difference when expected is 0).
    pub fn rel_error(&self) -> f64 {
        relative_error(self.actual, self.expected)
    }
}

/// Result of one case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseOutcome {
    /// Case name: the file stem, or the case's key inside a multi-case file.
    pub case: String,
    /// Compared quantities; the first two are always `mm` and `im`.
    pub compared: Vec<Compared>,
    /// Why the case could not be computed, if it could not.
    pub error: Option<String>,
}

impl CaseOutcome {
    /// The compared quantity called `name`.
    pub fn get(&self, name: &str) -> Option<&Compared> {
        self.compared.iter().find(|c| c.name == name)
    }

    /// Largest relative error over the compared quantities (∞ when the case failed to compute).
    pub fn worst_rel_error(&self) -> f64 {
        if self.error.is_some() {
            return f64::INFINITY;
        }
        self.compared
            .iter()
            .map(Compared::rel_error)
            .fold(0.0, f64::max)
    }

    /// True when the case computed and every quantity is within [`REL_TOLERANCE`].
    pub fn pass(&self) -> bool {
        self.error.is_none() && self.compared.iter().all(|c| c.rel_error() <= REL_TOLERANCE)
    }

    fn failed(case: String, error: &MarginError) -> CaseOutcome {
        CaseOutcome {
            case,
            compared: Vec::new(),
            error: Some(error.to_string()),
        }
    }
}

/// `|actual − expected| / |expected|`, or `|actual|` when expected is 0; NaN counts as ∞.
pub fn relative_error(actual: f64, expected: f64) -> f64 {
    let e = if expected == 0.0 {
        actual.abs()
    } else {
        (actual - expected).abs() / expected.abs()
    };
    if e.is_nan() {
        f64::INFINITY
    } else {
        e
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Runs one Derive PMRM_2 case file (one case per file).
pub fn run_derive_pmrm2(path: &Path) -> CaseOutcome {
    let case = stem(path);
    let parsed = match pmrm2::vectors::read_case(path) {
        Ok(parsed) => parsed,
        Err(e) => return CaseOutcome::failed(case, &e),
    };
    match pmrm2::margin(&parsed.account, &parsed.params) {
        Ok(r) => CaseOutcome {
            case,
            compared: vec![
                Compared {
                    name: "mm",
                    actual: r.mm_usd,
                    expected: parsed.expected_mm_usd,
                },
                Compared {
                    name: "im",
                    actual: r.im_usd,
                    expected: parsed.expected_im_usd,
                },
            ],
            error: None,
        },
        Err(e) => CaseOutcome::failed(case, &e),
    }
}

/// Runs every case of a Derive SRM test-case file (`{"Test1": {...}, ...}`).
pub fn run_derive_srm(path: &Path) -> Result<Vec<CaseOutcome>, MarginError> {
    let cases = standard::vectors::read_cases(path)?;
    let params = standard::StandardParams::derive_srm_tests();
    Ok(cases
        .into_iter()
        .map(|c| {
            let mm = standard::margin(&c.account, &params, false);
            let im = standard::margin(&c.account, &params, true);
            match (mm, im) {
                (Ok(mm), Ok(im)) => CaseOutcome {
                    case: c.name,
                    compared: vec![
                        Compared {
                            name: "mm",
                            actual: mm.margin_usd,
                            expected: c.expected_mm_usd,
                        },
                        Compared {
                            name: "im",
                            actual: im.margin_usd,
                            expected: c.expected_im_usd,
                        },
                    ],
                    error: None,
                },
                (Err(e), _) | (_, Err(e)) => CaseOutcome::failed(c.name, &e),
            }
        })
        .collect())
}

/// Runs every example of a Deribit `private/pme/simulate` example file.
pub fn run_deribit_pm(path: &Path) -> Result<Vec<CaseOutcome>, MarginError> {
    let examples = deribit_pm::vectors::read_examples(path)?;
    Ok(examples
        .into_iter()
        .map(|x| match deribit_pm::margin(&x.portfolio, &x.params) {
            Ok(r) => CaseOutcome {
                case: x.name,
                compared: vec![
                    Compared {
                        name: "mm",
                        actual: r.mm_coin,
                        expected: x.expected.mm_coin,
                    },
                    Compared {
                        name: "im",
                        actual: r.im_coin,
                        expected: x.expected.im_coin,
                    },
                    Compared {
                        name: "worst_case",
                        actual: r.worst_case_coin,
                        expected: x.expected.worst_case_coin,
                    },
                    Compared {
                        name: "roll_shock",
                        actual: r.roll_shock_coin,
                        expected: x.expected.roll_shock_coin,
                    },
                ],
                error: None,
            },
            Err(e) => CaseOutcome::failed(x.name, &e),
        })
        .collect())
}
