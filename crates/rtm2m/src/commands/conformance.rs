//! `rtm2m conformance`: runs other venues' published margin vectors through rtm2m's models.

use anyhow::bail;
use clap::{Args, ValueEnum};
use rtm2m_margin::conformance::{self, CaseOutcome};
use serde_json::{json, Value};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Which venue's vectors the files hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum System {
    /// Derive v2 PMRM_2 portfolio-case files (one case per file).
    DerivePmrm2,
    /// Derive v2 standard-manager `test-cases.json` (many cases per file).
    DeriveSrm,
    /// Deribit `private/pme/simulate` example files.
    DeribitPm,
    /// Derive v2 Dutch-auction liquidation vectors `liquidationTests.json` (one outcome per action).
    DeriveLiquidation,
}

/// Arguments of `rtm2m conformance`.
#[derive(Debug, Args)]
pub struct ConformanceArgs {
    /// The venue and model of the vector files.
    #[arg(value_enum)]
    pub system: System,
    /// Vector files, read as the venue publishes them.
    #[arg(required = true, num_args = 1..)]
    pub paths: Vec<PathBuf>,
    /// One JSON object per case instead of a text line.
    #[arg(long)]
    pub json: bool,
}

fn file_failure(path: &Path, error: &dyn std::fmt::Display) -> CaseOutcome {
    CaseOutcome {
        case: path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        compared: Vec::new(),
        error: Some(error.to_string()),
    }
}

fn outcomes(system: System, path: &Path) -> Vec<CaseOutcome> {
    match system {
        System::DerivePmrm2 => vec![conformance::run_derive_pmrm2(path)],
        System::DeriveSrm => {
            conformance::run_derive_srm(path).unwrap_or_else(|e| vec![file_failure(path, &e)])
        }
        System::DeribitPm => {
            conformance::run_deribit_pm(path).unwrap_or_else(|e| vec![file_failure(path, &e)])
        }
        System::DeriveLiquidation => rtm2m_liquidation::conformance::run_derive_liquidation(path)
            .unwrap_or_else(|e| vec![file_failure(path, &e)]),
    }
}

/// One case as a JSON object with its keys in a fixed order: case, ours, expected, error, pass.
fn case_json(outcome: &CaseOutcome) -> String {
    let mut fields: Vec<(String, Value)> = vec![("case".into(), json!(outcome.case))];
    fields.extend(
        outcome
            .compared
            .iter()
            .map(|c| (c.name.to_owned(), json!(c.actual))),
    );
    fields.extend(
        outcome
            .compared
            .iter()
            .map(|c| (format!("expected_{}", c.name), json!(c.expected))),
    );
    if let Some(error) = &outcome.error {
        fields.push(("error".into(), json!(error)));
    }
    fields.push(("pass".into(), json!(outcome.pass())));
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", json!(k)))
        .collect();
    format!("{{{}}}", body.join(","))
}

fn case_text(outcome: &CaseOutcome) -> String {
    let mut line = outcome.case.clone();
    for c in &outcome.compared {
        line.push_str(&format!(
            "  {}={} (expected {})",
            c.name, c.actual, c.expected
        ));
    }
    if let Some(error) = &outcome.error {
        line.push_str(&format!("  error: {error}"));
    }
    line.push_str(if outcome.pass() { "  PASS" } else { "  FAIL" });
    line
}

/// Runs `rtm2m conformance`; fails (exit status 1) when any case differs from the published result.
pub fn run(args: &ConformanceArgs) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let (mut passed, mut failed) = (0usize, 0usize);
    for path in &args.paths {
        for outcome in outcomes(args.system, path) {
            if outcome.pass() {
                passed += 1;
            } else {
                failed += 1;
            }
            if args.json {
                writeln!(out, "{}", case_json(&outcome))?;
            } else {
                writeln!(out, "{}", case_text(&outcome))?;
            }
        }
    }
    writeln!(out, "{passed} passed, {failed} failed")?;
    out.flush()?;
    if failed > 0 {
        bail!("{failed} conformance case(s) failed: a result differs from the published one or the case could not be computed");
    }
    Ok(())
}
