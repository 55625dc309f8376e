//! Load harness for Jiliang rooms.
//!
//! Runs the same three loads against the product server (`jiliang serve`,
//! with storage, auth and ordering) and against a bare fan-out baseline (one
//! broadcast channel per room, nothing else) in one run on one machine, so
//! the ratio shows what storage and checks cost:
//!
//! - **rooms**: 200 rooms × 5 clients, each client sending 2 messages/s;
//! - **fanout**: one room, one sender at 100 messages/s, 200 receivers;
//! - **idle**: 5 000 idle connections, server memory per connection;
//! - **instruments** (product only): 500 live sessions, each with 2 agents
//!   at 10 Hz and 5 viewers; see `instruments`;
//! - **media** (product only, run when named: `--only media`): one 500
//!   kbit/s VP8 publisher forwarded by the SFU to 0, 1, 10, 50 and 150
//!   WebRTC subscribers, server CPU and memory per subscriber stream; see
//!   `media`.
//!
//! Loopback only, bounded in time and count. Latency is receive time minus
//! the send time carried in each message (same clock: one machine).
//! Usage: `scripts/load` (builds release binaries, raises the file limit).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, broadcast};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

mod instruments;
mod media;

#[derive(Parser)]
#[command(
    name = "jiliang-load",
    about = "Load harness: product rooms vs a bare fan-out baseline"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every load against both servers and print the comparison.
    Run(RunArgs),
    /// The bare baseline server (started by `run`).
    BaselineServer {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
    },
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// The `jiliang` binary to measure.
    #[arg(long, default_value = "target/release/jiliang")]
    jiliang: PathBuf,
    /// Seconds each traffic load runs.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    #[arg(long, default_value_t = 200)]
    rooms: usize,
    #[arg(long, default_value_t = 5)]
    clients_per_room: usize,
    #[arg(long, default_value_t = 200)]
    fanout_receivers: usize,
    #[arg(long, default_value_t = 100)]
    fanout_rate: u32,
    #[arg(long, default_value_t = 5000)]
    idle: usize,
    /// Only these loads (rooms, fanout, idle, instruments, media); default
    /// all but media, which runs only when named.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    #[command(flatten)]
    instruments: instruments::Args,
    #[command(flatten)]
    media: media::MediaArgs,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn ws_config() -> WebSocketConfig {
    // The same small buffers on both servers and on the clients, so many
    // connections fit on one machine and the comparison is fair.
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
}

// ---------------------------------------------------------------- baseline

async fn baseline_server(listen: String) {
    let listener = match TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            std::process::exit(1);
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    println!("baseline listening on http://{addr}/");
    let rooms: Arc<std::sync::Mutex<HashMap<String, broadcast::Sender<String>>>> = Arc::default();
    while let Ok((stream, _)) = listener.accept().await {
        // As the product server does: small frames, no Nagle delay.
        let _ = stream.set_nodelay(true);
        let rooms = rooms.clone();
        tokio::spawn(async move {
            let mut path = String::new();
            // The callback's error type is the library's; it is never used here.
            #[allow(clippy::result_large_err)]
            let cb =
                |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
                 res: tokio_tungstenite::tungstenite::handshake::server::Response| {
                    path = req.uri().path().to_owned();
                    Ok(res)
                };
            let Ok(ws) =
                tokio_tungstenite::accept_hdr_async_with_config(stream, cb, Some(ws_config()))
                    .await
            else {
                return;
            };
            let tx = {
                let mut r = rooms
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                r.entry(path)
                    .or_insert_with(|| broadcast::channel(1024).0)
                    .clone()
            };
            let mut rx = tx.subscribe();
            let (mut sink, mut stream) = ws.split();
            loop {
                tokio::select! {
                    m = stream.next() => match m {
                        Some(Ok(Message::Text(t))) => { let _ = tx.send(t.to_string()); }
                        Some(Ok(_)) => {}
                        _ => return,
                    },
                    m = rx.recv() => match m {
                        Ok(t) => if sink.send(Message::text(t)).await.is_err() { return },
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => return,
                    },
                }
            }
        });
    }
}

// ----------------------------------------------------------------- targets

/// A server under test.
struct Server {
    base: String,
    child: tokio::process::Child,
    kind: Kind,
    _dir: Option<PathBuf>,
}

#[derive(Clone)]
enum Kind {
    Baseline,
    Product { cookies: Vec<String>, host: String },
}

impl Server {
    fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }
}

async fn spawn_and_read_url(mut cmd: tokio::process::Command) -> (tokio::process::Child, String) {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("start server");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next_line()
            .await
            .expect("read")
            .expect("server printed its address");
        if let Some(i) = line.find("http://") {
            let rest = &line[i..];
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            break rest[..end].trim_end_matches('/').to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

async fn start_baseline() -> Server {
    let exe = std::env::current_exe().expect("own path");
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(["baseline-server"]);
    let (child, base) = spawn_and_read_url(cmd).await;
    Server {
        base,
        child,
        kind: Kind::Baseline,
        _dir: None,
    }
}

async fn start_product(args: &RunArgs) -> Server {
    start_product_with(args, &[]).await
}

/// The product server with `extra` arguments to `jiliang serve`.
async fn start_product_with(args: &RunArgs, extra: &[&str]) -> Server {
    let dir = std::env::temp_dir().join(format!("jiliang-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let db = format!("sqlite://{}", dir.join("load.db").display());
    let seed = tokio::process::Command::new(&args.jiliang)
        .args(["seed-demo", "--database-url", &db])
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("seed-demo");
    assert!(seed.status.success(), "seed-demo failed");
    let mut cmd = tokio::process::Command::new(&args.jiliang);
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &db,
        "--static-dir",
        "dist",
        "--chat-rate",
        "1000",
        // Every client logs in as one of two demo people: lift the
        // per-person socket caps that would otherwise refuse them.
        "--sockets-per-person",
        "10000",
        "--room-sockets-per-person",
        "1000",
    ])
    .args(extra)
    .env("RUST_LOG", "warn");
    let (child, base) = spawn_and_read_url(cmd).await;
    let http = reqwest::Client::new();
    let login = |user: &'static str| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let res = http
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"login": user, "password": "Jiliang-demo-2026"}))
                .send()
                .await
                .expect("login");
            let cookie = res
                .headers()
                .get("set-cookie")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .expect("cookie")
                .to_owned();
            let body: Value = res.json().await.expect("json");
            (
                cookie,
                body["csrf_token"].as_str().unwrap_or_default().to_owned(),
            )
        }
    };
    let (host, _) = login("expert").await;
    let mut cookies = Vec::new();
    for u in ["tech", "trainee"] {
        cookies.push(login(u).await.0);
    }
    Server {
        base,
        child,
        kind: Kind::Product { cookies, host },
        _dir: Some(dir),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(d) = &self._dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Rooms on a server: product sessions (created via the API) or baseline paths.
async fn make_rooms(server: &Server, n: usize) -> Vec<String> {
    match &server.kind {
        Kind::Baseline => (0..n).map(|i| format!("/room/{i}")).collect(),
        Kind::Product { host, .. } => {
            let http = reqwest::Client::new();
            let me: Value = http
                .get(format!("{}/api/v1/auth/me", server.base))
                .header("cookie", host)
                .send()
                .await
                .expect("me")
                .json()
                .await
                .expect("json");
            let csrf = me["csrf_token"].as_str().unwrap_or_default().to_owned();
            let labs: Value = http
                .get(format!("{}/api/v1/institutions", server.base))
                .header("cookie", host)
                .send()
                .await
                .expect("institutions")
                .json()
                .await
                .expect("json");
            let qinan = labs
                .as_array()
                .and_then(|l| l.iter().find(|i| i["name_zh"] == "秦安县计量检定所"))
                .and_then(|i| i["id"].as_str())
                .expect("demo lab")
                .to_owned();
            let start = time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let res: Value = http
                    .post(format!("{}/api/v1/sessions", server.base))
                    .header("cookie", host)
                    .header("x-csrf-token", &csrf)
                    .json(
                        &json!({"title": format!("负载 {i}"), "scheduled_start": start,
                                  "duration_minutes": 60, "lab_ids": [qinan]}),
                    )
                    .send()
                    .await
                    .expect("create session")
                    .json()
                    .await
                    .expect("json");
                out.push(format!(
                    "/api/v1/sessions/{}/ws",
                    res["id"].as_str().expect("id")
                ));
            }
            out
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &Server, room: &str, n: usize) -> Ws {
    let url = format!("{}{room}", server.base.replace("http://", "ws://"));
    let mut req = url.into_client_request().expect("request");
    if let Kind::Product { cookies, .. } = &server.kind {
        req.headers_mut().insert(
            "cookie",
            cookies[n % cookies.len()].parse().expect("header"),
        );
    }
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(ws_config()), true)
        .await
        .expect("connect");
    if let Kind::Product { .. } = server.kind {
        ws.send(Message::text(
            json!({"type":"join","protocol":jiliang_protocol::rooms::PROTOCOL_VERSION,"last_seq":u64::MAX}).to_string(),
        ))
        .await
        .expect("join");
        // Wait for the snapshot: the connection is in the room from here on.
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Text(t) = m
                && t.contains("\"snapshot\"")
            {
                break;
            }
        }
    }
    ws
}

/// The payload a sender sends: "<sender> <send-time-µs>".
fn encode(kind: &Kind, sender: usize, seq: u64) -> Message {
    let text = format!("{sender} {} {seq}", now_us());
    match kind {
        Kind::Baseline => Message::text(text),
        Kind::Product { .. } => Message::text(
            json!({"type":"chat","client_id":format!("{sender}-{seq}"),"text":text}).to_string(),
        ),
    }
}

/// What a received frame says: the room sequence number of a stored event
/// (product only), and for a load message its sender, the sender's own
/// counter and the send time.
#[derive(Default)]
struct Received {
    room_seq: Option<u64>,
    load: Option<(usize, u64, u64)>,
}

fn decode(kind: &Kind, frame: &str) -> Received {
    let parse_load = |text: &str| {
        let mut parts = text.split(' ');
        let sender = parts.next()?.parse().ok()?;
        let sent_at = parts.next()?.parse().ok()?;
        let seq = parts.next()?.parse().ok()?;
        Some((sender, seq, sent_at))
    };
    match kind {
        Kind::Baseline => Received {
            room_seq: None,
            load: parse_load(frame),
        },
        Kind::Product { .. } => {
            let Ok(v) = serde_json::from_str::<Value>(frame) else {
                return Received::default();
            };
            if v["type"] != "event" {
                return Received::default();
            }
            Received {
                room_seq: v["seq"].as_u64(),
                load: (v["body"]["kind"] == "chat")
                    .then(|| v["body"]["text"].as_str().and_then(parse_load))
                    .flatten(),
            }
        }
    }
}

/// Per receiver: every sender's messages must arrive once each, in the
/// order sent, and (product) the room's events with no gap in their
/// sequence numbers. Anything else is counted as disorder.
#[derive(Default)]
struct OrderCheck {
    last_by_sender: HashMap<usize, u64>,
    last_room_seq: Option<u64>,
}

impl OrderCheck {
    /// Returns how many violations this frame shows (0 or more).
    fn check(&mut self, r: &Received) -> u64 {
        let mut bad = 0;
        if let Some(seq) = r.room_seq {
            if self.last_room_seq.is_some_and(|last| seq != last + 1) {
                bad += 1;
            }
            self.last_room_seq = Some(seq);
        }
        if let Some((sender, seq, _)) = r.load {
            let last = self.last_by_sender.entry(sender).or_insert(0);
            if seq != *last + 1 {
                bad += 1;
            }
            *last = (*last).max(seq);
        }
        bad
    }
}

struct Outcome {
    sent: u64,
    expected: u64,
    delivered: u64,
    /// Gaps, duplicates or reorderings seen by any receiver.
    disorder: u64,
    hist: Histogram<u64>,
    seconds: f64,
}

/// `rooms` rooms of `per_room` clients; `senders_per_room` of them send at
/// `rate` messages/s each for `seconds`.
async fn traffic(
    server: &Server,
    rooms: usize,
    per_room: usize,
    senders_per_room: usize,
    rate: u32,
    seconds: u64,
) -> Outcome {
    let room_paths = make_rooms(server, rooms).await;
    let delivered = Arc::new(AtomicU64::new(0));
    let disorder = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let hists: Arc<Mutex<Vec<Histogram<u64>>>> = Arc::default();
    // Watch channels, not Notify: a task busy sending when the stop comes
    // must still see it afterwards.
    let (stop_send_tx, stop_send) = tokio::sync::watch::channel(false);
    let (stop_recv_tx, stop_recv) = tokio::sync::watch::channel(false);
    // Senders wait until every client is in its room: a message sent before
    // a receiver joined could not count as lost.
    let go = Arc::new(tokio::sync::Barrier::new(rooms * senders_per_room + 1));
    let mut receivers = Vec::new();
    let mut senders = Vec::new();
    let mut n = 0;
    for path in &room_paths {
        for c in 0..per_room {
            let ws = connect(server, path, n).await;
            let (mut sink, mut stream) = ws.split();
            let kind = server.kind.clone();
            let (delivered, disorder, hists, mut stop) = (
                delivered.clone(),
                disorder.clone(),
                hists.clone(),
                stop_recv.clone(),
            );
            receivers.push(tokio::spawn(async move {
                let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
                let mut order = OrderCheck::default();
                loop {
                    let m = tokio::select! {
                        _ = stop.changed() => break,
                        m = stream.next() => m,
                    };
                    match m {
                        Some(Ok(Message::Text(t))) => {
                            let r = decode(&kind, &t);
                            let bad = order.check(&r);
                            if bad > 0 {
                                disorder.fetch_add(bad, Ordering::Relaxed);
                            }
                            if let Some((_, _, sent_at)) = r.load {
                                let _ = h.record(now_us().saturating_sub(sent_at).max(1));
                                delivered.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    }
                }
                hists.lock().await.push(h);
            }));
            if c < senders_per_room {
                let (sent, mut stop, go) = (sent.clone(), stop_send.clone(), go.clone());
                let sender = n;
                let kind = server.kind.clone();
                senders.push(tokio::spawn(async move {
                    go.wait().await;
                    // Spread senders evenly over the period: each one's
                    // schedule starts at its own offset (an interval created
                    // before the offset would fire everyone in step).
                    let period = Duration::from_secs_f64(1.0 / f64::from(rate));
                    let span = u64::try_from(period.as_micros()).unwrap_or(1).max(1);
                    let offset = Duration::from_micros((sender as u64 * 7919) % span);
                    let mut tick =
                        tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
                    let mut seq = 0;
                    loop {
                        tokio::select! {
                            _ = stop.changed() => break,
                            _ = tick.tick() => {
                                seq += 1;
                                if sink.send(encode(&kind, sender, seq)).await.is_err() { break; }
                                sent.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    sink
                }));
            }
            n += 1;
        }
    }
    go.wait().await;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let _ = stop_send_tx.send(true);
    let mut sinks = Vec::new();
    for s in senders {
        if let Ok(sink) = s.await {
            sinks.push(sink);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let sent = sent.load(Ordering::Relaxed);
    let expected = sent * per_room as u64;
    // Let the last messages arrive.
    let deadline = Instant::now() + Duration::from_secs(10);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop_recv_tx.send(true);
    for r in receivers {
        let _ = r.await;
    }
    for mut s in sinks {
        let _ = s.close().await;
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    for h in hists.lock().await.iter() {
        let _ = hist.add(h);
    }
    Outcome {
        sent,
        expected,
        delivered: delivered.load(Ordering::Relaxed),
        disorder: disorder.load(Ordering::Relaxed),
        hist,
        seconds: elapsed,
    }
}

async fn idle(server: &Server, n: usize) -> (u64, u64) {
    let rooms = make_rooms(server, (n / 100).max(1)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = server.rss_kib().unwrap_or(0);
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        conns.push(connect(server, &rooms[i % rooms.len()], i).await);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = server.rss_kib().unwrap_or(0);
    drop(conns);
    (before, after)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn report(name: &str, server: &str, o: &Outcome) -> Value {
    let loss = o.expected.saturating_sub(o.delivered);
    let row = json!({
        "load": name, "server": server, "sent": o.sent, "expected": o.expected, "delivered": o.delivered,
        "lost": loss, "out_of_order": o.disorder, "delivered_per_s": (o.delivered as f64 / o.seconds).round(),
        "p50_ms": ms(o.hist.value_at_quantile(0.5)), "p99_ms": ms(o.hist.value_at_quantile(0.99)),
        "max_ms": ms(o.hist.max()),
    });
    println!(
        "{name:<7} {server:<8} sent {:>7}  delivered {:>8}/{:<8} lost {:>5}  out of order {:>3}  {:>8.0} msg/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms",
        o.sent,
        o.delivered,
        o.expected,
        loss,
        o.disorder,
        o.delivered as f64 / o.seconds,
        ms(o.hist.value_at_quantile(0.5)),
        ms(o.hist.value_at_quantile(0.99)),
        ms(o.hist.max())
    );
    row
}

async fn run(args: RunArgs) {
    let want = |l: &str| args.only.is_empty() || args.only.iter().any(|o| o == l);
    let mut rows = Vec::new();
    for which in ["baseline", "product"] {
        let start = || async {
            if which == "baseline" {
                start_baseline().await
            } else {
                start_product(&args).await
            }
        };
        if want("rooms") {
            let s = start().await;
            let o = traffic(
                &s,
                args.rooms,
                args.clients_per_room,
                args.clients_per_room,
                2,
                args.seconds,
            )
            .await;
            rows.push(report("rooms", which, &o));
        }
        if want("fanout") {
            let s = start().await;
            let o = traffic(
                &s,
                1,
                args.fanout_receivers + 1,
                1,
                args.fanout_rate,
                args.seconds,
            )
            .await;
            rows.push(report("fanout", which, &o));
        }
        if want("idle") {
            let s = start().await;
            let (before, after) = idle(&s, args.idle).await;
            let per = (after.saturating_sub(before)) as f64 * 1024.0 / args.idle as f64;
            println!(
                "idle    {which:<8} {} connections: RSS {before} KiB → {after} KiB, {:.1} KiB per connection",
                args.idle,
                per / 1024.0
            );
            rows.push(json!({"load": "idle", "server": which, "connections": args.idle,
                             "rss_before_kib": before, "rss_after_kib": after, "bytes_per_connection": per.round()}));
        }
    }
    if want("instruments") {
        let s = start_product(&args).await;
        rows.push(instruments::run(s, &args.instruments, args.seconds).await);
    }
    if args.only.iter().any(|o| o == "media") {
        // Media on loopback, any free port per peer connection (the
        // default range of 100 ports would cap the subscribers).
        let s = start_product_with(&args, &["--media-udp", "127.0.0.1:0"]).await;
        rows.push(media::run(s, &args.media, args.seconds).await);
    }
    println!("{}", json!({"results": rows}));
}

fn main() {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        match cli.command {
            Cmd::BaselineServer { listen } => baseline_server(listen).await,
            Cmd::Run(args) => run(args).await,
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(sender: usize, seq: u64) -> Received {
        Received {
            room_seq: None,
            load: Some((sender, seq, 0)),
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn order_check_counts_gaps_duplicates_and_reordering() {
        let mut c = OrderCheck::default();
        assert_eq!(c.check(&load(1, 1)), 0);
        assert_eq!(c.check(&load(2, 1)), 0);
        assert_eq!(c.check(&load(1, 2)), 0);
        assert_eq!(c.check(&load(1, 2)), 1, "duplicate");
        assert_eq!(c.check(&load(1, 4)), 1, "gap");
        assert_eq!(c.check(&load(1, 3)), 1, "late");
        let room = |seq| Received {
            room_seq: Some(seq),
            load: None,
        };
        assert_eq!(c.check(&room(7)), 0, "the first event sets the start");
        assert_eq!(c.check(&room(8)), 0);
        assert_eq!(c.check(&room(10)), 1, "a gap in the room log");
    }

    #[test]
    fn product_frames_decode_to_room_seq_and_load() {
        let kind = Kind::Product {
            cookies: Vec::new(),
            host: String::new(),
        };
        let frame =
            r#"{"type":"event","seq":12,"body":{"kind":"chat","text":"3 1700000000000000 5"}}"#;
        let r = decode(&kind, frame);
        assert_eq!(r.room_seq, Some(12));
        assert_eq!(r.load, Some((3, 5, 1_700_000_000_000_000)));
        let join = r#"{"type":"event","seq":13,"body":{"kind":"join"}}"#;
        let r = decode(&kind, join);
        assert_eq!((r.room_seq, r.load), (Some(13), None));
    }
}
