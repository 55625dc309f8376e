//! The bus is not trusted (issue 15, item 8): whatever is published on a
//! room's NATS subject — a forged event, a notice of events that do not
//! exist, a notice with an absurd sequence — never reaches a client and
//! never makes a node poll the database; the real log goes on unchanged.

use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use crate::common::{Client, TestDb, TestServer};
use crate::rooms::{accepted, chat, join, next_json, session};

/// `JILIANG_BUS` when it names NATS; `None` skips (CI sets it).
fn nats() -> Option<String> {
    match std::env::var("JILIANG_BUS") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped: JILIANG_BUS does not name a NATS server");
            if std::env::var_os("JILIANG_REQUIRE_POSTGRES").is_some() {
                panic!("CI must run the bus tests: set JILIANG_BUS");
            }
            None
        }
    }
}

/// How many times the node ran the store operation `op` (from /metrics).
async fn query_count(client: &Client, op: &str) -> u64 {
    let text = client.get("/metrics").await.text().await.expect("metrics");
    let prefix = format!("jiliang_db_query_duration_seconds_count{{op=\"{op}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn forged_bus_messages_never_reach_clients_nor_make_a_node_poll() {
    let Some(url) = nats() else {
        return;
    };
    let server = TestServer::start_configured(TestDb::sqlite(), |c| c.bus = url.clone()).await;
    jiliang_server::demo::seed(&server.state.store)
        .await
        .expect("seed");
    let expert = server.login("expert").await;
    let tech = server.login("tech").await;
    let id = session(&server, &expert).await;
    let (mut a, _) = join(&server.base, &expert, id, 0).await;
    let (mut b, _) = join(&server.base, &tech, id, 0).await;
    // Both joins (seq 1 and 2) have arrived at the technician.
    let mut seen = 0;
    while seen < 2 {
        if next_json(&mut b).await["type"] == "event" {
            seen += 1;
        }
    }
    let forger = async_nats::connect(&url).await.expect("connect to NATS");
    let subject = format!("jiliang.room.{}", id.simple());
    let stranger = Uuid::now_v7();
    let forged_event = json!({"t": "event", "node": stranger, "event": {
        "seq": 3, "id": Uuid::now_v7(), "at": "2026-12-04T00:00:00Z",
        "author": {"id": Uuid::now_v7(), "name": "冒充者"}, "client_id": null,
        "body": {"kind": "chat", "text": "伪造的读数：合格"}}});
    let reads_before = query_count(&expert, "events.read").await;
    for msg in [
        forged_event.clone(),
        json!({"t": "stored", "node": stranger, "seq": 3}),
        json!({"t": "stored", "node": stranger, "seq": u64::MAX}),
        json!({"t": "stored", "node": stranger, "seq": "lots"}),
    ] {
        forger
            .publish(subject.clone(), msg.to_string().into())
            .await
            .expect("publish");
    }
    forger.flush().await.expect("flush");
    // Long enough for a node that trusted the notice to poll many times
    // (a gap fill retries every 150 ms).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reads = query_count(&expert, "events.read").await - reads_before;
    assert!(
        reads <= 1,
        "{reads} reads of the log after forged notices: the node polls"
    );
    // The real next event gets seq 3 and is what everyone receives.
    chat(&mut a, "real", "真实读数 100.002 g").await;
    assert_eq!(
        accepted(&mut a, "real").await,
        3,
        "the forged event took seq 3"
    );
    let got = loop {
        let f = next_json(&mut b).await;
        assert_ne!(
            f["body"]["text"], "伪造的读数：合格",
            "a forged event reached a client"
        );
        if f["type"] == "event" {
            break f;
        }
    };
    assert_eq!(got["seq"], 3);
    assert_eq!(got["body"]["text"], "真实读数 100.002 g");
    let log = server
        .state
        .store
        .read_events(id, 0, 100)
        .await
        .expect("read");
    assert_eq!(log.len(), 3);
    server.stop().await;
}

/// A NATS server of our own that requires a user and password.
struct AuthNats {
    child: std::process::Child,
    url: String,
}

impl AuthNats {
    fn start() -> Option<Self> {
        let bin = [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
        let Some(bin) = bin else {
            eprintln!("skipped: no nats-server binary");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = std::process::Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(["--user", "jiliang", "--pass", "s3cret-计量"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start nats-server");
        Some(Self {
            child,
            url: format!("nats://127.0.0.1:{port}"),
        })
    }
}

impl Drop for AuthNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// A node authenticates to NATS: without the credentials NATS asks for it
// does not start (one clear error); with them it connects; a credentials
// file that cannot be read is named in the error.
#[tokio::test]
async fn nodes_authenticate_to_nats() {
    use jiliang_server::bus::Bus;
    use jiliang_server::config::{NatsArgs, Secret};
    let Some(nats) = AuthNats::start() else {
        return;
    };
    let with = NatsArgs {
        nats_user: Some("jiliang".into()),
        nats_password: Some(Secret("s3cret-计量".into())),
        ..NatsArgs::default()
    };
    // The server may take a moment to listen.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let bus = loop {
        match Bus::connect(&nats.url, &with).await {
            Ok(bus) => break bus,
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "{e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert!(bus.healthy());
    let without = Bus::connect(&nats.url, &NatsArgs::default())
        .await
        .expect_err("connected to NATS without credentials");
    assert!(
        without.to_string().contains("cannot connect to NATS"),
        "{without}"
    );
    let wrong = NatsArgs {
        nats_password: Some(Secret("guess".into())),
        ..with.clone()
    };
    assert!(Bus::connect(&nats.url, &wrong).await.is_err());
    let creds = NatsArgs {
        nats_creds: Some("/nonexistent/jiliang.creds".into()),
        ..NatsArgs::default()
    };
    let e = Bus::connect(&nats.url, &creds)
        .await
        .expect_err("a missing creds file");
    assert!(e.to_string().contains("/nonexistent/jiliang.creds"), "{e}");
}
