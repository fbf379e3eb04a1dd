//! An experiment, not a measurement of the engine: replays the durable store's write pattern
//! (the `events` table of `statemachine::store`, one transaction per event, SQL prepared on
//! every call) against variants of it, on a fresh SQLite file per variant. It shows how much
//! each proposed change to the store would buy before anyone edits the engine.
//!
//! The schema, pragmas and statement below copy `src/store.rs` as it was before group
//! commit (one `events` row per event, one transaction each); the store has since moved to
//! group commit and history chunks (see `docs/BENCHMARKS-ENGINE.md`), so this experiment keeps
//! describing the old pattern and the variants that were weighed against it.

use std::path::Path;
use std::time::Instant;

use rusqlite::{Connection, params};
use serde_json::json;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    execution_arn TEXT NOT NULL, id INTEGER NOT NULL, previous_id INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL, type TEXT NOT NULL, details TEXT, scope TEXT NOT NULL,
    replayable INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (execution_arn, id));
";

const SCHEMA_WITHOUT_ROWID: &str = "
CREATE TABLE IF NOT EXISTS events (
    execution_arn TEXT NOT NULL, id INTEGER NOT NULL, previous_id INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL, type TEXT NOT NULL, details TEXT, scope TEXT NOT NULL,
    replayable INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (execution_arn, id)) WITHOUT ROWID;
";

const INSERT: &str =
    "INSERT INTO events (execution_arn, id, previous_id, ts_ms, type, details, scope, replayable)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// How a variant writes.
struct Variant {
    name: &'static str,
    without_rowid: bool,
    cached_statement: bool,
    /// Events per transaction (1 = the engine today).
    batch: usize,
    synchronous: &'static str,
    wal_autocheckpoint: Option<u32>,
}

const VARIANTS: &[Variant] = &[
    Variant {
        name: "as engine: 1 tx/event, prepare per call",
        without_rowid: false,
        cached_statement: false,
        batch: 1,
        synchronous: "NORMAL",
        wal_autocheckpoint: None,
    },
    Variant {
        name: "+ prepare_cached",
        without_rowid: false,
        cached_statement: true,
        batch: 1,
        synchronous: "NORMAL",
        wal_autocheckpoint: None,
    },
    Variant {
        name: "+ prepare_cached + WITHOUT ROWID",
        without_rowid: true,
        cached_statement: true,
        batch: 1,
        synchronous: "NORMAL",
        wal_autocheckpoint: None,
    },
    Variant {
        name: "+ prepare_cached, checkpoint every 10000 pages",
        without_rowid: false,
        cached_statement: true,
        batch: 1,
        synchronous: "NORMAL",
        wal_autocheckpoint: Some(10_000),
    },
    Variant {
        name: "+ prepare_cached, 2 events/tx (one per state)",
        without_rowid: false,
        cached_statement: true,
        batch: 2,
        synchronous: "NORMAL",
        wal_autocheckpoint: None,
    },
    Variant {
        name: "+ prepare_cached, 64 events/tx (group commit)",
        without_rowid: false,
        cached_statement: true,
        batch: 64,
        synchronous: "NORMAL",
        wal_autocheckpoint: None,
    },
    Variant {
        name: "+ prepare_cached, 1 tx/event, synchronous=OFF",
        without_rowid: false,
        cached_statement: true,
        batch: 1,
        synchronous: "OFF",
        wal_autocheckpoint: None,
    },
];

/// One Pass-state event's columns, shaped like the engine's (details JSON of ~100 bytes).
fn event_row(i: usize) -> (i64, String, String) {
    let ty = if i.is_multiple_of(2) {
        "PassStateEntered"
    } else {
        "PassStateExited"
    };
    let details = json!({
        "input": "{\"job\":\"bench\",\"n\":1}",
        "inputDetails": {"truncated": false},
        "name": format!("Pass{:04}", i / 2),
    })
    .to_string();
    (i as i64 + 1, ty.to_string(), details)
}

fn open(path: &Path, v: &Variant) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", v.synchronous)?;
    if let Some(pages) = v.wal_autocheckpoint {
        conn.pragma_update(None, "wal_autocheckpoint", pages)?;
    }
    conn.execute_batch(if v.without_rowid {
        SCHEMA_WITHOUT_ROWID
    } else {
        SCHEMA
    })?;
    Ok(conn)
}

fn insert(
    tx: &rusqlite::Transaction<'_>,
    v: &Variant,
    arn: &str,
    i: usize,
) -> rusqlite::Result<()> {
    let (id, ty, details) = event_row(i);
    let values = params![arn, id, id - 1, 1_764_000_000_000_i64, ty, details, "", 1];
    if v.cached_statement {
        tx.prepare_cached(INSERT)?.execute(values)?;
    } else {
        tx.execute(INSERT, values)?;
    }
    Ok(())
}

/// Writes `executions` histories of `events_per_execution` events; returns events/s.
fn run_variant(
    path: &Path,
    v: &Variant,
    executions: usize,
    events_per_execution: usize,
) -> rusqlite::Result<f64> {
    let mut conn = open(path, v)?;
    let started = Instant::now();
    for e in 0..executions {
        let arn = format!("arn:aws:states:local:000000000000:execution:pass_chain:{e:08}");
        let mut i = 0;
        while i < events_per_execution {
            let tx = conn.transaction()?;
            let end = (i + v.batch).min(events_per_execution);
            for k in i..end {
                insert(&tx, v, &arn, k)?;
            }
            tx.commit()?;
            i = end;
        }
    }
    Ok((executions * events_per_execution) as f64 / started.elapsed().as_secs_f64())
}

/// Prints events/s per variant (and the equivalent Pass transitions/s: 2 events each).
pub fn run(json: bool) -> Result<(), Box<dyn std::error::Error>> {
    const EXECUTIONS: usize = 10;
    const EVENTS: usize = 2_002;
    let dir = tempfile::tempdir()?;
    if !json {
        println!(
            "store write pattern, {EXECUTIONS} histories x {EVENTS} events, in {}",
            dir.path().display()
        );
        println!(
            "{:<50} {:>10} {:>14}",
            "variant", "events/s", "pass trans/s"
        );
    }
    for (n, v) in VARIANTS.iter().enumerate() {
        let path = dir.path().join(format!("variant-{n}.db"));
        let per_second = run_variant(&path, v, EXECUTIONS, EVENTS)?;
        if json {
            println!(
                "{}",
                json!({"experiment": "store_pattern", "variant": v.name, "events_per_second": per_second})
            );
        } else {
            println!(
                "{:<50} {:>10.0} {:>14.0}",
                v.name,
                per_second,
                per_second / 2.0
            );
        }
    }
    Ok(())
}
