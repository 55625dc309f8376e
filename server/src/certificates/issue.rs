//! Issuing a certificate for a [`SourceRecord`]: number it, build its
//! content and leaf (and, when it replaces one, the old one's
//! `certificate_status` leaf naming the new number), store them in one
//! transaction. The caller decides who may (`http::certificates`, and the
//! demo seeding, which publishes a round as its expert).

use jiliang_ledger::RecordKind;
use jiliang_protocol::certificates::CertificateStatus;
use time::OffsetDateTime;

use super::source::SourceRecord;
use super::{Certificate, Signer, SourceRef, StatusPayload};
use crate::error::AppError;
use crate::i18n::Text;
use crate::ledger::records::rfc3339_micros;
use crate::store::Store;
use crate::store::certificates::{CertificateStoreError, NewCertificate, StoredCertificate};

/// A store refusal in the user's terms.
pub fn stored_error(e: CertificateStoreError) -> AppError {
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

/// Issue a certificate for `src`, signed by `signer` at `issued_at`,
/// replacing `supersedes` (number, reason) when given.
pub async fn issue(
    store: &Store,
    signer: Signer,
    src: &SourceRecord,
    supersedes: Option<(String, String)>,
    issued_at: OffsetDateTime,
) -> Result<StoredCertificate, AppError> {
    let mut old_leaf = None;
    if let Some((n, _)) = &supersedes {
        let old = store.get_certificate(n).await?.ok_or_else(|| {
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
        old_leaf = Some(certificate_leaf_hash(store, n).await?);
    }
    let leaf = store
        .ledger_leaf(&src.kind, &src.id)
        .await?
        .ok_or_else(|| AppError::internal(format!("record {} has no ledger leaf", src.id)))?;
    let by = signer.id;
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
        let text = super::content_text(&c).map_err(|e| e.to_string())?;
        let record = super::leaf_record(&c, &text, issued_at).map_err(|e| e.to_string())?;
        let superseded = match (&supersedes, &old_leaf) {
            (Some((old, reason)), Some(hash)) => Some(
                super::status_record(
                    &StatusPayload {
                        number: old.clone(),
                        status: CertificateStatus::Superseded.as_str().to_owned(),
                        reason: reason.clone(),
                        at: rfc3339_micros(issued_at),
                        by,
                        superseded_by: Some(number.to_owned()),
                        certificate_leaf_hash: hash.clone(),
                    },
                    issued_at,
                )
                .map_err(|e| e.to_string())?,
            ),
            _ => None,
        };
        Ok((text, record, superseded))
    };
    store
        .insert_certificate(
            &NewCertificate {
                year: issued_at.year(),
                source_kind: &src.kind,
                source_id: &src.id,
                lab_id: src.lab.institution.id,
                customer_id: src.customer.as_ref().map(|c| c.institution.id),
                issued_by: by,
                issued_at,
                supersedes: supersedes.as_ref().map(|(n, r)| (n.as_str(), r.as_str())),
            },
            build,
        )
        .await
        .map_err(stored_error)
}

/// The hex leaf hash of certificate `number`'s own leaf.
pub async fn certificate_leaf_hash(store: &Store, number: &str) -> Result<String, AppError> {
    let leaf = store
        .ledger_leaf(RecordKind::CERTIFICATE.as_str(), number)
        .await?
        .ok_or_else(|| AppError::internal(format!("certificate {number} has no ledger leaf")))?;
    Ok(jiliang_ledger::hex::encode(&leaf.leaf_hash))
}
