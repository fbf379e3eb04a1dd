//! Transitions per second of the embedded engine: a program that prints figures, not a
//! timed test (`harness = false`).
//!
//! A *transition* is a state entered: one `*StateEntered` event in the execution's history.
//! Both this program and the moto driver (`scripts/bench_moto.py`) count transitions from
//! the recorded histories, over the very same definitions (`--write-definitions DIR` writes
//! them for the driver).
//!
//! Cases: `pass_chain` (1,000 Pass states in a row), `map_inline` (an inline Map over 1,000
//! items with one Pass state inside), `task_chain` (10 Task states calling a no-op Lambda
//! handler). Modes: `memory` (in-memory history) and `durable` (SQLite history in a fresh
//! temporary file).
//!
//! ```text
//! cargo bench -p statemachine --bench transitions                      # table
//! cargo bench -p statemachine --bench transitions -- --json            # JSON lines
//! cargo bench -p statemachine --bench transitions -- --case pass_chain --mode durable --min-executions 3 --min-seconds 0
//! cargo bench -p statemachine --bench transitions -- --store-experiment  # SQLite write-pattern variants
//! ```

mod store_pattern;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use statemachine::{
    Engine, EngineError, ExecutionDescription, ExecutionStatus, FnHandler, HandlerRegistry,
    HistoryStore, InvocationContext, StoreError, TaskFailure,
};

/// The function name the Task states call, and the ARN they call it by. The ARN uses the
/// account and region moto's mock defaults to, so moto can run the same text unchanged.
const NOOP_FUNCTION: &str = "bench-noop";
const NOOP_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:bench-noop";

const PASS_CHAIN_STATES: usize = 1_000;
const MAP_ITEMS: usize = 1_000;
const TASK_CHAIN_STATES: usize = 10;

#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("execution {arn} ended {status}, not SUCCEEDED")]
    NotSucceeded {
        arn: String,
        status: ExecutionStatus,
    },
    #[error("{0}")]
    Usage(String),
    #[error("store experiment: {0}")]
    Experiment(String),
    #[error("{0}")]
    CountMismatch(String),
}

/// One benchmark definition and the input every execution gets.
struct Case {
    name: &'static str,
    definition: Value,
    input: Value,
    /// States entered per execution, derived from the definition's shape.
    expected_transitions: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Memory,
    Durable,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Memory => "memory",
            Mode::Durable => "durable",
        }
    }
}

/// What one case × mode measured.
struct Measurement {
    case: &'static str,
    mode: Mode,
    executions: usize,
    transitions: usize,
    events: usize,
    seconds: f64,
    /// CPU time of the whole process (all threads) over the same timed spans.
    cpu_seconds: f64,
    /// Fastest single execution, in seconds.
    best_execution: f64,
}

impl Measurement {
    fn transitions_per_second(&self) -> f64 {
        self.transitions as f64 / self.seconds
    }

    fn to_json(&self) -> Value {
        json!({
            "engine": "statemachine",
            "case": self.case,
            "mode": self.mode.name(),
            "executions": self.executions,
            "transitions": self.transitions,
            "transitions_per_execution": self.transitions / self.executions.max(1),
            "events": self.events,
            "seconds": self.seconds,
            "best_execution_seconds": self.best_execution,
            "transitions_per_second": self.transitions_per_second(),
            "cpu_seconds": self.cpu_seconds,
            "transitions_per_cpu_second": self.transitions as f64 / self.cpu_seconds,
        })
    }
}

struct Options {
    json: bool,
    store_experiment: bool,
    write_definitions: Option<PathBuf>,
    cases: Option<Vec<String>>,
    modes: Vec<Mode>,
    min_seconds: f64,
    min_executions: usize,
    max_executions: usize,
}

fn parse_options() -> Result<Options, BenchError> {
    let mut o = Options {
        json: false,
        store_experiment: false,
        write_definitions: None,
        cases: None,
        modes: vec![Mode::Memory, Mode::Durable],
        min_seconds: 2.0,
        min_executions: 3,
        max_executions: 100_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => o.json = true,
            "--store-experiment" => o.store_experiment = true,
            "--write-definitions" => o.write_definitions = Some(value(&mut args, &arg)?.into()),
            "--case" => {
                o.cases = Some(
                    value(&mut args, &arg)?
                        .split(',')
                        .map(str::to_string)
                        .collect(),
                )
            }
            "--mode" => {
                o.modes = match value(&mut args, &arg)?.as_str() {
                    "memory" => vec![Mode::Memory],
                    "durable" => vec![Mode::Durable],
                    "both" => vec![Mode::Memory, Mode::Durable],
                    other => return Err(BenchError::Usage(format!("unknown mode {other}"))),
                }
            }
            "--min-seconds" => o.min_seconds = number(&value(&mut args, &arg)?)?,
            "--min-executions" => o.min_executions = number(&value(&mut args, &arg)?)?,
            "--max-executions" => o.max_executions = number(&value(&mut args, &arg)?)?,
            // cargo bench passes `--bench`; libtest-style filters are not used here.
            _ => {}
        }
    }
    Ok(o)
}

fn value(args: &mut impl Iterator<Item = String>, flag: &str) -> Result<String, BenchError> {
    args.next()
        .ok_or_else(|| BenchError::Usage(format!("{flag} needs a value")))
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, BenchError> {
    text.parse()
        .map_err(|_| BenchError::Usage(format!("not a number: {text}")))
}

fn state_name(prefix: &str, i: usize) -> String {
    format!("{prefix}{i:04}")
}

/// `n` states in a row; `make(next)` builds each, `next` being `None` for the last.
fn chain(n: usize, prefix: &str, make: impl Fn(Option<String>) -> Value) -> Value {
    let mut states = serde_json::Map::new();
    for i in 0..n {
        let next = (i + 1 < n).then(|| state_name(prefix, i + 1));
        states.insert(state_name(prefix, i), make(next));
    }
    json!({"StartAt": state_name(prefix, 0), "States": states})
}

fn with_transition(mut state: Value, next: Option<String>) -> Value {
    if let Some(obj) = state.as_object_mut() {
        match next {
            Some(n) => obj.insert("Next".into(), Value::String(n)),
            None => obj.insert("End".into(), Value::Bool(true)),
        };
    }
    state
}

fn pass_chain() -> Case {
    Case {
        name: "pass_chain",
        definition: chain(PASS_CHAIN_STATES, "Pass", |next| {
            with_transition(json!({"Type": "Pass"}), next)
        }),
        input: json!({"job": "bench", "n": 1}),
        expected_transitions: PASS_CHAIN_STATES,
    }
}

fn map_inline() -> Case {
    let definition = json!({
        "StartAt": "Fan",
        "States": {"Fan": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Item",
                "States": {"Item": {"Type": "Pass", "End": true}}
            },
            "End": true
        }}
    });
    Case {
        name: "map_inline",
        definition,
        input: json!({"items": (0..MAP_ITEMS).collect::<Vec<_>>()}),
        expected_transitions: MAP_ITEMS + 1,
    }
}

fn task_chain() -> Case {
    Case {
        name: "task_chain",
        definition: chain(TASK_CHAIN_STATES, "Task", |next| {
            with_transition(json!({"Type": "Task", "Resource": NOOP_ARN}), next)
        }),
        input: json!({"job": "bench", "n": 1}),
        expected_transitions: TASK_CHAIN_STATES,
    }
}

fn all_cases() -> Vec<Case> {
    vec![pass_chain(), map_inline(), task_chain()]
}

/// Writes `<case>.asl.json` and `<case>.input.json` for the moto driver.
fn write_definitions(dir: &Path, cases: &[Case]) -> Result<(), BenchError> {
    std::fs::create_dir_all(dir)?;
    for c in cases {
        std::fs::write(
            dir.join(format!("{}.asl.json", c.name)),
            serde_json::to_string_pretty(&c.definition)?,
        )?;
        std::fs::write(
            dir.join(format!("{}.input.json", c.name)),
            serde_json::to_string(&c.input)?,
        )?;
        std::fs::write(
            dir.join(format!("{}.expected_transitions", c.name)),
            c.expected_transitions.to_string(),
        )?;
    }
    Ok(())
}

fn noop_handlers() -> HandlerRegistry {
    // Echoes its payload, as moto's non-docker Lambda does.
    HandlerRegistry::new().with(
        NOOP_FUNCTION,
        Arc::new(FnHandler(|payload: Value, _ctx: InvocationContext| {
            Ok::<Value, TaskFailure>(payload)
        })),
    )
}

fn build_engine(mode: Mode, dir: &Path) -> Result<Engine, BenchError> {
    let store = match mode {
        Mode::Memory => HistoryStore::in_memory(),
        Mode::Durable => HistoryStore::open(dir.join("history.db"))?,
    };
    Ok(Engine::builder()
        .store(store)
        .handlers(noop_handlers())
        .build())
}

/// How many times `Engine::wait` returned a stale RUNNING description (see `wait_until_done`).
static STALE_WAITS: AtomicUsize = AtomicUsize::new(0);

/// `Engine::wait`, checked: it used to return a stale RUNNING description when the run finished
/// between its status read and its look at the running set (fixed; unit test
/// `engine::tests::wait_reports_a_run_that_ends_between_its_two_looks`). Should it happen
/// again, a second call sees the terminal status; the count is reported on stderr.
async fn wait_until_done(engine: &Engine, arn: &str) -> Result<ExecutionDescription, BenchError> {
    for _ in 0..3 {
        let d = engine.wait(arn).await?;
        if d.status.is_terminal() {
            return Ok(d);
        }
        STALE_WAITS.fetch_add(1, Ordering::Relaxed);
    }
    Ok(engine.describe_execution(arn)?)
}

/// User + system CPU seconds of this process so far, all threads (`/proc/self/stat`, in
/// USER_HZ ticks, which Linux fixes at 100 per second). Load on the machine barely changes it,
/// unlike wall time; I/O waits do not count.
fn process_cpu_seconds() -> f64 {
    const USER_HZ: f64 = 100.0;
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / USER_HZ
}

/// Runs one execution to its end; returns (seconds, CPU seconds, its execution ARN).
async fn run_once(
    engine: &Engine,
    sm: &str,
    input: &Value,
) -> Result<(f64, f64, String), BenchError> {
    let cpu_before = process_cpu_seconds();
    let started_at = Instant::now();
    let started = engine.start_execution(sm, None, input.clone()).await?;
    let done = wait_until_done(engine, &started.execution_arn).await?;
    let seconds = started_at.elapsed().as_secs_f64();
    let cpu_seconds = process_cpu_seconds() - cpu_before;
    if done.status != ExecutionStatus::Succeeded {
        return Err(BenchError::NotSucceeded {
            arn: started.execution_arn,
            status: done.status,
        });
    }
    Ok((seconds, cpu_seconds, started.execution_arn))
}

/// States entered and all events, read back from the recorded history.
fn count_transitions(engine: &Engine, arn: &str) -> Result<(usize, usize), BenchError> {
    let history = engine.history(arn)?;
    let entered = history
        .iter()
        .filter(|e| e.event_type.ends_with("StateEntered"))
        .count();
    Ok((entered, history.len()))
}

async fn measure(case: &Case, mode: Mode, opts: &Options) -> Result<Measurement, BenchError> {
    let dir = tempfile::tempdir()?;
    let engine = build_engine(mode, dir.path())?;
    let sm = engine.create_state_machine(case.name, &case.definition.to_string())?;
    // One untimed execution warms caches, the allocator and SQLite's pages.
    run_once(&engine, &sm, &case.input).await?;
    let mut m = Measurement {
        case: case.name,
        mode,
        executions: 0,
        transitions: 0,
        events: 0,
        seconds: 0.0,
        cpu_seconds: 0.0,
        best_execution: f64::INFINITY,
    };
    let budget = Duration::from_secs_f64(opts.min_seconds);
    let wall = Instant::now();
    while m.executions < opts.max_executions
        && (m.executions < opts.min_executions || wall.elapsed() < budget)
    {
        let (seconds, cpu_seconds, arn) = run_once(&engine, &sm, &case.input).await?;
        let (entered, events) = count_transitions(&engine, &arn)?;
        m.executions += 1;
        m.transitions += entered;
        m.events += events;
        m.seconds += seconds;
        m.cpu_seconds += cpu_seconds;
        m.best_execution = m.best_execution.min(seconds);
    }
    Ok(m)
}

fn print_table_header() {
    println!(
        "{:<12} {:<8} {:>6} {:>9} {:>9} {:>10} {:>14}",
        "case", "mode", "execs", "trans/ex", "events/ex", "seconds", "transitions/s"
    );
}

fn print_table_row(m: &Measurement) {
    let per = m.executions.max(1);
    println!(
        "{:<12} {:<8} {:>6} {:>9} {:>9} {:>10.3} {:>14.0}",
        m.case,
        m.mode.name(),
        m.executions,
        m.transitions / per,
        m.events / per,
        m.seconds,
        m.transitions_per_second()
    );
}

async fn run(opts: Options) -> Result<(), BenchError> {
    if opts.store_experiment {
        return store_pattern::run(opts.json).map_err(|e| BenchError::Experiment(e.to_string()));
    }
    let cases: Vec<Case> = all_cases()
        .into_iter()
        .filter(|c| {
            opts.cases
                .as_ref()
                .is_none_or(|names| names.iter().any(|n| n == c.name))
        })
        .collect();
    if let Some(dir) = &opts.write_definitions {
        write_definitions(dir, &cases)?;
    }
    if !opts.json {
        print_table_header();
    }
    for case in &cases {
        for &mode in &opts.modes {
            let m = measure(case, mode, &opts).await?;
            if m.transitions != case.expected_transitions * m.executions {
                return Err(BenchError::CountMismatch(format!(
                    "{} {}: counted {} transitions in {} executions, expected {} each",
                    case.name,
                    mode.name(),
                    m.transitions,
                    m.executions,
                    case.expected_transitions
                )));
            }
            if opts.json {
                println!("{}", m.to_json());
            } else {
                print_table_row(&m);
            }
        }
    }
    let stale = STALE_WAITS.load(Ordering::Relaxed);
    if stale > 0 {
        eprintln!(
            "note: Engine::wait returned a stale RUNNING status {stale} time(s); waited again"
        );
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let result = parse_options().and_then(|opts| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(run(opts))
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("transitions bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
