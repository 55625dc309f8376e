//! Helpers: in-process simulators, a counting instrument, the fake server
//! speaking the agent protocol, the Python peers, and waiting.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use jiliang_agent::sim::{FaultMode, Signal, SignalArgs, SignalDefaults};
use jiliang_agent::uplink::Timing;
use jiliang_protocol::devices::{
    AgentError, AgentFrame, AgentServerFrame, AgentStatus, BatchAck, DeviceReading, Welcome,
    check_batch,
};
use jiliang_protocol::timesync::TimePong;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub fn signal(levels: &[f64], noise: f64, offset: f64) -> Signal {
    let args = SignalArgs {
        levels: Some(levels.to_vec()),
        dwell_s: 3600.0,
        noise: Some(noise),
        offset: Some(offset),
        drift_per_hour: Some(0.0),
        seed: Some(42),
        serial_number: "T1".into(),
        fault: FaultMode::None,
    };
    let d = SignalDefaults {
        levels: &[0.0],
        noise: 0.0,
        offset: 0.0,
        drift_per_hour: 0.0,
    };
    Signal::new(&args, d).expect("valid signal")
}

/// An in-process SCPI multimeter on 127.0.0.1:0 (or `addr`).
pub async fn scpi_sim(
    levels: &[f64],
    noise: f64,
    offset: f64,
    addr: Option<SocketAddr>,
) -> (
    SocketAddr,
    Arc<jiliang_agent::sim::scpi::Dmm>,
    CancellationToken,
) {
    let dmm = Arc::new(jiliang_agent::sim::scpi::Dmm::new(
        signal(levels, noise, offset),
        FaultMode::None,
        "T1".into(),
    ));
    // Rebinding a port just closed may take a moment on a loaded machine.
    let want = addr.unwrap_or_else(|| "127.0.0.1:0".parse().expect("addr"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let l = loop {
        match TcpListener::bind(want).await {
            Ok(l) => break l,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "cannot bind {want}: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let a = l.local_addr().expect("addr");
    let stop = CancellationToken::new();
    tokio::spawn(jiliang_agent::sim::scpi::serve_tcp(
        l,
        dmm.clone(),
        stop.clone(),
    ));
    (a, dmm, stop)
}

/// An in-process Modbus transmitter on 127.0.0.1:0.
pub async fn modbus_sim(
    level: f64,
) -> (
    SocketAddr,
    Arc<jiliang_agent::sim::modbus::Transmitter>,
    CancellationToken,
) {
    let tx = Arc::new(jiliang_agent::sim::modbus::Transmitter::new(
        signal(&[level], 0.0, 0.0),
        FaultMode::None,
        1,
        "PT1".into(),
    ));
    let l = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let a = l.local_addr().expect("addr");
    let stop = CancellationToken::new();
    tokio::spawn(jiliang_agent::sim::modbus::serve_tcp(
        l,
        tx.clone(),
        stop.clone(),
    ));
    (a, tx, stop)
}

/// A SCPI instrument whose readings count 1, 2, 3, … (each value answered
/// once), so a test can tell exactly which readings reached the server and
/// in what order. `answered` holds every value it sent.
pub struct Counter {
    pub addr: SocketAddr,
    pub answered: Arc<Mutex<Vec<u64>>>,
    pub silent: Arc<AtomicBool>,
    pub stop: CancellationToken,
}

pub async fn counter() -> Counter {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = l.local_addr().expect("addr");
    let answered = Arc::new(Mutex::new(Vec::new()));
    let silent = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(1));
    let stop = CancellationToken::new();
    let (a, s, st) = (answered.clone(), silent.clone(), stop.clone());
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                _ = st.cancelled() => return,
                r = l.accept() => match r { Ok(x) => x, Err(_) => continue },
            };
            let (a, s, next, st) = (a.clone(), s.clone(), next.clone(), st.clone());
            tokio::spawn(async move {
                let mut io = BufReader::new(stream);
                let mut line = String::new();
                loop {
                    line.clear();
                    let n = tokio::select! {
                        _ = st.cancelled() => return,
                        r = io.read_line(&mut line) => r.unwrap_or(0),
                    };
                    if n == 0 {
                        return;
                    }
                    if s.load(Ordering::SeqCst) {
                        continue;
                    }
                    let q = line.trim().to_ascii_uppercase();
                    let reply = if q == "*IDN?" {
                        "TEST,COUNTER,1,1".to_owned()
                    } else if q.starts_with("SYST:ERR") {
                        "+0,\"No error\"".to_owned()
                    } else {
                        // Lock order: count and record together, so
                        // `answered` is in the order values were sent.
                        let mut rec = a.lock().expect("lock");
                        let v = next.fetch_add(1, Ordering::SeqCst);
                        rec.push(v);
                        v.to_string()
                    };
                    if io
                        .get_mut()
                        .write_all(format!("{reply}\n").as_bytes())
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    Counter {
        addr,
        answered,
        silent,
        stop,
    }
}

/// How the fake server misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// Close the socket on receiving the batch, before storing it.
    BeforeStore,
    /// Store the batch, then close the socket without acknowledging.
    AfterStore,
}

/// A server speaking the agent protocol, keeping readings in memory.
pub struct FakeServer {
    pub addr: SocketAddr,
    pub state: Arc<ServerState>,
    pub stop: CancellationToken,
}

pub struct ServerState {
    pub device_id: Mutex<Uuid>,
    pub token: String,
    pub unit: String,
    pub revoked: AtomicBool,
    pub stored: Mutex<BTreeMap<u64, DeviceReading>>,
    pub duplicates: AtomicU64,
    pub batches: AtomicU64,
    pub connections: AtomicU64,
    pub unauthorized: AtomicU64,
    pub statuses: Mutex<Vec<AgentStatus>>,
    pub hellos: Mutex<Vec<jiliang_protocol::devices::AgentHello>>,
    pub pongs: AtomicU64,
    /// `welcome.last_seq` when nothing is stored.
    pub initial_last_seq: AtomicU64,
    /// Any batch holding one of these is refused, naming it.
    pub refuse: Mutex<Vec<u64>>,
    /// Every n-th batch (n > 0) triggers a drop, alternating the kind.
    pub drop_every: AtomicU64,
    pub drops: AtomicU64,
    /// Read every frame, answer none, keep the socket open: a dead route.
    pub mute: AtomicBool,
    pub max_batch: u32,
}

impl FakeServer {
    pub async fn start(unit: &str) -> Self {
        Self::start_with(unit, Uuid::from_u128(0xD1), 1000).await
    }

    pub async fn start_with(unit: &str, device_id: Uuid, max_batch: u32) -> Self {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = l.local_addr().expect("addr");
        let state = Arc::new(ServerState {
            device_id: Mutex::new(device_id),
            token: "tok-1".into(),
            unit: unit.into(),
            revoked: AtomicBool::new(false),
            stored: Mutex::new(BTreeMap::new()),
            duplicates: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            unauthorized: AtomicU64::new(0),
            statuses: Mutex::new(Vec::new()),
            hellos: Mutex::new(Vec::new()),
            pongs: AtomicU64::new(0),
            initial_last_seq: AtomicU64::new(0),
            refuse: Mutex::new(Vec::new()),
            drop_every: AtomicU64::new(0),
            drops: AtomicU64::new(0),
            mute: AtomicBool::new(false),
            max_batch,
        });
        let stop = CancellationToken::new();
        let (st, s2) = (state.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    _ = s2.cancelled() => return,
                    r = l.accept() => match r { Ok(x) => x, Err(_) => continue },
                };
                let (st, s3) = (st.clone(), s2.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        _ = s3.cancelled() => {}
                        _ = serve(stream, st) => {}
                    }
                });
            }
        });
        Self { addr, state, stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seqs(&self) -> Vec<u64> {
        self.state
            .stored
            .lock()
            .expect("lock")
            .keys()
            .copied()
            .collect()
    }

    pub fn count(&self) -> usize {
        self.state.stored.lock().expect("lock").len()
    }
}

// The handshake callback's signature is tungstenite's.
#[allow(clippy::result_large_err)]
async fn serve(stream: tokio::net::TcpStream, st: Arc<ServerState>) {
    let auth_ok = {
        let st = st.clone();
        move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
            let want = format!("Bearer {}", st.token);
            let ok = req.uri().path() == "/api/v1/agent/ws"
                && req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    == Some(want.as_str())
                && !st.revoked.load(Ordering::SeqCst);
            if ok {
                Ok(resp)
            } else {
                st.unauthorized.fetch_add(1, Ordering::SeqCst);
                let mut e = ErrorResponse::new(Some(
                    r#"{"code":"unauthenticated","message":"unknown or revoked device token"}"#
                        .into(),
                ));
                *e.status_mut() = StatusCode::UNAUTHORIZED;
                Err(e)
            }
        }
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, auth_ok).await else {
        return;
    };
    st.connections.fetch_add(1, Ordering::SeqCst);
    let text = |f: &AgentServerFrame| Message::text(serde_json::to_string(f).expect("serialises"));
    let mut welcomed = false;
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(t) = msg else { continue };
        if st.mute.load(Ordering::SeqCst) {
            continue;
        }
        if st.revoked.load(Ordering::SeqCst) {
            let _ = ws
                .send(Message::Close(Some(CloseFrame {
                    code: 4002.into(),
                    reason: "token revoked".into(),
                })))
                .await;
            return;
        }
        let frame: AgentFrame = serde_json::from_str(&t).expect("the agent sends valid frames");
        match frame {
            AgentFrame::Hello(h) => {
                assert!(!welcomed, "one hello per connection");
                welcomed = true;
                st.hellos.lock().expect("lock").push(h);
                let last_seq = st
                    .stored
                    .lock()
                    .expect("lock")
                    .keys()
                    .next_back()
                    .copied()
                    .unwrap_or_else(|| st.initial_last_seq.load(Ordering::SeqCst));
                let w = Welcome {
                    device_id: *st.device_id.lock().expect("lock"),
                    lab_id: Uuid::from_u128(0x1AB),
                    name: "test device".into(),
                    quantity: "voltage".into(),
                    unit: st.unit.clone(),
                    last_seq,
                    max_batch: st.max_batch,
                    future_tolerance_s: 10.0,
                    past_tolerance_s: 86_400.0,
                };
                if ws.send(text(&AgentServerFrame::Welcome(w))).await.is_err() {
                    return;
                }
            }
            AgentFrame::Ping(p) => {
                assert!(welcomed, "hello comes first");
                let now = jiliang_agent::util::now_ms();
                st.pongs.fetch_add(1, Ordering::SeqCst);
                let pong = TimePong {
                    id: p.id,
                    t0: p.t0,
                    t1: now,
                    t2: now,
                };
                if ws.send(text(&AgentServerFrame::Pong(pong))).await.is_err() {
                    return;
                }
            }
            AgentFrame::Status(s) => st.statuses.lock().expect("lock").push(s),
            AgentFrame::Readings(b) => {
                assert!(welcomed, "hello comes first");
                assert!(
                    b.readings.len() <= st.max_batch as usize,
                    "batch within the server's max_batch"
                );
                let n = st.batches.fetch_add(1, Ordering::SeqCst) + 1;
                let every = st.drop_every.load(Ordering::SeqCst);
                let drop = (every > 0 && n.is_multiple_of(every)).then(|| {
                    if st.drops.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
                        Drop::BeforeStore
                    } else {
                        Drop::AfterStore
                    }
                });
                if drop == Some(Drop::BeforeStore) {
                    return;
                }
                let now = time::OffsetDateTime::now_utc();
                if let Err(p) = check_batch(&b.readings, &st.unit, now, 10.0, 86_400.0) {
                    let e = AgentError {
                        code: "invalid_input".into(),
                        message: p.to_string(),
                        seq: p.seq,
                    };
                    if ws.send(text(&AgentServerFrame::Error(e))).await.is_err() {
                        return;
                    }
                    continue;
                }
                let refused = st
                    .refuse
                    .lock()
                    .expect("lock")
                    .iter()
                    .copied()
                    .find(|s| b.readings.iter().any(|r| r.seq == *s));
                if let Some(seq) = refused {
                    let e = AgentError {
                        code: "invalid_input".into(),
                        message: format!("reading seq {seq}: refused by the test"),
                        seq: Some(seq),
                    };
                    if ws.send(text(&AgentServerFrame::Error(e))).await.is_err() {
                        return;
                    }
                    continue;
                }
                let (mut stored, mut dups) = (0u32, 0u32);
                {
                    let mut db = st.stored.lock().expect("lock");
                    for r in &b.readings {
                        match db.entry(r.seq) {
                            std::collections::btree_map::Entry::Occupied(_) => dups += 1,
                            std::collections::btree_map::Entry::Vacant(v) => {
                                v.insert(r.clone());
                                stored += 1;
                            }
                        }
                    }
                }
                st.duplicates.fetch_add(u64::from(dups), Ordering::SeqCst);
                if drop == Some(Drop::AfterStore) {
                    return;
                }
                let through = b.readings.last().map_or(0, |r| r.seq);
                let ack = BatchAck {
                    through,
                    stored,
                    duplicates: dups,
                };
                if ws.send(text(&AgentServerFrame::Ack(ack))).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Timing for tests: quick retries, frequent status.
pub fn fast_timing() -> Timing {
    Timing {
        status_every: Duration::from_millis(200),
        ping_every: Duration::from_millis(500),
        retry: (Duration::from_millis(50), Duration::from_millis(200)),
        retry_revoked: (Duration::from_millis(300), Duration::from_millis(600)),
        silence: Duration::from_millis(1500),
    }
}

/// Poll `f` every 20 ms until it holds or `secs` pass.
pub async fn wait_until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The Python of tests/.venv, or `None` (with a message saying the test is
/// skipped) when scripts/test has not created it.
pub fn venv_python(test: &str) -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let py = if cfg!(windows) {
        root.join("tests/.venv/Scripts/python.exe")
    } else {
        root.join("tests/.venv/bin/python")
    };
    if py.exists() {
        Some(py)
    } else {
        println!(
            "SKIPPED {test}: tests/.venv is missing (scripts/test creates it with the pinned peers from tests/peers/requirements.txt)"
        );
        None
    }
}

pub fn peer_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/peers")
        .join(name)
}

/// A free TCP port on 127.0.0.1 (for peers that cannot report theirs).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A child process killed when dropped.
pub struct Child(pub std::process::Child);

impl std::ops::Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait until something accepts TCP connections on `port`.
pub async fn wait_port(port: u16, secs: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing listens on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
