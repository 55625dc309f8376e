//! The room's audio and video: buttons for the microphone, the camera and
//! the screen share, mute, the camera and microphone to use, "do not
//! receive video", the mode (automatic, or pinned to video, audio only or
//! data only), and a tile per video (the others' through the server, one's
//! own as a preview), each with its link's quality. One tile is large: an
//! expert's screen share, else anyone's, else the active speaker's camera
//! (`jiliang_app_core::stage`); the others line up below it. Remote audio
//! plays from hidden `<audio>` elements; each person heard has a chip with
//! the link's quality, and whoever holds the floor is marked.

use jiliang_app_core::stage::{Candidate, featured};
use jiliang_protocol::accounts::Role;
use jiliang_protocol::rooms::{LinkQuality, MediaMode, MediaSource, parse_media_stream_id};
use leptos::prelude::*;

use crate::i18n::{Msg, use_i18n};
use crate::net::room::{DeviceProblem, MediaDevice, RoomHandle, local_stream_id, media_stream};

/// One video or audio element to show.
#[derive(Clone, Debug, PartialEq)]
struct Tile {
    stream_id: String,
    label: String,
    /// Whose it is (a user id).
    person: String,
    /// That person is an expert or runs the session.
    expert: bool,
    source: MediaSource,
    muted: bool,
    local: bool,
    /// The worse of how the publisher grades its own link and how this
    /// browser receives the stream.
    quality: Option<LinkQuality>,
}

fn worse(a: Option<LinkQuality>, b: Option<LinkQuality>) -> Option<LinkQuality> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

fn mode_msg(mode: MediaMode) -> Msg {
    match mode {
        MediaMode::Video => Msg::MediaModeVideo,
        MediaMode::Audio => Msg::MediaModeAudio,
        MediaMode::Data => Msg::MediaModeData,
    }
}

fn quality_msg(q: LinkQuality) -> Msg {
    match q {
        LinkQuality::Good => Msg::MediaLinkGood,
        LinkQuality::Fair => Msg::MediaLinkFair,
        LinkQuality::Poor => Msg::MediaLinkPoor,
    }
}

/// A small badge with a link's quality.
#[component]
fn QualityBadge(quality: Option<LinkQuality>) -> impl IntoView {
    let i18n = use_i18n();
    quality.map(|q| {
        view! {
            <span class=format!("link-quality q-{}", q.as_str()) data-testid="link-quality"
                data-quality=q.as_str()>{move || i18n.t(quality_msg(q))}</span>
        }
    })
}

#[component]
pub(super) fn MediaPanel(handle: RoomHandle) -> impl IntoView {
    let i18n = use_i18n();
    let s = handle.s;
    let local = s.media_local;
    let button = move |source: MediaSource, msg: Msg, testid: &'static str| {
        view! {
            <button type="button" class="secondary small media-btn" data-testid=testid
                aria-pressed=move || local.with(|l| l.is_on(source)).to_string()
                disabled=move || local.with(|l| l.opening.is_some())
                on:click=move |_| handle.media_toggle(source)>{move || i18n.t(msg)}</button>
        }
    };
    let tiles = Memo::new(move |_| {
        let me = s.you.get();
        let me_id = me.clone().unwrap_or_default();
        let streams = s.media_streams.get();
        let no_video = local.with(|l| l.no_video);
        let participants = s.participants.get();
        let expert = |id: &str| {
            participants
                .iter()
                .any(|p| p.user_id.to_string() == id && (p.host || p.roles.contains(&Role::Expert)))
        };
        let mut out = Vec::new();
        let remote_quality = local.with(|l| l.remote_quality.clone());
        // One's own camera and screen first (previews, never sent back).
        local.with(|l| {
            for source in [MediaSource::Camera, MediaSource::Screen] {
                if l.is_on(source) {
                    out.push(Tile {
                        stream_id: local_stream_id(source),
                        label: i18n.t(Msg::MediaYou).to_owned(),
                        person: me_id.clone(),
                        expert: expert(&me_id),
                        source,
                        muted: false,
                        local: true,
                        quality: l.quality,
                    });
                }
            }
        });
        s.media_publishers.with(|publishers| {
            for p in publishers {
                if Some(p.user_id.to_string()) == me {
                    continue;
                }
                let name = participants
                    .iter()
                    .find(|x| x.user_id == p.user_id)
                    .map(|x| x.display_name.clone())
                    .unwrap_or_default();
                for t in &p.tracks {
                    if no_video && t.source.is_video() {
                        continue;
                    }
                    let Some(id) = streams
                        .iter()
                        .find(|id| parse_media_stream_id(id) == Some((p.user_id, t.source)))
                    else {
                        continue;
                    };
                    out.push(Tile {
                        stream_id: id.clone(),
                        label: name.clone(),
                        person: p.user_id.to_string(),
                        expert: expert(&p.user_id.to_string()),
                        source: t.source,
                        muted: t.muted,
                        local: false,
                        quality: worse(p.link.map(|l| l.quality), remote_quality.get(id).copied()),
                    });
                }
            }
        });
        out
    });
    // The large tile; what it was before decides when nothing else does,
    // so it stays put while someone without a camera speaks.
    let speaker = Memo::new(move |_| local.with(|l| l.speaking.clone()));
    let featured_speaker = Memo::new(move |_| local.with(|l| l.featured_speaker.clone()));
    let large = Memo::new(move |before: Option<&Option<String>>| {
        let who = featured_speaker.get();
        tiles.with(|ts| {
            let candidates: Vec<Candidate> = ts
                .iter()
                .filter(|t| t.source.is_video())
                .map(|t| Candidate {
                    key: &t.stream_id,
                    person: &t.person,
                    screen: t.source == MediaSource::Screen,
                    expert: t.expert,
                    local: t.local,
                })
                .collect();
            featured(
                &candidates,
                who.as_deref(),
                before.and_then(|b| b.as_deref()),
            )
            .map(str::to_owned)
        })
    });
    let videos = Memo::new(move |_| {
        tiles.with(|ts| {
            ts.iter()
                .filter(|t| t.source.is_video())
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    let voices = Memo::new(move |_| {
        tiles.with(|ts| {
            ts.iter()
                .filter(|t| !t.source.is_video())
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    // Changes only when one of the three does (statistics come every
    // second; the status line must not be re-announced each time).
    let mode_now = Memo::new(move |_| local.with(|l| (l.mode, l.pinned.is_some(), l.quality)));
    let problem = move || {
        local.with(|l| {
            if l.replaced {
                return Some(i18n.t(Msg::MediaReplaced));
            }
            if l.opening.is_some() {
                return Some(i18n.t(Msg::MediaOpening));
            }
            l.problem.map(|p| {
                i18n.t(match p {
                    DeviceProblem::Denied => Msg::MediaDenied,
                    DeviceProblem::Missing => Msg::MediaMissing,
                    DeviceProblem::Busy => Msg::MediaBusy,
                    DeviceProblem::Failed => Msg::MediaFailed,
                    DeviceProblem::Disconnected => Msg::MediaDeviceGone,
                })
            })
        })
    };
    view! {
        <section class="media" data-testid="media-panel" aria-label=move || i18n.t(Msg::MediaTitle)>
            <div class="media-controls">
                {button(MediaSource::Microphone, Msg::MediaMicrophone, "media-mic")}
                {move || local.with(|l| l.microphone).then(|| view! {
                    <button type="button" class="secondary small media-btn" data-testid="media-mute"
                        aria-pressed=move || local.with(|l| l.mic_muted).to_string()
                        on:click=move |_| handle.media_mute()>
                        {move || if local.with(|l| l.mic_muted) { i18n.t(Msg::MediaUnmute) } else { i18n.t(Msg::MediaMute) }}
                    </button>
                })}
                {button(MediaSource::Camera, Msg::MediaCamera, "media-camera")}
                {button(MediaSource::Screen, Msg::MediaScreen, "media-screen")}
                <DeviceChoice handle=handle source=MediaSource::Camera/>
                <DeviceChoice handle=handle source=MediaSource::Microphone/>
                <label class="media-mode">
                    <span>{move || i18n.t(Msg::MediaMode)}</span>
                    <select data-testid="media-mode"
                        prop:value=move || local.with(|l| l.pinned.map_or("auto", MediaMode::as_str))
                        on:change=move |ev| {
                            let mode = match event_target_value(&ev).as_str() {
                                "video" => Some(MediaMode::Video),
                                "audio" => Some(MediaMode::Audio),
                                "data" => Some(MediaMode::Data),
                                _ => None,
                            };
                            handle.media_pin_mode(mode);
                        }>
                        <option value="auto">{move || i18n.t(Msg::MediaModeAuto)}</option>
                        <option value="video">{move || i18n.t(Msg::MediaModeVideo)}</option>
                        <option value="audio">{move || i18n.t(Msg::MediaModeAudio)}</option>
                        <option value="data">{move || i18n.t(Msg::MediaModeData)}</option>
                    </select>
                </label>
                <label class="media-novideo">
                    <input type="checkbox" data-testid="media-no-video"
                        prop:checked=move || local.with(|l| l.no_video)
                        on:change=move |ev| handle.media_no_video(event_target_checked(&ev))/>
                    <span>{move || i18n.t(Msg::MediaNoVideo)}</span>
                </label>
            </div>
            <p class="muted small media-mode-now" role="status" data-testid="media-mode-now"
                data-mode=move || mode_now.get().0.as_str()
                data-pinned=move || mode_now.get().1.to_string()>
                {move || {
                    let (mode, pinned, quality) = mode_now.get();
                    let text = i18n.tf(
                        if pinned { Msg::MediaModeNowPinned } else { Msg::MediaModeNowAuto },
                        &[("mode", i18n.t(mode_msg(mode)))],
                    );
                    view! { {text}" "<QualityBadge quality=quality/> }
                }}
            </p>
            {move || problem().map(|t| view! { <p class="notice warn small" role="status" data-testid="media-problem">{t}</p> })}
            <div class="media-tiles" data-testid="media-tiles"
                class:has-large=move || large.with(Option::is_some)>
                <For each=move || videos.get() key=|t| (t.stream_id.clone(), t.source.as_str()) let:tile>
                    <MediaTile tile=tile tiles=tiles large=large speaker=speaker/>
                </For>
            </div>
            <div class="media-voices">
                <For each=move || voices.get() key=|t| (t.stream_id.clone(), t.source.as_str()) let:tile>
                    <MediaTile tile=tile tiles=tiles large=large speaker=speaker/>
                </For>
            </div>
            {move || (tiles.with(Vec::is_empty)).then(|| view! {
                <p class="muted small">{move || i18n.t(Msg::MediaNobody)}</p>
            })}
        </section>
    }
}

/// A device's name in the list: its own, or "Device n" when the browser
/// gives none.
fn device_label(i18n: crate::i18n::I18n, d: &MediaDevice, n: usize) -> String {
    if d.label.trim().is_empty() {
        i18n.tf(Msg::MediaDeviceNumbered, &[("n", &n.to_string())])
    } else {
        d.label.clone()
    }
}

/// The camera or microphone to use: shown when there is a choice (the
/// browser lists two or more, which it does once a device was allowed).
#[component]
fn DeviceChoice(handle: RoomHandle, source: MediaSource) -> impl IntoView {
    let i18n = use_i18n();
    let local = handle.s.media_local;
    let camera = source == MediaSource::Camera;
    let list = Memo::new(move |_| {
        local.with(|l| {
            if camera {
                l.cameras.clone()
            } else {
                l.microphones.clone()
            }
        })
    });
    let chosen = move || {
        local
            .with(|l| {
                if camera {
                    l.camera_device.clone()
                } else {
                    l.microphone_device.clone()
                }
            })
            .unwrap_or_default()
    };
    let (title, default, testid) = if camera {
        (
            Msg::MediaCameraDevice,
            Msg::MediaCameraDefault,
            "media-camera-device",
        )
    } else {
        (
            Msg::MediaMicrophoneDevice,
            Msg::MediaMicrophoneDefault,
            "media-microphone-device",
        )
    };
    move || {
        (list.with(Vec::len) >= 2).then(|| {
            view! {
                <label class="media-device">
                    <span>{move || i18n.t(title)}</span>
                    <select data-testid=testid
                        disabled=move || local.with(|l| l.opening.is_some())
                        prop:value=chosen
                        on:change=move |ev| {
                            let id = event_target_value(&ev);
                            handle.media_choose_device(source, (!id.is_empty()).then_some(id));
                        }>
                        <option value="">{move || i18n.t(default)}</option>
                        {move || list.get().into_iter().enumerate().map(|(n, d)| {
                            let label = device_label(i18n, &d, n + 1);
                            let selected = chosen() == d.id;
                            view! { <option value=d.id selected=selected>{label}</option> }
                        }).collect_view()}
                    </select>
                </label>
            }
        })
    }
}

#[component]
fn MediaTile(
    tile: Tile,
    tiles: Memo<Vec<Tile>>,
    large: Memo<Option<String>>,
    speaker: Memo<Option<String>>,
) -> impl IntoView {
    let i18n = use_i18n();
    let id = tile.stream_id.clone();
    let person = tile.person.clone();
    let speaking = Memo::new(move |_| speaker.with(|s| s.as_deref() == Some(person.as_str())));
    let speaking_badge = move || {
        speaking.get().then(|| {
            view! {
                <span class="speaking-badge">{move || i18n.t(Msg::MediaSpeaking)}</span>
            }
        })
    };
    // The quality changes without the tile being rebuilt (its video plays on).
    let quality_of = tile.stream_id.clone();
    let quality = move || {
        tiles.with(|ts| {
            ts.iter()
                .find(|t| t.stream_id == quality_of)
                .and_then(|t| t.quality)
        })
    };
    let muted_of = tile.stream_id.clone();
    let muted = move || tiles.with(|ts| ts.iter().any(|t| t.stream_id == muted_of && t.muted));
    let source_label = match tile.source {
        MediaSource::Screen => Some(Msg::MediaScreenTile),
        MediaSource::Camera => Some(Msg::MediaCamera),
        MediaSource::Microphone => None,
    };
    if tile.source.is_video() {
        let video = NodeRef::<leptos::html::Video>::new();
        Effect::new(move |_| {
            if let Some(el) = video.get() {
                attach(&el, &id);
            }
        });
        let testid = if tile.local {
            "local-video"
        } else {
            "remote-video"
        };
        let screen = tile.source == MediaSource::Screen;
        let key = tile.stream_id.clone();
        let is_large = Memo::new(move |_| large.with(|l| l.as_deref() == Some(key.as_str())));
        // The camera of whoever speaks is marked, not their screen share.
        let speaking_here = move || speaking.get() && !screen;
        view! {
            <figure class="media-tile" class:screen=screen class:large=move || is_large.get()
                class:speaking=speaking_here data-large=move || is_large.get().to_string()
                data-speaking=move || speaking_here().to_string()>
                <video node_ref=video autoplay=true playsinline=true prop:muted=true
                    data-testid=testid data-stream=tile.stream_id.clone()></video>
                <figcaption>
                    <span class="tile-name">{tile.label.clone()}" · "{source_label.map(|m| i18n.t(m))}</span>" "
                    {move || view! { <QualityBadge quality=quality()/> }}
                    {move || speaking_here().then(speaking_badge)}
                </figcaption>
            </figure>
        }
        .into_any()
    } else {
        let audio = NodeRef::<leptos::html::Audio>::new();
        Effect::new(move |_| {
            if let Some(el) = audio.get() {
                attach(&el, &id);
            }
        });
        view! {
            <span class="media-audio" data-testid="remote-audio" class:speaking=move || speaking.get()
                data-speaking=move || speaking.get().to_string() data-stream=tile.stream_id.clone()>
                <audio node_ref=audio autoplay=true data-stream=tile.stream_id.clone()></audio>
                <span class="badge">
                    {tile.label.clone()}
                    {move || muted().then(|| view! { " · "{move || i18n.t(Msg::MediaMuted)} })}
                    " "{move || view! { <QualityBadge quality=quality()/> }}
                    {speaking_badge}
                </span>
            </span>
        }
        .into_any()
    }
}

/// Show the stream `id` in a `<video>` or `<audio>` element.
fn attach(el: &wasm_bindgen::JsValue, id: &str) {
    if let Some(stream) = media_stream(id) {
        let _ = js_sys::Reflect::set(el, &"srcObject".into(), &stream);
    }
}
