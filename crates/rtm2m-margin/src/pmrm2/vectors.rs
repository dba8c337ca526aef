//! Reader of Derive's PMRM_2 portfolio-case files (`Scenario`, `Parameters`, `Result`), turning one file into a
//! [`Pmrm2Account`], [`Pmrm2Params`] and the published results.

use super::{
    BasisParams, ContingencyParams, ExpiryVols, MarginFactors, Pmrm2Account, Pmrm2Collateral,
    Pmrm2Expiry, Pmrm2Option, Pmrm2Params, Pmrm2Perp, Scenario, SkewShockParams, SviParams,
    VolShock, VolShockParams,
};
use crate::error::MarginError;
use crate::num::Num;
use rtm2m_pricing::OptionKind;
use serde::Deserialize;
use std::path::Path;

/// One parsed case: inputs and the venue's published numbers.
#[derive(Debug, Clone)]
pub struct Pmrm2Case {
    /// The account.
    pub account: Pmrm2Account,
    /// The model parameters.
    pub params: Pmrm2Params,
    /// Published maintenance margin, USD.
    pub expected_mm_usd: f64,
    /// Published initial margin, USD.
    pub expected_im_usd: f64,
    /// Published mark-to-market including cash, USD.
    pub expected_mtm_usd: f64,
    /// Published basis ("forward") contingency, USD.
    pub expected_basis_contingency_usd: f64,
    /// Published scenario P&L in the order of `params.scenarios`, USD (regular, then tail, then skew).
    pub expected_scenario_pnl_usd: Vec<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct File {
    scenario: FileScenario,
    parameters: FileParameters,
    result: FileResult,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FileScenario {
    cash: Num,
    #[serde(default)]
    collaterals: Vec<FileCollateral>,
    spot_price: Num,
    spot_confidence: Num,
    num_perps: Num,
    perp_price: Num,
    perp_confidence: Num,
    unrealised_perp_p_n_l: Num,
    unrealised_funding: Num,
    stable_price: Num,
    #[serde(default)]
    options: Vec<FileOption>,
    #[serde(default)]
    option_feeds: Vec<FileFeed>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FileCollateral {
    name: String,
    amount: Num,
    price: Num,
    confidence: Num,
    is_risk_cancelling: bool,
    i_m_haircut: Num,
    m_m_haircut: Num,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FileOption {
    expiry: u64,
    strike: Num,
    is_call: u8,
    amount: Num,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FileFeed {
    feed_expiry: u64,
    forward: Num,
    forward_confidence: Num,
    rate: Num,
    rate_confidence: Num,
    #[serde(rename = "SVIparam")]
    svi_param: [Num; 7],
    option_vol_confidences: Num,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FileParameters {
    scenarios: Vec<FileScenarioParam>,
    skew_shock: FileSkew,
    vol_shock: FileVolShock,
    margin: FileMargin,
    basis_contingency: FileBasis,
    other_contingency: FileOther,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FileScenarioParam {
    spot_shock: Num,
    vol_shock_direction: String,
    dampening_factor: Num,
}

#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
struct FileSkew {
    linear_scale_cap: Num,
    linear_cbase: Num,
    abs_scale_cap: Num,
    abs_cbase: Num,
    min_k_star: Num,
    min_width_scale: Num,
    vol_param_static: Num,
    vol_param_scale: Num,
}

#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
struct FileVolShock {
    volrangeup: Num,
    min_vol_eval_shocked: Num,
    volrangedown: Num,
    shorttermpower: Num,
    longtermpower: Num,
    dte_floor: Num,
}

#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
struct FileMargin {
    mm_loss_factor: Num,
    im_loss_factor: Num,
    short_rate_multscale: Num,
    long_rate_multscale: Num,
    short_rate_addscale: Num,
    long_rate_addscale: Num,
    base_static_discount: Num,
    base_static_discount_neg: Num,
}

#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
struct FileBasis {
    scenario_spot_up: Num,
    scenario_spot_down: Num,
    basis_cont_add_factor: Num,
    basis_cont_mult_factor: Num,
}

#[derive(Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
struct FileOther {
    peg_loss_threshold: Num,
    peg_loss_factor: Num,
    conf_threshold: Num,
    conf_margin: Num,
    mm_perp_percent: Num,
    im_perp_percent: Num,
    mm_option_percent: Num,
    im_option_percent: Num,
}

#[derive(Deserialize)]
struct FileResult {
    #[serde(rename = "MM")]
    mm: Num,
    #[serde(rename = "IM")]
    im: Num,
    #[serde(rename = "PortfolioMTM")]
    portfolio_mtm: Num,
    #[serde(rename = "ForwardContingency")]
    forward_contingency: Num,
    #[serde(default)]
    reg_losses: Vec<(Num, Num, Num)>,
    #[serde(default)]
    tail_losses: Vec<(Num, Num, Num)>,
    #[serde(default)]
    skew_losses: Vec<(String, Num)>,
}

/// Reads one Derive PMRM_2 case file; the account is named after the file stem.
pub fn read_case(path: &Path) -> Result<Pmrm2Case, MarginError> {
    let text = std::fs::read_to_string(path).map_err(|e| MarginError::VectorFile {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    parse_case(&name, &text).map_err(|reason| MarginError::VectorFile {
        path: path.to_owned(),
        reason,
    })
}

/// Parses the text of one case file; `name` becomes the account id.
pub fn parse_case(name: &str, text: &str) -> Result<Pmrm2Case, String> {
    let file: File = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let s = file.scenario;

    let mut expiries: Vec<Pmrm2Expiry> = Vec::new();
    let mut expiry_seconds: Vec<u64> = Vec::new();
    for (i, o) in s.options.iter().enumerate() {
        let index = match expiry_seconds.iter().position(|&e| e == o.expiry) {
            Some(index) => index,
            None => {
                let feed = s
                    .option_feeds
                    .iter()
                    .find(|f| f.feed_expiry == o.expiry)
                    .ok_or_else(|| {
                        format!("option {i}: no OptionFeeds entry for expiry {} s", o.expiry)
                    })?;
                let p = &feed.svi_param;
                expiries.push(Pmrm2Expiry {
                    seconds_to_expiry: o.expiry as f64,
                    forward_usd: feed.forward.get(),
                    forward_confidence: feed.forward_confidence.get(),
                    rate: feed.rate.get(),
                    rate_confidence: feed.rate_confidence.get(),
                    vols: ExpiryVols::Svi(SviParams {
                        a: p[0].get(),
                        b: p[1].get(),
                        rho: p[2].get(),
                        m: p[3].get(),
                        sigma: p[4].get(),
                        forward_usd: p[5].get(),
                        tau_years: p[6].get(),
                    }),
                    vol_confidence: feed.option_vol_confidences.get(),
                    options: Vec::new(),
                });
                expiry_seconds.push(o.expiry);
                expiries.len() - 1
            }
        };
        let kind = match o.is_call {
            1 => OptionKind::Call,
            0 => OptionKind::Put,
            other => return Err(format!("option {i}: IsCall must be 0 or 1, got {other}")),
        };
        expiries[index].options.push(Pmrm2Option {
            strike_usd: o.strike.get(),
            kind,
            amount: o.amount.get(),
        });
    }

    let perp = Some(Pmrm2Perp {
        position: s.num_perps.get(),
        price_usd: s.perp_price.get(),
        confidence: s.perp_confidence.get(),
        unrealised_pnl_usd: s.unrealised_perp_p_n_l.get(),
        unrealised_funding_usd: s.unrealised_funding.get(),
    });
    let collaterals = s
        .collaterals
        .iter()
        .map(|c| Pmrm2Collateral {
            name: c.name.clone(),
            amount: c.amount.get(),
            price_usd: c.price.get(),
            confidence: c.confidence.get(),
            mm_haircut: c.m_m_haircut.get(),
            im_haircut: c.i_m_haircut.get(),
            risk_cancelling: c.is_risk_cancelling,
        })
        .collect();
    let account = Pmrm2Account {
        id: name.to_owned(),
        cash_usd: s.cash.get(),
        spot_usd: s.spot_price.get(),
        spot_confidence: s.spot_confidence.get(),
        stable_price_usd: s.stable_price.get(),
        perp,
        collaterals,
        expiries,
    };

    let p = file.parameters;
    let mut scenarios = Vec::with_capacity(p.scenarios.len());
    for (i, sc) in p.scenarios.iter().enumerate() {
        let vol_shock = match sc.vol_shock_direction.as_str() {
            "Up" => VolShock::Up,
            "None" => VolShock::None,
            "Down" => VolShock::Down,
            "LINEAR" => VolShock::SkewLinear,
            "ABS" => VolShock::SkewAbs,
            other => return Err(format!("scenario {i}: unknown VolShockDirection {other:?}")),
        };
        scenarios.push(Scenario {
            spot_shock: sc.spot_shock.get(),
            vol_shock,
            dampening: sc.dampening_factor.get(),
        });
    }
    let params = Pmrm2Params {
        scenarios,
        vol_shock: VolShockParams {
            vol_range_up: p.vol_shock.volrangeup.get(),
            vol_range_down: p.vol_shock.volrangedown.get(),
            short_term_power: p.vol_shock.shorttermpower.get(),
            long_term_power: p.vol_shock.longtermpower.get(),
            dte_floor_days: p.vol_shock.dte_floor.get(),
            vol_up_min: p.vol_shock.min_vol_eval_shocked.get(),
        },
        skew_shock: SkewShockParams {
            linear_base_cap: p.skew_shock.linear_scale_cap.get(),
            linear_c_base: p.skew_shock.linear_cbase.get(),
            abs_base_cap: p.skew_shock.abs_scale_cap.get(),
            abs_c_base: p.skew_shock.abs_cbase.get(),
            min_k_star: p.skew_shock.min_k_star.get(),
            width_scale: p.skew_shock.min_width_scale.get(),
            vol_param_static: p.skew_shock.vol_param_static.get(),
            vol_param_scale: p.skew_shock.vol_param_scale.get(),
        },
        margin: MarginFactors {
            mm_factor: p.margin.mm_loss_factor.get(),
            im_factor: p.margin.im_loss_factor.get(),
            short_rate_mult_scale: p.margin.short_rate_multscale.get(),
            long_rate_mult_scale: p.margin.long_rate_multscale.get(),
            short_rate_add_scale: p.margin.short_rate_addscale.get(),
            long_rate_add_scale: p.margin.long_rate_addscale.get(),
            short_base_static_discount: p.margin.base_static_discount_neg.get(),
            long_base_static_discount: p.margin.base_static_discount.get(),
        },
        basis: BasisParams {
            spot_up: p.basis_contingency.scenario_spot_up.get(),
            spot_down: p.basis_contingency.scenario_spot_down.get(),
            add_factor: p.basis_contingency.basis_cont_add_factor.get(),
            mult_factor: p.basis_contingency.basis_cont_mult_factor.get(),
        },
        contingency: ContingencyParams {
            peg_loss_threshold: p.other_contingency.peg_loss_threshold.get(),
            peg_loss_factor: p.other_contingency.peg_loss_factor.get(),
            conf_threshold: p.other_contingency.conf_threshold.get(),
            conf_margin: p.other_contingency.conf_margin.get(),
            mm_perp_percent: p.other_contingency.mm_perp_percent.get(),
            im_perp_percent: p.other_contingency.im_perp_percent.get(),
            mm_option_percent: p.other_contingency.mm_option_percent.get(),
            im_option_percent: p.other_contingency.im_option_percent.get(),
        },
    };

    let r = file.result;
    let expected_scenario_pnl_usd = r
        .reg_losses
        .iter()
        .chain(&r.tail_losses)
        .map(|l| l.2.get())
        .chain(r.skew_losses.iter().map(|l| l.1.get()))
        .collect();
    Ok(Pmrm2Case {
        account,
        params,
        expected_mm_usd: r.mm.get(),
        expected_im_usd: r.im.get(),
        expected_mtm_usd: r.portfolio_mtm.get(),
        expected_basis_contingency_usd: r.forward_contingency.get(),
        expected_scenario_pnl_usd,
    })
}
