//! Static validation of ASL definitions, in the spirit of statelint / asl-validator:
//! every diagnostic names the JSON Pointer of the offending member and the rule it breaks.

use std::collections::{BTreeSet, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::path::JsonPath;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding: `{path: "/States/Foo/Next", rule, message}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationDiagnostic {
    pub path: String,
    pub rule: String,
    pub message: String,
    pub severity: Severity,
}

impl ValidationDiagnostic {
    pub fn error(path: &str, rule: &str, message: &str) -> Self {
        ValidationDiagnostic {
            path: path.to_string(),
            rule: rule.to_string(),
            message: message.to_string(),
            severity: Severity::Error,
        }
    }

    pub fn warning(path: &str, rule: &str, message: &str) -> Self {
        ValidationDiagnostic {
            severity: Severity::Warning,
            ..Self::error(path, rule, message)
        }
    }
}

impl std::fmt::Display for ValidationDiagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{sev}: {} [{}] {}",
            display_path(&self.path),
            self.rule,
            self.message
        )
    }
}

fn display_path(p: &str) -> &str {
    if p.is_empty() { "/" } else { p }
}

/// Parses a JSONPath or a variable reference (`$name.field`).
fn check_path_text(p: &str) -> Result<(), crate::path::PathError> {
    let is_var = p
        .strip_prefix('$')
        .and_then(|r| r.chars().next())
        .is_some_and(|c| c.is_alphabetic() || c == '_');
    if is_var {
        let rest = &p[1..];
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        return JsonPath::parse(&format!("${}", &rest[end..])).map(|_| ());
    }
    JsonPath::parse(p).map(|_| ())
}

/// Reports a path (or variable reference) at `path` that does not parse.
fn check_path_syntax(text: &str, path: &str, out: &mut Vec<ValidationDiagnostic>) {
    if let Err(e) = check_path_text(text) {
        out.push(ValidationDiagnostic::error(
            path,
            "Path.Syntax",
            &e.to_string(),
        ));
    }
}

/// Validates definition text. Malformed JSON yields one diagnostic; never panics.
pub fn validate(json: &str) -> Vec<ValidationDiagnostic> {
    match serde_json::from_str::<Value>(json) {
        Ok(v) => validate_value(&v),
        Err(e) => vec![ValidationDiagnostic::error(
            "",
            "Definition.Json",
            &format!("not valid JSON: {e}"),
        )],
    }
}

/// Validates a parsed definition.
pub fn validate_value(v: &Value) -> Vec<ValidationDiagnostic> {
    let mut out = Vec::new();
    let Some(obj) = v.as_object() else {
        out.push(ValidationDiagnostic::error(
            "",
            "Definition.Object",
            "a definition must be a JSON object",
        ));
        return out;
    };
    check_fields(
        obj,
        "",
        &[
            "Comment",
            "StartAt",
            "States",
            "Version",
            "TimeoutSeconds",
            "QueryLanguage",
        ],
        &mut out,
    );
    check_number_field(
        obj,
        "",
        ("TimeoutSeconds", NumberKind::PositiveInteger),
        false,
        &mut out,
    );
    if let Some(version) = obj.get("Version")
        && version.as_str() != Some("1.0")
    {
        out.push(ValidationDiagnostic::error(
            "/Version",
            "Definition.Version",
            "Version must be \"1.0\"",
        ));
    }
    let ql = query_language(obj, "", "JSONPath", &mut out);
    check_machine(obj, "", ql, &mut out);
    out
}

fn query_language<'a>(
    obj: &'a Map<String, Value>,
    path: &str,
    inherited: &'a str,
    out: &mut Vec<ValidationDiagnostic>,
) -> &'a str {
    match obj.get("QueryLanguage") {
        None => inherited,
        Some(Value::String(s)) if s == "JSONPath" || s == "JSONata" => {
            if inherited == "JSONata" && s == "JSONPath" && !path.is_empty() {
                out.push(ValidationDiagnostic::error(
                    &format!("{path}/QueryLanguage"),
                    "QueryLanguage.Downgrade",
                    "a state cannot use JSONPath when the state machine uses JSONata",
                ));
            }
            s
        }
        Some(_) => {
            out.push(ValidationDiagnostic::error(
                &format!("{path}/QueryLanguage"),
                "QueryLanguage.Value",
                "QueryLanguage must be \"JSONPath\" or \"JSONata\"",
            ));
            inherited
        }
    }
}

fn is_positive_int(v: &Value) -> bool {
    v.as_u64().is_some_and(|n| n > 0)
}

fn check_fields(
    obj: &Map<String, Value>,
    path: &str,
    allowed: &[&str],
    out: &mut Vec<ValidationDiagnostic>,
) {
    for key in obj.keys() {
        if !allowed.contains(&key.as_str()) {
            out.push(ValidationDiagnostic::error(
                &format!("{path}/{}", escape(key)),
                "Field.Unknown",
                &format!("field '{key}' is not allowed here"),
            ));
        }
    }
}

/// RFC 6901 escaping of a member name.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Validates a machine (`StartAt` + `States`): the top level, a branch, or an item processor.
fn check_machine(
    obj: &Map<String, Value>,
    path: &str,
    ql: &str,
    out: &mut Vec<ValidationDiagnostic>,
) {
    let states = match obj.get("States") {
        Some(Value::Object(s)) if !s.is_empty() => s,
        Some(Value::Object(_)) => {
            out.push(ValidationDiagnostic::error(
                &format!("{path}/States"),
                "States.Empty",
                "States must define at least one state",
            ));
            return;
        }
        Some(_) => {
            out.push(ValidationDiagnostic::error(
                &format!("{path}/States"),
                "States.Object",
                "States must be an object",
            ));
            return;
        }
        None => {
            out.push(ValidationDiagnostic::error(
                path,
                "States.Missing",
                "a machine must have States",
            ));
            return;
        }
    };
    let start = match obj.get("StartAt") {
        Some(Value::String(s)) => {
            if !states.contains_key(s) {
                out.push(ValidationDiagnostic::error(
                    &format!("{path}/StartAt"),
                    "StartAt.Target",
                    &format!("StartAt '{s}' is not a state of this machine"),
                ));
            }
            Some(s.as_str())
        }
        Some(_) => {
            out.push(ValidationDiagnostic::error(
                &format!("{path}/StartAt"),
                "StartAt.String",
                "StartAt must be a string",
            ));
            None
        }
        None => {
            out.push(ValidationDiagnostic::error(
                path,
                "StartAt.Missing",
                "a machine must have StartAt",
            ));
            None
        }
    };
    let names: HashSet<&str> = states.keys().map(String::as_str).collect();
    for (name, state) in states {
        let spath = format!("{path}/States/{}", escape(name));
        if name.chars().count() > 80 {
            out.push(ValidationDiagnostic::error(
                &spath,
                "State.NameLength",
                "a state name must be at most 80 characters",
            ));
        }
        match state.as_object() {
            Some(s) => check_state(s, &spath, ql, &names, out),
            None => out.push(ValidationDiagnostic::error(
                &spath,
                "State.Object",
                "a state must be an object",
            )),
        }
    }
    if let Some(start) = start {
        check_reachability(states, start, path, out);
    }
}

fn transitions(state: &Map<String, Value>) -> Vec<String> {
    let mut t = Vec::new();
    let mut push = |v: Option<&Value>| {
        if let Some(s) = v.and_then(Value::as_str) {
            t.push(s.to_string());
        }
    };
    push(state.get("Next"));
    push(state.get("Default"));
    for list in ["Choices", "Catch"] {
        for item in state
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            push(item.get("Next"));
        }
    }
    t
}

fn check_reachability(
    states: &Map<String, Value>,
    start: &str,
    path: &str,
    out: &mut Vec<ValidationDiagnostic>,
) {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut stack = vec![start.to_string()];
    while let Some(name) = stack.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(s) = states.get(&name).and_then(Value::as_object) {
            stack.extend(transitions(s));
        }
    }
    for name in states.keys() {
        if !seen.contains(name) {
            out.push(ValidationDiagnostic::error(
                &format!("{path}/States/{}", escape(name)),
                "State.Unreachable",
                &format!("state '{name}' is not reachable from StartAt"),
            ));
        }
    }
}

const COMMON: &[&str] = &["Type", "Comment", "QueryLanguage"];

fn allowed_fields(ty: &str, jsonata: bool) -> Vec<&'static str> {
    let mut f: Vec<&'static str> = COMMON.to_vec();
    let io_jsonpath = ["InputPath", "OutputPath"];
    let flow = ["Next", "End"];
    let (extra, jp, ja): (&[&str], &[&str], &[&str]) = match ty {
        "Pass" => (
            &["Assign"],
            &["Result", "ResultPath", "Parameters"],
            &["Output"],
        ),
        "Task" => (
            &[
                "Resource",
                "Retry",
                "Catch",
                "TimeoutSeconds",
                "HeartbeatSeconds",
                "Assign",
                "Credentials",
            ],
            &[
                "ResultPath",
                "Parameters",
                "ResultSelector",
                "TimeoutSecondsPath",
                "HeartbeatSecondsPath",
            ],
            &["Arguments", "Output"],
        ),
        "Choice" => (&["Choices", "Default", "Assign"], &[], &["Output"]),
        "Wait" => (
            &["Seconds", "Timestamp", "Assign"],
            &["SecondsPath", "TimestampPath"],
            &["Output"],
        ),
        "Succeed" => (&[], &[], &["Output"]),
        "Fail" => (&["Error", "Cause"], &["ErrorPath", "CausePath"], &[]),
        "Parallel" => (
            &["Branches", "Retry", "Catch", "Assign"],
            &["ResultPath", "Parameters", "ResultSelector"],
            &["Arguments", "Output"],
        ),
        "Map" => (
            &[
                "Iterator",
                "ItemProcessor",
                "MaxConcurrency",
                "Retry",
                "Catch",
                "ItemReader",
                "ItemBatcher",
                "ResultWriter",
                "ToleratedFailureCount",
                "ToleratedFailurePercentage",
                "Label",
                "Assign",
                "ItemSelector",
            ],
            &[
                "ItemsPath",
                "Parameters",
                "ResultPath",
                "ResultSelector",
                "MaxConcurrencyPath",
                "ToleratedFailureCountPath",
                "ToleratedFailurePercentagePath",
            ],
            &["Items", "Output"],
        ),
        _ => (&[], &[], &[]),
    };
    f.extend_from_slice(extra);
    if jsonata {
        f.extend_from_slice(ja);
    } else {
        f.extend_from_slice(jp);
        if !matches!(ty, "Fail") {
            f.extend_from_slice(&io_jsonpath);
        }
    }
    if !matches!(ty, "Choice" | "Succeed" | "Fail") {
        f.extend_from_slice(&flow);
    }
    f
}

fn check_state(
    s: &Map<String, Value>,
    path: &str,
    inherited_ql: &str,
    names: &HashSet<&str>,
    out: &mut Vec<ValidationDiagnostic>,
) {
    let ty = match s.get("Type").and_then(Value::as_str) {
        Some(
            t @ ("Pass" | "Task" | "Choice" | "Wait" | "Succeed" | "Fail" | "Parallel" | "Map"),
        ) => t,
        Some(other) => {
            out.push(ValidationDiagnostic::error(
                &format!("{path}/Type"),
                "State.Type",
                &format!("unknown state type '{other}'"),
            ));
            return;
        }
        None => {
            out.push(ValidationDiagnostic::error(
                path,
                "State.Type",
                "a state must have a string Type",
            ));
            return;
        }
    };
    let ql = query_language(s, path, inherited_ql, out);
    let jsonata = ql == "JSONata";
    check_fields(s, path, &allowed_fields(ty, jsonata), out);
    check_flow(s, path, ty, names, out);
    if !jsonata {
        check_paths(s, path, out);
    }
    for field in ["Parameters", "ResultSelector", "ItemSelector"] {
        if let Some(tpl) = s.get(field) {
            if !jsonata {
                check_template(tpl, &format!("{path}/{field}"), out);
            }
            if !tpl.is_object() {
                out.push(ValidationDiagnostic::error(
                    &format!("{path}/{field}"),
                    "Field.Object",
                    &format!("{field} must be an object"),
                ));
            }
        }
    }
    check_retry(s, path, out);
    check_catch(s, path, names, jsonata, out);
    check_assign_object(s, path, out);
    if jsonata {
        check_jsonata_fields(s, path, out);
    }
    match ty {
        "Task" => check_task(s, path, jsonata, out),
        "Choice" => check_choice(s, path, names, jsonata, out),
        "Wait" => check_wait(s, path, jsonata, out),
        "Parallel" => check_parallel(s, path, ql, out),
        "Map" => check_map(s, path, ql, out),
        _ => {}
    }
}

/// A `{% … %}` JSONata expression (the whole string, nothing around the delimiters).
fn is_jsonata_expression(s: &str) -> bool {
    s.len() >= 4 && s.starts_with("{%") && s.ends_with("%}")
}

/// The numbers a number field accepts.
#[derive(Clone, Copy)]
enum NumberKind {
    PositiveInteger,
    NonNegativeInteger,
    Number,
}

impl NumberKind {
    fn accepts(self, v: &Value) -> bool {
        match self {
            NumberKind::PositiveInteger => is_positive_int(v),
            NumberKind::NonNegativeInteger => v.as_u64().is_some(),
            NumberKind::Number => v.is_number(),
        }
    }

    /// The rule a wrong value breaks, and what the value must be.
    fn rule(self) -> (&'static str, &'static str) {
        match self {
            NumberKind::PositiveInteger => ("Field.PositiveInteger", "a positive integer"),
            NumberKind::NonNegativeInteger => {
                ("Field.NonNegativeInteger", "a non-negative integer")
            }
            NumberKind::Number => ("Field.Number", "a number"),
        }
    }
}

/// A number field, if present: a number of `kind`, or in a JSONata state (`jsonata`) an
/// expression `{% … %}` instead.
fn check_number_field(
    s: &Map<String, Value>,
    path: &str,
    (field, kind): (&str, NumberKind),
    jsonata: bool,
    out: &mut Vec<ValidationDiagnostic>,
) {
    let (rule, message) = match s.get(field) {
        None => return,
        Some(Value::String(text)) if jsonata => {
            if is_jsonata_expression(text) {
                return;
            }
            (
                "JSONata.Expression",
                format!("{field} must be a number or a JSONata expression {{% … %}}"),
            )
        }
        Some(v) if kind.accepts(v) => return,
        Some(_) => {
            let (rule, what) = kind.rule();
            (rule, format!("{field} must be {what}"))
        }
    };
    out.push(ValidationDiagnostic::error(
        &format!("{path}/{field}"),
        rule,
        &message,
    ));
}

/// The JSONata-only members of a JSONata state: `Arguments` an object or an expression,
/// `Items` an array or an expression, `Assign` an object.
fn check_jsonata_fields(s: &Map<String, Value>, path: &str, out: &mut Vec<ValidationDiagnostic>) {
    let expression_or =
        |field: &str, ok: fn(&Value) -> bool, what: &str, out: &mut Vec<_>| match s.get(field) {
            Some(Value::String(text)) if is_jsonata_expression(text) => {}
            Some(v) if ok(v) => {}
            Some(_) => out.push(ValidationDiagnostic::error(
                &format!("{path}/{field}"),
                "JSONata.Field",
                &format!("{field} must be {what} or a JSONata expression {{% … %}}"),
            )),
            None => {}
        };
    expression_or("Arguments", Value::is_object, "an object", out);
    expression_or("Items", Value::is_array, "an array", out);
}

fn check_assign_object(s: &Map<String, Value>, path: &str, out: &mut Vec<ValidationDiagnostic>) {
    if let Some(a) = s.get("Assign")
        && !a.is_object()
    {
        out.push(ValidationDiagnostic::error(
            &format!("{path}/Assign"),
            "Field.Object",
            "Assign must be an object",
        ));
    }
}

fn check_flow(
    s: &Map<String, Value>,
    path: &str,
    ty: &str,
    names: &HashSet<&str>,
    out: &mut Vec<ValidationDiagnostic>,
) {
    if matches!(ty, "Choice" | "Succeed" | "Fail") {
        return;
    }
    let next = s.get("Next");
    let end = s.get("End");
    match (next, end) {
        (Some(_), Some(Value::Bool(true))) => out.push(ValidationDiagnostic::error(
            path,
            "State.NextAndEnd",
            "a state cannot have both Next and End",
        )),
        (None, None) | (None, Some(Value::Bool(false))) => out.push(ValidationDiagnostic::error(
            path,
            "State.MissingTransition",
            "a non-terminal state must have Next or \"End\": true",
        )),
        _ => {}
    }
    if let Some(e) = end
        && !e.is_boolean()
    {
        out.push(ValidationDiagnostic::error(
            &format!("{path}/End"),
            "Field.Boolean",
            "End must be a boolean",
        ));
    }
    if let Some(n) = next {
        check_target(n, &format!("{path}/Next"), names, out);
    }
}

fn check_target(v: &Value, path: &str, names: &HashSet<&str>, out: &mut Vec<ValidationDiagnostic>) {
    match v.as_str() {
        Some(t) if names.contains(t) => {}
        Some(t) => out.push(ValidationDiagnostic::error(
            path,
            "Transition.Target",
            &format!("'{t}' is not a state of this machine"),
        )),
        None => out.push(ValidationDiagnostic::error(
            path,
            "Transition.String",
            "a transition target must be a state name",
        )),
    }
}

fn check_paths(s: &Map<String, Value>, path: &str, out: &mut Vec<ValidationDiagnostic>) {
    for field in [
        "InputPath",
        "OutputPath",
        "ItemsPath",
        "SecondsPath",
        "TimestampPath",
        "ErrorPath",
        "CausePath",
        "TimeoutSecondsPath",
        "HeartbeatSecondsPath",
        "MaxConcurrencyPath",
        "ToleratedFailureCountPath",
        "ToleratedFailurePercentagePath",
    ] {
        match s.get(field) {
            None | Some(Value::Null) if matches!(field, "InputPath" | "OutputPath") => {}
            None => {}
            Some(Value::String(p)) => {
                let intrinsic_ok =
                    matches!(field, "ErrorPath" | "CausePath") && p.starts_with("States.");
                if !intrinsic_ok {
                    check_path_syntax(p, &format!("{path}/{field}"), out);
                }
            }
            Some(_) => out.push(ValidationDiagnostic::error(
                &format!("{path}/{field}"),
                "Path.Type",
                &format!("{field} must be a JSONPath string"),
            )),
        }
    }
    match s.get("ResultPath") {
        None | Some(Value::Null) => {}
        Some(Value::String(p)) => match JsonPath::parse(p) {
            Ok(jp) if jp.is_reference() && !jp.context => {}
            Ok(_) => out.push(ValidationDiagnostic::error(
                &format!("{path}/ResultPath"),
                "Path.Reference",
                "ResultPath must be a reference path (names and indexes only)",
            )),
            Err(e) => out.push(ValidationDiagnostic::error(
                &format!("{path}/ResultPath"),
                "Path.Syntax",
                &e.to_string(),
            )),
        },
        Some(_) => out.push(ValidationDiagnostic::error(
            &format!("{path}/ResultPath"),
            "Path.Type",
            "ResultPath must be a JSONPath string or null",
        )),
    }
}

/// Checks the `.$` members of a payload template.
fn check_template(tpl: &Value, path: &str, out: &mut Vec<ValidationDiagnostic>) {
    match tpl {
        Value::Object(m) => {
            for (k, v) in m {
                let p = format!("{path}/{}", escape(k));
                if k.ends_with(".$") {
                    match v.as_str() {
                        Some(expr) if expr.starts_with("States.") => {}
                        Some(expr) if expr.starts_with('$') => check_path_syntax(expr, &p, out),
                        _ => out.push(ValidationDiagnostic::error(
                            &p,
                            "Template.DynamicValue",
                            &format!(
                                "the value of '{k}' must be a JSONPath or an intrinsic function"
                            ),
                        )),
                    }
                } else {
                    check_template(v, &p, out);
                }
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                check_template(v, &format!("{path}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn check_error_equals(
    item: &Map<String, Value>,
    path: &str,
    out: &mut Vec<ValidationDiagnostic>,
) -> bool {
    let list = match item.get("ErrorEquals") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => {
            out.push(ValidationDiagnostic::error(
                &format!("{path}/ErrorEquals"),
                "ErrorEquals.NonEmpty",
                "ErrorEquals must be a non-empty array of error names",
            ));
            return false;
        }
    };
    let has_all = list.iter().any(|e| e.as_str() == Some("States.ALL"));
    if has_all && list.len() > 1 {
        out.push(ValidationDiagnostic::error(
            &format!("{path}/ErrorEquals"),
            "States.ALL.Alone",
            "States.ALL must appear alone in its ErrorEquals",
        ));
    }
    if list.iter().any(|e| !e.is_string()) {
        out.push(ValidationDiagnostic::error(
            &format!("{path}/ErrorEquals"),
            "ErrorEquals.String",
            "error names must be strings",
        ));
    }
    has_all
}

fn check_all_last(list: &[Value], path: &str, field: &str, out: &mut Vec<ValidationDiagnostic>) {
    for (i, item) in list.iter().enumerate() {
        let is_all = item
            .get("ErrorEquals")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|e| e.as_str() == Some("States.ALL")));
        if is_all && i + 1 != list.len() {
            out.push(ValidationDiagnostic::error(
                &format!("{path}/{field}/{i}"),
                "States.ALL.Last",
                &format!("a {field} entry with States.ALL must be the last one"),
            ));
        }
    }
}

/// The entries of a `Retry` or `Catch` list with their paths, `States.ALL` checked; a list that
/// is not an array (`{field}.Array`) or an entry that is not an object (`{Kind}.Object`) is
/// reported and skipped.
fn error_handlers<'a>(
    s: &'a Map<String, Value>,
    path: &str,
    field: &str,
    kind: &str,
    out: &mut Vec<ValidationDiagnostic>,
) -> Vec<(String, &'a Map<String, Value>)> {
    let Some(v) = s.get(field) else {
        return Vec::new();
    };
    let Some(list) = v.as_array() else {
        out.push(ValidationDiagnostic::error(
            &format!("{path}/{field}"),
            &format!("{field}.Array"),
            &format!("{field} must be an array"),
        ));
        return Vec::new();
    };
    check_all_last(list, path, field, out);
    let mut entries = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let entry_path = format!("{path}/{field}/{i}");
        match entry.as_object() {
            Some(entry) => entries.push((entry_path, entry)),
            None => out.push(ValidationDiagnostic::error(
                &entry_path,
                &format!("{kind}.Object"),
                &format!("a {} must be an object", kind.to_lowercase()),
            )),
        }
    }
    entries
}

fn check_retry(s: &Map<String, Value>, path: &str, out: &mut Vec<ValidationDiagnostic>) {
    for (rpath, r) in error_handlers(s, path, "Retry", "Retrier", out) {
        check_fields(
            r,
            &rpath,
            &[
                "ErrorEquals",
                "IntervalSeconds",
                "MaxAttempts",
                "BackoffRate",
                "MaxDelaySeconds",
                "JitterStrategy",
                "Comment",
            ],
            out,
        );
        check_error_equals(r, &rpath, out);
        for (field, ok, message) in RETRIER_BOUNDS {
            if r.get(field).is_some_and(|v| !ok(v)) {
                out.push(ValidationDiagnostic::error(
                    &format!("{rpath}/{field}"),
                    &format!("Retrier.{field}"),
                    message,
                ));
            }
        }
    }
}

/// A retrier's fields: which values each accepts, and what its diagnostic says otherwise.
type FieldBound = (&'static str, fn(&Value) -> bool, &'static str);

const RETRIER_BOUNDS: [FieldBound; 5] = [
    (
        "IntervalSeconds",
        |v| v.as_u64().is_some_and(|n| (1..=99_999_999).contains(&n)),
        "IntervalSeconds must be an integer from 1 to 99999999",
    ),
    (
        "MaxAttempts",
        |v| v.as_u64().is_some_and(|n| n <= 99_999_999),
        "MaxAttempts must be an integer from 0 to 99999999",
    ),
    (
        "BackoffRate",
        |v| v.as_f64().is_some_and(|b| b >= 1.0),
        "BackoffRate must be a number greater than or equal to 1.0",
    ),
    (
        "MaxDelaySeconds",
        |v| v.as_u64().is_some_and(|n| (1..=31_622_400).contains(&n)),
        "MaxDelaySeconds must be an integer from 1 to 31622400",
    ),
    (
        "JitterStrategy",
        |v| matches!(v.as_str(), Some("FULL" | "NONE")),
        "JitterStrategy must be \"FULL\" or \"NONE\"",
    ),
];

fn check_catch(
    s: &Map<String, Value>,
    path: &str,
    names: &HashSet<&str>,
    jsonata: bool,
    out: &mut Vec<ValidationDiagnostic>,
) {
    for (cpath, c) in error_handlers(s, path, "Catch", "Catcher", out) {
        let language_field = if jsonata { "Output" } else { "ResultPath" };
        check_fields(
            c,
            &cpath,
            &["ErrorEquals", "Next", "Comment", "Assign", language_field],
            out,
        );
        check_assign_object(c, &cpath, out);
        check_error_equals(c, &cpath, out);
        match c.get("Next") {
            Some(n) => check_target(n, &format!("{cpath}/Next"), names, out),
            None => out.push(ValidationDiagnostic::error(
                &cpath,
                "Catcher.Next",
                "a catcher must have Next",
            )),
        }
        if let Some(Value::String(p)) = c.get("ResultPath")
            && !JsonPath::parse(p)
                .map(|jp| jp.is_reference())
                .unwrap_or(false)
        {
            out.push(ValidationDiagnostic::error(
                &format!("{cpath}/ResultPath"),
                "Path.Reference",
                "ResultPath must be a reference path",
            ));
        }
    }
}

fn check_task(
    s: &Map<String, Value>,
    path: &str,
    jsonata: bool,
    out: &mut Vec<ValidationDiagnostic>,
) {
    match s.get("Resource") {
        Some(Value::String(r)) if r.starts_with("arn:") || r.starts_with("${") => {}
        Some(Value::String(_)) => out.push(ValidationDiagnostic::error(
            &format!("{path}/Resource"),
            "Task.Resource",
            "Resource must be an ARN",
        )),
        _ => out.push(ValidationDiagnostic::error(
            path,
            "Task.Resource",
            "a Task state must have a string Resource",
        )),
    }
    for (lit, p) in [
        ("TimeoutSeconds", "TimeoutSecondsPath"),
        ("HeartbeatSeconds", "HeartbeatSecondsPath"),
    ] {
        if s.contains_key(lit) && s.contains_key(p) {
            out.push(ValidationDiagnostic::error(
                path,
                "Task.Exclusive",
                &format!("{lit} and {p} cannot both be set"),
            ));
        }
        check_number_field(s, path, (lit, NumberKind::PositiveInteger), jsonata, out);
    }
}

fn check_wait(
    s: &Map<String, Value>,
    path: &str,
    jsonata: bool,
    out: &mut Vec<ValidationDiagnostic>,
) {
    let n = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
        .iter()
        .filter(|f| s.contains_key(**f))
        .count();
    if n != 1 {
        out.push(ValidationDiagnostic::error(
            path,
            "Wait.Exclusive",
            "a Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath",
        ));
    }
    check_number_field(
        s,
        path,
        ("Seconds", NumberKind::NonNegativeInteger),
        jsonata,
        out,
    );
    match s.get("Timestamp") {
        Some(Value::String(t)) if jsonata && is_jsonata_expression(t) => {}
        Some(Value::String(t)) if crate::choice::parse_timestamp(t).is_some() => {}
        Some(_) => out.push(ValidationDiagnostic::error(
            &format!("{path}/Timestamp"),
            "Wait.Timestamp",
            "Timestamp must be an ISO-8601 extended offset date-time string",
        )),
        None => {}
    }
}

const COMPARATORS: &[&str] = &[
    "StringEquals",
    "StringLessThan",
    "StringGreaterThan",
    "StringLessThanEquals",
    "StringGreaterThanEquals",
    "StringMatches",
    "NumericEquals",
    "NumericLessThan",
    "NumericGreaterThan",
    "NumericLessThanEquals",
    "NumericGreaterThanEquals",
    "BooleanEquals",
    "TimestampEquals",
    "TimestampLessThan",
    "TimestampGreaterThan",
    "TimestampLessThanEquals",
    "TimestampGreaterThanEquals",
    "IsNull",
    "IsPresent",
    "IsNumeric",
    "IsString",
    "IsBoolean",
    "IsTimestamp",
];

fn check_choice(
    s: &Map<String, Value>,
    path: &str,
    names: &HashSet<&str>,
    jsonata: bool,
    out: &mut Vec<ValidationDiagnostic>,
) {
    match s.get("Choices") {
        Some(Value::Array(list)) if !list.is_empty() => {
            for (i, rule) in list.iter().enumerate() {
                let rpath = format!("{path}/Choices/{i}");
                match rule.get("Next") {
                    Some(n) => check_target(n, &format!("{rpath}/Next"), names, out),
                    None => out.push(ValidationDiagnostic::error(
                        &rpath,
                        "Choice.Next",
                        "a top-level choice rule must have Next",
                    )),
                }
                if jsonata {
                    check_jsonata_rule(rule, &rpath, out);
                } else {
                    check_rule(rule, &rpath, true, out);
                }
            }
        }
        _ => out.push(ValidationDiagnostic::error(
            &format!("{path}/Choices"),
            "Choice.Choices",
            "a Choice state must have a non-empty Choices array",
        )),
    }
    if let Some(d) = s.get("Default") {
        check_target(d, &format!("{path}/Default"), names, out);
    }
}

/// A JSONata choice rule: `Condition` (a boolean or an expression), `Next`, optional
/// `Assign` and `Output`; none of the JSONPath comparison fields.
fn check_jsonata_rule(rule: &Value, path: &str, out: &mut Vec<ValidationDiagnostic>) {
    let Some(r) = rule_object(rule, path, out) else {
        return;
    };
    check_fields(
        r,
        path,
        &["Condition", "Next", "Assign", "Output", "Comment"],
        out,
    );
    check_assign_object(r, path, out);
    match r.get("Condition") {
        Some(Value::Bool(_)) => {}
        Some(Value::String(c)) if is_jsonata_expression(c) => {}
        Some(_) => out.push(ValidationDiagnostic::error(
            &format!("{path}/Condition"),
            "Choice.Condition",
            "Condition must be a boolean or a JSONata expression {% … %}",
        )),
        None => out.push(ValidationDiagnostic::error(
            path,
            "Choice.Condition",
            "a JSONata choice rule must have a Condition",
        )),
    }
}

/// A choice rule as an object (else reported).
fn rule_object<'a>(
    rule: &'a Value,
    path: &str,
    out: &mut Vec<ValidationDiagnostic>,
) -> Option<&'a Map<String, Value>> {
    let r = rule.as_object();
    if r.is_none() {
        out.push(ValidationDiagnostic::error(
            path,
            "Choice.Rule",
            "a choice rule must be an object",
        ));
    }
    r
}

fn check_rule(rule: &Value, path: &str, top: bool, out: &mut Vec<ValidationDiagnostic>) {
    let Some(r) = rule_object(rule, path, out) else {
        return;
    };
    for key in r.keys() {
        let known = matches!(key.as_str(), "Variable" | "And" | "Or" | "Not" | "Comment")
            || (top && matches!(key.as_str(), "Next" | "Assign"))
            || COMPARATORS.contains(&key.as_str())
            || key
                .strip_suffix("Path")
                .is_some_and(|k| COMPARATORS.contains(&k) && !k.starts_with("Is"));
        if !known {
            out.push(ValidationDiagnostic::error(
                &format!("{path}/{}", escape(key)),
                "Field.Unknown",
                &format!("field '{key}' is not allowed in a choice rule"),
            ));
        }
    }
    let combinators: Vec<&str> = ["And", "Or", "Not"]
        .into_iter()
        .filter(|k| r.contains_key(*k))
        .collect();
    if let Some(c) = combinators.first() {
        match (c, r.get(*c)) {
            (&"Not", Some(inner)) => check_rule(inner, &format!("{path}/Not"), false, out),
            (_, Some(Value::Array(list))) if !list.is_empty() => {
                for (i, inner) in list.iter().enumerate() {
                    check_rule(inner, &format!("{path}/{c}/{i}"), false, out);
                }
            }
            _ => out.push(ValidationDiagnostic::error(
                &format!("{path}/{c}"),
                "Choice.Combinator",
                &format!("{c} must hold a non-empty array of rules"),
            )),
        }
        return;
    }
    match r.get("Variable") {
        Some(Value::String(v)) => check_path_syntax(v, &format!("{path}/Variable"), out),
        _ => out.push(ValidationDiagnostic::error(
            path,
            "Choice.Variable",
            "a comparison rule must have a Variable path",
        )),
    }
    let ops: Vec<&String> = r
        .keys()
        .filter(|k| !matches!(k.as_str(), "Variable" | "Next" | "Comment" | "Assign"))
        .collect();
    if ops.len() != 1 {
        out.push(ValidationDiagnostic::error(
            path,
            "Choice.Operator",
            "a comparison rule must have exactly one comparison operator",
        ));
    }
}

fn check_parallel(
    s: &Map<String, Value>,
    path: &str,
    ql: &str,
    out: &mut Vec<ValidationDiagnostic>,
) {
    match s.get("Branches") {
        Some(Value::Array(b)) if !b.is_empty() => {
            for (i, branch) in b.iter().enumerate() {
                let bpath = format!("{path}/Branches/{i}");
                match branch.as_object() {
                    Some(bo) => {
                        check_fields(
                            bo,
                            &bpath,
                            &["StartAt", "States", "Comment", "QueryLanguage"],
                            out,
                        );
                        let bql = query_language(bo, &bpath, ql, out);
                        check_machine(bo, &bpath, bql, out);
                    }
                    None => out.push(ValidationDiagnostic::error(
                        &bpath,
                        "Branch.Object",
                        "a branch must be an object",
                    )),
                }
            }
        }
        _ => out.push(ValidationDiagnostic::error(
            &format!("{path}/Branches"),
            "Parallel.Branches",
            "a Parallel state must have a non-empty Branches array",
        )),
    }
}

fn check_map(s: &Map<String, Value>, path: &str, ql: &str, out: &mut Vec<ValidationDiagnostic>) {
    let (key, proc_) = match (s.get("ItemProcessor"), s.get("Iterator")) {
        (Some(p), None) => ("ItemProcessor", p),
        (None, Some(p)) => ("Iterator", p),
        (Some(_), Some(_)) => {
            out.push(ValidationDiagnostic::error(
                path,
                "Map.Processor",
                "use either ItemProcessor or Iterator, not both",
            ));
            return;
        }
        (None, None) => {
            out.push(ValidationDiagnostic::error(
                path,
                "Map.Processor",
                "a Map state must have an ItemProcessor (or Iterator)",
            ));
            return;
        }
    };
    let ppath = format!("{path}/{key}");
    let Some(po) = proc_.as_object() else {
        out.push(ValidationDiagnostic::error(
            &ppath,
            "Map.Processor",
            "the item processor must be an object",
        ));
        return;
    };
    check_fields(
        po,
        &ppath,
        &[
            "StartAt",
            "States",
            "Comment",
            "ProcessorConfig",
            "QueryLanguage",
        ],
        out,
    );
    if let Some(cfg) = po.get("ProcessorConfig")
        && let Some(mode) = cfg.get("Mode")
        && !matches!(mode.as_str(), Some("INLINE" | "DISTRIBUTED"))
    {
        out.push(ValidationDiagnostic::error(
            &format!("{ppath}/ProcessorConfig/Mode"),
            "Map.Mode",
            "Mode must be INLINE or DISTRIBUTED",
        ));
    }
    if s.contains_key("ItemSelector") && s.contains_key("Parameters") {
        out.push(ValidationDiagnostic::error(
            path,
            "Map.ItemSelector",
            "use either ItemSelector or Parameters, not both",
        ));
    }
    let jsonata = ql == "JSONata";
    for number in [
        ("MaxConcurrency", NumberKind::NonNegativeInteger),
        ("ToleratedFailureCount", NumberKind::Number),
        ("ToleratedFailurePercentage", NumberKind::Number),
    ] {
        check_number_field(s, path, number, jsonata, out);
    }
    let pql = query_language(po, &ppath, ql, out);
    check_machine(po, &ppath, pql, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Vec<(String, String)> {
        validate(json)
            .into_iter()
            .map(|d| (d.path, d.rule))
            .collect()
    }

    #[test]
    fn a_valid_machine_has_no_diagnostics() {
        let d = validate(
            r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:r:1:function:f","Retry":[{"ErrorEquals":["X"]},{"ErrorEquals":["States.ALL"]}],"Catch":[{"ErrorEquals":["States.ALL"],"Next":"F"}],"Next":"B"},"B":{"Type":"Succeed"},"F":{"Type":"Fail","Error":"E"}}}"#,
        );
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn reports_missing_transition_and_unknown_target() {
        let r = rules(
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass"},"B":{"Type":"Pass","Next":"Nope"}}}"#,
        );
        assert!(r.contains(&("/States/A".into(), "State.MissingTransition".into())));
        assert!(r.contains(&("/States/B/Next".into(), "Transition.Target".into())));
        assert!(r.contains(&("/States/B".into(), "State.Unreachable".into())));
    }

    #[test]
    fn retry_and_catch_must_be_arrays_of_objects() {
        let task = |retry: &str, catch: &str| {
            format!(
                r#"{{"StartAt":"A","States":{{"A":{{"Type":"Task","Resource":"arn:aws:lambda:r:1:function:f","Retry":{retry},"Catch":{catch},"End":true}}}}}}"#
            )
        };
        let r = rules(&task("{}", "3"));
        assert!(
            r.contains(&("/States/A/Retry".into(), "Retry.Array".into())),
            "{r:?}"
        );
        assert!(
            r.contains(&("/States/A/Catch".into(), "Catch.Array".into())),
            "{r:?}"
        );
        let r = rules(&task(r#"[1, {"ErrorEquals":["X"]}]"#, r#"["x"]"#));
        assert!(
            r.contains(&("/States/A/Retry/0".into(), "Retrier.Object".into())),
            "{r:?}"
        );
        assert!(
            r.contains(&("/States/A/Catch/0".into(), "Catcher.Object".into())),
            "{r:?}"
        );
        assert!(
            !r.iter().any(|(p, _)| p.starts_with("/States/A/Retry/1")),
            "{r:?}"
        );
        let d = validate(&task("[1]", "[]"));
        assert!(
            d.iter().any(|d| d.message == "a retrier must be an object"),
            "{d:?}"
        );
    }

    #[test]
    fn reports_unknown_fields_and_bad_retry() {
        let r = rules(
            r#"{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:x","Bogus":1,"End":true,"Retry":[{"ErrorEquals":["States.ALL","X"],"BackoffRate":0.5},{"ErrorEquals":["Y"]}]}}}"#,
        );
        assert!(r.contains(&("/States/A/Bogus".into(), "Field.Unknown".into())));
        assert!(r.contains(&(
            "/States/A/Retry/0/ErrorEquals".into(),
            "States.ALL.Alone".into()
        )));
        assert!(r.contains(&("/States/A/Retry/0".into(), "States.ALL.Last".into())));
        assert!(r.contains(&(
            "/States/A/Retry/0/BackoffRate".into(),
            "Retrier.BackoffRate".into()
        )));
    }

    #[test]
    fn reports_bad_paths() {
        let r = rules(
            r#"{"StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"a.b","ResultPath":"$.a[*]","Parameters":{"x.$":"nope"},"End":true}}}"#,
        );
        assert!(r.contains(&("/States/A/InputPath".into(), "Path.Syntax".into())));
        assert!(r.contains(&("/States/A/ResultPath".into(), "Path.Reference".into())));
        assert!(r.contains(&(
            "/States/A/Parameters/x.$".into(),
            "Template.DynamicValue".into()
        )));
    }

    #[test]
    fn malformed_input_is_a_diagnostic() {
        assert_eq!(rules("[1,2"), vec![("".into(), "Definition.Json".into())]);
        assert_eq!(rules("[]"), vec![("".into(), "Definition.Object".into())]);
    }

    #[test]
    fn nested_branches_are_checked() {
        let r = rules(
            r#"{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[{"StartAt":"X","States":{"X":{"Type":"Pass","Next":"Outside"}}}]},"Outside":{"Type":"Succeed"}}}"#,
        );
        assert!(r.contains(&(
            "/States/P/Branches/0/States/X/Next".into(),
            "Transition.Target".into()
        )));
    }

    /// The rules of a retrier field at its bounds: accepted just inside, reported outside.
    #[test]
    fn retrier_fields_are_checked_at_their_bounds() {
        let retrier = |field: &str, value: Value| {
            let def = serde_json::json!({"StartAt": "A", "States": {"A": {
                "Type": "Task", "Resource": "arn:aws:lambda:r:1:function:f", "End": true,
                "Retry": [{"ErrorEquals": ["X"], field: value}]}}});
            rules(&def.to_string())
        };
        let cases: [(&str, Value, Value); 5] = [
            ("IntervalSeconds", 99_999_999.into(), 0.into()),
            ("MaxAttempts", 0.into(), 100_000_000.into()),
            ("BackoffRate", 1.0.into(), 0.5.into()),
            ("MaxDelaySeconds", 31_622_400.into(), 31_622_401.into()),
            ("JitterStrategy", "FULL".into(), "HALF".into()),
        ];
        for (field, inside, outside) in cases {
            assert_eq!(retrier(field, inside), vec![], "{field}");
            assert_eq!(
                retrier(field, outside),
                vec![(
                    format!("/States/A/Retry/0/{field}"),
                    format!("Retrier.{field}")
                )],
            );
        }
    }

    /// JSONPath number fields take numbers only; the same fields of JSONata states also take
    /// `{% %}` expressions, and other strings there are expression errors.
    #[test]
    fn number_fields_by_kind_and_query_language() {
        let def = |ql: &str| {
            serde_json::json!({"QueryLanguage": ql, "TimeoutSeconds": 0, "StartAt": "T", "States": {
                "T": {"Type": "Task", "Resource": "arn:aws:lambda:r:1:function:f", "Next": "W",
                      "TimeoutSeconds": "{% 3 %}", "HeartbeatSeconds": -1},
                "W": {"Type": "Wait", "Seconds": "5", "Next": "M"},
                "M": {"Type": "Map", "End": true, "MaxConcurrency": 1.5,
                      "ToleratedFailureCount": "x", "ToleratedFailurePercentage": 10,
                      "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}}})
            .to_string()
        };
        let expected = |rows: &[(&str, &str)]| -> Vec<(String, String)> {
            rows.iter()
                .map(|(p, r)| (p.to_string(), r.to_string()))
                .collect()
        };
        let mut jsonpath = rules(&def("JSONPath"));
        jsonpath.sort();
        assert_eq!(
            jsonpath,
            expected(&[
                ("/States/M/MaxConcurrency", "Field.NonNegativeInteger"),
                ("/States/M/ToleratedFailureCount", "Field.Number"),
                ("/States/T/HeartbeatSeconds", "Field.PositiveInteger"),
                ("/States/T/TimeoutSeconds", "Field.PositiveInteger"),
                ("/States/W/Seconds", "Field.NonNegativeInteger"),
                ("/TimeoutSeconds", "Field.PositiveInteger"),
            ])
        );
        let mut jsonata = rules(&def("JSONata"));
        jsonata.sort();
        assert_eq!(
            jsonata,
            expected(&[
                ("/States/M/MaxConcurrency", "Field.NonNegativeInteger"),
                ("/States/M/ToleratedFailureCount", "JSONata.Expression"),
                ("/States/T/HeartbeatSeconds", "Field.PositiveInteger"),
                ("/States/W/Seconds", "JSONata.Expression"),
                ("/TimeoutSeconds", "Field.PositiveInteger"),
            ])
        );
    }
}
