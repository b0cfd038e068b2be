//! Which loaded models make room for another: the least recently used ones that serve
//! nothing, until the count and the memory budget allow the newcomer.
//!
//! Pure policy: the registry gathers the facts under its lock and unloads what this returns.

use std::time::{Duration, Instant};

/// How many models, and how much memory, may be resident at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// At least 1.
    pub max_loaded: usize,
    /// Bytes of weights and KV cache together; `None`: no budget.
    pub memory_budget: Option<u64>,
    /// A model unused for this long is unloaded; `None`: never.
    pub idle: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_loaded: 1,
            memory_budget: None,
            idle: None,
        }
    }
}

/// A model loaded or loading, as the policy sees it.
#[derive(Debug, Clone)]
pub struct Resident {
    pub id: String,
    pub last_used: Instant,
    /// Bytes it holds (weights and KV cache), or for a model still loading, its estimate.
    pub footprint: u64,
    /// Serving a request (or still loading): never unloaded.
    pub busy: bool,
}

/// Why no room can be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRoom;

/// The models to unload before one of `incoming` bytes loads, least recently used first.
/// A model that alone exceeds the budget still loads once nothing else is resident.
pub fn make_room(
    residents: &[Resident],
    incoming: u64,
    limits: &Limits,
) -> Result<Vec<String>, NoRoom> {
    let mut idle: Vec<&Resident> = residents.iter().filter(|r| !r.busy).collect();
    idle.sort_by_key(|r| r.last_used);
    let mut count = residents.len();
    let mut bytes: u64 = residents.iter().map(|r| r.footprint).sum();
    let fits = |count: usize, bytes: u64| {
        count < limits.max_loaded
            && limits
                .memory_budget
                .is_none_or(|budget| count == 0 || bytes.saturating_add(incoming) <= budget)
    };
    let mut victims = Vec::new();
    for resident in idle {
        if fits(count, bytes) {
            break;
        }
        victims.push(resident.id.clone());
        count -= 1;
        bytes -= resident.footprint;
    }
    if fits(count, bytes) {
        Ok(victims)
    } else {
        Err(NoRoom)
    }
}

/// The models idle for longer than `limits.idle` at `now`.
pub fn expired(residents: &[Resident], limits: &Limits, now: Instant) -> Vec<String> {
    let Some(idle) = limits.idle else {
        return Vec::new();
    };
    residents
        .iter()
        .filter(|r| !r.busy && now.saturating_duration_since(r.last_used) >= idle)
        .map(|r| r.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

    fn resident(id: &str, age_secs: u64, footprint: u64, busy: bool, now: Instant) -> Resident {
        Resident {
            id: id.to_owned(),
            last_used: now - Duration::from_secs(age_secs),
            footprint,
            busy,
        }
    }

    #[test]
    fn the_least_recently_used_idle_model_makes_room() {
        let now = Instant::now();
        let limits = Limits {
            max_loaded: 2,
            ..Limits::default()
        };
        let residents = [
            resident("old", 60, MB, false, now),
            resident("new", 1, MB, false, now),
        ];
        assert_eq!(make_room(&residents, MB, &limits), Ok(vec!["old".into()]));
        assert_eq!(make_room(&residents[..1], MB, &limits), Ok(vec![]));
    }

    #[test]
    fn a_busy_model_is_never_unloaded() {
        let now = Instant::now();
        let limits = Limits::default();
        let busy = [resident("busy", 600, MB, true, now)];
        assert_eq!(make_room(&busy, MB, &limits), Err(NoRoom));
        let two = Limits {
            max_loaded: 2,
            ..limits
        };
        let residents = [
            resident("busy", 600, MB, true, now),
            resident("idle", 1, MB, false, now),
        ];
        assert_eq!(make_room(&residents, MB, &two), Ok(vec!["idle".into()]));
    }

    #[test]
    fn the_memory_budget_unloads_until_the_newcomer_fits() {
        let now = Instant::now();
        let limits = Limits {
            max_loaded: 8,
            memory_budget: Some(1000 * MB),
            idle: None,
        };
        let residents = [
            resident("a", 30, 400 * MB, false, now),
            resident("b", 20, 400 * MB, false, now),
            resident("c", 10, 100 * MB, false, now),
        ];
        assert_eq!(make_room(&residents, 100 * MB, &limits), Ok(vec![]));
        assert_eq!(
            make_room(&residents, 500 * MB, &limits),
            Ok(vec!["a".into()])
        );
        assert_eq!(
            make_room(&residents, 900 * MB, &limits),
            Ok(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            make_room(&residents, 950 * MB, &limits),
            Ok(vec!["a".into(), "b".into(), "c".into()])
        );
        // Too large for the budget even alone: it loads once nothing else is resident.
        assert_eq!(
            make_room(&residents, 5000 * MB, &limits).map(|v| v.len()),
            Ok(3)
        );
    }

    #[test]
    fn only_models_idle_past_the_limit_expire() {
        let now = Instant::now();
        let residents = [
            resident("stale", 601, MB, false, now),
            resident("stale-busy", 601, MB, true, now),
            resident("fresh", 10, MB, false, now),
        ];
        let limits = Limits {
            idle: Some(Duration::from_secs(600)),
            ..Limits::default()
        };
        assert_eq!(expired(&residents, &limits, now), vec!["stale".to_owned()]);
        assert!(expired(&residents, &Limits::default(), now).is_empty());
    }
}
