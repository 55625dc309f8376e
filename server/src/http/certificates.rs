//! Calibration certificates: issue one for a finished record (the signing
//! expert), revoke or supersede it, list them, download the PDF and the
//! DCC (its lab, its customer, their supervisors), and the public
//! verification document behind `/verify/{number}` (no login; unknown
//! numbers are rate-limited per address).

use std::sync::{Mutex, OnceLock};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiliang_ledger::RecordKind;
use jiliang_protocol::ErrorBody;
use jiliang_protocol::certificates::{
    CertificateQuery, CertificateStatus, CertificateView, IssueCertificate, PublicCertificate,
    RevokeCertificate,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Principal;
use crate::auth::request_meta::RequestMeta;
use crate::authz;
use crate::certificates::pdf::{CertFont, certificate_pdf};
use crate::certificates::{self, Certificate, Signer, StatusPayload, dcc, source};
use crate::clock::now;
use crate::error::{AppError, AppJson, AppPath, AppQuery, AppResult};
use crate::i18n::Text;
use crate::ledger::records::rfc3339_micros;
use crate::state::AppState;
use crate::store::certificates::{StoredCertificate, looks_like_number};
use crate::store::throttle::{Attempt, Limit};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_certificates, issue))
        .routes(routes!(public_certificate))
        .routes(routes!(revoke))
        .routes(routes!(download_pdf))
        .routes(routes!(download_dcc))
}

/// Unknown numbers asked for by one address: 30 in 10 minutes, then 10
/// minutes' pause (numbers are sequential; this stops walking the gaps,
/// not reading a number printed on a certificate).
const LOOKUP_LIMIT: Limit = Limit {
    max_failures: 30,
    window: time::Duration::minutes(10),
    lockout: time::Duration::minutes(10),
};

const MAX_REASON: usize = 500;

fn unknown() -> AppError {
    AppError::not_found(
        "没有这个编号的证书：请核对编号。该证书可能是伪造的。",
        "No certificate has this number: check it. The certificate may be forged.",
    )
}

fn reason_field(field: &str, reason: Option<&str>) -> AppResult<String> {
    let r = reason.map(str::trim).unwrap_or_default();
    if r.is_empty() || r.chars().count() > MAX_REASON || r.chars().any(char::is_control) {
        return Err(AppError::Invalid {
            message: Text::owned(
                format!("{field}：请写明原因（1–{MAX_REASON} 个字符，不含控制字符）。"),
                format!(
                    "{field}: give the reason (1–{MAX_REASON} characters, no control characters)."
                ),
            ),
            details: Vec::new(),
        });
    }
    Ok(r.to_owned())
}

/// The certificate's paths for authorization: (lab, customer).
async fn paths_of(state: &AppState, c: &StoredCertificate) -> AppResult<(String, Option<String>)> {
    let lab = state.store.get_institution(c.lab_id).await?.path;
    let customer = match c.customer_id {
        Some(id) => Some(state.store.get_institution(id).await?.path),
        None => None,
    };
    Ok((lab, customer))
}

fn parsed(c: &StoredCertificate) -> AppResult<Certificate> {
    serde_json::from_str(&c.content).map_err(AppError::internal)
}

fn time_text(t: time::OffsetDateTime) -> String {
    rfc3339_micros(t)
}

fn status_of(c: &StoredCertificate) -> CertificateStatus {
    CertificateStatus::parse(&c.status).unwrap_or(CertificateStatus::Revoked)
}

fn view(c: &StoredCertificate, doc: &Certificate, can_manage: bool) -> CertificateView {
    CertificateView {
        number: c.number.clone(),
        status: status_of(c),
        status_reason: c.status_reason.clone(),
        status_at: c.status_at.map(time_text),
        superseded_by: c.superseded_by.clone(),
        supersedes: c.supersedes.clone(),
        issued_at: doc.issued_at.clone(),
        issue_date: doc.issue_date.clone(),
        signer: doc.signer.name.clone(),
        lab_id: c.lab_id,
        lab: doc.document.lab.name_zh.clone(),
        customer_id: c.customer_id,
        customer: doc.document.customer.name_zh.clone(),
        instrument: doc.document.item.name.clone(),
        source_kind: c.source_kind.clone(),
        source_id: c.source_id.clone(),
        verdict: doc.document.verdict.clone(),
        can_manage: can_manage && status_of(c) == CertificateStatus::Valid,
    }
}

/// The certificate `number`, if `p` may see it.
async fn visible(
    state: &AppState,
    p: &Principal,
    number: &str,
) -> AppResult<(StoredCertificate, Certificate, bool)> {
    if !looks_like_number(number) {
        return Err(unknown());
    }
    let c = state
        .store
        .get_certificate(number)
        .await?
        .ok_or_else(unknown)?;
    if c.source_kind == RecordKind::ROUND_REPORT.as_str() {
        // A round's report: whoever may read the round's report (its
        // coordinators, and its labs once they may see it).
        let round: Uuid = c.source_id.parse().map_err(|_| unknown())?;
        let (l, rel) = crate::rounds::load(&state.store, p, round).await?;
        if !l.report_readable(rel) {
            return Err(unknown());
        }
    } else {
        let (lab, customer) = paths_of(state, &c).await?;
        authz::view_certificate(p, &lab, customer.as_deref()).require(Text::new(
            "没有这个编号的证书。",
            "No certificate has this number.",
        ))?;
    }
    let lab = state.store.get_institution(c.lab_id).await?.path;
    let can_manage = authz::sign_certificate(p, &lab).allowed();
    let doc = parsed(&c)?;
    Ok((c, doc, can_manage))
}

/// Whether `p` may see `c` in a list, and manage it.
async fn listed(state: &AppState, p: &Principal, c: &StoredCertificate) -> AppResult<(bool, bool)> {
    let (lab, customer) = paths_of(state, c).await?;
    let can_manage = authz::sign_certificate(p, &lab).allowed();
    if c.source_kind == RecordKind::ROUND_REPORT.as_str() {
        let Ok(round) = c.source_id.parse::<Uuid>() else {
            return Ok((false, false));
        };
        return match crate::rounds::load(&state.store, p, round).await {
            Ok((l, rel)) => Ok((l.report_readable(rel), can_manage)),
            Err(AppError::Forbidden | AppError::ForbiddenBecause(_) | AppError::NotFound(_)) => {
                Ok((false, false))
            }
            Err(e) => Err(e),
        };
    }
    Ok((
        authz::view_certificate(p, &lab, customer.as_deref()).allowed(),
        can_manage,
    ))
}

/// Certificates the caller may see: of labs and customers in their subtree
/// (admins, experts) or of their own institution, newest first (at most
/// 200); `source_id` narrows to one record's.
#[utoipa::path(get, path = "/api/v1/certificates", tag = "certificates", params(CertificateQuery), responses(
    (status = 200, body = Vec<CertificateView>), (status = 401, body = ErrorBody)))]
async fn list_certificates(
    State(state): State<AppState>,
    p: Principal,
    AppQuery(q): AppQuery<CertificateQuery>,
) -> AppResult<axum::Json<Vec<CertificateView>>> {
    let rows = match &q.source_id {
        Some(id) => {
            let mut rows = state
                .store
                .certificates_of_source(RecordKind::RAW_RECORD.as_str(), id)
                .await?;
            rows.extend(
                state
                    .store
                    .certificates_of_source(RecordKind::ROUND_REPORT.as_str(), id)
                    .await?,
            );
            rows
        }
        None => {
            // Staff see their subtree; everyone else their own institution,
            // which is the same prefix query on their own path (children
            // would need staff rights, and the filter below checks anyway).
            state.store.certificates_under(&p.path, 200).await?
        }
    };
    let mut out = Vec::with_capacity(rows.len());
    for c in rows {
        let (visible, can_manage) = listed(&state, &p, &c).await?;
        if !visible {
            continue;
        }
        let doc = parsed(&c)?;
        out.push(view(&c, &doc, can_manage));
    }
    Ok(axum::Json(out))
}

/// Issue a certificate for a finished calibration record (`raw_record`,
/// an expert at or above the lab that hosted it) or a published round's
/// report (`round_report`, an expert coordinating the round; publishing
/// issues it already, so this is for a replacement or after a revocation).
/// It gets the next number of the year (`JL-2026-000001`) and a
/// `certificate` ledger record. With `supersedes` (and `reason`) it
/// replaces a valid certificate, which becomes `superseded` (a
/// `certificate_status` record); otherwise a record with a valid
/// certificate is refused.
#[utoipa::path(post, path = "/api/v1/certificates", tag = "certificates", request_body = IssueCertificate, responses(
    (status = 201, body = CertificateView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody, description = "No such record"),
    (status = 409, body = ErrorBody, description = "The record already has a valid certificate, a point is incomplete, the round is not published, or the one to supersede is not valid"),
    (status = 422, body = ErrorBody, description = "Unknown source kind, a unit without D-SI form, a missing reason")))]
async fn issue(
    State(state): State<AppState>,
    p: Principal,
    AppJson(req): AppJson<IssueCertificate>,
) -> AppResult<Response> {
    let src = if req.source_kind == RecordKind::RAW_RECORD.as_str() {
        let not_found = || AppError::not_found("找不到该校准记录。", "No such calibration record.");
        let id: Uuid = req.source_id.trim().parse().map_err(|_| not_found())?;
        let session = state
            .store
            .comparison_session(id)
            .await?
            .ok_or_else(not_found)?;
        // Whoever cannot see the session learns nothing of its record.
        crate::http::sessions::visible(&state, &p, session).await?;
        source::from_comparison(&state.store, id).await?
    } else if req.source_kind == RecordKind::ROUND_REPORT.as_str() {
        let id: Uuid = req
            .source_id
            .trim()
            .parse()
            .map_err(|_| crate::rounds::not_found())?;
        let (l, _) = crate::rounds::load(&state.store, &p, id).await?;
        l.require_manage(&p)?;
        source::from_round(&state.store, id).await?
    } else {
        return Err(AppError::Invalid {
            message: Text::owned(
                format!(
                    "source_kind：只能为已完成的校准记录（raw_record）或已发布的比对报告（round_report）签发证书，不是“{}”。",
                    req.source_kind
                ),
                format!(
                    "source_kind: certificates are issued for finished calibration records (raw_record) or published round reports (round_report), not \"{}\".",
                    req.source_kind
                ),
            ),
            details: Vec::new(),
        });
    };
    require_signer(&p, &src)?;
    let supersedes = match &req.supersedes {
        Some(n) => Some((
            n.trim().to_owned(),
            reason_field("reason", req.reason.as_deref())?,
        )),
        None => None,
    };
    let stored = issue_for(&state, &p, &src, supersedes).await?;
    let doc = parsed(&stored)?;
    Ok((
        axum::http::StatusCode::CREATED,
        axum::Json(view(&stored, &doc, true)),
    )
        .into_response())
}

/// Refuse unless `p` may sign for `src`'s lab (an expert at or above it).
fn require_signer(p: &Principal, src: &source::SourceRecord) -> AppResult<()> {
    authz::sign_certificate(p, &src.lab.path)
        .require(Text::new("找不到该记录。", "No such record."))
        .map_err(|e| match e {
            AppError::Forbidden => AppError::ForbiddenBecause(Text::new(
                "只有该实验室或其上级的专家（签发人）可以签发证书。",
                "Only an expert (signer) at or above the calibrating lab can issue certificates.",
            )),
            other => other,
        })
}

/// Number, sign and store a certificate for `src` by `p` (who must be an
/// expert at or above its lab), replacing `supersedes` (number, reason)
/// when given; then sign a head so the verification page has its proof.
pub(crate) async fn issue_for(
    state: &AppState,
    p: &Principal,
    src: &source::SourceRecord,
    supersedes: Option<(String, String)>,
) -> AppResult<StoredCertificate> {
    require_signer(p, src)?;
    let stored = certificates::issue::issue(
        &state.store,
        Signer {
            id: p.user.id,
            name: p.user.display_name.clone(),
        },
        src,
        supersedes,
        now(),
    )
    .await?;
    // Sign a head now, so the verification page has its proof at once.
    if let Err(e) = state.ledger.publish().await {
        tracing::warn!(error = %e, "publishing a head after issuing a certificate failed");
    }
    tracing::info!(number = %stored.number, by = %p.user.id, source = %src.id, "certificate issued");
    Ok(stored)
}

/// Revoke a valid certificate (an expert at or above its lab), with the
/// reason the verification page shows. Revoked is final.
#[utoipa::path(post, path = "/api/v1/certificates/{number}/revoke", tag = "certificates",
    params(("number" = String, Path)), request_body = RevokeCertificate, responses(
    (status = 200, body = CertificateView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Already revoked or superseded"),
    (status = 422, body = ErrorBody, description = "No reason")))]
async fn revoke(
    State(state): State<AppState>,
    p: Principal,
    AppPath(number): AppPath<String>,
    AppJson(req): AppJson<RevokeCertificate>,
) -> AppResult<axum::Json<CertificateView>> {
    let (c, _, can_manage) = visible(&state, &p, &number).await?;
    if !can_manage {
        return Err(AppError::ForbiddenBecause(Text::new(
            "只有该实验室或其上级的专家（签发人）可以撤销证书。",
            "Only an expert (signer) at or above the calibrating lab can revoke certificates.",
        )));
    }
    let reason = reason_field("reason", Some(&req.reason))?;
    let at = now();
    let record = certificates::status_record(
        &StatusPayload {
            number: c.number.clone(),
            status: CertificateStatus::Revoked.as_str().to_owned(),
            reason: reason.clone(),
            at: rfc3339_micros(at),
            by: p.user.id,
            superseded_by: None,
            certificate_leaf_hash: certificates::issue::certificate_leaf_hash(
                &state.store,
                &c.number,
            )
            .await?,
        },
        at,
    )
    .map_err(AppError::internal)?;
    let stored = state
        .store
        .revoke_certificate(&c.number, &reason, p.user.id, at, &record)
        .await
        .map_err(certificates::issue::stored_error)?;
    // Sign a head now, so the verification page proves the new status.
    if let Err(e) = state.ledger.publish().await {
        tracing::warn!(error = %e, "publishing a head after revoking a certificate failed");
    }
    tracing::info!(number = %stored.number, by = %p.user.id, "certificate revoked");
    let doc = parsed(&stored)?;
    Ok(axum::Json(view(&stored, &doc, true)))
}

/// The public verification document (no login): number, lab, instrument,
/// dates, signer, status (with the reason when revoked or superseded) and
/// the certificate's ledger record with its proof. An unknown number is a
/// 404 saying so; too many unknown numbers from one address, 429.
#[utoipa::path(get, path = "/api/v1/certificates/{number}", tag = "certificates",
    params(("number" = String, Path)), responses(
    (status = 200, body = PublicCertificate), (status = 404, body = ErrorBody, description = "Unknown number"),
    (status = 429, body = ErrorBody)))]
async fn public_certificate(
    State(state): State<AppState>,
    meta: RequestMeta,
    AppPath(number): AppPath<String>,
) -> AppResult<axum::Json<PublicCertificate>> {
    let key = format!("cert-lookup:{}", meta.ip.as_deref().unwrap_or("unknown"));
    if let Some(retry_after_s) = state.store.throttle_locked(&key).await? {
        return Err(AppError::RateLimited { retry_after_s });
    }
    let found = if looks_like_number(&number) {
        state.store.get_certificate(&number).await?
    } else {
        None
    };
    let Some(c) = found else {
        if let Attempt::Refused { retry_after_s } =
            state.store.throttle_take(&key, LOOKUP_LIMIT).await?
        {
            return Err(AppError::RateLimited { retry_after_s });
        }
        return Err(unknown());
    };
    let doc = parsed(&c)?;
    // The issue leaf, and the status leaf once revoked or superseded: the
    // page proves the status it shows, not only that the number exists.
    let mut leaves = Vec::with_capacity(2);
    for kind in [RecordKind::CERTIFICATE, RecordKind::CERTIFICATE_STATUS] {
        if let Some(leaf) = state.store.ledger_leaf(kind.as_str(), &c.number).await? {
            leaves.push(leaf);
        }
    }
    leaves.sort_by_key(|l| l.index);
    let ledger = if leaves.is_empty() {
        None
    } else {
        match crate::http::ledger::export(&state, leaves).await {
            Ok(bundle) => Some(serde_json::to_value(&bundle).map_err(AppError::internal)?),
            Err(AppError::LedgerHeadPending { .. }) => None,
            Err(e) => return Err(e),
        }
    };
    Ok(axum::Json(PublicCertificate {
        number: c.number.clone(),
        status: status_of(&c),
        status_reason: c.status_reason.clone(),
        status_at: c.status_at.map(time_text),
        superseded_by: c.superseded_by.clone(),
        issued_at: doc.issued_at.clone(),
        issue_date: doc.issue_date.clone(),
        lab: doc.document.lab.name_zh.clone(),
        lab_en: doc.document.lab.name_en.clone(),
        instrument: doc.document.item.name.clone(),
        signer: doc.signer.name.clone(),
        ledger,
    }))
}

/// The font, loaded once per configured path (a 19 MB file).
fn font(state: &AppState) -> AppResult<CertFont> {
    type Cache = Mutex<Vec<((Option<std::path::PathBuf>, Option<u32>), CertFont)>>;
    static FONTS: OnceLock<Cache> = OnceLock::new();
    let key = (
        state.config.certificate_font.clone(),
        state.config.certificate_font_index,
    );
    let cache = FONTS.get_or_init(|| Mutex::new(Vec::new()));
    if let Some((_, f)) = cache
        .lock()
        .map_err(|_| AppError::internal("font cache poisoned"))?
        .iter()
        .find(|(k, _)| *k == key)
    {
        return Ok(f.clone());
    }
    let f = CertFont::load(key.0.as_deref(), key.1).map_err(|e| {
        tracing::error!(error = %e, "certificate font");
        AppError::Unavailable(Text::owned(
            format!("服务器缺少中文字体，暂时无法生成 PDF 证书（{e}）。"),
            format!("The server has no Chinese font: PDF certificates cannot be made now ({e})."),
        ))
    })?;
    cache
        .lock()
        .map_err(|_| AppError::internal("font cache poisoned"))?
        .push((key, f.clone()));
    Ok(f)
}

fn attachment(content_type: &str, file: String, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// The certificate as PDF (校准证书, or a round's 计量比对结果报告;
/// PDF/A-3b with the DCC embedded), its QR code linking to
/// `/verify/{number}`. Its lab, its customer and their supervisors (a
/// round report: whoever may read the round's report); a revoked one still
/// downloads (the page says revoked).
#[utoipa::path(get, path = "/api/v1/certificates/{number}/pdf", tag = "certificates",
    params(("number" = String, Path)), responses(
    (status = 200, content_type = "application/pdf", body = Vec<u8>), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 503, body = ErrorBody, description = "No CJK font on the server")))]
async fn download_pdf(
    State(state): State<AppState>,
    p: Principal,
    meta: RequestMeta,
    AppPath(number): AppPath<String>,
) -> AppResult<Response> {
    let (c, doc, _) = visible(&state, &p, &number).await?;
    let font = font(&state)?;
    let url = format!("{}/verify/{}", meta.origin, c.number);
    let pdf = tokio::task::spawn_blocking(move || {
        // A round in a unit without D-SI form has no DCC to embed.
        let xml = match dcc::dcc_xml(&doc) {
            Ok(xml) => Some(xml),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => None,
            Err(e) => return Err(e.to_string()),
        };
        certificate_pdf(&doc, &font, &url, xml.as_deref()).map_err(|e| e.to_string())
    })
    .await
    .map_err(AppError::internal)?
    .map_err(AppError::internal)?;
    Ok(attachment(
        "application/pdf",
        format!("{}.pdf", c.number),
        pdf,
    ))
}

/// The certificate (or round report) as a Digital Calibration Certificate
/// (DCC 3.3.0 XML, D-SI 2.2.1 quantities). Who may see the certificate;
/// a round report in a unit without D-SI form has none (422).
#[utoipa::path(get, path = "/api/v1/certificates/{number}/dcc.xml", tag = "certificates",
    params(("number" = String, Path)), responses(
    (status = 200, content_type = "application/xml", body = String), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "A round report in a unit without D-SI form")))]
async fn download_dcc(
    State(state): State<AppState>,
    p: Principal,
    AppPath(number): AppPath<String>,
) -> AppResult<Response> {
    let (c, doc, _) = visible(&state, &p, &number).await?;
    let xml = dcc::dcc_xml(&doc).map_err(|e| match (&doc.document.round, e.kind()) {
        (Some(t), std::io::ErrorKind::InvalidInput) => AppError::Invalid {
            message: Text::owned(
                format!("单位 {} 没有 D-SI 表示，该报告没有数字证书（DCC）；PDF 和 CSV 可用。", t.unit),
                format!(
                    "The unit {} has no D-SI form: this report has no DCC (its PDF and CSV are available).",
                    t.unit
                ),
            ),
            details: Vec::new(),
        },
        _ => AppError::internal(e),
    })?;
    Ok(attachment(
        "application/xml; charset=utf-8",
        format!("{}.dcc.xml", c.number),
        xml,
    ))
}
