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
use engine::secret::Secret;

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
    Ok(storage_config_of(job.storage_account, job.endpoint, job.auth, secret, job.container.as_deref()))
}

/// A storage configuration from a job's fields. A bare SAS token is joined with its
/// container into the container's SAS URL, which is the form that names the container
/// (where the copy logs are) for the engine.
pub(crate) fn storage_config_of(
    account: String,
    endpoint: Option<String>,
    auth: crate::records::AuthKind,
    secret: Secret,
    container: Option<&str>,
) -> StorageConfig {
    let credential = match auth {
        crate::records::AuthKind::Key => Credential::AccountKey(secret),
        crate::records::AuthKind::Sas => Credential::ContainerSas(secret),
    };
    let mut cfg = StorageConfig { account, endpoint, credential };
    if let (Credential::ContainerSas(token), Some(c)) = (&cfg.credential, container) {
        if !engine::blobstore::is_sas_url(token.expose()) {
            let token = token.expose().trim().trim_start_matches('?');
            let url = format!("{}/{c}?{token}", cfg.endpoint_url());
            cfg.credential = Credential::ContainerSas(Secret::new(url));
        }
    }
    cfg
}

/// Removes the job's secrets from a message bound for the UI.
pub(crate) fn scrub(mut e: ErrorInfo, cfg: &StorageConfig) -> ErrorInfo {
    e.message = engine::secret::redact(&e.message, &cfg.secrets());
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::AuthKind;

    fn exposed(cfg: &StorageConfig) -> &str {
        match &cfg.credential {
            Credential::AccountKey(s) | Credential::ContainerSas(s) => s.expose(),
        }
    }

    #[test]
    fn bare_sas_token_becomes_the_containers_sas_url() {
        let cfg = storage_config_of(
            "devstoreaccount1".into(),
            Some("http://127.0.0.1:10000/devstoreaccount1".into()),
            AuthKind::Sas,
            Secret::new(" ?sv=2022-11-02&sr=c&sig=x "),
            Some("photos"),
        );
        assert!(matches!(cfg.credential, Credential::ContainerSas(_)));
        assert_eq!(exposed(&cfg), "http://127.0.0.1:10000/devstoreaccount1/photos?sv=2022-11-02&sr=c&sig=x");
        let cloud = storage_config_of("acct".into(), None, AuthKind::Sas, Secret::new("sv=1&sig=y"), Some("logs"));
        assert_eq!(exposed(&cloud), "https://acct.blob.core.windows.net/logs?sv=1&sig=y");
    }

    #[test]
    fn sas_url_and_account_key_are_kept_as_given() {
        let url = "https://acct.blob.core.windows.net/photos?sv=1&sig=y";
        let cfg = storage_config_of("acct".into(), None, AuthKind::Sas, Secret::new(url), Some("other"));
        assert_eq!(exposed(&cfg), url);
        let key = storage_config_of("acct".into(), None, AuthKind::Key, Secret::new("a2V5"), None);
        assert!(matches!(key.credential, Credential::AccountKey(_)));
        assert_eq!(exposed(&key), "a2V5");
    }
}
