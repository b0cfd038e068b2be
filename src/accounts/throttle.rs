//! Login throttling, in memory only: nothing about a login attempt is ever written down.
//!
//! Failures are counted per email and per client address within a sliding window. Keys are
//! salted hashes (the salt is random per process), so even this memory holds no readable email
//! or address.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Bound on tracked keys, so a flood of distinct emails cannot grow memory without limit.
const MAX_KEYS: usize = 100_000;

pub struct LoginThrottle {
    max_failures: usize,
    window: Duration,
    salt: [u8; 16],
    failures: Mutex<HashMap<[u8; 32], VecDeque<Instant>>>,
}

/// What a login attempt is counted against.
#[derive(Clone, Copy)]
pub enum Subject<'a> {
    Email(&'a str),
    Client(std::net::IpAddr),
}

impl LoginThrottle {
    pub fn new(max_failures: usize, window: Duration) -> Self {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        Self {
            max_failures,
            window,
            salt,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` when any subject has used up its failures in the window.
    pub fn check(&self, subjects: &[Subject<'_>]) -> Result<(), Duration> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let mut wait = Duration::ZERO;
        for subject in subjects {
            if let Some(times) = failures.get_mut(&self.key(subject)) {
                prune(times, now, self.window);
                if times.len() >= self.max_failures {
                    if let Some(oldest) = times.front() {
                        wait = wait.max(self.window.saturating_sub(now - *oldest));
                    }
                }
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait.max(Duration::from_secs(1)))
        }
    }

    pub fn record_failure(&self, subjects: &[Subject<'_>]) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, times| {
                prune(times, now, self.window);
                !times.is_empty()
            });
        }
        for subject in subjects {
            let times = failures.entry(self.key(subject)).or_default();
            prune(times, now, self.window);
            times.push_back(now);
        }
    }

    fn key(&self, subject: &Subject<'_>) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.salt);
        match subject {
            Subject::Email(email) => {
                hasher.update(b"email:");
                hasher.update(email.as_bytes());
            }
            Subject::Client(address) => {
                hasher.update(b"client:");
                hasher.update(address.to_string().as_bytes());
            }
        }
        hasher.finalize().into()
    }
}

fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_and_releases_after_the_window() {
        let throttle = LoginThrottle::new(3, Duration::from_millis(200));
        let who = [Subject::Email("a@b.c")];
        for _ in 0..3 {
            assert!(throttle.check(&who).is_ok());
            throttle.record_failure(&who);
        }
        assert!(throttle.check(&who).is_err());
        assert!(throttle.check(&[Subject::Email("other@b.c")]).is_ok());
        std::thread::sleep(Duration::from_millis(250));
        assert!(throttle.check(&who).is_ok());
    }
}
