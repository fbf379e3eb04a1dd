//! Log subscribers. Services (`petavatar serve`, every Lambda) write JSON lines on stdout,
//! where CloudWatch Logs reads them beside the EMF lines; the other CLI commands write human
//! lines on stderr and keep stdout for their output. `RUST_LOG` overrides the level.
//!
//! A JSON line holds `timestamp`, `level`, `target`, the event's fields (`message` among
//! them) at the top level, `span` (the current span: its `name` and fields) and `spans` (every
//! entered span, outermost first), so a line logged anywhere under a job's span carries its
//! `job_id`, even from a nested span that does not repeat it.

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

/// The level of services' logs when `RUST_LOG` is not set.
pub const DEFAULT_JSON_FILTER: &str = "info";
/// The level of CLI commands' logs when `RUST_LOG` is not set.
pub const DEFAULT_CLI_FILTER: &str = "error";

/// `RUST_LOG` if it is set and valid, else `default`.
pub fn env_filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
}

/// The JSON-lines subscriber, writing to `writer`.
pub fn json_subscriber<W>(writer: W, filter: EnvFilter) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(true)
        .flatten_event(true)
        .with_ansi(false)
        .with_writer(writer)
        .finish()
}

/// JSON lines on stdout, for the process. A second call (or another subscriber already
/// installed) leaves the first in place.
pub fn init_json() {
    let _ = json_subscriber(std::io::stdout, env_filter(DEFAULT_JSON_FILTER)).try_init();
}

/// Human lines on stderr, errors only unless `RUST_LOG` says otherwise, for the process.
pub fn init_cli() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(env_filter(DEFAULT_CLI_FILTER))
        .with_writer(std::io::stderr)
        .try_init();
}
