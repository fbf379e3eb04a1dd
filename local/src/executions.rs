//! `petavatar executions list|show`: the engine's history in a data folder, as a table or
//! as `GetExecutionHistory` JSON.

use std::path::Path;

use serde_json::json;
use statemachine::{Engine, ExecutionDescription, HistoryEvent, HistoryStore};

use crate::runtime::STATE_MACHINE_NAME;
use crate::serve::engine_path;
use crate::web::execution_arn;

#[derive(Debug, thiserror::Error)]
pub enum ExecutionsError {
    #[error("no engine history in {0} (has `petavatar serve --data` run there?)")]
    NoHistory(String),
    #[error("engine history: {0}")]
    Store(#[from] statemachine::StoreError),
    #[error("{0}")]
    Engine(#[from] statemachine::EngineError),
}

fn open_engine(data: &Path) -> Result<Engine, ExecutionsError> {
    let path = engine_path(data);
    if !path.exists() {
        return Err(ExecutionsError::NoHistory(data.display().to_string()));
    }
    Ok(Engine::builder().store(HistoryStore::open(&path)?).build())
}

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| "-".to_owned())
}

fn duration(e: &ExecutionDescription) -> String {
    e.stop_date
        .map(|stop| format!("{} ms", (stop - e.start_date).num_milliseconds()))
        .unwrap_or_else(|| "-".to_owned())
}

pub fn list(data: &Path) -> Result<(), ExecutionsError> {
    let engine = open_engine(data)?;
    let executions = engine.list_executions(None)?;
    println!(
        "{:<38} {:<10} {:<24} {:>10}",
        "NAME", "STATUS", "STARTED", "DURATION"
    );
    for e in &executions {
        println!(
            "{:<38} {:<10} {:<24} {:>10}",
            e.name,
            e.status.as_str(),
            time(Some(e.start_date)),
            duration(e)
        );
    }
    if executions.is_empty() {
        eprintln!("no executions yet");
    }
    Ok(())
}

/// The state an event belongs to, when its details name one.
fn step_of(event: &HistoryEvent) -> &str {
    event.detail_str("name").unwrap_or("")
}

pub fn show(data: &Path, id: &str, as_json: bool) -> Result<(), ExecutionsError> {
    let engine = open_engine(data)?;
    let arn = execution_arn(&engine.state_machine_arn(STATE_MACHINE_NAME), id);
    let execution = engine.describe_execution(&arn)?;
    let events = engine.history(&arn)?;
    if as_json {
        let doc = json!({ "events": events });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(());
    }
    println!("Execution {}", execution.execution_arn);
    println!("Status    {}", execution.status);
    println!("Started   {}", time(Some(execution.start_date)));
    println!(
        "Stopped   {} ({})",
        time(execution.stop_date),
        duration(&execution)
    );
    if let Some(error) = &execution.error {
        println!(
            "Error     {error}: {}",
            execution.cause.as_deref().unwrap_or("")
        );
    }
    println!();
    println!(
        "{:>4}  {:<34} {:<26} {:>9}",
        "ID", "TYPE", "STEP", "ELAPSED"
    );
    let start = events.first().map(|e| e.timestamp);
    for event in &events {
        let elapsed = start
            .map(|s| (event.timestamp - s).num_milliseconds())
            .unwrap_or(0);
        println!(
            "{:>4}  {:<34} {:<26} {:>6} ms",
            event.id,
            event.event_type,
            step_of(event),
            elapsed
        );
        if let Some(error) = event.detail_str("error") {
            println!(
                "{:>6}error: {error}  cause: {}",
                "",
                event.detail_str("cause").unwrap_or("")
            );
        }
    }
    Ok(())
}
