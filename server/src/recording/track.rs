//! One published track written to disk as its packets pass: VP8 into IVF,
//! Opus into Ogg. Of a simulcast track only the high layer is written.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use jiliang_protocol::rooms::MediaSource;
use time::OffsetDateTime;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::ivf::{IvfWriter, Vp8Frames, Vp8Out};
use super::ogg::{OggOpusWriter, opus_samples};
use crate::media::{Layer, Tap};

/// While no keyframe has come, ask again this often.
const KEYFRAME_AGAIN: Duration = Duration::from_secs(1);
/// Buffered writes: the packets of about a second of video.
const WRITE_BUFFER: usize = 256 * 1024;

/// What was written of one track.
#[derive(Debug)]
pub struct Segment {
    pub user: Uuid,
    pub source: MediaSource,
    pub video: bool,
    pub path: PathBuf,
    /// When its first frame was written (`None`: nothing was).
    pub first: Option<(Instant, OffsetDateTime)>,
    pub duration_ms: u64,
    /// Why writing stopped early (a disk error).
    pub error: Option<String>,
}

enum Sink {
    Video {
        w: IvfWriter<BufWriter<File>>,
        frames: Vp8Frames,
    },
    Audio {
        w: OggOpusWriter<BufWriter<File>>,
    },
}

/// Write `tap` to `path` until `stop` is cancelled or the track ends.
///
/// Writes go through a buffer to the page cache from the runtime's thread:
/// a few hundred kilobytes a second per track, far less than a blocking
/// call's worth of time; a slow disk shows as a lagging channel here, never
/// as a stalled forwarder (the forwarders have their own receivers).
pub async fn record(mut tap: Tap, path: PathBuf, stop: CancellationToken) -> Segment {
    let mut seg = Segment {
        user: tap.user,
        source: tap.source,
        video: tap.video,
        path: path.clone(),
        first: None,
        duration_ms: 0,
        error: None,
    };
    let mut sink = match open(&path, tap.video, tap.id) {
        Ok(s) => s,
        Err(e) => {
            seg.error = Some(format!("cannot create {}: {e}", path.display()));
            return seg;
        }
    };
    if tap.video {
        let _ = tap.keyframe.try_send(Layer::High);
    }
    let clock = u64::from(tap.clock_rate.max(1));
    // RTP timestamps extended past their 32-bit wrap.
    let mut first_ts: Option<i64> = None;
    let mut last_ts: (u32, i64) = (0, 0);
    let mut asked = Instant::now();
    loop {
        let m = tokio::select! {
            () = stop.cancelled() => break,
            m = tap.packets.recv() => m,
        };
        let m = match m {
            Ok(m) => m,
            Err(RecvError::Closed) => break,
            Err(RecvError::Lagged(_)) => {
                // Packets lost here: the video waits for a keyframe.
                if let Sink::Video { frames, .. } = &mut sink {
                    *frames = Vp8Frames::default();
                    let _ = tap.keyframe.try_send(Layer::High);
                    asked = Instant::now();
                }
                continue;
            }
        };
        if m.simulcast && m.layer != Layer::High {
            continue;
        }
        let pkt = &m.pkt;
        let ts = pkt.header.timestamp;
        let ext = match first_ts {
            None => i64::from(ts),
            Some(_) => last_ts.1 + i64::from(ts.wrapping_sub(last_ts.0) as i32),
        };
        let written = match &mut sink {
            Sink::Video { w, frames } => {
                match frames.push(
                    pkt.header.sequence_number,
                    ts,
                    pkt.header.marker,
                    &pkt.payload,
                ) {
                    Vp8Out::Frame { data, .. } => {
                        let base = *first_ts.get_or_insert(ext);
                        let pts = u64::try_from(ext - base).unwrap_or(0) * 1000 / clock;
                        w.write_frame(pts, &data).map(|()| {
                            seg.duration_ms = pts + 1000 / 30;
                            true
                        })
                    }
                    Vp8Out::NeedKeyframe | Vp8Out::Nothing => {
                        if !frames.synced() && asked.elapsed() >= KEYFRAME_AGAIN {
                            let _ = tap.keyframe.try_send(Layer::High);
                            asked = Instant::now();
                        }
                        Ok(false)
                    }
                }
            }
            Sink::Audio { w } => match opus_samples(&pkt.payload) {
                Some(samples) => {
                    let base = *first_ts.get_or_insert(ext);
                    let start = u64::try_from(ext - base).unwrap_or(0) * 48_000 / clock;
                    let end = start + samples;
                    w.write_packet(&pkt.payload, end).map(|()| {
                        seg.duration_ms = end / 48;
                        true
                    })
                }
                None => Ok(false),
            },
        };
        match written {
            Ok(true) => {
                last_ts = (ts, ext);
                if seg.first.is_none() {
                    seg.first = Some((Instant::now(), crate::clock::now()));
                }
            }
            Ok(false) => {
                if first_ts.is_some() {
                    last_ts = (ts, ext);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "recording: write failed");
                seg.error = Some(format!("write to {} failed: {e}", path.display()));
                break;
            }
        }
    }
    let finished = match sink {
        Sink::Video { w, .. } => w.finish().and_then(|mut b| b.flush()),
        Sink::Audio { w } => w.finish().and_then(|mut b| b.flush()),
    };
    if let Err(e) = finished
        && seg.error.is_none()
    {
        tracing::warn!(error = %e, path = %path.display(), "recording: closing failed");
        seg.error = Some(format!("closing {} failed: {e}", path.display()));
    }
    seg
}

fn open(path: &std::path::Path, video: bool, id: u64) -> std::io::Result<Sink> {
    let file = BufWriter::with_capacity(WRITE_BUFFER, File::create(path)?);
    Ok(if video {
        Sink::Video {
            w: IvfWriter::new(file)?,
            frames: Vp8Frames::default(),
        }
    } else {
        Sink::Audio {
            // Chromium sends Opus as stereo-capable (`channels: 2`).
            w: OggOpusWriter::new(file, 2, (id & 0xffff_ffff) as u32)?,
        }
    })
}
