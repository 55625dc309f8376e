//! Languages of the interface and the message catalogue.
//!
//! Every visible string is a [`Msg`] key with its text in each language,
//! declared side by side in `catalog.rs`; a key without a translation does
//! not compile, and a test checks that both texts of a key use the same
//! `{name}` placeholders. [`fill`] substitutes them in one pass: a value is
//! copied as it is, never searched for placeholders itself, so a person's
//! name that happens to read `{n}` shows as typed.

mod catalog;

use std::collections::BTreeSet;

pub use catalog::Msg;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locale {
    ZhCn,
    En,
}

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::ZhCn, Locale::En];

    /// BCP 47 tag, for `<html lang>` and `Accept-Language`.
    pub fn tag(self) -> &'static str {
        match self {
            Self::ZhCn => "zh-CN",
            Self::En => "en",
        }
    }

    pub fn from_tag(tag: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.tag() == tag)
    }

    /// The language's name in itself, for the switch.
    pub fn native_name(self) -> &'static str {
        match self {
            Self::ZhCn => "中文",
            Self::En => "English",
        }
    }
}

impl Msg {
    /// The text of this key in `locale` with its placeholders filled.
    pub fn fill(self, locale: Locale, args: &[(&str, &str)]) -> String {
        fill(self.text(locale), args)
    }
}

/// A placeholder name: ASCII letters, digits and `_`.
fn is_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A piece of a template: literal text or a `{name}` slot.
enum Piece<'a> {
    Text(&'a str),
    Slot(&'a str),
}

/// Split `template` into literal runs and `{name}` slots. A `{` that does
/// not open a placeholder is literal text.
fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push(Piece::Text(&rest[..open]));
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if is_name(&after[..close]) => {
                out.push(Piece::Slot(&after[..close]));
                rest = &after[close + 1..];
            }
            _ => {
                out.push(Piece::Text("{"));
                rest = after;
            }
        }
    }
    out.push(Piece::Text(rest));
    out
}

/// `template` with each `{name}` replaced by its value in `args`, in one
/// pass over the template. Values are never scanned again, so a value that
/// itself contains `{other}` stays as it is. A placeholder without a value
/// is left visible (`{name}`) rather than silently dropped.
pub fn fill(template: &str, args: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    for piece in pieces(template) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Slot(name) => match args.iter().find(|(n, _)| *n == name) {
                Some((_, value)) => out.push_str(value),
                None => {
                    out.push('{');
                    out.push_str(name);
                    out.push('}');
                }
            },
        }
    }
    out
}

/// The placeholder names a template uses.
pub fn placeholders(template: &str) -> BTreeSet<&str> {
    pieces(template)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Slot(name) => Some(name),
            Piece::Text(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_uses_the_same_placeholders_in_both_languages() {
        let mut mismatched = Vec::new();
        for &msg in Msg::ALL {
            let zh = placeholders(msg.text(Locale::ZhCn));
            let en = placeholders(msg.text(Locale::En));
            if zh != en {
                mismatched.push(format!("{msg:?}: zh {zh:?}, en {en:?}"));
            }
        }
        assert!(mismatched.is_empty(), "{}", mismatched.join("\n"));
    }

    #[test]
    fn every_key_has_text_in_both_languages() {
        assert!(Msg::ALL.len() > 100, "the catalogue lists every key");
        for &msg in Msg::ALL {
            for locale in Locale::ALL {
                assert!(!msg.text(locale).trim().is_empty(), "{msg:?} {locale:?}");
            }
        }
    }

    #[test]
    fn fill_replaces_each_placeholder() {
        assert_eq!(
            fill("{a} of {b}, then {a}", &[("a", "1"), ("b", "2")]),
            "1 of 2, then 1"
        );
        assert_eq!(
            Msg::ServerVersion.fill(Locale::En, &[("version", "0.1.0")]),
            "Version 0.1.0"
        );
        assert_eq!(
            Msg::ServerVersion.fill(Locale::ZhCn, &[("version", "0.1.0")]),
            "版本 0.1.0"
        );
    }

    #[test]
    fn fill_never_substitutes_inside_a_substituted_value() {
        // The first value reads like the second placeholder: a chained
        // `replace` would turn it into "7"; one pass keeps what was typed.
        assert_eq!(
            fill(
                "{name} wrote {count} lines",
                &[("name", "{count}"), ("count", "7")]
            ),
            "{count} wrote 7 lines"
        );
        // Nor does a value re-enter itself.
        assert_eq!(fill("[{x}]", &[("x", "{x}{x}")]), "[{x}{x}]");
    }

    #[test]
    fn fill_leaves_unknown_placeholders_and_stray_braces() {
        assert_eq!(fill("{known} {unknown}", &[("known", "k")]), "k {unknown}");
        assert_eq!(fill("a { b } {", &[("b", "x")]), "a { b } {");
        assert_eq!(fill("{}{x}", &[("x", "1")]), "{}1");
        assert_eq!(fill("中文{n}个", &[("n", "３")]), "中文３个");
    }

    #[test]
    fn placeholders_are_names_in_braces() {
        let p: Vec<_> = placeholders("{a} { b } {c_1} {} {a}").into_iter().collect();
        assert_eq!(p, ["a", "c_1"]);
    }

    #[test]
    fn locale_tags_round_trip() {
        for l in Locale::ALL {
            assert_eq!(Locale::from_tag(l.tag()), Some(l));
        }
        assert_eq!(Locale::from_tag("fr"), None);
    }
}
