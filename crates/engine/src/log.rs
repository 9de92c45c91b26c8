//! The run log (`/logdir:`): a verbose, human-readable record of what a run checked,
//! fetched and wrote, one timestamped line per event.
//!
//! Every line passes through [`redact`] with the run's secrets before it reaches the
//! disk, so a key or SAS that slips into a message (a URL in a storage error, say)
//! never lands in the file. Lines are written whole under a lock, so workers can log
//! concurrently without interleaving.

use crate::secret::{redact, Secret};
use crate::{EngineError, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Info => "INFO ",
            Level::Warn => "WARN ",
            Level::Error => "ERROR",
        }
    }
}

/// A verbose log file for one run, or nothing ([`RunLog::disabled`]).
pub struct RunLog {
    file: Option<Mutex<File>>,
    path: Option<PathBuf>,
    secrets: Vec<Secret>,
}

impl RunLog {
    /// Creates `driverepair-<driveid>-<UTC timestamp>.log` in `log_dir` (created if
    /// missing). An existing file is never overwritten: a numeric suffix is added.
    /// `secrets` are scrubbed from every line.
    pub fn create(log_dir: &Path, drive_id: &str, secrets: Vec<Secret>) -> Result<RunLog> {
        std::fs::create_dir_all(log_dir).map_err(|e| EngineError::io("create log directory", log_dir, e))?;
        let stamp = now_compact();
        let id: String = drive_id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
            .collect();
        let id = if id.is_empty() { "unknown".to_string() } else { id };
        let mut n = 0u32;
        loop {
            let name = if n == 0 {
                format!("driverepair-{id}-{stamp}.log")
            } else {
                format!("driverepair-{id}-{stamp}-{n}.log")
            };
            let path = log_dir.join(name);
            match File::options().write(true).create_new(true).open(&path) {
                Ok(f) => {
                    return Ok(RunLog {
                        file: Some(Mutex::new(f)),
                        path: Some(path),
                        secrets,
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(EngineError::io("create log file", path, e)),
            }
        }
    }

    /// A log that writes nothing (tests, or no `/logdir:`).
    pub fn disabled() -> RunLog {
        RunLog { file: None, path: None, secrets: Vec::new() }
    }

    /// Where the log is written, if anywhere.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn is_enabled(&self) -> bool {
        self.file.is_some()
    }

    /// Scrubs the run's secrets (and any SAS signature) from text bound for a file or
    /// a message, such as a failure reason kept in the repair file.
    pub fn redact(&self, text: &str) -> String {
        let secrets: Vec<&Secret> = self.secrets.iter().collect();
        redact(text, &secrets)
    }

    pub fn info(&self, message: impl AsRef<str>) {
        self.line(Level::Info, message.as_ref());
    }

    pub fn warn(&self, message: impl AsRef<str>) {
        self.line(Level::Warn, message.as_ref());
    }

    pub fn error(&self, message: impl AsRef<str>) {
        self.line(Level::Error, message.as_ref());
    }

    /// Writes one line. A failure to write the log is not worth failing a repair
    /// over: it is ignored (the summary and the repair file still say what happened).
    pub fn line(&self, level: Level, message: &str) {
        let Some(file) = &self.file else { return };
        let clean = self.redact(message);
        // One physical line per entry, whatever the message holds.
        let clean = clean.replace(['\r', '\n'], " ");
        let text = format!("{} {} {}\n", now_rfc3339(), level.word(), clean);
        if let Ok(mut f) = file.lock() {
            let _ = f.write_all(text.as_bytes());
        }
    }
}

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn now_compact() -> String {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::now_utc().format(fmt).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn lines_are_redacted_and_whole_when_written_from_many_threads() {
        let dir = tempfile::tempdir().unwrap();
        let key = Secret::new("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IF");
        let log = Arc::new(RunLog::create(dir.path(), "WD-WMATV123456", vec![key.clone()]).unwrap());
        let name = log.path().unwrap().file_name().unwrap().to_string_lossy().to_string();
        assert!(name.starts_with("driverepair-WD-WMATV123456-") && name.ends_with(".log"), "{name}");

        let threads: Vec<_> = (0..4)
            .map(|t| {
                let log = log.clone();
                let key = key.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        log.info(format!("thread {t} line {i} key {} url https://a/c?sv=1&sig=SECRETSIG&x=1\nsecond part", key.expose()));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = std::fs::read_to_string(log.path().unwrap()).unwrap();
        assert!(!text.contains("Eby8vdM02"), "account key leaked");
        assert!(!text.contains("SECRETSIG"), "SAS signature leaked");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 200);
        assert!(lines.iter().all(|l| l.contains(" INFO  thread ") && l.ends_with("second part")));
    }

    #[test]
    fn a_second_log_in_the_same_second_gets_its_own_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = RunLog::create(dir.path(), "X1", vec![]).unwrap();
        let b = RunLog::create(dir.path(), "X1", vec![]).unwrap();
        assert_ne!(a.path(), b.path());
    }

    #[test]
    fn disabled_log_writes_nothing() {
        let log = RunLog::disabled();
        log.error("nothing");
        assert!(log.path().is_none() && !log.is_enabled());
    }
}
