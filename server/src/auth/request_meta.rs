//! Facts about the request that audit entries and links need: the client's
//! address, its user agent, and the origin the client used to reach us.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

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
        let header_str = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        // Behind a reverse proxy the peer is the proxy; trust its headers only
        // when told to, or any client could forge its address.
        let ip = if state.config.trust_proxy {
            header_str("x-forwarded-for")
                .and_then(|v| v.split(',').next())
                .map(|s| s.trim().to_owned())
                .or(peer)
        } else {
            peer
        };
        let forwarded_https = state.config.trust_proxy
            && header_str("x-forwarded-proto").is_some_and(|p| p.eq_ignore_ascii_case("https"));
        let secure = state.config.secure_cookies || forwarded_https;
        let origin = match &state.config.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let host = header_str(header::HOST.as_str()).unwrap_or("localhost");
                format!("{}://{host}", if secure { "https" } else { "http" })
            }
        };
        Self {
            ip,
            user_agent: header_str(header::USER_AGENT.as_str())
                .map(|s| s.chars().take(256).collect()),
            origin,
            secure,
        }
    }
}
