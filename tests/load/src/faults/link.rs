//! A bad link between one client and the server. This machine's kernel has
//! no `netem`, so (docs/RELIABILITY.md, shared notes on real-time links):
//! the client runs in a network namespace joined to the host by a veth
//! pair; `tbf` limits the rate both ways, nftables drops packets at random
//! in the namespace (both ways), and a user-space TCP relay on the host
//! side adds the delay (each chunk is written out a fixed time after it was
//! read, in order). A blackout (every packet dropped) cuts the link once.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::R;
use crate::api::Api;
use crate::chat::{self, ChatConfig, Control, Progress};
use crate::procs::{self, Bins, Node};

/// A room socket held open (joined) and nothing else: a person present.
pub async fn hold_socket(
    base: &str,
    session: &str,
    cookie: &str,
) -> R<tokio::task::JoinHandle<()>> {
    let url = format!(
        "{}/api/v1/sessions/{session}/ws",
        base.replace("http://", "ws://")
    );
    let mut req = url.into_client_request().map_err(|e| e.to_string())?;
    req.headers_mut()
        .insert("cookie", cookie.parse().map_err(|_| "cookie")?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .map_err(|e| e.to_string())?;
    ws.send(Message::text(
        json!({"type":"join","protocol":jiliang_protocol::rooms::PROTOCOL_VERSION,"last_seq":0})
            .to_string(),
    ))
    .await
    .map_err(|e| e.to_string())?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.contains("\"snapshot\"") => break,
            Some(Ok(_)) => {}
            _ => return Err("held socket closed before its snapshot".into()),
        }
    }
    Ok(tokio::spawn(async move {
        while let Some(Ok(_)) = ws.next().await {}
    }))
}

fn sh(args: &[&str]) -> R<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn nft(ns: &str, script: &str) -> R<()> {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("nft: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("nft stdin")?
        .write_all(script.as_bytes())
        .map_err(|e| format!("nft: {e}"))?;
    let out = child.wait_with_output().map_err(|e| format!("nft: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The impaired link: namespace, veth pair, tbf both ways, random loss.
/// Removed (namespace and both ends) when dropped.
pub struct BadLink {
    pub ns: String,
    pub host_ip: String,
}

impl BadLink {
    pub fn new(rate: &str, loss_percent: u32) -> R<Self> {
        let id = std::process::id() % 100_000;
        let ns = format!("jlf-{id}");
        let (host_if, ns_if) = (format!("jlfh{id}"), format!("jlfn{id}"));
        // 10.231.x.y/30 from the pid, so parallel runs do not collide.
        let (x, y) = ((id / 64) % 250, (id % 64) * 4);
        let host_ip = format!("10.231.{x}.{}", y + 1);
        let ns_ip = format!("10.231.{x}.{}", y + 2);
        let link = Self {
            ns: ns.clone(),
            host_ip: host_ip.clone(),
        };
        sh(&["ip", "netns", "add", &ns])?;
        sh(&[
            "ip", "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
        ])?;
        sh(&["ip", "link", "set", &ns_if, "netns", &ns])?;
        sh(&[
            "ip",
            "addr",
            "add",
            &format!("{host_ip}/30"),
            "dev",
            &host_if,
        ])?;
        sh(&["ip", "link", "set", &host_if, "up"])?;
        let inside = |args: &[&str]| {
            let mut a = vec!["ip", "netns", "exec", &ns];
            a.extend_from_slice(args);
            sh(&a)
        };
        inside(&["ip", "addr", "add", &format!("{ns_ip}/30"), "dev", &ns_if])?;
        inside(&["ip", "link", "set", &ns_if, "up"])?;
        inside(&["ip", "link", "set", "lo", "up"])?;
        let tbf = [
            "root", "tbf", "rate", rate, "burst", "32kbit", "latency", "400ms",
        ];
        let mut host_tbf = vec!["tc", "qdisc", "add", "dev", &host_if];
        host_tbf.extend_from_slice(&tbf);
        sh(&host_tbf)?;
        let mut ns_tbf = vec!["tc", "qdisc", "add", "dev", &ns_if];
        ns_tbf.extend_from_slice(&tbf);
        inside(&ns_tbf)?;
        nft(
            &ns,
            &format!(
                "table inet jlf {{
                   chain input {{ type filter hook input priority 0; iifname \"lo\" accept; numgen random mod 100 < {loss_percent} drop; }}
                   chain output {{ type filter hook output priority 0; oifname \"lo\" accept; numgen random mod 100 < {loss_percent} drop; }}
                 }}"
            ),
        )?;
        Ok(link)
    }

    /// Every packet dropped (both ways) until [`BadLink::restore`].
    pub fn blackout(&self) -> R<()> {
        nft(
            &self.ns,
            "table inet jlfblack {
               chain input { type filter hook input priority -10; iifname != \"lo\" drop; }
               chain output { type filter hook output priority -10; oifname != \"lo\" drop; }
             }",
        )
    }

    pub fn restore(&self) -> R<()> {
        nft(&self.ns, "delete table inet jlfblack")
    }
}

impl Drop for BadLink {
    fn drop(&mut self) {
        // The host end of the veth pair goes with its peer.
        let _ = sh(&["ip", "netns", "del", &self.ns]);
    }
}

/// A TCP relay from `listen` to `upstream` delaying each direction by
/// `delay`: bytes read at t are written at t + delay, in order.
pub async fn relay(listen: TcpListener, upstream: String, delay: Duration) {
    while let Ok((client, _)) = listen.accept().await {
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::join!(pipe(cr, sw, delay), pipe(sr, cw, delay));
        });
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at + delay).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx
                    .send((tokio::time::Instant::now(), buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// The client side, run inside the namespace (`jiliang-faults link-client`):
/// logs in and chats over the bad link, then prints its report as JSON.
pub async fn link_client(
    base: &str,
    session: &str,
    login: &str,
    seconds: u64,
    interval_ms: u64,
) -> R<()> {
    let api = Api::new(base);
    let t = Instant::now();
    let who = api.login(login).await?;
    let login_took = t.elapsed();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (drain_tx, drain_rx) = watch::channel(None);
    let deadline = Instant::now() + Duration::from_secs(seconds + 120);
    let cfg = ChatConfig {
        name: "link".into(),
        bases: vec![base.to_owned()],
        session: session.to_owned(),
        cookie: who.cookie.clone(),
        interval: Duration::from_millis(interval_ms),
        silence: Duration::from_secs(15),
    };
    let progress = Arc::new(Progress::default());
    let task = tokio::spawn(chat::run(
        cfg,
        Control {
            stop_sending: stop_rx,
            drain_to: drain_rx,
            deadline,
        },
        progress.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let _ = stop_tx.send(true);
    while progress
        .outstanding
        .load(std::sync::atomic::Ordering::Relaxed)
        > 0
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let the other side's last messages be stored, then catch up to the end.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = api.events(&who, session).await?;
    let _ = drain_tx.send(log.last().and_then(|e| e["seq"].as_u64()));
    let r = task.await.map_err(|e| e.to_string())?;
    println!(
        "{}",
        json!({
            "name": r.name, "sent": r.sent, "acked": r.acked, "unacked": r.unacked,
            "reconnects": r.reconnects, "errors": r.error_frames, "problems": r.problems,
            "last_seq": r.last_seq, "login_ms": login_took.as_millis() as u64,
            "longest_outage_ms": r.longest_outage.as_millis() as u64,
        })
    );
    Ok(())
}

/// Scenario 5: A chat client behind `delay_ms` each way, `loss` % random loss both
/// ways and a `rate` limit, plus one 4 s blackout, while a local client
/// chats in the same room: every message the remote client had acked is
/// stored once, in order, and it received the whole log in order.
pub async fn bad_link(
    bins: &Bins,
    dir: &std::path::Path,
    delay_ms: u64,
    loss: u32,
    rate: &str,
) -> R<String> {
    procs::seed(
        bins,
        &format!("sqlite://{}", dir.join("jiliang.db").display()),
    )?;
    let mut args: Vec<std::ffi::OsString> = vec![
        "--database-url".into(),
        format!("sqlite://{}", dir.join("jiliang.db").display()).into(),
        "--ledger-key".into(),
        dir.join("ledger-key.hex").into_os_string(),
        "--chat-rate".into(),
        "1000".into(),
    ];
    args.extend(["--static-dir".into(), "/nonexistent".into()]);
    let mut node = Node::start("link", bins, dir, args).await?;
    let api = node.api();
    let expert = api.login("expert").await?;
    let session = api.live_session(&expert, "故障 弱网").await?;
    let link = BadLink::new(rate, loss)?;
    let listener = TcpListener::bind((link.host_ip.as_str(), 0))
        .await
        .map_err(|e| format!("relay bind: {e}"))?;
    let relay_addr = listener.local_addr().map_err(|e| e.to_string())?;
    let upstream = node.base.trim_start_matches("http://").to_owned();
    let relay_task = tokio::spawn(relay(listener, upstream, Duration::from_millis(delay_ms)));
    // A local client chats alongside, so the remote one also receives.
    let seconds = 24;
    let local = crate::load::Load::start(
        crate::load::clients(
            std::slice::from_ref(&session),
            &[("e", &expert)],
            1,
            &[node.base.clone()],
            Duration::from_millis(500),
        ),
        Instant::now() + Duration::from_secs(180),
    );
    let child = tokio::process::Command::new("ip")
        .args(["netns", "exec", &link.ns])
        .arg(&bins.faults)
        .args([
            "link-client",
            "--base",
            &format!("http://{relay_addr}"),
            "--session",
            &session,
            "--login",
            "tech",
            "--seconds",
            &seconds.to_string(),
            "--interval-ms",
            "400",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("link client: {e}"))?;
    tokio::time::sleep(Duration::from_secs(10)).await;
    link.blackout()?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    link.restore()?;
    tokio::time::sleep(Duration::from_secs(seconds - 16)).await;
    let (local_v, local_reports) = local.finish(&api, &expert).await?;
    let out = tokio::time::timeout(Duration::from_secs(150), child.wait_with_output())
        .await
        .map_err(|_| "the link client did not finish in time".to_owned())?
        .map_err(|e| e.to_string())?;
    relay_task.abort();
    if !out.status.success() {
        return Err(format!("the link client failed ({})", out.status));
    }
    let r: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("link client report: {e}"))?;
    let report = chat::ChatReport {
        name: "link".into(),
        sent: r["sent"].as_u64().unwrap_or(0),
        acked: serde_json::from_value(r["acked"].clone()).unwrap_or_default(),
        unacked: r["unacked"].as_u64().unwrap_or(u64::MAX),
        reconnects: r["reconnects"].as_u64().unwrap_or(0),
        problems: serde_json::from_value(r["problems"].clone()).unwrap_or_default(),
        ..Default::default()
    };
    let log = api.events(&expert, &session).await?;
    let mut all = local_reports;
    all.push(report.clone());
    let v = chat::verify(&log, &all);
    if !node.alive() {
        return Err("the server exited".into());
    }
    if !local_v.ok() || !v.ok() || report.acked.is_empty() {
        return Err(format!("{}; {}", v.summary(), v.details.join("; ")));
    }
    Ok(format!(
        "{delay_ms} ms each way + {loss} % loss both ways + {rate} + a 4 s blackout: link client sent {}, acked {} (all stored once, in order), {} reconnects, longest outage {} ms, login took {} ms; room total {}",
        report.sent,
        report.acked.len(),
        report.reconnects,
        r["longest_outage_ms"],
        r["login_ms"],
        v.summary()
    ))
}
