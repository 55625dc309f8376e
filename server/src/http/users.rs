//! People: search, create directly, view, change roles and details,
//! deactivate, reset passwords.

use axum::extract::State;
use axum::http::StatusCode;
use jiliang_protocol::ErrorBody;
use jiliang_protocol::accounts::{
    NewUserRequest, OneTimeLink, Page, Role, UpdateUserRequest, User, UserListParams,
};
use time::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::token::{hash_token, random_token};
use crate::auth::{Principal, RequestMeta, password};
use crate::authz::{self, PeopleScope};
use crate::clock::now;
use crate::error::{AppError, AppJson, AppPath, AppQuery, AppResult};
use crate::http::institutions::checked;
use crate::i18n::Text;
use crate::state::AppState;
use crate::store::audit::NewAuditEvent;
use crate::store::institutions::StoredInstitution;
use crate::store::tokens::{NewToken, Purpose};
use crate::store::users::{NewUser, UserQuery, UserUpdate};
use crate::validate::{self, Problems};

/// How long a password-reset link stays valid.
pub const RESET_VALID_FOR: Duration = Duration::hours(24);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
        .routes(routes!(reset_password))
}

fn user_not_found() -> Text {
    Text::new("找不到该用户。", "No such person.")
}

/// Search people in the caller's scope (admins and experts: their subtree;
/// technicians: their lab).
#[utoipa::path(get, path = "/api/v1/users", tag = "people", params(UserListParams), responses(
    (status = 200, body = Page<User>), (status = 403, body = ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<UserListParams>,
) -> AppResult<axum::Json<Page<User>>> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::invalid(
            "limit 应在 1–200 之间。",
            "limit must be 1–200.",
        ));
    }
    // The search text becomes a LIKE pattern: a bound keeps one request
    // from scanning with a megabyte-long pattern.
    if q.q.as_deref().is_some_and(|t| t.chars().count() > 100) {
        return Err(AppError::invalid(
            "搜索内容不能超过 100 个字符。",
            "The search text must be at most 100 characters.",
        ));
    }
    let (path_prefix, institution_id) = match authz::people_scope(&p) {
        Some(PeopleScope::Subtree(path)) => (path, q.institution_id),
        Some(PeopleScope::Institution(id)) => {
            if q.institution_id.is_some_and(|i| i != id) {
                return Err(AppError::Forbidden);
            }
            (p.path.clone(), Some(id))
        }
        None => return Err(AppError::Forbidden),
    };
    let text =
        q.q.as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_lowercase);
    let mut items = state
        .store
        .list_users(&UserQuery {
            path_prefix,
            institution_id,
            role: q.role,
            active: q.active,
            text,
            after: q.cursor,
            limit: limit + 1,
        })
        .await?;
    let next_cursor = if items.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
        items.truncate(usize::try_from(limit).unwrap_or(0));
        items.last().map(|u| u.id.to_string())
    } else {
        None
    };
    Ok(axum::Json(Page { items, next_cursor }))
}

/// Load a person and their institution, checking `rule` on the institution.
async fn person(
    state: &AppState,
    id: Uuid,
    rule: impl Fn(Uuid, &str) -> authz::Access,
) -> AppResult<(User, StoredInstitution)> {
    let user = match state.store.get_user(id).await {
        Ok(u) => u,
        Err(sqlx::Error::RowNotFound) => return Err(AppError::NotFound(user_not_found())),
        Err(e) => return Err(e.into()),
    };
    let inst = state.store.get_institution(user.institution_id).await?;
    rule(user.id, &inst.path).require(user_not_found())?;
    Ok((user, inst))
}

/// One person.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "people", params(("id" = Uuid, Path)), responses(
    (status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_user(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<axum::Json<User>> {
    let (user, _) = person(&state, id, |uid, path| authz::view_user(&p, uid, path)).await?;
    Ok(axum::Json(user))
}

pub fn validate_roles(problems: &mut Problems, roles: &[Role]) -> Vec<Role> {
    // There are four roles: a longer list is not a form's doing.
    if roles.len() > Role::ALL.len() {
        problems.add("roles", Text::new("角色最多 4 个。", "At most 4 roles."));
    }
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        problems.add(
            "roles",
            Text::new("至少选择一个角色。", "Choose at least one role."),
        );
    }
    roles
}

fn username_conflict(e: sqlx::Error) -> AppError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let constraint = db.constraint().unwrap_or_default().to_owned();
            let msg = db.message().to_owned();
            if constraint.contains("email") || msg.contains("email") {
                AppError::Conflict(Text::new(
                    "该电子邮箱已被其他账户使用。",
                    "This e-mail address is already used by another account.",
                ))
            } else if constraint.contains("phone") || msg.contains("phone") {
                AppError::Conflict(Text::new(
                    "该电话号码已被其他账户使用。",
                    "This phone number is already used by another account.",
                ))
            } else {
                AppError::Conflict(Text::new(
                    "该用户名已被使用。",
                    "This username is already taken.",
                ))
            }
        }
        _ => e.into(),
    }
}

/// Create an account directly, with a password (administrators).
#[utoipa::path(post, path = "/api/v1/users", tag = "people", request_body = NewUserRequest, responses(
    (status = 201, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "Username, e-mail or phone already used"),
    (status = 422, body = ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    meta: RequestMeta,
    p: Principal,
    AppJson(req): AppJson<NewUserRequest>,
) -> AppResult<(StatusCode, axum::Json<User>)> {
    let inst = checked(&state, req.institution_id, |path| {
        authz::manage_user(&p, path)
    })
    .await?;
    let mut problems = Problems::new();
    let username = problems.take("username", validate::username(&req.username));
    let display_name = problems.take("display_name", validate::display_name(&req.display_name));
    let email = problems.take("email", validate::email(req.email.as_deref().unwrap_or("")));
    let phone = problems.take("phone", validate::phone(req.phone.as_deref().unwrap_or("")));
    let roles = validate_roles(&mut problems, &req.roles);
    if !inst.institution.active {
        problems.add(
            "institution_id",
            Text::new("该机构已停用。", "This institution is deactivated."),
        );
    }
    if let Some(u) = &username {
        for t in password::check_rules(&req.password, u) {
            problems.add("password", t);
        }
    }
    problems.into_result()?;
    let (Some(username), Some(display_name), Some(email), Some(phone)) =
        (username, display_name, email, phone)
    else {
        return Err(AppError::internal("validated fields missing"));
    };
    let hash = state.hashing.hash(req.password).await?;
    let user = state
        .store
        .insert_user(&NewUser {
            username,
            display_name,
            email,
            phone,
            institution_id: inst.institution.id,
            roles: roles.clone(),
            password_hash: Some(hash),
        })
        .await
        .map_err(username_conflict)?;
    audit_user(
        &state,
        &meta,
        &p,
        &user,
        "user_created",
        format!("roles: {}", roles_text(&roles)),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(user)))
}

pub fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Change a person's details, roles, institution or activation
/// (administrators of their institution). Deactivating ends their sessions.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "people", params(("id" = Uuid, Path)),
    request_body = UpdateUserRequest, responses(
    (status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_user(
    State(state): State<AppState>,
    meta: RequestMeta,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<UpdateUserRequest>,
) -> AppResult<axum::Json<User>> {
    let (before, inst) = person(&state, id, |uid, path| {
        // One's own name and contact details are one's own to change.
        let self_edit_only = uid == p.user.id
            && req.roles.is_none()
            && req.active.is_none()
            && req.institution_id.is_none();
        if self_edit_only {
            authz::Access::Allow
        } else {
            authz::manage_user(&p, path)
        }
    })
    .await?;
    let mut problems = Problems::new();
    let roles = req.roles.as_ref().map(|r| validate_roles(&mut problems, r));
    let update = UserUpdate {
        display_name: req
            .display_name
            .as_deref()
            .and_then(|n| problems.take("display_name", validate::display_name(n))),
        email: req
            .email
            .as_deref()
            .and_then(|e| problems.take("email", validate::email(e))),
        phone: req
            .phone
            .as_deref()
            .and_then(|e| problems.take("phone", validate::phone(e))),
        roles: roles.clone(),
        active: req.active,
        institution_id: req.institution_id.filter(|i| *i != before.institution_id),
    };
    if id == p.user.id {
        if req.active == Some(false) {
            problems.add(
                "active",
                Text::new(
                    "不能停用自己的账户。",
                    "You cannot deactivate your own account.",
                ),
            );
        }
        if roles
            .as_ref()
            .is_some_and(|r| p.has(Role::Admin) && !r.contains(&Role::Admin))
        {
            problems.add(
                "roles",
                Text::new(
                    "不能取消自己的管理员角色。",
                    "You cannot remove your own administrator role.",
                ),
            );
        }
    }
    let new_inst = match update.institution_id {
        Some(iid) => Some(checked(&state, iid, |path| authz::manage_user(&p, path)).await?),
        None => None,
    };
    problems.into_result()?;
    let store = &state.store;
    let after = store
        .update_user(id, &update)
        .await
        .map_err(username_conflict)?;
    if before.roles != after.roles {
        audit_user(
            &state,
            &meta,
            &p,
            &after,
            "role_changed",
            format!(
                "{} → {}",
                roles_text(&before.roles),
                roles_text(&after.roles)
            ),
        )
        .await?;
    }
    if before.active && !after.active {
        store.delete_user_auth_sessions(id, None).await?;
        audit_user(&state, &meta, &p, &after, "user_deactivated", String::new()).await?;
    } else if !before.active && after.active {
        audit_user(&state, &meta, &p, &after, "user_reactivated", String::new()).await?;
    }
    if let Some(ni) = &new_inst {
        audit_user(
            &state,
            &meta,
            &p,
            &after,
            "user_moved",
            format!("{} → {}", inst.institution.name_zh, ni.institution.name_zh),
        )
        .await?;
    }
    if before.display_name != after.display_name
        || before.email != after.email
        || before.phone != after.phone
    {
        audit_user(&state, &meta, &p, &after, "user_updated", String::new()).await?;
    }
    Ok(axum::Json(after))
}

/// Issue a one-time password-reset link for a person (administrators).
/// Their current sessions end at once.
#[utoipa::path(post, path = "/api/v1/users/{id}/password-reset", tag = "people", params(("id" = Uuid, Path)), responses(
    (status = 201, body = OneTimeLink), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn reset_password(
    State(state): State<AppState>,
    meta: RequestMeta,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<(StatusCode, axum::Json<OneTimeLink>)> {
    let (user, _) = person(&state, id, |_, path| authz::manage_user(&p, path)).await?;
    let token = random_token();
    let expires_at = now() + RESET_VALID_FOR;
    let issued = state
        .store
        .insert_token(&NewToken {
            token_hash: &hash_token(&token),
            purpose: Purpose::Reset,
            user_id: Some(user.id),
            institution_id: user.institution_id,
            display_name: &user.display_name,
            email: user.email.as_deref(),
            phone: user.phone.as_deref(),
            roles: &user.roles,
            created_by: Some(p.user.id),
            expires_at,
        })
        .await?;
    // Only the newest reset link works: an older one (perhaps sent to a
    // mailbox since lost) ends now.
    state
        .store
        .revoke_user_tokens_except(user.id, Purpose::Reset, Some(issued.id))
        .await?;
    // A reset is often issued because a password leaked: the old one must
    // stop working now, not when the link is used.
    state.store.clear_password_hash(user.id).await?;
    state.store.delete_user_auth_sessions(user.id, None).await?;
    audit_user(
        &state,
        &meta,
        &p,
        &user,
        "password_reset_issued",
        String::new(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(OneTimeLink {
            link: format!("{}/reset/{token}", meta.origin),
            expires_at,
        }),
    ))
}

pub async fn audit_user(
    state: &AppState,
    meta: &RequestMeta,
    p: &Principal,
    user: &User,
    event: &str,
    detail: String,
) -> AppResult<()> {
    state
        .store
        .audit(&NewAuditEvent {
            event,
            actor_id: Some(p.user.id),
            target_user_id: Some(user.id),
            institution_id: Some(user.institution_id),
            ip: meta.ip.as_deref(),
            user_agent: meta.user_agent.as_deref(),
            detail,
        })
        .await?;
    Ok(())
}
