//! Operations endpoints: liveness, readiness, metrics, version.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use jiliang_protocol::{Health, Readiness, ReadinessCheck, VersionInfo};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::DB_CHECK_TIMEOUT;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(version))
}

/// Liveness: the process is up and serving requests.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "The process is up", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        service: "jiliang".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// Readiness: the node's dependencies (database, clock) are usable.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses(
    (status = 200, description = "Ready to serve", body = Readiness),
    (status = 503, description = "A dependency is down; `checks` says which", body = Readiness)))]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let backend = state.store.backend().as_str();
    let db = match tokio::time::timeout(DB_CHECK_TIMEOUT, state.store.ping()).await {
        Ok(Ok(elapsed)) => ReadinessCheck {
            name: "database".into(),
            ok: true,
            detail: backend.into(),
            latency_ms: elapsed.as_secs_f64() * 1e3,
        },
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            ReadinessCheck {
                name: "database".into(),
                ok: false,
                detail: format!("{backend}: {e}"),
                latency_ms: 0.0,
            }
        }
        Err(_) => ReadinessCheck {
            name: "database".into(),
            ok: false,
            detail: format!("{backend}: no answer within {DB_CHECK_TIMEOUT:?}"),
            latency_ms: DB_CHECK_TIMEOUT.as_secs_f64() * 1e3,
        },
    };
    let bus = ReadinessCheck {
        name: "bus".into(),
        ok: state.bus.healthy(),
        detail: state.bus.name().into(),
        latency_ms: 0.0,
    };
    let readiness = Readiness::from_checks(vec![db, crate::clock::readiness_check(), bus]);
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses(
    (status = 200, description = "Prometheus text format 0.0.4", body = String, content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render() + &state.bus.render_metrics(),
    )
}

/// Service and API version, and the storage backend in use.
#[utoipa::path(get, path = "/api/v1/version", tag = "ops",
    responses((status = 200, body = VersionInfo)))]
async fn version(State(state): State<AppState>) -> Json<VersionInfo> {
    Json(VersionInfo {
        service: "jiliang".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        api: "v1".into(),
        storage: state.store.backend().as_str().into(),
    })
}
