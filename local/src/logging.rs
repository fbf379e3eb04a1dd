//! Logs. `serve` writes structured JSON lines (one object per line, with the span fields,
//! so every line of a job carries its `job_id`); the other commands log warnings to stderr
//! and keep stdout for their output. `RUST_LOG` overrides the level.

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
}

/// The JSON-lines subscriber of `serve`, writing to `writer`.
pub fn json_subscriber<W>(writer: W) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter("info,tower_http=info"))
        .with_current_span(true)
        .with_span_list(true)
        .flatten_event(true)
        .with_writer(writer)
        .finish()
}

/// JSON logs on stdout (where CloudWatch-style collectors read them, beside the EMF lines).
pub fn init_json() {
    let _ = json_subscriber(std::io::stdout).try_init();
}

/// Human logs on stderr, errors only unless `RUST_LOG` says otherwise.
pub fn init_cli() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter("error"))
        .with_writer(std::io::stderr)
        .try_init();
}

/// The JSON lines logged on this thread while the guard lives (tests of what a line carries).
#[cfg(test)]
pub(crate) mod capture {
    use std::sync::{Arc, Mutex, PoisonError};

    use serde_json::Value;
    use tracing::subscriber::DefaultGuard;

    #[derive(Clone, Default)]
    pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

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
        /// Routes this thread's logs here, in the format `serve` uses.
        pub(crate) fn install() -> (Captured, DefaultGuard) {
            let captured = Captured::default();
            let guard = tracing::subscriber::set_default(super::json_subscriber(captured.clone()));
            (captured, guard)
        }

        /// The lines whose message is `message`.
        pub(crate) fn lines(&self, message: &str) -> Vec<Value> {
            let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            String::from_utf8_lossy(&bytes)
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|l| l["message"] == message)
                .collect()
        }
    }
}
