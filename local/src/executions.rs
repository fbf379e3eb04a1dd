//! `petavatar executions list|show`: the engine's history in a data folder, as a table or
//! as `GetExecutionHistory` JSON; `redrive` and `stop`: through the running server's operator
//! API (the server runs the engine; a second engine on the same history would run the
//! execution a second time), with an operator key.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use statemachine::{Engine, ExecutionDescription, HistoryEvent, HistoryStore};

use crate::console::{ExecutionFilter, FilterError, page_of};
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
    #[error("{0}")]
    Filter(#[from] FilterError),
    #[error("{0}: {1}")]
    Http(String, reqwest::Error),
    /// The server refused: its status and `{"error": {"code", "message"}}`.
    #[error("{status}: {code}: {message}")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("the execution did not end within {0:?}; it goes on")]
    StillRunning(Duration),
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

pub fn list(data: &Path, filter: &ExecutionFilter) -> Result<(), ExecutionsError> {
    let engine = open_engine(data)?;
    let (executions, next) = page_of(engine.list_executions(None)?, filter)?;
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
        eprintln!("no executions");
    }
    if let Some(next) = next {
        eprintln!("more: --next-token {next}");
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

/// Where the operator API is and the key that opens it.
pub struct OperatorApi {
    pub base: String,
    pub key: String,
}

/// What an operator asks of a job's execution.
pub enum Action {
    Redrive,
    Stop {
        error: Option<String>,
        cause: Option<String>,
    },
}

impl OperatorApi {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.trim_end_matches('/'))
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, ExecutionsError> {
        let what = "the operator API";
        let res = request
            .header(crate::operator::OPERATOR_KEY_HEADER, &self.key)
            .send()
            .await
            .map_err(|e| ExecutionsError::Http(what.into(), e))?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let text = |k: &str| body["error"][k].as_str().unwrap_or_default().to_owned();
            return Err(ExecutionsError::Refused {
                status: status.as_u16(),
                code: text("code"),
                message: text("message"),
            });
        }
        Ok(body)
    }

    async fn detail(&self, http: &reqwest::Client, job: &str) -> Result<Value, ExecutionsError> {
        self.send(http.get(self.url(&format!("/api/executions/{job}"))))
            .await
    }
}

/// `executions redrive|stop JOB`: asks the server, prints the job as it is then, and with
/// `wait` follows the execution until it ends.
pub async fn act(
    api: &OperatorApi,
    job: &str,
    action: Action,
    wait: Option<Duration>,
) -> Result<(), ExecutionsError> {
    let http = reqwest::Client::new();
    let (path, body) = match action {
        Action::Redrive => ("redrive", json!({})),
        Action::Stop { error, cause } => ("stop", json!({ "error": error, "cause": cause })),
    };
    let answer = api
        .send(
            http.post(api.url(&format!("/api/executions/{job}/{path}")))
                .json(&body),
        )
        .await?;
    print_job(&answer);
    let Some(timeout) = wait else {
        return Ok(());
    };
    let deadline = Instant::now() + timeout;
    loop {
        let detail = api.detail(&http, job).await?;
        let running = detail["execution"]["status"] == "RUNNING";
        let job_open = matches!(
            detail["job"]["status"].as_str(),
            Some("queued" | "processing")
        );
        if !running && !job_open {
            print_job(&detail);
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ExecutionsError::StillRunning(timeout));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `job <id>: <status> [<code>: <message>]; execution <STATUS> (redriven N times)`.
fn print_job(answer: &Value) {
    let job = &answer["job"];
    let execution = &answer["execution"];
    let error = job["error"]
        .as_object()
        .map(|e| {
            format!(
                " {}: {}",
                e.get("code").and_then(Value::as_str).unwrap_or_default(),
                e.get("message").and_then(Value::as_str).unwrap_or_default()
            )
        })
        .unwrap_or_default();
    println!(
        "job {}: {}{error}; execution {} (redriven {} times)",
        job["job_id"].as_str().unwrap_or("?"),
        job["status"].as_str().unwrap_or("?"),
        execution["status"].as_str().unwrap_or("?"),
        execution["redriveCount"].as_u64().unwrap_or(0),
    );
}
