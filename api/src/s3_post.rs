//! S3's rules for a browser-based POST upload, as AWS documents them ("Creating a POST policy",
//! "POST Object"), applied to a received form: the local endpoint (`petavatar serve`) answers
//! exactly what S3 would, so a client that works locally works on AWS.
//!
//! What is checked, in S3's order: the `policy` field is Base64 JSON with an `expiration` and
//! `conditions`; the policy has not expired; every condition holds (`{"field": "value"}` and
//! `["eq", "$field", "value"]` exact, `["starts-with", "$field", "prefix"]`,
//! `["content-length-range", min, max]` on the file); and every form field is named by a
//! condition except `file`, `policy`, `x-amz-signature` and `x-ignore-*`. Field names compare
//! case-insensitively, values exactly. The signature itself is the caller's to check (AWS
//! Signature V4 on AWS, an HMAC locally) before calling [`evaluate`].
//!
//! On success, `success_action_status` picks the answer: 200 or 201 (with S3's `PostResponse`
//! XML) or, for any other value or none, 204.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Fields S3 never asks a condition for.
fn exempt(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    matches!(lower.as_str(), "file" | "policy" | "x-amz-signature")
        || lower.starts_with("x-ignore-")
}

/// A refusal, with the HTTP status, S3's error code and S3's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Invalid Policy: Invalid JSON.")]
    InvalidPolicyDocument,
    #[error("Invalid according to Policy: Policy expired.")]
    Expired,
    #[error("Invalid according to Policy: Policy Condition failed: {0}")]
    ConditionFailed(String),
    #[error("Invalid according to Policy: Extra input fields: {0}")]
    ExtraField(String),
    #[error("Your proposed upload exceeds the maximum allowed size")]
    EntityTooLarge { size: u64, max: u64 },
    #[error("Your proposed upload is smaller than the minimum allowed size")]
    EntityTooSmall { size: u64, min: u64 },
    #[error("The request signature we calculated does not match the signature you provided.")]
    SignatureDoesNotMatch,
    #[error(
        "Bucket POST must contain a field named '{0}'.  If it is specified, please check the order of the fields."
    )]
    MissingField(&'static str),
}

impl Refusal {
    /// S3's `<Code>`.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::InvalidPolicyDocument => "InvalidPolicyDocument",
            Refusal::Expired | Refusal::ConditionFailed(_) | Refusal::ExtraField(_) => {
                "AccessDenied"
            }
            Refusal::EntityTooLarge { .. } => "EntityTooLarge",
            Refusal::EntityTooSmall { .. } => "EntityTooSmall",
            Refusal::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Refusal::MissingField(_) => "InvalidArgument",
        }
    }

    /// S3's HTTP status for it.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Expired
            | Refusal::ConditionFailed(_)
            | Refusal::ExtraField(_)
            | Refusal::SignatureDoesNotMatch => 403,
            _ => 400,
        }
    }

    /// S3's error document.
    pub fn to_xml(&self, request_id: &str) -> String {
        error_xml(self.code(), &self.to_string(), request_id)
    }
}

/// A form that passed: what S3 answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// 200, 201 or 204.
    pub status: u16,
    /// The bucket and key the object is stored under.
    pub bucket: String,
    pub key: String,
    /// The policy's `content-length-range`, if it has one.
    pub length_range: Option<(u64, u64)>,
}

impl Accepted {
    /// The file's size against the policy's `content-length-range`.
    pub fn check_size(&self, size: u64) -> Result<(), Refusal> {
        let Some((min, max)) = self.length_range else {
            return Ok(());
        };
        if size > max {
            return Err(Refusal::EntityTooLarge { size, max });
        }
        if size < min {
            return Err(Refusal::EntityTooSmall { size, min });
        }
        Ok(())
    }

    /// The body S3 sends: `PostResponse` XML for 201, nothing otherwise.
    pub fn body(&self, location: &str, etag: &str) -> String {
        if self.status != 201 {
            return String::new();
        }
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse><Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>\"{}\"</ETag></PostResponse>",
            xml_escape(location),
            xml_escape(&self.bucket),
            xml_escape(&self.key),
            xml_escape(etag)
        )
    }
}

/// Evaluates a POST to `bucket` whose fields before the file were `fields` (in form order,
/// names as sent) and whose file is `file_size` bytes, at `now`.
pub fn evaluate(
    bucket: &str,
    fields: &[(String, String)],
    file_size: u64,
    now: DateTime<Utc>,
) -> Result<Accepted, Refusal> {
    let accepted = check_form(bucket, fields, now)?;
    accepted.check_size(file_size)?;
    Ok(accepted)
}

/// Everything but the file's size (which a server learns only while the file streams in:
/// [`Accepted::check_size`] then, with [`Accepted::length_range`] as the cap meanwhile).
pub fn check_form(
    bucket: &str,
    fields: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<Accepted, Refusal> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let key = field("key").ok_or(Refusal::MissingField("key"))?;
    let encoded = field("policy").ok_or(Refusal::MissingField("policy"))?;
    let policy = decode_policy(encoded)?;
    let expiration = policy
        .get("expiration")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .ok_or(Refusal::InvalidPolicyDocument)?;
    if now >= expiration {
        return Err(Refusal::Expired);
    }
    let conditions = policy
        .get("conditions")
        .and_then(Value::as_array)
        .ok_or(Refusal::InvalidPolicyDocument)?;
    let value_of = |name: &str| -> Option<&str> {
        if name.eq_ignore_ascii_case("bucket") {
            Some(bucket)
        } else {
            field(name)
        }
    };
    let mut covered: Vec<String> = Vec::new();
    let mut length_range = None;
    for condition in conditions {
        match check_condition(condition, &value_of)? {
            Covers::Field(name) => covered.push(name),
            Covers::Length(min, max) => length_range = Some((min, max)),
        }
    }
    if let Some((extra, _)) = fields
        .iter()
        .find(|(name, _)| !exempt(name) && !covered.iter().any(|c| c.eq_ignore_ascii_case(name)))
    {
        return Err(Refusal::ExtraField(extra.to_ascii_lowercase()));
    }
    let status = match field("success_action_status") {
        Some("200") => 200,
        Some("201") => 201,
        _ => 204,
    };
    Ok(Accepted {
        status,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        length_range,
    })
}

fn decode_policy(encoded: &str) -> Result<Value, Refusal> {
    let bytes = BASE64
        .decode(encoded.trim())
        .map_err(|_| Refusal::InvalidPolicyDocument)?;
    let policy: Value =
        serde_json::from_slice(&bytes).map_err(|_| Refusal::InvalidPolicyDocument)?;
    if !policy.is_object() {
        return Err(Refusal::InvalidPolicyDocument);
    }
    Ok(policy)
}

/// What a condition that holds stands for.
enum Covers {
    /// A form field it names.
    Field(String),
    /// `content-length-range`: the file's bounds, checked once its size is known.
    Length(u64, u64),
}

/// Checks one condition against the form's fields.
fn check_condition<'a>(
    condition: &Value,
    value_of: &impl Fn(&str) -> Option<&'a str>,
) -> Result<Covers, Refusal> {
    let failed = || Refusal::ConditionFailed(condition_text(condition));
    match condition {
        Value::Object(map) if map.len() == 1 => {
            let Some((name, Value::String(expected))) = map.iter().next() else {
                return Err(Refusal::InvalidPolicyDocument);
            };
            if value_of(name) != Some(expected.as_str()) {
                return Err(failed());
            }
            Ok(Covers::Field(name.clone()))
        }
        Value::Array(items) => match items.as_slice() {
            [
                Value::String(op),
                Value::String(target),
                Value::String(operand),
            ] if op.eq_ignore_ascii_case("eq") || op.eq_ignore_ascii_case("starts-with") => {
                let name = target
                    .strip_prefix('$')
                    .ok_or(Refusal::InvalidPolicyDocument)?;
                let actual = value_of(name).ok_or_else(failed)?;
                let holds = if op.eq_ignore_ascii_case("eq") {
                    actual == operand
                } else if name.eq_ignore_ascii_case("Content-Type") {
                    // S3: a Content-Type with several comma-separated values must have each
                    // start with the prefix.
                    actual
                        .split(',')
                        .all(|part| part.trim_start().starts_with(operand.as_str()))
                } else {
                    actual.starts_with(operand.as_str())
                };
                if !holds {
                    return Err(failed());
                }
                Ok(Covers::Field(name.to_owned()))
            }
            [Value::String(op), min, max] if op.eq_ignore_ascii_case("content-length-range") => {
                let (Some(min), Some(max)) = (as_length(min), as_length(max)) else {
                    return Err(Refusal::InvalidPolicyDocument);
                };
                Ok(Covers::Length(min, max))
            }
            _ => Err(Refusal::InvalidPolicyDocument),
        },
        _ => Err(Refusal::InvalidPolicyDocument),
    }
}

/// A condition as S3 quotes it in a refusal: `["eq", "$key", "…"]` (an object condition in
/// its `eq` form).
fn condition_text(condition: &Value) -> String {
    let items: Vec<Value> = match condition {
        Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| [Value::from("eq"), Value::from(format!("${k}")), v.clone()])
            .collect(),
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    let parts: Vec<String> = items.iter().map(Value::to_string).collect();
    format!("[{}]", parts.join(", "))
}

/// A length bound: a JSON number or a numeric string (S3 takes both).
fn as_length(value: &Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

/// S3's error document: `<Error><Code>…</Code><Message>…</Message><RequestId>…</RequestId></Error>`.
pub fn error_xml(code: &str, message: &str, request_id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{}</RequestId></Error>",
        xml_escape(code),
        xml_escape(message),
        xml_escape(request_id)
    )
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Builds the Base64 policy document S3 reads, from its conditions.
pub fn encode_policy(expiration: DateTime<Utc>, conditions: Vec<Value>) -> String {
    let document = serde_json::json!({
        "expiration": expiration.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "conditions": conditions,
    });
    BASE64.encode(document.to_string())
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-03T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn form(policy: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut fields = vec![
            ("key".to_owned(), "uploads/a/original.png".to_owned()),
            ("Content-Type".to_owned(), "image/png".to_owned()),
            ("policy".to_owned(), policy.to_owned()),
            ("x-amz-signature".to_owned(), "ignored here".to_owned()),
        ];
        fields.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        fields
    }

    fn policy(extra: &[Value]) -> String {
        let mut conditions = vec![
            json!({"bucket": "uploads"}),
            json!(["eq", "$key", "uploads/a/original.png"]),
            json!(["starts-with", "$Content-Type", "image/"]),
            json!(["content-length-range", 1, 100]),
        ];
        conditions.extend_from_slice(extra);
        encode_policy(now() + TimeDelta::minutes(15), conditions)
    }

    #[test]
    fn a_form_within_its_policy_is_accepted_with_the_asked_status() {
        let p = policy(&[json!({"success_action_status": "201"})]);
        assert_eq!(
            evaluate("uploads", &form(&policy(&[]), &[]), 10, now())
                .unwrap()
                .status,
            204
        );
        let created = evaluate(
            "uploads",
            &form(&p, &[("success_action_status", "201")]),
            10,
            now(),
        )
        .unwrap();
        assert_eq!(created.status, 201);
        assert!(
            created
                .body("http://x/uploads/k", "e")
                .contains("<Key>uploads/a/original.png</Key>")
        );
        // Covered fields and exempt ones pass, whatever their case.
        let f = form(&policy(&[]), &[("X-Ignore-Note", "anything")]);
        assert!(evaluate("uploads", &f, 10, now()).is_ok());
    }

    #[test]
    fn refusals_carry_s3s_codes() {
        let p = policy(&[]);
        type Form = Vec<(String, String)>;
        let cases: Vec<(Form, u64, &str, u16)> = vec![
            (form(&p, &[("acl", "public-read")]), 10, "AccessDenied", 403),
            (form(&p, &[]), 101, "EntityTooLarge", 400),
            (form(&p, &[]), 0, "EntityTooSmall", 400),
            (form("e30K", &[]), 10, "InvalidPolicyDocument", 400),
            (form("not base64!", &[]), 10, "InvalidPolicyDocument", 400),
        ];
        for (fields, size, code, status) in cases {
            let refusal = evaluate("uploads", &fields, size, now()).unwrap_err();
            assert_eq!(
                (refusal.code(), refusal.status()),
                (code, status),
                "{refusal}"
            );
            assert!(
                refusal
                    .to_xml("r")
                    .contains(&format!("<Code>{code}</Code>"))
            );
        }
        let mut wrong_type = form(&p, &[]);
        wrong_type[1].1 = "text/html".into();
        assert!(matches!(
            evaluate("uploads", &wrong_type, 10, now()),
            Err(Refusal::ConditionFailed(_))
        ));
        assert!(matches!(
            evaluate("other", &form(&p, &[]), 10, now()),
            Err(Refusal::ConditionFailed(_))
        ));
        assert_eq!(
            evaluate(
                "uploads",
                &form(&p, &[]),
                10,
                now() + TimeDelta::minutes(15)
            ),
            Err(Refusal::Expired)
        );
        let message = evaluate("uploads", &form(&p, &[("acl", "x")]), 10, now()).unwrap_err();
        assert_eq!(
            message.to_string(),
            "Invalid according to Policy: Extra input fields: acl"
        );
        let refusal = evaluate("other", &form(&p, &[]), 10, now()).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            r#"Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "uploads"]"#
        );
    }
}
