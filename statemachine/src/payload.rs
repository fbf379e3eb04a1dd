//! JSONPath input/output processing: InputPath, Parameters / ResultSelector / ItemSelector
//! templates (keys ending in `.$`, the context object `$$`, intrinsic functions, variables),
//! ResultPath merging and OutputPath.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::definition::PathField;
use crate::intrinsics;
use crate::path::{JsonPath, PathError};

/// A runtime error of a state: `error` is the Step Functions error name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateError {
    pub error: String,
    pub cause: Option<String>,
}

impl StateError {
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        StateError {
            error: error.into(),
            cause: Some(cause.into()),
        }
    }

    pub fn runtime(cause: impl Into<String>) -> Self {
        Self::new("States.Runtime", cause)
    }

    /// AWS's runtime error for a path that does not parse, select or take a result:
    /// "Invalid path 'p' : why".
    pub fn invalid_path(path: &str, why: impl std::fmt::Display) -> Self {
        Self::runtime(format!("Invalid path '{path}' : {why}"))
    }

    /// `{"Error": ..., "Cause": ...}`, the error output a catcher receives.
    pub fn to_output(&self) -> Value {
        let mut m = Map::new();
        m.insert("Error".into(), Value::String(self.error.clone()));
        if let Some(c) = &self.cause {
            m.insert("Cause".into(), Value::String(c.clone()));
        }
        Value::Object(m)
    }
}

/// What a path may refer to: the state input (`$`), the context object (`$$`) and the
/// variables in scope (`$name`).
pub struct Scope<'a> {
    pub context: &'a Value,
    pub vars: &'a Map<String, Value>,
}

/// Compact JSON text of a value.
pub fn to_text(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// True if `path` names a variable (`$name...`) rather than `$` or `$$`.
fn is_variable_ref(path: &str) -> bool {
    path.strip_prefix('$')
        .and_then(|r| r.chars().next())
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Evaluates a JSONPath (or variable reference) against the input and scope.
pub fn resolve(path: &str, input: &Value, scope: &Scope<'_>) -> Result<Value, PathError> {
    if is_variable_ref(path) {
        let rest = &path[1..];
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let name = &rest[..end];
        let value = scope
            .vars
            .get(name)
            .ok_or_else(|| PathError::NotFound(format!("Undefined variable ${name}")))?;
        return JsonPath::parse(&format!("${}", &rest[end..]))?.select(value);
    }
    let p = JsonPath::parse(path)?;
    if p.context {
        p.select(scope.context)
    } else {
        p.select(input)
    }
}

/// Applies `InputPath` (or `OutputPath`): default `$`, `null` gives `{}`.
pub fn select_path(
    field: &PathField,
    input: &Value,
    scope: &Scope<'_>,
) -> Result<Value, StateError> {
    select_path_ref(field, input, scope).map(Cow::into_owned)
}

/// [`select_path`] without copying the input when the path is the default `$`.
pub fn select_path_ref<'v>(
    field: &PathField,
    input: &'v Value,
    scope: &Scope<'_>,
) -> Result<Cow<'v, Value>, StateError> {
    match field {
        PathField::Default => Ok(Cow::Borrowed(input)),
        PathField::Null => Ok(Cow::Owned(Value::Object(Map::new()))),
        PathField::Path(p) => resolve(p, input, scope)
            .map(Cow::Owned)
            .map_err(|e| StateError::invalid_path(p, e)),
    }
}

/// [`select_path`] on a value the caller gives up: the default `$` moves it through.
pub fn select_path_owned(
    field: &PathField,
    input: Value,
    scope: &Scope<'_>,
) -> Result<Value, StateError> {
    match field {
        PathField::Default => Ok(input),
        _ => select_path(field, &input, scope),
    }
}

/// Merges a result into the state input as `ResultPath` says.
pub fn merge_result(field: &PathField, input: &Value, result: Value) -> Result<Value, StateError> {
    match field {
        // Only a path needs the input, and it needs its own copy to write into.
        PathField::Path(_) | PathField::Null => merge_result_owned(field, input.clone(), result),
        PathField::Default => Ok(result),
    }
}

/// [`merge_result`] on an input the caller gives up: a `ResultPath` writes into it in place.
pub fn merge_result_owned(
    field: &PathField,
    input: Value,
    result: Value,
) -> Result<Value, StateError> {
    match field {
        PathField::Default => Ok(result),
        PathField::Null => Ok(input),
        PathField::Path(p) => {
            let jp = JsonPath::parse(p).map_err(|e| StateError::invalid_path(p, e))?;
            let mut out = input;
            if !jp.is_reference() {
                return Err(StateError::runtime(format!(
                    "Invalid path '{p}': ResultPath must be a reference path"
                )));
            }
            if !out.is_object() && p != "$" {
                return Err(StateError::invalid_path(
                    p,
                    format!(
                        "Unable to apply the ResultPath to the input '{}': it is not a JSON object",
                        to_text(&out)
                    ),
                ));
            }
            jp.set(&mut out, result)
                .map_err(|e| StateError::invalid_path(p, e))?;
            Ok(out)
        }
    }
}

/// Evaluates a payload template: members whose name ends in `.$` take the value of the
/// path or intrinsic function they hold; every other value is copied.
pub fn apply_template(tpl: &Value, input: &Value, scope: &Scope<'_>) -> Result<Value, StateError> {
    match tpl {
        Value::Object(m) => {
            let mut out = Map::with_capacity(m.len());
            for (k, v) in m {
                match k.strip_suffix(".$") {
                    Some(name) => {
                        let value = dynamic_value(k, v, input, scope)?;
                        out.insert(name.to_string(), value);
                    }
                    None => {
                        out.insert(k.clone(), apply_template(v, input, scope)?);
                    }
                }
            }
            Ok(Value::Object(out))
        }
        Value::Array(a) => a
            .iter()
            .map(|v| apply_template(v, input, scope))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

fn dynamic_value(
    field: &str,
    v: &Value,
    input: &Value,
    scope: &Scope<'_>,
) -> Result<Value, StateError> {
    let Some(expr) = v.as_str() else {
        return Err(StateError::runtime(format!(
            "The value for the field '{field}' must be a valid JSONPath or a valid intrinsic function call"
        )));
    };
    if intrinsics::is_intrinsic(expr) {
        return evaluate_intrinsic(expr, input, scope);
    }
    resolve(expr, input, scope).map_err(|e| match e {
        PathError::Syntax { .. } => StateError::runtime(format!(
            "The value for the field '{field}' must be a valid JSONPath or a valid intrinsic function call"
        )),
        PathError::NotFound(_) => StateError::runtime(format!(
            "The JSONPath '{expr}' specified for the field '{field}' could not be found in the input '{}'",
            to_text(if expr.starts_with("$$") { scope.context } else { input })
        )),
    })
}

/// Evaluates a `States.*` call, answering its path arguments from the input and scope.
pub fn evaluate_intrinsic(
    expr: &str,
    input: &Value,
    scope: &Scope<'_>,
) -> Result<Value, StateError> {
    let resolver = |p: &str| -> Result<Value, intrinsics::IntrinsicError> {
        resolve(p, input, scope).map_err(|e| intrinsics::IntrinsicError {
            error: "States.Runtime".into(),
            cause: match e {
                PathError::NotFound(_) => format!(
                    "The JSONPath '{p}' could not be found in the input '{}'",
                    to_text(if p.starts_with("$$") {
                        scope.context
                    } else {
                        input
                    })
                ),
                other => other.to_string(),
            },
        })
    };
    intrinsics::evaluate(expr, &resolver).map_err(|e| StateError::new(e.error, e.cause))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope_parts() -> (Value, Map<String, Value>) {
        let ctx = json!({"Execution": {"Id": "arn:x", "Input": {"a": 1}}, "State": {"Name": "S"}});
        let mut vars = Map::new();
        vars.insert("count".into(), json!({"n": 3}));
        (ctx, vars)
    }

    #[test]
    fn templates_resolve_dynamic_members() {
        let (ctx, vars) = scope_parts();
        let scope = Scope {
            context: &ctx,
            vars: &vars,
        };
        let tpl = json!({"x.$": "$.a", "static": [1, {"y.$": "$$.State.Name"}], "v.$": "$count.n"});
        let out = apply_template(&tpl, &json!({"a": "A"}), &scope).unwrap();
        assert_eq!(out, json!({"x": "A", "static": [1, {"y": "S"}], "v": 3}));
    }

    #[test]
    fn missing_template_path_is_a_runtime_error_with_aws_text() {
        let (ctx, vars) = scope_parts();
        let scope = Scope {
            context: &ctx,
            vars: &vars,
        };
        let err = apply_template(&json!({"value.$": "$.no_such"}), &json!({"int": 0}), &scope)
            .unwrap_err();
        assert_eq!(err.error, "States.Runtime");
        assert_eq!(
            err.cause.unwrap(),
            "The JSONPath '$.no_such' specified for the field 'value.$' could not be found in the input '{\"int\":0}'"
        );
    }

    #[test]
    fn result_path_merges() {
        let input = json!({"a": 1});
        assert_eq!(
            merge_result(&PathField::Default, &input, json!(2)).unwrap(),
            json!(2)
        );
        assert_eq!(
            merge_result(&PathField::Null, &input, json!(2)).unwrap(),
            input
        );
        assert_eq!(
            merge_result(&PathField::Path("$.r.s".into()), &input, json!(2)).unwrap(),
            json!({"a": 1, "r": {"s": 2}})
        );
        assert_eq!(
            merge_result(&PathField::Path("$.a".into()), &input, json!([1])).unwrap(),
            json!({"a": [1]})
        );
        assert!(merge_result(&PathField::Path("$.x".into()), &json!([1]), json!(2)).is_err());
    }

    #[test]
    fn input_path_null_gives_empty_object() {
        let (ctx, vars) = scope_parts();
        let scope = Scope {
            context: &ctx,
            vars: &vars,
        };
        assert_eq!(
            select_path(&PathField::Null, &json!({"a": 1}), &scope).unwrap(),
            json!({})
        );
        let err = select_path(&PathField::Path("$.NoSuch".into()), &json!({}), &scope).unwrap_err();
        assert_eq!(
            err.cause.unwrap(),
            "Invalid path '$.NoSuch' : No results for path: $['NoSuch']"
        );
    }
}
