//! Manifest patches (RFC 6901 pointers, `set`/`remove`) and the string tokens of
//! `patches` and `input`.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

use super::manifest::{HarnessConstants, Patch};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PatchError {
    #[error("pointer {0:?} does not start with '/'")]
    BadPointer(String),
    #[error("pointer {pointer:?}: no parent at {at:?}")]
    MissingParent { pointer: String, at: String },
    #[error("pointer {pointer:?}: {reason}")]
    Invalid { pointer: String, reason: String },
    #[error("unknown token {0:?}")]
    UnknownToken(String),
}

/// The reference tokens of a JSON Pointer (`""` is the whole document).
pub fn pointer_tokens(pointer: &str) -> Result<Vec<String>, PatchError> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| PatchError::BadPointer(pointer.to_string()))?;
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

/// Applies `patches` in order.
pub fn apply_patches(doc: &mut Value, patches: &[Patch]) -> Result<(), PatchError> {
    for patch in patches {
        apply_patch(doc, patch)?;
    }
    Ok(())
}

pub fn apply_patch(doc: &mut Value, patch: &Patch) -> Result<(), PatchError> {
    match patch {
        Patch::Set { path, value } => set(doc, path, value.clone()),
        Patch::Remove { path } => remove(doc, path),
    }
}

fn parent_of<'a>(
    doc: &'a mut Value,
    pointer: &str,
    tokens: &[String],
) -> Result<&'a mut Value, PatchError> {
    let mut node = doc;
    for (depth, token) in tokens.iter().enumerate() {
        let at = || format!("/{}", tokens[..=depth].join("/"));
        node = match node {
            Value::Object(map) => map
                .get_mut(token)
                .ok_or_else(|| PatchError::MissingParent {
                    pointer: pointer.to_string(),
                    at: at(),
                })?,
            Value::Array(items) => {
                let index = array_index(pointer, token)?;
                items
                    .get_mut(index)
                    .ok_or_else(|| PatchError::MissingParent {
                        pointer: pointer.to_string(),
                        at: at(),
                    })?
            }
            _ => {
                return Err(PatchError::MissingParent {
                    pointer: pointer.to_string(),
                    at: at(),
                });
            }
        };
    }
    Ok(node)
}

fn array_index(pointer: &str, token: &str) -> Result<usize, PatchError> {
    token.parse::<usize>().map_err(|_| PatchError::Invalid {
        pointer: pointer.to_string(),
        reason: format!("{token:?} is not an array index"),
    })
}

/// Replaces the node at `pointer`, or adds the member / appends the element.
pub fn set(doc: &mut Value, pointer: &str, value: Value) -> Result<(), PatchError> {
    let tokens = pointer_tokens(pointer)?;
    let Some((last, parents)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent_of(doc, pointer, parents)? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            if last == "-" {
                items.push(value);
                return Ok(());
            }
            let index = array_index(pointer, last)?;
            match index.cmp(&items.len()) {
                std::cmp::Ordering::Less => items[index] = value,
                std::cmp::Ordering::Equal => items.push(value),
                std::cmp::Ordering::Greater => {
                    return Err(PatchError::Invalid {
                        pointer: pointer.to_string(),
                        reason: format!("index {index} past the end ({})", items.len()),
                    });
                }
            }
            Ok(())
        }
        _ => Err(PatchError::Invalid {
            pointer: pointer.to_string(),
            reason: "parent is not a container".into(),
        }),
    }
}

/// Removes the node at `pointer`.
pub fn remove(doc: &mut Value, pointer: &str) -> Result<(), PatchError> {
    let tokens = pointer_tokens(pointer)?;
    let Some((last, parents)) = tokens.split_last() else {
        *doc = Value::Null;
        return Ok(());
    };
    let missing = || PatchError::Invalid {
        pointer: pointer.to_string(),
        reason: "nothing to remove".into(),
    };
    match parent_of(doc, pointer, parents)? {
        Value::Object(map) => map.shift_remove(last).map(|_| ()).ok_or_else(missing),
        Value::Array(items) => {
            let index = array_index(pointer, last)?;
            if index < items.len() {
                items.remove(index);
                Ok(())
            } else {
                Err(missing())
            }
        }
        _ => Err(missing()),
    }
}

/// Everything the string tokens may refer to.
pub struct TokenContext<'a> {
    pub constants: &'a HarnessConstants,
    /// The time `${utc_now:…}` is relative to (the start of the case's clock).
    pub now: DateTime<Utc>,
}

/// Replaces the manifest's string tokens everywhere inside `value`.
pub fn substitute_tokens(value: &Value, ctx: &TokenContext<'_>) -> Result<Value, PatchError> {
    Ok(match value {
        Value::String(s) => Value::String(substitute_in_string(s, ctx)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| substitute_tokens(v, ctx))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            if let Some(repeat) = repeat_string(map) {
                return Ok(Value::String(repeat));
            }
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.clone(), substitute_tokens(v, ctx)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// `{"$repeat_string": {"char": "a", "count": N}}`.
fn repeat_string(map: &Map<String, Value>) -> Option<String> {
    if map.len() != 1 {
        return None;
    }
    let spec = map.get("$repeat_string")?;
    let ch = spec.get("char")?.as_str()?;
    let count = usize::try_from(spec.get("count")?.as_u64()?).ok()?;
    Some(ch.repeat(count))
}

fn substitute_in_string(s: &str, ctx: &TokenContext<'_>) -> Result<String, PatchError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        out.push_str(&expand_token(&after[..end], ctx)?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn expand_token(token: &str, ctx: &TokenContext<'_>) -> Result<String, PatchError> {
    let unknown = || PatchError::UnknownToken(token.to_string());
    let (kind, arg) = token.split_once(':').ok_or_else(unknown)?;
    match kind {
        "lambda_arn" => Ok(ctx.constants.lambda_arn(arg)),
        "lambda_name" => Ok(arg.to_string()),
        "utc_now" => {
            let (days, format) = arg.split_once(':').ok_or_else(unknown)?;
            let days: i64 = days.parse().map_err(|_| unknown())?;
            Ok((ctx.now + Duration::days(days)).format(format).to_string())
        }
        _ => Err(unknown()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn constants() -> HarnessConstants {
        HarnessConstants {
            region: "us-east-1".into(),
            account_id: "111111111111".into(),
            partition: "aws".into(),
            lambda_arn_pattern: "arn:aws:lambda:us-east-1:111111111111:function:{function_name}"
                .into(),
            role_arn_placeholder: "snf_role_arn".into(),
        }
    }

    #[test]
    fn set_and_remove() {
        let mut doc = json!({"States": {"a/b": {"X": 1}, "L": [1, 2, 3]}});
        set(&mut doc, "/States/a~1b/X", json!(2)).unwrap();
        set(&mut doc, "/States/a~1b/Y", json!("new")).unwrap();
        set(&mut doc, "/States/L/1", json!(9)).unwrap();
        set(&mut doc, "/States/L/3", json!(4)).unwrap();
        remove(&mut doc, "/States/L/0").unwrap();
        assert_eq!(
            doc,
            json!({"States": {"a/b": {"X": 2, "Y": "new"}, "L": [9, 3, 4]}})
        );
        assert!(set(&mut doc, "/Nope/X", json!(1)).is_err());
        set(&mut doc, "", json!({"whole": true})).unwrap();
        assert_eq!(doc, json!({"whole": true}));
    }

    #[test]
    fn tokens() {
        let consts = constants();
        let now = DateTime::parse_from_rfc3339("2024-03-01T12:34:56Z")
            .unwrap()
            .with_timezone(&Utc);
        let ctx = TokenContext {
            constants: &consts,
            now,
        };
        let v = json!({
            "arn": "${lambda_arn:f1}",
            "name": "no_such_${lambda_name:f2}",
            "at": "${utc_now:1:%Y-%m-%dT%H:%M:%S.000Z}",
            "big": {"$repeat_string": {"char": "a", "count": 3}},
        });
        let out = substitute_tokens(&v, &ctx).unwrap();
        assert_eq!(
            out,
            json!({
                "arn": "arn:aws:lambda:us-east-1:111111111111:function:f1",
                "name": "no_such_f2",
                "at": "2024-03-02T12:34:56.000Z",
                "big": "aaa",
            })
        );
        assert!(substitute_tokens(&json!("${what:x}"), &ctx).is_err());
    }
}
