//! The SFU forwarding load (issue 14): one publisher sends a generated VP8
//! video track at a set bitrate into a room and N subscribers receive it
//! through the server, for N in a list (default 0, 1, 10, 50, 150), on one
//! product server over loopback.
//!
//! Every client is a peer connection of the `webrtc` crate (the version and
//! features the server uses) speaking the room socket's media signalling
//! as the app does (`docs/protocol.md`, "Media"): the publisher declares
//! its camera and offers; each subscriber declares no tracks and answers
//! the server's offer. Each subscriber is a person of its own (the server
//! gives one peer connection per person per room), created through the
//! users API in the demo lab the session belongs to.
//!
//! What is measured per N, over a steady window after every subscriber
//! receives packets:
//! - the server's CPU (user + system from `/proc/PID/stat`) and RSS;
//! - this harness's own CPU (the clients share the machine with the
//!   server) and the whole machine's, so the figure's bound is visible;
//! - per subscriber: RTP bitrate received and loss (from sequence numbers,
//!   as an RTP receiver counts it);
//! - subscriber streams per server core: N over the server's cores, and
//!   the marginal figure from the cost added over the publisher alone.

mod client;
mod vp8;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::Server;
use super::instruments::{TICKS_PER_S, proc_stat_ticks, proc_status_kib};
use client::{Publisher, Subscriber};

/// Setup requests in flight at once (logins hash passwords: the server
/// hashes 4 at once by default).
const SETUP_PARALLEL: usize = 4;
/// Subscribers connecting at once.
const CONNECT_PARALLEL: usize = 8;
/// Packets a subscriber must have received to count as connected.
const CONNECTED_PACKETS: u64 = 30;
/// Password of the generated subscribers (the server's rules: ≥ 10
/// characters, three classes, not containing the username).
const PASSWORD: &str = "Bench-Media-2026x";

#[derive(clap::Args, Clone)]
pub struct MediaArgs {
    /// media: subscriber counts to measure, in order (0: the publisher alone).
    #[arg(long, value_delimiter = ',', default_value = "0,1,10,50,150")]
    pub media_subscribers: Vec<usize>,
    /// media: the publisher's video bitrate (RTP: 12-byte headers and payload).
    #[arg(long, default_value_t = 500)]
    pub media_kbps: u32,
    /// media: seconds after every subscriber receives before measuring.
    #[arg(long, default_value_t = 5)]
    pub media_warmup: u64,
}

/// A logged-in person: the cookie and the CSRF token for writes.
#[derive(Clone)]
struct Login {
    cookie: String,
    csrf: String,
}

async fn login(http: &reqwest::Client, base: &str, user: &str, password: &str) -> Login {
    let res = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"login": user, "password": password}))
        .send()
        .await
        .expect("login");
    assert!(res.status().is_success(), "login {user}: {}", res.status());
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("cookie")
        .to_owned();
    let body: Value = res.json().await.expect("json");
    Login {
        cookie,
        csrf: body["csrf_token"].as_str().unwrap_or_default().to_owned(),
    }
}

async fn post(http: &reqwest::Client, base: &str, who: &Login, path: &str, body: Value) -> Value {
    let res = http
        .post(format!("{base}{path}"))
        .header("cookie", &who.cookie)
        .header("x-csrf-token", &who.csrf)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = res.status();
    let v: Value = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "POST {path}: {status} {v}");
    v
}

/// A live session of the demo lab hosted by the expert, and `n` people of
/// that lab (created by the provincial administrator) logged in.
async fn setup(base: &str, n: usize) -> (String, Login, Vec<Login>) {
    let http = reqwest::Client::new();
    let demo = "Jiliang-demo-2026";
    let expert = login(&http, base, "expert", demo).await;
    let admin = login(&http, base, "admin", demo).await;
    let labs: Value = http
        .get(format!("{base}/api/v1/institutions"))
        .header("cookie", &expert.cookie)
        .send()
        .await
        .expect("institutions")
        .json()
        .await
        .expect("json");
    let lab = labs
        .as_array()
        .and_then(|l| l.iter().find(|i| i["name_zh"] == "秦安县计量检定所"))
        .and_then(|i| i["id"].as_str())
        .expect("demo lab")
        .to_owned();
    let start = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let s = post(
        &http,
        base,
        &expert,
        "/api/v1/sessions",
        json!({"title": "媒体转发基准", "scheduled_start": start,
               "duration_minutes": 120, "lab_ids": [lab]}),
    )
    .await;
    let id = s["id"].as_str().expect("session id").to_owned();
    post(
        &http,
        base,
        &expert,
        &format!("/api/v1/sessions/{id}/start"),
        json!({}),
    )
    .await;
    let people: Vec<Login> = futures_util::stream::iter(0..n)
        .map(|i| {
            let (http, admin, lab) = (http.clone(), admin.clone(), lab.clone());
            async move {
                let username = format!("bench.sub{i}");
                post(
                    &http,
                    base,
                    &admin,
                    "/api/v1/users",
                    json!({"username": username, "display_name": format!("基准订阅 {i}"),
                           "institution_id": lab, "roles": ["trainee"], "password": PASSWORD}),
                )
                .await;
                login(&http, base, &username, PASSWORD).await
            }
        })
        .buffered(SETUP_PARALLEL)
        .collect()
        .await;
    (format!("/api/v1/sessions/{id}/ws"), expert, people)
}

/// CPU ticks (user + system) of every CPU of the machine, busy and all,
/// from the first line of `/proc/stat`.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let idle = f.get(3)? + f.get(4).copied().unwrap_or(0);
    let all: u64 = f.iter().take(8).sum();
    Some((all - idle, all))
}

/// The server's open peer connections, from its metrics.
async fn peer_connections(base: &str) -> Option<f64> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let name = "jiliang_media_peer_connections";
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn wait_peer_connections(base: &str, want: f64, within: Duration) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if peer_connections(base).await == Some(want) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// What one step measured.
struct Step {
    subscribers: usize,
    connected: usize,
    seconds: f64,
    server_cores: f64,
    client_cores: f64,
    machine_cores: f64,
    rss_kib: u64,
    sent_kbps: f64,
    /// Per subscriber received kbit/s: min, median, max.
    kbps: (f64, f64, f64),
    expected: u64,
    lost: i64,
    /// Subscribers that lost more than `LOSSY` of their packets: a few
    /// slow receivers and a server that cannot keep up look different.
    lossy: usize,
    keyframe_requests: u64,
}

/// A subscriber losing more than this share of its packets counts as lossy.
const LOSSY: f64 = 0.05;

fn median_min_max(mut v: Vec<f64>) -> (f64, f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

pub async fn run(server: Server, a: &MediaArgs, seconds: u64) -> Value {
    let base = server.base.clone();
    let pid = server.pid().unwrap_or(0);
    let most = a.media_subscribers.iter().copied().max().unwrap_or(0);
    let t0 = Instant::now();
    let (room, expert, people) = setup(&base, most).await;
    // The pid, for a profiler attached during a step (docs/BENCHMARKS.md).
    println!(
        "media: server pid {pid}; session and {most} subscribers' accounts ready in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let (stop_tx, stop) = watch::channel(false);
    let publisher =
        Publisher::start(&base, &room, &expert.cookie, a.media_kbps, stop.clone()).await;
    let sent = publisher.sent.clone();
    // Wait for the publisher's media to flow into the server.
    let until = Instant::now() + Duration::from_secs(30);
    while publisher.announced.load(Ordering::Relaxed) == 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        publisher.announced.load(Ordering::Relaxed) > 0,
        "the server never announced the publisher's camera"
    );
    let rss_publisher = proc_status_kib(pid, "VmRSS:").unwrap_or(0);
    println!(
        "media: publishing {} kbit/s; server RSS {:.1} MiB",
        a.media_kbps,
        rss_publisher as f64 / 1024.0
    );
    let mut steps = Vec::new();
    for &n in &a.media_subscribers {
        let subs: Vec<Subscriber> = futures_util::stream::iter(people.iter().take(n).cloned())
            .map(|who| {
                let (base, room) = (base.clone(), room.clone());
                async move { Subscriber::join(&base, &room, &who.cookie).await }
            })
            .buffer_unordered(CONNECT_PARALLEL)
            .collect()
            .await;
        let until = Instant::now() + Duration::from_secs(60);
        while receiving(&subs) < n && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let joined = receiving(&subs);
        if joined < n {
            eprintln!("media: only {joined} of {n} subscribers receive after 60 s");
        }
        tokio::time::sleep(Duration::from_secs(a.media_warmup)).await;

        let before: Vec<_> = subs.iter().map(|s| s.counters.snapshot()).collect();
        let sent_before = sent.snapshot();
        let plis_before = publisher.keyframe_requests();
        let server_before = proc_stat_ticks(pid).unwrap_or(0);
        let client_before = proc_stat_ticks(std::process::id()).unwrap_or(0);
        let machine_before = machine_ticks().unwrap_or((0, 0));
        println!("media   N={n:<4} measuring for {seconds} s");
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let elapsed = started.elapsed().as_secs_f64();
        let server_after = proc_stat_ticks(pid).unwrap_or(0);
        let client_after = proc_stat_ticks(std::process::id()).unwrap_or(0);
        let machine_after = machine_ticks().unwrap_or((0, 0));
        let rss_kib = proc_status_kib(pid, "VmRSS:").unwrap_or(0);
        let after: Vec<_> = subs.iter().map(|s| s.counters.snapshot()).collect();
        let sent_after = sent.snapshot();

        let mut kbps = Vec::with_capacity(n);
        let (mut expected, mut lost, mut lossy) = (0u64, 0i64, 0usize);
        for (b, e) in before.iter().zip(&after) {
            kbps.push(e.bytes.saturating_sub(b.bytes) as f64 * 8.0 / elapsed / 1000.0);
            let exp = e.highest.saturating_sub(b.highest);
            let missing = exp as i64 - e.packets.saturating_sub(b.packets) as i64;
            expected += exp;
            lost += missing;
            // Nothing expected at all: nothing arrived in the window.
            if exp == 0 || missing as f64 > exp as f64 * LOSSY {
                lossy += 1;
            }
        }
        let (machine_busy, machine_all) = (
            machine_after.0.saturating_sub(machine_before.0),
            machine_after.1.saturating_sub(machine_before.1),
        );
        // Busy share of all CPUs, in cores.
        let cpus = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        let step = Step {
            subscribers: n,
            connected: joined,
            seconds: elapsed,
            server_cores: server_after.saturating_sub(server_before) as f64 / TICKS_PER_S / elapsed,
            client_cores: client_after.saturating_sub(client_before) as f64 / TICKS_PER_S / elapsed,
            machine_cores: if machine_all == 0 {
                0.0
            } else {
                machine_busy as f64 / machine_all as f64 * cpus
            },
            rss_kib,
            sent_kbps: sent_after.bytes.saturating_sub(sent_before.bytes) as f64 * 8.0
                / elapsed
                / 1000.0,
            kbps: median_min_max(kbps),
            expected,
            lost,
            lossy,
            keyframe_requests: publisher.keyframe_requests() - plis_before,
        };
        print_step(&step);
        steps.push(step);

        futures_util::future::join_all(subs.into_iter().map(Subscriber::leave)).await;
        if !wait_peer_connections(&base, 1.0, Duration::from_secs(30)).await {
            eprintln!("media: the server still has subscribers' peer connections after 30 s");
        }
    }
    let _ = stop_tx.send(true);
    publisher.leave().await;
    summary(&steps, a.media_kbps, rss_publisher)
}

/// Subscribers that receive the publisher's packets.
fn receiving(subs: &[Subscriber]) -> usize {
    subs.iter()
        .filter(|s| s.counters.packets.load(Ordering::Relaxed) >= CONNECTED_PACKETS)
        .count()
}

fn print_step(s: &Step) {
    let loss = if s.expected == 0 {
        0.0
    } else {
        s.lost as f64 / s.expected as f64 * 100.0
    };
    let per_core = if s.server_cores > 0.0 {
        s.subscribers as f64 / s.server_cores
    } else {
        0.0
    };
    println!(
        "media   N={:<4} receiving {:>4}  {:.1} s: server CPU {:>5.1} % of a core, RSS {:>6.1} MiB; \
         sent {:>5.0} kbit/s, received per subscriber min/median/max {:>4.0}/{:>4.0}/{:>4.0} kbit/s, \
         lost {}/{} ({loss:.2} %), {} subscribers lossy (> 5 %), keyframe requests {}; harness CPU {:>5.1} %, machine {:>5.1} % ({:.2} cores busy); \
         {per_core:.0} streams per server core",
        s.subscribers,
        s.connected,
        s.seconds,
        s.server_cores * 100.0,
        s.rss_kib as f64 / 1024.0,
        s.sent_kbps,
        s.kbps.0,
        s.kbps.1,
        s.kbps.2,
        s.lost,
        s.expected,
        s.lossy,
        s.keyframe_requests,
        s.client_cores * 100.0,
        s.machine_cores * 100.0,
        s.machine_cores,
    );
}

fn summary(steps: &[Step], kbps: u32, rss_publisher: u64) -> Value {
    // The publisher alone (N = 0) is the cost that does not grow with N.
    let base_cores = steps
        .iter()
        .find(|s| s.subscribers == 0)
        .map_or(0.0, |s| s.server_cores);
    let rows: Vec<Value> = steps
        .iter()
        .map(|s| {
            let added = s.server_cores - base_cores;
            let per_core = if s.server_cores > 0.0 {
                s.subscribers as f64 / s.server_cores
            } else {
                0.0
            };
            let per_added_core = if added > 0.0 && s.subscribers > 0 {
                s.subscribers as f64 / added
            } else {
                0.0
            };
            json!({
                "subscribers": s.subscribers, "receiving": s.connected, "seconds": s.seconds,
                "server_cpu_cores": s.server_cores, "harness_cpu_cores": s.client_cores,
                "machine_busy_cores": s.machine_cores, "rss_kib": s.rss_kib,
                "sent_kbps": s.sent_kbps, "received_kbps_min": s.kbps.0,
                "received_kbps_median": s.kbps.1, "received_kbps_max": s.kbps.2,
                "expected_packets": s.expected, "lost_packets": s.lost, "lossy_subscribers": s.lossy,
                "keyframe_requests": s.keyframe_requests,
                "streams_per_server_core": per_core, "streams_per_added_core": per_added_core,
            })
        })
        .collect();
    for s in steps.iter().filter(|s| s.subscribers > 0) {
        let added = s.server_cores - base_cores;
        if added > 0.0 {
            println!(
                "media   N={:<4} {:.0} streams per server core ({:.0} counting only the CPU added over the publisher alone)",
                s.subscribers,
                s.subscribers as f64 / s.server_cores,
                s.subscribers as f64 / added
            );
        }
    }
    json!({"load": "media", "server": "product", "kbps": kbps,
           "rss_publisher_only_kib": rss_publisher, "steps": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max_of_a_few() {
        assert_eq!(median_min_max(vec![]), (0.0, 0.0, 0.0));
        assert_eq!(median_min_max(vec![3.0, 1.0, 2.0]), (1.0, 2.0, 3.0));
    }
}
