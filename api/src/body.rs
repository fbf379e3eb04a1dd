//! JSON request bodies, checked against their schema before serde sees them.
//!
//! serde's derived `Deserialize` for a struct also accepts a JSON *array* (its fields in order),
//! so `["s3://…"]` would pass as `{"s3_uri": "s3://…"}`, and its error messages name a line and
//! column, not the field. Each body type therefore declares its fields ([`BodySchema`]); the
//! body is parsed as JSON, must be an object, and every member is checked for name, presence and
//! JSON type, as an API Gateway request model (JSON Schema draft 4 with
//! `additionalProperties: false`) would. Only then is it deserialised into its type.
//!
//! Unknown fields are refused, not ignored: a client that misspells `s3_uri` as `s3_url` learns
//! it at once instead of seeing a confusing "s3_uri is required", and a field that a later
//! version adds cannot silently mean nothing to an older server. The OpenAPI schema says
//! `additionalProperties: false` (a test keeps the two in step).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The error code of every malformed body; the message names the field.
pub const INVALID_BODY: &str = "InvalidBody";

/// The JSON type a field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonType {
    String,
}

impl JsonType {
    fn matches(self, value: &Value) -> bool {
        match self {
            JsonType::String => value.is_string(),
        }
    }

    fn described(self) -> &'static str {
        match self {
            JsonType::String => "a string",
        }
    }

    /// The name JSON Schema (and the OpenAPI document) uses.
    pub fn schema_name(self) -> &'static str {
        match self {
            JsonType::String => "string",
        }
    }
}

/// One member of a body object.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub json_type: JsonType,
    pub required: bool,
}

/// A request body type and its fields.
pub trait BodySchema: DeserializeOwned {
    /// What the body is, for messages ("the /process body").
    const WHAT: &'static str;
    const FIELDS: &'static [Field];
}

fn invalid(message: String) -> ApiError {
    ApiError::bad_request(INVALID_BODY, message)
}

/// The JSON type of `value` as a client would name it.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn field_list<T: BodySchema>() -> String {
    T::FIELDS
        .iter()
        .map(|f| f.name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_members<T: BodySchema>(object: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(unknown) = object
        .keys()
        .find(|k| !T::FIELDS.iter().any(|f| f.name == k.as_str()))
    {
        return Err(invalid(format!(
            "{}: unknown field `{unknown}` (the fields are: {})",
            T::WHAT,
            field_list::<T>()
        )));
    }
    for field in T::FIELDS {
        match object.get(field.name) {
            None if field.required => {
                return Err(invalid(format!(
                    "{}: the field `{}` is required",
                    T::WHAT,
                    field.name
                )));
            }
            None => {}
            Some(value) if !field.json_type.matches(value) => {
                return Err(invalid(format!(
                    "{}: the field `{}` must be {}, not {}",
                    T::WHAT,
                    field.name,
                    field.json_type.described(),
                    type_name(value)
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Checks `value` against `T`'s schema, then deserialises it.
pub fn from_value<T: BodySchema>(value: Value) -> Result<T, ApiError> {
    let Value::Object(object) = &value else {
        return Err(invalid(format!(
            "{} must be a JSON object, not {}",
            T::WHAT,
            type_name(&value)
        )));
    };
    check_members::<T>(object)?;
    serde_json::from_value(value).map_err(|e| invalid(format!("{}: {e}", T::WHAT)))
}

/// What a route gets from axum's `Json<Value>` extractor, as a typed body or a 400.
pub fn parse<T: BodySchema>(body: Result<Json<Value>, JsonRejection>) -> Result<T, ApiError> {
    let Json(value) = body.map_err(|e| {
        invalid(format!(
            "{} must be JSON sent as application/json: {}",
            T::WHAT,
            e.body_text()
        ))
    })?;
    from_value(value)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Body {
        s3_uri: String,
        #[serde(default)]
        note: Option<String>,
    }

    impl BodySchema for Body {
        const WHAT: &'static str = "the test body";
        const FIELDS: &'static [Field] = &[
            Field {
                name: "s3_uri",
                json_type: JsonType::String,
                required: true,
            },
            Field {
                name: "note",
                json_type: JsonType::String,
                required: false,
            },
        ];
    }

    fn message(value: Value) -> String {
        let err = from_value::<Body>(value).unwrap_err();
        assert_eq!(err.code, INVALID_BODY);
        err.message
    }

    #[test]
    fn a_valid_object_deserialises() {
        let body: Body = from_value(json!({"s3_uri": "s3://b/k"})).unwrap();
        assert_eq!(body.s3_uri, "s3://b/k");
        assert_eq!(body.note, None);
    }

    #[test]
    fn other_top_level_types_are_refused_by_name() {
        // serde alone would take the array as the struct's fields in order.
        assert!(message(json!(["s3://b/k"])).contains("not an array"));
        assert!(message(json!("s3://b/k")).contains("not a string"));
        assert!(message(json!(null)).contains("not null"));
        assert!(message(json!(3)).contains("not a number"));
    }

    #[test]
    fn each_member_error_names_its_field() {
        assert!(message(json!({})).contains("`s3_uri` is required"));
        assert!(message(json!({"s3_uri": null})).contains("`s3_uri` must be a string, not null"));
        assert!(message(json!({"s3_uri": 5})).contains("`s3_uri` must be a string, not a number"));
        assert!(message(json!({"s3_uri": "x", "note": []})).contains("`note`"));
        let unknown = message(json!({"s3_uri": "x", "s3_url": "y"}));
        assert!(unknown.contains("unknown field `s3_url`"), "{unknown}");
        assert!(unknown.contains("s3_uri, note"), "{unknown}");
    }
}
