//! The upload side: the agent socket to the server.
//!
//! # What it guarantees
//! - Readings leave in the order they were taken, in batches of at most the
//!   server's `max_batch`, with at most [`WINDOW`] batches unacknowledged.
//! - A reading leaves the queue only when the server has acknowledged the
//!   batch holding it and every batch before it; on a reconnect everything
//!   unacknowledged is sent again (the server ignores duplicates), so a
//!   dropped connection loses nothing and leaves no gap.
//! - A batch the server refuses as invalid is narrowed down to the first
//!   offending reading, which is moved to the queue's quarantine file and
//!   logged; nothing is dropped silently.
//! - It never gives up: reconnects use exponential backoff with jitter
//!   (1 s up to 1 min); a refused token (401 before the upgrade, close code
//!   4002) is reported as such and retried slowly (1 min up to 10 min), since
//!   an admin may issue the token again. A server silent for
//!   [`Timing::silence`] is taken for a dead link.
//! - Fatal only: a queue directory bound to another device, or readings
//!   whose unit differs from the device's. Both need a person.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use jiliang_protocol::devices::{
    AGENT_PROTOCOL_VERSION, AgentError, AgentFrame, AgentHello, AgentServerFrame, AgentStatus,
    BatchAck, CLOSE_TOKEN_REVOKED, CLOSE_TOO_BIG, CLOSE_VERSION, DriverKind, MAX_AGENT_FRAME_BYTES,
    MAX_BATCH, ReadingsBatch, Welcome,
};
use jiliang_protocol::timesync::{ClockSample, TimePing};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Instrument, UnitSource};
use crate::queue::{Bound, Stored};
use crate::runner::{RunError, Shared, blocking};
use crate::util::{Backoff, now_ms};

/// Batches sent and not yet acknowledged.
pub const WINDOW: usize = 4;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Pings at connect, and the spacing between them.
const BURST: u32 = 8;
const BURST_SPACING: Duration = Duration::from_millis(100);
/// How long a shutdown waits for acknowledgements of batches in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
const CLOCK_SAVE_EVERY: Duration = Duration::from_secs(60);
/// How long the first hello waits for the instrument's `*IDN?` answer.
const IDN_WAIT: Duration = Duration::from_secs(3);

/// Tunables (tests shorten them).
#[derive(Debug, Clone)]
pub struct Timing {
    pub status_every: Duration,
    pub ping_every: Duration,
    pub retry: (Duration, Duration),
    pub retry_revoked: (Duration, Duration),
    /// A server that sends nothing for this long (no welcome, pong or ack,
    /// while pings go out every `ping_every`) is taken for a dead link, and
    /// the agent reconnects. A cut cable or a dropped route would otherwise
    /// leave the socket open for the many minutes TCP takes to give up.
    pub silence: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            status_every: Duration::from_secs(5),
            ping_every: Duration::from_secs(15),
            retry: (Duration::from_secs(1), Duration::from_secs(60)),
            retry_revoked: (Duration::from_secs(60), Duration::from_secs(600)),
            silence: Duration::from_secs(40),
        }
    }
}

/// Where the link to the server stands (for logs, `status` and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Connected {
        device: String,
    },
    /// The server refused the token.
    Refused(String),
    Offline(String),
}

pub struct Uplink {
    pub url: String,
    pub token: String,
    pub max_batch: usize,
    pub driver: DriverKind,
    pub unit_source: UnitSource,
    pub timing: Timing,
    pub shared: Arc<Shared>,
    /// The instrument answers `*IDN?` (SCPI), so the hello can name it.
    pub expects_idn: bool,
    /// Batch size after the server closed with 1009 (too big): kept across
    /// reconnects.
    frame_cap: usize,
}

enum End {
    Shutdown,
    /// Reconnect after the normal backoff. `welcomed`: the session got as
    /// far as `welcome` (the backoff starts over).
    Retry {
        reason: String,
        welcomed: bool,
    },
    /// The server refused the token or the protocol: retry slowly.
    Refused(String),
}

enum Refusal {
    /// The first unacknowledged reading is to blame.
    Quarantine(Box<Stored>, AgentError),
    /// Send only readings before this local number until they are
    /// acknowledged; the offending one then heads its own batch.
    Before(u64),
    /// No reading named: halve the batch.
    Shrink(usize),
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Uplink {
    pub fn new(config: &Config, timing: Timing, shared: Arc<Shared>) -> Self {
        let instrument = &config.reading.instrument;
        Self {
            url: config.upload.url.clone(),
            token: config.upload.token.clone(),
            max_batch: config.upload.max_batch.clamp(1, MAX_BATCH),
            driver: instrument.driver_kind(),
            unit_source: config.reading.unit.clone(),
            timing,
            shared,
            expects_idn: matches!(
                instrument,
                Instrument::Scpi { .. } | Instrument::SerialScpi { .. }
            ),
            frame_cap: MAX_BATCH,
        }
    }

    /// Run until `cancel` (Ok) or a fatal error.
    pub async fn run(mut self, cancel: CancellationToken) -> Result<(), RunError> {
        let mut backoff = Backoff::new(self.timing.retry.0, self.timing.retry.1);
        let mut slow = Backoff::new(self.timing.retry_revoked.0, self.timing.retry_revoked.1);
        loop {
            self.shared.link.send_replace(LinkState::Connecting);
            let delay = match self.session(&cancel).await? {
                End::Shutdown => return Ok(()),
                End::Retry { reason, welcomed } => {
                    slow.reset();
                    if welcomed {
                        backoff.reset();
                    }
                    let d = backoff.next_delay();
                    tracing::warn!(reason = %reason, retry_in_s = d.as_secs_f64(), "server link down; readings stay queued");
                    self.shared.link.send_replace(LinkState::Offline(reason));
                    d
                }
                End::Refused(reason) => {
                    let d = slow.next_delay();
                    tracing::error!(
                        reason = %reason,
                        retry_in_s = d.as_secs_f64(),
                        "the server refused this agent; readings stay queued. Ask the lab's admin for a new device token"
                    );
                    self.shared.link.send_replace(LinkState::Refused(reason));
                    d
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn connect(&self) -> Result<Ws, End> {
        let retry = |reason: String| End::Retry {
            reason,
            welcomed: false,
        };
        let mut req = self
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| retry(format!("bad server URL {}: {e}", self.url)))?;
        let bearer = HeaderValue::from_str(&format!("Bearer {}", self.token)).map_err(|_| {
            End::Refused("the token holds characters an HTTP header cannot carry".into())
        })?;
        req.headers_mut().insert(header::AUTHORIZATION, bearer);
        req.headers_mut().insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("jiliang-agent/", env!("CARGO_PKG_VERSION"))),
        );
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_AGENT_FRAME_BYTES))
            .max_frame_size(Some(MAX_AGENT_FRAME_BYTES));
        let connecting =
            tokio_tungstenite::connect_async_tls_with_config(req, Some(config), true, None);
        match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Err(_) => Err(retry(format!(
                "no answer from {} within {} s",
                self.url,
                CONNECT_TIMEOUT.as_secs()
            ))),
            Ok(Ok((ws, _))) => Ok(ws),
            Ok(Err(tungstenite::Error::Http(resp))) => {
                let status = resp.status();
                let body = resp
                    .body()
                    .as_deref()
                    .and_then(|b| serde_json::from_slice::<jiliang_protocol::ErrorBody>(b).ok())
                    .map(|e| format!(": {}", e.message))
                    .unwrap_or_default();
                if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                    Err(End::Refused(format!(
                        "HTTP {status}: the device token is unknown or revoked{body}"
                    )))
                } else {
                    Err(retry(format!("HTTP {status} from {}{body}", self.url)))
                }
            }
            Ok(Err(e)) => Err(retry(format!("cannot connect to {}: {e}", self.url))),
        }
    }

    async fn session(&mut self, cancel: &CancellationToken) -> Result<End, RunError> {
        let ws = tokio::select! {
            _ = cancel.cancelled() => return Ok(End::Shutdown),
            r = self.connect() => match r {
                Ok(ws) => ws,
                Err(end) => return Ok(end),
            },
        };
        let (mut tx, mut rx) = ws.split();
        // The hello names the instrument: give the sampler's first contact
        // (which asks `*IDN?`) a moment to learn it.
        if self.expects_idn {
            let mut health = self.shared.health.subscribe();
            let learnt = health.wait_for(|h| h.idn.is_some() || h.fault.is_some());
            tokio::select! {
                _ = cancel.cancelled() => return Ok(End::Shutdown),
                _ = tokio::time::timeout(IDN_WAIT, learnt) => {}
            }
        }
        let hello = AgentFrame::Hello(AgentHello {
            protocol: AGENT_PROTOCOL_VERSION,
            agent: concat!("jiliang-agent/", env!("CARGO_PKG_VERSION")).to_owned(),
            driver: self.driver,
            idn: self.shared.health.borrow().idn.clone(),
        });
        if let Err(e) = send(&mut tx, &hello).await {
            return Ok(End::Retry {
                reason: format!("sending hello: {e}"),
                welcomed: false,
            });
        }
        let welcome = tokio::select! {
            _ = cancel.cancelled() => return Ok(End::Shutdown),
            w = tokio::time::timeout(self.timing.silence, wait_welcome(&mut rx)) => match w {
                Err(_) => return Ok(End::Retry { reason: "no welcome from the server".into(), welcomed: false }),
                Ok(Err(end)) => return Ok(end),
                Ok(Ok(w)) => w,
            },
        };
        self.on_welcome(&welcome).await?;
        let mut s = Session::new(self, &welcome).await?;
        let end = s.serve(&mut tx, &mut rx, cancel).await;
        let _ = tx.close().await;
        if let Err(e) = blocking(&self.shared, |q| q.flush()).await {
            tracing::error!(error = %e, "cannot write the acknowledged position");
        }
        end
    }

    async fn on_welcome(&mut self, w: &Welcome) -> Result<(), RunError> {
        match &self.unit_source {
            UnitSource::Given(u) | UnitSource::Inferred(u) if *u != w.unit => {
                let how = if matches!(self.unit_source, UnitSource::Given(_)) {
                    "--unit"
                } else {
                    "the unit inferred from --query"
                };
                return Err(RunError::UnitMismatch(format!(
                    "{how} is `{u}` but device \"{}\" is registered in `{}`: give --unit {} (with --scale if the \
                     instrument reads in another unit), or register the device in `{u}`",
                    w.name, w.unit, w.unit
                )));
            }
            _ => {}
        }
        let (id, unit, last) = (w.device_id, w.unit.clone(), w.last_seq);
        let bound = blocking(&self.shared, move |q| q.bind(id, &unit, last))
            .await
            .map_err(RunError::Queue)?;
        match bound {
            Bound::New { first_seq } => tracing::info!(
                device = %w.device_id, first_seq, server_last_seq = w.last_seq,
                "queue bound to this device"
            ),
            Bound::Same => {}
            Bound::Jumped {
                queue_last,
                server_last,
            } => tracing::error!(
                queue_last,
                server_last,
                "the server holds readings numbered beyond this queue's last: is another agent using this \
                 device's token, or was the queue directory restored from a backup? New readings continue \
                 after the server's last; queued ones numbered up to it may be refused as duplicates"
            ),
        }
        // The unit of new readings, when only the server knows it.
        self.shared.unit.send_if_modified(|u| {
            if u.as_deref() == Some(w.unit.as_str()) {
                false
            } else {
                *u = Some(w.unit.clone());
                true
            }
        });
        tracing::info!(
            device = %w.name, device_id = %w.device_id, unit = %w.unit, last_seq = w.last_seq,
            "connected to the server"
        );
        self.shared.link.send_replace(LinkState::Connected {
            device: w.name.clone(),
        });
        Ok(())
    }
}

async fn send(
    tx: &mut futures_util::stream::SplitSink<Ws, Message>,
    frame: &AgentFrame,
) -> Result<usize, tungstenite::Error> {
    let json = serde_json::to_string(frame)
        .map_err(|e| tungstenite::Error::Io(std::io::Error::other(e)))?;
    let n = json.len();
    tx.send(Message::text(json)).await?;
    Ok(n)
}

fn close_end(frame: Option<tungstenite::protocol::CloseFrame>) -> End {
    let Some(f) = frame else {
        return End::Retry {
            reason: "the server closed the connection".into(),
            welcomed: false,
        };
    };
    let code = u16::from(f.code);
    let reason = if f.reason.is_empty() {
        String::new()
    } else {
        format!(": {}", f.reason)
    };
    match code {
        CLOSE_TOKEN_REVOKED => End::Refused(format!(
            "closed with {code}: the device token was revoked{reason}"
        )),
        CLOSE_VERSION => End::Refused(format!(
            "closed with {code}: the server does not speak agent protocol {AGENT_PROTOCOL_VERSION}{reason}; \
             update the agent"
        )),
        _ => End::Retry {
            reason: format!("the server closed the connection ({code}{reason})"),
            welcomed: false,
        },
    }
}

async fn wait_welcome(rx: &mut futures_util::stream::SplitStream<Ws>) -> Result<Welcome, End> {
    loop {
        let retry = |reason: String| End::Retry {
            reason,
            welcomed: false,
        };
        match rx.next().await {
            None => return Err(retry("the connection closed before the welcome".into())),
            Some(Err(e)) => return Err(retry(format!("waiting for the welcome: {e}"))),
            Some(Ok(Message::Close(f))) => return Err(close_end(f)),
            Some(Ok(Message::Text(t))) => match serde_json::from_str::<AgentServerFrame>(&t) {
                Ok(AgentServerFrame::Welcome(w)) => return Ok(w),
                Ok(AgentServerFrame::Error(e)) => {
                    return Err(retry(format!(
                        "the server refused the hello: {}: {}",
                        e.code, e.message
                    )));
                }
                Ok(_) => {}
                Err(e) => return Err(retry(format!("unreadable frame before the welcome: {e}"))),
            },
            Some(Ok(_)) => {}
        }
    }
}

struct Session<'a> {
    up: &'a mut Uplink,
    /// Last acknowledged local number.
    acked: u64,
    /// Last local number sent on this connection.
    sent: u64,
    inflight: VecDeque<Vec<Stored>>,
    refusal: Option<Refusal>,
    before: Option<u64>,
    batch: usize,
    ping_id: u64,
    pings_left_in_burst: u32,
    clock_saved: Option<Instant>,
    last_status: Option<AgentStatus>,
}

impl<'a> Session<'a> {
    async fn new(up: &'a mut Uplink, w: &Welcome) -> Result<Self, RunError> {
        let acked = blocking(&up.shared, |q| Ok(q.acked()))
            .await
            .map_err(RunError::Queue)?;
        let server_cap = usize::try_from(w.max_batch).unwrap_or(MAX_BATCH).max(1);
        let batch = up
            .max_batch
            .min(server_cap)
            .min(up.frame_cap)
            .clamp(1, MAX_BATCH);
        Ok(Self {
            up,
            acked,
            sent: acked,
            inflight: VecDeque::new(),
            refusal: None,
            before: None,
            batch,
            ping_id: 0,
            pings_left_in_burst: BURST,
            clock_saved: None,
            last_status: None,
        })
    }

    async fn serve(
        &mut self,
        tx: &mut futures_util::stream::SplitSink<Ws, Message>,
        rx: &mut futures_util::stream::SplitStream<Ws>,
        cancel: &CancellationToken,
    ) -> Result<End, RunError> {
        let shared = self.up.shared.clone();
        let mut written = shared.written.subscribe();
        let mut health = shared.health.subscribe();
        let mut status_timer = tokio::time::interval(self.up.timing.status_every);
        status_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_ping = tokio::time::Instant::now();
        let mut last_heard = tokio::time::Instant::now();
        let silence = self.up.timing.silence;
        let lost = |reason: String| End::Retry {
            reason,
            welcomed: true,
        };
        loop {
            if let Err(e) = self.pump(tx).await {
                return Ok(lost(e));
            }
            tokio::select! {
                _ = cancel.cancelled() => {
                    self.grace(rx).await?;
                    return Ok(End::Shutdown);
                }
                _ = tokio::time::sleep_until(last_heard + silence) => {
                    return Ok(lost(format!("nothing from the server for {} s", silence.as_secs_f64())));
                }
                msg = rx.next() => {
                    last_heard = tokio::time::Instant::now();
                    let msg = match msg {
                        None => return Ok(lost("the connection to the server was lost".into())),
                        Some(Err(e)) => return Ok(lost(format!("the connection to the server failed: {e}"))),
                        Some(Ok(m)) => m,
                    };
                    match msg {
                        Message::Text(t) => {
                            if let Some(end) = self.on_frame(&t).await? {
                                return Ok(end);
                            }
                        }
                        Message::Close(f) => {
                            if let Some(c) = &f && u16::from(c.code) == CLOSE_TOO_BIG {
                                self.up.frame_cap = (self.batch / 2).max(1);
                                tracing::warn!(batch = self.up.frame_cap, "the server found a frame too big; sending smaller batches");
                            }
                            return Ok(match close_end(f) {
                                End::Retry { reason, .. } => lost(reason),
                                other => other,
                            });
                        }
                        _ => {}
                    }
                }
                _ = written.changed() => {}
                _ = tokio::time::sleep_until(next_ping) => {
                    self.ping_id += 1;
                    let ping = AgentFrame::Ping(TimePing { id: self.ping_id, t0: now_ms() });
                    if let Err(e) = send(tx, &ping).await {
                        return Ok(lost(format!("sending a ping: {e}")));
                    }
                    next_ping = if self.pings_left_in_burst > 1 {
                        self.pings_left_in_burst -= 1;
                        tokio::time::Instant::now() + BURST_SPACING
                    } else {
                        self.pings_left_in_burst = 0;
                        tokio::time::Instant::now() + self.up.timing.ping_every
                    };
                }
                _ = status_timer.tick() => {
                    if let Err(e) = self.send_status(tx, true).await {
                        return Ok(lost(format!("sending status: {e}")));
                    }
                }
                _ = health.changed() => {
                    if let Err(e) = self.send_status(tx, false).await {
                        return Ok(lost(format!("sending status: {e}")));
                    }
                }
            }
        }
    }

    /// On shutdown: let acknowledgements of batches in flight arrive, for a
    /// moment, so the next start resends less.
    async fn grace(
        &mut self,
        rx: &mut futures_util::stream::SplitStream<Ws>,
    ) -> Result<(), RunError> {
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        while !self.inflight.is_empty() {
            match tokio::time::timeout_at(deadline, rx.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    if self.on_frame(&t).await?.is_some() {
                        break;
                    }
                }
                Ok(Some(Ok(_))) => {}
                _ => break,
            }
        }
        Ok(())
    }

    fn status(&self) -> AgentStatus {
        let shared = &self.up.shared;
        let written = *shared.written.borrow();
        let now = now_ms();
        let last = shared.last_reading();
        AgentStatus {
            queue_depth: written.saturating_sub(self.acked),
            last_reading_age_s: last.map(|t| t.elapsed().as_secs_f64()),
            clock: shared.clock_state(now),
            fault: shared.health.borrow().fault.clone().map(Into::into),
            quarantined: shared.quarantined(),
        }
    }

    /// Send a status frame; `periodic` ones always go, others only when
    /// something other than the depth and age changed.
    async fn send_status(
        &mut self,
        tx: &mut futures_util::stream::SplitSink<Ws, Message>,
        periodic: bool,
    ) -> Result<(), tungstenite::Error> {
        let st = self.status();
        let changed = self.last_status.as_ref().is_none_or(|l| {
            l.fault != st.fault
                || l.quarantined != st.quarantined
                || l.clock.is_some() != st.clock.is_some()
        });
        if periodic || changed {
            send(tx, &AgentFrame::Status(st.clone())).await?;
            self.last_status = Some(st);
        }
        Ok(())
    }

    /// Send batches while the window has room.
    async fn pump(
        &mut self,
        tx: &mut futures_util::stream::SplitSink<Ws, Message>,
    ) -> Result<(), String> {
        while self.refusal.is_none() && self.inflight.len() < WINDOW {
            let written = *self.up.shared.written.borrow();
            if let Some(b) = self.before
                && self.acked + 1 >= b
            {
                self.before = None;
            }
            let mut room = written.saturating_sub(self.sent).min(self.batch as u64);
            if let Some(b) = self.before {
                room = room.min(b.saturating_sub(self.sent + 1));
            }
            if room == 0 {
                return Ok(());
            }
            let after = self.sent;
            let readings = blocking(&self.up.shared, move |q| q.read_after(after, room as usize))
                .await
                .map_err(|e| format!("reading the queue: {e}"))?;
            let Some(last) = readings.last() else {
                return Ok(());
            };
            let last_local = last.local;
            let frame = AgentFrame::Readings(ReadingsBatch {
                readings: readings.iter().map(Stored::to_wire).collect(),
            });
            let json = serde_json::to_string(&frame).map_err(|e| e.to_string())?;
            if json.len() > MAX_AGENT_FRAME_BYTES && readings.len() > 1 {
                self.batch = (readings.len() / 2).max(1);
                continue;
            }
            tx.send(Message::text(json))
                .await
                .map_err(|e| format!("sending readings: {e}"))?;
            self.sent = last_local;
            self.inflight.push_back(readings);
        }
        Ok(())
    }

    async fn on_frame(&mut self, text: &str) -> Result<Option<End>, RunError> {
        let frame = match serde_json::from_str::<AgentServerFrame>(text) {
            Ok(f) => f,
            Err(e) => {
                return Ok(Some(End::Retry {
                    reason: format!("unreadable frame from the server: {e}"),
                    welcomed: true,
                }));
            }
        };
        match frame {
            AgentServerFrame::Pong(p) => {
                if let Some(sample) = ClockSample::from_exchange(&p, now_ms()) {
                    self.up.shared.add_clock_sample(sample);
                    if self.pings_left_in_burst == 0
                        && self
                            .clock_saved
                            .is_none_or(|t| t.elapsed() >= CLOCK_SAVE_EVERY)
                    {
                        self.clock_saved = Some(Instant::now());
                        let shared = self.up.shared.clone();
                        let dir = shared.queue_dir.clone();
                        let clock = shared.clock_snapshot();
                        if let Err(e) = tokio::task::spawn_blocking(move || clock.save(&dir))
                            .await
                            .map_err(|e| e.to_string())
                            .and_then(|r| r.map_err(|e| e.to_string()))
                        {
                            tracing::warn!(error = %e, "cannot save the clock estimate");
                        }
                    }
                }
            }
            AgentServerFrame::Ack(a) => return self.on_ack(a).await,
            AgentServerFrame::Error(e) => return self.on_error(e).await,
            AgentServerFrame::Welcome(_) => {
                return Ok(Some(End::Retry {
                    reason: "a second welcome from the server".into(),
                    welcomed: true,
                }));
            }
        }
        Ok(None)
    }

    async fn on_ack(&mut self, a: BatchAck) -> Result<Option<End>, RunError> {
        let Some(batch) = self.inflight.pop_front() else {
            return Ok(Some(End::Retry {
                reason: format!("an acknowledgement (through {}) for no batch", a.through),
                welcomed: true,
            }));
        };
        let Some(last) = batch.last() else {
            return Ok(None);
        };
        if a.through != last.seq {
            return Ok(Some(End::Retry {
                reason: format!(
                    "acknowledgement through {} for a batch ending at {}",
                    a.through, last.seq
                ),
                welcomed: true,
            }));
        }
        if a.duplicates > 0 {
            tracing::debug!(
                through = a.through,
                duplicates = a.duplicates,
                "the server already had some readings"
            );
        }
        if self.refusal.is_none() {
            self.acked = last.local;
            let through = last.local;
            blocking(&self.up.shared, move |q| q.ack(through))
                .await
                .map_err(RunError::Queue)?;
        }
        self.settle().await?;
        Ok(None)
    }

    async fn on_error(&mut self, e: AgentError) -> Result<Option<End>, RunError> {
        let Some(batch) = self.inflight.pop_front() else {
            tracing::warn!(code = %e.code, message = %e.message, "error from the server");
            return Ok(None);
        };
        if self.refusal.is_none() {
            if e.code != "invalid_input" && e.code != "payload_too_large" {
                return Ok(Some(End::Retry {
                    reason: format!(
                        "the server could not take a batch: {}: {}",
                        e.code, e.message
                    ),
                    welcomed: true,
                }));
            }
            let at_head = batch.first().is_some_and(|r| r.local == self.acked + 1);
            let named = e.seq.and_then(|s| batch.iter().position(|r| r.seq == s));
            tracing::warn!(code = %e.code, message = %e.message, seq = ?e.seq, "the server refused a batch");
            self.refusal = Some(match named {
                Some(0) if at_head => Refusal::Quarantine(Box::new(batch[0].clone()), e),
                Some(i) => Refusal::Before(batch[i].local),
                None if batch.len() == 1 && at_head => {
                    Refusal::Quarantine(Box::new(batch[0].clone()), e)
                }
                None => Refusal::Shrink((batch.len() / 2).max(1)),
            });
        }
        self.settle().await?;
        Ok(None)
    }

    /// Once every batch sent before a refusal is answered, act on it and
    /// resend from the acknowledged position.
    async fn settle(&mut self) -> Result<(), RunError> {
        if !self.inflight.is_empty() {
            return Ok(());
        }
        let Some(refusal) = self.refusal.take() else {
            return Ok(());
        };
        match refusal {
            Refusal::Quarantine(reading, err) => {
                let r = (*reading).clone();
                let (code, message) = (err.code.clone(), err.message.clone());
                blocking(&self.up.shared, move |q| q.quarantine(&r, &code, &message))
                    .await
                    .map_err(RunError::Queue)?;
                self.up.shared.bump_quarantined();
                tracing::error!(
                    seq = reading.seq, value = reading.value, unit = %reading.unit, code = %err.code,
                    message = %err.message,
                    "the server refused a reading as invalid; it is kept in quarantine.jsonl in the queue directory"
                );
                self.acked = reading.local;
            }
            Refusal::Before(local) => self.before = Some(local),
            Refusal::Shrink(n) => self.batch = n,
        }
        self.sent = self.acked;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_map_to_retry_policies() {
        let frame = |code: u16| {
            Some(tungstenite::protocol::CloseFrame {
                code: code.into(),
                reason: "x".into(),
            })
        };
        assert!(matches!(close_end(frame(4002)), End::Refused(r) if r.contains("revoked")));
        assert!(
            matches!(close_end(frame(4003)), End::Refused(r) if r.contains("update the agent"))
        );
        assert!(matches!(close_end(frame(1001)), End::Retry { .. }));
        assert!(matches!(close_end(None), End::Retry { .. }));
    }
}
