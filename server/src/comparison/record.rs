//! The content of a finished comparison's ledger record (原始记录): the
//! settings, each point with every reading used (device, seq, t, value,
//! unit, u_t) and its result, the overall verdict, who finished it and
//! when. Built from the log fold, stored as JSON in the `comparisons` row,
//! and hashed into a `raw_record` leaf.

use jiliang_metrology::calibration::{Channel, PointResult, PointStatus};
use jiliang_metrology::conformity::Verdict;
use jiliang_protocol::comparison::{ComparisonLog, ComparisonSpec, from_us};
use jiliang_protocol::rooms::Author;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::ledger::records::rfc3339_micros;

#[derive(Serialize)]
struct Content<'a> {
    /// What this record is, for a reader of an export.
    record: &'static str,
    comparison: Uuid,
    session: Uuid,
    finished_by: &'a Author,
    finished_at: String,
    spec: &'a ComparisonSpec,
    verdict: Option<Verdict>,
    points: Vec<Point<'a>>,
}

#[derive(Serialize)]
struct Point<'a> {
    index: usize,
    nominal: f64,
    status: PointStatus,
    started_at: Option<String>,
    result: Option<&'a PointResult>,
    error: Option<String>,
    readings: Vec<Reading<'a>>,
}

#[derive(Serialize)]
struct Reading<'a> {
    channel: Channel,
    device: Uuid,
    seq: u64,
    t: String,
    value: f64,
    unit: &'a str,
    u_t: f64,
}

fn time_text(us: i64) -> String {
    from_us(us).map(rfc3339_micros).unwrap_or_default()
}

/// The record content of `log`'s comparison, finished by `by` at `at`;
/// `None` when nothing is set up.
pub fn content(
    session: Uuid,
    log: &ComparisonLog,
    by: &Author,
    at: OffsetDateTime,
) -> Option<serde_json::Result<serde_json::Value>> {
    let (id, spec) = (log.id()?, log.spec()?);
    let points = log
        .fold()
        .points()
        .iter()
        .map(|p| {
            let mut readings = Vec::with_capacity(p.uut.len() + p.reference.len());
            for (channel, rs) in [(Channel::Uut, &p.uut), (Channel::Ref, &p.reference)] {
                readings.extend(rs.iter().map(|r| Reading {
                    channel,
                    device: spec.device_of(channel),
                    seq: r.seq,
                    t: time_text(r.t_us),
                    value: r.value,
                    unit: spec.unit_of(channel),
                    u_t: r.u_t,
                }));
            }
            Point {
                index: p.index,
                nominal: p.nominal,
                status: p.status,
                started_at: p.started_at_us.map(time_text),
                result: p.result.as_ref(),
                error: p.error.as_ref().map(ToString::to_string),
                readings,
            }
        })
        .collect();
    Some(serde_json::to_value(Content {
        record: "comparison",
        comparison: id,
        session,
        finished_by: by,
        finished_at: rfc3339_micros(at),
        spec,
        verdict: log.fold().verdict(),
        points,
    }))
}
