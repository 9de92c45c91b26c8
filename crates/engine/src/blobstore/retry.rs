//! TEMP placeholder for the repair branch (dropped on merge; the storage branch owns this file).
//! Minimal but functional, because the repair tests retry through it.

use crate::error::StorageError;
use std::future::Future;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 5, base_delay: Duration::from_millis(200) }
    }
}

pub async fn with_retry<T, F, Fut>(policy: &RetryPolicy, _what: &str, mut op: F) -> Result<T, StorageError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, StorageError>>,
{
    let mut attempt = 1;
    loop {
        match op(attempt).await {
            Err(e) if e.is_transient() && attempt < policy.max_attempts => {
                tokio::time::sleep(policy.base_delay * attempt).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}
