//! Cameras and microphones: which exist, which one is used, and switching
//! between them while sending.
//!
//! - The browser lists its devices (`enumerateDevices`); their names come
//!   only once the person allowed one, so the list is read again after a
//!   device opened, and on every `devicechange` (plugged in, pulled out).
//! - The person's choice is remembered in `localStorage` (per browser:
//!   device ids belong to this browser and site). "Default" is the
//!   browser's default microphone and, for the camera, the one facing away
//!   from the person (`facingMode: environment`): on a phone the rear
//!   camera points at the instrument. A remembered device that is gone
//!   falls back to the default.
//! - Switching while sending opens the new device, then swaps it into the
//!   same sender with `replaceTrack`: no renegotiation, the server keeps
//!   forwarding the same stream and only sees a new keyframe. Only if the
//!   browser refuses the swap is the track removed and added again. A
//!   phone that cannot open a second camera while one is open (it says
//!   "busy") gets the old one closed first.
//! - A camera or microphone that goes away while in use is replaced by the
//!   default device, and the page says so; with no device left the source
//!   turns off and the page says why.

use jiliang_protocol::rooms::MediaSource;
use js_sys::{Array, Reflect};
use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::spawn_local;

use super::{DeviceProblem, STREAMS, call, call_async, get, local_stream_id, obj, set};
use crate::net::room::{Inner, with_room};

/// A camera or microphone the browser offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaDevice {
    /// The browser's `deviceId` (stable for this site while permission lasts).
    pub id: String,
    /// Its name; empty when the browser gives none.
    pub label: String,
}

fn storage_key(source: MediaSource) -> Option<&'static str> {
    match source {
        MediaSource::Camera => Some("jiliang.media.camera"),
        MediaSource::Microphone => Some("jiliang.media.microphone"),
        MediaSource::Screen => None,
    }
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The device the person chose for `source` (`None`: the default).
pub(in crate::net::room) fn stored_choice(source: MediaSource) -> Option<String> {
    let key = storage_key(source)?;
    storage()?
        .get_item(key)
        .ok()
        .flatten()
        .filter(|id| !id.is_empty())
}

fn store_choice(source: MediaSource, id: Option<&str>) {
    let (Some(key), Some(s)) = (storage_key(source), storage()) else {
        return;
    };
    // Storage refused (private mode): the choice lasts for this page.
    let _ = match id {
        Some(id) => s.set_item(key, id),
        None => s.remove_item(key),
    };
}

fn media_devices() -> Option<JsValue> {
    let window: JsValue = web_sys::window()?.into();
    let devices = get(&get(&window, "navigator"), "mediaDevices");
    (!devices.is_undefined() && !devices.is_null()).then_some(devices)
}

/// The cameras and microphones the browser lists with an id (before any
/// permission it lists placeholders without one, which cannot be chosen).
async fn list_devices() -> Option<(Vec<MediaDevice>, Vec<MediaDevice>)> {
    let devices = media_devices()?;
    let list = call_async(&devices, "enumerateDevices", &[]).await.ok()?;
    let (mut cameras, mut microphones) = (Vec::new(), Vec::new());
    for info in Array::from(&list).iter() {
        let id = get(&info, "deviceId").as_string().unwrap_or_default();
        // "default" and "communications" are aliases of a real entry; the
        // page's own "default" choice stands for them.
        if id.is_empty() || id == "default" || id == "communications" {
            continue;
        }
        let device = MediaDevice {
            id,
            label: get(&info, "label").as_string().unwrap_or_default(),
        };
        match get(&info, "kind").as_string().as_deref() {
            Some("videoinput") => cameras.push(device),
            Some("audioinput") => microphones.push(device),
            _ => {}
        }
    }
    Some((cameras, microphones))
}

/// The constraints that open `source` from the device `choice` (`None`:
/// the default: on a phone the rear camera, it points at the instrument).
fn constraints(source: MediaSource, choice: Option<&str>) -> JsValue {
    let device = |id: &str| obj(&[("deviceId", obj(&[("exact", id.into())]))]);
    match source {
        MediaSource::Microphone => {
            let audio = choice.map_or(JsValue::TRUE, device);
            obj(&[("audio", audio), ("video", JsValue::FALSE)])
        }
        MediaSource::Camera => {
            let video = choice.map_or_else(
                || obj(&[("facingMode", obj(&[("ideal", "environment".into())]))]),
                device,
            );
            obj(&[("audio", JsValue::FALSE), ("video", video)])
        }
        MediaSource::Screen => obj(&[("video", JsValue::TRUE), ("audio", JsValue::FALSE)]),
    }
}

fn problem_of(e: &JsValue) -> DeviceProblem {
    match get(e, "name").as_string().as_deref() {
        Some("NotAllowedError" | "SecurityError") => DeviceProblem::Denied,
        Some("NotFoundError" | "OverconstrainedError") => DeviceProblem::Missing,
        Some("NotReadableError" | "AbortError") => DeviceProblem::Busy,
        _ => DeviceProblem::Failed,
    }
}

/// Ask the browser for a device: its track and a stream holding it. A
/// chosen device that is not there any more falls back to the default.
pub(in crate::net::room) async fn open_device(
    source: MediaSource,
    choice: Option<String>,
) -> Result<(JsValue, JsValue), DeviceProblem> {
    let devices = media_devices().ok_or(DeviceProblem::Failed)?;
    let method = if source == MediaSource::Screen {
        "getDisplayMedia"
    } else {
        "getUserMedia"
    };
    let mut result = call_async(&devices, method, &[constraints(source, choice.as_deref())])
        .await
        .map_err(|e| problem_of(&e));
    if choice.is_some() && matches!(result, Err(DeviceProblem::Missing)) {
        result = call_async(&devices, method, &[constraints(source, None)])
            .await
            .map_err(|e| problem_of(&e));
    }
    let stream = result?;
    let tracks = call(
        &stream,
        if source.is_video() {
            "getVideoTracks"
        } else {
            "getAudioTracks"
        },
        &[],
    )
    .map_err(|_| DeviceProblem::Failed)?;
    let track = Reflect::get_u32(&tracks, 0).map_err(|_| DeviceProblem::Failed)?;
    if track.is_undefined() {
        return Err(DeviceProblem::Missing);
    }
    Ok((track, stream))
}

/// What to do when a device's track ends by itself.
pub(in crate::net::room) fn ended_handler(
    key: u32,
    source: MediaSource,
) -> Closure<dyn FnMut(JsValue)> {
    Closure::<dyn FnMut(JsValue)>::new(move |_ev: JsValue| {
        with_room(key, |r| r.media_device_ended(source));
    })
}

/// Why a switch is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Switch {
    /// The person chose another device.
    Chosen,
    /// The same, after closing the old camera (a phone opens one at a time).
    ChosenAgain,
    /// The device in use went away.
    Lost,
}

impl Inner {
    /// Start following the browser's devices (the room opened).
    pub(in crate::net::room) fn media_devices_init(&mut self) {
        self.s.media_local.update(|l| {
            l.camera_device = stored_choice(MediaSource::Camera);
            l.microphone_device = stored_choice(MediaSource::Microphone);
        });
        if let Some(devices) = media_devices() {
            let key = self.key;
            let on_change = Closure::<dyn FnMut(JsValue)>::new(move |_ev: JsValue| {
                with_room(key, |r| r.refresh_devices());
            });
            let _ = call(
                &devices,
                "addEventListener",
                &["devicechange".into(), on_change.as_ref().clone()],
            );
            self.media.on_devicechange = Some(on_change);
        }
        self.refresh_devices();
    }

    /// Stop following the browser's devices (the room closes).
    pub(in crate::net::room) fn media_devices_close(&mut self) {
        if let (Some(devices), Some(h)) = (media_devices(), self.media.on_devicechange.take()) {
            let _ = call(
                &devices,
                "removeEventListener",
                &["devicechange".into(), h.as_ref().clone()],
            );
        }
    }

    /// Read the device list again, for the page.
    pub(in crate::net::room) fn refresh_devices(&self) {
        let key = self.key;
        spawn_local(async move {
            let Some((cameras, microphones)) = list_devices().await else {
                return;
            };
            with_room(key, |r| {
                let changed =
                    r.s.media_local
                        .with_untracked(|l| l.cameras != cameras || l.microphones != microphones);
                if changed {
                    r.s.media_local.update(|l| {
                        l.cameras = cameras;
                        l.microphones = microphones;
                    });
                }
            });
        });
    }

    /// Use the device `id` (`None`: the default) for `source` from now
    /// on; switch to it at once if the source is on.
    pub(in crate::net::room) fn media_choose_device(
        &mut self,
        source: MediaSource,
        id: Option<String>,
    ) {
        if source == MediaSource::Screen
            || self.s.media_local.with_untracked(|l| l.opening.is_some())
        {
            return;
        }
        store_choice(source, id.as_deref());
        self.s.media_local.update(|l| {
            if source == MediaSource::Camera {
                l.camera_device = id.clone();
            } else {
                l.microphone_device = id.clone();
            }
        });
        if self.media.local.contains_key(&source) {
            self.switch_device(source, id, Switch::Chosen);
        }
    }

    /// A device's track ended without us stopping it: the person stopped
    /// sharing the screen in the browser's own bar, or a device was pulled
    /// out.
    pub(in crate::net::room) fn media_device_ended(&mut self, source: MediaSource) {
        if !self.media.local.contains_key(&source) {
            return;
        }
        if source == MediaSource::Screen {
            self.media_toggle(source);
            return;
        }
        // A switch under way replaces the dead track anyway.
        if self.s.media_local.with_untracked(|l| l.opening.is_some()) {
            return;
        }
        self.switch_device(source, None, Switch::Lost);
    }

    fn switch_device(&mut self, source: MediaSource, id: Option<String>, why: Switch) {
        self.s.media_local.update(|l| {
            l.opening = Some(source);
            l.problem = None;
        });
        let key = self.key;
        spawn_local(async move {
            let opened = open_device(source, id.clone()).await;
            with_room(key, |r| r.device_switched(source, id, opened, why));
        });
    }

    fn device_switched(
        &mut self,
        source: MediaSource,
        id: Option<String>,
        opened: Result<(JsValue, JsValue), DeviceProblem>,
        why: Switch,
    ) {
        self.s.media_local.update(|l| l.opening = None);
        let Some((muted, current)) = self
            .media
            .local
            .get(&source)
            .map(|l| (l.muted, l.track.clone()))
        else {
            // Turned off meanwhile: the new device is not wanted.
            if let Ok((track, _)) = opened {
                let _ = call(&track, "stop", &[]);
            }
            return;
        };
        let track = match opened {
            Ok((track, _stream)) => track,
            Err(DeviceProblem::Busy) if why == Switch::Chosen && source == MediaSource::Camera => {
                // One camera at a time (phones): close the old one, try again.
                let _ = call(&current, "stop", &[]);
                self.switch_device(source, id, Switch::ChosenAgain);
                return;
            }
            Err(p) => {
                // The old device still works: it stays. A dead one (pulled
                // out, or closed for a retry) leaves nothing to send.
                if get(&current, "readyState").as_string().as_deref() == Some("ended") {
                    self.media_toggle(source);
                }
                self.s.media_local.update(|l| l.problem = Some(p));
                self.media_signal();
                return;
            }
        };
        set(&track, "enabled", &JsValue::from_bool(!muted));
        let ended = ended_handler(self.key, source);
        set(&track, "onended", ended.as_ref().unchecked_ref());
        let carried = self.carried(source);
        let Some(local) = self.media.local.get_mut(&source) else {
            return;
        };
        let old = std::mem::replace(&mut local.track, track.clone());
        // Its handler goes with it; a dropped closure must not stay set.
        set(&old, "onended", &JsValue::NULL);
        local._ended = Some(ended);
        let sender = local.sender.clone();
        if source.is_video() {
            // The preview's stream keeps its `<video>`; only its track changes.
            STREAMS.with(|s| {
                if let Some(preview) = s.borrow().get(&local_stream_id(source)) {
                    let _ = call(preview, "removeTrack", std::slice::from_ref(&old));
                    let _ = call(preview, "addTrack", std::slice::from_ref(&track));
                }
            });
        }
        match sender {
            Some(sender) if carried => {
                let key = self.key;
                spawn_local(async move {
                    let swapped = call_async(&sender, "replaceTrack", &[track]).await.is_ok();
                    let _ = call(&old, "stop", &[]);
                    if !swapped {
                        with_room(key, |r| r.reattach(source));
                    }
                });
            }
            // Not sent now (the mode leaves it out): the mode puts the
            // new track in when it carries the source again.
            _ => {
                let _ = call(&old, "stop", &[]);
            }
        }
        if why == Switch::Lost {
            self.s
                .media_local
                .update(|l| l.problem = Some(DeviceProblem::Disconnected));
        }
        self.refresh_devices();
        self.media_signal();
    }

    /// The browser would not swap the track in place: send it as a new
    /// track (a renegotiation), declared before the offer.
    fn reattach(&mut self, source: MediaSource) {
        let Some(pc) = self.media.peer.as_ref().map(|p| p.pc.clone()) else {
            return;
        };
        let Some(local) = self.media.local.get_mut(&source) else {
            return;
        };
        if let Some(sender) = local.sender.take() {
            let _ = call(&pc, "removeTrack", &[sender]);
        }
        self.attach(source, &pc);
        self.send_media_state();
    }
}
