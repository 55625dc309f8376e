//! The crate's one error type.
//!
//! Every fallible function returns [`MetrologyError`], except
//! [`crate::interlab::evaluate`], whose [`crate::interlab::CompareError`]
//! wraps it with the outcomes a caller words for its own users (too few
//! participants, a missing uncertainty). Variants name the
//! offending field and, for list inputs, the zero-based element index so that
//! a CLI or a web form can point at the row. Errors are plain data
//! (serialisable) so the server can pass them to the browser unchanged.

use serde::{Deserialize, Serialize};

/// Result alias used throughout the crate.
pub type Result<T> = core::result::Result<T, MetrologyError>;

/// Everything that can go wrong in the measurement math.
///
/// Serialised as an externally tagged enum with snake_case variant names,
/// e.g. `{"non_finite":{"field":"values","index":3}}`.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetrologyError {
    /// An input was NaN or ±∞.
    #[error("{field}{} is not a finite number", fmt_index(*.index))]
    NonFinite { field: String, index: Option<usize> },
    /// An uncertainty (or scale) that must be strictly positive was ≤ 0.
    #[error("{field}{} must be a positive uncertainty", fmt_index(*.index))]
    NonPositiveUncertainty { field: String, index: Option<usize> },
    /// A value was outside its allowed range (probability outside (0, 1),
    /// negative degrees of freedom, |r| > 1, …).
    #[error("{field}{} is out of range: expected {expected}", fmt_index(*.index))]
    OutOfRange {
        field: String,
        index: Option<usize>,
        expected: String,
    },
    /// Not enough data for the requested statistic.
    #[error("{what}: needs at least {needed} values, got {got}")]
    TooFew {
        what: String,
        needed: usize,
        got: usize,
    },
    /// Two inputs that must have matching lengths do not.
    #[error("{field}: expected length {expected}, got {got}")]
    LengthMismatch {
        field: String,
        expected: usize,
        got: usize,
    },
    /// A quantity that is used as a divisor is zero (e.g. D % with x_pt = 0,
    /// z with σ_pt = 0).
    #[error("{field} is zero, cannot divide by it")]
    ZeroDivisor { field: String },
    /// A covariance/correlation structure is not positive semi-definite
    /// (the combined variance came out negative).
    #[error("{what} is not positive semi-definite")]
    NotPositiveSemiDefinite { what: String },
    /// The computation overflowed or produced a non-finite intermediate
    /// although all inputs were finite (e.g. values near 1e308).
    #[error("{what} is not finite (overflow or underflow of the inputs' scale)")]
    NonFiniteResult { what: String },
    /// The user-supplied model returned a non-finite value in a Monte Carlo
    /// trial or a finite-difference evaluation.
    #[error("model returned a non-finite value at evaluation {evaluation}")]
    ModelNonFinite { evaluation: usize },
    /// An iterative procedure did not converge within its iteration limit.
    #[error("{what} did not converge in {iterations} iterations")]
    NoConvergence { what: String, iterations: usize },
    /// An option value is invalid (e.g. zero trials, coverage factor ≤ 0).
    #[error("invalid option {option}: {reason}")]
    InvalidOption { option: String, reason: String },
    /// A stated expanded uncertainty U disagrees with k·u by more than the
    /// rounding of the printed U ([`crate::stated::reconcile`]).
    #[error("U = {big_u} disagrees with k·u = {k} × {u} beyond the rounding of U (±{tolerance})")]
    InconsistentUncertainty {
        u: f64,
        big_u: f64,
        k: f64,
        /// Half a unit of U's last printed digit.
        tolerance: f64,
    },
}

fn fmt_index(index: Option<usize>) -> String {
    match index {
        Some(i) => format!("[{i}]"),
        None => String::new(),
    }
}

impl MetrologyError {
    pub(crate) fn non_finite(field: &str, index: Option<usize>) -> Self {
        Self::NonFinite {
            field: field.to_owned(),
            index,
        }
    }
    pub(crate) fn non_positive(field: &str, index: Option<usize>) -> Self {
        Self::NonPositiveUncertainty {
            field: field.to_owned(),
            index,
        }
    }
    pub(crate) fn out_of_range(field: &str, index: Option<usize>, expected: &str) -> Self {
        Self::OutOfRange {
            field: field.to_owned(),
            index,
            expected: expected.to_owned(),
        }
    }
    pub(crate) fn too_few(what: &str, needed: usize, got: usize) -> Self {
        Self::TooFew {
            what: what.to_owned(),
            needed,
            got,
        }
    }
    pub(crate) fn length(field: &str, expected: usize, got: usize) -> Self {
        Self::LengthMismatch {
            field: field.to_owned(),
            expected,
            got,
        }
    }
    pub(crate) fn zero(field: &str) -> Self {
        Self::ZeroDivisor {
            field: field.to_owned(),
        }
    }
    pub(crate) fn overflow(what: &str) -> Self {
        Self::NonFiniteResult {
            what: what.to_owned(),
        }
    }
    pub(crate) fn option(option: &str, reason: &str) -> Self {
        Self::InvalidOption {
            option: option.to_owned(),
            reason: reason.to_owned(),
        }
    }
}

// ---- validation helpers shared by the modules -------------------------------

/// A scalar input must be finite.
pub(crate) fn finite(field: &str, v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(MetrologyError::non_finite(field, None))
    }
}

/// Every element of a slice must be finite.
pub(crate) fn all_finite(field: &str, v: &[f64]) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(MetrologyError::non_finite(field, Some(i))),
        None => Ok(()),
    }
}

/// A scalar uncertainty must be finite and > 0.
pub(crate) fn positive(field: &str, v: f64) -> Result<f64> {
    finite(field, v)?;
    if v > 0.0 {
        Ok(v)
    } else {
        Err(MetrologyError::non_positive(field, None))
    }
}

/// A scalar uncertainty must be finite and ≥ 0.
pub(crate) fn non_negative(field: &str, v: f64) -> Result<f64> {
    finite(field, v)?;
    if v >= 0.0 {
        Ok(v)
    } else {
        Err(MetrologyError::non_positive(field, None))
    }
}

/// An output must be finite; inputs were finite, so a non-finite output means
/// the inputs' scale overflowed.
pub(crate) fn out(what: &str, v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(MetrologyError::overflow(what))
    }
}

/// Minimum length check.
pub(crate) fn at_least(what: &str, needed: usize, got: usize) -> Result<()> {
    if got < needed {
        Err(MetrologyError::too_few(what, needed, got))
    } else {
        Ok(())
    }
}
