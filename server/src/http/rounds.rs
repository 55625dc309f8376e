//! Comparison rounds (计量比对, proficiency testing): create, invite labs,
//! submit and correct results (with attachments), close, exclude a lab
//! from the reference value, read the report (JSON of `jiliang compare`,
//! CSV), publish as a ledger record. The work is in `crate::rounds`.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiliang_ledger::RecordKind;
use jiliang_protocol::ErrorBody;
use jiliang_protocol::rooms::Author;
use jiliang_protocol::rounds::{
    self, AttachmentInfo, AttachmentUpload, ExclusionBody, InviteLabs, PublishBody, ResultSubmit,
    RoundCreate, RoundList, RoundState, RoundSummary, RoundView,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Principal;
use crate::authz;
use crate::clock::now;
use crate::error::{AppError, AppJson, AppPath, AppResult};
use crate::i18n::Text;
use crate::rounds::{self as r, Loaded, Relation, invalid_field};
use crate::state::AppState;
use crate::store::rounds::{Refused, RoundScope};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_rounds, create_round))
        .routes(routes!(get_round))
        .routes(routes!(invite_labs))
        .routes(routes!(put_result))
        .routes(routes!(add_attachment))
        .routes(routes!(get_attachment))
        .routes(routes!(close_round))
        .routes(routes!(exclude_lab, include_lab))
        .routes(routes!(get_report))
        .routes(routes!(get_report_csv))
        .routes(routes!(publish_round))
}

fn author(p: &Principal) -> Author {
    Author {
        id: p.user.id,
        name: p.user.display_name.clone(),
    }
}

async fn view_of(state: &AppState, p: &Principal, id: Uuid) -> AppResult<axum::Json<RoundView>> {
    let (l, rel) = r::load(&state.store, p, id).await?;
    let attachments = state.store.round_attachments(id).await?;
    let mut view = l.view(p, rel, &attachments);
    if l.state == RoundState::Published && l.report_readable(rel) {
        view.report_number = state
            .store
            .certificates_of_source(RecordKind::ROUND_REPORT.as_str(), &id.to_string())
            .await?
            .into_iter()
            .find(|c| c.status == "valid")
            .map(|c| c.number);
    }
    Ok(axum::Json(view))
}

/// The rounds the caller coordinates, oversees or takes part in (newest
/// deadline first).
#[utoipa::path(get, path = "/api/v1/rounds", tag = "rounds", responses(
    (status = 200, body = RoundList), (status = 401, body = ErrorBody)))]
async fn list_rounds(
    State(state): State<AppState>,
    p: Principal,
) -> AppResult<axum::Json<RoundList>> {
    let staff = p.has(jiliang_protocol::accounts::Role::Admin)
        || p.has(jiliang_protocol::accounts::Role::Expert);
    let rows = if staff {
        // Coordinated in their subtree or inviting a lab in it (a lab's own
        // expert: the lab is their subtree).
        state
            .store
            .list_rounds(RoundScope::Subtree(&p.path), 500)
            .await?
    } else if authz::round_participant(&p, p.institution.id) {
        state
            .store
            .list_rounds(RoundScope::Lab(p.institution.id), 500)
            .await?
    } else {
        Vec::new()
    };
    let items = rows
        .into_iter()
        .filter_map(|row| {
            Some(RoundSummary {
                id: row.id,
                title: row.title,
                quantity: row.quantity,
                unit: row.unit,
                deadline: row.deadline,
                state: RoundState::parse(&row.state)?,
                labs: u32::try_from(row.labs).unwrap_or(0),
                submitted: u32::try_from(row.submitted).unwrap_or(0),
            })
        })
        .collect();
    Ok(axum::Json(RoundList { items }))
}

/// Create a round (experts), coordinated from the expert's institution.
/// `method` is any `jiliang compare --method` or `assigned`; `options`
/// carries `sigma_pt`, `en_rule`, `assigned`, `assigned_u`.
#[utoipa::path(post, path = "/api/v1/rounds", tag = "rounds", request_body = RoundCreate, responses(
    (status = 201, body = RoundView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "A field is empty, the unit unknown, the deadline past, the options inconsistent with the method")))]
async fn create_round(
    State(state): State<AppState>,
    p: Principal,
    AppJson(req): AppJson<RoundCreate>,
) -> AppResult<(StatusCode, axum::Json<RoundView>)> {
    if !authz::create_round(&p) {
        return Err(AppError::ForbiddenBecause(Text::new(
            "只有专家可以组织比对。",
            "Only experts can coordinate comparison rounds.",
        )));
    }
    let id = r::create(&state.store, &req, p.user.id, p.institution.id, now()).await?;
    tracing::info!(round = %id, by = %p.user.id, "round created");
    Ok((StatusCode::CREATED, view_of(&state, &p, id).await?))
}

/// The round as the caller may see it: coordinators every lab with its
/// result; a participating lab its own result, the others by code.
#[utoipa::path(get, path = "/api/v1/rounds/{id}", tag = "rounds", params(("id" = Uuid, Path)), responses(
    (status = 200, body = RoundView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_round(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<axum::Json<RoundView>> {
    view_of(&state, &p, id).await
}

/// Invite labs (institutions in the expert's subtree, in service) while the
/// round is open; each gets the next code. Inviting a lab again changes
/// nothing.
#[utoipa::path(post, path = "/api/v1/rounds/{id}/labs", tag = "rounds", params(("id" = Uuid, Path)),
    request_body = InviteLabs, responses(
    (status = 200, body = RoundView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "The round is closed or published"),
    (status = 422, body = ErrorBody, description = "A lab outside the expert's subtree, unknown or out of service")))]
async fn invite_labs(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<InviteLabs>,
) -> AppResult<axum::Json<RoundView>> {
    let (l, _) = r::load(&state.store, &p, id).await?;
    l.require_manage(&p)?;
    if req.lab_ids.is_empty() || req.lab_ids.len() > 200 {
        return Err(invalid_field(
            "lab_ids",
            "lab_ids：请列出 1–200 个实验室。".into(),
            "lab_ids: list 1–200 labs.".into(),
        ));
    }
    for (i, lab) in req.lab_ids.iter().enumerate() {
        let field = format!("lab_ids[{i}]");
        let inst = match state.store.get_institution(*lab).await {
            Ok(inst) => Some(inst),
            Err(sqlx::Error::RowNotFound) => None,
            Err(e) => return Err(e.into()),
        };
        let ok = match &inst {
            Some(inst) => {
                inst.path.starts_with(&p.path) && state.store.in_service(&inst.path).await?
            }
            None => false,
        };
        if !ok {
            return Err(invalid_field(
                &field,
                format!("{field}：不是您辖区内在用的实验室。"),
                format!("{field}: not a lab in service within your institutions."),
            ));
        }
    }
    state
        .store
        .invite_round_labs(id, &req.lab_ids, p.user.id, now())
        .await?
        .map_err(|e| r::refused(e, l.round.deadline))?;
    view_of(&state, &p, id).await
}

fn number(v: &serde_json::Value, field: &str) -> AppResult<f64> {
    match v.get(field) {
        Some(serde_json::Value::Number(n)) => n.as_f64().ok_or_else(|| {
            invalid_field(
                field,
                format!("{field} 不是有效数字。"),
                format!("{field} is not a valid number."),
            )
        }),
        None | Some(serde_json::Value::Null) => Err(invalid_field(
            field,
            format!("缺少 {field}。"),
            format!("{field} is missing."),
        )),
        Some(other) => Err(invalid_field(
            field,
            format!("{field} 必须是数字，收到 {other}。"),
            format!("{field} must be a number, got {other}."),
        )),
    }
}

/// Parse a result body field by field, so each problem names its field.
fn parse_result(v: &serde_json::Value) -> AppResult<ResultSubmit> {
    let Some(obj) = v.as_object() else {
        return Err(AppError::MalformedJson("expected a JSON object".into()));
    };
    if let Some(k) = obj.keys().find(|k| {
        !matches!(
            k.as_str(),
            "value" | "expanded_uncertainty" | "k" | "method_notes"
        )
    }) {
        return Err(invalid_field(
            k,
            format!("未知字段 {k}。"),
            format!("Unknown field {k}."),
        ));
    }
    let method_notes = match obj.get("method_notes") {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(invalid_field(
                "method_notes",
                "method_notes 必须是文本。".into(),
                "method_notes must be text.".into(),
            ));
        }
    };
    Ok(ResultSubmit {
        value: number(v, "value")?,
        expanded_uncertainty: number(v, "expanded_uncertainty")?,
        k: number(v, "k")?,
        method_notes,
    })
}

/// The submitting lab: `lab_id` must be the caller's own lab (its
/// technicians and experts), invited to the round.
fn require_submitter(l: &Loaded, p: &Principal, lab: Uuid) -> AppResult<()> {
    if !authz::round_participant(p, lab) {
        return Err(AppError::ForbiddenBecause(Text::new(
            "只有该实验室的人员可以提交其结果。",
            "Only the lab's own people can submit its result.",
        )));
    }
    if !l.labs.iter().any(|x| x.lab_id == lab) {
        return Err(r::refused(Refused::NotInvited, l.round.deadline));
    }
    Ok(())
}

/// Submit or correct the lab's result (value, U, k in the round's unit),
/// until the deadline and while the round is open.
#[utoipa::path(put, path = "/api/v1/rounds/{id}/results/{lab_id}", tag = "rounds",
    params(("id" = Uuid, Path), ("lab_id" = Uuid, Path)), request_body = ResultSubmit, responses(
    (status = 200, body = RoundView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "The deadline has passed, or the round is closed"),
    (status = 422, body = ErrorBody, description = "A number missing or out of range (U > 0, k > 0), the lab not invited")))]
async fn put_result(
    State(state): State<AppState>,
    p: Principal,
    AppPath((id, lab)): AppPath<(Uuid, Uuid)>,
    AppJson(body): AppJson<serde_json::Value>,
) -> AppResult<axum::Json<RoundView>> {
    let (l, _) = r::load(&state.store, &p, id).await?;
    require_submitter(&l, &p, lab)?;
    let req = parse_result(&body)?;
    r::submit(&state.store, &l, lab, &req, p.user.id, now()).await?;
    tracing::info!(round = %id, lab = %lab, by = %p.user.id, "round result stored");
    view_of(&state, &p, id).await
}

/// Attach a file to the lab's result (PDF, PNG, JPEG, text or CSV, at most
/// 256 KiB, 5 per lab), under the same rules as the result.
#[utoipa::path(post, path = "/api/v1/rounds/{id}/results/{lab_id}/attachments", tag = "rounds",
    params(("id" = Uuid, Path), ("lab_id" = Uuid, Path)), request_body = AttachmentUpload, responses(
    (status = 201, body = AttachmentInfo), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "Unsupported type, too large, not base64, too many")))]
async fn add_attachment(
    State(state): State<AppState>,
    p: Principal,
    AppPath((id, lab)): AppPath<(Uuid, Uuid)>,
    AppJson(req): AppJson<AttachmentUpload>,
) -> AppResult<(StatusCode, axum::Json<AttachmentInfo>)> {
    let (l, _) = r::load(&state.store, &p, id).await?;
    require_submitter(&l, &p, lab)?;
    let name = req.name.trim();
    if name.is_empty()
        || name.chars().count() > 200
        || name.contains(['/', '\\'])
        || name.chars().any(char::is_control)
    {
        return Err(invalid_field(
            "name",
            "name：请给出文件名（不含路径，最长 200 个字符）。".into(),
            "name: give a file name (no path, at most 200 characters).".into(),
        ));
    }
    let content_type = req.content_type.trim().to_ascii_lowercase();
    if !rounds::ATTACHMENT_TYPES.contains(&content_type.as_str()) {
        return Err(invalid_field(
            "content_type",
            format!(
                "content_type：不支持“{content_type}”，可用 {}。",
                rounds::ATTACHMENT_TYPES.join("、")
            ),
            format!(
                "content_type: \"{content_type}\" is not supported; use one of {}.",
                rounds::ATTACHMENT_TYPES.join(", ")
            ),
        ));
    }
    let Some(data) = r::decode_base64(&req.data_base64) else {
        return Err(invalid_field(
            "data_base64",
            "data_base64 不是有效的 base64。".into(),
            "data_base64 is not valid base64.".into(),
        ));
    };
    if data.is_empty() || data.len() > rounds::MAX_ATTACHMENT_BYTES {
        return Err(invalid_field(
            "data_base64",
            format!(
                "附件大小应在 1 字节到 {} KiB 之间，收到 {} 字节。",
                rounds::MAX_ATTACHMENT_BYTES / 1024,
                data.len()
            ),
            format!(
                "An attachment must be 1 byte to {} KiB, got {} bytes.",
                rounds::MAX_ATTACHMENT_BYTES / 1024,
                data.len()
            ),
        ));
    }
    let att = Uuid::now_v7();
    let at = now();
    state
        .store
        .add_round_attachment(
            att,
            id,
            lab,
            name,
            &content_type,
            &data,
            p.user.id,
            at,
            i64::try_from(rounds::MAX_ATTACHMENTS).unwrap_or(5),
        )
        .await?
        .map_err(|e| r::refused(e, l.round.deadline))?;
    Ok((
        StatusCode::CREATED,
        axum::Json(AttachmentInfo {
            id: att,
            name: name.to_owned(),
            content_type,
            size: u64::try_from(data.len()).unwrap_or(0),
            uploaded_at: at,
        }),
    ))
}

/// An attachment's content: for the round's coordinators and the lab that
/// attached it.
#[utoipa::path(get, path = "/api/v1/rounds/{id}/attachments/{attachment_id}", tag = "rounds",
    params(("id" = Uuid, Path), ("attachment_id" = Uuid, Path)), responses(
    (status = 200, description = "The file"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_attachment(
    State(state): State<AppState>,
    p: Principal,
    AppPath((id, att)): AppPath<(Uuid, Uuid)>,
) -> AppResult<Response> {
    let (_, rel) = r::load(&state.store, &p, id).await?;
    let not_found = || AppError::not_found("找不到该附件。", "No such attachment.");
    let a = state
        .store
        .round_attachment(id, att)
        .await?
        .ok_or_else(not_found)?;
    if let Relation::Participant { lab_id } = rel
        && lab_id != a.lab_id
    {
        return Err(not_found());
    }
    let ascii: String = a
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, a.content_type),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{ascii}\""),
            ),
        ],
        a.data,
    )
        .into_response())
}

/// Close the round: no more results. The coordinator may close before the
/// deadline.
#[utoipa::path(post, path = "/api/v1/rounds/{id}/close", tag = "rounds", params(("id" = Uuid, Path)), responses(
    (status = 200, body = RoundView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "Already closed or published")))]
async fn close_round(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<axum::Json<RoundView>> {
    let (l, _) = r::load(&state.store, &p, id).await?;
    l.require_manage(&p)?;
    state
        .store
        .close_round(id, p.user.id, now())
        .await?
        .map_err(|e| r::refused(e, l.round.deadline))?;
    tracing::info!(round = %id, by = %p.user.id, "round closed");
    view_of(&state, &p, id).await
}

/// Leave a lab out of the reference value, with the reason on record (the
/// lab still gets its degree of equivalence); while the round is closed.
#[utoipa::path(put, path = "/api/v1/rounds/{id}/labs/{lab_id}/exclusion", tag = "rounds",
    params(("id" = Uuid, Path), ("lab_id" = Uuid, Path)), request_body = ExclusionBody, responses(
    (status = 200, body = RoundView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "The round is open or published"),
    (status = 422, body = ErrorBody, description = "No reason, or the lab not invited")))]
async fn exclude_lab(
    State(state): State<AppState>,
    p: Principal,
    AppPath((id, lab)): AppPath<(Uuid, Uuid)>,
    AppJson(req): AppJson<ExclusionBody>,
) -> AppResult<axum::Json<RoundView>> {
    let (l, _) = r::load(&state.store, &p, id).await?;
    l.require_manage(&p)?;
    if l.method == jiliang_metrology::interlab::MethodName::Assigned {
        return Err(invalid_field(
            "lab_id",
            "本比对使用指定值，参考值不由实验室结果计算，因此不能排除实验室。".into(),
            "This round uses an assigned value, which is not computed from the labs' results, so no lab can be excluded from it.".into(),
        ));
    }
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > rounds::MAX_NOTES {
        return Err(invalid_field(
            "reason",
            "reason：请写明排除的理由。".into(),
            "reason: say why the lab is excluded.".into(),
        ));
    }
    state
        .store
        .set_round_exclusion(id, lab, Some(reason), p.user.id)
        .await?
        .map_err(|e| r::refused(e, l.round.deadline))?;
    view_of(&state, &p, id).await
}

/// Include an excluded lab in the reference value again (while closed).
#[utoipa::path(delete, path = "/api/v1/rounds/{id}/labs/{lab_id}/exclusion", tag = "rounds",
    params(("id" = Uuid, Path), ("lab_id" = Uuid, Path)), responses(
    (status = 200, body = RoundView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn include_lab(
    State(state): State<AppState>,
    p: Principal,
    AppPath((id, lab)): AppPath<(Uuid, Uuid)>,
) -> AppResult<axum::Json<RoundView>> {
    let (l, _) = r::load(&state.store, &p, id).await?;
    l.require_manage(&p)?;
    state
        .store
        .set_round_exclusion(id, lab, None, p.user.id)
        .await?
        .map_err(|e| r::refused(e, l.round.deadline))?;
    view_of(&state, &p, id).await
}

/// The report: the JSON `jiliang compare --format json` prints for the same
/// results and options. Labs are named for coordinators; a participant
/// sees its own lab named and the others by code until the report is
/// published with names.
#[utoipa::path(get, path = "/api/v1/rounds/{id}/report", tag = "rounds", params(("id" = Uuid, Path)), responses(
    (status = 200, description = "The `jiliang compare --format json` document"),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "A participant before the report is released"),
    (status = 422, body = ErrorBody, description = "No reference value: too few labs for the method, or no results; the message says why")))]
async fn get_report(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<axum::Json<jiliang_metrology::interlab::CompareReport>> {
    let (l, rel) = r::load(&state.store, &p, id).await?;
    Ok(axum::Json(l.report(rel)?))
}

/// The report as CSV (one row per lab, full precision).
#[utoipa::path(get, path = "/api/v1/rounds/{id}/report.csv", tag = "rounds", params(("id" = Uuid, Path)), responses(
    (status = 200, content_type = "text/csv", body = String), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn get_report_csv(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<Response> {
    let (l, rel) = r::load(&state.store, &p, id).await?;
    let report = l.report(rel)?;
    let body = rounds::report_csv(&report);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"jiliang-round-{id}.csv\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// Publish a closed round: its report becomes a `round_report` ledger
/// record (`GET /api/v1/ledger/records/round_report/{id}`), with the labs'
/// names (default) or their codes only, and is issued as a numbered report
/// signed by the publishing expert (`report_number`: its PDF and DCC under
/// `/api/v1/certificates/{number}/`, verifiable at `/verify/{number}`).
#[utoipa::path(post, path = "/api/v1/rounds/{id}/publish", tag = "rounds", params(("id" = Uuid, Path)),
    request_body = PublishBody, responses(
    (status = 200, body = RoundView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "The round is open, already published, or has no reference value")))]
async fn publish_round(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> AppResult<axum::Json<RoundView>> {
    // The extractor's own rejection is plain text: answer in the app's shape.
    let body = body.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge
        } else {
            AppError::MalformedJson(e.body_text())
        }
    })?;
    let (l, _) = r::load(&state.store, &p, id).await?;
    l.require_manage(&p)?;
    // The body is optional: none (or `{}`) publishes with names.
    let req: PublishBody = if body.iter().all(u8::is_ascii_whitespace) {
        PublishBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| AppError::MalformedJson(e.to_string()))?
    };
    let names = req.names.unwrap_or(true);
    let index = r::publish(&state.store, &l, &author(&p), names, now()).await?;
    tracing::info!(round = %id, by = %p.user.id, index, "round published");
    // The publishing expert signs the report: it gets its number, PDF,
    // DCC and public verification page now. The round stays published if
    // this fails (it is logged); `POST /api/v1/certificates` with
    // `round_report` issues it then.
    let issued = async {
        let src = crate::certificates::source::from_round(&state.store, id).await?;
        crate::http::certificates::issue_for(&state, &p, &src, None).await
    }
    .await;
    if let Err(e) = issued {
        tracing::error!(round = %id, error = ?e, "issuing the published round's report failed");
    }
    view_of(&state, &p, id).await
}
