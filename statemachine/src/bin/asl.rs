//! `asl`: validate and run Amazon States Language definitions on this machine.
//!
//! ```text
//! asl validate FILE
//! asl run FILE --input '{"a":1}' [--stub NAME=echo|fail:Error.Name ...] [--db PATH] [--name NAME]
//! asl serve [--port PORT] [--db PATH] [--stub NAME=echo|fail:Error.Name ...]
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use statemachine::{
    Engine, HandlerRegistry, HistoryQuery, HistoryStore, InvocationContext, Severity, TaskFailure,
    TaskHandler,
};

#[derive(Parser)]
#[command(
    name = "asl",
    version,
    about = "Validate and run Amazon States Language definitions locally"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a definition; prints diagnostics, exits 1 when there are errors.
    Validate {
        file: PathBuf,
        /// `NAME=VALUE` substitutions for `${NAME}` placeholders before validating.
        #[arg(long = "sub", value_name = "NAME=VALUE")]
        subs: Vec<String>,
    },
    /// Run a definition with stub task handlers; prints the history, then the result.
    Run {
        file: PathBuf,
        /// Execution input (JSON).
        #[arg(long, default_value = "{}")]
        input: String,
        /// `NAME=echo` (returns its payload) or `NAME=fail:Error.Name[:cause]`. A NAME of `*`
        /// serves every function that has no stub of its own.
        #[arg(long = "stub", value_name = "NAME=BEHAVIOUR")]
        stubs: Vec<String>,
        /// `NAME=VALUE` substitutions for `${NAME}` placeholders.
        #[arg(long = "sub", value_name = "NAME=VALUE")]
        subs: Vec<String>,
        /// Keep the history in this SQLite file (default: in memory).
        #[arg(long)]
        db: Option<PathBuf>,
        /// Execution name (default: a UUID).
        #[arg(long)]
        name: Option<String>,
    },
    /// Serve the Step Functions API (AWS's JSON protocol) on 127.0.0.1; prints
    /// `listening on http://127.0.0.1:PORT` once bound. Use it with
    /// `aws stepfunctions --endpoint-url http://127.0.0.1:PORT ...`.
    Serve {
        /// Port to bind on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 8083)]
        port: u16,
        /// Keep state machines and histories in this SQLite file (default: in memory).
        #[arg(long)]
        db: Option<PathBuf>,
        /// Lambda stubs as for `run`, by function name (`*` is not supported here).
        #[arg(long = "stub", value_name = "NAME=BEHAVIOUR")]
        stubs: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { file, subs } => validate(&file, &subs),
        Command::Run {
            file,
            input,
            stubs,
            subs,
            db,
            name,
        } => tokio::runtime::Runtime::new()
            .map_err(|e| format!("cannot start the async runtime: {e}"))
            .and_then(|runtime| runtime.block_on(run(&file, &input, &stubs, &subs, db, name)))
            .unwrap_or_else(|e| {
                eprintln!("asl: {e}");
                ExitCode::from(2)
            }),
        Command::Serve { port, db, stubs } => tokio::runtime::Runtime::new()
            .map_err(|e| format!("cannot start the async runtime: {e}"))
            .and_then(|runtime| runtime.block_on(serve(port, db, &stubs)))
            .unwrap_or_else(|e| {
                eprintln!("asl: {e}");
                ExitCode::from(2)
            }),
    }
}

async fn serve(port: u16, db: Option<PathBuf>, stubs: &[String]) -> Result<ExitCode, String> {
    let mut registry = HandlerRegistry::new();
    for s in stubs {
        let (n, stub) = parse_stub(s)?;
        if n == "*" {
            return Err("--stub '*' is not supported by serve: name each function".into());
        }
        registry.register(n, Arc::new(stub));
    }
    let store = match db {
        Some(p) => HistoryStore::open(p).map_err(|e| e.to_string())?,
        None => HistoryStore::in_memory(),
    };
    let engine = Engine::builder().store(store).handlers(registry).build();
    // Executions a previous `serve` left RUNNING continue from their history.
    engine.resume_all().map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot bind 127.0.0.1:{port}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on http://{addr}");
    statemachine::api::serve(listener, engine)
        .await
        .map_err(|e| format!("server failed: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

fn read_definition(file: &PathBuf, subs: &[String]) -> Result<String, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let mut map = BTreeMap::new();
    for s in subs {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("--sub expects NAME=VALUE, got '{s}'"))?;
        map.insert(k.to_string(), v.to_string());
    }
    Ok(statemachine::substitute(&text, &map))
}

fn validate(file: &PathBuf, subs: &[String]) -> ExitCode {
    let text = match read_definition(file, subs) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("asl: {e}");
            return ExitCode::from(2);
        }
    };
    let diags = statemachine::validate(&text);
    for d in &diags {
        println!("{d}");
    }
    let errors = diags
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    if errors > 0 {
        println!("{}: {errors} error(s)", file.display());
        ExitCode::from(1)
    } else {
        println!("{}: valid", file.display());
        ExitCode::SUCCESS
    }
}

/// A stub Lambda function.
enum Stub {
    Echo,
    Fail { error: String, cause: String },
}

#[async_trait]
impl TaskHandler for Stub {
    async fn invoke(&self, payload: Value, _ctx: InvocationContext) -> Result<Value, TaskFailure> {
        match self {
            Stub::Echo => Ok(payload),
            Stub::Fail { error, cause } => Err(TaskFailure::new(error.clone(), cause.clone())),
        }
    }
}

fn parse_stub(spec: &str) -> Result<(String, Stub), String> {
    let (name, behaviour) = spec
        .split_once('=')
        .ok_or_else(|| format!("--stub expects NAME=echo|fail:Error.Name, got '{spec}'"))?;
    let stub = match behaviour {
        "echo" => Stub::Echo,
        b if b.starts_with("fail:") => {
            let rest = &b["fail:".len()..];
            let (error, cause) = rest.split_once(':').unwrap_or((rest, ""));
            let cause = if cause.is_empty() {
                json!({"errorType": error, "errorMessage": format!("stubbed failure of {name}")})
                    .to_string()
            } else {
                cause.to_string()
            };
            Stub::Fail {
                error: error.to_string(),
                cause,
            }
        }
        other => {
            return Err(format!(
                "unknown stub behaviour '{other}' (use echo or fail:Error.Name)"
            ));
        }
    };
    Ok((name.to_string(), stub))
}

/// Function names a definition refers to (direct Lambda ARNs and lambda:invoke targets).
fn function_names(def: &Value, out: &mut Vec<String>) {
    match def {
        Value::Object(m) => {
            if let Some(r) = m.get("Resource").and_then(Value::as_str)
                && r.contains(":function:")
            {
                out.push(statemachine::handler::lambda_function_name(r).to_string());
            }
            if let Some(f) = m.get("FunctionName").and_then(Value::as_str) {
                out.push(statemachine::handler::lambda_function_name(f).to_string());
            }
            m.values().for_each(|v| function_names(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| function_names(v, out)),
        _ => {}
    }
}

async fn run(
    file: &PathBuf,
    input: &str,
    stubs: &[String],
    subs: &[String],
    db: Option<PathBuf>,
    name: Option<String>,
) -> Result<ExitCode, String> {
    let text = read_definition(file, subs)?;
    let mut registry = HandlerRegistry::new();
    let mut fallback = None;
    for s in stubs {
        let (n, stub) = parse_stub(s)?;
        if n == "*" {
            fallback = Some(Arc::new(stub) as Arc<dyn TaskHandler>);
        } else {
            registry.register(n, Arc::new(stub));
        }
    }
    if let Some(fb) = fallback
        && let Ok(def) = serde_json::from_str::<Value>(&text)
    {
        let mut names = Vec::new();
        function_names(&def, &mut names);
        for n in names {
            if registry.get(&n).is_none() {
                registry.register(n, fb.clone());
            }
        }
    }
    let store = match db {
        Some(p) => HistoryStore::open(p).map_err(|e| e.to_string())?,
        None => HistoryStore::in_memory(),
    };
    let engine = Engine::builder().store(store).handlers(registry).build();
    let sm_name = file
        .file_stem()
        .and_then(|s| s.to_str())
        .map(|s| {
            s.replace(
                |c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_',
                "-",
            )
        })
        .unwrap_or_else(|| "machine".into());
    let sm = engine
        .create_state_machine(&sm_name, &text)
        .map_err(|e| e.to_string())?;
    let started = engine
        .start_execution_json(&sm, name.as_deref(), input)
        .await
        .map_err(|e| e.to_string())?;
    let done = engine
        .wait(&started.execution_arn)
        .await
        .map_err(|e| e.to_string())?;
    let events = engine
        .history(&started.execution_arn)
        .map_err(|e| e.to_string())?;
    let _ = HistoryQuery::default();
    let page = json!({"events": events});
    println!(
        "{}",
        serde_json::to_string_pretty(&page).map_err(|e| e.to_string())?
    );
    let last = json!({
        "status": done.status,
        "output": done.output_json(),
        "error": done.error,
        "cause": done.cause,
    });
    println!("{last}");
    Ok(if done.status == statemachine::ExecutionStatus::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
