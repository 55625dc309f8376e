//! Canonical JSON against RFC 8785 (JCS) examples, plus properties.
//!
//! Sources: RFC 8785 Appendix B (number serialisation samples, finite ones),
//! RFC 8785 §3.2.2 (the combined example) and §3.2.3 (the key-sorting
//! example), and `arrays.json` from the JCS reference test data
//! (cyberphone/json-canonicalization, `testdata/input` / `output`).

use std::collections::{BTreeMap, HashMap};

use jiliang_ledger::canonical::{MAX_DEPTH, format_number};
use jiliang_ledger::{CanonicalError, CanonicalJson, canonical_json, canonicalize_str};
use proptest::prelude::*;
use serde::Serialize;
use serde_json::{Value, json};

fn canon<T: Serialize + ?Sized>(value: &T) -> String {
    canonical_json(value)
        .expect("canonicalisable")
        .into_string()
}

fn canon_text(text: &str) -> String {
    canonicalize_str(text).expect("valid JSON").into_string()
}

#[test]
fn rfc8785_appendix_b_numbers() {
    let samples: [(u64, &str); 24] = [
        (0x0000000000000000, "0"),
        (0x8000000000000000, "0"),
        (0x0000000000000001, "5e-324"),
        (0x8000000000000001, "-5e-324"),
        (0x7fefffffffffffff, "1.7976931348623157e+308"),
        (0xffefffffffffffff, "-1.7976931348623157e+308"),
        (0x4340000000000000, "9007199254740992"),
        (0xc340000000000000, "-9007199254740992"),
        (0x4430000000000000, "295147905179352830000"),
        (0x44b52d02c7e14af5, "9.999999999999997e+22"),
        (0x44b52d02c7e14af6, "1e+23"),
        (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
        (0x444b1ae4d6e2ef4e, "999999999999999700000"),
        (0x444b1ae4d6e2ef4f, "999999999999999900000"),
        (0x444b1ae4d6e2ef50, "1e+21"),
        (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
        (0x3eb0c6f7a0b5ed8d, "0.000001"),
        (0x41b3de4355555553, "333333333.3333332"),
        (0x41b3de4355555554, "333333333.33333325"),
        (0x41b3de4355555555, "333333333.3333333"),
        (0x41b3de4355555556, "333333333.3333334"),
        (0x41b3de4355555557, "333333333.33333343"),
        (0xbecbf647612f3696, "-0.0000033333333333333333"),
        (0x43143ff3c1cb0959, "1424953923781206.2"),
    ];
    for (bits, want) in samples {
        let value = f64::from_bits(bits);
        assert_eq!(format_number(value).as_deref(), Ok(want), "{bits:016x}");
        // Through the serializer too (as an f64, not an integer).
        assert_eq!(canon(&value), want, "{bits:016x} via serde");
    }
    // The non-finite samples of Appendix B must be rejected.
    for bits in [
        0x7fffffffffffffff_u64,
        0x7ff0000000000000,
        0xfff0000000000000,
    ] {
        assert_eq!(
            canonical_json(&f64::from_bits(bits)),
            Err(CanonicalError::NonFiniteNumber)
        );
    }
}

const RFC8785_INPUT: &str = r#"{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}"#;

const RFC8785_OUTPUT: &str = r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#;

/// ECMAScript's `Number.prototype.toString` of a finite double.
fn ecmascript(value: f64) -> String {
    ryu_js::Buffer::new().format_finite(value).to_owned()
}

/// The shortest form against ECMAScript's on the values where the two
/// rules could part: exact ties between two shortest candidates (ECMAScript
/// takes the even one), the plain/exponent boundaries (1e-7, 1e21),
/// subnormals, and a broad spread of bit patterns.
#[test]
fn numbers_match_ecmascript_where_rules_could_differ() {
    let mut samples: Vec<f64> = vec![
        f64::from_bits(0x4314_3ff3_c1cb_0959), // 1424953923781206.25, RFC 8785 Appendix B's tie
        0.5,
        5e-324,
        2.225073858507201e-308, // largest subnormal
        f64::MIN_POSITIVE,
        f64::MAX,
        1e21,
        1e21 - 65536.0,
        1e-7,
        1e-6,
        f64::from_bits(0x3eb0_c6f7_a0b5_ed8c), // the double below 1e-6
        123456789012345680000.0,
    ];
    for e in -30..=30 {
        let p = 10f64.powi(e);
        samples.extend([p, p * (1.0 + f64::EPSILON), p * (1.0 - f64::EPSILON / 2.0)]);
    }
    // Quarters of large integers: above 2^51 many are exact ties between
    // two 16- or 17-digit candidates.
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..30_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        samples.push((x >> 11) as f64 / 4.0);
        samples.push(f64::from_bits(x));
        samples.push(f64::from_bits(x >> 2));
    }
    let mut checked = 0;
    for v in samples.into_iter().filter(|v| v.is_finite()) {
        for v in [v, -v] {
            assert_eq!(
                format_number(v).as_deref(),
                Ok(ecmascript(v).as_str()),
                "{:016x}",
                v.to_bits()
            );
            checked += 1;
        }
    }
    assert!(checked > 150_000, "{checked}");
}

#[test]
fn rfc8785_section_3_2_2_example() {
    assert_eq!(canon_text(RFC8785_INPUT), RFC8785_OUTPUT);
    // The same document through serde (as the server would produce it).
    // Built with `json!` rather than parsed: serde_json without its
    // `float_roundtrip` feature may parse 333333333.33333329 one ULP off.
    #[allow(clippy::excessive_precision)]
    let value = json!({
        "numbers": [333333333.33333329_f64, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u{20ac}$\u{f}\nA'B\"\\\\\"/",
        "literals": [null, true, false]
    });
    assert_eq!(canon(&value), RFC8785_OUTPUT);
    // Canonical output is a fixed point and passes the strict check.
    assert_eq!(canon_text(RFC8785_OUTPUT), RFC8785_OUTPUT);
    assert!(CanonicalJson::from_canonical(RFC8785_OUTPUT).is_ok());
    assert_eq!(
        CanonicalJson::from_canonical(RFC8785_INPUT),
        Err(CanonicalError::NotCanonical)
    );
}

#[test]
fn rfc8785_section_3_2_3_sorting() {
    let input = r#"{
  "\u20ac": "Euro Sign",
  "\r": "Carriage Return",
  "\ufb33": "Hebrew Letter Dalet With Dagesh",
  "1": "One",
  "\ud83d\ude00": "Emoji: Grinning Face",
  "\u0080": "Control",
  "\u00f6": "Latin Small Letter O With Diaeresis"
}"#;
    let want = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
                \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
                \"\u{1f600}\":\"Emoji: Grinning Face\",\
                \"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
    assert_eq!(canon_text(input), want);
    // serde_json's map is sorted by UTF-8 bytes, which puts U+FB33 before
    // U+1F600; canonicalisation must still use UTF-16 order.
    let value: Value = serde_json::from_str(input).expect("valid JSON");
    assert_eq!(canon(&value), want);
}

#[test]
fn jcs_reference_arrays() {
    let input = "[\n  56,\n  {\n    \"d\": true,\n    \"10\": null,\n    \"1\": [ ]\n  }\n]";
    assert_eq!(canon_text(input), r#"[56,{"1":[],"10":null,"d":true}]"#);
}

#[test]
fn control_characters_and_escapes() {
    let s = "\u{0}\u{1}\u{8}\u{9}\u{a}\u{c}\u{d}\u{1f}\u{7f}\u{2028}\"\\/";
    assert_eq!(
        canon(s),
        "\"\\u0000\\u0001\\b\\t\\n\\f\\r\\u001f\u{7f}\u{2028}\\\"\\\\/\""
    );
}

#[derive(Serialize)]
struct Reading {
    value: f64,
    unit: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    u: Option<f64>,
    k: Option<u8>,
    tags: Vec<&'static str>,
    extra: BTreeMap<u32, bool>,
    kind: Kind,
}

#[derive(Serialize)]
enum Kind {
    Unit,
    Newtype(i32),
    Tuple(i32, i32),
    Struct { z: i8, a: i8 },
}

#[test]
fn serde_data_model() {
    let r = Reading {
        value: 10.0,
        unit: "kPa",
        u: None,
        k: None,
        tags: vec!["b", "a"],
        extra: BTreeMap::from([(10, true), (9, false)]),
        kind: Kind::Unit,
    };
    assert_eq!(
        canon(&r),
        r#"{"extra":{"10":true,"9":false},"k":null,"kind":"Unit","tags":["b","a"],"unit":"kPa","value":10}"#
    );
    assert_eq!(canon(&Kind::Newtype(-3)), r#"{"Newtype":-3}"#);
    assert_eq!(canon(&Kind::Tuple(1, 2)), r#"{"Tuple":[1,2]}"#);
    assert_eq!(
        canon(&Kind::Struct { z: 1, a: 2 }),
        r#"{"Struct":{"a":2,"z":1}}"#
    );
    assert_eq!(canon(&(1u8, 'x', ())), r#"[1,"x",null]"#);
    assert_eq!(canon(&u128::from(u64::MAX)), "18446744073709551615");
    assert_eq!(canon(&i128::MIN), i128::MIN.to_string());
    assert_eq!(
        canonical_json(&u128::MAX),
        Err(CanonicalError::IntegerOutOfRange)
    );
    assert_eq!(canon(&0.1f32), "0.10000000149011612");
    // HashMap iteration order must not matter.
    let map: HashMap<String, u32> = (0..50).map(|i| (format!("k{i}"), i)).collect();
    let sorted: BTreeMap<String, u32> = map.clone().into_iter().collect();
    assert_eq!(canon(&map), canon(&sorted));
}

#[test]
fn rejections() {
    let map: BTreeMap<Vec<u8>, u8> = BTreeMap::from([(vec![1], 1)]);
    assert!(matches!(
        canonical_json(&map),
        Err(CanonicalError::KeyMustBeString { .. })
    ));
    assert_eq!(
        canonical_json(&[f64::INFINITY]),
        Err(CanonicalError::NonFiniteNumber)
    );
    // Two keys that serialise to the same string.
    #[derive(Serialize)]
    struct Twice {
        a: u8,
        #[serde(rename = "a")]
        b: u8,
    }
    assert_eq!(
        canonical_json(&Twice { a: 1, b: 2 }),
        Err(CanonicalError::DuplicateKey { key: "a".into() })
    );
    // Nesting limit applies to the serializer as well.
    let mut deep = json!(1);
    for _ in 0..=MAX_DEPTH {
        deep = json!([deep]);
    }
    assert_eq!(
        canonical_json(&deep),
        Err(CanonicalError::TooDeep { max: MAX_DEPTH })
    );
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<u64>().prop_map(|u| json!(u)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Serializer and parser agree, whatever the source formatting, and the
    /// canonical form is a fixed point.
    #[test]
    fn serializer_and_parser_agree(value in arb_json()) {
        let from_value = canon(&value);
        let compact = serde_json::to_string(&value).expect("serialise");
        let pretty = serde_json::to_string_pretty(&value).expect("serialise");
        prop_assert_eq!(&canon_text(&compact), &from_value);
        prop_assert_eq!(&canon_text(&pretty), &from_value);
        prop_assert_eq!(&canon_text(&from_value), &from_value);
        prop_assert!(CanonicalJson::from_canonical(from_value.clone()).is_ok());
        // Other JSON tools can read the canonical text. (Values are not
        // compared: serde_json's default float parsing is not exact.)
        prop_assert!(serde_json::from_str::<Value>(&from_value).is_ok());
    }

    /// Every finite double is written as ECMAScript writes it
    /// (`Number.prototype.toString`, here the `ryu-js` crate), and NaN and
    /// the infinities are refused.
    #[test]
    fn numbers_match_ecmascript(bits in any::<u64>()) {
        let value = f64::from_bits(bits);
        match format_number(value) {
            Ok(text) => prop_assert_eq!(text, ecmascript(value), "{:016x}", bits),
            Err(e) => {
                prop_assert!(!value.is_finite());
                prop_assert_eq!(e, CanonicalError::NonFiniteNumber);
            }
        }
    }

    /// Arbitrary text never panics the parser.
    #[test]
    fn parser_never_panics(text in any::<String>()) {
        let _ = canonicalize_str(&text);
        let _ = CanonicalJson::from_canonical(text);
    }

    /// Near-JSON text (JSON alphabet only) never panics the parser either.
    #[test]
    fn parser_never_panics_on_json_like(text in "[\\[\\]{}:,\"\\\\ 0-9eE+.\\-tfnrulasu]{0,64}") {
        let _ = canonicalize_str(&text);
    }
}
