//! Demo mode: `DRIVE_REPAIR_DEMO=<dir>` (or `--demo <dir>`) points at a folder holding
//! a generated demo drive, its copy log and a description of the Azurite endpoint that
//! serves its blobs. The app then pre-fills a demo job, marked as demo data in the UI.
//!
//! `<dir>/demo.json`:
//! ```json
//! { "job_name": "Demo export", "storage_account": "devstoreaccount1",
//!   "endpoint": "http://127.0.0.1:10000/devstoreaccount1",
//!   "auth": "Key", "secret": "<Azurite's published development key>",
//!   "drives": [ { "drive_id": "DEMO0001", "volume": "drive", "manifest": "drive/DEMO0001.manifest",
//!                 "copy_log": "logs/demo_DEMO0001_20240101000000_error.xml" } ] }
//! ```
//! Relative paths are relative to `<dir>`. The secret is kept for the session only.

use crate::records::{now_ms, AuthKind, BitLockerState, DriveRecord, JobRecord, LocalState};
use crate::secrets::Secrets;
use crate::store::Store;
use crate::validate;
use engine::error::{ErrorInfo, ErrorKind};
use engine::secret::Secret;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use ts_rs::TS;

pub const DEMO_JOB_ID: &str = "demo";

#[derive(Debug, Deserialize)]
struct DemoFile {
    job_name: String,
    storage_account: String,
    endpoint: Option<String>,
    auth: AuthKind,
    secret: Option<String>,
    drives: Vec<DemoDrive>,
}

#[derive(Debug, Deserialize)]
struct DemoDrive {
    drive_id: String,
    volume: String,
    manifest: Option<String>,
    copy_log: Option<String>,
}

/// What the UI shows about demo mode.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct DemoInfo {
    pub folder: String,
    /// Set when the demo folder could not be loaded.
    pub error: Option<String>,
}

/// The demo folder from `--demo <dir>` or `DRIVE_REPAIR_DEMO`.
pub fn demo_dir_from(args: &[String], env: Option<String>) -> Option<PathBuf> {
    args.iter()
        .position(|a| a == "--demo")
        .and_then(|i| args.get(i + 1).cloned())
        .or(env)
        .filter(|s| !s.trim().is_empty())
        .map(PathBuf::from)
}

fn bad(dir: &Path, what: impl std::fmt::Display) -> ErrorInfo {
    ErrorInfo {
        kind: ErrorKind::MalformedInput,
        message: format!("demo folder {}: {what}", dir.display()),
    }
}

/// Loads the demo job into the store (replacing an earlier demo job) and its secret
/// into the session.
pub fn load(dir: &Path, store: &mut Store, secrets: &Secrets) -> Result<(), ErrorInfo> {
    let file = dir.join("demo.json");
    let text = std::fs::read_to_string(&file).map_err(|e| crate::store::io_error("read", &file, &e))?;
    let demo: DemoFile = serde_json::from_str(&text).map_err(|e| bad(dir, format!("demo.json: {e}")))?;
    let name = validate::job_name(&demo.job_name)?;
    let account = validate::storage_account(&demo.storage_account)?;
    let endpoint = validate::endpoint(demo.endpoint.as_deref())?;
    let resolve = |p: &str| -> Result<String, ErrorInfo> {
        let path = dir.join(p);
        if !path.exists() {
            return Err(bad(dir, format!("{} does not exist", path.display())));
        }
        Ok(path.display().to_string())
    };
    let mut drives = Vec::new();
    for d in &demo.drives {
        let drive_id = validate::drive_id(&d.drive_id)?;
        drives.push(DriveRecord {
            volume: Some(resolve(&d.volume)?),
            volume_label: Some("DEMO".into()),
            bitlocker: BitLockerState::NotEncrypted,
            manifest_path: d.manifest.as_deref().map(resolve).transpose()?,
            copy_log_path: d.copy_log.as_deref().map(resolve).transpose()?,
            copy_log_status: None,
            local_state: LocalState::NotChecked,
            percent_done: 0.0,
            bad_components: 0,
            repair_file: store.repair_file_for(&drive_id).display().to_string(),
            log_dir: store.log_dir_for(&drive_id).display().to_string(),
            last_report: None,
            interrupted: false,
            updated: now_ms(),
            job_id: DEMO_JOB_ID.into(),
            drive_id,
        });
    }
    let now = now_ms();
    // A demo job from an earlier start keeps its drives' progress.
    let kept: Vec<DriveRecord> = store.drives_of(DEMO_JOB_ID).into_iter().cloned().collect();
    store.remove_job(DEMO_JOB_ID)?;
    store.insert_job(JobRecord {
        id: DEMO_JOB_ID.into(),
        name,
        storage_account: account,
        endpoint,
        auth: demo.auth,
        container: None,
        remember_secret: false,
        created: now,
        last_activity: now,
        demo: true,
    })?;
    for mut d in drives {
        if let Some(old) = kept.iter().find(|o| o.drive_id == d.drive_id) {
            d.local_state = old.local_state.clone();
            d.percent_done = old.percent_done;
            d.bad_components = old.bad_components;
            d.last_report = old.last_report.clone();
            d.interrupted = old.interrupted;
            d.copy_log_status = old.copy_log_status.clone();
        }
        store.upsert_drive(d)?;
    }
    if let Some(s) = demo.secret.filter(|s| !s.trim().is_empty()) {
        secrets.set(DEMO_JOB_ID, Secret::new(s.trim()), false);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::tests::MemoryStore;

    #[test]
    fn flag_wins_over_environment() {
        let args = vec!["app".to_string(), "--demo".into(), "/a".into()];
        assert_eq!(demo_dir_from(&args, Some("/b".into())), Some(PathBuf::from("/a")));
        assert_eq!(demo_dir_from(&[], Some("/b".into())), Some(PathBuf::from("/b")));
        assert_eq!(demo_dir_from(&[], Some(" ".into())), None);
    }

    #[test]
    fn demo_folder_becomes_a_demo_job_with_a_session_secret() {
        let demo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(demo.path().join("drive")).unwrap();
        std::fs::write(demo.path().join("drive/DEMO0001.manifest"), "<DriveManifest/>").unwrap();
        std::fs::write(
            demo.path().join("demo.json"),
            r#"{"job_name":"Demo export","storage_account":"devstoreaccount1",
                "endpoint":"http://127.0.0.1:10000/devstoreaccount1","auth":"Key","secret":"c2VjcmV0",
                "drives":[{"drive_id":"DEMO0001","volume":"drive","manifest":"drive/DEMO0001.manifest"}]}"#,
        )
        .unwrap();
        let data = tempfile::tempdir().unwrap();
        let mut store = Store::open(data.path()).unwrap();
        let mem = std::sync::Arc::new(MemoryStore::default());
        let secrets = Secrets::new(Box::new(mem.clone()));
        load(demo.path(), &mut store, &secrets).unwrap();
        let job = store.job(DEMO_JOB_ID).unwrap();
        assert!(job.demo);
        assert_eq!(store.drives_of(DEMO_JOB_ID).len(), 1);
        assert!(secrets.in_session(DEMO_JOB_ID));
        assert!(mem.items.lock().unwrap().is_empty(), "demo secret must not be remembered");
        let saved = std::fs::read_to_string(data.path().join("state.json")).unwrap();
        assert!(!saved.contains("c2VjcmV0"), "secret reached the state file");
        // Loading twice keeps one demo job.
        load(demo.path(), &mut store, &secrets).unwrap();
        assert_eq!(store.jobs().len(), 1);
    }

    #[test]
    fn missing_demo_paths_are_reported() {
        let demo = tempfile::tempdir().unwrap();
        std::fs::write(
            demo.path().join("demo.json"),
            r#"{"job_name":"Demo","storage_account":"devstoreaccount1","auth":"Key",
                "drives":[{"drive_id":"DEMO0001","volume":"nowhere"}]}"#,
        )
        .unwrap();
        let data = tempfile::tempdir().unwrap();
        let mut store = Store::open(data.path()).unwrap();
        let secrets = Secrets::new(Box::new(std::sync::Arc::new(MemoryStore::default())));
        let e = load(demo.path(), &mut store, &secrets).unwrap_err();
        assert!(e.message.contains("does not exist"), "{}", e.message);
    }
}
