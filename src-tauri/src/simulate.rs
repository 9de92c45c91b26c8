//! A stand-in for the engine, switched on only by `DRIVE_REPAIR_SIMULATE=1`: it lets
//! the UI be developed in a real window (progress, pause, cancel, results) without a
//! drive or a storage account. The UI shows a banner while it is on.
//! It touches no drive and no network; everything it reports is made up and says so.

use crate::engine_ops::*;
use crate::records::{BitLockerState, RunKind, RunSummary};
use crate::validate::{recovery_key, KeyCheck};
use engine::blobstore::StorageConfig;
use engine::error::{ErrorInfo, ErrorKind};
use engine::model::{BlobRef, Component, ComponentIssue, Problem};
use engine::progress::{CancelToken, Event, Phase, ProgressTracker, Reporter};
use engine::secret::Secret;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub struct Simulated {
    /// How long a simulated run takes.
    pub run_seconds: f64,
}

/// The key that "unlocks" the simulated locked drive: Microsoft's published example.
pub const SIMULATED_KEY: &str = "238810-662376-448998-450120-652806-203390-606320-483076";

const GIB: u64 = 1 << 30;

/// A real folder with a manifest named by its DriveId, so that the rest of the app
/// (folder inspection, path checks) works on it unchanged.
fn sim_volume(name: &str, drive_id: &str) -> Result<(String, String), ErrorInfo> {
    let dir = std::env::temp_dir().join("drive-repair-sim").join(name);
    std::fs::create_dir_all(&dir).map_err(|e| crate::store::io_error("create", &dir, &e))?;
    let manifest = dir.join(format!("{drive_id}.manifest"));
    if !manifest.exists() {
        let text = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- simulated drive -->\n<DriveManifest Version=\"2014-11-01\"><Drive><DriveId>{drive_id}</DriveId></Drive></DriveManifest>\n"
        );
        std::fs::write(&manifest, text).map_err(|e| crate::store::io_error("write", &manifest, &e))?;
    }
    Ok((dir.display().to_string(), manifest.display().to_string()))
}

impl EngineOps for Simulated {
    fn test_connection(&self, cfg: StorageConfig) -> Fut<'_, ()> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if cfg.account.starts_with("unreachable") {
                return Err(ErrorInfo {
                    kind: ErrorKind::StorageUnreachable,
                    message: format!("storage account not accessible ({}): simulated", cfg.endpoint_url()),
                });
            }
            Ok(())
        })
    }

    fn detect_drives(&self) -> Fut<'_, Vec<DetectedDrive>> {
        Box::pin(async move {
            let (volume, manifest) = sim_volume("SIMDRIVE1", "SIM9WM35C3U")?;
            Ok(vec![
                DetectedDrive {
                    volume,
                    label: Some("EXPORT1".into()),
                    size_bytes: 4000 * GIB,
                    bitlocker: BitLockerState::Unlocked,
                    drive_id: Some("SIM9WM35C3U".into()),
                    manifest_path: Some(manifest),
                },
                DetectedDrive {
                    volume: "/dev/sim-locked".into(),
                    label: None,
                    size_bytes: 2000 * GIB,
                    bitlocker: BitLockerState::Locked,
                    drive_id: None,
                    manifest_path: None,
                },
            ])
        })
    }

    fn unlock_volume(&self, _volume: String, key: Secret) -> Fut<'_, String> {
        Box::pin(async move {
            match recovery_key(key.expose()) {
                KeyCheck::RecoveryPassword | KeyCheck::Base64Key => {}
                _ => {
                    return Err(ErrorInfo {
                        kind: ErrorKind::BitLockerKeyMalformed,
                        message: "the recovery key is not 8 groups of 6 digits".into(),
                    })
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            if key.expose().replace('-', "") != SIMULATED_KEY.replace('-', "") {
                return Err(ErrorInfo {
                    kind: ErrorKind::BitLockerKeyInvalid,
                    message: "the key does not unlock this volume (simulated)".into(),
                });
            }
            Ok(sim_volume("SIMDRIVE2", "SIMLOCKED01")?.0)
        })
    }

    fn find_copy_logs(&self, _: StorageConfig, drive_id: String) -> Fut<'_, Vec<CopyLogCandidate>> {
        Box::pin(async move {
            Ok(vec![
                CopyLogCandidate {
                    container: "waimportexport".into(),
                    name: format!("waies/simjob_{drive_id}_20240315093012_error.xml"),
                    drive_id: drive_id.clone(),
                    log_type: "error".into(),
                    length: 48_213,
                    last_modified: Some("2024-03-15T09:30:12Z".into()),
                },
                CopyLogCandidate {
                    container: "waimportexport".into(),
                    name: format!("waies/simjob_{drive_id}_20240301120000_error.xml"),
                    drive_id,
                    log_type: "error".into(),
                    length: 1_024,
                    last_modified: Some("2024-03-01T12:00:00Z".into()),
                },
            ])
        })
    }

    fn download_copy_log(&self, _: StorageConfig, log: CopyLogCandidate, dest: PathBuf) -> Fut<'_, PathBuf> {
        Box::pin(async move {
            let text = format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- simulated copy log -->\n<DriveLog Version=\"2014-11-01\">\n  <DriveId>{}</DriveId>\n  <Status>CompletedWithErrors</Status>\n</DriveLog>\n",
                log.drive_id
            );
            std::fs::write(&dest, text).map_err(|e| crate::store::io_error("write", &dest, &e))?;
            Ok(dest)
        })
    }

    fn read_copy_log(&self, path: PathBuf) -> Fut<'_, CopyLogInfo> {
        Box::pin(async move {
            let text = std::fs::read_to_string(&path).map_err(|e| crate::store::io_error("read", &path, &e))?;
            let between = |open: &str, close: &str| {
                let a = text.find(open)? + open.len();
                let b = text[a..].find(close)? + a;
                Some(text[a..b].trim().to_string())
            };
            let drive_id = between("<DriveId>", "</DriveId>").ok_or_else(|| ErrorInfo {
                kind: ErrorKind::MalformedInput,
                message: format!("{}: no <DriveId> element (simulated reader)", path.display()),
            })?;
            Ok(CopyLogInfo {
                path: path.display().to_string(),
                drive_id,
                status: between("<Status>", "</Status>"),
                failed_blobs: 12,
            })
        })
    }

    fn manifest_drive_id(&self, path: PathBuf) -> Fut<'_, String> {
        Box::pin(async move {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .ok_or_else(|| ErrorInfo { kind: ErrorKind::MalformedInput, message: "no manifest name".into() })
        })
    }

    fn plan(&self, _req: RunRequest) -> Fut<'_, RepairPlan> {
        let secs = self.run_seconds;
        Box::pin(async move {
            Ok(RepairPlan {
                files: 12,
                ranges: 37,
                bytes_to_fetch: 148 * (1 << 20),
                bytes_to_verify: 2 * GIB,
                estimated_seconds: secs,
                warnings: vec![],
            })
        })
    }

    fn run(&self, req: RunRequest, reporter: Arc<dyn Reporter>, cancel: CancelToken) -> Fut<'_, RunOutcome> {
        let secs = self.run_seconds.max(0.5);
        Box::pin(async move {
            let tracker = ProgressTracker::new(reporter.as_ref(), Duration::from_millis(20));
            let steps: u64 = 200;
            let total: u64 = 2 * GIB;
            let components: u64 = 400;
            let phase = match req.kind {
                RunKind::Verify => Phase::Verifying,
                RunKind::Repair => Phase::Fetching,
            };
            tracker.start_phase(phase, total, components);
            let mut failed = 0;
            for i in 1..=steps {
                if let Err(e) = cancel.checkpoint_async().await {
                    return Err(ErrorInfo::from(&e));
                }
                tokio::time::sleep(Duration::from_secs_f64(secs / steps as f64)).await;
                tracker.set_current_file(Some(&format!("\\pictures\\sim\\photo{:04}.jpg", i / 10)));
                tracker.counters.add_bytes(total / steps);
                tracker.counters.add_done(components / steps);
                if i % 50 == 0 {
                    failed += 1;
                    tracker.counters.add_failed(1);
                    tracker.event(Event::Issue {
                        issue: ComponentIssue {
                            blob: BlobRef { path: format!("pictures/sim/photo{:04}.jpg", i / 10), snapshot: None },
                            file_path: format!("\\pictures\\sim\\photo{:04}.jpg", i / 10),
                            component: Component::Block { offset: i * 4 * (1 << 20), length: 4 << 20 },
                            problem: Problem::BlobChanged { detail: "simulated: the blob changed after the export".into() },
                        },
                    });
                }
                tracker.tick();
            }
            let elapsed_seconds = tracker.snapshot().elapsed_seconds;
            tracker.start_phase(Phase::Done, total, components);
            let summary = RunSummary {
                kind: req.kind,
                finished: crate::records::now_ms(),
                components_checked: components,
                components_repaired: if req.kind == RunKind::Repair { components / 10 } else { 0 },
                components_failed: failed,
                bytes_fetched: if req.kind == RunKind::Repair { 148 << 20 } else { 0 },
                elapsed_seconds,
                issues_file: None,
                stopped: None,
            };
            // The simulated issues are never fixed: the reported ones are final.
            Ok(RunOutcome { summary, remaining: None })
        })
    }
}
