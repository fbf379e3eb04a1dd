//! An embedded AWS Step Functions engine: an Amazon States Language interpreter with
//! AWS's semantics (JSONPath dialect, Retry/Catch, history event shapes), a durable
//! execution history (SQLite) that survives restarts, injectable time, and the `asl` CLI.
//!
//! ```no_run
//! # async fn demo() -> Result<(), statemachine::EngineError> {
//! use statemachine::{Engine, HistoryStore};
//! let engine = Engine::builder().store(HistoryStore::open("engine.db")?).build();
//! let sm = engine.create_state_machine("demo", r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}"#)?;
//! let started = engine.start_execution(&sm, Some("run-1"), serde_json::json!({"x": 1})).await?;
//! let done = engine.wait(&started.execution_arn).await?;
//! println!("{} {:?}", done.status, done.output);
//! # Ok(()) }
//! ```

pub mod api;
pub mod choice;
pub mod clock;
pub mod definition;
pub mod engine;
pub mod handler;
pub mod history;
mod interpreter;
pub mod intrinsics;
pub mod jsonata;
pub mod path;
pub mod payload;
mod query;
pub mod retry;
pub mod store;
pub mod validate;

/// PetAvatar's pipeline (`pipeline.asl.json` beside this crate), with its `${…FunctionArn}`
/// placeholders: the one definition both runtimes run, CDK with real Lambda ARNs and the
/// embedded engine with local ones (fill them with [`substitute`]). The engine itself reads
/// any definition; this is only the file's one place in the code.
pub const PIPELINE_ASL: &str = include_str!("../pipeline.asl.json");

pub use clock::{Clock, SystemClock, VirtualClock};
pub use definition::{DefinitionError, StateMachineDefinition, substitute};
pub use engine::{
    Engine, EngineBuilder, EngineError, ExecutionDescription, ExecutionSpan, ExecutionStatus,
    ExecutionStatusChange, StartedExecution, StateMachineInfo, execution_span,
};
pub use handler::{
    FnHandler, HANDLER_CRASHED_ERROR, HandlerRegistry, InvocationContext, TaskFailure, TaskHandler,
};
pub use history::{HistoryEvent, HistoryPage, HistoryQuery};
pub use store::{GroupCommit, HistoryStore, StoreError};
pub use validate::{Severity, ValidationDiagnostic, validate};
