//! Login throttling, in memory only: nothing about a login attempt is ever written down.
//!
//! Failures are counted per email and per client address within a sliding window. Keys are
//! salted hashes (the salt is random per process), so even this memory holds no readable email
//! or address.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::RngCore;

use crate::clock::Clock;
use sha2::{Digest, Sha256};

/// Bound on tracked keys, so a flood of distinct emails cannot grow memory without limit.
const MAX_KEYS: usize = 100_000;

pub struct LoginThrottle {
    max_failures: usize,
    window: Duration,
    salt: [u8; 16],
    clock: Clock,
    failures: Mutex<HashMap<[u8; 32], VecDeque<Instant>>>,
}

/// What a login attempt is counted against.
#[derive(Clone, Copy)]
pub enum Subject<'a> {
    Email(&'a str),
    Client(std::net::IpAddr),
}

impl LoginThrottle {
    pub fn new(max_failures: usize, window: Duration, clock: Clock) -> Self {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        Self {
            max_failures,
            window,
            salt,
            clock,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt against every subject before it is evaluated, so that a burst of
    /// concurrent guesses cannot all pass the check while the first ones are still being
    /// hashed. `Err(wait)` when any subject has used up its failures in the window: the
    /// attempt is then refused without being evaluated.
    ///
    /// The attempt stays counted as a failure unless [`Attempt::succeeded`] or
    /// [`Attempt::not_evaluated`] takes it back.
    pub fn begin(&self, subjects: &[Subject<'_>]) -> Result<Attempt<'_>, Duration> {
        let now = self.clock.instant();
        let keys: Vec<[u8; 32]> = subjects.iter().map(|subject| self.key(subject)).collect();
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let mut wait = Duration::ZERO;
        for key in &keys {
            if let Some(times) = failures.get_mut(key) {
                prune(times, now, self.window);
                if times.len() >= self.max_failures {
                    if let Some(oldest) = times.front() {
                        wait = wait.max(self.window.saturating_sub(now - *oldest));
                    }
                }
            }
        }
        if !wait.is_zero() {
            return Err(wait.max(Duration::from_secs(1)));
        }
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, times| {
                prune(times, now, self.window);
                !times.is_empty()
            });
        }
        for key in &keys {
            failures.entry(*key).or_default().push_back(now);
        }
        Ok(Attempt {
            throttle: self,
            keys,
            at: now,
        })
    }

    /// Takes back what [`LoginThrottle::begin`] counted.
    fn uncount(&self, keys: &[[u8; 32]], at: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        for key in keys {
            if let Some(times) = failures.get_mut(key) {
                if let Some(position) = times.iter().position(|time| *time == at) {
                    times.remove(position);
                }
                if times.is_empty() {
                    failures.remove(key);
                }
            }
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

/// A login attempt counted by [`LoginThrottle::begin`]. Dropped as it is, it stays counted as
/// a failure, which is also what happens when its request is abandoned half way.
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    keys: Vec<[u8; 32]>,
    at: Instant,
}

impl Attempt<'_> {
    /// The password was right: the attempt is not a failure.
    pub fn succeeded(self) {
        self.throttle.uncount(&self.keys, self.at);
    }

    /// The password was never checked (the server was busy): it counts for nothing.
    pub fn not_evaluated(self) {
        self.throttle.uncount(&self.keys, self.at);
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
        let clock = Clock::default();
        let throttle = LoginThrottle::new(3, Duration::from_secs(60), clock.clone());
        let who = [Subject::Email("a@b.c")];
        for _ in 0..3 {
            drop(throttle.begin(&who).expect("allowed"));
        }
        assert!(throttle.begin(&who).is_err());
        assert!(throttle.begin(&[Subject::Email("other@b.c")]).is_ok());
        clock.advance(Duration::from_secs(59));
        assert!(throttle.begin(&who).is_err());
        clock.advance(Duration::from_secs(1));
        assert!(throttle.begin(&who).is_ok());
    }

    #[test]
    fn attempts_count_before_they_are_evaluated() {
        let throttle = LoginThrottle::new(3, Duration::from_secs(60), Clock::default());
        let who = [Subject::Email("a@b.c")];
        // Three attempts in flight at once use up the limit: a fourth is refused unevaluated.
        let in_flight: Vec<_> = (0..3)
            .map(|_| throttle.begin(&who).expect("allowed"))
            .collect();
        assert!(throttle.begin(&who).is_err());
        // Success and "never evaluated" give the attempt back; a failure keeps it.
        let mut in_flight = in_flight.into_iter();
        in_flight.next().expect("first").succeeded();
        in_flight.next().expect("second").not_evaluated();
        drop(in_flight);
        assert!(throttle.begin(&who).is_ok());
        assert!(throttle.begin(&who).is_ok());
        assert!(throttle.begin(&who).is_err());
    }
}
