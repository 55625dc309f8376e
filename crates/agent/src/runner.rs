//! `run` and `check`: the sampler, the uplink and what they share.
//!
//! The sampler reads the instrument every `--interval-ms`, stamps the
//! reading with the server's time and appends it to the queue (durably);
//! the uplink sends what the queue holds. They meet only in [`Shared`]: the
//! queue, the clock estimate, the instrument's health, and watches that
//! wake the uplink when a reading is written or the health changes.
//!
//! Instrument faults never stop the agent: they are logged (on change, and
//! again every few minutes while they last), reported in the status frame,
//! and reading resumes as soon as the instrument answers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use jiliang_protocol::devices::{ClockState, FaultKind};
use jiliang_protocol::timesync::ClockSample;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::{Config, Reading, UnitSource};
use crate::decode::tidy;
use crate::driver::{Driver, Fault};
use crate::queue::{Options, Queue, QueueError};
use crate::uplink::{LinkState, Timing, Uplink};
use crate::util::{datetime_from_ms, unix_ms};

/// A fault that lasts is logged again this often…
const FAULT_RELOG: Duration = Duration::from_secs(300);
/// …or this often when its message changes.
const FAULT_RELOG_CHANGED: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("{0}")]
    UnitMismatch(String),
    #[error("a task of the agent failed: {0}")]
    Task(String),
}

/// The instrument's state as the sampler last saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    pub fault: Option<Fault>,
    pub idn: Option<String>,
}

/// What the sampler and the uplink share. Locks are held for in-memory
/// work only, except the queue's, which is taken on blocking threads
/// ([`blocking`]) because its operations fsync.
pub struct Shared {
    /// The queue; blocking I/O, so only ever locked inside `spawn_blocking`.
    queue: Mutex<Queue>,
    pub queue_dir: PathBuf,
    /// Written by the uplink (samples), read by the sampler (stamps).
    clock: Mutex<Clock>,
    /// Fault and IDN; changes wake the uplink to send a status frame.
    pub health: watch::Sender<Health>,
    /// Last local number written; changes wake the uplink to send.
    pub written: watch::Sender<u64>,
    /// Unit of new readings, once known (the server may name it).
    pub unit: watch::Sender<Option<String>>,
    pub link: watch::Sender<LinkState>,
    last_reading: Mutex<Option<Instant>>,
    quarantined: AtomicU64,
}

impl Shared {
    pub fn new(queue: Queue, clock: Clock, unit: Option<String>) -> Self {
        let written = queue.last_local();
        let quarantined = queue.quarantined();
        Self {
            queue_dir: queue.dir().to_owned(),
            queue: Mutex::new(queue),
            clock: Mutex::new(clock),
            health: watch::Sender::new(Health::default()),
            written: watch::Sender::new(written),
            unit: watch::Sender::new(unit),
            link: watch::Sender::new(LinkState::Connecting),
            last_reading: Mutex::new(None),
            quarantined: AtomicU64::new(quarantined),
        }
    }

    fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock cannot leave the queue's files
        // inconsistent (every write is checked on open), so carry on.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_clock(&self) -> MutexGuard<'_, Clock> {
        self.clock.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add_clock_sample(&self, s: ClockSample) {
        self.lock_clock().add(s);
    }

    pub fn clock_state(&self, now_ms: f64) -> Option<ClockState> {
        self.lock_clock().state(now_ms)
    }

    pub fn clock_snapshot(&self) -> Clock {
        self.lock_clock().clone()
    }

    pub fn last_reading(&self) -> Option<Instant> {
        *self.last_reading.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn quarantined(&self) -> u64 {
        self.quarantined.load(Ordering::Relaxed)
    }

    pub fn bump_quarantined(&self) {
        self.quarantined.fetch_add(1, Ordering::Relaxed);
    }
}

/// Run `f` on the queue on a blocking thread.
pub async fn blocking<T, F>(shared: &Arc<Shared>, f: F) -> Result<T, QueueError>
where
    T: Send + 'static,
    F: FnOnce(&mut Queue) -> Result<T, QueueError> + Send + 'static,
{
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || f(&mut shared.lock_queue()))
        .await
        .unwrap_or_else(|e| {
            Err(QueueError::BadState {
                file: PathBuf::new(),
                what: format!("queue task failed: {e}"),
            })
        })
}

/// The running agent, for tests: its shared state and its task.
pub struct Running {
    pub shared: Arc<Shared>,
    pub task: tokio::task::JoinHandle<Result<(), RunError>>,
}

/// Start the agent; it runs until `shutdown` is cancelled (then flushes and
/// returns Ok) or a fatal error.
pub fn start(
    config: Config,
    timing: Timing,
    shutdown: CancellationToken,
) -> Result<Running, RunError> {
    let queue = Queue::open(&config.upload.queue, Options::default())?;
    let clock = Clock::load(&config.upload.queue);
    let unit = config
        .reading
        .unit
        .known()
        .map(str::to_owned)
        .or_else(|| queue.meta().device_unit.clone());
    let summary = queue.summary();
    tracing::info!(
        queue = %config.upload.queue.display(),
        queued = summary.depth,
        last_seq = summary.last_seq,
        quarantined = summary.quarantined,
        instrument = %config.reading.instrument.describe(),
        interval_ms = config.reading.interval.as_millis() as u64,
        "agent starting"
    );
    let shared = Arc::new(Shared::new(queue, clock, unit));
    let uplink = Uplink::new(&config, timing, shared.clone());
    let task = tokio::spawn(supervise(config.reading, uplink, shared.clone(), shutdown));
    Ok(Running { shared, task })
}

/// Run until `shutdown`; the convenience form of [`start`].
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), RunError> {
    let running = start(config, Timing::default(), shutdown)?;
    running
        .task
        .await
        .map_err(|e| RunError::Task(e.to_string()))?
}

async fn supervise(
    reading: Reading,
    uplink: Uplink,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let stop = shutdown.child_token();
    let mut sampler = tokio::spawn(sample_loop(reading, shared.clone(), stop.clone()));
    let mut uplink = tokio::spawn(uplink.run(stop.clone()));
    let joined = |r: Result<Result<(), RunError>, tokio::task::JoinError>| {
        r.map_err(|e| RunError::Task(e.to_string())).and_then(|r| r)
    };
    let first = tokio::select! {
        r = &mut sampler => { stop.cancel(); let u = joined(uplink.await); joined(r).and(u) }
        r = &mut uplink => { stop.cancel(); let s = joined(sampler.await); joined(r).and(s) }
        _ = stop.cancelled() => {
            let s = joined(sampler.await);
            let u = joined(uplink.await);
            s.and(u)
        }
    };
    let flushed = blocking(&shared, |q| q.flush()).await;
    let clock = shared.clock_snapshot();
    let dir = shared.queue_dir.clone();
    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || clock.save(&dir)).await {
        tracing::warn!(error = %e, "cannot save the clock estimate");
    }
    first?;
    flushed?;
    tracing::info!("agent stopped; every reading taken is on disk");
    Ok(())
}

/// Record the instrument's state. A fault's start, change of kind and end
/// are logged and reported at once; a fault of the same kind with another
/// message (garbage differs at every reading) updates the status quietly
/// and is logged at most once a minute (and every five while it lasts).
fn set_fault(shared: &Shared, fault: Option<Fault>, last_log: &mut Option<Instant>) {
    let mut message_changed = false;
    let kind_changed = shared.health.send_if_modified(|h| {
        let kind_changed = h.fault.as_ref().map(|f| f.kind) != fault.as_ref().map(|f| f.kind);
        message_changed = h.fault != fault;
        h.fault = fault.clone();
        kind_changed
    });
    let since = last_log.map(|t| t.elapsed());
    let due =
        since.is_some_and(|d| d >= FAULT_RELOG || (message_changed && d >= FAULT_RELOG_CHANGED));
    match &fault {
        Some(f) if kind_changed || due => {
            tracing::warn!(kind = %f.kind, message = %f.message, "instrument fault");
            *last_log = Some(Instant::now());
        }
        None if kind_changed => {
            tracing::info!("the instrument answers again");
            *last_log = None;
        }
        _ => {}
    }
}

async fn sample_loop(
    reading: Reading,
    shared: Arc<Shared>,
    stop: CancellationToken,
) -> Result<(), RunError> {
    let mut driver = Driver::new(reading.instrument.clone(), reading.device_timeout);
    let mut ticker = tokio::time::interval(reading.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut unit_rx = shared.unit.subscribe();
    let mut waiting_logged = false;
    let mut fault_logged: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = ticker.tick() => {}
        }
        let Some(unit) = unit_rx.borrow_and_update().clone() else {
            if !waiting_logged {
                tracing::info!(
                    "waiting for the server to name the device's unit before reading (give --unit to read offline)"
                );
                waiting_logged = true;
            }
            continue;
        };
        let result = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            r = driver.read() => r,
        };
        if let Some(idn) = driver.idn() {
            shared.health.send_if_modified(|h| {
                if h.idn.as_deref() == Some(idn) {
                    false
                } else {
                    h.idn = Some(idn.to_owned());
                    true
                }
            });
        }
        let sample = match result {
            Ok(s) => s,
            Err(f) => {
                set_fault(&shared, Some(f), &mut fault_logged);
                continue;
            }
        };
        let value = tidy(sample.raw * reading.scale + reading.offset);
        if !value.is_finite() {
            let f = Fault::new(
                FaultKind::Garbage,
                format!("{} × --scale + --offset is not finite", sample.raw),
            );
            set_fault(&shared, Some(f), &mut fault_logged);
            continue;
        }
        let (t_ms, u_t) = shared.lock_clock().stamp(
            unix_ms(sample.started),
            sample.exchange.as_secs_f64() * 1000.0,
        );
        let Some(t) = datetime_from_ms(t_ms) else {
            let f = Fault::new(
                FaultKind::Io,
                format!("the computer's clock reads {t_ms} ms after 1970, which cannot be right"),
            );
            set_fault(&shared, Some(f), &mut fault_logged);
            continue;
        };
        match blocking(&shared, move |q| q.append(t, value, &unit, u_t)).await {
            Ok(stored) => {
                *shared
                    .last_reading
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                shared.written.send_replace(stored.local);
                set_fault(&shared, None, &mut fault_logged);
                tracing::trace!(seq = stored.seq, value, "reading taken");
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot write a reading to the queue");
                set_fault(
                    &shared,
                    Some(Fault::new(
                        FaultKind::Io,
                        format!("cannot write the queue: {e}"),
                    )),
                    &mut fault_logged,
                );
            }
        }
    }
}

/// Read once: `(value, unit)`, the unit `1` when it cannot be known without
/// the server.
pub async fn check(reading: &Reading) -> Result<(f64, String), Fault> {
    let mut driver = Driver::new(reading.instrument.clone(), reading.device_timeout);
    let sample = driver.read().await?;
    let value = tidy(sample.raw * reading.scale + reading.offset);
    if !value.is_finite() {
        return Err(Fault::new(
            FaultKind::Garbage,
            format!("{} × --scale + --offset is not finite", sample.raw),
        ));
    }
    let unit = match &reading.unit {
        UnitSource::Given(u) | UnitSource::Inferred(u) => u.clone(),
        UnitSource::Server => "1".to_owned(),
    };
    Ok((value, unit))
}
