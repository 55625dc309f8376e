//! The room's media: one `RTCPeerConnection` to the server's SFU,
//! signalled over the room socket (protocol: `docs/protocol.md`, "Media").
//!
//! - **Perfect negotiation, polite side.** `negotiationneeded` makes an
//!   offer; a server offer is always applied (the browser rolls back an
//!   offer of ours that crossed it) and answered. Every call on the peer
//!   connection is issued in the order the frames came: the browser's
//!   operations chain keeps them in that order. Chromium's rollback needs
//!   workarounds when both offers add a section (an explicit rollback
//!   first, fresh transceivers when its own offer no longer applies, and a
//!   fresh peer connection when a server offer cannot be answered;
//!   `docs/protocol.md`, "Perfect negotiation"), and our transceivers offer
//!   only the codecs the server takes.
//! - **What is published is declared** (`media_state`) before the offer
//!   that carries it, and again after any change (stop, mute).
//! - Media starts when the person turns on a device, or when someone else
//!   in the room publishes (to receive); it restarts after a reconnect
//!   (the server ends a connection's media with its socket).
//! - Remote tracks arrive with the stream id `{user_id}:{source}`; their
//!   `MediaStream`s stay here (they are not `Send`), the page gets the ids.
//!
//! - **Weak links.** The camera is sent as two simulcast layers (`rid` "l",
//!   a quarter of the resolution, and "h"); the server picks one per
//!   receiver. Once a second `getStats` gives loss, round trip and the
//!   available outgoing bitrate; [`ModeController`] (pure, in
//!   `jiliang_app_core::link`) chooses video, audio only or data only with
//!   hysteresis, unless the person pinned a mode. A mode stops sending
//!   (`replaceTrack(null)`) what it does not carry and tells the server
//!   (`media_link`), which then forwards only what the mode carries. Each
//!   remote stream's own loss grades its tile.
//!
//! - **Who speaks.** The same statistics give each received voice's level
//!   (and our own microphone's); [`SpeakerDetector`] (pure, in
//!   `jiliang_app_core::stage`) names who holds the floor, for the page's
//!   big tile.
//! - **Devices**: listing, choosing and switching cameras and microphones,
//!   in [`devices`].
//!
//! The WebRTC API is reached through `js_sys::Reflect`: a handful of calls,
//! without pulling a web-sys feature per WebRTC type into the bundle.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use jiliang_app_core::link::{LinkMeter, LinkSample, ModeController};
use jiliang_app_core::stage::{SPEAKING_LEVEL, SpeakerDetector};
use jiliang_protocol::rooms::{
    ClientFrame, IceCandidate, LinkQuality, MediaIce, MediaMode, MediaPublisher, MediaSource,
    MediaTrackState, parse_media_stream_id,
};
use js_sys::{Array, Function, Object, Promise, Reflect};
use leptos::leptos_dom::helpers::{IntervalHandle, set_interval_with_handle};
use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{JsFuture, spawn_local};

use super::{Inner, with_room};

mod devices;

pub use devices::MediaDevice;
use devices::stored_choice;

/// What this browser publishes and wants, for the page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalMedia {
    pub microphone: bool,
    pub camera: bool,
    pub screen: bool,
    pub mic_muted: bool,
    /// `false`: "do not receive video" (audio only).
    pub no_video: bool,
    /// A device being opened (waiting for the permission prompt).
    pub opening: Option<MediaSource>,
    /// The last device problem.
    pub problem: Option<DeviceProblem>,
    /// The server closed our media because another tab took over.
    pub replaced: bool,
    /// The mode media runs in now.
    pub mode: MediaMode,
    /// The mode the person chose (`None`: automatic).
    pub pinned: Option<MediaMode>,
    /// Our own link, as our statistics grade it (`None`: not measured).
    pub quality: Option<LinkQuality>,
    /// Each received stream's link as this browser sees it, by stream id.
    pub remote_quality: BTreeMap<String, LinkQuality>,
    /// The cameras and microphones the browser offers (named once the
    /// person allowed a device).
    pub cameras: Vec<MediaDevice>,
    pub microphones: Vec<MediaDevice>,
    /// The device chosen for each (`None`: the default).
    pub camera_device: Option<String>,
    pub microphone_device: Option<String>,
    /// Who holds the floor (a user id; maybe the person at this browser).
    pub speaker: Option<String>,
    /// Whose camera the page shows large: the last speaker other than the
    /// person at this browser.
    pub featured_speaker: Option<String>,
    /// The one holding the floor, while heard (their tile is marked).
    pub speaking: Option<String>,
}

impl LocalMedia {
    pub fn is_on(&self, source: MediaSource) -> bool {
        match source {
            MediaSource::Microphone => self.microphone,
            MediaSource::Camera => self.camera,
            MediaSource::Screen => self.screen,
        }
    }
}

/// Why a device could not be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceProblem {
    /// The person or the browser refused permission.
    Denied,
    /// No such device.
    Missing,
    /// Another program holds it.
    Busy,
    /// Anything else (no secure context, no API).
    Failed,
    /// Not a failure: the device in use went away and the default one
    /// took its place.
    Disconnected,
}

fn get(o: &JsValue, k: &str) -> JsValue {
    Reflect::get(o, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
}

fn set(o: &JsValue, k: &str, v: &JsValue) {
    let _ = Reflect::set(o, &JsValue::from_str(k), v);
}

fn call(o: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = get(o, method).dyn_into()?;
    f.apply(o, &args.iter().collect::<Array>())
}

async fn call_async(o: &JsValue, method: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let p: Promise = call(o, method, args)?.dyn_into()?;
    JsFuture::from(p).await
}

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o: JsValue = Object::new().into();
    for (k, v) in pairs {
        set(&o, k, v);
    }
    o
}

thread_local! {
    /// Remote streams by stream id (`{user_id}:{source}`), and our own
    /// camera and screen as `local:camera`, `local:screen` (previews).
    static STREAMS: RefCell<HashMap<String, JsValue>> = RefCell::new(HashMap::new());
    /// The stream id of each remote track, by track id (`getStats` names
    /// tracks, tiles name streams).
    static TRACK_STREAMS: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
}

/// The camera's simulcast layers: a quarter of the resolution at most
/// 150 kbit/s, and the full picture at most 500 kbit/s (what a county
/// lab's uplink can carry for an instrument close-up).
const CAMERA_LAYERS: [(&str, f64, f64); 2] = [("l", 4.0, 150_000.0), ("h", 1.0, 500_000.0)];
/// The screen share: one layer, text must stay sharp.
const SCREEN_MAX_BITRATE: f64 = 800_000.0;
/// How often the statistics are read.
const STATS_EVERY_MS: u64 = 1_000;

/// The `MediaStream` behind a stream id the page got, if it is still here.
pub fn stream(id: &str) -> Option<JsValue> {
    STREAMS.with(|s| s.borrow().get(id).cloned())
}

/// The preview id of a local source.
pub fn local_stream_id(source: MediaSource) -> String {
    format!("local:{}", source.as_str())
}

struct Peer {
    pc: JsValue,
    _handlers: Vec<Closure<dyn FnMut(JsValue)>>,
    stats: Option<IntervalHandle>,
    /// Times our transceivers were renewed after an offer failed
    /// ([`Inner::renew_unnegotiated`]).
    renewals: u32,
    /// When it was opened (ms since the epoch), and whether it has been
    /// connected since: a first connection stuck half way is started over
    /// ([`Inner::media_sample`]).
    opened: f64,
    connected: bool,
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(t) = self.stats.take() {
            t.clear();
        }
        for h in [
            "onicecandidate",
            "ontrack",
            "onnegotiationneeded",
            "onconnectionstatechange",
        ] {
            set(&self.pc, h, &JsValue::NULL);
        }
        let _ = call(&self.pc, "close", &[]);
    }
}

struct Local {
    track: JsValue,
    /// The id the track was first sent with: the sender's `msid`, which a
    /// `replaceTrack` does not change, is what the server knows it by.
    declared_id: String,
    sender: Option<JsValue>,
    muted: bool,
    _ended: Option<Closure<dyn FnMut(JsValue)>>,
}

/// The media half of a room client (a field of its `Inner`).
#[derive(Default)]
pub(super) struct Media {
    peer: Option<Peer>,
    local: HashMap<MediaSource, Local>,
    no_video: bool,
    /// ICE servers and TURN credentials, from the snapshot or a renewal.
    ice: MediaIce,
    controller: ModeController,
    /// The counters of the last statistics read.
    counters: Option<Counters>,
    /// Each remote stream's smoothed statistics, by stream id.
    meters: HashMap<String, LinkMeter>,
    /// What the server was last told in `media_link`.
    sent_link: Option<(MediaMode, LinkQuality)>,
    speakers: SpeakerDetector,
    /// The `devicechange` listener on `navigator.mediaDevices`.
    on_devicechange: Option<Closure<dyn FnMut(JsValue)>>,
    /// A `media_stop` sent to start over with a fresh peer connection
    /// ([`Inner::restart_peer`]): the next peer opens once the server has
    /// closed the old one.
    restarting: bool,
    /// When the last restarts happened (ms since the epoch), to give up
    /// on a loop.
    restarts: Vec<f64>,
}

/// Cumulative packet counters of one `getStats` read.
#[derive(Clone, Debug, Default)]
struct Counters {
    /// Sent, and lost as the server reports, by SSRC of what we send.
    out: HashMap<u32, (f64, f64)>,
    received: f64,
    lost_in: f64,
    /// Received and lost, by remote stream id.
    streams: HashMap<String, (f64, f64)>,
    rtt_ms: Option<f64>,
    available_kbps: Option<f64>,
    /// Decoded audio energy and duration (`totalAudioEnergy`,
    /// `totalSamplesDuration`), by the user id of whom we hear.
    voices: HashMap<String, (f64, f64)>,
    /// The same for our own microphone, before it is sent.
    own_voice: Option<(f64, f64)>,
    /// The transport's selected candidate pair.
    pair: Option<String>,
    /// Reads left before the link is judged again after the pair changed.
    settle: u8,
}

/// Reads left out of the link's verdict from a change of candidate pair
/// on: the packets lost across an ICE restart show up as loss in the read
/// that sees the new pair or the next one.
const SETTLE_READS: u8 = 3;

impl Counters {
    /// Read the counters out of an `RTCStatsReport`.
    fn read(report: &JsValue) -> Self {
        let mut c = Counters::default();
        let Ok(values) = call(report, "values", &[]) else {
            return c;
        };
        let Ok(Some(iter)) = js_sys::try_iter(&values) else {
            return c;
        };
        let num = |s: &JsValue, k: &str| get(s, k).as_f64().unwrap_or(0.0);
        for stat in iter.flatten() {
            match get(&stat, "type").as_string().as_deref() {
                Some("outbound-rtp") => {
                    c.out.entry(num(&stat, "ssrc") as u32).or_default().0 +=
                        num(&stat, "packetsSent");
                }
                Some("remote-inbound-rtp") => {
                    c.out.entry(num(&stat, "ssrc") as u32).or_default().1 +=
                        num(&stat, "packetsLost").max(0.0);
                }
                Some("inbound-rtp") => {
                    let received = num(&stat, "packetsReceived");
                    let lost = num(&stat, "packetsLost").max(0.0);
                    c.received += received;
                    c.lost_in += lost;
                    let stream = get(&stat, "trackIdentifier")
                        .as_string()
                        .and_then(|t| TRACK_STREAMS.with(|m| m.borrow().get(&t).cloned()));
                    let voice = stream
                        .as_deref()
                        .and_then(parse_media_stream_id)
                        .filter(|(_, source)| *source == MediaSource::Microphone);
                    if let Some((user, _)) = voice {
                        let e = c.voices.entry(user.to_string()).or_default();
                        e.0 += num(&stat, "totalAudioEnergy");
                        e.1 += num(&stat, "totalSamplesDuration");
                    }
                    if let Some(stream) = stream {
                        let e = c.streams.entry(stream).or_default();
                        e.0 += received;
                        e.1 += lost;
                    }
                }
                Some("media-source")
                    if get(&stat, "kind").as_string().as_deref() == Some("audio") =>
                {
                    c.own_voice = Some((
                        num(&stat, "totalAudioEnergy"),
                        num(&stat, "totalSamplesDuration"),
                    ));
                }
                Some("transport") => {
                    c.pair = get(&stat, "selectedCandidatePairId").as_string();
                }
                Some("candidate-pair")
                    if get(&stat, "nominated").as_bool() == Some(true)
                        && get(&stat, "state").as_string().as_deref() == Some("succeeded") =>
                {
                    c.rtt_ms = get(&stat, "currentRoundTripTime")
                        .as_f64()
                        .map(|s| s * 1000.0);
                    c.available_kbps = get(&stat, "availableOutgoingBitrate")
                        .as_f64()
                        .map(|b| b / 1000.0);
                }
                _ => {}
            }
        }
        c
    }

    /// Lost over expected between two reads, if anything was expected.
    fn loss(lost: f64, expected: f64) -> Option<f64> {
        (expected > 0.0).then(|| (lost / expected).clamp(0.0, 1.0))
    }

    /// Each voice's level (RMS, 0‥1) since `before`: the energy over the
    /// time, so a second of speech counts whole, not one instant of it.
    /// Our own is under `me`. A voice new since `before` waits a read.
    fn voices_since(&self, before: &Counters, me: Option<&str>) -> Vec<(String, f64)> {
        let level = |now: (f64, f64), then: (f64, f64)| {
            let time = now.1 - then.1;
            (time > 0.05).then(|| ((now.0 - then.0).max(0.0) / time).sqrt())
        };
        let mut out: Vec<(String, f64)> = self
            .voices
            .iter()
            .filter_map(|(who, now)| Some((who.clone(), level(*now, *before.voices.get(who)?)?)))
            .collect();
        if let (Some(me), Some(now), Some(then)) = (me, self.own_voice, before.own_voice)
            && let Some(l) = level(now, then)
        {
            out.push((me.to_owned(), l));
        }
        out
    }

    /// The second's sample since `before`, and each stream's.
    ///
    /// Our own link's loss is the loss the server reports on what we send
    /// (our uplink), the worst stream's (video hides some behind
    /// retransmissions, audio shows it), while we send anything: what we
    /// receive also lost what its publisher's uplink lost, which says
    /// nothing about ours. A page that only receives has nothing better
    /// than the receive loss.
    fn since(&self, before: &Counters) -> (LinkSample, Vec<(String, LinkSample)>) {
        let d = |a: f64, b: f64| (a - b).max(0.0);
        let uplink = self
            .out
            .iter()
            .filter_map(|(ssrc, (sent, lost))| {
                let (s0, l0) = before.out.get(ssrc).copied().unwrap_or_default();
                // Too few packets for a fraction (a paused track).
                let sent = d(*sent, s0);
                (sent >= 10.0).then(|| d(*lost, l0) / sent)
            })
            .fold(None, |worst: Option<f64>, l| {
                Some(worst.map_or(l, |w| w.max(l)))
            });
        let loss = match uplink {
            Some(l) => Some(l.clamp(0.0, 1.0)),
            None => {
                let lost = d(self.lost_in, before.lost_in);
                Self::loss(lost, d(self.received, before.received) + lost)
            }
        };
        let all = LinkSample {
            loss,
            rtt_ms: self.rtt_ms,
            available_kbps: self.available_kbps,
        };
        let streams = self
            .streams
            .iter()
            .map(|(id, (received, lost))| {
                let (r0, l0) = before.streams.get(id).copied().unwrap_or_default();
                let lost = d(*lost, l0);
                let sample = LinkSample {
                    loss: Self::loss(lost, d(*received, r0) + lost),
                    rtt_ms: self.rtt_ms,
                    available_kbps: None,
                };
                (id.clone(), sample)
            })
            .collect();
        (all, streams)
    }
}

/// Offer only what the server takes (VP8 with its retransmissions, Opus)
/// on a transceiver of ours. Chromium offers every codec it has (a video
/// section is ~5 KB) in every offer, and each source turned on adds a
/// section: a person who turned camera and screen on and off a few times
/// would pass the server's SDP limit and lose media. A browser without
/// `setCodecPreferences` offers all, as before. The receive-only
/// transceivers the server's offers create are limited too (`received`,
/// checked against what the browser can receive): they are in every later
/// offer of ours as well.
fn prefer_server_codecs(transceiver: &JsValue, video: bool, received: bool) {
    let window: JsValue = web_sys::window().map(Into::into).unwrap_or_default();
    let side = get(
        &window,
        if received {
            "RTCRtpReceiver"
        } else {
            "RTCRtpSender"
        },
    );
    let kind = if video { "video" } else { "audio" };
    let Ok(caps) = call(&side, "getCapabilities", &[kind.into()]) else {
        return;
    };
    let keep: &[&str] = if video {
        &["video/vp8", "video/rtx"]
    } else {
        &["audio/opus"]
    };
    let codecs: Array = Array::from(&get(&caps, "codecs"))
        .iter()
        .filter(|c| {
            get(c, "mimeType")
                .as_string()
                .is_some_and(|m| keep.contains(&m.to_ascii_lowercase().as_str()))
        })
        .collect();
    if codecs.length() > 0 {
        let _ = call(transceiver, "setCodecPreferences", &[codecs.into()]);
    }
}

/// The `RTCConfiguration` of `ice`.
fn rtc_configuration(ice: &MediaIce) -> JsValue {
    let servers = Array::new();
    for s in &ice.ice_servers {
        let urls: Array = s.urls.iter().map(|u| JsValue::from_str(u)).collect();
        let mut pairs = vec![("urls", JsValue::from(urls))];
        if let Some(u) = &s.username {
            pairs.push(("username", u.as_str().into()));
        }
        if let Some(c) = &s.credential {
            pairs.push(("credential", c.as_str().into()));
        }
        servers.push(&obj(&pairs));
    }
    obj(&[
        ("iceServers", servers.into()),
        (
            "iceTransportPolicy",
            ice.ice_transport_policy.as_str().into(),
        ),
    ])
}

impl Inner {
    fn media_signal(&self) {
        let m = &self.media;
        let on = |s| m.local.contains_key(&s);
        self.s.media_local.update(|l| {
            l.microphone = on(MediaSource::Microphone);
            l.camera = on(MediaSource::Camera);
            l.screen = on(MediaSource::Screen);
            l.mic_muted = m
                .local
                .get(&MediaSource::Microphone)
                .is_some_and(|x| x.muted);
            l.no_video = m.no_video;
            l.mode = m.controller.mode();
            l.pinned = m.controller.pinned();
            l.quality = (!m.controller.meter().is_empty()).then(|| m.controller.meter().quality());
            l.remote_quality = m
                .meters
                .iter()
                .map(|(id, meter)| (id.clone(), meter.quality()))
                .collect();
            l.speaker = m.speakers.speaker().map(str::to_owned);
            l.featured_speaker = m.speakers.featured_speaker().map(str::to_owned);
            l.speaking = m
                .speakers
                .speaker()
                .filter(|who| m.speakers.level(who) >= SPEAKING_LEVEL)
                .map(str::to_owned);
        });
    }

    /// Whether `source` is sent in the current mode.
    fn carried(&self, source: MediaSource) -> bool {
        match self.media.controller.mode() {
            MediaMode::Video => true,
            MediaMode::Audio => !source.is_video(),
            MediaMode::Data => false,
        }
    }

    /// Send or stop sending each local track as the mode says.
    fn apply_mode(&self) {
        for (source, l) in &self.media.local {
            let Some(sender) = l.sender.clone() else {
                continue;
            };
            let want = if self.carried(*source) {
                l.track.clone()
            } else {
                JsValue::NULL
            };
            if get(&sender, "track") == want {
                continue;
            }
            spawn_local(async move {
                let _ = call_async(&sender, "replaceTrack", &[want]).await;
            });
        }
    }

    /// Tell the server our mode and link, if either changed.
    fn send_link(&mut self) {
        if self.media.peer.is_none() {
            return;
        }
        let mode = self.media.controller.mode();
        let quality = if self.media.controller.meter().is_empty() {
            LinkQuality::Good
        } else {
            self.media.controller.meter().quality()
        };
        if self.media.sent_link != Some((mode, quality)) {
            self.media.sent_link = Some((mode, quality));
            self.send(&ClientFrame::MediaLink { mode, quality });
        }
    }

    /// A mode change: apply it, tell the server and the page.
    fn mode_changed(&mut self) {
        self.apply_mode();
        self.send_link();
        self.media_signal();
    }

    /// Read the statistics (once a second).
    fn media_sample(&mut self) {
        /// A first connection still `connecting` after this long has lost
        /// its DTLS handshake on a lossy link (seen at 5 % loss: ICE
        /// connected, the handshake never finished, nothing ever sent) and
        /// would wait for ever; a fresh one starts the handshake over.
        const STUCK_MS: f64 = 15_000.0;
        let Some(peer) = &mut self.media.peer else {
            return;
        };
        let pc = peer.pc.clone();
        match get(&pc, "connectionState").as_string().as_deref() {
            Some("connected") => peer.connected = true,
            Some("connecting")
                if !peer.connected && js_sys::Date::now() - peer.opened > STUCK_MS =>
            {
                self.restart_peer(&pc);
                return;
            }
            _ => {}
        }
        let key = self.key;
        spawn_local(async move {
            let Ok(report) = call_async(&pc, "getStats", &[]).await else {
                return;
            };
            let counters = Counters::read(&report);
            with_room(key, |r| r.media_stats(counters));
        });
    }

    fn media_stats(&mut self, mut now: Counters) {
        if self.media.peer.is_none() {
            return;
        }
        // A new candidate pair (an ICE restart): what was lost while there
        // was none measures the outage, not the new path. Counted as loss,
        // one restart took a receiving page down to audio only for half a
        // minute (e2e media_relay, through TURN).
        if let Some(before) = &self.media.counters {
            now.settle = if now.pair != before.pair {
                SETTLE_READS
            } else {
                before.settle.saturating_sub(1)
            };
        }
        let Some(before) = self.media.counters.replace(now.clone()) else {
            return;
        };
        let (sample, streams) = now.since(&before);
        let before_mode = self.media.controller.mode();
        let settling = now.settle > 0;
        if !settling {
            self.media.controller.sample(sample);
        }
        let live: Vec<String> = streams.iter().map(|(id, _)| id.clone()).collect();
        self.media.meters.retain(|id, _| live.contains(id));
        for (id, s) in streams.into_iter().filter(|_| !settling) {
            self.media.meters.entry(id).or_default().add(s);
        }
        self.sample_speakers(&now, &before);
        if self.media.controller.mode() == before_mode {
            self.send_link();
            self.media_signal();
        } else {
            self.mode_changed();
        }
    }

    /// Who speaks this second. A muted microphone is silent whatever its
    /// statistics say (a disabled track's last samples may linger).
    fn sample_speakers(&mut self, now: &Counters, before: &Counters) {
        let me = self.s.you.get_untracked();
        let own_muted = self
            .media
            .local
            .get(&MediaSource::Microphone)
            .is_none_or(|m| m.muted);
        let muted: Vec<String> = self.s.media_publishers.with_untracked(|ps| {
            ps.iter()
                .filter(|p| {
                    p.tracks
                        .iter()
                        .any(|t| t.source == MediaSource::Microphone && t.muted)
                })
                .map(|p| p.user_id.to_string())
                .collect()
        });
        let levels: Vec<(String, f64)> = now
            .voices_since(before, me.as_deref())
            .into_iter()
            .map(|(who, level)| {
                let silent = if Some(&who) == me.as_ref() {
                    own_muted
                } else {
                    muted.contains(&who)
                };
                (who, if silent { 0.0 } else { level })
            })
            .collect();
        self.media.speakers.sample(me.as_deref(), &levels);
        // Only people who still send a microphone can hold the floor.
        let voices: Vec<String> = self.s.media_publishers.with_untracked(|ps| {
            ps.iter()
                .filter(|p| p.tracks.iter().any(|t| t.source == MediaSource::Microphone))
                .map(|p| p.user_id.to_string())
                .collect()
        });
        let mine = self.media.local.contains_key(&MediaSource::Microphone);
        self.media
            .speakers
            .retain(|who| voices.iter().any(|v| v == who) || (mine && Some(who) == me.as_deref()));
    }

    fn remote_ids_changed(&self) {
        let ids: Vec<String> = STREAMS.with(|s| {
            s.borrow()
                .keys()
                .filter(|k| !k.starts_with("local:"))
                .cloned()
                .collect()
        });
        self.s.media_streams.set(ids);
    }

    /// Declare what we publish (and whether we want video).
    fn send_media_state(&self) {
        let mut tracks: Vec<MediaTrackState> = self
            .media
            .local
            .iter()
            .map(|(source, l)| MediaTrackState {
                track_id: l.declared_id.clone(),
                source: *source,
                muted: l.muted,
            })
            .collect();
        tracks.sort_by_key(|t| t.source.as_str());
        self.send(&ClientFrame::MediaState {
            tracks,
            receive_video: !self.media.no_video,
        });
    }

    /// The peer connection, opened (with its local tracks) if need be.
    fn ensure_peer(&mut self) -> Option<JsValue> {
        if let Some(p) = &self.media.peer {
            return Some(p.pc.clone());
        }
        if !self.joined {
            return None;
        }
        let window: JsValue = web_sys::window()?.into();
        let ctor: Function = get(&window, "RTCPeerConnection").dyn_into().ok()?;
        let config = rtc_configuration(&self.media.ice);
        let pc = Reflect::construct(&ctor, &Array::of1(&config)).ok()?;
        let key = self.key;
        let mut handlers: Vec<Closure<dyn FnMut(JsValue)>> = Vec::new();

        let on_candidate = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let c = get(&ev, "candidate");
            if c.is_null() || c.is_undefined() {
                return;
            }
            let candidate = IceCandidate {
                candidate: get(&c, "candidate").as_string().unwrap_or_default(),
                sdp_mid: get(&c, "sdpMid").as_string(),
                sdp_m_line_index: get(&c, "sdpMLineIndex")
                    .as_f64()
                    .and_then(|i| u16::try_from(i as i64).ok()),
                username_fragment: get(&c, "usernameFragment").as_string(),
            };
            with_room(key, |r| r.send(&ClientFrame::MediaCandidate { candidate }));
        });
        set(&pc, "onicecandidate", on_candidate.as_ref().unchecked_ref());
        handlers.push(on_candidate);

        let on_track = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
            let video = get(&get(&ev, "track"), "kind").as_string().as_deref() == Some("video");
            prefer_server_codecs(&get(&ev, "transceiver"), video, true);
            let streams = get(&ev, "streams");
            let stream = Reflect::get_u32(&streams, 0).unwrap_or(JsValue::UNDEFINED);
            let Some(id) = get(&stream, "id").as_string() else {
                return;
            };
            if parse_media_stream_id(&id).is_none() {
                return;
            }
            if let Some(track_id) = get(&get(&ev, "track"), "id").as_string() {
                TRACK_STREAMS.with(|m| m.borrow_mut().insert(track_id, id.clone()));
            }
            // A track the server stopped forwarding leaves its stream.
            let gone_id = id.clone();
            let on_removed = Closure::<dyn FnMut(JsValue)>::new(move |_ev: JsValue| {
                let empty = STREAMS.with(|s| {
                    s.borrow()
                        .get(&gone_id)
                        .map(|st| call(st, "getTracks", &[]).ok())
                        .is_some_and(|t| t.is_none_or(|t| Array::from(&t).length() == 0))
                });
                if empty {
                    STREAMS.with(|s| s.borrow_mut().remove(&gone_id));
                    with_room(key, |r| r.remote_ids_changed());
                }
            });
            set(
                &stream,
                "onremovetrack",
                on_removed.as_ref().unchecked_ref(),
            );
            on_removed.forget();
            STREAMS.with(|s| s.borrow_mut().insert(id, stream));
            with_room(key, |r| r.remote_ids_changed());
        });
        set(&pc, "ontrack", on_track.as_ref().unchecked_ref());
        handlers.push(on_track);

        let pc_for_offer = pc.clone();
        let on_negotiation = Closure::<dyn FnMut(JsValue)>::new(move |_ev: JsValue| {
            let pc = pc_for_offer.clone();
            spawn_local(async move {
                // Only from a stable state: while a server offer is being
                // applied, a description set here would be the answer,
                // which the offer's own handler sends (the browser fires
                // this event again once stable if still needed).
                if get(&pc, "signalingState").as_string().as_deref() != Some("stable") {
                    return;
                }
                // A server offer crossing this one wins (we are polite):
                // the browser rolls this one back when it applies that.
                if call_async(&pc, "setLocalDescription", &[]).await.is_err() {
                    with_room(key, |r| r.renew_unnegotiated(&pc));
                    return;
                }
                let desc = get(&pc, "localDescription");
                if get(&desc, "type").as_string().as_deref() != Some("offer") {
                    return;
                }
                if let Some(sdp) = get(&desc, "sdp").as_string() {
                    with_room(key, |r| r.send(&ClientFrame::MediaOffer { sdp }));
                }
            });
        });
        set(
            &pc,
            "onnegotiationneeded",
            on_negotiation.as_ref().unchecked_ref(),
        );
        handlers.push(on_negotiation);

        let pc_for_state = pc.clone();
        let on_state = Closure::<dyn FnMut(JsValue)>::new(move |_ev: JsValue| {
            // A network change: restart ICE (a new offer follows).
            if get(&pc_for_state, "connectionState").as_string().as_deref() == Some("failed") {
                let _ = call(&pc_for_state, "restartIce", &[]);
            }
        });
        set(
            &pc,
            "onconnectionstatechange",
            on_state.as_ref().unchecked_ref(),
        );
        handlers.push(on_state);

        let stats = set_interval_with_handle(
            move || {
                with_room(key, |r| r.media_sample());
            },
            std::time::Duration::from_millis(STATS_EVERY_MS),
        )
        .ok();
        self.media.peer = Some(Peer {
            pc: pc.clone(),
            _handlers: handlers,
            stats,
            renewals: 0,
            opened: js_sys::Date::now(),
            connected: false,
        });
        // Local tracks (after a reconnect) go on the new connection.
        let sources: Vec<MediaSource> = self.media.local.keys().copied().collect();
        for source in sources {
            self.attach(source, &pc);
        }
        self.send_media_state();
        self.send_link();
        Some(pc)
    }

    fn attach(&mut self, source: MediaSource, pc: &JsValue) {
        let Some(local) = self.media.local.get_mut(&source) else {
            return;
        };
        let window: JsValue = web_sys::window().map(Into::into).unwrap_or_default();
        let Ok(ctor) = get(&window, "MediaStream").dyn_into::<Function>() else {
            return;
        };
        let Ok(stream) = Reflect::construct(&ctor, &Array::of1(&Array::of1(&local.track))) else {
            return;
        };
        // The camera as simulcast layers, the screen with a higher cap;
        // a browser without `addTransceiver` encodings gets a plain track.
        let encodings: Array = match source {
            MediaSource::Camera => CAMERA_LAYERS
                .iter()
                .map(|(rid, scale, max)| {
                    obj(&[
                        ("rid", (*rid).into()),
                        ("scaleResolutionDownBy", (*scale).into()),
                        ("maxBitrate", (*max).into()),
                    ])
                })
                .collect(),
            MediaSource::Screen => Array::of1(&obj(&[("maxBitrate", SCREEN_MAX_BITRATE.into())])),
            MediaSource::Microphone => Array::new(),
        };
        let init = obj(&[
            ("direction", "sendonly".into()),
            ("streams", Array::of1(&stream).into()),
            ("sendEncodings", encodings.into()),
        ]);
        local.declared_id = get(&local.track, "id").as_string().unwrap_or_default();
        local.sender = call(pc, "addTransceiver", &[local.track.clone(), init])
            .map(|t| {
                prefer_server_codecs(&t, source.is_video(), false);
                get(&t, "sender")
            })
            .or_else(|_| call(pc, "addTrack", &[local.track.clone(), stream]))
            .ok();
        self.apply_mode();
    }

    /// Our offer could not even be set locally. The cause seen before the
    /// server gave header extensions the browser's ids (vendor/rtc/
    /// JILIANG.md, patch 3): our first offer crossed the server's first
    /// one and the browser rolled it back
    /// (we are polite); Chromium keeps the header extension ids of that
    /// offer on the transceivers it added, which clash with the ids the
    /// server's offer set for the BUNDLE group ("A BUNDLE group contains a
    /// codec collision for header extension id=…"), so every later offer
    /// fails and those tracks would never be sent. Transceivers never
    /// negotiated (no `mid`) are stopped and their tracks sent on fresh
    /// ones, which take the group's ids; a few times at most per
    /// connection, in case the cause is another, then a fresh connection.
    fn renew_unnegotiated(&mut self, pc: &JsValue) {
        const MAX_RENEWALS: u32 = 3;
        match self.media.peer.as_mut() {
            Some(p) if &p.pc == pc && p.renewals < MAX_RENEWALS => p.renewals += 1,
            Some(p) if &p.pc == pc => return self.restart_peer(pc),
            _ => return,
        }
        let Ok(all) = call(pc, "getTransceivers", &[]) else {
            return;
        };
        let all = Array::from(&all);
        let sources: Vec<MediaSource> = self.media.local.keys().copied().collect();
        let mut renewed = false;
        for source in sources {
            let Some(sender) = self.media.local.get(&source).and_then(|l| l.sender.clone()) else {
                continue;
            };
            let Some(t) = all.iter().find(|t| get(t, "sender") == sender) else {
                continue;
            };
            if !get(&t, "mid").is_null() {
                continue;
            }
            let _ = call(&t, "stop", &[]);
            if let Some(l) = self.media.local.get_mut(&source) {
                l.sender = None;
            }
            self.attach(source, pc);
            renewed = true;
        }
        if renewed {
            self.send_media_state();
        }
    }

    /// Negotiation is stuck on `pc` (an offer of the server's the browser
    /// refuses even after rolling ours back): close it and, once the
    /// server confirms (`media_closed` "media_stop"), open a fresh one with
    /// the same tracks. Three times a minute at most: past that the
    /// connection stays as it is (starting over again would only churn).
    fn restart_peer(&mut self, pc: &JsValue) {
        const MAX_PER_MINUTE: usize = 3;
        if self.media.peer.as_ref().is_none_or(|p| &p.pc != pc) {
            return;
        }
        let now = js_sys::Date::now();
        self.media.restarts.retain(|t| now - t < 60_000.0);
        if self.media.restarts.len() >= MAX_PER_MINUTE {
            return;
        }
        self.media.restarts.push(now);
        self.send(&ClientFrame::MediaStop);
        self.close_peer();
        self.media.restarting = true;
    }

    fn close_peer(&mut self) {
        self.media.peer = None;
        self.media.counters = None;
        self.media.meters.clear();
        self.media.sent_link = None;
        self.media.speakers = SpeakerDetector::default();
        TRACK_STREAMS.with(|m| m.borrow_mut().clear());
        for l in self.media.local.values_mut() {
            l.sender = None;
        }
        STREAMS.with(|s| s.borrow_mut().retain(|k, _| k.starts_with("local:")));
        self.remote_ids_changed();
    }

    /// ICE servers and TURN credentials (the snapshot's, or a renewal):
    /// for the next peer connection, and the open one's ICE restarts.
    pub(super) fn media_on_ice(&mut self, ice: MediaIce) {
        if let Some(p) = &self.media.peer {
            let _ = call(&p.pc, "setConfiguration", &[rtc_configuration(&ice)]);
        }
        self.media.ice = ice;
    }

    /// After a snapshot: the server ended our media with the old socket.
    pub(super) fn media_on_snapshot(&mut self, publishers: Vec<MediaPublisher>) {
        let had = self.media.peer.is_some() || std::mem::take(&mut self.media.restarting);
        self.close_peer();
        self.s.media_publishers.set(publishers);
        if had || !self.media.local.is_empty() || self.others_publish() {
            self.ensure_peer();
        }
    }

    fn others_publish(&self) -> bool {
        let me = self.s.you.get_untracked();
        self.s.media_publishers.with_untracked(|p| {
            p.iter()
                .any(|x| Some(x.user_id.to_string()) != me && !x.tracks.is_empty())
        })
    }

    pub(super) fn media_on_state(&mut self, publishers: Vec<MediaPublisher>) {
        self.s.media_publishers.set(publishers);
        if self.media.peer.is_none()
            && self.others_publish()
            && !self.s.media_local.with_untracked(|l| l.replaced)
        {
            self.ensure_peer();
        }
    }

    pub(super) fn media_on_offer(&mut self, sdp: String) {
        let Some(peer) = &self.media.peer else {
            return;
        };
        let pc = peer.pc.clone();
        let key = self.key;
        spawn_local(async move {
            // Polite: an offer of ours that crossed the server's is rolled
            // back, explicitly and first. Chromium's implicit rollback checks
            // the server's offer against ours before rolling ours back: when
            // both add a section with the same `mid` it refuses ("RTP
            // extension ID reassignment not supported … collision on active
            // MID"), and that failure can leave the session in error
            // (ERROR_CONTENT), so that even an explicit rollback after it
            // fails and the server's offer stays unanswered for ever.
            let offer = obj(&[("type", "offer".into()), ("sdp", sdp.into())]);
            let rollback = || obj(&[("type", "rollback".into())]);
            let crossed =
                || get(&pc, "signalingState").as_string().as_deref() == Some("have-local-offer");
            // A rollback that fails because the server's answer to our offer
            // landed first (the state is stable by then) is fine: the offer
            // then applies as it is.
            if crossed() {
                let _ = call_async(&pc, "setLocalDescription", &[rollback()]).await;
            }
            if call_async(&pc, "setRemoteDescription", std::slice::from_ref(&offer))
                .await
                .is_err()
            {
                // Our offer was still on its way into the browser when the
                // server's came (its state was stable above): same as
                // above, once it has landed. An offer that still does not
                // apply would stay unanswered and the server would wait for
                // ever: start over on a fresh connection instead.
                if !crossed()
                    || call_async(&pc, "setLocalDescription", &[rollback()])
                        .await
                        .is_err()
                    || call_async(&pc, "setRemoteDescription", &[offer])
                        .await
                        .is_err()
                {
                    with_room(key, |r| r.restart_peer(&pc));
                    return;
                }
            }
            if call_async(&pc, "setLocalDescription", &[]).await.is_err() {
                with_room(key, |r| r.restart_peer(&pc));
                return;
            }
            // Never an offer of ours sent as the answer.
            let desc = get(&pc, "localDescription");
            if get(&desc, "type").as_string().as_deref() != Some("answer") {
                return;
            }
            if let Some(sdp) = get(&desc, "sdp").as_string() {
                with_room(key, |r| r.send(&ClientFrame::MediaAnswer { sdp }));
            }
        });
    }

    pub(super) fn media_on_answer(&mut self, sdp: String) {
        let Some(peer) = &self.media.peer else {
            return;
        };
        let pc = peer.pc.clone();
        spawn_local(async move {
            let answer = obj(&[("type", "answer".into()), ("sdp", sdp.into())]);
            let _ = call_async(&pc, "setRemoteDescription", &[answer]).await;
        });
    }

    pub(super) fn media_on_candidate(&mut self, c: IceCandidate) {
        let Some(peer) = &self.media.peer else {
            return;
        };
        let pc = peer.pc.clone();
        let mut pairs = vec![("candidate", JsValue::from_str(&c.candidate))];
        if let Some(mid) = c.sdp_mid {
            pairs.push(("sdpMid", mid.into()));
        }
        if let Some(i) = c.sdp_m_line_index {
            pairs.push(("sdpMLineIndex", i.into()));
        }
        let init = obj(&pairs);
        spawn_local(async move {
            // Candidates of an offer that lost a collision fail: fine.
            let _ = call_async(&pc, "addIceCandidate", &[init]).await;
        });
    }

    pub(super) fn media_on_closed(&mut self, reason: &str) {
        self.close_peer();
        // The server closed the connection we gave up on: the fresh one.
        if reason == "media_stop" && std::mem::take(&mut self.media.restarting) {
            self.ensure_peer();
            self.media_signal();
            return;
        }
        if reason == "replaced" {
            for (_, l) in self.media.local.drain() {
                let _ = call(&l.track, "stop", &[]);
            }
            STREAMS.with(|s| s.borrow_mut().clear());
            self.s.media_local.update(|l| l.replaced = true);
        }
        // The room's media moved to another server node (the one that
        // hosted it went away): start again at once, with the same tracks;
        // the server connects us to the new node.
        if reason == "moved" && (!self.media.local.is_empty() || self.others_publish()) {
            self.ensure_peer();
        }
        self.media_signal();
    }

    /// Turn a source on or off.
    pub(super) fn media_toggle(&mut self, source: MediaSource) {
        if let Some(local) = self.media.local.remove(&source) {
            if let (Some(peer), Some(sender)) = (&self.media.peer, &local.sender) {
                let _ = call(&peer.pc, "removeTrack", std::slice::from_ref(sender));
            }
            let _ = call(&local.track, "stop", &[]);
            STREAMS.with(|s| s.borrow_mut().remove(&local_stream_id(source)));
            self.send_media_state();
            self.media_signal();
            return;
        }
        if self.s.media_local.with_untracked(|l| l.opening.is_some()) {
            return;
        }
        self.s.media_local.update(|l| {
            l.opening = Some(source);
            l.problem = None;
            l.replaced = false;
        });
        let key = self.key;
        let choice = stored_choice(source);
        spawn_local(async move {
            let opened = devices::open_device(source, choice).await;
            with_room(key, |r| r.media_opened(source, opened));
        });
    }

    fn media_opened(
        &mut self,
        source: MediaSource,
        opened: Result<(JsValue, JsValue), DeviceProblem>,
    ) {
        self.s.media_local.update(|l| l.opening = None);
        let (track, stream) = match opened {
            Ok(t) => t,
            Err(p) => {
                self.s.media_local.update(|l| l.problem = Some(p));
                return;
            }
        };
        if source.is_video() {
            STREAMS.with(|s| s.borrow_mut().insert(local_stream_id(source), stream));
        }
        // The browser's own "stop sharing" button ends a screen track; a
        // camera or microphone pulled out ends theirs.
        let ended = devices::ended_handler(self.key, source);
        set(&track, "onended", ended.as_ref().unchecked_ref());
        let declared_id = get(&track, "id").as_string().unwrap_or_default();
        self.media.local.insert(
            source,
            Local {
                track,
                declared_id,
                sender: None,
                muted: false,
                _ended: Some(ended),
            },
        );
        match &self.media.peer {
            Some(p) => {
                let pc = p.pc.clone();
                self.attach(source, &pc);
                // Declared before the offer `negotiationneeded` makes.
                self.send_media_state();
            }
            None => {
                self.ensure_peer();
            }
        }
        // Names come once a device was allowed.
        self.refresh_devices();
        self.media_signal();
    }

    pub(super) fn media_mute(&mut self) {
        if let Some(mic) = self.media.local.get_mut(&MediaSource::Microphone) {
            mic.muted = !mic.muted;
            set(&mic.track, "enabled", &JsValue::from_bool(!mic.muted));
            self.send_media_state();
            self.media_signal();
        }
    }

    /// Pin a mode, or (`None`) let the link choose.
    pub(super) fn media_pin_mode(&mut self, mode: Option<MediaMode>) {
        self.media.controller.pin(mode);
        self.mode_changed();
    }

    pub(super) fn media_no_video(&mut self, no_video: bool) {
        self.media.no_video = no_video;
        if self.media.peer.is_some() {
            self.send_media_state();
        }
        self.media_signal();
    }

    /// Everything off (the page is leaving).
    pub(super) fn media_close(&mut self) {
        if self.media.peer.is_some() {
            self.send(&ClientFrame::MediaStop);
        }
        self.close_peer();
        for (_, l) in self.media.local.drain() {
            let _ = call(&l.track, "stop", &[]);
        }
        STREAMS.with(|s| s.borrow_mut().clear());
        self.media_devices_close();
    }
}
