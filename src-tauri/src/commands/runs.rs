//! Verification and repair runs: plan (dry run), start with a progress channel,
//! pause, resume, cancel, and the issues a run left.

use super::{internal, storage_config, CmdResult};
use crate::engine_ops::{RepairPlan, RunOutcome, RunRequest};
use crate::records::*;
use crate::reporter::{ForwardingReporter, ProgressMessage, UI_INTERVAL};
use crate::validate::{self, usage};
use crate::{AppState, RunHandle};
use engine::error::{ErrorInfo, ErrorKind};
use engine::model::ComponentIssue;
use engine::progress::{CancelToken, Event, Progress, Reporter};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, State};

fn request(state: &AppState, job_id: &str, drive_id: &str, kind: RunKind) -> CmdResult<RunRequest> {
    let d = state
        .store
        .lock()
        .unwrap()
        .drive(job_id, drive_id)
        .cloned()
        .ok_or_else(|| usage("unknown drive"))?;
    let target_dir = PathBuf::from(d.volume.clone().ok_or_else(|| usage("Choose the drive or folder first."))?);
    let storage = match kind {
        RunKind::Verify => None,
        RunKind::Repair => Some(storage_config(state, job_id)?),
    };
    if kind == RunKind::Verify && d.manifest_path.is_none() {
        return Err(usage("Checking a drive needs its manifest (<DriveId>.manifest at the drive root)."));
    }
    if kind == RunKind::Repair && d.copy_log_path.is_none() && d.manifest_path.is_none() {
        return Err(usage("A repair needs the drive's copy log, its manifest, or both."));
    }
    Ok(RunRequest {
        kind,
        drive_id: d.drive_id.clone(),
        target_dir,
        manifest: d.manifest_path.map(PathBuf::from),
        copy_log: d.copy_log_path.map(PathBuf::from),
        repair_file: PathBuf::from(&d.repair_file),
        log_dir: PathBuf::from(&d.log_dir),
        storage,
    })
}

fn ids(job_id: &str, drive_id: &str) -> CmdResult<(String, String)> {
    Ok((validate::job_id(job_id)?.to_string(), validate::drive_id(drive_id)?))
}

/// The Review step's dry run.
#[tauri::command]
pub async fn plan_repair(state: State<'_, AppState>, job_id: String, drive_id: String) -> CmdResult<RepairPlan> {
    let (job_id, drive_id) = ids(&job_id, &drive_id)?;
    let req = request(&state, &job_id, &drive_id, RunKind::Repair)?;
    let secrets: Vec<_> = req.storage.iter().flat_map(|s| s.secrets().into_iter().cloned()).collect();
    state.engine.plan(req).await.map_err(|mut e| {
        e.message = engine::secret::redact(&e.message, &secrets.iter().collect::<Vec<_>>());
        e
    })
}

/// Wraps the UI forwarder: also writes every issue to the drive's log folder (JSON
/// lines, for the result table after a restart) and keeps the drive's percentage in
/// the store, at most every two seconds.
struct RunReporter {
    forward: ForwardingReporter<Box<dyn Fn(ProgressMessage) + Send + Sync>>,
    issues: Mutex<Option<std::io::BufWriter<std::fs::File>>>,
    app: AppHandle,
    job_id: String,
    drive_id: String,
    kind: RunKind,
    last_store: Mutex<Instant>,
}

fn percent(p: &Progress) -> f64 {
    if p.bytes_total > 0 {
        (p.bytes_done as f64 / p.bytes_total as f64 * 100.0).min(100.0)
    } else if p.components_total > 0 {
        (p.components_done as f64 / p.components_total as f64 * 100.0).min(100.0)
    } else {
        0.0
    }
}

impl Reporter for RunReporter {
    fn progress(&self, p: &Progress) {
        self.forward.progress(p);
        let mut last = self.last_store.lock().unwrap();
        if last.elapsed() >= Duration::from_secs(2) {
            *last = Instant::now();
            let pct = percent(p);
            let kind = self.kind;
            let failed = p.components_failed;
            let state = self.app.state::<AppState>();
            let _ = state.store.lock().unwrap().update_drive(&self.job_id, &self.drive_id, |d| {
                d.percent_done = pct;
                d.bad_components = failed;
                d.local_state = match kind {
                    RunKind::Verify => LocalState::Checking { percent: pct },
                    RunKind::Repair => LocalState::Repairing { percent: pct },
                };
            });
        }
    }

    fn event(&self, e: &Event) {
        if let Event::Issue { issue } = e {
            if let Some(w) = self.issues.lock().unwrap().as_mut() {
                if let Ok(line) = serde_json::to_string(issue) {
                    let _ = writeln!(w, "{line}");
                }
            }
        }
        self.forward.event(e);
    }
}

/// Starts a verification or repair. Returns at once; progress, the result or the
/// error arrive on `on_progress`.
#[tauri::command]
pub async fn start_run(
    app: AppHandle,
    state: State<'_, AppState>,
    job_id: String,
    drive_id: String,
    kind: RunKind,
    on_progress: Channel<ProgressMessage>,
) -> CmdResult<()> {
    let (job_id, drive_id) = ids(&job_id, &drive_id)?;
    let req = request(&state, &job_id, &drive_id, kind)?;
    let key = (job_id.clone(), drive_id.clone());
    let cancel = CancelToken::new();
    let channel = on_progress.clone();
    let notify: Arc<dyn Fn(ProgressMessage) + Send + Sync> = Arc::new(move |m| {
        let _ = channel.send(m);
    });
    {
        let mut runs = state.runs.lock().unwrap();
        if runs.contains_key(&key) {
            return Err(usage("This drive is already being checked or repaired."));
        }
        runs.insert(key.clone(), RunHandle { cancel: cancel.clone(), notify: notify.clone() });
    }
    std::fs::create_dir_all(&req.log_dir).map_err(|e| crate::store::io_error("create", &req.log_dir, &e))?;
    let issues_path = req.log_dir.join(format!("issues-{}.jsonl", now_ms()));
    let issues_file = std::fs::File::create(&issues_path).ok().map(std::io::BufWriter::new);
    let _ = state.store.lock().unwrap().update_drive(&job_id, &drive_id, |d| {
        d.interrupted = false;
        d.percent_done = 0.0;
        d.local_state = match kind {
            RunKind::Verify => LocalState::Checking { percent: 0.0 },
            RunKind::Repair => LocalState::Repairing { percent: 0.0 },
        };
    });
    let sink = notify.clone();
    let reporter = Arc::new(RunReporter {
        forward: ForwardingReporter::new(Box::new(move |m| sink(m)), UI_INTERVAL),
        issues: Mutex::new(issues_file),
        app: app.clone(),
        job_id: job_id.clone(),
        drive_id: drive_id.clone(),
        kind,
        last_store: Mutex::new(Instant::now()),
    });
    let secrets: Vec<_> = req.storage.iter().flat_map(|s| s.secrets().into_iter().cloned()).collect();
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let result = state.engine.run(req, reporter.clone(), cancel).await;
        if let Some(mut w) = reporter.issues.lock().unwrap().take() {
            let _ = w.flush();
        }
        // The file the result table reads holds what is still bad, not all that was
        // found along the way.
        if let Ok(RunOutcome { remaining: Some(remaining), .. }) = &result {
            if let Err(e) = write_issues_file(&issues_path, remaining) {
                eprintln!("could not write {}: {}", issues_path.display(), e.message);
            }
        }
        let result = result.map(|o| o.summary);
        reporter.forward.flush();
        let has_issues = std::fs::metadata(&issues_path).is_ok_and(|m| m.len() > 0);
        let issues_file = has_issues.then(|| issues_path.display().to_string());
        if !has_issues {
            let _ = std::fs::remove_file(&issues_path);
        }
        let message = match result {
            Ok(mut summary) => {
                summary.issues_file = issues_file;
                let s2 = summary.clone();
                let _ = state.store.lock().unwrap().update_drive(&job_id, &drive_id, |d| {
                    d.percent_done = 100.0;
                    d.bad_components = s2.components_failed;
                    d.local_state = match (kind, s2.components_failed) {
                        (_, 0) => LocalState::RepairedVerified,
                        (RunKind::Verify, _) => LocalState::NeedsRepair,
                        (RunKind::Repair, _) => LocalState::NeedsAttention,
                    };
                    d.last_report = Some(s2);
                });
                ProgressMessage::Finished { summary }
            }
            Err(mut error) => {
                error.message = engine::secret::redact(&error.message, &secrets.iter().collect::<Vec<_>>());
                let e2 = error.clone();
                let _ = state.store.lock().unwrap().update_drive(&job_id, &drive_id, |d| {
                    d.local_state = match (e2.kind, kind) {
                        (ErrorKind::Cancelled, RunKind::Verify) => LocalState::NotChecked,
                        (ErrorKind::Cancelled, RunKind::Repair) => LocalState::NeedsRepair,
                        _ => LocalState::NeedsAttention,
                    };
                    d.last_report = Some(RunSummary {
                        kind,
                        finished: now_ms(),
                        components_checked: 0,
                        components_repaired: 0,
                        components_failed: d.bad_components,
                        bytes_fetched: 0,
                        elapsed_seconds: 0.0,
                        issues_file: issues_file.clone(),
                        stopped: Some(e2),
                    });
                });
                ProgressMessage::Failed { error }
            }
        };
        state.runs.lock().unwrap().remove(&(job_id, drive_id));
        notify(message);
    });
    Ok(())
}

fn with_run(state: &AppState, job_id: &str, drive_id: &str, f: impl FnOnce(&RunHandle)) -> CmdResult<()> {
    let key = ids(job_id, drive_id)?;
    let runs = state.runs.lock().unwrap();
    let run = runs.get(&key).ok_or_else(|| usage("Nothing is running on this drive."))?;
    f(run);
    Ok(())
}

#[tauri::command]
pub async fn pause_run(state: State<'_, AppState>, job_id: String, drive_id: String) -> CmdResult<()> {
    with_run(&state, &job_id, &drive_id, |r| {
        r.cancel.set_paused(true);
        (r.notify)(ProgressMessage::Paused);
    })
}

#[tauri::command]
pub async fn resume_run(state: State<'_, AppState>, job_id: String, drive_id: String) -> CmdResult<()> {
    with_run(&state, &job_id, &drive_id, |r| {
        r.cancel.set_paused(false);
        (r.notify)(ProgressMessage::Resumed);
    })
}

/// Cancels a run. The repair file keeps what was done, so a later run resumes.
#[tauri::command]
pub async fn cancel_run(state: State<'_, AppState>, job_id: String, drive_id: String) -> CmdResult<()> {
    with_run(&state, &job_id, &drive_id, |r| r.cancel.cancel())
}

/// At most this many issues are loaded into the result table at once.
const MAX_ISSUES: usize = 1_000_000;

/// The issues the drive's last run left, from its log folder.
#[tauri::command]
pub async fn read_issues(state: State<'_, AppState>, job_id: String, drive_id: String) -> CmdResult<Vec<ComponentIssue>> {
    let (job_id, drive_id) = ids(&job_id, &drive_id)?;
    let (file, log_dir) = {
        let store = state.store.lock().unwrap();
        let d = store.drive(&job_id, &drive_id).ok_or_else(|| usage("unknown drive"))?;
        (d.last_report.as_ref().and_then(|r| r.issues_file.clone()), store.log_dir_for(&drive_id))
    };
    let Some(file) = file else { return Ok(vec![]) };
    let path = PathBuf::from(file);
    // Only files the app wrote, in the drive's own log folder.
    if path.parent() != Some(log_dir.as_path()) {
        return Err(usage("That issues file is not in the drive's log folder."));
    }
    tokio::task::spawn_blocking(move || read_issues_file(&path))
        .await
        .map_err(|e| internal("reading issues", e))?
}

/// Writes issues as JSON lines, the form [`read_issues_file`] reads.
pub fn write_issues_file(path: &std::path::Path, issues: &[ComponentIssue]) -> CmdResult<()> {
    let io = |e: std::io::Error| crate::store::io_error("write", path, &e);
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    for issue in issues {
        serde_json::to_writer(&mut w, issue).map_err(|e| super::internal("issues file", e))?;
        w.write_all(b"\n").map_err(io)?;
    }
    w.flush().map_err(io)
}

pub fn read_issues_file(path: &std::path::Path) -> CmdResult<Vec<ComponentIssue>> {
    let f = std::fs::File::open(path).map_err(|e| crate::store::io_error("read", path, &e))?;
    let mut out = Vec::new();
    for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| crate::store::io_error("read", path, &e))?;
        if line.trim().is_empty() {
            continue;
        }
        let issue = serde_json::from_str(&line).map_err(|e| ErrorInfo {
            kind: ErrorKind::MalformedInput,
            message: format!("{}:{}: {e}", path.display(), n + 1),
        })?;
        out.push(issue);
        if out.len() >= MAX_ISSUES {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::model::{BlobRef, Component, Md5, Problem};

    #[test]
    fn issues_file_round_trips() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("issues.jsonl");
        let issue = ComponentIssue {
            blob: BlobRef { path: "pictures/a.jpg".into(), snapshot: None },
            file_path: "\\pictures\\a.jpg".into(),
            component: Component::PageRange { offset: 512, length: 1024 },
            problem: Problem::ShortFile { actual_length: 1, expected_length: 2 },
        };
        let line = serde_json::to_string(&issue).unwrap();
        std::fs::write(&p, format!("{line}\n\n{line}\n")).unwrap();
        let v = read_issues_file(&p).unwrap();
        assert_eq!(v, vec![issue.clone(), issue]);
        std::fs::write(&p, "{oops\n").unwrap();
        assert_eq!(read_issues_file(&p).unwrap_err().kind, ErrorKind::MalformedInput);
    }

    /// The result table once listed a block that the repair's verify pass had found and
    /// the repair had then fixed, beside "Still bad: 0".
    #[test]
    fn final_issues_replace_those_found_during_the_repair() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("issues.jsonl");
        let found = |offset| ComponentIssue {
            blob: BlobRef { path: "videos/clip.bin".into(), snapshot: None },
            file_path: "\\videos\\clip.bin".into(),
            component: Component::Block { offset, length: 4 << 20 },
            problem: Problem::HashMismatch { expected: Md5([0; 16]), actual: Md5([1; 16]) },
        };
        write_issues_file(&p, &[found(0), found(4 << 20)]).unwrap();
        write_issues_file(&p, &[found(4 << 20)]).unwrap();
        assert_eq!(read_issues_file(&p).unwrap(), vec![found(4 << 20)]);
        write_issues_file(&p, &[]).unwrap();
        assert_eq!(read_issues_file(&p).unwrap(), vec![]);
    }
}
