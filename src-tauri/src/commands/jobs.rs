//! Jobs, their drives, and their secrets.

use super::{scrub, CmdResult};
use crate::records::*;
use crate::secrets::SecretStatus;
use crate::validate::{self, usage};
use crate::AppState;
use engine::secret::Secret;
use serde::Deserialize;
use tauri::State;
use ts_rs::TS;

/// The Job step's form.
#[derive(Debug, Clone, Deserialize, TS)]
#[ts(export)]
pub struct JobInput {
    pub name: String,
    pub storage_account: String,
    pub endpoint: Option<String>,
    pub auth: AuthKind,
    /// The account key or SAS; kept in memory, never in the job record.
    pub secret: String,
    /// The container of a bare SAS token (a SAS URL names its own).
    #[serde(default)]
    pub container: Option<String>,
    pub remember: bool,
}

/// A job as created, with where its secret ended up.
#[derive(Debug, Clone, serde::Serialize, TS)]
#[ts(export)]
pub struct CreatedJob {
    pub job: JobRecord,
    pub secret: SecretStatus,
}

#[tauri::command]
pub async fn list_jobs(state: State<'_, AppState>) -> CmdResult<Vec<JobSummary>> {
    let store = state.store.lock().unwrap();
    let mut out: Vec<JobSummary> = store
        .jobs()
        .iter()
        .map(|job| {
            let drives = store.drives_of(&job.id);
            let progress = if drives.is_empty() {
                0.0
            } else {
                drives.iter().map(|d| d.percent_done).sum::<f64>() / drives.len() as f64
            };
            JobSummary {
                drive_count: drives.len() as u64,
                state: job_state(&drives),
                progress_percent: progress,
                has_secret: state.secrets.in_session(&job.id) || job.remember_secret,
                job: job.clone(),
            }
        })
        .collect();
    out.sort_by_key(|j| std::cmp::Reverse(j.job.last_activity));
    Ok(out)
}

fn new_job_id() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("{n:016x}")
}

#[tauri::command]
pub async fn create_job(state: State<'_, AppState>, input: JobInput) -> CmdResult<CreatedJob> {
    let name = validate::job_name(&input.name)?;
    let account = validate::storage_account(&input.storage_account)?;
    let endpoint = validate::endpoint(input.endpoint.as_deref())?;
    let secret = validate::secret(input.auth, &input.secret)?;
    let container = validate::sas_container(input.auth, &secret, input.container.as_deref())?;
    let now = now_ms();
    let job = JobRecord {
        id: new_job_id(),
        name,
        storage_account: account,
        endpoint,
        auth: input.auth,
        container,
        remember_secret: input.remember,
        created: now,
        last_activity: now,
        demo: false,
    };
    let status = state.secrets.set(&job.id, Secret::new(secret), input.remember);
    let mut job = job;
    job.remember_secret = status.remembered;
    state.store.lock().unwrap().insert_job(job.clone())?;
    Ok(CreatedJob { job, secret: status })
}

/// The id of the job that holds drives checked without a storage account (Verify only).
pub const LOCAL_JOB_ID: &str = "local";

/// Returns the job for drives checked without an account, creating it if needed. Its
/// name is empty: the UI shows it in the user's language.
#[tauri::command]
pub async fn ensure_local_job(state: State<'_, AppState>) -> CmdResult<JobRecord> {
    let mut store = state.store.lock().unwrap();
    if let Some(j) = store.job(LOCAL_JOB_ID) {
        return Ok(j.clone());
    }
    let now = now_ms();
    let job = JobRecord {
        id: LOCAL_JOB_ID.into(),
        name: String::new(),
        storage_account: String::new(),
        endpoint: None,
        auth: AuthKind::Key,
        container: None,
        remember_secret: false,
        created: now,
        last_activity: now,
        demo: false,
    };
    store.insert_job(job.clone())?;
    Ok(job)
}

#[tauri::command]
pub async fn delete_job(state: State<'_, AppState>, job_id: String) -> CmdResult<bool> {
    let job_id = validate::job_id(&job_id)?;
    if state.runs.lock().unwrap().keys().any(|(j, _)| j == job_id) {
        return Err(usage("Stop the running check or repair of this job first."));
    }
    let _ = state.secrets.forget(job_id);
    state.store.lock().unwrap().remove_job(job_id)
}

#[tauri::command]
pub async fn list_drives(state: State<'_, AppState>, job_id: String) -> CmdResult<Vec<DriveRecord>> {
    let job_id = validate::job_id(&job_id)?;
    let store = state.store.lock().unwrap();
    store.job(job_id).ok_or_else(|| usage("unknown job"))?;
    Ok(store.drives_of(job_id).into_iter().cloned().collect())
}

/// The Drive step's choice.
#[derive(Debug, Clone, Deserialize, TS)]
#[ts(export)]
pub struct DriveInput {
    pub job_id: String,
    pub drive_id: String,
    pub volume: String,
    pub volume_label: Option<String>,
    pub bitlocker: BitLockerState,
    pub manifest_path: Option<String>,
    pub copy_log_path: Option<String>,
    pub copy_log_status: Option<String>,
}

/// Adds a drive to a job, or updates it (same DriveId) keeping its progress.
#[tauri::command]
pub async fn add_drive(state: State<'_, AppState>, input: DriveInput) -> CmdResult<DriveRecord> {
    let job_id = validate::job_id(&input.job_id)?.to_string();
    let drive_id = validate::drive_id(&input.drive_id)?;
    let existing_path = |p: &Option<String>, what: &str| -> CmdResult<Option<String>> {
        match p.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(p) if std::path::Path::new(p).exists() => Ok(Some(p.to_string())),
            Some(p) => Err(usage(format!("The {what} {p} does not exist."))),
        }
    };
    let manifest_path = existing_path(&input.manifest_path, "manifest")?;
    let copy_log_path = existing_path(&input.copy_log_path, "copy log")?;
    if input.volume.trim().is_empty() || input.volume.len() > 4096 {
        return Err(usage("Choose the drive or folder to check."));
    }
    let copy_log_status = input
        .copy_log_status
        .map(|s| engine::status::DriveStatus::parse(&s).to_string());
    let mut store = state.store.lock().unwrap();
    store.job(&job_id).ok_or_else(|| usage("unknown job"))?;
    let previous = store.drive(&job_id, &drive_id).cloned();
    let record = DriveRecord {
        repair_file: store.repair_file_for(&drive_id).display().to_string(),
        log_dir: store.log_dir_for(&drive_id).display().to_string(),
        job_id,
        volume: Some(input.volume.trim().to_string()),
        volume_label: input.volume_label,
        bitlocker: input.bitlocker,
        manifest_path,
        copy_log_path,
        copy_log_status: copy_log_status.or(previous.as_ref().and_then(|p| p.copy_log_status.clone())),
        local_state: previous.as_ref().map(|p| p.local_state.clone()).unwrap_or(LocalState::NotChecked),
        percent_done: previous.as_ref().map(|p| p.percent_done).unwrap_or(0.0),
        bad_components: previous.as_ref().map(|p| p.bad_components).unwrap_or(0),
        last_report: previous.as_ref().and_then(|p| p.last_report.clone()),
        interrupted: previous.as_ref().is_some_and(|p| p.interrupted),
        updated: now_ms(),
        drive_id,
    };
    store.upsert_drive(record.clone())?;
    Ok(record)
}

#[tauri::command]
pub async fn remove_drive(state: State<'_, AppState>, job_id: String, drive_id: String) -> CmdResult<bool> {
    let job_id = validate::job_id(&job_id)?.to_string();
    let drive_id = validate::drive_id(&drive_id)?;
    if state.runs.lock().unwrap().contains_key(&(job_id.clone(), drive_id.clone())) {
        return Err(usage("Stop the running check or repair of this drive first."));
    }
    state.store.lock().unwrap().remove_drive(&job_id, &drive_id)
}

#[tauri::command]
pub async fn set_job_secret(
    state: State<'_, AppState>,
    job_id: String,
    secret: String,
    remember: bool,
) -> CmdResult<SecretStatus> {
    let job_id = validate::job_id(&job_id)?.to_string();
    let auth = {
        let store = state.store.lock().unwrap();
        store.job(&job_id).ok_or_else(|| usage("unknown job"))?.auth
    };
    let secret = validate::secret(auth, &secret)?;
    let status = state.secrets.set(&job_id, Secret::new(secret), remember);
    let mut store = state.store.lock().unwrap();
    if let Some(mut job) = store.job(&job_id).cloned() {
        job.remember_secret = status.remembered;
        store.insert_job(job)?;
    }
    Ok(status)
}

#[tauri::command]
pub async fn forget_job_secret(state: State<'_, AppState>, job_id: String) -> CmdResult<()> {
    let job_id = validate::job_id(&job_id)?.to_string();
    let result = state.secrets.forget(&job_id);
    let mut store = state.store.lock().unwrap();
    if let Some(mut job) = store.job(&job_id).cloned() {
        job.remember_secret = false;
        store.insert_job(job)?;
    }
    result.map_err(|m| engine::error::ErrorInfo { kind: engine::error::ErrorKind::Unsupported, message: m })
}

#[tauri::command]
pub async fn secret_status(state: State<'_, AppState>, job_id: String) -> CmdResult<SecretStatus> {
    let job_id = validate::job_id(&job_id)?.to_string();
    let remembered = state.store.lock().unwrap().job(&job_id).is_some_and(|j| j.remember_secret);
    Ok(SecretStatus { in_session: state.secrets.in_session(&job_id), remembered, remember_error: None })
}

/// The Job step's "Test connection", on the form as typed (before the job is saved).
#[derive(Debug, Clone, Deserialize, TS)]
#[ts(export)]
pub struct ConnectionInput {
    pub storage_account: String,
    pub endpoint: Option<String>,
    pub auth: AuthKind,
    pub secret: String,
    #[serde(default)]
    pub container: Option<String>,
}

#[tauri::command]
pub async fn test_connection(state: State<'_, AppState>, input: ConnectionInput) -> CmdResult<()> {
    let account = validate::storage_account(&input.storage_account)?;
    let endpoint = validate::endpoint(input.endpoint.as_deref())?;
    let secret = validate::secret(input.auth, &input.secret)?;
    let container = validate::sas_container(input.auth, &secret, input.container.as_deref())?;
    let cfg = super::storage_config_of(account, endpoint, input.auth, Secret::new(secret), container.as_deref());
    state.engine.test_connection(cfg.clone()).await.map_err(|e| scrub(e, &cfg))
}
