//! Devices (instruments) of a lab: register, list, read, change, issue and
//! revoke the agent token, read the readings page by page, type readings
//! in, and attach a device to a session.
//!
//! Who may do what is `crate::authz` (`view_devices_of`, `manage_device`,
//! `manage_device_token`); the table for people is docs/AUTHORIZATION.md.

use axum::extract::State;
use axum::http::StatusCode;
use jiliang_metrology::ucum;
use jiliang_protocol::ErrorBody;
use jiliang_protocol::devices::{
    AttachDevice, Device, DeviceCreated, DeviceListParams, DeviceToken, MAX_UNIT_CHARS,
    ManualReadings, ManualStored, NewDevice, ReadingsPage, ReadingsParams, ReferenceCert,
    UpdateDevice,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Principal;
use crate::auth::token::{hash_token, random_token};
use crate::authz::{self, Access, PeopleScope};
use crate::error::{AppError, AppJson, AppPath, AppQuery, AppResult};
use crate::http::institutions::checked;
use crate::http::sessions::{Relation, bounded, visible};
use crate::i18n::Text;
use crate::state::AppState;
use crate::store::devices::{
    Attach, DeviceQuery, DeviceScope, DeviceUpdate, NewDeviceRow, StoredDevice, Updated,
};
use crate::validate::Problems;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_devices, create_device))
        .routes(routes!(get_device, update_device))
        .routes(routes!(issue_token, revoke_token))
        .routes(routes!(list_readings, enter_readings))
        .routes(routes!(session_devices, attach_device))
        .routes(routes!(detach_device))
}

fn device_not_found() -> Text {
    Text::new("找不到该设备。", "No such device.")
}

/// Load a device and apply `rule` to its lab; unknown ids are 404.
pub async fn device_checked(
    state: &AppState,
    id: Uuid,
    rule: impl Fn(&str) -> Access,
) -> AppResult<StoredDevice> {
    let d = match state.store.get_device(id).await {
        Ok(d) => d,
        Err(sqlx::Error::RowNotFound) => return Err(AppError::NotFound(device_not_found())),
        Err(e) => return Err(e.into()),
    };
    rule(&d.lab_path).require(device_not_found())?;
    Ok(d)
}

fn text_field(
    problems: &mut Problems,
    field: &str,
    zh: &str,
    en: &str,
    raw: &str,
) -> Option<String> {
    problems.take(field, bounded(zh, en, raw, 1, 120))
}

/// A UCUM code as a device's unit.
fn unit_field(raw: &str) -> Result<String, Text> {
    if raw.chars().count() > MAX_UNIT_CHARS {
        return Err(Text::owned(
            format!("单位代码不能超过 {MAX_UNIT_CHARS} 个字符。"),
            format!("The unit code must be at most {MAX_UNIT_CHARS} characters."),
        ));
    }
    ucum::validate(raw).map_err(|e| {
        Text::owned(
            format!("单位应为 UCUM 代码（如 V、kPa、Cel）：{e}"),
            format!("The unit must be a UCUM code (V, kPa, Cel, …): {e}"),
        )
    })?;
    Ok(raw.to_owned())
}

fn resolution_field(r: f64) -> Result<f64, Text> {
    if r.is_finite() && r > 0.0 {
        Ok(r)
    } else {
        Err(Text::new(
            "分辨力应为正数。",
            "The resolution must be a positive number.",
        ))
    }
}

/// A reference standard's certificate, for a device measuring in `unit`.
fn reference_field(
    problems: &mut Problems,
    c: &ReferenceCert,
    unit: &str,
) -> Option<ReferenceCert> {
    let number = problems.take(
        "reference.certificate_no",
        bounded(
            "证书编号",
            "The certificate number",
            &c.certificate_no,
            1,
            64,
        ),
    );
    let issuer = match &c.issuer {
        Some(i) => problems
            .take(
                "reference.issuer",
                bounded("发证机构", "The issuer", i, 1, 120),
            )
            .map(Some),
        None => Some(None),
    };
    if !(c.expanded_uncertainty.is_finite() && c.expanded_uncertainty > 0.0) {
        problems.add(
            "reference.expanded_uncertainty",
            Text::new(
                "扩展不确定度 U 应为正数。",
                "The expanded uncertainty U must be a positive number.",
            ),
        );
    }
    if !(c.k.is_finite() && c.k > 0.0 && c.k <= 10.0) {
        problems.add(
            "reference.k",
            Text::new(
                "包含因子 k 应在 0–10 之间（通常为 2）。",
                "The coverage factor k must lie in (0, 10] (usually 2).",
            ),
        );
    }
    if let Some(u) = &c.unit {
        match (ucum::parse(u), ucum::parse(unit)) {
            (Ok(cert), Ok(dev)) if cert.dimension() == dev.dimension() => {}
            (Ok(_), Ok(_)) => problems.add(
                "reference.unit",
                Text::owned(
                    format!("证书不确定度的单位 {u} 与设备单位 {unit} 量纲不同。"),
                    format!("The certificate's unit {u} does not measure what {unit} measures."),
                ),
            ),
            (Err(e), _) => problems.add(
                "reference.unit",
                Text::owned(
                    format!("证书单位应为 UCUM 代码：{e}"),
                    format!("The certificate's unit must be a UCUM code: {e}"),
                ),
            ),
            // The device's own unit is reported on its own field.
            (Ok(_), Err(_)) => {}
        }
    }
    Some(ReferenceCert {
        certificate_no: number?,
        issuer: issuer?,
        expanded_uncertainty: c.expanded_uncertainty,
        k: c.k,
        unit: c.unit.clone(),
        valid_until: c.valid_until,
    })
}

/// Devices the caller may see (admins and experts: their subtree;
/// technicians: their lab), by lab and name.
#[utoipa::path(get, path = "/api/v1/devices", tag = "devices", params(DeviceListParams), responses(
    (status = 200, body = Vec<Device>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody)))]
async fn list_devices(
    State(state): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<DeviceListParams>,
) -> AppResult<axum::Json<Vec<Device>>> {
    let limit = q.limit.unwrap_or(200);
    if !(1..=500).contains(&limit) {
        return Err(AppError::invalid(
            "limit 应在 1–500 之间。",
            "limit must be 1–500.",
        ));
    }
    let scope = match authz::device_scope(&p) {
        Some(PeopleScope::Subtree(path)) => DeviceScope::Subtree(path),
        Some(PeopleScope::Institution(id)) => DeviceScope::Lab(id),
        None => return Err(AppError::Forbidden),
    };
    if let Some(lab) = q.lab_id {
        checked(&state, lab, |path| authz::view_devices_of(&p, path)).await?;
    }
    let list = state
        .store
        .list_devices(&DeviceQuery {
            scope,
            lab_id: q.lab_id,
            limit,
        })
        .await?;
    Ok(axum::Json(list.into_iter().map(|d| d.device).collect()))
}

/// Register a device at a lab (its technicians and experts, admins above
/// it). The answer carries the agent token, shown only here.
#[utoipa::path(post, path = "/api/v1/devices", tag = "devices", request_body = NewDevice, responses(
    (status = 201, body = DeviceCreated), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 422, body = ErrorBody)))]
async fn create_device(
    State(state): State<AppState>,
    p: Principal,
    AppJson(req): AppJson<NewDevice>,
) -> AppResult<(StatusCode, axum::Json<DeviceCreated>)> {
    let lab = checked(&state, req.lab_id, |path| authz::manage_device(&p, path)).await?;
    let mut problems = Problems::new();
    if !state.store.in_service(&lab.path).await? {
        problems.add(
            "lab_id",
            Text::new(
                "该实验室已停用，不能登记设备。",
                "The lab is deactivated and takes no new devices.",
            ),
        );
    }
    let name = text_field(&mut problems, "name", "名称", "The name", &req.name);
    let kind = text_field(&mut problems, "kind", "设备类型", "The kind", &req.kind);
    let quantity = text_field(
        &mut problems,
        "quantity",
        "被测量",
        "The quantity",
        &req.quantity,
    );
    let unit = problems.take("unit", unit_field(&req.unit));
    let resolution = match req.resolution {
        Some(r) => problems.take("resolution", resolution_field(r)).map(Some),
        None => Some(None),
    };
    let reference = match &req.reference {
        Some(c) => reference_field(&mut problems, c, &req.unit).map(Some),
        None => Some(None),
    };
    problems.into_result()?;
    let (Some(name), Some(kind), Some(quantity), Some(unit), Some(resolution), Some(reference)) =
        (name, kind, quantity, unit, resolution, reference)
    else {
        return Err(AppError::internal("validated fields missing"));
    };
    let token = random_token();
    let stored = state
        .store
        .insert_device(&NewDeviceRow {
            lab_id: lab.institution.id,
            name,
            kind,
            quantity,
            unit,
            resolution,
            reference,
            token_hash: hash_token(&token),
            created_by: p.user.id,
        })
        .await?;
    tracing::info!(device = %stored.device.id, lab = %lab.institution.id, by = %p.user.id, "device registered");
    Ok((
        StatusCode::CREATED,
        axum::Json(DeviceCreated {
            device: stored.device,
            token,
        }),
    ))
}

/// One device.
#[utoipa::path(get, path = "/api/v1/devices/{id}", tag = "devices", params(("id" = Uuid, Path)), responses(
    (status = 200, body = Device), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_device(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<axum::Json<Device>> {
    let d = device_checked(&state, id, |path| authz::view_devices_of(&p, path)).await?;
    Ok(axum::Json(d.device))
}

/// Change a device's name, kind, quantity, resolution, certificate, or —
/// while it has no readings and no agent has connected — its unit.
#[utoipa::path(patch, path = "/api/v1/devices/{id}", tag = "devices", params(("id" = Uuid, Path)),
    request_body = UpdateDevice, responses(
    (status = 200, body = Device), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "The unit cannot change any more"),
    (status = 422, body = ErrorBody)))]
async fn update_device(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<UpdateDevice>,
) -> AppResult<axum::Json<Device>> {
    let d = device_checked(&state, id, |path| authz::manage_device(&p, path)).await?;
    let mut problems = Problems::new();
    let mut u = DeviceUpdate::default();
    if let Some(n) = &req.name {
        u.name = text_field(&mut problems, "name", "名称", "The name", n);
    }
    if let Some(k) = &req.kind {
        u.kind = text_field(&mut problems, "kind", "设备类型", "The kind", k);
    }
    if let Some(q) = &req.quantity {
        u.quantity = text_field(&mut problems, "quantity", "被测量", "The quantity", q);
    }
    if let Some(unit) = &req.unit {
        u.unit = problems.take("unit", unit_field(unit));
    }
    let unit = req.unit.as_deref().unwrap_or(&d.device.unit);
    match req.resolution {
        Some(Some(r)) => u.resolution = problems.take("resolution", resolution_field(r)).map(Some),
        Some(None) => u.resolution = Some(None),
        None => {}
    }
    match &req.reference {
        Some(Some(c)) => u.reference = reference_field(&mut problems, c, unit).map(Some),
        Some(None) => u.reference = Some(None),
        None => {
            // A certificate whose unit no longer fits a new device unit.
            if let (Some(_), Some(c)) = (&req.unit, &d.device.reference) {
                reference_field(&mut problems, c, unit);
            }
        }
    }
    problems.into_result()?;
    match state.store.update_device(id, &u).await? {
        Updated::Done(d) => Ok(axum::Json(d.device)),
        Updated::UnitLocked => Err(AppError::Conflict(Text::new(
            "设备已有读数或已连接过采集代理，不能再改单位；请登记一台新设备。",
            "The device has readings or an agent has connected: its unit cannot change. Register a new device instead.",
        ))),
    }
}

/// Issue a new agent token (lab administrators and those above). The old
/// token stops working at once and its agents are disconnected; the new
/// one is shown only here.
#[utoipa::path(post, path = "/api/v1/devices/{id}/token", tag = "devices", params(("id" = Uuid, Path)), responses(
    (status = 201, body = DeviceToken), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn issue_token(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<(StatusCode, axum::Json<DeviceToken>)> {
    device_checked(&state, id, |path| authz::manage_device_token(&p, path)).await?;
    let token = random_token();
    if !state
        .store
        .set_device_token(id, &hash_token(&token))
        .await?
    {
        return Err(AppError::NotFound(device_not_found()));
    }
    state.device_links.revoke(id);
    tracing::info!(device = %id, by = %p.user.id, "device token replaced");
    Ok((
        StatusCode::CREATED,
        axum::Json(DeviceToken {
            device_id: id,
            token,
        }),
    ))
}

/// Revoke the agent token (lab administrators and those above): its
/// agents are disconnected (close code 4002) and refused until a new token
/// is issued.
#[utoipa::path(delete, path = "/api/v1/devices/{id}/token", tag = "devices", params(("id" = Uuid, Path)), responses(
    (status = 200, body = Device), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke_token(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<axum::Json<Device>> {
    device_checked(&state, id, |path| authz::manage_device_token(&p, path)).await?;
    if !state.store.revoke_device_token(id).await? {
        return Err(AppError::NotFound(device_not_found()));
    }
    state.device_links.revoke(id);
    tracing::info!(device = %id, by = %p.user.id, "device token revoked");
    Ok(axum::Json(state.store.get_device(id).await?.device))
}

/// A device's readings in `seq` order, page by page: ask again with
/// `after=next_after` until `next_after` is null.
#[utoipa::path(get, path = "/api/v1/devices/{id}/readings", tag = "devices",
    params(("id" = Uuid, Path), ReadingsParams), responses(
    (status = 200, body = ReadingsPage), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 422, body = ErrorBody)))]
async fn list_readings(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
    AppQuery(q): AppQuery<ReadingsParams>,
) -> AppResult<axum::Json<ReadingsPage>> {
    let limit = q.limit.unwrap_or(500);
    if !(1..=1000).contains(&limit) {
        return Err(AppError::invalid(
            "limit 应在 1–1000 之间。",
            "limit must be 1–1000.",
        ));
    }
    let d = device_checked(&state, id, |path| authz::view_devices_of(&p, path)).await?;
    let items = state
        .store
        .device_readings(id, &d.device.unit, q.after.unwrap_or(0), limit)
        .await?;
    let next_after = (items.len() == usize::try_from(limit).unwrap_or(0))
        .then(|| items.last().map(|r| r.seq))
        .flatten();
    Ok(axum::Json(ReadingsPage { items, next_after }))
}

/// Type readings in for a device with no interface (its lab's technicians
/// and experts, admins above it). Numbered after the device's last
/// reading; the client's `key` makes a resend store nothing (200 with what
/// was stored the first time).
#[utoipa::path(post, path = "/api/v1/devices/{id}/readings", tag = "devices", params(("id" = Uuid, Path)),
    request_body = ManualReadings, responses(
    (status = 201, body = ManualStored), (status = 200, body = ManualStored, description = "The key was stored before"),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "The device's readings come from an agent"),
    (status = 422, body = ErrorBody)))]
async fn enter_readings(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<ManualReadings>,
) -> AppResult<(StatusCode, axum::Json<ManualStored>)> {
    let d = device_checked(&state, id, |path| authz::manage_device(&p, path)).await?;
    let stored =
        crate::devices::ingest::manual_entry(&state, &d.device, p.user.id, &req.key, &req.readings)
            .await?;
    let status = if stored.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(stored)))
}

/// Devices attached to a session (whoever may see the session).
#[utoipa::path(get, path = "/api/v1/sessions/{id}/devices", tag = "devices", params(("id" = Uuid, Path)), responses(
    (status = 200, body = Vec<Device>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn session_devices(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
) -> AppResult<axum::Json<Vec<Device>>> {
    visible(&state, &p, id).await?;
    let list = state.store.session_devices(id).await?;
    Ok(axum::Json(list.into_iter().map(|d| d.device).collect()))
}

/// Check that `p` may attach or detach device `device_id` to or from
/// session `id`: they take part in the session, may see the device, and the
/// device belongs to one of the session's labs or to the host's institution.
async fn attachable(
    state: &AppState,
    p: &Principal,
    id: Uuid,
    device_id: Uuid,
) -> AppResult<(crate::store::rooms::StoredSession, StoredDevice)> {
    let (session, rel) = visible(state, p, id).await?;
    if rel != Relation::Member {
        return Err(AppError::ForbiddenBecause(Text::new(
            "只有参加会话的人员可以接入设备。",
            "Only people taking part in the session may attach devices to it.",
        )));
    }
    let d = device_checked(state, device_id, |path| authz::view_devices_of(p, path)).await?;
    let of_session = session.info.labs.iter().any(|l| l.id == d.device.lab_id)
        || d.lab_path == session.host_institution_path;
    if !of_session {
        return Err(AppError::ForbiddenBecause(Text::new(
            "该设备不属于本会话的实验室或主持人所在机构。",
            "The device belongs to neither a lab of this session nor the host's institution.",
        )));
    }
    Ok((session, d))
}

/// Attach a device to a session: its readings enter the room's log while
/// the session is live. People taking part who may see the device; the
/// device must belong to one of the session's labs or the host's
/// institution, and not be attached to another session that has not ended.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/devices", tag = "devices", params(("id" = Uuid, Path)),
    request_body = AttachDevice, responses(
    (status = 200, body = Device), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 409, body = ErrorBody, description = "The session has ended, or the device is attached to another session")))]
async fn attach_device(
    State(state): State<AppState>,
    p: Principal,
    AppPath(id): AppPath<Uuid>,
    AppJson(req): AppJson<AttachDevice>,
) -> AppResult<axum::Json<Device>> {
    let (session, _) = attachable(&state, &p, id, req.device_id).await?;
    if session.info.state == jiliang_protocol::sessions::SessionState::Ended {
        return Err(AppError::Conflict(Text::new(
            "会话已结束。",
            "The session has ended.",
        )));
    }
    match state
        .store
        .attach_device(req.device_id, id, p.user.id)
        .await?
    {
        Attach::Attached => {}
        Attach::Elsewhere(other) => {
            return Err(AppError::Conflict(Text::owned(
                format!("该设备已接入另一个会话（{other}），请先从那里移除。"),
                format!(
                    "The device is attached to another session ({other}); detach it there first."
                ),
            )));
        }
    }
    tracing::info!(device = %req.device_id, session = %id, by = %p.user.id, "device attached");
    Ok(axum::Json(
        state.store.get_device(req.device_id).await?.device,
    ))
}

/// Detach a device from a session (as attaching).
#[utoipa::path(delete, path = "/api/v1/sessions/{id}/devices/{device_id}", tag = "devices",
    params(("id" = Uuid, Path), ("device_id" = Uuid, Path)), responses(
    (status = 200, body = Device), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn detach_device(
    State(state): State<AppState>,
    p: Principal,
    AppPath((id, device_id)): AppPath<(Uuid, Uuid)>,
) -> AppResult<axum::Json<Device>> {
    attachable(&state, &p, id, device_id).await?;
    if !state.store.detach_device(device_id, id).await? {
        return Err(AppError::not_found(
            "该设备未接入此会话。",
            "The device is not attached to this session.",
        ));
    }
    tracing::info!(device = %device_id, session = %id, by = %p.user.id, "device detached");
    Ok(axum::Json(state.store.get_device(device_id).await?.device))
}
