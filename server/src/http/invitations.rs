//! Invitations, and the public side of one-time links (accept an
//! invitation, set a password after a reset).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiliang_protocol::ErrorBody;
use jiliang_protocol::accounts::{
    AcceptInvitationRequest, Invitation, InvitationStatus, Me, NewInvitationRequest,
    SetPasswordRequest, TokenInfo,
};
use time::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::principal::IDLE_TIMEOUT;
use crate::auth::token::{hash_token, looks_like_token, random_token};
use crate::auth::{Principal, RequestMeta, password};
use crate::authz;
use crate::clock::now;
use crate::error::{AppError, AppJson, AppPath, AppResult};
use crate::http::auth::{auth_session_cookie, me_of, set_cookie};
use crate::http::institutions::checked;
use crate::http::users::{roles_text, validate_roles};
use crate::i18n::Text;
use crate::state::AppState;
use crate::store::audit::NewAuditEvent;
use crate::store::auth_sessions::NewAuthSession;
use crate::store::tokens::{NewToken, Purpose, StoredToken};
use crate::store::users::NewUser;
use crate::validate::{self, Problems};
use uuid::Uuid;

/// How long an invitation link stays valid.
pub const INVITATION_VALID_FOR: Duration = Duration::days(7);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_invitations, create_invitation))
        .routes(routes!(inspect_token))
        .routes(routes!(accept_invitation))
        .routes(routes!(revoke_invitation))
        .routes(routes!(complete_reset))
}

fn to_invitation(t: &StoredToken, link: Option<String>) -> Invitation {
    let status = if t.used_at.is_some() {
        InvitationStatus::Accepted
    } else if t.revoked_at.is_some() {
        InvitationStatus::Revoked
    } else if t.expires_at <= now() {
        InvitationStatus::Expired
    } else {
        InvitationStatus::Pending
    };
    Invitation {
        id: t.id,
        display_name: t.display_name.clone(),
        email: t.email.clone(),
        phone: t.phone.clone(),
        institution_id: t.institution_id,
        institution_name: t.institution_name.clone(),
        institution_name_en: t.institution_name_en.clone(),
        roles: t.roles.clone(),
        invited_by: t.creator_name.clone().unwrap_or_default(),
        status,
        created_at: t.created_at,
        expires_at: t.expires_at,
        link,
    }
}

/// Invite a person by e-mail address or phone number. The answer holds the
/// one-time link to send them; it is shown only this once.
#[utoipa::path(post, path = "/api/v1/invitations", tag = "invitations", request_body = NewInvitationRequest, responses(
    (status = 201, body = Invitation), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 422, body = ErrorBody)))]
async fn create_invitation(
    State(state): State<AppState>,
    meta: RequestMeta,
    p: Principal,
    AppJson(req): AppJson<NewInvitationRequest>,
) -> AppResult<(StatusCode, axum::Json<Invitation>)> {
    let mut problems = Problems::new();
    let roles = validate_roles(&mut problems, &req.roles);
    let inst = checked(&state, req.institution_id, |path| {
        authz::invite(&p, path, &roles)
    })
    .await?;
    let display_name = problems.take("display_name", validate::display_name(&req.display_name));
    let email = problems.take("email", validate::email(req.email.as_deref().unwrap_or("")));
    let phone = problems.take("phone", validate::phone(req.phone.as_deref().unwrap_or("")));
    if matches!((&email, &phone), (Some(None), Some(None))) {
        problems.add(
            "email",
            Text::new(
                "请填写电子邮箱或电话号码，用于发送邀请。",
                "Give an e-mail address or a phone number to send the invitation to.",
            ),
        );
    }
    if !inst.institution.active {
        problems.add(
            "institution_id",
            Text::new("该机构已停用。", "This institution is deactivated."),
        );
    }
    problems.into_result()?;
    let (Some(display_name), Some(email), Some(phone)) = (display_name, email, phone) else {
        return Err(AppError::internal("validated fields missing"));
    };
    let token = random_token();
    let stored = state
        .store
        .insert_token(&NewToken {
            token_hash: &hash_token(&token),
            purpose: Purpose::Invite,
            user_id: None,
            institution_id: inst.institution.id,
            display_name: &display_name,
            email: email.as_deref(),
            phone: phone.as_deref(),
            roles: &roles,
            created_by: Some(p.user.id),
            expires_at: now() + INVITATION_VALID_FOR,
        })
        .await?;
    let to = email.as_deref().or(phone.as_deref()).unwrap_or_default();
    state
        .store
        .audit(&NewAuditEvent {
            event: "invitation_created",
            actor_id: Some(p.user.id),
            institution_id: Some(inst.institution.id),
            ip: meta.ip.as_deref(),
            user_agent: meta.user_agent.as_deref(),
            detail: format!("{display_name} <{to}> as {}", roles_text(&roles)),
            ..Default::default()
        })
        .await?;
    tracing::info!(invitation = %stored.id, to, "invitation created");
    let link = format!("{}/invite/{token}", meta.origin);
    Ok((
        StatusCode::CREATED,
        axum::Json(to_invitation(&stored, Some(link))),
    ))
}

/// Invitations to institutions in the caller's subtree, newest first
/// (administrators and experts).
#[utoipa::path(get, path = "/api/v1/invitations", tag = "invitations", responses(
    (status = 200, body = Vec<Invitation>), (status = 403, body = ErrorBody)))]
async fn list_invitations(
    State(state): State<AppState>,
    p: Principal,
) -> AppResult<axum::Json<Vec<Invitation>>> {
    if !authz::capabilities(&p).invite {
        return Err(AppError::Forbidden);
    }
    let list = state.store.list_invitations(&p.path, 200).await?;
    Ok(axum::Json(
        list.iter().map(|t| to_invitation(t, None)).collect(),
    ))
}

fn link_gone() -> AppError {
    AppError::not_found(
        "链接无效或已被使用。",
        "This link is not valid or has already been used.",
    )
}

/// A usable token of `purpose`, or why not.
async fn usable(state: &AppState, token: &str, purpose: Option<Purpose>) -> AppResult<StoredToken> {
    if !looks_like_token(token) {
        return Err(link_gone());
    }
    let t = state
        .store
        .get_token(&hash_token(token))
        .await?
        .ok_or_else(link_gone)?;
    if t.used_at.is_some() || purpose.is_some_and(|p| p != t.purpose) {
        return Err(link_gone());
    }
    if t.revoked_at.is_some() {
        return Err(AppError::Expired(Text::new(
            "此链接已被撤回或已被更新的链接取代。",
            "This link has been withdrawn or replaced by a newer one.",
        )));
    }
    if t.expires_at <= now() {
        return Err(AppError::Expired(Text::new(
            "链接已过期，请联系邀请人重新发送。",
            "This link has expired; ask the sender for a new one.",
        )));
    }
    Ok(t)
}

/// An invitation is the inviter's word, so it holds only while they could
/// still give it: they are active, still allowed to invite to that
/// institution with those roles, and the institution (and every one above
/// it) is still in service. Otherwise it is gone (410).
async fn still_valid(state: &AppState, t: &StoredToken) -> AppResult<()> {
    let withdrawn = || {
        AppError::Expired(Text::new(
            "邀请已失效：邀请人已无权邀请，或该机构已停用。",
            "This invitation is no longer valid: its sender may no longer invite, or the institution is deactivated.",
        ))
    };
    let inst = state.store.get_institution(t.institution_id).await?;
    if !state.store.in_service(&inst.path).await? {
        return Err(withdrawn());
    }
    let Some(by) = t.created_by else {
        return Err(withdrawn());
    };
    match crate::auth::principal::for_user(state, by).await? {
        Some(inviter)
            if inviter.in_service
                && authz::invite(&inviter.principal, &inst.path, &t.roles).allowed() =>
        {
            Ok(())
        }
        _ => Err(withdrawn()),
    }
}

/// Withdraw an invitation that has not been used: its link stops working
/// at once (administrators and experts who could send it).
#[utoipa::path(post, path = "/api/v1/invitations/{id}/revoke", tag = "invitations", params(("id" = Uuid, Path)), responses(
    (status = 200, body = Invitation), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "Already accepted or revoked")))]
async fn revoke_invitation(
    State(state): State<AppState>,
    meta: RequestMeta,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<axum::Json<Invitation>> {
    let not_found = || AppError::not_found("找不到该邀请。", "No such invitation.");
    let t = state
        .store
        .get_token_by_id(id)
        .await?
        .filter(|t| t.purpose == Purpose::Invite)
        .ok_or_else(not_found)?;
    let inst = checked(&state, t.institution_id, |path| {
        authz::invite(&p, path, &t.roles)
    })
    .await?;
    if !state.store.revoke_token(id).await? {
        return Err(AppError::Conflict(Text::new(
            "该邀请已被接受或已撤回。",
            "This invitation has already been accepted or revoked.",
        )));
    }
    state
        .store
        .audit(&NewAuditEvent {
            event: "invitation_revoked",
            actor_id: Some(p.user.id),
            institution_id: Some(inst.institution.id),
            ip: meta.ip.as_deref(),
            user_agent: meta.user_agent.as_deref(),
            detail: t.display_name.clone(),
            ..Default::default()
        })
        .await?;
    let t = state
        .store
        .get_token_by_id(id)
        .await?
        .ok_or_else(not_found)?;
    Ok(axum::Json(to_invitation(&t, None)))
}

/// What a one-time link is for (public: the link itself is the credential).
#[utoipa::path(get, path = "/api/v1/tokens/{token}", tag = "invitations", params(("token" = String, Path)), responses(
    (status = 200, body = TokenInfo),
    (status = 404, body = ErrorBody, description = "Unknown or already used"),
    (status = 410, body = ErrorBody, description = "Expired")))]
async fn inspect_token(
    State(state): State<AppState>,
    AppPath(token): AppPath<String>,
) -> AppResult<axum::Json<TokenInfo>> {
    let t = usable(&state, &token, None).await?;
    if t.purpose == Purpose::Invite {
        still_valid(&state, &t).await?;
    }
    let username = match (t.purpose, t.user_id) {
        (Purpose::Reset, Some(uid)) => Some(state.store.get_user(uid).await?.username),
        _ => None,
    };
    Ok(axum::Json(TokenInfo {
        purpose: t.purpose.as_str().to_owned(),
        display_name: t.display_name,
        institution_name: t.institution_name,
        institution_name_en: t.institution_name_en,
        roles: t.roles,
        invited_by: t.creator_name,
        username,
        expires_at: t.expires_at,
    }))
}

/// Accept an invitation: choose a username and password; logs the new
/// account in.
#[utoipa::path(post, path = "/api/v1/invitations/{token}/accept", tag = "invitations",
    params(("token" = String, Path)), request_body = AcceptInvitationRequest, responses(
    (status = 201, body = Me), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    (status = 410, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn accept_invitation(
    State(state): State<AppState>,
    meta: RequestMeta,
    AppPath(token): AppPath<String>,
    AppJson(req): AppJson<AcceptInvitationRequest>,
) -> AppResult<Response> {
    let t = usable(&state, &token, Some(Purpose::Invite)).await?;
    still_valid(&state, &t).await?;
    let mut problems = Problems::new();
    let username = problems.take("username", validate::username(&req.username));
    if let Some(u) = &username {
        for rule in password::check_rules(&req.password, u) {
            problems.add("password", rule);
        }
    }
    problems.into_result()?;
    let Some(username) = username else {
        return Err(AppError::internal("validated username missing"));
    };
    let store = &state.store;
    if store.username_taken(&username).await? {
        return Err(AppError::Conflict(Text::new(
            "该用户名已被使用。",
            "This username is already taken.",
        )));
    }
    let hash = state.hashing.hash(req.password).await?;
    let user = store
        .insert_user(&NewUser {
            username,
            display_name: t.display_name.clone(),
            email: t.email.clone(),
            phone: t.phone.clone(),
            institution_id: t.institution_id,
            roles: t.roles.clone(),
            password_hash: Some(hash),
        })
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => AppError::Conflict(Text::new(
                "该用户名、电子邮箱或电话号码已被使用。",
                "This username, e-mail address or phone number is already used.",
            )),
            _ => e.into(),
        })?;
    if !store.use_token(t.id, Some(user.id)).await? {
        // Lost a race with a second acceptance: undo by deactivating.
        store
            .update_user(
                user.id,
                &crate::store::users::UserUpdate {
                    active: Some(false),
                    ..Default::default()
                },
            )
            .await?;
        return Err(link_gone());
    }
    store
        .audit(&NewAuditEvent {
            event: "invitation_accepted",
            actor_id: Some(user.id),
            target_user_id: Some(user.id),
            institution_id: Some(user.institution_id),
            ip: meta.ip.as_deref(),
            user_agent: meta.user_agent.as_deref(),
            detail: format!("as {}", roles_text(&user.roles)),
        })
        .await?;
    let login_token = random_token();
    store
        .insert_auth_session(&NewAuthSession {
            token_hash: &hash_token(&login_token),
            user_id: user.id,
            csrf_token: &random_token(),
            expires_at: now() + IDLE_TIMEOUT,
            ip: meta.ip.as_deref(),
            user_agent: meta.user_agent.as_deref(),
        })
        .await?;
    let principal = crate::auth::principal::load(&state, &login_token).await?;
    let mut res = (StatusCode::CREATED, axum::Json(me_of(&principal))).into_response();
    set_cookie(
        &mut res,
        &auth_session_cookie(&login_token, IDLE_TIMEOUT.whole_seconds(), meta.secure),
    );
    Ok(res)
}

/// Set a new password with a reset link. The person then logs in.
#[utoipa::path(post, path = "/api/v1/password-resets/{token}", tag = "invitations",
    params(("token" = String, Path)), request_body = SetPasswordRequest, responses(
    (status = 204), (status = 404, body = ErrorBody), (status = 410, body = ErrorBody),
    (status = 422, body = ErrorBody)))]
async fn complete_reset(
    State(state): State<AppState>,
    meta: RequestMeta,
    AppPath(token): AppPath<String>,
    AppJson(req): AppJson<SetPasswordRequest>,
) -> AppResult<StatusCode> {
    let t = usable(&state, &token, Some(Purpose::Reset)).await?;
    let Some(user_id) = t.user_id else {
        return Err(link_gone());
    };
    let store = &state.store;
    let user = store.get_user(user_id).await?;
    password::validate(&req.password, &user.username)?;
    let hash = state.hashing.hash(req.password).await?;
    if !store.use_token(t.id, None).await? {
        return Err(link_gone());
    }
    // Any other reset link of this person ends with this one.
    store.revoke_user_tokens(user.id, Purpose::Reset).await?;
    store.set_password_hash(user.id, &hash).await?;
    store.delete_user_auth_sessions(user.id, None).await?;
    store
        .throttle_clear(&crate::http::auth::account_throttle_key(user.id))
        .await?;
    store
        .audit(&NewAuditEvent {
            event: "password_reset",
            actor_id: Some(user.id),
            target_user_id: Some(user.id),
            institution_id: Some(user.institution_id),
            ip: meta.ip.as_deref(),
            user_agent: meta.user_agent.as_deref(),
            detail: String::new(),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
