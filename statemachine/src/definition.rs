//! Typed model of an ASL definition, built after validation.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::validate::{ValidationDiagnostic, validate_value};

/// Why a definition was rejected.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DefinitionError {
    #[error("definition is not valid JSON: {0}")]
    Json(String),
    #[error("invalid definition: {}", summarize(.0))]
    Invalid(Vec<ValidationDiagnostic>),
}

fn summarize(diags: &[ValidationDiagnostic]) -> String {
    diags
        .iter()
        .map(|d| format!("{} [{}] {}", d.path, d.rule, d.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `QueryLanguage` of a machine or state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryLanguage {
    JsonPath,
    Jsonata,
}

/// `InputPath`/`OutputPath`/`ResultPath`/`ItemsPath`: absent (default `$`), `null`, or a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathField {
    Default,
    Null,
    Path(String),
}

impl PathField {
    fn from_value(v: Option<&Value>) -> Self {
        match v {
            None => PathField::Default,
            Some(Value::Null) => PathField::Null,
            Some(Value::String(s)) => PathField::Path(s.clone()),
            Some(_) => PathField::Default,
        }
    }
}

/// A parsed and validated state machine definition.
#[derive(Debug, Clone)]
pub struct StateMachineDefinition {
    raw: Value,
    pub(crate) root: Arc<Machine>,
    pub(crate) timeout_seconds: Option<u64>,
}

impl StateMachineDefinition {
    /// Parses and validates an ASL definition (JSON text).
    pub fn parse(json: &str) -> Result<Self, DefinitionError> {
        let raw: Value =
            serde_json::from_str(json).map_err(|e| DefinitionError::Json(e.to_string()))?;
        Self::from_value(raw)
    }

    /// Validates and builds from an already parsed JSON document.
    pub fn from_value(raw: Value) -> Result<Self, DefinitionError> {
        let errors: Vec<ValidationDiagnostic> = validate_value(&raw)
            .into_iter()
            .filter(|d| d.severity == crate::validate::Severity::Error)
            .collect();
        if !errors.is_empty() {
            return Err(DefinitionError::Invalid(errors));
        }
        let obj = raw.as_object().ok_or_else(|| {
            DefinitionError::Invalid(vec![ValidationDiagnostic::error(
                "",
                "Definition.Object",
                "a definition must be a JSON object",
            )])
        })?;
        let ql = query_language_of(obj, QueryLanguage::JsonPath);
        let root = Arc::new(Machine::build(obj, ql, "")?);
        let timeout_seconds = obj.get("TimeoutSeconds").and_then(Value::as_u64);
        Ok(StateMachineDefinition {
            raw,
            root,
            timeout_seconds,
        })
    }

    /// The definition as JSON.
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// The name of the first state.
    pub fn start_at(&self) -> &str {
        &self.root.start_at
    }

    /// The top-level state names.
    pub fn state_names(&self) -> Vec<String> {
        self.root.order.clone()
    }
}

fn query_language_of(obj: &Map<String, Value>, inherited: QueryLanguage) -> QueryLanguage {
    match obj.get("QueryLanguage").and_then(Value::as_str) {
        Some("JSONata") => QueryLanguage::Jsonata,
        Some("JSONPath") => QueryLanguage::JsonPath,
        _ => inherited,
    }
}

/// A set of states with a start: the top level, a Parallel branch, or a Map processor.
#[derive(Debug)]
pub(crate) struct Machine {
    pub start_at: String,
    pub states: HashMap<String, Arc<State>>,
    pub order: Vec<String>,
}

impl Machine {
    fn build(
        obj: &Map<String, Value>,
        ql: QueryLanguage,
        path: &str,
    ) -> Result<Machine, DefinitionError> {
        let start_at = obj
            .get("StartAt")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut states = HashMap::new();
        let mut order = Vec::new();
        if let Some(map) = obj.get("States").and_then(Value::as_object) {
            for (name, body) in map {
                let spath = format!("{path}/States/{name}");
                let body = body
                    .as_object()
                    .ok_or_else(|| invalid(&spath, "a state must be an object"))?;
                let state = State::build(name, body, ql, &spath)?;
                states.insert(name.clone(), Arc::new(state));
                order.push(name.clone());
            }
        }
        Ok(Machine {
            start_at,
            states,
            order,
        })
    }
}

/// True if `$$` appears in any string (or key) of `v`: conservative, a nested state or a
/// literal that merely contains `$$` also counts.
fn mentions_context(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains("$$"),
        Value::Array(items) => items.iter().any(mentions_context),
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| k.contains("$$") || mentions_context(v)),
        _ => false,
    }
}

fn invalid(path: &str, message: &str) -> DefinitionError {
    DefinitionError::Invalid(vec![ValidationDiagnostic::error(
        path,
        "State.Shape",
        message,
    )])
}

/// One retrier of a `Retry` list.
#[derive(Debug, Clone, PartialEq)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: f64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<f64>,
    pub jitter_full: bool,
}

/// One catcher of a `Catch` list.
#[derive(Debug, Clone, PartialEq)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    pub result_path: PathField,
    pub assign: Option<Value>,
    pub output: Option<Value>,
}

/// Fields every state may carry.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    pub query_language: QueryLanguage,
    pub input_path: PathField,
    pub output_path: PathField,
    pub result_path: PathField,
    pub parameters: Option<Value>,
    pub result_selector: Option<Value>,
    pub next: Option<String>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
    pub assign: Option<Value>,
    /// JSONata: the task payload / branch input (`Arguments`).
    pub arguments: Option<Value>,
    /// JSONata: the state output (`Output`); `Some(Null)` is the literal `null`.
    pub output: Option<Value>,
}

/// A typed state.
#[derive(Debug)]
pub(crate) struct State {
    pub name: String,
    pub common: Common,
    pub kind: StateKind,
    pub raw: Map<String, Value>,
    /// Whether evaluating this state may read the context object (`$$` in any of its
    /// fields, or a JSONata state, whose `$states.context` is hard to rule out). Building
    /// the context copies the execution input, so states that cannot read it skip that.
    pub reads_context: bool,
}

#[derive(Debug)]
pub(crate) enum StateKind {
    Pass {
        result: Option<Value>,
    },
    Task {
        resource: String,
        timeout_seconds: Option<Value>,
        timeout_seconds_path: Option<String>,
        heartbeat_seconds: Option<Value>,
    },
    Choice {
        choices: Vec<Value>,
        default: Option<String>,
    },
    Wait,
    Succeed,
    Fail,
    Parallel {
        branches: Vec<Arc<Machine>>,
    },
    Map(Box<MapSpec>),
}

#[derive(Debug)]
pub(crate) struct MapSpec {
    pub processor: Arc<Machine>,
    pub distributed: bool,
    pub items_path: PathField,
    /// JSONata: the items (`Items`), a literal array or an expression.
    pub items: Option<Value>,
    pub item_selector: Option<Value>,
    pub label: Option<String>,
}

impl State {
    fn build(
        name: &str,
        body: &Map<String, Value>,
        inherited: QueryLanguage,
        path: &str,
    ) -> Result<State, DefinitionError> {
        let ql = query_language_of(body, inherited);
        let ty = body.get("Type").and_then(Value::as_str).unwrap_or_default();
        let common = Common {
            query_language: ql,
            input_path: PathField::from_value(body.get("InputPath")),
            output_path: PathField::from_value(body.get("OutputPath")),
            result_path: PathField::from_value(body.get("ResultPath")),
            parameters: body.get("Parameters").cloned(),
            result_selector: body.get("ResultSelector").cloned(),
            next: body.get("Next").and_then(Value::as_str).map(str::to_string),
            retry: parse_retriers(body.get("Retry")),
            catch: parse_catchers(body.get("Catch")),
            assign: body.get("Assign").cloned(),
            arguments: body.get("Arguments").cloned(),
            output: body.get("Output").cloned(),
        };
        let kind = match ty {
            "Pass" => StateKind::Pass {
                result: body.get("Result").cloned(),
            },
            "Task" => StateKind::Task {
                resource: body
                    .get("Resource")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                timeout_seconds: body.get("TimeoutSeconds").cloned(),
                timeout_seconds_path: body
                    .get("TimeoutSecondsPath")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                heartbeat_seconds: body.get("HeartbeatSeconds").cloned(),
            },
            "Choice" => StateKind::Choice {
                choices: body
                    .get("Choices")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default(),
                default: body
                    .get("Default")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            },
            "Wait" => StateKind::Wait,
            "Succeed" => StateKind::Succeed,
            "Fail" => StateKind::Fail,
            "Parallel" => {
                let mut branches = Vec::new();
                for (i, b) in body
                    .get("Branches")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let bpath = format!("{path}/Branches/{i}");
                    let bobj = b
                        .as_object()
                        .ok_or_else(|| invalid(&bpath, "a branch must be an object"))?;
                    branches.push(Arc::new(Machine::build(
                        bobj,
                        query_language_of(bobj, ql),
                        &bpath,
                    )?));
                }
                StateKind::Parallel { branches }
            }
            "Map" => {
                let (proc_key, proc_val) = match body.get("ItemProcessor") {
                    Some(v) => ("ItemProcessor", v),
                    None => ("Iterator", body.get("Iterator").unwrap_or(&Value::Null)),
                };
                let ppath = format!("{path}/{proc_key}");
                let pobj = proc_val
                    .as_object()
                    .ok_or_else(|| invalid(&ppath, "a Map state needs an ItemProcessor"))?;
                let distributed = pobj
                    .get("ProcessorConfig")
                    .and_then(|c| c.get("Mode"))
                    .and_then(Value::as_str)
                    == Some("DISTRIBUTED");
                let processor =
                    Arc::new(Machine::build(pobj, query_language_of(pobj, ql), &ppath)?);
                StateKind::Map(Box::new(MapSpec {
                    processor,
                    distributed,
                    items_path: PathField::from_value(body.get("ItemsPath")),
                    items: body.get("Items").cloned(),
                    item_selector: body.get("ItemSelector").cloned(),
                    label: body
                        .get("Label")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                }))
            }
            other => return Err(invalid(path, &format!("unknown state type '{other}'"))),
        };
        Ok(State {
            name: name.to_string(),
            common,
            kind,
            raw: body.clone(),
            reads_context: ql == QueryLanguage::Jsonata || body.values().any(mentions_context),
        })
    }

    pub fn type_name(&self) -> &'static str {
        match self.kind {
            StateKind::Pass { .. } => "Pass",
            StateKind::Task { .. } => "Task",
            StateKind::Choice { .. } => "Choice",
            StateKind::Wait => "Wait",
            StateKind::Succeed => "Succeed",
            StateKind::Fail => "Fail",
            StateKind::Parallel { .. } => "Parallel",
            StateKind::Map(_) => "Map",
        }
    }

    /// `PassStateEntered`, `TaskStateEntered`, …
    pub fn entered_event_type(&self) -> &'static str {
        match self.kind {
            StateKind::Pass { .. } => "PassStateEntered",
            StateKind::Task { .. } => "TaskStateEntered",
            StateKind::Choice { .. } => "ChoiceStateEntered",
            StateKind::Wait => "WaitStateEntered",
            StateKind::Succeed => "SucceedStateEntered",
            StateKind::Fail => "FailStateEntered",
            StateKind::Parallel { .. } => "ParallelStateEntered",
            StateKind::Map(_) => "MapStateEntered",
        }
    }

    /// `PassStateExited`, `TaskStateExited`, …
    pub fn exited_event_type(&self) -> &'static str {
        match self.kind {
            StateKind::Pass { .. } => "PassStateExited",
            StateKind::Task { .. } => "TaskStateExited",
            StateKind::Choice { .. } => "ChoiceStateExited",
            StateKind::Wait => "WaitStateExited",
            StateKind::Succeed => "SucceedStateExited",
            StateKind::Fail => "FailStateExited",
            StateKind::Parallel { .. } => "ParallelStateExited",
            StateKind::Map(_) => "MapStateExited",
        }
    }

    pub fn is_end(&self) -> bool {
        self.raw
            .get("End")
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn parse_retriers(v: Option<&Value>) -> Vec<Retrier> {
    v.and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_object)
                .map(|r| Retrier {
                    error_equals: strings(r.get("ErrorEquals")),
                    interval_seconds: r
                        .get("IntervalSeconds")
                        .and_then(Value::as_f64)
                        .unwrap_or(1.0),
                    max_attempts: r
                        .get("MaxAttempts")
                        .and_then(Value::as_u64)
                        .map(|n| n.min(u64::from(u32::MAX)) as u32)
                        .unwrap_or(3),
                    backoff_rate: r.get("BackoffRate").and_then(Value::as_f64).unwrap_or(2.0),
                    max_delay_seconds: r.get("MaxDelaySeconds").and_then(Value::as_f64),
                    jitter_full: r.get("JitterStrategy").and_then(Value::as_str) == Some("FULL"),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn parse_catchers(v: Option<&Value>) -> Vec<Catcher> {
    v.and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_object)
                .map(|c| Catcher {
                    error_equals: strings(c.get("ErrorEquals")),
                    next: c
                        .get("Next")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    result_path: PathField::from_value(c.get("ResultPath")),
                    assign: c.get("Assign").cloned(),
                    output: c.get("Output").cloned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Replaces `${Name}` placeholders like CDK's `definitionSubstitutions`. Unknown
/// placeholders are left as they are.
pub fn substitute(definition: &str, substitutions: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(definition.len());
    let mut rest = definition;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let key = &after[..end];
                match substitutions.get(key) {
                    Some(v) => out.push_str(v),
                    None => {
                        out.push_str("${");
                        out.push_str(key);
                        out.push('}');
                    }
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_known_placeholders_only() {
        let mut subs = BTreeMap::new();
        subs.insert("A".to_string(), "arn:a".to_string());
        assert_eq!(
            substitute(r#"{"R":"${A}","S":"${B}","T":"${"}"#, &subs),
            r#"{"R":"arn:a","S":"${B}","T":"${"}"#
        );
    }

    #[test]
    fn parses_a_small_machine() {
        let def = StateMachineDefinition::parse(
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Succeed"}}}"#,
        )
        .unwrap();
        assert_eq!(def.start_at(), "A");
        assert_eq!(def.state_names(), vec!["A", "B"]);
    }

    #[test]
    fn retrier_defaults_match_aws() {
        let r = parse_retriers(Some(&serde_json::json!([{"ErrorEquals": ["States.ALL"]}])));
        assert_eq!(r[0].interval_seconds, 1.0);
        assert_eq!(r[0].max_attempts, 3);
        assert_eq!(r[0].backoff_rate, 2.0);
        assert_eq!(r[0].max_delay_seconds, None);
    }

    #[test]
    fn malformed_json_is_an_error() {
        assert!(matches!(
            StateMachineDefinition::parse("{"),
            Err(DefinitionError::Json(_))
        ));
    }
}
