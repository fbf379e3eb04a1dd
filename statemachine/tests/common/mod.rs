//! What the engine's integration tests share: engines on a virtual clock (in memory or on a
//! SQLite file), running a definition to its end, and reading histories.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use serde_json::{Value, json};
use statemachine::{
    Clock, Engine, ExecutionDescription, HandlerRegistry, HistoryEvent, HistoryStore,
    InvocationContext, TaskFailure, TaskHandler, VirtualClock,
};

/// The local Lambda ARN of a handler registered as `name`.
pub fn arn(name: &str) -> String {
    format!("arn:aws:lambda:local:000000000000:function:{name}")
}

/// An in-memory engine on `clock`.
pub fn engine_on(clock: &VirtualClock, handlers: HandlerRegistry) -> Engine {
    Engine::builder()
        .in_memory()
        .clock(Arc::new(clock.clone()))
        .handlers(handlers)
        .build()
}

/// An in-memory engine on a fresh virtual clock (1 January 2024), and that clock.
pub fn virtual_engine(handlers: HandlerRegistry) -> (VirtualClock, Engine) {
    let clock = VirtualClock::starting_2024();
    let engine = engine_on(&clock, handlers);
    (clock, engine)
}

/// An engine whose history lives in the SQLite file `db` (reopen it to "restart").
pub fn durable_engine(db: &Path, clock: Arc<dyn Clock>, handlers: HandlerRegistry) -> Engine {
    Engine::builder()
        .store(HistoryStore::open(db).unwrap())
        .clock(clock)
        .handlers(handlers)
        .build()
}

/// Creates the machine `sm` from `def`, runs one execution with `input` to its end and returns
/// how it ended and its history.
pub async fn run_to_end(
    engine: &Engine,
    def: &Value,
    input: Value,
) -> (ExecutionDescription, Vec<HistoryEvent>) {
    let sm = engine.create_state_machine("sm", &def.to_string()).unwrap();
    let started = engine.start_execution(&sm, None, input).await.unwrap();
    let done = engine.wait(&started.execution_arn).await.unwrap();
    let history = engine.history(&started.execution_arn).unwrap();
    (done, history)
}

/// The event types of a history, in order.
pub fn types(h: &[HistoryEvent]) -> Vec<&str> {
    h.iter().map(|e| e.event_type.as_str()).collect()
}

/// Ids are 1..n without gaps, and every event points back to an earlier one.
pub fn assert_continuous(h: &[HistoryEvent]) {
    for (i, e) in h.iter().enumerate() {
        assert_eq!(e.id, i as i64 + 1, "ids must be gap-free: {:?}", types(h));
        assert!(e.previous_event_id < e.id);
    }
}

/// Yields until `condition` holds; a minute at most, so that only an engine that never gets
/// there fails, not one on a busy machine.
pub async fn wait_until(condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if condition() {
            return;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    panic!("condition not reached within a minute");
}

/// Counts its calls and answers `{"seen": payload}`.
pub struct Counting {
    pub calls: Arc<AtomicU32>,
}

impl Counting {
    pub fn new(calls: &Arc<AtomicU32>) -> Arc<Counting> {
        Arc::new(Counting {
            calls: calls.clone(),
        })
    }
}

#[async_trait]
impl TaskHandler for Counting {
    async fn invoke(&self, payload: Value, _ctx: InvocationContext) -> Result<Value, TaskFailure> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(json!({"seen": payload}))
    }
}

/// Counts its calls and never answers: the process "dies" while the handler runs.
pub struct Blocking {
    pub calls: Arc<AtomicU32>,
}

#[async_trait]
impl TaskHandler for Blocking {
    async fn invoke(&self, _payload: Value, _ctx: InvocationContext) -> Result<Value, TaskFailure> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        futures::future::pending().await
    }
}
