//! Operations endpoints: liveness, readiness, metrics, version.
//!
//! `/metrics` gathers the figures only known at scrape time (pool, queues,
//! ledger) here and hands them to `crate::metrics`, which renders them with
//! the registry; nothing here formats metrics itself.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use jiliang_protocol::{Health, Readiness, ReadinessCheck, VersionInfo};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::DB_CHECK_TIMEOUT;
use crate::metrics::{CONTENT_TYPE, Queue, QueueDepth, Sampled};
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

/// Readiness: the node's dependencies (database, clock, bus) are usable and
/// its ledger agrees with the heads it signed.
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
                // The cause (host names, users, SQL) goes to the log only:
                // this endpoint is public.
                detail: format!("{backend}: query failed (cause in the server log)"),
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
    // The ledger is not ready while its stored log disagrees with a head it
    // signed: it refuses to sign until an operator restores the log.
    let ledger = match state.ledger.fault() {
        None => ReadinessCheck {
            name: "ledger".into(),
            ok: true,
            detail: format!("{} leaves", state.ledger.tree_size()),
            latency_ms: 0.0,
        },
        Some(why) => ReadinessCheck {
            name: "ledger".into(),
            ok: false,
            detail: why,
            latency_ms: 0.0,
        },
    };
    let readiness = Readiness::from_checks(vec![db, crate::clock::readiness_check(), bus, ledger]);
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
    let sampled = sample(&state).await;
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        state.metrics.render(&sampled),
    )
}

/// What `/metrics` reports beside the registry, read now.
async fn sample(state: &AppState) -> Sampled {
    let pool = state.store.pool_stats();
    let queue = |queue, (depth, capacity): (usize, usize)| QueueDepth {
        queue,
        depth,
        capacity,
    };
    let mut queues = vec![
        queue(Queue::RoomLog, state.log.queue_depth()),
        queue(Queue::RoomFanout, state.rooms.max_backlog()),
    ];
    if state.bus.is_shared() {
        queues.push(queue(Queue::BusPublish, state.bus.queue_depth()));
    }
    let head = state.ledger.latest_head();
    // The database's counter includes other nodes' leaves; when it does not
    // answer in time, this node's view of the log (as of its last sync)
    // stands in.
    let appended = match tokio::time::timeout(DB_CHECK_TIMEOUT, state.store.ledger_size()).await {
        Ok(Ok(Some(n))) => n,
        Ok(Ok(None)) | Ok(Err(_)) | Err(_) => state.ledger.tree_size(),
    };
    let now_ms = crate::ledger::records::unix_ms(crate::clock::now());
    Sampled {
        rooms_open: state.rooms.active_rooms(),
        queues,
        db_connections_in_use: pool.in_use,
        db_connections_idle: pool.idle,
        db_connections_max: pool.max,
        ledger_unsigned_leaves: appended.saturating_sub(head.map_or(0, |h| h.size)),
        ledger_head_age_seconds: head.map(|h| {
            std::time::Duration::from_millis(now_ms.saturating_sub(h.timestamp_ms)).as_secs_f64()
        }),
        tokio_alive_tasks: tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
    }
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use crate::config::Config;
    use crate::state::AppState;
    use crate::store::Store;

    /// `/metrics` of a whole (SQLite, local bus) server: the registry and
    /// the figures sampled at scrape time, in the Prometheus text format.
    #[tokio::test]
    async fn metrics_report_the_pool_queues_rooms_and_ledger() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("ops.db").display());
        let store = Store::open(&url).await.expect("store");
        let config = Config {
            ledger_key: Some(dir.path().join("ledger-key.hex")),
            ..Config::for_database(url)
        };
        let shutdown = tokio_util::sync::CancellationToken::new();
        let state = AppState::build(store, config, shutdown)
            .await
            .expect("state");
        let app = crate::http::app(state.clone());
        let get = |path: &'static str| {
            app.clone()
                .oneshot(Request::get(path).body(Body::empty()).expect("request"))
        };
        get("/healthz").await.expect("healthz");
        let res = get("/metrics").await.expect("metrics");
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()[axum::http::header::CONTENT_TYPE],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .expect("body");
        let text = String::from_utf8(body.to_vec()).expect("utf-8");
        for line in [
            "jiliang_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1",
            "jiliang_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"+Inf\"} 1",
            "jiliang_rooms_open 0",
            "jiliang_send_queue_depth{queue=\"room_log\"} 0",
            "jiliang_send_queue_capacity{queue=\"room_log\"} 4096",
            "jiliang_send_queue_depth{queue=\"room_fanout\"} 0",
            "jiliang_send_queue_capacity{queue=\"room_fanout\"} 1024",
            "jiliang_db_pool_max_connections 8",
            // The ledger signs a head at start: nothing is uncovered.
            "jiliang_ledger_unsigned_leaves 0",
            "jiliang_bus_dropped_total 0",
            "# TYPE jiliang_ledger_head_age_seconds gauge",
            "# TYPE jiliang_db_query_duration_seconds histogram",
            "jiliang_db_query_duration_seconds_count{op=\"ledger.size\"} 1",
        ] {
            assert!(text.contains(line), "{line:?} missing:\n{text}");
        }
        // The local bus has no publish queue to report.
        assert!(!text.contains("queue=\"bus_publish\""), "{text}");
        state.store.close().await;
    }
}
