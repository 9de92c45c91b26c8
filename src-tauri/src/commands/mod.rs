//! Tauri commands: thin async wrappers. Each one validates what the UI sent, does its
//! work off the UI thread, and fails with `ErrorInfo { kind, message }` (never a panic
//! or a raw error chain).

pub mod app;
pub mod copylog;
pub mod drives;
pub mod jobs;
pub mod runs;

use crate::AppState;
use engine::blobstore::{Credential, StorageConfig};
use engine::error::{ErrorInfo, ErrorKind};

pub type CmdResult<T> = Result<T, ErrorInfo>;

pub(crate) fn internal(what: &str, e: impl std::fmt::Display) -> ErrorInfo {
    ErrorInfo { kind: ErrorKind::Internal, message: format!("{what}: {e}") }
}

/// The storage configuration of a job, with its secret from this session (or the
/// credential store, if the job was remembered).
pub(crate) fn storage_config(state: &AppState, job_id: &str) -> CmdResult<StorageConfig> {
    let job_id = crate::validate::job_id(job_id)?;
    let job = state
        .store
        .lock()
        .unwrap()
        .job(job_id)
        .cloned()
        .ok_or_else(|| crate::validate::usage("unknown job"))?;
    let secret = state.secrets.get(job_id, job.remember_secret).ok_or_else(|| ErrorInfo {
        kind: ErrorKind::StorageForbidden,
        message: "No account key or SAS is known for this job in this session. Enter it again on the Job step.".into(),
    })?;
    Ok(StorageConfig {
        account: job.storage_account,
        credential: match job.auth {
            crate::records::AuthKind::Key => Credential::AccountKey(secret),
            crate::records::AuthKind::Sas => Credential::ContainerSas(secret),
        },
        endpoint: job.endpoint,
    })
}

/// Removes the job's secrets from a message bound for the UI.
pub(crate) fn scrub(mut e: ErrorInfo, cfg: &StorageConfig) -> ErrorInfo {
    e.message = engine::secret::redact(&e.message, &cfg.secrets());
    e
}
