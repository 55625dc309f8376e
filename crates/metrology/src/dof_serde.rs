//! Serde helper for degrees of freedom, which may be infinite.
//!
//! JSON has no ∞ (serde_json writes `null`), so ν = ∞ is written as the
//! string `"inf"`; `"inf"`, `"infinity"`, `"∞"` and `null` are read back as
//! ∞, and numbers as themselves.

use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_infinite() && *v > 0.0 {
        s.serialize_str("inf")
    } else {
        s.serialize_f64(*v)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Repr {
    Num(f64),
    Text(String),
    Null(()),
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match Repr::deserialize(d)? {
        Repr::Num(x) => Ok(x),
        Repr::Null(()) => Ok(f64::INFINITY),
        Repr::Text(t) => match t.trim().to_ascii_lowercase().as_str() {
            "inf" | "+inf" | "infinity" | "∞" => Ok(f64::INFINITY),
            other => other
                .parse::<f64>()
                .map_err(|_| D::Error::custom(format!("invalid degrees of freedom {t:?}"))),
        },
    }
}

pub(crate) fn infinite() -> f64 {
    f64::INFINITY
}
