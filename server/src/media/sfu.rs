//! The SFU on the `webrtc` crate (0.21).
//!
//! One task per connection's media (a "peer") owns its peer connection and
//! handles, in order, what the client says, what the peer connection
//! reports and what changed in the room: one owner, so negotiation never
//! races with itself. The server is the impolite peer of perfect
//! negotiation: an offer of the client that crosses one of ours is ignored
//! (the polite client rolls back and offers again later).
//!
//! A received track is published to the room when the client has declared
//! it (`media_state`): its packets, header extensions stripped (each leg
//! negotiates its own extension ids) and padding-only probes dropped
//! without a hole in the numbers ([`super::padding`]), go into a broadcast
//! channel;
//! each other peer forwards them on a track of its own with its own SSRC.
//! Keyframe requests reach the publisher when a subscriber connects, when
//! its renegotiation completes, when it falls behind, and whenever the
//! subscriber's browser sends a PLI or FIR.
//!
//! **Simulcast.** A browser may send a video track as two layers (`rid`
//! "h" and "l"); both arrive on one received track and go into its channel
//! tagged with their layer. Each forwarder picks its layer from its own
//! subscriber's feedback ([`super::layer`]: loss in that browser's receiver
//! reports, its REMB where it sends one), falls back to the other layer
//! while the chosen one is not sent (the publisher's browser drops the high
//! layer on a tight uplink), switches only at a keyframe of the target
//! layer (asked for with a PLI), and rewrites sequence numbers, timestamps
//! and VP8 picture ids so the subscriber sees one stream
//! ([`super::rewrite`]).
//!
//! **The crate is patched (vendor/rtc/JILIANG.md).** `rtc` 0.21.1 rebuilt
//! every receiver's codings from the remote description at each
//! negotiation (`start_rtp`): a simulcast layer's SSRC, learnt only from its
//! `mid`/`rid` header extensions — which Chromium stops sending once our
//! reports acknowledge the SSRC — was forgotten, and after any later
//! renegotiation the publisher's video was dropped for good while its
//! audio went on. The vendored copy keeps what a receiver learnt while its
//! track and rids are unchanged (e2e media-room, three people).
//!
//! **Modes.** A client's `media_link` names its mode: in `audio` mode it is
//! forwarded no video, in `data` mode nothing; the room sees each
//! publisher's mode and link quality in `media_state`.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jiliang_protocol::rooms::{
    IceCandidate, LinkReport, MediaMode, MediaPublisher, MediaSource, MediaTrackState,
    PublishedTrack, media_stream_id,
};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::Registry;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::transport::RTCDtlsRole;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::payload_feedbacks::receiver_estimated_maximum_bitrate::ReceiverEstimatedMaximumBitrate;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtp;
use rtc::rtp_transceiver::RTCRtpSenderId;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceCandidateInit, RTCPeerConnectionIceEvent, RTCPeerConnectionState, RTCSessionDescription,
};
use webrtc::rtp_transceiver::RtpSender;

use super::layer::{Feedback, Layer, LayerChoice};
use super::net::{Ports, announced_ip, rewrite_candidate, rewrite_sdp};
use super::padding::PaddingGaps;
use super::rewrite::{Rewriter, Vp8};
use super::{Counted, Inbound, MediaConfig, MediaGauges, MediaUpdate, Outbound, PeerKey, Sfu};

/// Tracks one connection may declare.
const MAX_TRACKS: usize = 3;
/// Longest SDP accepted (a browser's with three tracks is ~6 KB).
const MAX_SDP_BYTES: usize = 32 * 1024;
/// Packets a publisher's broadcast channel holds for a slow forwarder.
const PACKET_BUFFER: usize = 512;
/// Least time between two keyframe requests to one layer of a publisher.
const KEYFRAME_INTERVAL: Duration = Duration::from_millis(300);
/// Payload types of VP8 and Opus the server registers (Chromium's). A leg
/// may negotiate others (the crate answers an offer with the offerer's, and
/// aiortc offers VP8 as 97), so each forwarded packet gets the payload type
/// of its subscriber's leg, or that leg's sender drops it.
const VP8_PAYLOAD_TYPE: u8 = 96;
const OPUS_PAYLOAD_TYPE: u8 = 111;
/// A forwarder waiting for a keyframe of a layer asks again this often.
const KEYFRAME_RETRY: Duration = Duration::from_millis(600);
/// A layer without packets this long is not being sent (the publisher's
/// browser paused it): forward the other one meanwhile.
const LAYER_GONE: Duration = Duration::from_millis(1500);
/// A REMB older than this no longer counts.
const ESTIMATE_TTL: Duration = Duration::from_secs(5);

/// The SFU of this node.
#[derive(Clone)]
pub struct WebrtcSfu {
    inner: Arc<Inner>,
}

struct Inner {
    ports: Ports,
    announce: Option<IpAddr>,
    rooms: Mutex<HashMap<Uuid, RoomMedia>>,
    updates: broadcast::Sender<MediaUpdate>,
    next_id: AtomicU64,
    closed: AtomicBool,
    gauges: MediaGauges,
}

#[derive(Default)]
struct RoomMedia {
    peers: HashMap<u64, PeerEntry>,
    /// Published tracks by id.
    tracks: HashMap<u64, Published>,
    /// What each peer last said about its link, by peer id.
    links: HashMap<u64, LinkReport>,
    /// What was last announced, to announce changes only.
    announced: Vec<MediaPublisher>,
}

struct PeerEntry {
    key: PeerKey,
    cmd: mpsc::UnboundedSender<Cmd>,
}

/// A track received from one peer and forwarded to the others.
#[derive(Clone)]
struct Published {
    id: u64,
    owner: u64,
    user: Uuid,
    kind: RtpCodecKind,
    codec: RTCRtpCodec,
    source: MediaSource,
    muted: bool,
    packets: broadcast::Sender<Media>,
    keyframe: mpsc::Sender<Layer>,
}

/// A received packet on its way to the forwarders (and the recorder).
#[derive(Clone)]
pub struct Media {
    pub layer: Layer,
    /// Sent as one of several layers (a `rid`).
    pub simulcast: bool,
    pub pkt: rtp::Packet,
}

enum Cmd {
    In(Inbound),
    /// The room's published tracks changed: forward what is new, stop what
    /// is gone.
    Sync,
    Close(&'static str),
    LocalCandidate(RTCIceCandidateInit),
    Connection(RTCPeerConnectionState),
    Track(Arc<dyn TrackRemote>),
    /// A received track ended (its reader stopped).
    Ended(String),
}

impl WebrtcSfu {
    /// The SFU, keeping its counts in `gauges`.
    pub fn new(config: &MediaConfig, gauges: MediaGauges) -> Self {
        let (updates, _) = broadcast::channel(256);
        Self {
            inner: Arc::new(Inner {
                ports: Ports::new(config),
                announce: announced_ip(config),
                rooms: Mutex::new(HashMap::new()),
                updates,
                next_id: AtomicU64::new(1),
                closed: AtomicBool::new(false),
                gauges,
            }),
        }
    }
}

impl Sfu for WebrtcSfu {
    fn start(&self, key: PeerKey, out: mpsc::Sender<Outbound>) {
        if self.inner.closed.load(Ordering::Relaxed) {
            let _ = out.try_send(Outbound::Closed("shutdown"));
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut rooms = self.inner.lock();
            let room = rooms.entry(key.room).or_default();
            if room.peers.values().any(|p| p.key == key) {
                return;
            }
            // One connection per person publishes and receives: another tab
            // of the same person gives way.
            for other in room.peers.values().filter(|p| p.key.user == key.user) {
                let _ = other.cmd.send(Cmd::Close("replaced"));
            }
            room.peers.insert(
                id,
                PeerEntry {
                    key,
                    cmd: tx.clone(),
                },
            );
        }
        let inner = self.inner.clone();
        self.inner.spawn(run_peer(inner, key, id, out, rx, tx));
    }

    fn signal(&self, key: PeerKey, msg: Inbound) {
        if let Some(peer) = self.inner.lock().get(&key.room).and_then(|r| {
            r.peers
                .values()
                .find(|p| p.key == key)
                .map(|p| p.cmd.clone())
        }) {
            let _ = peer.send(Cmd::In(msg));
        }
    }

    fn stop(&self, key: PeerKey) {
        let mut rooms = self.inner.lock();
        let Some(room) = rooms.get_mut(&key.room) else {
            return;
        };
        // Out of the room at once (a new `start` of the same connection
        // must not find it); the peer's task closes the peer connection.
        let ids: Vec<u64> = room
            .peers
            .iter()
            .filter(|(_, p)| p.key == key)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(p) = room.peers.remove(&id) {
                let _ = p.cmd.send(Cmd::Close("media_stop"));
            }
        }
    }

    fn publishers(&self, room: Uuid) -> Vec<MediaPublisher> {
        self.inner
            .lock()
            .get(&room)
            .map(|r| publishers(&r.tracks, &r.links))
            .unwrap_or_default()
    }

    fn updates(&self) -> broadcast::Receiver<MediaUpdate> {
        self.inner.updates.subscribe()
    }

    fn peer_connections(&self) -> usize {
        usize::try_from(self.inner.gauges.peers.get()).unwrap_or(0)
    }

    fn taps(&self, room: Uuid) -> Vec<super::Tap> {
        self.inner
            .lock()
            .get(&room)
            .map(|r| {
                r.tracks
                    .values()
                    .map(|t| super::Tap {
                        id: t.id,
                        user: t.user,
                        source: t.source,
                        video: t.kind == RtpCodecKind::Video,
                        clock_rate: t.codec.clock_rate,
                        packets: t.packets.subscribe(),
                        keyframe: t.keyframe.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn shutdown(&self) {
        self.inner.closed.store(true, Ordering::Relaxed);
        for room in self.inner.lock().values() {
            for p in room.peers.values() {
                let _ = p.cmd.send(Cmd::Close("shutdown"));
            }
        }
    }
}

impl Inner {
    /// A task of the SFU, counted in `jiliang_media_tasks` while alive.
    fn spawn<F>(&self, task: F) -> JoinHandle<()>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let alive = Counted::new(&self.gauges.tasks);
        tokio::spawn(async move {
            let _alive = alive;
            task.await;
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, RoomMedia>> {
        // A panic while holding the lock leaves plain maps behind: go on.
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replace what peer `owner` publishes in `room` with `tracks`; tell the
    /// other peers if the set changed, and the room if its state did.
    fn set_published(&self, room: Uuid, owner: u64, tracks: Vec<Published>) {
        let mut rooms = self.lock();
        let Some(r) = rooms.get_mut(&room) else {
            return;
        };
        let before: HashSet<u64> = r
            .tracks
            .values()
            .filter(|t| t.owner == owner)
            .map(|t| t.id)
            .collect();
        let after: HashSet<u64> = tracks.iter().map(|t| t.id).collect();
        r.tracks.retain(|_, t| t.owner != owner);
        for t in tracks {
            r.tracks.insert(t.id, t);
        }
        self.gauges
            .tracks
            .inc_by(after.len() as i64 - before.len() as i64);
        if before != after {
            for (id, p) in &r.peers {
                if *id != owner {
                    let _ = p.cmd.send(Cmd::Sync);
                }
            }
        }
        self.announce(room, r);
    }

    /// Peer `id` is gone: out of the room with its tracks.
    fn remove_peer(&self, room: Uuid, id: u64) {
        let mut rooms = self.lock();
        let Some(r) = rooms.get_mut(&room) else {
            return;
        };
        r.peers.remove(&id);
        r.links.remove(&id);
        let before = r.tracks.len();
        r.tracks.retain(|_, t| t.owner != id);
        let removed = before - r.tracks.len();
        self.gauges.tracks.dec_by(removed as i64);
        if removed > 0 {
            for p in r.peers.values() {
                let _ = p.cmd.send(Cmd::Sync);
            }
        }
        self.announce(room, r);
        if r.peers.is_empty() && r.tracks.is_empty() {
            rooms.remove(&room);
        }
    }

    /// Peer `id` says how its link stands.
    fn set_link(&self, room: Uuid, id: u64, link: LinkReport) {
        let mut rooms = self.lock();
        if let Some(r) = rooms.get_mut(&room) {
            r.links.insert(id, link);
            self.announce(room, r);
        }
    }

    fn announce(&self, room: Uuid, r: &mut RoomMedia) {
        let now = publishers(&r.tracks, &r.links);
        if now != r.announced {
            r.announced = now.clone();
            let _ = self.updates.send(MediaUpdate {
                room,
                publishers: Arc::new(now),
            });
        }
    }

    /// What peer `me` should receive in `room`: audio unless it runs in
    /// data mode, video if it also wants video.
    fn wanted(&self, room: Uuid, me: u64, video: bool, audio: bool) -> HashMap<u64, Published> {
        self.lock()
            .get(&room)
            .map(|r| {
                r.tracks
                    .values()
                    .filter(|t| t.owner != me)
                    .filter(|t| {
                        if t.kind == RtpCodecKind::Video {
                            video
                        } else {
                            audio
                        }
                    })
                    .map(|t| (t.id, t.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn build(
        &self,
        tx: &mpsc::UnboundedSender<Cmd>,
    ) -> Result<Arc<dyn PeerConnection>, String> {
        let runtime =
            webrtc::runtime::default_runtime().ok_or_else(|| "no async runtime".to_owned())?;
        let mut last = "no UDP port of --media-udp is free".to_owned();
        for addr in self.ports.candidates() {
            if addr.port() != 0 && !Ports::free(addr) {
                continue;
            }
            let mut engine = MediaEngine::default();
            register_codecs(&mut engine).map_err(|e| e.to_string())?;
            let registry = register_default_interceptors(Registry::new(), &mut engine)
                .map_err(|e| e.to_string())?
                .with(
                    super::rtcp::slot(),
                    super::rtcp::KeyframeRequests::counting(super::rtcp::FeedbackCounts::of(
                        &self.gauges,
                    )),
                );
            // Always the DTLS server: the crate answers every offer with one
            // configured role, also a client's re-offer after the server
            // offered first (the role is set by then), so only a fixed role
            // stays consistent; clients answer our offers `active`.
            let settings = SettingEngineBuilder::new()
                .with_answering_dtls_role(RTCDtlsRole::Server)
                .build();
            let built = PeerConnectionBuilder::new()
                .with_setting_engine(settings)
                .with_media_engine(engine)
                .with_interceptor_registry(registry)
                .with_handler(Arc::new(Handler { tx: tx.clone() }))
                .with_runtime(runtime.clone())
                .with_udp_addrs(vec![addr])
                .build()
                .await;
            match built {
                Ok(pc) => return Ok(Arc::new(pc)),
                Err(e) => last = format!("{addr}: {e}"),
            }
        }
        Err(last)
    }
}

/// The room's publishers, one entry per person, sources in a fixed order,
/// with what the publishing peer last said about its link.
fn publishers(
    tracks: &HashMap<u64, Published>,
    links: &HashMap<u64, LinkReport>,
) -> Vec<MediaPublisher> {
    let mut by_user: HashMap<Uuid, (Vec<PublishedTrack>, Option<LinkReport>)> = HashMap::new();
    for t in tracks.values() {
        let entry = by_user.entry(t.user).or_default();
        entry.0.push(PublishedTrack {
            source: t.source,
            muted: t.muted,
        });
        if let Some(l) = links.get(&t.owner) {
            entry.1 = Some(*l);
        }
    }
    let mut list: Vec<MediaPublisher> = by_user
        .into_iter()
        .map(|(user_id, (mut tracks, link))| {
            tracks.sort_by_key(|t| t.source.as_str());
            MediaPublisher {
                user_id,
                tracks,
                link,
            }
        })
        .collect();
    list.sort_by_key(|p| p.user_id);
    list
}

/// What Chromium offers and the SFU forwards as is: VP8 and Opus on the
/// payload types Chromium uses, so a packet keeps its payload type from the
/// publisher's leg to every subscriber's.
fn register_codecs(engine: &mut MediaEngine) -> webrtc::error::Result<()> {
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: codec_of(RtpCodecKind::Video),
            payload_type: VP8_PAYLOAD_TYPE,
        },
        RtpCodecKind::Video,
    )?;
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: codec_of(RtpCodecKind::Audio),
            payload_type: OPUS_PAYLOAD_TYPE,
        },
        RtpCodecKind::Audio,
    )?;
    Ok(())
}

/// The one codec registered for a kind. `goog-remb` asks subscribers'
/// browsers for their receive estimate (REMB), one input of the layer
/// choice.
fn codec_of(kind: RtpCodecKind) -> RTCRtpCodec {
    let fb = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    };
    if kind == RtpCodecKind::Video {
        RTCRtpCodec {
            mime_type: MIME_TYPE_VP8.to_owned(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![
                fb("goog-remb", ""),
                fb("ccm", "fir"),
                fb("nack", ""),
                fb("nack", "pli"),
            ],
        }
    } else {
        RTCRtpCodec {
            mime_type: MIME_TYPE_OPUS.to_owned(),
            clock_rate: 48_000,
            channels: 2,
            sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
            rtcp_feedback: vec![],
        }
    }
}

/// Peer connection events, queued for the peer's task.
struct Handler {
    tx: mpsc::UnboundedSender<Cmd>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.tx.send(Cmd::LocalCandidate(init));
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.tx.send(Cmd::Connection(state));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.tx.send(Cmd::Track(track));
    }
}

/// A track received from this peer's client.
struct Received {
    id: u64,
    kind: RtpCodecKind,
    codec: RTCRtpCodec,
    packets: broadcast::Sender<Media>,
    keyframe: mpsc::Sender<Layer>,
    tasks: [JoinHandle<()>; 2],
}

/// A track this peer forwards to its client.
struct Forwarded {
    sender: Arc<dyn RtpSender>,
    /// The payload type negotiated on this leg (set after each answer).
    payload_type: Arc<AtomicU8>,
    video: bool,
    /// The subscriber lacks a keyframe: its forwarder asks the publisher
    /// for one of the layer it forwards or awaits, until one passes.
    keyframe_needed: Arc<Notify>,
    /// The client accepted an offer of ours with this track in it.
    negotiated: bool,
    /// Packets go to the leg only while its transport is up and the track
    /// negotiated ([`Peer::update_live`]); before that the crate can only
    /// fail them (no SRTP keys yet, an SSRC the browser does not know),
    /// one error line per packet and work for nothing.
    live: Arc<AtomicBool>,
    tasks: [JoinHandle<()>; 2],
    /// Counted in `jiliang_media_forwarded_tracks` while it exists.
    _counted: Counted,
}

/// What a subscriber's browser estimates it can receive (REMB), shared by
/// the forwarders of its peer connection: the browser sends one estimate
/// for all streams.
#[derive(Default)]
struct Estimate {
    latest: Mutex<Option<(f64, Instant)>>,
    /// Video tracks forwarded, to share the estimate between.
    videos: AtomicUsize,
}

impl Estimate {
    fn set(&self, kbps: f64) {
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some((kbps, Instant::now()));
    }

    /// Each video track's share of a recent estimate.
    fn share_kbps(&self) -> Option<f64> {
        let latest = *self.latest.lock().unwrap_or_else(|e| e.into_inner());
        let (kbps, _) = latest.filter(|(_, at)| at.elapsed() < ESTIMATE_TTL)?;
        Some(kbps / self.videos.load(Ordering::Relaxed).max(1) as f64)
    }
}

struct Peer {
    inner: Arc<Inner>,
    key: PeerKey,
    id: u64,
    pc: Arc<dyn PeerConnection>,
    out: mpsc::Sender<Outbound>,
    tx: mpsc::UnboundedSender<Cmd>,
    declared: Vec<MediaTrackState>,
    receive_video: bool,
    mode: MediaMode,
    estimate: Arc<Estimate>,
    received: HashMap<String, Received>,
    forwarded: HashMap<u64, Forwarded>,
    /// Transceivers of ours whose forwarded track was removed, and whether
    /// they carried video. The crate never drops a transceiver, so each
    /// one left behind would stay in every later offer and answer of this
    /// connection: a subscriber's SDP would grow with every publisher who
    /// ever came and went (past the SDP limit after a few dozen). They are
    /// given the next track of their kind instead ([`Peer::reuse`]).
    idle: HashMap<RTCRtpSenderId, bool>,
    /// Removed since our last offer: the client has not yet seen them go
    /// inactive, so a new track on one would look like the old one changing
    /// stream (no `track` event in the browser). Idle once offered.
    freed: Vec<(RTCRtpSenderId, bool)>,
    /// Our offer awaits the client's answer.
    offering: bool,
    /// The forwarded tracks in that offer.
    offered: Vec<u64>,
    /// Something changed while offering: offer again after the answer.
    renegotiate: bool,
    connected: bool,
}

/// Why a peer ends with the client's media refused.
struct Refusal {
    zh: String,
    en: String,
}

fn refusal(zh: &str, en: impl std::fmt::Display) -> Refusal {
    Refusal {
        zh: zh.to_owned(),
        en: en.to_string(),
    }
}

async fn run_peer(
    inner: Arc<Inner>,
    key: PeerKey,
    id: u64,
    out: mpsc::Sender<Outbound>,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    tx: mpsc::UnboundedSender<Cmd>,
) {
    let pc = match inner.build(&tx).await {
        Ok(pc) => pc,
        Err(e) => {
            tracing::warn!(error = %e, "cannot open a peer connection");
            let _ = out
                .send(Outbound::Refused {
                    zh: "服务器暂时无法建立音视频连接，文字交流不受影响。".into(),
                    en: "The server cannot open a media connection right now; chat goes on.".into(),
                    closed: true,
                })
                .await;
            let _ = out.send(Outbound::Closed("unavailable")).await;
            inner.remove_peer(key.room, id);
            return;
        }
    };
    inner.gauges.peers.inc();
    let mut peer = Peer {
        inner: inner.clone(),
        key,
        id,
        pc,
        out,
        tx,
        declared: Vec::new(),
        receive_video: true,
        mode: MediaMode::Video,
        estimate: Arc::new(Estimate::default()),
        received: HashMap::new(),
        forwarded: HashMap::new(),
        idle: HashMap::new(),
        freed: Vec::new(),
        offering: false,
        offered: Vec::new(),
        renegotiate: false,
        connected: false,
    };
    let reason = peer.run(&mut rx).await;
    peer.teardown(reason).await;
}

impl Peer {
    async fn run(&mut self, rx: &mut mpsc::UnboundedReceiver<Cmd>) -> &'static str {
        while let Some(cmd) = rx.recv().await {
            let result = match cmd {
                Cmd::Close(reason) => return reason,
                Cmd::In(Inbound::State {
                    tracks,
                    receive_video,
                }) => self.on_state(tracks, receive_video).await,
                Cmd::In(Inbound::Offer(sdp)) => self.on_offer(sdp).await,
                Cmd::In(Inbound::Answer(sdp)) => self.on_answer(sdp).await,
                Cmd::In(Inbound::Candidate(c)) => {
                    self.on_candidate(c).await;
                    Ok(())
                }
                Cmd::In(Inbound::Link { mode, quality }) => {
                    self.inner
                        .set_link(self.key.room, self.id, LinkReport { mode, quality });
                    if mode == self.mode {
                        Ok(())
                    } else {
                        self.mode = mode;
                        self.sync().await
                    }
                }
                Cmd::Sync => self.sync().await,
                Cmd::LocalCandidate(init) => {
                    let candidate = IceCandidate {
                        candidate: match self.inner.announce {
                            Some(ip) => rewrite_candidate(&init.candidate, ip),
                            None => init.candidate,
                        },
                        sdp_mid: init.sdp_mid,
                        sdp_m_line_index: init.sdp_mline_index,
                        username_fragment: init.username_fragment,
                    };
                    self.send(Outbound::Candidate(candidate)).await;
                    Ok(())
                }
                Cmd::Connection(state) => match state {
                    RTCPeerConnectionState::Connected => {
                        self.connected = true;
                        self.update_live();
                        self.request_keyframes();
                        Ok(())
                    }
                    RTCPeerConnectionState::Failed => return "transport_failed",
                    RTCPeerConnectionState::Closed => return "closed",
                    _ => Ok(()),
                },
                Cmd::Track(track) => {
                    self.on_track(track).await;
                    Ok(())
                }
                Cmd::Ended(track_id) => {
                    if let Some(r) = self.received.remove(&track_id) {
                        r.tasks.iter().for_each(JoinHandle::abort);
                    }
                    self.publish();
                    Ok(())
                }
            };
            if let Err(r) = result {
                tracing::debug!(reason = %r.en, "media refused");
                let _ = self
                    .out
                    .send(Outbound::Refused {
                        zh: r.zh,
                        en: r.en,
                        closed: true,
                    })
                    .await;
                return "refused";
            }
        }
        "gone"
    }

    async fn send(&self, msg: Outbound) {
        // The socket reads its channel in its own loop; a closed channel
        // means the socket is gone and the peer is being stopped.
        let _ = self.out.send(msg).await;
    }

    async fn teardown(mut self, reason: &'static str) {
        self.inner.remove_peer(self.key.room, self.id);
        for (_, f) in self.forwarded.drain() {
            f.tasks.iter().for_each(JoinHandle::abort);
        }
        for (_, r) in self.received.drain() {
            r.tasks.iter().for_each(JoinHandle::abort);
        }
        if tokio::time::timeout(Duration::from_secs(5), self.pc.close())
            .await
            .is_err()
        {
            tracing::warn!("closing a peer connection took more than 5 s");
        }
        self.inner.gauges.peers.dec();
        let _ = self.out.try_send(Outbound::Closed(reason));
    }

    async fn on_state(
        &mut self,
        tracks: Vec<MediaTrackState>,
        receive_video: bool,
    ) -> Result<(), Refusal> {
        let mut sources = HashSet::new();
        if tracks.len() > MAX_TRACKS
            || tracks.iter().any(|t| {
                t.track_id.is_empty() || t.track_id.len() > 128 || !sources.insert(t.source)
            })
        {
            // Not fatal: the earlier state stays.
            self.send(Outbound::Refused {
                zh: "媒体状态无效：每种来源（麦克风、摄像头、屏幕）最多一条轨道。".into(),
                en: "Invalid media state: at most one track per source (microphone, camera, screen)."
                    .into(),
                closed: false,
            })
            .await;
            return Ok(());
        }
        self.declared = tracks;
        self.publish();
        if receive_video != self.receive_video {
            self.receive_video = receive_video;
            self.sync().await?;
        } else if self.forwarded.is_empty() && !self.offering {
            // The first state: offer what the room already publishes.
            self.sync().await?;
        }
        Ok(())
    }

    /// Tell the room what this peer publishes: received tracks the client
    /// declared, with the declared source (if it fits the kind) and mute.
    fn publish(&self) {
        let tracks = self
            .received
            .iter()
            .filter_map(|(track_id, r)| {
                let d = self.declared.iter().find(|d| &d.track_id == track_id)?;
                let video = r.kind == RtpCodecKind::Video;
                if d.source.is_video() != video {
                    return None;
                }
                Some(Published {
                    id: r.id,
                    owner: self.id,
                    user: self.key.user,
                    kind: r.kind,
                    codec: r.codec.clone(),
                    source: d.source,
                    muted: d.muted,
                    packets: r.packets.clone(),
                    keyframe: r.keyframe.clone(),
                })
            })
            .collect();
        self.inner.set_published(self.key.room, self.id, tracks);
    }

    async fn on_offer(&mut self, sdp: String) -> Result<(), Refusal> {
        if sdp.len() > MAX_SDP_BYTES {
            return Err(refusal("SDP 过长。", "The SDP is too long."));
        }
        if self.offering {
            // Perfect negotiation: the server is impolite; the client rolls
            // back its offer, answers ours, and offers again.
            tracing::debug!("offer collision: the client's offer is ignored");
            return Ok(());
        }
        let offer = RTCSessionDescription::offer(sdp)
            .map_err(|e| refusal("无法解析 SDP 提议。", format!("Malformed SDP offer: {e}")))?;
        self.pc
            .set_remote_description(offer)
            .await
            .map_err(|e| refusal("不支持的 SDP 提议。", format!("Unsupported SDP offer: {e}")))?;
        let answer = self
            .pc
            .create_answer(None)
            .await
            .map_err(|e| refusal("无法生成 SDP 应答。", format!("Cannot answer: {e}")))?;
        self.pc
            .set_local_description(answer)
            .await
            .map_err(|e| refusal("无法生成 SDP 应答。", format!("Cannot answer: {e}")))?;
        let Some(local) = self.pc.local_description().await else {
            return Err(refusal("无法生成 SDP 应答。", "Cannot answer."));
        };
        let sdp = self.announce(local.sdp);
        self.send(Outbound::Answer(sdp)).await;
        self.learn_payload_types().await;
        if self.renegotiate {
            self.negotiate().await?;
        }
        Ok(())
    }

    async fn on_answer(&mut self, sdp: String) -> Result<(), Refusal> {
        if !self.offering {
            self.send(Outbound::Refused {
                zh: "没有待应答的提议。".into(),
                en: "There is no offer to answer.".into(),
                closed: false,
            })
            .await;
            return Ok(());
        }
        if sdp.len() > MAX_SDP_BYTES {
            return Err(refusal("SDP 过长。", "The SDP is too long."));
        }
        let answer = RTCSessionDescription::answer(sdp)
            .map_err(|e| refusal("无法解析 SDP 应答。", format!("Malformed SDP answer: {e}")))?;
        self.pc.set_remote_description(answer).await.map_err(|e| {
            refusal(
                "不支持的 SDP 应答。",
                format!("Unsupported SDP answer: {e}"),
            )
        })?;
        self.offering = false;
        for id in std::mem::take(&mut self.offered) {
            if let Some(f) = self.forwarded.get_mut(&id) {
                f.negotiated = true;
            }
        }
        self.update_live();
        self.learn_payload_types().await;
        if self.connected {
            self.request_keyframes();
        }
        if self.renegotiate {
            self.negotiate().await?;
        }
        Ok(())
    }

    async fn on_candidate(&mut self, c: IceCandidate) {
        if c.candidate.len() > 1024 {
            return;
        }
        let init = RTCIceCandidateInit {
            candidate: c.candidate,
            sdp_mid: c.sdp_mid,
            sdp_mline_index: c.sdp_m_line_index,
            username_fragment: c.username_fragment,
            ..Default::default()
        };
        // Candidates of an ignored offer, end-of-candidates markers and
        // mDNS names the agent cannot use fail here; none of them matters.
        if let Err(e) = self.pc.add_ice_candidate(init).await {
            tracing::debug!(error = %e, "remote candidate not added");
        }
    }

    /// Offer now, or after the outstanding answer.
    async fn negotiate(&mut self) -> Result<(), Refusal> {
        if self.offering {
            self.renegotiate = true;
            return Ok(());
        }
        self.renegotiate = false;
        let offer = self
            .pc
            .create_offer(None)
            .await
            .map_err(|e| refusal("无法生成 SDP 提议。", format!("Cannot offer: {e}")))?;
        self.pc
            .set_local_description(offer)
            .await
            .map_err(|e| refusal("无法生成 SDP 提议。", format!("Cannot offer: {e}")))?;
        let Some(local) = self.pc.local_description().await else {
            return Err(refusal("无法生成 SDP 提议。", "Cannot offer."));
        };
        self.offering = true;
        self.offered = self.forwarded.keys().copied().collect();
        self.idle.extend(self.freed.drain(..));
        let sdp = self.announce(local.sdp);
        self.send(Outbound::Offer(sdp)).await;
        Ok(())
    }

    fn announce(&self, sdp: String) -> String {
        match self.inner.announce {
            Some(ip) => rewrite_sdp(&sdp, ip),
            None => sdp,
        }
    }

    /// Forward what the room publishes (and this client wants), stop
    /// forwarding what it no longer does; renegotiate if anything changed.
    async fn sync(&mut self) -> Result<(), Refusal> {
        let wanted = self.inner.wanted(
            self.key.room,
            self.id,
            self.receive_video && self.mode == MediaMode::Video,
            self.mode != MediaMode::Data,
        );
        let mut changed = false;
        let gone: Vec<u64> = self
            .forwarded
            .keys()
            .filter(|id| !wanted.contains_key(id))
            .copied()
            .collect();
        for id in gone {
            if let Some(f) = self.forwarded.remove(&id) {
                f.tasks.iter().for_each(JoinHandle::abort);
                match self.pc.remove_track(&f.sender).await {
                    Ok(()) => self.freed.push((f.sender.id(), f.video)),
                    Err(e) => tracing::debug!(error = %e, "remove_track"),
                }
                changed = true;
            }
        }
        for (id, p) in wanted {
            if self.forwarded.contains_key(&id) {
                continue;
            }
            match self.forward(&p).await {
                Ok(f) => {
                    tracing::debug!(peer = self.id, user = %self.key.user, track = id, "forwarding");
                    self.forwarded.insert(id, f);
                    changed = true;
                }
                Err(e) => tracing::warn!(error = %e, "cannot forward a track"),
            }
        }
        let videos = self.forwarded.values().filter(|f| f.video).count();
        self.estimate.videos.store(videos, Ordering::Relaxed);
        if changed {
            self.negotiate().await?;
        }
        Ok(())
    }

    /// An idle transceiver of ours for a track of this kind, given the
    /// track, if the crate's `add_track` would pick one: it takes the
    /// first transceiver of the kind without a sender, which may instead be
    /// one the client sends on (its camera or microphone).
    async fn reuse(
        &mut self,
        track: &Arc<TrackLocalStaticRTP>,
        video: bool,
    ) -> Option<Arc<dyn RtpSender>> {
        if !self.idle.values().any(|v| *v == video) {
            return None;
        }
        let mut all = self.pc.get_transceivers().await;
        all.sort_by_key(|t| t.id());
        let mut first_free = None;
        for t in all {
            if t.sender().await.ok().flatten().is_some() {
                continue;
            }
            let id = RTCRtpSenderId::from(t.id());
            if let Some(v) = self.idle.get(&id) {
                if *v == video {
                    first_free = Some(id);
                    break;
                }
                continue;
            }
            let kind = match t.receiver().await.ok().flatten() {
                Some(r) => Some(r.track().kind().await),
                None => None,
            };
            if kind.is_none_or(|k| (k == RtpCodecKind::Video) == video) {
                // The client's own: `add_track` would take it.
                return None;
            }
        }
        let expected = first_free?;
        let sender = self
            .pc
            .add_track(track.clone() as Arc<dyn TrackLocal>)
            .await
            .ok()?;
        if sender.id() == expected {
            self.idle.remove(&expected);
            return Some(sender);
        }
        // Not the one foreseen: give it back as it was.
        if let Err(e) = self.pc.remove_track(&sender).await {
            tracing::warn!(error = %e, "remove_track after add_track");
        }
        None
    }

    /// A new outgoing track carrying `p`'s packets.
    async fn forward(&mut self, p: &Published) -> webrtc::error::Result<Forwarded> {
        let ssrc = rand_core::RngCore::next_u32(&mut rand_core::OsRng);
        let stream = media_stream_id(p.user, p.source);
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            stream.clone(),
            format!("{stream}:{}", p.id),
            p.source.as_str().to_owned(),
            p.kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: p.codec.clone(),
                ..Default::default()
            }],
        )));
        let video = p.kind == RtpCodecKind::Video;
        let sender = match self.reuse(&track, video).await {
            Some(sender) => sender,
            None => self
                .pc
                .add_transceiver_from_track(
                    track.clone() as Arc<dyn TrackLocal>,
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Sendonly,
                        streams: vec![stream],
                        send_encodings: Vec::new(),
                    }),
                )
                .await?
                .sender()
                .await?
                .ok_or_else(|| webrtc::error::Error::Other("transceiver without sender".into()))?,
        };
        let payload_type = Arc::new(AtomicU8::new(if video {
            VP8_PAYLOAD_TYPE
        } else {
            OPUS_PAYLOAD_TYPE
        }));
        let leg_payload_type = payload_type.clone();
        let clock_rate = p.codec.clock_rate;
        let keyframe = p.keyframe.clone();
        let mut packets = p.packets.subscribe();
        let out = track.clone();
        let (layer_tx, target) = watch::channel(Layer::High);
        let keyframe_needed = Arc::new(Notify::new());
        let needed = keyframe_needed.clone();
        let live = Arc::new(AtomicBool::new(false));
        let leg_live = live.clone();
        let gauges = self.inner.gauges.clone();
        let peer = self.id;
        // Bytes forwarded, for the rate the subscriber's estimate is
        // weighed against.
        let forwarded_bytes = Arc::new(AtomicU64::new(0));
        let counted_bytes = forwarded_bytes.clone();
        let forward = self.inner.spawn(async move {
            let mut layers = Forwarding::default();
            let mut shown = LayerShown::default();
            let (mut got, mut sent, mut since) = (0u64, 0u64, Instant::now());
            loop {
                // What went in and out, to tell a publisher whose packets
                // stopped from a forwarder that drops them.
                if video && since.elapsed() > Duration::from_secs(3) {
                    tracing::debug!(peer, ssrc, got, sent, live = leg_live.load(Ordering::Relaxed), layer = ?layers.rewriter.layer(), want = ?*target.borrow(), stalled = layers.stalled, "forwarder");
                    (got, sent, since) = (0, 0, Instant::now());
                }
                let m = tokio::select! {
                    m = packets.recv() => m,
                    () = needed.notified() => {
                        if video {
                            layers.keyframe_needed(*target.borrow(), Instant::now(), &keyframe);
                        }
                        continue;
                    }
                };
                match m {
                    Ok(m) => {
                        got += 1;
                        if !leg_live.load(Ordering::Relaxed) {
                            // Dropped here rather than in the crate; the leg
                            // asks for a keyframe when it opens.
                            continue;
                        }
                        let want = *target.borrow();
                        let passed = layers.pass(m, want, video, clock_rate, &keyframe);
                        if video {
                            shown.follow(&layers, &gauges);
                        }
                        let Some(mut pkt) = passed else {
                            continue;
                        };
                        sent += 1;
                        counted_bytes.fetch_add(pkt.payload.len() as u64 + 12, Ordering::Relaxed);
                        pkt.header.ssrc = ssrc;
                        pkt.header.payload_type = leg_payload_type.load(Ordering::Relaxed);
                        // Fails only when the track was unbound meanwhile
                        // (removed, the connection closing): the subscriber
                        // then lacks what was dropped, and the forwarder
                        // asks for a keyframe until one passes.
                        if let Err(e) = out.write_rtp(pkt).await
                            && video
                            && !layers.stalled
                        {
                            tracing::debug!(ssrc, error = %e, "forwarded video lost");
                            layers.stall();
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if video && leg_live.load(Ordering::Relaxed) {
                            layers.keyframe_needed(*target.borrow(), Instant::now(), &keyframe);
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        let feedback_needed = keyframe_needed.clone();
        let estimate = self.estimate.clone();
        let feedback = self.inner.spawn(async move {
            let mut choice = LayerChoice::new(Instant::now());
            let mut rate = Rate::default();
            loop {
                match track.poll().await {
                    Some(TrackLocalEvent::OnRtcpPacket(rtcp)) => {
                        let mut loss = None;
                        for p in &rtcp {
                            let any = p.as_any();
                            if super::rtcp::is_keyframe_request(p.as_ref()) {
                                // The forwarder knows which layer this
                                // subscriber gets or awaits: the chosen
                                // one may not be sent at all.
                                feedback_needed.notify_one();
                            } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
                                loss = rr
                                    .reports
                                    .iter()
                                    .find(|r| r.ssrc == ssrc)
                                    .map(|r| f64::from(r.fraction_lost) / 256.0)
                                    .or(loss);
                            } else if let Some(remb) =
                                any.downcast_ref::<ReceiverEstimatedMaximumBitrate>()
                            {
                                let kbps = f64::from(remb.bitrate) / 1000.0;
                                tracing::trace!(ssrc, kbps, "subscriber's estimate (REMB)");
                                estimate.set(kbps);
                            }
                        }
                        if video && loss.is_some() {
                            let report = Feedback {
                                loss,
                                estimate_kbps: estimate.share_kbps(),
                                sending_kbps: rate
                                    .since_last(forwarded_bytes.load(Ordering::Relaxed)),
                            };
                            let layer = choice.report(report, Instant::now());
                            tracing::trace!(peer, ssrc, ?report, ?layer, "subscriber's report");
                            layer_tx.send_if_modified(|l| {
                                let changed = *l != layer;
                                if changed {
                                    tracing::debug!(
                                        peer,
                                        ssrc,
                                        ?layer,
                                        ?report,
                                        "subscriber's layer"
                                    );
                                }
                                *l = layer;
                                changed
                            });
                        }
                    }
                    Some(_) => {}
                    // Not bound (yet, or any more): look again shortly.
                    None => tokio::time::sleep(Duration::from_millis(250)).await,
                }
            }
        });
        Ok(Forwarded {
            sender,
            payload_type,
            video,
            keyframe_needed,
            negotiated: false,
            live,
            tasks: [forward, feedback],
            _counted: Counted::new(&self.inner.gauges.forwarded),
        })
    }

    /// Each forwarded track's payload type as its leg negotiated it (known
    /// once the client answered the offer that added it).
    async fn learn_payload_types(&self) {
        for f in self.forwarded.values() {
            let Ok(params) = f.sender.get_parameters().await else {
                continue;
            };
            let mime = if f.video {
                MIME_TYPE_VP8
            } else {
                MIME_TYPE_OPUS
            };
            if let Some(codec) = params
                .rtp_parameters
                .codecs
                .iter()
                .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
            {
                f.payload_type.store(codec.payload_type, Ordering::Relaxed);
            }
        }
    }

    /// Open each forwarded track's flow once its leg can carry it.
    fn update_live(&self) {
        for f in self.forwarded.values() {
            f.live
                .store(self.connected && f.negotiated, Ordering::Relaxed);
        }
    }

    fn request_keyframes(&self) {
        for f in self.forwarded.values().filter(|f| f.video) {
            f.keyframe_needed.notify_one();
        }
    }

    async fn on_track(&mut self, track: Arc<dyn TrackRemote>) {
        let kind = track.kind().await;
        let track_id = track.track_id().await;
        let codec = codec_of(kind);
        if let Some(old) = self.received.remove(&track_id) {
            old.tasks.iter().for_each(JoinHandle::abort);
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(peer = self.id, track = id, %track_id, ?kind, "track received");
        let (packets, _) = broadcast::channel(PACKET_BUFFER);
        let (keyframe, keyframe_rx) = mpsc::channel::<Layer>(8);
        // The SSRC of each layer, learnt as each one opens.
        let ssrcs: Arc<Mutex<[Option<u32>; 2]>> = Arc::default();
        let reader_packets = packets.clone();
        let reader_track = track.clone();
        let reader_ssrcs = ssrcs.clone();
        let ended = self.tx.clone();
        let ended_id = track_id.clone();
        let video = kind == RtpCodecKind::Video;
        let opened_keyframe = keyframe.clone();
        let reader = self.inner.spawn(async move {
            let mut layers: HashMap<u32, (Layer, bool)> = HashMap::new();
            let mut gaps: HashMap<u32, PaddingGaps> = HashMap::new();
            while let Some(event) = reader_track.poll().await {
                match event {
                    TrackRemoteEvent::OnOpen(init) => {
                        let layer = Layer::of_rid(init.rid.as_deref());
                        tracing::debug!(ssrc = init.ssrc, rid = ?init.rid, "layer opened");
                        layers.insert(init.ssrc, (layer, init.rid.is_some()));
                        reader_ssrcs.lock().unwrap_or_else(|e| e.into_inner())[layer.index()] =
                            Some(init.ssrc);
                        if video {
                            let _ = opened_keyframe.try_send(layer);
                        }
                    }
                    TrackRemoteEvent::OnRtpPacket(mut pkt) => {
                        // Padding-only packets are bandwidth probes of this
                        // leg, dropped without a hole in the numbers
                        // ([`PaddingGaps`]); extensions are negotiated per leg.
                        let g = gaps.entry(pkt.header.ssrc).or_default();
                        if pkt.payload.is_empty() {
                            g.drop_packet(pkt.header.sequence_number);
                            continue;
                        }
                        pkt.header.sequence_number = g.forward(pkt.header.sequence_number);
                        pkt.header.padding = false;
                        pkt.header.extension = false;
                        pkt.header.extensions.clear();
                        let (layer, simulcast) = layers
                            .get(&pkt.header.ssrc)
                            .copied()
                            .unwrap_or((Layer::High, false));
                        let _ = reader_packets.send(Media {
                            layer,
                            simulcast,
                            pkt,
                        });
                    }
                    TrackRemoteEvent::OnEnded => break,
                    _ => {}
                }
            }
            let _ = ended.send(Cmd::Ended(ended_id));
        });
        let keyframes = self
            .inner
            .spawn(ask_keyframes(track, video, ssrcs, keyframe_rx));
        self.received.insert(
            track_id,
            Received {
                id,
                kind,
                codec,
                packets,
                keyframe,
                tasks: [reader, keyframes],
            },
        );
        self.publish();
    }
}

/// Sends the publisher a PLI for each layer asked for, at most one per
/// layer per [`KEYFRAME_INTERVAL`] (requests meanwhile are answered by the
/// one that follows the interval).
async fn ask_keyframes(
    track: Arc<dyn TrackRemote>,
    video: bool,
    ssrcs: Arc<Mutex<[Option<u32>; 2]>>,
    mut rx: mpsc::Receiver<Layer>,
) {
    let mut last: [Option<Instant>; 2] = [None, None];
    let mut pending = [false; 2];
    loop {
        let due = (0..2)
            .filter(|&i| pending[i])
            .filter_map(|i| last[i].map(|t| t + KEYFRAME_INTERVAL))
            .min();
        let asked = match due {
            Some(at) => {
                match tokio::time::timeout_at(tokio::time::Instant::from_std(at), rx.recv()).await {
                    Ok(None) => return,
                    Ok(Some(layer)) => Some(layer),
                    Err(_) => None,
                }
            }
            None => match rx.recv().await {
                Some(layer) => Some(layer),
                None => return,
            },
        };
        if !video {
            continue;
        }
        if let Some(layer) = asked {
            pending[layer.index()] = true;
        }
        let now = Instant::now();
        for layer in [Layer::Low, Layer::High] {
            let i = layer.index();
            if !pending[i] || last[i].is_some_and(|t| now < t + KEYFRAME_INTERVAL) {
                continue;
            }
            // Not open yet: the request waits for it (opening the layer
            // asks again), or a subscriber that missed the layer's first
            // keyframe would wait for a request nobody makes.
            let Some(ssrc) = ssrcs.lock().unwrap_or_else(|e| e.into_inner())[i] else {
                continue;
            };
            pending[i] = false;
            last[i] = Some(now);
            tracing::debug!(ssrc, ?layer, "keyframe asked");
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc: ssrc,
            };
            if track.write_rtcp(vec![Box::new(pli)]).await.is_err() {
                return;
            }
        }
    }
}

/// What a forwarder sends, between two of its subscriber's reports.
#[derive(Default)]
struct Rate {
    last: Option<(u64, Instant)>,
}

impl Rate {
    /// kbit/s since the last call (`None` the first time, or after less
    /// than 200 ms: too short to say).
    fn since_last(&mut self, bytes: u64) -> Option<f64> {
        let now = Instant::now();
        let (before, at) = self.last.unwrap_or((bytes, now));
        let ms = now.saturating_duration_since(at).as_secs_f64() * 1000.0;
        if ms < 200.0 && self.last.is_some() {
            return None;
        }
        self.last = Some((bytes, now));
        (ms >= 200.0).then(|| bytes.saturating_sub(before) as f64 * 8.0 / ms)
    }
}

/// The forwarder's count in `jiliang_media_forwarded_layer`: under the
/// layer its subscriber gets while the stream comes as layers, nowhere
/// otherwise (and nowhere once the forwarder ends).
#[derive(Default)]
struct LayerShown(Option<(u8, Counted)>);

impl LayerShown {
    fn follow(&mut self, layers: &Forwarding, gauges: &MediaGauges) {
        let now = if layers.simulcast {
            layers.rewriter.layer()
        } else {
            None
        };
        if self.0.as_ref().map(|(l, _)| *l) != now {
            self.0 = now.map(|l| {
                let layer = if l == Layer::Low as u8 {
                    Layer::Low
                } else {
                    Layer::High
                };
                (l, Counted::new(&gauges.layer(layer)))
            });
        }
    }
}

/// One forwarder's choice of packets: which layer passes, rewritten how;
/// and whether its subscriber still lacks a keyframe.
#[derive(Default)]
struct Forwarding {
    rewriter: Rewriter,
    /// When each layer last sent a packet.
    seen: [Option<Instant>; 2],
    /// The last keyframe request, for a layer being waited for.
    asked: Option<(Layer, Instant)>,
    /// The subscriber cannot decode (it asked for a keyframe, or packets
    /// were lost on the way to it) until a keyframe of the forwarded layer
    /// passes: asked for again every [`KEYFRAME_RETRY`] meanwhile, since
    /// one request may go unanswered (the publisher's browser pausing or
    /// restarting a layer, a PLI lost on a loaded link).
    stalled: bool,
    /// The stream came as layers (a `rid`) at its last packet.
    simulcast: bool,
}

impl Forwarding {
    /// The layer to forward when the subscriber should get `want`: the
    /// other one while `want` is not being sent.
    fn target(&self, want: Layer, now: Instant) -> Layer {
        let alive = |l: Layer| {
            self.seen[l.index()].is_some_and(|t| now.saturating_duration_since(t) < LAYER_GONE)
        };
        if alive(want) || !alive(want.other()) {
            want
        } else {
            want.other()
        }
    }

    /// Ask the publisher for a keyframe of `layer`, unless this forwarder
    /// did so less than [`KEYFRAME_RETRY`] ago.
    fn ask(&mut self, layer: Layer, now: Instant, keyframe: &mpsc::Sender<Layer>) {
        if self
            .asked
            .is_none_or(|(l, at)| l != layer || now.saturating_duration_since(at) > KEYFRAME_RETRY)
        {
            self.asked = Some((layer, now));
            let _ = keyframe.try_send(layer);
        }
    }

    /// The subscriber lacks a keyframe: ask at once for one of the layer
    /// it gets (or, during a switch, of the layer it awaits, whose
    /// keyframe starts it), and again until one passes.
    fn keyframe_needed(&mut self, want: Layer, now: Instant, keyframe: &mpsc::Sender<Layer>) {
        let layer = if self.simulcast {
            self.target(want, now)
        } else {
            Layer::High
        };
        self.stalled = true;
        self.asked = None;
        self.ask(layer, now, keyframe);
    }

    /// A packet passed did not reach the subscriber.
    fn stall(&mut self) {
        self.stalled = true;
    }

    /// The packet to send for `m`, if any, `want` being the subscriber's
    /// layer.
    fn pass(
        &mut self,
        m: Media,
        want: Layer,
        video: bool,
        clock_rate: u32,
        keyframe: &mpsc::Sender<Layer>,
    ) -> Option<rtp::Packet> {
        let Media {
            layer,
            simulcast,
            mut pkt,
        } = m;
        let now = Instant::now();
        self.simulcast = simulcast;
        let vp8 = if video {
            Vp8::parse(&pkt.payload)
        } else {
            None
        };
        let keyframe_start = vp8.is_some_and(|v| v.keyframe_start);
        if !simulcast {
            // One stream: as it comes (only the SSRC changes).
            if self.stalled {
                if keyframe_start {
                    self.stalled = false;
                    self.asked = None;
                } else {
                    self.ask(Layer::High, now, keyframe);
                }
            }
            return Some(pkt);
        }
        self.seen[layer.index()] = Some(now);
        let want = self.target(want, now);
        if self.rewriter.layer() != Some(want as u8) {
            if layer == want && (!video || keyframe_start) {
                self.rewriter.switch(want as u8, &pkt, vp8, clock_rate, now);
                self.asked = None;
                self.stalled = false;
            } else {
                self.ask(want, now, keyframe);
            }
        } else if self.stalled {
            if layer == want && keyframe_start {
                self.stalled = false;
                self.asked = None;
            } else {
                self.ask(want, now, keyframe);
            }
        }
        if self.rewriter.layer() != Some(layer as u8) {
            return None;
        }
        self.rewriter.rewrite(&mut pkt, vp8, now).then_some(pkt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published(id: u64, user: Uuid, source: MediaSource, muted: bool) -> Published {
        let (packets, _) = broadcast::channel(1);
        let (keyframe, _) = mpsc::channel(1);
        Published {
            id,
            owner: id,
            user,
            kind: if source.is_video() {
                RtpCodecKind::Video
            } else {
                RtpCodecKind::Audio
            },
            codec: RTCRtpCodec::default(),
            source,
            muted,
            packets,
            keyframe,
        }
    }

    #[test]
    fn publishers_group_tracks_by_person_in_a_fixed_order() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let tracks: HashMap<u64, Published> = [
            published(1, b, MediaSource::Screen, false),
            published(2, a, MediaSource::Microphone, true),
            published(3, b, MediaSource::Camera, false),
        ]
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
        let links: HashMap<u64, LinkReport> = [(
            3,
            LinkReport {
                mode: MediaMode::Audio,
                quality: jiliang_protocol::rooms::LinkQuality::Poor,
            },
        )]
        .into_iter()
        .collect();
        let list = publishers(&tracks, &links);
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].user_id, a);
        assert_eq!(
            list[0].tracks,
            vec![PublishedTrack {
                source: MediaSource::Microphone,
                muted: true
            }]
        );
        assert_eq!(list[1].user_id, b);
        let sources: Vec<MediaSource> = list[1].tracks.iter().map(|t| t.source).collect();
        assert_eq!(sources, vec![MediaSource::Camera, MediaSource::Screen]);
        assert_eq!(list[0].link, None);
        assert_eq!(list[1].link.map(|l| l.mode), Some(MediaMode::Audio));
        assert!(publishers(&HashMap::new(), &links).is_empty());
    }

    fn vp8_packet(layer: Layer, seq: u16, keyframe: bool) -> Media {
        // Descriptor with a 15-bit picture id, then the payload header.
        let payload = vec![
            if keyframe { 0x90 } else { 0x80 },
            0x80,
            0x80,
            seq as u8,
            if keyframe { 0x00 } else { 0x01 },
        ];
        Media {
            layer,
            simulcast: true,
            pkt: rtp::Packet {
                header: rtp::header::Header {
                    sequence_number: seq,
                    timestamp: u32::from(seq) * 3000,
                    ..Default::default()
                },
                payload: payload.into(),
            },
        }
    }

    #[test]
    fn a_forwarder_switches_layers_on_keyframes_only() {
        let (tx, mut asked) = mpsc::channel(8);
        let mut f = Forwarding::default();
        // Nothing from the high layer (the publisher paused it): the low
        // one stands in.
        assert!(
            f.pass(
                vp8_packet(Layer::Low, 500, true),
                Layer::High,
                true,
                90_000,
                &tx
            )
            .is_some()
        );
        assert_eq!(f.rewriter.layer(), Some(Layer::Low as u8));
        // Waiting for the high layer's keyframe: a keyframe is asked for.
        let mut f = Forwarding::default();
        assert!(
            f.pass(
                vp8_packet(Layer::High, 10, false),
                Layer::High,
                true,
                90_000,
                &tx
            )
            .is_none()
        );
        assert_eq!(asked.try_recv().ok(), Some(Layer::High));
        let out = f
            .pass(
                vp8_packet(Layer::High, 11, true),
                Layer::High,
                true,
                90_000,
                &tx,
            )
            .expect("the keyframe starts the stream");
        assert_eq!(out.header.sequence_number, 11);
        assert!(
            f.pass(
                vp8_packet(Layer::Low, 600, true),
                Layer::High,
                true,
                90_000,
                &tx
            )
            .is_none()
        );
        assert!(
            f.pass(
                vp8_packet(Layer::High, 12, false),
                Layer::High,
                true,
                90_000,
                &tx
            )
            .is_some()
        );
        // The subscriber is moved to the low layer: the high one goes on
        // until the low layer's keyframe, which continues the numbers.
        assert!(
            f.pass(
                vp8_packet(Layer::Low, 601, false),
                Layer::Low,
                true,
                90_000,
                &tx
            )
            .is_none()
        );
        assert_eq!(asked.try_recv().ok(), Some(Layer::Low));
        let out = f
            .pass(
                vp8_packet(Layer::High, 13, false),
                Layer::Low,
                true,
                90_000,
                &tx,
            )
            .expect("still the high layer");
        assert_eq!(out.header.sequence_number, 13);
        let out = f
            .pass(
                vp8_packet(Layer::Low, 602, true),
                Layer::Low,
                true,
                90_000,
                &tx,
            )
            .expect("switched");
        assert_eq!(out.header.sequence_number, 14);
        assert!(
            f.pass(
                vp8_packet(Layer::High, 14, false),
                Layer::Low,
                true,
                90_000,
                &tx
            )
            .is_none()
        );
        // A stream without simulcast passes as it is.
        let mut one = vp8_packet(Layer::High, 7, false);
        one.simulcast = false;
        assert_eq!(
            f.pass(one, Layer::Low, true, 90_000, &tx)
                .map(|p| p.header.sequence_number),
            Some(7)
        );
    }

    #[test]
    fn a_subscribers_keyframe_request_goes_to_the_layer_it_gets() {
        let (tx, mut asked) = mpsc::channel(8);
        let mut f = Forwarding::default();
        // The subscriber should get the high layer, but the publisher sends
        // only the low one: that is forwarded.
        assert!(
            f.pass(
                vp8_packet(Layer::Low, 1, true),
                Layer::High,
                true,
                90_000,
                &tx
            )
            .is_some()
        );
        assert!(asked.try_recv().is_err(), "nothing to ask for");
        // Its browser asks for a keyframe: of the low layer, the one it
        // gets (the high one is not sent: asking for it is answered by
        // nobody, and the picture would stay frozen).
        f.keyframe_needed(Layer::High, Instant::now(), &tx);
        assert_eq!(asked.try_recv().ok(), Some(Layer::Low));
        // Until a keyframe passes, packets of that layer pass and the
        // request is repeated once the retry interval is over.
        assert!(
            f.pass(
                vp8_packet(Layer::Low, 2, false),
                Layer::High,
                true,
                90_000,
                &tx
            )
            .is_some()
        );
        assert!(asked.try_recv().is_err(), "not again at once");
        f.asked = f
            .asked
            .map(|(l, at)| (l, at - KEYFRAME_RETRY - Duration::from_millis(1)));
        assert!(
            f.pass(
                vp8_packet(Layer::Low, 3, false),
                Layer::High,
                true,
                90_000,
                &tx
            )
            .is_some()
        );
        assert_eq!(asked.try_recv().ok(), Some(Layer::Low), "asked again");
        // The keyframe comes: no more requests.
        assert!(
            f.pass(
                vp8_packet(Layer::Low, 4, true),
                Layer::High,
                true,
                90_000,
                &tx
            )
            .is_some()
        );
        assert!(!f.stalled);
        f.asked = None;
        assert!(
            f.pass(
                vp8_packet(Layer::Low, 5, false),
                Layer::High,
                true,
                90_000,
                &tx
            )
            .is_some()
        );
        assert!(asked.try_recv().is_err(), "the subscriber has its keyframe");
        // Packets that did not reach the subscriber (its leg was not
        // negotiated yet): a keyframe is asked for with the next packet.
        f.stall();
        assert!(
            f.pass(
                vp8_packet(Layer::Low, 6, false),
                Layer::High,
                true,
                90_000,
                &tx
            )
            .is_some()
        );
        assert_eq!(asked.try_recv().ok(), Some(Layer::Low));
        // A stream without simulcast: its one stream is asked for.
        let mut one = Forwarding::default();
        let mut m = vp8_packet(Layer::High, 40, false);
        m.simulcast = false;
        assert!(one.pass(m, Layer::Low, true, 90_000, &tx).is_some());
        one.keyframe_needed(Layer::Low, Instant::now(), &tx);
        assert_eq!(asked.try_recv().ok(), Some(Layer::High));
        let mut m = vp8_packet(Layer::High, 41, true);
        m.simulcast = false;
        assert!(one.pass(m, Layer::Low, true, 90_000, &tx).is_some());
        assert!(!one.stalled);
    }
}
