//! The comparison setup form's rules, apart from the browser: the test
//! points typed as a list, the MPE built from its form and up to three
//! numbers (and back, to fill the form from a setup), and the verdict's
//! stable key for styles and tests.

use jiliang_metrology::conformity::{Mpe, Verdict};

use crate::instruments::parse_number;

/// The forms an MPE can take, in the order the form offers them.
pub const MPE_FORMS: [&str; 5] = [
    "absolute",
    "relative",
    "fiducial",
    "reading-plus-range",
    "reading-plus-digits",
];

/// How many numbers an MPE form needs.
pub fn mpe_arity(form: &str) -> usize {
    match form {
        "absolute" | "relative" => 1,
        "fiducial" => 2,
        _ => 3,
    }
}

/// Test points typed as `1, 5, 10` (commas — also Chinese ones —,
/// semicolons or spaces between them). `None` when any is not a number or
/// there is none.
pub fn parse_points(s: &str) -> Option<Vec<f64>> {
    let parts: Vec<&str> = s
        .split([',', '，', ';', '；', ' ', '\t', '\n'])
        .filter(|p| !p.trim().is_empty())
        .collect();
    if parts.is_empty() {
        return None;
    }
    // A decimal comma would split a number in two: only `.` here.
    parts
        .into_iter()
        .map(|p| p.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
        .collect()
}

/// The MPE of `form` from the numbers typed (`None` when one is missing or
/// not a number; the ranges are the metrology crate's to check).
pub fn build_mpe(form: &str, a: &str, b: &str, c: &str) -> Option<Mpe> {
    let (a, b, c) = (parse_number(a), parse_number(b), parse_number(c));
    Some(match form {
        "absolute" => Mpe::Absolute { value: a? },
        "relative" => Mpe::Relative { percent: a? },
        "fiducial" => Mpe::Fiducial {
            percent: a?,
            span: b?,
        },
        "reading-plus-range" => Mpe::ReadingPlusRange {
            reading_percent: a?,
            range_percent: b?,
            range: c?,
        },
        "reading-plus-digits" => Mpe::ReadingPlusDigits {
            reading_percent: a?,
            digits: b?,
            resolution: c?,
        },
        _ => return None,
    })
}

/// The form and numbers of an MPE, to fill the form from a setup.
pub fn mpe_fields(m: &Mpe) -> (&'static str, [Option<f64>; 3]) {
    match *m {
        Mpe::Absolute { value } => ("absolute", [Some(value), None, None]),
        Mpe::Relative { percent } => ("relative", [Some(percent), None, None]),
        Mpe::Fiducial { percent, span } => ("fiducial", [Some(percent), Some(span), None]),
        Mpe::ReadingPlusRange {
            reading_percent,
            range_percent,
            range,
        } => (
            "reading-plus-range",
            [Some(reading_percent), Some(range_percent), Some(range)],
        ),
        Mpe::ReadingPlusDigits {
            reading_percent,
            digits,
            resolution,
        } => (
            "reading-plus-digits",
            [Some(reading_percent), Some(digits), Some(resolution)],
        ),
    }
}

/// `pass`, `fail`, `indeterminate`.
pub fn verdict_key(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Indeterminate => "indeterminate",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_a_list_of_numbers() {
        assert_eq!(parse_points("1, 5，10"), Some(vec![1.0, 5.0, 10.0]));
        assert_eq!(parse_points(" -2.5 ; 0 "), Some(vec![-2.5, 0.0]));
        assert_eq!(parse_points("1, x"), None);
        assert_eq!(parse_points(" , "), None);
        assert_eq!(parse_points("NaN"), None);
    }

    #[test]
    fn every_mpe_form_round_trips_through_the_form() {
        for form in MPE_FORMS {
            let m = build_mpe(form, "0,05", "2", "100").expect(form);
            let (f, nums) = mpe_fields(&m);
            assert_eq!(f, form);
            let n = mpe_arity(form);
            assert!(nums[..n].iter().all(Option::is_some), "{form}");
            assert!(nums[n..].iter().all(Option::is_none), "{form}");
        }
        assert_eq!(build_mpe("absolute", "", "", ""), None);
        assert_eq!(build_mpe("fiducial", "1", "", ""), None);
        assert_eq!(build_mpe("wild", "1", "1", "1"), None);
        assert_eq!(
            build_mpe("absolute", "0.01", "", ""),
            Some(Mpe::Absolute { value: 0.01 })
        );
    }

    #[test]
    fn verdicts_have_stable_keys() {
        assert_eq!(verdict_key(Verdict::Pass), "pass");
        assert_eq!(verdict_key(Verdict::Fail), "fail");
        assert_eq!(verdict_key(Verdict::Indeterminate), "indeterminate");
    }
}
