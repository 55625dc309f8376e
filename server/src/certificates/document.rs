//! What a certificate says, independent of how it is rendered: the
//! administrative data (laboratory, customer, item, dates, signer) and the
//! result tables, with every number already a string in its final form (so
//! trailing zeros survive into the PDF and the DCC, and both say the same).
//!
//! A [`Document`] is built by a document source (a finished calibration
//! record today, a published round result later: see `source.rs`), stored
//! in the certificate's row as JSON and hashed into its ledger leaf; the PDF
//! and the DCC are rendered from it on request.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Party {
    pub name_zh: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_en: Option<String>,
    /// GB/T 2260 administrative division code (the location we know).
    pub region_code: String,
    /// Free-text contact (phone, e-mail, address) as registered.
    #[serde(default)]
    pub contact: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identification {
    /// DCC issuer: `manufacturer`, `calibrationLaboratory`, `customer`,
    /// `owner` or `other`.
    pub issuer: String,
    pub value: String,
    pub name_zh: String,
    pub name_en: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub name: String,
    /// Kind of instrument as registered (e.g. "digital multimeter").
    pub kind: String,
    pub quantity: String,
    pub identifications: Vec<Identification>,
}

/// One row of a result table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRow {
    pub nominal: String,
    /// Mean of the reference standard, in the table's unit.
    pub reference: String,
    /// Mean indication of the item.
    pub indicated: String,
    /// Indication error E = indicated − reference.
    pub error: String,
    /// Expanded uncertainty U of E.
    pub expanded_uncertainty: String,
    pub coverage_factor: String,
    /// `0.95` (the coverage probability U is stated for).
    pub coverage_probability: String,
    /// 合格 / 不合格 / 待定 (`pass`, `fail`, `indeterminate`), when decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultTable {
    pub name_zh: String,
    pub name_en: String,
    /// The unit as people write it (UCUM: `V`, `kPa`, `Cel`).
    pub unit: String,
    /// The same unit in D-SI form (`\volt`, `\kilo\pascal`).
    pub dsi_unit: String,
    pub rows: Vec<ResultRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub title_zh: String,
    pub title_en: String,
    pub lab: Party,
    pub customer: Party,
    pub item: Item,
    /// `YYYY-MM-DD` (xs:date), UTC.
    pub begin_date: String,
    pub end_date: String,
    /// DCC performanceLocation: `laboratory`, `customer`, `other` ….
    pub performance_location: String,
    /// How it was calibrated, one line per statement.
    pub method: Vec<String>,
    /// Overall conformity: `pass`, `fail`, `indeterminate`, if decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    pub results: Vec<ResultTable>,
    /// A comparison round's report (a round report document; `results`
    /// is then empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<RoundTable>,
}

/// A value with its expanded uncertainty, as stated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stated {
    pub value: String,
    pub expanded_uncertainty: String,
    pub coverage_factor: String,
}

/// One participant of a round report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundRow {
    /// The lab's code in the round (`L01`).
    pub code: String,
    /// How the report names it: `秦安县计量检定所 (L01)`, or the code.
    pub lab: String,
    /// The result as submitted (value, U, k).
    pub result: Stated,
    /// Part of the reference value; otherwise why not.
    pub included: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusion_reason: Option<String>,
    /// Degree of equivalence D = x − x_ref and its expanded uncertainty.
    pub d: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub big_u_d: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub z_prime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zeta: Option<String>,
    /// `satisfactory`, `questionable`, `unsatisfactory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
}

/// The figures of a round's report, as the published record holds them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundTable {
    /// UCUM, as the round states it.
    pub unit: String,
    /// D-SI form; `None` when the unit has none (no DCC can carry it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsi_unit: Option<String>,
    /// The estimator used (`weighted-mean` …) and the one asked for.
    pub method: String,
    pub method_requested: String,
    /// `iso13528` or `jjf1117`.
    pub en_rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma_pt: Option<String>,
    /// The reference value x_ref with U(x_ref).
    pub reference: Stated,
    /// The χ² consistency check, in words (key-comparison methods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
    pub rows: Vec<RoundRow>,
}

/// A number as it was submitted: the shortest decimal that reads back as
/// the same double, never in exponent form (D-SI and people read it).
pub fn as_submitted(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

/// A score (En, z, ζ) to two decimals.
pub fn score(x: f64) -> String {
    fixed(x, 2)
}

/// The Chinese word for a proficiency verdict.
pub fn pt_verdict_zh(v: &str) -> &'static str {
    match v {
        "satisfactory" => "满意",
        "questionable" => "可疑",
        "unsatisfactory" => "不满意",
        _ => "",
    }
}

/// The D-SI form of a UCUM unit (`kPa` → `\kilo\pascal`), for the units a
/// calibration lab measures in; `None` for anything else, so that a DCC
/// never carries a unit the reader cannot interpret.
pub fn dsi_unit(ucum: &str) -> Option<String> {
    const BASE: &[(&str, &str)] = &[
        ("V", r"\volt"),
        ("A", r"\ampere"),
        ("Ohm", r"\ohm"),
        ("Pa", r"\pascal"),
        ("bar", r"\bar"),
        ("Hz", r"\hertz"),
        ("W", r"\watt"),
        ("J", r"\joule"),
        ("N", r"\newton"),
        ("g", r"\gram"),
        ("m", r"\metre"),
        ("s", r"\second"),
        ("K", r"\kelvin"),
        ("Cel", r"\degreecelsius"),
        ("L", r"\litre"),
        ("l", r"\litre"),
        ("F", r"\farad"),
        ("H", r"\henry"),
        ("S", r"\siemens"),
        ("C", r"\coulomb"),
        ("%", r"\percent"),
        ("1", r"\one"),
    ];
    const PREFIX: &[(&str, &str)] = &[
        ("G", r"\giga"),
        ("M", r"\mega"),
        ("k", r"\kilo"),
        ("h", r"\hecto"),
        ("da", r"\deca"),
        ("d", r"\deci"),
        ("c", r"\centi"),
        ("m", r"\milli"),
        ("u", r"\micro"),
        ("n", r"\nano"),
        ("p", r"\pico"),
    ];
    let u = ucum.trim();
    if u == "kg" {
        return Some(r"\kilogram".to_owned());
    }
    if let Some((_, d)) = BASE.iter().find(|(b, _)| *b == u) {
        return Some((*d).to_owned());
    }
    for (p, dp) in PREFIX {
        if let Some(rest) = u.strip_prefix(p)
            && let Some((_, d)) = BASE
                .iter()
                .filter(|(b, _)| !matches!(*b, "%" | "1" | "Cel"))
                .find(|(b, _)| *b == rest)
        {
            return Some(format!("{dp}{d}"));
        }
    }
    None
}

/// Decimal places of a resolution such as 0.001 (3), 0.5 (1), 1 (0).
pub fn decimals_of(step: f64) -> usize {
    if !(step.is_finite() && step > 0.0) {
        return 0;
    }
    for d in 0..=12usize {
        let scaled = step * 10f64.powi(i32::try_from(d).unwrap_or(0));
        if (scaled - scaled.round()).abs() < 1e-9 * scaled.max(1.0) {
            return d;
        }
    }
    12
}

/// `x` with `decimals` places, never `-0.000`.
pub fn fixed(x: f64, decimals: usize) -> String {
    let s = format!("{x:.decimals$}");
    if s.starts_with('-') && s[1..].chars().all(|c| c == '0' || c == '.') {
        s[1..].to_owned()
    } else {
        s
    }
}

/// An expanded uncertainty to two significant digits (JJF 1059.1), and the
/// number of decimal places that leaves (the place the error is rounded to).
pub fn uncertainty(u: f64) -> (String, usize) {
    if !(u.is_finite() && u > 0.0) {
        return ("0".to_owned(), 0);
    }
    let exp = u.log10().floor();
    // Two significant digits: the second digit's place is 10^(exp-1).
    let mut places = (1.0 - exp).max(0.0);
    let mut rounded = (u * 10f64.powf(places)).round() / 10f64.powf(places);
    // 0.0995 rounds to 0.10: still two digits at one place fewer.
    if rounded >= 10f64.powf(exp + 1.0) && places > 0.0 {
        places -= 1.0;
        rounded = (u * 10f64.powf(places)).round() / 10f64.powf(places);
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let places = places as usize;
    if exp >= 1.0 {
        // 123 → 120: integer, rounded to two significant digits.
        let factor = 10f64.powf(exp - 1.0);
        return (fixed((u / factor).round() * factor, 0), 0);
    }
    (fixed(rounded, places), places)
}

/// A coverage factor as stated: `2`, `2.00` → `2`, `2.26` → `2.26`.
pub fn coverage_factor(k: f64) -> String {
    let s = format!("{k:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

/// The Chinese word for a verdict.
pub fn verdict_zh(v: &str) -> &'static str {
    match v {
        "pass" => "合格",
        "fail" => "不合格",
        _ => "待定",
    }
}

/// The English word for a verdict.
pub fn verdict_en(v: &str) -> &'static str {
    match v {
        "pass" => "pass",
        "fail" => "fail",
        _ => "indeterminate",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_map_to_dsi_with_prefixes_and_unknown_ones_are_refused() {
        assert_eq!(dsi_unit("V").as_deref(), Some(r"\volt"));
        assert_eq!(dsi_unit("mV").as_deref(), Some(r"\milli\volt"));
        assert_eq!(dsi_unit("kPa").as_deref(), Some(r"\kilo\pascal"));
        assert_eq!(dsi_unit("MPa").as_deref(), Some(r"\mega\pascal"));
        assert_eq!(dsi_unit("kOhm").as_deref(), Some(r"\kilo\ohm"));
        assert_eq!(dsi_unit("Cel").as_deref(), Some(r"\degreecelsius"));
        assert_eq!(dsi_unit("kg").as_deref(), Some(r"\kilogram"));
        assert_eq!(dsi_unit("mm").as_deref(), Some(r"\milli\metre"));
        assert_eq!(dsi_unit("m").as_deref(), Some(r"\metre"));
        assert_eq!(dsi_unit("furlong"), None);
        assert_eq!(dsi_unit("k%"), None);
        assert_eq!(dsi_unit(""), None);
    }

    #[test]
    fn numbers_keep_their_places() {
        assert_eq!(decimals_of(0.0001), 4);
        assert_eq!(decimals_of(0.5), 1);
        assert_eq!(decimals_of(1.0), 0);
        assert_eq!(decimals_of(0.0), 0);
        assert_eq!(fixed(10.0, 3), "10.000");
        assert_eq!(fixed(-0.00001, 3), "0.000");
        assert_eq!(fixed(-0.0021, 3), "-0.002");
    }

    #[test]
    fn uncertainties_have_two_significant_digits() {
        assert_eq!(uncertainty(0.000_123_4), ("0.00012".to_owned(), 5));
        assert_eq!(uncertainty(0.0995), ("0.10".to_owned(), 2));
        assert_eq!(uncertainty(1.26), ("1.3".to_owned(), 1));
        assert_eq!(uncertainty(0.020), ("0.020".to_owned(), 3));
        assert_eq!(uncertainty(123.0), ("120".to_owned(), 0));
        assert_eq!(uncertainty(0.0), ("0".to_owned(), 0));
        assert_eq!(coverage_factor(2.0), "2");
        assert_eq!(coverage_factor(2.26), "2.26");
        assert_eq!(coverage_factor(2.5), "2.5");
    }
}
