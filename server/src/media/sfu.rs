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
//! it (`media_state`): its packets, header extensions and padding stripped
//! (each leg negotiates its own extension ids), go into a broadcast channel;
//! each other peer forwards them on a track of its own with its own SSRC.
//! Keyframe requests reach the publisher when a subscriber connects, when
//! its renegotiation completes, when it falls behind, and whenever the
//! subscriber's browser sends a PLI or FIR.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jiliang_protocol::rooms::{
    IceCandidate, MediaPublisher, MediaSource, MediaTrackState, PublishedTrack, media_stream_id,
};
use prometheus_client::metrics::gauge::Gauge;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::Registry;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::transport::RTCDtlsRole;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use tokio::sync::{broadcast, mpsc};
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

use super::net::{Ports, announced_ip, rewrite_candidate, rewrite_sdp};
use super::{Inbound, MediaConfig, MediaUpdate, Outbound, PeerKey, Sfu};

/// Tracks one connection may declare.
const MAX_TRACKS: usize = 3;
/// Longest SDP accepted (a browser's with three tracks is ~6 KB).
const MAX_SDP_BYTES: usize = 32 * 1024;
/// Packets a publisher's broadcast channel holds for a slow forwarder.
const PACKET_BUFFER: usize = 512;
/// Least time between two keyframe requests to one publisher.
const KEYFRAME_INTERVAL: Duration = Duration::from_millis(300);
/// Payload types of VP8 and Opus the server registers (Chromium's). A leg
/// may negotiate others (the crate answers an offer with the offerer's, and
/// aiortc offers VP8 as 97), so each forwarded packet gets the payload type
/// of its subscriber's leg, or that leg's sender drops it.
const VP8_PAYLOAD_TYPE: u8 = 96;
const OPUS_PAYLOAD_TYPE: u8 = 111;

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
    /// Peer connections built and not yet closed.
    peers: Gauge,
    /// Tracks published (received and declared).
    tracks: Gauge,
}

#[derive(Default)]
struct RoomMedia {
    peers: HashMap<u64, PeerEntry>,
    /// Published tracks by id.
    tracks: HashMap<u64, Published>,
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
    packets: broadcast::Sender<rtp::Packet>,
    keyframe: mpsc::Sender<()>,
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
    /// The SFU, counting its peer connections and tracks in the two gauges
    /// (`jiliang_media_peer_connections`, `jiliang_media_tracks`).
    pub fn new(config: &MediaConfig, peers: Gauge, tracks: Gauge) -> Self {
        let (updates, _) = broadcast::channel(256);
        Self {
            inner: Arc::new(Inner {
                ports: Ports::new(config),
                announce: announced_ip(config),
                rooms: Mutex::new(HashMap::new()),
                updates,
                next_id: AtomicU64::new(1),
                closed: AtomicBool::new(false),
                peers,
                tracks,
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
        tokio::spawn(run_peer(inner, key, id, out, rx, tx));
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
            .map(|r| publishers(&r.tracks))
            .unwrap_or_default()
    }

    fn updates(&self) -> broadcast::Receiver<MediaUpdate> {
        self.inner.updates.subscribe()
    }

    fn peer_connections(&self) -> usize {
        usize::try_from(self.inner.peers.get()).unwrap_or(0)
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
        self.tracks.inc_by(after.len() as i64 - before.len() as i64);
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
        let before = r.tracks.len();
        r.tracks.retain(|_, t| t.owner != id);
        let removed = before - r.tracks.len();
        self.tracks.dec_by(removed as i64);
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

    fn announce(&self, room: Uuid, r: &mut RoomMedia) {
        let now = publishers(&r.tracks);
        if now != r.announced {
            r.announced = now.clone();
            let _ = self.updates.send(MediaUpdate {
                room,
                publishers: Arc::new(now),
            });
        }
    }

    /// What peer `me` should receive in `room`.
    fn wanted(&self, room: Uuid, me: u64, video: bool) -> HashMap<u64, Published> {
        self.lock()
            .get(&room)
            .map(|r| {
                r.tracks
                    .values()
                    .filter(|t| t.owner != me && (video || t.kind != RtpCodecKind::Video))
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
                    super::rtcp::KeyframeRequests::default(),
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

/// The room's publishers, one entry per person, sources in a fixed order.
fn publishers(tracks: &HashMap<u64, Published>) -> Vec<MediaPublisher> {
    let mut by_user: HashMap<Uuid, Vec<PublishedTrack>> = HashMap::new();
    for t in tracks.values() {
        by_user.entry(t.user).or_default().push(PublishedTrack {
            source: t.source,
            muted: t.muted,
        });
    }
    let mut list: Vec<MediaPublisher> = by_user
        .into_iter()
        .map(|(user_id, mut tracks)| {
            tracks.sort_by_key(|t| t.source.as_str());
            MediaPublisher { user_id, tracks }
        })
        .collect();
    list.sort_by_key(|p| p.user_id);
    list
}

/// What Chromium offers and the SFU forwards as is: VP8 and Opus on the
/// payload types Chromium uses, so a packet keeps its payload type from the
/// publisher's leg to every subscriber's.
fn register_codecs(engine: &mut MediaEngine) -> webrtc::error::Result<()> {
    let fb = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    };
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: MIME_TYPE_VP8.to_owned(),
                clock_rate: 90_000,
                channels: 0,
                sdp_fmtp_line: String::new(),
                rtcp_feedback: vec![fb("ccm", "fir"), fb("nack", ""), fb("nack", "pli")],
            },
            payload_type: VP8_PAYLOAD_TYPE,
        },
        RtpCodecKind::Video,
    )?;
    engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: MIME_TYPE_OPUS.to_owned(),
                clock_rate: 48_000,
                channels: 2,
                sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
                rtcp_feedback: vec![],
            },
            payload_type: OPUS_PAYLOAD_TYPE,
        },
        RtpCodecKind::Audio,
    )?;
    Ok(())
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
    packets: broadcast::Sender<rtp::Packet>,
    keyframe: mpsc::Sender<()>,
    tasks: [JoinHandle<()>; 2],
}

/// A track this peer forwards to its client.
struct Forwarded {
    sender: Arc<dyn RtpSender>,
    /// The payload type negotiated on this leg (set after each answer).
    payload_type: Arc<AtomicU8>,
    video: bool,
    keyframe: mpsc::Sender<()>,
    tasks: [JoinHandle<()>; 2],
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
    received: HashMap<String, Received>,
    forwarded: HashMap<u64, Forwarded>,
    /// Our offer awaits the client's answer.
    offering: bool,
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
    inner.peers.inc();
    let mut peer = Peer {
        inner: inner.clone(),
        key,
        id,
        pc,
        out,
        tx,
        declared: Vec::new(),
        receive_video: true,
        received: HashMap::new(),
        forwarded: HashMap::new(),
        offering: false,
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
        self.inner.peers.dec();
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
        let wanted = self
            .inner
            .wanted(self.key.room, self.id, self.receive_video);
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
                if let Err(e) = self.pc.remove_track(&f.sender).await {
                    tracing::debug!(error = %e, "remove_track");
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
                    self.forwarded.insert(id, f);
                    changed = true;
                }
                Err(e) => tracing::warn!(error = %e, "cannot forward a track"),
            }
        }
        if changed {
            self.negotiate().await?;
        }
        Ok(())
    }

    /// A new outgoing track carrying `p`'s packets.
    async fn forward(&self, p: &Published) -> webrtc::error::Result<Forwarded> {
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
        let transceiver = self
            .pc
            .add_transceiver_from_track(
                track.clone() as Arc<dyn TrackLocal>,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Sendonly,
                    streams: vec![stream],
                    send_encodings: Vec::new(),
                }),
            )
            .await?;
        let sender = transceiver
            .sender()
            .await?
            .ok_or_else(|| webrtc::error::Error::Other("transceiver without sender".into()))?;
        let video = p.kind == RtpCodecKind::Video;
        let payload_type = Arc::new(AtomicU8::new(if video {
            VP8_PAYLOAD_TYPE
        } else {
            OPUS_PAYLOAD_TYPE
        }));
        let leg_payload_type = payload_type.clone();
        let keyframe = p.keyframe.clone();
        let mut packets = p.packets.subscribe();
        let out = track.clone();
        let lagged_keyframe = keyframe.clone();
        let forward = tokio::spawn(async move {
            loop {
                match packets.recv().await {
                    Ok(mut pkt) => {
                        pkt.header.ssrc = ssrc;
                        pkt.header.payload_type = leg_payload_type.load(Ordering::Relaxed);
                        // Fails until the transceiver is negotiated: those
                        // packets are dropped, a keyframe follows.
                        let _ = out.write_rtp(pkt).await;
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if video {
                            let _ = lagged_keyframe.try_send(());
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        let feedback_keyframe = keyframe.clone();
        let feedback = tokio::spawn(async move {
            loop {
                match track.poll().await {
                    Some(TrackLocalEvent::OnRtcpPacket(rtcp)) => {
                        if rtcp
                            .iter()
                            .any(|p| super::rtcp::is_keyframe_request(p.as_ref()))
                        {
                            let _ = feedback_keyframe.try_send(());
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
            keyframe,
            tasks: [forward, feedback],
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

    fn request_keyframes(&self) {
        for f in self.forwarded.values().filter(|f| f.video) {
            let _ = f.keyframe.try_send(());
        }
    }

    async fn on_track(&mut self, track: Arc<dyn TrackRemote>) {
        let kind = track.kind().await;
        let track_id = track.track_id().await;
        let Some(ssrc) = track.ssrcs().await.first().copied() else {
            tracing::debug!("received a track without an SSRC");
            return;
        };
        let Some(codec) = track.codec(ssrc).await else {
            tracing::debug!("received a track without a codec");
            return;
        };
        if let Some(old) = self.received.remove(&track_id) {
            old.tasks.iter().for_each(JoinHandle::abort);
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (packets, _) = broadcast::channel(PACKET_BUFFER);
        let (keyframe, mut keyframe_rx) = mpsc::channel::<()>(4);
        let reader_packets = packets.clone();
        let reader_track = track.clone();
        let ended = self.tx.clone();
        let ended_id = track_id.clone();
        let reader = tokio::spawn(async move {
            while let Some(event) = reader_track.poll().await {
                match event {
                    TrackRemoteEvent::OnRtpPacket(mut pkt) => {
                        // Padding-only packets are bandwidth probes of this
                        // leg; extensions are negotiated per leg.
                        if pkt.payload.is_empty() {
                            continue;
                        }
                        pkt.header.padding = false;
                        pkt.header.extension = false;
                        pkt.header.extensions.clear();
                        let _ = reader_packets.send(pkt);
                    }
                    TrackRemoteEvent::OnEnded => break,
                    _ => {}
                }
            }
            let _ = ended.send(Cmd::Ended(ended_id));
        });
        let video = kind == RtpCodecKind::Video;
        let keyframes = tokio::spawn(async move {
            let mut last: Option<Instant> = None;
            while keyframe_rx.recv().await.is_some() {
                if !video {
                    continue;
                }
                if let Some(at) = last {
                    let since = at.elapsed();
                    if since < KEYFRAME_INTERVAL {
                        tokio::time::sleep(KEYFRAME_INTERVAL - since).await;
                        // Requests that came meanwhile are answered by this one.
                        while keyframe_rx.try_recv().is_ok() {}
                    }
                }
                last = Some(Instant::now());
                let pli = PictureLossIndication {
                    sender_ssrc: 0,
                    media_ssrc: ssrc,
                };
                if track.write_rtcp(vec![Box::new(pli)]).await.is_err() {
                    break;
                }
            }
        });
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
        let list = publishers(&tracks);
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
        assert!(publishers(&HashMap::new()).is_empty());
    }
}
