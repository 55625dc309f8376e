//! Recordings of live sessions (`recordings`: spans from start to stop;
//! `recording_files`: the WebM files, each with its `recording` leaf).

use jiliang_ledger::Record;
use jiliang_protocol::recordings::{RecordingFile, RecordingKind, RecordingNow, RecordingStatus};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::Store;
use crate::store::time::db_time;

/// An open span of recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRecording {
    pub id: Uuid,
    pub session_id: Uuid,
    pub started_at: OffsetDateTime,
}

/// A file to store once written and remuxed.
#[derive(Debug, Clone)]
pub struct NewRecordingFile {
    pub file: RecordingFile,
    /// Its name under the recordings directory (`None`: nothing to serve).
    pub file_name: Option<String>,
}

type FileRow = (
    Uuid,
    Uuid,
    Uuid,
    Uuid,
    String,
    String,
    bool,
    OffsetDateTime,
    i64,
    i64,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
);

const FILE_SELECT: &str = "SELECT f.id, f.session_id, f.recording_id, f.publisher_id, u.display_name, f.kind, \
     f.with_audio, f.started_at, f.duration_ms, f.bytes, f.sha256, f.status, f.reason, f.file_name \
     FROM recording_files f JOIN users u ON u.id = f.publisher_id";

fn file_of(r: FileRow) -> (RecordingFile, Option<String>) {
    (
        RecordingFile {
            id: r.0,
            session_id: r.1,
            recording_id: r.2,
            publisher_id: r.3,
            publisher_name: r.4,
            kind: RecordingKind::parse(&r.5).unwrap_or(RecordingKind::Camera),
            with_audio: r.6,
            started_at: r.7,
            duration_ms: u64::try_from(r.8).unwrap_or(0),
            bytes: u64::try_from(r.9).unwrap_or(0),
            sha256: r.10,
            status: if r.11 == "ready" {
                RecordingStatus::Ready
            } else {
                RecordingStatus::Failed
            },
            reason: r.12,
        },
        r.13,
    )
}

impl Store {
    /// Open a span of recording for `session`; `false` if one is open
    /// already (the unique index decides, whichever node asks).
    pub async fn recording_start(
        &self,
        id: Uuid,
        session_id: Uuid,
        by: Uuid,
        at: OffsetDateTime,
    ) -> Result<bool, sqlx::Error> {
        let inserted = with_db!(self, "recordings.start", |p| {
            sqlx::query(
                "INSERT INTO recordings (id, session_id, started_by, started_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(session_id)
            .bind(by)
            .bind(db_time(at))
            .execute(p)
            .await
            .map(|_| ())
        });
        match inserted {
            Ok(_) => Ok(true),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Close `session`'s open span, if any; its id.
    pub async fn recording_stop(
        &self,
        session_id: Uuid,
        at: OffsetDateTime,
    ) -> Result<Option<Uuid>, sqlx::Error> {
        with_db!(self, "recordings.stop", |p| {
            sqlx::query_scalar(
                "UPDATE recordings SET stopped_at = $1 WHERE session_id = $2 AND stopped_at IS NULL \
                 RETURNING id",
            )
            .bind(db_time(at))
            .bind(session_id)
            .fetch_optional(p)
            .await
        })
    }

    /// `session`'s open span, as the room snapshot shows it.
    pub async fn recording_now(
        &self,
        session_id: Uuid,
    ) -> Result<Option<RecordingNow>, sqlx::Error> {
        with_db!(self, "recordings.now", |p| {
            let row: Option<(Uuid, Uuid, OffsetDateTime)> = sqlx::query_as(
                "SELECT id, started_by, started_at FROM recordings \
                 WHERE session_id = $1 AND stopped_at IS NULL",
            )
            .bind(session_id)
            .fetch_optional(p)
            .await?;
            Ok(
                row.map(|(recording_id, started_by, started_at)| RecordingNow {
                    recording_id,
                    started_by,
                    started_at,
                }),
            )
        })
    }

    /// Every open span (a node records those whose media it hosts).
    pub async fn open_recordings(&self) -> Result<Vec<OpenRecording>, sqlx::Error> {
        with_db!(self, "recordings.open", |p| {
            let rows: Vec<(Uuid, Uuid, OffsetDateTime)> = sqlx::query_as(
                "SELECT id, session_id, started_at FROM recordings WHERE stopped_at IS NULL",
            )
            .fetch_all(p)
            .await?;
            Ok(rows
                .into_iter()
                .map(|(id, session_id, started_at)| OpenRecording {
                    id,
                    session_id,
                    started_at,
                })
                .collect())
        })
    }

    /// Store a written file with its ledger leaf (`record`, for a ready
    /// file) in one transaction.
    pub async fn insert_recording_file(
        &self,
        f: &NewRecordingFile,
        record: Option<&Record>,
    ) -> Result<(), sqlx::Error> {
        let begin = self.begin_write();
        let _turn = self.write_turn().await;
        let r = &f.file;
        with_db!(self, "recordings.insert_file", |p| {
            let mut tx = p.begin_with(begin).await?;
            sqlx::query(
                "INSERT INTO recording_files (id, recording_id, session_id, publisher_id, kind, with_audio, \
                 started_at, duration_ms, bytes, sha256, status, reason, file_name) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(r.id)
            .bind(r.recording_id)
            .bind(r.session_id)
            .bind(r.publisher_id)
            .bind(r.kind.as_str())
            .bind(r.with_audio)
            .bind(db_time(r.started_at))
            .bind(i64::try_from(r.duration_ms).unwrap_or(i64::MAX))
            .bind(i64::try_from(r.bytes).unwrap_or(i64::MAX))
            .bind(r.sha256.as_deref())
            .bind(r.status.as_str())
            .bind(r.reason.as_deref())
            .bind(f.file_name.as_deref())
            .execute(&mut *tx)
            .await?;
            if let Some(record) = record {
                let _idx: i64 = append_leaf!(tx, record);
            }
            tx.commit().await
        })
    }

    /// A session's recorded files, oldest first.
    pub async fn session_recording_files(
        &self,
        session_id: Uuid,
    ) -> Result<Vec<RecordingFile>, sqlx::Error> {
        with_db!(self, "recordings.session_files", |p| {
            let rows: Vec<FileRow> = sqlx::query_as(&format!(
                "{FILE_SELECT} WHERE f.session_id = $1 ORDER BY f.started_at, f.id"
            ))
            .bind(session_id)
            .fetch_all(p)
            .await?;
            Ok(rows.into_iter().map(|r| file_of(r).0).collect())
        })
    }

    /// One recorded file and its name on disk.
    pub async fn recording_file(
        &self,
        id: Uuid,
    ) -> Result<Option<(RecordingFile, Option<String>)>, sqlx::Error> {
        with_db!(self, "recordings.file", |p| {
            let row: Option<FileRow> = sqlx::query_as(&format!("{FILE_SELECT} WHERE f.id = $1"))
                .bind(id)
                .fetch_optional(p)
                .await?;
            Ok(row.map(file_of))
        })
    }

    /// Every ready file's id (each must have its leaf).
    pub async fn ready_recording_ids(&self) -> Result<Vec<Uuid>, sqlx::Error> {
        with_db!(self, "recordings.ready_ids", |p| {
            sqlx::query_scalar("SELECT id FROM recording_files WHERE status = 'ready' ORDER BY id")
                .fetch_all(p)
                .await
        })
    }
}
