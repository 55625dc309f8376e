//! Recordings of live sessions: the host records, the server writes the
//! tracks it forwards to disk and remuxes them into WebM files, each a
//! ledger record (`recording`). Started and stopped on the room socket
//! (`recording_start`, `recording_stop`); listed and served over REST.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// A session being recorded now (in the room `snapshot`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordingNow {
    pub recording_id: Uuid,
    /// Who started it (the host).
    pub started_by: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
}

/// What a recorded file shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecordingKind {
    /// A camera (with the same person's microphone when both were
    /// recorded together).
    Camera,
    /// A screen share.
    Screen,
    /// A microphone alone.
    Microphone,
}

impl RecordingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Camera => "camera",
            Self::Screen => "screen",
            Self::Microphone => "microphone",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "camera" => Some(Self::Camera),
            "screen" => Some(Self::Screen),
            "microphone" => Some(Self::Microphone),
            _ => None,
        }
    }
}

/// Whether a recorded file can be played.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecordingStatus {
    /// Remuxed, hashed and in the ledger: `GET /recordings/{id}/file`.
    Ready,
    /// Writing or remuxing failed (`reason` says why); no file to play.
    Failed,
}

impl RecordingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }
}

/// One recorded file of a session (`GET /sessions/{id}/recordings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecordingFile {
    pub id: Uuid,
    pub session_id: Uuid,
    /// The span of recording (start to stop) it belongs to.
    pub recording_id: Uuid,
    /// Whose tracks it holds.
    pub publisher_id: Uuid,
    pub publisher_name: String,
    pub kind: RecordingKind,
    /// Video with the publisher's microphone beside it.
    pub with_audio: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    pub duration_ms: u64,
    /// Size of the WebM file.
    pub bytes: u64,
    /// SHA-256 of the WebM file, hex (the ledger record names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub status: RecordingStatus,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
