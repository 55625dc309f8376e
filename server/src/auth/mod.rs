//! Who is calling: passwords, tokens, login sessions, and the [`Principal`]
//! extractor every protected handler takes.
//!
//! What a principal may do is decided in [`crate::authz`], never here.

pub mod fingerprint;
pub mod password;
pub mod principal;
pub mod request_meta;
pub mod sweeper;
pub mod token;

pub use principal::Principal;
pub use request_meta::RequestMeta;

/// Name of the login (auth session) cookie (HttpOnly; the page's script
/// never sees it). The value is a contract with browsers already holding it.
pub const AUTH_SESSION_COOKIE: &str = "jiliang_session";
/// The same cookie when served over TLS: `__Host-` makes browsers insist
/// on `Secure`, `Path=/` and no `Domain`. Both names are read, so logins
/// survive turning TLS on.
pub const AUTH_SESSION_COOKIE_SECURE: &str = "__Host-jiliang_session";
/// Header carrying the session's CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
