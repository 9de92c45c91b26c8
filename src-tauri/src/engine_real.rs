//! The engine operations wired to the engine itself: the storage client, drive and
//! BitLocker modules, copy-log reader, verifier and repairer. This is what a normal
//! build uses; [`crate::simulate`] is only chosen with `DRIVE_REPAIR_SIMULATE=1`.
//!
//! Errors leave as [`ErrorInfo`] built from the engine's own messages, which never
//! carry secrets; the commands redact once more on the way out.

use crate::engine_ops::*;
use crate::records::{RunKind, RunSummary};
use engine::blobstore::azure::AzureBlobStore;
use engine::blobstore::{BlobStore, Credential, StorageConfig};
use engine::error::{ErrorInfo, ErrorKind};
use engine::log::RunLog;
use engine::model::{BlobRef, JobKind};
use engine::progress::{CancelToken, ProgressTracker, Reporter};
use engine::repair::{run_repair, RepairOptions, RepairSummary};
use engine::secret::Secret;
use engine::verify::{verify_drive, VerifyOptions};
use engine::EngineError;
use futures::StreamExt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The container the Import/Export service writes its logs to with an account key.
const LOG_CONTAINER: &str = "waimportexport";
/// Where the logs sit in that container.
const LOG_PREFIX: &str = "waies/";
/// With a container SAS, the service writes the logs under this prefix in the SAS container.
const SAS_LOG_PREFIX: &str = "waimportexport/";

/// How often the engine's progress is sampled (the forwarder throttles the UI further).
const TRACK_INTERVAL: Duration = Duration::from_millis(100);

pub struct RealEngine;

fn info(e: &EngineError) -> ErrorInfo {
    ErrorInfo::from(e)
}

fn store_for(cfg: &StorageConfig) -> Result<AzureBlobStore, ErrorInfo> {
    AzureBlobStore::new(cfg).map_err(|e| info(&e))
}

fn secrets_of(cfg: Option<&StorageConfig>) -> Vec<Secret> {
    cfg.map(|c| c.secrets().into_iter().cloned().collect()).unwrap_or_default()
}

/// Runs blocking engine work (file reads, volume probing) off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ErrorInfo> + Send + 'static,
) -> Result<T, ErrorInfo> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ErrorInfo {
        kind: ErrorKind::Internal,
        message: format!("an engine task stopped unexpectedly: {e}"),
    })?
}

/// Splits a copy-log blob name `…/<job>_<drive>_<timestamp>_<type>.xml` into
/// (drive, timestamp, type). Job names may contain underscores, so it splits from the right.
pub fn parse_log_name(name: &str) -> Option<(String, String, String)> {
    let base = name.rsplit('/').next()?;
    let stem = base.strip_suffix(".xml").or_else(|| base.strip_suffix(".XML"))?;
    let mut parts = stem.rsplitn(4, '_');
    let log_type = parts.next()?.to_string();
    let timestamp = parts.next()?.to_string();
    let drive = parts.next()?.to_string();
    let job = parts.next()?;
    if job.is_empty() || drive.is_empty() || timestamp.is_empty() || log_type.is_empty() {
        return None;
    }
    Some((drive, timestamp, log_type))
}

/// Candidates for `drive_id` among listed blobs, newest first (by the timestamp in the
/// name, which the service writes as `yyyyMMddHHmmss`, then by name).
pub fn copy_log_candidates(
    listed: Vec<engine::blobstore::BlobListing>,
    drive_id: &str,
) -> Vec<CopyLogCandidate> {
    let mut found: Vec<(String, CopyLogCandidate)> = listed
        .into_iter()
        .filter_map(|b| {
            let (drive, ts, log_type) = parse_log_name(&b.name)?;
            drive.eq_ignore_ascii_case(drive_id).then(|| {
                (
                    ts,
                    CopyLogCandidate {
                        container: b.container,
                        name: b.name,
                        drive_id: drive_id.to_string(),
                        log_type: log_type.to_ascii_lowercase(),
                        length: b.length,
                        last_modified: b.last_modified,
                    },
                )
            })
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.name.cmp(&a.1.name)));
    found.into_iter().map(|(_, c)| c).collect()
}

fn summary_from_repair(s: &RepairSummary) -> RunSummary {
    RunSummary {
        kind: RunKind::Repair,
        finished: crate::records::now_ms(),
        components_checked: s.components_checked,
        components_repaired: s.components_fetched + s.components_regenerated,
        components_failed: s.issues.len() as u64,
        bytes_fetched: s.bytes_fetched,
        elapsed_seconds: s.elapsed_seconds,
        issues_file: None,
        stopped: None,
    }
}

fn repair_options(req: &RunRequest, dry_run: bool) -> Result<RepairOptions, ErrorInfo> {
    let copy_log = req.copy_log.clone().ok_or_else(|| ErrorInfo {
        kind: ErrorKind::Usage,
        message: "A repair needs the drive's copy log: find it in the storage account or choose the file.".into(),
    })?;
    let mut opts = RepairOptions::new(&req.target_dir, copy_log, &req.repair_file);
    opts.manifest = req.manifest.clone();
    opts.dry_run = dry_run;
    Ok(opts)
}

impl EngineOps for RealEngine {
    fn test_connection(&self, cfg: StorageConfig) -> Fut<'_, ()> {
        Box::pin(async move {
            let store = store_for(&cfg)?;
            // The commands join a bare SAS token with its container, so a container SAS
            // always names one here; without it, nothing could be listed.
            if matches!(cfg.credential, Credential::ContainerSas(_)) && store.sas_container().is_none() {
                return Err(crate::validate::usage(crate::validate::SAS_NEEDS_CONTAINER));
            }
            store.check_access().await.map_err(|e| info(&EngineError::Storage(e)))
        })
    }

    fn detect_drives(&self) -> Fut<'_, Vec<DetectedDrive>> {
        Box::pin(blocking(|| {
            let volumes = engine::drives::list_volumes().map_err(|e| info(&e))?;
            Ok(volumes
                .into_iter()
                .map(|v| DetectedDrive {
                    volume: v.mount_point.clone().unwrap_or_else(|| v.id.clone()),
                    label: (!v.label.is_empty()).then(|| v.label.clone()),
                    size_bytes: v.size_bytes,
                    bitlocker: v.bitlocker,
                    drive_id: v.export.as_ref().map(|e| e.drive_id.clone()),
                    manifest_path: v.export.as_ref().map(|e| e.manifest_path.clone()),
                })
                .collect())
        }))
    }

    fn unlock_volume(&self, volume: String, key: Secret) -> Fut<'_, String> {
        Box::pin(blocking(move || {
            let parsed = engine::bitlocker::validate_recovery_key(key.expose()).map_err(|p| ErrorInfo {
                kind: ErrorKind::BitLockerKeyMalformed,
                message: p.without_digits(),
            })?;
            let outcome = engine::bitlocker::unlock(&volume, &parsed, None).map_err(|e| info(&e))?;
            outcome.mount_point().map(str::to_string).ok_or_else(|| ErrorInfo {
                kind: ErrorKind::Internal,
                message: format!("{volume} was unlocked but has no folder its files can be read from; mount it and choose the folder."),
            })
        }))
    }

    fn find_copy_logs(&self, cfg: StorageConfig, drive_id: String) -> Fut<'_, Vec<CopyLogCandidate>> {
        Box::pin(async move {
            let store = store_for(&cfg)?;
            let (container, prefix) = match (&cfg.credential, store.sas_container()) {
                (Credential::ContainerSas(_), Some(c)) => (c.to_string(), SAS_LOG_PREFIX),
                _ => (LOG_CONTAINER.to_string(), LOG_PREFIX),
            };
            let listed = store.list(&container, prefix).await.map_err(|e| info(&EngineError::Storage(e)))?;
            Ok(copy_log_candidates(listed, &drive_id))
        })
    }

    fn download_copy_log(&self, cfg: StorageConfig, log: CopyLogCandidate, dest: PathBuf) -> Fut<'_, PathBuf> {
        Box::pin(async move {
            let store = store_for(&cfg)?;
            let blob = BlobRef { path: format!("{}/{}", log.container, log.name), snapshot: None };
            let storage = |e| info(&EngineError::Storage(e));
            let length = match log.length {
                0 => store.properties(&blob).await.map_err(storage)?.length,
                n => n,
            };
            // Written next to the destination and renamed at the end, so a dropped
            // download never leaves a truncated log that looks complete.
            let part = dest.with_extension("xml.part");
            let mut file = std::fs::File::create(&part).map_err(|e| crate::store::io_error("create", &part, &e))?;
            if length > 0 {
                let mut body = store.read_range(&blob, 0, length, false).await.map_err(storage)?;
                while let Some(chunk) = body.chunks.next().await {
                    let chunk = chunk.map_err(storage)?;
                    file.write_all(&chunk).map_err(|e| crate::store::io_error("write", &part, &e))?;
                }
            }
            file.sync_all().map_err(|e| crate::store::io_error("write", &part, &e))?;
            drop(file);
            std::fs::rename(&part, &dest).map_err(|e| crate::store::io_error("write", &dest, &e))?;
            Ok(dest)
        })
    }

    fn read_copy_log(&self, path: PathBuf) -> Fut<'_, CopyLogInfo> {
        Box::pin(blocking(move || read_copy_log_info(&path)))
    }

    fn manifest_drive_id(&self, path: PathBuf) -> Fut<'_, String> {
        Box::pin(blocking(move || engine::manifest::read_drive_id(&path).map_err(|e| info(&e))))
    }

    fn plan(&self, req: RunRequest) -> Fut<'_, RepairPlan> {
        Box::pin(async move {
            let opts = repair_options(&req, true)?;
            let cfg = req.storage.clone().ok_or_else(|| ErrorInfo {
                kind: ErrorKind::Usage,
                message: "Planning a repair needs the storage account.".into(),
            })?;
            let store = Arc::new(store_for(&cfg)?);
            let reporter = engine::progress::NoReporter;
            let tracker = ProgressTracker::new(&reporter, TRACK_INTERVAL);
            let cancel = CancelToken::new();
            let log = RunLog::disabled();
            let s = run_repair(store, &opts, &tracker, &cancel, &log).await.map_err(|e| info(&e))?;
            let p = &s.plan;
            let mut warnings = Vec::new();
            if p.refused > 0 {
                warnings.push(format!("{} file(s) will not be written because their paths are not safe.", p.refused));
            }
            // A rough estimate: fetching at ~20 MB/s plus reading back at ~100 MB/s.
            let estimated_seconds = p.bytes as f64 / 20e6 + s.bytes_verified as f64 / 100e6;
            Ok(RepairPlan {
                files: p.files,
                ranges: p.ranges + p.whole_blobs,
                bytes_to_fetch: p.bytes,
                bytes_to_verify: s.bytes_verified.max(p.bytes),
                estimated_seconds,
                warnings,
            })
        })
    }

    fn run(&self, req: RunRequest, reporter: Arc<dyn Reporter>, cancel: CancelToken) -> Fut<'_, RunOutcome> {
        Box::pin(async move {
            let secrets = secrets_of(req.storage.as_ref());
            std::fs::create_dir_all(&req.log_dir).map_err(|e| crate::store::io_error("create", &req.log_dir, &e))?;
            let log = RunLog::create(&req.log_dir, &req.drive_id, secrets).map_err(|e| info(&e))?;
            let tracker = ProgressTracker::new(reporter.as_ref(), TRACK_INTERVAL);
            let result = match req.kind {
                RunKind::Verify => {
                    let manifest = req.manifest.clone().ok_or_else(|| ErrorInfo {
                        kind: ErrorKind::Usage,
                        message: "Checking a drive needs its manifest (<DriveId>.manifest at the drive root).".into(),
                    })?;
                    log.info(format!("Verify {} against {}", req.target_dir.display(), manifest.display()));
                    // The verifier is synchronous and uses its own threads; keep it off
                    // the async workers (the runtime is multi-threaded, as in the CLI).
                    tokio::task::block_in_place(|| {
                        verify_drive(&req.target_dir, &manifest, &VerifyOptions::default(), &tracker, &cancel)
                    })
                    .map(|r| {
                        for i in &r.issues {
                            log.warn(format!("{}: {}: {}", i.file_path, i.component, i.problem));
                        }
                        let summary = RunSummary {
                            kind: RunKind::Verify,
                            finished: crate::records::now_ms(),
                            components_checked: r.components_checked,
                            components_repaired: 0,
                            components_failed: r.issues.len() as u64,
                            bytes_fetched: 0,
                            elapsed_seconds: r.elapsed_seconds,
                            issues_file: None,
                            stopped: None,
                        };
                        RunOutcome { summary, remaining: None }
                    })
                }
                RunKind::Repair => {
                    let opts = repair_options(&req, false)?;
                    let cfg = req.storage.clone().ok_or_else(|| ErrorInfo {
                        kind: ErrorKind::Usage,
                        message: "A repair needs the storage account.".into(),
                    })?;
                    if let Some(parent) = req.repair_file.parent() {
                        std::fs::create_dir_all(parent).map_err(|e| crate::store::io_error("create", parent, &e))?;
                    }
                    let store = Arc::new(store_for(&cfg)?);
                    run_repair(store, &opts, &tracker, &cancel, &log)
                        .await
                        .map(|s| RunOutcome { summary: summary_from_repair(&s), remaining: Some(s.issues) })
                }
            };
            result.map_err(|e| {
                log.error(format!("run stopped: {e}"));
                info(&e)
            })
        })
    }
}

fn read_copy_log_info(path: &Path) -> Result<CopyLogInfo, ErrorInfo> {
    let mut reader = engine::copylog::CopyLogReader::open(path).map_err(|e| info(&e))?;
    let mut failed_blobs = 0u64;
    for blob in reader.by_ref() {
        if !blob.map_err(|e| info(&e))?.status.is_ok() {
            failed_blobs += 1;
        }
    }
    let summary = reader.summary();
    if summary.kind == JobKind::Import {
        return Err(info(&EngineError::ImportNotSupported { file: path.to_path_buf(), what: "copy log" }));
    }
    Ok(CopyLogInfo {
        path: path.display().to_string(),
        drive_id: summary.drive_id,
        status: summary.status.map(|s| s.as_str().to_string()),
        failed_blobs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::blobstore::BlobListing;

    fn listing(name: &str) -> BlobListing {
        BlobListing { container: "waimportexport".into(), name: name.into(), length: 10, last_modified: None }
    }

    #[test]
    fn log_names_split_from_the_right_so_job_names_may_hold_underscores() {
        assert_eq!(
            parse_log_name("waies/my_job_9WM35C3U_20240315093012_error.xml"),
            Some(("9WM35C3U".into(), "20240315093012".into(), "error".into()))
        );
        assert_eq!(parse_log_name("waies/readme.txt"), None);
        assert_eq!(parse_log_name("waies/_9WM35C3U_1_error.xml"), None);
    }

    #[test]
    fn candidates_keep_only_the_drive_and_put_the_newest_first() {
        let c = copy_log_candidates(
            vec![
                listing("waies/job_9WM35C3U_20240301120000_error.xml"),
                listing("waies/job_OTHER_20250101000000_error.xml"),
                listing("waies/job_9WM35C3U_20240315093012_verbose.xml"),
            ],
            "9WM35C3U",
        );
        let names: Vec<_> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["waies/job_9WM35C3U_20240315093012_verbose.xml", "waies/job_9WM35C3U_20240301120000_error.xml"]
        );
        assert_eq!(c[0].log_type, "verbose");
    }

    #[test]
    fn a_malformed_recovery_key_is_refused_before_touching_the_volume() {
        let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let err = rt
            .block_on(RealEngine.unlock_volume("/dev/does-not-exist".into(), Secret::new("123456-1")))
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::BitLockerKeyMalformed);
        assert!(!err.message.contains("123456"), "{}", err.message);
    }
}
