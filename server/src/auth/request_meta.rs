//! Facts about the request that audit entries and links need: the client's
//! address, its user agent, and the origin the client used to reach us.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use crate::state::AppState;

#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// `https://host` as the client addressed us, for links we hand out.
    pub origin: String,
    /// Whether the client reached us over TLS (directly or via a proxy).
    pub secure: bool,
}

impl<S> FromRequestParts<S> for RequestMeta
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        Ok(Self::from_parts(parts, &state))
    }
}

impl RequestMeta {
    pub fn from_parts(parts: &Parts, state: &AppState) -> Self {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let hops = state.config.trust_proxy_hops;
        // Behind a reverse proxy the peer is the proxy; trust its headers only
        // when told to, or any client could forge its address.
        let ip = forwarded(&parts.headers, "x-forwarded-for", hops)
            .and_then(|v| v.parse::<IpAddr>().ok())
            .map(|ip| ip.to_string())
            .or(peer);
        let forwarded_https = forwarded(&parts.headers, "x-forwarded-proto", hops)
            .is_some_and(|p| p.eq_ignore_ascii_case("https"));
        let public_https = state
            .config
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
        let secure = state.config.secure_cookies || forwarded_https || public_https;
        let origin = match &state.config.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let host = client_host(&parts.headers, hops).unwrap_or_else(|| "localhost".into());
                format!("{}://{host}", if secure { "https" } else { "http" })
            }
        };
        Self {
            ip,
            user_agent: header_str(&parts.headers, header::USER_AGENT.as_str())
                .map(|s| s.chars().take(256).collect()),
            origin,
            secure,
        }
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The value of an `X-Forwarded-*` list header our trusted proxies vouch
/// for: each proxy appends what it saw, so with `hops` proxies in front the
/// entry `hops` places from the right is what the outermost one saw. The
/// entries left of it were written by the client and prove nothing. With
/// fewer entries than hops (a request that skipped the outer proxies) the
/// leftmost is still one a trusted proxy wrote. `None` without trust or
/// header. Several header lines count as one list, in order.
pub fn forwarded(headers: &HeaderMap, name: &str, hops: u32) -> Option<String> {
    if hops == 0 {
        return None;
    }
    let entries: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let hops = usize::try_from(hops).unwrap_or(usize::MAX);
    let pick = entries.len().saturating_sub(hops);
    entries
        .get(pick)
        .filter(|s| !s.is_empty())
        .map(|s| (*s).to_owned())
}

/// The host the client addressed: the trusted proxy's `X-Forwarded-Host`,
/// else `Host`.
pub fn client_host(headers: &HeaderMap, hops: u32) -> Option<String> {
    forwarded(headers, "x-forwarded-host", hops)
        .or_else(|| header_str(headers, header::HOST.as_str()).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn the_entry_our_proxy_appended_is_taken_never_the_client_written_one() {
        let xff = |lines: &[&str], hops| forwarded(&headers(lines), "x-forwarded-for", hops);
        // A client that forges an address: one proxy appends the real one.
        assert_eq!(
            xff(&["6.6.6.6, 203.0.113.7"], 1).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            xff(&["6.6.6.6", "203.0.113.7"], 1).as_deref(),
            Some("203.0.113.7")
        );
        // Two proxies (CDN, then nginx): the CDN saw the client.
        assert_eq!(
            xff(&["6.6.6.6, 203.0.113.7, 198.51.100.2"], 2).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(xff(&["203.0.113.7"], 2).as_deref(), Some("203.0.113.7"));
        assert_eq!(xff(&["6.6.6.6, 203.0.113.7"], 0), None, "not trusted");
        assert_eq!(xff(&[], 1), None);
    }
}
