//! Reader of Deribit `private/pme/simulate` request/response pairs (`{"examples": [{"id", "result"}, ...]}`).

use super::{parse_instrument, DeribitPmParams, DeribitPortfolio, DeribitPosition};
use crate::error::MarginError;
use serde_json::Value;
use std::path::Path;

/// The published numbers of one example, coin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeribitPmExpected {
    /// `maintenance_margin`.
    pub mm_coin: f64,
    /// `initial_margin`.
    pub im_coin: f64,
    /// `risk_matrix_margin_details.worst_case`.
    pub worst_case_coin: f64,
    /// `risk_matrix_margin_details.roll_shock`.
    pub roll_shock_coin: f64,
    /// `risk_matrix_margin`.
    pub risk_matrix_margin_coin: f64,
}

/// One parsed example.
#[derive(Debug, Clone)]
pub struct DeribitPmExample {
    /// The example's `id`.
    pub name: String,
    /// Portfolio and given inputs.
    pub portfolio: DeribitPortfolio,
    /// Model parameters of the currency.
    pub params: DeribitPmParams,
    /// Published results.
    pub expected: DeribitPmExpected,
}

/// Reads every example of a file.
pub fn read_examples(path: &Path) -> Result<Vec<DeribitPmExample>, MarginError> {
    let text = std::fs::read_to_string(path).map_err(|e| MarginError::VectorFile {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    parse_examples(&text).map_err(|reason| MarginError::VectorFile {
        path: path.to_owned(),
        reason,
    })
}

fn num(v: &Value, path: &str) -> Result<f64, String> {
    let mut cur = v;
    for key in path.split('.') {
        cur = cur
            .get(key)
            .ok_or_else(|| format!("missing field {path}"))?;
    }
    cur.as_f64()
        .ok_or_else(|| format!("{path} is not a number"))
}

fn first_object<'a>(v: &'a Value, key: &str) -> Result<(&'a String, &'a Value), String> {
    v.get(key)
        .and_then(Value::as_object)
        .and_then(|o| o.iter().next())
        .ok_or_else(|| format!("{key} must be a non-empty object"))
}

/// Parses the text of an example file.
pub fn parse_examples(text: &str) -> Result<Vec<DeribitPmExample>, String> {
    let root: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let examples = root
        .get("examples")
        .and_then(Value::as_array)
        .ok_or("missing array examples")?;
    let mut out = Vec::with_capacity(examples.len());
    for (n, example) in examples.iter().enumerate() {
        let name = example
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("example {n}"));
        let parsed = parse_example(&name, example).map_err(|e| format!("{name}: {e}"))?;
        out.push(parsed);
    }
    Ok(out)
}

fn parse_example(name: &str, example: &Value) -> Result<DeribitPmExample, String> {
    let r = example.get("result").ok_or("missing result")?;
    let mp = r.get("model_params").ok_or("missing model_params")?;
    let currency = example
        .pointer("/request/params/currency")
        .and_then(Value::as_str)
        .ok_or("missing request.params.currency")?
        .to_ascii_lowercase();
    let (pair_name, pair) = first_object(mp, "currency_pair")?;
    let ccy = mp
        .get("currency")
        .and_then(|c| c.get(&currency))
        .ok_or_else(|| format!("model_params.currency.{currency} missing"))?;
    let general = mp.get("general").ok_or("missing model_params.general")?;
    let buckets = num(general, "buckets_count")?;
    if !((1.0..=64.0).contains(&buckets) && buckets.fract() == 0.0) {
        return Err(format!(
            "buckets_count must be an integer in 1..=64, got {buckets}"
        ));
    }
    let params = DeribitPmParams {
        price_range: num(pair, "price_range")?,
        buckets_count: buckets as usize,
        volatility_range_up: num(pair, "volatility_range_up")?,
        volatility_range_down: num(pair, "volatility_range_down")?,
        short_term_vega_power: num(pair, "short_term_vega_power")?,
        long_term_vega_power: num(pair, "long_term_vega_power")?,
        min_volatility_for_shock_up: num(pair, "min_volatility_for_shock_up")?,
        extended_table_factor: num(pair, "extended_table_factor")?,
        extended_dampener_usd: num(ccy, "extended_dampener")?,
        pnl_offset: num(ccy, "pnl_offset")?,
        annualised_move_risk: num(ccy, "annualised_move_risk")?,
        min_annualised_move: num(ccy, "min_annualised_move")?,
        mm_factor: num(general, "mm_factor")?,
    };
    let now_ms = num(general, "timestamp")? as i64;
    let index_usd = num(
        r.get("index_price").ok_or("missing index_price")?,
        pair_name,
    )?;
    let positions_json = r
        .pointer("/portfolio/position")
        .and_then(Value::as_object)
        .ok_or("missing portfolio.position")?;
    let mut positions = Vec::with_capacity(positions_json.len());
    for (instrument_name, size) in positions_json {
        let size_coin = size
            .as_f64()
            .ok_or_else(|| format!("position {instrument_name} is not a number"))?;
        let vol = r
            .pointer(&format!("/ticker/{instrument_name}/mark_iv"))
            .and_then(Value::as_f64)
            .map(|iv| iv / 100.0);
        let instrument = parse_instrument(instrument_name, now_ms, vol).ok_or_else(|| {
            format!("position {instrument_name}: unknown instrument or missing ticker mark_iv")
        })?;
        positions.push(DeribitPosition {
            name: instrument_name.clone(),
            instrument,
            size_coin,
        });
    }
    let margins = r
        .pointer(&format!("/margins/{currency}"))
        .ok_or_else(|| format!("missing margins.{currency}"))?;
    let details = margins
        .get("initial_margin_details")
        .ok_or("missing initial_margin_details")?;
    let rmm = details
        .get("risk_matrix_margin_details")
        .ok_or("missing risk_matrix_margin_details")?;
    let portfolio = DeribitPortfolio {
        id: name.to_owned(),
        index_usd,
        positions,
        open_orders_margin_coin: num(details, "open_orders_margin")?,
        mmp_margin_coin: num(details, "mmp_margin")?,
        delta_shock_coin: num(rmm, "delta_shock")?,
        correlation_contingency_coin: num(rmm, "correlation_contingency")?,
    };
    let expected = DeribitPmExpected {
        mm_coin: num(margins, "maintenance_margin")?,
        im_coin: num(margins, "initial_margin")?,
        worst_case_coin: num(rmm, "worst_case")?,
        roll_shock_coin: num(rmm, "roll_shock")?,
        risk_matrix_margin_coin: num(details, "risk_matrix_margin")?,
    };
    Ok(DeribitPmExample {
        name: name.to_owned(),
        portfolio,
        params,
        expected,
    })
}
