//! The repair executor (RepairExport's job, FORMATS.md §4).
//!
//! A run:
//! 1. **Planning.** Reads the copy log (refusing import logs) and, with a manifest,
//!    checks that both name the same drive. Opens the repair file (refusing one of
//!    another drive). A run after a completed one with nothing left to retry stops
//!    here and says so, writing nothing. Otherwise the copy log's failures become
//!    units; their expected hashes come from a streaming pass over the manifest that
//!    keeps only the blobs the copy log names.
//! 2. **Fetching** the pending units (see below).
//! 3. With a manifest, **Verifying** the whole drive, adding every component found
//!    bad as a unit, and **Fetching** again. The blocks of blobs downloaded whole and
//!    checked in batches in step 2 were hashed in the very buffers written to the
//!    drive, and are not hashed again.
//! 4. **Rechecking**: every other range written in this run is read back from the
//!    drive and hashed once more.
//!
//! Rules the executor keeps:
//! - Only verified bytes are written: each component's MD5 is checked against the
//!   expected hash (manifest, else copy log, else the service's range MD5) before it
//!   is written, positionally, and the file is fsynced before the unit is marked done.
//!   Bytes already good on the drive are never replaced. A range that cannot be
//!   checked at all is not written.
//! - Whole blobs stream into `.<name>.driverepair-partial` beside the target (a few
//!   large requests in flight), are fsynced and then renamed over the target once
//!   every byte is checked. With the manifest's hashes, the blocks gather in batches
//!   of about 8 MiB that are hashed in lanes on the blocking pool and then written,
//!   their whole pages past the page cache (`repair/inline.rs`, `repair/direct.rs`);
//!   a bad block is fetched again on its own, hashed as it arrives. A page blob
//!   fetches only its listed ranges.
//! - Before patching, the blob's current properties are compared with the export's
//!   (copy log `LastModified`, the drive's properties-file `Etag`, the length). A
//!   changed blob is not patched: the units fail with `BlobChanged` and advice; with
//!   `refetch_changed` the blob is fetched whole as it is now, and listed as such.
//! - Properties and metadata files are regenerated from the blob's current state,
//!   atomically, and reported as regenerated (not verified) unless their bytes
//!   happen to match the manifest's hash.
//! - At most `concurrency` requests are in flight; memory is bounded by the fetch
//!   groups (about 8 MiB each), the 4 MiB write buffers of streamed fetches (two per
//!   request), and the batch buffers of at most two batched downloads (two of 8 MiB
//!   per request, 64 MiB each, up to twice that with 16 MiB blocks; further whole
//!   blobs hash as the bytes arrive and are read back in the recheck).
//! - A 403 or an unreachable account before anything was written ends the run with
//!   that error, the drive untouched. After that, failures fail only their unit.
//! - Nothing is written outside the target directory: every path goes through
//!   `map_file_path` and `ensure_no_symlink_escape` right before it is written.
//! - Cancelling leaves the repair file consistent; the next run resumes.

mod direct;
mod exec;
mod fsio;
mod hasher;
mod inline;
mod inputs;
#[cfg(test)]
mod tests;

use crate::blobstore::retry::RetryPolicy;
use crate::blobstore::{BlobProperties, BlobStore};
use crate::log::RunLog;
use crate::model::{BlobRef, Component, ComponentIssue, LogBlob, Problem};
use crate::paths::map_file_path;
use crate::plan::{
    coalesce, dedupe, unit_id, units_from_copy_log, units_from_issues, PlanTotals, Unit, UnitKind, COALESCE_TARGET,
};
use crate::progress::{CancelToken, Event, Phase, ProgressTracker};
use crate::repairfile::{AddMode, DoneHow, Opened, RepairFile, RunPhase, UnitState};
use crate::{EngineError, Result};
use exec::{Cx, Outcome, Preflight, Stats, Work};
use fsio::{file_len, PosFile};
use futures::StreamExt;
use inputs::{DriveInputs, FileInputs};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use ts_rs::TS;

/// What to repair and how.
#[derive(Clone)]
pub struct RepairOptions {
    /// The drive's root (or wherever the exported files are), `/d:`.
    pub target_dir: PathBuf,
    /// `/CopyLogFile:`.
    pub copy_log: PathBuf,
    /// `/ManifestFile:`: with it, the whole drive is verified after the copy log's failures are fetched.
    pub manifest: Option<PathBuf>,
    /// `/r:`.
    pub repair_file: PathBuf,
    /// Plan only: read the inputs (and verify the drive, with a manifest), write nothing.
    pub dry_run: bool,
    /// Re-download whole any blob that changed after the export, instead of reporting it.
    pub refetch_changed: bool,
    /// Requests in flight at most (default 8).
    pub concurrency: usize,
    /// Request size for whole-blob downloads (default 256 MiB).
    pub whole_blob_range: u64,
    pub retry: RetryPolicy,
}

impl RepairOptions {
    pub fn new(target_dir: impl Into<PathBuf>, copy_log: impl Into<PathBuf>, repair_file: impl Into<PathBuf>) -> Self {
        RepairOptions {
            target_dir: target_dir.into(),
            copy_log: copy_log.into(),
            manifest: None,
            repair_file: repair_file.into(),
            dry_run: false,
            refetch_changed: false,
            concurrency: 8,
            whole_blob_range: 256 << 20,
            retry: RetryPolicy::default(),
        }
    }
}

/// The result of a run. Exit codes are the front end's business: no `issues` means
/// success (`regenerated` entries are warnings).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct RepairSummary {
    pub drive_id: String,
    /// Components whose bytes on the drive were hashed (verification, checks before
    /// patching, rechecks).
    #[ts(type = "number")]
    pub components_checked: u64,
    /// Components fetched, verified and written.
    #[ts(type = "number")]
    pub components_fetched: u64,
    /// Components still bad (the length of `issues`).
    #[ts(type = "number")]
    pub components_failed: u64,
    /// Properties and metadata files regenerated (the length of `regenerated`).
    #[ts(type = "number")]
    pub components_regenerated: u64,
    #[ts(type = "number")]
    pub bytes_fetched: u64,
    /// Bytes whose MD5 was checked before they were written.
    #[ts(type = "number")]
    pub bytes_verified: u64,
    pub elapsed_seconds: f64,
    pub bytes_per_second: f64,
    /// What is still bad, each with a plain reason.
    pub issues: Vec<ComponentIssue>,
    /// Files rewritten with content that cannot be checked against the manifest:
    /// regenerated properties and metadata files, and blobs re-downloaded after they
    /// changed (`refetch_changed`).
    pub regenerated: Vec<ComponentIssue>,
    /// The repair file says an earlier run finished and nothing is left: nothing was done.
    pub already_complete: bool,
    pub dry_run: bool,
    /// What the run set out to do.
    pub plan: PlanTotals,
}

/// Repairs the drive as the options say. See the module documentation.
pub async fn run_repair<S: BlobStore>(
    store: Arc<S>,
    opts: &RepairOptions,
    tracker: &ProgressTracker<'_>,
    cancel: &CancelToken,
    log: &RunLog,
) -> Result<RepairSummary> {
    let inputs = FileInputs { copy_log: opts.copy_log.clone(), manifest: opts.manifest.clone() };
    execute(store.as_ref(), opts, &inputs, tracker, cancel, log).await
}

/// The plan a run would carry out (`/DryRun`), without writing anything (not even the
/// repair file). With a manifest, the drive is verified (read only) to find what the
/// copy log does not list. Units an existing repair file marks done are left out.
pub async fn plan_repair(
    opts: &RepairOptions,
    tracker: &ProgressTracker<'_>,
    cancel: &CancelToken,
    log: &RunLog,
) -> Result<(PlanTotals, Vec<Unit>)> {
    let inputs = FileInputs { copy_log: opts.copy_log.clone(), manifest: opts.manifest.clone() };
    let (drive_id, log_blobs) = read_inputs(opts, &inputs, tracker, cancel)?;
    plan_only(opts, &inputs, &drive_id, &log_blobs, tracker, cancel, log)
}

/// Runs CPU- or disk-bound synchronous work (parsing, verification) without stalling
/// other tasks of a multi-threaded runtime.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Reads the copy log and checks the drive IDs and the target directory.
fn read_inputs(
    opts: &RepairOptions,
    inputs: &dyn DriveInputs,
    tracker: &ProgressTracker<'_>,
    cancel: &CancelToken,
) -> Result<(String, Vec<LogBlob>)> {
    tracker.start_phase(Phase::Planning, 0, 0);
    if !opts.target_dir.is_dir() {
        return Err(EngineError::Usage {
            message: format!(
                "the target directory {} does not exist or is not a directory. Give the drive's root with /d:.",
                opts.target_dir.display()
            ),
        });
    }
    let (summary, log_blobs) = blocking(|| inputs.copy_log(cancel))?;
    let drive_id = summary.drive_id.trim().to_string();
    if let Some(manifest_id) = blocking(|| inputs.manifest_drive_id())? {
        if !manifest_id.trim().eq_ignore_ascii_case(&drive_id) {
            return Err(EngineError::DriveMismatch {
                left_what: "the copy log",
                left: drive_id,
                right_what: "the manifest",
                right: manifest_id.trim().to_string(),
            });
        }
    }
    Ok((drive_id, log_blobs))
}

fn blobs_of<'a>(units: impl IntoIterator<Item = &'a Unit>) -> HashSet<BlobRef> {
    units.into_iter().map(|u| u.blob.clone()).collect()
}

fn plan_only(
    opts: &RepairOptions,
    inputs: &dyn DriveInputs,
    drive_id: &str,
    log_blobs: &[LogBlob],
    tracker: &ProgressTracker<'_>,
    cancel: &CancelToken,
    log: &RunLog,
) -> Result<(PlanTotals, Vec<Unit>)> {
    let target = opts.target_dir.as_path();
    let done: HashSet<String> = match RepairFile::open_read_only(&opts.repair_file, drive_id)? {
        Some(rf) => rf.units(Some(UnitState::Done))?.into_iter().map(|s| s.unit.id).collect(),
        None => HashSet::new(),
    };
    let wanted: HashSet<BlobRef> = log_blobs.iter().map(|b| b.blob.clone()).collect();
    let idx = blocking(|| inputs.manifest_blobs(&wanted, cancel))?;
    let mut units = units_from_copy_log(target, log_blobs, &idx);
    if inputs.has_manifest() {
        let report = blocking(|| inputs.verify_drive(target, &HashSet::new(), tracker, cancel))?;
        let wanted: HashSet<BlobRef> = report.issues.iter().map(|i| i.blob.clone()).collect();
        let idx = blocking(|| inputs.manifest_blobs(&wanted, cancel))?;
        units.extend(units_from_issues(target, &report.issues, &idx));
    }
    let mut units = dedupe(units);
    units.retain(|u| !done.contains(&u.id));
    let totals = PlanTotals::of(&units);
    log.info(format!(
        "dry run for drive {drive_id}: {} files, {} ranges, {} whole blobs, {} properties/metadata files, {} bytes, {} refused",
        totals.files, totals.ranges, totals.whole_blobs, totals.aux_files, totals.bytes, totals.refused
    ));
    tracker.start_phase(Phase::Done, 0, 0);
    Ok((totals, units))
}

pub(crate) async fn execute<S: BlobStore>(
    store: &S,
    opts: &RepairOptions,
    inputs: &dyn DriveInputs,
    tracker: &ProgressTracker<'_>,
    cancel: &CancelToken,
    log: &RunLog,
) -> Result<RepairSummary> {
    let started = Instant::now();
    let (drive_id, log_blobs) = read_inputs(opts, inputs, tracker, cancel)?;
    let target = opts.target_dir.as_path();
    log.info(format!(
        "drive {drive_id}: target {}, copy log {}, manifest {}, repair file {}",
        target.display(),
        opts.copy_log.display(),
        opts.manifest.as_ref().map(|m| m.display().to_string()).unwrap_or_else(|| "none".into()),
        opts.repair_file.display()
    ));

    if opts.dry_run {
        let (plan, units) = plan_only(opts, inputs, &drive_id, &log_blobs, tracker, cancel, log)?;
        let issues = units.iter().filter_map(|u| u.refused.clone().map(|p| u.issue(p))).collect();
        return Ok(summary(drive_id, started, &Stats::default(), issues, vec![], false, true, plan));
    }

    let copy_fp = inputs.copy_log_fingerprint()?;
    let manifest_fp = inputs.manifest_fingerprint()?;
    let (mut rf, opened) = RepairFile::open_or_create(&opts.repair_file, &drive_id, &copy_fp, manifest_fp.as_deref())?;
    log.info(format!("repair file {}: {opened:?}", opts.repair_file.display()));

    if opened == Opened::Resumed && rf.completed_at()?.is_some() {
        let counts = rf.counts()?;
        if counts.pending == 0 && counts.failed == 0 {
            let all = rf.units(None)?;
            let issues = all
                .iter()
                .filter(|s| s.state == UnitState::Refused)
                .filter_map(|s| s.problem.clone().map(|p| s.unit.issue(p)))
                .collect();
            let plan = PlanTotals::of(all.iter().map(|s| &s.unit));
            log.info("an earlier run completed this repair and nothing is left to retry; nothing was done");
            tracker.event(Event::Warning {
                message: format!(
                    "The repair file says this repair was completed on {}; nothing was done.",
                    rf.completed_at()?.unwrap_or_default()
                ),
            });
            tracker.start_phase(Phase::Done, 0, 0);
            return Ok(summary(drive_id, started, &Stats::default(), issues, vec![], true, false, plan));
        }
    }
    let retried = rf.retry_failed()?;
    if retried > 0 {
        log.info(format!("{retried} components that failed in an earlier run are tried again"));
    }

    let cx = Cx::new(store, opts, target, tracker, cancel, log);
    let mut rec = Recorder::default();

    if !rf.phase_done(RunPhase::CopyLogPlanned)? {
        let wanted: HashSet<BlobRef> = log_blobs.iter().map(|b| b.blob.clone()).collect();
        let idx = blocking(|| inputs.manifest_blobs(&wanted, cancel))?;
        let units = units_from_copy_log(target, &log_blobs, &idx);
        let added = rf.add_units(&units, AddMode::Keep)?;
        log.info(format!("copy log: {} components to repair ({added} new)", units.len()));
        rf.set_phase_done(RunPhase::CopyLogPlanned)?;
    }
    drop(log_blobs);
    fetch_pending(&cx, inputs, &mut rf, &mut rec).await?;

    if inputs.has_manifest() && !rf.phase_done(RunPhase::Verified)? {
        let hashed = std::mem::take(&mut rec.all_ranges_hashed);
        if !hashed.is_empty() {
            log.info(format!(
                "verification: the blocks of {} blob(s) were hashed in this run (in the buffers written, or on the drive) and are not hashed again",
                hashed.len()
            ));
        }
        let report = blocking(|| inputs.verify_drive(target, &hashed, tracker, cancel))?;
        Stats::add(&cx.stats.checked, report.components_checked);
        log.info(format!(
            "verification: {} components of {} blobs checked, {} bad",
            report.components_checked,
            report.blobs,
            report.issues.len()
        ));
        for i in &report.issues {
            log.info(format!("verification: {} {}: {}", i.file_path, i.component, i.problem));
        }
        // Blobs re-downloaded as they are now no longer match the manifest, by design;
        // they are reported as such, not fetched again.
        let refetched: HashSet<BlobRef> = rf
            .units(Some(UnitState::Done))?
            .into_iter()
            .filter(|s| s.done_how == Some(DoneHow::RefetchedChanged))
            .map(|s| s.unit.blob)
            .collect();
        let issues: Vec<ComponentIssue> =
            report.issues.into_iter().filter(|i| !refetched.contains(&i.blob)).collect();
        let wanted: HashSet<BlobRef> = issues.iter().map(|i| i.blob.clone()).collect();
        let idx = blocking(|| inputs.manifest_blobs(&wanted, cancel))?;
        let units = units_from_issues(target, &issues, &idx);
        rf.add_units(&units, AddMode::ReopenDone)?;
        rf.set_phase_done(RunPhase::Verified)?;
        fetch_pending(&cx, inputs, &mut rf, &mut rec).await?;
    }

    recheck(&cx, &mut rf, &mut rec).await?;
    rf.set_completed()?;
    tracker.set_current_file(None);
    tracker.start_phase(Phase::Done, 0, 0);

    let all = rf.units(None)?;
    let issues: Vec<ComponentIssue> = all
        .iter()
        .filter(|s| matches!(s.state, UnitState::Failed | UnitState::Refused))
        .map(|s| s.unit.issue(s.problem.clone().unwrap_or(s.unit.cause.clone())))
        .collect();
    let plan = PlanTotals::of(all.iter().map(|s| &s.unit));
    let s = summary(drive_id, started, &cx.stats, issues, rec.regenerated, false, false, plan);
    let (gathers, ranges) = cx.hasher.counts();
    if gathers > 0 {
        log.info(format!(
            "whole-blob blocks checked in batches: {ranges} in {gathers} gathers ({:.1} hashed together on average)",
            ranges as f64 / gathers as f64
        ));
    }
    log.info(format!(
        "done: {} fetched, {} regenerated, {} still bad, {} bytes fetched in {:.1} s",
        s.components_fetched, s.components_regenerated, s.components_failed, s.bytes_fetched, s.elapsed_seconds
    ));
    Ok(s)
}

#[allow(clippy::too_many_arguments)]
fn summary(
    drive_id: String,
    started: Instant,
    stats: &Stats,
    issues: Vec<ComponentIssue>,
    regenerated: Vec<ComponentIssue>,
    already_complete: bool,
    dry_run: bool,
    plan: PlanTotals,
) -> RepairSummary {
    let elapsed = started.elapsed().as_secs_f64();
    let bytes_fetched = Stats::get(&stats.bytes_fetched);
    RepairSummary {
        drive_id,
        components_checked: Stats::get(&stats.checked),
        components_fetched: Stats::get(&stats.fetched),
        components_failed: issues.len() as u64,
        components_regenerated: regenerated.len() as u64,
        bytes_fetched,
        bytes_verified: Stats::get(&stats.bytes_verified),
        elapsed_seconds: elapsed,
        bytes_per_second: if elapsed > 0.0 { bytes_fetched as f64 / elapsed } else { 0.0 },
        issues,
        regenerated,
        already_complete,
        dry_run,
        plan,
    }
}

/// Collects outcomes and writes them to the repair file in batches (a crash between
/// batches only makes a later run redo a few units whose bytes are already right).
#[derive(Default)]
struct Recorder {
    done: Vec<(String, DoneHow, u64)>,
    failed: Vec<(String, Problem, u64)>,
    last_flush: Option<Instant>,
    /// Written in this run, with the ranges to read back in the recheck.
    written: Vec<(Unit, Vec<crate::model::Range>)>,
    /// Blobs whose every manifest range was hashed and matched in this run.
    all_ranges_hashed: HashSet<BlobRef>,
    regenerated: Vec<ComponentIssue>,
}

const FLUSH_UNITS: usize = 64;
const FLUSH_SECONDS: u64 = 2;

impl Recorder {
    fn record<S: BlobStore>(&mut self, cx: &Cx<'_, S>, rf: &mut RepairFile, o: Outcome) -> Result<()> {
        let c = &cx.tracker.counters;
        match o {
            Outcome::Done { unit, how, bytes, recheck, all_ranges_hashed } => {
                if all_ranges_hashed {
                    self.all_ranges_hashed.insert(unit.blob.clone());
                }
                c.add_done(1);
                if unit.kind() != UnitKind::WholeBlob {
                    c.add_bytes(unit.bytes());
                }
                match how {
                    DoneHow::Fetched => {
                        Stats::add(&cx.stats.fetched, 1);
                        cx.log.info(format!("{} {}: fetched, verified and written", unit.written_path(), unit.component));
                        cx.tracker.event(Event::Repaired { file_path: unit.file_path.clone(), component: unit.component.clone() });
                    }
                    DoneHow::AlreadyGood => {}
                    DoneHow::Regenerated => {
                        Stats::add(&cx.stats.regenerated, 1);
                        cx.log.warn(format!(
                            "{}: regenerated from the blob's current state; it cannot be checked against the manifest",
                            unit.written_path()
                        ));
                        cx.tracker.event(Event::Warning {
                            message: format!("{} was regenerated from the blob's current properties", unit.written_path()),
                        });
                        self.regenerated.push(unit.issue(Problem::Regenerated));
                    }
                    DoneHow::RefetchedChanged => {
                        Stats::add(&cx.stats.fetched, 1);
                        let detail = match &unit.cause {
                            Problem::BlobChanged { detail } => detail.clone(),
                            _ => "it changed after the export".into(),
                        };
                        let detail = format!(
                            "{detail}; it was downloaded again whole, as it is now, so the manifest's hashes no longer describe it"
                        );
                        cx.log.warn(format!("{}: {detail}", unit.file_path));
                        cx.tracker.event(Event::Warning { message: format!("{}: {detail}", unit.file_path) });
                        self.regenerated.push(unit.issue(Problem::BlobChanged { detail }));
                    }
                }
                if !recheck.is_empty() {
                    self.written.push((unit.clone(), recheck));
                }
                self.done.push((unit.id, how, bytes));
            }
            Outcome::Failed { unit, problem, bytes } => {
                c.add_done(1);
                c.add_failed(1);
                Stats::add(&cx.stats.failed, 1);
                cx.log.error(format!("{} {}: {problem}", unit.written_path(), unit.component));
                let issue = unit.issue(problem.clone());
                cx.tracker.event(Event::Issue { issue });
                self.failed.push((unit.id, problem, bytes));
            }
        }
        cx.tracker.tick();
        let due = match self.last_flush {
            None => true,
            Some(t) => t.elapsed().as_secs() >= FLUSH_SECONDS,
        };
        if self.done.len() + self.failed.len() >= FLUSH_UNITS || due {
            self.flush(rf)?;
        }
        Ok(())
    }

    fn flush(&mut self, rf: &mut RepairFile) -> Result<()> {
        self.last_flush = Some(Instant::now());
        if !self.done.is_empty() {
            let v: Vec<(&str, DoneHow, u64)> = self.done.iter().map(|(id, h, b)| (id.as_str(), *h, *b)).collect();
            rf.mark_done(&v)?;
            self.done.clear();
        }
        if !self.failed.is_empty() {
            let v: Vec<(&str, &Problem, u64)> = self.failed.iter().map(|(id, p, b)| (id.as_str(), p, *b)).collect();
            rf.mark_failed(&v)?;
            self.failed.clear();
        }
        Ok(())
    }
}

/// A whole-blob unit standing in for a blob's range units.
fn whole_unit_for(sample: &Unit, cause: Problem) -> Unit {
    Unit {
        id: unit_id(&sample.blob, &Component::File),
        blob: sample.blob.clone(),
        file_path: sample.file_path.clone(),
        component: Component::File,
        expected: None,
        blob_length: sample.blob_length,
        blob_type: sample.blob_type,
        aux_path: None,
        last_modified: sample.last_modified.clone(),
        source: sample.source,
        cause,
        refused: None,
    }
}

/// Fetches every pending unit of the repair file.
async fn fetch_pending<S: BlobStore>(
    cx: &Cx<'_, S>,
    inputs: &dyn DriveInputs,
    rf: &mut RepairFile,
    rec: &mut Recorder,
) -> Result<()> {
    let pending: Vec<Unit> = rf.units(Some(UnitState::Pending))?.into_iter().map(|s| s.unit).collect();
    if pending.is_empty() {
        return Ok(());
    }
    let bytes: u64 = pending.iter().map(Unit::bytes).sum();
    cx.tracker.start_phase(Phase::Fetching, bytes, pending.len() as u64);
    cx.log.info(format!("fetching {} components ({bytes} bytes known)", pending.len()));

    let data_units = pending.iter().filter(|u| u.kind() != UnitKind::Aux);
    let idx = blocking(|| inputs.manifest_blobs(&blobs_of(data_units), cx.cancel))?;

    let mut by_blob: BTreeMap<(String, Option<String>), Vec<Unit>> = BTreeMap::new();
    let mut aux = Vec::new();
    for u in pending {
        match u.kind() {
            UnitKind::Aux => aux.push(u),
            _ => by_blob.entry((u.blob.path.clone(), u.blob.snapshot.clone())).or_default().push(u),
        }
    }

    // Is each blob still the one exported? One properties request per blob.
    let samples: Vec<Unit> = by_blob
        .values()
        .map(|units| units.iter().find(|u| u.last_modified.is_some()).unwrap_or(&units[0]).clone())
        .collect();
    let idx_ref = &idx;
    let checks: Vec<Result<(BlobRef, Preflight)>> = futures::stream::iter(samples)
        .map(|sample| async move {
            cx.cancel.checkpoint_async().await?;
            let p = cx.preflight(&sample, idx_ref.get(&sample.blob)).await?;
            Ok((sample.blob, p))
        })
        .buffer_unordered(cx.opts.concurrency.max(1))
        .collect()
        .await;
    let mut preflight: HashMap<BlobRef, Preflight> = HashMap::new();
    for c in checks {
        let (b, p) = c?;
        preflight.insert(b, p);
    }

    let mut work: Vec<Work> = Vec::new();
    let mut early: Vec<Outcome> = Vec::new();
    let mut props_of: HashMap<BlobRef, BlobProperties> = HashMap::new();
    for (_, units) in by_blob {
        let blob = units[0].blob.clone();
        let whole = units.iter().find(|u| u.kind() == UnitKind::WholeBlob).cloned();
        match preflight.remove(&blob).expect("checked every blob") {
            Preflight::Failed(problem) => {
                early.extend(units.into_iter().map(|unit| Outcome::Failed { unit, problem: problem.clone(), bytes: 0 }));
            }
            Preflight::Changed { detail, props } if !cx.opts.refetch_changed => {
                let problem = Problem::BlobChanged {
                    detail: format!(
                        "{detail}. Its bytes cannot be patched into the exported copy. Run again with the option to \
                         re-download changed blobs whole to take the current version"
                    ),
                };
                props_of.insert(blob, props);
                early.extend(units.into_iter().map(|unit| Outcome::Failed { unit, problem: problem.clone(), bytes: 0 }));
            }
            Preflight::Changed { detail, props } => {
                let unit = whole_unit_for(&units[0], Problem::BlobChanged { detail });
                rf.supersede_with_whole(&unit)?;
                props_of.insert(blob, props.clone());
                work.push(Work::Whole { unit: Box::new(unit), props: Box::new(props), manifest: None, refetch: true });
            }
            Preflight::Unchanged(props) => {
                props_of.insert(blob.clone(), props.clone());
                if let Some(unit) = whole {
                    // Range units of the same blob, if any, are covered by the whole fetch.
                    if units.len() > 1 {
                        rf.supersede_with_whole(&unit)?;
                    }
                    let manifest = idx.get(&blob).cloned().map(Box::new);
                    work.push(Work::Whole { unit: Box::new(unit), props: Box::new(props), manifest, refetch: false });
                    continue;
                }
                let path = match map_file_path(cx.target, &units[0].file_path) {
                    Ok(p) => p,
                    Err(e) => {
                        let problem = cx.problem_or_abort(e.into())?;
                        early.extend(units.into_iter().map(|unit| Outcome::Failed { unit, problem: problem.clone(), bytes: 0 }));
                        continue;
                    }
                };
                let expected_len = units[0].blob_length.or(idx.get(&blob).map(|m| m.length)).unwrap_or(props.length);
                let on_drive = match file_len(&path).await {
                    Ok(l) => l,
                    Err(e) => {
                        let problem = cx.problem_or_abort(e.into())?;
                        early.extend(units.into_iter().map(|unit| Outcome::Failed { unit, problem: problem.clone(), bytes: 0 }));
                        continue;
                    }
                };
                if on_drive != Some(expected_len) {
                    // Nothing to patch into: the file is missing or of the wrong length.
                    let why = match on_drive {
                        None => Problem::MissingFile,
                        Some(actual_length) => Problem::ShortFile { actual_length, expected_length: expected_len },
                    };
                    cx.log.info(format!("{}: {why}; fetching the whole blob instead of ranges", units[0].file_path));
                    let unit = whole_unit_for(&units[0], why);
                    rf.supersede_with_whole(&unit)?;
                    let manifest = idx.get(&blob).cloned().map(Box::new);
                    work.push(Work::Whole { unit: Box::new(unit), props: Box::new(props), manifest, refetch: false });
                    continue;
                }
                for group in coalesce(units, COALESCE_TARGET) {
                    work.push(Work::Ranges { group, path: path.clone() });
                }
            }
        }
    }
    for unit in aux {
        let props = props_of.get(&unit.blob).cloned();
        work.push(Work::Aux { unit: Box::new(unit), props: props.map(Box::new) });
    }

    for o in early {
        rec.record(cx, rf, o)?;
    }
    let mut results = futures::stream::iter(work).map(|w| cx.run(w)).buffer_unordered(cx.opts.concurrency.max(1));
    let mut fatal = None;
    while let Some(r) = results.next().await {
        match r {
            Ok(outcomes) => {
                for o in outcomes {
                    rec.record(cx, rf, o)?;
                }
            }
            Err(e) => {
                fatal = Some(e);
                break;
            }
        }
    }
    drop(results);
    rec.flush(rf)?;
    match fatal {
        Some(e) => {
            cx.log.error(format!("run stopped: {e}"));
            Err(e)
        }
        None => Ok(()),
    }
}

/// Reads back every range written in this run and hashes it once more.
async fn recheck<S: BlobStore>(cx: &Cx<'_, S>, rf: &mut RepairFile, rec: &mut Recorder) -> Result<()> {
    let written = std::mem::take(&mut rec.written);
    if written.is_empty() {
        return Ok(());
    }
    let bytes: u64 = written.iter().flat_map(|(_, r)| r.iter().map(|r| r.length)).sum();
    let count: u64 = written.iter().map(|(_, r)| r.len() as u64).sum();
    cx.tracker.start_phase(Phase::Rechecking, bytes, count);
    let results: Vec<Result<Option<(Unit, Problem)>>> = futures::stream::iter(written)
        .map(|(unit, ranges)| async move {
            cx.cancel.checkpoint_async().await?;
            let path = map_file_path(cx.target, &unit.file_path)?;
            let file = match PosFile::open_read(&path).await {
                Ok(f) => f,
                Err(e) => return Ok(Some((unit, Problem::Unreadable { detail: e.to_string() }))),
            };
            for r in &ranges {
                let expected = r.hash.expect("recheck ranges carry hashes");
                let actual = match file.md5_of(r.offset, r.length).await {
                    Ok(h) => h,
                    Err(e) => return Ok(Some((unit, Problem::Unreadable { detail: e.to_string() }))),
                };
                Stats::add(&cx.stats.checked, 1);
                cx.tracker.counters.add_done(1);
                cx.tracker.counters.add_bytes(r.length);
                cx.tracker.tick();
                if actual != expected {
                    return Ok(Some((unit, Problem::HashMismatch { expected, actual })));
                }
            }
            Ok(None)
        })
        .buffer_unordered(cx.opts.concurrency.max(1))
        .collect()
        .await;
    for r in results {
        if let Some((unit, problem)) = r? {
            // Written, yet not what is on the drive now: a failing disk, most likely.
            cx.log.error(format!("{} {}: read back after writing: {problem}", unit.file_path, unit.component));
            cx.tracker.counters.add_failed(1);
            cx.tracker.event(Event::Issue { issue: unit.issue(problem.clone()) });
            rf.mark_failed(&[(&unit.id, &problem, 0)])?;
        }
    }
    Ok(())
}
