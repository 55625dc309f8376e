//! Live comparison of a unit under test against a reference standard in a
//! session (issue 10, item 3): what the routes in `http::comparison` do.
//!
//! The comparison lives in the room log (`comparison_setup`,
//! `comparison_point`, the devices' `readings`); its state is always the
//! fold of that log by `jiliang_protocol::comparison::ComparisonLog` — the
//! same code the browser runs live — so the stored result is what the
//! people in the room saw. Finishing stores the fold as a `raw_record`
//! ledger record (原始记录, [`record`]) with its `comparisons` row, then
//! appends `comparison_finished`.
//!
//! Known window: a crash between storing the record and appending the
//! event leaves the record stored (listed in the session's export, proof
//! verifies) and the log without `comparison_finished`; finishing again
//! answers 409, since the record exists.

pub mod csv;
pub mod record;

use jiliang_metrology::calibration::{CalibrationSpec, RefCertificate};
use jiliang_metrology::ucum;
use jiliang_protocol::comparison::{ComparisonLog, ComparisonSetup, ComparisonSpec};
use jiliang_protocol::rooms::{Author, EventBody, RoomEvent};
use jiliang_protocol::sessions::SessionState;
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::i18n::Text;
use crate::rooms::log::{Append, AppendError, Appended};
use crate::state::AppState;
use crate::store::devices::StoredDevice;

/// Events read per query while folding a session's log.
const PAGE: i64 = 1000;

/// The session's comparison, folded from its whole log.
pub async fn load(state: &AppState, session: Uuid) -> AppResult<ComparisonLog> {
    let mut log = ComparisonLog::new();
    let mut after = 0;
    loop {
        let events = state.store.read_events(session, after, PAGE).await?;
        let Some(last) = events.last() else { break };
        after = last.seq;
        for e in &events {
            log.apply(e);
        }
        if events.len() < usize::try_from(PAGE).unwrap_or(0) {
            break;
        }
    }
    Ok(log)
}

fn invalid(zh: String, en: String) -> AppError {
    AppError::Invalid {
        message: Text::owned(zh, en),
        details: Vec::new(),
    }
}

/// The session must be live for the comparison to change.
pub fn require_live(state: SessionState) -> AppResult<()> {
    if state == SessionState::Live {
        return Ok(());
    }
    Err(AppError::Conflict(Text::owned(
        format!("会话当前为“{}”，只有进行中的会话可以比对。", state.as_str()),
        format!(
            "The session is {}; a comparison runs only in a live session.",
            state.as_str()
        ),
    )))
}

async fn attached_device(
    state: &AppState,
    session: Uuid,
    id: Uuid,
    field: &str,
) -> AppResult<StoredDevice> {
    let d = match state.store.get_device(id).await {
        Ok(d) => d,
        Err(sqlx::Error::RowNotFound) => {
            return Err(invalid(
                format!("{field}：找不到该设备。"),
                format!("{field}: no such device."),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if d.device.session_id != Some(session) {
        return Err(invalid(
            format!("{field}：设备“{}”未接入本会话。", d.device.name),
            format!(
                "{field}: the device \"{}\" is not attached to this session.",
                d.device.name
            ),
        ));
    }
    Ok(d)
}

fn unit_factor(from: &str, to: &str) -> Option<f64> {
    let (Ok(f), Ok(t)) = (ucum::parse(from), ucum::parse(to)) else {
        return None;
    };
    ucum::scale_factor(&f, &t)
}

/// Resolve a setup request into the spec the log carries: both devices
/// attached to the session, the same quantity, compatible units; the
/// reference certificate and the resolution from the request or from the
/// devices' registrations; every number checked by the metrology crate.
pub async fn resolve(
    state: &AppState,
    session: Uuid,
    req: &ComparisonSetup,
) -> AppResult<ComparisonSpec> {
    if req.uut_device_id == req.ref_device_id {
        return Err(invalid(
            "被检设备和参考设备必须是两台不同的设备。".into(),
            "The unit under test and the reference must be two different devices.".into(),
        ));
    }
    let uut = attached_device(state, session, req.uut_device_id, "uut_device_id").await?;
    let reference = attached_device(state, session, req.ref_device_id, "ref_device_id").await?;
    let (u, r) = (&uut.device, &reference.device);
    if u.quantity.trim().to_lowercase() != r.quantity.trim().to_lowercase() {
        return Err(invalid(
            format!(
                "两台设备测量的量不同（“{}”与“{}”）。",
                u.quantity, r.quantity
            ),
            format!(
                "The devices measure different quantities (\"{}\" and \"{}\").",
                u.quantity, r.quantity
            ),
        ));
    }
    let Some(ref_factor) = unit_factor(&r.unit, &u.unit) else {
        return Err(invalid(
            format!(
                "单位不兼容：参考设备为 {}，被检设备为 {}（只能相差词头）。",
                r.unit, u.unit
            ),
            format!(
                "Incompatible units: the reference reads {}, the unit under test {} (they may differ only by a prefix).",
                r.unit, u.unit
            ),
        ));
    };
    let certificate = match (req.ref_expanded_uncertainty, req.ref_k) {
        (Some(expanded), Some(k)) => RefCertificate { expanded, k },
        (None, None) => {
            let Some(cert) = &r.reference else {
                return Err(invalid(
                    "参考设备没有登记证书：请给出 ref_expanded_uncertainty 和 ref_k。".into(),
                    "The reference device has no registered certificate: give ref_expanded_uncertainty and ref_k.".into(),
                ));
            };
            let cert_unit = cert.unit.as_deref().unwrap_or(&r.unit);
            let Some(f) = unit_factor(cert_unit, &u.unit) else {
                return Err(invalid(
                    format!(
                        "参考证书的单位 {cert_unit} 与被检设备的单位 {} 不兼容。",
                        u.unit
                    ),
                    format!(
                        "The certificate's unit {cert_unit} is incompatible with the unit under test's {}.",
                        u.unit
                    ),
                ));
            };
            RefCertificate {
                expanded: cert.expanded_uncertainty * f,
                k: cert.k,
            }
        }
        _ => {
            return Err(invalid(
                "ref_expanded_uncertainty 和 ref_k 必须同时给出。".into(),
                "ref_expanded_uncertainty and ref_k go together: give both or neither.".into(),
            ));
        }
    };
    let calibration = CalibrationSpec {
        unit: u.unit.clone(),
        ref_factor,
        points: req.points.clone(),
        readings_per_point: req.readings_per_point,
        mpe: req.mpe,
        ref_certificate: certificate,
        resolution: req.resolution.or(u.resolution).unwrap_or(0.0),
        coverage: req.coverage.unwrap_or_default(),
        dof_rounding: req.dof_rounding.unwrap_or_default(),
        conformity: req.conformity.unwrap_or_default(),
        en_rule: req.en_rule.unwrap_or_default(),
    };
    if let Err(e) = calibration.validate() {
        return Err(invalid(
            format!("比对设置无效：{e}"),
            format!("Invalid comparison settings: {e}"),
        ));
    }
    Ok(ComparisonSpec {
        uut_device_id: u.id,
        uut_name: u.name.clone(),
        uut_unit: u.unit.clone(),
        ref_device_id: r.id,
        ref_name: r.name.clone(),
        ref_unit: r.unit.clone(),
        calibration,
    })
}

/// Append a comparison event by `author`; the session must still be live.
pub async fn append(
    state: &AppState,
    session: Uuid,
    author: Author,
    body: EventBody,
) -> AppResult<RoomEvent> {
    let appended = state
        .log
        .append(Append {
            session,
            author: Some(author),
            client_id: None,
            body,
        })
        .await;
    match appended {
        Ok(Appended::New(e) | Appended::Duplicate(e)) => Ok((*e).clone()),
        Err(AppendError::Ended) => Err(AppError::Conflict(Text::new(
            "会话已结束。",
            "The session has ended.",
        ))),
        Err(AppendError::NoSession) => {
            Err(AppError::not_found("找不到该会话。", "No such session."))
        }
        Err(AppendError::Database(e)) => Err(e.into()),
        Err(e) => Err(AppError::internal(e)),
    }
}
