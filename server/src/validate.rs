//! Parsing of values that come from outside, done once at the edge: a
//! handler that got past these has clean, normalised values.
//!
//! Problems are collected rather than returned one by one, so a form can
//! show every mistake at once.

use jiliang_protocol::FieldError;

use crate::error::AppError;
use crate::i18n::{self, Text};

#[derive(Debug, Default)]
pub struct Problems(Vec<(String, Text)>);

impl Problems {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: &str, text: Text) {
        self.0.push((field.to_owned(), text));
    }

    /// Keep the value if it parsed, note the problem if not.
    pub fn take<T>(&mut self, field: &str, r: Result<T, Text>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(t) => {
                self.add(field, t);
                None
            }
        }
    }

    pub fn into_result(self) -> Result<(), AppError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let lang = i18n::current();
        let first = &self.0[0].1;
        let message = if self.0.len() == 1 {
            first.clone()
        } else {
            Text::owned(
                format!("{}（另有 {} 处问题）", first.zh, self.0.len() - 1),
                format!("{} ({} more problems)", first.en, self.0.len() - 1),
            )
        };
        Err(AppError::Invalid {
            message,
            details: self
                .0
                .iter()
                .map(|(f, t)| FieldError {
                    field: f.clone(),
                    message: t.get(lang).to_owned(),
                })
                .collect(),
        })
    }
}

/// 3–32 characters: lower-case letters, digits, `.`, `_`, `-`, starting
/// with a letter. Stored lower-case.
pub fn username(raw: &str) -> Result<String, Text> {
    let u = raw.trim().to_ascii_lowercase();
    let len = u.chars().count();
    if !(3..=32).contains(&len) {
        return Err(Text::new(
            "用户名长度应为 3–32 个字符。",
            "The username must be 3–32 characters long.",
        ));
    }
    let mut chars = u.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !first_ok
        || !u
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
    {
        return Err(Text::new(
            "用户名只能包含小写字母、数字和 . _ -，并以字母开头。",
            "The username may contain only lower-case letters, digits and . _ -, and must start with a letter.",
        ));
    }
    Ok(u)
}

/// A person's name as others see it: 1–64 characters, trimmed.
pub fn display_name(raw: &str) -> Result<String, Text> {
    let s = raw.trim();
    let len = s.chars().count();
    if len == 0 || len > 64 || s.chars().any(char::is_control) {
        return Err(Text::new(
            "姓名不能为空，且不超过 64 个字符。",
            "The name must be 1–64 characters.",
        ));
    }
    Ok(s.to_owned())
}

/// Empty means "none". Lower-cased; must look like `local@domain.tld`.
pub fn email(raw: &str) -> Result<Option<String>, Text> {
    let s = raw.trim().to_lowercase();
    if s.is_empty() {
        return Ok(None);
    }
    let valid = s.len() <= 254
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && s.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && s.matches('@').count() == 1;
    if valid {
        Ok(Some(s))
    } else {
        Err(Text::new(
            "电子邮箱格式不正确。",
            "The e-mail address is not valid.",
        ))
    }
}

/// Empty means "none". Spaces, dashes and a leading `+` allowed on input;
/// stored as digits (with `+` if given), 5–20 digits.
pub fn phone(raw: &str) -> Result<Option<String>, Text> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let plus = s.starts_with('+');
    let body = if plus { &s[1..] } else { s };
    if !body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-'))
    {
        return Err(Text::new(
            "电话号码只能包含数字。",
            "The phone number may contain only digits.",
        ));
    }
    let digits: String = body.chars().filter(char::is_ascii_digit).collect();
    if !(5..=20).contains(&digits.len()) {
        return Err(Text::new(
            "电话号码应为 5–20 位数字。",
            "The phone number must have 5–20 digits.",
        ));
    }
    Ok(Some(if plus { format!("+{digits}") } else { digits }))
}

/// What a person types to log in, normalised the way it is stored.
pub fn login_key(raw: &str) -> String {
    let s = raw.trim();
    if let Ok(Some(p)) = phone(s) {
        return p;
    }
    s.to_lowercase()
}

/// Institution names: 2–100 characters.
pub fn institution_name(raw: &str) -> Result<String, Text> {
    let s = raw.trim();
    let len = s.chars().count();
    if !(2..=100).contains(&len) || s.chars().any(char::is_control) {
        return Err(Text::new(
            "机构名称应为 2–100 个字符。",
            "The institution name must be 2–100 characters.",
        ));
    }
    Ok(s.to_owned())
}

/// GB/T 2260 administrative division code: six digits.
pub fn region_code(raw: &str) -> Result<String, Text> {
    let s = raw.trim();
    if s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s.to_owned())
    } else {
        Err(Text::new(
            "行政区划代码应为 6 位数字（GB/T 2260）。",
            "The region code must be six digits (GB/T 2260).",
        ))
    }
}

/// Free text up to `max` characters (contact details and the like).
pub fn free_text(raw: &str, max: usize) -> Result<String, Text> {
    let s = raw.trim();
    if s.chars().count() > max {
        return Err(Text::owned(
            format!("内容不能超过 {max} 个字符。"),
            format!("At most {max} characters."),
        ));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(username(" Zhang.Wei ").as_deref(), Ok("zhang.wei"));
        assert!(username("ab").is_err());
        assert!(username("1abc").is_err());
        assert!(username("张伟").is_err());
        assert!(username("a b c").is_err());
    }

    #[test]
    fn emails_and_phones() {
        assert_eq!(email("Li@Example.CN"), Ok(Some("li@example.cn".into())));
        assert_eq!(email("  "), Ok(None));
        assert!(email("nope").is_err());
        assert!(email("a@b").is_err());
        assert!(email("a@@b.cn").is_err());
        assert_eq!(phone("138-0000 0000"), Ok(Some("13800000000".into())));
        assert_eq!(phone("+86 931 1234567"), Ok(Some("+869311234567".into())));
        assert!(phone("12a34").is_err());
        assert!(phone("123").is_err());
        assert_eq!(login_key(" ZhangWei "), "zhangwei");
        assert_eq!(login_key("138 0000 0000"), "13800000000");
    }

    #[test]
    fn problems_collect_every_field() {
        let mut p = Problems::new();
        assert!(p.take("username", username("x")).is_none());
        assert!(p.take("email", email("bad")).is_none());
        let err = p.into_result().expect_err("two problems");
        let body = err.body();
        assert_eq!(body.code, "invalid_input");
        assert_eq!(body.details.len(), 2);
        assert_eq!(body.details[1].field, "email");
    }
}
