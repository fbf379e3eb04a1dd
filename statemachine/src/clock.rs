//! Injectable time: the engine never reads the system clock directly, so tests can run a
//! 1 s / 2 s / 4 s retry schedule instantly and still check it from the event timestamps.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use tokio::sync::Notify;

/// A source of time and of sleeping.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
    /// A future that completes at (or after) `t`.
    fn sleep_until(&self, t: DateTime<Utc>) -> BoxFuture<'static, ()>;
}

/// Wall-clock time and tokio timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn sleep_until(&self, t: DateTime<Utc>) -> BoxFuture<'static, ()> {
        let wait = (t - Utc::now()).to_std().unwrap_or_default();
        Box::pin(tokio::time::sleep(wait))
    }
}

/// Virtual time for tests: a sleep completes at once and moves the clock to its deadline.
///
/// Concurrent sleepers wake in deadline order: before advancing, a sleeper yields to the
/// scheduler a few times so that sibling branches can register earlier deadlines first.
/// Every completed sleep is recorded (see [`VirtualClock::sleeps`]).
#[derive(Clone)]
pub struct VirtualClock {
    inner: Arc<VirtualInner>,
}

struct VirtualInner {
    state: Mutex<VirtualState>,
    changed: Notify,
}

struct VirtualState {
    now: DateTime<Utc>,
    /// Pending deadlines, with how many sleepers wait for each.
    pending: BTreeMap<DateTime<Utc>, usize>,
    slept: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// How often a sleeper yields before it may advance virtual time.
const SETTLE_YIELDS: usize = 32;

impl VirtualClock {
    /// A virtual clock starting at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        VirtualClock {
            inner: Arc::new(VirtualInner {
                state: Mutex::new(VirtualState {
                    now: start,
                    pending: BTreeMap::new(),
                    slept: Vec::new(),
                }),
                changed: Notify::new(),
            }),
        }
    }

    /// A virtual clock starting at 2024-01-01T00:00:00Z.
    pub fn starting_2024() -> Self {
        Self::new(DateTime::<Utc>::from_timestamp(1_704_067_200, 0).unwrap_or_default())
    }

    /// Moves virtual time forward by `d` (never backwards).
    pub fn advance(&self, d: chrono::Duration) {
        let mut st = self.lock();
        st.now += d;
        drop(st);
        self.inner.changed.notify_waiters();
    }

    /// Every completed sleep as `(from, until)` in completion order.
    pub fn sleeps(&self) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        self.lock().slept.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VirtualState> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    async fn sleep_virtual(self, t: DateTime<Utc>) {
        let from = self.lock().now;
        if t <= from {
            return;
        }
        *self.lock().pending.entry(t).or_insert(0) += 1;
        loop {
            for _ in 0..SETTLE_YIELDS {
                tokio::task::yield_now().await;
            }
            let notified = self.inner.changed.notified();
            {
                let mut st = self.lock();
                if st.now >= t {
                    Self::unregister(&mut st, t);
                    st.slept.push((from, t));
                    break;
                }
                let earliest = st.pending.keys().next().copied();
                if earliest == Some(t) {
                    st.now = t;
                    Self::unregister(&mut st, t);
                    st.slept.push((from, t));
                    drop(st);
                    self.inner.changed.notify_waiters();
                    break;
                }
            }
            notified.await;
        }
    }

    fn unregister(st: &mut VirtualState, t: DateTime<Utc>) {
        if let Some(n) = st.pending.get_mut(&t) {
            *n -= 1;
            if *n == 0 {
                st.pending.remove(&t);
            }
        }
    }
}

impl std::fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualClock")
            .field("now", &self.now())
            .finish()
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> DateTime<Utc> {
        self.lock().now
    }

    fn sleep_until(&self, t: DateTime<Utc>) -> BoxFuture<'static, ()> {
        Box::pin(self.clone().sleep_virtual(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[tokio::test]
    async fn virtual_sleep_advances_time_instantly() {
        let clock = VirtualClock::starting_2024();
        let start = clock.now();
        clock.sleep_until(start + Duration::seconds(3600)).await;
        assert_eq!(clock.now() - start, Duration::seconds(3600));
        assert_eq!(clock.sleeps().len(), 1);
    }

    #[tokio::test]
    async fn concurrent_sleepers_wake_in_deadline_order() {
        let clock = VirtualClock::starting_2024();
        let start = clock.now();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mk = |secs: i64| {
            let clock = clock.clone();
            let order = order.clone();
            async move {
                clock.sleep_until(start + Duration::seconds(secs)).await;
                order.lock().unwrap().push((secs, clock.now() - start));
            }
        };
        futures::join!(mk(5), mk(2), mk(9));
        let got = order.lock().unwrap().clone();
        assert_eq!(
            got,
            vec![
                (2, Duration::seconds(2)),
                (5, Duration::seconds(5)),
                (9, Duration::seconds(9))
            ]
        );
    }

    #[tokio::test]
    async fn past_deadline_does_not_move_time() {
        let clock = VirtualClock::starting_2024();
        let start = clock.now();
        clock.sleep_until(start - Duration::seconds(5)).await;
        assert_eq!(clock.now(), start);
    }
}
