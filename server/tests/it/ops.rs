//! The operations surface of a real server: health, readiness, metrics,
//! OpenAPI, error documents, static files, the time socket and shutdown.

use crate::common::{Backend, TestDb, TestServer};
use futures_util::{SinkExt, StreamExt};
use jiliang_protocol::{ErrorBody, Health, Readiness};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

async fn get(server: &TestServer, path: &str) -> reqwest::Response {
    reqwest::get(server.url(path)).await.expect("request")
}

backend_tests!(health_readiness_and_version, |backend| async move {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let res = get(&server, "/healthz").await;
    assert_eq!(res.status(), 200);
    let health: Health = res.json().await.expect("json");
    assert_eq!(health.status, "ok");

    let res = get(&server, "/readyz").await;
    assert_eq!(res.status(), 200);
    let ready: Readiness = res.json().await.expect("json");
    assert!(ready.is_ready(), "{ready:?}");
    let db = ready
        .checks
        .iter()
        .find(|c| c.name == "database")
        .expect("db check");
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(db.detail, expected);
    assert!(ready.checks.iter().any(|c| c.name == "clock" && c.ok));

    let v: Value = get(&server, "/api/v1/version")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v["storage"], expected);
    assert_eq!(v["api"], "v1");
    server.stop().await;
});

#[tokio::test]
async fn readyz_reports_a_dead_database_with_503() {
    let server = TestServer::start(Backend::Sqlite).await.expect("sqlite");
    server.state.store.close().await;
    let res = get(&server, "/readyz").await;
    assert_eq!(res.status(), 503);
    let ready: Readiness = res.json().await.expect("json");
    assert_eq!(ready.status, "not_ready");
    let db = ready
        .checks
        .iter()
        .find(|c| c.name == "database")
        .expect("db check");
    assert!(!db.ok);
    server.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_open_sockets() {
    let server = TestServer::start(Backend::Sqlite).await.expect("sqlite");
    for _ in 0..3 {
        get(&server, "/healthz").await;
    }
    get(&server, "/api/v1/definitely-not-here").await;
    let (ws, _) = tokio_tungstenite::connect_async(server.ws_url("/api/v1/time/ws"))
        .await
        .expect("ws connects");
    let res = get(&server, "/metrics").await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain"))
    );
    let text = res.text().await.expect("text");
    assert!(
        text.contains(
            r#"jiliang_http_requests_total{method="GET",route="/healthz",status="200"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/api/(unmatched)",status="404"} 1"#),
        "{text}"
    );
    assert!(text.contains("jiliang_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"+Inf\"} 3"));
    assert!(text.contains("jiliang_websocket_connections 1"), "{text}");
    drop(ws);
    server.stop().await;
}

#[tokio::test]
async fn openapi_document_is_generated_from_the_routes() {
    let server = TestServer::start(Backend::Sqlite).await.expect("sqlite");
    let doc: Value = get(&server, "/api/openapi.json")
        .await
        .json()
        .await
        .expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/v1/version",
        "/api/v1/time",
        "/api/v1/time/ws",
    ] {
        assert!(paths.contains_key(p), "{p} missing from OpenAPI");
    }
    assert!(doc["components"]["schemas"]["Readiness"].is_object());
    server.stop().await;
}

#[tokio::test]
async fn errors_are_json_in_the_requested_language() {
    let server = TestServer::start(Backend::Sqlite).await.expect("sqlite");
    let client = reqwest::Client::new();

    let res = client
        .get(server.url("/api/v1/nope"))
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 404);
    let body: ErrorBody = res.json().await.expect("json");
    assert_eq!(body.code, "not_found");
    assert!(body.message.contains("没有这个接口"), "{}", body.message);

    let res = client
        .get(server.url("/api/v1/nope"))
        .header("Accept-Language", "en-GB,en;q=0.9")
        .send()
        .await
        .expect("req");
    let body: ErrorBody = res.json().await.expect("json");
    assert!(
        body.message.starts_with("No such endpoint"),
        "{}",
        body.message
    );

    let res = client
        .delete(server.url("/healthz"))
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 405);
    let body: ErrorBody = res.json().await.expect("json");
    assert_eq!(body.code, "method_not_allowed");
    server.stop().await;
}

#[tokio::test]
async fn static_front_end_with_spa_fallback_caching_and_compression() {
    let server = TestServer::start(Backend::Sqlite).await.expect("sqlite");
    let client = reqwest::Client::new();
    // An app route that is not a file still gets the app.
    let res = client
        .get(server.url("/sessions/123"))
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-cache");
    assert!(res.text().await.expect("text").contains("test fixture"));
    // Hashed assets are immutable.
    let res = client
        .get(server.url("/app-0123456789abcdef.js"))
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    // A hashed asset that is not there (an old bundle after a deploy) is a
    // 404, not the page marked immutable.
    let res = client
        .get(server.url("/app-fedcba9876543210_bg.wasm"))
        .send()
        .await
        .expect("req");
    assert_eq!(res.status(), 404);
    assert!(res.headers().get("cache-control").is_none());
    let body: ErrorBody = res.json().await.expect("json");
    assert_eq!(body.code, "not_found");
    // Compressed when the client accepts it (large enough responses only).
    let res = client
        .get(server.url("/api/openapi.json"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .expect("req");
    assert_eq!(res.headers()["content-encoding"], "gzip");
    server.stop().await;
}

/// `build_front_end` writes `.br` and `.gz` copies beside each asset; the
/// server picks one by `Accept-Encoding` and says so in `Content-Encoding`,
/// with the asset's own type and caching.
#[tokio::test]
async fn precompressed_brotli_and_gzip_copies_by_accept_encoding() {
    let dist = tempfile::tempdir().expect("dist");
    let put =
        |name: &str, body: &[u8]| std::fs::write(dist.path().join(name), body).expect("write");
    put(
        "index.html",
        b"<!doctype html><title>precompressed fixture</title>",
    );
    let wasm = "app-0123456789abcdef_bg.wasm";
    put(wasm, b"plain wasm bytes");
    put(&format!("{wasm}.br"), b"brotli copy");
    put(&format!("{wasm}.gz"), b"gzip copy");
    // An asset with only a gzip copy (an older build script).
    put("style-0123456789abcdef.css", b"body{}");
    put("style-0123456789abcdef.css.gz", b"gzip css");
    let dir = dist.path().to_path_buf();
    let server = TestServer::start_configured(TestDb::sqlite(), |c| c.static_dir = dir).await;
    // reqwest is built without decompression: bodies arrive as stored.
    let client = reqwest::Client::new();
    let fetch = |path: String, accept: Option<&'static str>| {
        let mut req = client.get(server.url(&path));
        if let Some(accept) = accept {
            req = req.header("Accept-Encoding", accept);
        }
        async move {
            let res = req.send().await.expect("request");
            assert_eq!(res.status(), 200, "{path} with {accept:?}");
            let h = res.headers().clone();
            let enc = h
                .get("content-encoding")
                .map(|v| v.to_str().expect("ascii").to_owned());
            (h, enc, res.bytes().await.expect("body").to_vec())
        }
    };
    let path = format!("/{wasm}");
    // Chromium's header: Brotli wins over gzip.
    let (h, enc, body) = fetch(path.clone(), Some("gzip, deflate, br, zstd")).await;
    assert_eq!(enc.as_deref(), Some("br"));
    assert_eq!(body, b"brotli copy");
    assert_eq!(h["content-type"], "application/wasm");
    assert_eq!(h["cache-control"], "public, max-age=31536000, immutable");
    assert!(
        h.get_all("vary").iter().any(|v| v
            .to_str()
            .unwrap_or("")
            .to_ascii_lowercase()
            .contains("accept-encoding")),
        "Vary names Accept-Encoding: {h:?}"
    );
    assert_eq!(h["content-length"], "11");
    // Weights are honoured.
    let (_, enc, body) = fetch(path.clone(), Some("br;q=0.5, gzip")).await;
    assert_eq!(enc.as_deref(), Some("gzip"));
    assert_eq!(body, b"gzip copy");
    let (_, enc, body) = fetch(path.clone(), Some("gzip")).await;
    assert_eq!(enc.as_deref(), Some("gzip"));
    assert_eq!(body, b"gzip copy");
    // No Accept-Encoding, or identity only: the plain file.
    let (h, enc, body) = fetch(path.clone(), None).await;
    assert_eq!(enc, None);
    assert_eq!(body, b"plain wasm bytes");
    assert_eq!(h["cache-control"], "public, max-age=31536000, immutable");
    let (_, enc, body) = fetch(path.clone(), Some("identity")).await;
    assert_eq!(enc, None);
    assert_eq!(body, b"plain wasm bytes");
    // Brotli asked for but no `.br` copy: the gzip copy, never a 404.
    let (h, enc, body) = fetch("/style-0123456789abcdef.css".into(), Some("br, gzip")).await;
    assert_eq!(enc.as_deref(), Some("gzip"));
    assert_eq!(body, b"gzip css");
    assert_eq!(h["content-type"], "text/css");
    // The page itself is revalidated on every visit.
    let (h, _, _) = fetch("/login".into(), Some("br, gzip")).await;
    assert_eq!(h["cache-control"], "no-cache");
    server.stop().await;
}

/// A visitor without a session gets the small first-load shell on the
/// shell's pages; with a session cookie, or on any other page, the full app.
#[tokio::test]
async fn visitors_get_the_first_load_shell_on_its_pages_only() {
    let dist = tempfile::tempdir().expect("dist");
    let put = |name: &str, body: &str| std::fs::write(dist.path().join(name), body).expect("write");
    put(
        "index.html",
        "<!doctype html><title>full app</title><script type=\"module\">import '/full-0000000000000001.js';</script>",
    );
    let dir = dist.path().to_path_buf();
    let server = TestServer::start_configured(TestDb::sqlite(), |c| c.static_dir = dir).await;
    let client = reqwest::Client::new();
    let page = |path: &'static str, cookie: Option<&'static str>| {
        let mut req = client.get(server.url(path));
        if let Some(c) = cookie {
            req = req.header("Cookie", c);
        }
        async move {
            let res = req.send().await.expect("request");
            assert_eq!(res.status(), 200, "{path}");
            let h = res.headers().clone();
            (h, res.text().await.expect("text"))
        }
    };
    // No shell built (an older build): the full app everywhere.
    let (_, body) = page("/login", None).await;
    assert!(body.contains("full app"), "{body}");

    put(
        "shell.html",
        "<!doctype html><title>first-load shell</title><script type=\"module\">import '/shell-0000000000000002.js';</script>",
    );
    for path in ["/", "/login", "/status", "/invite/tok3n", "/reset/tok3n"] {
        let (h, body) = page(path, None).await;
        assert!(body.contains("first-load shell"), "{path}: {body}");
        assert_eq!(h["cache-control"], "no-cache", "{path}");
        assert!(
            h.get_all("vary")
                .iter()
                .any(|v| v.to_str().unwrap_or("").contains("cookie")),
            "{path}: Vary names Cookie: {h:?}"
        );
        // One policy allows either page's bootstrap script.
        let csp = h["content-security-policy"].to_str().expect("ascii");
        assert_eq!(csp.matches("'sha256-").count(), 2, "{csp}");
    }
    for path in [
        "/sessions",
        "/sessions/1",
        "/verify",
        "/people",
        "/no/such/page",
    ] {
        let (_, body) = page(path, None).await;
        assert!(body.contains("full app"), "{path}: {body}");
    }
    // A browser holding a session (valid or not) gets the full app.
    for cookie in ["jiliang_session=whatever", "a=1; __Host-jiliang_session=x"] {
        for path in ["/", "/login", "/status"] {
            let (_, body) = page(path, Some(cookie)).await;
            assert!(body.contains("full app"), "{path} with {cookie}: {body}");
        }
    }
    let (_, body) = page("/", Some("jiliang_sessionx=1")).await;
    assert!(body.contains("first-load shell"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn time_socket_answers_pings_and_names_bad_frames() {
    let server = TestServer::start(Backend::Sqlite).await.expect("sqlite");
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url("/api/v1/time/ws"))
        .await
        .expect("ws connects");
    let t0 = jiliang_server::clock::now_ms();
    ws.send(Message::text(format!(
        r#"{{"type":"ping","id":42,"t0":{t0}}}"#
    )))
    .await
    .expect("send");
    let reply: Value = match ws.next().await {
        Some(Ok(Message::Text(t))) => serde_json::from_str(&t).expect("json"),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(reply["type"], "pong");
    assert_eq!(reply["id"], 42);
    let (t1, t2) = (
        reply["t1"].as_f64().expect("t1"),
        reply["t2"].as_f64().expect("t2"),
    );
    let t3 = jiliang_server::clock::now_ms();
    assert!(t0 <= t1 && t1 <= t2 && t2 <= t3, "{t0} {t1} {t2} {t3}");

    ws.send(Message::text("not json")).await.expect("send");
    let reply: Value = match ws.next().await {
        Some(Ok(Message::Text(t))) => serde_json::from_str(&t).expect("json"),
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["code"], "malformed_json");
    // The connection survives a bad frame.
    ws.send(Message::text(r#"{"type":"ping","id":1,"t0":1}"#))
        .await
        .expect("send");
    assert!(matches!(ws.next().await, Some(Ok(Message::Text(_)))));
    server.stop().await;
}

#[tokio::test]
async fn the_public_time_socket_refuses_floods_and_closes_idle_clients() {
    let server = TestServer::start_configured(TestDb::sqlite(), |c| {
        c.time_socket_idle_ms = 300;
    })
    .await;
    // A flood: pings answered up to the burst, then refused with
    // rate_limited, then the socket is closed (1008).
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url("/api/v1/time/ws"))
        .await
        .expect("ws connects");
    for i in 0..200 {
        if ws
            .send(Message::text(format!(
                r#"{{"type":"ping","id":{i},"t0":1}}"#
            )))
            .await
            .is_err()
        {
            break;
        }
    }
    let (mut pongs, mut limited, mut close) = (0, 0, None);
    while let Ok(Some(frame)) =
        tokio::time::timeout(std::time::Duration::from_secs(5), ws.next()).await
    {
        match frame {
            Ok(Message::Text(t)) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                match v["type"].as_str() {
                    Some("pong") => pongs += 1,
                    Some("error") if v["code"] == "rate_limited" => limited += 1,
                    other => panic!("unexpected {other:?}: {v}"),
                }
            }
            Ok(Message::Close(frame)) => {
                close = frame.map(|f| u16::from(f.code));
                break;
            }
            Ok(_) => {}
            Err(e) => panic!("after {pongs} pongs and {limited} refusals: {e}"),
        }
    }
    assert!((20..200).contains(&pongs), "{pongs} pongs");
    assert!(limited >= 19, "{limited} refusals");
    assert_eq!(close, Some(1008));

    // Silence: closed (1000, "idle") after the idle time, not before.
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url("/api/v1/time/ws"))
        .await
        .expect("ws connects");
    let started = std::time::Instant::now();
    let frame = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
        .await
        .expect("closed within 5 s");
    match frame {
        Some(Ok(Message::Close(Some(f)))) => {
            assert_eq!(u16::from(f.code), 1000);
            assert_eq!(f.reason.as_str(), "idle");
        }
        other => panic!("expected an idle close, got {other:?}"),
    }
    assert!(started.elapsed() >= std::time::Duration::from_millis(250));
    server.stop().await;
}

#[tokio::test]
async fn shutdown_sends_close_frames_and_finishes_in_flight_requests() {
    let server = TestServer::start(Backend::Sqlite).await.expect("sqlite");
    let (mut ws, _) = tokio_tungstenite::connect_async(server.ws_url("/api/v1/time/ws"))
        .await
        .expect("ws connects");
    // Prove the socket is live before shutting down.
    ws.send(Message::text(r#"{"type":"ping","id":1,"t0":1}"#))
        .await
        .expect("send");
    assert!(matches!(ws.next().await, Some(Ok(Message::Text(_)))));

    let in_flight = tokio::spawn({
        let url = server.url("/readyz");
        async move { reqwest::get(url).await.map(|r| r.status().as_u16()) }
    });
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    server.shutdown.cancel();
    let frame = tokio::time::timeout(std::time::Duration::from_secs(5), ws.next())
        .await
        .expect("close frame arrives");
    match frame {
        Some(Ok(Message::Close(Some(close)))) => {
            assert_eq!(u16::from(close.code), 1001);
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    assert_eq!(
        in_flight.await.expect("joined").expect("request completed"),
        200
    );
    server.stop().await;
}
