//! Document sources: the records a certificate can be issued for. Each
//! yields a [`SourceRecord`] — which record it is, whose laboratory issues
//! it, for which customer, and the [`Document`] (administrative data and
//! results) — so issuing, numbering, the ledger leaf, the PDF and the DCC
//! work the same for every source:
//! - [`from_comparison`]: a finished calibration (the instrument
//!   comparison's `raw_record`) → a calibration certificate (校准证书);
//! - [`from_round`]: a published comparison round (its `round_report`
//!   record) → the round's report (计量比对结果报告), read from the
//!   published record itself, so the document says exactly what the log
//!   holds: labs named when published with names, by code otherwise.

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
    Document, Identification, Item, Party, ResultRow, ResultTable, RoundRow, RoundTable, Stated,
    as_submitted, coverage_factor, decimals_of, dsi_unit, fixed, score, uncertainty,
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
            round: None,
        },
        lab,
        customer,
    })
}

/// A published round's record (`crate::rounds::record_content`), as far as
/// its report document needs it.
#[derive(Deserialize)]
struct RoundRecord {
    title: String,
    artefact: String,
    quantity: String,
    unit: String,
    published_by: Author,
    published_at: String,
    names: bool,
    labs: Vec<RoundRecordLab>,
    report: jiliang_metrology::interlab::CompareReport,
}

#[derive(Deserialize)]
struct RoundRecordLab {
    code: String,
    #[serde(default)]
    name: Option<String>,
    expanded_uncertainty: Option<f64>,
    k: Option<f64>,
}

fn round_not_found() -> AppError {
    AppError::not_found("找不到该比对。", "No such comparison round.")
}

fn pt_verdict(v: jiliang_metrology::interlab::Verdict) -> &'static str {
    use jiliang_metrology::interlab::Verdict;
    match v {
        Verdict::Satisfactory => "satisfactory",
        Verdict::Questionable => "questionable",
        Verdict::Unsatisfactory => "unsatisfactory",
    }
}

/// The report's figures as the document states them: the reference value
/// to the place of its U (two significant digits), results as submitted,
/// D to the place of U(D), scores to two decimals.
fn round_table(r: &RoundRecord) -> RoundTable {
    use jiliang_metrology::scores::EnRule;
    let report = &r.report;
    let (ref_u, ref_places) = uncertainty(report.reference.big_u);
    let rows = report
        .labs
        .iter()
        .map(|l| {
            // The report labels a lab `name (code)` or `code`.
            let line = r.labs.iter().find(|x| {
                l.lab == x.code
                    || x.name
                        .as_ref()
                        .is_some_and(|n| l.lab == format!("{n} ({})", x.code))
            });
            let (u_d, d_places) = match l.big_u_d {
                Some(u) => {
                    let (t, p) = uncertainty(u);
                    (Some(t), p)
                }
                None => (None, ref_places),
            };
            RoundRow {
                code: line.map_or_else(|| l.lab.clone(), |x| x.code.clone()),
                lab: l.lab.clone(),
                result: Stated {
                    value: as_submitted(l.value),
                    expanded_uncertainty: line
                        .and_then(|x| x.expanded_uncertainty)
                        .map(as_submitted)
                        .unwrap_or_default(),
                    coverage_factor: line
                        .and_then(|x| x.k)
                        .map(coverage_factor)
                        .unwrap_or_default(),
                },
                included: l.included,
                exclusion_reason: l.exclusion_reason.clone(),
                d: fixed(l.d, d_places),
                big_u_d: u_d,
                en: l.en.map(score),
                z: l.z.map(score),
                z_prime: l.z_prime.map(score),
                zeta: l.zeta.map(score),
                verdict: l.verdict.map(|v| pt_verdict(v).to_owned()),
            }
        })
        .collect();
    RoundTable {
        unit: r.unit.clone(),
        dsi_unit: dsi_unit(&r.unit),
        method: report.method.as_str().to_owned(),
        method_requested: report.method_requested.as_str().to_owned(),
        en_rule: match report.en_rule {
            EnRule::Iso13528 => "iso13528",
            EnRule::Jjf1117 => "jjf1117",
        }
        .to_owned(),
        sigma_pt: report.sigma_pt.map(as_submitted),
        reference: Stated {
            value: fixed(report.reference.value, ref_places),
            expanded_uncertainty: ref_u,
            coverage_factor: coverage_factor(report.reference.k),
        },
        consistency: report.consistency.map(|c| {
            format!(
                "χ² = {:.2}（自由度 {}），p = {:.3}，Birge 比 {:.2}：{} / {}",
                c.chi2,
                c.dof,
                c.p_value,
                c.birge_ratio,
                if c.consistent { "一致" } else { "不一致" },
                if c.consistent {
                    "consistent"
                } else {
                    "not consistent"
                },
            )
        }),
        rows,
    }
}

/// A published comparison round as a report document: the coordinating
/// institution issues it; the participating labs, by number, are its
/// "customer" (the DCC needs one).
pub async fn from_round(store: &Store, id: Uuid) -> Result<SourceRecord, AppError> {
    let round = store.get_round(id).await?.ok_or_else(round_not_found)?;
    let Some(text) = round
        .record
        .as_deref()
        .filter(|_| round.state == "published")
    else {
        return Err(AppError::Conflict(Text::new(
            "比对报告尚未发布：发布后才有报告编号。",
            "The round's report is not published: it gets its number when it is.",
        )));
    };
    let r: RoundRecord = serde_json::from_str(text).map_err(AppError::internal)?;
    let lab = store.get_institution(round.institution_id).await?;
    let end_date = date_of(&r.published_at)
        .ok_or_else(|| AppError::internal(format!("bad published_at {:?}", r.published_at)))?;
    let begin_date = date_of(&crate::ledger::records::rfc3339_micros(round.created_at))
        .filter(|b| *b <= end_date)
        .unwrap_or_else(|| end_date.clone());
    let table = round_table(&r);
    let n = r.report.labs.len();
    let (rule_zh, rule_en) = if table.en_rule == "jjf1117" {
        (
            "|En| ≤ 1 为满意（JJF 1117）",
            "|En| ≤ 1 satisfactory (JJF 1117)",
        )
    } else {
        (
            "|En| < 1 为满意（ISO 13528）",
            "|En| < 1 satisfactory (ISO 13528)",
        )
    };
    let sigma = table
        .sigma_pt
        .as_ref()
        .map(|s| format!("，σ_pt = {s} {}", r.unit))
        .unwrap_or_default();
    let sigma_en = table
        .sigma_pt
        .as_ref()
        .map(|s| format!(", σ_pt = {s} {}", r.unit))
        .unwrap_or_default();
    let mut method = vec![
        format!(
            "比对“{}”：被测量 {}（{}）。参考值由 {} 方法确定（所选 {}）；{}{}。D = x − x_ref，U(D) 的包含因子 k = {}。",
            r.title,
            r.quantity,
            r.unit,
            table.method,
            table.method_requested,
            rule_zh,
            sigma,
            table.reference.coverage_factor
        ),
        format!(
            "Comparison \"{}\": measurand {} ({}). Reference value by {} (requested {}); {}{}. D = x − x_ref, U(D) with k = {}.",
            r.title,
            r.quantity,
            r.unit,
            table.method,
            table.method_requested,
            rule_en,
            sigma_en,
            table.reference.coverage_factor
        ),
    ];
    if let Some(c) = &table.consistency {
        method.push(format!("一致性检验 / consistency check: {c}"));
    }
    method.push(if r.names {
        "发布时公开实验室名称。Published with the laboratories' names.".to_owned()
    } else {
        "发布时仅列实验室代码。Published with laboratory codes only.".to_owned()
    });
    method.push(format!("发布人 / published by: {}", r.published_by.name));
    let item_name = if r.artefact.trim().is_empty() {
        r.title.clone()
    } else {
        r.artefact.clone()
    };
    Ok(SourceRecord {
        kind: RecordKind::ROUND_REPORT.as_str().to_owned(),
        id: id.to_string(),
        document: Document {
            title_zh: "计量比对结果报告".to_owned(),
            title_en: "Interlaboratory Comparison Report".to_owned(),
            customer: Party {
                name_zh: format!("比对参加实验室（{n} 家）"),
                name_en: Some(format!("Participating laboratories ({n})")),
                region_code: lab.institution.region_code.clone(),
                contact: String::new(),
            },
            lab: party(&lab),
            item: Item {
                name: item_name,
                // The round's title: what the report is of.
                kind: r.title.clone(),
                quantity: r.quantity.clone(),
                identifications: vec![Identification {
                    issuer: "calibrationLaboratory".to_owned(),
                    value: id.to_string(),
                    name_zh: "比对编号".to_owned(),
                    name_en: "Round id".to_owned(),
                }],
            },
            begin_date,
            end_date,
            performance_location: "other".to_owned(),
            method,
            verdict: None,
            results: Vec::new(),
            round: Some(table),
        },
        lab,
        customer: None,
    })
}
