//! Logs and metrics as CloudWatch reads them, in one place for `petavatar serve` and the
//! Lambdas (no AWS SDK: both are lines on stdout that CloudWatch Logs collects).
//!
//! - [`logging`]: one JSON object per line (tracing-subscriber's JSON format) carrying the
//!   fields of the current span and of every span around it, so each line logged while a
//!   job's span is entered carries its `job_id`.
//! - [`emf`]: CloudWatch Embedded Metric Format documents, one JSON line each; CloudWatch
//!   Logs turns them into metrics in the `PetAvatar` namespace (no PutMetricData call).
//! - [`capture`]: the JSON lines logged on this thread, for tests of what a line carries.

pub mod capture;
pub mod emf;
pub mod logging;
