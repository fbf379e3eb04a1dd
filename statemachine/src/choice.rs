//! Choice rules (JSONPath form): comparisons, `*Path` variants, `Is*` tests, And/Or/Not.

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::path::PathError;
use crate::payload::{Scope, StateError, resolve};

/// Evaluates one (top-level or nested) choice rule.
pub fn evaluate_rule(rule: &Value, input: &Value, scope: &Scope<'_>) -> Result<bool, StateError> {
    let Some(r) = rule.as_object() else {
        return Err(StateError::runtime("a choice rule must be an object"));
    };
    if let Some(list) = r.get("And").and_then(Value::as_array) {
        for inner in list {
            if !evaluate_rule(inner, input, scope)? {
                return Ok(false);
            }
        }
        return Ok(true);
    }
    if let Some(list) = r.get("Or").and_then(Value::as_array) {
        for inner in list {
            if evaluate_rule(inner, input, scope)? {
                return Ok(true);
            }
        }
        return Ok(false);
    }
    if let Some(inner) = r.get("Not") {
        return Ok(!evaluate_rule(inner, input, scope)?);
    }
    let var_path = r.get("Variable").and_then(Value::as_str).unwrap_or("$");
    let Some((op, operand)) = r
        .iter()
        .find(|(k, _)| !matches!(k.as_str(), "Variable" | "Next" | "Comment" | "Assign"))
    else {
        return Err(StateError::runtime(
            "a choice rule has no comparison operator",
        ));
    };
    let variable = match resolve(var_path, input, scope) {
        Ok(v) => Some(v),
        Err(PathError::NotFound(_)) => None,
        Err(e) => return Err(StateError::runtime(e.to_string())),
    };
    if op == "IsPresent" {
        return Ok(variable.is_some() == operand.as_bool().unwrap_or(true));
    }
    let Some(variable) = variable else {
        return Err(StateError::runtime(format!(
            "Invalid path '{var_path}': The choice state's condition path references an invalid value."
        )));
    };
    let (name, operand) = match op.strip_suffix("Path") {
        Some(base) if !base.starts_with("Is") => {
            let p = operand.as_str().unwrap_or("$");
            let v = resolve(p, input, scope).map_err(|_| {
                StateError::runtime(format!(
                    "Invalid path '{p}': The choice state's condition path references an invalid value."
                ))
            })?;
            (base, v)
        }
        _ => (op.as_str(), operand.clone()),
    };
    Ok(compare(name, &variable, &operand))
}

/// Applies a comparison operator. Type mismatches compare false.
pub fn compare(op: &str, v: &Value, operand: &Value) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let want = |b: bool| operand.as_bool() == Some(b);
    match op {
        "IsNull" => want(v.is_null()),
        "IsNumeric" => want(v.is_number()),
        "IsString" => want(v.is_string()),
        "IsBoolean" => want(v.is_boolean()),
        "IsTimestamp" => want(v.as_str().and_then(parse_timestamp).is_some()),
        "BooleanEquals" => matches!((v, operand), (Value::Bool(a), Value::Bool(b)) if a == b),
        "StringMatches" => match (v, operand) {
            (Value::String(s), Value::String(p)) => string_matches(s, p),
            _ => false,
        },
        _ => {
            let ord = if let Some(kind) = op.strip_prefix("String") {
                match (v, operand) {
                    (Value::String(a), Value::String(b)) => Some((kind, a.cmp(b))),
                    _ => None,
                }
            } else if let Some(kind) = op.strip_prefix("Numeric") {
                match (v.as_f64(), operand.as_f64()) {
                    (Some(a), Some(b)) if v.is_number() && operand.is_number() => {
                        a.partial_cmp(&b).map(|o| (kind, o))
                    }
                    _ => None,
                }
            } else if let Some(kind) = op.strip_prefix("Timestamp") {
                match (
                    v.as_str().and_then(parse_timestamp),
                    operand.as_str().and_then(parse_timestamp),
                ) {
                    (Some(a), Some(b)) => Some((kind, a.cmp(&b))),
                    _ => None,
                }
            } else {
                None
            };
            match ord {
                Some(("Equals", o)) => o == Equal,
                Some(("LessThan", o)) => o == Less,
                Some(("GreaterThan", o)) => o == Greater,
                Some(("LessThanEquals", o)) => o != Greater,
                Some(("GreaterThanEquals", o)) => o != Less,
                _ => false,
            }
        }
    }
}

/// An RFC 3339 timestamp with a `T` and a zone (as Step Functions requires).
pub fn parse_timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    if !s.contains('T') {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

/// `StringMatches`: `*` matches any run of characters, `\*` a literal star, `\\` a backslash.
pub fn string_matches(s: &str, pattern: &str) -> bool {
    enum Tok {
        Lit(char),
        Star,
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => toks.push(Tok::Lit(n)),
                None => toks.push(Tok::Lit('\\')),
            },
            '*' => toks.push(Tok::Star),
            other => toks.push(Tok::Lit(other)),
        }
    }
    let text: Vec<char> = s.chars().collect();
    // Classic wildcard matching with backtracking on the last star.
    let (mut ti, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < text.len() {
        match toks.get(pi) {
            Some(Tok::Lit(c)) if *c == text[ti] => {
                ti += 1;
                pi += 1;
            }
            Some(Tok::Star) => {
                star = Some((pi, ti));
                pi += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    while matches!(toks.get(pi), Some(Tok::Star)) {
        pi += 1;
    }
    pi == toks.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    fn eval(rule: Value, input: Value) -> Result<bool, StateError> {
        let ctx = json!({});
        let vars = Map::new();
        evaluate_rule(
            &rule,
            &input,
            &Scope {
                context: &ctx,
                vars: &vars,
            },
        )
    }

    #[test]
    fn numeric_and_string_comparisons() {
        assert!(
            eval(
                json!({"Variable": "$.n", "NumericEquals": 1.0}),
                json!({"n": 1})
            )
            .unwrap()
        );
        assert!(
            !eval(
                json!({"Variable": "$.n", "NumericEquals": 1}),
                json!({"n": "1"})
            )
            .unwrap()
        );
        assert!(
            eval(
                json!({"Variable": "$.n", "NumericLessThanEquals": 2}),
                json!({"n": 2})
            )
            .unwrap()
        );
        assert!(
            eval(
                json!({"Variable": "$.s", "StringGreaterThan": "a"}),
                json!({"s": "b"})
            )
            .unwrap()
        );
        assert!(
            eval(
                json!({"Variable": "$.s", "StringEqualsPath": "$.t"}),
                json!({"s": "x", "t": "x"})
            )
            .unwrap()
        );
    }

    #[test]
    fn timestamps_and_type_tests() {
        let i = json!({"t": "2012-10-09T19:00:55Z", "u": "2012-10-09T19:00:56Z", "bad": "2012-10-09 19:00:55"});
        assert!(
            eval(
                json!({"Variable": "$.t", "TimestampLessThanPath": "$.u"}),
                i.clone()
            )
            .unwrap()
        );
        assert!(
            !eval(
                json!({"Variable": "$.bad", "TimestampEquals": "2012-10-09T19:00:55Z"}),
                i.clone()
            )
            .unwrap()
        );
        assert!(eval(json!({"Variable": "$.t", "IsTimestamp": true}), i.clone()).unwrap());
        assert!(eval(json!({"Variable": "$.nope", "IsPresent": false}), i.clone()).unwrap());
        assert!(eval(json!({"Variable": "$.t", "IsString": true}), i).unwrap());
        assert!(
            eval(
                json!({"Variable": "$.v", "IsPresent": true}),
                json!({"v": null})
            )
            .unwrap()
        );
    }

    #[test]
    fn combinators() {
        let i = json!({"a": 1, "b": "x"});
        assert!(eval(json!({"And": [{"Variable": "$.a", "NumericEquals": 1}, {"Variable": "$.b", "StringEquals": "x"}]}), i.clone()).unwrap());
        assert!(eval(json!({"Or": [{"Variable": "$.a", "NumericEquals": 2}, {"Not": {"Variable": "$.b", "StringEquals": "y"}}]}), i).unwrap());
    }

    #[test]
    fn missing_variable_is_a_runtime_error() {
        let e = eval(json!({"Variable": "$.x", "NumericEquals": 1}), json!({})).unwrap_err();
        assert_eq!(e.error, "States.Runtime");
    }

    #[test]
    fn wildcard_matching() {
        assert!(string_matches("log-2024.txt", "log-*.txt"));
        assert!(string_matches("a*b", "a\\*b"));
        assert!(!string_matches("axb", "a\\*b"));
        assert!(string_matches("", "*"));
        assert!(!string_matches("abc", "*d"));
    }
}
