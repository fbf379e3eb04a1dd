//! Retry and Catch rules: error-name matching and backoff delays.

use crate::definition::{Catcher, Retrier};

/// Does `error` match one `ErrorEquals` entry?
///
/// `States.ALL` matches every error; `States.TaskFailed` every error except
/// `States.Timeout`. `States.Runtime` is never matched (it cannot be retried or caught),
/// and neither is `States.QueryEvaluationError`/`States.Runtime` by the wildcards only.
pub fn error_matches(pattern: &str, error: &str) -> bool {
    if is_terminal_error(error) {
        return false;
    }
    match pattern {
        "States.ALL" => true,
        "States.TaskFailed" => error != "States.Timeout",
        p => p == error,
    }
}

/// Errors no retrier or catcher can handle.
pub fn is_terminal_error(error: &str) -> bool {
    error == "States.Runtime"
}

fn list_matches(list: &[String], error: &str) -> bool {
    list.iter().any(|p| error_matches(p, error))
}

/// The index of the first retrier whose `ErrorEquals` matches.
pub fn find_retrier(retriers: &[Retrier], error: &str) -> Option<usize> {
    retriers
        .iter()
        .position(|r| list_matches(&r.error_equals, error))
}

/// The index of the first catcher whose `ErrorEquals` matches.
pub fn find_catcher(catchers: &[Catcher], error: &str) -> Option<usize> {
    catchers
        .iter()
        .position(|c| list_matches(&c.error_equals, error))
}

/// Delay before retry number `attempt` (1-based) of a retrier, without jitter:
/// `IntervalSeconds × BackoffRate^(attempt−1)`, capped by `MaxDelaySeconds`.
pub fn backoff_seconds(r: &Retrier, attempt: u32) -> f64 {
    let exp = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
    let raw = r.interval_seconds * r.backoff_rate.powi(exp);
    let capped = match r.max_delay_seconds {
        Some(max) => raw.min(max),
        None => raw,
    };
    if capped.is_finite() {
        capped.max(0.0)
    } else {
        r.max_delay_seconds.unwrap_or(f64::MAX)
    }
}

/// The delay actually waited: with `JitterStrategy: FULL`, uniform in `[0, backoff]`.
pub fn delay_seconds(r: &Retrier, attempt: u32, unit_random: f64) -> f64 {
    let base = backoff_seconds(r, attempt);
    if r.jitter_full {
        base * unit_random.clamp(0.0, 1.0)
    } else {
        base
    }
}

/// Seconds as a chrono duration (millisecond precision, saturating).
pub fn to_duration(secs: f64) -> chrono::Duration {
    let ms = (secs * 1000.0).round();
    let ms = if ms.is_finite() {
        ms.min(1e15) as i64
    } else {
        i64::MAX / 1_000_000
    };
    chrono::Duration::milliseconds(ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn retrier(interval: f64, rate: f64, max_delay: Option<f64>) -> Retrier {
        Retrier {
            error_equals: vec!["States.ALL".into()],
            interval_seconds: interval,
            max_attempts: 3,
            backoff_rate: rate,
            max_delay_seconds: max_delay,
            jitter_full: false,
        }
    }

    #[test]
    fn default_schedule_is_1_2_4() {
        let r = retrier(1.0, 2.0, None);
        let d: Vec<f64> = (1..=3).map(|a| backoff_seconds(&r, a)).collect();
        assert_eq!(d, vec![1.0, 2.0, 4.0]);
    }

    #[test]
    fn max_delay_caps() {
        let r = retrier(3.0, 2.0, Some(5.0));
        assert_eq!(backoff_seconds(&r, 1), 3.0);
        assert_eq!(backoff_seconds(&r, 2), 5.0);
        assert_eq!(backoff_seconds(&r, 9), 5.0);
    }

    #[test]
    fn wildcard_rules() {
        assert!(error_matches("States.ALL", "PetAvatar.Transient"));
        assert!(error_matches("States.ALL", "States.Timeout"));
        assert!(error_matches(
            "States.TaskFailed",
            "Lambda.ServiceException"
        ));
        assert!(!error_matches("States.TaskFailed", "States.Timeout"));
        assert!(!error_matches("States.ALL", "States.Runtime"));
        assert!(!error_matches("States.Runtime", "States.Runtime"));
        assert!(error_matches("X", "X"));
        assert!(!error_matches("X", "Y"));
    }

    #[test]
    fn first_matching_retrier_wins() {
        let mut a = retrier(1.0, 2.0, None);
        a.error_equals = vec!["A".into()];
        let b = retrier(1.0, 2.0, None);
        assert_eq!(find_retrier(&[a.clone(), b.clone()], "A"), Some(0));
        assert_eq!(find_retrier(&[a.clone(), b], "B"), Some(1));
        assert_eq!(find_retrier(&[a], "B"), None);
    }

    proptest! {
        #[test]
        fn delays_never_exceed_max_delay(interval in 1u32..1000, rate in 1.0f64..10.0, max in 1u32..100_000, attempt in 1u32..200, jitter in 0.0f64..1.0, full in any::<bool>()) {
            let mut r = retrier(f64::from(interval), rate, Some(f64::from(max)));
            r.jitter_full = full;
            let d = delay_seconds(&r, attempt, jitter);
            prop_assert!(d <= f64::from(max));
            prop_assert!(d >= 0.0);
        }

        #[test]
        fn delays_grow_monotonically(interval in 1u32..100, rate in 1.0f64..4.0, attempt in 1u32..30) {
            let r = retrier(f64::from(interval), rate, None);
            prop_assert!(backoff_seconds(&r, attempt + 1) >= backoff_seconds(&r, attempt));
        }
    }
}
