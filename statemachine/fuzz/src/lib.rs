//! The fuzz targets' bodies, shared by the libFuzzer binaries (`fuzz_targets/`) and the
//! regression test (`tests/regressions.rs`), which replays every saved finding on plain
//! stable Rust. Each function must return for any input: a panic is a finding.

use serde_json::{Map, Value, json};
use statemachine::intrinsics::{self, IntrinsicError};
use statemachine::path::{self, JsonPath};
use statemachine::payload::{Scope, resolve};
use statemachine::{Severity, StateMachineDefinition};

/// Splits `<first>\0<JSON>`: NUL because JSON text cannot contain one unescaped.
fn split_input(data: &[u8]) -> (String, Option<Value>) {
    let text = String::from_utf8_lossy(data);
    match text.split_once('\0') {
        Some((first, json)) => (first.to_string(), serde_json::from_str(json).ok()),
        None => (text.into_owned(), None),
    }
}

/// Arbitrary bytes as definition text: validate, parse (= validate + build), and the
/// helpers callers use on a parsed definition.
pub fn definition(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let diagnostics = statemachine::validate(&text);
    let parsed = StateMachineDefinition::parse(&text);
    let has_errors = diagnostics.iter().any(|d| d.severity == Severity::Error);
    assert!(
        !(has_errors && parsed.is_ok()),
        "validate reported errors but parse accepted: {diagnostics:?}"
    );
    if let Ok(def) = parsed {
        let _ = def.state_names();
        let _ = statemachine::substitute(&text, &Default::default());
    }
}

fn jsonpath_document() -> Value {
    json!({
        "a": {"b": [1, 2.5, "x", null, true, {"c": -3}], "d": {}},
        "items": [{"id": 1, "tags": ["p", "q"]}, {"id": 2, "price": 9.99}, {"id": 3}],
        "empty": [], "s": "text", "n": 0, "big": 1e300, "neg": -1
    })
}

/// `<path>\0<JSON document>`: parse the path, select it from the document (a fixed one when
/// absent or invalid) and from `$$`, and write through it as ResultPath does.
pub fn jsonpath(data: &[u8]) {
    let (path_text, doc) = split_input(data);
    let doc = doc.unwrap_or_else(jsonpath_document);
    let context = json!({"Execution": {"Id": "arn", "Input": doc.clone()}, "State": {"Name": "S"}});
    let _ = path::evaluate(&path_text, &doc, &context);
    if let Ok(p) = JsonPath::parse(&path_text) {
        let _ = p.is_definite();
        let _ = p.select(&jsonpath_document());
        if p.is_reference() {
            let mut target = doc.clone();
            let _ = p.set(&mut target, json!({"written": true}));
        }
    }
}

/// `<States.* expression>\0<JSON input>`: check its syntax and evaluate it, resolving path
/// arguments as the engine does (input, `$$` context, variables).
pub fn intrinsics(data: &[u8]) {
    let (expr, input) = split_input(data);
    let input =
        input.unwrap_or_else(|| json!({"a": [1, 2, 3], "s": "a,b", "n": 2, "o": {"k": "v"}}));
    let context = json!({"Execution": {"Id": "arn:x", "Input": input.clone()}});
    let mut vars = Map::new();
    vars.insert("v".into(), json!({"x": [1, "two", 3.5]}));
    let scope = Scope {
        context: &context,
        vars: &vars,
    };
    let resolver = |p: &str| -> Result<Value, IntrinsicError> {
        resolve(p, &input, &scope).map_err(|e| IntrinsicError {
            error: "States.Runtime".into(),
            cause: e.to_string(),
        })
    };
    let _ = intrinsics::check_syntax(&expr);
    let _ = intrinsics::evaluate(&expr, &resolver);
}
