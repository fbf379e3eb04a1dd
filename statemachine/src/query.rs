//! Field evaluation for `QueryLanguage: JSONata` states: the `$states` binding, templates
//! (`Arguments`, `Output`, `Assign`, `Items`, `ItemSelector`: JSON whose strings of the form
//! `{% expr %}` are expressions and everything else is a literal), and the typed fields
//! (`TimeoutSeconds`, `Seconds`, `MaxConcurrency`, … given as a number or an expression).
//!
//! Every failure is a [`FieldError`]: AWS's error name, the field's location (`Output/result`)
//! and the cause sentence without the "An error occurred while executing the state …" prefix,
//! which the interpreter adds together with the `EvaluationFailed` event.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::jsonata::{self, JsonataError};
use crate::payload::to_text;

pub(crate) const QUERY_EVALUATION_ERROR: &str = "States.QueryEvaluationError";

/// A failed evaluation of a field of a JSONata state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub error: String,
    /// `Arguments/FunctionName`, `Items`, …; `None` when the failure is not tied to a field.
    pub location: Option<String>,
    pub cause: String,
}

impl FieldError {
    pub fn query(location: Option<&str>, cause: impl Into<String>) -> Self {
        FieldError {
            error: QUERY_EVALUATION_ERROR.to_string(),
            location: location.map(str::to_string),
            cause: cause.into(),
        }
    }

    fn from_jsonata(e: &JsonataError, expr: &str, location: &str) -> Self {
        FieldError {
            error: e.error.clone(),
            location: Some(location.to_string()),
            cause: e.state_cause(expr, location),
        }
    }

    fn unexpected_type(expr: &str, location: &str, expected: &str, value: &Value) -> Self {
        Self::query(
            Some(location),
            format!(
                "The JSONata expression '{}' specified for the field '{location}' returned an unexpected result type. Expected '{expected}', but was '{}' for value: {}",
                bare(expr),
                type_name(value),
                to_text(value)
            ),
        )
    }
}

/// What `$states` holds while a state evaluates a field.
pub(crate) struct StatesVar<'a> {
    pub input: &'a Value,
    pub context: &'a Value,
    pub result: Option<&'a Value>,
    pub error_output: Option<&'a Value>,
}

impl<'a> StatesVar<'a> {
    /// `$states` before the state has a result or an error: its input and context.
    pub fn of_input(input: &'a Value, context: &'a Value) -> Self {
        StatesVar {
            input,
            context,
            result: None,
            error_output: None,
        }
    }
}

/// What an expression sees: the workflow variables plus `$states`, and the time `$now()`
/// answers.
pub(crate) struct Bindings {
    vars: Map<String, Value>,
    now: DateTime<Utc>,
}

pub(crate) fn bindings(
    vars: &Map<String, Value>,
    states: &StatesVar<'_>,
    now: DateTime<Utc>,
) -> Bindings {
    let mut s = Map::new();
    s.insert("input".into(), states.input.clone());
    s.insert("context".into(), states.context.clone());
    if let Some(r) = states.result {
        s.insert("result".into(), r.clone());
    }
    if let Some(e) = states.error_output {
        s.insert("errorOutput".into(), e.clone());
    }
    let mut b = vars.clone();
    b.insert("states".into(), Value::Object(s));
    Bindings { vars: b, now }
}

/// A string is an expression only when it starts with `{%` and ends with `%}`, exactly.
pub(crate) fn is_expression(s: &str) -> bool {
    s.len() >= 4 && s.starts_with("{%") && s.ends_with("%}")
}

/// The expression text as AWS quotes it in causes: without delimiters, trimmed.
fn bare(expr: &str) -> &str {
    expr.strip_prefix("{%")
        .and_then(|s| s.strip_suffix("%}"))
        .unwrap_or(expr)
        .trim()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Evaluates one expression (`{% … %}`) for the field at `location`.
pub(crate) fn eval_expression(
    expr: &str,
    location: &str,
    b: &Bindings,
) -> Result<Value, FieldError> {
    jsonata::evaluate_at(expr, &b.vars, b.now)
        .map_err(|e| FieldError::from_jsonata(&e, expr, location))
}

/// Evaluates a template: expressions anywhere inside it are replaced by their values.
pub(crate) fn eval_template(
    tpl: &Value,
    location: &str,
    b: &Bindings,
) -> Result<Value, FieldError> {
    match tpl {
        Value::String(s) if is_expression(s) => eval_expression(s, location, b),
        Value::Object(m) => {
            let mut out = Map::with_capacity(m.len());
            for (k, v) in m {
                out.insert(k.clone(), eval_template(v, &format!("{location}/{k}"), b)?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| eval_template(v, &format!("{location}/{i}"), b))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        other => Ok(other.clone()),
    }
}

/// Evaluates `Assign`: each member is a template; the values are computed together, before
/// any of them is assigned.
pub(crate) fn eval_assign(assign: &Value, b: &Bindings) -> Result<Map<String, Value>, FieldError> {
    match eval_template(assign, "Assign", b)? {
        Value::Object(m) => Ok(m),
        other => Err(FieldError::query(
            Some("Assign"),
            format!(
                "The Assign field must be a JSON object, but was: {}",
                to_text(&other)
            ),
        )),
    }
}

/// A field given either as a literal or as an expression whose value must have a type.
fn eval_typed(
    field: &Value,
    location: &str,
    expected: &str,
    b: &Bindings,
    accept: impl Fn(&Value) -> bool,
) -> Result<Value, FieldError> {
    let value = eval_template(field, location, b)?;
    if accept(&value) {
        return Ok(value);
    }
    let expr = field.as_str().unwrap_or_default();
    Err(FieldError::unexpected_type(
        expr, location, expected, &value,
    ))
}

/// `Items`: an array.
pub(crate) fn eval_items(field: &Value, b: &Bindings) -> Result<Vec<Value>, FieldError> {
    match eval_typed(field, "Items", "array", b, Value::is_array)? {
        Value::Array(items) => Ok(items),
        _ => Ok(Vec::new()),
    }
}

/// A non-negative integer field (`TimeoutSeconds`, `MaxConcurrency`, `Seconds`, …).
pub(crate) fn eval_count(field: &Value, location: &str, b: &Bindings) -> Result<u64, FieldError> {
    let v = eval_typed(field, location, "integer", b, |v| {
        v.as_u64().is_some() || v.as_f64().is_some_and(|f| f >= 0.0 && f.fract() == 0.0)
    })?;
    Ok(v.as_u64()
        .unwrap_or_else(|| v.as_f64().map_or(0, |f| f as u64)))
}

/// A number field (`ToleratedFailurePercentage`).
pub(crate) fn eval_number(field: &Value, location: &str, b: &Bindings) -> Result<f64, FieldError> {
    let v = eval_typed(field, location, "number", b, Value::is_number)?;
    Ok(v.as_f64().unwrap_or_default())
}

/// A boolean field (a Choice rule's `Condition`).
pub(crate) fn eval_condition(field: &Value, b: &Bindings) -> Result<bool, FieldError> {
    let v = eval_typed(field, "Condition", "boolean", b, Value::is_boolean)?;
    Ok(v.as_bool().unwrap_or(false))
}

/// A string field (a Fail state's `Error` and `Cause`, a Wait state's `Timestamp`).
pub(crate) fn eval_string(
    field: &Value,
    location: &str,
    b: &Bindings,
) -> Result<String, FieldError> {
    match eval_typed(field, location, "string", b, Value::is_string)? {
        Value::String(s) => Ok(s),
        other => Ok(to_text(&other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn b(input: Value) -> Bindings {
        let ctx = json!({"State": {"Name": "S"}});
        let mut vars = Map::new();
        vars.insert("v".into(), json!(7));
        bindings(&vars, &StatesVar::of_input(&input, &ctx), Utc::now())
    }

    #[test]
    fn only_delimited_strings_are_expressions() {
        assert!(is_expression("{% 1 %}"));
        assert!(is_expression("{%1%}"));
        assert!(!is_expression(" {% 1 %}"));
        assert!(!is_expression("{% 1 %} "));
        assert!(!is_expression("$states.input"));
        assert!(!is_expression("{%}"));
    }

    #[test]
    fn templates_evaluate_nested_expressions_and_keep_literals() {
        let tpl = json!({
            "a": "{% $states.input.x + $v %}",
            "lit": " {% $states.input %} ",
            "path": "$.x",
            "list": [1, "{% $states.context.State.Name %}", {"k.$": "$"}],
            "n": null
        });
        let out = eval_template(&tpl, "Output", &b(json!({"x": 1}))).unwrap();
        assert_eq!(
            out,
            json!({"a": 8, "lit": " {% $states.input %} ", "path": "$.x", "list": [1, "S", {"k.$": "$"}], "n": null})
        );
    }

    #[test]
    fn undefined_values_name_the_field() {
        let err = eval_template(
            &json!({"result": "{% $doesNotExist %}"}),
            "Output",
            &b(json!({})),
        )
        .unwrap_err();
        assert_eq!(err.error, "States.QueryEvaluationError");
        assert_eq!(err.location.as_deref(), Some("Output/result"));
        assert_eq!(
            err.cause,
            "The JSONata expression '$doesNotExist' specified for the field 'Output/result' returned nothing (undefined)."
        );
    }

    #[test]
    fn items_must_be_an_array() {
        let err = eval_items(&json!("{% {'foo': 'bar'} %}"), &b(json!({}))).unwrap_err();
        assert_eq!(
            err.cause,
            "The JSONata expression '{'foo': 'bar'}' specified for the field 'Items' returned an unexpected result type. Expected 'array', but was 'object' for value: {\"foo\":\"bar\"}"
        );
        assert_eq!(
            eval_items(&json!([1, "{% $number('2') %}"]), &b(json!({}))).unwrap(),
            vec![json!(1), json!(2)]
        );
    }

    #[test]
    fn typed_fields() {
        let bb = b(json!({"n": 3, "s": "x"}));
        assert_eq!(eval_count(&json!(5), "MaxConcurrency", &bb).unwrap(), 5);
        assert_eq!(
            eval_count(&json!("{% $states.input.n %}"), "Seconds", &bb).unwrap(),
            3
        );
        assert!(eval_count(&json!("{% $states.input.s %}"), "Seconds", &bb).is_err());
        assert!(eval_count(&json!("{% -1 %}"), "Seconds", &bb).is_err());
        assert!(eval_condition(&json!(true), &bb).unwrap());
        assert!(eval_condition(&json!("{% $states.input.n = 3 %}"), &bb).unwrap());
        assert!(eval_condition(&json!("{% $states.input.n %}"), &bb).is_err());
        assert_eq!(eval_string(&json!("E"), "Error", &bb).unwrap(), "E");
    }

    #[test]
    fn assign_values_are_computed_from_the_old_variables() {
        let out = eval_assign(&json!({"v": 1, "old": "{% $v %}"}), &b(json!({}))).unwrap();
        assert_eq!(Value::Object(out), json!({"v": 1, "old": 7}));
    }
}
