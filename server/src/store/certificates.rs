//! Certificates (校准证书): numbered per year, stored with their
//! `certificate` ledger leaf in one transaction (see `crate::certificates`).
//! Revoking or superseding changes only the status columns, and appends
//! the certificate's `certificate_status` leaf in the same transaction.

use jiliang_ledger::Record;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::Store;
use crate::store::time::db_time;

/// The number of the `seq`-th certificate of `year`: `JL-2026-000042`.
pub fn certificate_number(year: i32, seq: i64) -> String {
    format!("JL-{year}-{seq:06}")
}

/// Whether `s` has the form of a certificate number (checked before any
/// query, so junk from the public page costs nothing).
pub fn looks_like_number(s: &str) -> bool {
    let mut parts = s.split('-');
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some("JL"), Some(y), Some(n), None)
            if y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit())
                && (6..=9).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit())
    )
}

/// A certificate to store; its number is given out in the transaction.
#[derive(Debug, Clone)]
pub struct NewCertificate<'a> {
    pub year: i32,
    pub source_kind: &'a str,
    pub source_id: &'a str,
    pub lab_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub issued_by: Uuid,
    pub issued_at: OffsetDateTime,
    /// The certificate this one replaces (must be valid), with the reason.
    pub supersedes: Option<(&'a str, &'a str)>,
}

/// A stored certificate row.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCertificate {
    pub number: String,
    pub source_kind: String,
    pub source_id: String,
    pub lab_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub issued_by: Uuid,
    pub issued_at: OffsetDateTime,
    pub status: String,
    pub status_reason: Option<String>,
    pub status_at: Option<OffsetDateTime>,
    pub status_by: Option<Uuid>,
    pub superseded_by: Option<String>,
    pub supersedes: Option<String>,
    pub content: String,
}

type Row = (
    String,
    String,
    String,
    Uuid,
    Option<Uuid>,
    Uuid,
    OffsetDateTime,
    String,
    Option<String>,
    Option<OffsetDateTime>,
    Option<Uuid>,
    Option<String>,
    Option<String>,
    String,
);

const SELECT: &str = "SELECT number, source_kind, source_id, lab_id, customer_id, issued_by, issued_at, \
     status, status_reason, status_at, status_by, superseded_by, supersedes, content FROM certificates";

fn from_row(r: Row) -> StoredCertificate {
    StoredCertificate {
        number: r.0,
        source_kind: r.1,
        source_id: r.2,
        lab_id: r.3,
        customer_id: r.4,
        issued_by: r.5,
        issued_at: r.6,
        status: r.7,
        status_reason: r.8,
        status_at: r.9,
        status_by: r.10,
        superseded_by: r.11,
        supersedes: r.12,
        content: r.13,
    }
}

/// Why a certificate was not stored or changed.
#[derive(Debug, thiserror::Error)]
pub enum CertificateStoreError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The source already has a valid certificate (issue a replacement
    /// with `supersedes` instead).
    #[error("the record already has a valid certificate {0}")]
    AlreadyIssued(String),
    /// The certificate to supersede or revoke is not valid any more.
    #[error("certificate {number} is {status}")]
    NotValid { number: String, status: String },
    #[error("no certificate {0}")]
    NoSuchCertificate(String),
    /// The content or its ledger record could not be made.
    #[error("cannot build the certificate: {0}")]
    Build(String),
}

/// The certificate's content and ledger record, made once its number is
/// known, and (when it supersedes one) the old certificate's
/// `certificate_status` record, which names the new number.
pub type Built = (String, Record, Option<Record>);

impl Store {
    /// Give the next number of the year, build the certificate with it and
    /// store it with its ledger leaf — and, when it supersedes another,
    /// mark that one superseded — in one transaction.
    pub async fn insert_certificate<F>(
        &self,
        c: &NewCertificate<'_>,
        build: F,
    ) -> Result<StoredCertificate, CertificateStoreError>
    where
        F: Fn(&str) -> Result<Built, String>,
    {
        // Two nodes numbering at once on PostgreSQL: the loser's insert hits
        // UNIQUE (year, seq) and simply takes the next number.
        let mut attempt = 0;
        loop {
            match self.insert_certificate_once(c, &build).await {
                Err(CertificateStoreError::Database(sqlx::Error::Database(e)))
                    if e.is_unique_violation() && attempt < 4 =>
                {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn insert_certificate_once<F>(
        &self,
        c: &NewCertificate<'_>,
        build: &F,
    ) -> Result<StoredCertificate, CertificateStoreError>
    where
        F: Fn(&str) -> Result<Built, String>,
    {
        let begin = self.begin_write();
        let _turn = self.write_turn().await;
        let number = with_db!(self, "certificates.insert", |p| {
            let mut tx = p.begin_with(begin).await?;
            let valid: Option<String> = sqlx::query_scalar(
                "SELECT number FROM certificates WHERE source_kind = $1 AND source_id = $2 AND status = 'valid'",
            )
            .bind(c.source_kind)
            .bind(c.source_id)
            .fetch_optional(&mut *tx)
            .await?;
            match (&valid, c.supersedes) {
                (Some(v), None) => return Err(CertificateStoreError::AlreadyIssued(v.clone())),
                (_, Some((old, _))) => {
                    let status: Option<String> =
                        sqlx::query_scalar("SELECT status FROM certificates WHERE number = $1")
                            .bind(old)
                            .fetch_optional(&mut *tx)
                            .await?;
                    match status.as_deref() {
                        None => {
                            return Err(CertificateStoreError::NoSuchCertificate(old.to_owned()));
                        }
                        Some("valid") => {}
                        Some(s) => {
                            return Err(CertificateStoreError::NotValid {
                                number: old.to_owned(),
                                status: s.to_owned(),
                            });
                        }
                    }
                }
                (None, None) => {}
            }
            let seq: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM certificates WHERE year = $1",
            )
            .bind(c.year)
            .fetch_one(&mut *tx)
            .await?;
            let number = certificate_number(c.year, seq);
            let (content, record, superseded) =
                build(&number).map_err(CertificateStoreError::Build)?;
            if superseded.is_some() != c.supersedes.is_some() {
                return Err(CertificateStoreError::Build(
                    "a replacement needs the old certificate's status record".to_owned(),
                ));
            }
            sqlx::query(
                "INSERT INTO certificates (number, year, seq, source_kind, source_id, lab_id, customer_id, \
                 issued_by, issued_at, status, supersedes, content) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'valid', $10, $11)",
            )
            .bind(&number)
            .bind(c.year)
            .bind(seq)
            .bind(c.source_kind)
            .bind(c.source_id)
            .bind(c.lab_id)
            .bind(c.customer_id)
            .bind(c.issued_by)
            .bind(db_time(c.issued_at))
            .bind(c.supersedes.map(|(old, _)| old))
            .bind(&content)
            .execute(&mut *tx)
            .await?;
            if let Some((old, reason)) = c.supersedes {
                sqlx::query(
                    "UPDATE certificates SET status = 'superseded', superseded_by = $1, status_reason = $2, \
                     status_at = $3, status_by = $4 WHERE number = $5 AND status = 'valid'",
                )
                .bind(&number)
                .bind(reason)
                .bind(db_time(c.issued_at))
                .bind(c.issued_by)
                .bind(old)
                .execute(&mut *tx)
                .await?;
            }
            let _idx: i64 = append_leaf!(tx, &record);
            if let Some(status) = &superseded {
                let _idx: i64 = append_leaf!(tx, status);
            }
            tx.commit().await?;
            Ok::<_, CertificateStoreError>(number)
        })?;
        self.get_certificate(&number)
            .await?
            .ok_or(CertificateStoreError::NoSuchCertificate(number))
    }

    /// Revoke a valid certificate, saying why, with its
    /// `certificate_status` leaf (`record`).
    pub async fn revoke_certificate(
        &self,
        number: &str,
        reason: &str,
        by: Uuid,
        at: OffsetDateTime,
        record: &Record,
    ) -> Result<StoredCertificate, CertificateStoreError> {
        let begin = self.begin_write();
        let _turn = self.write_turn().await;
        with_db!(self, "certificates.revoke", |p| {
            let mut tx = p.begin_with(begin).await?;
            let status: Option<String> =
                sqlx::query_scalar("SELECT status FROM certificates WHERE number = $1")
                    .bind(number)
                    .fetch_optional(&mut *tx)
                    .await?;
            match status.as_deref() {
                None => {
                    return Err(CertificateStoreError::NoSuchCertificate(number.to_owned()));
                }
                Some("valid") => {}
                Some(s) => {
                    return Err(CertificateStoreError::NotValid {
                        number: number.to_owned(),
                        status: s.to_owned(),
                    });
                }
            }
            sqlx::query(
                "UPDATE certificates SET status = 'revoked', status_reason = $1, status_at = $2, status_by = $3 \
                 WHERE number = $4 AND status = 'valid'",
            )
            .bind(reason)
            .bind(db_time(at))
            .bind(by)
            .bind(number)
            .execute(&mut *tx)
            .await?;
            let _idx: i64 = append_leaf!(tx, record);
            tx.commit().await?;
            Ok::<_, CertificateStoreError>(())
        })?;
        self.get_certificate(number)
            .await?
            .ok_or_else(|| CertificateStoreError::NoSuchCertificate(number.to_owned()))
    }

    pub async fn get_certificate(
        &self,
        number: &str,
    ) -> Result<Option<StoredCertificate>, sqlx::Error> {
        let sql = format!("{SELECT} WHERE number = $1");
        let row: Option<Row> = with_db!(self, "certificates.get", |p| sqlx::query_as(&sql)
            .bind(number)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(from_row))
    }

    /// Certificates of a source record, newest first.
    pub async fn certificates_of_source(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Vec<StoredCertificate>, sqlx::Error> {
        let sql = format!(
            "{SELECT} WHERE source_kind = $1 AND source_id = $2 ORDER BY issued_at DESC, number DESC"
        );
        let rows: Vec<Row> = with_db!(self, "certificates.of_source", |p| sqlx::query_as(&sql)
            .bind(kind)
            .bind(id)
            .fetch_all(p)
            .await)?;
        Ok(rows.into_iter().map(from_row).collect())
    }

    /// Certificates whose laboratory or customer lies under `path` (a
    /// materialised institution path prefix), newest first, at most `limit`.
    pub async fn certificates_under(
        &self,
        path: &str,
        limit: i64,
    ) -> Result<Vec<StoredCertificate>, sqlx::Error> {
        let sql = format!(
            "{SELECT} c WHERE EXISTS (SELECT 1 FROM institutions i WHERE (i.id = c.lab_id OR i.id = c.customer_id) \
             AND substr(i.path, 1, length($1)) = $1) ORDER BY issued_at DESC, number DESC LIMIT $2"
        );
        let rows: Vec<Row> = with_db!(self, "certificates.under", |p| sqlx::query_as(&sql)
            .bind(path)
            .bind(limit)
            .fetch_all(p)
            .await)?;
        Ok(rows.into_iter().map(from_row).collect())
    }

    /// The institution that hosted a session (the calibration laboratory
    /// of what was measured in it).
    pub async fn session_host_institution(
        &self,
        session: Uuid,
    ) -> Result<Option<Uuid>, sqlx::Error> {
        with_db!(self, "certificates.session_host", |p| sqlx::query_scalar(
            "SELECT host_institution_id FROM live_sessions WHERE id = $1"
        )
        .bind(session)
        .fetch_optional(p)
        .await)
    }

    /// Every certificate's number and content after `after` (number order),
    /// at most `limit`: for re-deriving their ledger leaves.
    pub async fn certificates_after(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredCertificate>, sqlx::Error> {
        let sql = format!("{SELECT} WHERE number > $1 ORDER BY number LIMIT $2");
        let rows: Vec<Row> = with_db!(self, "certificates.after", |p| sqlx::query_as(&sql)
            .bind(after.unwrap_or(""))
            .bind(limit)
            .fetch_all(p)
            .await)?;
        Ok(rows.into_iter().map(from_row).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_a_fixed_form() {
        assert_eq!(certificate_number(2026, 42), "JL-2026-000042");
        assert!(looks_like_number("JL-2026-000042"));
        assert!(looks_like_number("JL-2026-1000000"));
        assert!(!looks_like_number("JL-2026-42"));
        assert!(!looks_like_number("jl-2026-000042"));
        assert!(!looks_like_number("JL-26-000042"));
        assert!(!looks_like_number("JL-2026-000042-1"));
        assert!(!looks_like_number("JL-2026-00004x"));
        assert!(!looks_like_number(""));
    }
}
