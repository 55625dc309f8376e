//! The error document: `{code, message, details?}`.
//!
//! `code` is stable and machine-readable (clients branch on it); `message` is
//! for people and is localised by the server from `Accept-Language`.

use serde::{Deserialize, Serialize};

/// Body of every error response and of every error frame on a socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `invalid_input`, `not_found`.
    pub code: String,
    /// Human-readable explanation (Chinese or English).
    pub message: String,
    /// Per-field problems for validation failures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
}

/// One rejected field of an input document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// JSON pointer-ish path of the field (`title`, `points[2].value`).
    pub field: String,
    pub message: String,
}

/// The codes the server may send. Kept as an enum so the server cannot invent
/// a code by typo; on the wire it is a plain string so old clients survive new
/// codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    InvalidInput,
    MalformedJson,
    Unauthenticated,
    Forbidden,
    NotFound,
    /// The thing existed but its time is over (an expired link).
    Expired,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    /// A WebSocket endpoint was called without the upgrade handshake.
    UpgradeRequired,
    RateLimited,
    Unavailable,
    /// A ledger record is stored but no signed tree head covers it yet;
    /// `Retry-After` says when to ask again.
    LedgerHeadPending,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 15] = [
        Self::InvalidInput,
        Self::MalformedJson,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::NotFound,
        Self::Expired,
        Self::MethodNotAllowed,
        Self::Conflict,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::UpgradeRequired,
        Self::RateLimited,
        Self::Unavailable,
        Self::LedgerHeadPending,
        Self::Internal,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid_input",
            Self::MalformedJson => "malformed_json",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Expired => "expired",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::UpgradeRequired => "upgrade_required",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::LedgerHeadPending => "ledger_head_pending",
            Self::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code: code.as_str().to_owned(),
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// The code as a known variant, if this client knows it.
    pub fn known_code(&self) -> Option<ErrorCode> {
        ErrorCode::parse(&self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()), "duplicate code {c}");
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
        }
        assert_eq!(ErrorCode::parse("no_such_code"), None);
    }

    #[test]
    fn details_are_omitted_when_empty() {
        let body = ErrorBody::new(ErrorCode::NotFound, "no such session");
        let json = serde_json::to_string(&body).expect("serialises");
        assert_eq!(json, r#"{"code":"not_found","message":"no such session"}"#);
        let back: ErrorBody = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, body);
        assert_eq!(back.known_code(), Some(ErrorCode::NotFound));
    }
}
