//! A stated uncertainty as laboratories and certificates print it: any of
//! the standard uncertainty u, the expanded uncertainty U and the coverage
//! factor k, reconciled by one rule into all three.
//!
//! | given          | result                                                   |
//! |----------------|----------------------------------------------------------|
//! | u (and k)      | U = k·u, k as given or the default                       |
//! | U (and k)      | u = U/k, k as given or the default                       |
//! | u, U and k     | the stated u and U, if U agrees with k·u within the rounding of the printed U; otherwise an error showing both |
//! | u and U, no k  | the stated u and U, with the implied k = U/u             |
//! | neither        | no uncertainty                                           |
//!
//! "Within the rounding of the printed U" is half a unit of U's last printed
//! digit, read from the text as written ([`Printed::parse`]: "0.052" means
//! 0.052 ± 0.0005, "0.0520" 0.052 ± 0.00005), so a published table whose U
//! was rounded from k·u is accepted and a mistyped figure is not. u and k are
//! taken as exact: a table that rounded u before computing U can disagree
//! with itself by more than U's rounding, and is refused rather than
//! silently corrected.
//!
//! Why k = U/u when k is missing: a table that prints u and U already says
//! what k is; assuming the default k = 2 would refuse every table whose
//! coverage factor is a t-quantile (k = 2.2, 2.57, …), and nothing would be
//! checked that the stated pair does not already fix. With u = 0 the ratio
//! says nothing, so the default k applies and only U = 0 agrees.

use serde::{Deserialize, Serialize};

use crate::error::{MetrologyError, Result, finite, non_negative, positive};

/// An uncertainty in all three forms. `big_u = k·u` up to the rounding of a
/// stated U (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Uncertainty {
    /// Standard uncertainty u.
    pub u: f64,
    /// Expanded uncertainty U.
    pub big_u: f64,
    /// Coverage factor k: as stated, implied by U/u, or the default.
    pub k: f64,
}

/// A number with the resolution it was printed with.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Printed {
    pub value: f64,
    /// Half a unit of the last printed digit (0.0005 for "0.052").
    pub half_unit: f64,
}

impl Printed {
    /// Reads a decimal numeral as written: optional sign, digits with an
    /// optional decimal point, optional exponent (`0.052`, `52`, `5.2e-2`,
    /// `.5`). `None` for anything else, including `inf` and `NaN`, and for
    /// values that are not finite.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
        let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
            Some(at) => (unsigned.get(..at)?, unsigned.get(at + 1..)?),
            None => (unsigned, ""),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() && fraction.is_empty() || !digits(whole) || !digits(fraction) {
            return None;
        }
        let exponent: i32 = if exponent.is_empty() {
            0
        } else {
            let magnitude = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if magnitude.is_empty() || !digits(magnitude) {
                return None;
            }
            exponent.parse().ok()?
        };
        let value: f64 = text.parse().ok()?;
        if !value.is_finite() {
            return None;
        }
        // The last digit's place is 10^(exponent − decimals). Dividing by an
        // exact power of ten (up to 1e22) is correctly rounded; multiplying
        // by an inexact 10^−n would not be.
        let decimals = i32::try_from(fraction.len()).ok()?;
        let place = exponent.checked_sub(decimals)?;
        let half_unit = if place >= 0 {
            0.5 * 10f64.powi(place)
        } else {
            0.5 / 10f64.powi(place.checked_neg()?)
        };
        (half_unit.is_finite() && half_unit > 0.0).then_some(Self { value, half_unit })
    }

    /// A value known exactly (no rounding to allow for).
    pub fn exact(value: f64) -> Self {
        Self {
            value,
            half_unit: 0.0,
        }
    }
}

/// Reconciles a stated u, U and k into an [`Uncertainty`] by the rule in the
/// module documentation. `None` when neither u nor U is given (a k alone
/// says nothing).
///
/// u and U must be finite and ≥ 0, k and `default_k` finite and > 0. A U
/// that disagrees with k·u is [`MetrologyError::InconsistentUncertainty`],
/// carrying both figures and the tolerance.
pub fn reconcile(
    u: Option<f64>,
    big_u: Option<Printed>,
    k: Option<f64>,
    default_k: f64,
) -> Result<Option<Uncertainty>> {
    positive("default_k", default_k)?;
    if let Some(u) = u {
        non_negative("u", u)?;
    }
    if let Some(p) = &big_u {
        non_negative("U", p.value)?;
        non_negative("U.half_unit", p.half_unit)?;
    }
    if let Some(k) = k {
        positive("k", k)?;
    }
    Ok(match (u, big_u, k) {
        (None, None, _) => None,
        (Some(u), None, k) => {
            let k = k.unwrap_or(default_k);
            Some(Uncertainty {
                u,
                big_u: finite("U", k * u).map_err(|_| MetrologyError::overflow("U = k·u"))?,
                k,
            })
        }
        (None, Some(big), k) => {
            let k = k.unwrap_or(default_k);
            Some(Uncertainty {
                u: big.value / k,
                big_u: big.value,
                k,
            })
        }
        (Some(u), Some(big), None) if u > 0.0 => Some(Uncertainty {
            u,
            big_u: big.value,
            k: finite("k", big.value / u).map_err(|_| MetrologyError::overflow("k = U/u"))?,
        }),
        (Some(u), Some(big), k) => {
            let k = k.unwrap_or(default_k);
            let product = k * u;
            // Half a unit of U's last digit, plus the few ulps that k·u and
            // the subtraction may be off by at this magnitude.
            let slack = 8.0 * f64::EPSILON * big.value.max(product);
            if !product.is_finite() || (big.value - product).abs() > big.half_unit + slack {
                return Err(MetrologyError::InconsistentUncertainty {
                    u,
                    big_u: big.value,
                    k,
                    tolerance: big.half_unit,
                });
            }
            Some(Uncertainty {
                u,
                big_u: big.value,
                k,
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(text: &str) -> Printed {
        Printed::parse(text).unwrap_or_else(|| panic!("{text:?} parses"))
    }

    #[test]
    fn the_last_printed_digit_sets_the_rounding() {
        for (text, value, half) in [
            ("0.052", 0.052, 0.0005),
            ("0.0520", 0.052, 0.00005),
            ("52", 52.0, 0.5),
            ("5.2e-2", 0.052, 0.0005),
            ("5.2E+3", 5200.0, 50.0),
            (".5", 0.5, 0.05),
            ("-1.", -1.0, 0.5),
            (" 0.10 ", 0.1, 0.005),
        ] {
            let p = printed(text);
            assert_eq!(p.value, value, "{text}");
            assert!((p.half_unit - half).abs() <= 1e-15 * half, "{text}: {p:?}");
        }
        for bad in [
            "", ".", "e5", "1e", "1e+", "inf", "NaN", "1,5", "0x10", "1e400", "--1",
        ] {
            assert_eq!(Printed::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn one_of_u_and_u_expanded_gives_the_other() {
        let r = reconcile(Some(0.1), None, None, 2.0).expect("ok");
        assert_eq!(
            r,
            Some(Uncertainty {
                u: 0.1,
                big_u: 0.2,
                k: 2.0
            })
        );
        let r = reconcile(None, Some(printed("0.5")), Some(4.0), 2.0).expect("ok");
        assert_eq!(
            r,
            Some(Uncertainty {
                u: 0.125,
                big_u: 0.5,
                k: 4.0
            })
        );
        let r = reconcile(None, Some(printed("0.5")), None, 2.0).expect("ok");
        assert_eq!(
            r,
            Some(Uncertainty {
                u: 0.25,
                big_u: 0.5,
                k: 2.0
            })
        );
        assert_eq!(reconcile(None, None, Some(2.0), 2.0), Ok(None));
    }

    #[test]
    fn both_stated_are_used_when_they_agree_within_the_printed_rounding() {
        // k·u = 0.0526 prints as 0.053: 0.0004 off, within ±0.0005.
        let r = reconcile(Some(0.0263), Some(printed("0.053")), Some(2.0), 2.0).expect("agree");
        assert_eq!(
            r,
            Some(Uncertainty {
                u: 0.0263,
                big_u: 0.053,
                k: 2.0
            })
        );
        // Exactly half a unit off still agrees (0.0525 printed as 0.052).
        assert!(reconcile(Some(0.02625), Some(printed("0.052")), Some(2.0), 2.0).is_ok());
        // The same U printed with one more digit claims more and disagrees.
        assert_eq!(
            reconcile(Some(0.0263), Some(printed("0.0530")), Some(2.0), 2.0),
            Err(MetrologyError::InconsistentUncertainty {
                u: 0.0263,
                big_u: 0.053,
                k: 2.0,
                tolerance: 0.00005
            })
        );
        assert!(matches!(
            reconcile(Some(0.026), Some(printed("0.060")), Some(2.0), 2.0),
            Err(MetrologyError::InconsistentUncertainty { .. })
        ));
    }

    #[test]
    fn without_k_the_pair_implies_it() {
        let r = reconcile(Some(0.1), Some(printed("0.22")), None, 2.0)
            .expect("ok")
            .expect("some");
        assert_eq!((r.u, r.big_u), (0.1, 0.22));
        assert!((r.k - 2.2).abs() < 1e-15);
        // u = 0 implies nothing: the default k, and only U = 0 agrees.
        let zero = reconcile(Some(0.0), Some(printed("0")), None, 2.0).expect("ok");
        assert_eq!(
            zero,
            Some(Uncertainty {
                u: 0.0,
                big_u: 0.0,
                k: 2.0
            })
        );
        assert!(reconcile(Some(0.0), Some(printed("0.1")), None, 2.0).is_err());
    }

    #[test]
    fn bad_figures_are_refused() {
        assert!(reconcile(Some(-0.1), None, None, 2.0).is_err());
        assert!(reconcile(None, Some(Printed::exact(f64::NAN)), None, 2.0).is_err());
        assert!(reconcile(Some(0.1), None, Some(0.0), 2.0).is_err());
        assert!(reconcile(Some(0.1), None, None, 0.0).is_err());
        assert!(reconcile(Some(f64::MAX), None, Some(4.0), 2.0).is_err());
        assert!(reconcile(Some(1e-300), Some(Printed::exact(1e300)), None, 2.0).is_err());
    }
}
