//! Durable reading ingest: readings/s stored exactly once, each batch with
//! its ledger leaf (and, attached to a live session, its room event and
//! that event's leaf) in one transaction. Two levels, on SQLite (temp
//! file, WAL, synchronous=FULL) and — when `DATABASE_URL` names it — on
//! PostgreSQL (a schema of its own, dropped afterwards):
//! - the store: `Store::ingest_readings` called by D devices at once;
//! - the agent socket: D agents over WebSockets to a real server on
//!   loopback, each sending a batch and waiting for its ack (what a
//!   reconnecting agent's backlog looks like), JSON and `check_batch`
//!   included.
//!
//! Not criterion: one run of a few seconds per line is the measurement.
//!
//! `cargo bench -p jiliang-server --bench reading_ingest [-- READINGS]`

use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use jiliang_protocol::devices::DeviceReading;
use jiliang_server::store::devices::{NewBatch, NewDeviceRow, Source};
use jiliang_server::{AppState, Config, Store};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn main() {
    let total: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    // The server's own log (RUST_LOG=warn): why a batch was refused.
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
        run("SQLite", &sqlite, dir.path(), total).await;
        if let Some(admin) = std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"))
        {
            let schema = format!("bench_{}", Uuid::now_v7().simple());
            exec(&admin, &format!("CREATE SCHEMA {schema}")).await;
            let sep = if admin.contains('?') { '&' } else { '?' };
            let url = format!("{admin}{sep}options[search_path]={schema}");
            run("PostgreSQL", &url, dir.path(), total).await;
            exec(&admin, &format!("DROP SCHEMA {schema} CASCADE")).await;
        }
    });
}

async fn exec(url: &str, sql: &str) {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
    sqlx::query(sql).execute(&mut c).await.expect("exec");
}

struct Fixture {
    store: Store,
    lab: Uuid,
    user: Uuid,
    session: Uuid,
}

async fn fixture(url: &str) -> Fixture {
    let store = Store::open(url).await.expect("store");
    jiliang_server::demo::seed(&store).await.expect("seed");
    let tech = store
        .find_user_by_login("tech")
        .await
        .expect("q")
        .expect("tech")
        .user;
    let session = store
        .insert_live_session(&jiliang_server::store::rooms::NewSession {
            kind: jiliang_protocol::sessions::SessionKind::Scheduled,
            title: "bench".into(),
            description: String::new(),
            state: jiliang_protocol::sessions::SessionState::Live,
            scheduled_start: time::OffsetDateTime::now_utc(),
            duration_minutes: 60,
            host_id: tech.id,
            host_institution_id: tech.institution_id,
            help_request_id: None,
            lab_ids: vec![tech.institution_id],
            participant_ids: vec![],
        })
        .await
        .expect("session");
    Fixture {
        store,
        lab: tech.institution_id,
        user: tech.id,
        session,
    }
}

async fn device(f: &Fixture, token: &str) -> Uuid {
    f.store
        .insert_device(&NewDeviceRow {
            lab_id: f.lab,
            name: "bench".into(),
            kind: "dmm".into(),
            quantity: "voltage".into(),
            unit: "V".into(),
            resolution: None,
            reference: None,
            token_hash: jiliang_server::auth::token::hash_token(token),
            created_by: f.user,
        })
        .await
        .expect("device")
        .device
        .id
}

fn readings(from: u64, n: u64) -> Vec<DeviceReading> {
    let t = time::OffsetDateTime::now_utc();
    (from..from + n)
        .map(|seq| DeviceReading {
            seq,
            t,
            value: 10.0 + seq as f64 * 1e-7,
            unit: "V".into(),
            u_t: 0.0021,
        })
        .collect()
}

async fn run(name: &str, url: &str, dir: &std::path::Path, total: u64) {
    let f = fixture(url).await;
    println!("{name}: durable reading ingest, {total} readings per line");
    println!("  store (Store::ingest_readings):");
    for (devices, batch, attached) in [
        (1u64, 10u64, false),
        (1, 100, false),
        (1, 1000, false),
        (8, 100, false),
        (8, 1000, false),
        (8, 100, true),
    ] {
        let mut ids = Vec::new();
        for _ in 0..devices {
            let token = jiliang_server::auth::token::random_token();
            let id = device(&f, &token).await;
            if attached {
                f.store
                    .attach_device(id, f.session, f.user)
                    .await
                    .expect("attach");
            }
            ids.push((id, jiliang_server::auth::token::hash_token(&token)));
        }
        let per = (total / devices).max(batch);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for (id, hash) in ids {
            let store = f.store.clone();
            tasks.push(tokio::spawn(async move {
                let mut seq = 1;
                while seq <= per {
                    let rs = readings(seq, batch);
                    store
                        .ingest_readings(&NewBatch {
                            device_id: id,
                            unit: "V",
                            source: Source::Agent { token_hash: &hash },
                            readings: &rs,
                        })
                        .await
                        .expect("ingest");
                    seq += batch;
                }
                seq - 1
            }));
        }
        let mut stored = 0;
        for t in tasks {
            stored += t.await.expect("task");
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "    {devices} device(s) × batches of {batch:>4}{}: {:>8.0} readings/s ({:.0} batches/s)",
            if attached {
                ", attached to a live session"
            } else {
                ""
            },
            stored as f64 / secs,
            stored as f64 / batch as f64 / secs
        );
    }

    // Over the agent socket, to a real server.
    let config = Config {
        ledger_key: Some(dir.join(format!("key-{}.hex", Uuid::now_v7().simple()))),
        ..Config::for_database(url.to_owned())
    };
    let shutdown = CancellationToken::new();
    let state = AppState::build(f.store.clone(), config, shutdown.clone())
        .await
        .expect("state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(jiliang_server::serve(state, listener));
    println!("  agent socket (ws, one batch in flight per agent):");
    for (agents, batch) in [(1u64, 100u64), (1, 1000), (8, 100), (8, 1000)] {
        let mut tokens = Vec::new();
        for _ in 0..agents {
            let token = jiliang_server::auth::token::random_token();
            device(&f, &token).await;
            tokens.push(token);
        }
        let per = (total / agents).max(batch);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for token in tokens {
            tasks.push(tokio::spawn(async move {
                let mut req = format!("ws://{addr}/api/v1/agent/ws")
                    .into_client_request()
                    .expect("request");
                req.headers_mut().insert(
                    "authorization",
                    format!("Bearer {token}").parse().expect("header"),
                );
                let (mut ws, _) = tokio_tungstenite::connect_async(req)
                    .await
                    .expect("connect");
                let hello = r#"{"type":"hello","protocol":1,"agent":"bench","driver":"scpi"}"#;
                ws.send(Message::text(hello)).await.expect("hello");
                ws.next().await.expect("welcome").expect("welcome");
                let mut seq = 1;
                while seq <= per {
                    let frame =
                        serde_json::json!({"type": "readings", "readings": readings(seq, batch)});
                    ws.send(Message::text(frame.to_string()))
                        .await
                        .expect("send");
                    loop {
                        match ws.next().await.expect("answer").expect("answer") {
                            Message::Text(t) if t.contains("\"ack\"") => break,
                            Message::Text(t) => panic!("{t}"),
                            _ => {}
                        }
                    }
                    seq += batch;
                }
                seq - 1
            }));
        }
        let mut stored = 0;
        for t in tasks {
            stored += t.await.expect("task");
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "    {agents} agent(s) × batches of {batch:>4}: {:>8.0} readings/s",
            stored as f64 / secs
        );
    }
    shutdown.cancel();
    let _ = server.await;
}
