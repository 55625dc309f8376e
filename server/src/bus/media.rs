//! Media signalling between nodes: a room's media lives on one node (the
//! holder of its lease, `crate::media::route`); a participant whose socket
//! is on another node has its offers, answers, candidates and track state
//! carried here to the hosting node, and the host's replies carried back.
//! Hosting nodes also tell every node who publishes what in their rooms.
//!
//! Nothing here is stored: a lost message costs a renegotiation (the client
//! restarts its media), never data. Unlike room notices, these messages are
//! acted upon as they are, so the bus must not be able to make them up:
//! every message is sealed with an HMAC under a key only the nodes know
//! (kept in the database, [`MediaSeal`]) and carries its time; a node drops
//! what it cannot verify or what is older than [`MAX_AGE_MS`].
//!
//! Subjects: `jiliang.media.node.<node>` for what one node must act on,
//! `jiliang.media.state` (every node) for rooms' publisher lists.

use futures_util::StreamExt;
use futures_util::stream::SelectAll;
use hmac::{Hmac, Mac};
use jiliang_protocol::rooms::{
    IceCandidate, LinkQuality, MediaMode, MediaPublisher, MediaTrackState,
};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use super::{Bus, Queued, SUBSCRIBE_TIMEOUT};

const STATE_SUBJECT: &str = "jiliang.media.state";
/// A sealed message older (or further ahead) than this is dropped: a
/// recorded message cannot be replayed later. Nodes' clocks must agree to
/// well within it (they must for presence already).
pub const MAX_AGE_MS: i64 = 30_000;
const TAG_LEN: usize = 32;

/// The key that seals media messages between nodes.
#[derive(Clone)]
pub struct MediaSeal {
    key: [u8; 32],
}

impl std::fmt::Debug for MediaSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaSeal(..)")
    }
}

/// What is sealed: the message and when it was sent.
#[derive(Serialize, Deserialize)]
struct Sealed {
    at_ms: i64,
    msg: MediaWire,
}

impl MediaSeal {
    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length: this cannot fail.
        Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC key")
    }

    /// The tag, then the JSON of `msg` stamped `at_ms`.
    fn seal(&self, msg: MediaWire, at_ms: i64) -> Result<Vec<u8>, serde_json::Error> {
        let body = serde_json::to_vec(&Sealed { at_ms, msg })?;
        let mut mac = self.mac();
        mac.update(&body);
        let mut out = mac.finalize().into_bytes().to_vec();
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// The message in `payload` if this key sealed it within
    /// [`MAX_AGE_MS`] of `now_ms`.
    fn open(&self, payload: &[u8], now_ms: i64) -> Option<MediaWire> {
        if payload.len() < TAG_LEN {
            return None;
        }
        let (tag, body) = payload.split_at(TAG_LEN);
        let mut mac = self.mac();
        mac.update(body);
        mac.verify_slice(tag).ok()?;
        let sealed: Sealed = serde_json::from_slice(body).ok()?;
        ((now_ms - sealed.at_ms).abs() <= MAX_AGE_MS).then_some(sealed.msg)
    }
}

fn now_ms() -> i64 {
    crate::store::rooms::presence::now_ms()
}

fn node_subject(node: Uuid) -> String {
    format!("jiliang.media.node.{}", node.simple())
}

/// One connection's media, as the node of its socket names it: the
/// connection, and which of its successive starts (`route`, unique on that
/// node), so late messages of an earlier start never reach a later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WireKey {
    pub room: Uuid,
    pub user: Uuid,
    pub conn: u64,
    pub route: u64,
}

/// What a client said about its media, on its way to the hosting node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum WireSignal {
    State {
        tracks: Vec<MediaTrackState>,
        receive_video: bool,
    },
    Offer {
        sdp: String,
    },
    Answer {
        sdp: String,
    },
    Candidate {
        candidate: IceCandidate,
    },
    /// The connection's media mode and link grade (`media_link`).
    Link {
        mode: MediaMode,
        quality: LinkQuality,
    },
}

/// What the hosting node's SFU tells a connection, on its way back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum WireReply {
    Offer {
        sdp: String,
    },
    Answer {
        sdp: String,
    },
    Candidate {
        candidate: IceCandidate,
    },
    Refused {
        zh: String,
        en: String,
        closed: bool,
    },
    Closed {
        reason: String,
    },
}

/// A media message between nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum MediaWire {
    /// Node `from` (the socket's) asks the host to start `key`'s media.
    Start { from: Uuid, key: WireKey },
    /// A client's signalling for the host.
    Signal {
        from: Uuid,
        key: WireKey,
        signal: WireSignal,
    },
    /// The socket's node still has `key` (sent now and then: a host drops
    /// the media of connections whose node stopped saying so).
    Alive { from: Uuid, key: WireKey },
    /// `key`'s media ends.
    Stop { from: Uuid, key: WireKey },
    /// The host's reply for `key`, to the socket's node.
    Reply { key: WireKey, reply: WireReply },
    /// Who publishes what in `room`, from its hosting node, to all nodes.
    State {
        node: Uuid,
        room: Uuid,
        publishers: Vec<MediaPublisher>,
    },
}

/// Where a media message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaTo {
    Node(Uuid),
    Everyone,
}

impl Bus {
    /// This node's id on the bus (`None` for the local bus: no other nodes).
    pub fn node_id(&self) -> Option<Uuid> {
        match self {
            Self::Local { .. } => None,
            Self::Nats { node, .. } => Some(*node),
        }
    }

    /// Queue a media message, sealed. Never waits; a full queue drops it
    /// (the client's media then restarts or renegotiates).
    pub fn publish_media(&self, seal: &MediaSeal, to: MediaTo, msg: MediaWire) {
        if !self.is_shared() {
            return;
        }
        let subject = match to {
            MediaTo::Node(node) => node_subject(node),
            MediaTo::Everyone => STATE_SUBJECT.to_owned(),
        };
        match seal.seal(msg, now_ms()) {
            Ok(bytes) => self.enqueue(Queued::Media(subject, bytes)),
            Err(e) => tracing::error!(error = %e, "cannot encode a media message"),
        }
    }

    /// One attempt to receive this node's media messages (those `seal`
    /// opens): `None` for the local bus, or when NATS refused or did not
    /// answer in time.
    pub async fn subscribe_media(&self, seal: MediaSeal) -> Option<MediaSubscription> {
        let Self::Nats { client, node, .. } = self else {
            return None;
        };
        let subscribe = async {
            let mine = client.subscribe(node_subject(*node)).await?;
            let state = client.subscribe(STATE_SUBJECT).await?;
            Ok::<_, async_nats::SubscribeError>((mine, state))
        };
        match tokio::time::timeout(SUBSCRIBE_TIMEOUT, subscribe).await {
            Ok(Ok((mine, state))) => {
                let mut inner = SelectAll::new();
                inner.push(mine);
                inner.push(state);
                Some(MediaSubscription {
                    inner,
                    me: *node,
                    seal,
                })
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot subscribe to media on NATS; retrying");
                None
            }
            Err(_) => {
                tracing::warn!("subscribing to media on NATS timed out; retrying");
                None
            }
        }
    }
}

/// The media messages for this node.
pub struct MediaSubscription {
    inner: SelectAll<async_nats::Subscriber>,
    me: Uuid,
    seal: MediaSeal,
}

impl std::fmt::Debug for MediaSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MediaSubscription")
    }
}

impl MediaSubscription {
    /// The next message from another node; `None` once the subscription
    /// ended. This node's own state messages are skipped, and so are
    /// messages not sealed by a node or too old (logged). Cancel-safe.
    pub async fn recv(&mut self) -> Option<MediaWire> {
        loop {
            let msg = self.inner.next().await?;
            match self.seal.open(&msg.payload, now_ms()) {
                Some(MediaWire::State { node, .. }) if node == self.me => {}
                Some(m) => return Some(m),
                None => tracing::warn!(
                    subject = %msg.subject,
                    "media message on the bus not sealed by a node, or too old: dropped"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_messages_round_trip_in_a_stable_shape() {
        let key = WireKey {
            room: Uuid::from_u128(1),
            user: Uuid::from_u128(2),
            conn: 7,
            route: 9,
        };
        let msg = MediaWire::Signal {
            from: Uuid::from_u128(3),
            key,
            signal: WireSignal::Offer { sdp: "v=0".into() },
        };
        let text = serde_json::to_string(&msg).expect("encode");
        assert_eq!(
            text,
            r#"{"t":"signal","from":"00000000-0000-0000-0000-000000000003","key":{"room":"00000000-0000-0000-0000-000000000001","user":"00000000-0000-0000-0000-000000000002","conn":7,"route":9},"signal":{"k":"offer","sdp":"v=0"}}"#
        );
        assert_eq!(
            serde_json::from_str::<MediaWire>(&text).expect("decode"),
            msg
        );
        let reply = MediaWire::Reply {
            key,
            reply: WireReply::Closed {
                reason: "moved".into(),
            },
        };
        let text = serde_json::to_string(&reply).expect("encode");
        assert_eq!(
            serde_json::from_str::<MediaWire>(&text).expect("decode"),
            reply
        );
    }

    #[test]
    fn only_fresh_messages_sealed_by_a_node_open() {
        let seal = MediaSeal::new([7; 32]);
        let msg = MediaWire::Stop {
            from: Uuid::from_u128(3),
            key: WireKey {
                room: Uuid::from_u128(1),
                user: Uuid::from_u128(2),
                conn: 1,
                route: 1,
            },
        };
        let now = 1_800_000_000_000;
        let sealed = seal.seal(msg.clone(), now).expect("seal");
        assert_eq!(seal.open(&sealed, now + 1000), Some(msg.clone()));
        // Another key (someone on NATS who is not a node).
        assert_eq!(MediaSeal::new([8; 32]).open(&sealed, now), None);
        // One byte changed.
        let mut forged = sealed.clone();
        let last = forged.len() - 2;
        forged[last] ^= 1;
        assert_eq!(seal.open(&forged, now), None);
        // Replayed later, or from the future.
        assert_eq!(seal.open(&sealed, now + MAX_AGE_MS + 1), None);
        assert_eq!(seal.open(&sealed, now - MAX_AGE_MS - 1), None);
        // Plain JSON (the shape, unsealed) and short payloads.
        let plain = serde_json::to_vec(&msg).expect("json");
        assert_eq!(seal.open(&plain, now), None);
        assert_eq!(seal.open(b"x", now), None);
    }
}
