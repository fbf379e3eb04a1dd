//! Deep JSON equality with the differences located by JSON Pointer.
//!
//! Numbers of different JSON types differ (`1` vs `1.0`), as with Python's `json`; member
//! order does not matter.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// RFC 6901 pointer of the differing node.
    pub pointer: String,
    /// The expected node, `None` if the actual side has an extra node here.
    pub expected: Option<Value>,
    /// The actual node, `None` if it is missing.
    pub actual: Option<Value>,
}

impl Difference {
    /// `pointer: expected X, actual Y`, each value cut to `width` characters.
    pub fn describe(&self, width: usize) -> String {
        let show = |v: &Option<Value>| match v {
            Some(v) => truncate(&serde_json::to_string(v).unwrap_or_default(), width),
            None => "(missing)".to_string(),
        };
        let pointer = if self.pointer.is_empty() {
            "(root)"
        } else {
            &self.pointer
        };
        format!(
            "{pointer}: expected {}, actual {}",
            show(&self.expected),
            show(&self.actual)
        )
    }
}

pub fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let cut: String = text.chars().take(width).collect();
    format!("{cut}…")
}

/// Whether two values are equal in the comparison's sense.
pub fn json_equal(a: &Value, b: &Value) -> bool {
    differences(a, b, 1).is_empty()
}

/// Up to `limit` differences, in document order of the expected side.
pub fn differences(expected: &Value, actual: &Value, limit: usize) -> Vec<Difference> {
    let mut out = Vec::new();
    diff_into(expected, actual, &mut String::new(), &mut out, limit);
    out
}

fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn same_number(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    if a.is_f64() != b.is_f64() {
        return false;
    }
    if a.is_f64() {
        return a.as_f64() == b.as_f64();
    }
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x == y,
        _ => a.as_u64() == b.as_u64() && a.as_u64().is_some(),
    }
}

fn diff_into(
    expected: &Value,
    actual: &Value,
    pointer: &mut String,
    out: &mut Vec<Difference>,
    limit: usize,
) {
    if out.len() >= limit {
        return;
    }
    let differ = |out: &mut Vec<Difference>, pointer: &str| {
        out.push(Difference {
            pointer: pointer.to_string(),
            expected: Some(expected.clone()),
            actual: Some(actual.clone()),
        });
    };
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape_token(k));
                match a.get(k) {
                    Some(av) => diff_into(ev, av, pointer, out, limit),
                    None if out.len() < limit => out.push(Difference {
                        pointer: pointer.clone(),
                        expected: Some(ev.clone()),
                        actual: None,
                    }),
                    None => {}
                }
                pointer.truncate(len);
            }
            for (k, av) in a {
                if !e.contains_key(k) && out.len() < limit {
                    out.push(Difference {
                        pointer: format!("{pointer}/{}", escape_token(k)),
                        expected: None,
                        actual: Some(av.clone()),
                    });
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            for i in 0..e.len().max(a.len()) {
                let len = pointer.len();
                pointer.push_str(&format!("/{i}"));
                match (e.get(i), a.get(i)) {
                    (Some(ev), Some(av)) => diff_into(ev, av, pointer, out, limit),
                    (ev, av) if out.len() < limit => out.push(Difference {
                        pointer: pointer.clone(),
                        expected: ev.cloned(),
                        actual: av.cloned(),
                    }),
                    _ => {}
                }
                pointer.truncate(len);
            }
        }
        (Value::Number(e), Value::Number(a)) => {
            if !same_number(e, a) {
                differ(out, pointer);
            }
        }
        (e, a) => {
            if e != a {
                differ(out, pointer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_ignores_member_order() {
        assert!(json_equal(
            &json!({"a": 1, "b": [1, {"c": null}]}),
            &json!({"b": [1, {"c": null}], "a": 1})
        ));
    }

    #[test]
    fn number_types_differ() {
        let d = differences(&json!({"n": 1}), &json!({"n": 1.0}), 10);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].pointer, "/n");
        assert!(json_equal(&json!(-3), &json!(-3)));
        assert!(!json_equal(&json!(2.5), &json!(2.0)));
    }

    #[test]
    fn reports_pointers() {
        let expected = json!({"events": [{"id": 1, "type": "A"}, {"id": 2, "a/b": "x"}]});
        let actual = json!({"events": [{"id": 1, "type": "B", "extra": true}]});
        let d = differences(&expected, &actual, 10);
        let pointers: Vec<&str> = d.iter().map(|d| d.pointer.as_str()).collect();
        assert_eq!(pointers, ["/events/0/type", "/events/0/extra", "/events/1"]);
        assert_eq!(
            d[0].describe(40),
            "/events/0/type: expected \"A\", actual \"B\""
        );
        assert_eq!(
            d[2].describe(5),
            "/events/1: expected {\"id\"…, actual (missing)"
        );
        assert_eq!(differences(&expected, &actual, 1).len(), 1);
    }
}
