//! Turning what an instrument sends into a number, or into a precise
//! statement of why it is not one. Pure functions, no I/O.
//!
//! - SCPI numeric replies (IEEE 488.2 NR1, NR2, NR3: `+12`, `-1.5`,
//!   `+1.234500E+00`), where 9.9E37 means overload and 9.91E37 "not a
//!   number" (SCPI-99 §7.2.1.5/§7.2.1.6): both are faults, never readings.
//! - SCPI error-queue replies (`-113,"Undefined header"`).
//! - Modbus registers as int16, uint16, int32, uint32 or float32 in any word
//!   and byte order.
//! - A value captured by a regular expression from a line of ASCII.
//!
//! Nothing here ever returns a non-finite value as a reading.

use serde::{Deserialize, Serialize};

/// Values at or above this magnitude are SCPI's overload (9.9E37) and
/// not-a-number (9.91E37) markers.
const SCPI_OVERLOAD: f64 = 9.9e37;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NumberError {
    #[error("the reply is empty")]
    Empty,
    #[error("the reply {0:?} is not a number")]
    NotANumber(String),
    #[error("overload: the instrument returned {0} (over range)")]
    Overload(String),
    #[error("the instrument returned {0} (SCPI's not-a-number)")]
    InstrumentNan(String),
}

/// Parse one SCPI numeric reply. Surrounding whitespace is ignored; the
/// whole rest must be one decimal number (no units, no lists, no `inf`).
pub fn parse_scpi_number(reply: &str) -> Result<f64, NumberError> {
    let s = reply.trim();
    if s.is_empty() {
        return Err(NumberError::Empty);
    }
    let upper = s.to_ascii_uppercase();
    match upper.trim_start_matches(['+', '-']) {
        "INF" | "INFINITY" => return Err(NumberError::Overload(s.into())),
        "NAN" => return Err(NumberError::InstrumentNan(s.into())),
        _ => {}
    }
    if !is_decimal(s) {
        return Err(NumberError::NotANumber(s.into()));
    }
    let v: f64 = s.parse().map_err(|_| NumberError::NotANumber(s.into()))?;
    if !v.is_finite() || v.abs() >= SCPI_OVERLOAD {
        // 9.91E37 is SCPI's NaN; 9.9E37 (and anything larger) overload.
        return Err(if (v.abs() - 9.91e37).abs() < 1e35 {
            NumberError::InstrumentNan(s.into())
        } else {
            NumberError::Overload(s.into())
        });
    }
    Ok(v)
}

/// `[+-] digits [. digits] [(E|e) [+-] digits]`, at least one digit in the
/// mantissa. Rust's `f64::from_str` also takes `inf`, `NaN` and `infinity`,
/// which an instrument reply must not smuggle in as a reading.
fn is_decimal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

/// One entry of a SCPI error queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScpiError {
    pub code: i32,
    pub message: String,
}

impl ScpiError {
    pub fn is_error(&self) -> bool {
        self.code != 0
    }
}

impl std::fmt::Display for ScpiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},\"{}\"", self.code, self.message)
    }
}

/// Parse a `SYST:ERR?` reply: `<code>,"<message>"` (the quotes optional,
/// as some instruments leave them out).
pub fn parse_scpi_error(reply: &str) -> Option<ScpiError> {
    let (code, message) = reply.trim().split_once(',')?;
    let code: i32 = code.trim().parse().ok()?;
    let message = message.trim();
    let message = message
        .strip_prefix('"')
        .and_then(|m| m.strip_suffix('"'))
        .unwrap_or(message);
    Some(ScpiError {
        code,
        message: message.to_owned(),
    })
}

/// How a value is laid out in Modbus registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum RegisterType {
    Int16,
    Uint16,
    Int32,
    Uint32,
    Float32,
}

impl RegisterType {
    /// Registers the value occupies.
    pub fn registers(self) -> u16 {
        match self {
            Self::Int16 | Self::Uint16 => 1,
            Self::Int32 | Self::Uint32 | Self::Float32 => 2,
        }
    }
}

/// Order of the two registers of a 32-bit value (`big`: the first register
/// holds the high word, "ABCD"; `little`: "CDAB"), or of the two bytes in
/// each register (`big`: as Modbus sends them; `little`: swapped, "BADC").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    Big,
    Little,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("expected {expected} registers, got {got}")]
    Count { expected: usize, got: usize },
    #[error("the registers {regs} hold a float32 that is not a finite number")]
    NotFinite { regs: String },
}

/// Decode registers as sent by the device (each `u16` as received, high
/// byte first on the wire).
pub fn decode_registers(
    regs: &[u16],
    ty: RegisterType,
    word_order: Order,
    byte_order: Order,
) -> Result<f64, DecodeError> {
    let expected = usize::from(ty.registers());
    if regs.len() != expected {
        return Err(DecodeError::Count {
            expected,
            got: regs.len(),
        });
    }
    let fix = |r: u16| match byte_order {
        Order::Big => r,
        Order::Little => r.swap_bytes(),
    };
    let word32 = || {
        let (hi, lo) = match word_order {
            Order::Big => (fix(regs[0]), fix(regs[1])),
            Order::Little => (fix(regs[1]), fix(regs[0])),
        };
        (u32::from(hi) << 16) | u32::from(lo)
    };
    let v = match ty {
        RegisterType::Int16 => f64::from(fix(regs[0]) as i16),
        RegisterType::Uint16 => f64::from(fix(regs[0])),
        RegisterType::Int32 => f64::from(word32() as i32),
        RegisterType::Uint32 => f64::from(word32()),
        // The shortest decimal the float32 holds (101.325, not the
        // 101.32499694824219 that widening its bits would show).
        RegisterType::Float32 => {
            let f = f32::from_bits(word32());
            if f.is_finite() {
                f.to_string().parse().unwrap_or(f64::from(f))
            } else {
                f64::from(f)
            }
        }
    };
    if !v.is_finite() {
        return Err(DecodeError::NotFinite {
            regs: regs
                .iter()
                .map(|r| format!("{r:04x}"))
                .collect::<Vec<_>>()
                .join(" "),
        });
    }
    Ok(v)
}

/// Encode a value into registers (the inverse of [`decode_registers`]);
/// the simulator serves its register map with it.
pub fn encode_registers(
    v: f64,
    ty: RegisterType,
    word_order: Order,
    byte_order: Order,
) -> Vec<u16> {
    let fix = |r: u16| match byte_order {
        Order::Big => r,
        Order::Little => r.swap_bytes(),
    };
    let split = |w: u32| {
        let (hi, lo) = (fix((w >> 16) as u16), fix(w as u16));
        match word_order {
            Order::Big => vec![hi, lo],
            Order::Little => vec![lo, hi],
        }
    };
    // `as` saturates out-of-range floats, which is what a transmitter's
    // register does at the end of its range.
    match ty {
        RegisterType::Int16 => vec![fix(v.round() as i16 as u16)],
        RegisterType::Uint16 => vec![fix(v.round() as u16)],
        RegisterType::Int32 => split(v.round() as i32 as u32),
        RegisterType::Uint32 => split(v.round() as u32),
        RegisterType::Float32 => split((v as f32).to_bits()),
    }
}

/// `v` rounded to 15 significant digits: what an f64 can promise, and
/// enough to undo the binary noise of a scale (`1013 × 0.1` is
/// `101.30000000000001` in f64; this makes it `101.3`).
pub fn tidy(v: f64) -> f64 {
    if !v.is_finite() || v == 0.0 {
        return v;
    }
    format!("{v:.14e}").parse().unwrap_or(v)
}

/// The number a line of ASCII holds, per `pattern`: the capture group named
/// `value` if there is one, else group 1, else the whole match. Spaces
/// between a sign and the digits (`+   12.50`, as balances print) are
/// allowed.
pub fn extract_value(pattern: &regex_lite::Regex, line: &str) -> Result<f64, NumberError> {
    let caps = pattern
        .captures(line)
        .ok_or_else(|| NumberError::NotANumber(line.trim().to_owned()))?;
    let m = caps
        .name("value")
        .or_else(|| caps.get(1))
        .or_else(|| caps.get(0))
        .ok_or_else(|| NumberError::NotANumber(line.trim().to_owned()))?;
    let compact: String = m.as_str().chars().filter(|c| !c.is_whitespace()).collect();
    parse_scpi_number(&compact)
}

/// Default pattern of the ASCII mode: the first decimal number in the line.
pub const DEFAULT_PATTERN: &str = r"(?P<value>[-+]?\s*(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scpi_numbers_nr1_nr2_nr3() {
        for (s, v) in [
            ("+12", 12.0),
            ("-7", -7.0),
            ("3", 3.0),
            ("12.5", 12.5),
            ("-0.000125", -0.000_125),
            (".5", 0.5),
            ("5.", 5.0),
            ("+1.234500E+00", 1.2345),
            ("-4.5e-3", -0.0045),
            ("1E3", 1000.0),
            ("  +1.000000000E+01\r\n", 10.0),
            ("9.8E37", 9.8e37),
        ] {
            assert_eq!(parse_scpi_number(s), Ok(v), "{s:?}");
        }
    }

    #[test]
    fn scpi_overload_and_garbage_are_faults() {
        assert!(matches!(
            parse_scpi_number("+9.90000000E+37"),
            Err(NumberError::Overload(_))
        ));
        assert!(matches!(
            parse_scpi_number("-9.9E37"),
            Err(NumberError::Overload(_))
        ));
        assert!(matches!(
            parse_scpi_number("9.91E37"),
            Err(NumberError::InstrumentNan(_))
        ));
        assert!(matches!(
            parse_scpi_number("NAN"),
            Err(NumberError::InstrumentNan(_))
        ));
        assert!(matches!(
            parse_scpi_number("-INF"),
            Err(NumberError::Overload(_))
        ));
        assert!(matches!(
            parse_scpi_number("1e999"),
            Err(NumberError::Overload(_))
        ));
        assert_eq!(parse_scpi_number(" \n"), Err(NumberError::Empty));
        for bad in [
            "inf", "infinity", "nan", "1.2 V", "1,2", "--1", "1e", "e5", ".", "+", "0x10", "1.2.3",
            "#H1F", "\u{7f}~#",
        ] {
            assert!(parse_scpi_number(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scpi_error_replies() {
        assert_eq!(
            parse_scpi_error("-113,\"Undefined header\"\n"),
            Some(ScpiError {
                code: -113,
                message: "Undefined header".into()
            })
        );
        let ok = parse_scpi_error("+0,\"No error\"").expect("parses");
        assert!(!ok.is_error());
        assert_eq!(
            parse_scpi_error("-222,Data out of range").map(|e| e.code),
            Some(-222)
        );
        assert_eq!(parse_scpi_error("garbage"), None);
        assert_eq!(
            ScpiError {
                code: -110,
                message: "Command header error".into()
            }
            .to_string(),
            "-110,\"Command header error\""
        );
    }

    /// The figures of docs/instruments: pymodbus 3.16.1 serving 101.325 as
    /// FLOAT32 at HR0-1 reads `42ca a666`, the word-swapped copy at HR2-3
    /// `a666 42ca`; input registers 0x1234, 0xBEEF, 7 and 23.5 at IR3-4.
    #[test]
    fn modbus_decoding_matches_the_pymodbus_figures() {
        use Order::*;
        use RegisterType::*;
        let hr = [0x42ca, 0xa666, 0xa666, 0x42ca];
        let abcd = decode_registers(&hr[0..2], Float32, Big, Big).expect("decodes");
        assert_eq!(abcd, 101.325);
        let cdab = decode_registers(&hr[2..4], Float32, Little, Big).expect("decodes");
        assert_eq!(cdab, abcd);
        assert_eq!(decode_registers(&[0x1234], Uint16, Big, Big), Ok(4660.0));
        assert_eq!(decode_registers(&[0xBEEF], Uint16, Big, Big), Ok(48879.0));
        assert_eq!(decode_registers(&[0xBEEF], Int16, Big, Big), Ok(-16657.0));
        assert_eq!(
            decode_registers(&[0x1234], Int16, Big, Little),
            Ok(f64::from(0x3412))
        );
        assert_eq!(decode_registers(&[7], Int16, Big, Big), Ok(7.0));
        let ir34 = encode_registers(23.5, Float32, Big, Big);
        assert_eq!(ir34, vec![0x41bc, 0x0000]);
        assert_eq!(decode_registers(&ir34, Float32, Big, Big), Ok(23.5));
    }

    #[test]
    fn modbus_every_type_and_order_round_trips() {
        use Order::*;
        use RegisterType::*;
        let cases = [
            (Int16, -1234.0),
            (Uint16, 54321.0),
            (Int32, -123_456_789.0),
            (Uint32, 3_000_000_000.0),
            (Float32, -0.001_25),
        ];
        for (ty, v) in cases {
            for word in [Big, Little] {
                for byte in [Big, Little] {
                    let regs = encode_registers(v, ty, word, byte);
                    assert_eq!(regs.len(), usize::from(ty.registers()));
                    assert_eq!(
                        decode_registers(&regs, ty, word, byte),
                        Ok(v),
                        "{ty:?} {word:?} {byte:?}"
                    );
                }
            }
        }
        // The four layouts of one float, as manuals name them.
        let v = 101.325;
        assert_eq!(encode_registers(v, Float32, Big, Big), vec![0x42ca, 0xa666]); // ABCD
        assert_eq!(
            encode_registers(v, Float32, Little, Big),
            vec![0xa666, 0x42ca]
        ); // CDAB
        assert_eq!(
            encode_registers(v, Float32, Big, Little),
            vec![0xca42, 0x66a6]
        ); // BADC
        assert_eq!(
            encode_registers(v, Float32, Little, Little),
            vec![0x66a6, 0xca42]
        ); // DCBA
        assert_eq!(
            decode_registers(&[0xffff, 0xfffe], Int32, Big, Big),
            Ok(-2.0)
        );
        assert_eq!(
            decode_registers(&[0xfffe, 0xffff], Int32, Little, Big),
            Ok(-2.0)
        );
    }

    #[test]
    fn modbus_non_finite_and_short_reads_are_errors() {
        use Order::*;
        use RegisterType::*;
        assert!(matches!(
            decode_registers(&[0x7fc0, 0x0000], Float32, Big, Big),
            Err(DecodeError::NotFinite { .. })
        ));
        assert!(matches!(
            decode_registers(&[0x7f80, 0x0000], Float32, Big, Big),
            Err(DecodeError::NotFinite { .. })
        ));
        assert_eq!(
            decode_registers(&[1], Float32, Big, Big),
            Err(DecodeError::Count {
                expected: 2,
                got: 1
            })
        );
    }

    #[test]
    fn tidy_undoes_scale_noise_only() {
        assert_eq!(tidy(1013.0 * 0.1), 101.3);
        assert_eq!(tidy(101_325.0 * 0.001), 101.325);
        assert_eq!(tidy(1.000_012_345_678_9), 1.000_012_345_678_9);
        assert_eq!(tidy(-2.5e-300), -2.5e-300);
        assert_eq!(tidy(0.0), 0.0);
    }

    #[test]
    fn ascii_lines_through_a_pattern() {
        let default = regex_lite::Regex::new(DEFAULT_PATTERN).expect("compiles");
        assert_eq!(extract_value(&default, "ST,GS,+  12.345 g\r"), Ok(12.345));
        assert_eq!(extract_value(&default, "T=-3.5E-1 C"), Ok(-0.35));
        assert!(extract_value(&default, "ERR no data").is_err());
        let named = regex_lite::Regex::new(r"^P\d:\s*(?P<value>\S+) kPa$").expect("compiles");
        assert_eq!(extract_value(&named, "P1: 101.3 kPa"), Ok(101.3));
        assert!(extract_value(&named, "P1: 9.9E37 kPa").is_err());
        let group1 = regex_lite::Regex::new(r"W=(\S+)").expect("compiles");
        assert_eq!(extract_value(&group1, "W=0.5"), Ok(0.5));
    }
}
