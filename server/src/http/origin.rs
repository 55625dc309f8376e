//! Refuse state-changing requests sent from another site.
//!
//! Logged-in requests also need the CSRF token (see `auth::principal`);
//! this covers the endpoints that work without a session (login, accepting
//! an invitation), where a forged cross-site request could log a victim
//! into an attacker's account. Browsers always send `Origin` on such
//! requests; tools like curl send none and are let through. Behind a
//! reverse proxy that rewrites `Host`, the site is `--public-url` or the
//! trusted proxy's `X-Forwarded-Host` (tested in `tests/it/security.rs`).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::request_meta::client_host;
use crate::error::AppError;
use crate::i18n::Text;
use crate::state::AppState;

pub async fn same_origin_writes(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && !origin_allowed(req.headers(), &state) {
        return AppError::ForbiddenBecause(Text::new(
            "拒绝来自其他网站的请求。",
            "Requests from another site are refused.",
        ))
        .into_response();
    }
    next.run(req).await
}

/// Whether a request's `Origin` (if it sends one) is this site: the host
/// the client addressed (`Host`, or a trusted proxy's `X-Forwarded-Host`
/// when the proxy rewrites `Host`), or the configured `--public-url`.
pub fn origin_allowed(headers: &HeaderMap, state: &AppState) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(origin) = origin.to_str().ok().map(|o| o.trim_end_matches('/')) else {
        return false;
    };
    if let Some(public) = &state.config.public_url
        && origin.eq_ignore_ascii_case(public.trim_end_matches('/'))
    {
        return true;
    }
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
    if origin_host.is_empty() {
        return false;
    }
    let direct = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| origin_host.eq_ignore_ascii_case(h));
    direct
        || client_host(headers, state.config.trust_proxy_hops)
            .is_some_and(|h| origin_host.eq_ignore_ascii_case(&h))
}
