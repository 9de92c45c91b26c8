//! Account keys and SAS tokens. They live in memory for the session (a map from job id
//! to [`Secret`]); they reach the disk only if the user ticks "remember on this
//! computer", and then only through the OS credential store (Windows Credential
//! Manager, macOS Keychain, the Secret Service on Linux). When no credential store is
//! reachable, remembering fails with a message and the secret stays in memory.

use engine::secret::Secret;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;
use ts_rs::TS;

const SERVICE: &str = "app.driverepair.desktop";

/// Where a job's secret is held.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct SecretStatus {
    pub in_session: bool,
    pub remembered: bool,
    /// Why remembering did not work, in words, when the user asked for it.
    pub remember_error: Option<String>,
}

/// Something that can keep a secret across restarts.
pub trait CredentialStore: Send + Sync {
    fn save(&self, job_id: &str, secret: &Secret) -> Result<(), String>;
    fn load(&self, job_id: &str) -> Result<Option<Secret>, String>;
    fn delete(&self, job_id: &str) -> Result<(), String>;
}

/// The OS credential store, through the `keyring` crate.
pub struct OsCredentialStore;

fn describe(e: keyring::Error) -> String {
    match e {
        keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_) => format!(
            "This computer's credential store is not available ({e}). The key is kept only until the app closes."
        ),
        other => format!("The credential store refused the key: {other}"),
    }
}

impl CredentialStore for OsCredentialStore {
    fn save(&self, job_id: &str, secret: &Secret) -> Result<(), String> {
        keyring::Entry::new(SERVICE, job_id)
            .and_then(|e| e.set_password(secret.expose()))
            .map_err(describe)
    }
    fn load(&self, job_id: &str) -> Result<Option<Secret>, String> {
        match keyring::Entry::new(SERVICE, job_id).and_then(|e| e.get_password()) {
            Ok(s) => Ok(Some(Secret::new(s))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(describe(e)),
        }
    }
    fn delete(&self, job_id: &str) -> Result<(), String> {
        match keyring::Entry::new(SERVICE, job_id).and_then(|e| e.delete_credential()) {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(describe(e)),
        }
    }
}

/// The session's secrets plus the credential store.
pub struct Secrets {
    session: Mutex<HashMap<String, Secret>>,
    store: Box<dyn CredentialStore>,
}

impl Secrets {
    pub fn new(store: Box<dyn CredentialStore>) -> Self {
        Secrets { session: Mutex::new(HashMap::new()), store }
    }

    /// Keeps the secret for this session and, if asked, in the credential store.
    /// Remembering is best effort: the session copy is kept either way.
    pub fn set(&self, job_id: &str, secret: Secret, remember: bool) -> SecretStatus {
        let mut remember_error = None;
        let mut remembered = false;
        if remember {
            match self.store.save(job_id, &secret) {
                Ok(()) => remembered = true,
                Err(e) => remember_error = Some(e),
            }
        } else {
            // Unticking "remember" removes an earlier stored copy.
            let _ = self.store.delete(job_id);
        }
        self.session.lock().unwrap().insert(job_id.to_string(), secret);
        SecretStatus { in_session: true, remembered, remember_error }
    }

    /// The secret for a job: from this session, else from the credential store if the
    /// job was remembered (and then it is kept for the session).
    pub fn get(&self, job_id: &str, remembered: bool) -> Option<Secret> {
        if let Some(s) = self.session.lock().unwrap().get(job_id) {
            return Some(s.clone());
        }
        if !remembered {
            return None;
        }
        let s = self.store.load(job_id).ok().flatten()?;
        self.session.lock().unwrap().insert(job_id.to_string(), s.clone());
        Some(s)
    }

    pub fn in_session(&self, job_id: &str) -> bool {
        self.session.lock().unwrap().contains_key(job_id)
    }

    pub fn forget(&self, job_id: &str) -> Result<(), String> {
        self.session.lock().unwrap().remove(job_id);
        self.store.delete(job_id)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A credential store in memory, or one that is unavailable, for tests.
    #[derive(Default)]
    pub struct MemoryStore {
        pub items: Mutex<HashMap<String, String>>,
        pub unavailable: bool,
    }

    impl CredentialStore for std::sync::Arc<MemoryStore> {
        fn save(&self, job_id: &str, secret: &Secret) -> Result<(), String> {
            if self.unavailable {
                return Err("This computer's credential store is not available".into());
            }
            self.items.lock().unwrap().insert(job_id.into(), secret.expose().into());
            Ok(())
        }
        fn load(&self, job_id: &str) -> Result<Option<Secret>, String> {
            if self.unavailable {
                return Err("unavailable".into());
            }
            Ok(self.items.lock().unwrap().get(job_id).map(Secret::new))
        }
        fn delete(&self, job_id: &str) -> Result<(), String> {
            self.items.lock().unwrap().remove(job_id);
            Ok(())
        }
    }

    #[test]
    fn not_remembered_by_default_and_forgotten_on_request() {
        let mem = std::sync::Arc::new(MemoryStore::default());
        let s = Secrets::new(Box::new(mem.clone()));
        let st = s.set("j1", Secret::new("key-one"), false);
        assert!(st.in_session && !st.remembered);
        assert!(mem.items.lock().unwrap().is_empty());
        assert_eq!(s.get("j1", false).unwrap().expose(), "key-one");
        s.forget("j1").unwrap();
        assert!(s.get("j1", false).is_none());
    }

    #[test]
    fn remembered_secret_comes_back_in_a_new_session() {
        let mem = std::sync::Arc::new(MemoryStore::default());
        Secrets::new(Box::new(mem.clone())).set("j1", Secret::new("key-one"), true);
        let fresh = Secrets::new(Box::new(mem.clone()));
        assert!(!fresh.in_session("j1"));
        assert!(fresh.get("j1", false).is_none(), "only jobs marked remembered look in the store");
        assert_eq!(fresh.get("j1", true).unwrap().expose(), "key-one");
    }

    #[test]
    fn unavailable_store_keeps_the_session_copy_and_says_why() {
        let mem = std::sync::Arc::new(MemoryStore { unavailable: true, ..Default::default() });
        let s = Secrets::new(Box::new(mem));
        let st = s.set("j1", Secret::new("key-one"), true);
        assert!(st.in_session && !st.remembered);
        assert!(st.remember_error.unwrap().contains("not available"));
        assert!(s.get("j1", true).is_some());
    }
}
