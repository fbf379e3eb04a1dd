//! Counts of events that can come by the hundred thousand (requests with a wrong or missing
//! API key, connections closed by a timeout), logged as one summary line per window instead
//! of one line per event: a flood of bad requests cannot flood the log.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How often a summary is logged (when something was counted), unless configured.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Requests refused for their API key.
#[derive(Debug, Default)]
pub struct AuthFailures {
    missing: AtomicU64,
    unknown: AtomicU64,
}

impl AuthFailures {
    pub fn missing_key(&self) {
        self.missing.fetch_add(1, Ordering::Relaxed);
    }

    pub fn unknown_key(&self) {
        self.unknown.fetch_add(1, Ordering::Relaxed);
    }

    /// Logs the failures counted since the last call, if any, as one line (the keys presented
    /// are never kept, so they cannot be logged).
    pub fn flush(&self, window: Duration) {
        let missing = self.missing.swap(0, Ordering::Relaxed);
        let unknown = self.unknown.swap(0, Ordering::Relaxed);
        let failures = missing + unknown;
        if failures > 0 {
            tracing::warn!(
                failures,
                missing_key = missing,
                unknown_key = unknown,
                window_s = window.as_secs_f64(),
                "auth failures: {failures} (missing key {missing}, unknown key {unknown})"
            );
        }
    }
}

/// Connections the server ended or refused.
#[derive(Debug, Default)]
pub struct ConnectionEvents {
    header_timeouts: AtomicU64,
    refused_over_cap: AtomicU64,
    /// Requests answered 408 because their body went idle or the whole request took too long.
    request_timeouts: AtomicU64,
    /// Every one of the above since the server started (the window's counts are reset).
    total_timeouts: AtomicU64,
}

impl ConnectionEvents {
    pub fn header_timeout(&self) {
        self.header_timeouts.fetch_add(1, Ordering::Relaxed);
        self.total_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    pub fn request_timeout(&self) {
        self.request_timeouts.fetch_add(1, Ordering::Relaxed);
        self.total_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    pub fn refused(&self) {
        self.refused_over_cap.fetch_add(1, Ordering::Relaxed);
    }

    /// Timeouts since start: header reads (silent, slow or kept-alive idle connections), and
    /// requests whose body or whole exchange took too long.
    pub fn total_timeouts(&self) -> u64 {
        self.total_timeouts.load(Ordering::Relaxed)
    }

    pub fn flush(&self, window: Duration) {
        let header = self.header_timeouts.swap(0, Ordering::Relaxed);
        let request = self.request_timeouts.swap(0, Ordering::Relaxed);
        let refused = self.refused_over_cap.swap(0, Ordering::Relaxed);
        if header + request + refused > 0 {
            tracing::info!(
                header_timeouts = header,
                request_timeouts = request,
                refused_over_cap = refused,
                total_timeouts = self.total_timeouts(),
                window_s = window.as_secs_f64(),
                "connections: {header} closed waiting for headers, {request} requests timed out, \
                 {refused} refused over the connection cap"
            );
        }
    }
}

/// What the server counts, flushed once per window ([`WINDOW`] by default).
#[derive(Debug)]
pub struct ServerEvents {
    pub auth: AuthFailures,
    pub connections: Arc<ConnectionEvents>,
    window: Duration,
}

impl Default for ServerEvents {
    fn default() -> Self {
        Self::with_window(WINDOW)
    }
}

impl ServerEvents {
    pub fn with_window(window: Duration) -> Self {
        Self {
            auth: AuthFailures::default(),
            connections: Arc::default(),
            window,
        }
    }

    pub fn flush(&self) {
        self.auth.flush(self.window);
        self.connections.flush(self.window);
    }

    /// Logs the summaries once per window for as long as the server runs.
    pub fn spawn_reporter(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let events = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(events.window);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                every.tick().await;
                events.flush();
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry::capture::Captured;

    #[test]
    fn many_auth_failures_make_one_line_with_their_counts() {
        let (logs, _guard) = Captured::install();
        let events = ServerEvents::default();
        for _ in 0..1000 {
            events.auth.unknown_key();
        }
        for _ in 0..7 {
            events.auth.missing_key();
        }
        events.flush();
        let lines = logs.lines("auth failures: 1007 (missing key 7, unknown key 1000)");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["failures"], 1007);
        assert_eq!(lines[0]["unknown_key"], 1000);
        // Nothing new: no line at all.
        events.flush();
        let summaries = logs
            .all_lines()
            .into_iter()
            .filter(|l| {
                l["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("auth failures"))
            })
            .count();
        assert_eq!(summaries, 1);
    }

    #[test]
    fn connection_timeouts_are_summed_and_kept_in_total() {
        let (logs, _guard) = Captured::install();
        let events = ConnectionEvents::default();
        events.header_timeout();
        events.header_timeout();
        events.request_timeout();
        events.refused();
        events.flush(WINDOW);
        let lines = logs.lines(
            "connections: 2 closed waiting for headers, 1 requests timed out, \
             1 refused over the connection cap",
        );
        assert_eq!(lines.len(), 1, "{}", logs.text());
        assert_eq!(lines[0]["refused_over_cap"], 1);
        assert_eq!(events.total_timeouts(), 3);
    }
}
