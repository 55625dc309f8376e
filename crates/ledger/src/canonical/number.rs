//! Numbers in ECMAScript's `Number.prototype.toString` form (RFC 8785
//! §3.2.2.3): the shortest digits that round-trip, an exact tie broken to
//! the even digit, the decimal point placed by ECMAScript's exponent rules.

use crate::error::CanonicalError;

/// Formats a finite `f64` the way ECMAScript's `Number.prototype.toString`
/// does (RFC 8785 §3.2.2.3). NaN and infinities are an error.
pub fn format_number(value: f64) -> Result<String, CanonicalError> {
    if !value.is_finite() {
        return Err(CanonicalError::NonFiniteNumber);
    }
    if value == 0.0 {
        // Both +0 and -0 (ECMAScript prints -0 as "0").
        return Ok("0".to_owned());
    }
    // Rust's `{:e}` gives the shortest digits that round-trip, closest to
    // the value, as `d[.ddd]e<exp>`. ECMAScript picks the same digits except
    // on an exact tie between two shortest candidates (RFC 8785 Appendix B,
    // 1424953923781206.25), where it takes the even one; then only the
    // placement of the decimal point differs.
    let abs = value.abs();
    let sci = format!("{abs:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let mut exponent: i32 = exponent.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.bytes().last().is_some_and(|d| d % 2 == 1)
        && let Some((even, e)) = tie_to_even(abs, digits.len())
    {
        digits = even;
        exponent = e;
    }
    let k = digits.len() as i32;
    // ECMAScript's n: the decimal point sits after n digits.
    let n = exponent + 1;

    let mut out = String::with_capacity(k as usize + 8);
    if value < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(core::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(core::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let e = n - 1;
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if e >= 0 { '+' } else { '-' });
        out.push_str(&e.unsigned_abs().to_string());
    }
    Ok(out)
}

/// ECMAScript breaks an exact tie between two shortest candidates towards
/// the even one; Rust's shortest formatting rounds ties up. A tie is only
/// possible when the exact binary value has exactly `k + 1` significant
/// decimal digits ending in 5; this returns the even candidate's digits and
/// exponent in that case. Only called when Rust's last digit is odd.
fn tie_to_even(abs: f64, k: usize) -> Option<(String, i32)> {
    let (significant, exponent) = match exact_decimal(abs) {
        Exact::Digits(digits, exponent) => (digits, exponent),
        Exact::TooLong => return None,
        Exact::Unknown => {
            // Rust's exact formatting prints every digit of the binary value
            // (at most 767 significant digits for a double).
            let exact = format!("{abs:.800e}");
            let (mantissa, exponent) = exact.split_once('e')?;
            let exponent: i32 = exponent.parse().ok()?;
            let all: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
            (all.trim_end_matches('0').to_owned(), exponent)
        }
    };
    let significant = significant.as_str();
    if significant.len() != k + 1 || !significant.ends_with('5') {
        return None;
    }
    // The value lies exactly halfway between `lower` and `lower + 1` (in
    // units of the k-th digit); pick whichever ends in an even digit.
    let lower = significant.get(..k)?;
    let lower_is_even = lower.bytes().last().is_some_and(|d| d % 2 == 0);
    let (mut candidate, mut candidate_exponent) = (lower.to_owned(), exponent);
    if !lower_is_even {
        let mut bytes = candidate.into_bytes();
        let mut carry = true;
        for b in bytes.iter_mut().rev() {
            if *b == b'9' {
                *b = b'0';
            } else {
                *b += 1;
                carry = false;
                break;
            }
        }
        if carry {
            bytes.insert(0, b'1');
            candidate_exponent += 1;
        }
        candidate = String::from_utf8(bytes).ok()?;
    }
    let candidate = candidate.trim_end_matches('0').to_owned();
    if candidate.is_empty() {
        return None;
    }
    // Only accept it if it really reads back as the same double.
    let (first, rest) = candidate.split_at(1);
    let text = format!("{first}.{rest}0e{candidate_exponent}");
    (text.parse::<f64>().ok()? == abs).then_some((candidate, candidate_exponent))
}

/// The exact decimal expansion of a positive finite double, when cheap.
enum Exact {
    /// Significant digits (no trailing zeros) and the decimal exponent of
    /// the first digit.
    Digits(String, i32),
    /// More than 19 significant digits: no tie with a ≤ 17-digit shortest
    /// form is possible.
    TooLong,
    /// Not computed here (huge integers); use the slow path.
    Unknown,
}

/// Writes `abs = m · 2^e` (m odd) exactly in decimal using 128-bit integers.
/// For `e < 0` the expansion is `m · 5^-e` shifted by `-e` decimal places
/// and ends in 5 (odd times odd), so it has as many significant digits as
/// `m · 5^-e`; beyond `5^27` that is more than 19.
fn exact_decimal(abs: f64) -> Exact {
    let bits = abs.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    let (mut m, mut e) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    };
    if m == 0 {
        return Exact::Unknown;
    }
    let tz = m.trailing_zeros();
    m >>= tz;
    e += tz as i32;
    if e < 0 {
        let p = e.unsigned_abs();
        if p > 27 {
            return Exact::TooLong;
        }
        // m < 2^53 and 5^27 < 2^63, so the product fits in 116 bits.
        let n = u128::from(m) * 5u128.pow(p);
        let digits = n.to_string();
        let exponent = digits.len() as i32 - 1 - p as i32;
        Exact::Digits(digits, exponent)
    } else if e + (64 - m.leading_zeros() as i32) <= 127 {
        let mut n = u128::from(m) << e;
        let mut zeros = 0i32;
        while n % 10 == 0 {
            n /= 10;
            zeros += 1;
        }
        let digits = n.to_string();
        let exponent = digits.len() as i32 - 1 + zeros;
        Exact::Digits(digits, exponent)
    } else {
        Exact::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_es6_form() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1"),
            (-1.5, "-1.5"),
            (100.0, "100"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (123.456, "123.456"),
            (-0.0, "0"),
            (0.1 + 0.2, "0.30000000000000004"),
        ];
        for &(value, want) in cases {
            assert_eq!(format_number(value).as_deref(), Ok(want), "{value:e}");
        }
        assert_eq!(
            format_number(f64::NAN),
            Err(CanonicalError::NonFiniteNumber)
        );
    }

    #[test]
    fn exact_decimal_agrees_with_exact_formatting() {
        let mut x = 0x0123_4567_89ab_cdef_u64;
        let mut samples = vec![
            0.5,
            f64::from_bits(0x4314_3ff3_c1cb_0959),
            2.0f64.powi(100),
            5e-324,
            0.1,
            1e22,
        ];
        for _ in 0..2000 {
            // xorshift: a spread of bit patterns, including huge and tiny.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            samples.push(f64::from_bits(x >> 1));
            samples.push((x % 1_000_000) as f64 / 64.0);
        }
        for v in samples.into_iter().filter(|v| v.is_finite() && *v > 0.0) {
            let slow = format!("{v:.800e}");
            let (mantissa, exponent) = slow.split_once('e').expect("exponent");
            let all: String = mantissa.chars().filter(char::is_ascii_digit).collect();
            let digits = all.trim_end_matches('0').to_owned();
            let exponent: i32 = exponent.parse().expect("exponent");
            match exact_decimal(v) {
                Exact::Digits(d, e) => assert_eq!((d, e), (digits, exponent), "{v:e}"),
                Exact::TooLong => assert!(digits.len() > 19, "{v:e}"),
                Exact::Unknown => assert!(v > 1e37, "{v:e}"),
            }
        }
    }
}
