//! The operations the app needs from the engine, behind one trait, so that the
//! commands and the UI do not change when the engine's functions arrive.
//!
//! - [`crate::engine_real::RealEngine`] is what the app uses: the engine itself.
//! - [`Unwired`] answers every operation with "not available in this build"; nothing
//!   chooses it today (phase 1 did), it is kept for a build without the engine.
//! - [`crate::simulate::Simulated`] stands in for the engine only when
//!   `DRIVE_REPAIR_SIMULATE=1` is set (UI development); the UI then shows a banner
//!   saying no real drive or account is used.

use crate::records::{BitLockerState, RunKind, RunSummary};
use engine::blobstore::StorageConfig;
use engine::error::{ErrorInfo, ErrorKind};
use engine::progress::{CancelToken, Reporter};
use engine::secret::Secret;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use ts_rs::TS;

pub type Fut<'a, T> = Pin<Box<dyn Future<Output = Result<T, ErrorInfo>> + Send + 'a>>;

/// A volume the app found that may be an export drive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DetectedDrive {
    /// Mount point or drive letter; for a locked volume, the device.
    pub volume: String,
    pub label: Option<String>,
    #[ts(type = "number")]
    pub size_bytes: u64,
    pub bitlocker: BitLockerState,
    /// The DriveId of the export manifest found at the volume root, if any.
    pub drive_id: Option<String>,
    pub manifest_path: Option<String>,
}

/// A copy log found in the storage account for a DriveId.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CopyLogCandidate {
    pub container: String,
    pub name: String,
    pub drive_id: String,
    /// `error` or `verbose` (from the name).
    pub log_type: String,
    #[ts(type = "number")]
    pub length: u64,
    pub last_modified: Option<String>,
}

/// What the app read from a copy log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CopyLogInfo {
    pub path: String,
    pub drive_id: String,
    /// The drive status word at the end of the log, e.g. `CompletedWithErrors`.
    pub status: Option<String>,
    #[ts(type = "number")]
    pub failed_blobs: u64,
}

/// The dry run shown on the Review step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RepairPlan {
    #[ts(type = "number")]
    pub files: u64,
    #[ts(type = "number")]
    pub ranges: u64,
    #[ts(type = "number")]
    pub bytes_to_fetch: u64,
    #[ts(type = "number")]
    pub bytes_to_verify: u64,
    pub estimated_seconds: f64,
    /// Things the user should know before starting (e.g. blobs that changed).
    pub warnings: Vec<String>,
}

/// Everything a verification or repair run needs; paths already validated.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub kind: RunKind,
    pub drive_id: String,
    pub target_dir: PathBuf,
    pub manifest: Option<PathBuf>,
    pub copy_log: Option<PathBuf>,
    pub repair_file: PathBuf,
    pub log_dir: PathBuf,
    /// Present for repairs; verification needs no account.
    pub storage: Option<StorageConfig>,
}

pub trait EngineOps: Send + Sync {
    fn test_connection(&self, cfg: StorageConfig) -> Fut<'_, ()>;
    fn detect_drives(&self) -> Fut<'_, Vec<DetectedDrive>>;
    /// Unlocks a BitLocker volume; returns where its files can be read.
    fn unlock_volume(&self, volume: String, key: Secret) -> Fut<'_, String>;
    fn find_copy_logs(&self, cfg: StorageConfig, drive_id: String) -> Fut<'_, Vec<CopyLogCandidate>>;
    fn download_copy_log(&self, cfg: StorageConfig, log: CopyLogCandidate, dest: PathBuf) -> Fut<'_, PathBuf>;
    fn read_copy_log(&self, path: PathBuf) -> Fut<'_, CopyLogInfo>;
    /// The DriveId a manifest names.
    fn manifest_drive_id(&self, path: PathBuf) -> Fut<'_, String>;
    fn plan(&self, req: RunRequest) -> Fut<'_, RepairPlan>;
    /// Runs a verification or repair to the end, reporting as it goes. Cancellation
    /// and pause come through `cancel`.
    fn run(&self, req: RunRequest, reporter: Arc<dyn Reporter>, cancel: CancelToken) -> Fut<'_, RunOutcome>;
}

/// How a run ended.
pub struct RunOutcome {
    pub summary: RunSummary,
    /// What is still bad at the end, when that differs from the issues reported during
    /// the run: a repair's verify pass reports damage that the repair then fixes.
    /// `None`: the reported issues are the final ones (a verification).
    pub remaining: Option<Vec<engine::model::ComponentIssue>>,
}

/// The engine operations of a build that does not include them yet.
pub struct Unwired;

fn not_in_this_build(what: &str) -> ErrorInfo {
    ErrorInfo {
        kind: ErrorKind::Unsupported,
        message: format!("{what} is not available in this build of Drive Repair yet."),
    }
}

fn ready<'a, T: Send + 'a>(r: Result<T, ErrorInfo>) -> Fut<'a, T> {
    Box::pin(async move { r })
}

impl EngineOps for Unwired {
    fn test_connection(&self, _: StorageConfig) -> Fut<'_, ()> {
        ready(Err(not_in_this_build("Testing the connection to a storage account")))
    }
    fn detect_drives(&self) -> Fut<'_, Vec<DetectedDrive>> {
        ready(Err(not_in_this_build("Detecting export drives")))
    }
    fn unlock_volume(&self, _: String, _: Secret) -> Fut<'_, String> {
        ready(Err(not_in_this_build("Unlocking BitLocker volumes")))
    }
    fn find_copy_logs(&self, _: StorageConfig, _: String) -> Fut<'_, Vec<CopyLogCandidate>> {
        ready(Err(not_in_this_build("Finding copy logs in the storage account")))
    }
    fn download_copy_log(&self, _: StorageConfig, _: CopyLogCandidate, _: PathBuf) -> Fut<'_, PathBuf> {
        ready(Err(not_in_this_build("Downloading copy logs")))
    }
    fn read_copy_log(&self, _: PathBuf) -> Fut<'_, CopyLogInfo> {
        ready(Err(not_in_this_build("Reading copy logs")))
    }
    fn manifest_drive_id(&self, _: PathBuf) -> Fut<'_, String> {
        ready(Err(not_in_this_build("Reading drive manifests")))
    }
    fn plan(&self, _: RunRequest) -> Fut<'_, RepairPlan> {
        ready(Err(not_in_this_build("Planning a repair")))
    }
    fn run(&self, req: RunRequest, _: Arc<dyn Reporter>, _: CancelToken) -> Fut<'_, RunOutcome> {
        ready(Err(not_in_this_build(match req.kind {
            RunKind::Verify => "Verifying a drive",
            RunKind::Repair => "Repairing a drive",
        })))
    }
}
