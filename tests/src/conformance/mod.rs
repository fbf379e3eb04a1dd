//! The ASL conformance runner: replays the AWS-recorded LocalStack Step Functions snapshots
//! in `../shared/conformance` against the embedded `statemachine` engine.
//!
//! See `docs/CONFORMANCE.md` for how to run it and what the results mean.

pub mod compare;
pub mod driver;
pub mod json5;
pub mod jsonpath;
pub mod lambdas;
pub mod manifest;
pub mod normalise;
pub mod patch;
pub mod pyjson;
pub mod report;
pub mod run;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Json {
        what: String,
        source: serde_json::Error,
    },
    #[error("{0}")]
    Case(String),
}

/// The workspace root (the parent of this package).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}

/// The conformance data folder: `$CONFORMANCE_DIR`, else `../shared/conformance` relative to
/// the workspace root; `None` if it holds no `manifest.json`.
pub fn data_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("CONFORMANCE_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => workspace_root()
            .join("..")
            .join("shared")
            .join("conformance"),
    };
    dir.join("manifest.json").is_file().then_some(dir)
}
