//! The security audit log, for administrators of the subtree it concerns.

use axum::extract::State;
use jiliang_protocol::ErrorBody;
use jiliang_protocol::accounts::{AuditEvent, AuditParams, Page};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::authz;
use crate::error::{AppError, AppQuery, AppResult};
use crate::state::AppState;
use crate::store::audit::AuditQuery;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// Security events of the caller's subtree, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams), responses(
    (status = 200, body = Page<AuditEvent>), (status = 403, body = ErrorBody)))]
async fn list_audit(
    State(state): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<AuditParams>,
) -> AppResult<axum::Json<Page<AuditEvent>>> {
    if !authz::view_audit(&p) {
        return Err(AppError::Forbidden);
    }
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AppError::invalid(
            "limit 应在 1–200 之间。",
            "limit must be 1–200.",
        ));
    }
    if q.event.as_deref().is_some_and(|e| e.chars().count() > 64) {
        return Err(AppError::invalid(
            "event 不能超过 64 个字符。",
            "event must be at most 64 characters.",
        ));
    }
    // Administrators of a root institution also see events that belong to
    // no institution (failed logins for accounts that do not exist).
    let path_prefix = if p.institution.parent_id.is_none() {
        "/".to_owned()
    } else {
        p.path.clone()
    };
    let mut items = state
        .store
        .list_audit(&AuditQuery {
            path_prefix,
            event: q.event.filter(|e| !e.is_empty()),
            user_id: q.user_id,
            since: q.since,
            until: q.until,
            before: q.cursor,
            limit: limit + 1,
        })
        .await?;
    let limit = usize::try_from(limit).unwrap_or(50);
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|e| e.id.to_string())
    } else {
        None
    };
    Ok(axum::Json(Page { items, next_cursor }))
}
