//! What this browser last saw, kept in `localStorage` so a repeat visit
//! shows it at once — before any answer from the network, and without a
//! network at all — and replaces it as the answers arrive.
//!
//! - **Who is logged in** (the `Me` document *without* its CSRF token):
//!   the full app starts as that person, so pages render and ask the
//!   server in parallel with `GET /auth/me` instead of after it. The
//!   server still decides: a 401 ends the session as always, and a write
//!   made before `/auth/me` answered fetches the token first
//!   (`crate::api`).
//! - **A room**: its REST detail and the last chat lines of its log, so the
//!   room opens with its message box usable and the conversation shown
//!   while the socket connects; the log's replay replaces the lines.
//!
//! What it never does: keep a CSRF token, or keep anything past a logout,
//! a login or the end of a session ([`forget`], called by
//! `crate::offline::forget_cached_data`).

use jiliang_protocol::accounts::Me;
#[cfg(feature = "full")]
use jiliang_protocol::rooms::RoomEvent;
#[cfg(feature = "full")]
use jiliang_protocol::sessions::SessionDetail;
#[cfg(feature = "full")]
use serde::{Deserialize, Serialize};

const PREFIX: &str = "jiliang.seen.";
const ME_KEY: &str = "jiliang.seen.me";
/// Chat lines kept per room: a screenful on a phone.
#[cfg(feature = "full")]
pub const ROOM_LINES: usize = 30;

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn read<T: serde::de::DeserializeOwned>(key: &str) -> Option<T> {
    let text = storage()?.get_item(key).ok()??;
    // Another version's shape, or a hand edit: as if nothing was kept.
    serde_json::from_str(&text).ok()
}

fn write<T: serde::Serialize>(key: &str, value: &T) {
    if let (Some(s), Ok(text)) = (storage(), serde_json::to_string(value)) {
        // Full or refused (private mode): the next visit waits for the
        // network, as before.
        let _ = s.set_item(key, &text);
    }
}

/// The person this browser last saw logged in (CSRF token blank).
#[cfg(feature = "full")]
pub fn me() -> Option<Me> {
    read(ME_KEY)
}

/// Remember who is logged in, without the CSRF token.
pub fn keep_me(me: &Me) {
    let mut me = me.clone();
    me.csrf_token.clear();
    write(ME_KEY, &me);
}

/// Forget everything kept here.
pub fn forget() {
    let Some(s) = storage() else {
        return;
    };
    let keys: Vec<String> = (0..s.length().unwrap_or(0))
        .filter_map(|i| s.key(i).ok().flatten())
        .filter(|k| k.starts_with(PREFIX))
        .collect();
    for k in keys {
        let _ = s.remove_item(&k);
    }
}

/// A room as last seen by one person.
#[cfg(feature = "full")]
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeenRoom {
    pub user_id: String,
    pub detail: SessionDetail,
    #[serde(default)]
    pub events: Vec<RoomEvent>,
}

#[cfg(feature = "full")]
fn room_key(session_id: &str) -> String {
    format!("{PREFIX}room.{session_id}")
}

/// The room `session_id` as `user_id` last saw it.
#[cfg(feature = "full")]
pub fn room(session_id: &str, user_id: &str) -> Option<SeenRoom> {
    read::<SeenRoom>(&room_key(session_id)).filter(|r| r.user_id == user_id)
}

/// Remember the room's detail (keeping the lines already kept).
#[cfg(feature = "full")]
pub fn keep_room_detail(user_id: &str, detail: &SessionDetail) {
    let id = detail.session.id.to_string();
    let events = room(&id, user_id).map(|r| r.events).unwrap_or_default();
    write(
        &room_key(&id),
        &SeenRoom {
            user_id: user_id.to_owned(),
            detail: detail.clone(),
            events,
        },
    );
}

/// Remember the room's last lines (the detail must have been kept).
#[cfg(feature = "full")]
pub fn keep_room_events(session_id: &str, user_id: &str, events: &[RoomEvent]) {
    let Some(mut seen) = room(session_id, user_id) else {
        return;
    };
    let from = events.len().saturating_sub(ROOM_LINES);
    seen.events = events[from..].to_vec();
    write(&room_key(session_id), &seen);
}
