//! Runs one execution: walks the states, writes every event to the store before acting on
//! it, and rebuilds its position after a restart by replaying the recorded history.
//!
//! Replay: every event belongs to a logical thread (`scope`: the top level, a Parallel
//! branch, a Map iteration). On resume the interpreter runs from the start again, but each
//! event it would emit is first matched against that scope's recorded events; a match is
//! taken as it was (ids, timestamps, task results) instead of being written or acted on.
//! When a scope's recorded events run out, that thread is live again.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, SecondsFormat, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Map, Value, json};

use crate::choice::{evaluate_rule, parse_timestamp};
use crate::definition::{
    Catcher, Machine, MapSpec, PathField, QueryLanguage, State, StateKind, StateMachineDefinition,
};
use crate::engine::{EngineError, EngineInner, ExecutionStatus, ExecutionStatusChange};
use crate::handler::{InvocationContext, TaskFailure, lambda_function_name};
use crate::history::{
    EventDetails, HistoryEvent, MAX_HISTORY_EVENTS, MAX_PAYLOAD_BYTES, not_truncated,
};
use crate::payload::{
    Scope, StateError, apply_template, merge_result, merge_result_owned, resolve,
    select_path_owned, select_path_ref, to_text,
};
use crate::query::{self, StatesVar};
use crate::retry::{delay_seconds, find_catcher, find_retrier, to_duration};
use crate::store::{ExecutionKey, ExecutionRecord, RecordedEvent, StatusUpdate, StoredEvent};

mod jsonata_states;

use jsonata_states::{jsonata_map_inputs, jsonata_tolerated_limits};

/// The longest Wait AWS accepts, in seconds (a Java `int`).
const MAX_WAIT_SECONDS: i64 = i32::MAX as i64;

pub(crate) struct RunSetup {
    pub arn: String,
    pub sm_arn: String,
    pub name: String,
    pub definition: Arc<StateMachineDefinition>,
    pub definition_text: String,
    pub input_text: String,
}

/// Why interpretation stopped early.
#[derive(Debug)]
pub(crate) enum Flow {
    /// A state error travelling up (catchable by an enclosing state).
    Fail(StateError),
    /// Stop: the execution was closed (stopped, shut down) or the store failed.
    Halt,
}

impl From<StateError> for Flow {
    fn from(e: StateError) -> Self {
        Flow::Fail(e)
    }
}

struct Log {
    next_id: i64,
    replay: HashMap<String, VecDeque<HistoryEvent>>,
    closed: bool,
    /// Per thread scope, the id and time of its latest recorded or replayed event: a retry's
    /// backoff counts from its failure event without reading the history back.
    latest: HashMap<String, (i64, DateTime<Utc>)>,
}

/// One logical thread of events.
#[derive(Clone)]
struct Thread {
    scope: String,
    prev: i64,
    /// Shared with child threads and with the scope of the state being evaluated; copied
    /// only when a state assigns variables.
    vars: Arc<Map<String, Value>>,
    /// Distributed Map iterations run as child executions: their events are not recorded.
    silent: bool,
    visits: HashMap<String, u32>,
    status: Option<Arc<Mutex<ChildStatus>>>,
    in_child: bool,
    /// Variables assigned by the current state, reported in its exit event.
    assigned: Option<Map<String, Value>>,
}

#[derive(Default)]
struct ChildStatus {
    current: Option<&'static str>,
    finished: bool,
}

impl Thread {
    fn child(&self, scope: String, prev: i64) -> Thread {
        Thread {
            scope,
            prev,
            vars: self.vars.clone(),
            silent: self.silent,
            visits: HashMap::new(),
            status: Some(Arc::new(Mutex::new(ChildStatus::default()))),
            in_child: true,
            assigned: None,
        }
    }

    fn set_current(&self, ty: Option<&'static str>) {
        if let Some(s) = &self.status {
            lock(s).current = ty;
        }
    }

    /// Marks a branch or iteration done: a sibling's failure no longer aborts it.
    fn mark_finished(&self) {
        if let Some(s) = &self.status {
            lock(s).finished = true;
        }
    }
}

/// A child thread's status, shared with its parent so that, when one child fails, the
/// parent can see where each sibling is.
type SharedStatus = Option<Arc<Mutex<ChildStatus>>>;

/// The threads of a Parallel state's branches or a Map state's iterations, all following
/// the parent's current event, and their shared statuses.
fn children(
    th: &Thread,
    n: usize,
    scope: impl Fn(usize) -> String,
) -> (Vec<Thread>, Vec<SharedStatus>) {
    let base = th.prev;
    let children: Vec<Thread> = (0..n).map(|i| th.child(scope(i), base)).collect();
    let statuses = children.iter().map(|c| c.status.clone()).collect();
    (children, statuses)
}

/// The children still inside a state (index, state type) when a sibling failed.
fn interrupted(statuses: &[SharedStatus]) -> Vec<(usize, &'static str)> {
    statuses
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let g = lock(s.as_ref()?);
            if g.finished {
                None
            } else {
                g.current.map(|ty| (i, ty))
            }
        })
        .collect()
}

enum Step {
    Next(String, Value),
    End(Value),
}

/// When a live event must be on disk.
#[derive(Clone, Copy)]
enum Commit {
    /// A pure transition: may wait for the next group commit.
    Buffered,
    /// Records an outside effect: written before the run goes on.
    Now,
}

pub(crate) struct Run {
    engine: Arc<EngineInner>,
    arn: String,
    /// The store's key of this execution's history.
    seq: i64,
    sm_arn: String,
    name: String,
    def: Arc<StateMachineDefinition>,
    input: Value,
    start_date: DateTime<Utc>,
    redrive_count: u32,
    log: Mutex<Log>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn details(pairs: Vec<(&str, Value)>) -> Option<Map<String, Value>> {
    Some(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn iso(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `PassStateAborted`, `TaskStateAborted`, … for a state type name.
fn aborted_event_type(type_name: &str) -> &'static str {
    match type_name {
        "Pass" => "PassStateAborted",
        "Task" => "TaskStateAborted",
        "Choice" => "ChoiceStateAborted",
        "Wait" => "WaitStateAborted",
        "Succeed" => "SucceedStateAborted",
        "Parallel" => "ParallelStateAborted",
        "Map" => "MapStateAborted",
        _ => "FailStateAborted",
    }
}

/// Event types that belong to the execution, not to a thread: never replayed.
fn is_execution_event(ty: &str) -> bool {
    ty.starts_with("Execution")
}

impl Run {
    /// Records `ExecutionStarted` and returns the run (not yet driven).
    pub(crate) fn start(
        engine: Arc<EngineInner>,
        setup: RunSetup,
    ) -> Result<Arc<Run>, EngineError> {
        let input: Value = serde_json::from_str(&setup.input_text)
            .map_err(|e| EngineError::InvalidExecutionInput(e.to_string()))?;
        let now = engine.clock.now();
        let started = RecordedEvent {
            timestamp: now,
            event_type: "ExecutionStarted",
            id: 1,
            previous_event_id: 0,
            details: details(vec![
                ("input", Value::String(setup.input_text.clone())),
                ("inputDetails", not_truncated()),
                ("roleArn", Value::String(engine.role_arn.clone())),
            ])
            .into(),
            scope: String::new(),
            replayable: true,
        };
        let rec = ExecutionRecord::running(
            setup.arn.clone(),
            setup.sm_arn.clone(),
            setup.name.clone(),
            setup.definition_text,
            setup.input_text,
            now,
        );
        let seq = engine.store.insert_execution(&rec, started)?;
        let run = Arc::new(Run {
            engine,
            arn: setup.arn,
            seq,
            sm_arn: setup.sm_arn,
            name: setup.name,
            def: setup.definition,
            input,
            start_date: now,
            redrive_count: 0,
            log: Mutex::new(Log {
                next_id: 2,
                replay: HashMap::new(),
                closed: false,
                latest: HashMap::new(),
            }),
        });
        run.publish_running();
        Ok(run)
    }

    /// Rebuilds a run of a RUNNING execution from its stored history.
    pub(crate) fn resume(
        engine: Arc<EngineInner>,
        rec: &ExecutionRecord,
    ) -> Result<Arc<Run>, EngineError> {
        let events = engine.store.events(&rec.arn)?;
        Self::from_history(engine, rec, events)
    }

    fn from_history(
        engine: Arc<EngineInner>,
        rec: &ExecutionRecord,
        events: Vec<StoredEvent>,
    ) -> Result<Arc<Run>, EngineError> {
        let def = StateMachineDefinition::parse(&rec.definition)?;
        let input: Value = serde_json::from_str(&rec.input)
            .map_err(|e| EngineError::InvalidExecutionInput(e.to_string()))?;
        let next_id = events.iter().map(|e| e.event.id).max().unwrap_or(1) + 1;
        let mut replay: HashMap<String, VecDeque<HistoryEvent>> = HashMap::new();
        for e in events {
            if e.replayable && !is_execution_event(&e.event.event_type) {
                replay.entry(e.scope).or_default().push_back(e.event);
            }
        }
        Ok(Arc::new(Run {
            engine,
            arn: rec.arn.clone(),
            seq: rec.seq,
            sm_arn: rec.state_machine_arn.clone(),
            name: rec.name.clone(),
            def: Arc::new(def),
            input,
            start_date: rec.start_date,
            redrive_count: rec.redrive_count,
            log: Mutex::new(Log {
                next_id,
                replay,
                closed: false,
                latest: HashMap::new(),
            }),
        }))
    }

    /// Re-opens a failed execution: the failed attempt's trailing events of every thread
    /// are retired from replay, so those states run again; completed ones are reused.
    pub(crate) fn redrive(
        engine: Arc<EngineInner>,
        rec: &ExecutionRecord,
    ) -> Result<Arc<Run>, EngineError> {
        let events = engine.store.events(&rec.arn)?;
        let retired = retired_for_redrive(&events);
        let now = engine.clock.now();
        let last = events.iter().map(|e| e.event.id).max().unwrap_or(0);
        let redriven = RecordedEvent {
            timestamp: now,
            event_type: "ExecutionRedriven",
            id: last + 1,
            previous_event_id: last,
            details: details(vec![("redriveCount", json!(rec.redrive_count + 1))]).into(),
            scope: String::new(),
            replayable: false,
        };
        engine
            .store
            .begin_redrive(rec.key(), &retired, now, redriven)?;
        let rec = engine
            .store
            .get_execution(&rec.arn)?
            .ok_or_else(|| EngineError::ExecutionDoesNotExist(rec.arn.clone()))?;
        let events = engine.store.events(&rec.arn)?;
        let run = Self::from_history(engine, &rec, events)?;
        run.publish_running();
        Ok(run)
    }

    pub(crate) fn arn(&self) -> &str {
        &self.arn
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    fn key(&self) -> ExecutionKey<'_> {
        ExecutionKey {
            arn: &self.arn,
            seq: self.seq,
        }
    }

    pub(crate) fn start_date(&self) -> DateTime<Utc> {
        self.start_date
    }

    /// Stops emitting: later events are refused (used by shutdown).
    pub(crate) fn close(&self) {
        lock(&self.log).closed = true;
    }

    fn publish_running(&self) {
        self.engine.publish(ExecutionStatusChange {
            execution_arn: self.arn.clone(),
            state_machine_arn: self.sm_arn.clone(),
            name: self.name.clone(),
            status: ExecutionStatus::Running,
            start_date: self.start_date,
            stop_date: None,
            output: None,
            error: None,
            cause: None,
        });
    }

    /// Records `ExecutionAborted` for a live run and closes it.
    pub(crate) fn abort(
        &self,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<(), EngineError> {
        let mut log = lock(&self.log);
        if log.closed {
            return Ok(());
        }
        let id = log.next_id;
        log.next_id += 1;
        log.closed = true;
        drop(log);
        self.finish_with(
            id,
            id - 1,
            "ExecutionAborted",
            ExecutionStatus::Aborted,
            None,
            error.map(str::to_string),
            cause.map(str::to_string),
        )
    }

    /// Records `ExecutionAborted` for an execution no run drives in this process.
    pub(crate) fn abort_stored(
        engine: &Arc<EngineInner>,
        arn: &str,
        error: Option<&str>,
        cause: Option<&str>,
    ) -> Result<(), EngineError> {
        let rec = engine
            .store
            .get_execution(arn)?
            .ok_or_else(|| EngineError::ExecutionDoesNotExist(arn.to_string()))?;
        let run = Self::resume(engine.clone(), &rec)?;
        run.abort(error, cause)
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_with(
        &self,
        id: i64,
        prev: i64,
        ty: &'static str,
        status: ExecutionStatus,
        output: Option<String>,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<(), EngineError> {
        let now = self.engine.clock.now();
        let mut d = Map::new();
        if let Some(o) = &output {
            d.insert("output".into(), Value::String(o.clone()));
            d.insert("outputDetails".into(), not_truncated());
        }
        let error = error.filter(|e| !e.is_empty());
        let cause = cause.filter(|c| !c.is_empty());
        if let Some(e) = &error {
            d.insert("error".into(), Value::String(e.clone()));
        }
        if let Some(c) = &cause {
            d.insert("cause".into(), Value::String(c.clone()));
        }
        let ev = RecordedEvent {
            timestamp: now,
            event_type: ty,
            id,
            previous_event_id: prev,
            details: EventDetails::Map(d),
            scope: String::new(),
            replayable: true,
        };
        let timed_out = status == ExecutionStatus::TimedOut;
        let update = StatusUpdate {
            status: status.as_str().to_string(),
            stop_date: Some(now),
            output: output.clone(),
            error: if timed_out { None } else { error.clone() },
            cause: if timed_out { None } else { cause.clone() },
        };
        self.engine
            .store
            .append_event(self.key(), ev, Some(&update))?;
        self.engine.publish(ExecutionStatusChange {
            execution_arn: self.arn.clone(),
            state_machine_arn: self.sm_arn.clone(),
            name: self.name.clone(),
            status,
            start_date: self.start_date,
            stop_date: Some(now),
            output,
            error,
            cause,
        });
        Ok(())
    }

    /// A sleep until `deadline` on the engine's clock (none without a deadline).
    fn deadline(&self, deadline: Option<DateTime<Utc>>) -> Option<BoxFuture<'static, ()>> {
        deadline.map(|d| self.engine.clock.sleep_until(d))
    }

    /// Runs the execution to its end (or until it is closed).
    pub(crate) async fn drive(self: Arc<Self>) {
        let mut th = Thread {
            scope: String::new(),
            prev: 0,
            vars: Arc::new(Map::new()),
            silent: false,
            visits: HashMap::new(),
            status: None,
            in_child: false,
            assigned: None,
        };
        let root = self.def.root.clone();
        let input = self.input.clone();
        let deadline = self
            .def
            .timeout_seconds
            .map(|s| after_seconds(self.start_date, i64::try_from(s).unwrap_or(i64::MAX)));
        let outcome = before(
            self.run_machine(&root, input, &mut th),
            self.deadline(deadline),
        )
        .await;
        let result = match outcome {
            Some(r) => r,
            None => {
                self.terminate(
                    "ExecutionTimedOut",
                    ExecutionStatus::TimedOut,
                    None,
                    Some("States.Timeout".into()),
                    None,
                    None,
                );
                return;
            }
        };
        match result {
            Ok(output) => {
                let text = to_text(&output);
                self.terminate(
                    "ExecutionSucceeded",
                    ExecutionStatus::Succeeded,
                    Some(text),
                    None,
                    None,
                    Some(th.prev),
                );
            }
            Err(Flow::Fail(e)) => {
                self.terminate(
                    "ExecutionFailed",
                    ExecutionStatus::Failed,
                    None,
                    Some(e.error),
                    e.cause,
                    Some(th.prev),
                );
            }
            Err(Flow::Halt) => {}
        }
    }

    fn terminate(
        &self,
        ty: &'static str,
        status: ExecutionStatus,
        output: Option<String>,
        error: Option<String>,
        cause: Option<String>,
        prev: Option<i64>,
    ) {
        let mut log = lock(&self.log);
        if log.closed {
            return;
        }
        let id = log.next_id;
        log.next_id += 1;
        log.closed = true;
        drop(log);
        let prev = prev.unwrap_or(id - 1);
        if let Err(e) = self.finish_with(id, prev, ty, status, output, error, cause) {
            tracing::error!(execution = %self.arn, error = %e, "could not record the end of an execution");
        }
    }

    // ---- events -------------------------------------------------------------------------

    /// Emits (or replays) an event on a thread and advances the thread to it.
    fn emit(
        &self,
        th: &mut Thread,
        ty: &'static str,
        d: impl Into<EventDetails>,
    ) -> Result<HistoryEvent, Flow> {
        let ev = self.emit_at(th, th.prev, ty, d)?;
        if !th.silent {
            th.prev = ev.id;
        }
        Ok(ev)
    }

    /// Emits (or replays) an event that records an outside effect (a task outcome): written
    /// at once, with every event buffered before it.
    fn emit_durable(
        &self,
        th: &mut Thread,
        ty: &'static str,
        d: impl Into<EventDetails>,
    ) -> Result<HistoryEvent, Flow> {
        let ev = self.record(th, th.prev, ty, d, Commit::Now)?;
        if !th.silent {
            th.prev = ev.id;
        }
        Ok(ev)
    }

    /// Emits (or replays) an event with an explicit previous event, without advancing.
    fn emit_at(
        &self,
        th: &Thread,
        prev: i64,
        ty: &'static str,
        d: impl Into<EventDetails>,
    ) -> Result<HistoryEvent, Flow> {
        self.record(th, prev, ty, d, Commit::Buffered)
    }

    /// Replays the thread's next recorded event if it is of type `ty` (returned whole), or
    /// records a new one and returns its header: id, previous id and time, no type and no
    /// details (callers that read details do so only on replay).
    fn record(
        &self,
        th: &Thread,
        prev: i64,
        ty: &'static str,
        d: impl Into<EventDetails>,
        commit: Commit,
    ) -> Result<HistoryEvent, Flow> {
        let now = self.engine.clock.now();
        if th.silent {
            return Ok(HistoryEvent {
                timestamp: now,
                event_type: ty.to_string(),
                id: 0,
                previous_event_id: prev,
                details: d.into().into_map(),
            });
        }
        let mut log = lock(&self.log);
        if log.closed {
            return Err(Flow::Halt);
        }
        if let Some(queue) = log.replay.get_mut(&th.scope)
            && let Some(front) = queue.front()
        {
            if front.event_type == ty {
                if let Some(ev) = queue.pop_front() {
                    log.latest.insert(th.scope.clone(), (ev.id, ev.timestamp));
                    return Ok(ev);
                }
            } else {
                tracing::warn!(execution = %self.arn, scope = %th.scope, expected = %front.event_type, got = ty,
                        "history diverged on replay; continuing live");
                queue.clear();
            }
        }
        let id = log.next_id;
        if id as usize > MAX_HISTORY_EVENTS {
            drop(log);
            return Err(Flow::Fail(StateError::runtime(format!(
                "The execution reached the maximum number of history events ({MAX_HISTORY_EVENTS})."
            ))));
        }
        log.next_id += 1;
        log.latest.insert(th.scope.clone(), (id, now));
        let stored = RecordedEvent {
            timestamp: now,
            event_type: ty,
            id,
            previous_event_id: prev,
            details: d.into(),
            scope: th.scope.clone(),
            replayable: true,
        };
        // The caller of a live event needs only where it sits: the event itself moves to
        // the store without a copy.
        let header = HistoryEvent {
            timestamp: now,
            event_type: String::new(),
            id,
            previous_event_id: prev,
            details: None,
        };
        // Handed over while holding the log so that ids reach the store in order.
        let written = match commit {
            Commit::Buffered => self.engine.store.buffer_event(self.seq, stored),
            Commit::Now => self.engine.store.append_event(self.key(), stored, None),
        };
        if let Err(e) = written {
            tracing::error!(execution = %self.arn, error = %e, "could not persist a history event");
            log.closed = true;
            return Err(Flow::Halt);
        }
        Ok(header)
    }

    /// Makes every buffered event durable: called before anything with an effect outside
    /// the engine (a handler call) and before sleeping, so that a restart finds the run
    /// where it was and never repeats an effect whose cause it forgot.
    fn persist(&self) -> Result<(), Flow> {
        if let Err(e) = self.engine.store.flush() {
            tracing::error!(execution = %self.arn, error = %e, "could not persist history events");
            lock(&self.log).closed = true;
            return Err(Flow::Halt);
        }
        Ok(())
    }

    /// If the thread's next recorded event is one of `types`, takes it.
    fn take_recorded(&self, th: &Thread, types: &[&str]) -> Option<HistoryEvent> {
        if th.silent {
            return None;
        }
        let mut log = lock(&self.log);
        let queue = log.replay.get_mut(&th.scope)?;
        if queue
            .front()
            .is_some_and(|e| types.contains(&e.event_type.as_str()))
        {
            queue.pop_front()
        } else {
            None
        }
    }

    /// True while the thread still has recorded events to replay.
    fn replaying(&self, th: &Thread) -> bool {
        !th.silent
            && lock(&self.log)
                .replay
                .get(&th.scope)
                .is_some_and(|q| !q.is_empty())
    }

    /// The id of the newest event of the execution.
    fn last_event_id(&self) -> i64 {
        lock(&self.log).next_id - 1
    }

    async fn sleep_until(&self, th: &Thread, until: DateTime<Utc>) -> Result<(), Flow> {
        if !self.replaying(th) {
            // A restart during the sleep must find the event the sleep is measured from.
            self.persist()?;
            self.engine.clock.sleep_until(until).await;
        }
        Ok(())
    }

    // ---- context ------------------------------------------------------------------------

    fn context(&self, state: &State, entered: &DateTime<Utc>, retry_count: Option<u32>) -> Value {
        if !state.reads_context {
            // Nothing in this state can read `$$`.
            return Value::Null;
        }
        let sm_name = self.sm_arn.rsplit(':').next().unwrap_or_default();
        let mut st = Map::new();
        st.insert("Name".into(), Value::String(state.name.clone()));
        st.insert("EnteredTime".into(), Value::String(iso(entered)));
        if let Some(r) = retry_count {
            st.insert("RetryCount".into(), json!(r));
        }
        json!({
            "Execution": {
                "Id": self.arn,
                "Input": self.input,
                "StartTime": iso(&self.start_date),
                "Name": self.name,
                "RoleArn": self.engine.role_arn,
                "RedriveCount": self.redrive_count,
            },
            "StateMachine": {"Id": self.sm_arn, "Name": sm_name},
            "State": Value::Object(st),
        })
    }

    // ---- machine and states -------------------------------------------------------------

    fn run_machine<'a>(
        &'a self,
        m: &'a Machine,
        input: Value,
        th: &'a mut Thread,
    ) -> BoxFuture<'a, Result<Value, Flow>> {
        async move {
            let mut name = m.start_at.clone();
            let mut input = input;
            loop {
                let Some(state) = m.states.get(&name) else {
                    return Err(Flow::Fail(StateError::runtime(format!(
                        "state '{name}' does not exist"
                    ))));
                };
                match self.run_state(state, input, th).await? {
                    Step::Next(n, out) => {
                        name = n;
                        input = out;
                    }
                    Step::End(out) => return Ok(out),
                }
            }
        }
        .boxed()
    }

    async fn run_state(&self, state: &State, input: Value, th: &mut Thread) -> Result<Step, Flow> {
        let ty = state.type_name();
        let entered = self.emit(
            th,
            state.entered_event_type(),
            EventDetails::StateEntered {
                input: to_text(&input),
                name: state.name.clone(),
            },
        )?;
        th.set_current(Some(ty));
        th.assigned = None;
        let result = if state.common.query_language == QueryLanguage::Jsonata {
            self.run_jsonata_state_body(state, input, th, &entered)
                .await
        } else {
            self.run_state_body(state, input, th, &entered).await
        };
        let result = result.map_err(|f| match f {
            Flow::Fail(e) if e.error == "States.Runtime" && !e.cause.as_deref().unwrap_or("").starts_with("An error occurred") => {
                Flow::Fail(StateError {
                    error: e.error,
                    cause: Some(format!(
                        "An error occurred while executing the state '{}' (entered at the event id #{}). {}",
                        state.name,
                        entered.id,
                        e.cause.unwrap_or_default()
                    )),
                })
            }
            other => other,
        });
        let (next, mut output) = result?;
        if !matches!(state.kind, StateKind::Fail) {
            let text = to_text(&output);
            if text.len() > MAX_PAYLOAD_BYTES {
                return Err(Flow::Fail(StateError::new(
                    "States.DataLimitExceeded",
                    format!(
                        "The state/task '{}' returned a result with a size exceeding the maximum number of bytes service limit.",
                        state.name
                    ),
                )));
            }
            let assigned = th.assigned.take();
            let replayed = self.replaying(th);
            let exited_details = match assigned {
                None => EventDetails::StateExited {
                    name: state.name.clone(),
                    output: text,
                },
                Some(a) => EventDetails::Map(Map::from_iter([
                    ("name".to_string(), Value::String(state.name.clone())),
                    ("output".to_string(), Value::String(text)),
                    ("outputDetails".to_string(), not_truncated()),
                    ("assignedVariables".to_string(), Value::Object(a)),
                    ("assignedVariablesDetails".to_string(), not_truncated()),
                ])),
            };
            let exited = self.emit(th, state.exited_event_type(), exited_details)?;
            if replayed {
                adopt_recorded_exit(&exited, &mut output, th);
            }
        }
        th.set_current(None);
        Ok(match next {
            Some(n) => Step::Next(n, output),
            None => Step::End(output),
        })
    }

    fn next_of(state: &State) -> Option<String> {
        if state.is_end() {
            None
        } else {
            state.common.next.clone()
        }
    }

    async fn run_state_body(
        &self,
        state: &State,
        input: Value,
        th: &mut Thread,
        entered: &HistoryEvent,
    ) -> Result<(Option<String>, Value), Flow> {
        let ctx = self.context(state, &entered.timestamp, None);
        let vars = th.vars.clone();
        let scope = Scope {
            context: &ctx,
            vars: &vars,
        };
        let c = &state.common;
        match &state.kind {
            StateKind::Pass { result } => {
                let effective = select_path_ref(&c.input_path, &input, &scope)?;
                let res = match (&c.parameters, result) {
                    (Some(p), _) => Some(apply_template(p, &effective, &scope)?),
                    (None, Some(r)) => Some(r.clone()),
                    // The effective input itself: copied below only if the input is kept too.
                    (None, None) => None,
                };
                self.assign(state, th, res.as_ref().unwrap_or(&effective), &scope)?;
                let res = match (res, effective) {
                    (Some(v), _) | (None, Cow::Owned(v)) => v,
                    (None, Cow::Borrowed(_)) if c.result_path == PathField::Default => {
                        let out = select_path_owned(&c.output_path, input, &scope)?;
                        return Ok((Self::next_of(state), out));
                    }
                    (None, Cow::Borrowed(v)) => v.clone(),
                };
                let merged = merge_result_owned(&c.result_path, input, res)?;
                let out = select_path_owned(&c.output_path, merged, &scope)?;
                Ok((Self::next_of(state), out))
            }
            StateKind::Succeed => {
                let effective = select_path_owned(&c.input_path, input, &scope)?;
                let out = select_path_owned(&c.output_path, effective, &scope)?;
                Ok((None, out))
            }
            StateKind::Fail => Err(Flow::Fail(self.fail_error(state, &input, &scope)?)),
            StateKind::Choice { choices, default } => {
                let effective = select_path_owned(&c.input_path, input, &scope)?;
                let mut next = None;
                for rule in choices {
                    if evaluate_rule(rule, &effective, &scope)? {
                        next = rule.get("Next").and_then(Value::as_str).map(str::to_string);
                        if let Some(a) = rule.get("Assign") {
                            self.assign_value(th, a, &effective, &scope)?;
                        }
                        break;
                    }
                }
                let next = match next.or_else(|| default.clone()) {
                    Some(n) => n,
                    None => {
                        return Err(Flow::Fail(StateError::new(
                            "States.NoChoiceMatched",
                            format!(
                                "No Matches! Choice state '{}' has no rule matching its input and no Default.",
                                state.name
                            ),
                        )));
                    }
                };
                if default.as_ref() == Some(&next) || (default.is_none() && next.is_empty()) {
                    self.assign(state, th, &effective, &scope)?;
                }
                let out = select_path_owned(&c.output_path, effective, &scope)?;
                Ok((Some(next), out))
            }
            StateKind::Wait => {
                let effective = select_path_owned(&c.input_path, input, &scope)?;
                let until = self.wait_target(state, &effective, &scope, &entered.timestamp)?;
                if (until - entered.timestamp).num_seconds() > MAX_WAIT_SECONDS {
                    return Err(Flow::Fail(StateError::runtime(
                        "Wait state delay is too long.",
                    )));
                }
                if self.take_recorded_peek_exit(th, state).is_none() {
                    self.sleep_until(th, until).await?;
                }
                self.assign(state, th, &effective, &scope)?;
                let out = select_path_owned(&c.output_path, effective, &scope)?;
                Ok((Self::next_of(state), out))
            }
            StateKind::Task { .. } | StateKind::Parallel { .. } | StateKind::Map(_) => {
                self.run_with_retry(state, input, th, entered).await
            }
        }
    }

    fn take_recorded_peek_exit(&self, th: &Thread, state: &State) -> Option<()> {
        let ty = format!("{}StateExited", state.type_name());
        let log = lock(&self.log);
        let q = log.replay.get(&th.scope)?;
        q.front().filter(|e| e.event_type == ty).map(|_| ())
    }

    fn assign(
        &self,
        state: &State,
        th: &mut Thread,
        result: &Value,
        scope: &Scope<'_>,
    ) -> Result<(), Flow> {
        match &state.common.assign {
            Some(a) => self.assign_value(th, a, result, scope),
            None => Ok(()),
        }
    }

    fn assign_value(
        &self,
        th: &mut Thread,
        assign: &Value,
        result: &Value,
        scope: &Scope<'_>,
    ) -> Result<(), Flow> {
        let values = apply_template(assign, result, scope)?;
        if let Value::Object(m) = values {
            apply_assignments(th, m);
        }
        Ok(())
    }

    fn fail_error(
        &self,
        state: &State,
        input: &Value,
        scope: &Scope<'_>,
    ) -> Result<StateError, Flow> {
        let raw = &state.raw;
        let field = |lit: &str, path: &str| -> Result<Option<String>, StateError> {
            if let Some(p) = raw.get(path).and_then(Value::as_str) {
                let v = if crate::intrinsics::is_intrinsic(p) {
                    crate::payload::evaluate_intrinsic(p, input, scope)?
                } else {
                    resolve(p, input, scope).map_err(|_| {
                        StateError::runtime(format!(
                            "The JSONPath '{p}' specified for the field '{path}' could not be found in the input '{}'",
                            to_text(input)
                        ))
                    })?
                };
                return Ok(Some(match v {
                    Value::String(s) => s,
                    other => to_text(&other),
                }));
            }
            Ok(raw.get(lit).and_then(Value::as_str).map(str::to_string))
        };
        let error = field("Error", "ErrorPath")?;
        let cause = field("Cause", "CausePath")?;
        Ok(StateError {
            error: error.unwrap_or_default(),
            cause,
        })
    }

    fn wait_target(
        &self,
        state: &State,
        effective: &Value,
        scope: &Scope<'_>,
        entered: &DateTime<Utc>,
    ) -> Result<DateTime<Utc>, StateError> {
        let raw = &state.raw;
        if let Some(s) = raw.get("Seconds").and_then(Value::as_i64) {
            return Ok(after_seconds(*entered, s));
        }
        if let Some(t) = raw.get("Timestamp").and_then(Value::as_str) {
            return parse_timestamp(t)
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| StateError::runtime(format!("Invalid timestamp '{t}'")));
        }
        if let Some(p) = raw.get("SecondsPath").and_then(Value::as_str) {
            let v = resolve(p, effective, scope).map_err(|_| {
                StateError::runtime(format!(
                    "The SecondsPath parameter does not reference a valid input value. Invalid path '{p}'"
                ))
            })?;
            let shown = match &v {
                Value::String(s) => s.clone(),
                other => to_text(other),
            };
            return match v.as_i64() {
                Some(s) if s >= 0 => Ok(after_seconds(*entered, s)),
                Some(_) => Err(StateError::runtime(format!(
                    "The SecondsPath parameter references a negative value: {p} == {shown}"
                ))),
                None => Err(StateError::runtime(format!(
                    "The SecondsPath parameter cannot be parsed as a long value: {p} == {shown}"
                ))),
            };
        }
        if let Some(p) = raw.get("TimestampPath").and_then(Value::as_str) {
            let v = resolve(p, effective, scope).map_err(|_| {
                StateError::runtime(format!(
                    "The TimestampPath parameter does not reference a valid input value. Invalid path '{p}'"
                ))
            })?;
            return v
                .as_str()
                .and_then(parse_timestamp)
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| {
                    StateError::runtime(format!(
                        "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {p} == {}",
                        match &v {
                            Value::String(s) => s.clone(),
                            other => to_text(other),
                        }
                    ))
                });
        }
        Ok(*entered)
    }

    // ---- retry / catch ------------------------------------------------------------------

    async fn run_with_retry(
        &self,
        state: &State,
        input: Value,
        th: &mut Thread,
        entered: &HistoryEvent,
    ) -> Result<(Option<String>, Value), Flow> {
        let c = &state.common;
        let mut counters = vec![0u32; c.retry.len()];
        let mut retry_count = 0u32;
        let visit = {
            let v = th.visits.entry(state.name.clone()).or_insert(0);
            *v += 1;
            *v
        };
        let jsonata = c.query_language == QueryLanguage::Jsonata;
        loop {
            let ctx = self.context(state, &entered.timestamp, Some(retry_count));
            let attempt = if jsonata {
                self.attempt_jsonata(state, &input, th, &ctx, (retry_count, visit), entered)
                    .await
            } else {
                self.attempt(state, &input, th, &ctx, retry_count, visit, entered)
                    .await
            };
            let err = match attempt {
                Ok(out) => return Ok((Self::next_of(state), out)),
                Err(Flow::Halt) => return Err(Flow::Halt),
                Err(Flow::Fail(e)) => e,
            };
            if let Some(i) = find_retrier(&c.retry, &err.error) {
                let r = &c.retry[i];
                if counters[i] < r.max_attempts {
                    counters[i] += 1;
                    retry_count += 1;
                    let secs = delay_seconds(r, counters[i], rand::random::<f64>());
                    let last = self.last_event_time(th);
                    self.sleep_until(th, last + to_duration(secs)).await?;
                    continue;
                }
            }
            let started = err.error != "States.Runtime";
            match state.kind {
                StateKind::Parallel { .. } if started => {
                    self.emit(th, "ParallelStateFailed", EventDetails::None)?;
                }
                StateKind::Map(_) if started => {
                    self.emit(th, "MapStateFailed", EventDetails::None)?;
                }
                _ => {}
            }
            if let Some(i) = find_catcher(&c.catch, &err.error) {
                let caught = if jsonata {
                    self.catch_jsonata(state, &c.catch[i], &input, err, th, &ctx, entered)
                } else {
                    self.catch(&c.catch[i], &input, err, th, &ctx)
                };
                return caught.map(|(n, v)| (Some(n), v));
            }
            return Err(Flow::Fail(err));
        }
    }

    fn last_event_time(&self, th: &Thread) -> DateTime<Utc> {
        // The failure that triggers a retry was just emitted (or replayed) on this thread.
        let id = th.prev;
        if th.silent || id == 0 {
            return self.engine.clock.now();
        }
        if let Some(&(latest_id, at)) = lock(&self.log).latest.get(&th.scope)
            && latest_id == id
        {
            return at;
        }
        self.engine
            .store
            .events(&self.arn)
            .ok()
            .and_then(|evs| {
                evs.into_iter()
                    .rev()
                    .find(|e| e.event.id == id)
                    .map(|e| e.event.timestamp)
            })
            .unwrap_or_else(|| self.engine.clock.now())
    }

    fn catch(
        &self,
        catcher: &Catcher,
        input: &Value,
        err: StateError,
        th: &mut Thread,
        ctx: &Value,
    ) -> Result<(String, Value), Flow> {
        let vars = th.vars.clone();
        let scope = Scope {
            context: ctx,
            vars: &vars,
        };
        let error_output = err.to_output();
        if let Some(a) = &catcher.assign {
            self.assign_value(th, a, &error_output, &scope)?;
        }
        let out = merge_result(&catcher.result_path, input, error_output)?;
        Ok((catcher.next.clone(), out))
    }

    /// One attempt of a Task, Parallel or Map state: input processing, the work, result
    /// processing. Returns the state output.
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        state: &State,
        input: &Value,
        th: &mut Thread,
        ctx: &Value,
        retry_count: u32,
        visit: u32,
        entered: &HistoryEvent,
    ) -> Result<Value, Flow> {
        let c = &state.common;
        let vars = th.vars.clone();
        let scope = Scope {
            context: ctx,
            vars: &vars,
        };
        let effective = select_path_ref(&c.input_path, input, &scope)?;
        let result = match &state.kind {
            StateKind::Task { .. } => {
                let timeouts = jsonpath_task_timeouts(state, &effective, &scope)?;
                let params = match &c.parameters {
                    Some(p) => apply_template(p, &effective, &scope)?,
                    None => effective.into_owned(),
                };
                self.run_task(state, params, timeouts, th, retry_count)
                    .await?
            }
            StateKind::Parallel { branches } => {
                let branch_input = match &c.parameters {
                    Some(p) => apply_template(p, &effective, &scope)?,
                    None => effective.into_owned(),
                };
                self.run_parallel(state, branches, branch_input, th, visit, retry_count)
                    .await?
            }
            StateKind::Map(spec) => {
                let query = MapQuery::JsonPath {
                    effective: &effective,
                    scope: &scope,
                };
                self.run_map(state, spec, query, th, (visit, retry_count), entered)
                    .await?
            }
            _ => effective.into_owned(),
        };
        let result = match &c.result_selector {
            Some(sel) => apply_template(sel, &result, &scope)?,
            None => result,
        };
        self.assign(state, th, &result, &scope)?;
        let merged = merge_result(&c.result_path, input, result)?;
        Ok(select_path_owned(&c.output_path, merged, &scope)?)
    }

    // ---- Task ---------------------------------------------------------------------------

    async fn run_task(
        &self,
        state: &State,
        params: Value,
        timeouts: TaskTimeouts,
        th: &mut Thread,
        retry_count: u32,
    ) -> Result<Value, Flow> {
        let StateKind::Task { resource, .. } = &state.kind else {
            return Err(Flow::Fail(StateError::runtime("not a Task state")));
        };
        let TaskTimeouts { timeout, heartbeat } = timeouts;
        let kind = TaskKind::of(resource, &params);
        let (sched, started, succeeded, failed, timed_out) = kind.event_types();
        let mut sched_details = match &kind {
            TaskKind::DirectLambda { arn, .. } => Map::from_iter([
                ("input".to_string(), Value::String(to_text(&params))),
                ("inputDetails".to_string(), not_truncated()),
                ("resource".to_string(), Value::String(arn.clone())),
            ]),
            TaskKind::Service {
                resource_type,
                resource,
                ..
            } => Map::from_iter([
                ("parameters".to_string(), Value::String(to_text(&params))),
                (
                    "region".to_string(),
                    Value::String(self.engine.region.clone()),
                ),
                ("resource".to_string(), Value::String(resource.clone())),
                (
                    "resourceType".to_string(),
                    Value::String(resource_type.clone()),
                ),
            ]),
        };
        if let Some(t) = timeout {
            sched_details.insert("timeoutInSeconds".into(), json!(t));
        }
        if let Some(h) = heartbeat {
            sched_details.insert("heartbeatInSeconds".into(), json!(h));
        }
        let recorded_params = self.emit(th, sched, Some(sched_details))?;
        let started_ev = self.emit(th, started, kind.service_details())?;
        let params = match &kind {
            TaskKind::DirectLambda { .. } => recorded_params.detail_json("input").unwrap_or(params),
            TaskKind::Service { .. } => recorded_params.detail_json("parameters").unwrap_or(params),
        };
        // A recorded outcome means the task already ran before a restart.
        let outcome = match self.take_recorded(th, &[succeeded, failed, timed_out]) {
            Some(ev) => {
                th.prev = ev.id;
                recorded_outcome(&ev, succeeded)
            }
            None => {
                if th.in_child {
                    tokio::task::yield_now().await;
                }
                let deadline = timeout.map(|t| {
                    after_seconds(started_ev.timestamp, i64::try_from(t).unwrap_or(i64::MAX))
                });
                self.persist()?;
                let live = self
                    .invoke(state, &kind, params, th, retry_count, deadline)
                    .await;
                self.record_outcome(th, &kind, live)?
            }
        };
        outcome.map_err(Flow::Fail)
    }

    async fn invoke(
        &self,
        state: &State,
        kind: &TaskKind,
        params: Value,
        th: &Thread,
        retry_count: u32,
        deadline: Option<DateTime<Utc>>,
    ) -> Outcome {
        let function = kind.function_name();
        let handler = self.engine.handler(&function);
        let Some(handler) = handler else {
            return Outcome::Failed(kind.not_found(
                &function,
                &self.engine.region,
                &self.engine.account_id,
            ));
        };
        let payload = kind.payload(&params);
        let ctx = InvocationContext {
            function_name: function.clone(),
            execution_arn: self.arn.clone(),
            state_name: state.name.clone(),
            retry_count,
        };
        let _ = th;
        // A panicking handler is a crashed Lambda runtime, not a crashed execution: caught
        // here it becomes a task failure that Retry and Catch see. The call itself is inside
        // the guarded future, so a handler that panics before returning its future is caught
        // too. Unwind safety: the handler's state is its own; the engine's (the thread, the
        // run) is not touched while the handler runs.
        let call = async {
            let caught = AssertUnwindSafe(async move { handler.invoke(payload, ctx).await })
                .catch_unwind()
                .await;
            caught.unwrap_or_else(|panic| {
                let failure = TaskFailure::from_panic(panic.as_ref());
                tracing::error!(execution = %self.arn, function = %function,
                    cause = %failure.cause, "task handler panicked");
                Err(failure)
            })
        };
        match before(call, self.deadline(deadline)).await {
            None => Outcome::TimedOut,
            Some(Ok(v)) => Outcome::Succeeded(kind.wrap_result(v)),
            Some(Err(f)) => Outcome::Failed(kind.failure(f)),
        }
    }

    fn record_outcome(
        &self,
        th: &mut Thread,
        kind: &TaskKind,
        outcome: Outcome,
    ) -> Result<Result<Value, StateError>, Flow> {
        let (_, _, succeeded, failed, timed_out) = kind.event_types();
        let mut base = kind.service_details().unwrap_or_default();
        match outcome {
            Outcome::Succeeded(v) => {
                let text = to_text(&v);
                if text.len() > MAX_PAYLOAD_BYTES {
                    let err = StateError::new(
                        "States.DataLimitExceeded",
                        format!(
                            "The state/task '{}' returned a result with a size exceeding the maximum number of bytes service limit.",
                            kind.limit_name()
                        ),
                    );
                    return self.record_outcome(th, kind, Outcome::Failed(err));
                }
                base.insert("output".into(), Value::String(text));
                base.insert("outputDetails".into(), not_truncated());
                let d = reorder(
                    base,
                    &["output", "outputDetails", "resource", "resourceType"],
                );
                self.emit_durable(th, succeeded, Some(d))?;
                Ok(Ok(v))
            }
            Outcome::Failed(e) => {
                if let Some(c) = e.cause.as_ref().filter(|c| !c.is_empty()) {
                    base.insert("cause".into(), Value::String(c.clone()));
                }
                base.insert("error".into(), Value::String(e.error.clone()));
                let d = reorder(base, &["cause", "error", "resource", "resourceType"]);
                self.emit_durable(th, failed, Some(d))?;
                Ok(Err(e))
            }
            Outcome::TimedOut => {
                base.insert("error".into(), Value::String("States.Timeout".into()));
                let d = reorder(base, &["error", "resource", "resourceType"]);
                self.emit_durable(th, timed_out, Some(d))?;
                Ok(Err(StateError {
                    error: "States.Timeout".into(),
                    cause: Some(String::new()),
                }))
            }
        }
    }

    // ---- Parallel -----------------------------------------------------------------------

    async fn run_parallel(
        &self,
        state: &State,
        branches: &[Arc<Machine>],
        input: Value,
        th: &mut Thread,
        visit: u32,
        attempt: u32,
    ) -> Result<Value, Flow> {
        self.emit(th, "ParallelStateStarted", EventDetails::None)?;
        let scope = format!("{}/{}#{visit}.{attempt}", th.scope, state.name);
        let (mut children, statuses) = children(th, branches.len(), |i| format!("{scope}/b{i}"));
        let futs = children.iter_mut().zip(branches.iter()).map(|(child, m)| {
            let input = input.clone();
            async move {
                let r = self.run_machine(m, input, child).await;
                child.mark_finished();
                r.map_err(|e| (e, child.prev, lock_current(child)))
            }
        });
        match futures::future::try_join_all(futs).await {
            Ok(results) => self.all_children_succeeded(th, "ParallelStateSucceeded", results),
            Err((Flow::Halt, _, _)) => Err(Flow::Halt),
            Err((Flow::Fail(e), last, failed_in)) => {
                self.abort_failed_state(th, last, failed_in)?;
                self.abort_interrupted(th, last, &statuses, None)?;
                th.prev = last;
                Err(Flow::Fail(e))
            }
        }
    }

    /// A Parallel or Map state whose children all succeeded: `ty` follows the last event
    /// (whichever child wrote it), and the output is the children's results in order.
    fn all_children_succeeded(
        &self,
        th: &mut Thread,
        ty: &'static str,
        results: Vec<Value>,
    ) -> Result<Value, Flow> {
        let g = self.last_event_id();
        self.emit_at(th, g, ty, EventDetails::None)?;
        th.prev = g;
        Ok(Value::Array(results))
    }

    /// A child failed at event `at` while in a state of type `failed_in`: that state is
    /// aborted, unless it is a Fail state (the failure itself).
    fn abort_failed_state(
        &self,
        th: &Thread,
        at: i64,
        failed_in: Option<&'static str>,
    ) -> Result<(), Flow> {
        if let Some(ty) = failed_in.filter(|t| *t != "Fail") {
            self.emit_at(th, at, aborted_event_type(ty), EventDetails::None)?;
        }
        Ok(())
    }

    /// After a child's failure at event `at`, every sibling still inside a state is aborted
    /// there: for a Map (`map`), `MapIterationAborted` first, then the state it was in.
    fn abort_interrupted(
        &self,
        th: &Thread,
        at: i64,
        statuses: &[SharedStatus],
        map: Option<&State>,
    ) -> Result<(), Flow> {
        for (i, ty) in interrupted(statuses) {
            if let Some(state) = map {
                self.emit_at(
                    th,
                    at,
                    "MapIterationAborted",
                    Self::iteration_details(state, i),
                )?;
            }
            self.emit_at(th, at, aborted_event_type(ty), EventDetails::None)?;
        }
        Ok(())
    }

    // ---- Map ----------------------------------------------------------------------------

    async fn run_map(
        &self,
        state: &State,
        spec: &MapSpec,
        query: MapQuery<'_>,
        th: &mut Thread,
        (visit, attempt): (u32, u32),
        entered: &HistoryEvent,
    ) -> Result<Value, Flow> {
        let (inputs, max_concurrency) = match &query {
            MapQuery::JsonPath { effective, scope } => {
                self.jsonpath_map_inputs(state, spec, effective, scope)?
            }
            MapQuery::Jsonata {
                input,
                context,
                vars,
            } => jsonata_map_inputs(state, spec, input, context, vars, self.engine.clock.now())
                .map_err(|e| self.evaluation_failed(th, state, entered, e, false))?,
        };
        self.emit(
            th,
            "MapStateStarted",
            details(vec![("length", json!(inputs.len()))]),
        )?;
        let limits = match &query {
            MapQuery::JsonPath { effective, scope } => {
                jsonpath_tolerated_limits(state, effective, scope)?
            }
            MapQuery::Jsonata {
                input,
                context,
                vars,
            } => {
                let b = query::bindings(
                    vars,
                    &StatesVar::of_input(input, context),
                    self.engine.clock.now(),
                );
                jsonata_tolerated_limits(state, &b)
                    .map_err(|e| self.evaluation_failed(th, state, entered, e, false))?
            }
        };
        let tolerated = tolerated_failures(limits, inputs.len())?;
        if spec.distributed {
            return self.run_distributed(spec, inputs, th, tolerated).await;
        }
        let prefix = format!("{}/{}#{visit}.{attempt}", th.scope, state.name);
        if max_concurrency == 1 {
            self.run_map_sequential(state, spec, inputs, th, &prefix)
                .await
        } else {
            self.run_map_concurrent(state, spec, inputs, th, &prefix, max_concurrency)
                .await
        }
    }

    /// JSONPath Map: the items (`ItemsPath`), each iteration's input (`ItemSelector` or
    /// `Parameters`) and `MaxConcurrency(Path)`.
    fn jsonpath_map_inputs(
        &self,
        state: &State,
        spec: &MapSpec,
        effective: &Value,
        scope: &Scope<'_>,
    ) -> Result<(Vec<Value>, usize), StateError> {
        let items = match &spec.items_path {
            PathField::Path(p) => {
                resolve(p, effective, scope).map_err(|e| StateError::invalid_path(p, e))?
            }
            _ => effective.clone(),
        };
        let Value::Array(items) = items else {
            return Err(StateError::runtime(format!(
                "Item list must be a JSON array, but got {}",
                to_text(&items)
            )));
        };
        let max_concurrency = jsonpath_max_concurrency(state, effective, scope)?;
        let selector = spec
            .item_selector
            .as_ref()
            .or(state.common.parameters.as_ref());
        let mut inputs = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let v = match selector {
                Some(sel) => {
                    let ctx = with_map_item(scope.context, i, item);
                    let s2 = Scope {
                        context: &ctx,
                        vars: scope.vars,
                    };
                    apply_template(sel, effective, &s2)?
                }
                None => item.clone(),
            };
            inputs.push(v);
        }
        Ok((inputs, max_concurrency))
    }

    fn iteration_details(state: &State, i: usize) -> EventDetails {
        EventDetails::MapIteration {
            index: i,
            name: state.name.clone(),
        }
    }

    async fn run_map_sequential(
        &self,
        state: &State,
        spec: &MapSpec,
        inputs: Vec<Value>,
        th: &mut Thread,
        prefix: &str,
    ) -> Result<Value, Flow> {
        let mut results = Vec::with_capacity(inputs.len());
        let mut cursor = th.prev;
        for (i, input) in inputs.into_iter().enumerate() {
            let mut child = th.child(format!("{prefix}/i{i}"), cursor);
            self.emit(
                &mut child,
                "MapIterationStarted",
                Self::iteration_details(state, i),
            )?;
            match self.run_machine(&spec.processor, input, &mut child).await {
                Ok(v) => {
                    self.emit_at(
                        &child,
                        child.prev,
                        "MapIterationSucceeded",
                        Self::iteration_details(state, i),
                    )?;
                    cursor = child.prev;
                    results.push(v);
                }
                Err(Flow::Halt) => return Err(Flow::Halt),
                Err(Flow::Fail(e)) => {
                    self.emit_at(
                        &child,
                        child.prev,
                        "MapIterationFailed",
                        Self::iteration_details(state, i),
                    )?;
                    self.abort_failed_state(&child, child.prev, lock_current(&child))?;
                    th.prev = child.prev;
                    return Err(Flow::Fail(e));
                }
            }
        }
        self.all_children_succeeded(th, "MapStateSucceeded", results)
    }

    async fn run_map_concurrent(
        &self,
        state: &State,
        spec: &MapSpec,
        inputs: Vec<Value>,
        th: &mut Thread,
        prefix: &str,
        max_concurrency: usize,
    ) -> Result<Value, Flow> {
        let limit = if max_concurrency == 0 {
            inputs.len().max(1)
        } else {
            max_concurrency
        };
        let semaphore = Arc::new(tokio::sync::Semaphore::new(limit));
        let (mut children, statuses) = children(th, inputs.len(), |i| format!("{prefix}/i{i}"));
        let futs = children
            .iter_mut()
            .zip(inputs)
            .enumerate()
            .map(|(i, (child, input))| {
                let semaphore = semaphore.clone();
                async move {
                    let _permit = semaphore
                        .acquire()
                        .await
                        .map_err(|_| (Flow::Halt, 0, None))?;
                    self.emit(
                        child,
                        "MapIterationStarted",
                        Self::iteration_details(state, i),
                    )
                    .map_err(|f| (f, child.prev, None))?;
                    tokio::task::yield_now().await;
                    let r = self.run_machine(&spec.processor, input, child).await;
                    child.mark_finished();
                    match r {
                        Ok(v) => {
                            self.emit_at(
                                child,
                                child.prev,
                                "MapIterationSucceeded",
                                Self::iteration_details(state, i),
                            )
                            .map_err(|f| (f, child.prev, None))?;
                            Ok(v)
                        }
                        Err(f) => Err((f, child.prev, Some((i, lock_current(child))))),
                    }
                }
            });
        match futures::future::try_join_all(futs).await {
            Ok(results) => self.all_children_succeeded(th, "MapStateSucceeded", results),
            Err((Flow::Halt, _, _)) => Err(Flow::Halt),
            Err((Flow::Fail(e), last, failed)) => {
                // The failed iteration is marked finished, so it is not among the interrupted.
                if let Some((i, current)) = failed {
                    self.emit_at(
                        th,
                        last,
                        "MapIterationFailed",
                        Self::iteration_details(state, i),
                    )?;
                    self.abort_failed_state(th, last, current)?;
                    self.abort_interrupted(th, last, &statuses, Some(state))?;
                }
                th.prev = last;
                Err(Flow::Fail(e))
            }
        }
    }

    async fn run_distributed(
        &self,
        spec: &MapSpec,
        inputs: Vec<Value>,
        th: &mut Thread,
        tolerated: usize,
    ) -> Result<Value, Flow> {
        let sm_name = self.sm_arn.rsplit(':').next().unwrap_or_default();
        let run_id = uuid::Uuid::new_v4().to_string();
        let label = spec
            .label
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let map_run_arn = format!(
            "arn:aws:states:{}:{}:mapRun:{sm_name}/{label}:{run_id}",
            self.engine.region, self.engine.account_id
        );
        let started = self.emit(
            th,
            "MapRunStarted",
            details(vec![("mapRunArn", Value::String(map_run_arn))]),
        )?;
        let mut results = Vec::with_capacity(inputs.len());
        let mut failures = 0usize;
        let mut first_error = None;
        for input in inputs {
            let mut child = th.child(String::new(), 0);
            child.silent = true;
            // A distributed Map's iterations are child executions: outer variables are not
            // in their scope.
            child.vars = Arc::new(Map::new());
            match self.run_machine(&spec.processor, input, &mut child).await {
                Ok(v) => results.push(v),
                Err(Flow::Halt) => return Err(Flow::Halt),
                Err(Flow::Fail(e)) => {
                    failures += 1;
                    results.push(e.to_output());
                    first_error.get_or_insert(e);
                }
            }
        }
        if failures > tolerated {
            self.emit(th, "MapRunFailed", EventDetails::None)?;
            return Err(Flow::Fail(StateError::new(
                "States.ExceedToleratedFailureThreshold",
                "The specified tolerated failure threshold was exceeded",
            )));
        }
        let _ = (first_error, started);
        self.emit(th, "MapRunSucceeded", EventDetails::None)?;
        self.emit_at(th, th.prev, "MapStateSucceeded", EventDetails::None)?;
        Ok(Value::Array(results))
    }
}

/// How a Map state's fields are evaluated.
enum MapQuery<'a> {
    JsonPath {
        effective: &'a Value,
        scope: &'a Scope<'a>,
    },
    Jsonata {
        input: &'a Value,
        context: &'a Value,
        vars: &'a Map<String, Value>,
    },
}

/// A Task's `TimeoutSeconds` and `HeartbeatSeconds` once evaluated.
#[derive(Debug, Clone, Copy, Default)]
struct TaskTimeouts {
    timeout: Option<u64>,
    heartbeat: Option<u64>,
}

/// `TimeoutSeconds(Path)` and `HeartbeatSeconds` of a JSONPath Task.
fn jsonpath_task_timeouts(
    state: &State,
    effective: &Value,
    scope: &Scope<'_>,
) -> Result<TaskTimeouts, StateError> {
    let StateKind::Task {
        timeout_seconds,
        timeout_seconds_path,
        heartbeat_seconds,
        ..
    } = &state.kind
    else {
        return Ok(TaskTimeouts::default());
    };
    let timeout = match (timeout_seconds, timeout_seconds_path) {
        (Some(v), _) => v.as_u64(),
        (None, Some(p)) => {
            let v = resolve(p, effective, scope).ok();
            match v.as_ref().and_then(Value::as_u64).filter(|n| *n > 0) {
                Some(n) => Some(n),
                None => {
                    return Err(StateError::runtime(format!(
                        "The TimeoutSecondsPath parameter does not reference a valid input value. Invalid path '{p}'"
                    )));
                }
            }
        }
        (None, None) => None,
    };
    Ok(TaskTimeouts {
        timeout,
        heartbeat: heartbeat_seconds.as_ref().and_then(Value::as_u64),
    })
}

/// The context object of one Map iteration's `ItemSelector`: `$$.Map.Item.{Index, Value}`.
fn with_map_item(context: &Value, index: usize, item: &Value) -> Value {
    let mut ctx = context.clone();
    if let Value::Object(m) = &mut ctx {
        m.insert(
            "Map".into(),
            json!({"Item": {"Index": index, "Value": item}}),
        );
    }
    ctx
}

/// Text of a value in AWS's "refers to value" messages: strings unquoted.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => to_text(other),
    }
}

/// An integer given by a path; AWS also takes a string holding an integer (e.g. a
/// variable assigned `"1"`).
fn integer_value(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `MaxConcurrency(Path)` of a JSONPath Map (0: no limit).
fn jsonpath_max_concurrency(
    state: &State,
    effective: &Value,
    scope: &Scope<'_>,
) -> Result<usize, StateError> {
    if let Some(n) = state.raw.get("MaxConcurrency").and_then(Value::as_u64) {
        return Ok(usize::try_from(n).unwrap_or(usize::MAX));
    }
    if let Some(p) = state.raw.get("MaxConcurrencyPath").and_then(Value::as_str) {
        let v = resolve(p, effective, scope).map_err(|e| StateError::invalid_path(p, e))?;
        return match integer_value(&v) {
            Some(n) if (0..=2_147_483_647).contains(&n) => Ok(n as usize),
            _ => Err(StateError::runtime(format!(
                "The MaxConcurrencyPath field refers to value \"{}\" which is not a valid integer: {p}",
                shown(&v)
            ))),
        };
    }
    Ok(0)
}

/// A Map's `ToleratedFailureCount` and `ToleratedFailurePercentage`, once evaluated.
#[derive(Debug, Clone, Copy, Default)]
struct ToleratedLimits {
    count: Option<i64>,
    percentage: Option<f64>,
}

/// `ToleratedFailureCount(Path)` / `ToleratedFailurePercentage(Path)` of a JSONPath Map.
fn jsonpath_tolerated_limits(
    state: &State,
    effective: &Value,
    scope: &Scope<'_>,
) -> Result<ToleratedLimits, StateError> {
    let raw = &state.raw;
    let path_value =
        |p: &str| resolve(p, effective, scope).map_err(|e| StateError::invalid_path(p, e));
    let count = match (
        raw.get("ToleratedFailureCount"),
        raw.get("ToleratedFailureCountPath").and_then(Value::as_str),
    ) {
        (Some(v), _) => v.as_i64(),
        (None, Some(p)) => {
            let v = path_value(p)?;
            Some(integer_value(&v).ok_or_else(|| {
                StateError::runtime(format!(
                    "The ToleratedFailureCountPath field refers to value \"{}\" which is not a valid integer: {p}",
                    shown(&v)
                ))
            })?)
        }
        _ => None,
    };
    let percentage = match (
        raw.get("ToleratedFailurePercentage"),
        raw.get("ToleratedFailurePercentagePath")
            .and_then(Value::as_str),
    ) {
        (Some(v), _) => v.as_f64(),
        (None, Some(p)) => {
            let v = path_value(p)?;
            let number = match &v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            Some(number.ok_or_else(|| {
                StateError::runtime(format!(
                    "The ToleratedFailurePercentagePath field refers to value \"{}\" which is not a valid float: {p}",
                    shown(&v)
                ))
            })?)
        }
        _ => None,
    };
    Ok(ToleratedLimits { count, percentage })
}

/// Checks the tolerated failure limits; returns how many failed items a distributed Map
/// tolerates.
fn tolerated_failures(limits: ToleratedLimits, items: usize) -> Result<usize, StateError> {
    let mut tolerated = 0usize;
    if let Some(n) = limits.count {
        if n < 0 {
            return Err(StateError::runtime(
                "ToleratedFailureCount cannot be negative.",
            ));
        }
        tolerated = tolerated.max(usize::try_from(n).unwrap_or(usize::MAX));
    }
    if let Some(p) = limits.percentage {
        if !(0.0..=100.0).contains(&p) {
            return Err(StateError::runtime(
                "ToleratedFailurePercentage must be between 0 and 100.",
            ));
        }
        tolerated = tolerated.max((p / 100.0 * items as f64).floor() as usize);
    }
    Ok(tolerated)
}

/// A replayed `…StateExited` event is the truth about what the state produced: expressions
/// that are not repeatable (`$uuid()`, `$random()`, `$now()`, `States.UUID()`) may have given
/// other values this time, so the recorded output and variables win.
fn adopt_recorded_exit(exited: &HistoryEvent, output: &mut Value, th: &mut Thread) {
    if let Some(recorded) = exited.detail_json("output") {
        *output = recorded;
    }
    let assigned = exited
        .details
        .as_ref()
        .and_then(|d| d.get("assignedVariables"))
        .and_then(Value::as_object);
    for (name, text) in assigned.into_iter().flatten() {
        if let Some(value) = text.as_str().and_then(|t| serde_json::from_str(t).ok()) {
            Arc::make_mut(&mut th.vars).insert(name.clone(), value);
        }
    }
}

/// `t` plus `secs` seconds, saturating at the latest representable time.
pub(crate) fn after_seconds(t: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
    chrono::Duration::try_seconds(secs)
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Assigns variables after a state and records them for its exit event (an empty `Assign`
/// records nothing).
fn apply_assignments(th: &mut Thread, values: Map<String, Value>) {
    if values.is_empty() {
        return;
    }
    let assigned = th.assigned.get_or_insert_with(Map::new);
    let vars = Arc::make_mut(&mut th.vars);
    for (k, v) in values {
        assigned.insert(k.clone(), Value::String(to_text(&v)));
        vars.insert(k, v);
    }
}

/// `work`'s output, or `None` when `deadline` (a sleep) ends first; work that ends at the
/// deadline itself wins.
async fn before<F: std::future::Future>(
    work: F,
    deadline: Option<BoxFuture<'static, ()>>,
) -> Option<F::Output> {
    let Some(deadline) = deadline else {
        return Some(work.await);
    };
    tokio::select! {
        biased;
        r = work => Some(r),
        _ = deadline => None,
    }
}

fn lock_current(th: &Thread) -> Option<&'static str> {
    th.status.as_ref().and_then(|s| lock(s).current)
}

/// A details object with members in the order given (others after).
fn reorder(mut m: Map<String, Value>, order: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    for k in order {
        if let Some(v) = m.remove(*k) {
            out.insert((*k).to_string(), v);
        }
    }
    out.extend(m);
    out
}

enum Outcome {
    Succeeded(Value),
    Failed(StateError),
    TimedOut,
}

fn recorded_outcome(ev: &HistoryEvent, succeeded: &str) -> Result<Value, StateError> {
    if ev.event_type == succeeded {
        return Ok(ev.detail_json("output").unwrap_or(Value::Null));
    }
    Err(StateError {
        error: ev
            .detail_str("error")
            .unwrap_or("States.TaskFailed")
            .to_string(),
        cause: ev.detail_str("cause").map(str::to_string),
    })
}

/// How a Task resource is dispatched.
enum TaskKind {
    /// `arn:aws:lambda:...:function:NAME`: LambdaFunction* events, the payload is the input.
    DirectLambda { arn: String, function: String },
    /// `arn:aws:states:::lambda:invoke` and other service integrations: Task* events.
    Service {
        resource_type: String,
        resource: String,
        function: String,
        lambda_invoke: bool,
    },
}

impl TaskKind {
    fn of(resource: &str, params: &Value) -> TaskKind {
        if resource.starts_with("arn:aws:lambda:")
            || resource.contains(":lambda:") && resource.contains(":function:")
        {
            return TaskKind::DirectLambda {
                arn: resource.to_string(),
                function: lambda_function_name(resource).to_string(),
            };
        }
        let service = resource
            .strip_prefix("arn:aws:states:::")
            .or_else(|| resource.split(":::").nth(1))
            .unwrap_or(resource);
        let mut parts = service.splitn(2, ':');
        let resource_type = parts.next().unwrap_or_default().to_string();
        let rest = parts.next().unwrap_or_default().to_string();
        let lambda_invoke = resource_type == "lambda" && rest.starts_with("invoke");
        let function = if lambda_invoke {
            params
                .get("FunctionName")
                .and_then(Value::as_str)
                .map(|f| lambda_function_name(f).to_string())
                .unwrap_or_default()
        } else {
            resource.to_string()
        };
        TaskKind::Service {
            resource_type,
            resource: rest,
            function,
            lambda_invoke,
        }
    }

    fn event_types(
        &self,
    ) -> (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
    ) {
        match self {
            TaskKind::DirectLambda { .. } => (
                "LambdaFunctionScheduled",
                "LambdaFunctionStarted",
                "LambdaFunctionSucceeded",
                "LambdaFunctionFailed",
                "LambdaFunctionTimedOut",
            ),
            TaskKind::Service { .. } => (
                "TaskScheduled",
                "TaskStarted",
                "TaskSucceeded",
                "TaskFailed",
                "TaskTimedOut",
            ),
        }
    }

    fn service_details(&self) -> Option<Map<String, Value>> {
        match self {
            TaskKind::DirectLambda { .. } => None,
            TaskKind::Service {
                resource_type,
                resource,
                ..
            } => Some(Map::from_iter([
                ("resource".to_string(), Value::String(resource.clone())),
                (
                    "resourceType".to_string(),
                    Value::String(resource_type.clone()),
                ),
            ])),
        }
    }

    fn function_name(&self) -> String {
        match self {
            TaskKind::DirectLambda { function, .. } | TaskKind::Service { function, .. } => {
                function.clone()
            }
        }
    }

    fn limit_name(&self) -> String {
        match self {
            TaskKind::DirectLambda { arn, .. } => arn.clone(),
            TaskKind::Service { resource_type, .. } => resource_type.clone(),
        }
    }

    fn payload(&self, params: &Value) -> Value {
        match self {
            TaskKind::Service {
                lambda_invoke: true,
                ..
            } => match params.get("Payload") {
                // Lambda receives the Payload bytes: a string is sent as it is (and parsed by
                // the function's runtime); no payload arrives as `{}`.
                None | Some(Value::Null) => Value::Object(Map::new()),
                Some(Value::String(text)) => {
                    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
                }
                Some(other) => other.clone(),
            },
            _ => params.clone(),
        }
    }

    fn wrap_result(&self, v: Value) -> Value {
        match self {
            TaskKind::Service {
                lambda_invoke: true,
                ..
            } => lambda_invoke_result(v),
            _ => v,
        }
    }

    fn failure(&self, f: TaskFailure) -> StateError {
        let cause = match self {
            // lambda:invoke re-serialises the error payload compactly.
            TaskKind::Service {
                lambda_invoke: true,
                ..
            } => match serde_json::from_str::<Value>(&f.cause) {
                Ok(v @ Value::Object(_)) => to_text(&v),
                _ => f.cause,
            },
            _ => f.cause,
        };
        StateError {
            error: f.error,
            cause: Some(cause),
        }
    }

    fn not_found(&self, function: &str, region: &str, account: &str) -> StateError {
        let arn = format!("arn:aws:lambda:{region}:{account}:function:{function}:$LATEST");
        let request_id = uuid::Uuid::new_v4();
        match self {
            TaskKind::Service {
                lambda_invoke: false,
                ..
            } => StateError::new(
                "States.Runtime",
                format!("No handler is registered for the resource '{function}'"),
            ),
            _ => StateError::new(
                "Lambda.ResourceNotFoundException",
                format!(
                    "Function not found: {arn} (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; Request ID: {request_id}; Proxy: null)"
                ),
            ),
        }
    }
}

/// The `lambda:invoke` integration's result object.
fn lambda_invoke_result(payload: Value) -> Value {
    let request_id = uuid::Uuid::new_v4().to_string();
    let len = to_text(&payload).len().to_string();
    let date = Utc::now().format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    json!({
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {
                "X-Amz-Executed-Version": ["$LATEST"],
                "x-amzn-Remapped-Content-Length": ["0"],
                "Connection": ["keep-alive"],
                "x-amzn-RequestId": [request_id],
                "Content-Length": [len],
                "Date": [date],
                "X-Amzn-Trace-Id": ["Root=1-00000000-000000000000000000000000;Sampled=0"],
                "Content-Type": ["application/json"]
            },
            "HttpHeaders": {
                "Connection": "keep-alive",
                "Content-Length": len,
                "Content-Type": "application/json",
                "Date": date,
                "X-Amz-Executed-Version": "$LATEST",
                "x-amzn-Remapped-Content-Length": "0",
                "x-amzn-RequestId": request_id,
                "X-Amzn-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0"
            },
            "HttpStatusCode": 200
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": 200
    })
}

/// Events of the failed attempt that a redrive retires: per thread, everything after the
/// last completed state, plus the execution's own terminal event.
fn retired_for_redrive(events: &[StoredEvent]) -> Vec<i64> {
    let mut by_scope: HashMap<&str, Vec<&StoredEvent>> = HashMap::new();
    let mut retired = Vec::new();
    for e in events.iter().filter(|e| e.replayable) {
        if is_execution_event(&e.event.event_type) {
            if e.event.event_type != "ExecutionStarted" {
                retired.push(e.event.id);
            }
            continue;
        }
        by_scope.entry(e.scope.as_str()).or_default().push(e);
    }
    for list in by_scope.values() {
        let keep = list
            .iter()
            .rposition(|e| e.event.event_type.ends_with("StateExited"))
            .map(|p| p + 1)
            .unwrap_or(0);
        retired.extend(list[keep..].iter().map(|e| e.event.id));
    }
    retired
}
