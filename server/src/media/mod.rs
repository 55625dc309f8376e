//! Media: audio, video and screen forwarded by a selective forwarding unit.
//!
//! Each room connection that says `media_state` gets one peer connection
//! to this node: it publishes its tracks once and receives every other
//! participant's tracks over it. Signalling rides the room socket
//! (`rooms::socket`); this module only sees [`Inbound`] messages and
//! answers with [`Outbound`] ones, through the [`Sfu`] trait, so the engine
//! (today the `webrtc` crate, [`sfu::WebrtcSfu`]) could be swapped without
//! touching the socket.
//!
//! What others must know — who publishes what, muted or not — is a list of
//! [`MediaPublisher`]s per room: in the join snapshot and in a
//! `media_state` frame after every change ([`Sfu::updates`]). None of it is
//! stored in the room log.
//!
//! With several nodes, a room's media lives on one node at a time (the
//! holder of the room's lease) and [`route::RoutedSfu`] sits in front of the
//! engine: connections whose socket is on another node are signalled
//! through the bus to the holder's engine.

pub mod ice;
mod layer;
pub mod net;
mod padding;
mod rewrite;
pub mod route;
mod rtcp;
pub mod sfu;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use jiliang_protocol::rooms::{
    IceCandidate, LinkQuality, MediaMode, MediaPublisher, MediaSource, MediaTrackState,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

pub use layer::Layer;
pub use sfu::{Media, WebrtcSfu};

/// Where media flows on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// Address and first UDP port of the media ports (`--media-udp`); port
    /// 0: any free port (tests).
    pub udp: SocketAddr,
    /// How many UDP ports from `udp`'s port on (`--media-udp-ports`): one
    /// per peer connection, since webrtc 0.21 binds a socket per peer
    /// connection and has no UDP mux (see `docs/OPERATIONS.md`).
    pub udp_ports: u16,
    /// The address put in the candidates browsers connect to
    /// (`--media-public-ip`): the public side of a 1:1 NAT, or the
    /// address to announce when `udp` is the unspecified address.
    pub public_ip: Option<IpAddr>,
    /// How long a node's claim on a room's media lasts without renewal
    /// (`--media-lease-ms`): after a node dies, its rooms' media move to
    /// another node within this time. Renewed every third of it.
    pub lease_ms: u64,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            udp: SocketAddr::from(([0, 0, 0, 0], 7882)),
            udp_ports: 100,
            public_ip: None,
            lease_ms: 10_000,
        }
    }
}

impl MediaConfig {
    /// Loopback, any free port: what tests use.
    pub fn loopback() -> Self {
        Self {
            udp: SocketAddr::from(([127, 0, 0, 1], 0)),
            udp_ports: 1,
            public_ip: None,
            lease_ms: 10_000,
        }
    }
}

/// The SFU's own counts, on `/metrics`: what must return to where it was
/// once everyone who came and went has gone (the media soak compares them).
#[derive(Debug, Clone, Default)]
pub struct MediaGauges {
    /// Peer connections built and not yet closed
    /// (`jiliang_media_peer_connections`).
    pub peers: Gauge,
    /// Tracks published: received and declared (`jiliang_media_tracks`).
    pub tracks: Gauge,
    /// Tracks forwarded to subscribers (`jiliang_media_forwarded_tracks`).
    pub forwarded: Gauge,
    /// Tasks the SFU spawned that are still alive: per peer, per received
    /// and per forwarded track (`jiliang_media_tasks`). The peer
    /// connections' own driver tasks count in the runtime's task gauge.
    pub tasks: Gauge,
    /// Simulcast video tracks forwarded, by the layer each subscriber gets
    /// now (`jiliang_media_forwarded_layer`): how many subscribers their
    /// own feedback moved to the low layer.
    pub layers: Family<crate::metrics::MediaLayerLabels, Gauge>,
    /// Subscribers' RTCP feedback received, by kind
    /// (`jiliang_media_feedback`): which inputs of the layer choice the
    /// browsers actually send.
    pub feedback: Family<crate::metrics::MediaFeedbackLabels, Counter>,
}

impl MediaGauges {
    /// The gauge of forwarded tracks on `layer`.
    pub(crate) fn layer(&self, layer: Layer) -> Gauge {
        self.layers
            .get_or_create(&crate::metrics::MediaLayerLabels {
                layer: layer.as_str(),
            })
            .clone()
    }

    /// The counter of feedback of `kind`.
    pub(crate) fn feedback(&self, kind: &'static str) -> Counter {
        self.feedback
            .get_or_create(&crate::metrics::MediaFeedbackLabels { kind })
            .clone()
    }
}

/// One unit of a gauge, given back when dropped (however its owner ends:
/// removed, aborted, panicked).
pub(crate) struct Counted(Gauge);

impl Counted {
    pub(crate) fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// One connection's media: in `room`, for `user`, from socket `conn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerKey {
    pub room: Uuid,
    pub user: Uuid,
    pub conn: u64,
}

/// What a client says about its media.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    State {
        tracks: Vec<MediaTrackState>,
        receive_video: bool,
    },
    Offer(String),
    Answer(String),
    Candidate(IceCandidate),
    /// The mode the client runs in and its view of its link (`media_link`).
    Link {
        mode: MediaMode,
        quality: LinkQuality,
    },
}

/// What the engine tells one connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound {
    Offer(String),
    Answer(String),
    Candidate(IceCandidate),
    /// The media input was refused; the person keeps chatting. `closed`:
    /// the peer connection was closed because of it.
    Refused {
        zh: String,
        en: String,
        closed: bool,
    },
    /// The peer connection is closed; why (`media_stop`, `replaced`,
    /// `transport_failed`, `shutdown`, `moved`: the room's media moved to
    /// another node, start again).
    Closed(&'static str),
}

/// The room's media state after a change.
#[derive(Debug, Clone)]
pub struct MediaUpdate {
    pub room: Uuid,
    pub publishers: Arc<Vec<MediaPublisher>>,
}

/// A published track as a recorder sees it: its packets as the SFU
/// forwards them, and a way to ask its publisher for a keyframe.
pub struct Tap {
    /// Unique on this node while the track is published.
    pub id: u64,
    pub user: Uuid,
    pub source: MediaSource,
    pub video: bool,
    /// RTP clock rate of the codec (90 000 for VP8, 48 000 for Opus).
    pub clock_rate: u32,
    pub packets: broadcast::Receiver<Media>,
    pub keyframe: mpsc::Sender<Layer>,
}

/// A selective forwarding unit, as the room socket uses it. Every method
/// returns at once; the work happens in the engine's own tasks, and what
/// the client must hear arrives on the connection's [`Outbound`] channel.
pub trait Sfu: Send + Sync + 'static {
    /// Start media for a connection (a second call for the same key is
    /// ignored). Another connection of the same person in the same room
    /// has its media closed (`replaced`): one tab publishes.
    fn start(&self, key: PeerKey, out: mpsc::Sender<Outbound>);
    /// A client's signalling or track state.
    fn signal(&self, key: PeerKey, msg: Inbound);
    /// End a connection's media (`media_stop`, leave, socket loss).
    fn stop(&self, key: PeerKey);
    /// Who publishes what in a room now.
    fn publishers(&self, room: Uuid) -> Vec<MediaPublisher>;
    /// Every change of any room's media state on this node.
    fn updates(&self) -> broadcast::Receiver<MediaUpdate>;
    /// Peer connections open on this node.
    fn peer_connections(&self) -> usize;
    /// The tracks published in `room` whose media this node hosts (none
    /// when another node hosts it), for recording.
    fn taps(&self, room: Uuid) -> Vec<Tap>;
    /// Close everything (server shutdown).
    fn shutdown(&self);
}

/// A connection's media, stopped when dropped (however the socket ends).
pub struct MediaLink {
    pub key: PeerKey,
    pub rx: mpsc::Receiver<Outbound>,
    sfu: Arc<dyn Sfu>,
}

impl MediaLink {
    /// Start media for `key`.
    pub fn start(sfu: Arc<dyn Sfu>, key: PeerKey) -> Self {
        let (tx, rx) = mpsc::channel(64);
        sfu.start(key, tx);
        Self { key, rx, sfu }
    }

    pub fn signal(&self, msg: Inbound) {
        self.sfu.signal(self.key, msg);
    }
}

impl Drop for MediaLink {
    fn drop(&mut self) {
        self.sfu.stop(self.key);
    }
}
