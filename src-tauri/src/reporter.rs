//! Forwards engine progress to the UI over a Tauri channel, at most ~10 updates a
//! second. The webview repaints on every message, and the engine may report far more
//! often than that; issues found in between are batched rather than dropped.
//!
//! The sink is a plain function so that the throttling is testable without a window;
//! the app passes `move |m| channel.send(m)`.

use crate::records::RunSummary;
use engine::error::ErrorInfo;
use engine::model::ComponentIssue;
use engine::progress::{Event, Phase, Progress, Reporter};
use serde::Serialize;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use ts_rs::TS;

/// What a running verification or repair sends to the UI.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
#[serde(tag = "type")]
pub enum ProgressMessage {
    Progress { progress: Progress },
    PhaseStarted { phase: Phase },
    /// Components found bad or left bad since the last message.
    Issues { issues: Vec<ComponentIssue> },
    /// Components repaired and verified since the last message.
    Repaired {
        #[ts(type = "number")]
        count: u64,
    },
    Warning { message: String },
    Paused,
    Resumed,
    Finished { summary: RunSummary },
    Failed { error: ErrorInfo },
}

/// The UI's refresh budget: ten messages a second.
pub const UI_INTERVAL: Duration = Duration::from_millis(100);

/// Decides whether a progress snapshot goes out now. Separate from the reporter so
/// that tests can drive it with their own clock.
#[derive(Debug)]
pub struct Throttle {
    interval: Duration,
    last_sent: Option<Instant>,
    last_phase: Option<Phase>,
}

impl Throttle {
    pub fn new(interval: Duration) -> Self {
        Throttle { interval, last_sent: None, last_phase: None }
    }

    /// A snapshot goes out if the interval has passed, if the phase changed (so that
    /// every phase is seen), or if it is the last one of a phase (bytes or components
    /// complete), so that the bar ends at 100%.
    pub fn admit(&mut self, p: &Progress, now: Instant) -> bool {
        let phase_changed = self.last_phase != Some(p.phase);
        let complete = (p.bytes_total > 0 && p.bytes_done >= p.bytes_total)
            || (p.components_total > 0 && p.components_done >= p.components_total)
            || p.phase == Phase::Done;
        let due = self.last_sent.is_none_or(|t| now.duration_since(t) >= self.interval);
        if due || phase_changed || complete {
            self.last_sent = Some(now);
            self.last_phase = Some(p.phase);
            true
        } else {
            false
        }
    }
}

struct Pending {
    throttle: Throttle,
    issues: Vec<ComponentIssue>,
    repaired: u64,
    /// The newest snapshot that was held back, sent by [`ForwardingReporter::flush`].
    held: Option<Progress>,
}

/// A [`Reporter`] that sends [`ProgressMessage`]s to `sink`, throttled.
pub struct ForwardingReporter<S: Fn(ProgressMessage) + Send + Sync> {
    sink: S,
    pending: Mutex<Pending>,
}

/// At most this many issues go in one message, so one message stays small.
const MAX_ISSUES_PER_MESSAGE: usize = 2000;

impl<S: Fn(ProgressMessage) + Send + Sync> ForwardingReporter<S> {
    pub fn new(sink: S, interval: Duration) -> Self {
        ForwardingReporter {
            sink,
            pending: Mutex::new(Pending {
                throttle: Throttle::new(interval),
                issues: Vec::new(),
                repaired: 0,
                held: None,
            }),
        }
    }

    /// Sends whatever is held back: batched issues and repairs and the newest snapshot.
    /// Call it before the final `Finished` or `Failed` message.
    pub fn flush(&self) {
        let mut p = self.pending.lock().unwrap();
        self.drain_batches(&mut p);
        if let Some(held) = p.held.take() {
            (self.sink)(ProgressMessage::Progress { progress: held });
        }
    }

    pub fn send(&self, m: ProgressMessage) {
        (self.sink)(m)
    }

    fn drain_batches(&self, p: &mut Pending) {
        while !p.issues.is_empty() {
            let n = p.issues.len().min(MAX_ISSUES_PER_MESSAGE);
            let batch: Vec<_> = p.issues.drain(..n).collect();
            (self.sink)(ProgressMessage::Issues { issues: batch });
        }
        if p.repaired > 0 {
            (self.sink)(ProgressMessage::Repaired { count: p.repaired });
            p.repaired = 0;
        }
    }
}

impl<S: Fn(ProgressMessage) + Send + Sync> Reporter for ForwardingReporter<S> {
    fn progress(&self, progress: &Progress) {
        let mut p = self.pending.lock().unwrap();
        if p.throttle.admit(progress, Instant::now()) {
            p.held = None;
            self.drain_batches(&mut p);
            (self.sink)(ProgressMessage::Progress { progress: progress.clone() });
        } else {
            p.held = Some(progress.clone());
        }
    }

    fn event(&self, event: &Event) {
        let mut p = self.pending.lock().unwrap();
        match event {
            Event::Issue { issue } => {
                p.issues.push(issue.clone());
                if p.issues.len() >= MAX_ISSUES_PER_MESSAGE {
                    self.drain_batches(&mut p);
                }
            }
            Event::Repaired { .. } => p.repaired += 1,
            Event::PhaseStarted { phase } => {
                self.drain_batches(&mut p);
                (self.sink)(ProgressMessage::PhaseStarted { phase: *phase })
            }
            Event::Warning { message } => (self.sink)(ProgressMessage::Warning { message: message.clone() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::model::{BlobRef, Component, Problem};
    use std::sync::Arc;

    fn snap(phase: Phase, done: u64, total: u64) -> Progress {
        Progress {
            phase,
            bytes_done: done,
            bytes_total: total,
            components_done: 0,
            components_total: 0,
            components_failed: 0,
            current_file: None,
            bytes_per_second: 0.0,
            eta_seconds: None,
            elapsed_seconds: 0.0,
        }
    }

    #[test]
    fn throttle_admits_ten_a_second_plus_phase_changes_and_completion() {
        let mut t = Throttle::new(UI_INTERVAL);
        let t0 = Instant::now();
        let mut admitted = 0;
        // 1000 snapshots spread over one second (one every millisecond).
        for i in 0..1000u64 {
            if t.admit(&snap(Phase::Fetching, i, 10_000), t0 + Duration::from_millis(i)) {
                admitted += 1;
            }
        }
        assert!((10..=11).contains(&admitted), "admitted {admitted}");
        // A new phase goes out at once, even inside the interval.
        assert!(t.admit(&snap(Phase::Rechecking, 0, 10), t0 + Duration::from_millis(1000)));
        assert!(!t.admit(&snap(Phase::Rechecking, 5, 10), t0 + Duration::from_millis(1001)));
        // So does the snapshot that completes the phase.
        assert!(t.admit(&snap(Phase::Rechecking, 10, 10), t0 + Duration::from_millis(1002)));
    }

    fn issue(n: u64) -> ComponentIssue {
        ComponentIssue {
            blob: BlobRef { path: format!("c/b{n}"), snapshot: None },
            file_path: format!("\\c\\b{n}"),
            component: Component::Block { offset: n, length: 1 },
            problem: Problem::MissingFile,
        }
    }

    #[test]
    fn reporter_throttles_and_flush_delivers_the_last_snapshot_and_issues() {
        let sent = Arc::new(Mutex::new(Vec::<ProgressMessage>::new()));
        let s2 = sent.clone();
        let r = ForwardingReporter::new(move |m| s2.lock().unwrap().push(m), Duration::from_secs(3600));
        for i in 0..500 {
            r.progress(&snap(Phase::Verifying, i, 1000));
        }
        r.event(&Event::Issue { issue: issue(1) });
        r.event(&Event::Issue { issue: issue(2) });
        r.event(&Event::Repaired { file_path: "x".into(), component: Component::File });
        // Only the first snapshot went out; issues wait for the next message.
        {
            let v = sent.lock().unwrap();
            assert_eq!(v.len(), 1, "{v:?}");
        }
        r.flush();
        let v = sent.lock().unwrap();
        assert!(matches!(&v[1], ProgressMessage::Issues { issues } if issues.len() == 2));
        assert!(matches!(&v[2], ProgressMessage::Repaired { count: 1 }));
        assert!(matches!(&v[3], ProgressMessage::Progress { progress } if progress.bytes_done == 499));
        assert_eq!(v.len(), 4);
    }

    #[test]
    fn reporter_with_real_clock_stays_near_ten_per_second() {
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c2 = count.clone();
        let r = ForwardingReporter::new(
            move |m| {
                if matches!(m, ProgressMessage::Progress { .. }) {
                    c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            },
            UI_INTERVAL,
        );
        let start = Instant::now();
        let mut i = 0;
        while start.elapsed() < Duration::from_millis(500) {
            r.progress(&snap(Phase::Fetching, i, u64::MAX));
            i += 1;
            std::thread::sleep(Duration::from_micros(200));
        }
        let n = count.load(std::sync::atomic::Ordering::SeqCst);
        // 500 ms at 10/s: 5 or 6 messages (the first is immediate); never hundreds.
        assert!((4..=7).contains(&n), "sent {n} snapshots for {i} reports");
    }

    #[test]
    fn large_issue_bursts_are_split() {
        let sent = Arc::new(Mutex::new(Vec::<ProgressMessage>::new()));
        let s2 = sent.clone();
        let r = ForwardingReporter::new(move |m| s2.lock().unwrap().push(m), Duration::from_secs(3600));
        for n in 0..(MAX_ISSUES_PER_MESSAGE as u64 * 2 + 5) {
            r.event(&Event::Issue { issue: issue(n) });
        }
        r.flush();
        let v = sent.lock().unwrap();
        let sizes: Vec<usize> = v
            .iter()
            .filter_map(|m| match m {
                ProgressMessage::Issues { issues } => Some(issues.len()),
                _ => None,
            })
            .collect();
        assert_eq!(sizes, vec![MAX_ISSUES_PER_MESSAGE, MAX_ISSUES_PER_MESSAGE, 5]);
    }
}
