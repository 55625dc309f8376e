//! Who is calling: passwords, tokens, login sessions, and the [`Principal`]
//! extractor every protected handler takes.
//!
//! What a principal may do is decided in [`crate::authz`], never here.

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
/// Header carrying the session's CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
