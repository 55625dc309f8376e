//! The whole agent (sampler, queue, uplink) against a fake server speaking
//! the agent protocol: order, acknowledgements, duplicates, refusals,
//! dropped connections, refused tokens, and restarts of the process.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::Duration;

use jiliang_agent::config::Settings;
use jiliang_agent::runner::{self, RunError};
use jiliang_agent::uplink::LinkState;
use jiliang_protocol::devices::FaultKind;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::common::{Child, FakeServer, counter, fast_timing, scpi_sim, wait_until};

fn settings(
    server: &str,
    instrument: std::net::SocketAddr,
    queue: &Path,
    interval_ms: u64,
) -> Settings {
    Settings {
        server: Some(server.into()),
        token: Some("tok-1".into()),
        queue: Some(queue.to_owned()),
        scpi: Some(instrument.to_string()),
        query: Some("READ?".into()),
        unit: Some("V".into()),
        interval_ms: Some(interval_ms),
        device_timeout_ms: Some(300),
        ..Settings::default()
    }
}

/// Every stored reading, in seq order, is the counter's next value: no gap,
/// no reordering, nothing stored twice.
fn assert_counted_in_order(server: &FakeServer) {
    let stored = server.state.stored.lock().expect("lock");
    let seqs: Vec<u64> = stored.keys().copied().collect();
    let first = seqs.first().copied().unwrap_or(1);
    assert_eq!(
        seqs,
        (first..first + seqs.len() as u64).collect::<Vec<_>>(),
        "gaps in the stored seqs"
    );
    let values: Vec<f64> = stored.values().map(|r| r.value).collect();
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "values out of order: {values:?}"
    );
}

#[tokio::test]
async fn readings_arrive_in_order_through_dropped_connections() {
    let instrument = counter().await;
    let server = FakeServer::start("V").await;
    // Every 5th batch the connection drops, alternately before and after
    // the batch is stored (so acknowledgements are lost too).
    server.state.drop_every.store(5, Ordering::SeqCst);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = settings(&server.url(), instrument.addr, dir.path(), 10)
        .resolve()
        .expect("valid");
    let stop = CancellationToken::new();
    let agent = runner::start(config, fast_timing(), stop.clone()).expect("starts");

    wait_until(20, "150 stored readings", || server.count() >= 150).await;
    assert!(
        server.state.drops.load(Ordering::SeqCst) >= 2,
        "the server dropped connections"
    );
    // Silence the instrument and let the queue drain.
    instrument.silent.store(true, Ordering::SeqCst);
    server.state.drop_every.store(0, Ordering::SeqCst);
    let shared = agent.shared.clone();
    wait_until(15, "the fault to be reported", || {
        server.state.statuses.lock().expect("lock").iter().any(|s| {
            s.fault
                .as_ref()
                .is_some_and(|f| f.kind == FaultKind::Timeout)
        })
    })
    .await;
    let written = *shared.written.borrow();
    wait_until(15, "every taken reading stored", || {
        server.count() as u64 == written
    })
    .await;
    wait_until(5, "a status with an empty queue", || {
        server
            .state
            .statuses
            .lock()
            .expect("lock")
            .last()
            .is_some_and(|s| s.queue_depth == 0)
    })
    .await;
    stop.cancel();
    agent.task.await.expect("joins").expect("stops cleanly");

    assert_eq!(server.seqs(), (1..=written).collect::<Vec<_>>());
    assert_counted_in_order(&server);
    // What the server holds is what the instrument answered, in order
    // (answers whose reading failed are the only ones missing).
    let values: Vec<u64> = server
        .state
        .stored
        .lock()
        .expect("lock")
        .values()
        .map(|r| r.value as u64)
        .collect();
    let answered = instrument.answered.lock().expect("lock").clone();
    assert!(values.iter().all(|v| answered.contains(v)));
    assert!(
        server.state.duplicates.load(Ordering::SeqCst) > 0,
        "a lost ack causes a resend the server ignores"
    );
    assert!(
        server.state.pongs.load(Ordering::SeqCst) >= 8,
        "a ping burst at each connection"
    );
    let hellos = server.state.hellos.lock().expect("lock");
    assert!(hellos.len() >= 3);
    assert!(
        hellos
            .iter()
            .skip(1)
            .all(|h| h.idn.as_deref() == Some("TEST,COUNTER,1,1"))
    );
    // Timestamps are corrected and carry an uncertainty from the clock
    // exchange (loopback: well under a second once synchronised).
    let last = server
        .state
        .stored
        .lock()
        .expect("lock")
        .values()
        .last()
        .cloned()
        .expect("some");
    assert!(last.u_t < 0.5, "u_t {}", last.u_t);
    instrument.stop.cancel();
    server.stop.cancel();
}

#[tokio::test]
async fn a_silent_server_is_taken_for_a_dead_link() {
    let instrument = counter().await;
    let server = FakeServer::start("V").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = settings(&server.url(), instrument.addr, dir.path(), 10)
        .resolve()
        .expect("valid");
    let stop = CancellationToken::new();
    let agent = runner::start(config, fast_timing(), stop.clone()).expect("starts");
    wait_until(10, "20 stored readings", || server.count() >= 20).await;
    // The route dies: frames vanish, the socket stays open.
    server.state.mute.store(true, Ordering::SeqCst);
    let connections = server.state.connections.load(Ordering::SeqCst);
    let mut link = agent.shared.link.subscribe();
    wait_until(10, "the agent to give up on the silent link", || {
        matches!(&*link.borrow_and_update(), LinkState::Offline(r) if r.starts_with("nothing from the server"))
    })
    .await;
    server.state.mute.store(false, Ordering::SeqCst);
    wait_until(10, "a new connection", || {
        server.state.connections.load(Ordering::SeqCst) > connections
    })
    .await;
    instrument.silent.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let written = *agent.shared.written.borrow();
    wait_until(10, "every taken reading stored", || {
        server.count() as u64 == written
    })
    .await;
    stop.cancel();
    agent.task.await.expect("joins").expect("stops cleanly");
    assert_counted_in_order(&server);
    instrument.stop.cancel();
    server.stop.cancel();
}

#[tokio::test]
async fn a_refused_reading_goes_to_quarantine_and_the_rest_flows() {
    let instrument = counter().await;
    let server = FakeServer::start("V").await;
    server.state.refuse.lock().expect("lock").push(5);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = settings(&server.url(), instrument.addr, dir.path(), 10)
        .resolve()
        .expect("valid");
    let stop = CancellationToken::new();
    let agent = runner::start(config, fast_timing(), stop.clone()).expect("starts");
    wait_until(15, "30 stored readings", || server.count() >= 30).await;
    wait_until(5, "a status naming the quarantined reading", || {
        server
            .state
            .statuses
            .lock()
            .expect("lock")
            .iter()
            .any(|s| s.quarantined == 1)
    })
    .await;
    stop.cancel();
    agent.task.await.expect("joins").expect("stops cleanly");
    let seqs = server.seqs();
    assert!(!seqs.contains(&5));
    assert_eq!(&seqs[..5], &[1, 2, 3, 4, 6]);
    let q =
        std::fs::read_to_string(dir.path().join("quarantine.jsonl")).expect("a quarantine file");
    let lines: Vec<serde_json::Value> = q
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["seq"], 5);
    assert_eq!(lines[0]["message"], "reading seq 5: refused by the test");
    let status = jiliang_agent::queue::inspect(dir.path()).expect("inspects");
    assert_eq!(status.quarantined, 1);
    instrument.stop.cancel();
    server.stop.cancel();
}

#[tokio::test]
async fn a_new_queue_continues_after_the_servers_last_seq() {
    let (addr, _dmm, sim_stop) = scpi_sim(&[5.0], 0.0, 0.0, None).await;
    let server = FakeServer::start("V").await;
    server.state.initial_last_seq.store(500, Ordering::SeqCst);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = settings(&server.url(), addr, dir.path(), 10)
        .resolve()
        .expect("valid");
    let stop = CancellationToken::new();
    let agent = runner::start(config, fast_timing(), stop.clone()).expect("starts");
    wait_until(10, "readings", || server.count() >= 5).await;
    stop.cancel();
    agent.task.await.expect("joins").expect("stops cleanly");
    assert_eq!(server.seqs()[0], 501, "a stored seq is never reused");
    sim_stop.cancel();
    server.stop.cancel();
}

#[tokio::test]
async fn a_queue_bound_to_another_device_is_refused() {
    let (addr, _dmm, sim_stop) = scpi_sim(&[5.0], 0.0, 0.0, None).await;
    let server = FakeServer::start("V").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |url: String| {
        let config = settings(&url, addr, dir.path(), 10)
            .resolve()
            .expect("valid");
        let stop = CancellationToken::new();
        (
            runner::start(config, fast_timing(), stop.clone()).expect("starts"),
            stop,
        )
    };
    let (agent, stop) = run(server.url());
    wait_until(10, "readings", || server.count() >= 3).await;
    stop.cancel();
    agent.task.await.expect("joins").expect("stops cleanly");
    // The queue's lock goes with the last handle on it.
    drop(agent.shared);

    *server.state.device_id.lock().expect("lock") = Uuid::from_u128(0xD2);
    let (agent, _stop) = run(server.url());
    let err = tokio::time::timeout(Duration::from_secs(10), agent.task)
        .await
        .expect("stops by itself")
        .expect("joins")
        .expect_err("another device");
    assert!(
        matches!(
            err,
            RunError::Queue(jiliang_agent::queue::QueueError::OtherDevice { .. })
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("use a separate --queue directory"),
        "{err}"
    );
    sim_stop.cancel();
    server.stop.cancel();
}

#[tokio::test]
async fn a_unit_other_than_the_devices_is_refused_before_any_upload() {
    let (addr, _dmm, sim_stop) = scpi_sim(&[5.0], 0.0, 0.0, None).await;
    let server = FakeServer::start("mV").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = settings(&server.url(), addr, dir.path(), 10)
        .resolve()
        .expect("valid");
    let agent = runner::start(config, fast_timing(), CancellationToken::new()).expect("starts");
    let err = tokio::time::timeout(Duration::from_secs(10), agent.task)
        .await
        .expect("stops by itself")
        .expect("joins")
        .expect_err("unit mismatch");
    assert!(err.to_string().contains("registered in `mV`"), "{err}");
    assert_eq!(server.count(), 0);
    sim_stop.cancel();
    server.stop.cancel();
}

#[tokio::test]
async fn without_a_unit_the_agent_takes_the_devices() {
    let (addr, _dmm, sim_stop) = scpi_sim(&[5.0], 0.0, 0.0, None).await;
    let server = FakeServer::start("V").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = settings(&server.url(), addr, dir.path(), 10);
    s.unit = None;
    let config = s.resolve().expect("valid");
    let agent = runner::start(config, fast_timing(), CancellationToken::new()).expect("starts");
    wait_until(10, "readings", || server.count() >= 3).await;
    assert!(
        server
            .state
            .stored
            .lock()
            .expect("lock")
            .values()
            .all(|r| r.unit == "V")
    );
    agent.task.abort();
    sim_stop.cancel();
    server.stop.cancel();
}

#[tokio::test]
async fn a_refused_token_is_reported_and_retried_slowly() {
    let (addr, _dmm, sim_stop) = scpi_sim(&[5.0], 0.0, 0.0, None).await;
    let server = FakeServer::start("V").await;
    server.state.revoked.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = settings(&server.url(), addr, dir.path(), 20)
        .resolve()
        .expect("valid");
    let stop = CancellationToken::new();
    let agent = runner::start(config, fast_timing(), stop.clone()).expect("starts");
    let mut link = agent.shared.link.subscribe();
    wait_until(
        5,
        "the refusal",
        || matches!(&*link.borrow_and_update(), LinkState::Refused(r) if r.contains("401")),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    // Slow retries (0.3 s, then up to 0.6 s in this test): a few attempts,
    // not the dozens the normal backoff (0.05 s) would make.
    let attempts = server.state.unauthorized.load(Ordering::SeqCst);
    assert!((1..=4).contains(&attempts), "{attempts} attempts");
    // Readings are taken and kept meanwhile.
    assert!(*agent.shared.written.borrow() > 0);

    // The token is restored: the queue drains.
    server.state.revoked.store(false, Ordering::SeqCst);
    wait_until(10, "uploads", || server.count() >= 10).await;
    // Revoked while connected: close code 4002.
    server.state.revoked.store(true, Ordering::SeqCst);
    wait_until(5, "the 4002 refusal", || {
        matches!(&*link.borrow_and_update(), LinkState::Refused(r) if r.contains("4002") || r.contains("401"))
    })
    .await;
    stop.cancel();
    agent.task.await.expect("joins").expect("stops cleanly");
    sim_stop.cancel();
    server.stop.cancel();
}

#[tokio::test]
async fn batches_respect_the_servers_limit_and_catch_up_after_an_outage() {
    let instrument = counter().await;
    let server = FakeServer::start_with("V", Uuid::from_u128(0xD1), 7).await;
    server.state.revoked.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = settings(&server.url(), instrument.addr, dir.path(), 10)
        .resolve()
        .expect("valid");
    let stop = CancellationToken::new();
    let agent = runner::start(config, fast_timing(), stop.clone()).expect("starts");
    // An outage: readings pile up in the queue…
    wait_until(10, "a backlog", || *agent.shared.written.borrow() >= 60).await;
    server.state.revoked.store(false, Ordering::SeqCst);
    // …and go up in batches of at most 7 (the fake server asserts it).
    wait_until(15, "the backlog uploaded", || server.count() >= 60).await;
    stop.cancel();
    agent.task.await.expect("joins").expect("stops cleanly");
    assert_counted_in_order(&server);
    instrument.stop.cancel();
    server.stop.cancel();
}

fn spawn_agent(server: &FakeServer, instrument: std::net::SocketAddr, queue: &Path) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_jiliang-agent"))
        .args(["run", "--server", &server.url(), "--queue"])
        .arg(queue)
        .args([
            "--scpi",
            &instrument.to_string(),
            "--query",
            "READ?",
            "--unit",
            "V",
            "--interval-ms",
            "10",
        ])
        .env("JILIANG_AGENT_TOKEN", "tok-1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawns the agent");
    Child(child)
}

// Multi-threaded: waiting for the child blocks a thread, and the fake
// server must keep answering meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_restarts_where_it_left_off() {
    let instrument = counter().await;
    let server = FakeServer::start("V").await;
    let dir = tempfile::tempdir().expect("tempdir");

    let mut agent = spawn_agent(&server, instrument.addr, dir.path());
    wait_until(20, "30 stored readings", || server.count() >= 30).await;
    // kill -9: no chance to flush anything.
    agent.0.kill().expect("kills");
    agent.0.wait().expect("reaps");
    let before = server.count();

    let mut agent = spawn_agent(&server, instrument.addr, dir.path());
    wait_until(20, "more readings after the restart", || {
        server.count() >= before + 30
    })
    .await;
    // SIGTERM (or Ctrl-C): a clean stop with status 0.
    #[cfg(unix)]
    {
        let pid = agent.0.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("runs kill");
        assert!(status.success());
        let exit = agent.0.wait().expect("reaps");
        assert!(exit.success(), "{exit}");
    }
    drop(agent);
    // Whatever was taken and not yet sent is still queued: a third start,
    // with the instrument silent, sends it.
    instrument.silent.store(true, Ordering::SeqCst);
    let taken = jiliang_agent::queue::inspect(dir.path())
        .expect("inspects")
        .last_seq;
    assert!(taken >= server.count() as u64);
    let agent = spawn_agent(&server, instrument.addr, dir.path());
    wait_until(20, "every taken reading stored", || {
        server.count() as u64 == taken
    })
    .await;
    drop(agent);
    // Seqs 1…N without a gap, the counter's values in order.
    assert_eq!(server.seqs(), (1..=taken).collect::<Vec<_>>());
    assert_counted_in_order(&server);
    instrument.stop.cancel();
    server.stop.cancel();
}

/// CPU and memory of the agent streaming at 10 Hz (printed; run with
/// `cargo test -p jiliang-agent --test agent -- --ignored --nocapture
/// measure`). `JILIANG_AGENT_BIN` picks another build (e.g. release).
#[cfg(target_os = "linux")]
#[tokio::test]
#[ignore = "a measurement, not a check"]
async fn measure_streaming_cost_at_10_hz() {
    let (addr, _dmm, sim_stop) = scpi_sim(&[10.0], 1e-5, 0.0, None).await;
    let server = FakeServer::start("V").await;
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir on the real disk");
    let bin = std::env::var("JILIANG_AGENT_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_jiliang-agent").to_owned());
    let child = Command::new(&bin)
        .args(["run", "--server", &server.url(), "--queue"])
        .arg(dir.path())
        .args([
            "--scpi",
            &addr.to_string(),
            "--query",
            "MEAS:VOLT:DC?",
            "--interval-ms",
            "100",
        ])
        .env("JILIANG_AGENT_TOKEN", "tok-1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("spawns");
    let agent = Child(child);
    let pid = agent.0.id();
    let ticks = || -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        let after = stat.rsplit_once(')').expect("comm").1;
        let f: Vec<&str> = after.split_whitespace().collect();
        f[11].parse::<f64>().expect("utime") + f[12].parse::<f64>().expect("stime")
    };
    let status = |key: &str| -> String {
        let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        s.lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_default()
            .to_owned()
    };
    // Warm up (connection, clock burst), then measure.
    wait_until(20, "streaming", || server.count() >= 20).await;
    let secs = std::env::var("MEASURE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60u64);
    let (c0, n0, t0) = (ticks(), server.count(), std::time::Instant::now());
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let (c1, n1, el) = (ticks(), server.count(), t0.elapsed().as_secs_f64());
    // Clock ticks are 1/100 s on Linux.
    let cpu = (c1 - c0) / 100.0 / el * 100.0;
    println!(
        "agent {bin}: {:.1} readings/s stored over {el:.0} s, CPU {cpu:.2} % of one core, {}, {}",
        (n1 - n0) as f64 / el,
        status("VmRSS")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        status("VmHWM")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    );
    drop(agent);
    sim_stop.cancel();
    server.stop.cancel();
}
