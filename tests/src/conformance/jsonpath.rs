//! A small JSONPath matcher for the expressions the manifest uses in `skip_paths` and
//! `jsonpath_replace` (`$..a`, `$..a.b`, `$..events[4].previousEventId`, `$..a..b.c`, `*`),
//! with the semantics of Python's `jsonpath-ng` that LocalStack used: `..x` matches `x` in the
//! current node and in every node below it, including inside arrays; `.x` on an array matches
//! nothing.

use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("bad JSONPath {expr:?}: {reason}")]
pub struct JsonPathError {
    pub expr: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Selector {
    Name(String),
    Index(usize),
    Wildcard,
}

#[derive(Debug, Clone, PartialEq)]
struct Segment {
    descendant: bool,
    selector: Selector,
}

/// One step of a location inside a document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Key(String),
    Index(usize),
}

pub type Location = Vec<Step>;

#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    expr: String,
    segments: Vec<Segment>,
}

impl JsonPath {
    pub fn parse(expr: &str) -> Result<JsonPath, JsonPathError> {
        let err = |reason: &str| JsonPathError {
            expr: expr.to_string(),
            reason: reason.to_string(),
        };
        let chars: Vec<char> = expr.chars().collect();
        if chars.first() != Some(&'$') {
            return Err(err("must start with '$'"));
        }
        let mut segments = Vec::new();
        let mut i = 1;
        while i < chars.len() {
            let descendant = chars[i] == '.' && chars.get(i + 1) == Some(&'.');
            if descendant {
                i += 2;
            } else if chars[i] == '.' {
                i += 1;
            }
            let selector = if chars.get(i) == Some(&'[') {
                let close = chars[i..]
                    .iter()
                    .position(|c| *c == ']')
                    .ok_or_else(|| err("unclosed '['"))?
                    + i;
                let inner: String = chars[i + 1..close].iter().collect();
                i = close + 1;
                bracket_selector(inner.trim()).ok_or_else(|| err("unsupported bracket"))?
            } else {
                let start = i;
                while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                    i += 1;
                }
                let name: String = chars[start..i].iter().collect();
                if name.is_empty() {
                    return Err(err("empty member name"));
                }
                if name == "*" {
                    Selector::Wildcard
                } else {
                    Selector::Name(name)
                }
            };
            segments.push(Segment {
                descendant,
                selector,
            });
        }
        Ok(JsonPath {
            expr: expr.to_string(),
            segments,
        })
    }

    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// Every location the path matches, in document order (pre-order).
    pub fn find(&self, root: &Value) -> Vec<Location> {
        let mut current: Vec<Location> = vec![Vec::new()];
        for segment in &self.segments {
            let mut next = Vec::new();
            for loc in &current {
                let Some(node) = get(root, loc) else { continue };
                if segment.descendant {
                    descend(node, loc.clone(), &segment.selector, &mut next);
                } else {
                    select(node, loc, &segment.selector, &mut next);
                }
            }
            dedup_keep_order(&mut next);
            current = next;
        }
        current
    }
}

fn bracket_selector(inner: &str) -> Option<Selector> {
    if inner == "*" {
        return Some(Selector::Wildcard);
    }
    if let Ok(index) = inner.parse::<usize>() {
        return Some(Selector::Index(index));
    }
    let quoted = inner
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))?;
    Some(Selector::Name(quoted.to_string()))
}

fn select(node: &Value, loc: &Location, selector: &Selector, out: &mut Vec<Location>) {
    let child = |step: Step| {
        let mut l = loc.clone();
        l.push(step);
        l
    };
    match (selector, node) {
        (Selector::Name(name), Value::Object(map)) if map.contains_key(name) => {
            out.push(child(Step::Key(name.clone())));
        }
        (Selector::Index(index), Value::Array(items)) if *index < items.len() => {
            out.push(child(Step::Index(*index)));
        }
        (Selector::Wildcard, Value::Object(map)) => {
            out.extend(map.keys().map(|k| child(Step::Key(k.clone()))));
        }
        (Selector::Wildcard, Value::Array(items)) => {
            out.extend((0..items.len()).map(|i| child(Step::Index(i))));
        }
        _ => {}
    }
}

fn descend(node: &Value, loc: Location, selector: &Selector, out: &mut Vec<Location>) {
    select(node, &loc, selector, out);
    match node {
        Value::Object(map) => {
            for (k, v) in map {
                let mut l = loc.clone();
                l.push(Step::Key(k.clone()));
                descend(v, l, selector, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let mut l = loc.clone();
                l.push(Step::Index(i));
                descend(v, l, selector, out);
            }
        }
        _ => {}
    }
}

fn dedup_keep_order(locations: &mut Vec<Location>) {
    let mut seen = std::collections::BTreeSet::new();
    locations.retain(|l| seen.insert(l.clone()));
}

pub fn get<'a>(root: &'a Value, loc: &[Step]) -> Option<&'a Value> {
    let mut node = root;
    for step in loc {
        node = match (step, node) {
            (Step::Key(k), Value::Object(map)) => map.get(k)?,
            (Step::Index(i), Value::Array(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(node)
}

pub fn get_mut<'a>(root: &'a mut Value, loc: &[Step]) -> Option<&'a mut Value> {
    let mut node = root;
    for step in loc {
        node = match (step, node) {
            (Step::Key(k), Value::Object(map)) => map.get_mut(k)?,
            (Step::Index(i), Value::Array(items)) => items.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(node)
}

/// Removes every node the path matches.
pub fn remove_matches(root: &mut Value, path: &JsonPath) {
    let mut locations = path.find(root);
    // Deepest and last first, so removing one node never moves another that is still to go.
    locations.sort();
    locations.reverse();
    for loc in locations {
        let Some((last, parent)) = loc.split_last() else {
            *root = Value::Null;
            continue;
        };
        match (last, get_mut(root, parent)) {
            (Step::Key(k), Some(Value::Object(map))) => {
                map.shift_remove(k);
            }
            (Step::Index(i), Some(Value::Array(items))) if *i < items.len() => {
                items.remove(*i);
            }
            _ => {}
        }
    }
}

/// Replaces every node the path matches with `replacement`.
pub fn replace_matches(root: &mut Value, path: &JsonPath, replacement: &Value) {
    for loc in path.find(root) {
        if let Some(node) = get_mut(root, &loc) {
            *node = replacement.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "events": [
                {"id": 1, "previousEventId": 0, "d": {"input": {"Cause": "x", "events": [7]}}},
                {"id": 2, "previousEventId": 1},
                {"id": 3, "previousEventId": 2, "d": {"Cause": "y"}},
            ],
            "Cause": "top"
        })
    }

    #[test]
    fn descendant_names() {
        let p = JsonPath::parse("$..Cause").unwrap();
        let found: Vec<Value> = p
            .find(&doc())
            .iter()
            .map(|l| get(&doc(), l).unwrap().clone())
            .collect();
        assert_eq!(found, vec![json!("top"), json!("x"), json!("y")]);
    }

    #[test]
    fn index_then_member() {
        let mut d = doc();
        remove_matches(
            &mut d,
            &JsonPath::parse("$..events[1].previousEventId").unwrap(),
        );
        assert_eq!(d["events"][1], json!({"id": 2}));
        assert_eq!(d["events"][0]["previousEventId"], json!(0));
    }

    #[test]
    fn nested_descendants() {
        let mut d = doc();
        replace_matches(
            &mut d,
            &JsonPath::parse("$..events..d.input").unwrap(),
            &json!("gone"),
        );
        assert_eq!(d["events"][0]["d"]["input"], json!("gone"));
        remove_matches(&mut d, &JsonPath::parse("$..events").unwrap());
        assert_eq!(d, json!({"Cause": "top"}));
    }

    #[test]
    fn wildcard_and_brackets() {
        let d = json!({"a": {"x-amzn-RequestId": 1, "b": [1, 2]}});
        assert_eq!(
            JsonPath::parse("$..x-amzn-RequestId")
                .unwrap()
                .find(&d)
                .len(),
            1
        );
        assert_eq!(JsonPath::parse("$.a.*").unwrap().find(&d).len(), 2);
        assert_eq!(JsonPath::parse("$['a']['b'][1]").unwrap().find(&d).len(), 1);
        assert!(JsonPath::parse("a.b").is_err());
    }
}
