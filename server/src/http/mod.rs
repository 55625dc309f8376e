//! HTTP surface: one module per feature, each owning its routes; merged here.
//!
//! Feature modules return a `utoipa_axum` router, so a route cannot exist
//! without its OpenAPI description: `/api/openapi.json` is generated from the
//! same registrations that serve requests.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router, middleware};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::error::{AppError, api_not_found, method_not_allowed};
use crate::state::AppState;

pub mod agent;
pub mod audit;
pub mod auth;
pub mod body_limit;
pub mod certificates;
pub mod comparison;
pub mod devices;
pub mod help;
pub mod institutions;
pub mod invitations;
pub mod ledger;
pub mod ops;
pub mod origin;
pub mod recordings;
pub mod rounds;
pub mod security_headers;
pub mod sessions;
pub mod static_files;
pub mod time;
pub mod users;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Jiliang 计量协作网 API",
        description = "Remote metrology collaboration network. Errors are `{code, message, details?}`; \
                       messages follow `Accept-Language` (zh-CN default, en).",
    ),
    tags(
        (name = "ops", description = "Health, readiness, metrics, version"),
        (name = "time", description = "UTC time and clock synchronisation"),
        (name = "auth", description = "Login sessions (HttpOnly cookie + X-CSRF-Token header)"),
        (name = "institutions", description = "The institution tree"),
        (name = "people", description = "Accounts and roles"),
        (name = "invitations", description = "Invitations and one-time links"),
        (name = "audit", description = "Security audit log"),
        (name = "sessions", description = "Live sessions, their rooms and logs, help requests"),
        (name = "devices", description = "Instruments, their agent tokens and readings, the agent socket"),
        (name = "rounds", description = "Comparison rounds (proficiency testing): results, reports, publication"),
        (name = "ledger", description = "Tamper-evident log: signed tree heads, proofs, verifiable exports"),
        (name = "certificates", description = "Calibration certificates: issue, revoke, PDF and DCC, public verification"),
    )
)]
struct ApiDoc;

/// The whole API with its OpenAPI document.
pub fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops::router())
        .merge(time::router())
        .merge(auth::router())
        .merge(institutions::router())
        .merge(users::router())
        .merge(invitations::router())
        .merge(audit::router())
        .merge(sessions::router())
        .merge(recordings::router())
        .merge(help::router())
        .merge(ledger::router())
        .merge(devices::router())
        .merge(comparison::router())
        .merge(rounds::router())
        .merge(certificates::router())
        .merge(agent::router())
        .split_for_parts()
}

/// The application: API, static front end and the layers around them.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = api();
    let openapi = Arc::new(openapi);
    let static_files = static_files::StaticFiles::new(&state.config.static_dir);
    let csp = HeaderValue::from_str(&security_headers::content_security_policy(
        &state.config.static_dir,
    ))
    // Built from base64 and fixed text: always a valid header value.
    .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"));

    let api_fallback = |req: Request| async move {
        let path = req.uri().path();
        if path == "/api" || path.starts_with("/api/") {
            api_not_found(req).await.into_response()
        } else {
            static_files.serve(req).await
        }
    };

    Router::new()
        .merge(api)
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = openapi.clone();
                async move { Json(doc) }
            }),
        )
        // Per route, so it sees the matched route template.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            body_limit::per_route,
        ))
        .fallback(api_fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            origin::same_origin_writes,
        ))
        // A bug must not cost the client its connection without a word: a
        // panicking handler answers 500 with the usual error document.
        .layer(CatchPanicLayer::custom(panic_response))
        // The backstop for anything outside the API routes; `body_limit`
        // sets each route's own, smaller or equal, limit.
        .layer(DefaultBodyLimit::max(
            state
                .config
                .max_body_bytes
                .max(state.config.max_json_body_bytes),
        ))
        .layer(middleware::from_fn(crate::i18n::negotiate))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track,
        ))
        // Recordings are served in ranges for seeking: never compressed (a
        // compressed body breaks byte ranges, and WebM does not shrink).
        .layer(
            CompressionLayer::new().compress_when(
                DefaultPredicate::new()
                    .and(NotForContentType::const_new("video/"))
                    .and(NotForContentType::const_new("audio/")),
            ),
        )
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            csp,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // The route template, not the raw path: paths can carry
            // one-time tokens, which must not end up in logs.
            let route = req
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| "(unmatched)".to_owned());
            tracing::info_span!("http", method = %req.method(), route)
        }))
        .with_state(state)
}

fn panic_response(cause: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let what = cause
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| cause.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned());
    AppError::Internal(format!("handler panicked: {what}")).into_response()
}

/// How long a request may take before the client gets a 503-style answer is
/// not limited here: sockets are long-lived by design. Individual handlers
/// bound their own database work instead.
pub const DB_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_with_an_error_document() {
        async fn boom() -> &'static str {
            panic!("index out of range")
        }
        let app: Router = Router::new()
            .route("/boom", get(boom))
            .layer(CatchPanicLayer::custom(panic_response));
        let res = app
            .oneshot(Request::get("/boom").body(Body::empty()).expect("request"))
            .await
            .expect("response");
        assert_eq!(res.status(), 500);
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .expect("body");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["code"], "internal");
        assert!(v["message"].is_string());
    }
}
