//! Document sources: the records a certificate can be issued for. Each
//! yields a [`SourceRecord`] — which record it is, whose laboratory issues
//! it, for which customer, and the [`Document`] (administrative data and
//! results). Today: a finished calibration (the instrument comparison's
//! `raw_record`). A published round result adds its own `from_…` that
//! yields the same struct; issuing, numbering, the ledger leaf, the PDF
//! and the DCC then work unchanged.

use jiliang_ledger::RecordKind;
use jiliang_metrology::calibration::{PointResult, PointStatus};
use jiliang_metrology::conformity::Verdict;
use jiliang_protocol::comparison::ComparisonSpec;
use jiliang_protocol::rooms::Author;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::document::{
    Document, Identification, Item, Party, ResultRow, ResultTable, coverage_factor, decimals_of,
    dsi_unit, fixed, uncertainty,
};
use crate::error::AppError;
use crate::i18n::Text;
use crate::store::Store;
use crate::store::institutions::StoredInstitution;

/// A record a certificate is issued for, ready to number and sign.
#[derive(Debug, Clone)]
pub struct SourceRecord {
    /// Ledger kind and id of the record (`raw_record`, the comparison id).
    pub kind: String,
    pub id: String,
    /// The calibration laboratory (issues the certificate).
    pub lab: StoredInstitution,
    /// The customer (owner of the item), when an institution of the tree.
    pub customer: Option<StoredInstitution>,
    pub document: Document,
}

/// The stored comparison record, as far as a certificate needs it.
#[derive(Deserialize)]
struct ComparisonContent {
    finished_by: Author,
    finished_at: String,
    spec: ComparisonSpec,
    verdict: Option<Verdict>,
    points: Vec<PointContent>,
}

#[derive(Deserialize)]
struct PointContent {
    nominal: f64,
    status: PointStatus,
    result: Option<PointResult>,
    #[serde(default)]
    started_at: Option<String>,
}

fn not_found() -> AppError {
    AppError::not_found("找不到该校准记录。", "No such calibration record.")
}

fn party(i: &StoredInstitution) -> Party {
    Party {
        name_zh: i.institution.name_zh.clone(),
        name_en: i.institution.name_en.clone(),
        region_code: i.institution.region_code.clone(),
        contact: i.institution.contact.clone(),
    }
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Indeterminate => "indeterminate",
    }
}

fn date_of(rfc3339: &str) -> Option<String> {
    let t = OffsetDateTime::parse(rfc3339, &Rfc3339).ok()?;
    let d = t.to_offset(time::UtcOffset::UTC).date();
    Some(format!(
        "{:04}-{:02}-{:02}",
        d.year(),
        u8::from(d.month()),
        d.day()
    ))
}

/// The table of a finished comparison's points: every point must be
/// complete with a result, or there is nothing to certify.
fn results_table(spec: &ComparisonSpec, points: &[PointContent]) -> Result<ResultTable, AppError> {
    let unit = spec.calibration.unit.clone();
    let Some(dsi) = dsi_unit(&unit) else {
        return Err(AppError::Invalid {
            message: Text::owned(
                format!("单位 {unit} 没有 D-SI 表示，无法出具数字校准证书。"),
                format!(
                    "The unit {unit} has no D-SI form: no digital calibration certificate can carry it."
                ),
            ),
            details: Vec::new(),
        });
    };
    let resolution_places = decimals_of(spec.calibration.resolution);
    let mut rows = Vec::with_capacity(points.len());
    for (i, p) in points.iter().enumerate() {
        let (PointStatus::Complete, Some(r)) = (p.status, &p.result) else {
            return Err(AppError::Conflict(Text::owned(
                format!("第 {} 个测试点没有完成，不能出具证书。", i + 1),
                format!(
                    "Test point {} is not complete: no certificate can be issued.",
                    i + 1
                ),
            )));
        };
        let (u_text, u_places) = uncertainty(r.big_u);
        // Values are stated to the place of U, at least to the resolution.
        let places = u_places.max(resolution_places);
        rows.push(ResultRow {
            nominal: fixed(p.nominal, resolution_places),
            reference: fixed(r.reference.mean, places),
            indicated: fixed(r.uut.mean, places),
            error: fixed(r.e, u_places),
            expanded_uncertainty: u_text,
            coverage_factor: coverage_factor(r.k),
            coverage_probability: "0.95".to_owned(),
            verdict: Some(verdict_word(r.verdict()).to_owned()),
        });
    }
    if rows.is_empty() {
        return Err(AppError::Conflict(Text::new(
            "该记录没有测试点，不能出具证书。",
            "The record has no test points: no certificate can be issued.",
        )));
    }
    Ok(ResultTable {
        name_zh: "示值误差".to_owned(),
        name_en: "Indication error".to_owned(),
        unit,
        dsi_unit: dsi,
        rows,
    })
}

/// A finished comparison (原始记录) as a certificate source: the session's
/// host institution calibrates, the unit under test's lab is the customer.
pub async fn from_comparison(store: &Store, id: Uuid) -> Result<SourceRecord, AppError> {
    let stored = store.comparisons_by_id(&[id]).await?;
    let row = stored.get(&id).ok_or_else(not_found)?;
    let content: ComparisonContent =
        serde_json::from_str(&row.content).map_err(AppError::internal)?;
    let spec = &content.spec;
    let lab_id = store
        .session_host_institution(row.session_id)
        .await?
        .ok_or_else(not_found)?;
    let lab = store.get_institution(lab_id).await?;
    let uut = match store.get_device(spec.uut_device_id).await {
        Ok(d) => Some(d),
        Err(sqlx::Error::RowNotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let reference = match store.get_device(spec.ref_device_id).await {
        Ok(d) => Some(d),
        Err(sqlx::Error::RowNotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let customer = match &uut {
        Some(d) => Some(store.get_institution(d.device.lab_id).await?),
        None => None,
    };
    let table = results_table(spec, &content.points)?;
    let end_date = date_of(&content.finished_at)
        .ok_or_else(|| AppError::internal(format!("bad finished_at {:?}", content.finished_at)))?;
    let begin_date = content
        .points
        .iter()
        .filter_map(|p| p.started_at.as_deref().and_then(date_of))
        .min()
        .filter(|b| *b <= end_date)
        .unwrap_or_else(|| end_date.clone());
    let mut identifications = vec![Identification {
        issuer: "calibrationLaboratory".to_owned(),
        value: spec.uut_device_id.to_string(),
        name_zh: "设备编号".to_owned(),
        name_en: "Device id".to_owned(),
    }];
    if let Some(c) = &customer {
        identifications.push(Identification {
            issuer: "customer".to_owned(),
            value: c.institution.name_zh.clone(),
            name_zh: "送检单位".to_owned(),
            name_en: "Owner".to_owned(),
        });
    }
    let (kind, quantity) = uut
        .as_ref()
        .map(|d| (d.device.kind.clone(), d.device.quantity.clone()))
        .unwrap_or_default();
    let mut method = vec![format!(
        "与参考标准“{}”直接比较，每点各 {} 次读数；不确定度按 JJF 1059.1 评定，k 由有效自由度确定。",
        spec.ref_name, spec.calibration.readings_per_point
    )];
    method.push(format!(
        "Direct comparison with the reference standard \"{}\", {} readings per point on each side; uncertainty evaluated per JJF 1059.1, k from the effective degrees of freedom.",
        spec.ref_name, spec.calibration.readings_per_point
    ));
    if let Some(cert) = reference.as_ref().and_then(|d| d.device.reference.as_ref()) {
        method.push(format!(
            "参考标准证书 / reference certificate: {}",
            cert.certificate_no
        ));
    }
    method.push(format!(
        "校准人员 / calibrated by: {}",
        content.finished_by.name
    ));
    Ok(SourceRecord {
        kind: RecordKind::RAW_RECORD.as_str().to_owned(),
        id: id.to_string(),
        document: Document {
            title_zh: "校准证书".to_owned(),
            title_en: "Calibration Certificate".to_owned(),
            lab: party(&lab),
            customer: customer.as_ref().map_or_else(
                || Party {
                    name_zh: "（未登记）".to_owned(),
                    name_en: Some("(not registered)".to_owned()),
                    region_code: lab.institution.region_code.clone(),
                    contact: String::new(),
                },
                party,
            ),
            item: Item {
                name: spec.uut_name.clone(),
                kind,
                quantity,
                identifications,
            },
            begin_date,
            end_date,
            performance_location: "laboratory".to_owned(),
            method,
            verdict: content.verdict.map(|v| verdict_word(v).to_owned()),
            results: vec![table],
        },
        lab,
        customer,
    })
}
