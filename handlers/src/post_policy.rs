//! Presigned POST uploads to S3, signed with AWS Signature Version 4.
//!
//! The Rust SDK presigns GET/PUT requests but has no presigned POST, and only a POST policy can
//! make S3 itself refuse an upload that is too large or of the wrong type (a presigned PUT
//! cannot bound the size). So this module implements AWS's documented algorithm
//! ("Browser-Based Uploads Using POST (AWS Signature Version 4)"):
//!
//! 1. The policy is a JSON document: an `expiration` and a list of `conditions` every form field
//!    must meet (`{"bucket": …}`, `["eq", "$key", …]`, `["content-length-range", min, max]`, …),
//!    including the signature's own `x-amz-algorithm`, `x-amz-credential`, `x-amz-date` and,
//!    with temporary credentials (always, on Lambda), `x-amz-security-token`.
//! 2. The string to sign is the policy, Base64-encoded (it is also the `policy` form field).
//! 3. The signing key is the SigV4 HMAC-SHA256 chain
//!    `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, yyyymmdd), region), "s3"), "aws4_request")`.
//! 4. `x-amz-signature` is `hex(HMAC(signing key, string to sign))`.
//!
//! Steps 3 and 4 are `aws-sigv4`'s own functions (the SDK's signer), not a second derivation.
//! Tests check the signer against AWS's published test vectors (the signing-key derivation
//! example and the S3 POST example), against an independent computation in Python, and the
//! form against S3's documented rules (`api::s3_post`, the checker the local endpoint applies;
//! the test side is `tests/common/s3_post.rs`).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The credentials a policy is signed with.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Present with temporary credentials (a Lambda role's): then it must be a form field too.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for SigningCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .finish()
    }
}

/// What an upload may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRules {
    pub bucket: String,
    pub region: String,
    /// The exact key the client must use.
    pub key: String,
    /// The exact `Content-Type` the client must send.
    pub content_type: String,
    /// Upper bound of `content-length-range` (the lower bound is 1: an empty upload is useless).
    pub max_bytes: u64,
    pub expires_at: DateTime<Utc>,
}

/// `yyyymmddThhmmssZ`
pub fn amz_date(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// `access-key/yyyymmdd/region/s3/aws4_request`
pub fn credential_scope(access_key_id: &str, at: DateTime<Utc>, region: &str) -> String {
    format!(
        "{access_key_id}/{}/{region}/s3/aws4_request",
        at.format("%Y%m%d")
    )
}

/// The policy document for `rules`, signed at `now` with `credentials`.
pub fn policy_document(
    rules: &UploadRules,
    credentials: &SigningCredentials,
    now: DateTime<Utc>,
) -> Value {
    let mut conditions = vec![
        json!({ "bucket": rules.bucket }),
        json!(["eq", "$key", rules.key]),
        json!(["eq", "$Content-Type", rules.content_type]),
        json!(["content-length-range", 1, rules.max_bytes]),
        json!({ "x-amz-algorithm": ALGORITHM }),
        json!({ "x-amz-credential": credential_scope(&credentials.access_key_id, now, &rules.region) }),
        json!({ "x-amz-date": amz_date(now) }),
    ];
    if let Some(token) = &credentials.session_token {
        conditions.push(json!({ "x-amz-security-token": token }));
    }
    json!({
        "expiration": rules.expires_at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "conditions": conditions,
    })
}

/// The SigV4 signing key for the UTC day of `at`, `region` and `service` (`aws-sigv4`'s).
pub fn signing_key(
    secret_access_key: &str,
    at: DateTime<Utc>,
    region: &str,
    service: &str,
) -> impl AsRef<[u8]> + use<> {
    aws_sigv4::sign::v4::generate_signing_key(secret_access_key, at.into(), region, service)
}

/// `hex(HMAC-SHA256(signing key, string to sign))` (`aws-sigv4`'s).
pub fn signature(signing_key: impl AsRef<[u8]>, string_to_sign: &str) -> String {
    aws_sigv4::sign::v4::calculate_signature(signing_key, string_to_sign.as_bytes())
}

/// The form fields of a presigned POST: everything the client sends besides `file`.
pub fn form_fields(
    rules: &UploadRules,
    credentials: &SigningCredentials,
    now: DateTime<Utc>,
) -> BTreeMap<String, String> {
    let policy = BASE64.encode(policy_document(rules, credentials, now).to_string());
    let key = signing_key(&credentials.secret_access_key, now, &rules.region, "s3");
    let mut fields = BTreeMap::from([
        ("key".to_owned(), rules.key.clone()),
        ("Content-Type".to_owned(), rules.content_type.clone()),
        ("x-amz-algorithm".to_owned(), ALGORITHM.to_owned()),
        (
            "x-amz-credential".to_owned(),
            credential_scope(&credentials.access_key_id, now, &rules.region),
        ),
        ("x-amz-date".to_owned(), amz_date(now)),
        ("x-amz-signature".to_owned(), signature(&key, &policy)),
        ("policy".to_owned(), policy),
    ]);
    if let Some(token) = &credentials.session_token {
        fields.insert("x-amz-security-token".to_owned(), token.clone());
    }
    fields
}

/// The URL to POST to: `https://{bucket}.s3.{region}.amazonaws.com/`, or `{endpoint}/{bucket}`
/// path-style for an S3-compatible endpoint.
pub fn post_url(bucket: &str, region: &str, endpoint: Option<&str>, path_style: bool) -> String {
    match (endpoint, path_style) {
        (Some(endpoint), true) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
        (Some(endpoint), false) => {
            let (scheme, host) = endpoint.split_once("://").unwrap_or(("https", endpoint));
            format!("{scheme}://{bucket}.{}/", host.trim_end_matches('/'))
        }
        (None, true) => format!("https://s3.{region}.amazonaws.com/{bucket}"),
        (None, false) => format!("https://{bucket}.s3.{region}.amazonaws.com/"),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    // AWS, "Examples of how to derive a signing key for Signature Version 4".
    #[test]
    fn derives_the_documented_signing_key() {
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Utc.with_ymd_and_hms(2012, 2, 15, 0, 0, 0).unwrap(),
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key.as_ref()),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    // AWS S3 API reference, "Example: Browser-Based Upload using HTTP POST (Using AWS
    // Signature Version 4)": the Base64 policy (CRLF line ends) and its signature.
    const DOC_POLICY_B64: &str = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
    const DOC_SIGNATURE: &str = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e";
    const DOC_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn signs_the_documented_post_example() {
        // Any time of the day gives the day's key.
        let at = Utc.with_ymd_and_hms(2015, 12, 29, 23, 59, 59).unwrap();
        let key = signing_key(DOC_SECRET, at, "us-east-1", "s3");
        assert_eq!(signature(&key, DOC_POLICY_B64), DOC_SIGNATURE);
        // The vector is what it claims to be: the documented policy, with CRLF line ends.
        let policy = String::from_utf8(BASE64.decode(DOC_POLICY_B64).unwrap()).unwrap();
        assert!(policy.contains("\r\n"));
        assert!(policy.contains(r#"{"bucket": "sigv4examplebucket"}"#));
        assert!(policy.contains(r#"{"x-amz-date": "20151229T000000Z" }"#));
    }

    fn rules() -> UploadRules {
        UploadRules {
            bucket: "uploads-bucket".into(),
            region: "eu-west-1".into(),
            key: "uploads/123e4567-e89b-42d3-a456-426614174000/original.png".into(),
            content_type: "image/png".into(),
            max_bytes: 50 * 1024 * 1024,
            expires_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 19, 5).unwrap(),
        }
    }

    fn credentials(token: Option<&str>) -> SigningCredentials {
        SigningCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: token.map(str::to_owned),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
    }

    #[test]
    fn the_policy_names_every_rule() {
        let doc = policy_document(&rules(), &credentials(Some("TOKEN")), now());
        assert_eq!(doc["expiration"], "2026-01-02T03:19:05.000Z");
        let conditions = doc["conditions"].as_array().unwrap();
        assert!(conditions.contains(&json!(["content-length-range", 1, 52_428_800])));
        assert!(conditions.contains(&json!(["eq", "$Content-Type", "image/png"])));
        assert!(conditions.contains(
            &json!({"x-amz-credential": "AKIDEXAMPLE/20260102/eu-west-1/s3/aws4_request"})
        ));
        assert!(conditions.contains(&json!({"x-amz-date": "20260102T030405Z"})));
        assert!(conditions.contains(&json!({"x-amz-security-token": "TOKEN"})));
    }

    #[test]
    fn post_urls() {
        assert_eq!(
            post_url("b", "eu-west-1", None, false),
            "https://b.s3.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            post_url("b", "eu-west-1", Some("http://127.0.0.1:5000/"), true),
            "http://127.0.0.1:5000/b"
        );
        assert_eq!(
            post_url("b", "eu-west-1", Some("https://s3.example.com"), false),
            "https://b.s3.example.com/"
        );
    }
}
