//! Naked-short count of one expiry for the option contingency.

use super::Pmrm2Option;

/// Number of contracts short at strikes with no offsetting long, as Derive's PMRM_2 counts them: options are
/// matched pairwise by strike only (a long put offsets a short call at the same strike); different strikes
/// never offset.
pub(crate) fn naked_shorts(options: &[Pmrm2Option]) -> f64 {
    // Derive PMRMLib_2._addOptionContingency: the first option at a strike is compared with every later one
    // at that strike, and those later ones are not visited again.
    let mut seen = vec![false; options.len()];
    let mut naked = 0.0;
    for i in 0..options.len() {
        if seen[i] {
            continue;
        }
        let a = options[i].amount;
        let mut found = false;
        for j in (i + 1)..options.len() {
            if options[j].strike_usd != options[i].strike_usd {
                continue;
            }
            seen[j] = true;
            let b = options[j].amount;
            if a * b < 0.0 {
                naked += if a < 0.0 {
                    -a - (-a).min(b)
                } else {
                    -b - a.min(-b)
                };
            } else if a < 0.0 {
                naked += a.abs() + b.abs();
            }
            found = true;
        }
        if !found && a < 0.0 {
            naked += -a;
        }
    }
    debug_assert!(naked >= 0.0);
    naked
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtm2m_pricing::OptionKind::{Call, Put};

    fn opt(strike_usd: f64, kind: rtm2m_pricing::OptionKind, amount: f64) -> Pmrm2Option {
        Pmrm2Option {
            strike_usd,
            kind,
            amount,
        }
    }

    #[test]
    fn short_call_offset_by_long_put_at_the_same_strike() {
        assert_eq!(
            naked_shorts(&[opt(100.0, Call, -2.0), opt(100.0, Put, 1.5)]),
            0.5
        );
    }

    #[test]
    fn different_strikes_never_offset() {
        assert_eq!(
            naked_shorts(&[opt(100.0, Call, -2.0), opt(110.0, Call, 5.0)]),
            2.0
        );
    }

    #[test]
    fn two_shorts_at_a_strike_both_count() {
        assert_eq!(
            naked_shorts(&[opt(100.0, Call, -2.0), opt(100.0, Put, -1.0)]),
            3.0
        );
    }
}
