//! UCUM unit codes: validation and structure.
//!
//! A device's readings carry their unit as a case-sensitive UCUM code
//! (`V`, `kPa`, `Cel`, `mm[Hg]`, `m/s2`, `10*3/L`); the agent checks the code
//! it is given and the server checks the code a device is registered with,
//! both with [`parse`] here, so they cannot disagree.
//!
//! # What it accepts
//! The UCUM grammar (§2–§7 of the specification): an optional leading `/`,
//! then components joined by `.` (product) or `/` (quotient), left to right
//! with equal precedence (`kg/m.s` is kg·s/m, as UCUM says). A component is
//! a unit symbol with an optional metric prefix and an optional signed
//! integer exponent (`cm3`, `s-1`), a positive integer factor (`1000`),
//! a parenthesised term, or an annotation `{…}` alone or after a unit
//! (`{rbc}`, `mL{total}`). Symbols come from the atom table below: the SI
//! base and derived units, the common non-SI ones in calibration labs
//! (`bar`, `mm[Hg]`, `[psi]`, `[degF]`, `%`, `[ppm]`, `L`, `min`, `h`, …),
//! and `10*`/`10^` for powers of ten.
//!
//! # What it refuses
//! Anything else, with a [`UcumError`] naming the position and the problem:
//! unknown symbols (with a hint for the usual mistakes: `°C` → `Cel`, `ohm`
//! → `Ohm`, `v` → `V`), a prefix on a non-metric unit (`k[psi]`), spaces and
//! non-ASCII characters, unbalanced brackets, dangling operators, and a
//! unit on a non-ratio scale (`Cel`, `[degF]`, `B`) raised to a power or
//! combined with other units (`Cel/h` has no meaning in UCUM).
//!
//! It never panics and never allocates more than a few bytes per character
//! of its input. The atom table is structured (symbol → dimension and, where
//! one exists, the D-SI name) so that exporting a Digital Calibration
//! Certificate can map UCUM to D-SI (`kPa` → `\kilo\pascal`) with
//! [`Unit::to_dsi`].

use serde::{Deserialize, Serialize};

/// Longest code accepted, in bytes.
pub const MAX_CODE_LEN: usize = 128;

/// Exponents of the SI base quantities: length, mass, time, electric
/// current, thermodynamic temperature, amount of substance, luminous
/// intensity. Angles are dimensionless, as in SI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Dimension(pub [i8; 7]);

impl Dimension {
    pub const NONE: Self = Self([0; 7]);

    fn plus_scaled(self, other: Self, times: i32) -> Self {
        let mut out = self.0;
        for (o, d) in out.iter_mut().zip(other.0) {
            // Exponents are bounded by `MAX_EXPONENT` and the code length,
            // so i32 arithmetic cannot overflow; clamp into i8 anyway.
            *o = (i32::from(*o) + i32::from(d) * times).clamp(-128, 127) as i8;
        }
        Self(out)
    }
}

const fn dim(l: i8, m: i8, t: i8, i: i8, th: i8, n: i8, j: i8) -> Dimension {
    Dimension([l, m, t, i, th, n, j])
}

/// A unit symbol of the atom table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Atom {
    /// Case-sensitive UCUM code (`c/s` column of the specification).
    pub code: &'static str,
    pub name: &'static str,
    /// May take a metric prefix.
    pub metric: bool,
    /// On a non-ratio scale (Celsius, Fahrenheit) or logarithmic (bel,
    /// neper): may carry a prefix but no exponent and no partner.
    pub special: bool,
    pub dimension: Dimension,
    /// D-SI unit name, where D-SI has one.
    pub dsi: Option<&'static str>,
}

/// A metric prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub code: &'static str,
    /// Power of ten.
    pub exponent: i8,
    pub dsi: &'static str,
}

pub const PREFIXES: &[Prefix] = &[
    Prefix {
        code: "Y",
        exponent: 24,
        dsi: "\\yotta",
    },
    Prefix {
        code: "Z",
        exponent: 21,
        dsi: "\\zetta",
    },
    Prefix {
        code: "E",
        exponent: 18,
        dsi: "\\exa",
    },
    Prefix {
        code: "P",
        exponent: 15,
        dsi: "\\peta",
    },
    Prefix {
        code: "T",
        exponent: 12,
        dsi: "\\tera",
    },
    Prefix {
        code: "G",
        exponent: 9,
        dsi: "\\giga",
    },
    Prefix {
        code: "M",
        exponent: 6,
        dsi: "\\mega",
    },
    Prefix {
        code: "k",
        exponent: 3,
        dsi: "\\kilo",
    },
    Prefix {
        code: "h",
        exponent: 2,
        dsi: "\\hecto",
    },
    Prefix {
        code: "da",
        exponent: 1,
        dsi: "\\deca",
    },
    Prefix {
        code: "d",
        exponent: -1,
        dsi: "\\deci",
    },
    Prefix {
        code: "c",
        exponent: -2,
        dsi: "\\centi",
    },
    Prefix {
        code: "m",
        exponent: -3,
        dsi: "\\milli",
    },
    Prefix {
        code: "u",
        exponent: -6,
        dsi: "\\micro",
    },
    Prefix {
        code: "n",
        exponent: -9,
        dsi: "\\nano",
    },
    Prefix {
        code: "p",
        exponent: -12,
        dsi: "\\pico",
    },
    Prefix {
        code: "f",
        exponent: -15,
        dsi: "\\femto",
    },
    Prefix {
        code: "a",
        exponent: -18,
        dsi: "\\atto",
    },
    Prefix {
        code: "z",
        exponent: -21,
        dsi: "\\zepto",
    },
    Prefix {
        code: "y",
        exponent: -24,
        dsi: "\\yocto",
    },
];

const L: Dimension = dim(1, 0, 0, 0, 0, 0, 0);
const M: Dimension = dim(0, 1, 0, 0, 0, 0, 0);
const T: Dimension = dim(0, 0, 1, 0, 0, 0, 0);
const I: Dimension = dim(0, 0, 0, 1, 0, 0, 0);
const TH: Dimension = dim(0, 0, 0, 0, 1, 0, 0);
const N: Dimension = dim(0, 0, 0, 0, 0, 1, 0);
const J: Dimension = dim(0, 0, 0, 0, 0, 0, 1);
const ONE: Dimension = Dimension::NONE;
const PER_T: Dimension = dim(0, 0, -1, 0, 0, 0, 0);
const FORCE: Dimension = dim(1, 1, -2, 0, 0, 0, 0);
const PRESSURE: Dimension = dim(-1, 1, -2, 0, 0, 0, 0);
const ENERGY: Dimension = dim(2, 1, -2, 0, 0, 0, 0);
const POWER: Dimension = dim(2, 1, -3, 0, 0, 0, 0);
const CHARGE: Dimension = dim(0, 0, 1, 1, 0, 0, 0);
const VOLTAGE: Dimension = dim(2, 1, -3, -1, 0, 0, 0);
const RESISTANCE: Dimension = dim(2, 1, -3, -2, 0, 0, 0);
const CONDUCTANCE: Dimension = dim(-2, -1, 3, 2, 0, 0, 0);
const CAPACITANCE: Dimension = dim(-2, -1, 4, 2, 0, 0, 0);
const FLUX: Dimension = dim(2, 1, -2, -1, 0, 0, 0);
const FLUX_DENSITY: Dimension = dim(0, 1, -2, -1, 0, 0, 0);
const INDUCTANCE: Dimension = dim(2, 1, -2, -2, 0, 0, 0);
const VOLUME: Dimension = dim(3, 0, 0, 0, 0, 0, 0);
const AREA: Dimension = dim(2, 0, 0, 0, 0, 0, 0);
const DOSE: Dimension = dim(2, 0, -2, 0, 0, 0, 0);
const ILLUMINANCE: Dimension = dim(-2, 0, 0, 0, 0, 0, 1);
const CATALYTIC: Dimension = dim(0, 0, -1, 0, 0, 1, 0);
const VISCOSITY: Dimension = dim(-1, 1, -1, 0, 0, 0, 0);
const KINEMATIC: Dimension = dim(2, 0, -1, 0, 0, 0, 0);
const ACCELERATION: Dimension = dim(1, 0, -2, 0, 0, 0, 0);

const fn atom(
    code: &'static str,
    name: &'static str,
    metric: bool,
    dimension: Dimension,
    dsi: Option<&'static str>,
) -> Atom {
    Atom {
        code,
        name,
        metric,
        special: false,
        dimension,
        dsi,
    }
}

const fn special(
    code: &'static str,
    name: &'static str,
    metric: bool,
    dimension: Dimension,
    dsi: Option<&'static str>,
) -> Atom {
    Atom {
        code,
        name,
        metric,
        special: true,
        dimension,
        dsi,
    }
}

/// The unit symbols this build knows. UCUM's base units are m, s, g, rad,
/// K, C, cd; dimensions here are expressed in SI base quantities.
pub const ATOMS: &[Atom] = &[
    // UCUM base units.
    atom("m", "metre", true, L, Some("\\metre")),
    atom("s", "second", true, T, Some("\\second")),
    atom("g", "gram", true, M, Some("\\gram")),
    atom("rad", "radian", true, ONE, Some("\\radian")),
    atom("K", "kelvin", true, TH, Some("\\kelvin")),
    atom("C", "coulomb", true, CHARGE, Some("\\coulomb")),
    atom("cd", "candela", true, J, Some("\\candela")),
    // SI derived and accepted units.
    atom("mol", "mole", true, N, Some("\\mole")),
    atom("sr", "steradian", true, ONE, Some("\\steradian")),
    atom("Hz", "hertz", true, PER_T, Some("\\hertz")),
    atom("N", "newton", true, FORCE, Some("\\newton")),
    atom("Pa", "pascal", true, PRESSURE, Some("\\pascal")),
    atom("J", "joule", true, ENERGY, Some("\\joule")),
    atom("W", "watt", true, POWER, Some("\\watt")),
    atom("A", "ampere", true, I, Some("\\ampere")),
    atom("V", "volt", true, VOLTAGE, Some("\\volt")),
    atom("F", "farad", true, CAPACITANCE, Some("\\farad")),
    atom("Ohm", "ohm", true, RESISTANCE, Some("\\ohm")),
    atom("S", "siemens", true, CONDUCTANCE, Some("\\siemens")),
    atom("Wb", "weber", true, FLUX, Some("\\weber")),
    special("Cel", "degree Celsius", true, TH, Some("\\degreecelsius")),
    atom("T", "tesla", true, FLUX_DENSITY, Some("\\tesla")),
    atom("H", "henry", true, INDUCTANCE, Some("\\henry")),
    atom("lm", "lumen", true, J, Some("\\lumen")),
    atom("lx", "lux", true, ILLUMINANCE, Some("\\lux")),
    atom("Bq", "becquerel", true, PER_T, Some("\\becquerel")),
    atom("Gy", "gray", true, DOSE, Some("\\gray")),
    atom("Sv", "sievert", true, DOSE, Some("\\sievert")),
    atom("kat", "katal", true, CATALYTIC, Some("\\katal")),
    atom("L", "litre", true, VOLUME, Some("\\litre")),
    atom("l", "litre", true, VOLUME, Some("\\litre")),
    atom("t", "tonne", true, M, Some("\\tonne")),
    atom("bar", "bar", true, PRESSURE, Some("\\bar")),
    atom("u", "unified atomic mass unit", true, M, Some("\\dalton")),
    atom("eV", "electronvolt", true, ENERGY, Some("\\electronvolt")),
    atom("min", "minute", false, T, Some("\\minute")),
    atom("h", "hour", false, T, Some("\\hour")),
    atom("d", "day", false, T, Some("\\day")),
    atom("wk", "week", false, T, None),
    atom("mo", "month", false, T, None),
    atom("a", "year", false, T, None),
    atom("deg", "degree", false, ONE, Some("\\degree")),
    atom("'", "minute of arc", false, ONE, Some("\\arcminute")),
    atom("''", "second of arc", false, ONE, Some("\\arcsecond")),
    atom("gon", "gon", false, ONE, None),
    atom("ar", "are", true, AREA, None),
    atom("Gal", "gal", true, ACCELERATION, None),
    atom("dyn", "dyne", true, FORCE, None),
    atom("erg", "erg", true, ENERGY, None),
    atom("P", "poise", true, VISCOSITY, None),
    atom("St", "stokes", true, KINEMATIC, None),
    atom("G", "gauss", true, FLUX_DENSITY, None),
    atom("cal", "calorie", true, ENERGY, None),
    atom("atm", "standard atmosphere", false, PRESSURE, None),
    atom("m[Hg]", "metre of mercury column", true, PRESSURE, None),
    atom("m[H2O]", "metre of water column", true, PRESSURE, None),
    atom(
        "[g]",
        "standard acceleration of free fall",
        false,
        ACCELERATION,
        None,
    ),
    atom("[psi]", "pound per square inch", false, PRESSURE, None),
    atom("[in_i'Hg]", "inch of mercury column", false, PRESSURE, None),
    atom("[in_i]", "inch", false, L, None),
    atom("[ft_i]", "foot", false, L, None),
    atom("[yd_i]", "yard", false, L, None),
    atom("[mi_i]", "statute mile", false, L, None),
    atom("[lb_av]", "pound", false, M, None),
    atom("[oz_av]", "ounce", false, M, None),
    atom("[lbf_av]", "pound force", false, FORCE, None),
    atom("[gal_us]", "US gallon", false, VOLUME, None),
    atom("[car_m]", "metric carat", false, M, None),
    special("[degF]", "degree Fahrenheit", false, TH, None),
    special("[degRe]", "degree Réaumur", false, TH, None),
    atom("[degR]", "degree Rankine", false, TH, None),
    special("B", "bel", true, ONE, Some("\\bel")),
    special("Np", "neper", true, ONE, Some("\\neper")),
    atom("%", "percent", false, ONE, Some("\\percent")),
    atom("[ppth]", "parts per thousand", false, ONE, None),
    atom("[ppm]", "parts per million", false, ONE, Some("\\ppm")),
    atom("[ppb]", "parts per billion", false, ONE, None),
    atom("[pptr]", "parts per trillion", false, ONE, None),
    atom("[pH]", "pH", false, ONE, None),
    atom(
        "10*",
        "the number ten for arbitrary powers",
        false,
        ONE,
        None,
    ),
    atom(
        "10^",
        "the number ten for arbitrary powers",
        false,
        ONE,
        None,
    ),
];

/// Largest |exponent| accepted (UCUM sets no limit; nothing real needs more).
pub const MAX_EXPONENT: i32 = 99;

/// Common non-UCUM spellings and the code that was meant.
const HINTS: &[(&str, &str)] = &[
    ("°C", "Cel"),
    ("℃", "Cel"),
    ("degC", "Cel"),
    ("C°", "Cel"),
    ("°F", "[degF]"),
    ("degF", "[degF]"),
    ("Ω", "Ohm"),
    ("ohm", "Ohm"),
    ("ohms", "Ohm"),
    ("psi", "[psi]"),
    ("ppm", "[ppm]"),
    ("ppb", "[ppb]"),
    ("mmHg", "mm[Hg]"),
    ("inHg", "[in_i'Hg]"),
    ("mmH2O", "mm[H2O]"),
    ("sec", "s"),
    ("hr", "h"),
    ("µ", "u"),
    ("μ", "u"),
    ("rpm", "/min"),
    ("in", "[in_i]"),
    ("ft", "[ft_i]"),
    ("lb", "[lb_av]"),
];

/// What is wrong with a unit code. Positions are 0-based byte offsets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UcumError {
    #[error("the unit code is empty (use `1` for a dimensionless quantity)")]
    Empty,
    #[error("the unit code is longer than {max} characters")]
    TooLong { max: usize },
    #[error(
        "character {ch:?} at position {pos} is not allowed in a UCUM code (printable ASCII only, no spaces){}",
        hint(suggestion)
    )]
    BadChar {
        pos: usize,
        ch: char,
        suggestion: Option<String>,
    },
    #[error("unknown unit `{symbol}` at position {pos}{}", hint(suggestion))]
    UnknownUnit {
        pos: usize,
        symbol: String,
        suggestion: Option<String>,
    },
    #[error("`{atom}` at position {pos} takes no prefix (`{prefix}`): it is not a metric unit")]
    PrefixNotAllowed {
        pos: usize,
        prefix: String,
        atom: String,
    },
    #[error("expected a unit at position {pos}")]
    ExpectedUnit { pos: usize },
    #[error("unexpected `{ch}` at position {pos}: units are joined with `.` or `/`")]
    Unexpected { pos: usize, ch: char },
    #[error("the `(` at position {pos} is never closed")]
    UnclosedParen { pos: usize },
    #[error("the `[` at position {pos} is never closed")]
    UnclosedBracket { pos: usize },
    #[error("the annotation `{{` at position {pos} is never closed")]
    UnclosedAnnotation { pos: usize },
    #[error("the exponent at position {pos} is not an integer between -{max} and {max}", max = MAX_EXPONENT)]
    BadExponent { pos: usize },
    #[error("the factor at position {pos} is not a positive integer that fits 64 bits")]
    BadFactor { pos: usize },
    #[error(
        "`{atom}` is on a non-ratio scale: it cannot take an exponent or be combined with other units"
    )]
    SpecialCombined { atom: String },
}

fn hint(s: &Option<String>) -> String {
    match s {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

/// One factor of a unit: `prefix atom ^ exponent` or an integer factor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Factor {
    Unit {
        prefix: Option<&'static Prefix>,
        atom: &'static Atom,
        exponent: i32,
    },
    /// An integer factor (`1000`), or the unity `1` an annotation stands for.
    Number { value: u64, exponent: i32 },
}

/// A parsed code: the product of its factors (quotients folded into
/// negative exponents, left to right as UCUM reads them).
#[derive(Debug, Clone, PartialEq)]
pub struct Unit {
    pub factors: Vec<Factor>,
}

impl Unit {
    /// The dimension in SI base quantities.
    pub fn dimension(&self) -> Dimension {
        self.factors.iter().fold(Dimension::NONE, |d, f| match f {
            Factor::Unit { atom, exponent, .. } => d.plus_scaled(atom.dimension, *exponent),
            Factor::Number { .. } => d,
        })
    }

    /// A unit on a non-ratio scale (`Cel`, `[degF]`, `dB`): its values can
    /// not be scaled or subtracted as ratios.
    pub fn is_special(&self) -> bool {
        self.factors
            .iter()
            .any(|f| matches!(f, Factor::Unit { atom, .. } if atom.special))
    }

    /// The D-SI unit string (`\kilo\pascal`, `\metre\second\tothe{-1}`),
    /// when every factor has a D-SI name; `\one` for a pure `1`.
    pub fn to_dsi(&self) -> Option<String> {
        let mut out = String::new();
        for f in &self.factors {
            match *f {
                Factor::Number { value: 1, .. } => continue,
                Factor::Number { .. } => return None,
                Factor::Unit {
                    prefix,
                    atom,
                    exponent,
                } => {
                    match (prefix, atom.code) {
                        // D-SI names the kilogram as one unit.
                        (Some(p), "g") if p.code == "k" => out.push_str("\\kilogram"),
                        (p, _) => {
                            if let Some(p) = p {
                                out.push_str(p.dsi);
                            }
                            out.push_str(atom.dsi?);
                        }
                    }
                    if exponent != 1 {
                        out.push_str(&format!("\\tothe{{{exponent}}}"));
                    }
                }
            }
        }
        if out.is_empty() {
            out.push_str("\\one");
        }
        Some(out)
    }
}

/// Parse a UCUM code.
pub fn parse(code: &str) -> Result<Unit, UcumError> {
    if code.is_empty() {
        return Err(UcumError::Empty);
    }
    if code.len() > MAX_CODE_LEN {
        return Err(UcumError::TooLong { max: MAX_CODE_LEN });
    }
    if let Some((pos, ch)) = code.char_indices().find(|(_, c)| !c.is_ascii_graphic()) {
        return Err(UcumError::BadChar {
            pos,
            ch,
            suggestion: suggest(code),
        });
    }
    let mut p = Parser {
        s: code.as_bytes(),
        pos: 0,
        factors: Vec::new(),
    };
    // A leading `/` is a reciprocal: `/min` = 1/min.
    let leading_slash = p.peek() == Some(b'/');
    if leading_slash {
        p.pos += 1;
    }
    p.term(if leading_slash { -1 } else { 1 }, 0)?;
    if let Some(c) = p.peek() {
        return Err(if c == b')' {
            UcumError::Unexpected {
                pos: p.pos,
                ch: ')',
            }
        } else {
            UcumError::Unexpected {
                pos: p.pos,
                ch: c as char,
            }
        });
    }
    let unit = Unit { factors: p.factors };
    let units: Vec<_> = unit
        .factors
        .iter()
        .filter_map(|f| match f {
            Factor::Unit { atom, exponent, .. } => Some((*atom, *exponent)),
            Factor::Number { .. } => None,
        })
        .collect();
    if let Some((special, _)) = units.iter().find(|(a, _)| a.special)
        && (units.len() > 1
            || units.iter().any(|(_, e)| *e != 1)
            || unit.factors.len() > 1
            || leading_slash)
    {
        return Err(UcumError::SpecialCombined {
            atom: special.code.to_owned(),
        });
    }
    Ok(unit)
}

/// `Ok` when `code` is a valid UCUM code.
pub fn validate(code: &str) -> Result<(), UcumError> {
    parse(code).map(|_| ())
}

/// The factor that turns a value in `from` into the same value in `to`
/// (`value_to = value_from × factor`), when the two codes name the same
/// units up to metric prefixes and integer factors (`mV` → `V`: 0.001,
/// `kPa` → `Pa`: 1000, `10*3.Ohm` → `kOhm`: 1). `None` when they differ in
/// any other way: another dimension, or the same dimension through other
/// units (`bar` and `Pa`, `[psi]` and `kPa`), whose factors are not in the
/// atom table. A unit on a non-ratio scale (`Cel`) converts only to itself.
pub fn scale_factor(from: &Unit, to: &Unit) -> Option<f64> {
    let (atoms_from, log_from, mul_from) = decompose(from);
    let (atoms_to, log_to, mul_to) = decompose(to);
    if atoms_from != atoms_to {
        return None;
    }
    if from.is_special() && (log_from != log_to || mul_from != mul_to) {
        return None;
    }
    let factor = 10f64.powi(log_from - log_to) * (mul_from / mul_to);
    (factor.is_finite() && factor > 0.0).then_some(factor)
}

/// A unit as (atoms with their total exponents, sorted; power of ten from
/// prefixes and `10*`; product of integer factors).
fn decompose(u: &Unit) -> (Vec<(&'static str, i32)>, i32, f64) {
    let mut atoms: Vec<(&'static str, i32)> = Vec::new();
    let mut log10 = 0i32;
    let mut mul = 1f64;
    for f in &u.factors {
        match *f {
            Factor::Unit {
                prefix,
                atom,
                exponent,
            } => {
                if let Some(p) = prefix {
                    log10 = log10.saturating_add(i32::from(p.exponent).saturating_mul(exponent));
                }
                if atom.code == "10*" || atom.code == "10^" {
                    log10 = log10.saturating_add(exponent);
                    continue;
                }
                match atoms.iter_mut().find(|(c, _)| *c == atom.code) {
                    Some((_, e)) => *e = e.saturating_add(exponent),
                    None => atoms.push((atom.code, exponent)),
                }
            }
            Factor::Number { value, exponent } => {
                mul *= (value as f64).powi(exponent);
            }
        }
    }
    atoms.retain(|(_, e)| *e != 0);
    atoms.sort_unstable();
    (atoms, log10, mul)
}

fn suggest(code: &str) -> Option<String> {
    if let Some((_, to)) = HINTS.iter().find(|(from, _)| *from == code) {
        return Some((*to).to_owned());
    }
    // A prefixed hint (`k°C` is rare; `kohm`, `mohm`, `kpsi` are not).
    for p in PREFIXES {
        if let Some(rest) = code.strip_prefix(p.code)
            && let Some((_, to)) = HINTS.iter().find(|(from, _)| *from == rest)
            && find_atom(to).is_some_and(|a| a.metric)
        {
            return Some(format!("{}{to}", p.code));
        }
    }
    // The right symbol in the wrong case (`v`, `KPA`, `hz`).
    if let Some(a) = ATOMS.iter().find(|a| a.code.eq_ignore_ascii_case(code)) {
        return Some(a.code.to_owned());
    }
    for p in PREFIXES {
        if code.len() > p.code.len()
            && code.is_char_boundary(p.code.len())
            && code[..p.code.len()].eq_ignore_ascii_case(p.code)
            && let Some(a) = ATOMS
                .iter()
                .find(|a| a.metric && a.code.eq_ignore_ascii_case(&code[p.code.len()..]))
        {
            // `KPa` → `kPa`: the prefix's case matters as much as the atom's.
            let prefix = PREFIXES
                .iter()
                .find(|q| q.code == p.code || q.code.eq_ignore_ascii_case(p.code) && q.exponent > 0)
                .map_or(p.code, |q| q.code);
            return Some(format!("{prefix}{}", a.code));
        }
    }
    None
}

fn find_atom(code: &str) -> Option<&'static Atom> {
    ATOMS.iter().find(|a| a.code == code)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    factors: Vec<Factor>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// term := component (('.' | '/') component)*
    fn term(&mut self, sign: i32, depth: usize) -> Result<(), UcumError> {
        self.component(sign, depth)?;
        while let Some(op) = self.peek() {
            let next_sign = match op {
                b'.' => sign,
                b'/' => -sign,
                _ => break,
            };
            self.pos += 1;
            self.component(next_sign, depth)?;
        }
        Ok(())
    }

    fn component(&mut self, sign: i32, depth: usize) -> Result<(), UcumError> {
        let start = self.pos;
        match self.peek() {
            None => Err(UcumError::ExpectedUnit { pos: start }),
            Some(b'(') => {
                // Nesting is bounded by the code length; a depth guard keeps
                // the recursion shallow on hostile input.
                if depth >= 16 {
                    return Err(UcumError::Unexpected {
                        pos: start,
                        ch: '(',
                    });
                }
                self.pos += 1;
                self.term(sign, depth + 1)?;
                if self.peek() != Some(b')') {
                    return Err(UcumError::UnclosedParen { pos: start });
                }
                self.pos += 1;
                self.annotation_opt()
            }
            Some(b'{') => {
                self.annotation_opt()?;
                self.factors.push(Factor::Number {
                    value: 1,
                    exponent: sign,
                });
                Ok(())
            }
            Some(c @ (b'.' | b'/' | b')' | b'}' | b']' | b'+' | b'-')) => {
                if c == b')' || c == b'.' || c == b'/' {
                    Err(UcumError::ExpectedUnit { pos: start })
                } else {
                    Err(UcumError::Unexpected {
                        pos: start,
                        ch: c as char,
                    })
                }
            }
            Some(c) if c.is_ascii_digit() => {
                let digits = self.take_while(|c| c.is_ascii_digit());
                if digits == "10" && matches!(self.peek(), Some(b'*' | b'^')) {
                    self.pos += 1;
                    let atom =
                        find_atom(&self.text(start, self.pos)).ok_or(UcumError::UnknownUnit {
                            pos: start,
                            symbol: self.text(start, self.pos),
                            suggestion: None,
                        })?;
                    let exponent = self.exponent_opt()?.unwrap_or(1);
                    self.annotation_opt()?;
                    self.factors.push(Factor::Unit {
                        prefix: None,
                        atom,
                        exponent: exponent * sign,
                    });
                    return Ok(());
                }
                let value: u64 = digits
                    .parse()
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or(UcumError::BadFactor { pos: start })?;
                self.annotation_opt()?;
                self.factors.push(Factor::Number {
                    value,
                    exponent: sign,
                });
                Ok(())
            }
            Some(_) => {
                let symbol = self.symbol()?;
                let (prefix, atom) = resolve(&symbol, start)?;
                let exponent = self.exponent_opt()?.unwrap_or(1);
                self.annotation_opt()?;
                self.factors.push(Factor::Unit {
                    prefix,
                    atom,
                    exponent: exponent * sign,
                });
                Ok(())
            }
        }
    }

    /// A symbol runs to the next operator, parenthesis, annotation, digit or
    /// sign; square brackets are part of it, whatever they hold.
    fn symbol(&mut self) -> Result<String, UcumError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            match c {
                b'[' => {
                    let open = self.pos;
                    match self.s[self.pos..].iter().position(|&b| b == b']') {
                        Some(n) => self.pos += n + 1,
                        None => return Err(UcumError::UnclosedBracket { pos: open }),
                    }
                }
                b'.' | b'/' | b'(' | b')' | b'{' | b'}' | b'+' | b'-' | b']' => break,
                c if c.is_ascii_digit() => break,
                _ => self.pos += 1,
            }
        }
        Ok(self.text(start, self.pos))
    }

    fn exponent_opt(&mut self) -> Result<Option<i32>, UcumError> {
        let start = self.pos;
        let negative = match self.peek() {
            Some(b'+') => {
                self.pos += 1;
                false
            }
            Some(b'-') => {
                self.pos += 1;
                true
            }
            _ => false,
        };
        let digits = self.take_while(|c| c.is_ascii_digit());
        if digits.is_empty() {
            return if self.pos == start {
                Ok(None)
            } else {
                Err(UcumError::BadExponent { pos: start })
            };
        }
        let value: i32 = digits
            .parse()
            .ok()
            .filter(|v| (1..=MAX_EXPONENT).contains(v))
            .ok_or(UcumError::BadExponent { pos: start })?;
        Ok(Some(if negative { -value } else { value }))
    }

    fn annotation_opt(&mut self) -> Result<(), UcumError> {
        if self.peek() != Some(b'{') {
            return Ok(());
        }
        let open = self.pos;
        match self.s[self.pos + 1..]
            .iter()
            .position(|&b| b == b'}' || b == b'{')
        {
            Some(n) if self.s[self.pos + 1 + n] == b'}' => {
                self.pos += n + 2;
                Ok(())
            }
            _ => Err(UcumError::UnclosedAnnotation { pos: open }),
        }
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> String {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        self.text(start, self.pos)
    }

    fn text(&self, from: usize, to: usize) -> String {
        // The input was checked to be ASCII, so any byte range is UTF-8.
        String::from_utf8_lossy(&self.s[from..to]).into_owned()
    }
}

/// An exact atom wins over a prefix reading (`cd` is the candela, `Pa` the
/// pascal), as in UCUM; otherwise the longest prefix that leaves a metric
/// atom (`da` before `d`).
fn resolve(
    symbol: &str,
    pos: usize,
) -> Result<(Option<&'static Prefix>, &'static Atom), UcumError> {
    if symbol.is_empty() {
        return Err(UcumError::ExpectedUnit { pos });
    }
    if let Some(a) = find_atom(symbol) {
        return Ok((None, a));
    }
    let mut prefixes: Vec<&'static Prefix> = PREFIXES
        .iter()
        .filter(|p| symbol.len() > p.code.len() && symbol.starts_with(p.code))
        .collect();
    prefixes.sort_by_key(|p| std::cmp::Reverse(p.code.len()));
    let mut non_metric = None;
    for p in prefixes {
        if let Some(a) = find_atom(&symbol[p.code.len()..]) {
            if a.metric {
                return Ok((Some(p), a));
            }
            non_metric.get_or_insert((p, a));
        }
    }
    if let Some((p, a)) = non_metric {
        return Err(UcumError::PrefixNotAllowed {
            pos,
            prefix: p.code.to_owned(),
            atom: a.code.to_owned(),
        });
    }
    Err(UcumError::UnknownUnit {
        pos,
        symbol: symbol.to_owned(),
        suggestion: suggest(symbol),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_factors_between_prefixed_units() {
        let f = |a: &str, b: &str| scale_factor(&parse(a).expect("from"), &parse(b).expect("to"));
        let close =
            |x: Option<f64>, want: f64| x.is_some_and(|x| ((x - want) / want).abs() < 1e-12);
        assert!(close(f("mV", "V"), 1e-3));
        assert!(close(f("V", "mV"), 1e3));
        assert!(close(f("kPa", "Pa"), 1e3));
        assert!(close(f("V", "V"), 1.0));
        assert!(close(f("10*3.Ohm", "kOhm"), 1.0));
        assert_eq!(f("m/s", "km/h"), None);
        assert_eq!(f("bar", "Pa"), None);
        assert_eq!(f("V", "A"), None);
        assert!(close(f("Cel", "Cel"), 1.0));
        assert_eq!(f("Cel", "K"), None);
    }

    #[test]
    fn every_code_the_design_names_is_valid() {
        for code in [
            "Cel",
            "[degF]",
            "%",
            "mm[Hg]",
            "[psi]",
            "bar",
            "Pa",
            "kPa",
            "MPa",
            "V",
            "mV",
            "uV",
            "A",
            "mA",
            "Ohm",
            "kOhm",
            "MOhm",
            "Hz",
            "kHz",
            "g",
            "kg",
            "mg",
            "m",
            "mm",
            "um",
            "s",
            "ms",
            "L",
            "mL",
            "N",
            "kN",
            "J",
            "W",
            "kW",
            "K",
            "mK",
            "cd",
            "mol",
            "rad",
            "[ppm]",
            "1",
            "m/s2",
            "kg.m/s2",
            "m2",
            "cm3",
            "s-1",
            "/min",
            "10*3/L",
            "mL{total}",
            "{rbc}",
            "kg/(m.s2)",
            "N.m",
            "dB",
            "daPa",
            "hPa",
            "mbar",
            "'",
            "''",
            "deg",
            "%{RH}",
            "mm[H2O]",
            "[in_i'Hg]",
            "mCel",
            "10^6",
        ] {
            assert!(parse(code).is_ok(), "{code}: {:?}", parse(code));
        }
    }

    #[test]
    fn dimensions_follow_ucum_left_to_right_reading() {
        let d = |c: &str| parse(c).expect(c).dimension();
        assert_eq!(d("V"), VOLTAGE);
        assert_eq!(d("kg.m/s2"), FORCE);
        assert_eq!(d("kg/(m.s2)"), PRESSURE);
        assert_eq!(d("mm[Hg]"), d("kPa"));
        // `kg/m.s` is (kg/m)·s, not kg/(m·s).
        assert_eq!(d("kg/m.s"), dim(-1, 1, 1, 0, 0, 0, 0));
        assert_eq!(d("/min"), PER_T);
        assert_eq!(d("1"), Dimension::NONE);
        assert_eq!(d("%"), Dimension::NONE);
        assert_eq!(d("W/(m2.K)"), dim(0, 1, -3, 0, -1, 0, 0));
        assert_eq!(d("Ohm.m"), dim(3, 1, -3, -2, 0, 0, 0));
    }

    #[test]
    fn exact_atoms_win_over_prefix_readings() {
        let first = |c: &str| parse(c).expect(c).factors[0];
        assert!(
            matches!(first("cd"), Factor::Unit { prefix: None, atom, .. } if atom.code == "cd")
        );
        assert!(
            matches!(first("Pa"), Factor::Unit { prefix: None, atom, .. } if atom.code == "Pa")
        );
        assert!(
            matches!(first("dam"), Factor::Unit { prefix: Some(p), atom, .. } if p.code == "da" && atom.code == "m")
        );
        assert!(
            matches!(first("mm[Hg]"), Factor::Unit { prefix: Some(p), atom, .. } if p.code == "m" && atom.code == "m[Hg]")
        );
    }

    #[test]
    fn errors_name_the_problem_and_where() {
        use UcumError::*;
        let e = |c: &str| parse(c).expect_err(c);
        assert_eq!(e(""), Empty);
        assert_eq!(
            e("v"),
            UnknownUnit {
                pos: 0,
                symbol: "v".into(),
                suggestion: Some("V".into())
            }
        );
        assert_eq!(
            e("°C"),
            BadChar {
                pos: 0,
                ch: '°',
                suggestion: Some("Cel".into())
            }
        );
        assert_eq!(
            e("ohm"),
            UnknownUnit {
                pos: 0,
                symbol: "ohm".into(),
                suggestion: Some("Ohm".into())
            }
        );
        assert_eq!(
            e("kohm"),
            UnknownUnit {
                pos: 0,
                symbol: "kohm".into(),
                suggestion: Some("kOhm".into())
            }
        );
        assert_eq!(
            e("KPa"),
            UnknownUnit {
                pos: 0,
                symbol: "KPa".into(),
                suggestion: Some("kPa".into())
            }
        );
        assert_eq!(
            e("psi"),
            UnknownUnit {
                pos: 0,
                symbol: "psi".into(),
                suggestion: Some("[psi]".into())
            }
        );
        assert_eq!(
            e("k[psi]"),
            PrefixNotAllowed {
                pos: 0,
                prefix: "k".into(),
                atom: "[psi]".into()
            }
        );
        assert_eq!(
            e("kmin"),
            PrefixNotAllowed {
                pos: 0,
                prefix: "k".into(),
                atom: "min".into()
            }
        );
        assert_eq!(
            e("m V"),
            BadChar {
                pos: 1,
                ch: ' ',
                suggestion: None
            }
        );
        assert_eq!(e("m/"), ExpectedUnit { pos: 2 });
        assert_eq!(e("m..s"), ExpectedUnit { pos: 2 });
        assert_eq!(e("(m.s"), UnclosedParen { pos: 0 });
        assert_eq!(e("m)"), Unexpected { pos: 1, ch: ')' });
        assert_eq!(e("mm[Hg"), UnclosedBracket { pos: 2 });
        assert_eq!(e("m{x"), UnclosedAnnotation { pos: 1 });
        assert_eq!(e("m{a{b}}"), UnclosedAnnotation { pos: 1 });
        assert_eq!(e("m-"), BadExponent { pos: 1 });
        assert_eq!(e("m100"), BadExponent { pos: 1 });
        assert_eq!(e("m0"), BadExponent { pos: 1 });
        assert_eq!(e("0"), BadFactor { pos: 0 });
        assert_eq!(e("Cel/h"), SpecialCombined { atom: "Cel".into() });
        assert_eq!(e("Cel2"), SpecialCombined { atom: "Cel".into() });
        assert_eq!(
            e("[degF].m"),
            SpecialCombined {
                atom: "[degF]".into()
            }
        );
        assert_eq!(
            e("Volt"),
            UnknownUnit {
                pos: 0,
                symbol: "Volt".into(),
                suggestion: None
            }
        );
        assert_eq!(
            e("m.Volt"),
            UnknownUnit {
                pos: 2,
                symbol: "Volt".into(),
                suggestion: None
            }
        );
        assert_eq!(e(&"m.".repeat(100)), TooLong { max: MAX_CODE_LEN });
        assert_eq!(e(&"(".repeat(40)), Unexpected { pos: 16, ch: '(' });
        // Messages are for people: they quote the symbol and the hint.
        assert_eq!(
            e("degC").to_string(),
            "unknown unit `degC` at position 0 (did you mean `Cel`?)"
        );
    }

    #[test]
    fn dsi_names_where_d_si_has_them() {
        let dsi = |c: &str| parse(c).expect(c).to_dsi();
        assert_eq!(dsi("kPa").as_deref(), Some("\\kilo\\pascal"));
        assert_eq!(dsi("kg").as_deref(), Some("\\kilogram"));
        assert_eq!(dsi("m/s2").as_deref(), Some("\\metre\\second\\tothe{-2}"));
        assert_eq!(dsi("Cel").as_deref(), Some("\\degreecelsius"));
        assert_eq!(dsi("1").as_deref(), Some("\\one"));
        assert_eq!(dsi("[psi]"), None);
        assert_eq!(dsi("10*3/L"), None);
    }

    #[test]
    fn hostile_input_never_panics() {
        for code in [
            "[",
            "]",
            "{",
            "}",
            "(",
            ")",
            "/",
            ".",
            "+",
            "-",
            "10*",
            "10*-",
            "[]",
            "{}",
            "//m",
            "m/{}",
            "((m))",
            "10",
            "99999999999999999999",
        ] {
            let _ = parse(code);
        }
        assert!(parse("{}").is_ok());
        assert!(parse("((m))").is_ok());
        assert_eq!(
            parse("99999999999999999999"),
            Err(UcumError::BadFactor { pos: 0 })
        );
        assert_eq!(
            parse("[]"),
            Err(UcumError::UnknownUnit {
                pos: 0,
                symbol: "[]".into(),
                suggestion: None
            })
        );
    }
}
