//! Durable storage of state machines, executions and their history events.
//!
//! SQLite (WAL) on disk, or a plain in-memory map. Every event is written here before the
//! engine acts on it, so a restarted engine can replay each history and resume.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use crate::history::HistoryEvent;

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
    Sqlite(Mutex<Connection>),
    Memory(Mutex<MemStore>),
}

#[derive(Default)]
struct MemStore {
    machines: HashMap<String, StateMachineRecord>,
    executions: HashMap<String, ExecutionRecord>,
    order: Vec<String>,
    events: HashMap<String, Vec<StoredEvent>>,
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
}

/// An event plus the engine's bookkeeping: the logical thread (`scope`) that emitted it,
/// and whether replay should still consider it (redrive retires a failed attempt).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredEvent {
    pub event: HistoryEvent,
    pub scope: String,
    pub replayable: bool,
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
CREATE TABLE IF NOT EXISTS events (
    execution_arn TEXT NOT NULL, id INTEGER NOT NULL, previous_id INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL, type TEXT NOT NULL, details TEXT, scope TEXT NOT NULL,
    replayable INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (execution_arn, id));
";

fn ms(t: &DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(v).unwrap_or_default()
}

impl HistoryStore {
    /// Opens (or creates) a SQLite store at `path`, in WAL mode.
    pub fn open(path: impl AsRef<Path>) -> Result<HistoryStore, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(HistoryStore {
            backend: Backend::Sqlite(Mutex::new(conn)),
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
                lock(c).execute(
                    "INSERT INTO state_machines (arn, name, definition, created_ms) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(arn) DO UPDATE SET definition = excluded.definition",
                    params![rec.arn, rec.name, rec.definition, ms(&rec.created)],
                )?;
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
                .query_row(
                    "SELECT arn, name, definition, created_ms FROM state_machines WHERE arn = ?1",
                    params![arn],
                    |r| {
                        Ok(StateMachineRecord {
                            arn: r.get(0)?,
                            name: r.get(1)?,
                            definition: r.get(2)?,
                            created: from_ms(r.get(3)?),
                        })
                    },
                )
                .optional()?),
            Backend::Memory(m) => Ok(lock(m).machines.get(arn).cloned()),
        }
    }

    /// Inserts a new execution and its first event atomically.
    pub(crate) fn insert_execution(
        &self,
        rec: &ExecutionRecord,
        first: &StoredEvent,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(c) => {
                let mut conn = lock(c);
                let tx = conn.transaction()?;
                let seq: i64 = tx.query_row(
                    "SELECT COALESCE(MAX(seq), 0) + 1 FROM executions",
                    [],
                    |r| r.get(0),
                )?;
                tx.execute(
                    "INSERT INTO executions (arn, state_machine_arn, name, definition, input, status, start_ms,
                       stop_ms, output, error, cause, redrive_count, redrive_ms, seq)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                    params![
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
                    ],
                )?;
                insert_event_sql(&tx, &rec.arn, first)?;
                tx.commit()?;
            }
            Backend::Memory(m) => {
                let mut m = lock(m);
                m.executions.insert(rec.arn.clone(), rec.clone());
                m.order.push(rec.arn.clone());
                m.events.insert(rec.arn.clone(), vec![first.clone()]);
            }
        }
        Ok(())
    }

    pub(crate) fn get_execution(&self, arn: &str) -> Result<Option<ExecutionRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(c) => Ok(lock(c)
                .query_row(
                    &format!("{EXEC_SELECT} WHERE arn = ?1"),
                    params![arn],
                    exec_from_row,
                )
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
                let conn = lock(c);
                let mut out = Vec::new();
                match sm_arn {
                    Some(sm) => {
                        let mut st = conn.prepare(&format!(
                            "{EXEC_SELECT} WHERE state_machine_arn = ?1 ORDER BY seq DESC"
                        ))?;
                        for r in st.query_map(params![sm], exec_from_row)? {
                            out.push(r?);
                        }
                    }
                    None => {
                        let mut st = conn.prepare(&format!("{EXEC_SELECT} ORDER BY seq DESC"))?;
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

    /// Appends one event, and updates the execution's status in the same transaction.
    pub(crate) fn append_event(
        &self,
        arn: &str,
        ev: &StoredEvent,
        status: Option<&StatusUpdate>,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(c) => {
                let mut conn = lock(c);
                let tx = conn.transaction()?;
                insert_event_sql(&tx, arn, ev)?;
                if let Some(s) = status {
                    update_status_sql(&tx, arn, s)?;
                }
                tx.commit()?;
            }
            Backend::Memory(m) => {
                let mut m = lock(m);
                m.events
                    .entry(arn.to_string())
                    .or_default()
                    .push(ev.clone());
                if let Some(s) = status
                    && let Some(rec) = m.executions.get_mut(arn)
                {
                    apply_status(rec, s);
                }
            }
        }
        Ok(())
    }

    /// Retires events from replay and re-opens the execution (redrive).
    pub(crate) fn begin_redrive(
        &self,
        arn: &str,
        retired_ids: &[i64],
        redrive_date: DateTime<Utc>,
        ev: &StoredEvent,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(c) => {
                let mut conn = lock(c);
                let tx = conn.transaction()?;
                for id in retired_ids {
                    tx.execute(
                        "UPDATE events SET replayable = 0 WHERE execution_arn = ?1 AND id = ?2",
                        params![arn, id],
                    )?;
                }
                insert_event_sql(&tx, arn, ev)?;
                tx.execute(
                    "UPDATE executions SET status = 'RUNNING', stop_ms = NULL, output = NULL, error = NULL,
                       cause = NULL, redrive_count = redrive_count + 1, redrive_ms = ?2 WHERE arn = ?1",
                    params![arn, ms(&redrive_date)],
                )?;
                tx.commit()?;
            }
            Backend::Memory(m) => {
                let mut m = lock(m);
                if let Some(events) = m.events.get_mut(arn) {
                    for e in events.iter_mut() {
                        if retired_ids.contains(&e.event.id) {
                            e.replayable = false;
                        }
                    }
                    events.push(ev.clone());
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

    /// All events of an execution in id order.
    pub(crate) fn events(&self, arn: &str) -> Result<Vec<StoredEvent>, StoreError> {
        match &self.backend {
            Backend::Sqlite(c) => {
                let conn = lock(c);
                let mut st = conn.prepare(
                    "SELECT id, previous_id, ts_ms, type, details, scope, replayable FROM events
                     WHERE execution_arn = ?1 ORDER BY id",
                )?;
                let rows = st.query_map(params![arn], |r| {
                    let details: Option<String> = r.get(4)?;
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        details,
                        r.get::<_, String>(5)?,
                        r.get::<_, i64>(6)?,
                    ))
                })?;
                let mut out = Vec::new();
                for row in rows {
                    let (id, prev, ts, ty, details, scope, replayable) = row?;
                    let details = match details {
                        Some(text) => Some(
                            serde_json::from_str::<Map<String, Value>>(&text)
                                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        ),
                        None => None,
                    };
                    out.push(StoredEvent {
                        event: HistoryEvent {
                            timestamp: from_ms(ts),
                            event_type: ty,
                            id,
                            previous_event_id: prev,
                            details,
                        },
                        scope,
                        replayable: replayable != 0,
                    });
                }
                Ok(out)
            }
            Backend::Memory(m) => Ok(lock(m).events.get(arn).cloned().unwrap_or_default()),
        }
    }
}

const EXEC_SELECT: &str =
    "SELECT arn, state_machine_arn, name, definition, input, status, start_ms, stop_ms,
    output, error, cause, redrive_count, redrive_ms FROM executions";

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
    })
}

fn insert_event_sql(
    tx: &rusqlite::Transaction<'_>,
    arn: &str,
    ev: &StoredEvent,
) -> Result<(), StoreError> {
    let details = match &ev.event.details {
        Some(d) => Some(serde_json::to_string(d).map_err(|e| StoreError::Corrupt(e.to_string()))?),
        None => None,
    };
    tx.execute(
        "INSERT INTO events (execution_arn, id, previous_id, ts_ms, type, details, scope, replayable)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            arn,
            ev.event.id,
            ev.event.previous_event_id,
            ms(&ev.event.timestamp),
            ev.event.event_type,
            details,
            ev.scope,
            i64::from(ev.replayable)
        ],
    )?;
    Ok(())
}

fn update_status_sql(
    tx: &rusqlite::Transaction<'_>,
    arn: &str,
    s: &StatusUpdate,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE executions SET status = ?2, stop_ms = ?3, output = ?4, error = ?5, cause = ?6 WHERE arn = ?1",
        params![arn, s.status, s.stop_date.as_ref().map(ms), s.output, s.error, s.cause],
    )?;
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
