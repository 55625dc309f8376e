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
use crate::certificates::{self, Certificate, Signer, SourceRef, dcc, source};
use crate::clock::now;
use crate::error::{AppError, AppJson, AppPath, AppQuery, AppResult};
use crate::i18n::Text;
use crate::ledger::records::rfc3339_micros;
use crate::state::AppState;
use crate::store::certificates::{
    CertificateStoreError, NewCertificate, StoredCertificate, looks_like_number,
};
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

fn stored_error(e: CertificateStoreError) -> AppError {
    match e {
        CertificateStoreError::Database(e) => e.into(),
        CertificateStoreError::AlreadyIssued(n) => AppError::Conflict(Text::owned(
            format!("该记录已有有效证书 {n}；如需更正，请签发替代证书（supersedes）。"),
            format!(
                "The record already has the valid certificate {n}; to correct it, issue a replacement (supersedes)."
            ),
        )),
        CertificateStoreError::NotValid { number, status } => {
            let zh = match CertificateStatus::parse(&status) {
                Some(CertificateStatus::Revoked) => "已撤销",
                Some(CertificateStatus::Superseded) => "已被替代",
                _ => "无效",
            };
            AppError::Conflict(Text::owned(
                format!("证书 {number} {zh}，不能再更改。"),
                format!("The certificate {number} is {status}: it cannot change any more."),
            ))
        }
        CertificateStoreError::NoSuchCertificate(n) => AppError::NotFound(Text::owned(
            format!("没有证书 {n}。"),
            format!("No certificate {n}."),
        )),
        CertificateStoreError::Build(why) => AppError::internal(why),
    }
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
    let (lab, customer) = paths_of(state, &c).await?;
    authz::view_certificate(p, &lab, customer.as_deref()).require(Text::new(
        "没有这个编号的证书。",
        "No certificate has this number.",
    ))?;
    let can_manage = authz::sign_certificate(p, &lab).allowed();
    let doc = parsed(&c)?;
    Ok((c, doc, can_manage))
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
            state
                .store
                .certificates_of_source(RecordKind::RAW_RECORD.as_str(), id)
                .await?
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
        let (lab, customer) = paths_of(&state, &c).await?;
        if !authz::view_certificate(&p, &lab, customer.as_deref()).allowed() {
            continue;
        }
        let doc = parsed(&c)?;
        let can_manage = authz::sign_certificate(&p, &lab).allowed();
        out.push(view(&c, &doc, can_manage));
    }
    Ok(axum::Json(out))
}

/// Issue a certificate for a finished calibration record (an expert at or
/// above the lab that hosted it). It gets the next number of the year
/// (`JL-2026-000001`) and a `certificate` ledger record. With `supersedes`
/// (and `reason`) it replaces a valid certificate, which becomes
/// `superseded`; otherwise a record with a valid certificate is refused.
#[utoipa::path(post, path = "/api/v1/certificates", tag = "certificates", request_body = IssueCertificate, responses(
    (status = 201, body = CertificateView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody, description = "No such record"),
    (status = 409, body = ErrorBody, description = "The record already has a valid certificate, a point is incomplete, or the one to supersede is not valid"),
    (status = 422, body = ErrorBody, description = "Unknown source kind, a unit without D-SI form, a missing reason")))]
async fn issue(
    State(state): State<AppState>,
    p: Principal,
    AppJson(req): AppJson<IssueCertificate>,
) -> AppResult<Response> {
    if req.source_kind != RecordKind::RAW_RECORD.as_str() {
        return Err(AppError::Invalid {
            message: Text::owned(
                format!(
                    "source_kind：只能为已完成的校准记录（raw_record）签发证书，不是“{}”。",
                    req.source_kind
                ),
                format!(
                    "source_kind: certificates are issued for finished calibration records (raw_record), not \"{}\".",
                    req.source_kind
                ),
            ),
            details: Vec::new(),
        });
    }
    let not_found = || AppError::not_found("找不到该校准记录。", "No such calibration record.");
    let id: Uuid = req.source_id.trim().parse().map_err(|_| not_found())?;
    let session = state
        .store
        .comparison_session(id)
        .await?
        .ok_or_else(not_found)?;
    // Whoever cannot see the session learns nothing of its record.
    crate::http::sessions::visible(&state, &p, session).await?;
    let src = source::from_comparison(&state.store, id).await?;
    authz::sign_certificate(&p, &src.lab.path)
        .require(Text::new(
            "找不到该校准记录。",
            "No such calibration record.",
        ))
        .map_err(|e| match e {
            AppError::Forbidden => AppError::ForbiddenBecause(Text::new(
                "只有该实验室或其上级的专家（签发人）可以签发证书。",
                "Only an expert (signer) at or above the calibrating lab can issue certificates.",
            )),
            other => other,
        })?;
    let supersedes = match &req.supersedes {
        Some(n) => Some((
            n.trim().to_owned(),
            reason_field("reason", req.reason.as_deref())?,
        )),
        None => None,
    };
    if let Some((n, _)) = &supersedes {
        let old = state.store.get_certificate(n).await?.ok_or_else(|| {
            AppError::NotFound(Text::owned(
                format!("supersedes：没有证书 {n}。"),
                format!("supersedes: no certificate {n}."),
            ))
        })?;
        if old.source_kind != src.kind || old.source_id != src.id {
            return Err(AppError::Invalid {
                message: Text::owned(
                    format!("supersedes：证书 {n} 不是这条记录的证书。"),
                    format!("supersedes: the certificate {n} is not one of this record's."),
                ),
                details: Vec::new(),
            });
        }
    }
    let leaf = state
        .store
        .ledger_leaf(&src.kind, &src.id)
        .await?
        .ok_or_else(|| AppError::internal(format!("record {} has no ledger leaf", src.id)))?;
    let issued_at = now();
    let signer = Signer {
        id: p.user.id,
        name: p.user.display_name.clone(),
    };
    let source_ref = SourceRef {
        kind: src.kind.clone(),
        id: src.id.clone(),
        leaf_hash: jiliang_ledger::hex::encode(&leaf.leaf_hash),
        leaf_index: leaf.index,
    };
    let document = src.document.clone();
    let supersedes_number = supersedes.as_ref().map(|(n, _)| n.clone());
    let build = |number: &str| {
        let c = Certificate::new(
            number,
            issued_at,
            signer.clone(),
            source_ref.clone(),
            supersedes_number.clone(),
            document.clone(),
        );
        let text = certificates::content_text(&c).map_err(|e| e.to_string())?;
        let record = certificates::leaf_record(&c, &text, issued_at).map_err(|e| e.to_string())?;
        Ok((text, record))
    };
    let stored = state
        .store
        .insert_certificate(
            &NewCertificate {
                year: issued_at.year(),
                source_kind: &src.kind,
                source_id: &src.id,
                lab_id: src.lab.institution.id,
                customer_id: src.customer.as_ref().map(|c| c.institution.id),
                issued_by: p.user.id,
                issued_at,
                supersedes: supersedes.as_ref().map(|(n, r)| (n.as_str(), r.as_str())),
            },
            build,
        )
        .await
        .map_err(stored_error)?;
    // Sign a head now, so the verification page has its proof at once.
    if let Err(e) = state.ledger.publish().await {
        tracing::warn!(error = %e, "publishing a head after issuing a certificate failed");
    }
    tracing::info!(number = %stored.number, by = %p.user.id, source = %src.id, "certificate issued");
    let doc = parsed(&stored)?;
    Ok((
        axum::http::StatusCode::CREATED,
        axum::Json(view(&stored, &doc, true)),
    )
        .into_response())
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
    let stored = state
        .store
        .revoke_certificate(&c.number, &reason, p.user.id, now())
        .await
        .map_err(stored_error)?;
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
    let ledger = match state
        .store
        .ledger_leaf(RecordKind::CERTIFICATE.as_str(), &c.number)
        .await?
    {
        Some(leaf) => match crate::http::ledger::export(&state, vec![leaf]).await {
            Ok(bundle) => Some(serde_json::to_value(&bundle).map_err(AppError::internal)?),
            Err(AppError::LedgerHeadPending { .. }) => None,
            Err(e) => return Err(e),
        },
        None => None,
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

/// The certificate as PDF (校准证书, PDF/A-3b with the DCC embedded), its
/// QR code linking to `/verify/{number}`. Its lab, its customer and their
/// supervisors; a revoked one still downloads (the page says revoked).
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
        let xml = dcc::dcc_xml(&doc).map_err(|e| e.to_string())?;
        certificate_pdf(&doc, &font, &url, Some(&xml)).map_err(|e| e.to_string())
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

/// The certificate as a Digital Calibration Certificate (DCC 3.3.0 XML,
/// D-SI 2.2.1 quantities). Who may see the certificate.
#[utoipa::path(get, path = "/api/v1/certificates/{number}/dcc.xml", tag = "certificates",
    params(("number" = String, Path)), responses(
    (status = 200, content_type = "application/xml", body = String), (status = 401, body = ErrorBody),
    (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn download_dcc(
    State(state): State<AppState>,
    p: Principal,
    AppPath(number): AppPath<String>,
) -> AppResult<Response> {
    let (c, doc, _) = visible(&state, &p, &number).await?;
    let xml = dcc::dcc_xml(&doc).map_err(AppError::internal)?;
    Ok(attachment(
        "application/xml; charset=utf-8",
        format!("{}.dcc.xml", c.number),
        xml,
    ))
}
