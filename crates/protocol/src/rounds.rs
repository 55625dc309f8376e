//! Comparison rounds (计量比对 / proficiency testing, issue 11): the REST
//! bodies and documents, and the report builder — the one function that
//! turns a round's results into its report, run by the server for
//! `GET /api/v1/rounds/{id}/report` and by the browser on the same data, so
//! both show the same figures by construction.
//!
//! The evaluation itself is `jiliang_metrology::interlab::evaluate`, the
//! function behind `jiliang compare`: a round's report is a
//! [`CompareReport`], whose JSON is exactly what `jiliang compare --format
//! json` prints for the same results and options. This module only turns
//! round entries (lab code, name, value, U, k, exclusion) into participants,
//! the round's method and options into [`CompareOptions`], and then names
//! or anonymises the labs for whoever reads the report.
//!
//! The exchange (all under `/api/v1/rounds`):
//! 1. `POST` [`RoundCreate`] (an expert) → 201 [`RoundView`];
//! 2. `POST {id}/labs` [`InviteLabs`]: labs of the expert's subtree, each
//!    given a code (`L01`, `L02`, … in invitation order);
//! 3. `PUT {id}/results/{lab_id}` [`ResultSubmit`] by that lab's people,
//!    again to correct it, until the deadline or the close;
//!    `POST {id}/results/{lab_id}/attachments` [`AttachmentUpload`];
//! 4. `POST {id}/close`; `PUT`/`DELETE {id}/labs/{lab_id}/exclusion`
//!    ([`ExclusionBody`]) while closed;
//! 5. `GET {id}/report` ([`CompareReport`]), `GET {id}/report.csv`;
//! 6. `POST {id}/publish` ([`PublishBody`]): the report becomes a ledger
//!    record (`round_report`) and is issued as a numbered report document
//!    ([`RoundView::report_number`]: PDF, DCC, public verification).

use jiliang_metrology::interlab::{
    self, CompareError, CompareOptions, CompareReport, Exclusion, MethodName, Participant,
    Reference, Verdict, VerdictScore,
};
use jiliang_metrology::reference::KcrvMethod;
use jiliang_metrology::scores::EnRule;
use jiliang_metrology::stated::{Printed, reconcile};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::rooms::Author;

/// The ledger record kind a published report is stored as.
pub const RECORD_KIND: &str = "round_report";

/// Largest attachment, in bytes (after base64 decoding).
pub const MAX_ATTACHMENT_BYTES: usize = 256 * 1024;

/// Most attachments per lab and round.
pub const MAX_ATTACHMENTS: usize = 5;

/// Media types an attachment may have.
pub const ATTACHMENT_TYPES: &[&str] = &[
    "application/pdf",
    "image/png",
    "image/jpeg",
    "text/plain",
    "text/csv",
];

/// Coverage factor of U(reference) and U(d), as in `jiliang compare`.
pub const COVERAGE_FACTOR: f64 = interlab::DEFAULT_COVERAGE_FACTOR;

/// Longest title, protocol text, notes, reason (characters).
pub const MAX_TITLE: usize = 200;
pub const MAX_TEXT: usize = 20_000;
pub const MAX_NOTES: usize = 4_000;

/// Where a round is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RoundState {
    /// Labs submit and correct results until the deadline.
    Open,
    /// No more submissions; the expert reviews and may exclude labs.
    Closed,
    /// The report is a ledger record; nothing changes any more.
    Published,
}

impl RoundState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::Published => "published",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "closed" => Some(Self::Closed),
            "published" => Some(Self::Published),
            _ => None,
        }
    }
}

/// The settings `jiliang compare` takes as flags besides `--method`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RoundOptions {
    /// σ_pt (`--sigma-pt`): gives z and z′.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0))]
    pub sigma_pt: Option<f64>,
    /// `iso13528` (|En| < 1 satisfactory, default) or `jjf1117` (|En| ≤ 1).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub en_rule: EnRule,
    /// The assigned value x_pt (`--assigned`), for method `assigned`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned: Option<f64>,
    /// Its standard uncertainty u(x_pt) (`--assigned-u`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0))]
    pub assigned_u: Option<f64>,
}

/// `POST /api/v1/rounds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RoundCreate {
    /// 1–200 characters (after trimming).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub title: String,
    /// The artefact (传递标准) circulated or measured.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub artefact: String,
    /// The measurand, in words (`"电压"`, `"mass"`).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub quantity: String,
    /// UCUM code (`V`, `kPa`, `mg/kg`).
    pub unit: String,
    /// The round's protocol (作业指导书) as text.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 20000))]
    pub protocol: String,
    /// Results are accepted until this instant (RFC 3339), which must be in
    /// the future.
    #[serde(with = "time::serde::rfc3339")]
    pub deadline: OffsetDateTime,
    /// Any `--method` of `jiliang compare` (`auto`, `weighted-mean`,
    /// `dersimonian-laird`, `mandel-paule`, `arithmetic-mean`, `median`,
    /// `algorithm-a`), or `assigned` with `options.assigned` and
    /// `options.assigned_u`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub method: MethodName,
    #[serde(default)]
    pub options: RoundOptions,
    /// Blind (default): labs see the report only once it is published.
    /// Open: they see it (others anonymised) as soon as the round closes.
    #[serde(default = "yes")]
    pub blind: bool,
}

fn yes() -> bool {
    true
}

/// `POST /api/v1/rounds/{id}/labs`: invite labs (institutions of the
/// expert's subtree). Inviting a lab again changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InviteLabs {
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 200))]
    pub lab_ids: Vec<Uuid>,
}

/// `PUT /api/v1/rounds/{id}/results/{lab_id}`: a lab's result, replacing
/// any earlier one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResultSubmit {
    /// The measured value, in the round's unit.
    pub value: f64,
    /// Expanded uncertainty U (> 0), in the round's unit.
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0))]
    pub expanded_uncertainty: f64,
    /// Its coverage factor k (> 0).
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0))]
    pub k: f64,
    /// How it was measured (method, standards used, conditions).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 4000))]
    pub method_notes: String,
}

/// `POST /api/v1/rounds/{id}/results/{lab_id}/attachments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AttachmentUpload {
    /// File name as shown (no path, 1–200 characters).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
    /// One of [`ATTACHMENT_TYPES`].
    pub content_type: String,
    /// The content, base64 (standard alphabet, padded); at most
    /// [`MAX_ATTACHMENT_BYTES`] decoded.
    pub data_base64: String,
}

/// An attachment's description (its content at
/// `GET /api/v1/rounds/{id}/attachments/{attachment_id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttachmentInfo {
    pub id: Uuid,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub uploaded_at: OffsetDateTime,
}

/// `PUT /api/v1/rounds/{id}/labs/{lab_id}/exclusion`: leave a lab out of
/// the reference value (it is still scored), with the reason on record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExclusionBody {
    /// 1–4000 characters (after trimming).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 4000))]
    pub reason: String,
}

/// `POST /api/v1/rounds/{id}/publish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PublishBody {
    /// Publish with the labs' names (default) or with their codes only.
    #[serde(default = "yes_opt")]
    pub names: Option<bool>,
}

fn yes_opt() -> Option<bool> {
    Some(true)
}

/// A lab's stored result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoundResult {
    pub value: f64,
    pub expanded_uncertainty: f64,
    pub k: f64,
    pub method_notes: String,
    pub submitted_by: Author,
    #[serde(with = "time::serde::rfc3339")]
    pub submitted_at: OffsetDateTime,
    #[serde(default)]
    pub attachments: Vec<AttachmentInfo>,
}

/// An invited lab as the reader may see it: the coordinator sees every
/// lab named with its result; a participant sees its own lab named with
/// its result and the others as codes only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoundLab {
    pub code: String,
    /// Absent for an anonymised lab.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lab_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub submitted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<RoundResult>,
    /// Left out of the reference value, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excluded: Option<String>,
}

/// A round in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoundSummary {
    pub id: Uuid,
    pub title: String,
    pub quantity: String,
    pub unit: String,
    #[serde(with = "time::serde::rfc3339")]
    pub deadline: OffsetDateTime,
    pub state: RoundState,
    pub labs: u32,
    pub submitted: u32,
}

/// `GET /api/v1/rounds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoundList {
    pub items: Vec<RoundSummary>,
}

/// What the reader may do with a round (the server decides; the interface
/// only hides what would be refused).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoundAbilities {
    /// Invite, close, exclude, publish.
    pub manage: bool,
    /// The labs whose result the reader may submit now.
    pub submit_for: Vec<Uuid>,
    /// The report may be read now.
    pub report: bool,
}

/// `GET /api/v1/rounds/{id}` (and the answer of every change).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoundView {
    pub id: Uuid,
    pub title: String,
    pub artefact: String,
    pub quantity: String,
    pub unit: String,
    pub protocol: String,
    #[serde(with = "time::serde::rfc3339")]
    pub deadline: OffsetDateTime,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub method: MethodName,
    pub options: RoundOptions,
    pub blind: bool,
    pub state: RoundState,
    /// The coordinating institution.
    pub institution_id: Uuid,
    pub created_by: Author,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub closed_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub published_at: Option<OffsetDateTime>,
    /// Published with the labs' names.
    pub names_published: bool,
    pub labs: Vec<RoundLab>,
    pub abilities: RoundAbilities,
    /// The published report's number (`JL-2026-000042`), for whoever may
    /// read the report: its PDF and DCC are at
    /// `/api/v1/certificates/{number}/pdf` and `…/dcc.xml`, its public
    /// verification page at `/verify/{number}`. Publishing issues it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_number: Option<String>,
}

// ---------------------------------------------------------------------------
// Validation of settings
// ---------------------------------------------------------------------------

/// A setting that cannot be used, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    pub field: &'static str,
    pub zh: String,
    pub en: String,
}

fn setting(field: &'static str, zh: impl Into<String>, en: impl Into<String>) -> SettingError {
    SettingError {
        field,
        zh: zh.into(),
        en: en.into(),
    }
}

fn kcrv(method: MethodName) -> Option<KcrvMethod> {
    Some(match method {
        MethodName::WeightedMean => KcrvMethod::WeightedMean,
        MethodName::DersimonianLaird => KcrvMethod::DersimonianLaird,
        MethodName::MandelPaule => KcrvMethod::MandelPaule,
        MethodName::ArithmeticMean => KcrvMethod::ArithmeticMean,
        MethodName::Median => KcrvMethod::Median,
        MethodName::AlgorithmA => KcrvMethod::AlgorithmA,
        MethodName::Auto => KcrvMethod::Auto,
        MethodName::Assigned => return None,
    })
}

fn positive_opt(field: &'static str, v: Option<f64>) -> Result<(), SettingError> {
    match v {
        Some(x) if !(x.is_finite() && x > 0.0) => Err(setting(
            field,
            format!("{field} 必须是大于 0 的数，收到 {x}。"),
            format!("{field} must be a number greater than 0, got {x}."),
        )),
        _ => Ok(()),
    }
}

/// The evaluation options of a round's method and options, as
/// `jiliang compare` builds them from its flags.
pub fn compare_options(
    method: MethodName,
    options: &RoundOptions,
) -> Result<CompareOptions, SettingError> {
    positive_opt("options.sigma_pt", options.sigma_pt)?;
    positive_opt("options.assigned_u", options.assigned_u)?;
    let reference = match (kcrv(method), options.assigned, options.assigned_u) {
        (Some(method), None, None) => Reference::Consensus { method },
        (Some(_), _, _) => {
            return Err(setting(
                "options.assigned",
                "只有方法 assigned 使用指定值（assigned、assigned_u）。",
                "options.assigned and options.assigned_u are for method \"assigned\" only.",
            ));
        }
        (None, Some(value), Some(u)) if value.is_finite() => Reference::Assigned { value, u },
        (None, Some(_), Some(_)) => {
            return Err(setting(
                "options.assigned",
                "指定值必须是有限数。",
                "options.assigned must be a finite number.",
            ));
        }
        (None, _, _) => {
            return Err(setting(
                "options.assigned",
                "方法 assigned 需要 options.assigned（指定值）和 options.assigned_u（其标准不确定度）。",
                "Method \"assigned\" needs options.assigned (the assigned value) and options.assigned_u (its standard uncertainty).",
            ));
        }
    };
    Ok(CompareOptions {
        reference,
        sigma_pt: options.sigma_pt,
        en_rule: options.en_rule,
        coverage_factor: COVERAGE_FACTOR,
    })
}

/// A submitted result's numbers checked: value finite, U > 0, k > 0.
pub fn check_result(value: f64, big_u: f64, k: f64) -> Result<(), SettingError> {
    if !value.is_finite() {
        return Err(setting(
            "value",
            "value 必须是有限数。",
            "value must be a finite number.",
        ));
    }
    if !(big_u.is_finite() && big_u > 0.0) {
        return Err(setting(
            "expanded_uncertainty",
            format!("扩展不确定度 expanded_uncertainty 必须大于 0，收到 {big_u}。"),
            format!("expanded_uncertainty must be greater than 0, got {big_u}."),
        ));
    }
    if !(k.is_finite() && k > 0.0) {
        return Err(setting(
            "k",
            format!("包含因子 k 必须大于 0，收到 {k}。"),
            format!("The coverage factor k must be greater than 0, got {k}."),
        ));
    }
    Ok(())
}

/// The code of the `n`-th invited lab (1-based): `L01`, …, `L99`, `L100`.
pub fn lab_code(n: usize) -> String {
    format!("L{n:02}")
}

// ---------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------

/// One invited lab as the report builder needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub lab_id: Uuid,
    pub code: String,
    pub name: String,
    /// (value, U, k), if submitted.
    pub result: Option<(f64, f64, f64)>,
    /// Exclusion reason, if excluded from the reference value.
    pub excluded: Option<String>,
}

/// Who reads a report, which decides how labs are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// The coordinator (and those overseeing): every lab named.
    Coordinator,
    /// A participant: its own lab named, the others by code, unless the
    /// report is published with names.
    Lab { lab_id: Uuid, names_published: bool },
    /// Everyone named (a report published with names) or no one.
    Anonymous { names_published: bool },
}

impl Reader {
    fn names(self, lab: Uuid) -> bool {
        match self {
            Self::Coordinator => true,
            Self::Lab {
                lab_id,
                names_published,
            } => names_published || lab_id == lab,
            Self::Anonymous { names_published } => names_published,
        }
    }
}

/// How a lab is shown: `"秦安县计量检定所 (L01)"` when named, the code
/// otherwise. The code stays in the label so readers of a named and an
/// anonymised copy can match rows.
pub fn label(entry: &Entry, named: bool) -> String {
    if named {
        format!("{} ({})", entry.name, entry.code)
    } else {
        entry.code.clone()
    }
}

/// The participants of an evaluation: the labs with a result, in
/// invitation order, each labelled for `reader`; `id` is the lab id for
/// a named lab and absent for an anonymised one.
pub fn participants(entries: &[Entry], reader: Reader) -> Vec<Participant> {
    entries
        .iter()
        .filter_map(|e| {
            let (value, big_u, k) = e.result?;
            let named = reader.names(e.lab_id);
            let uncertainty =
                reconcile(None, Some(Printed::exact(big_u)), Some(k), COVERAGE_FACTOR)
                    .ok()
                    .flatten();
            Some(Participant {
                lab: label(e, named),
                id: named.then(|| e.lab_id.to_string()),
                value,
                uncertainty,
                excluded: e.excluded.as_ref().map(|r| Exclusion {
                    reason: Some(r.clone()),
                }),
            })
        })
        .collect()
}

/// Why a round has no report (yet), in both languages.
#[derive(Debug, Clone, PartialEq)]
pub struct NoReport {
    pub zh: String,
    pub en: String,
    pub error: Option<CompareError>,
}

/// The round's report for `reader`: `jiliang_metrology::interlab::evaluate`
/// of the submitted results with the round's options.
pub fn build_report(
    entries: &[Entry],
    method: MethodName,
    options: &RoundOptions,
    reader: Reader,
) -> Result<CompareReport, NoReport> {
    let opts = compare_options(method, options).map_err(|e| NoReport {
        zh: e.zh,
        en: e.en,
        error: None,
    })?;
    let labs = participants(entries, reader);
    if labs.is_empty() {
        return Err(NoReport {
            zh: "还没有实验室提交结果。".into(),
            en: "No lab has submitted a result yet.".into(),
            error: None,
        });
    }
    interlab::evaluate(&labs, &opts).map_err(|e| {
        let (zh, en) = match &e {
            CompareError::TooFewInReference { method, found } => (
                format!(
                    "方法 {method} 需要至少 2 个实验室参与参考值的计算，目前只有 {found} 个（排除的实验室不计入），因此没有参考值。"
                ),
                format!(
                    "Method {method} needs at least 2 labs in the reference value, found {found} (excluded labs do not count), so there is no reference value."
                ),
            ),
            CompareError::MissingUncertainty { method, .. } => (
                format!("方法 {method} 需要每个实验室的不确定度。"),
                format!("Method {method} needs every lab's uncertainty."),
            ),
            other => (format!("无法计算报告：{other}"), format!("Cannot evaluate: {other}")),
        };
        NoReport {
            zh,
            en,
            error: Some(e),
        }
    })
}

fn num(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The report as CSV: one row per lab, full precision, with the columns
/// `jiliang compare` reads (`lab,value,u`) first, so the file can be
/// evaluated again; the reference value in the rows starting `#`.
pub fn report_csv(report: &CompareReport) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "# method={} method_requested={} en_rule={} sigma_pt={}\n# reference value={} u={} U={} k={}\n",
        report.method,
        report.method_requested,
        match report.en_rule {
            EnRule::Iso13528 => "iso13528",
            EnRule::Jjf1117 => "jjf1117",
        },
        num(report.sigma_pt),
        report.reference.value,
        report.reference.u,
        report.reference.big_u,
        report.reference.k,
    ));
    out.push_str("lab,value,u,included,exclusion_reason,d,u_d,U_d,En,z,z_prime,zeta,D%,verdict,verdict_score\n");
    for l in &report.labs {
        let verdict = match l.verdict {
            Some(Verdict::Satisfactory) => "satisfactory",
            Some(Verdict::Questionable) => "questionable",
            Some(Verdict::Unsatisfactory) => "unsatisfactory",
            None => "",
        };
        let by = match l.verdict_score {
            Some(VerdictScore::En) => "en",
            Some(VerdictScore::Z) => "z",
            Some(VerdictScore::ZPrime) => "z_prime",
            None => "",
        };
        let row = [
            csv_field(&l.lab),
            l.value.to_string(),
            num(l.u),
            l.included.to_string(),
            csv_field(l.exclusion_reason.as_deref().unwrap_or("")),
            l.d.to_string(),
            num(l.u_d),
            num(l.big_u_d),
            num(l.en),
            num(l.z),
            num(l.z_prime),
            num(l.zeta),
            num(l.d_percent),
            verdict.to_owned(),
            by.to_owned(),
        ];
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------
// Charts (SVG text, so the browser and any export draw the same picture)
// ---------------------------------------------------------------------------

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn fmt_g(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    let digits = (4 - (x.abs().log10().floor() as i32) - 1).clamp(0, 12) as usize;
    format!("{x:.digits$}")
}

const W: f64 = 640.0;
const ROW: f64 = 22.0;
const LEFT: f64 = 150.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 28.0;

/// One row of a dot chart: label, position, optional bar (from, to), and
/// whether the dot is hollow (a lab outside the reference value).
type DotRow = (String, f64, Option<(f64, f64)>, bool);

/// Horizontal dot chart: one row per lab, a dot at `x` with a bar from
/// `lo` to `hi`, vertical guide lines (`lines`: position, dashed, label).
fn dot_chart(
    title: &str,
    rows: &[DotRow],
    lines: &[(f64, bool, String)],
    band: Option<(f64, f64)>,
) -> String {
    let h = TOP + ROW * rows.len().max(1) as f64 + 30.0;
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for (_, x, bar, _) in rows {
        lo = lo.min(*x);
        hi = hi.max(*x);
        if let Some((a, b)) = bar {
            lo = lo.min(*a);
            hi = hi.max(*b);
        }
    }
    for (x, _, _) in lines {
        lo = lo.min(*x);
        hi = hi.max(*x);
    }
    if let Some((a, b)) = band {
        lo = lo.min(a);
        hi = hi.max(b);
    }
    if !(lo.is_finite() && hi.is_finite()) {
        lo = -1.0;
        hi = 1.0;
    }
    if hi - lo <= 0.0 {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.01 };
        lo -= pad;
        hi += pad;
    }
    let pad = (hi - lo) * 0.05;
    let (lo, hi) = (lo - pad, hi + pad);
    let px = |x: f64| LEFT + (x - lo) / (hi - lo) * (W - LEFT - RIGHT);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {h}\" width=\"100%\" role=\"img\" aria-label=\"{}\" font-family=\"sans-serif\" font-size=\"12\">",
        esc(title)
    );
    s.push_str(&format!(
        "<text x=\"{}\" y=\"16\" font-weight=\"bold\">{}</text>",
        LEFT,
        esc(title)
    ));
    let bottom = TOP + ROW * rows.len().max(1) as f64;
    if let Some((a, b)) = band {
        s.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#2b6cb0\" fill-opacity=\"0.12\"/>",
            px(a),
            (px(b) - px(a)).max(0.5),
            bottom - TOP
        ));
    }
    for (x, dashed, text) in lines {
        s.push_str(&format!(
            "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{TOP}\" y2=\"{bottom:.1}\" stroke=\"{1}\"{2}/>",
            px(*x),
            if *dashed { "#c53030" } else { "#2b6cb0" },
            if *dashed {
                " stroke-dasharray=\"4 3\""
            } else {
                ""
            }
        ));
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#4a5568\">{}</text>",
            px(*x),
            bottom + 14.0,
            esc(text)
        ));
    }
    for (i, (name, x, bar, hollow)) in rows.iter().enumerate() {
        let y = TOP + ROW * (i as f64 + 0.5);
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT - 6.0,
            y + 4.0,
            esc(name)
        ));
        if let Some((a, b)) = bar {
            s.push_str(&format!(
                "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#1a202c\" stroke-width=\"1.5\"/>",
                px(*a),
                px(*b)
            ));
        }
        s.push_str(&format!(
            "<circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"{}\" stroke=\"#1a202c\"/>",
            px(*x),
            if *hollow { "#ffffff" } else { "#1a202c" }
        ));
    }
    s.push_str(&format!(
        "<text x=\"{LEFT}\" y=\"{:.1}\" fill=\"#4a5568\">{} … {}</text>",
        h - 4.0,
        fmt_g(lo),
        fmt_g(hi)
    ));
    s.push_str("</svg>");
    s
}

/// Values with their expanded uncertainty bars around the reference value
/// (a band of ± U(ref)); excluded labs drawn hollow.
pub fn chart_values(report: &CompareReport, unit: &str) -> String {
    let rows: Vec<_> = report
        .labs
        .iter()
        .map(|l| {
            let big_u = l.u.map(|u| u * COVERAGE_FACTOR);
            (
                l.lab.clone(),
                l.value,
                big_u.map(|b| (l.value - b, l.value + b)),
                !l.included,
            )
        })
        .collect();
    let r = report.reference;
    dot_chart(
        &format!("x ± U / {unit}"),
        &rows,
        &[(r.value, false, fmt_g(r.value))],
        Some((r.value - r.big_u, r.value + r.big_u)),
    )
}

/// En with the ±1 limits.
pub fn chart_en(report: &CompareReport) -> Option<String> {
    let rows: Vec<_> = report
        .labs
        .iter()
        .filter_map(|l| Some((l.lab.clone(), l.en?, None, !l.included)))
        .collect();
    (!rows.is_empty()).then(|| {
        dot_chart(
            "En",
            &rows,
            &[
                (-1.0, true, "-1".into()),
                (0.0, false, "0".into()),
                (1.0, true, "1".into()),
            ],
            None,
        )
    })
}

/// z (or z′ where the verdict used it) with the ±2 and ±3 limits.
pub fn chart_z(report: &CompareReport) -> Option<String> {
    let prime = report
        .labs
        .iter()
        .any(|l| l.verdict_score == Some(VerdictScore::ZPrime));
    let rows: Vec<_> = report
        .labs
        .iter()
        .filter_map(|l| {
            let z = if prime { l.z_prime } else { l.z }?;
            Some((l.lab.clone(), z, None, !l.included))
        })
        .collect();
    (!rows.is_empty()).then(|| {
        dot_chart(
            if prime { "z′" } else { "z" },
            &rows,
            &[
                (-3.0, true, "-3".into()),
                (-2.0, true, "-2".into()),
                (0.0, false, "0".into()),
                (2.0, true, "2".into()),
                (3.0, true, "3".into()),
            ],
            None,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize, value: f64, big_u: f64, k: f64) -> Entry {
        Entry {
            lab_id: Uuid::from_u128(n as u128),
            code: lab_code(n),
            name: format!("Lab {n}"),
            result: Some((value, big_u, k)),
            excluded: None,
        }
    }

    /// ISO 13528:2022 E.4 (IMEP-111 mercury): every published score to half
    /// its last printed digit, through the round builder.
    #[test]
    fn annex_e4_scores_through_the_round_builder() {
        // x, U(x), k, then the published D%, z, z′, ζ, En.
        type Row = (f64, f64, f64, f64, f64, f64, f64, f64);
        #[rustfmt::skip]
        let rows: &[Row] = &[
            (0.013, 0.003, 2.0, -70.5, -4.70, -3.99, -7.10, -3.55),
            (0.013, 0.007, 2.0, -70.5, -4.70, -3.99, -5.75, -2.88),
            (0.0135, 0.00108, 1.732, -69.3, -4.62, -3.93, -7.35, -3.69),
            (0.014, 0.004, 2.0, -68.2, -4.55, -3.86, -6.58, -3.29),
            (0.014, 0.0005, 2.0, -68.2, -4.55, -3.86, -7.30, -3.65),
            (0.016, 0.003, 2.0, -63.6, -4.24, -3.60, -6.41, -3.21),
            (0.017, 0.008, 2.0, -61.4, -4.09, -3.47, -4.71, -2.36),
            (0.019, 0.003, 2.0, -56.8, -3.79, -3.22, -5.73, -2.86),
            (0.0239, 0.0036, 2.0, -45.7, -3.05, -2.59, -4.49, -2.24),
            (0.037, 0.013, 2.0, -15.9, -1.06, -0.90, -0.91, -0.46),
            (0.039, 0.007, 2.0, -11.4, -0.76, -0.64, -0.93, -0.46),
            (0.04, 0.008, 2.0, -9.1, -0.61, -0.51, -0.70, -0.35),
            (0.04, 0.03, 2.0, -9.1, -0.61, -0.51, -0.26, -0.13),
            (0.040, 0.010, 2.0, -9.1, -0.61, -0.51, -0.62, -0.31),
            (0.0424, 0.008, 2.0, -3.6, -0.24, -0.21, -0.28, -0.14),
            (0.044, 0.007, 2.0, 0.0, 0.00, 0.00, 0.00, 0.00),
            (0.045, 0.007, 2.0, 2.3, 0.15, 0.13, 0.19, 0.09),
            (0.045, 0.005, 2.0, 2.3, 0.15, 0.13, 0.21, 0.10),
            (0.046, 0.007, 2.0, 4.5, 0.30, 0.26, 0.37, 0.19),
            (0.049, 0.0072, 2.0, 11.4, 0.76, 0.64, 0.92, 0.46),
            (0.053, 0.007, 2.0, 20.5, 1.36, 1.16, 1.67, 0.83),
        ];
        let entries: Vec<Entry> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| entry(i + 1, r.0, r.1, r.2))
            .collect();
        let options = RoundOptions {
            sigma_pt: Some(0.0066),
            en_rule: EnRule::Iso13528,
            assigned: Some(0.044),
            assigned_u: Some(0.0041),
        };
        let report = build_report(
            &entries,
            MethodName::Assigned,
            &options,
            Reader::Coordinator,
        )
        .expect("report");
        let close = |got: Option<f64>, want: f64, half: f64, what: &str, i: usize| {
            let got = got.expect(what);
            assert!(
                (got - want).abs() <= half + 1e-12,
                "row {i} {what}: got {got}, published {want}"
            );
        };
        for (i, (r, l)) in rows.iter().zip(&report.labs).enumerate() {
            close(l.d_percent, r.3, 0.05, "D%", i);
            close(l.z, r.4, 0.005, "z", i);
            close(l.z_prime, r.5, 0.005, "z'", i);
            close(l.zeta, r.6, 0.005, "zeta", i);
            close(l.en, r.7, 0.005, "En", i);
        }
        assert_eq!(report.method, MethodName::Assigned);
        assert!(report.labs[0].lab.starts_with("Lab 1 (L01)"));
    }

    #[test]
    fn a_lab_sees_itself_named_and_the_others_by_code() {
        let entries = vec![
            entry(1, 10.01, 0.02, 2.0),
            entry(2, 10.03, 0.02, 2.0),
            entry(3, 9.99, 0.04, 2.0),
        ];
        let reader = Reader::Lab {
            lab_id: Uuid::from_u128(2),
            names_published: false,
        };
        let r = build_report(
            &entries,
            MethodName::WeightedMean,
            &RoundOptions::default(),
            reader,
        )
        .expect("report");
        let names: Vec<_> = r.labs.iter().map(|l| l.lab.as_str()).collect();
        assert_eq!(names, ["L01", "Lab 2 (L02)", "L03"]);
        assert!(r.labs[0].id.is_none());
        // The figures do not depend on who reads them.
        let all = build_report(
            &entries,
            MethodName::WeightedMean,
            &RoundOptions::default(),
            Reader::Coordinator,
        )
        .expect("report");
        assert_eq!(all.reference, r.reference);
        assert_eq!(all.labs[0].en, r.labs[0].en);
        let published = build_report(
            &entries,
            MethodName::WeightedMean,
            &RoundOptions::default(),
            Reader::Anonymous {
                names_published: true,
            },
        )
        .expect("report");
        assert_eq!(published.labs[0].lab, "Lab 1 (L01)");
    }

    #[test]
    fn too_few_labs_in_the_reference_says_why() {
        let mut entries = vec![entry(1, 10.01, 0.02, 2.0), entry(2, 10.03, 0.02, 2.0)];
        entries[1].excluded = Some("transport damage".into());
        let e = build_report(
            &entries,
            MethodName::WeightedMean,
            &RoundOptions::default(),
            Reader::Coordinator,
        )
        .expect_err("one lab left");
        assert!(e.en.contains("at least 2 labs"), "{}", e.en);
        assert!(matches!(
            e.error,
            Some(CompareError::TooFewInReference { found: 1, .. })
        ));
        let none = build_report(
            &[],
            MethodName::Auto,
            &RoundOptions::default(),
            Reader::Coordinator,
        )
        .expect_err("nobody");
        assert!(none.en.contains("No lab"));
    }

    #[test]
    fn an_excluded_lab_keeps_its_degree_of_equivalence() {
        let mut entries = vec![
            entry(1, 10.01, 0.02, 2.0),
            entry(2, 10.03, 0.02, 2.0),
            entry(3, 10.50, 0.04, 2.0),
        ];
        entries[2].excluded = Some("outlier: mishandled artefact".into());
        let r = build_report(
            &entries,
            MethodName::WeightedMean,
            &RoundOptions::default(),
            Reader::Coordinator,
        )
        .expect("report");
        assert!((r.reference.value - 10.02).abs() < 1e-9);
        let l3 = &r.labs[2];
        assert!(!l3.included);
        assert_eq!(
            l3.exclusion_reason.as_deref(),
            Some("outlier: mishandled artefact")
        );
        assert!(l3.en.is_some_and(|en| en > 1.0));
        let csv = report_csv(&r);
        assert!(csv.contains("false,outlier: mishandled artefact"), "{csv}");
        let svg = chart_values(&r, "V");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("Lab 3 (L03)"));
        assert!(chart_en(&r).is_some());
        assert!(chart_z(&r).is_none(), "no sigma_pt, no z");
    }

    #[test]
    fn settings_are_checked_with_the_field_named() {
        let bad = compare_options(
            MethodName::Assigned,
            &RoundOptions {
                assigned: Some(1.0),
                ..RoundOptions::default()
            },
        )
        .expect_err("no u");
        assert_eq!(bad.field, "options.assigned");
        let bad = compare_options(
            MethodName::Median,
            &RoundOptions {
                sigma_pt: Some(-1.0),
                ..RoundOptions::default()
            },
        )
        .expect_err("negative");
        assert_eq!(bad.field, "options.sigma_pt");
        assert_eq!(
            check_result(1.0, -0.1, 2.0).map_err(|e| e.field),
            Err("expanded_uncertainty")
        );
        assert_eq!(check_result(1.0, 0.1, 0.0).map_err(|e| e.field), Err("k"));
        assert!(check_result(1.0, 0.1, 2.0).is_ok());
    }
}
