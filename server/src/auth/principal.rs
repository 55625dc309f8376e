//! The signed-in person behind a request, loaded from the login (auth
//! session) cookie.
//!
//! Taking a [`Principal`] makes a handler require login, and — for every
//! method that changes state — a matching `X-CSRF-Token` header: the cookie
//! alone, which a browser attaches to cross-site requests too, is never
//! enough to act.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Method, header};
use jiliang_protocol::accounts::{Role, User};
use jiliang_protocol::institutions::{Institution, InstitutionLevel};
use time::{Duration, OffsetDateTime};

use super::token::{constant_time_eq, hash_token, looks_like_token};
use super::{AUTH_SESSION_COOKIE, AUTH_SESSION_COOKIE_SECURE, CSRF_HEADER};
use crate::clock::now;
use crate::error::AppError;
use crate::i18n::Text;
use crate::state::AppState;

/// A login session ends after this long without a request…
pub const IDLE_TIMEOUT: Duration = Duration::hours(12);
/// …or this long after login, however active. The cookie lives this long
/// too: the server, not the browser, decides when a session is idle.
pub const MAX_LIFETIME: Duration = Duration::days(30);
/// …and is not extended more often than this (saves a write per request).
const TOUCH_EVERY: Duration = Duration::minutes(1);

#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub institution: Institution,
    /// Materialised path of the person's institution (`/root/…/own/`).
    pub path: String,
    /// Path prefix of the directory the person may know exists: their
    /// province (or their own subtree above province level). Outside it,
    /// institutions are answered with 404, not 403.
    pub directory: String,
    pub token_hash: [u8; 32],
    pub csrf_token: String,
}

impl Principal {
    pub fn has(&self, role: Role) -> bool {
        self.user.roles.contains(&role)
    }
}

/// The login token from the cookie: the `__Host-` one when both are sent.
pub fn auth_session_token(parts: &Parts) -> Option<String> {
    let cookie = |name: &str| {
        parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, v)| *k == name && looks_like_token(v))
            .map(|(_, v)| v.to_owned())
    };
    cookie(AUTH_SESSION_COOKIE_SECURE).or_else(|| cookie(AUTH_SESSION_COOKIE))
}

fn state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl<S> FromRequestParts<S> for Principal
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(p.clone());
        }
        let state = AppState::from_ref(state);
        let token = auth_session_token(parts).ok_or(AppError::Unauthenticated)?;
        let principal = load(&state, &token).await?;
        if state_changing(&parts.method) {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !constant_time_eq(sent.as_bytes(), principal.csrf_token.as_bytes()) {
                return Err(AppError::ForbiddenBecause(Text::new(
                    "安全令牌缺失或无效，请刷新页面后重试。",
                    "The security (CSRF) token is missing or wrong; reload the page and try again.",
                )));
            }
        }
        parts.extensions.insert(principal.clone());
        Ok(principal)
    }
}

/// Resolve a login token to its principal, or `Unauthenticated`.
pub async fn load(state: &AppState, token: &str) -> Result<Principal, AppError> {
    let store = &state.store;
    let token_hash = hash_token(token);
    let session = store
        .get_auth_session(&token_hash)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let now = now();
    // The absolute cap is checked as well as the expiry it bounds, so no
    // path that extends a login (HTTP, room sockets) can outrun it.
    if session.expires_at <= now || session.created_at + MAX_LIFETIME <= now {
        store.delete_auth_session(&token_hash).await?;
        return Err(AppError::Unauthenticated);
    }
    let Some(mut principal) = for_user(state, session.user_id).await? else {
        store
            .delete_user_auth_sessions(session.user_id, None)
            .await?;
        return Err(AppError::Unauthenticated);
    };
    if !principal.in_service {
        store
            .delete_user_auth_sessions(session.user_id, None)
            .await?;
        return Err(institution_inactive());
    }
    if now - session.last_seen_at > TOUCH_EVERY {
        store
            .touch_auth_session(&token_hash, extended_expiry(now, session.created_at))
            .await?;
    }
    principal.principal.token_hash = token_hash;
    principal.principal.csrf_token = session.csrf_token;
    Ok(principal.principal)
}

/// A person as a principal, without a login: to re-check, when an
/// invitation is accepted, that its sender may still invite.
pub struct Resolved {
    pub principal: Principal,
    /// Their institution and every one above it are active.
    pub in_service: bool,
}

/// `None` if the person is deactivated (or gone).
pub async fn for_user(state: &AppState, user_id: uuid::Uuid) -> Result<Option<Resolved>, AppError> {
    let store = &state.store;
    let user = match store.get_user(user_id).await {
        Ok(u) => u,
        Err(sqlx::Error::RowNotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if !user.active {
        return Ok(None);
    }
    let own = store.get_institution(user.institution_id).await?;
    let chain = store.institution_chain(&own.path).await?;
    let in_service = chain.iter().all(|i| i.institution.active);
    let directory = chain
        .iter()
        .find(|i| i.institution.level == InstitutionLevel::Provincial)
        .map(|i| i.path.clone())
        .unwrap_or_else(|| own.path.clone());
    Ok(Some(Resolved {
        principal: Principal {
            user,
            institution: own.institution,
            path: own.path,
            directory,
            token_hash: [0; 32],
            csrf_token: String::new(),
        },
        in_service,
    }))
}

/// When a login used at `now` expires: idle timeout from now, never past
/// its absolute lifetime. HTTP requests and room sockets both extend
/// logins with this, so neither can keep one alive past 30 days.
pub fn extended_expiry(now: OffsetDateTime, created_at: OffsetDateTime) -> OffsetDateTime {
    (now + IDLE_TIMEOUT).min(created_at + MAX_LIFETIME)
}

/// Refusal for people whose institution (or one above it) is deactivated.
pub fn institution_inactive() -> AppError {
    AppError::UnauthenticatedBecause(Text::new(
        "您所在的机构已停用，请联系上级机构的管理员。",
        "Your institution has been deactivated; contact an administrator of the institution above it.",
    ))
}
