//! The app-level records the desktop app keeps between runs: export jobs and their
//! drives. They cross to the UI (ts-rs writes their TypeScript mirrors into
//! `ui/src/bindings/`), and they are persisted by [`crate::store`].
//!
//! A job never holds its secret (account key or SAS): secrets live in
//! [`crate::secrets`], in memory, or in the OS credential store if the user asked.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// How the app authenticates to the storage account. The secret itself is not here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub enum AuthKind {
    /// The storage account key.
    Key,
    /// A container SAS (query string or full container URL).
    Sas,
}

/// One export job, as the user named it in the app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct JobRecord {
    pub id: String,
    pub name: String,
    pub storage_account: String,
    /// Overrides `https://<account>.blob.core.windows.net` (other clouds, Azurite).
    pub endpoint: Option<String>,
    pub auth: AuthKind,
    /// With a SAS token that does not name its container (not a full URL): the
    /// container it is for.
    #[serde(default)]
    pub container: Option<String>,
    /// The user asked to keep the secret in the OS credential store.
    pub remember_secret: bool,
    /// Milliseconds since the Unix epoch.
    #[ts(type = "number")]
    pub created: u64,
    #[ts(type = "number")]
    pub last_activity: u64,
    /// Loaded from a demo folder (`DRIVE_REPAIR_DEMO`): the UI marks it as demo data.
    #[serde(default)]
    pub demo: bool,
}

/// The engine's BitLocker state words are the app's too (one TS type, not two).
pub use engine::bitlocker::BitLockerState;

/// Where the app stands with a drive, in the words of the drives table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
#[serde(tag = "state")]
pub enum LocalState {
    NotChecked,
    Checking { percent: f64 },
    NeedsRepair,
    Repairing { percent: f64 },
    RepairedVerified,
    /// Something is still bad and the app cannot fix it by itself; the last report says what.
    NeedsAttention,
}

impl LocalState {
    /// A run was under way; if the app finds this at start-up, the run was interrupted.
    pub fn is_running(&self) -> bool {
        matches!(self, LocalState::Checking { .. } | LocalState::Repairing { .. })
    }
}

/// The outcome of the last verification or repair of a drive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RunSummary {
    pub kind: RunKind,
    #[ts(type = "number")]
    pub finished: u64,
    #[ts(type = "number")]
    pub components_checked: u64,
    #[ts(type = "number")]
    pub components_repaired: u64,
    /// Components still bad at the end.
    #[ts(type = "number")]
    pub components_failed: u64,
    #[ts(type = "number")]
    pub bytes_fetched: u64,
    pub elapsed_seconds: f64,
    /// Where the full list of remaining issues was written (JSON lines), if any.
    pub issues_file: Option<String>,
    /// The run stopped early (cancelled or failed); what stopped it.
    pub stopped: Option<engine::error::ErrorInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub enum RunKind {
    Verify,
    Repair,
}

/// One drive of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DriveRecord {
    /// The drive's serial number as the manifest and copy log give it.
    pub drive_id: String,
    pub job_id: String,
    /// Where the drive's volume is mounted, or the folder the user chose.
    pub volume: Option<String>,
    pub volume_label: Option<String>,
    pub bitlocker: BitLockerState,
    pub copy_log_path: Option<String>,
    pub manifest_path: Option<String>,
    /// The copy log's drive status word (FORMATS.md §2), e.g. `CompletedWithErrors`.
    pub copy_log_status: Option<String>,
    pub local_state: LocalState,
    pub percent_done: f64,
    #[ts(type = "number")]
    pub bad_components: u64,
    /// One repair file per drive, named by DriveId, in the app data directory.
    pub repair_file: String,
    pub log_dir: String,
    pub last_report: Option<RunSummary>,
    /// A run was under way when the app last stopped: the UI offers to resume it.
    #[serde(default)]
    pub interrupted: bool,
    #[ts(type = "number")]
    pub updated: u64,
}

/// A job with what the jobs table shows about its drives.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct JobSummary {
    pub job: JobRecord,
    #[ts(type = "number")]
    pub drive_count: u64,
    /// The local state that matters most across the job's drives (see [`job_state`]).
    pub state: JobState,
    /// Mean of the drives' `percent_done`, 0 when there are no drives.
    pub progress_percent: f64,
    /// Whether the app holds the job's secret (this session, or remembered).
    pub has_secret: bool,
}

/// A job's state, rolled up from its drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub enum JobState {
    NoDrives,
    NotChecked,
    InProgress,
    NeedsRepair,
    NeedsAttention,
    AllRepairedVerified,
}

/// Rolls drive states up into one job state: anything running wins, then anything the
/// user must look at, then anything left to repair.
pub fn job_state(drives: &[&DriveRecord]) -> JobState {
    if drives.is_empty() {
        return JobState::NoDrives;
    }
    let any = |f: &dyn Fn(&LocalState) -> bool| drives.iter().any(|d| f(&d.local_state));
    if any(&|s| s.is_running()) {
        JobState::InProgress
    } else if any(&|s| matches!(s, LocalState::NeedsAttention)) {
        JobState::NeedsAttention
    } else if any(&|s| matches!(s, LocalState::NeedsRepair)) {
        JobState::NeedsRepair
    } else if drives.iter().all(|d| d.local_state == LocalState::RepairedVerified) {
        JobState::AllRepairedVerified
    } else {
        JobState::NotChecked
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn drive(id: &str, state: LocalState) -> DriveRecord {
        DriveRecord {
            drive_id: id.into(),
            job_id: "j1".into(),
            volume: None,
            volume_label: None,
            bitlocker: BitLockerState::Unknown,
            copy_log_path: None,
            manifest_path: None,
            copy_log_status: None,
            local_state: state,
            percent_done: 0.0,
            bad_components: 0,
            repair_file: format!("/data/repair/{id}.repair"),
            log_dir: format!("/data/logs/{id}"),
            last_report: None,
            interrupted: false,
            updated: 0,
        }
    }

    #[test]
    fn job_state_prefers_running_then_attention_then_repair() {
        let a = drive("A", LocalState::RepairedVerified);
        let b = drive("B", LocalState::NeedsRepair);
        let c = drive("C", LocalState::NeedsAttention);
        let d = drive("D", LocalState::Repairing { percent: 10.0 });
        assert_eq!(job_state(&[]), JobState::NoDrives);
        assert_eq!(job_state(&[&a]), JobState::AllRepairedVerified);
        assert_eq!(job_state(&[&a, &b]), JobState::NeedsRepair);
        assert_eq!(job_state(&[&a, &b, &c]), JobState::NeedsAttention);
        assert_eq!(job_state(&[&a, &b, &c, &d]), JobState::InProgress);
        let n = drive("N", LocalState::NotChecked);
        assert_eq!(job_state(&[&a, &n]), JobState::NotChecked);
    }

    #[test]
    fn local_state_serialises_with_a_tag_for_the_ui() {
        let s = serde_json::to_string(&LocalState::Checking { percent: 37.0 }).unwrap();
        assert_eq!(s, r#"{"state":"Checking","percent":37.0}"#);
    }
}
