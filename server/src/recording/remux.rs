//! From raw tracks to a WebM file a browser plays: `ffmpeg -c copy` (a
//! remux; VP8 and Opus go into WebM as they are), then the file's SHA-256.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

/// Why a remux failed, for the recording's `reason`.
#[derive(Debug, thiserror::Error)]
pub enum RemuxError {
    #[error("ffmpeg ({ffmpeg}) cannot be run: {source}")]
    Missing {
        ffmpeg: String,
        source: std::io::Error,
    },
    #[error("ffmpeg failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
    #[error("reading the WebM file failed: {0}")]
    Read(std::io::Error),
}

/// One input of a remux: a raw track and how late it starts (ms) against
/// the earliest input.
pub struct Input {
    pub path: PathBuf,
    pub offset_ms: u64,
}

/// Remux `inputs` into `out` (WebM); returns its size and SHA-256 (hex).
/// Blocking: run on a blocking thread.
pub fn remux(ffmpeg: &Path, inputs: &[Input], out: &Path) -> Result<(u64, String), RemuxError> {
    let mut cmd = Command::new(ffmpeg);
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"]);
    for i in inputs {
        cmd.arg("-itsoffset")
            .arg(format!("{}.{:03}", i.offset_ms / 1000, i.offset_ms % 1000))
            .arg("-i")
            .arg(&i.path);
    }
    for n in 0..inputs.len() {
        cmd.arg("-map").arg(n.to_string());
    }
    cmd.args(["-c", "copy", "-f", "webm"]).arg(out);
    let output = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| RemuxError::Missing {
            ffmpeg: ffmpeg.display().to_string(),
            source,
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        // The end says what went wrong; keep the reason readable.
        let tail: String = stderr
            .trim()
            .chars()
            .rev()
            .take(400)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let _ = std::fs::remove_file(out);
        return Err(RemuxError::Failed {
            status: output.status.to_string(),
            stderr: tail,
        });
    }
    hash_file(out).map_err(RemuxError::Read)
}

/// Size and SHA-256 (hex) of a file.
pub fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    let digest = hasher.finalize();
    Ok((bytes, digest.iter().map(|b| format!("{b:02x}")).collect()))
}
