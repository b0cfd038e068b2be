//! Fairness between callers (API keys, browser sessions). Without it one caller sending many
//! requests at once fills every slot and every queue place, and everyone else gets 429 or
//! waits behind all of them. Two rules share the engine out:
//!
//! - [`CallerLimits`], checked when a request is submitted: one caller may have only so many
//!   requests running or queued, so the queue always has room for others;
//! - [`next_job`], when a slot frees: the caller holding the fewest slots goes first, so a
//!   newcomer does not wait behind the queue another caller filled before it arrived.
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

/// Which waiting job gets the slot that just freed, as an index into `waiting` (the waiting
/// jobs' owners in arrival order): the oldest job of the caller holding the fewest slots.
/// `running` holds the owner of each busy slot. Slots are what a caller competes for, so
/// callers take turns slot by slot however many requests each has queued; among equals the
/// order stays first come, first served.
pub(super) fn next_job(
    waiting: impl IntoIterator<Item = Option<CacheOwner>>,
    running: impl IntoIterator<Item = Option<CacheOwner>>,
) -> Option<usize> {
    let mut held: HashMap<Option<CacheOwner>, usize> = HashMap::new();
    for owner in running {
        *held.entry(owner).or_insert(0) += 1;
    }
    let mut best: Option<(usize, usize)> = None;
    for (index, owner) in waiting.into_iter().enumerate() {
        let slots = held.get(&owner).copied().unwrap_or(0);
        if slots == 0 {
            // Nobody holds fewer, and any later job is younger.
            return Some(index);
        }
        // Strictly fewer: a tie keeps the older job.
        if best.is_none_or(|(fewest, _)| slots < fewest) {
            best = Some((slots, index));
        }
    }
    best.map(|(_, index)| index)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: Option<CacheOwner> = Some(CacheOwner([1; 32]));
    const BOB: Option<CacheOwner> = Some(CacheOwner([2; 32]));
    const CAROL: Option<CacheOwner> = Some(CacheOwner([3; 32]));

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

    #[test]
    fn equals_are_served_first_come_first_served() {
        assert_eq!(next_job([], []), None);
        assert_eq!(next_job([ALICE, BOB], []), Some(0));
        assert_eq!(next_job([BOB, ALICE], [ALICE, BOB]), Some(0));
        assert_eq!(next_job([ALICE, ALICE, ALICE], [ALICE, ALICE]), Some(0));
    }

    #[test]
    fn the_caller_holding_fewest_slots_goes_first_however_late_it_queued() {
        // Alice holds both slots and queued first; Bob's one request goes before hers.
        let waiting = [ALICE, ALICE, ALICE, BOB];
        assert_eq!(next_job(waiting, [ALICE]), Some(3));
        // Bob holds one slot, Alice two: Bob's job goes before Alice's older one.
        assert_eq!(next_job([ALICE, BOB, ALICE], [ALICE, ALICE, BOB]), Some(1));
        // Carol holds one, Bob two, Alice three: Carol's job, though she queued last.
        let running = [ALICE, ALICE, ALICE, BOB, BOB, CAROL];
        assert_eq!(next_job([ALICE, BOB, CAROL, BOB], running), Some(2));
    }

    #[test]
    fn requests_without_an_owner_take_turns_as_one_caller() {
        assert_eq!(next_job([None, None, ALICE], [None]), Some(2));
        assert_eq!(next_job([ALICE, None], [ALICE, ALICE]), Some(1));
    }
}
