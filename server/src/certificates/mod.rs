//! Calibration certificates (校准证书, issue 11 items 3–4): issuing one for
//! a finished record, revoking and superseding, and rendering it as a PDF
//! (`pdf`) and a DCC 3.3.0 XML (`dcc`).
//!
//! A certificate is its number (`JL-<year>-<seq>`), the signer, the issue
//! time, the source record (ledger kind, id and leaf hash) and the
//! [`document::Document`] the source yielded. That whole [`Certificate`] is
//! stored as JSON in the `certificates` row; its ledger leaf (`certificate`,
//! id = number) holds a [`LeafPayload`] — what the public verification page
//! shows, plus the SHA-256 of the stored certificate JSON — so anyone can
//! check the page against the log without the results being public, and
//! whoever holds the document can check it against the leaf.
//!
//! A change of status is a leaf too (`certificate_status`, id = number,
//! a [`StatusPayload`]), appended in the transaction that changes the row:
//! revoked and superseded are final, so each number has at most one. The
//! verification page proves the status it shows with that leaf (or, for a
//! valid certificate, with the issue leaf alone), and `jiliang ledger
//! check` re-derives it from the row, so a status changed behind the log's
//! back is found either way.

pub mod dcc;
pub mod document;
pub mod issue;
pub mod pdf;
pub mod source;

use jiliang_ledger::{Record, RecordError, RecordKind, hex};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::ledger::records::{rfc3339_micros, unix_ms};
use document::Document;

/// `format` of a stored certificate.
pub const FORMAT: &str = "jiliang-certificate/1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signer {
    pub id: uuid::Uuid,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRef {
    pub kind: String,
    pub id: String,
    /// Hex leaf hash of the source record when the certificate was issued.
    pub leaf_hash: String,
    pub leaf_index: u64,
}

/// A certificate as issued (immutable; its status lives beside it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    pub format: String,
    pub number: String,
    /// RFC 3339, microseconds, UTC.
    pub issued_at: String,
    /// `YYYY-MM-DD` (UTC).
    pub issue_date: String,
    pub signer: Signer,
    pub source: SourceRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
    pub document: Document,
}

impl Certificate {
    pub fn new(
        number: &str,
        issued_at: OffsetDateTime,
        signer: Signer,
        source: SourceRef,
        supersedes: Option<String>,
        document: Document,
    ) -> Self {
        let d = issued_at.to_offset(time::UtcOffset::UTC).date();
        Self {
            format: FORMAT.to_owned(),
            number: number.to_owned(),
            issued_at: rfc3339_micros(issued_at),
            issue_date: format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
            signer,
            source,
            supersedes,
            document,
        }
    }
}

/// What the certificate's ledger leaf says (public).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeafPayload {
    pub number: String,
    pub issued_at: String,
    pub lab: String,
    pub customer: String,
    pub instrument: String,
    pub signer: String,
    pub source_kind: String,
    pub source_id: String,
    pub source_leaf_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
    /// SHA-256 (hex) of the stored certificate JSON.
    pub content_sha256: String,
}

/// What a `certificate_status` leaf says (public).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusPayload {
    pub number: String,
    /// `revoked` or `superseded`.
    pub status: String,
    pub reason: String,
    /// RFC 3339, microseconds, UTC.
    pub at: String,
    /// Who changed it (user id).
    pub by: uuid::Uuid,
    /// The certificate that replaces it (superseded only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// Hex leaf hash of the certificate's own (`certificate`) leaf.
    pub certificate_leaf_hash: String,
}

/// The `certificate_status` ledger record of a certificate's change of
/// status at `at` (microseconds: what the database keeps).
pub fn status_record(p: &StatusPayload, at: OffsetDateTime) -> Result<Record, RecordError> {
    Record::new(
        RecordKind::CERTIFICATE_STATUS,
        p.number.clone(),
        unix_ms(crate::ledger::records::truncate_micros(at)),
        p,
    )
}

/// The stored text of a certificate: the JSON the row keeps and the leaf
/// commits to.
pub fn content_text(c: &Certificate) -> serde_json::Result<String> {
    serde_json::to_string(c)
}

/// The `certificate` ledger record of a certificate stored as `content`.
pub fn leaf_record(
    c: &Certificate,
    content: &str,
    issued_at: OffsetDateTime,
) -> Result<Record, RecordError> {
    let payload = LeafPayload {
        number: c.number.clone(),
        issued_at: c.issued_at.clone(),
        lab: c.document.lab.name_zh.clone(),
        customer: c.document.customer.name_zh.clone(),
        instrument: c.document.item.name.clone(),
        signer: c.signer.name.clone(),
        source_kind: c.source.kind.clone(),
        source_id: c.source.id.clone(),
        source_leaf_hash: c.source.leaf_hash.clone(),
        supersedes: c.supersedes.clone(),
        content_sha256: hex::encode(&Sha256::digest(content.as_bytes())),
    };
    Record::new(
        RecordKind::CERTIFICATE,
        c.number.clone(),
        unix_ms(issued_at),
        &payload,
    )
}

#[cfg(test)]
pub(crate) mod fixture {
    use super::document::*;
    use super::*;

    /// A certificate with two test points in kPa, as a finished pressure
    /// comparison yields.
    pub fn certificate() -> Certificate {
        let row = |n: &str, r: &str, i: &str, e: &str, u: &str| ResultRow {
            nominal: n.to_owned(),
            reference: r.to_owned(),
            indicated: i.to_owned(),
            error: e.to_owned(),
            expanded_uncertainty: u.to_owned(),
            coverage_factor: "2".to_owned(),
            coverage_probability: "0.95".to_owned(),
            verdict: Some("pass".to_owned()),
        };
        let at = time::macros::datetime!(2026-12-04 08:30:00 UTC);
        Certificate::new(
            "JL-2026-000007",
            at,
            Signer {
                id: uuid::Uuid::nil(),
                name: "王专家".to_owned(),
            },
            SourceRef {
                kind: "raw_record".to_owned(),
                id: "0192f0c4-0000-7000-8000-000000000001".to_owned(),
                leaf_hash: "ab".repeat(32),
                leaf_index: 12,
            },
            None,
            Document {
                title_zh: "校准证书".to_owned(),
                title_en: "Calibration Certificate".to_owned(),
                lab: Party {
                    name_zh: "甘肃省计量研究院".to_owned(),
                    name_en: Some("Gansu Institute of Metrology".to_owned()),
                    region_code: "620000".to_owned(),
                    contact: "0931-0000000".to_owned(),
                },
                customer: Party {
                    name_zh: "秦安县计量检定所".to_owned(),
                    name_en: None,
                    region_code: "620522".to_owned(),
                    contact: String::new(),
                },
                item: Item {
                    name: "压力变送器 PT-100".to_owned(),
                    kind: "pressure transmitter".to_owned(),
                    quantity: "pressure".to_owned(),
                    identifications: vec![Identification {
                        issuer: "calibrationLaboratory".to_owned(),
                        value: "0192f0c4-0000-7000-8000-0000000000aa".to_owned(),
                        name_zh: "设备编号".to_owned(),
                        name_en: "Device id".to_owned(),
                    }],
                },
                begin_date: "2026-12-03".to_owned(),
                end_date: "2026-12-03".to_owned(),
                performance_location: "laboratory".to_owned(),
                method: vec![
                    "与参考标准直接比较。".to_owned(),
                    "Direct comparison with the reference standard.".to_owned(),
                ],
                verdict: Some("pass".to_owned()),
                results: vec![ResultTable {
                    name_zh: "示值误差".to_owned(),
                    name_en: "Indication error".to_owned(),
                    unit: "kPa".to_owned(),
                    dsi_unit: r"\kilo\pascal".to_owned(),
                    rows: vec![
                        row("100.00", "100.012", "100.030", "0.018", "0.020"),
                        row("200.00", "199.990", "200.010", "0.020", "0.026"),
                    ],
                }],
                round: None,
            },
        )
    }

    /// A round report with three labs in V, one excluded.
    pub fn round_report() -> Certificate {
        let mut c = certificate();
        c.number = "JL-2026-000008".to_owned();
        c.source.kind = "round_report".to_owned();
        let stated = |v: &str, u: &str, k: &str| Stated {
            value: v.to_owned(),
            expanded_uncertainty: u.to_owned(),
            coverage_factor: k.to_owned(),
        };
        let row = |code: &str, lab: &str, v: &str, d: &str, en: &str, verdict: &str| RoundRow {
            code: code.to_owned(),
            lab: lab.to_owned(),
            result: stated(v, "0.000020", "2"),
            included: code != "L03",
            exclusion_reason: (code == "L03").then(|| "漂移 drift".to_owned()),
            d: d.to_owned(),
            big_u_d: Some("0.000021".to_owned()),
            en: Some(en.to_owned()),
            z: Some("0.40".to_owned()),
            z_prime: None,
            zeta: None,
            verdict: Some(verdict.to_owned()),
        };
        let d = &mut c.document;
        d.title_zh = "计量比对结果报告".to_owned();
        d.title_en = "Interlaboratory Comparison Report".to_owned();
        d.item.name = "Fluke 732C 10 V 标准".to_owned();
        d.item.kind = "10 V 直流电压比对".to_owned();
        d.item.quantity = "直流电压".to_owned();
        d.performance_location = "other".to_owned();
        d.verdict = None;
        d.results = Vec::new();
        d.round = Some(RoundTable {
            unit: "V".to_owned(),
            dsi_unit: Some(r"\volt".to_owned()),
            method: "weighted-mean".to_owned(),
            method_requested: "weighted-mean".to_owned(),
            en_rule: "iso13528".to_owned(),
            sigma_pt: Some("0.00005".to_owned()),
            reference: stated("10.000006", "0.000014", "2"),
            consistency: None,
            rows: vec![
                row(
                    "L01",
                    "秦安县计量检定所 (L01)",
                    "10.000004",
                    "-0.000002",
                    "-0.10",
                    "satisfactory",
                ),
                row(
                    "L02",
                    "L02",
                    "10.000012",
                    "0.000006",
                    "0.29",
                    "satisfactory",
                ),
                row(
                    "L03",
                    "L03",
                    "10.000095",
                    "0.000089",
                    "4.24",
                    "unsatisfactory",
                ),
            ],
        });
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leaf_commits_to_the_stored_content() {
        let c = fixture::certificate();
        let text = content_text(&c).expect("json");
        let at = time::macros::datetime!(2026-12-04 08:30:00 UTC);
        let r = leaf_record(&c, &text, at).expect("record");
        assert_eq!(r.kind, RecordKind::CERTIFICATE);
        assert_eq!(r.id(), "JL-2026-000007");
        let p: LeafPayload = serde_json::from_str(r.payload.as_str()).expect("payload");
        assert_eq!(p.instrument, "压力变送器 PT-100");
        assert_eq!(
            p.content_sha256,
            hex::encode(&Sha256::digest(text.as_bytes()))
        );
        // A changed byte of the content changes the leaf.
        let other = leaf_record(&c, &text.replace("0.018", "0.019"), at).expect("record");
        assert_ne!(r.leaf_hash(), other.leaf_hash());
        // The stored JSON reads back as the same certificate, zeros kept.
        let back: Certificate = serde_json::from_str(&text).expect("back");
        assert_eq!(back, c);
        assert_eq!(back.document.results[0].rows[0].nominal, "100.00");
        assert_eq!(back.issue_date, "2026-12-04");
    }
}
