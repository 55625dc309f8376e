//! Who is logged in, held in one context signal for the whole app.
//!
//! The server keeps the session in an HttpOnly cookie that scripts cannot
//! read; the client learns about it from `GET /api/v1/auth/me` at start and
//! from the login answer. The `Me` document — person, institution,
//! capabilities and the CSRF token — lives only in memory here.
//!
//! Capabilities decide what the interface *offers*; the server decides what
//! is *allowed* and is asked every time.
//!
//! This module only holds state: it never calls the server. The API client
//! (`crate::api`) reads and updates it — one way, so the two never import
//! each other.

use jiliang_protocol::accounts::{Capabilities, Me};
use leptos::prelude::*;

#[derive(Clone, Copy)]
pub struct Session {
    me: RwSignal<Option<Me>>,
    /// The first `GET /auth/me` has answered (either way).
    checked: RwSignal<bool>,
    /// A request found the session gone; the login page says so.
    ended: RwSignal<bool>,
    /// The person just logged out on purpose: guarded pages must not
    /// race the logout's own navigation with a "log in to come back
    /// here" redirect. Reset by the login page.
    signed_out: RwSignal<bool>,
    logged_in: Memo<bool>,
    caps: Memo<Capabilities>,
}

impl Session {
    /// The person, tracked. Pages usually want a narrower memo instead.
    pub fn me(&self) -> Option<Me> {
        self.me.get()
    }

    pub fn me_untracked(&self) -> Option<Me> {
        self.me.get_untracked()
    }

    pub fn checked(&self) -> bool {
        self.checked.get()
    }

    pub fn logged_in(&self) -> bool {
        self.logged_in.get()
    }

    pub fn logged_in_untracked(&self) -> bool {
        self.logged_in.get_untracked()
    }

    pub fn ended(&self) -> bool {
        self.ended.get()
    }

    pub fn caps(&self) -> Capabilities {
        self.caps.get()
    }

    pub fn csrf_untracked(&self) -> Option<String> {
        self.me
            .with_untracked(|m| m.as_ref().map(|m| m.csrf_token.clone()))
    }

    /// Logged in (or the profile changed): replaces the whole document.
    pub fn set_me(&self, me: Me) {
        crate::last_seen::keep_me(&me);
        self.me.set(Some(me));
        self.ended.set(false);
        self.signed_out.set(false);
        self.checked.set(true);
    }

    /// The first `GET /auth/me` answered: `found` is the person, or `None`
    /// when nobody is logged in (or the server could not say).
    pub fn first_check(&self, found: Option<Me>) {
        // `None` leaves a person remembered from the last visit in place:
        // no answer says nothing about the session, and a 401 has already
        // ended it (`crate::api`).
        if let Some(me) = found {
            crate::last_seen::keep_me(&me);
            self.me.set(Some(me));
        }
        self.checked.set(true);
    }

    /// The server no longer knows this session.
    pub fn end(&self) {
        crate::offline::forget_cached_data();
        self.me.set(None);
        self.ended.set(true);
    }

    /// Logged out on purpose.
    pub fn clear(&self) {
        crate::offline::forget_cached_data();
        self.signed_out.set(true);
        self.me.set(None);
        self.ended.set(false);
    }

    pub fn signed_out_untracked(&self) -> bool {
        self.signed_out.get_untracked()
    }

    /// The login page is showing; later visits to guarded pages redirect
    /// to it again.
    pub fn ack_signed_out(&self) {
        self.signed_out.set(false);
    }

    /// Change the person's own user record (after editing the profile).
    pub fn update_user(&self, user: jiliang_protocol::accounts::User) {
        self.me.update(|m| {
            if let Some(m) = m {
                m.user = user;
            }
        });
    }
}

/// Create the session context: the full app starts as the person this
/// browser last saw logged in (without a CSRF token; `crate::last_seen`),
/// the first-load shell as nobody; `crate::api::Api::check_session` asks
/// the server.
pub fn provide_session() -> Session {
    #[cfg(feature = "full")]
    let remembered = crate::last_seen::me();
    #[cfg(not(feature = "full"))]
    let remembered: Option<Me> = None;
    let me = RwSignal::new(remembered);
    let session = Session {
        me,
        checked: RwSignal::new(false),
        ended: RwSignal::new(false),
        signed_out: RwSignal::new(false),
        logged_in: Memo::new(move |_| me.with(Option::is_some)),
        caps: Memo::new(move |_| {
            me.with(|m| m.as_ref().map(|m| m.capabilities).unwrap_or_default())
        }),
    };
    provide_context(session);
    session
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}

/// Where to send someone after login: only paths inside this app.
pub fn safe_next(next: Option<String>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => n,
        _ => "/".to_owned(),
    }
}
