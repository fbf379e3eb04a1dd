//! Throughput figures: `cargo run --release -p statemachine --example bench`.
//! Prints state transitions per second for three workloads, in memory and with the durable
//! SQLite history.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use statemachine::{Engine, FnHandler, HandlerRegistry, HistoryStore};

fn pass_chain(n: usize) -> Value {
    let mut states = serde_json::Map::new();
    for i in 0..n {
        let mut s = json!({"Type": "Pass"});
        if i + 1 == n {
            s["End"] = json!(true);
        } else {
            s["Next"] = json!(format!("S{}", i + 1));
        }
        states.insert(format!("S{i}"), s);
    }
    json!({"StartAt": "S0", "States": states})
}

fn map_over(n: usize) -> (Value, Value) {
    let def = json!({"StartAt": "M", "States": {"M": {"Type": "Map", "MaxConcurrency": 1,
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}});
    (def, Value::Array((0..n).map(|i| json!(i)).collect()))
}

fn task_chain(n: usize) -> Value {
    let mut states = serde_json::Map::new();
    for i in 0..n {
        let mut s =
            json!({"Type": "Task", "Resource": "arn:aws:lambda:local:000000000000:function:noop"});
        if i + 1 == n {
            s["End"] = json!(true);
        } else {
            s["Next"] = json!(format!("T{}", i + 1));
        }
        states.insert(format!("T{i}"), s);
    }
    json!({"StartAt": "T0", "States": states})
}

async fn measure(
    label: &str,
    durable: bool,
    def: &Value,
    input: Value,
    transitions: usize,
    runs: usize,
) {
    let dir = tempfile_dir();
    let store = if durable {
        HistoryStore::open(dir.join(format!("{label}.db")))
            .unwrap_or_else(|_| HistoryStore::in_memory())
    } else {
        HistoryStore::in_memory()
    };
    let handlers = HandlerRegistry::new().with("noop", Arc::new(FnHandler(|p: Value, _| Ok(p))));
    let engine = Engine::builder().store(store).handlers(handlers).build();
    let Ok(sm) = engine.create_state_machine(label, &def.to_string()) else {
        println!("{label}: invalid definition");
        return;
    };
    let start = Instant::now();
    for _ in 0..runs {
        let Ok(s) = engine.start_execution(&sm, None, input.clone()).await else {
            return;
        };
        let _ = engine.wait(&s.execution_arn).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let mode = if durable {
        "durable (SQLite WAL)"
    } else {
        "in memory"
    };
    println!(
        "{label:<28} {mode:<22} {:>10.0} transitions/s  ({runs} executions, {:.3} s)",
        (transitions * runs) as f64 / secs,
        secs
    );
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("asl-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d
}

#[tokio::main]
async fn main() {
    let chain = pass_chain(1000);
    let (map, items) = map_over(1000);
    let tasks = task_chain(10);
    for durable in [false, true] {
        measure("pass-chain-1000", durable, &chain, json!({}), 1000, 3).await;
        measure("inline-map-1000", durable, &map, items.clone(), 1000, 3).await;
        measure("task-chain-10", durable, &tasks, json!({"x": 1}), 10, 200).await;
    }
    let _ = std::fs::remove_dir_all(tempfile_dir());
}
