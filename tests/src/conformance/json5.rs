//! Loading the templates' JSON5.
//!
//! The templates use only two JSON5 extensions over JSON: comments and trailing commas.
//! Stripping those and handing the text to `serde_json` keeps every number exactly as
//! written (`1` stays an integer, `1.0` a float), which a general JSON5 parser that reads
//! every number as `f64` would not; the comparison is type-sensitive, so this matters.
//! Anything else JSON5 allows (single quotes, unquoted keys, hex) is reported as an error.

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum Json5Error {
    #[error("unterminated block comment")]
    UnterminatedComment,
    #[error("unterminated string")]
    UnterminatedString,
    #[error("not JSON after removing comments and trailing commas: {0}")]
    Json(#[from] serde_json::Error),
}

/// Parses the JSON5 subset used by the templates.
pub fn parse(text: &str) -> Result<Value, Json5Error> {
    let without_comments = strip_comments(text)?;
    let plain = strip_trailing_commas(&without_comments);
    Ok(serde_json::from_str(&plain)?)
}

fn strip_comments(text: &str) -> Result<String, Json5Error> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            let end = string_end(&chars, i)?;
            out.extend(&chars[i..=end]);
            i = end + 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            let mut j = i + 2;
            loop {
                if j + 1 >= chars.len() {
                    return Err(Json5Error::UnterminatedComment);
                }
                if chars[j] == '*' && chars[j + 1] == '/' {
                    break;
                }
                j += 1;
            }
            // A comment separates tokens, like whitespace.
            out.push(' ');
            i = j + 2;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Ok(out)
}

/// Index of the closing quote of the string opening at `start`.
fn string_end(chars: &[char], start: usize) -> Result<usize, Json5Error> {
    let mut j = start + 1;
    while j < chars.len() {
        match chars[j] {
            '\\' => j += 2,
            '"' => return Ok(j),
            _ => j += 1,
        }
    }
    Err(Json5Error::UnterminatedString)
}

fn strip_trailing_commas(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            // Comments are gone, so strings are well formed here; fall back to copying.
            let end = string_end(&chars, i).unwrap_or(chars.len() - 1);
            out.extend(&chars[i..=end]);
            i = end + 1;
            continue;
        }
        if c == ',' {
            let next = chars[i + 1..].iter().find(|ch| !ch.is_whitespace());
            if matches!(next, Some('}') | Some(']')) {
                i += 1;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comments_and_trailing_commas() {
        let text = r#"{
            // a comment with "quotes" and a , before }
            "a": [1, 2.0, "x // not a comment", "y /* nor */",], /* block
            comment */ "b": {"c": "\"quoted\"",},
        }"#;
        let v = parse(text).unwrap();
        assert_eq!(
            v,
            json!({"a": [1, 2.0, "x // not a comment", "y /* nor */"], "b": {"c": "\"quoted\""}})
        );
        assert!(v["a"][0].is_u64());
        assert!(v["a"][1].is_f64());
    }

    #[test]
    fn rejects_other_json5() {
        assert!(parse("{a: 1}").is_err());
        assert!(parse("{\"a\": 1 /* open").is_err());
    }

    #[test]
    fn keeps_member_order() {
        let v = parse(r#"{"z": 1, "a": 2,}"#).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["z", "a"]);
    }
}
