//! Plain-text tables and number formatting for the offline tools' default
//! (non-JSON) output. Rounding here is for people only; JSON output always
//! carries full precision.

use jiliang_metrology::budget::{RoundingMode, round_result};
use unicode_width::UnicodeWidthStr;

/// Column alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// Renders rows under a header, columns separated by two spaces, each
/// padded to its widest cell (CJK characters count as two columns).
pub(crate) fn render(header: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|(h, _)| width(h)).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let mut out = String::new();
    let line = |cells: &mut dyn Iterator<Item = &str>, out: &mut String| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            let align = header.get(i).map_or(Align::Left, |(_, a)| *a);
            let pad = " ".repeat(w.saturating_sub(width(cell)));
            if i > 0 {
                text.push_str("  ");
            }
            match align {
                Align::Left => {
                    text.push_str(cell);
                    text.push_str(&pad);
                }
                Align::Right => {
                    text.push_str(&pad);
                    text.push_str(cell);
                }
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().map(|(h, _)| *h), &mut out);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(&mut rule.iter().map(String::as_str), &mut out);
    for row in rows {
        line(&mut row.iter().map(String::as_str), &mut out);
    }
    out
}

/// Display width in terminal columns (UAX #11: CJK and other wide
/// characters take two, combining marks none).
pub(crate) fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// A value and its uncertainty for display: the uncertainty to two
/// significant digits, the value to the same decimal place (GUM 7.2.6,
/// JJF 1059.1), by the metrology crate's `round_result`.
pub(crate) fn value_and_uncertainty(value: f64, u: f64) -> (String, String) {
    match round_result(value, u, 2, RoundingMode::HalfEven) {
        Ok(r) => (r.value_text, r.uncertainty_text),
        Err(_) => (sig(value, 6), sig(u, 2)),
    }
}

/// The value alone, rounded to the decimal place its uncertainty `u` fixes
/// (falls back to six significant digits without a usable `u`).
pub(crate) fn value_at(value: f64, u: Option<f64>) -> String {
    match u {
        Some(u) => value_and_uncertainty(value, u).0,
        None => sig(value, 6),
    }
}

/// An uncertainty to two significant digits.
pub(crate) fn uncertainty(u: f64) -> String {
    value_and_uncertainty(u, u).1
}

/// `digits` significant digits, without trailing exponent noise for normal
/// magnitudes.
pub(crate) fn sig(v: f64, digits: usize) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let exp = v.abs().log10().floor() as i32;
    if !(-6..=9).contains(&exp) {
        return format!("{:.*e}", digits.saturating_sub(1), v);
    }
    let decimals = (digits as i32 - 1 - exp).max(0) as usize;
    format!("{v:.decimals$}")
}

/// A number as typed when that is short (`25`, `0.0000012`), otherwise to
/// four significant digits (a u computed from a half-width).
pub(crate) fn short(v: f64) -> String {
    let text = format!("{v}");
    if text.len() <= 10 { text } else { sig(v, 4) }
}

/// A computed number without float noise: twelve significant digits,
/// trailing zeros dropped (0.02 − 0.01 prints as 0.01).
pub(crate) fn clean(v: f64) -> String {
    trimmed(v, 12)
}

/// `digits` significant digits with trailing zeros dropped.
pub(crate) fn trimmed(v: f64, digits: usize) -> String {
    let text = sig(v, digits);
    if text.contains('e') || !text.contains('.') {
        return text;
    }
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A fixed number of decimals (scores, percentages).
pub(crate) fn fixed(v: f64, decimals: usize) -> String {
    let text = format!("{v:.decimals$}");
    // Avoid "-0.00" for a score that rounds to zero.
    if text.starts_with('-')
        && text
            .trim_start_matches('-')
            .chars()
            .all(|c| c == '0' || c == '.')
    {
        text.trim_start_matches('-').to_owned()
    } else {
        text
    }
}

/// An optional number, or "-" when it does not apply.
pub(crate) fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "-".to_owned(), f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_with_wide_characters() {
        let t = render(
            &[("lab", Align::Left), ("value", Align::Right)],
            &[
                vec!["中国计量院".to_owned(), "1.5".to_owned()],
                vec!["L2".to_owned(), "10.25".to_owned()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "lab         value");
        assert_eq!(lines[2], "中国计量院    1.5");
        assert_eq!(lines[3], "L2          10.25");
    }

    #[test]
    fn widths_follow_unicode() {
        // Ideographs, full-width forms and Hangul take two columns; accents
        // written as combining marks take none.
        assert_eq!(width("中国计量院"), 10);
        assert_eq!(width("ＡＢ"), 4);
        assert_eq!(width("한국"), 4);
        assert_eq!(width("e\u{301}"), 1);
        assert_eq!(width("INRIM, Torino"), 13);
        let t = render(
            &[("lab", Align::Left), ("verdict", Align::Left)],
            &[
                vec!["Cafe\u{301}".to_owned(), "ok".to_owned()],
                vec!["计量院".to_owned(), "ok".to_owned()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[1], "------  -------");
        assert_eq!(lines[2], "Cafe\u{301}    ok");
        assert_eq!(lines[3], "计量院  ok");
    }

    #[test]
    fn rounding_for_people() {
        assert_eq!(
            value_and_uncertainty(0.257011, 0.00847),
            ("0.2570".to_owned(), "0.0085".to_owned())
        );
        assert_eq!(uncertainty(31.6), "32");
        assert_eq!(fixed(-0.001, 2), "0.00");
        assert_eq!(fixed(-4.704, 2), "-4.70");
        assert_eq!(sig(0.0395201, 3), "0.0395");
        assert_eq!(value_and_uncertainty(1.0, 0.0).1, "0");
    }
}
