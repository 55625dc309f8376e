//! Instruments (devices): their registration, agent tokens and the session
//! they are attached to.
//!
//! # Layout
//! - this file: devices, tokens, attachment to sessions.
//! - [`ingest`]: storing a batch of readings exactly once per `(device_id,
//!   seq)`, with its ledger record and its room events, in one transaction.
//! - [`group`]: many agents' batches in one transaction (group commit),
//!   each with what [`ingest`] would give it alone.
//! - [`readings`]: reading readings and stored batches back (pages, the
//!   ledger verifier).
//!
//! A device's token is stored as its SHA-256 only; revoking keeps the hash
//! (with `token_revoked_at`) so the token cannot come back by accident, and
//! issuing a new one replaces it.

pub mod group;
pub mod ingest;
pub mod readings;

use jiliang_protocol::devices::{Device, ReferenceCert};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::clock::now;
use crate::store::Store;
use crate::store::time::db_time;

pub use group::{AgentBatch, GroupConn};
pub use ingest::{IngestOutcome, NewBatch, Source};

/// A device as stored, with what access checks need.
#[derive(Debug, Clone)]
pub struct StoredDevice {
    pub device: Device,
    /// Materialised path of the lab (`/…/lab/`), for authorization.
    pub lab_path: String,
}

/// A device to register.
#[derive(Debug, Clone)]
pub struct NewDeviceRow {
    pub lab_id: Uuid,
    pub name: String,
    pub kind: String,
    pub quantity: String,
    pub unit: String,
    pub resolution: Option<f64>,
    pub reference: Option<ReferenceCert>,
    pub token_hash: [u8; 32],
    pub created_by: Uuid,
}

/// A partial update: `None` = unchanged; for `resolution` and `reference`
/// `Some(None)` clears.
#[derive(Debug, Clone, Default)]
pub struct DeviceUpdate {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub quantity: Option<String>,
    pub unit: Option<String>,
    pub resolution: Option<Option<f64>>,
    pub reference: Option<Option<ReferenceCert>>,
}

/// Which devices to list.
#[derive(Debug, Clone)]
pub enum DeviceScope {
    /// Devices of labs whose path starts with this.
    Subtree(String),
    /// Devices of this lab only.
    Lab(Uuid),
}

#[derive(Debug, Clone)]
pub struct DeviceQuery {
    pub scope: DeviceScope,
    /// Narrow to one lab (inside the scope).
    pub lab_id: Option<Uuid>,
    pub limit: i64,
}

/// What became of an attachment request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attach {
    Attached,
    /// Attached to another session that has not ended.
    Elsewhere(Uuid),
}

/// What became of an update.
#[derive(Debug, Clone)]
pub enum Updated {
    Done(Box<StoredDevice>),
    /// The unit cannot change: readings exist or an agent has connected.
    UnitLocked,
}

#[derive(sqlx::FromRow)]
struct DeviceRow {
    id: Uuid,
    lab_id: Uuid,
    lab_path: String,
    name: String,
    kind: String,
    quantity: String,
    unit: String,
    resolution: Option<f64>,
    ref_certificate_no: Option<String>,
    ref_issuer: Option<String>,
    ref_expanded_uncertainty: Option<f64>,
    ref_k: Option<f64>,
    ref_unit: Option<String>,
    ref_valid_until: Option<Date>,
    created_at: OffsetDateTime,
    token_revoked_at: Option<OffsetDateTime>,
    last_seq: i64,
    session_id: Option<Uuid>,
    agent_connected_at: Option<OffsetDateTime>,
}

/// The session shows only while it has not ended: an ended session's room
/// takes nothing more, so the device is free again.
const DEVICE_SELECT: &str = "SELECT d.id, d.lab_id, i.path AS lab_path, d.name, d.kind, d.quantity, d.unit, \
     d.resolution, d.ref_certificate_no, d.ref_issuer, d.ref_expanded_uncertainty, d.ref_k, d.ref_unit, \
     d.ref_valid_until, d.created_at, d.token_revoked_at, d.last_seq, \
     CASE WHEN s.state <> 'ended' THEN d.session_id END AS session_id, d.agent_connected_at \
     FROM devices d JOIN institutions i ON i.id = d.lab_id LEFT JOIN live_sessions s ON s.id = d.session_id";

impl From<DeviceRow> for StoredDevice {
    fn from(r: DeviceRow) -> Self {
        let reference = match (r.ref_certificate_no, r.ref_expanded_uncertainty, r.ref_k) {
            (Some(certificate_no), Some(expanded_uncertainty), Some(k)) => Some(ReferenceCert {
                certificate_no,
                issuer: r.ref_issuer,
                expanded_uncertainty,
                k,
                unit: r.ref_unit,
                valid_until: r.ref_valid_until,
            }),
            _ => None,
        };
        Self {
            lab_path: r.lab_path,
            device: Device {
                id: r.id,
                lab_id: r.lab_id,
                name: r.name,
                kind: r.kind,
                quantity: r.quantity,
                unit: r.unit,
                resolution: r.resolution,
                reference,
                created_at: r.created_at,
                token_revoked_at: r.token_revoked_at,
                last_seq: u64::try_from(r.last_seq).unwrap_or(0),
                session_id: r.session_id,
                agent_connected_at: r.agent_connected_at,
            },
        }
    }
}

impl Store {
    pub async fn insert_device(&self, d: &NewDeviceRow) -> Result<StoredDevice, sqlx::Error> {
        let id = Uuid::now_v7();
        let now = now();
        let r = d.reference.as_ref();
        with_db!(self, "devices.insert", |p| {
            sqlx::query(
                "INSERT INTO devices (id, lab_id, name, kind, quantity, unit, resolution, ref_certificate_no, \
                 ref_issuer, ref_expanded_uncertainty, ref_k, ref_unit, ref_valid_until, token_hash, created_at, \
                 created_by, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $15)",
            )
            .bind(id)
            .bind(d.lab_id)
            .bind(&d.name)
            .bind(&d.kind)
            .bind(&d.quantity)
            .bind(&d.unit)
            .bind(d.resolution)
            .bind(r.map(|c| c.certificate_no.clone()))
            .bind(r.and_then(|c| c.issuer.clone()))
            .bind(r.map(|c| c.expanded_uncertainty))
            .bind(r.map(|c| c.k))
            .bind(r.and_then(|c| c.unit.clone()))
            .bind(r.and_then(|c| c.valid_until))
            .bind(d.token_hash.to_vec())
            .bind(db_time(now))
            .bind(d.created_by)
            .execute(p)
            .await
            .map(|_| ())
        })?;
        self.get_device(id).await
    }

    pub async fn get_device(&self, id: Uuid) -> Result<StoredDevice, sqlx::Error> {
        let sql = format!("{DEVICE_SELECT} WHERE d.id = $1");
        let row: DeviceRow = with_db!(self, "devices.get", |p| sqlx::query_as(&sql)
            .bind(id)
            .fetch_one(p)
            .await)?;
        Ok(row.into())
    }

    /// The device whose valid (not revoked) agent token hashes to `hash`.
    pub async fn device_by_token(
        &self,
        hash: &[u8; 32],
    ) -> Result<Option<StoredDevice>, sqlx::Error> {
        let sql = format!("{DEVICE_SELECT} WHERE d.token_hash = $1 AND d.token_revoked_at IS NULL");
        let row: Option<DeviceRow> = with_db!(self, "devices.by_token", |p| sqlx::query_as(&sql)
            .bind(hash.to_vec())
            .fetch_optional(p)
            .await)?;
        Ok(row.map(Into::into))
    }

    /// Whether `hash` is still the valid token of device `id`.
    pub async fn device_token_valid(&self, id: Uuid, hash: &[u8; 32]) -> Result<bool, sqlx::Error> {
        let n: i64 = with_db!(self, "devices.token_valid", |p| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM devices WHERE id = $1 AND token_hash = $2 AND token_revoked_at IS NULL",
            )
            .bind(id)
            .bind(hash.to_vec())
            .fetch_one(p)
            .await
        })?;
        Ok(n > 0)
    }

    /// An agent said hello with a valid token: note when, and answer the
    /// highest stored `seq`; `None` when the token is no longer valid.
    pub async fn agent_connected(
        &self,
        id: Uuid,
        hash: &[u8; 32],
    ) -> Result<Option<u64>, sqlx::Error> {
        // A write: on SQLite it queues behind reading batches instead of
        // racing them for the lock, which a stream of back-to-back batch
        // transactions never leaves free long enough for SQLite's busy
        // handler (the agent was closed with "storage unavailable" after
        // the 5 s busy timeout; see docs/BENCHMARKS.md).
        let _turn = self.write_turn().await;
        let last: Option<i64> = with_db!(self, "devices.agent_connected", |p| {
            sqlx::query_scalar(
                "UPDATE devices SET agent_connected_at = $3 \
                 WHERE id = $1 AND token_hash = $2 AND token_revoked_at IS NULL RETURNING last_seq",
            )
            .bind(id)
            .bind(hash.to_vec())
            .bind(db_time(now()))
            .fetch_optional(p)
            .await
        })?;
        Ok(last.map(|l| u64::try_from(l).unwrap_or(0)))
    }

    pub async fn list_devices(&self, q: &DeviceQuery) -> Result<Vec<StoredDevice>, sqlx::Error> {
        let (path, lab) = match &q.scope {
            DeviceScope::Subtree(path) => (Some(format!("{path}%")), None),
            DeviceScope::Lab(id) => (None, Some(*id)),
        };
        let sql = format!(
            "{DEVICE_SELECT} WHERE ($1 IS NULL OR i.path LIKE $1) AND ($2 IS NULL OR d.lab_id = $2) \
             AND ($3 IS NULL OR d.lab_id = $3) ORDER BY i.path, d.name, d.id LIMIT $4"
        );
        let rows: Vec<DeviceRow> = with_db!(self, "devices.list", |p| {
            sqlx::query_as(&sql)
                .bind(path.clone())
                .bind(lab)
                .bind(q.lab_id)
                .bind(q.limit)
                .fetch_all(p)
                .await
        })?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Apply `u`. The unit changes only while the device has no readings
    /// and no agent has connected, checked in the statement that changes it.
    pub async fn update_device(&self, id: Uuid, u: &DeviceUpdate) -> Result<Updated, sqlx::Error> {
        let now = now();
        let (set_ref, r) = match &u.reference {
            None => (false, None),
            Some(r) => (true, r.as_ref()),
        };
        let changed: u64 = with_db!(self, "devices.update", |p| {
            sqlx::query(
                "UPDATE devices SET \
                   name = COALESCE($2, name), kind = COALESCE($3, kind), quantity = COALESCE($4, quantity), \
                   unit = COALESCE($5, unit), \
                   resolution = CASE WHEN $6 THEN $7 ELSE resolution END, \
                   ref_certificate_no = CASE WHEN $8 THEN $9 ELSE ref_certificate_no END, \
                   ref_issuer = CASE WHEN $8 THEN $10 ELSE ref_issuer END, \
                   ref_expanded_uncertainty = CASE WHEN $8 THEN $11 ELSE ref_expanded_uncertainty END, \
                   ref_k = CASE WHEN $8 THEN $12 ELSE ref_k END, \
                   ref_unit = CASE WHEN $8 THEN $13 ELSE ref_unit END, \
                   ref_valid_until = CASE WHEN $8 THEN $14 ELSE ref_valid_until END, \
                   updated_at = $15 \
                 WHERE id = $1 AND ($5 IS NULL OR $5 = unit OR (last_seq = 0 AND agent_connected_at IS NULL))",
            )
            .bind(id)
            .bind(u.name.as_deref())
            .bind(u.kind.as_deref())
            .bind(u.quantity.as_deref())
            .bind(u.unit.as_deref())
            .bind(u.resolution.is_some())
            .bind(u.resolution.flatten())
            .bind(set_ref)
            .bind(r.map(|c| c.certificate_no.clone()))
            .bind(r.and_then(|c| c.issuer.clone()))
            .bind(r.map(|c| c.expanded_uncertainty))
            .bind(r.map(|c| c.k))
            .bind(r.and_then(|c| c.unit.clone()))
            .bind(r.and_then(|c| c.valid_until))
            .bind(db_time(now))
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        let device = self.get_device(id).await?;
        if changed == 0 {
            return Ok(Updated::UnitLocked);
        }
        Ok(Updated::Done(Box::new(device)))
    }

    /// Replace the agent token (valid at once; the old one stops working).
    pub async fn set_device_token(&self, id: Uuid, hash: &[u8; 32]) -> Result<bool, sqlx::Error> {
        let now = now();
        let n = with_db!(self, "devices.set_token", |p| {
            sqlx::query(
                "UPDATE devices SET token_hash = $2, token_revoked_at = NULL, updated_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(hash.to_vec())
            .bind(db_time(now))
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Revoke the agent token (a second revoke keeps the first time).
    pub async fn revoke_device_token(&self, id: Uuid) -> Result<bool, sqlx::Error> {
        let now = now();
        let n = with_db!(self, "devices.revoke_token", |p| {
            sqlx::query(
                "UPDATE devices SET token_revoked_at = COALESCE(token_revoked_at, $2), updated_at = $2 WHERE id = $1",
            )
            .bind(id)
            .bind(db_time(now))
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// Attach device `id` to `session` (by `user`), unless it is attached
    /// to another session that has not ended.
    pub async fn attach_device(
        &self,
        id: Uuid,
        session: Uuid,
        user: Uuid,
    ) -> Result<Attach, sqlx::Error> {
        let now = now();
        let n = with_db!(self, "devices.attach", |p| {
            sqlx::query(
                "UPDATE devices SET session_id = $2, attached_at = $3, attached_by = $4 \
                 WHERE id = $1 AND (session_id IS NULL OR session_id = $2 \
                   OR session_id IN (SELECT id FROM live_sessions WHERE state = 'ended'))",
            )
            .bind(id)
            .bind(session)
            .bind(db_time(now))
            .bind(user)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        if n > 0 {
            return Ok(Attach::Attached);
        }
        let other: Option<Option<Uuid>> = with_db!(self, "devices.attached_to", |p| {
            sqlx::query_scalar("SELECT session_id FROM devices WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await
        })?;
        match other.flatten() {
            Some(s) => Ok(Attach::Elsewhere(s)),
            None => Err(sqlx::Error::RowNotFound),
        }
    }

    /// Detach device `id` from `session`; false when it was not attached
    /// there.
    pub async fn detach_device(&self, id: Uuid, session: Uuid) -> Result<bool, sqlx::Error> {
        let n = with_db!(self, "devices.detach", |p| {
            sqlx::query(
                "UPDATE devices SET session_id = NULL, attached_at = NULL, attached_by = NULL \
                 WHERE id = $1 AND session_id = $2",
            )
            .bind(id)
            .bind(session)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
        })?;
        Ok(n > 0)
    }

    /// The live session device `id` is attached to, if any.
    pub async fn device_live_session(&self, id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
        with_db!(self, "devices.live_session", |p| sqlx::query_scalar(
            "SELECT s.id FROM devices d JOIN live_sessions s ON s.id = d.session_id \
             WHERE d.id = $1 AND s.state = 'live'"
        )
        .bind(id)
        .fetch_optional(p)
        .await)
    }

    /// Devices attached to `session`.
    pub async fn session_devices(&self, session: Uuid) -> Result<Vec<StoredDevice>, sqlx::Error> {
        let sql = format!("{DEVICE_SELECT} WHERE d.session_id = $1 ORDER BY d.attached_at, d.id");
        let rows: Vec<DeviceRow> = with_db!(self, "devices.of_session", |p| sqlx::query_as(&sql)
            .bind(session)
            .fetch_all(p)
            .await)?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
