//! Retries of storage calls, in one place.
//!
//! The SDK's own retry policy is switched off (see [`super::azure`]), so every transient
//! failure surfaces here, where it is counted, optionally reported, and retried with
//! exponential backoff and "full jitter" (the wait is drawn uniformly between zero and
//! the exponential cap, so that many workers that failed together do not retry together).
//!
//! Only [`StorageError::is_transient`] errors are retried: a 403 or 404 will not change
//! by asking again, and retrying them would only delay the message the user needs.

use crate::error::StorageError;
use rand::Rng;
use std::future::Future;
use std::time::Duration;

/// How often and how patiently to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included (0 is treated as 1).
    pub max_attempts: u32,
    /// The cap of the wait after the first failure; it doubles after each further one.
    pub base_delay: Duration,
    /// The cap never grows beyond this.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The longest wait after attempt `failed_attempt` (1-based) failed:
    /// `base_delay * 2^(failed_attempt - 1)`, at most `max_delay`.
    pub fn backoff_cap(&self, failed_attempt: u32) -> Duration {
        let doublings = failed_attempt.saturating_sub(1).min(31);
        self.base_delay
            .checked_mul(1u32 << doublings)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// A wait drawn uniformly from `[0, backoff_cap(failed_attempt)]`.
    fn jittered_delay(&self, failed_attempt: u32) -> Duration {
        let cap = self.backoff_cap(failed_attempt).as_micros() as u64;
        Duration::from_micros(rand::thread_rng().gen_range(0..=cap))
    }
}

/// What [`with_retry_observed`] tells its observer before it waits and tries again.
#[derive(Debug)]
pub struct RetryNotice<'a> {
    /// The `what` given to the retry call (e.g. the blob and range).
    pub what: &'a str,
    /// The attempt that failed (1-based).
    pub attempt: u32,
    pub error: &'a StorageError,
    /// How long it waits before the next attempt.
    pub delay: Duration,
}

/// Runs `f(attempt)` (attempt is 1-based) until it succeeds, fails with an error that is
/// not transient (returned as is, e.g. 403 or 404), or `max_attempts` transient failures
/// happened. Then it gives up with [`StorageError::Network`] carrying the number of
/// attempts and the last error's detail.
///
/// `f` must do the whole operation, including reading a streamed body, so that a
/// connection reset in the middle of a body is retried too.
pub async fn with_retry<T, F, Fut>(
    policy: &RetryPolicy,
    what: &str,
    f: F,
) -> Result<T, StorageError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, StorageError>>,
{
    with_retry_observed(policy, what, |_: &RetryNotice<'_>| {}, f).await
}

/// [`with_retry`] that also calls `on_retry` before each wait, for logging and counters.
pub async fn with_retry_observed<T, F, Fut, O>(
    policy: &RetryPolicy,
    what: &str,
    mut on_retry: O,
    mut f: F,
) -> Result<T, StorageError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, StorageError>>,
    O: FnMut(&RetryNotice<'_>),
{
    let max_attempts = policy.max_attempts.max(1);
    let mut attempt = 1;
    loop {
        let error = match f(attempt).await {
            Ok(value) => return Ok(value),
            Err(e) if !e.is_transient() => return Err(e),
            Err(e) => e,
        };
        if attempt >= max_attempts {
            return Err(gave_up(what, attempt, error));
        }
        let delay = policy.jittered_delay(attempt);
        on_retry(&RetryNotice {
            what,
            attempt,
            error: &error,
            delay,
        });
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

/// The error reported once the retries are used up: always [`StorageError::Network`],
/// whose message tells the user that the run can be resumed.
fn gave_up(what: &str, attempts: u32, last: StorageError) -> StorageError {
    let (blob, detail) = match last {
        StorageError::Network { blob, detail, .. } => (blob, detail),
        StorageError::Service {
            blob,
            status,
            detail,
        } => {
            let detail = match detail {
                Some(d) => format!("the service answered HTTP {status} ({d})"),
                None => format!("the service answered HTTP {status}"),
            };
            (blob, detail)
        }
        // Not transient, so never here; keep the message anyway.
        other => (String::new(), other.to_string()),
    };
    let blob = if blob.is_empty() {
        what.to_string()
    } else {
        blob
    };
    StorageError::Network {
        blob,
        attempts,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn service(status: u16) -> StorageError {
        StorageError::Service {
            blob: "c/b".into(),
            status,
            detail: Some("ServerBusy".into()),
        }
    }

    fn reset() -> StorageError {
        StorageError::Network {
            blob: "c/b".into(),
            attempts: 1,
            detail: "connection reset".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn succeeds_after_two_transient_failures() {
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let out = with_retry(&RetryPolicy::default(), "c/b", |attempt| {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            assert_eq!(attempt, n, "attempt numbers count from 1");
            async move {
                match n {
                    1 => Err(service(503)),
                    2 => Err(reset()),
                    _ => Ok(42),
                }
            }
        })
        .await;
        assert_eq!(out.unwrap(), 42);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // Two waits, each at most its cap (250 ms, then 500 ms).
        assert!(
            started.elapsed() <= Duration::from_millis(750),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn forbidden_and_not_found_are_never_retried() {
        for e in [
            StorageError::Forbidden { blob: "c/b".into() },
            StorageError::NotFound { blob: "c/b".into() },
            StorageError::Unreachable {
                endpoint: "https://x".into(),
                detail: "dns".into(),
            },
            service(400),
        ] {
            let calls = AtomicU32::new(0);
            let out: Result<(), _> = with_retry(&RetryPolicy::default(), "c/b", |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                let e = e.clone();
                async move { Err(e) }
            })
            .await;
            assert_eq!(calls.load(Ordering::SeqCst), 1, "{e:?} was retried");
            assert_eq!(out.unwrap_err().kind(), e.kind());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_with_network_error_counting_attempts() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy {
            max_attempts: 4,
            ..RetryPolicy::default()
        };
        let out: Result<(), _> = with_retry(&policy, "pictures/a.jpg", |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(service(503)) }
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        match out.unwrap_err() {
            StorageError::Network {
                blob,
                attempts,
                detail,
            } => {
                assert_eq!(blob, "c/b");
                assert_eq!(attempts, 4);
                assert!(detail.contains("503"), "{detail}");
            }
            other => panic!("expected Network, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn zero_attempts_still_tries_once() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::default()
        };
        let out: Result<(), _> = with_retry(&policy, "x", |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(reset()) }
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(matches!(
            out,
            Err(StorageError::Network { attempts: 1, .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn observer_sees_each_retry_with_bounded_delays() {
        let policy = RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        let mut seen = Vec::new();
        let _: Result<(), _> = with_retry_observed(
            &policy,
            "c/b",
            |n: &RetryNotice<'_>| seen.push((n.attempt, n.delay)),
            |_| async { Err(reset()) },
        )
        .await;
        assert_eq!(
            seen.iter().map(|s| s.0).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5, 6, 7]
        );
        for (attempt, delay) in seen {
            assert!(
                delay <= policy.backoff_cap(attempt),
                "attempt {attempt}: {delay:?}"
            );
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff_cap(1), Duration::from_millis(250));
        assert_eq!(p.backoff_cap(2), Duration::from_millis(500));
        assert_eq!(p.backoff_cap(3), Duration::from_millis(1000));
        assert_eq!(p.backoff_cap(7), Duration::from_secs(10));
        assert_eq!(p.backoff_cap(1000), Duration::from_secs(10));
    }
}
