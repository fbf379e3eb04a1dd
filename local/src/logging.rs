//! Logs. `serve` writes structured JSON lines (one object per line, with the span fields,
//! so every line of a job carries its `job_id`); the other commands log warnings to stderr
//! and keep stdout for their output. `RUST_LOG` overrides the level.

use tracing_subscriber::EnvFilter;

fn filter(default: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default))
}

/// JSON logs on stdout (where CloudWatch-style collectors read them, beside the EMF lines).
pub fn init_json() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter("info,tower_http=info"))
        .with_current_span(true)
        .with_span_list(true)
        .flatten_event(true)
        .with_writer(std::io::stdout)
        .try_init();
}

/// Human logs on stderr, errors only unless `RUST_LOG` says otherwise.
pub fn init_cli() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter("error"))
        .with_writer(std::io::stderr)
        .try_init();
}
