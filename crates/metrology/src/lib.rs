//! Measurement math for Jiliang (计量协作网): GUM uncertainty budgets and
//! Monte Carlo propagation, ISO 13528 proficiency-testing statistics,
//! key-comparison reference values and degrees of equivalence, live
//! comparisons of a unit under test against a reference, and JJF 1094
//! conformity decisions.
//!
//! The crate is pure: no I/O, no printing, no threads, no clocks, no
//! dependencies beyond `serde` and `thiserror`, so the server, the CLI and
//! the browser (`wasm32-unknown-unknown`) run the same code on the same data
//! and get bit-identical answers (the Monte Carlo generator is seeded and
//! written here).
//!
//! It must never panic or return NaN: inputs are validated (errors name the
//! field and the element index), outputs are checked finite, and iterative
//! procedures have iteration limits. Every rule lives in one place here
//! (the 0.3 σ_pt criterion in [`scores`], 1.25·s/√p in [`robust`], the
//! u/U/k rule in [`stated`]); callers use it rather than restate it. Every setting a standard leaves open is
//! an option that is echoed in the result, so a stored result says how it
//! was computed.
//!
//! # Serialisation conventions
//! All option and result types derive `Serialize`/`Deserialize`. Struct
//! fields are snake_case; enum variants are kebab-case (data-carrying enums
//! are internally tagged with `"method"`, `"kind"` or `"form"`); the error
//! enum uses snake_case variants. Degrees of freedom may be infinite and are
//! written as the string `"inf"`.
//!
//! # Layout
//! * [`error`]: [`MetrologyError`] and validation helpers.
//! * [`special`]: ln Γ, incomplete gamma and beta, normal, Student t, χ² and
//!   F distribution and quantile functions.
//! * [`stats`]: mean, SD, median, type-7 quantiles, MADe, nIQR.
//! * [`robust`]: ISO 13528 Algorithm A and Algorithm S.
//! * [`scores`]: z, z′, ζ, En, D % and their classification.
//! * [`pt`]: proficiency-testing rounds: assigned value, σ_pt, homogeneity
//!   (g items × m replicates; 0.3σ_pt or the F1/F2 criterion), stability
//!   (0.3σ_pt, or allowing for the uncertainty of both averages).
//! * [`reference`](mod@reference): key-comparison reference values (weighted mean, DL, MP,
//!   arithmetic mean, median, Algorithm A, auto) and degrees of equivalence.
//! * [`interlab`]: the whole evaluation of an interlaboratory comparison
//!   (reference value or assigned value, DoE, En, z, z′, ζ, verdicts), the
//!   one function behind `jiliang compare`, server rounds and the browser.
//! * [`stated`]: a stated uncertainty (any of u, U and k) reconciled into
//!   all three.
//! * [`comparison`]: live comparison at a test point, pairing of two reading
//!   streams by timestamp, repeated paired differences.
//! * [`calibration`]: a unit under test against a reference standard in a
//!   live session: E, U(E), ν_eff, the JJF 1094 verdict and E/MPEV per test
//!   point, and the fold that builds them from the session log.
//! * [`conformity`]: MPE forms and JJF 1094 pass / fail / indeterminate.
//! * [`budget`]: Type A/B, combined uncertainty with correlations,
//!   Welch–Satterthwaite, k95/k99, rounding for display.
//! * [`montecarlo`] (+ [`rng`]): JCGM 101 Monte Carlo with the adaptive
//!   procedure; xoshiro256++ generator.
//! * [`propagation`]: multi-output law of propagation (GUM H.2), numeric
//!   Jacobian, covariance of means.
//! * [`ucum`]: UCUM unit codes: validation, dimension, D-SI names.

pub mod budget;
pub mod calibration;
pub mod comparison;
pub mod conformity;
mod dof_serde;
pub mod error;
pub mod interlab;
pub mod montecarlo;
pub mod propagation;
pub mod pt;
pub mod reference;
pub mod rng;
pub mod robust;
pub mod scores;
pub mod special;
pub mod stated;
pub mod stats;
pub mod ucum;

pub use error::{MetrologyError, Result};
