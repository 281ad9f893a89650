//! The simulator's clock: real time by default, movable by tests so expiry rules can be checked
//! without sleeping.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Wall-clock time plus an offset that `advance` grows.
    Real { offset_ms: i64 },
    /// A fixed instant, moved only by `advance` / `set`.
    Fixed { now_ms: i64 },
}

/// Epoch milliseconds, controllable.
#[derive(Debug)]
pub(crate) struct SimClock {
    mode: Mutex<Mode>,
}

fn wall_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl SimClock {
    pub(crate) fn new() -> Self {
        Self {
            mode: Mutex::new(Mode::Real { offset_ms: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mode> {
        // A poisoned clock still holds a valid value; keep going.
        self.mode.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn now_ms(&self) -> i64 {
        match *self.lock() {
            Mode::Real { offset_ms } => wall_ms().saturating_add(offset_ms),
            Mode::Fixed { now_ms } => now_ms,
        }
    }

    pub(crate) fn advance(&self, by: Duration) {
        let mut mode = self.lock();
        *mode = match *mode {
            Mode::Real { offset_ms } => Mode::Real {
                offset_ms: offset_ms.saturating_add(duration_ms(by)),
            },
            Mode::Fixed { now_ms } => Mode::Fixed {
                now_ms: now_ms.saturating_add(duration_ms(by)),
            },
        };
    }

    /// Freeze the clock at `now_ms`; from then on only `advance` moves it.
    pub(crate) fn set_ms(&self, now_ms: i64) {
        *self.lock() = Mode::Fixed { now_ms };
    }

    /// Back to wall-clock time (keeping no offset).
    pub(crate) fn use_real_time(&self) {
        *self.lock() = Mode::Real { offset_ms: 0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let c = SimClock::new();
        c.set_ms(1_000);
        assert_eq!(c.now_ms(), 1_000);
        c.advance(Duration::from_secs(60));
        assert_eq!(c.now_ms(), 61_000);
    }

    #[test]
    fn real_clock_with_offset() {
        let c = SimClock::new();
        let before = wall_ms();
        c.advance(Duration::from_secs(3600));
        let now = c.now_ms();
        assert!(now >= before + 3_600_000 && now < before + 3_700_000);
        c.use_real_time();
        assert!(c.now_ms() < before + 100_000);
    }
}
