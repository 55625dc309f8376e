//! Recording live sessions.
//!
//! The host starts and stops recording on the room socket; the database
//! holds the wish (an open span in `recordings`, one per session, however
//! nodes race). The [`Recorder`] of each node looks at the open spans
//! (when told of a change on this node, and every second for the others)
//! and records those rooms whose media this node hosts: each published
//! track is written to disk as its packets pass through the SFU
//! ([`track`]: VP8 into IVF, Opus into Ogg, the high layer of a simulcast
//! track, a keyframe asked for when writing starts). When the span closes
//! (the host stops, the session ends), when a track ends, or when the node
//! shuts down, the raw tracks are remuxed into WebM with `ffmpeg -c copy`
//! ([`remux`]): a person's camera and microphone into one file, a screen
//! share into its own. Each file is a record: its row in
//! `recording_files` and its SHA-256 in the ledger (`recording` leaf), in
//! one transaction. A failed write or remux is stored as a failed file
//! with its reason (the raw tracks stay on disk); the room never notices.
//!
//! A span stays open across a node's restart or the media moving to
//! another node: recording goes on wherever the room's media is next.

pub mod control;
pub mod ivf;
pub mod ogg;
pub mod remux;
pub mod track;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jiliang_protocol::recordings::{RecordingFile, RecordingKind, RecordingStatus};
use jiliang_protocol::rooms::MediaSource;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::media::Sfu;
use crate::store::Store;
use crate::store::recordings::{NewRecordingFile, OpenRecording};
use track::Segment;

/// How often a node looks for spans opened or closed on other nodes.
const POLL: Duration = Duration::from_secs(1);

/// Where recordings go and what remuxes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingConfig {
    /// `None`: see `Config::recordings_path`.
    pub dir: Option<PathBuf>,
    pub ffmpeg: PathBuf,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        Self {
            dir: None,
            ffmpeg: PathBuf::from("ffmpeg"),
        }
    }
}

/// This node's recorder.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    sfu: Arc<dyn Sfu>,
    dir: PathBuf,
    ffmpeg: PathBuf,
    /// Something changed on this node: look now.
    poke: Notify,
    rooms: Mutex<HashMap<Uuid, RoomRecording>>,
    tasks: TaskTracker,
}

/// A span being recorded on this node.
struct RoomRecording {
    span: OpenRecording,
    writers: HashMap<u64, Writer>,
}

struct Writer {
    stop: CancellationToken,
    handle: JoinHandle<Segment>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Recorder {
    /// Start recording what `sfu` forwards into `dir`; stops (finishing
    /// every file) when `shutdown` is cancelled. Its tasks are tracked by
    /// `tasks`, so shutdown waits for the last remux.
    pub fn start(
        store: Store,
        sfu: Arc<dyn Sfu>,
        dir: PathBuf,
        ffmpeg: PathBuf,
        shutdown: CancellationToken,
        tasks: &TaskTracker,
    ) -> Self {
        let inner = Arc::new(Inner {
            store,
            sfu,
            dir,
            ffmpeg,
            poke: Notify::new(),
            rooms: Mutex::default(),
            tasks: tasks.clone(),
        });
        tasks.spawn(watch(inner.clone(), shutdown));
        Self { inner }
    }

    /// A span was opened or closed on this node, or media changed: look at
    /// once rather than at the next poll.
    pub fn poke(&self) {
        self.inner.poke.notify_one();
    }

    /// The directory recordings live in.
    pub fn dir(&self) -> &std::path::Path {
        &self.inner.dir
    }

    /// Whether `room` is being written on this node (for tests and
    /// metrics).
    pub fn recording_here(&self, room: Uuid) -> usize {
        lock(&self.inner.rooms)
            .get(&room)
            .map_or(0, |r| r.writers.len())
    }
}

async fn watch(inner: Arc<Inner>, shutdown: CancellationToken) {
    let mut media = inner.sfu.updates();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = inner.poke.notified() => {}
            _ = media.recv() => {}
            () = tokio::time::sleep(POLL) => {
                // Nothing to look for while this node has no media and
                // writes nothing: a span opened meanwhile starts with the
                // first peer connection (a media update).
                if inner.sfu.peer_connections() == 0 && lock(&inner.rooms).is_empty() {
                    continue;
                }
            }
        }
        match inner.store.open_recordings().await {
            Ok(open) => inner.sync(&open),
            Err(e) => tracing::warn!(error = %e, "recording: cannot read open recordings"),
        }
    }
    // Shutting down: finish every file here. The spans stay open, so
    // recording resumes where the rooms' media goes next.
    let rooms: Vec<RoomRecording> = lock(&inner.rooms).drain().map(|(_, r)| r).collect();
    for r in rooms {
        inner.finish(r.span, r.writers.into_values().collect(), true);
    }
}

impl Inner {
    /// Record what should be, stop what should not.
    fn sync(self: &Arc<Self>, open: &[OpenRecording]) {
        let mut rooms = lock(&self.rooms);
        // Spans closed (or replaced): finish their files.
        let closed: Vec<Uuid> = rooms
            .iter()
            .filter(|(room, r)| {
                !open
                    .iter()
                    .any(|o| o.session_id == **room && o.id == r.span.id)
            })
            .map(|(room, _)| *room)
            .collect();
        for room in closed {
            if let Some(r) = rooms.remove(&room) {
                self.finish(r.span, r.writers.into_values().collect(), true);
            }
        }
        for span in open {
            let taps = self.sfu.taps(span.session_id);
            if taps.is_empty() && !rooms.contains_key(&span.session_id) {
                continue;
            }
            let r = rooms
                .entry(span.session_id)
                .or_insert_with(|| RoomRecording {
                    span: span.clone(),
                    writers: HashMap::new(),
                });
            // Tracks that ended or are no longer published: their files
            // are done.
            let gone: Vec<u64> = r
                .writers
                .iter()
                .filter(|(id, w)| w.handle.is_finished() || !taps.iter().any(|t| t.id == **id))
                .map(|(id, _)| *id)
                .collect();
            let ended: Vec<Writer> = gone.iter().filter_map(|id| r.writers.remove(id)).collect();
            if !ended.is_empty() {
                self.finish(r.span.clone(), ended, false);
            }
            for tap in taps {
                if r.writers.contains_key(&tap.id) {
                    continue;
                }
                let dir = self.dir.join(span.session_id.to_string());
                if let Err(e) = std::fs::create_dir_all(&dir) {
                    tracing::warn!(error = %e, dir = %dir.display(), "recording: cannot create the directory");
                }
                let ext = if tap.video { "ivf" } else { "ogg" };
                let path = dir.join(format!("{}-{}.{ext}", Uuid::now_v7(), tap.source.as_str()));
                let stop = CancellationToken::new();
                let id = tap.id;
                let handle = self.tasks.spawn(track::record(tap, path, stop.clone()));
                r.writers.insert(id, Writer { stop, handle });
            }
        }
    }

    /// Stop `writers`, then remux and store their files (in the
    /// background). `together`: the span ended, so a person's camera and
    /// microphone go into one file.
    fn finish(self: &Arc<Self>, span: OpenRecording, writers: Vec<Writer>, together: bool) {
        for w in &writers {
            w.stop.cancel();
        }
        let inner = self.clone();
        self.tasks.spawn(async move {
            let mut segments = Vec::new();
            for w in writers {
                match w.handle.await {
                    Ok(s) => segments.push(s),
                    Err(e) => tracing::warn!(error = %e, "recording: a track writer failed"),
                }
            }
            for group in group(segments, together) {
                inner.store_group(&span, group).await;
            }
        });
    }

    /// Remux one group of segments into a WebM file and store it.
    async fn store_group(&self, span: &OpenRecording, group: Vec<Segment>) {
        // Nothing written and no error: nothing to store (dropped before).
        // An error before the first frame (the file could not be created)
        // is still stored, as a failed file.
        let start = group
            .iter()
            .filter_map(|s| s.first)
            .min_by_key(|f| f.0)
            .or_else(|| {
                group
                    .iter()
                    .any(|s| s.error.is_some())
                    .then(|| (Instant::now(), crate::clock::now()))
            });
        let Some(start) = start else {
            return;
        };
        let lead = &group[0];
        let kind = match lead.source {
            MediaSource::Camera => RecordingKind::Camera,
            MediaSource::Screen => RecordingKind::Screen,
            MediaSource::Microphone => RecordingKind::Microphone,
        };
        let with_audio = lead.video && group.iter().any(|s| !s.video);
        let id = Uuid::now_v7();
        let name = format!("{id}.webm");
        let out = self.dir.join(span.session_id.to_string()).join(&name);
        let inputs: Vec<remux::Input> = group
            .iter()
            .filter_map(|s| {
                s.first.map(|(at, _)| remux::Input {
                    path: s.path.clone(),
                    offset_ms: u64::try_from(at.duration_since(start.0).as_millis()).unwrap_or(0),
                })
            })
            .collect();
        let duration_ms = group
            .iter()
            .filter_map(|s| {
                s.first.map(|(at, _)| {
                    u64::try_from(at.duration_since(start.0).as_millis()).unwrap_or(0)
                        + s.duration_ms
                })
            })
            .max()
            .unwrap_or(0);
        let written_error = group.iter().find_map(|s| s.error.clone());
        let result = match written_error {
            Some(e) => Err(e),
            None => {
                let ffmpeg = self.ffmpeg.clone();
                let target = out.clone();
                tokio::task::spawn_blocking(move || remux::remux(&ffmpeg, &inputs, &target))
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r.map_err(|e| e.to_string()))
            }
        };
        let mut file = RecordingFile {
            id,
            session_id: span.session_id,
            recording_id: span.id,
            publisher_id: lead.user,
            publisher_name: String::new(),
            kind,
            with_audio,
            started_at: start.1,
            duration_ms,
            bytes: 0,
            sha256: None,
            status: RecordingStatus::Ready,
            reason: None,
        };
        let record = match result {
            Ok((bytes, sha)) => {
                file.bytes = bytes;
                match crate::ledger::records::recording(&file, &sha) {
                    Ok(record) => {
                        file.sha256 = Some(sha);
                        Some(record)
                    }
                    Err(e) => {
                        file.status = RecordingStatus::Failed;
                        file.reason = Some(format!("ledger record: {e}"));
                        None
                    }
                }
            }
            Err(reason) => {
                tracing::warn!(%reason, session = %span.session_id, "recording failed; the raw tracks stay on disk");
                file.status = RecordingStatus::Failed;
                file.reason = Some(reason);
                None
            }
        };
        let ready = record.is_some();
        let stored = self
            .store
            .insert_recording_file(
                &NewRecordingFile {
                    file,
                    file_name: ready.then_some(name),
                },
                record.as_ref(),
            )
            .await;
        match stored {
            Ok(()) if ready => {
                // The WebM file is the recording now.
                for s in &group {
                    let _ = std::fs::remove_file(&s.path);
                }
            }
            Ok(()) => {}
            Err(e) => {
                tracing::error!(error = %e, file = %out.display(), "recording: cannot store the recorded file's row");
            }
        }
    }
}

/// Segments into files: nothing written → dropped (its empty raw file
/// removed); `together`: each person's one camera and one microphone
/// segment share a file.
fn group(segments: Vec<Segment>, together: bool) -> Vec<Vec<Segment>> {
    let mut out: Vec<Vec<Segment>> = Vec::new();
    let mut cameras: HashMap<Uuid, usize> = HashMap::new();
    let mut mics: Vec<Segment> = Vec::new();
    for s in segments {
        if s.first.is_none() && s.error.is_none() {
            let _ = std::fs::remove_file(&s.path);
            continue;
        }
        match s.source {
            MediaSource::Camera if together && !cameras.contains_key(&s.user) => {
                cameras.insert(s.user, out.len());
                out.push(vec![s]);
            }
            MediaSource::Microphone if together => mics.push(s),
            _ => out.push(vec![s]),
        }
    }
    for m in mics {
        match cameras.remove(&m.user) {
            Some(i) => out[i].push(m),
            None => out.push(vec![m]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(user: u128, source: MediaSource, written: bool) -> Segment {
        Segment {
            user: Uuid::from_u128(user),
            source,
            video: source.is_video(),
            path: PathBuf::from(format!("/nonexistent/{user}-{}", source.as_str())),
            first: written.then(|| (Instant::now(), OffsetDateTime::UNIX_EPOCH)),
            duration_ms: 1000,
            error: None,
        }
    }

    use time::OffsetDateTime;

    #[test]
    fn a_persons_camera_and_microphone_share_a_file() {
        let files = group(
            vec![
                seg(1, MediaSource::Microphone, true),
                seg(1, MediaSource::Camera, true),
                seg(2, MediaSource::Microphone, true),
                seg(1, MediaSource::Screen, true),
                seg(3, MediaSource::Camera, false),
            ],
            true,
        );
        let shape: Vec<Vec<(u128, &str)>> = files
            .iter()
            .map(|g| {
                g.iter()
                    .map(|s| (s.user.as_u128(), s.source.as_str()))
                    .collect()
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                vec![(1, "camera"), (1, "microphone")],
                vec![(1, "screen")],
                vec![(2, "microphone")],
            ]
        );
        // A track that ended mid-span is a file of its own.
        assert_eq!(
            group(
                vec![
                    seg(1, MediaSource::Camera, true),
                    seg(1, MediaSource::Microphone, true)
                ],
                false
            )
            .len(),
            2
        );
    }
}
