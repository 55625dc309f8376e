//! A line-oriented link to an instrument (a TCP socket or a serial port):
//! send a line, read a line with a deadline, drain what is pending.

use std::io;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// Longest line accepted from an instrument; a longer one is garbage (and
/// the cap keeps a babbling device from filling memory).
pub const MAX_LINE: usize = 4096;

/// Anything a link can run over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("no reply within {0} ms")]
    Timeout(u128),
    #[error("the instrument closed the connection")]
    Closed,
    #[error("a reply longer than {MAX_LINE} bytes")]
    TooLong,
    #[error("{0}")]
    Io(#[from] io::Error),
}

pub struct Link {
    io: BufReader<Box<dyn Io>>,
    eol: &'static [u8],
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").finish_non_exhaustive()
    }
}

/// What a drain found.
#[derive(Debug, Clone, Copy, Default)]
pub struct Drained {
    pub bytes: usize,
    /// The last byte drained was not a line end: the next line read will be
    /// the tail of a line.
    pub mid_line: bool,
}

impl Link {
    pub fn new(io: Box<dyn Io>, eol: &'static [u8]) -> Self {
        Self {
            io: BufReader::new(io),
            eol,
        }
    }

    pub async fn send(&mut self, line: &str) -> Result<(), LinkError> {
        let mut buf = Vec::with_capacity(line.len() + self.eol.len());
        buf.extend_from_slice(line.as_bytes());
        buf.extend_from_slice(self.eol);
        let w = self.io.get_mut();
        w.write_all(&buf).await?;
        w.flush().await?;
        Ok(())
    }

    /// One line, without its `\n` / `\r\n`, within `timeout`. A timeout
    /// may leave part of a line consumed: drain before relying on the link.
    pub async fn read_line(&mut self, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        match tokio::time::timeout(timeout, self.read_line_capped()).await {
            Ok(r) => r,
            Err(_) => Err(LinkError::Timeout(timeout.as_millis())),
        }
    }

    async fn read_line_capped(&mut self) -> Result<Vec<u8>, LinkError> {
        let mut line = Vec::new();
        loop {
            let buf = self.io.fill_buf().await?;
            if buf.is_empty() {
                return Err(LinkError::Closed);
            }
            let (take, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            line.extend_from_slice(&buf[..take]);
            self.io.consume(take);
            if line.len() > MAX_LINE + 2 {
                return Err(LinkError::TooLong);
            }
            if done {
                while matches!(line.last(), Some(b'\n' | b'\r')) {
                    line.pop();
                }
                return Ok(line);
            }
        }
    }

    /// Send `query` and read its reply line.
    pub async fn query(&mut self, query: &str, timeout: Duration) -> Result<Vec<u8>, LinkError> {
        self.send(query).await?;
        self.read_line(timeout).await
    }

    /// Discard input until the line has been quiet for `quiet` (or `max`
    /// has passed, for a device that never stops talking).
    pub async fn drain(&mut self, quiet: Duration, max: Duration) -> Result<Drained, LinkError> {
        let start = Instant::now();
        let mut d = Drained::default();
        while start.elapsed() < max {
            match tokio::time::timeout(quiet, self.io.fill_buf()).await {
                Err(_) => break,
                Ok(Err(e)) => return Err(e.into()),
                Ok(Ok([])) => return Err(LinkError::Closed),
                Ok(Ok(buf)) => {
                    let n = buf.len();
                    d.mid_line = buf.last() != Some(&b'\n');
                    d.bytes += n;
                    self.io.consume(n);
                }
            }
        }
        Ok(d)
    }
}
