//! Durable append rate: each append stores a room event and its ledger leaf
//! in one transaction through the room log's batching writer, on SQLite in
//! a temp directory. Reports appends/s at several concurrencies and the
//! latency an appender sees. Not criterion: one run of a few seconds is the
//! measurement, and it needs a tokio runtime and a database.
//!
//! `cargo bench -p jiliang-server --bench durable_append [-- N]`

use std::time::{Duration, Instant};

use jiliang_protocol::rooms::{Author, EventBody};
use jiliang_server::rooms::log::Append;
use jiliang_server::{AppState, Config, Store};
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn main() {
    let total: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(total));
}

async fn run(total: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Store::open(&url).await.expect("store");
    jiliang_server::demo::seed(&store).await.expect("seed");
    let config = Config {
        ledger_key: Some(dir.path().join("key.hex")),
        ..Config::for_database(url)
    };
    let state = AppState::build(store.clone(), config, CancellationToken::new())
        .await
        .expect("state");
    let expert = store
        .find_user_by_login("expert")
        .await
        .expect("q")
        .expect("expert")
        .user;
    let qinan = store
        .list_institutions()
        .await
        .expect("list")
        .into_iter()
        .find(|i| i.institution.name_zh == "秦安县计量检定所")
        .expect("lab")
        .institution
        .id;
    let _ = json!({});
    let mut sessions = Vec::new();
    for i in 0..50 {
        sessions.push(
            store
                .insert_live_session(&jiliang_server::store::rooms::NewSession {
                    kind: jiliang_protocol::sessions::SessionKind::Scheduled,
                    title: format!("bench {i}"),
                    description: String::new(),
                    state: jiliang_protocol::sessions::SessionState::Live,
                    scheduled_start: time::OffsetDateTime::now_utc(),
                    duration_minutes: 60,
                    host_id: expert.id,
                    host_institution_id: expert.institution_id,
                    help_request_id: None,
                    lab_ids: vec![qinan],
                    participant_ids: vec![],
                })
                .await
                .expect("session"),
        );
    }
    let author = Author {
        id: expert.id,
        name: expert.display_name.clone(),
    };
    println!(
        "durable appends (room event + ledger leaf, one transaction per batch), SQLite WAL, {total} per run"
    );
    for concurrency in [1usize, 16, 256] {
        let n = if concurrency == 1 { total / 10 } else { total };
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..concurrency {
            let log = state.log.clone();
            let author = author.clone();
            let session = sessions[c % sessions.len()];
            tasks.push(tokio::spawn(async move {
                let mut worst = Duration::ZERO;
                let mut sum = Duration::ZERO;
                let mut k = 0;
                for i in (c..n).step_by(concurrency) {
                    let t = Instant::now();
                    log.append(Append {
                        session,
                        author: Some(author.clone()),
                        client_id: Some(format!("{concurrency}-{i}")),
                        body: EventBody::Chat {
                            text: format!("读数 {i}.0001 g"),
                        },
                    })
                    .await
                    .expect("append");
                    let d = t.elapsed();
                    worst = worst.max(d);
                    sum += d;
                    k += 1;
                }
                (sum, k, worst)
            }));
        }
        let (mut sum, mut k, mut worst) = (Duration::ZERO, 0u32, Duration::ZERO);
        for t in tasks {
            let (s, n, w) = t.await.expect("task");
            sum += s;
            k += n;
            worst = worst.max(w);
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "  concurrency {concurrency:>3}: {:>8.0} appends/s  mean latency {:>7.3} ms  max {:>7.2} ms",
            f64::from(k) / secs,
            sum.as_secs_f64() * 1e3 / f64::from(k.max(1)),
            worst.as_secs_f64() * 1e3
        );
    }
    state.ledger.publish().await.expect("publish");
    let started = Instant::now();
    let report = jiliang_server::ledger::verify::verify_database(&store, None)
        .await
        .expect("verify");
    println!(
        "  full re-verification of {} records: {:.2} s ({}).",
        report.leaves,
        started.elapsed().as_secs_f64(),
        if report.ok { "ok" } else { "FAILED" }
    );
}
