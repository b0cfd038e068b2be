//! Fairness between callers (API keys, browser sessions). Without it one caller sending many
//! requests at once fills every slot and every queue place, and everyone else gets 429.
//! [`CallerLimits`], checked when a request is submitted, lets one caller have only so many
//! requests running or queued, so the queue always has room for others.
//!
//! Requests without an owner count as one caller together.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::cache::CacheOwner;

/// Requests each caller has in flight (running or queued) on one engine.
pub(super) struct CallerLimits {
    limit: u32,
    /// Only callers with something in flight: an entry goes when its count reaches zero, so
    /// the map never remembers a caller longer than its requests last.
    in_flight: Mutex<HashMap<Option<CacheOwner>, u32>>,
}

/// One request's place among its caller's; dropping it (when the job ends, however it ends)
/// gives the place back.
pub(super) struct CallerPermit {
    limits: Arc<CallerLimits>,
    owner: Option<CacheOwner>,
}

impl CallerLimits {
    /// At least one request per caller, or nobody could ever be served.
    pub fn new(limit: u32) -> Arc<Self> {
        Arc::new(Self {
            limit: limit.max(1),
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// A place for one more request of `owner`, unless they already have `limit` in flight.
    pub fn try_acquire(self: &Arc<Self>, owner: Option<CacheOwner>) -> Option<CallerPermit> {
        // The counts stay consistent whatever panicked while holding the lock: each update
        // is a single increment or decrement.
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = in_flight.entry(owner).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(CallerPermit {
            limits: Arc::clone(self),
            owner,
        })
    }
}

impl Drop for CallerPermit {
    fn drop(&mut self) {
        let mut in_flight = self
            .limits
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Entry::Occupied(mut count) = in_flight.entry(self.owner) {
            *count.get_mut() -= 1;
            if *count.get() == 0 {
                count.remove();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: Option<CacheOwner> = Some(CacheOwner([1; 32]));
    const BOB: Option<CacheOwner> = Some(CacheOwner([2; 32]));

    #[test]
    fn a_caller_gets_at_most_the_limit_and_others_are_not_affected() {
        let limits = CallerLimits::new(2);
        let first = limits.try_acquire(ALICE).expect("first");
        let second = limits.try_acquire(ALICE).expect("second");
        assert!(limits.try_acquire(ALICE).is_none());
        assert!(limits.try_acquire(BOB).is_some());
        // Requests without an owner share one allowance.
        let _anonymous = [limits.try_acquire(None), limits.try_acquire(None)];
        assert!(limits.try_acquire(None).is_none());

        drop(first);
        let third = limits.try_acquire(ALICE).expect("a place came back");
        assert!(limits.try_acquire(ALICE).is_none());
        drop((second, third));
        assert!(limits.in_flight.lock().expect("lock").get(&ALICE).is_none());
    }

    #[test]
    fn a_limit_of_zero_still_serves_one_request() {
        let limits = CallerLimits::new(0);
        assert_eq!(limits.limit(), 1);
        let _only = limits.try_acquire(ALICE).expect("one");
        assert!(limits.try_acquire(ALICE).is_none());
    }
}
