//! Query strings for the REST API.
//!
//! [`to_query`] turns one of the shared query types of `jiliang_protocol`
//! (`SessionListParams`, `EventsParams`, …) into `?a=1&b=x%20y`, so the app
//! and the server compile against the same field names and value forms
//! (RFC 3339 times, snake_case states): a renamed field fails to build, not
//! to filter. Components are percent-encoded exactly as the browser's
//! `encodeURIComponent` does ([`encode`], also for path segments).
//!
//! Refused, never silently flattened: a field whose value is a list or an
//! object (a query has no place for it).

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("query parameters must serialise to an object of fields")]
    NotAnObject,
    #[error("query field `{0}` is a list or an object, which a query string cannot carry")]
    Nested(String),
    #[error("query parameters could not be serialised: {0}")]
    Serialize(String),
}

/// Characters `encodeURIComponent` leaves as they are.
fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
        )
}

/// Percent-encode one URL component (UTF-8), as `encodeURIComponent`.
pub fn encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

fn join<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    let parts: Vec<String> = pairs
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// `?…` from a query type: absent (`None`) fields are left out, the others
/// in name order; `""` when every field is absent.
pub fn to_query<T: Serialize>(params: &T) -> Result<String, QueryError> {
    let value = serde_json::to_value(params).map_err(|e| QueryError::Serialize(e.to_string()))?;
    let Value::Object(fields) = value else {
        return Err(QueryError::NotAnObject);
    };
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        let text = match value {
            Value::Null => continue,
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => s,
            Value::Array(_) | Value::Object(_) => return Err(QueryError::Nested(name)),
        };
        pairs.push((name, text));
    }
    // Name order whatever map serde_json was built with: the same
    // parameters always give the same URL (and the same cache entry).
    pairs.sort();
    Ok(join(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
}

/// `path` followed by the query of `params`.
pub fn with_query<T: Serialize>(path: &str, params: &T) -> Result<String, QueryError> {
    Ok(format!("{path}{}", to_query(params)?))
}

#[cfg(test)]
mod tests {
    use jiliang_protocol::accounts::{AuditParams, Role, UserListParams};
    use jiliang_protocol::ledger::ConsistencyParams;
    use jiliang_protocol::sessions::{EventsParams, SessionListParams, SessionState};
    use time::macros::datetime;
    use uuid::Uuid;

    use super::*;

    /// What axum's `Query` extractor reads from a URL's query.
    fn server_reads<T: serde::de::DeserializeOwned>(q: &str) -> T {
        serde_urlencoded::from_str(q.trim_start_matches('?')).expect("the server accepts it")
    }

    #[test]
    fn encodes_like_encode_uri_component() {
        assert_eq!(encode("abc-_.!~*'()XYZ09"), "abc-_.!~*'()XYZ09");
        assert_eq!(encode("a b&c=d/e?f#g+h"), "a%20b%26c%3Dd%2Fe%3Ff%23g%2Bh");
        assert_eq!(encode("张伟"), "%E5%BC%A0%E4%BC%9F");
        assert_eq!(encode("100%"), "100%25");
        assert_eq!(encode(""), "");
    }

    #[test]
    fn typed_queries_leave_out_absent_fields() {
        assert_eq!(to_query(&SessionListParams::default()), Ok(String::new()));
        let q = EventsParams {
            after: Some(41),
            limit: Some(1000),
        };
        assert_eq!(to_query(&q).as_deref(), Ok("?after=41&limit=1000"));
        assert_eq!(
            with_query("/api/v1/sessions/x/events", &q).as_deref(),
            Ok("/api/v1/sessions/x/events?after=41&limit=1000")
        );
    }

    #[test]
    fn typed_queries_read_back_on_the_server_unchanged() {
        let sessions = SessionListParams {
            state: Some(SessionState::Live),
            from: Some(datetime!(2026-11-26 08:00 +08:00)),
            to: None,
            limit: Some(50),
        };
        let q = to_query(&sessions).expect("builds");
        // The offset's `+` must be encoded, or it would read as a space.
        assert!(q.contains("from=2026-11-26T08%3A00%3A00%2B08%3A00"), "{q}");
        assert_eq!(server_reads::<SessionListParams>(&q), sessions);

        let users = UserListParams {
            q: Some("王 & 李=?".into()),
            institution_id: Some(Uuid::from_u128(7)),
            role: Some(Role::Expert),
            active: Some(true),
            limit: Some(8),
            cursor: None,
        };
        assert_eq!(
            server_reads::<UserListParams>(&to_query(&users).expect("builds")),
            users
        );

        let audit = AuditParams {
            event: Some("login_failed".into()),
            since: Some(datetime!(2026-11-01 00:00 UTC)),
            ..AuditParams::default()
        };
        assert_eq!(
            server_reads::<AuditParams>(&to_query(&audit).expect("builds")),
            audit
        );

        let proof = ConsistencyParams {
            old_size: 3,
            size: Some(9),
        };
        assert_eq!(
            server_reads::<ConsistencyParams>(&to_query(&proof).expect("builds")),
            proof
        );
    }

    #[test]
    fn lists_and_objects_are_refused() {
        #[derive(Serialize)]
        struct Bad {
            ids: Vec<u32>,
        }
        assert_eq!(
            to_query(&Bad { ids: vec![1] }),
            Err(QueryError::Nested("ids".into()))
        );
        assert_eq!(to_query(&3_u32), Err(QueryError::NotAnObject));
    }
}
