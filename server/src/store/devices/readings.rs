//! Reading stored readings back: a device's readings page by page, and
//! stored batches whole (what the ledger verifier re-derives records from).

use std::collections::HashMap;

use jiliang_protocol::devices::DeviceReading;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::Store;

/// A stored batch with its readings, as the ledger record was made of it.
#[derive(Debug, Clone)]
pub struct StoredBatch {
    pub id: Uuid,
    pub device_id: Uuid,
    pub source: String,
    pub unit: String,
    pub entered_by: Option<Uuid>,
    pub stored_at: OffsetDateTime,
    pub readings: Vec<DeviceReading>,
}

type BatchRow = (Uuid, Uuid, String, String, Option<Uuid>, OffsetDateTime);
/// (batch, seq, t, value, u_t)
type ReadingRow = (Uuid, i64, OffsetDateTime, f64, f64);

fn reading(seq: i64, t: OffsetDateTime, value: f64, u_t: f64, unit: &str) -> DeviceReading {
    DeviceReading {
        seq: u64::try_from(seq).unwrap_or(0),
        t,
        value,
        unit: unit.to_owned(),
        u_t,
    }
}

impl Store {
    /// Readings of `device` (whose unit is `unit`) after `after`, in `seq`
    /// order, at most `limit`.
    pub async fn device_readings(
        &self,
        device: Uuid,
        unit: &str,
        after: u64,
        limit: i64,
    ) -> Result<Vec<DeviceReading>, sqlx::Error> {
        let rows: Vec<(i64, OffsetDateTime, f64, f64)> =
            with_db!(self, "devices.readings", |p| sqlx::query_as(
                "SELECT seq, t, value, u_t FROM device_readings WHERE device_id = $1 AND seq > $2 \
                 ORDER BY seq LIMIT $3",
            )
            .bind(device)
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(p)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|(seq, t, value, u_t)| reading(seq, t, value, u_t, unit))
            .collect())
    }

    /// How many readings of `device` are stored.
    pub async fn count_device_readings(&self, device: Uuid) -> Result<u64, sqlx::Error> {
        let n: i64 = with_db!(self, "devices.count_readings", |p| sqlx::query_scalar(
            "SELECT COUNT(*) FROM device_readings WHERE device_id = $1"
        )
        .bind(device)
        .fetch_one(p)
        .await)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The stored batches among `ids`, with their readings.
    pub async fn reading_batches_by_id(
        &self,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, StoredBatch>, sqlx::Error> {
        let mut out = HashMap::new();
        // Bounded IN lists; a batch holds at most 1000 readings, so a chunk
        // reads at most 100 000 rows.
        for chunk in ids.chunks(100) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let marks = marks.join(", ");
            let batch_sql = format!(
                "SELECT id, device_id, source, unit, entered_by, stored_at FROM reading_batches WHERE id IN ({marks})"
            );
            let readings_sql = format!(
                "SELECT batch_id, seq, t, value, u_t FROM device_readings WHERE batch_id IN ({marks}) \
                 ORDER BY batch_id, seq"
            );
            let (batches, readings): (Vec<BatchRow>, Vec<ReadingRow>) =
                with_db!(self, "devices.batches_by_id", |p| {
                    let mut q = sqlx::query_as(&batch_sql);
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    let batches: Vec<BatchRow> = q.fetch_all(p).await?;
                    let mut q = sqlx::query_as(&readings_sql);
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    let readings: Vec<(Uuid, i64, OffsetDateTime, f64, f64)> =
                        q.fetch_all(p).await?;
                    Ok::<_, sqlx::Error>((batches, readings))
                })?;
            for (id, device_id, source, unit, entered_by, stored_at) in batches {
                out.insert(
                    id,
                    StoredBatch {
                        id,
                        device_id,
                        source,
                        unit,
                        entered_by,
                        stored_at,
                        readings: Vec::new(),
                    },
                );
            }
            for (batch, seq, t, value, u_t) in readings {
                if let Some(b) = out.get_mut(&batch) {
                    let r = reading(seq, t, value, u_t, &b.unit);
                    b.readings.push(r);
                }
            }
        }
        Ok(out)
    }

    /// Ids of stored batches after `after` (id order), at most `limit`.
    pub async fn reading_batch_ids_after(
        &self,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Uuid>, sqlx::Error> {
        with_db!(self, "devices.batch_ids_after", |p| sqlx::query_scalar(
            "SELECT id FROM reading_batches WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2"
        )
        .bind(after)
        .bind(limit)
        .fetch_all(p)
        .await)
    }

    /// The device a stored batch belongs to.
    pub async fn reading_batch_device(&self, batch: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
        with_db!(self, "devices.batch_device", |p| sqlx::query_scalar(
            "SELECT device_id FROM reading_batches WHERE id = $1"
        )
        .bind(batch)
        .fetch_optional(p)
        .await)
    }
}
