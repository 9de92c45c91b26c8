//! Progress reporting. The engine updates cheap atomic counters from its workers;
//! a [`ProgressTracker`] turns them into [`Progress`] snapshots (with throughput and
//! ETA) and hands them to a [`Reporter`] at most every `interval`. The GUI forwards
//! snapshots over a Tauri channel, the CLI prints them; both implement [`Reporter`].
//!
//! Counters (as AzCopy documents its own): `bytes_done` counts bytes hashed or
//! written in the current phase; `components_done` counts components (blocks, page
//! ranges, properties and metadata files) finished, good or bad; `components_failed`
//! counts those found or left bad.

use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ts_rs::TS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub enum Phase {
    /// Reading the copy log and manifest, building the plan.
    Planning,
    /// Hashing the drive against the manifest.
    Verifying,
    /// Downloading and writing verified bytes.
    Fetching,
    /// Checking repaired components once more.
    Rechecking,
    Done,
}

/// A snapshot for display. Rates are over the phase so far.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct Progress {
    pub phase: Phase,
    #[ts(type = "number")]
    pub bytes_done: u64,
    #[ts(type = "number")]
    pub bytes_total: u64,
    #[ts(type = "number")]
    pub components_done: u64,
    #[ts(type = "number")]
    pub components_total: u64,
    #[ts(type = "number")]
    pub components_failed: u64,
    /// The drive path of the file being worked on, if one stands out.
    pub current_file: Option<String>,
    pub bytes_per_second: f64,
    /// Seconds left at the current rate; `None` until the rate is known.
    pub eta_seconds: Option<f64>,
    pub elapsed_seconds: f64,
}

/// Something noteworthy that is not a counter update.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
#[serde(tag = "type")]
pub enum Event {
    PhaseStarted { phase: Phase },
    /// A component was found bad or could not be repaired.
    Issue { issue: crate::model::ComponentIssue },
    /// A component was repaired and verified.
    Repaired { file_path: String, component: crate::model::Component },
    /// Something the user should know that is not a failure.
    Warning { message: String },
}

/// Receives progress. Implementations must be cheap: they are called from worker
/// threads (at most every tracker interval for `progress`).
pub trait Reporter: Send + Sync {
    fn progress(&self, progress: &Progress);
    fn event(&self, _event: &Event) {}
}

/// A reporter that ignores everything.
pub struct NoReporter;

impl Reporter for NoReporter {
    fn progress(&self, _: &Progress) {}
}

/// Cooperative cancellation and pause, shared between a front end and the engine.
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    inner: Arc<CancelInner>,
}

#[derive(Debug, Default)]
struct CancelInner {
    cancelled: AtomicBool,
    paused: AtomicBool,
}

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }
    pub fn set_paused(&self, paused: bool) {
        self.inner.paused.store(paused, Ordering::SeqCst);
    }
    pub fn is_paused(&self) -> bool {
        self.inner.paused.load(Ordering::SeqCst)
    }
    /// Blocks (a worker thread) while paused; returns `Err(Cancelled)` if cancelled.
    pub fn checkpoint(&self) -> crate::Result<()> {
        while self.is_paused() && !self.is_cancelled() {
            std::thread::sleep(Duration::from_millis(50));
        }
        if self.is_cancelled() {
            Err(crate::EngineError::Cancelled)
        } else {
            Ok(())
        }
    }
    /// The async form of [`CancelToken::checkpoint`].
    pub async fn checkpoint_async(&self) -> crate::Result<()> {
        while self.is_paused() && !self.is_cancelled() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if self.is_cancelled() {
            Err(crate::EngineError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Shared counters for one phase, updated by workers.
#[derive(Debug, Default)]
pub struct Counters {
    pub bytes_done: AtomicU64,
    pub bytes_total: AtomicU64,
    pub components_done: AtomicU64,
    pub components_total: AtomicU64,
    pub components_failed: AtomicU64,
}

impl Counters {
    pub fn add_bytes(&self, n: u64) {
        self.bytes_done.fetch_add(n, Ordering::Relaxed);
    }
    pub fn add_done(&self, n: u64) {
        self.components_done.fetch_add(n, Ordering::Relaxed);
    }
    pub fn add_failed(&self, n: u64) {
        self.components_failed.fetch_add(n, Ordering::Relaxed);
    }
}

/// Turns counters into throttled [`Progress`] snapshots for a [`Reporter`].
pub struct ProgressTracker<'r> {
    reporter: &'r dyn Reporter,
    pub counters: Counters,
    phase: Mutex<(Phase, Instant)>,
    current_file: Mutex<Option<String>>,
    last_emit: Mutex<Option<Instant>>,
    interval: Duration,
}

impl<'r> ProgressTracker<'r> {
    pub fn new(reporter: &'r dyn Reporter, interval: Duration) -> Self {
        let now = Instant::now();
        ProgressTracker {
            reporter,
            counters: Counters::default(),
            phase: Mutex::new((Phase::Planning, now)),
            current_file: Mutex::new(None),
            last_emit: Mutex::new(None),
            interval,
        }
    }

    pub fn reporter(&self) -> &dyn Reporter {
        self.reporter
    }

    /// Starts a phase: resets the counters and the clock, and says so.
    pub fn start_phase(&self, phase: Phase, bytes_total: u64, components_total: u64) {
        let c = &self.counters;
        c.bytes_done.store(0, Ordering::Relaxed);
        c.components_done.store(0, Ordering::Relaxed);
        c.components_failed.store(0, Ordering::Relaxed);
        c.bytes_total.store(bytes_total, Ordering::Relaxed);
        c.components_total.store(components_total, Ordering::Relaxed);
        *self.phase.lock().unwrap() = (phase, Instant::now());
        self.reporter.event(&Event::PhaseStarted { phase });
        self.emit();
    }

    pub fn set_current_file(&self, file: Option<&str>) {
        *self.current_file.lock().unwrap() = file.map(str::to_owned);
    }

    pub fn event(&self, event: Event) {
        self.reporter.event(&event);
    }

    /// Emits a snapshot if the interval has passed since the last one.
    pub fn tick(&self) {
        if let Some(last) = *self.last_emit.lock().unwrap() {
            if last.elapsed() < self.interval {
                return;
            }
        }
        self.emit();
    }

    /// Emits a snapshot now.
    pub fn emit(&self) {
        *self.last_emit.lock().unwrap() = Some(Instant::now());
        self.reporter.progress(&self.snapshot());
    }

    pub fn snapshot(&self) -> Progress {
        let (phase, started) = *self.phase.lock().unwrap();
        let c = &self.counters;
        let bytes_done = c.bytes_done.load(Ordering::Relaxed);
        let bytes_total = c.bytes_total.load(Ordering::Relaxed);
        let elapsed = started.elapsed().as_secs_f64();
        let (rate, eta) = rate_and_eta(bytes_done, bytes_total, elapsed);
        Progress {
            phase,
            bytes_done,
            bytes_total,
            components_done: c.components_done.load(Ordering::Relaxed),
            components_total: c.components_total.load(Ordering::Relaxed),
            components_failed: c.components_failed.load(Ordering::Relaxed),
            current_file: self.current_file.lock().unwrap().clone(),
            bytes_per_second: rate,
            eta_seconds: eta,
            elapsed_seconds: elapsed,
        }
    }
}

/// Throughput over the phase so far, and the time left at that rate. The rate is
/// not trusted before half a second or a first megabyte, to avoid wild ETAs.
pub fn rate_and_eta(done: u64, total: u64, elapsed: f64) -> (f64, Option<f64>) {
    if elapsed < 0.5 || done < (1 << 20) {
        return (if elapsed > 0.0 { done as f64 / elapsed } else { 0.0 }, None);
    }
    let rate = done as f64 / elapsed;
    let eta = (total.saturating_sub(done)) as f64 / rate;
    (rate, Some(eta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_waits_for_a_meaningful_rate() {
        assert_eq!(rate_and_eta(10, 100, 0.1).1, None);
        let (rate, eta) = rate_and_eta(100 << 20, 300 << 20, 2.0);
        assert_eq!(rate, (50 << 20) as f64);
        assert_eq!(eta, Some(4.0));
    }

    struct Count(std::sync::atomic::AtomicUsize);
    impl Reporter for Count {
        fn progress(&self, _: &Progress) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn tick_is_throttled() {
        let r = Count(Default::default());
        let t = ProgressTracker::new(&r, Duration::from_secs(3600));
        t.start_phase(Phase::Verifying, 10, 1); // emits once
        for _ in 0..1000 {
            t.tick();
        }
        assert_eq!(r.0.load(Ordering::SeqCst), 1);
    }
}
