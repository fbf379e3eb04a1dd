//! The engine: state machines, executions, their durable histories, and status changes.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{Notify, broadcast};
use tracing::Instrument;

use crate::clock::{Clock, SystemClock};
use crate::definition::{DefinitionError, StateMachineDefinition};
use crate::handler::HandlerRegistry;
use crate::history::{HistoryEvent, HistoryPage, HistoryQuery, MAX_PAYLOAD_BYTES};
use crate::interpreter::{Run, RunSetup};
use crate::store::{ExecutionRecord, HistoryStore, StateMachineRecord, StoreError};

/// Errors of engine operations (the Step Functions API errors).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("StateMachineDoesNotExist: {0}")]
    StateMachineDoesNotExist(String),
    #[error("ExecutionDoesNotExist: {0}")]
    ExecutionDoesNotExist(String),
    #[error("ExecutionAlreadyExists: {0}")]
    ExecutionAlreadyExists(String),
    #[error("InvalidDefinition: {0}")]
    InvalidDefinition(#[from] DefinitionError),
    #[error("InvalidName: {0}")]
    InvalidName(String),
    #[error("InvalidExecutionInput: {0}")]
    InvalidExecutionInput(String),
    #[error("InvalidToken: {0}")]
    InvalidToken(String),
    #[error("ExecutionNotRedrivable: {0}")]
    ExecutionNotRedrivable(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("engine is shutting down")]
    Shutdown,
}

/// Status of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl ExecutionStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
        }
    }

    pub fn parse(s: &str) -> ExecutionStatus {
        match s {
            "SUCCEEDED" => ExecutionStatus::Succeeded,
            "FAILED" => ExecutionStatus::Failed,
            "TIMED_OUT" => ExecutionStatus::TimedOut,
            "ABORTED" => ExecutionStatus::Aborted,
            _ => ExecutionStatus::Running,
        }
    }

    pub fn is_terminal(&self) -> bool {
        *self != ExecutionStatus::Running
    }
}

impl std::fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored state machine, as `DescribeStateMachine` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct StateMachineInfo {
    pub arn: String,
    pub name: String,
    pub definition: String,
    pub role_arn: String,
    pub creation_date: DateTime<Utc>,
}

/// The result of `start_execution`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartedExecution {
    pub execution_arn: String,
    #[serde(serialize_with = "ser_epoch")]
    pub start_date: DateTime<Utc>,
    /// True when an execution of that name and input already existed (idempotent start).
    #[serde(skip)]
    pub already_existed: bool,
}

/// `DescribeExecution`'s response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionDescription {
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub status: ExecutionStatus,
    #[serde(serialize_with = "ser_epoch")]
    pub start_date: DateTime<Utc>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_epoch_opt"
    )]
    pub stop_date: Option<DateTime<Utc>>,
    /// The input as JSON text.
    pub input: String,
    pub input_details: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_details: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    pub redrive_count: u32,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_epoch_opt"
    )]
    pub redrive_date: Option<DateTime<Utc>>,
    pub redrive_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redrive_status_reason: Option<String>,
}

impl ExecutionDescription {
    /// The output parsed as JSON, once the execution succeeded.
    pub fn output_json(&self) -> Option<Value> {
        serde_json::from_str(self.output.as_deref()?).ok()
    }

    fn from_record(r: &ExecutionRecord) -> Self {
        let status = ExecutionStatus::parse(&r.status);
        let redrivable = matches!(
            status,
            ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted
        );
        ExecutionDescription {
            execution_arn: r.arn.clone(),
            state_machine_arn: r.state_machine_arn.clone(),
            name: r.name.clone(),
            status,
            start_date: r.start_date,
            stop_date: r.stop_date,
            input: r.input.clone(),
            input_details: serde_json::json!({"included": true}),
            output_details: r
                .output
                .as_ref()
                .map(|_| serde_json::json!({"included": true})),
            output: r.output.clone(),
            error: r.error.clone(),
            cause: r.cause.clone(),
            redrive_count: r.redrive_count,
            redrive_date: r.redrive_date,
            redrive_status: if redrivable {
                "REDRIVABLE"
            } else {
                "NOT_REDRIVABLE"
            }
            .to_string(),
            redrive_status_reason: match status {
                ExecutionStatus::Succeeded => {
                    Some("Execution is SUCCEEDED and cannot be redriven".into())
                }
                ExecutionStatus::Running => {
                    Some("Execution is RUNNING and cannot be redriven".into())
                }
                _ => None,
            },
        }
    }
}

fn ser_epoch<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(crate::history::epoch_seconds(t))
}

fn ser_epoch_opt<S: serde::Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => ser_epoch(t, s),
        None => s.serialize_none(),
    }
}

/// A status change, like the Step Functions "Execution Status Change" event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionStatusChange {
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub status: ExecutionStatus,
    #[serde(serialize_with = "ser_epoch")]
    pub start_date: DateTime<Utc>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "ser_epoch_opt"
    )]
    pub stop_date: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

impl From<ExecutionDescription> for ExecutionStatusChange {
    /// The change an execution's current state stands for (e.g. to catch up with executions
    /// that ended while nobody listened).
    fn from(d: ExecutionDescription) -> Self {
        ExecutionStatusChange {
            execution_arn: d.execution_arn,
            state_machine_arn: d.state_machine_arn,
            name: d.name,
            status: d.status,
            start_date: d.start_date,
            stop_date: d.stop_date,
            output: d.output,
            error: d.error,
            cause: d.cause,
        }
    }
}

/// Configures an [`Engine`].
pub struct EngineBuilder {
    store: Option<HistoryStore>,
    clock: Arc<dyn Clock>,
    handlers: HandlerRegistry,
    region: String,
    account_id: String,
    role_arn: Option<String>,
    execution_span: ExecutionSpan,
}

/// Makes the span an execution's task runs in (its logs, and its handlers' logs, are inside
/// it), from the execution's name. It is called where the execution starts running
/// (`start_execution`, `redrive_execution`, `resume_all`), so a span it makes with a
/// contextual parent (`info_span!`) is a child of the span current at that call: an embedder
/// that starts executions inside its own span (say, a job's, with `job_id`) finds that span's
/// fields on the engine's lines. Executions resumed at start-up have no such caller span;
/// the factory is how their lines get the embedder's fields (e.g. an embedder whose execution
/// name is its job id names the field `job_id`).
pub type ExecutionSpan = fn(&str) -> tracing::Span;

/// The default [`ExecutionSpan`]: `execution` with the field `execution` = the name.
pub fn execution_span(name: &str) -> tracing::Span {
    tracing::info_span!("execution", execution = %name)
}

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            store: None,
            clock: Arc::new(SystemClock),
            handlers: HandlerRegistry::new(),
            region: "local".into(),
            account_id: "000000000000".into(),
            role_arn: None,
            execution_span,
        }
    }
}

impl EngineBuilder {
    /// Where histories are kept (default: in memory).
    pub fn store(mut self, store: HistoryStore) -> Self {
        self.store = Some(store);
        self
    }

    /// Keep everything in memory (no durability; fastest).
    pub fn in_memory(mut self) -> Self {
        self.store = Some(HistoryStore::in_memory());
        self
    }

    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn handlers(mut self, handlers: HandlerRegistry) -> Self {
        self.handlers = handlers;
        self
    }

    /// Region used in ARNs (default `local`).
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// Account id used in ARNs (default `000000000000`).
    pub fn account_id(mut self, account: impl Into<String>) -> Self {
        self.account_id = account.into();
        self
    }

    /// The role ARN reported in `ExecutionStarted` (default
    /// `arn:aws:iam::<account>:role/StatesExecutionRole`).
    pub fn role_arn(mut self, role: impl Into<String>) -> Self {
        self.role_arn = Some(role.into());
        self
    }

    /// The span each execution runs in (default [`execution_span`]).
    pub fn execution_span(mut self, make: ExecutionSpan) -> Self {
        self.execution_span = make;
        self
    }

    pub fn build(self) -> Engine {
        let (tx, _) = broadcast::channel(1024);
        let role_arn = self.role_arn.unwrap_or_else(|| {
            format!("arn:aws:iam::{}:role/StatesExecutionRole", self.account_id)
        });
        Engine {
            inner: Arc::new(EngineInner {
                store: self.store.unwrap_or_else(HistoryStore::in_memory),
                clock: self.clock,
                handlers: Mutex::new(self.handlers),
                region: self.region,
                account_id: self.account_id,
                role_arn,
                execution_span: self.execution_span,
                runs: Mutex::new(HashMap::new()),
                definitions: Mutex::new(HashMap::new()),
                status_tx: tx,
                terminal: Notify::new(),
                start_lock: tokio::sync::Mutex::new(()),
                #[cfg(test)]
                wait_probe: Mutex::new(None),
            }),
        }
    }
}

pub(crate) struct EngineInner {
    pub store: HistoryStore,
    pub clock: Arc<dyn Clock>,
    pub handlers: Mutex<HandlerRegistry>,
    pub region: String,
    pub account_id: String,
    pub role_arn: String,
    execution_span: ExecutionSpan,
    runs: Mutex<HashMap<String, RunHandle>>,
    /// The parsed definition of each state machine, by ARN, with the text it came from:
    /// parsing (and later dropping) a large definition for every execution would cost more
    /// than running a short one.
    definitions: Mutex<HashMap<String, (String, Arc<StateMachineDefinition>)>>,
    status_tx: broadcast::Sender<ExecutionStatusChange>,
    terminal: Notify,
    start_lock: tokio::sync::Mutex<()>,
    /// Runs inside `Engine::wait` between its status read and its look at the running set,
    /// so a test can end the run exactly there.
    #[cfg(test)]
    wait_probe: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
}

struct RunHandle {
    run: Arc<Run>,
    task: tokio::task::JoinHandle<()>,
}

impl EngineInner {
    /// Called by a run when its execution reaches a terminal status (or is redriven).
    pub(crate) fn publish(&self, change: ExecutionStatusChange) {
        if change.status.is_terminal() {
            let ended = lock(&self.runs).remove(&change.execution_arn);
            // Ended from outside its own task (StopExecution): the task may sit in a handler
            // that never returns, so it is cancelled here. A run ending itself is about to
            // return anyway.
            if let Some(h) = ended
                && tokio::task::try_id() != Some(h.task.id())
            {
                h.task.abort();
            }
            self.terminal.notify_waiters();
        }
        // No receivers is fine: nobody is listening.
        let _ = self.status_tx.send(change);
    }

    /// The handler of `function_name` (looked up without copying the registry).
    pub(crate) fn handler(&self, function_name: &str) -> Option<Arc<dyn crate::TaskHandler>> {
        lock(&self.handlers).get(function_name)
    }

    /// Called when a run's task returns. A run that stopped without a terminal status (its
    /// store failed) would otherwise stay in the running set and keep `wait` waiting forever.
    fn run_returned(&self, arn: &str, run: &Arc<Run>) {
        let mut runs = lock(&self.runs);
        // Only this run: a redrive may already have registered a new run of the same ARN.
        if runs.get(arn).is_some_and(|h| Arc::ptr_eq(&h.run, run)) {
            runs.remove(arn);
            drop(runs);
            self.terminal.notify_waiters();
        }
    }

    /// The parsed form of a state machine's definition text, parsed once per text.
    fn definition(
        &self,
        sm_arn: &str,
        text: &str,
    ) -> Result<Arc<StateMachineDefinition>, EngineError> {
        if let Some((cached, def)) = lock(&self.definitions).get(sm_arn)
            && cached == text
        {
            return Ok(def.clone());
        }
        let def = Arc::new(StateMachineDefinition::parse(text)?);
        lock(&self.definitions).insert(sm_arn.to_string(), (text.to_string(), def.clone()));
        Ok(def)
    }

    /// Takes the handle of `run` out of the running set, if it is still there.
    fn take_run(&self, arn: &str, run: &Arc<Run>) -> Option<RunHandle> {
        let mut runs = lock(&self.runs);
        if runs.get(arn).is_some_and(|h| Arc::ptr_eq(&h.run, run)) {
            runs.remove(arn)
        } else {
            None
        }
    }

    #[cfg(test)]
    fn run_wait_probe(&self) {
        let probe = lock(&self.wait_probe).clone();
        if let Some(p) = probe {
            p();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The embedded Step Functions engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.inner.store)
            .field("region", &self.inner.region)
            .finish()
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 80
        && !name.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(
                    c,
                    '<' | '>'
                        | '{'
                        | '}'
                        | '['
                        | ']'
                        | '?'
                        | '*'
                        | '"'
                        | '#'
                        | '%'
                        | '\\'
                        | '^'
                        | '|'
                        | '~'
                        | '`'
                        | '$'
                        | '&'
                        | ','
                        | ';'
                        | ':'
                        | '/'
                )
        })
}

impl Engine {
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The clock the engine runs on.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.inner.clock.clone()
    }

    /// Registers (or replaces) a task handler after the engine was built.
    pub fn register_handler(&self, function_name: &str, handler: Arc<dyn crate::TaskHandler>) {
        lock(&self.inner.handlers).register(function_name, handler);
    }

    /// The ARN of the state machine called `name`.
    pub fn state_machine_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:states:{}:{}:stateMachine:{name}",
            self.inner.region, self.inner.account_id
        )
    }

    /// Creates (or updates, when the definition changed) a state machine. Idempotent per
    /// name + definition. Running executions keep the definition they started with.
    pub fn create_state_machine(
        &self,
        name: &str,
        definition_json: &str,
    ) -> Result<String, EngineError> {
        if !valid_name(name) {
            return Err(EngineError::InvalidName(name.to_string()));
        }
        StateMachineDefinition::parse(definition_json)?;
        let arn = self.state_machine_arn(name);
        self.inner.store.put_state_machine(&StateMachineRecord {
            arn: arn.clone(),
            name: name.to_string(),
            definition: definition_json.to_string(),
            created: self.inner.clock.now(),
        })?;
        Ok(arn)
    }

    /// The definition text of a state machine.
    pub fn describe_state_machine(&self, sm_arn: &str) -> Result<String, EngineError> {
        Ok(self
            .inner
            .store
            .get_state_machine(sm_arn)?
            .ok_or_else(|| EngineError::StateMachineDoesNotExist(sm_arn.to_string()))?
            .definition)
    }

    /// A state machine's stored record (`DescribeStateMachine`).
    pub fn state_machine(&self, sm_arn: &str) -> Result<StateMachineInfo, EngineError> {
        self.inner
            .store
            .get_state_machine(sm_arn)?
            .map(|r| self.info(r))
            .ok_or_else(|| EngineError::StateMachineDoesNotExist(sm_arn.to_string()))
    }

    /// Every state machine, oldest first (`ListStateMachines`).
    pub fn list_state_machines(&self) -> Result<Vec<StateMachineInfo>, EngineError> {
        Ok(self
            .inner
            .store
            .list_state_machines()?
            .into_iter()
            .map(|r| self.info(r))
            .collect())
    }

    /// `DeleteStateMachine`: its executions and their histories stay readable.
    pub fn delete_state_machine(&self, sm_arn: &str) -> Result<(), EngineError> {
        if self.inner.store.delete_state_machine(sm_arn)? {
            Ok(())
        } else {
            Err(EngineError::StateMachineDoesNotExist(sm_arn.to_string()))
        }
    }

    fn info(&self, r: StateMachineRecord) -> StateMachineInfo {
        StateMachineInfo {
            arn: r.arn,
            name: r.name,
            definition: r.definition,
            role_arn: self.inner.role_arn.clone(),
            creation_date: r.created,
        }
    }

    /// Starts an execution. Same name + same input returns the existing execution
    /// (`already_existed`); same name + other input fails with `ExecutionAlreadyExists`.
    pub async fn start_execution(
        &self,
        sm_arn: &str,
        name: Option<&str>,
        input: Value,
    ) -> Result<StartedExecution, EngineError> {
        let text = serde_json::to_string(&input)
            .map_err(|e| EngineError::InvalidExecutionInput(e.to_string()))?;
        self.start_execution_json(sm_arn, name, &text).await
    }

    /// Like [`Engine::start_execution`] with the input as JSON text, which is kept verbatim
    /// in `ExecutionStarted` (as AWS keeps the caller's string).
    pub async fn start_execution_json(
        &self,
        sm_arn: &str,
        name: Option<&str>,
        input_text: &str,
    ) -> Result<StartedExecution, EngineError> {
        let input: Value = serde_json::from_str(input_text)
            .map_err(|e| EngineError::InvalidExecutionInput(e.to_string()))?;
        if input_text.len() > MAX_PAYLOAD_BYTES {
            return Err(EngineError::InvalidExecutionInput(
                "Input exceeds the maximum size of 262144 bytes".into(),
            ));
        }
        let sm = self
            .inner
            .store
            .get_state_machine(sm_arn)?
            .ok_or_else(|| EngineError::StateMachineDoesNotExist(sm_arn.to_string()))?;
        let name = match name {
            Some(n) => n.to_string(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        if !valid_name(&name) {
            return Err(EngineError::InvalidName(name));
        }
        let arn = format!(
            "arn:aws:states:{}:{}:execution:{}:{name}",
            self.inner.region, self.inner.account_id, sm.name
        );
        let _guard = self.inner.start_lock.lock().await;
        if let Some(existing) = self.inner.store.get_execution(&arn)? {
            let same_input = serde_json::from_str::<Value>(&existing.input).ok() == Some(input);
            if same_input {
                return Ok(StartedExecution {
                    execution_arn: arn,
                    start_date: existing.start_date,
                    already_existed: true,
                });
            }
            return Err(EngineError::ExecutionAlreadyExists(format!(
                "Execution Already Exists: '{arn}'"
            )));
        }
        let definition = self.inner.definition(&sm.arn, &sm.definition)?;
        let run = Run::start(
            self.inner.clone(),
            RunSetup {
                arn: arn.clone(),
                sm_arn: sm.arn.clone(),
                name: name.clone(),
                definition,
                definition_text: sm.definition.clone(),
                input_text: input_text.to_string(),
            },
        )?;
        let start_date = run.start_date();
        self.spawn(run);
        Ok(StartedExecution {
            execution_arn: arn,
            start_date,
            already_existed: false,
        })
    }

    /// Drives `run` in its own task, inside the execution's span (made here, in the caller's
    /// context: see [`ExecutionSpan`]).
    fn spawn(&self, run: Arc<Run>) {
        let arn = run.arn().to_string();
        let span = (self.inner.execution_span)(run.name());
        let driver = run.clone();
        let inner = self.inner.clone();
        let task_arn = arn.clone();
        // Registered under the lock the task needs to unregister, so the task cannot
        // unregister before it is registered.
        let mut runs = lock(&self.inner.runs);
        let task = tokio::spawn(
            async move {
                // Handler panics are task failures (see `Run::invoke`); a panic here is an
                // engine bug. The run still leaves the running set, so `wait` returns.
                let driven = AssertUnwindSafe(driver.clone().drive())
                    .catch_unwind()
                    .await;
                if driven.is_err() {
                    tracing::error!(execution = %task_arn, "the execution's driver panicked");
                }
                inner.run_returned(&task_arn, &driver);
            }
            .instrument(span),
        );
        runs.insert(arn, RunHandle { run, task });
    }

    /// `DescribeExecution`.
    pub fn describe_execution(&self, arn: &str) -> Result<ExecutionDescription, EngineError> {
        let rec = self
            .inner
            .store
            .get_execution(arn)?
            .ok_or_else(|| EngineError::ExecutionDoesNotExist(arn.to_string()))?;
        Ok(ExecutionDescription::from_record(&rec))
    }

    /// `ListExecutions`, newest first.
    pub fn list_executions(
        &self,
        sm_arn: Option<&str>,
    ) -> Result<Vec<ExecutionDescription>, EngineError> {
        Ok(self
            .inner
            .store
            .list_executions(sm_arn)?
            .iter()
            .map(ExecutionDescription::from_record)
            .collect())
    }

    /// `GetExecutionHistory`: ascending or reversed, paged by `max_results` / `next_token`.
    pub fn get_execution_history(
        &self,
        arn: &str,
        query: HistoryQuery,
    ) -> Result<HistoryPage, EngineError> {
        if self.inner.store.get_execution(arn)?.is_none() {
            return Err(EngineError::ExecutionDoesNotExist(arn.to_string()));
        }
        let mut events: Vec<HistoryEvent> = self
            .inner
            .store
            .events(arn)?
            .into_iter()
            .map(|e| e.event)
            .collect();
        if query.reverse_order {
            events.reverse();
        }
        let start = match &query.next_token {
            Some(t) => t
                .parse::<usize>()
                .ok()
                .filter(|n| *n <= events.len())
                .ok_or_else(|| EngineError::InvalidToken(t.clone()))?,
            None => 0,
        };
        let size = query
            .max_results
            .filter(|n| *n > 0)
            .unwrap_or(100)
            .min(1000) as usize;
        let end = (start + size).min(events.len());
        let next_token = (end < events.len()).then(|| end.to_string());
        Ok(HistoryPage {
            events: events.drain(start..end).collect(),
            next_token,
        })
    }

    /// The whole history in ascending order (one read of the store, not one per page).
    pub fn history(&self, arn: &str) -> Result<Vec<HistoryEvent>, EngineError> {
        if self.inner.store.get_execution(arn)?.is_none() {
            return Err(EngineError::ExecutionDoesNotExist(arn.to_string()));
        }
        Ok(self
            .inner
            .store
            .events(arn)?
            .into_iter()
            .map(|e| e.event)
            .collect())
    }

    /// Waits until the execution is no longer RUNNING.
    pub async fn wait(&self, arn: &str) -> Result<ExecutionDescription, EngineError> {
        loop {
            let notified = self.inner.terminal.notified();
            let d = self.describe_execution(arn)?;
            if d.status.is_terminal() {
                return Ok(d);
            }
            #[cfg(test)]
            self.inner.run_wait_probe();
            if !lock(&self.inner.runs).contains_key(arn) {
                // Either nobody runs it in this process (e.g. not resumed), or its run ended
                // since the read above: a run stores its terminal status before it leaves the
                // running set, so a second read tells the two apart.
                return self.describe_execution(arn);
            }
            notified.await;
        }
    }

    /// `StopExecution`: the execution ends ABORTED with an `ExecutionAborted` event.
    pub async fn stop_execution(
        &self,
        arn: &str,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<ExecutionDescription, EngineError> {
        // The run stays registered until its ABORTED status is stored (publish then
        // unregisters it and cancels its task), so `wait` never sees it gone while RUNNING.
        let run = lock(&self.inner.runs).get(arn).map(|h| h.run.clone());
        match run {
            Some(run) => {
                let recorded = run.abort(error, cause);
                // If recording failed the run is closed but still registered: take it out and
                // wake `wait`ers, who then read the stored status instead of blocking for ever.
                if let Some(h) = self.inner.take_run(arn, &run) {
                    h.task.abort();
                    self.inner.terminal.notify_waiters();
                }
                recorded?;
            }
            None => {
                let d = self.describe_execution(arn)?;
                if d.status == ExecutionStatus::Running {
                    Run::abort_stored(&self.inner, arn, error, cause)?;
                }
            }
        }
        self.describe_execution(arn)
    }

    /// `RedriveExecution`: restarts a FAILED / TIMED_OUT / ABORTED execution from where it
    /// failed, reusing the results of the states that had completed.
    pub async fn redrive_execution(&self, arn: &str) -> Result<DateTime<Utc>, EngineError> {
        let rec = self
            .inner
            .store
            .get_execution(arn)?
            .ok_or_else(|| EngineError::ExecutionDoesNotExist(arn.to_string()))?;
        let status = ExecutionStatus::parse(&rec.status);
        if !matches!(
            status,
            ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted
        ) {
            return Err(EngineError::ExecutionNotRedrivable(format!(
                "Execution is {status} and cannot be redriven"
            )));
        }
        let run = Run::redrive(self.inner.clone(), &rec)?;
        let date = self.inner.clock.now();
        self.spawn(run);
        Ok(date)
    }

    /// At start-up: continues every RUNNING execution from its history. Returns how many.
    pub fn resume_all(&self) -> Result<usize, EngineError> {
        let running = self.inner.store.running_executions()?;
        let mut n = 0;
        for rec in running {
            if lock(&self.inner.runs).contains_key(&rec.arn) {
                continue;
            }
            let run = Run::resume(self.inner.clone(), &rec)?;
            self.spawn(run);
            n += 1;
        }
        Ok(n)
    }

    /// Status changes of every execution (RUNNING at start and redrive, then terminal).
    pub fn subscribe(&self) -> broadcast::Receiver<ExecutionStatusChange> {
        self.inner.status_tx.subscribe()
    }

    /// Stops driving every execution in this process without recording anything, as a
    /// crash would. Their histories stay RUNNING; `resume_all` continues them later.
    pub fn shutdown(&self) {
        let runs: Vec<RunHandle> = lock(&self.inner.runs).drain().map(|(_, h)| h).collect();
        for h in runs {
            h.run.close();
            h.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use async_trait::async_trait;
    use tokio::sync::Semaphore;

    use super::*;
    use crate::handler::{InvocationContext, TaskFailure, TaskHandler};

    /// Returns its payload once the test opens the gate.
    struct Gated(Arc<Semaphore>);

    #[async_trait]
    impl TaskHandler for Gated {
        async fn invoke(
            &self,
            payload: Value,
            _ctx: InvocationContext,
        ) -> Result<Value, TaskFailure> {
            let _permit = self
                .0
                .acquire()
                .await
                .map_err(|e| TaskFailure::new("Gate.Closed", e.to_string()))?;
            Ok(payload)
        }
    }

    /// An engine whose one-task machine waits in the `gate` handler, and the ARN of an
    /// execution started with `input`.
    async fn gated_execution(gate: &Arc<Semaphore>, input: Value) -> (Engine, String) {
        let engine = Engine::builder()
            .in_memory()
            .handlers(HandlerRegistry::new().with("gate", Arc::new(Gated(gate.clone()))))
            .build();
        let sm = engine
            .create_state_machine(
                "g",
                r#"{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:local:000000000000:function:gate","End":true}}}"#,
            )
            .unwrap();
        let started = engine.start_execution(&sm, Some("e"), input).await.unwrap();
        (engine, started.execution_arn)
    }

    /// The run ends exactly between `wait`'s status read and its look at the running set:
    /// `wait` must report the end, not the RUNNING it read first.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wait_reports_a_run_that_ends_between_its_two_looks() {
        let gate = Arc::new(Semaphore::new(0));
        let (engine, arn) = gated_execution(&gate, serde_json::json!({"v": 1})).await;
        let fired = Arc::new(AtomicBool::new(false));
        let probe = {
            let engine = engine.clone();
            let arn = arn.clone();
            let fired = fired.clone();
            move || {
                if fired.swap(true, Ordering::SeqCst) {
                    return;
                }
                // Blocks this worker; the other one finishes the run meanwhile.
                gate.add_permits(1);
                let deadline = Instant::now() + Duration::from_secs(10);
                while lock(&engine.inner.runs).contains_key(&arn) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        };
        *lock(&engine.inner.wait_probe) = Some(Arc::new(probe));
        let done = engine.wait(&arn).await.unwrap();
        *lock(&engine.inner.wait_probe) = None;
        assert!(fired.load(Ordering::SeqCst), "the probe did not run");
        assert_eq!(done.status, ExecutionStatus::Succeeded);
        assert_eq!(done.output_json(), Some(serde_json::json!({"v": 1})));
    }

    /// A stopped run leaves the running set only once ABORTED is stored, and its task (stuck
    /// in a handler) is cancelled.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stop_ends_a_run_blocked_in_a_handler() {
        let gate = Arc::new(Semaphore::new(0));
        let (engine, arn) = gated_execution(&gate, serde_json::json!({})).await;
        let waiter = {
            let engine = engine.clone();
            let arn = arn.clone();
            tokio::spawn(async move { engine.wait(&arn).await })
        };
        let stopped = engine.stop_execution(&arn, Some("E"), None).await.unwrap();
        assert_eq!(stopped.status, ExecutionStatus::Aborted);
        let seen = tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(seen.status, ExecutionStatus::Aborted);
        assert!(lock(&engine.inner.runs).is_empty());
    }
}
