//! Wall-clock helpers: Unix seconds and calendar dates, without a date-time dependency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The clock sessions and the login throttle read: the system's, moved forward only by
/// [`Clock::advance`], which only the integration tests call (through `sotto::testing`), to see
/// sessions age and throttle windows pass without waiting. Nothing a request sends can reach it.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    ahead_secs: Arc<AtomicU64>,
}

impl Clock {
    fn ahead(&self) -> u64 {
        self.ahead_secs.load(Ordering::Relaxed)
    }

    /// Unix seconds.
    pub fn now_secs(&self) -> i64 {
        now_secs().saturating_add(i64::try_from(self.ahead()).unwrap_or(i64::MAX / 4))
    }

    /// A monotonic instant, for windows.
    pub fn instant(&self) -> Instant {
        let now = Instant::now();
        now.checked_add(Duration::from_secs(self.ahead()))
            .unwrap_or(now)
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        self.ahead_secs.fetch_add(by.as_secs(), Ordering::Relaxed);
    }
}

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Today's date (UTC) as `YYYY-MM-DD`.
pub fn today() -> String {
    let (year, month, day) = date_of(now_secs());
    format!("{year:04}-{month:02}-{day:02}")
}

/// The (year, month, day) of a Unix time, UTC.
pub fn date_of(secs: i64) -> (i64, i64, i64) {
    civil_from_days(secs.div_euclid(86_400))
}

/// Days since 1970-01-01 to a (year, month, day) date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_civil() {
        assert_eq!(super::date_of(0), (1970, 1, 1));
        assert_eq!(super::date_of(20_416 * 86_400 + 5), (2025, 11, 24));
        assert_eq!(super::date_of(951_782_400), (2000, 2, 29));
    }
}
