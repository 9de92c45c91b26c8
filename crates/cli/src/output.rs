//! What the CLI prints: a live progress line on a terminal, and human numbers.

use engine::progress::{Event, Phase, Progress, Reporter};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Prints progress to stderr: one line rewritten in place on a terminal, or a plain
/// line every `log_every` otherwise (so CI logs and pipes stay readable).
pub struct CliReporter {
    tty: bool,
    state: Mutex<LineState>,
    log_every: Duration,
}

struct LineState {
    last_plain: Option<Instant>,
    width: usize,
}

impl CliReporter {
    pub fn new() -> Self {
        CliReporter {
            tty: std::io::stderr().is_terminal(),
            state: Mutex::new(LineState { last_plain: None, width: 0 }),
            log_every: Duration::from_secs(10),
        }
    }

    /// Ends the live line so that what follows starts on a fresh line.
    pub fn finish_line(&self) {
        let mut st = self.state.lock().unwrap();
        if self.tty && st.width > 0 {
            eprintln!();
            st.width = 0;
        }
    }
}

impl Reporter for CliReporter {
    fn progress(&self, p: &Progress) {
        let line = progress_line(p);
        let mut st = self.state.lock().unwrap();
        if self.tty {
            let pad = st.width.saturating_sub(line.chars().count());
            eprint!("\r{line}{}", " ".repeat(pad));
            let _ = std::io::stderr().flush();
            st.width = line.chars().count();
        } else if has_news(p) && st.last_plain.is_none_or(|t| t.elapsed() >= self.log_every) {
            st.last_plain = Some(Instant::now());
            eprintln!("{line}");
        }
    }

    fn event(&self, e: &Event) {
        match e {
            Event::PhaseStarted { phase } => {
                self.finish_line();
                eprintln!("{}", phase_title(*phase));
            }
            Event::Warning { message } => {
                self.finish_line();
                eprintln!("warning: {message}");
            }
            Event::Issue { .. } | Event::Repaired { .. } => {}
        }
    }
}

/// Whether a plain progress line would say anything: at the start of a phase nothing
/// is done yet, and a log would only get "0.0%" lines.
fn has_news(p: &Progress) -> bool {
    p.bytes_done > 0 || p.components_done > 0
}

pub fn phase_title(phase: Phase) -> &'static str {
    match phase {
        Phase::Planning => "Reading the copy log and manifest…",
        Phase::Verifying => "Verifying the drive against its manifest…",
        Phase::Fetching => "Fetching and writing verified data…",
        Phase::Rechecking => "Checking the repaired data once more…",
        Phase::Done => "Done.",
    }
}

pub fn progress_line(p: &Progress) -> String {
    let pct = if p.bytes_total > 0 {
        format!("{:5.1}%", 100.0 * p.bytes_done as f64 / p.bytes_total as f64)
    } else {
        "  ...".to_string()
    };
    let eta = p.eta_seconds.map(|s| format!("  ETA {}", duration(s))).unwrap_or_default();
    let failed = if p.components_failed > 0 {
        format!(", {} bad", p.components_failed)
    } else {
        String::new()
    };
    let file = p
        .current_file
        .as_deref()
        .map(|f| format!("  {}", shorten(f, 40)))
        .unwrap_or_default();
    format!(
        "{pct}  {}/{}  {}/s{eta}  {}/{} components{failed}{file}",
        bytes(p.bytes_done),
        bytes(p.bytes_total),
        bytes(p.bytes_per_second as u64),
        p.components_done,
        p.components_total,
    )
}

/// Binary units, one decimal: `1.5 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `1:02:03` or `2:03`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

fn shorten(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        s.to_string()
    } else {
        let tail: String = s.chars().skip(n - (max - 1)).collect();
        format!("…{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_numbers() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
        assert_eq!(duration(62.4), "1:02");
        assert_eq!(duration(3723.0), "1:02:03");
        assert_eq!(shorten("abcdef", 4), "…def");
    }

    #[test]
    fn progress_line_shows_percent_rate_eta_and_failures() {
        let p = Progress {
            phase: Phase::Verifying,
            bytes_done: 1 << 30,
            bytes_total: 4 << 30,
            components_done: 256,
            components_total: 1024,
            components_failed: 2,
            current_file: Some("\\pictures\\wild\\desert.jpg".into()),
            bytes_per_second: (512 << 20) as f64,
            eta_seconds: Some(6.0),
            elapsed_seconds: 2.0,
        };
        let l = progress_line(&p);
        assert!(l.starts_with(" 25.0%"), "{l}");
        assert!(l.contains("512.0 MiB/s") && l.contains("ETA 0:06") && l.contains("2 bad"), "{l}");
    }
}
