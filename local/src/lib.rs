//! The embedded runtime behind the `petavatar` binary: local adapters of the `steps` ports
//! (SQLite jobs, files, an SQS-like queue, HMAC-signed URLs), the engine wiring, the server
//! and the CLI commands.

pub mod console;
pub mod contact_sheet;
pub mod dead_letters;
pub mod executions;
pub mod guard;
pub mod http_server;
pub mod jobqueue;
pub mod lifecycle;
pub mod limits;
pub mod operator;
pub mod presign;
pub mod private;
pub mod queue;
pub mod run;
pub mod runtime;
pub mod serve;
pub mod signing;
pub mod store;
pub mod submit;
pub mod summary;
pub mod web;
pub mod worker;
