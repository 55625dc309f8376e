//! `readings.csv`: every reading a comparison counted, one row each.
//!
//! Cells a spreadsheet could take for a formula — text starting with `=`,
//! `+`, `-`, `@`, a tab or a carriage return — are written with a leading
//! `'` (OWASP's advice against CSV injection), then quoted like any cell
//! holding a comma, a quote or a line break. Numbers are written by the
//! server from `f64`, so a negative value (`-0.5`) stays a number.

use jiliang_protocol::comparison::{ComparisonLog, from_us};

use crate::ledger::records::rfc3339_micros;

/// The header row.
pub const HEADER: &str = "t,point,channel,device_id,seq,value,unit,u_t";

/// A text cell, safe to open in a spreadsheet.
pub fn text_cell(raw: &str) -> String {
    let guarded = if raw.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{raw}")
    } else {
        raw.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// The CSV of every reading `log`'s comparison counted, point by point,
/// the UUT's then the reference's, CRLF line ends (RFC 4180).
pub fn readings_csv(log: &ComparisonLog) -> String {
    let mut out = String::from(HEADER);
    out.push_str("\r\n");
    for r in log.used_readings() {
        let t = from_us(r.t_us).map(rfc3339_micros).unwrap_or_default();
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\r\n",
            text_cell(&t),
            r.point,
            r.channel.as_str(),
            r.device_id,
            r.seq,
            r.value,
            text_cell(&r.unit),
            r.u_t
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused_and_quoted() {
        assert_eq!(text_cell("V"), "V");
        assert_eq!(text_cell("=1+1"), "'=1+1");
        assert_eq!(text_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(text_cell("-2+3"), "'-2+3");
        assert_eq!(text_cell("+cmd"), "'+cmd");
        assert_eq!(text_cell("a,b"), "\"a,b\"");
        assert_eq!(text_cell("=\"x\",y"), "\"'=\"\"x\"\",y\"");
        assert_eq!(
            text_cell("2026-11-26T08:00:00.000001Z"),
            "2026-11-26T08:00:00.000001Z"
        );
    }
}
