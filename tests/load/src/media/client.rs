//! The load's media clients: peer connections of the `webrtc` crate,
//! signalled over the room socket as the app signals (the polite side of
//! perfect negotiation; trickle ICE), one publisher and many subscribers.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rtc::interceptor::{Attribute, Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::Registry;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_VP8;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::sansio;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCIceCandidateInit, RTCPeerConnectionIceEvent, RTCSessionDescription,
};

use super::vp8::Generator;
use crate::{Ws, ws_config};

/// VP8's payload type, as the server and Chromium register it.
const VP8_PAYLOAD_TYPE: u8 = 96;
/// The publisher's track id, declared in its `media_state`.
const CAMERA_TRACK: &str = "bench-camera";

/// RTP counted by one side: packets, bytes (12-byte header and payload)
/// and the highest extended sequence number.
#[derive(Default)]
pub struct Counters {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub highest: AtomicU64,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Snapshot {
    pub packets: u64,
    pub bytes: u64,
    pub highest: u64,
}

impl Counters {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            highest: self.highest.load(Ordering::Relaxed),
        }
    }

    fn count(&self, payload: usize, extended_seq: u64) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(12 + payload as u64, Ordering::Relaxed);
        self.highest.fetch_max(extended_seq, Ordering::Relaxed);
    }
}

/// Extends 16-bit RTP sequence numbers (RFC 3550 A.1, without probation):
/// the first one lands well above zero so differences never underflow.
#[derive(Default)]
pub struct SeqExtender {
    last: Option<(u16, u64)>,
}

impl SeqExtender {
    pub fn extend(&mut self, seq: u16) -> u64 {
        let ext = match self.last {
            None => (1u64 << 32) | u64::from(seq),
            Some((last, ext)) => {
                // As a signed step: reordered packets step back a little.
                let step = i64::from(seq.wrapping_sub(last) as i16);
                ext.saturating_add_signed(step)
            }
        };
        if self.last.is_none_or(|(_, e)| ext > e) {
            self.last = Some((seq, ext));
        }
        ext
    }
}

pub fn vp8_codec() -> RTCRtpCodec {
    let fb = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    };
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
}

/// Keyframe requests reach the publisher's track (`TrackLocal::poll`):
/// the crate's interceptors keep inbound RTCP to themselves unless one
/// marks it for the application (the server's `media/rtcp.rs` does the
/// same for its subscribers' feedback).
#[derive(Default)]
struct KeyframeRequests {
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

fn is_keyframe_request(p: &dyn rtc::rtcp::Packet) -> bool {
    let any = p.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

impl sansio::Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequests {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet
            && packets.iter().any(|p| is_keyframe_request(p.as_ref()))
        {
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }

    fn handle_timeout(&mut self, _now: Instant) -> Result<(), Self::Error> {
        Ok(())
    }

    fn poll_timeout(&mut self) -> Option<Self::Time> {
        None
    }
}

impl Interceptor for KeyframeRequests {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

/// Peer connection events: local candidates for the signalling task,
/// received tracks counted (subscribers).
struct Events {
    candidates: mpsc::UnboundedSender<RTCIceCandidateInit>,
    received: Option<Arc<Counters>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        if let Ok(init) = event.candidate.to_json() {
            let _ = self.candidates.send(init);
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let Some(counters) = self.received.clone() else {
            return;
        };
        tokio::spawn(async move {
            let mut seqs = SeqExtender::default();
            while let Some(event) = track.poll().await {
                match event {
                    TrackRemoteEvent::OnRtpPacket(pkt) => {
                        let ext = seqs.extend(pkt.header.sequence_number);
                        counters.count(pkt.payload.len(), ext);
                    }
                    TrackRemoteEvent::OnEnded => break,
                    _ => {}
                }
            }
        });
    }
}

/// Join the room as the person of `cookie`; returns once in the room (the
/// snapshot arrived).
async fn join(base: &str, room: &str, cookie: &str) -> Ws {
    let url = format!("{}{room}", base.replace("http://", "ws://"));
    let mut req = url.into_client_request().expect("request");
    req.headers_mut()
        .insert("cookie", cookie.parse().expect("cookie header"));
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(ws_config()), true)
        .await
        .expect("room socket");
    ws.send(Message::text(
        json!({"type": "join", "protocol": jiliang_protocol::rooms::PROTOCOL_VERSION, "last_seq": u64::MAX}).to_string(),
    ))
    .await
    .expect("join");
    while let Some(Ok(m)) = ws.next().await {
        if let Message::Text(t) = m
            && t.contains("\"snapshot\"")
        {
            return ws;
        }
    }
    panic!("room socket closed before the snapshot");
}

/// A peer connection and the task that signals it over the room socket.
struct Signalled {
    pc: Arc<dyn PeerConnection>,
    /// Frames to send on the socket; dropping it closes the socket.
    send: mpsc::UnboundedSender<Value>,
    driver: JoinHandle<()>,
}

impl Signalled {
    /// `received`: count the RTP of received tracks there; `announced`:
    /// counts the server's `media_state` frames that name a publisher.
    async fn new(mut ws: Ws, received: Option<Arc<Counters>>, announced: Arc<AtomicU64>) -> Self {
        let (cand_tx, mut cand_rx) = mpsc::unbounded_channel();
        let mut engine = MediaEngine::default();
        engine
            .register_codec(
                RTCRtpCodecParameters {
                    rtp_codec: vp8_codec(),
                    payload_type: VP8_PAYLOAD_TYPE,
                },
                RtpCodecKind::Video,
            )
            .expect("VP8");
        let registry = register_default_interceptors(Registry::new(), &mut engine)
            .expect("interceptors")
            .with(Slot::from(14_000), KeyframeRequests::default());
        let pc: Arc<dyn PeerConnection> = Arc::new(
            PeerConnectionBuilder::new()
                .with_media_engine(engine)
                .with_interceptor_registry(registry)
                .with_handler(Arc::new(Events {
                    candidates: cand_tx,
                    received,
                }))
                .with_runtime(webrtc::runtime::default_runtime().expect("runtime"))
                .with_udp_addrs(vec!["127.0.0.1:0"])
                .build()
                .await
                .expect("peer connection"),
        );
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
                        let text = match incoming {
                            Some(Ok(Message::Text(t))) => t,
                            Some(Ok(_)) => continue,
                            _ => break,
                        };
                        let Ok(f) = serde_json::from_str::<Value>(&text) else { continue };
                        if let Some(reply) = on_frame(&driver_pc, &f, &announced).await
                            && ws.send(Message::text(reply.to_string())).await.is_err()
                        {
                            break;
                        }
                    }
                }
            }
        });
        Self { pc, send, driver }
    }

    fn frame(&self, v: Value) {
        let _ = self.send.send(v);
    }

    async fn leave(self) {
        drop(self.send);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.driver).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.pc.close()).await;
    }
}

/// A server frame's effect on the peer connection; the frame to answer
/// with, if any.
async fn on_frame(pc: &Arc<dyn PeerConnection>, f: &Value, announced: &AtomicU64) -> Option<Value> {
    let sdp = || f["sdp"].as_str().unwrap_or_default().to_owned();
    match f["type"].as_str()? {
        "media_offer" => {
            let offer = RTCSessionDescription::offer(sdp()).ok()?;
            if let Err(e) = pc.set_remote_description(offer).await {
                eprintln!("media: the server's offer does not apply: {e}");
                return None;
            }
            let answer = pc.create_answer(None).await.ok()?;
            pc.set_local_description(answer).await.ok()?;
            let local = pc.local_description().await?;
            Some(json!({"type": "media_answer", "sdp": local.sdp}))
        }
        "media_answer" => {
            let answer = RTCSessionDescription::answer(sdp()).ok()?;
            if let Err(e) = pc.set_remote_description(answer).await {
                eprintln!("media: the server's answer does not apply: {e}");
            }
            None
        }
        "media_candidate" => {
            let c = &f["candidate"];
            let init = RTCIceCandidateInit {
                candidate: c["candidate"].as_str().unwrap_or_default().to_owned(),
                sdp_mid: c["sdp_mid"].as_str().map(str::to_owned),
                sdp_mline_index: c["sdp_m_line_index"]
                    .as_u64()
                    .and_then(|i| u16::try_from(i).ok()),
                ..Default::default()
            };
            let _ = pc.add_ice_candidate(init).await;
            None
        }
        "media_state" => {
            if f["publishers"].as_array().is_some_and(|p| !p.is_empty()) {
                announced.fetch_add(1, Ordering::Relaxed);
            }
            None
        }
        "media_closed" | "error" => {
            eprintln!("media: {f}");
            None
        }
        _ => None,
    }
}

/// The one publisher: a generated VP8 camera track at a set bitrate, with
/// a keyframe every two seconds and whenever the server asks for one.
pub struct Publisher {
    signalled: Signalled,
    pub sent: Arc<Counters>,
    /// The server's `media_state` frames naming a publisher (this one).
    pub announced: Arc<AtomicU64>,
    keyframe_requests: Arc<AtomicU64>,
    tasks: [JoinHandle<()>; 2],
}

impl Publisher {
    pub async fn start(
        base: &str,
        room: &str,
        cookie: &str,
        kbps: u32,
        stop: watch::Receiver<bool>,
    ) -> Self {
        let ws = join(base, room, cookie).await;
        let announced = Arc::new(AtomicU64::new(0));
        let signalled = Signalled::new(ws, None, announced.clone()).await;
        // Distinct from run to run, as a browser's SSRC is.
        let ssrc = (crate::now_us() as u32) | 1;
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            "bench-stream".to_owned(),
            CAMERA_TRACK.to_owned(),
            "camera".to_owned(),
            RtpCodecKind::Video,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: vp8_codec(),
                ..Default::default()
            }],
        )));
        signalled
            .pc
            .add_track(track.clone() as Arc<dyn TrackLocal>)
            .await
            .expect("add track");
        // The state first, so the server knows the track when it arrives.
        signalled.frame(json!({"type": "media_state", "tracks": [
            {"track_id": CAMERA_TRACK, "source": "camera", "muted": false}], "receive_video": false}));
        let offer = signalled.pc.create_offer(None).await.expect("offer");
        signalled
            .pc
            .set_local_description(offer)
            .await
            .expect("local offer");
        let sdp = signalled.pc.local_description().await.expect("local").sdp;
        signalled.frame(json!({"type": "media_offer", "sdp": sdp}));

        let keyframe = Arc::new(AtomicBool::new(false));
        let keyframe_requests = Arc::new(AtomicU64::new(0));
        let feedback = tokio::spawn(feedback(
            track.clone(),
            keyframe.clone(),
            keyframe_requests.clone(),
            stop.clone(),
        ));
        let sent = Arc::new(Counters::default());
        let pump = tokio::spawn(pump(
            track,
            Generator::new(kbps, ssrc, VP8_PAYLOAD_TYPE),
            keyframe,
            sent.clone(),
            stop,
        ));
        Self {
            signalled,
            sent,
            announced,
            keyframe_requests,
            tasks: [feedback, pump],
        }
    }

    pub fn keyframe_requests(&self) -> u64 {
        self.keyframe_requests.load(Ordering::Relaxed)
    }

    pub async fn leave(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.signalled.leave().await;
    }
}

/// Keyframe requests from the server set `keyframe`.
async fn feedback(
    track: Arc<TrackLocalStaticRTP>,
    keyframe: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let event = tokio::select! {
            _ = stop.changed() => return,
            e = track.poll() => e,
        };
        match event {
            Some(TrackLocalEvent::OnRtcpPacket(packets)) => {
                if packets.iter().any(|p| is_keyframe_request(p.as_ref())) {
                    requests.fetch_add(1, Ordering::Relaxed);
                    keyframe.store(true, Ordering::Relaxed);
                }
            }
            Some(_) => {}
            // Not bound yet: look again shortly.
            None => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// Frames at the generator's rate until stopped.
async fn pump(
    track: Arc<TrackLocalStaticRTP>,
    mut frames: Generator,
    keyframe: Arc<AtomicBool>,
    sent: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(frames.frame_interval());
    // A late tick is made up for, so the bitrate holds on a busy machine.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut seqs = SeqExtender::default();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        let asked = keyframe.swap(false, Ordering::Relaxed);
        for pkt in frames.next_frame(asked) {
            let (seq, len) = (pkt.header.sequence_number, pkt.payload.len());
            // Fails until the server's answer binds the track; those
            // frames are not counted as sent.
            if track.write_rtp(pkt).await.is_ok() {
                sent.count(len, seqs.extend(seq));
            }
        }
    }
}

/// One subscriber: a person of its own in the room, receiving the
/// publisher's track and counting it.
pub struct Subscriber {
    signalled: Signalled,
    pub counters: Arc<Counters>,
}

impl Subscriber {
    pub async fn join(base: &str, room: &str, cookie: &str) -> Self {
        let ws = join(base, room, cookie).await;
        let counters = Arc::new(Counters::default());
        let signalled =
            Signalled::new(ws, Some(counters.clone()), Arc::new(AtomicU64::new(0))).await;
        // Nothing to publish: the server offers the room's tracks.
        signalled.frame(json!({"type": "media_state", "tracks": [], "receive_video": true}));
        Self {
            signalled,
            counters,
        }
    }

    pub async fn leave(self) {
        self.signalled.leave().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_extend_across_the_wrap_and_tolerate_reordering() {
        let mut s = SeqExtender::default();
        let first = s.extend(65_534);
        assert_eq!(s.extend(65_535), first + 1);
        assert_eq!(s.extend(0), first + 2);
        assert_eq!(s.extend(2), first + 4);
        // A late packet counts where it belongs and moves nothing on.
        assert_eq!(s.extend(1), first + 3);
        assert_eq!(s.extend(3), first + 5);
    }

    #[test]
    fn counters_count_rtp_bytes_and_the_highest_sequence() {
        let c = Counters::default();
        c.count(1000, 10);
        c.count(500, 9);
        let s = c.snapshot();
        assert_eq!((s.packets, s.bytes, s.highest), (2, 1524, 10));
    }
}
