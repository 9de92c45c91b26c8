//! `driverepair RepairExport …` and `driverepair Verify …`: build the engine's options
//! from the command line, run with a live progress line, print the summary, write the
//! optional JSON report, and choose the exit code.

use crate::args::Command;
use crate::output::{bytes, duration, CliReporter};
use crate::{exit, exit_code_for};
use engine::blobstore::azure::AzureBlobStore;
use engine::blobstore::{Credential, StorageConfig};
use engine::bitlocker::{self, BitLockerState};
use engine::log::RunLog;
use engine::model::ComponentIssue;
use engine::progress::{CancelToken, ProgressTracker};
use engine::repair::{run_repair, RepairOptions, RepairSummary};
use engine::secret::Secret;
use engine::verify::{verify_drive, VerifyOptions, VerifyReport};
use engine::{EngineError, ErrorKind};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How often the live progress line is redrawn.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);

/// What `/report:` writes: the same summary the terminal shows, as JSON.
#[derive(Serialize)]
struct Report<'a, T: Serialize> {
    command: &'static str,
    exit_code: i32,
    /// `repaired`, `verified`, `nothing to do`, `planned`, `still bad` or `error`.
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<&'a T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<engine::error::ErrorInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_file: Option<String>,
}

pub fn repair_export(cmd: &Command) -> anyhow::Result<i32> {
    let secrets: Vec<Secret> = ["sk", "csas", "bk"].iter().filter_map(|p| cmd.get(p)).map(Secret::new).collect();
    let report_path = cmd.get("report").map(PathBuf::from);
    let outcome = prepare_and_repair(cmd, &secrets);
    let (code, word, summary, error, log_file) = match &outcome {
        Ok((summary, log)) => {
            let code = if summary.dry_run || summary.issues.is_empty() { exit::OK } else { exit::STILL_BAD };
            let word = if summary.dry_run {
                "planned"
            } else if summary.already_complete {
                "nothing to do"
            } else if code == exit::OK {
                "repaired"
            } else {
                "still bad"
            };
            (code, word, Some(summary), None, log.clone())
        }
        Err(e) => {
            let message = engine::secret::redact(&e.to_string(), &secrets.iter().collect::<Vec<_>>());
            eprintln!("error: {message}");
            let info = engine::error::ErrorInfo { kind: e.kind(), message };
            (exit_code_for(e.kind()), "error", None, Some(info), None)
        }
    };
    if let Some(path) = report_path {
        let report = Report { command: "RepairExport", exit_code: code, outcome: word, summary, error, log_file };
        write_report(&path, &report)?;
    }
    Ok(code)
}

/// Runs the repair; returns the summary and the log file's path.
fn prepare_and_repair(cmd: &Command, secrets: &[Secret]) -> Result<(RepairSummary, Option<String>), EngineError> {
    let credential = match (cmd.get("sk"), cmd.get("csas")) {
        (Some(k), None) => Credential::AccountKey(Secret::new(k)),
        (None, Some(s)) => Credential::ContainerSas(Secret::new(s)),
        (Some(_), Some(_)) => return Err(usage("give either /sk: (account key) or /csas: (container SAS), not both")),
        (None, None) => return Err(usage("RepairExport needs /sk:<StorageAccountKey> or /csas:<ContainerSas>")),
    };
    let target = PathBuf::from(cmd.req("d"));
    if let Some(key) = cmd.get("bk") {
        unlock_target_if_locked(&target, key)?;
    }
    check_target_dir(&target)?;
    let copy_log = PathBuf::from(cmd.req("CopyLogFile"));
    check_input_file("CopyLogFile", "drive copy log", &copy_log)?;
    if let Some(m) = cmd.get("ManifestFile") {
        check_input_file("ManifestFile", "drive manifest", Path::new(m))?;
    }
    let drive_id = engine::copylog::CopyLogReader::open(&copy_log)?.drive_id().to_string();

    let config = StorageConfig {
        account: cmd.req("sn").to_string(),
        credential,
        endpoint: cmd.get("BlobEndpoint").map(str::to_string),
    };
    let mut opts = RepairOptions::new(&target, &copy_log, cmd.req("r"));
    opts.manifest = cmd.get("ManifestFile").map(PathBuf::from);
    opts.dry_run = cmd.flag("DryRun");
    opts.refetch_changed = cmd.flag("RefetchChanged");

    let log = if opts.dry_run {
        RunLog::disabled()
    } else {
        RunLog::create(&log_dir(cmd), &drive_id, secrets.to_vec())?
    };
    let log_path = log.path().map(|p| p.display().to_string());
    // Shared with the job, so that a run that stops can still say why in the log.
    let log = Arc::new(log);
    let job_log = log.clone();
    let summary = with_progress(move |tracker, cancel| {
        Box::pin(async move {
            // A dry run plans (and, with a manifest, verifies read-only) but writes nothing.
            let store = Arc::new(AzureBlobStore::new(&config)?);
            run_repair(store, &opts, tracker, cancel, &job_log).await
        })
    })
    .inspect_err(|e| log.error(format!("run stopped: {e}")))?;
    print_repair_summary(&summary, log_path.as_deref());
    Ok((summary, log_path))
}

pub fn verify(cmd: &Command) -> anyhow::Result<i32> {
    let report_path = cmd.get("report").map(PathBuf::from);
    let outcome = run_verify(cmd);
    let (code, word, summary, error, log_file) = match &outcome {
        Ok((report, log)) => {
            let code = if report.issues.is_empty() { exit::OK } else { exit::STILL_BAD };
            (code, if code == exit::OK { "verified" } else { "still bad" }, Some(report), None, log.clone())
        }
        Err(e) => {
            eprintln!("error: {e}");
            (exit_code_for(e.kind()), "error", None, Some(engine::error::ErrorInfo::from(e)), None)
        }
    };
    if let Some(path) = report_path {
        let report = Report { command: "Verify", exit_code: code, outcome: word, summary, error, log_file };
        write_report(&path, &report)?;
    }
    Ok(code)
}

fn run_verify(cmd: &Command) -> Result<(VerifyReport, Option<String>), EngineError> {
    let target = PathBuf::from(cmd.req("d"));
    check_target_dir(&target)?;
    let manifest = PathBuf::from(cmd.req("ManifestFile"));
    check_input_file("ManifestFile", "drive manifest", &manifest)?;
    let drive_id = engine::manifest::read_drive_id(&manifest)?;
    let log = RunLog::create(&log_dir(cmd), &drive_id, Vec::new())?;
    let log_path = log.path().map(|p| p.display().to_string());
    log.info(format!("Verify {} against {}", target.display(), manifest.display()));

    let (target_owned, manifest_owned) = (target.clone(), manifest.clone());
    let report = with_progress(move |tracker, cancel| {
        Box::pin(async move {
            tokio::task::block_in_place(|| {
                verify_drive(&target_owned, &manifest_owned, &VerifyOptions::default(), tracker, cancel)
            })
        })
    })
    .inspect_err(|e| log.error(format!("run stopped: {e}")))?;
    for issue in &report.issues {
        log.warn(issue_line(issue));
    }
    log.info(format!(
        "checked {} components ({} bytes) in {:.1} s; {} bad",
        report.components_checked,
        report.bytes_checked,
        report.elapsed_seconds,
        report.issues.len()
    ));
    print_verify_summary(&report, log_path.as_deref());
    Ok((report, log_path))
}

fn print_verify_summary(r: &VerifyReport, log: Option<&str>) {
    let rate = if r.elapsed_seconds > 0.0 { r.bytes_checked as f64 / r.elapsed_seconds } else { 0.0 };
    if r.issues.is_empty() {
        println!("Drive {}: every component matches the manifest.", r.drive_id);
    } else {
        println!("Drive {}: {} component(s) do not match the manifest.", r.drive_id, r.issues.len());
    }
    println!("  blobs                {}", r.blobs);
    println!("  components checked   {}", r.components_checked);
    println!("  bytes checked        {}", bytes(r.bytes_checked));
    println!("  failed               {}", r.issues.len());
    println!("  elapsed              {} ({}/s)", duration(r.elapsed_seconds), bytes(rate as u64));
    print_issues("Bad components", &r.issues);
    if let Some(l) = log {
        println!("Log: {l}");
    }
    if !r.issues.is_empty() {
        println!("To repair them, run RepairExport with this manifest, the copy log and the storage account key or SAS.");
    }
}

fn print_repair_summary(s: &RepairSummary, log: Option<&str>) {
    if s.dry_run {
        let p = &s.plan;
        println!("Drive {}: repair plan (nothing was written).", s.drive_id);
        println!("  files                {}", p.files);
        println!("  ranges to fetch      {}", p.ranges);
        println!("  blobs to fetch whole {}", p.whole_blobs);
        println!("  properties/metadata  {}", p.aux_files);
        println!("  bytes to fetch       {}", bytes(p.bytes));
        if p.refused > 0 {
            println!("  refused (unsafe)     {}", p.refused);
        }
        return;
    }
    if s.already_complete {
        println!("Drive {}: already repaired and verified; nothing to do. Run Verify to check the drive again.", s.drive_id);
    } else if s.issues.is_empty() {
        println!("Drive {}: repaired and verified.", s.drive_id);
    } else {
        println!("Drive {}: finished, but {} component(s) are still bad.", s.drive_id, s.issues.len());
    }
    println!("  components checked   {}", s.components_checked);
    println!("  fetched              {} ({})", s.components_fetched, bytes(s.bytes_fetched));
    println!("  failed               {}", s.components_failed);
    println!("  regenerated          {}", s.components_regenerated);
    println!("  bytes verified       {}", bytes(s.bytes_verified));
    println!("  elapsed              {} ({}/s)", duration(s.elapsed_seconds), bytes(s.bytes_per_second as u64));
    print_issues("Still bad", &s.issues);
    if !s.regenerated.is_empty() {
        println!("Regenerated (warnings; these cannot be checked against the manifest):");
        for r in &s.regenerated {
            println!("  {} ({})", r.file_path, r.component);
        }
    }
    if let Some(l) = log {
        println!("Log: {l}");
    }
}

fn print_issues(title: &str, issues: &[ComponentIssue]) {
    if issues.is_empty() {
        return;
    }
    println!("{title}:");
    for i in issues {
        println!("  {}", issue_line(i));
    }
}

fn issue_line(i: &ComponentIssue) -> String {
    format!("{}: {}: {}", i.file_path, i.component, i.problem)
}

/// `/bk:` unlocks the target volume first when it is locked.
fn unlock_target_if_locked(target: &Path, key: &str) -> Result<(), EngineError> {
    let key = bitlocker::validate_recovery_key(key).map_err(|p| EngineError::BitLocker {
        kind: ErrorKind::BitLockerKeyMalformed,
        message: format!("the BitLocker key is not valid: {p}"),
    })?;
    let volume = volume_of_target(target)?;
    let Some(volume) = volume else { return Ok(()) };
    eprintln!("Unlocking {volume} with the BitLocker key…");
    let mount = if cfg!(windows) { None } else { Some(target) };
    bitlocker::unlock(&volume, &key, mount)?;
    Ok(())
}

/// The locked BitLocker volume `/d:` stands for, if any: the drive letter on Windows; on
/// Linux, when `/d:` is not yet a mounted, populated folder, the one locked BitLocker
/// volume attached (it is then mounted at `/d:`).
fn volume_of_target(target: &Path) -> Result<Option<String>, EngineError> {
    if cfg!(windows) {
        let s = target.to_string_lossy();
        let letter: String = s.chars().take(2).collect();
        let report = bitlocker::status(&letter)?;
        return Ok((report.state == BitLockerState::Locked).then_some(letter));
    }
    let populated = std::fs::read_dir(target).map(|mut d| d.next().is_some()).unwrap_or(false);
    if populated {
        return Ok(None);
    }
    let locked: Vec<_> = engine::drives::list_volumes()?
        .into_iter()
        .filter(|v| v.bitlocker == BitLockerState::Locked)
        .filter_map(|v| v.device)
        .collect();
    match locked.as_slice() {
        [one] => Ok(Some(one.clone())),
        [] => Ok(None),
        many => Err(usage(&format!(
            "several locked BitLocker volumes are attached ({}); unlock the right one first with \
             `driverepair Unlock /drive:<device> /bk:<key> /mount:{}`",
            many.join(", "),
            target.display()
        ))),
    }
}

fn check_target_dir(target: &Path) -> Result<(), EngineError> {
    match std::fs::metadata(target) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(usage(&format!("/d:{} is not a directory", target.display()))),
        Err(_) => Err(usage(&format!(
            "the target directory {} does not exist; give the drive's root folder (for example /d:G:\\ or /d:/media/drive)",
            target.display()
        ))),
    }
}

/// A missing input file is bad input (exit 2), named with its parameter, rather than
/// an I/O error deep in a parser.
fn check_input_file(param: &str, what: &str, path: &Path) -> Result<(), EngineError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(usage(&format!("/{param}:{} is not a file; give the {what} file", path.display()))),
        Err(e) => Err(usage(&format!("/{param}: the {what} {} cannot be opened: {e}", path.display()))),
    }
}

fn log_dir(cmd: &Command) -> PathBuf {
    // The original tool's default: the current directory.
    cmd.get("logdir").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."))
}

fn usage(message: &str) -> EngineError {
    EngineError::Usage { message: message.to_string() }
}

/// The boxed future a [`with_progress`] job returns, borrowing the tracker and token.
type Job<'t, T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, EngineError>> + Send + 't>>;

/// Runs `work` on a multi-threaded runtime with a live progress line on stderr and
/// Ctrl-C wired to cancellation.
fn with_progress<T: Send + 'static>(
    work: impl for<'t> FnOnce(&'t ProgressTracker<'t>, &'t CancelToken) -> Job<'t, T>,
) -> Result<T, EngineError> {
    // One command per process: the reporter and tracker live as long as it does, so
    // the job can run as a task of the runtime (below) rather than borrow them.
    let reporter: &'static CliReporter = Box::leak(Box::new(CliReporter::new()));
    let tracker: &'static ProgressTracker<'static> = Box::leak(Box::new(ProgressTracker::new(reporter, PROGRESS_INTERVAL)));
    let cancel: &'static CancelToken = Box::leak(Box::new(CancelToken::new()));
    let rt = runtime()?;
    // A spawned task, not the `block_on` future itself: the HTTP connections run as
    // tasks on the worker threads, and a body chunk that wakes a task there usually
    // runs it on the same thread at once, where waking the main thread took a
    // context switch per chunk (32,000 for a 1 GiB download, about 6 % of its CPU).
    let result = rt.block_on(async {
        stop_on_ctrl_c(cancel.clone());
        tokio::spawn(work(tracker, cancel))
            .await
            .unwrap_or_else(|e| Err(EngineError::Internal(format!("the job stopped unexpectedly: {e}"))))
    });
    reporter.finish_line();
    result
}

fn runtime() -> Result<tokio::runtime::Runtime, EngineError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| EngineError::Internal(format!("cannot start the async runtime: {e}")))
}

/// The first Ctrl-C stops at a safe point (the repair file is resumable); a second one
/// leaves at once.
fn stop_on_ctrl_c(cancel: CancelToken) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nStopping at a safe point… (press Ctrl-C again to quit at once)");
            cancel.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(exit::INTERRUPTED);
            }
        }
    });
}

fn write_report<T: Serialize>(path: &Path, report: &T) -> anyhow::Result<()> {
    let json = serde_json::to_vec_pretty(report)?;
    std::fs::write(path, json).map_err(|e| anyhow::anyhow!("cannot write the report {}: {e}", path.display()))
}
