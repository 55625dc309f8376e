//! Calibration certificates (校准证书): issuing, revoking, listing, and the
//! public verification document behind `/verify/{number}`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /api/v1/certificates`: issue a certificate for a finished record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IssueCertificate {
    /// Ledger kind of the record: `raw_record` (a finished comparison) or
    /// `round_report` (a published round; publishing issues it already).
    pub source_kind: String,
    /// The record's id (the comparison id, the round id).
    pub source_id: String,
    /// The valid certificate this one replaces (it becomes `superseded`).
    #[serde(default)]
    pub supersedes: Option<String>,
    /// Why it is replaced (required with `supersedes`, 1–500 characters).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub reason: Option<String>,
}

/// `POST /api/v1/certificates/{number}/revoke`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RevokeCertificate {
    /// Why (1–500 characters); shown on the public verification page.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
    pub reason: String,
}

/// `valid`, `revoked` or `superseded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CertificateStatus {
    Valid,
    Revoked,
    Superseded,
}

impl CertificateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Revoked => "revoked",
            Self::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "valid" => Some(Self::Valid),
            "revoked" => Some(Self::Revoked),
            "superseded" => Some(Self::Superseded),
            _ => None,
        }
    }
}

/// A certificate as its lab, its customer and their supervisors see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificateView {
    pub number: String,
    pub status: CertificateStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
    /// RFC 3339.
    pub issued_at: String,
    /// `YYYY-MM-DD`.
    pub issue_date: String,
    pub signer: String,
    pub lab_id: Uuid,
    pub lab: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<Uuid>,
    pub customer: String,
    pub instrument: String,
    pub source_kind: String,
    pub source_id: String,
    /// Overall conformity of the results, when decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// Whether the caller may revoke or supersede it.
    pub can_manage: bool,
}

/// `GET /api/v1/certificates/{number}` (public, no login): what the
/// verification page shows, and the certificate's ledger record with its
/// inclusion proof and signed head (a `jiliang-ledger-export/1` bundle) for
/// the browser to check. `ledger` is absent while no signed head covers
/// the record yet (seconds after issue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PublicCertificate {
    pub number: String,
    pub status: CertificateStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    pub issued_at: String,
    pub issue_date: String,
    pub lab: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lab_en: Option<String>,
    pub instrument: String,
    pub signer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub ledger: Option<serde_json::Value>,
}

/// `GET /api/v1/certificates` query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct CertificateQuery {
    /// Only the certificates of this record (e.g. a comparison id).
    #[serde(default)]
    pub source_id: Option<String>,
}
