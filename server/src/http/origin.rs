//! Refuse state-changing requests sent from another site.
//!
//! Logged-in requests also need the CSRF token (see `auth::principal`);
//! this covers the endpoints that work without a session (login, accepting
//! an invitation), where a forged cross-site request could log a victim
//! into an attacker's account. Browsers always send `Origin` on such
//! requests; tools like curl send none and are let through.

use axum::extract::Request;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::i18n::Text;

pub async fn same_origin_writes(req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && let Some(origin) = req.headers().get(header::ORIGIN) {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, rest)| rest.trim_end_matches('/'))
            .unwrap_or("");
        if origin_host.is_empty() || !origin_host.eq_ignore_ascii_case(host) {
            return AppError::ForbiddenBecause(Text::new(
                "拒绝来自其他网站的请求。",
                "Requests from another site are refused.",
            ))
            .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::post;
    use tower::ServiceExt;

    async fn status(origin: Option<&str>) -> StatusCode {
        let app = Router::new()
            .route("/x", post(|| async { "ok" }))
            .layer(axum::middleware::from_fn(super::same_origin_writes));
        let mut req = Request::post("/x").header("host", "jiliang.example.cn:8080");
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        app.oneshot(req.body(Body::empty()).expect("request"))
            .await
            .expect("response")
            .status()
    }

    #[tokio::test]
    async fn cross_site_writes_are_refused() {
        assert_eq!(status(None).await, StatusCode::OK);
        assert_eq!(
            status(Some("http://jiliang.example.cn:8080")).await,
            StatusCode::OK
        );
        assert_eq!(
            status(Some("https://evil.example")).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(status(Some("null")).await, StatusCode::FORBIDDEN);
    }
}
