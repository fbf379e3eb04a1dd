//! Durable storage of state machines, executions and their history events.
//!
//! SQLite (WAL) on disk, or a plain in-memory map. Every event is written here before the
//! engine acts on it, so a restarted engine can replay each history and resume.
//!
//! Group commit: events of pure in-engine transitions (Pass, Choice, Map/Parallel
//! bookkeeping) change nothing outside the engine, so the interpreter hands them to
//! [`HistoryStore::buffer_event`], which keeps them in memory; they are written, in one
//! transaction with everything else buffered, by the next write that must be durable (an
//! event before a Task handler runs, a task outcome, an event before a sleep, the terminal
//! event), by [`HistoryStore::flush`], by any read of a history, or when the buffer reaches the
//! bounds of its [`GroupCommit`] policy. Losing the buffer in a crash loses only transitions
//! that replay recomputes: the durable events of each execution are always a gap-free prefix
//! of its history, because the buffer is written in emission order.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::{Map, Value};

use crate::history::{EventDetails, HistoryEvent};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("corrupt store record: {0}")]
    Corrupt(String),
}

/// Where histories live.
pub struct HistoryStore {
    backend: Backend,
}

enum Backend {
    Sqlite(Mutex<SqliteStore>),
    Memory(Mutex<MemStore>),
}

/// How long the SQLite store may keep events of pure transitions in memory before writing
/// them. `max_events: 1` writes every event in its own transaction (no group commit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommit {
    /// Buffered events that trigger a write.
    pub max_events: usize,
    /// Age of the oldest buffered event that triggers a write (checked when an event is
    /// buffered; reads of a history always see every event).
    pub max_delay: Duration,
}

impl Default for GroupCommit {
    /// 512 events or 50 ms: at most that much pure work re-runs after a crash, while a
    /// 1,000-state Pass chain needs only a few transactions.
    fn default() -> Self {
        GroupCommit {
            max_events: 512,
            max_delay: Duration::from_millis(50),
        }
    }
}

struct SqliteStore {
    conn: Connection,
    pending: Pending,
    policy: GroupCommit,
}

/// Events buffered for the next transaction (with their execution's `seq`), in emission
/// order.
#[derive(Default)]
struct Pending {
    events: Vec<(i64, RecordedEvent)>,
    oldest: Option<Instant>,
}

impl Pending {
    fn push(&mut self, seq: i64, ev: RecordedEvent) {
        if self.events.is_empty() {
            self.oldest = Some(Instant::now());
        }
        self.events.push((seq, ev));
    }

    fn due(&self, policy: &GroupCommit) -> bool {
        self.events.len() >= policy.max_events
            || self.oldest.is_some_and(|t| t.elapsed() >= policy.max_delay)
    }

    fn clear(&mut self) {
        self.events.clear();
        self.oldest = None;
    }
}

impl SqliteStore {
    /// Runs `work` in one transaction that first writes every buffered event, so ids reach
    /// the table in emission order. On failure the buffer is kept (the transaction rolled
    /// back): dropping it would leave a gap in some history if a later write succeeded.
    fn write<R>(
        &mut self,
        work: impl FnOnce(&Transaction<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let tx = self.conn.transaction()?;
        insert_chunks(&tx, &self.pending.events)?;
        let out = work(&tx)?;
        tx.commit()?;
        self.pending.clear();
        Ok(out)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending.events.is_empty() {
            return Ok(());
        }
        self.write(|_| Ok(()))
    }
}

#[derive(Default)]
struct MemStore {
    machines: HashMap<String, StateMachineRecord>,
    executions: HashMap<String, ExecutionRecord>,
    order: Vec<String>,
    /// By execution `seq`, which is `order`'s index + 1.
    events: Vec<Vec<RecordedEvent>>,
}

impl MemStore {
    fn history_mut(&mut self, seq: i64) -> Option<&mut Vec<RecordedEvent>> {
        let i = usize::try_from(seq).ok()?.checked_sub(1)?;
        self.events.get_mut(i)
    }
}

/// An execution as the store knows it: its ARN and its `seq`, the key of its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExecutionKey<'a> {
    pub arn: &'a str,
    pub seq: i64,
}

/// A stored state machine.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StateMachineRecord {
    pub arn: String,
    pub name: String,
    pub definition: String,
    pub created: DateTime<Utc>,
}

/// A stored execution (the DescribeExecution fields plus what resuming needs).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExecutionRecord {
    pub arn: String,
    pub state_machine_arn: String,
    pub name: String,
    pub definition: String,
    pub input: String,
    pub status: String,
    pub start_date: DateTime<Utc>,
    pub stop_date: Option<DateTime<Utc>>,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub redrive_count: u32,
    pub redrive_date: Option<DateTime<Utc>>,
    /// The store's number for the execution (1, 2, … in start order); set by the store.
    pub seq: i64,
}

impl ExecutionRecord {
    /// The record of an execution that starts at `start_date`: RUNNING, never redriven, not
    /// yet numbered by the store.
    pub(crate) fn running(
        arn: String,
        state_machine_arn: String,
        name: String,
        definition: String,
        input: String,
        start_date: DateTime<Utc>,
    ) -> Self {
        ExecutionRecord {
            arn,
            state_machine_arn,
            name,
            definition,
            input,
            status: "RUNNING".into(),
            start_date,
            stop_date: None,
            output: None,
            error: None,
            cause: None,
            redrive_count: 0,
            redrive_date: None,
            seq: 0,
        }
    }

    pub(crate) fn key(&self) -> ExecutionKey<'_> {
        ExecutionKey {
            arn: &self.arn,
            seq: self.seq,
        }
    }
}

/// An event plus the engine's bookkeeping: the logical thread (`scope`) that emitted it,
/// and whether replay should still consider it (redrive retires a failed attempt).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredEvent {
    pub event: HistoryEvent,
    pub scope: String,
    pub replayable: bool,
}

/// An event as the engine records it; reads give it back as a [`StoredEvent`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RecordedEvent {
    pub id: i64,
    pub previous_event_id: i64,
    pub timestamp: DateTime<Utc>,
    pub event_type: &'static str,
    pub details: EventDetails,
    pub scope: String,
    pub replayable: bool,
}

impl RecordedEvent {
    fn to_stored(&self) -> StoredEvent {
        StoredEvent {
            event: HistoryEvent {
                timestamp: self.timestamp,
                event_type: self.event_type.to_string(),
                id: self.id,
                previous_event_id: self.previous_event_id,
                details: self.details.to_map(),
            },
            scope: self.scope.clone(),
            replayable: self.replayable,
        }
    }
}

/// The terminal (or re-opened) status written together with an event.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StatusUpdate {
    pub status: String,
    pub stop_date: Option<DateTime<Utc>>,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS state_machines (
    arn TEXT PRIMARY KEY, name TEXT NOT NULL, definition TEXT NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS executions (
    arn TEXT PRIMARY KEY, state_machine_arn TEXT NOT NULL, name TEXT NOT NULL,
    definition TEXT NOT NULL, input TEXT NOT NULL, status TEXT NOT NULL,
    start_ms INTEGER NOT NULL, stop_ms INTEGER, output TEXT, error TEXT, cause TEXT,
    redrive_count INTEGER NOT NULL DEFAULT 0, redrive_ms INTEGER, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS executions_by_machine ON executions(state_machine_arn, seq);
CREATE INDEX IF NOT EXISTS executions_by_status ON executions(status);
DROP INDEX IF EXISTS executions_by_seq;
CREATE UNIQUE INDEX IF NOT EXISTS executions_seq ON executions(seq);
CREATE TABLE IF NOT EXISTS history_chunks (
    execution INTEGER NOT NULL, first_id INTEGER NOT NULL, events TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS history_chunks_by_execution
    ON history_chunks(execution, first_id);
CREATE TABLE IF NOT EXISTS retired_events (
    execution INTEGER NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (execution, id)) WITHOUT ROWID;
";
// Why this shape (measured with `cargo bench -p statemachine --bench transitions`):
// * `executions_seq` makes `seq` an execution's key for its history (an 80-byte ARN compared
//   at every B-tree level was a third of an insert) and lets `MAX(seq)` (each start) read one
//   index entry instead of every execution row, definitions included.
// * A history is written in chunks: each transaction adds, per execution, one row holding
//   the events it writes, one JSON array per line (`encode_event`). A row per event cost
//   ~9,000 instructions of SQLite work (binding, B-tree descent, page balancing) per event;
//   a chunk costs that once per group commit.
// * Redrive retires events from replay without rewriting chunks: `retired_events`.

/// Tables of older stores whose rows move into `history_chunks` when the store opens: one
/// row per event, keyed by execution ARN (`events`) or by `seq` (`history`).
const LEGACY_EVENT_TABLES: [(&str, &str); 2] = [
    (
        "events",
        "SELECT x.seq, e.id, e.previous_id, e.ts_ms, e.type, e.details, e.scope, e.replayable
         FROM events e JOIN executions x ON x.arn = e.execution_arn ORDER BY x.seq, e.id",
    ),
    (
        "history",
        "SELECT execution, id, previous_id, ts_ms, type, details, scope, replayable
         FROM history ORDER BY execution, id",
    ),
];

fn ms(t: &DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(v).unwrap_or_default()
}

impl HistoryStore {
    /// Opens (or creates) a SQLite store at `path`, in WAL mode, with the default
    /// [`GroupCommit`] policy.
    pub fn open(path: impl AsRef<Path>) -> Result<HistoryStore, StoreError> {
        Self::open_with(path, GroupCommit::default())
    }

    /// Opens (or creates) a SQLite store at `path` with a group-commit policy.
    pub fn open_with(
        path: impl AsRef<Path>,
        policy: GroupCommit,
    ) -> Result<HistoryStore, StoreError> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let tx = conn.transaction()?;
        tx.execute_batch(SCHEMA)?;
        for (table, select) in LEGACY_EVENT_TABLES {
            migrate_legacy_events(&tx, table, select)?;
        }
        tx.commit()?;
        Ok(HistoryStore {
            backend: Backend::Sqlite(Mutex::new(SqliteStore {
                conn,
                pending: Pending::default(),
                policy: GroupCommit {
                    max_events: policy.max_events.max(1),
                    ..policy
                },
            })),
        })
    }

    /// A store that lives only in memory (nothing survives the process).
    pub fn in_memory() -> HistoryStore {
        HistoryStore {
            backend: Backend::Memory(Mutex::new(MemStore::default())),
        }
    }

    /// True for the in-memory store.
    pub fn is_in_memory(&self) -> bool {
        matches!(self.backend, Backend::Memory(_))
    }

    pub(crate) fn put_state_machine(&self, rec: &StateMachineRecord) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(c) => {
                lock(c).write(|tx| {
                    tx.prepare_cached(
                        "INSERT INTO state_machines (arn, name, definition, created_ms) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT(arn) DO UPDATE SET definition = excluded.definition",
                    )?
                    .execute(params![rec.arn, rec.name, rec.definition, ms(&rec.created)])?;
                    Ok(())
                })?;
            }
            Backend::Memory(m) => {
                let mut m = lock(m);
                let created = m
                    .machines
                    .get(&rec.arn)
                    .map(|r| r.created)
                    .unwrap_or(rec.created);
                m.machines.insert(
                    rec.arn.clone(),
                    StateMachineRecord {
                        created,
                        ..rec.clone()
                    },
                );
            }
        }
        Ok(())
    }

    pub(crate) fn get_state_machine(
        &self,
        arn: &str,
    ) -> Result<Option<StateMachineRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(c) => Ok(lock(c)
                .conn
                .prepare_cached(
                    "SELECT arn, name, definition, created_ms FROM state_machines WHERE arn = ?1",
                )?
                .query_row(params![arn], |r| {
                    Ok(StateMachineRecord {
                        arn: r.get(0)?,
                        name: r.get(1)?,
                        definition: r.get(2)?,
                        created: from_ms(r.get(3)?),
                    })
                })
                .optional()?),
            Backend::Memory(m) => Ok(lock(m).machines.get(arn).cloned()),
        }
    }

    /// Every state machine, oldest first (`ListStateMachines`).
    pub(crate) fn list_state_machines(&self) -> Result<Vec<StateMachineRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(c) => {
                let store = lock(c);
                let mut st = store.conn.prepare_cached(
                    "SELECT arn, name, definition, created_ms FROM state_machines ORDER BY created_ms, arn",
                )?;
                let rows = st.query_map([], |r| {
                    Ok(StateMachineRecord {
                        arn: r.get(0)?,
                        name: r.get(1)?,
                        definition: r.get(2)?,
                        created: from_ms(r.get(3)?),
                    })
                })?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?)
            }
            Backend::Memory(m) => {
                let mut all: Vec<StateMachineRecord> = lock(m).machines.values().cloned().collect();
                all.sort_by(|a, b| (a.created, &a.arn).cmp(&(b.created, &b.arn)));
                Ok(all)
            }
        }
    }

    /// Removes a state machine (its executions and their histories stay, as on AWS).
    /// Returns whether it existed.
    pub(crate) fn delete_state_machine(&self, arn: &str) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(c) => lock(c).write(|tx| {
                Ok(tx
                    .prepare_cached("DELETE FROM state_machines WHERE arn = ?1")?
                    .execute(params![arn])?
                    > 0)
            }),
            Backend::Memory(m) => Ok(lock(m).machines.remove(arn).is_some()),
        }
    }

    /// Inserts a new execution and its first event atomically; returns the execution's
    /// `seq` (the `seq` of `rec` is ignored).
    pub(crate) fn insert_execution(
        &self,
        rec: &ExecutionRecord,
        first: RecordedEvent,
    ) -> Result<i64, StoreError> {
        match &self.backend {
            Backend::Sqlite(c) => lock(c).write(|tx| {
                let seq: i64 = tx
                    .prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM executions")?
                    .query_row([], |r| r.get(0))?;
                tx.prepare_cached(
                    "INSERT INTO executions (arn, state_machine_arn, name, definition, input, status, start_ms,
                       stop_ms, output, error, cause, redrive_count, redrive_ms, seq)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                )?
                .execute(params![
                        rec.arn,
                        rec.state_machine_arn,
                        rec.name,
                        rec.definition,
                        rec.input,
                        rec.status,
                        ms(&rec.start_date),
                        rec.stop_date.as_ref().map(ms),
                        rec.output,
                        rec.error,
                        rec.cause,
                        rec.redrive_count,
                        rec.redrive_date.as_ref().map(ms),
                    seq
                ])?;
                insert_chunks(tx, &[(seq, first)])?;
                Ok(seq)
            }),
            Backend::Memory(m) => {
                let mut m = lock(m);
                let seq = i64::try_from(m.order.len()).unwrap_or(i64::MAX - 1) + 1;
                m.executions
                    .insert(rec.arn.clone(), ExecutionRecord { seq, ..rec.clone() });
                m.order.push(rec.arn.clone());
                m.events.push(vec![first]);
                Ok(seq)
            }
        }
    }

    pub(crate) fn get_execution(&self, arn: &str) -> Result<Option<ExecutionRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(c) => Ok(lock(c)
                .conn
                .prepare_cached(EXEC_BY_ARN)?
                .query_row(params![arn], exec_from_row)
                .optional()?),
            Backend::Memory(m) => Ok(lock(m).executions.get(arn).cloned()),
        }
    }

    /// Executions, newest first; of one state machine if given.
    pub(crate) fn list_executions(
        &self,
        sm_arn: Option<&str>,
    ) -> Result<Vec<ExecutionRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(c) => {
                let store = lock(c);
                let mut out = Vec::new();
                match sm_arn {
                    Some(sm) => {
                        let mut st = store.conn.prepare_cached(EXEC_BY_MACHINE)?;
                        for r in st.query_map(params![sm], exec_from_row)? {
                            out.push(r?);
                        }
                    }
                    None => {
                        let mut st = store.conn.prepare_cached(EXEC_ALL)?;
                        for r in st.query_map([], exec_from_row)? {
                            out.push(r?);
                        }
                    }
                }
                Ok(out)
            }
            Backend::Memory(m) => {
                let m = lock(m);
                Ok(m.order
                    .iter()
                    .rev()
                    .filter_map(|a| m.executions.get(a))
                    .filter(|e| sm_arn.is_none_or(|s| e.state_machine_arn == s))
                    .cloned()
                    .collect())
            }
        }
    }

    /// Executions whose status is RUNNING.
    pub(crate) fn running_executions(&self) -> Result<Vec<ExecutionRecord>, StoreError> {
        Ok(self
            .list_executions(None)?
            .into_iter()
            .filter(|e| e.status == "RUNNING")
            .rev()
            .collect())
    }

    /// Appends one event durably (with everything buffered before it), and updates the
    /// execution's status in the same transaction.
    pub(crate) fn append_event(
        &self,
        exec: ExecutionKey<'_>,
        ev: RecordedEvent,
        status: Option<&StatusUpdate>,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(c) => lock(c).write(|tx| {
                insert_chunks(tx, &[(exec.seq, ev)])?;
                if let Some(s) = status {
                    update_status_sql(tx, exec.arn, s)?;
                }
                Ok(())
            })?,
            Backend::Memory(m) => {
                let mut m = lock(m);
                if let Some(history) = m.history_mut(exec.seq) {
                    history.push(ev);
                }
                if let Some(s) = status
                    && let Some(rec) = m.executions.get_mut(exec.arn)
                {
                    apply_status(rec, s);
                }
            }
        }
        Ok(())
    }

    /// Appends the event of a pure transition: buffered, written with the next durable write
    /// (see the module documentation) or when the group-commit bound is reached.
    pub(crate) fn buffer_event(&self, seq: i64, ev: RecordedEvent) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(c) => {
                let mut store = lock(c);
                store.pending.push(seq, ev);
                if store.pending.due(&store.policy) {
                    store.flush()?;
                }
            }
            Backend::Memory(m) => {
                if let Some(history) = lock(m).history_mut(seq) {
                    history.push(ev);
                }
            }
        }
        Ok(())
    }

    /// Writes every buffered event now.
    pub fn flush(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(c) => lock(c).flush(),
            Backend::Memory(_) => Ok(()),
        }
    }

    /// Retires events from replay and re-opens the execution (redrive).
    pub(crate) fn begin_redrive(
        &self,
        exec: ExecutionKey<'_>,
        retired_ids: &[i64],
        redrive_date: DateTime<Utc>,
        ev: RecordedEvent,
    ) -> Result<(), StoreError> {
        let arn = exec.arn;
        match &self.backend {
            Backend::Sqlite(c) => lock(c).write(|tx| {
                let mut retire = tx.prepare_cached(
                    "INSERT OR IGNORE INTO retired_events (execution, id) VALUES (?1, ?2)",
                )?;
                for id in retired_ids {
                    retire.execute(params![exec.seq, id])?;
                }
                insert_chunks(tx, &[(exec.seq, ev)])?;
                tx.prepare_cached(
                    "UPDATE executions SET status = 'RUNNING', stop_ms = NULL, output = NULL, error = NULL,
                       cause = NULL, redrive_count = redrive_count + 1, redrive_ms = ?2 WHERE arn = ?1",
                )?
                .execute(params![arn, ms(&redrive_date)])?;
                Ok(())
            })?,
            Backend::Memory(m) => {
                let mut m = lock(m);
                if let Some(events) = m.history_mut(exec.seq) {
                    for e in events.iter_mut() {
                        if retired_ids.contains(&e.id) {
                            e.replayable = false;
                        }
                    }
                    events.push(ev);
                }
                if let Some(rec) = m.executions.get_mut(arn) {
                    rec.status = "RUNNING".into();
                    rec.stop_date = None;
                    rec.output = None;
                    rec.error = None;
                    rec.cause = None;
                    rec.redrive_count += 1;
                    rec.redrive_date = Some(redrive_date);
                }
            }
        }
        Ok(())
    }

    /// All events of an execution in id order (buffered ones are written first, so what a
    /// reader saw survives a crash).
    pub(crate) fn events(&self, arn: &str) -> Result<Vec<StoredEvent>, StoreError> {
        match &self.backend {
            Backend::Sqlite(c) => {
                let mut store = lock(c);
                store.flush()?;
                let conn = &store.conn;
                let Some(seq) = conn
                    .prepare_cached("SELECT seq FROM executions WHERE arn = ?1")?
                    .query_row(params![arn], |r| r.get::<_, i64>(0))
                    .optional()?
                else {
                    return Ok(Vec::new());
                };
                let mut retired = std::collections::HashSet::new();
                let mut st =
                    conn.prepare_cached("SELECT id FROM retired_events WHERE execution = ?1")?;
                for id in st.query_map(params![seq], |r| r.get::<_, i64>(0))? {
                    retired.insert(id?);
                }
                let mut out = Vec::new();
                let mut st = conn.prepare_cached(
                    "SELECT events FROM history_chunks WHERE execution = ?1 ORDER BY first_id",
                )?;
                for chunk in st.query_map(params![seq], |r| r.get::<_, String>(0))? {
                    for line in chunk?.lines() {
                        let mut ev = decode_event(line)?;
                        ev.replayable &= !retired.contains(&ev.event.id);
                        out.push(ev);
                    }
                }
                Ok(out)
            }
            Backend::Memory(m) => {
                let mut m = lock(m);
                let Some(seq) = m.executions.get(arn).map(|r| r.seq) else {
                    return Ok(Vec::new());
                };
                Ok(m.history_mut(seq)
                    .map(|h| h.iter().map(RecordedEvent::to_stored).collect())
                    .unwrap_or_default())
            }
        }
    }
}

macro_rules! exec_select {
    ($rest:literal) => {
        concat!(
            "SELECT arn, state_machine_arn, name, definition, input, status, start_ms, stop_ms,
             output, error, cause, redrive_count, redrive_ms, seq FROM executions ",
            $rest
        )
    };
}
const EXEC_BY_ARN: &str = exec_select!("WHERE arn = ?1");
const EXEC_BY_MACHINE: &str = exec_select!("WHERE state_machine_arn = ?1 ORDER BY seq DESC");
const EXEC_ALL: &str = exec_select!("ORDER BY seq DESC");

fn exec_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ExecutionRecord> {
    Ok(ExecutionRecord {
        arn: r.get(0)?,
        state_machine_arn: r.get(1)?,
        name: r.get(2)?,
        definition: r.get(3)?,
        input: r.get(4)?,
        status: r.get(5)?,
        start_date: from_ms(r.get(6)?),
        stop_date: r.get::<_, Option<i64>>(7)?.map(from_ms),
        output: r.get(8)?,
        error: r.get(9)?,
        cause: r.get(10)?,
        redrive_count: r.get(11)?,
        redrive_date: r.get::<_, Option<i64>>(12)?.map(from_ms),
        seq: r.get(13)?,
    })
}

/// Writes `events` (with their execution's `seq`, each execution's in id order) as one
/// `history_chunks` row per execution.
fn insert_chunks(tx: &Transaction<'_>, events: &[(i64, RecordedEvent)]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut chunks: Vec<(i64, i64, Vec<u8>)> = Vec::new();
    for (seq, ev) in events {
        // Runs emit in bursts, so the previous event's chunk is almost always the one.
        let i = match chunks.iter().rposition(|c| c.0 == *seq) {
            Some(i) => i,
            None => {
                chunks.push((*seq, ev.id, Vec::with_capacity(256 * events.len())));
                chunks.len() - 1
            }
        };
        encode_event(&mut chunks[i].2, ev)?;
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO history_chunks (execution, first_id, events) VALUES (?1, ?2, ?3)",
    )?;
    for (seq, first_id, text) in chunks {
        let text = String::from_utf8(text).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        insert.execute(params![seq, first_id, text])?;
    }
    Ok(())
}

/// One event as a line of a chunk:
/// `[id,previous_id,timestamp_ms,"type","scope",replayable,details]`, details an object or
/// `null`. JSON text never holds a raw newline, so lines split events.
fn encode_event(out: &mut Vec<u8>, ev: &RecordedEvent) -> Result<(), StoreError> {
    encode_head(
        out,
        (ev.id, ev.previous_event_id, ms(&ev.timestamp)),
        ev.event_type,
        &ev.scope,
        ev.replayable,
    )?;
    ev.details.write_json(&mut *out).map_err(corrupt)?;
    out.extend_from_slice(b"]\n");
    Ok(())
}

/// Everything of an event's line up to its details (`[id,prev,ts,"type","scope",r,`).
fn encode_head(
    out: &mut Vec<u8>,
    (id, prev, ts): (i64, i64, i64),
    event_type: &str,
    scope: &str,
    replayable: bool,
) -> Result<(), StoreError> {
    serde_json::to_writer(
        &mut *out,
        &(id, prev, ts, event_type, scope, u8::from(replayable)),
    )
    .map_err(corrupt)?;
    // Reopen the array for the details member.
    out.pop();
    out.push(b',');
    Ok(())
}

type EncodedEvent = (
    i64,
    i64,
    i64,
    String,
    String,
    u8,
    Option<Map<String, Value>>,
);

fn decode_event(line: &str) -> Result<StoredEvent, StoreError> {
    let (id, prev, ts, event_type, scope, replayable, details): EncodedEvent =
        serde_json::from_str(line).map_err(corrupt)?;
    Ok(StoredEvent {
        event: HistoryEvent {
            timestamp: from_ms(ts),
            event_type,
            id,
            previous_event_id: prev,
            details,
        },
        scope,
        replayable: replayable != 0,
    })
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// Moves the rows of a legacy one-row-per-event table into chunks (one per execution) and
/// drops the table; nothing to do when the table does not exist.
fn migrate_legacy_events(
    tx: &Transaction<'_>,
    table: &str,
    select: &str,
) -> Result<(), StoreError> {
    let exists: bool = tx
        .prepare("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)")?
        .query_row(params![table], |r| r.get(0))?;
    if !exists {
        return Ok(());
    }
    let mut chunks: Vec<(i64, i64, Vec<u8>)> = Vec::new();
    let mut st = tx.prepare(select)?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let id: i64 = r.get(1)?;
        if chunks.last().is_none_or(|c| c.0 != seq) {
            chunks.push((seq, id, Vec::new()));
        }
        let Some((_, _, out)) = chunks.last_mut() else {
            continue;
        };
        let ty: String = r.get(4)?;
        let scope: String = r.get(6)?;
        let replayable: i64 = r.get(7)?;
        encode_head(
            out,
            (id, r.get(2)?, r.get(3)?),
            &ty,
            &scope,
            replayable != 0,
        )?;
        match r.get::<_, Option<String>>(5)? {
            Some(details) => out.extend_from_slice(details.as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b"]\n");
    }
    drop(rows);
    drop(st);
    let mut insert = tx.prepare(
        "INSERT OR IGNORE INTO history_chunks (execution, first_id, events) VALUES (?1, ?2, ?3)",
    )?;
    for (seq, first_id, text) in chunks {
        insert.execute(params![
            seq,
            first_id,
            String::from_utf8(text).map_err(corrupt)?
        ])?;
    }
    tx.execute_batch(&format!("DROP TABLE {table}"))?;
    Ok(())
}

fn update_status_sql(tx: &Transaction<'_>, arn: &str, s: &StatusUpdate) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE executions SET status = ?2, stop_ms = ?3, output = ?4, error = ?5, cause = ?6 WHERE arn = ?1",
    )?
    .execute(params![arn, s.status, s.stop_date.as_ref().map(ms), s.output, s.error, s.cause])?;
    Ok(())
}

fn apply_status(rec: &mut ExecutionRecord, s: &StatusUpdate) {
    rec.status = s.status.clone();
    rec.stop_date = s.stop_date;
    rec.output = s.output.clone();
    rec.error = s.error.clone();
    rec.cause = s.cause.clone();
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl std::fmt::Debug for HistoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryStore")
            .field("in_memory", &self.is_in_memory())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: i64, ty: &'static str) -> RecordedEvent {
        RecordedEvent {
            id,
            previous_event_id: id - 1,
            timestamp: from_ms(1_700_000_000_000 + id),
            event_type: ty,
            details: EventDetails::Map(Map::from_iter([("name".to_string(), Value::from("A"))])),
            scope: String::new(),
            replayable: true,
        }
    }

    const OLD_EXECUTIONS: &str = "CREATE TABLE executions (
        arn TEXT PRIMARY KEY, state_machine_arn TEXT NOT NULL, name TEXT NOT NULL,
        definition TEXT NOT NULL, input TEXT NOT NULL, status TEXT NOT NULL,
        start_ms INTEGER NOT NULL, stop_ms INTEGER, output TEXT, error TEXT, cause TEXT,
        redrive_count INTEGER NOT NULL DEFAULT 0, redrive_ms INTEGER, seq INTEGER NOT NULL);
     INSERT INTO executions VALUES ('arn:a', 'arn:sm', 'a', '{}', '{}', 'RUNNING', 5, NULL, NULL, NULL, NULL, 0, NULL, 1);
     INSERT INTO executions VALUES ('arn:b', 'arn:sm', 'b', '{}', '{}', 'RUNNING', 6, NULL, NULL, NULL, NULL, 0, NULL, 2);";

    /// The two one-row-per-event layouts stores had before history chunks.
    const OLD_EVENT_TABLES: [&str; 2] = [
        "CREATE TABLE events (
            execution_arn TEXT NOT NULL, id INTEGER NOT NULL, previous_id INTEGER NOT NULL,
            ts_ms INTEGER NOT NULL, type TEXT NOT NULL, details TEXT, scope TEXT NOT NULL,
            replayable INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (execution_arn, id));
         INSERT INTO events VALUES ('arn:a', 1, 0, 5, 'ExecutionStarted', NULL, '', 1);
         INSERT INTO events VALUES ('arn:a', 2, 1, 6, 'PassStateEntered', '{\"name\":\"A\"}', '/x', 0);
         INSERT INTO events VALUES ('arn:b', 1, 0, 6, 'ExecutionStarted', NULL, '', 1);",
        "CREATE TABLE history (
            execution INTEGER NOT NULL, id INTEGER NOT NULL, previous_id INTEGER NOT NULL,
            ts_ms INTEGER NOT NULL, type TEXT NOT NULL, details TEXT, scope TEXT NOT NULL,
            replayable INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (execution, id)) WITHOUT ROWID;
         INSERT INTO history VALUES (1, 1, 0, 5, 'ExecutionStarted', NULL, '', 1);
         INSERT INTO history VALUES (1, 2, 1, 6, 'PassStateEntered', '{\"name\":\"A\"}', '/x', 0);
         INSERT INTO history VALUES (2, 1, 0, 6, 'ExecutionStarted', NULL, '', 1);",
    ];

    /// A store file with an older event table opens with its events.
    #[test]
    fn events_of_an_older_store_are_migrated() {
        for old in OLD_EVENT_TABLES {
            let dir = tempfile::tempdir().unwrap();
            let db = dir.path().join("old.db");
            {
                let conn = Connection::open(&db).unwrap();
                conn.execute_batch(OLD_EXECUTIONS).unwrap();
                conn.execute_batch(old).unwrap();
            }
            let store = HistoryStore::open(&db).unwrap();
            let a = store.events("arn:a").unwrap();
            assert_eq!(a.len(), 2);
            assert_eq!(a[1].event.event_type, "PassStateEntered");
            assert_eq!(a[1].event.detail_str("name"), Some("A"));
            assert_eq!(a[1].event.timestamp, from_ms(6));
            assert_eq!(a[1].event.previous_event_id, 1);
            assert_eq!(a[1].scope, "/x");
            assert!(!a[1].replayable);
            assert!(a[0].replayable);
            assert_eq!(store.events("arn:b").unwrap().len(), 1);
            // New events land after the migrated ones, under the same execution.
            let rec = store.get_execution("arn:a").unwrap().unwrap();
            store
                .append_event(rec.key(), event(3, "PassStateExited"), None)
                .unwrap();
            assert_eq!(store.events("arn:a").unwrap().len(), 3);
            drop(store);
            // Opening again finds nothing left to migrate.
            let store = HistoryStore::open(&db).unwrap();
            let ids: Vec<i64> = store
                .events("arn:a")
                .unwrap()
                .iter()
                .map(|e| e.event.id)
                .collect();
            assert_eq!(ids, vec![1, 2, 3]);
        }
    }

    /// Redrive's retired events stay retired in a reopened store; details and order survive
    /// the chunk encoding (strings with quotes, newlines and non-ASCII text).
    #[test]
    fn chunks_keep_every_field_and_retired_events() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        let store = HistoryStore::open(&db).unwrap();
        let seq = store
            .insert_execution(&record("arn:c"), event(1, "ExecutionStarted"))
            .unwrap();
        let mut odd = event(2, "PassStateEntered");
        odd.details = EventDetails::StateEntered {
            input: "{\"t\":\"line\\nbreak \\\"q\\\" é\"}".into(),
            name: "S\n2".into(),
        };
        odd.scope = "/M#1.0/i3".into();
        store.buffer_event(seq, odd.clone()).unwrap();
        store
            .buffer_event(seq, event(3, "PassStateExited"))
            .unwrap();
        let key = ExecutionKey { arn: "arn:c", seq };
        store
            .begin_redrive(key, &[3], from_ms(9), event(4, "ExecutionRedriven"))
            .unwrap();
        drop(store);
        let store = HistoryStore::open(&db).unwrap();
        let h = store.events("arn:c").unwrap();
        assert_eq!(h.len(), 4);
        assert_eq!(h[1], odd.to_stored());
        assert!(h[1].replayable);
        assert!(!h[2].replayable, "retired by the redrive");
        assert_eq!(h[3].event.event_type, "ExecutionRedriven");
        let rec = store.get_execution("arn:c").unwrap().unwrap();
        assert_eq!(rec.redrive_count, 1);
    }

    fn record(arn: &str) -> ExecutionRecord {
        ExecutionRecord::running(
            arn.into(),
            "arn:sm".into(),
            "x".into(),
            "{}".into(),
            "{}".into(),
            from_ms(0),
        )
    }

    /// Buffered events are written at the bound, in order, and by any durable write.
    #[test]
    fn buffered_events_are_written_at_the_bound_or_with_a_durable_write() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("g.db");
        let policy = GroupCommit {
            max_events: 3,
            max_delay: Duration::from_secs(3600),
        };
        let store = HistoryStore::open_with(&db, policy).unwrap();
        let rec = record("arn:x");
        let seq = store
            .insert_execution(&rec, event(1, "ExecutionStarted"))
            .unwrap();
        // What another process (or a restart) sees: a second connection.
        let durable = || {
            let reader = HistoryStore::open(&db).unwrap();
            reader.events("arn:x").unwrap().len()
        };
        store
            .buffer_event(seq, event(2, "PassStateEntered"))
            .unwrap();
        store
            .buffer_event(seq, event(3, "PassStateExited"))
            .unwrap();
        assert_eq!(durable(), 1, "two buffered events stay in memory");
        store
            .buffer_event(seq, event(4, "PassStateEntered"))
            .unwrap();
        assert_eq!(durable(), 4, "the third reaches the bound");
        store
            .buffer_event(seq, event(5, "PassStateExited"))
            .unwrap();
        let key = ExecutionKey { arn: "arn:x", seq };
        store
            .append_event(key, event(6, "LambdaFunctionSucceeded"), None)
            .unwrap();
        assert_eq!(durable(), 6, "a durable write takes the buffer with it");
        let ids: Vec<i64> = store
            .events("arn:x")
            .unwrap()
            .iter()
            .map(|e| e.event.id)
            .collect();
        assert_eq!(ids, vec![1, 2, 3, 4, 5, 6]);
    }
}
