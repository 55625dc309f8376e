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

use jiliang_ledger::RecordKind;
use jiliang_metrology::calibration::{CalibrationSpec, RefCertificate};
use jiliang_metrology::conformity::Verdict;
use jiliang_metrology::ucum;
use jiliang_protocol::comparison::{ComparisonLog, ComparisonSetup, ComparisonSpec, RecordRef};
use jiliang_protocol::rooms::{Author, EventBody, RoomEvent};
use jiliang_protocol::sessions::SessionState;
use uuid::Uuid;

use crate::clock::now;
use crate::error::{AppError, AppResult};
use crate::i18n::Text;
use crate::ledger::records;
use crate::rooms::log::{Append, AppendError, Appended};
use crate::state::AppState;
use crate::store::Store;
use crate::store::comparisons::{Inserted, NewComparison};
use crate::store::devices::StoredDevice;
use crate::store::rooms::{EventOutcome, NewEvent};

/// Events read per query while folding a session's log.
const PAGE: i64 = 1000;

/// The session's comparison, folded from its whole log.
pub async fn load(store: &Store, session: Uuid) -> AppResult<ComparisonLog> {
    let mut log = ComparisonLog::new();
    let mut after = 0;
    loop {
        let events = store.read_events(session, after, PAGE).await?;
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
    store: &Store,
    session: Uuid,
    id: Uuid,
    field: &str,
) -> AppResult<StoredDevice> {
    let d = match store.get_device(id).await {
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
    store: &Store,
    session: Uuid,
    req: &ComparisonSetup,
) -> AppResult<ComparisonSpec> {
    if req.uut_device_id == req.ref_device_id {
        return Err(invalid(
            "被检设备和参考设备必须是两台不同的设备。".into(),
            "The unit under test and the reference must be two different devices.".into(),
        ));
    }
    let uut = attached_device(store, session, req.uut_device_id, "uut_device_id").await?;
    let reference = attached_device(store, session, req.ref_device_id, "ref_device_id").await?;
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

/// How a comparison's events enter the session's log: through the room
/// log (fan-out to the people in the room) when serving a request, straight
/// into the store when seeding the demo before anyone is connected.
pub trait Appender {
    fn append(
        &self,
        session: Uuid,
        author: Author,
        body: EventBody,
    ) -> impl Future<Output = AppResult<RoomEvent>> + Send;
}

impl Appender for AppState {
    async fn append(&self, session: Uuid, author: Author, body: EventBody) -> AppResult<RoomEvent> {
        let appended = self
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
            Err(AppendError::Ended) => Err(ended()),
            Err(AppendError::NoSession) => Err(no_session()),
            Err(AppendError::Database(e)) => Err(e.into()),
            Err(e) => Err(AppError::internal(e)),
        }
    }
}

impl Appender for Store {
    async fn append(&self, session: Uuid, author: Author, body: EventBody) -> AppResult<RoomEvent> {
        let out = self
            .append_events(&[NewEvent {
                session,
                author: Some(author),
                client_id: None,
                body,
            }])
            .await?;
        match out.into_iter().next() {
            Some(EventOutcome::New(e) | EventOutcome::Duplicate(e)) => Ok(e),
            Some(EventOutcome::Ended) => Err(ended()),
            Some(EventOutcome::NoSession) | None => Err(no_session()),
        }
    }
}

fn ended() -> AppError {
    AppError::Conflict(Text::new("会话已结束。", "The session has ended."))
}

fn no_session() -> AppError {
    AppError::not_found("找不到该会话。", "No such session.")
}

pub fn none_yet() -> AppError {
    AppError::not_found(
        "本会话还没有设置比对。",
        "No comparison has been set up in this session.",
    )
}

fn finished_already() -> AppError {
    AppError::Conflict(Text::new(
        "本次比对已经结束。",
        "This comparison has already been finished.",
    ))
}

/// Set up (or, before any point has started, change) the session's
/// comparison. The caller has checked that `author` may and that the
/// session is live.
pub async fn set_up(
    store: &Store,
    log_to: &impl Appender,
    session: Uuid,
    author: Author,
    req: &ComparisonSetup,
) -> AppResult<ComparisonLog> {
    let mut log = load(store, session).await?;
    let comparison_id = match log.id() {
        Some(current) if log.finished().is_none() => {
            if log.started() {
                return Err(AppError::Conflict(Text::new(
                    "测试点已开始，比对设置不能再改；请先结束本次比对。",
                    "A test point has started: the settings are fixed. Finish this comparison first.",
                )));
            }
            current
        }
        _ => Uuid::now_v7(),
    };
    let spec = resolve(store, session, req).await?;
    let e = log_to
        .append(
            session,
            author,
            EventBody::ComparisonSetup {
                comparison_id,
                spec: Box::new(spec),
            },
        )
        .await?;
    log.apply(&e);
    Ok(log)
}

/// Start test point `index`: readings taken from now on count for it.
pub async fn start_point(
    store: &Store,
    log_to: &impl Appender,
    session: Uuid,
    author: Author,
    index: u32,
) -> AppResult<ComparisonLog> {
    let mut log = load(store, session).await?;
    let (Some(comparison_id), Some(spec)) = (log.id(), log.spec()) else {
        return Err(none_yet());
    };
    if log.finished().is_some() {
        return Err(finished_already());
    }
    let points = &spec.calibration.points;
    let Some(&nominal) = usize::try_from(index).ok().and_then(|i| points.get(i)) else {
        return Err(invalid(
            format!(
                "没有第 {index} 个测试点（共 {} 个，从 0 起编号）。",
                points.len()
            ),
            format!(
                "There is no test point {index} (there are {}, numbered from 0).",
                points.len()
            ),
        ));
    };
    let e = log_to
        .append(
            session,
            author,
            EventBody::ComparisonPoint {
                comparison_id,
                index,
                nominal,
            },
        )
        .await?;
    log.apply(&e);
    Ok(log)
}

/// Finish the comparison: store the fold as a `raw_record` ledger record
/// with its `comparisons` row, then append `comparison_finished`.
pub async fn finish(
    store: &Store,
    log_to: &impl Appender,
    session: Uuid,
    author: Author,
) -> AppResult<ComparisonLog> {
    let mut log = load(store, session).await?;
    let Some(comparison_id) = log.id() else {
        return Err(none_yet());
    };
    if log.finished().is_some() {
        return Err(finished_already());
    }
    let at = now();
    let content = record::content(session, &log, &author, at)
        .ok_or_else(none_yet)?
        .map_err(AppError::internal)?;
    let stored_record =
        records::raw_record(comparison_id, at, &content).map_err(AppError::internal)?;
    let text = serde_json::to_string(&content).map_err(AppError::internal)?;
    let verdict = log.fold().verdict();
    let verdict_text = verdict.map(|v| match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Indeterminate => "indeterminate",
    });
    let stored = store
        .insert_comparison(&NewComparison {
            id: comparison_id,
            session_id: session,
            finished_by: author.id,
            finished_at: at,
            verdict: verdict_text,
            content: &text,
            record: &stored_record,
        })
        .await?;
    if stored == Inserted::Exists {
        return Err(finished_already());
    }
    let e = log_to
        .append(
            session,
            author,
            EventBody::ComparisonFinished {
                comparison_id,
                record: RecordRef {
                    kind: RecordKind::RAW_RECORD.as_str().to_owned(),
                    id: comparison_id.to_string(),
                },
                verdict,
                points: log.outcomes(),
            },
        )
        .await?;
    log.apply(&e);
    Ok(log)
}
