//! Retry policy with full-jitter backoff that honours `Retry-After`, and the loop that applies it.

use std::future::Future;
use std::time::{Duration, Instant};

/// How failed requests are retried.
///
/// Only failures the caller calls retryable are retried. The wait before retry `n` (0-based) is
/// drawn uniformly from `[0, min(max_backoff, initial_backoff * 2^n)]` ("full jitter"), and is
/// at least the server's `Retry-After` when it sent one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included. 1 disables retries.
    pub max_attempts: u32,
    /// The backoff ceiling for the first retry.
    pub initial_backoff: Duration,
    /// The backoff ceiling for any retry.
    pub max_backoff: Duration,
    /// Give up once this much time has passed since the first attempt, or when the next wait
    /// (including a `Retry-After`) would end past it.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The wait before retry number `retry` (0-based), given the server's `Retry-After`.
    pub fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let factor = 1u32.checked_shl(retry.min(30)).unwrap_or(u32::MAX);
        let ceiling = self
            .initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff);
        let jitter = ceiling.mul_f64(fastrand::f64());
        match retry_after {
            Some(after) => after.max(jitter),
            None => jitter,
        }
    }

    /// Runs `attempt` until it succeeds, fails for good, or the policy is spent.
    ///
    /// `retry_hint` says whether an error is retryable: `None` for no, `Some(retry_after)` for
    /// yes. `attempts` counts the attempts made, so callers can report them.
    pub async fn run<T, E, F, Fut>(
        &self,
        attempts: &mut u32,
        mut attempt: F,
        retry_hint: impl Fn(&E) -> Option<Option<Duration>>,
    ) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let started = Instant::now();
        loop {
            *attempts += 1;
            let err = match attempt().await {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            let Some(retry_after) = retry_hint(&err) else {
                return Err(err);
            };
            if *attempts >= self.max_attempts {
                return Err(err);
            }
            let wait = self.backoff(*attempts - 1, retry_after);
            if started.elapsed() + wait > self.max_elapsed {
                return Err(err);
            }
            tokio::time::sleep(wait).await;
        }
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_is_bounded_and_honours_retry_after() {
        let p = RetryPolicy::default();
        for retry in 0..40 {
            assert!(p.backoff(retry, None) <= p.max_backoff);
        }
        assert!(p.backoff(0, Some(Duration::from_secs(3))) >= Duration::from_secs(3));
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn run_retries_only_what_the_hint_allows() {
        let policy = RetryPolicy {
            max_attempts: 4,
            ..RetryPolicy::default()
        };
        let mut attempts = 0;
        let res: Result<(), &str> = policy
            .run(&mut attempts, || async { Err("busy") }, |_| Some(None))
            .await;
        assert_eq!((res, attempts), (Err("busy"), 4));
        let mut attempts = 0;
        let res: Result<(), &str> = policy
            .run(&mut attempts, || async { Err("bad") }, |_| None)
            .await;
        assert_eq!((res, attempts), (Err("bad"), 1));
        let mut attempts = 0;
        let mut n = 0;
        let res: Result<u32, &str> = policy
            .run(
                &mut attempts,
                || {
                    n += 1;
                    let now = n;
                    async move {
                        if now < 3 {
                            Err("flaky")
                        } else {
                            Ok(now)
                        }
                    }
                },
                |_| Some(Some(Duration::from_secs(1))),
            )
            .await;
        assert_eq!((res, attempts), (Ok(3), 3));
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_retry_after_past_the_deadline_gives_up() {
        let policy = RetryPolicy {
            max_elapsed: Duration::from_secs(5),
            ..RetryPolicy::default()
        };
        let mut attempts = 0;
        let res: Result<(), &str> = policy
            .run(
                &mut attempts,
                || async { Err("slow down") },
                |_| Some(Some(Duration::from_secs(30))),
            )
            .await;
        assert_eq!((res, attempts), (Err("slow down"), 1));
    }
}
