//! The room's audio and video: buttons for the microphone, the camera and
//! the screen share, mute, "do not receive video", the mode (automatic,
//! or pinned to video, audio only or data only), and a tile per video (the
//! others' through the server, one's own as a preview), each with its
//! link's quality. Remote audio plays from hidden `<audio>` elements; each
//! person heard has a chip with the link's quality.

use jiliang_protocol::rooms::{LinkQuality, MediaMode, MediaSource, parse_media_stream_id};
use leptos::prelude::*;

use crate::i18n::{Msg, use_i18n};
use crate::net::room::{DeviceProblem, RoomHandle, local_stream_id, media_stream};

/// One video or audio element to show.
#[derive(Clone, Debug, PartialEq)]
struct Tile {
    stream_id: String,
    label: String,
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
        let streams = s.media_streams.get();
        let no_video = local.with(|l| l.no_video);
        let participants = s.participants.get();
        let mut out = Vec::new();
        let remote_quality = local.with(|l| l.remote_quality.clone());
        // One's own camera and screen first (previews, never sent back).
        local.with(|l| {
            for source in [MediaSource::Camera, MediaSource::Screen] {
                if l.is_on(source) {
                    out.push(Tile {
                        stream_id: local_stream_id(source),
                        label: i18n.t(Msg::MediaYou).to_owned(),
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
            <div class="media-tiles">
                <For each=move || tiles.get() key=|t| (t.stream_id.clone(), t.source.as_str()) let:tile>
                    <MediaTile tile=tile tiles=tiles/>
                </For>
            </div>
            {move || (tiles.with(Vec::is_empty)).then(|| view! {
                <p class="muted small">{move || i18n.t(Msg::MediaNobody)}</p>
            })}
        </section>
    }
}

#[component]
fn MediaTile(tile: Tile, tiles: Memo<Vec<Tile>>) -> impl IntoView {
    let i18n = use_i18n();
    let id = tile.stream_id.clone();
    // The quality changes without the tile being rebuilt (its video plays on).
    let quality_of = tile.stream_id.clone();
    let quality = move || {
        tiles.with(|ts| {
            ts.iter()
                .find(|t| t.stream_id == quality_of)
                .and_then(|t| t.quality)
        })
    };
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
        view! {
            <figure class="media-tile" class:screen=screen>
                <video node_ref=video autoplay=true playsinline=true prop:muted=true
                    data-testid=testid data-stream=tile.stream_id.clone()></video>
                <figcaption>
                    {tile.label.clone()}" · "{source_label.map(|m| i18n.t(m))}" "
                    {move || view! { <QualityBadge quality=quality()/> }}
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
            <span class="media-audio" data-testid="remote-audio">
                <audio node_ref=audio autoplay=true data-stream=tile.stream_id.clone()></audio>
                <span class="badge">
                    {tile.label.clone()}
                    {tile.muted.then(|| view! { " · "{move || i18n.t(Msg::MediaMuted)} })}
                    " "{move || view! { <QualityBadge quality=quality()/> }}
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
