//! Log in, log out, who am I, change password.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiliang_protocol::ErrorBody;
use jiliang_protocol::accounts::{ChangePasswordRequest, LoginRequest, Me};
use time::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::principal::{IDLE_TIMEOUT, MAX_LIFETIME};
use crate::auth::token::{hash_token, random_token};
use crate::auth::{AUTH_SESSION_COOKIE, Principal, RequestMeta, password};
use crate::authz;
use crate::clock::now;
use crate::error::{AppError, AppJson, AppResult};
use crate::i18n::Text;
use crate::state::AppState;
use crate::store::audit::NewAuditEvent;
use crate::store::auth_sessions::NewAuthSession;
use crate::store::throttle::Limit;
use crate::store::users::StoredUser;
use crate::validate;

/// Per account: 5 failures within 15 minutes lock it for 5 minutes.
pub const ACCOUNT_LIMIT: Limit = Limit {
    max_failures: 5,
    window: Duration::minutes(15),
    lockout: Duration::minutes(5),
};
/// Per client address: 30 failures within 15 minutes lock it for 15 minutes
/// (a whole county lab may share one address behind NAT, hence generous).
pub const IP_LIMIT: Limit = Limit {
    max_failures: 30,
    window: Duration::minutes(15),
    lockout: Duration::minutes(15),
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(change_password))
}

/// Log in with username, e-mail or phone number and password. Sets the
/// HttpOnly session cookie and returns the CSRF token to send back.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = Me, description = "Logged in; `Set-Cookie` carries the session"),
    (status = 401, body = ErrorBody, description = "Wrong login or password, or account deactivated"),
    (status = 429, body = ErrorBody, description = "Too many failures; `Retry-After` says when to try again")))]
async fn login(
    State(state): State<AppState>,
    meta: RequestMeta,
    AppJson(req): AppJson<LoginRequest>,
) -> AppResult<Response> {
    let key = validate::login_key(&req.login);
    if key.is_empty() || req.password.is_empty() {
        return Err(AppError::invalid(
            "请输入用户名和密码。",
            "Enter your username and password.",
        ));
    }
    let store = &state.store;
    let found = store.find_user_by_login(&key).await?;
    // One counter per account whichever of username, e-mail or phone was
    // typed; unknown logins are counted by what was typed.
    let account_key = match &found {
        Some(f) => account_throttle_key(f.user.id),
        None => format!("login:{key}"),
    };
    let ip_key = format!("ip:{}", meta.ip.as_deref().unwrap_or("unknown"));
    for k in [&account_key, &ip_key] {
        if let Some(secs) = store.throttle_locked(k).await? {
            return Err(AppError::RateLimited {
                retry_after_s: secs,
            });
        }
    }
    let verified = password::verify(
        req.password,
        found.as_ref().and_then(|f| f.password_hash.clone()),
    )
    .await?;
    let user = match found.as_ref() {
        Some(f) if verified => f.user.clone(),
        _ => {
            return Err(
                login_failed(&state, &meta, &key, found.as_ref(), &account_key, &ip_key).await?,
            );
        }
    };
    let institution = store.get_institution(user.institution_id).await?;
    if !user.active {
        audit_login(
            &state,
            &meta,
            "login_failed",
            &user,
            &institution.path,
            "account deactivated",
        )
        .await?;
        return Err(AppError::UnauthenticatedBecause(Text::new(
            "该账户已停用，请联系您所在机构的管理员。",
            "This account has been deactivated; contact your institution's administrator.",
        )));
    }
    if !store.in_service(&institution.path).await? {
        audit_login(
            &state,
            &meta,
            "login_failed",
            &user,
            &institution.path,
            "institution deactivated",
        )
        .await?;
        return Err(crate::auth::principal::institution_inactive());
    }
    store.throttle_clear(&account_key).await?;
    let token = random_token();
    let csrf = random_token();
    store
        .insert_auth_session(&NewAuthSession {
            token_hash: &hash_token(&token),
            user_id: user.id,
            csrf_token: &csrf,
            expires_at: now() + IDLE_TIMEOUT,
            ip: meta.ip.as_deref(),
            user_agent: meta.user_agent.as_deref(),
        })
        .await?;
    audit_login(
        &state,
        &meta,
        "login_succeeded",
        &user,
        &institution.path,
        "",
    )
    .await?;
    let principal = crate::auth::principal::load(&state, &token).await?;
    let body = me_of(&principal);
    let mut res = axum::Json(body).into_response();
    set_cookie(
        &mut res,
        &auth_session_cookie(&token, MAX_LIFETIME.whole_seconds(), meta.secure),
    );
    Ok(res)
}

async fn login_failed(
    state: &AppState,
    meta: &RequestMeta,
    key: &str,
    known: Option<&StoredUser>,
    account_key: &str,
    ip_key: &str,
) -> AppResult<AppError> {
    let store = &state.store;
    let (target, path) = match known {
        Some(k) => (
            Some(k.user.id),
            Some(store.get_institution(k.user.institution_id).await?.path),
        ),
        None => (None, None),
    };
    // The login as typed is kept for unknown accounts so an administrator
    // can see what is being tried; passwords never are.
    let detail = match known {
        Some(_) => "wrong password".to_owned(),
        None => format!("unknown account {key:?}"),
    };
    store
        .audit(&NewAuditEvent {
            event: "login_failed",
            target_user_id: target,
            institution_id: known.map(|k| k.user.institution_id),
            institution_path: path.as_deref(),
            ip: meta.ip.as_deref(),
            user_agent: meta.user_agent.as_deref(),
            detail,
            ..Default::default()
        })
        .await?;
    let account_lock = store.throttle_fail(account_key, ACCOUNT_LIMIT).await?;
    let ip_lock = store.throttle_fail(ip_key, IP_LIMIT).await?;
    if let Some(secs) = account_lock.max(ip_lock) {
        let what = if account_lock.is_some() {
            "account"
        } else {
            "address"
        };
        store
            .audit(&NewAuditEvent {
                event: "lockout",
                target_user_id: target,
                institution_id: known.map(|k| k.user.institution_id),
                institution_path: path.as_deref(),
                ip: meta.ip.as_deref(),
                user_agent: meta.user_agent.as_deref(),
                detail: format!("{what} locked for {secs} s"),
                ..Default::default()
            })
            .await?;
        return Ok(AppError::RateLimited {
            retry_after_s: secs,
        });
    }
    Ok(AppError::UnauthenticatedBecause(Text::new(
        "用户名或密码不正确。",
        "The username or password is not correct.",
    )))
}

async fn audit_login(
    state: &AppState,
    meta: &RequestMeta,
    event: &str,
    user: &jiliang_protocol::accounts::User,
    path: &str,
    detail: &str,
) -> AppResult<()> {
    state
        .store
        .audit(&NewAuditEvent {
            event,
            actor_id: (event == "login_succeeded").then_some(user.id),
            target_user_id: Some(user.id),
            institution_id: Some(user.institution_id),
            institution_path: Some(path),
            ip: meta.ip.as_deref(),
            user_agent: meta.user_agent.as_deref(),
            detail: detail.to_owned(),
        })
        .await?;
    Ok(())
}

/// End this session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses(
    (status = 204, description = "Logged out; the cookie is cleared"),
    (status = 401, body = ErrorBody)))]
async fn logout(
    State(state): State<AppState>,
    meta: RequestMeta,
    principal: Principal,
) -> AppResult<Response> {
    state
        .store
        .delete_auth_session(&principal.token_hash)
        .await?;
    audit_own(&state, &meta, &principal, "logout").await?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    set_cookie(&mut res, &auth_session_cookie("", 0, meta.secure));
    Ok(res)
}

/// The signed-in person, their institution, what they may do, and the
/// CSRF token for state-changing requests.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", responses(
    (status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn me(principal: Principal) -> axum::Json<Me> {
    axum::Json(me_of(&principal))
}

/// Change one's own password; every other session of the account ends.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = ChangePasswordRequest, responses(
    (status = 204, description = "Changed"),
    (status = 401, body = ErrorBody, description = "Current password wrong"),
    (status = 422, body = ErrorBody, description = "New password breaks a rule")))]
async fn change_password(
    State(state): State<AppState>,
    meta: RequestMeta,
    principal: Principal,
    AppJson(req): AppJson<ChangePasswordRequest>,
) -> AppResult<StatusCode> {
    let store = &state.store;
    let account_key = account_throttle_key(principal.user.id);
    if let Some(secs) = store.throttle_locked(&account_key).await? {
        return Err(AppError::RateLimited {
            retry_after_s: secs,
        });
    }
    let stored = store.get_user_auth(principal.user.id).await?;
    if !password::verify(req.current_password, stored.password_hash).await? {
        if let Some(secs) = store.throttle_fail(&account_key, ACCOUNT_LIMIT).await? {
            return Err(AppError::RateLimited {
                retry_after_s: secs,
            });
        }
        return Err(AppError::UnauthenticatedBecause(Text::new(
            "当前密码不正确。",
            "The current password is not correct.",
        )));
    }
    password::validate(&req.new_password, &principal.user.username)?;
    let hash = password::hash(req.new_password).await?;
    store.set_password_hash(principal.user.id, &hash).await?;
    store
        .delete_user_auth_sessions(principal.user.id, Some(&principal.token_hash))
        .await?;
    audit_own(&state, &meta, &principal, "password_changed").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Audit something a person did to their own account.
async fn audit_own(
    state: &AppState,
    meta: &RequestMeta,
    p: &Principal,
    event: &str,
) -> AppResult<()> {
    state
        .store
        .audit(&NewAuditEvent {
            event,
            actor_id: Some(p.user.id),
            target_user_id: Some(p.user.id),
            institution_id: Some(p.institution.id),
            institution_path: Some(&p.path),
            ip: meta.ip.as_deref(),
            user_agent: meta.user_agent.as_deref(),
            detail: String::new(),
        })
        .await?;
    Ok(())
}

/// The failed-login counter of one account.
pub fn account_throttle_key(user_id: uuid::Uuid) -> String {
    format!("account:{user_id}")
}

pub fn me_of(p: &Principal) -> Me {
    Me {
        user: p.user.clone(),
        institution: p.institution.clone(),
        capabilities: authz::capabilities(p),
        csrf_token: p.csrf_token.clone(),
    }
}

pub fn auth_session_cookie(token: &str, max_age: i64, secure: bool) -> String {
    // Lax, not Strict: a link to Jiliang in an e-mail or chat must open the
    // app logged in. Cross-site writes are stopped by the CSRF token.
    format!(
        "{AUTH_SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

pub fn set_cookie(res: &mut Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}
