//! Normalisation of an actual API response, step by step as the data set's README
//! ("Normalisation") describes it: LocalStack's snapshot pipeline, done value by value.
//!
//! Steps 1–6 turn the actual response into the recorded snapshot's vocabulary
//! (`<uuid:N>`, `date`, `timestamp`, `<ArnPart_0idx>`, …). Step 7 (skip paths) and the
//! canonical order of Parallel blocks are applied to both sides by [`compare_ready`].

use std::collections::{BTreeMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::jsonpath::{self, JsonPath};
use super::manifest::ExtraNormalisation;

/// Placeholder for an API datetime (an event `timestamp`, DescribeExecution `startDate`, …):
/// boto3 hands those over as `datetime` objects, which the pipeline treats differently from
/// ISO-8601 text. The engine's own wire format for them does not matter.
pub const API_DATETIME: &str = "\u{0}api-datetime\u{0}";

/// LocalStack's `PATTERN_ISO8601`.
static ISO8601: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?:[1-9]\d{3}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)",
        r"|(?:0[13578]|1[02])-31)|(?:[1-9]\d(?:0[48]|[2468][048]|[13579][26])",
        r"|(?:[2468][048]|[13579][26])00)-02-29)T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d",
        r"(?:\.\d{1,9})?(?:Z|[+-][01]\d:?(?:[0-5]\d)?)"
    ))
    .unwrap_or_else(|e| panic!("ISO-8601 pattern: {e}"))
});

static ISO8601_AT_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!("^(?:{})", ISO8601.as_str()))
        .unwrap_or_else(|e| panic!("ISO-8601 pattern: {e}"))
});

static UUID_AT_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
        .unwrap_or_else(|e| panic!("uuid pattern: {e}"))
});

static CAUSE_JSON: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^.*'(\{.*\})'").unwrap_or_else(|e| panic!("cause pattern: {e}")));

static MAP_RUN_ARN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"arn:[a-z-]+:states:[^:]*:[^:]*:mapRun:[^/]+/([^:]+):([0-9a-zA-Z-]+)")
        .unwrap_or_else(|e| panic!("map run pattern: {e}"))
});

static EXTENDED_REQUEST_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"Extended Request ID: [a-zA-Z0-9\-/=+]+")
        .unwrap_or_else(|e| panic!("request id pattern: {e}"))
});

static REQUEST_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"Request ID: [a-zA-Z0-9-]+").unwrap_or_else(|e| panic!("request id pattern: {e}"))
});

static NUMBERED_PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"<([A-Za-z_-]+):\d+>").unwrap_or_else(|e| panic!("placeholder pattern: {e}"))
});

/// What the normalisation of one case needs to know about the run.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    /// `(function_name, snapshot_placeholder)` for every Lambda of the case.
    pub lambdas: Vec<(String, String)>,
    /// The role ARN the engine reported in `ExecutionStarted`, if any.
    pub role_arn: Option<String>,
    pub state_machine_name: Option<String>,
    pub execution_name: Option<String>,
    /// Account ids the engine used (become the harness account).
    pub accounts: Vec<String>,
    /// Region names the engine and the harness used (become `<region>`).
    pub regions: Vec<String>,
    /// The harness account id (`111111111111`).
    pub canonical_account: String,
    /// The role ARN placeholder (`snf_role_arn`).
    pub role_placeholder: String,
    /// The execution input the harness generated (for `replace_input_value`).
    pub generated_input: Value,
}

/// One normalisation run: the numbering of reference replacements is per response.
#[derive(Debug, Default)]
pub struct Normaliser {
    counters: BTreeMap<String, usize>,
    registered: HashSet<String>,
}

impl Normaliser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Steps 1 to 6 of the README on an actual response.
    pub fn normalise(
        &mut self,
        mut doc: Value,
        facts: &RunFacts,
        extra: &[ExtraNormalisation],
    ) -> Value {
        sort_keys(&mut doc);
        parse_json_strings(&mut doc);
        self.standard_replacements(&mut doc);
        for step in extra {
            self.apply_extra(&mut doc, step, facts);
        }
        self.name_substitutions(&mut doc, facts);
        account_region_partition(&mut doc, facts);
        self.generic_rules(&mut doc);
        doc
    }

    /// Registers a reference replacement (`<name:N>`) of `value` and applies it everywhere.
    /// Like LocalStack, a value is registered once, whatever its replacement name.
    fn replace_reference(&mut self, doc: &mut Value, value: &str, name: &str) {
        if value.is_empty() || !self.registered.insert(value.to_string()) {
            return;
        }
        let counter = self.counters.entry(name.to_string()).or_insert(0);
        *counter += 1;
        let token = format!("<{name}:{counter}>");
        if survives_serialisation(value) {
            replace_text(doc, value, &token);
        }
    }

    fn standard_replacements(&mut self, doc: &mut Value) {
        for (path, replacement) in [
            ("$..SdkHttpMetadata..Date", "date"),
            ("$..SdkResponseMetadata..RequestId", "RequestId"),
            ("$..X-Amzn-Trace-Id", "X-Amzn-Trace-Id"),
            ("$..x-amz-crc32", "x-amz-crc32"),
            ("$..x-amzn-RequestId", "x-amzn-RequestId"),
            ("$..x-amzn-requestid", "x-amzn-requestid"),
        ] {
            if let Ok(p) = JsonPath::parse(path) {
                jsonpath::replace_matches(doc, &p, &Value::String(replacement.into()));
            }
        }
        let mut captured = Vec::new();
        walk_members(doc, &mut |key, value| {
            if key != "cause" {
                return false;
            }
            match value.as_str().and_then(cause_json_input) {
                Some(text) => {
                    captured.push(text);
                    true
                }
                None => false,
            }
        });
        for text in captured {
            self.replace_reference(doc, &text, "json-input");
        }
        if let Value::Object(map) = doc
            && map.contains_key("ResponseMetadata")
        {
            map.insert(
                "ResponseMetadata".into(),
                serde_json::json!({"HTTPHeaders": {}, "HTTPStatusCode": 200}),
            );
        }
    }

    fn apply_extra(&mut self, doc: &mut Value, step: &ExtraNormalisation, facts: &RunFacts) {
        match step {
            ExtraNormalisation::JsonpathReplace {
                path,
                replacement,
                reference,
            } => {
                let Ok(p) = JsonPath::parse(path) else { return };
                if *reference {
                    let values: Vec<String> = p
                        .find(doc)
                        .iter()
                        .filter_map(|l| jsonpath::get(doc, l)?.as_str().map(str::to_string))
                        .collect();
                    for v in values {
                        self.replace_reference(doc, &v, replacement);
                    }
                } else {
                    jsonpath::replace_matches(doc, &p, &Value::String(replacement.clone()));
                }
            }
            ExtraNormalisation::RegexReplace {
                pattern,
                replacement,
            } => {
                if let Ok(re) = Regex::new(pattern) {
                    map_text(doc, &mut |s| {
                        re.is_match(s)
                            .then(|| re.replace_all(s, replacement.as_str()).into_owned())
                    });
                }
            }
            ExtraNormalisation::ReplaceInputValue {
                input_pointer,
                replacement,
            } => {
                if let Some(found) = facts
                    .generated_input
                    .pointer(input_pointer)
                    .and_then(Value::as_str)
                {
                    let found = found.to_string();
                    replace_text(doc, &found, replacement);
                }
            }
            ExtraNormalisation::ReplaceOutputValue {
                output_pointer,
                replacement,
            } => {
                if let Some(found) = succeeded_output(doc)
                    .and_then(|o| o.pointer(output_pointer).cloned())
                    .and_then(|v| v.as_str().map(str::to_string))
                {
                    replace_text(doc, &found, replacement);
                }
            }
            ExtraNormalisation::ParallelEventsSort => parallel_events_walk(doc),
            ExtraNormalisation::ParseOutputAnyJson => parse_outputs_any_json(doc),
        }
    }

    fn name_substitutions(&mut self, doc: &mut Value, facts: &RunFacts) {
        for (function_name, placeholder) in &facts.lambdas {
            replace_text(doc, function_name, placeholder);
        }
        if let Some(role) = &facts.role_arn {
            replace_text(doc, role, &facts.role_placeholder);
        }
        // Map Run ARNs embed the state machine name, so they go first.
        self.map_run_arns(doc);
        if let Some(name) = &facts.state_machine_name {
            replace_text(doc, name, "<ArnPart_0idx>");
        }
        if let Some(name) = &facts.execution_name {
            replace_text(doc, name, "<ExecArnPart_0idx>");
        }
        map_text(doc, &mut |s| {
            EXTENDED_REQUEST_ID.is_match(s).then(|| {
                EXTENDED_REQUEST_ID
                    .replace_all(s, "Extended Request ID: <extended_request_id>")
                    .into_owned()
            })
        });
        map_text(doc, &mut |s| {
            REQUEST_ID.is_match(s).then(|| {
                REQUEST_ID
                    .replace_all(s, "Request ID: <request_id>")
                    .into_owned()
            })
        });
    }

    fn map_run_arns(&mut self, doc: &mut Value) {
        let mut parts: Vec<(String, String)> = Vec::new();
        visit_text(doc, &mut |s| {
            for caps in MAP_RUN_ARN.captures_iter(s) {
                let pair = (caps[1].to_string(), caps[2].to_string());
                if !parts.contains(&pair) {
                    parts.push(pair);
                }
            }
        });
        for (i, (part0, part1)) in parts.iter().enumerate() {
            replace_text(doc, part1, &format!("<MapRunArnPart1_{i}idx>"));
            if UUID_AT_START.is_match(part0) {
                replace_text(doc, part0, &format!("<MapRunArnPart0_{i}idx>"));
            }
        }
    }

    fn generic_rules(&mut self, doc: &mut Value) {
        let mut uuids = Vec::new();
        walk_members(doc, &mut |key, value| {
            if let Some(s) = value.as_str()
                && key.to_lowercase().ends_with("id")
                && UUID_AT_START.is_match(s)
            {
                uuids.push(s.to_string());
                return true;
            }
            false
        });
        for u in uuids {
            self.replace_reference(doc, &u, "uuid");
        }
        // The timestamp-member rule looks at the value before dates are replaced, as
        // LocalStack's key/value transformers run before its text replacements.
        timestamp_members(doc);
        map_text_values(doc, &mut |s| {
            if s == API_DATETIME {
                return Some("datetime".to_string());
            }
            ISO8601
                .is_match(s)
                .then(|| ISO8601.replace_all(s, "date").into_owned())
        });
    }
}

/// Whether LocalStack's replacement on the serialised JSON would find `value` where it
/// occurs in a string: it escapes only `"`, so text with other escaped characters is missed.
fn survives_serialisation(value: &str) -> bool {
    value.chars().all(|c| c != '\\' && (' '..='~').contains(&c))
}

fn cause_json_input(cause: &str) -> Option<String> {
    let caps = CAUSE_JSON.captures(cause)?;
    let text = caps.get(1)?.as_str();
    serde_json::from_str::<Value>(text).ok()?;
    Some(text.to_string())
}

/// The parsed output of the `ExecutionSucceeded` event of a history response.
fn succeeded_output(doc: &Value) -> Option<Value> {
    let events = doc.get("events")?.as_array()?;
    let output = events
        .iter()
        .find(|e| e.get("type").and_then(Value::as_str) == Some("ExecutionSucceeded"))?
        .get("executionSucceededEventDetails")?
        .get("output")?;
    match output {
        Value::String(s) => serde_json::from_str(s).ok(),
        other => Some(other.clone()),
    }
}

/// Step 1: object members by key, `ResponseMetadata` last.
pub fn sort_keys(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let metadata = entries
                .iter()
                .position(|(k, _)| k == "ResponseMetadata")
                .map(|i| entries.remove(i));
            for (k, mut val) in entries {
                sort_keys(&mut val);
                map.insert(k, val);
            }
            if let Some((k, val)) = metadata {
                map.insert(k, val);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

/// Step 2: object members holding a string that starts with `{` and parses as JSON are
/// replaced by the parsed value (not recursed into). Like LocalStack, arrays are searched
/// for objects only one level deep.
pub fn parse_json_strings(v: &mut Value) {
    let Value::Object(map) = v else { return };
    for (_, member) in map.iter_mut() {
        match member {
            Value::Array(items) => {
                for item in items.iter_mut().filter(|i| i.is_object()) {
                    parse_json_strings(item);
                }
            }
            Value::Object(_) => parse_json_strings(member),
            Value::String(s) if s.starts_with('{') => {
                if let Ok(parsed) = serde_json::from_str::<Value>(s) {
                    *member = parsed;
                }
            }
            _ => {}
        }
    }
}

/// LocalStack's key/value transformer walk: members of objects, objects nested in objects and
/// objects directly inside arrays. `f` returns whether it consumed the member (no recursion).
/// The day AWS launched `RedriveExecution` and added `Execution.RedriveCount` to the context
/// object (2023-11-15). Recordings made before it cannot contain the field.
pub fn redrive_launch_day() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2023, 11, 15).unwrap_or_default()
}

/// Gives the actual response the context object AWS had on the day of the recording: before
/// [`redrive_launch_day`], `$$.Execution` had no `RedriveCount`. Applied to the actual side
/// only, and only for recordings older than that day; every newer recording keeps it.
pub fn context_object_as_recorded(doc: &mut Value, recorded_on: Option<chrono::NaiveDate>) {
    if recorded_on.is_some_and(|day| day < redrive_launch_day()) {
        drop_redrive_count(doc);
    }
}

fn drop_redrive_count(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::Object(execution)) = map.get_mut("Execution")
                && execution.contains_key("StartTime")
                && execution.contains_key("Id")
            {
                execution.remove("RedriveCount");
            }
            map.values_mut().for_each(drop_redrive_count);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_redrive_count),
        _ => {}
    }
}

fn walk_members(v: &Value, f: &mut dyn FnMut(&str, &Value) -> bool) {
    let Value::Object(map) = v else { return };
    for (k, member) in map {
        if f(k, member) {
            continue;
        }
        match member {
            Value::Array(items) => items
                .iter()
                .filter(|i| i.is_object())
                .for_each(|i| walk_members(i, f)),
            Value::Object(_) => walk_members(member, f),
            _ => {}
        }
    }
}

/// Members whose name contains `timestamp` and whose value is not ISO-8601 text.
fn timestamp_members(v: &mut Value) {
    let Value::Object(map) = v else { return };
    for (k, member) in map.iter_mut() {
        if k.to_lowercase().contains("timestamp") || k == "creationTime" || k == "ingestionTime" {
            let iso = member
                .as_str()
                .is_some_and(|s| ISO8601_AT_START.is_match(s));
            if !iso {
                *member = Value::String("timestamp".into());
                continue;
            }
        }
        match member {
            Value::Array(items) => items
                .iter_mut()
                .filter(|i| i.is_object())
                .for_each(timestamp_members),
            Value::Object(_) => timestamp_members(member),
            _ => {}
        }
    }
}

/// Applies `f` to every string value and member name; `Some` replaces it.
pub fn map_text(v: &mut Value, f: &mut dyn FnMut(&str) -> Option<String>) {
    match v {
        Value::String(s) => {
            if let Some(new) = f(s) {
                *s = new;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| map_text(i, f)),
        Value::Object(map) => {
            let needs_rename = map.keys().any(|k| f(k).is_some());
            if needs_rename {
                let old = std::mem::take(map);
                for (k, val) in old {
                    let k = f(&k).unwrap_or(k);
                    map.insert(k, val);
                }
            }
            for (_, val) in map.iter_mut() {
                map_text(val, f);
            }
        }
        _ => {}
    }
}

/// Like [`map_text`], for string values only.
fn map_text_values(v: &mut Value, f: &mut dyn FnMut(&str) -> Option<String>) {
    match v {
        Value::String(s) => {
            if let Some(new) = f(s) {
                *s = new;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| map_text_values(i, f)),
        Value::Object(map) => map.iter_mut().for_each(|(_, val)| map_text_values(val, f)),
        _ => {}
    }
}

fn visit_text(v: &Value, f: &mut dyn FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|i| visit_text(i, f)),
        Value::Object(map) => {
            for (k, val) in map {
                f(k);
                visit_text(val, f);
            }
        }
        _ => {}
    }
}

/// Replaces every occurrence of `from` inside strings and member names.
pub fn replace_text(v: &mut Value, from: &str, to: &str) {
    if from.is_empty() {
        return;
    }
    map_text(v, &mut |s| s.contains(from).then(|| s.replace(from, to)));
}

/// Step 5.
fn account_region_partition(doc: &mut Value, facts: &RunFacts) {
    for account in &facts.accounts {
        if account != &facts.canonical_account {
            replace_text(doc, account, &facts.canonical_account);
        }
    }
    for region in &facts.regions {
        replace_text(doc, region, "<region>");
    }
    replace_text(doc, "arn:aws:", "arn:<partition>:");
}

/// `parse_output_any_json`: each event's details `output`, if still a string, parsed as JSON
/// of any type.
fn parse_outputs_any_json(doc: &mut Value) {
    let Some(events) = doc.get_mut("events").and_then(Value::as_array_mut) else {
        return;
    };
    for event in events {
        let Some(obj) = event.as_object_mut() else {
            continue;
        };
        for (key, details) in obj.iter_mut() {
            if !key.ends_with("EventDetails") {
                continue;
            }
            if let Some(output) = details.get_mut("output")
                && let Some(parsed) = output
                    .as_str()
                    .and_then(|s| serde_json::from_str::<Value>(s).ok())
            {
                *output = parsed;
            }
        }
    }
}

/// The structural part of LocalStack's `SfnNoneRecursiveParallelTransformer`, applied to every
/// `events` list: events inside a Parallel block get `id` `[0]` and `previousEventId` `0`, and a
/// closing event replaces `events[start..i]` with the collected events (which drops a
/// Succeeded/Failed event followed by `ParallelStateExited`, and skips the event after it).
/// The sorting itself is done on the normalised text, by [`sort_parallel_blocks`].
fn parallel_events_walk(doc: &mut Value) {
    let Ok(path) = JsonPath::parse("$..events") else {
        return;
    };
    for loc in path.find(doc) {
        if let Some(Value::Array(events)) = jsonpath::get_mut(doc, &loc) {
            parallel_walk_list(events);
        }
    }
}

fn parallel_walk_list(events: &mut Vec<Value>) {
    let mut start: Option<usize> = None;
    let mut collected: Vec<Value> = Vec::new();
    let mut in_block = false;
    let mut i = 0;
    while i < events.len() {
        let event_type = events[i]
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_string);
        match event_type.as_deref() {
            None => in_block = false,
            Some(
                "ParallelStateSucceeded"
                | "ParallelStateAborted"
                | "ParallelStateExited"
                | "ParallelStateFailed",
            ) => {
                let from = start.unwrap_or(0).min(i);
                events.splice(from..i, collected.iter().cloned());
                in_block = false;
            }
            Some("ParallelStateStarted") => {
                in_block = true;
                collected.clear();
                start = Some(i + 1);
            }
            Some(_) if in_block => {
                if let Value::Object(obj) = &mut events[i] {
                    obj.insert("id".into(), serde_json::json!([0]));
                    obj.insert("previousEventId".into(), serde_json::json!(0));
                }
                collected.push(events[i].clone());
            }
            Some(_) => {}
        }
        i += 1;
    }
}

/// Canonical order inside Parallel blocks, for both sides: every run of consecutive events
/// with `id` `[0]` is sorted by its JSON text with `<name:N>` numbers masked (LocalStack
/// sorted on raw events, so its tie order cannot be reproduced).
pub fn sort_parallel_blocks(doc: &mut Value) {
    let Ok(path) = JsonPath::parse("$..events") else {
        return;
    };
    for loc in path.find(doc) {
        let Some(Value::Array(events)) = jsonpath::get_mut(doc, &loc) else {
            continue;
        };
        let mut i = 0;
        while i < events.len() {
            if !in_parallel_block(&events[i]) {
                i += 1;
                continue;
            }
            let mut j = i;
            while j < events.len() && in_parallel_block(&events[j]) {
                j += 1;
            }
            events[i..j].sort_by_cached_key(masked_text);
            i = j;
        }
    }
}

fn in_parallel_block(event: &Value) -> bool {
    event.get("id") == Some(&serde_json::json!([0]))
}

fn masked_text(v: &Value) -> String {
    let text = serde_json::to_string(v).unwrap_or_default();
    NUMBERED_PLACEHOLDER
        .replace_all(&text, "<$1:#>")
        .into_owned()
}

/// Step 7 and the Parallel canonical order, applied to one side (actual or expected).
pub fn compare_ready(mut doc: Value, skip_paths: &[JsonPath], parallel_sort: bool) -> Value {
    // Five recordings hold this header as `["<uuid:1>"]` (README, "Known limitations"):
    // normalise it the same way on both sides.
    for name in ["x-amzn-RequestId", "x-amzn-requestid"] {
        if let Ok(p) = JsonPath::parse(&format!("$..{name}")) {
            jsonpath::replace_matches(&mut doc, &p, &Value::String(name.into()));
        }
    }
    if parallel_sort {
        sort_parallel_blocks(&mut doc);
    }
    for path in skip_paths {
        jsonpath::remove_matches(&mut doc, path);
    }
    doc
}

/// Builds a `Map` from pairs (test helper and response assembly).
pub fn object(pairs: Vec<(&str, Value)>) -> Value {
    let mut map = Map::new();
    for (k, v) in pairs {
        map.insert(k.to_string(), v);
    }
    Value::Object(map)
}

/// A GetExecutionHistory response (all events, ascending) as the pipeline sees it: event
/// `timestamp`s are API datetimes.
pub fn history_response(events: Vec<Value>) -> Value {
    let events = events
        .into_iter()
        .map(|mut e| {
            if let Some(ts) = e.get_mut("timestamp") {
                *ts = Value::String(API_DATETIME.into());
            }
            e
        })
        .collect();
    object(vec![
        ("events", Value::Array(events)),
        ("ResponseMetadata", response_metadata()),
    ])
}

/// A DescribeExecution response as the pipeline sees it: its dates are API datetimes.
pub fn describe_response(mut description: Value) -> Value {
    if let Value::Object(map) = &mut description {
        // The AWS JSON protocol omits absent members; boto3 never shows a null.
        map.retain(|_, v| !v.is_null());
        for member in ["startDate", "stopDate", "redriveDate"] {
            if let Some(v) = map.get_mut(member) {
                *v = Value::String(API_DATETIME.into());
            }
        }
        map.insert("ResponseMetadata".into(), response_metadata());
    }
    description
}

fn response_metadata() -> Value {
    serde_json::json!({"HTTPHeaders": {}, "HTTPStatusCode": 200})
}

#[cfg(test)]
#[path = "normalise_tests.rs"]
mod tests;
