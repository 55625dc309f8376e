//! The `u`, `U` and `k` cells of a CSV row, reconciled by the metrology
//! crate's one rule (`jiliang_metrology::stated::reconcile`), for both
//! `compare` and `budget`: any one of u and U, or both when U agrees with
//! k·u within the rounding of U as the file prints it (k = U/u when the row
//! has no k). A disagreement is refused naming the row, the column and both
//! figures as written.
//!
//! The cells are validated one by one before (numbers, signs) by the tool
//! that reads them, with its own wording; this module never panics.

use jiliang_metrology::MetrologyError;
use jiliang_metrology::stated::{self, Printed, Uncertainty};

use crate::Failure;
use crate::csv::{Col, Csv, Row};
use crate::table;

/// Where a row's u, U and k are, when the header has them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StatedColumns {
    pub(crate) u: Option<Col>,
    pub(crate) big_u: Option<Col>,
    pub(crate) k: Option<Col>,
}

/// A row's stated uncertainty from its parsed cells; `None` when it gives
/// neither u nor U.
pub(crate) fn stated_uncertainty(
    csv: &Csv,
    row: &Row,
    cols: StatedColumns,
    u: Option<f64>,
    big_u: Option<f64>,
    k: Option<f64>,
    default_k: f64,
) -> Result<Option<Uncertainty>, Failure> {
    // U's rounding is read from the cell as written ("0.052" is ± 0.0005);
    // text the reader accepts but `Printed` does not spell out is taken as
    // exact.
    let printed =
        big_u.map(|v| Printed::parse(csv.text(row, cols.big_u)).unwrap_or(Printed::exact(v)));
    stated::reconcile(u, printed, k, default_k).map_err(|e| {
        let at = |reason: String| match cols.big_u.or(cols.u) {
            Some(c) => csv.error(row, c, reason),
            None => Failure::input(format!("{} row {}: {reason}", csv.name(), row.line)),
        };
        match e {
            MetrologyError::InconsistentUncertainty {
                u, k, tolerance, ..
            } => {
                let k_text = match csv.text(row, cols.k) {
                    "" => format!("{} (the default)", table::clean(k)),
                    text => text.to_owned(),
                };
                at(format!(
                    "U = {} disagrees with k·u = {k_text} × {} = {} beyond the rounding of U (±{}); \
                     correct one of them, or leave u or U empty to use the other",
                    csv.text(row, cols.big_u),
                    csv.text(row, cols.u),
                    table::clean(k * u),
                    table::clean(tolerance),
                ))
            }
            other => at(format!("no usable uncertainty: {other}")),
        }
    })
}
