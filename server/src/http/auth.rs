//! Log in, log out, who am I, change password.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiliang_protocol::ErrorBody;
use jiliang_protocol::accounts::{
    ChangePasswordRequest, LOGIN_MAX_CHARS, LoginRequest, Me, PASSWORD_MAX_CHARS,
};
use time::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::principal::{IDLE_TIMEOUT, MAX_LIFETIME};
use crate::auth::token::{hash_token, random_token};
use crate::auth::{
    AUTH_SESSION_COOKIE, AUTH_SESSION_COOKIE_SECURE, Principal, RequestMeta, password,
};
use crate::authz;
use crate::clock::now;
use crate::error::{AppError, AppJson, AppResult};
use crate::i18n::Text;
use crate::state::AppState;
use crate::store::audit::NewAuditEvent;
use crate::store::auth_sessions::NewAuthSession;
use crate::store::throttle::{Attempt, Limit};
use crate::store::tokens::Purpose;
use crate::validate;

/// Per account: 5 attempts within 15 minutes lock it for 5 minutes (a
/// success clears the count).
pub const ACCOUNT_LIMIT: Limit = Limit {
    max_failures: 5,
    window: Duration::minutes(15),
    lockout: Duration::minutes(5),
};
/// Per client address: 30 failed attempts within 15 minutes lock it for 15
/// minutes (a whole county lab may share one address behind NAT, hence
/// generous; successes give their slot back).
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
///
/// Every refusal after the password check reads the same ("wrong login or
/// password"), whether the account is unknown, the password wrong, or the
/// account or its institution deactivated: the answer must not tell a
/// guesser which accounts exist or that a guess was right. The audit log
/// keeps the real reason for administrators.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = Me, description = "Logged in; `Set-Cookie` carries the session"),
    (status = 401, body = ErrorBody, description = "Wrong login or password (or an account that may not log in)"),
    (status = 422, body = ErrorBody, description = "Login or password missing or too long"),
    (status = 429, body = ErrorBody, description = "Too many attempts; `Retry-After` says when to try again"),
    (status = 503, body = ErrorBody, description = "Too many logins being checked at once; `Retry-After`")))]
async fn login(
    State(state): State<AppState>,
    meta: RequestMeta,
    AppJson(req): AppJson<LoginRequest>,
) -> AppResult<Response> {
    let key = validate::login_key(&req.login);
    check_login_fields(&key, &req.password)?;
    let store = &state.store;
    let found = store.find_user_by_login(&key).await?;
    // One counter per account whichever of username, e-mail or phone was
    // typed; unknown logins are counted by their keyed fingerprint, never
    // by what was typed (often a password typed in the wrong field).
    let fingerprint = state.secrets.login_fingerprint(&key);
    let account_key = match &found {
        Some(f) => account_throttle_key(f.user.id),
        None => format!("login:{fingerprint}"),
    };
    let ip_key = format!("ip:{}", meta.ip.as_deref().unwrap_or("unknown"));
    // Slots are taken before the password is checked (see store::throttle).
    let account_last = match store.throttle_take(&account_key, ACCOUNT_LIMIT).await? {
        Attempt::Allowed { last } => last,
        Attempt::Refused { retry_after_s } => return Err(AppError::RateLimited { retry_after_s }),
    };
    let ip_last = match store.throttle_take(&ip_key, IP_LIMIT).await? {
        Attempt::Allowed { last } => last,
        Attempt::Refused { retry_after_s } => {
            store.throttle_release(&account_key, ACCOUNT_LIMIT).await?;
            return Err(AppError::RateLimited { retry_after_s });
        }
    };
    let verified = match state
        .hashing
        .verify(
            req.password,
            found.as_ref().and_then(|f| f.password_hash.clone()),
        )
        .await
    {
        Ok(v) => v,
        Err(e) => {
            // Never checked (the hashers were busy): the slots go back.
            store.throttle_release(&account_key, ACCOUNT_LIMIT).await?;
            store.throttle_release(&ip_key, IP_LIMIT).await?;
            return Err(e);
        }
    };
    let attempt = FailedAttempt {
        meta: &meta,
        fingerprint: &fingerprint,
        account_last,
        ip_last,
    };
    let found = match found {
        Some(f) if verified => f,
        known => {
            let user = known.map(|f| f.user);
            return Err(login_failed(&state, &attempt, user.as_ref(), "wrong password").await?);
        }
    };
    let user = found.user;
    let institution = store.get_institution(user.institution_id).await?;
    if !user.active {
        return Err(login_failed(&state, &attempt, Some(&user), "account deactivated").await?);
    }
    if !store.in_service(&institution.path).await? {
        return Err(login_failed(&state, &attempt, Some(&user), "institution deactivated").await?);
    }
    store.throttle_clear(&account_key).await?;
    store.throttle_release(&ip_key, IP_LIMIT).await?;
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
    audit_login(&state, &meta, "login_succeeded", &user, "").await?;
    let principal = crate::auth::principal::load(&state, &token).await?;
    let body = me_of(&principal);
    let mut res = axum::Json(body).into_response();
    set_cookie(
        &mut res,
        &auth_session_cookie(&token, MAX_LIFETIME.whole_seconds(), meta.secure),
    );
    Ok(res)
}

/// Both fields present and bounded (a login is at most an e-mail address
/// long; passwords are capped before hashing).
fn check_login_fields(key: &str, password: &str) -> AppResult<()> {
    if key.is_empty() || password.is_empty() {
        return Err(AppError::invalid(
            "请输入用户名和密码。",
            "Enter your username and password.",
        ));
    }
    let mut problems = validate::Problems::new();
    if key.chars().count() > LOGIN_MAX_CHARS {
        problems.add(
            "login",
            Text::owned(
                format!("用户名、电子邮箱或电话号码不能超过 {LOGIN_MAX_CHARS} 个字符。"),
                format!("The login must not exceed {LOGIN_MAX_CHARS} characters."),
            ),
        );
    }
    if password.chars().count() > PASSWORD_MAX_CHARS {
        problems.add(
            "password",
            Text::owned(
                format!("密码不能超过 {PASSWORD_MAX_CHARS} 个字符。"),
                format!("The password must not exceed {PASSWORD_MAX_CHARS} characters."),
            ),
        );
    }
    problems.into_result()
}

/// What a failed login needs to be recorded.
struct FailedAttempt<'a> {
    meta: &'a RequestMeta,
    fingerprint: &'a str,
    /// Whether this attempt took the last slot of the account / address.
    account_last: bool,
    ip_last: bool,
}

/// Record a failed login and answer it: the uniform 401, or 429 when this
/// attempt was the one that locked the account or address.
async fn login_failed(
    state: &AppState,
    a: &FailedAttempt<'_>,
    known: Option<&jiliang_protocol::accounts::User>,
    reason: &str,
) -> AppResult<AppError> {
    let store = &state.store;
    // Unknown logins are recorded by fingerprint: an administrator can see
    // that one unknown name is tried again and again, but not what it is.
    let detail = match known {
        Some(_) => reason.to_owned(),
        None => format!("unknown account {}", a.fingerprint),
    };
    store
        .audit(&NewAuditEvent {
            event: "login_failed",
            target_user_id: known.map(|u| u.id),
            institution_id: known.map(|u| u.institution_id),
            ip: a.meta.ip.as_deref(),
            user_agent: a.meta.user_agent.as_deref(),
            detail,
            ..Default::default()
        })
        .await?;
    if a.account_last || a.ip_last {
        let (what, limit) = if a.account_last {
            ("account", ACCOUNT_LIMIT)
        } else {
            ("address", IP_LIMIT)
        };
        let secs = u64::try_from(limit.lockout.whole_seconds()).unwrap_or(0);
        store
            .audit(&NewAuditEvent {
                event: "lockout",
                target_user_id: known.map(|u| u.id),
                institution_id: known.map(|u| u.institution_id),
                ip: a.meta.ip.as_deref(),
                user_agent: a.meta.user_agent.as_deref(),
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
    detail: &str,
) -> AppResult<()> {
    state
        .store
        .audit(&NewAuditEvent {
            event,
            actor_id: (event == "login_succeeded").then_some(user.id),
            target_user_id: Some(user.id),
            institution_id: Some(user.institution_id),
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
    if req.current_password.chars().count() > PASSWORD_MAX_CHARS {
        return Err(AppError::invalid(
            "当前密码不正确。",
            "The current password is not correct.",
        ));
    }
    // The same attempt slots as logging in: a stolen session must not be a
    // way to guess the password without limit.
    let account_key = account_throttle_key(principal.user.id);
    let last = match store.throttle_take(&account_key, ACCOUNT_LIMIT).await? {
        Attempt::Allowed { last } => last,
        Attempt::Refused { retry_after_s } => return Err(AppError::RateLimited { retry_after_s }),
    };
    let stored = store.get_user_auth(principal.user.id).await?;
    let verified = match state
        .hashing
        .verify(req.current_password, stored.password_hash)
        .await
    {
        Ok(v) => v,
        Err(e) => {
            store.throttle_release(&account_key, ACCOUNT_LIMIT).await?;
            return Err(e);
        }
    };
    if !verified {
        if last {
            return Err(AppError::RateLimited {
                retry_after_s: u64::try_from(ACCOUNT_LIMIT.lockout.whole_seconds()).unwrap_or(0),
            });
        }
        return Err(AppError::UnauthenticatedBecause(Text::new(
            "当前密码不正确。",
            "The current password is not correct.",
        )));
    }
    store.throttle_clear(&account_key).await?;
    password::validate(&req.new_password, &principal.user.username)?;
    let hash = state.hashing.hash(req.new_password).await?;
    store.set_password_hash(principal.user.id, &hash).await?;
    store
        .delete_user_auth_sessions(principal.user.id, Some(&principal.token_hash))
        .await?;
    // A reset link issued before this change must not undo it.
    store
        .revoke_user_tokens(principal.user.id, Purpose::Reset)
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
    // Over TLS the name carries the `__Host-` prefix: browsers then accept
    // it only when Secure, for this exact host and path `/`, so a sibling
    // subdomain or a plain-http page cannot plant or shadow it.
    if secure {
        format!(
            "{AUTH_SESSION_COOKIE_SECURE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}; Secure"
        )
    } else {
        format!("{AUTH_SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}")
    }
}

pub fn set_cookie(res: &mut Response, cookie: &str) {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}
