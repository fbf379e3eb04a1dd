//! The JSON lines logged on this thread while a guard lives, in exactly the format of
//! [`crate::logging::init_json`]: for tests of what a line carries (its `job_id`) or must
//! not carry (an API key). With `#[tokio::test]`'s current-thread runtime, spawned tasks run on
//! the test's thread and are captured too.

use std::sync::{Arc, Mutex, Once, PoisonError};

use serde_json::Value;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::{DefaultGuard, Interest};
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::EnvFilter;

use crate::logging::json_subscriber;

/// Where the captured lines go (a shared buffer).
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

impl Captured {
    /// Routes this thread's logs of level `info` and above here.
    pub fn install() -> (Captured, DefaultGuard) {
        Captured::install_filtered("info")
    }

    /// Routes this thread's logs that `directives` (`RUST_LOG` syntax, e.g. `trace`) let
    /// through here. `RUST_LOG` itself is not read: a test sees the same lines everywhere.
    pub fn install_filtered(directives: &str) -> (Captured, DefaultGuard) {
        ask_every_time();
        let captured = Captured::default();
        let subscriber = json_subscriber(captured.clone(), EnvFilter::new(directives));
        let guard = tracing::subscriber::set_default(subscriber);
        (captured, guard)
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Every line, parsed (a line that is not JSON is left out: `all_lines().len()` against
    /// `text().lines().count()` tells).
    pub fn all_lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect()
    }

    /// The lines whose message is `message`.
    pub fn lines(&self, message: &str) -> Vec<Value> {
        self.all_lines()
            .into_iter()
            .filter(|l| l["message"] == message)
            .collect()
    }
}

/// Installs [`AskEveryTime`] as the process's global subscriber, once (unless another global
/// subscriber came first).
fn ask_every_time() {
    static GLOBAL: Once = Once::new();
    GLOBAL.call_once(|| {
        let _ = tracing::subscriber::set_global_default(AskEveryTime);
    });
}

/// A global subscriber that records nothing but keeps every callsite's interest at
/// "sometimes". tracing caches each callsite's interest process-wide, computed from the
/// subscribers alive at that moment; with captures installed and dropped on parallel test
/// threads, a callsite first hit by a thread with no capture could be cached as "never" while
/// another thread's capture is being installed, and that capture would miss its lines. With
/// this subscriber always alive, tracing asks the current thread's subscriber every time.
struct AskEveryTime;

impl Subscriber for AskEveryTime {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }

    fn enabled(&self, _: &Metadata<'_>) -> bool {
        false
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, _: &Event<'_>) {}

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
