//! Media through the SFU, driven by peers of the `webrtc` crate over the
//! real room socket: one participant publishes a synthetic VP8 camera
//! track, another receives its RTP; the media state reaches everyone;
//! bad SDP is refused with the person still chatting; old clients that
//! ignore media keep chatting; leaving closes every peer connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::common::{Backend, Client, TestServer};
use crate::rooms::{Ws, accepted, chat, join, next_json, session};
use futures_util::{SinkExt, StreamExt};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::Registry;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_VP8;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceCandidateInit, RTCPeerConnectionIceEvent, RTCSessionDescription,
};

fn vp8() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![],
    }
}

/// Candidates and remote tracks of a test peer, for its driver.
struct Events {
    candidates: mpsc::UnboundedSender<RTCIceCandidateInit>,
    received: Arc<AtomicU32>,
    stream_ids: mpsc::UnboundedSender<String>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.candidates.send(init);
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.stream_ids.send(track.stream_id().await);
        let received = self.received.clone();
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                match event {
                    TrackRemoteEvent::OnRtpPacket(_) => {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                    TrackRemoteEvent::OnEnded => break,
                    _ => {}
                }
            }
        });
    }
}

/// A participant with a webrtc-crate peer connection, signalled over its
/// room socket as a browser would (the polite side of perfect negotiation).
pub(crate) struct Participant {
    pc: Arc<dyn PeerConnection>,
    /// Frames the driver did not consume (everything but media signalling).
    frames: mpsc::UnboundedReceiver<Value>,
    /// Frames to send on the socket.
    send: mpsc::UnboundedSender<Value>,
    received: Arc<AtomicU32>,
    stream_ids: mpsc::UnboundedReceiver<String>,
    driver: tokio::task::JoinHandle<()>,
}

impl Participant {
    pub(crate) async fn new(mut ws: Ws) -> Self {
        let (cand_tx, mut cand_rx) = mpsc::unbounded_channel();
        let (ids_tx, stream_ids) = mpsc::unbounded_channel();
        let received = Arc::new(AtomicU32::new(0));
        let mut engine = MediaEngine::default();
        engine
            .register_codec(
                RTCRtpCodecParameters {
                    rtp_codec: vp8(),
                    payload_type: 96,
                },
                RtpCodecKind::Video,
            )
            .expect("VP8");
        let registry =
            register_default_interceptors(Registry::new(), &mut engine).expect("interceptors");
        let pc: Arc<dyn PeerConnection> = Arc::new(
            PeerConnectionBuilder::new()
                .with_media_engine(engine)
                .with_interceptor_registry(registry)
                .with_handler(Arc::new(Events {
                    candidates: cand_tx,
                    received: received.clone(),
                    stream_ids: ids_tx,
                }))
                .with_runtime(webrtc::runtime::default_runtime().expect("runtime"))
                .with_udp_addrs(vec!["127.0.0.1:0"])
                .build()
                .await
                .expect("peer connection"),
        );
        let (frames_tx, frames) = mpsc::unbounded_channel();
        let (send, mut send_rx) = mpsc::unbounded_channel::<Value>();
        let driver_pc = pc.clone();
        let driver = tokio::spawn(async move {
            loop {
                tokio::select! {
                    out = send_rx.recv() => match out {
                        Some(v) => if ws.send(Message::text(v.to_string())).await.is_err() { break },
                        None => { let _ = ws.close(None).await; break }
                    },
                    Some(c) = cand_rx.recv() => {
                        let f = json!({"type": "media_candidate", "candidate": {
                            "candidate": c.candidate, "sdp_mid": c.sdp_mid,
                            "sdp_m_line_index": c.sdp_mline_index}});
                        if ws.send(Message::text(f.to_string())).await.is_err() { break }
                    }
                    incoming = ws.next() => {
                        let Some(Ok(Message::Text(t))) = incoming else {
                            if matches!(incoming, Some(Ok(_))) { continue }
                            break;
                        };
                        let f: Value = serde_json::from_str(&t).expect("json");
                        match f["type"].as_str() {
                            Some("media_offer") => {
                                let offer = RTCSessionDescription::offer(f["sdp"].as_str().expect("sdp").to_owned()).expect("offer");
                                driver_pc.set_remote_description(offer).await.expect("server offer applies");
                                let answer = driver_pc.create_answer(None).await.expect("answer");
                                driver_pc.set_local_description(answer).await.expect("local answer");
                                let sdp = driver_pc.local_description().await.expect("local").sdp;
                                let answer = json!({"type": "media_answer", "sdp": sdp});
                                if ws.send(Message::text(answer.to_string())).await.is_err() { break }
                                // The test may look at the server's offer too.
                                let _ = frames_tx.send(f);
                            }
                            Some("media_answer") => {
                                let answer = RTCSessionDescription::answer(f["sdp"].as_str().expect("sdp").to_owned()).expect("answer");
                                driver_pc.set_remote_description(answer).await.expect("server answer applies");
                            }
                            Some("media_candidate") => {
                                let c = &f["candidate"];
                                let init = RTCIceCandidateInit {
                                    candidate: c["candidate"].as_str().unwrap_or_default().to_owned(),
                                    sdp_mid: c["sdp_mid"].as_str().map(str::to_owned),
                                    sdp_mline_index: c["sdp_m_line_index"].as_u64().and_then(|i| u16::try_from(i).ok()),
                                    ..Default::default()
                                };
                                let _ = driver_pc.add_ice_candidate(init).await;
                            }
                            _ => { let _ = frames_tx.send(f); }
                        }
                    }
                }
            }
        });
        Self {
            pc,
            frames,
            send,
            received,
            stream_ids,
            driver,
        }
    }

    pub(crate) fn frame(&self, v: Value) {
        self.send.send(v).expect("driver running");
    }

    /// Publish a VP8 camera track; returns it (write RTP to it).
    pub(crate) async fn publish_camera(&self) -> Arc<TrackLocalStaticRTP> {
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            "local-stream".to_owned(),
            "camera-track-1".to_owned(),
            "camera".to_owned(),
            RtpCodecKind::Video,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(0x00C0_FFEE),
                    ..Default::default()
                },
                codec: vp8(),
                ..Default::default()
            }],
        )));
        self.pc
            .add_track(track.clone() as Arc<dyn TrackLocal>)
            .await
            .expect("add track");
        // The state first, so the server knows the track when it arrives.
        self.frame(json!({"type": "media_state", "tracks": [
            {"track_id": "camera-track-1", "source": "camera", "muted": false}]}));
        let offer = self.pc.create_offer(None).await.expect("offer");
        self.pc
            .set_local_description(offer)
            .await
            .expect("local offer");
        let sdp = self.pc.local_description().await.expect("local").sdp;
        self.frame(json!({"type": "media_offer", "sdp": sdp}));
        track
    }

    /// The next frame of `kind` (others are skipped), within 15 s.
    pub(crate) async fn expect(&mut self, kind: &str) -> Value {
        let until = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let f = tokio::time::timeout_at(until, self.frames.recv())
                .await
                .unwrap_or_else(|_| panic!("no {kind} frame within 15 s"))
                .expect("socket open");
            if f["type"] == kind {
                return f;
            }
        }
    }

    pub(crate) async fn leave(self) {
        drop(self.send);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.driver).await;
        let _ = self.pc.close().await;
    }
}

/// Synthetic VP8: keyframe-flagged payloads at 50 packets/s until stopped.
pub(crate) fn pump(track: Arc<TrackLocalStaticRTP>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for seq in 0u16.. {
            tick.tick().await;
            let pkt = rtp::Packet {
                header: rtp::header::Header {
                    version: 2,
                    marker: true,
                    payload_type: 96,
                    sequence_number: seq,
                    timestamp: u32::from(seq).wrapping_mul(3000),
                    ssrc: 0x00C0_FFEE,
                    ..Default::default()
                },
                // VP8 payload descriptor (S=1, partition 0) and a keyframe header.
                payload: vec![
                    0x10, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x10, 0x00, 0x10, 0x00,
                ]
                .into(),
            };
            let _ = track.write_rtp(pkt).await;
        }
    })
}

pub(crate) async fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + Duration::from_secs(15);
    while !ok() {
        assert!(std::time::Instant::now() < until, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start() -> Option<(TestServer, Client, Client, Uuid)> {
    let server = TestServer::start_seeded(Backend::Sqlite).await?;
    let expert = server.login("expert").await;
    let tech = server.login("tech").await;
    let id = session(&server, &expert).await;
    Some((server, expert, tech, id))
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn a_published_camera_reaches_the_other_participant() {
    let Some((server, expert, tech, id)) = start().await else {
        return;
    };
    let (ws, _) = join(&server.base, &expert, id, 0).await;
    let mut a = Participant::new(ws).await;
    let track = a.publish_camera().await;
    let pumping = pump(track);

    // The expert's camera is announced to the room.
    let state = a.expect("media_state").await;
    assert_eq!(
        state["publishers"][0]["tracks"][0]["source"], "camera",
        "{state}"
    );
    let expert_id = state["publishers"][0]["user_id"].clone();

    // The technician joins later: the snapshot already says who publishes.
    let (ws, snap) = join(&server.base, &tech, id, 0).await;
    assert_eq!(snap["media"][0]["user_id"], expert_id, "{snap}");
    let mut b = Participant::new(ws).await;
    b.frame(json!({"type": "media_state", "tracks": []}));
    let stream = tokio::time::timeout(Duration::from_secs(15), b.stream_ids.recv())
        .await
        .expect("a forwarded track within 15 s")
        .expect("stream id");
    assert_eq!(
        jiliang_protocol::rooms::parse_media_stream_id(&stream).map(|(u, s)| (u.to_string(), s)),
        Some((
            expert_id.as_str().unwrap_or_default().to_owned(),
            jiliang_protocol::rooms::MediaSource::Camera
        ))
    );
    // The server's offer names its own sections so that a browser's never
    // share a mid with them, and gives the header extensions the ids
    // Chromium's offers use (one mapping in the BUNDLE group, whichever
    // side offered first; e2e media-room checks it in Chromium).
    let offer = b.expect("media_offer").await;
    let sdp = offer["sdp"].as_str().unwrap_or_default();
    let mids: Vec<&str> = sdp
        .lines()
        .filter_map(|l| l.strip_prefix("a=mid:"))
        .collect();
    assert!(
        !mids.is_empty()
            && mids
                .iter()
                .all(|m| m.starts_with('s') && m[1..].parse::<u32>().is_ok()),
        "{sdp}"
    );
    for (id, uri) in [
        (
            3,
            "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
        ),
        (4, "urn:ietf:params:rtp-hdrext:sdes:mid"),
        (10, "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"),
        (11, "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"),
    ] {
        assert!(
            sdp.contains(&format!("a=extmap:{id} {uri}\r\n")),
            "{uri} as {id}: {sdp}"
        );
    }
    let received = b.received.clone();
    wait_for("RTP forwarded to the technician", || {
        received.load(Ordering::Relaxed) >= 25
    })
    .await;
    assert_eq!(server.state.media.peer_connections(), 2);
    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert_eq!(
        metric(&metrics, "jiliang_media_peer_connections"),
        Some(2.0),
        "{metrics}"
    );

    // Chat goes on beside media.
    b.frame(json!({"type": "chat", "client_id": "m1", "text": "看到画面了"}));
    let ok = b.expect("accepted").await;
    assert_eq!(ok["client_id"], "m1");

    // The expert stops the camera: the room hears it.
    a.frame(json!({"type": "media_state", "tracks": []}));
    let state = b.expect("media_state").await;
    assert_eq!(state["publishers"], json!([]), "{state}");

    pumping.abort();
    a.leave().await;
    b.leave().await;
    let media = server.state.media.clone();
    wait_for("every peer connection closed", || {
        media.peer_connections() == 0
    })
    .await;
    server.stop().await;
}

/// A viewer who stays while publishers come and go: each newcomer's
/// camera reaches it, and its connection does not grow with the churn (the
/// crate never drops a transceiver, so the server gives each new track one
/// it freed before; otherwise every offer and answer would carry one more
/// section per departed track until they pass the SDP limit).
#[tokio::test]
async fn a_viewer_keeps_its_transceivers_while_publishers_come_and_go() {
    let Some((server, expert, tech, id)) = start().await else {
        return;
    };
    let (ws, _) = join(&server.base, &expert, id, 0).await;
    let viewer = Participant::new(ws).await;
    viewer.frame(json!({"type": "media_state", "tracks": []}));
    let media = server.state.media.clone();
    wait_for("the viewer's peer connection", || {
        media.peer_connections() == 1
    })
    .await;
    const CYCLES: usize = 8;
    for _ in 0..CYCLES {
        let (ws, _) = join(&server.base, &tech, id, 0).await;
        let publisher = Participant::new(ws).await;
        let pumping = pump(publisher.publish_camera().await);
        let received = viewer.received.clone();
        let before = received.load(Ordering::Relaxed);
        wait_for("the newcomer's camera reaches the viewer", || {
            received.load(Ordering::Relaxed) >= before + 25
        })
        .await;
        pumping.abort();
        publisher.leave().await;
        wait_for("the publisher's media closed", || {
            media.peer_connections() == 1
        })
        .await;
    }
    let transceivers = viewer.pc.get_transceivers().await.len();
    assert!(
        transceivers <= 2,
        "{transceivers} transceivers after {CYCLES} publishers came and went"
    );
    viewer.leave().await;
    wait_for("every peer connection closed", || {
        media.peer_connections() == 0
    })
    .await;
    server.stop().await;
}

/// The next `error` frame (the join event and others are skipped).
async fn next_error(ws: &mut Ws) -> Value {
    loop {
        let f = next_json(ws).await;
        if f["type"] == "error" {
            return f;
        }
    }
}

#[tokio::test]
async fn bad_media_input_is_refused_and_the_person_keeps_chatting() {
    let Some((server, expert, _tech, id)) = start().await else {
        return;
    };
    let (mut ws, _) = join(&server.base, &expert, id, 0).await;
    let send = |v: Value| Message::text(v.to_string());
    // Signalling before media started.
    ws.send(send(json!({"type": "media_offer", "sdp": "v=0"})))
        .await
        .expect("send");
    let f = next_error(&mut ws).await;
    assert_eq!(f["code"], "invalid_input", "{f}");
    // A track of a kind the room does not know.
    ws.send(send(json!({"type": "media_state", "tracks": [
        {"track_id": "x", "source": "hologram"}]})))
        .await
        .expect("send");
    let f = next_error(&mut ws).await;
    assert_eq!(f["code"], "malformed_json", "{f}");
    // Malformed SDP after media started: refused, media closed, chat on.
    ws.send(send(json!({"type": "media_state", "tracks": []})))
        .await
        .expect("send");
    ws.send(send(
        json!({"type": "media_offer", "sdp": "this is not SDP"}),
    ))
    .await
    .expect("send");
    let mut saw_error = false;
    loop {
        let f = next_json(&mut ws).await;
        match f["type"].as_str() {
            Some("error") => saw_error = true,
            Some("media_closed") => break,
            _ => {}
        }
    }
    assert!(saw_error, "an error frame before media_closed");
    let media = server.state.media.clone();
    wait_for("the refused peer connection closed", || {
        media.peer_connections() == 0
    })
    .await;
    chat(&mut ws, "c1", "文字还能发").await;
    accepted(&mut ws, "c1").await;
    server.stop().await;
}

#[tokio::test]
async fn old_clients_ignoring_media_keep_chatting() {
    let Some((server, expert, tech, id)) = start().await else {
        return;
    };
    let (ws, _) = join(&server.base, &expert, id, 0).await;
    let mut a = Participant::new(ws).await;
    // An old client: it never says anything about media and skips frames
    // it does not know.
    let (mut old, _) = join(&server.base, &tech, id, 0).await;
    let track = a.publish_camera().await;
    let pumping = pump(track);
    a.expect("media_state").await;
    chat(&mut old, "o1", "我这边没有视频").await;
    accepted(&mut old, "o1").await;
    a.frame(json!({"type": "chat", "client_id": "e1", "text": "收到"}));
    // The old client sees the chat line (and may see media_state frames it ignores).
    loop {
        let f = next_json(&mut old).await;
        if f["type"] == "event" && f["body"]["text"] == "收到" {
            break;
        }
        assert_ne!(
            f["type"], "media_offer",
            "no signalling for a client without media"
        );
    }
    // Only the expert has a peer connection.
    assert_eq!(server.state.media.peer_connections(), 1);
    pumping.abort();
    a.leave().await;
    drop(old);
    let media = server.state.media.clone();
    wait_for("the peer connection closed on leave", || {
        media.peer_connections() == 0
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn the_mode_a_client_names_decides_what_it_is_forwarded_and_the_room_sees_its_link() {
    let Some((server, expert, tech, id)) = start().await else {
        return;
    };
    let (ws, _) = join(&server.base, &expert, id, 0).await;
    let mut a = Participant::new(ws).await;
    let track = a.publish_camera().await;
    let pumping = pump(track);
    a.expect("media_state").await;

    let (ws, _) = join(&server.base, &tech, id, 0).await;
    let mut b = Participant::new(ws).await;
    b.frame(json!({"type": "media_state", "tracks": []}));
    let received = b.received.clone();
    wait_for("video forwarded in video mode", || {
        received.load(Ordering::Relaxed) >= 25
    })
    .await;

    // The publisher's link reaches the room with its state.
    a.frame(json!({"type": "media_link", "mode": "video", "quality": "fair"}));
    // (Earlier states, without a link, may still be queued.)
    loop {
        let state = b.expect("media_state").await;
        if state["publishers"][0]["link"] == json!({"mode": "video", "quality": "fair"}) {
            break;
        }
        assert!(state["publishers"][0].get("link").is_none(), "{state}");
    }

    // Data only: nothing is forwarded any more (the server renegotiates the
    // track away); chat goes on.
    b.frame(json!({"type": "media_link", "mode": "data", "quality": "poor"}));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = received.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after = received.load(Ordering::Relaxed);
    assert!(after - before <= 2, "still forwarded: {before} → {after}");
    b.frame(json!({"type": "chat", "client_id": "d1", "text": "仅数据"}));
    assert_eq!(b.expect("accepted").await["client_id"], "d1");

    // Back to video: forwarded again.
    b.frame(json!({"type": "media_link", "mode": "video", "quality": "good"}));
    let resumed = received.load(Ordering::Relaxed);
    wait_for("video forwarded again", || {
        received.load(Ordering::Relaxed) >= resumed + 25
    })
    .await;

    // A mode outside the list is refused; the person stays.
    b.frame(json!({"type": "media_link", "mode": "hologram", "quality": "good"}));
    let err = b.expect("error").await;
    assert_eq!(err["code"], "malformed_json", "{err}");

    pumping.abort();
    a.leave().await;
    b.leave().await;
    let media = server.state.media.clone();
    wait_for("every peer connection closed", || {
        media.peer_connections() == 0
    })
    .await;
    server.stop().await;
}

/// Two nodes of a cluster with short media leases (CI runs them with
/// PostgreSQL and NATS; skipped without).
async fn cluster() -> Option<(
    crate::rooms::Node,
    crate::rooms::Node,
    crate::common::TestDb,
    tempfile::TempDir,
)> {
    let nats = crate::rooms::cluster_bus()?;
    let db = crate::common::TestDb::postgres().await.expect("pg");
    let key_dir = tempfile::tempdir().expect("key dir");
    let key = key_dir.path().join("ledger-key.hex");
    let short = |c: &mut jiliang_server::Config| c.media.lease_ms = 1500;
    let n1 = crate::rooms::Node::start_with(&db.url, &key, &nats, short).await;
    jiliang_server::demo::seed(&n1.state.store)
        .await
        .expect("seed");
    let n2 = crate::rooms::Node::start_with(&db.url, &key, &nats, short).await;
    Some((n1, n2, db, key_dir))
}

/// The next `media_closed` frame's reason, skipping anything else.
async fn closed_reason(p: &mut Participant) -> String {
    p.expect("media_closed").await["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn lease_holder(node: &crate::rooms::Node, room: Uuid) -> Option<Uuid> {
    node.state
        .store
        .media_lease(room)
        .await
        .expect("lease")
        .filter(|l| l.live())
        .map(|l| l.node_id)
}

/// A room's media lives on the node that claimed it: a participant whose
/// socket is on the other node is signalled through the bus and receives
/// the published camera from the hosting node; when that node stops, the
/// participant is told its media moved and starting again lands it on its
/// own node.
#[tokio::test]
async fn media_hosted_on_one_node_reaches_a_participant_on_another() {
    let Some((n1, n2, db, _key)) = cluster().await else {
        return;
    };
    let expert = Client::login(&n1.base, "expert", crate::common::DEMO_PASSWORD).await;
    let tech = Client::login(&n2.base, "tech", crate::common::DEMO_PASSWORD).await;
    let id = crate::rooms::qinan_session(&n1, &expert, "两节点音视频").await;

    let (ws, _) = join(&n1.base, &expert, id, 0).await;
    let mut a = Participant::new(ws).await;
    let pumping = pump(a.publish_camera().await);
    let state = a.expect("media_state").await;
    let expert_id = state["publishers"][0]["user_id"].clone();
    let (node1, node2) = (
        n1.state.bus.node_id().expect("bus node"),
        n2.state.bus.node_id().expect("bus node"),
    );
    assert_eq!(lease_holder(&n1, id).await, Some(node1), "node 1 hosts");

    // Node 2 learns who publishes from node 1, before its participant joins.
    let media2 = n2.state.media.clone();
    wait_for("node 2 knows the room's publishers", || {
        !media2.publishers(id).is_empty()
    })
    .await;
    let (ws, snap) = join(&n2.base, &tech, id, 0).await;
    assert_eq!(snap["media"][0]["user_id"], expert_id, "{snap}");
    let mut b = Participant::new(ws).await;
    b.frame(json!({"type": "media_state", "tracks": []}));
    let stream = tokio::time::timeout(Duration::from_secs(15), b.stream_ids.recv())
        .await
        .expect("a forwarded track within 15 s")
        .expect("stream id");
    assert!(stream.ends_with(":camera"), "{stream}");
    let received = b.received.clone();
    wait_for("RTP forwarded across nodes", || {
        received.load(Ordering::Relaxed) >= 25
    })
    .await;
    // Both peer connections are node 1's: node 2 only relays signalling.
    assert_eq!(n1.state.media.peer_connections(), 2);
    assert_eq!(n2.state.media.peer_connections(), 0);
    assert_eq!(lease_holder(&n2, id).await, Some(node1));

    // Node 1 goes away: the technician is told its media moved, starts
    // again (as the app does by itself) and its own node takes the room.
    pumping.abort();
    a.leave().await;
    n1.stop().await;
    assert_eq!(closed_reason(&mut b).await, "moved");
    b.frame(json!({"type": "media_state", "tracks": []}));
    let media2 = n2.state.media.clone();
    wait_for("node 2 hosts the technician's media", || {
        media2.peer_connections() == 1
    })
    .await;
    assert_eq!(lease_holder(&n2, id).await, Some(node2));
    // Chat never stopped.
    b.frame(json!({"type": "chat", "client_id": "n1", "text": "换节点了"}));
    assert_eq!(b.expect("accepted").await["client_id"], "n1");
    b.leave().await;
    wait_for("the peer connection closed", || {
        media2.peer_connections() == 0
    })
    .await;
    n2.stop().await;
    db.cleanup().await;
}

/// A node that died leaves its lease behind: a participant starting media
/// is routed to it until the lease expires, then told to start again, and
/// its node takes the room over; a participant on the other node then
/// publishes through the new host, and its camera reaches the first.
#[tokio::test]
async fn a_dead_nodes_media_lease_is_taken_over_when_it_expires() {
    let Some((n1, n2, db, _key)) = cluster().await else {
        return;
    };
    let expert = Client::login(&n1.base, "expert", crate::common::DEMO_PASSWORD).await;
    let tech = Client::login(&n2.base, "tech", crate::common::DEMO_PASSWORD).await;
    let id = crate::rooms::qinan_session(&n1, &expert, "节点失联").await;
    // The lease of a node that stopped renewing (it will never answer).
    let dead = Uuid::now_v7();
    let held = n2
        .state
        .store
        .media_lease_claim(id, dead, "192.0.2.66:7882", 1500)
        .await
        .expect("claim");
    assert_eq!(held.node_id, dead);

    let (ws, _) = join(&n2.base, &tech, id, 0).await;
    let mut b = Participant::new(ws).await;
    let started = std::time::Instant::now();
    b.frame(json!({"type": "media_state", "tracks": []}));
    assert_eq!(closed_reason(&mut b).await, "moved");
    let moved = started.elapsed();
    assert!(
        moved >= Duration::from_millis(500),
        "not before the dead node's lease ran out"
    );
    // A figure for docs/OPERATIONS.md, never asserted beyond the above.
    eprintln!("media moved {moved:?} after starting toward a dead node (1.5 s lease)");
    let node2 = n2.state.bus.node_id().expect("bus node");
    b.frame(json!({"type": "media_state", "tracks": []}));
    let media2 = n2.state.media.clone();
    wait_for("node 2 took the room over", || {
        media2.peer_connections() == 1
    })
    .await;
    assert_eq!(lease_holder(&n1, id).await, Some(node2));

    // The expert, on node 1, publishes through node 2.
    let (ws, _) = join(&n1.base, &expert, id, 0).await;
    let a = Participant::new(ws).await;
    let pumping = pump(a.publish_camera().await);
    let stream = tokio::time::timeout(Duration::from_secs(15), b.stream_ids.recv())
        .await
        .expect("a forwarded track within 15 s")
        .expect("stream id");
    assert!(stream.ends_with(":camera"), "{stream}");
    let received = b.received.clone();
    wait_for("RTP from a publisher on the other node", || {
        received.load(Ordering::Relaxed) >= 25
    })
    .await;
    assert_eq!(n2.state.media.peer_connections(), 2);
    assert_eq!(n1.state.media.peer_connections(), 0);
    // The technician's node shows the expert's camera (from node 2's engine).
    assert_eq!(n2.state.media.publishers(id).len(), 1);
    pumping.abort();
    a.leave().await;
    b.leave().await;
    wait_for("every peer connection closed", || {
        media2.peer_connections() == 0
    })
    .await;
    n1.stop().await;
    n2.stop().await;
    db.cleanup().await;
}
