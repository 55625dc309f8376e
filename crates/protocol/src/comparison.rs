//! Live comparison of a unit under test against a reference standard in a
//! session: the REST bodies, the documents, and [`ComparisonLog`], which
//! folds a session's room log into the comparison — what the browser shows
//! live and what the server stores when the host finishes. The math is
//! `jiliang_metrology::calibration`; this module only maps room events onto
//! its fold (a `readings` event of the UUT device → channel `uut`, of the
//! reference device → `ref`), so browser and server agree by construction.
//!
//! The exchange (all under `/api/v1/sessions/{id}/comparison`):
//! 1. `PUT` [`ComparisonSetup`] → the room log gets `comparison_setup`
//!    (again on every re-setup, until the first point starts);
//! 2. `POST points/{index}/start` → `comparison_point`: readings of both
//!    devices from then on count for that point;
//! 3. `POST finish` → the result is stored as a ledger record (`raw_record`,
//!    原始记录) and the log gets `comparison_finished`;
//! 4. `GET` → [`ComparisonView`]; `GET readings.csv` → every reading used.

use jiliang_metrology::budget::{CoverageRule, DofRounding};
use jiliang_metrology::calibration::{
    CalReading, CalibrationFold, CalibrationSpec, Channel, FoldInput, PointResult, PointState,
    PointStatus,
};
use jiliang_metrology::conformity::{ConformityOptions, Mpe, Verdict};
use jiliang_metrology::scores::EnRule;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::devices::DeviceReading;
use crate::rooms::{Author, EventBody, RoomEvent};

/// The ledger record kind a finished comparison is stored as (原始记录).
pub const RECORD_KIND: &str = "raw_record";

/// `PUT /api/v1/sessions/{id}/comparison`: set up (or, until the first point
/// starts, change) the comparison of the session. Both devices must be
/// attached to the session and measure the same quantity in compatible
/// units (the same UCUM units up to prefixes); values are in the UUT's unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ComparisonSetup {
    pub uut_device_id: Uuid,
    pub ref_device_id: Uuid,
    /// Nominal values of the test points, in order (1–50).
    pub points: Vec<f64>,
    /// Readings of each device counted per point.
    pub readings_per_point: u32,
    /// The UUT's maximum permissible error, any form of
    /// `jiliang_metrology::conformity::Mpe` (`{"form":"absolute","value":0.05}`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub mpe: Mpe,
    /// Expanded uncertainty U of the reference (in the UUT's unit); absent:
    /// the reference device's registered certificate, converted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_expanded_uncertainty: Option<f64>,
    /// Coverage factor of `ref_expanded_uncertainty` (required with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ref_k: Option<f64>,
    /// Resolution of the UUT; absent: the UUT device's registered
    /// resolution, or 0 (not counted) when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<f64>,
    /// Default `{"method":"student-t","coverage":0.95}`; `{"method":"fixed","k":2}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub coverage: Option<CoverageRule>,
    /// Default `truncate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub dof_rounding: Option<DofRounding>,
    /// Default JJF 1094 with ratio 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub conformity: Option<ConformityOptions>,
    /// Boundary of E/U(E): default `iso13528` (|En| < 1), or `jjf1117`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub en_rule: Option<EnRule>,
}

/// The settings as the server resolved them: the devices, their units and
/// the complete calibration spec (what `comparison_setup` carries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComparisonSpec {
    pub uut_device_id: Uuid,
    pub uut_name: String,
    pub uut_unit: String,
    pub ref_device_id: Uuid,
    pub ref_name: String,
    pub ref_unit: String,
    /// Values in `uut_unit`; reference readings are multiplied by
    /// `calibration.ref_factor`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub calibration: CalibrationSpec,
}

impl ComparisonSpec {
    /// The channel of a device's readings, if it is one of the two.
    pub fn channel_of(&self, device_id: Uuid) -> Option<Channel> {
        if device_id == self.uut_device_id {
            Some(Channel::Uut)
        } else if device_id == self.ref_device_id {
            Some(Channel::Ref)
        } else {
            None
        }
    }

    pub fn device_of(&self, channel: Channel) -> Uuid {
        match channel {
            Channel::Uut => self.uut_device_id,
            Channel::Ref => self.ref_device_id,
        }
    }

    pub fn unit_of(&self, channel: Channel) -> &str {
        match channel {
            Channel::Uut => &self.uut_unit,
            Channel::Ref => &self.ref_unit,
        }
    }
}

/// Where a finished comparison's record is: `GET
/// /api/v1/ledger/records/{kind}/{id}` exports it with its proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordRef {
    /// [`RECORD_KIND`].
    pub kind: String,
    /// The comparison's id.
    pub id: String,
}

/// A point's outcome in `comparison_finished` (the full numbers are in the
/// record and in [`ComparisonView`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PointOutcome {
    pub index: u32,
    pub nominal: f64,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: PointStatus,
    /// E, U(E), E/MPEV and the verdict; absent when the point has no result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub big_u: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub en_mpe: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub verdict: Option<Verdict>,
}

impl From<&PointState> for PointOutcome {
    fn from(p: &PointState) -> Self {
        let r = p.result.as_ref();
        Self {
            index: u32::try_from(p.index).unwrap_or(u32::MAX),
            nominal: p.nominal,
            status: p.status,
            e: r.map(|r| r.e),
            big_u: r.map(|r| r.big_u),
            en_mpe: r.map(|r| r.en_mpe),
            verdict: r.map(PointResult::verdict),
        }
    }
}

/// A test point in [`ComparisonView`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComparisonPointView {
    pub index: u32,
    pub nominal: f64,
    /// `pending`, `collecting` or `complete`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: PointStatus,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// Readings counted so far.
    pub n_uut: u32,
    pub n_ref: u32,
    /// The result over the readings counted (provisional until complete).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub result: Option<PointResult>,
    /// Why there is no result although both sides have readings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<&PointState> for ComparisonPointView {
    fn from(p: &PointState) -> Self {
        Self {
            index: u32::try_from(p.index).unwrap_or(u32::MAX),
            nominal: p.nominal,
            status: p.status,
            started_at: p.started_at_us.and_then(from_us),
            n_uut: u32::try_from(p.uut.len()).unwrap_or(u32::MAX),
            n_ref: u32::try_from(p.reference.len()).unwrap_or(u32::MAX),
            result: p.result.clone(),
            error: p.error.as_ref().map(ToString::to_string),
        }
    }
}

/// Who finished the comparison, when, and where its record is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComparisonFinish {
    pub record: RecordRef,
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    pub finished_by: Option<Author>,
}

/// `GET /api/v1/sessions/{id}/comparison`, and the answer of the setup,
/// start and finish calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComparisonView {
    pub comparison_id: Uuid,
    pub session_id: Uuid,
    pub spec: ComparisonSpec,
    /// The point readings count for now (until its readings are all in).
    pub current_point: Option<u32>,
    pub points: Vec<ComparisonPointView>,
    /// 合格/不合格/待定 over all points, once every point is complete.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub verdict: Option<Verdict>,
    /// Present once finished.
    pub finished: Option<ComparisonFinish>,
}

/// µs since the epoch (floor), what the fold compares times in. The
/// databases keep microseconds, so a live time and its stored copy agree.
pub fn to_us(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1000)).unwrap_or(i64::MAX)
}

pub fn from_us(us: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000).ok()
}

/// A reading counted for a point, as the CSV export and the record list it.
#[derive(Debug, Clone, PartialEq)]
pub struct UsedReading {
    pub point: u32,
    pub channel: Channel,
    pub device_id: Uuid,
    pub seq: u64,
    pub t_us: i64,
    pub value: f64,
    pub unit: String,
    pub u_t: f64,
}

/// The session's (latest) comparison, folded from its room log. Feed it
/// every event in `seq` order with [`ComparisonLog::apply`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ComparisonLog {
    id: Option<Uuid>,
    spec: Option<ComparisonSpec>,
    fold: CalibrationFold,
    finished: Option<ComparisonFinish>,
}

impl ComparisonLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Apply one room event; returns whether the comparison changed.
    ///
    /// A `comparison_setup` with a new id replaces the comparison only when
    /// the current one is finished or has not started a point (what the
    /// server allows); the same id re-sets it until a point starts. Other
    /// comparison events count only for the current id; readings only for
    /// the two devices, and not after the finish.
    pub fn apply(&mut self, e: &RoomEvent) -> bool {
        match &e.body {
            EventBody::ComparisonSetup {
                comparison_id,
                spec,
            } => {
                if self.id != Some(*comparison_id) {
                    if self.id.is_some() && self.finished.is_none() && self.fold.started() {
                        return false;
                    }
                    *self = Self::default();
                    self.id = Some(*comparison_id);
                } else if self.fold.started() || self.finished.is_some() {
                    return false;
                }
                self.spec = Some((**spec).clone());
                self.fold.apply(FoldInput::Setup(&spec.calibration));
                true
            }
            EventBody::ComparisonPoint {
                comparison_id,
                index,
                ..
            } => {
                if self.id != Some(*comparison_id) || self.finished.is_some() {
                    return false;
                }
                let index = usize::try_from(*index).unwrap_or(usize::MAX);
                self.fold
                    .apply(FoldInput::PointStart {
                        index,
                        at_us: to_us(e.at),
                    })
                    .is_some()
            }
            EventBody::Readings(body) => {
                if self.finished.is_some() {
                    return false;
                }
                // Each device's part on its own channel, in the event's
                // order (a protocol-1 event has one part).
                let mut changed = false;
                for part in body.parts() {
                    let Some(channel) = self
                        .spec
                        .as_ref()
                        .and_then(|s| s.channel_of(part.device_id))
                    else {
                        continue;
                    };
                    let cal: Vec<CalReading> = part.readings.iter().map(cal_reading).collect();
                    changed |= self
                        .fold
                        .apply(FoldInput::Readings {
                            channel,
                            readings: &cal,
                        })
                        .is_some();
                }
                changed
            }
            EventBody::ComparisonFinished {
                comparison_id,
                record,
                ..
            } => {
                if self.id != Some(*comparison_id) || self.finished.is_some() {
                    return false;
                }
                self.finished = Some(ComparisonFinish {
                    record: record.clone(),
                    finished_at: e.at,
                    finished_by: e.author.clone(),
                });
                true
            }
            _ => false,
        }
    }

    pub fn id(&self) -> Option<Uuid> {
        self.id
    }

    pub fn spec(&self) -> Option<&ComparisonSpec> {
        self.spec.as_ref()
    }

    /// The fold: per point the readings counted and the result.
    pub fn fold(&self) -> &CalibrationFold {
        &self.fold
    }

    pub fn finished(&self) -> Option<&ComparisonFinish> {
        self.finished.as_ref()
    }

    /// Whether a point has started (the settings are fixed).
    pub fn started(&self) -> bool {
        self.fold.started()
    }

    /// The document of `GET …/comparison`; `None` before any setup.
    pub fn view(&self, session_id: Uuid) -> Option<ComparisonView> {
        let (id, spec) = (self.id?, self.spec.clone()?);
        Some(ComparisonView {
            comparison_id: id,
            session_id,
            spec,
            current_point: self.fold.current().and_then(|i| u32::try_from(i).ok()),
            points: self.fold.points().iter().map(Into::into).collect(),
            verdict: self.fold.verdict(),
            finished: self.finished.clone(),
        })
    }

    /// Each point's outcome, for `comparison_finished`.
    pub fn outcomes(&self) -> Vec<PointOutcome> {
        self.fold.points().iter().map(Into::into).collect()
    }

    /// Every reading counted, point by point, UUT then reference, each in
    /// log order, with its device and unit.
    pub fn used_readings(&self) -> Vec<UsedReading> {
        let Some(spec) = &self.spec else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for p in self.fold.points() {
            let point = u32::try_from(p.index).unwrap_or(u32::MAX);
            for (channel, rs) in [(Channel::Uut, &p.uut), (Channel::Ref, &p.reference)] {
                out.extend(rs.iter().map(|r| UsedReading {
                    point,
                    channel,
                    device_id: spec.device_of(channel),
                    seq: r.seq,
                    t_us: r.t_us,
                    value: r.value,
                    unit: spec.unit_of(channel).to_owned(),
                    u_t: r.u_t,
                }));
            }
        }
        out
    }
}

fn cal_reading(r: &DeviceReading) -> CalReading {
    CalReading {
        seq: r.seq,
        t_us: to_us(r.t),
        value: r.value,
        u_t: r.u_t,
    }
}
