//! The institution tree: browse, create, rename, move, deactivate.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use jiliang_protocol::ErrorBody;
use jiliang_protocol::accounts::{
    InstitutionView, NewInstitutionRequest, UpdateInstitutionRequest, User,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{Principal, RequestMeta};
use crate::authz::{self, Access};
use crate::error::{AppError, AppJson, AppPath, AppResult};
use crate::i18n::Text;
use crate::state::AppState;
use crate::store::audit::NewAuditEvent;
use crate::store::institutions::{InstitutionUpdate, NewInstitution, StoredInstitution};
use crate::store::users::UserQuery;
use crate::validate::{self, Problems};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_institutions, create_institution))
        .routes(routes!(get_institution, update_institution))
        .routes(routes!(list_institution_people))
}

pub fn not_found() -> Text {
    Text::new("找不到该机构。", "No such institution.")
}

/// Load an institution the caller may read, or the right error (403/404).
pub async fn readable(state: &AppState, p: &Principal, id: Uuid) -> AppResult<StoredInstitution> {
    checked(state, id, |path| authz::read_institution(p, path)).await
}

/// Look an institution up and apply `rule`; unknown ids are 404.
pub async fn checked(
    state: &AppState,
    id: Uuid,
    rule: impl Fn(&str) -> Access,
) -> AppResult<StoredInstitution> {
    let inst = match state.store.get_institution(id).await {
        Ok(i) => i,
        Err(sqlx::Error::RowNotFound) => return Err(AppError::NotFound(not_found())),
        Err(e) => return Err(e.into()),
    };
    rule(&inst.path).require(not_found())?;
    Ok(inst)
}

async fn view(
    state: &AppState,
    p: &Principal,
    inst: StoredInstitution,
    counts: Option<&HashMap<Uuid, i64>>,
) -> AppResult<InstitutionView> {
    let people_count = match counts {
        Some(c) => c.get(&inst.institution.id).copied().unwrap_or(0),
        None => state.store.count_users_in(inst.institution.id).await?,
    };
    let ancestors = inst
        .path
        .trim_matches('/')
        .split('/')
        .filter_map(|s| s.parse::<Uuid>().ok())
        .filter(|id| *id != inst.institution.id)
        .collect();
    Ok(InstitutionView {
        can_manage: authz::manage_institution(p, &inst.path).allowed(),
        institution: inst.institution,
        ancestors,
        people_count,
    })
}

/// Institutions the caller can see: their own and those above it, and —
/// for admins and experts — everything below theirs. Parents come first.
#[utoipa::path(get, path = "/api/v1/institutions", tag = "institutions", responses(
    (status = 200, body = Vec<InstitutionView>), (status = 401, body = ErrorBody)))]
async fn list_institutions(
    State(state): State<AppState>,
    p: Principal,
) -> AppResult<axum::Json<Vec<InstitutionView>>> {
    let store = &state.store;
    let mut list = store.institution_chain(&p.path).await?;
    list.pop(); // own institution; comes back with the subtree or below
    let below = store.list_institutions_under(&p.path).await?;
    list.extend(
        below
            .into_iter()
            .filter(|i| authz::read_institution(&p, &i.path).allowed()),
    );
    let counts = store.count_users_by_institution().await?;
    let mut out = Vec::with_capacity(list.len());
    for inst in list {
        out.push(view(&state, &p, inst, Some(&counts)).await?);
    }
    Ok(axum::Json(out))
}

/// One institution.
#[utoipa::path(get, path = "/api/v1/institutions/{id}", tag = "institutions",
    params(("id" = Uuid, Path)), responses(
    (status = 200, body = InstitutionView),
    (status = 403, body = ErrorBody, description = "In your province but not yours to see"),
    (status = 404, body = ErrorBody)))]
async fn get_institution(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<axum::Json<InstitutionView>> {
    let inst = readable(&state, &p, id).await?;
    Ok(axum::Json(view(&state, &p, inst, None).await?))
}

/// Create an institution below one the caller administers.
#[utoipa::path(post, path = "/api/v1/institutions", tag = "institutions",
    request_body = NewInstitutionRequest, responses(
    (status = 201, body = InstitutionView),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "A sibling has the same name"),
    (status = 422, body = ErrorBody)))]
async fn create_institution(
    State(state): State<AppState>,
    meta: RequestMeta,
    p: Principal,
    AppJson(req): AppJson<NewInstitutionRequest>,
) -> AppResult<(StatusCode, axum::Json<InstitutionView>)> {
    let parent = checked(&state, req.parent_id, |path| {
        authz::manage_institution(&p, path)
    })
    .await?;
    let mut problems = Problems::new();
    let name_zh = problems.take("name_zh", validate::institution_name(&req.name_zh));
    let name_en = match req.name_en.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(n) => problems.take("name_en", validate::institution_name(n)),
    };
    let region_code = problems.take("region_code", validate::region_code(&req.region_code));
    let contact = problems.take(
        "contact",
        validate::free_text(req.contact.as_deref().unwrap_or(""), 200),
    );
    if !parent.institution.level.may_contain(req.level) {
        problems.add(
            "level",
            Text::new(
                "下级机构的级别必须低于上级机构。",
                "A child institution must be of a lower level than its parent.",
            ),
        );
    }
    if !parent.institution.active {
        problems.add(
            "parent_id",
            Text::new("上级机构已停用。", "The parent institution is deactivated."),
        );
    }
    problems.into_result()?;
    let (Some(name_zh), Some(region_code), Some(contact)) = (name_zh, region_code, contact) else {
        return Err(AppError::internal("validated fields missing"));
    };
    let created = state
        .store
        .insert_institution(&NewInstitution {
            parent_id: Some(parent.institution.id),
            level: req.level,
            name_zh,
            name_en,
            region_code,
            contact,
        })
        .await
        .map_err(sibling_conflict)?;
    audit(
        &state,
        &meta,
        &p,
        &created,
        "institution_created",
        format!(
            "{} ({})",
            created.institution.name_zh,
            created.institution.level.as_str()
        ),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(view(&state, &p, created, None).await?),
    ))
}

fn sibling_conflict(e: sqlx::Error) -> AppError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => AppError::Conflict(Text::new(
            "同一上级机构下已有同名机构。",
            "An institution with this name already exists under the same parent.",
        )),
        _ => e.into(),
    }
}

/// Rename, edit contact details, move (`parent_id`) or (de)activate.
#[utoipa::path(patch, path = "/api/v1/institutions/{id}", tag = "institutions",
    params(("id" = Uuid, Path)), request_body = UpdateInstitutionRequest, responses(
    (status = 200, body = InstitutionView),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_institution(
    State(state): State<AppState>,
    meta: RequestMeta,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<UpdateInstitutionRequest>,
) -> AppResult<axum::Json<InstitutionView>> {
    let restructure = req.parent_id.is_some() || req.active == Some(false);
    let target = checked(&state, id, |path| {
        if restructure {
            authz::restructure_institution(&p, path)
        } else {
            authz::manage_institution(&p, path)
        }
    })
    .await?;
    let mut problems = Problems::new();
    let update = InstitutionUpdate {
        name_zh: req
            .name_zh
            .as_deref()
            .and_then(|n| problems.take("name_zh", validate::institution_name(n))),
        name_en: req.name_en.as_deref().map(|n| match n.trim() {
            "" => None,
            n => problems.take("name_en", validate::institution_name(n)),
        }),
        region_code: req
            .region_code
            .as_deref()
            .and_then(|c| problems.take("region_code", validate::region_code(c))),
        contact: req
            .contact
            .as_deref()
            .and_then(|c| problems.take("contact", validate::free_text(c, 200))),
        active: req.active,
    };
    let new_parent = match req.parent_id {
        Some(pid) if Some(pid) != target.institution.parent_id => {
            let parent = checked(&state, pid, |path| authz::manage_institution(&p, path)).await?;
            if parent.path.starts_with(&target.path) {
                problems.add(
                    "parent_id",
                    Text::new(
                        "不能把机构移到它自己或其下级机构之下。",
                        "An institution cannot be moved under itself or its own subtree.",
                    ),
                );
            }
            if !parent
                .institution
                .level
                .may_contain(target.institution.level)
            {
                problems.add(
                    "parent_id",
                    Text::new(
                        "新的上级机构级别必须高于本机构。",
                        "The new parent must be of a higher level.",
                    ),
                );
            }
            Some(parent)
        }
        _ => None,
    };
    problems.into_result()?;
    let store = &state.store;
    let mut current = store
        .update_institution(id, &update)
        .await
        .map_err(sibling_conflict)?;
    if let Some(parent) = &new_parent {
        current = store
            .move_institution(id, parent.institution.id)
            .await
            .map_err(sibling_conflict)?;
        audit(
            &state,
            &meta,
            &p,
            &current,
            "institution_moved",
            format!("→ {}", parent.institution.name_zh),
        )
        .await?;
    }
    if update.name_zh.is_some()
        && update.name_zh.as_deref() != Some(target.institution.name_zh.as_str())
    {
        audit(
            &state,
            &meta,
            &p,
            &current,
            "institution_renamed",
            format!(
                "{} → {}",
                target.institution.name_zh, current.institution.name_zh
            ),
        )
        .await?;
    }
    match (target.institution.active, current.institution.active) {
        (true, false) => {
            // Its people (and those of the labs below) stop now, not at their
            // next request: open room sockets see the session gone and close.
            store.delete_auth_sessions_under(&current.path).await?;
            audit(
                &state,
                &meta,
                &p,
                &current,
                "institution_deactivated",
                String::new(),
            )
            .await?
        }
        (false, true) => {
            audit(
                &state,
                &meta,
                &p,
                &current,
                "institution_reactivated",
                String::new(),
            )
            .await?
        }
        _ => {}
    }
    Ok(axum::Json(view(&state, &p, current, None).await?))
}

/// People of one institution.
#[utoipa::path(get, path = "/api/v1/institutions/{id}/people", tag = "institutions",
    params(("id" = Uuid, Path)), responses(
    (status = 200, body = Vec<User>),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_institution_people(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<axum::Json<Vec<User>>> {
    let inst = checked(&state, id, |path| authz::view_people_of(&p, path)).await?;
    let people = state
        .store
        .list_users(&UserQuery {
            path_prefix: inst.path.clone(),
            institution_id: Some(inst.institution.id),
            limit: 1000,
            ..Default::default()
        })
        .await?;
    Ok(axum::Json(people))
}

async fn audit(
    state: &AppState,
    meta: &RequestMeta,
    p: &Principal,
    inst: &StoredInstitution,
    event: &str,
    detail: String,
) -> AppResult<()> {
    state
        .store
        .audit(&NewAuditEvent {
            event,
            actor_id: Some(p.user.id),
            target_user_id: None,
            institution_id: Some(inst.institution.id),
            ip: meta.ip.as_deref(),
            user_agent: meta.user_agent.as_deref(),
            detail,
        })
        .await?;
    Ok(())
}
