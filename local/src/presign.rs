//! The local `Presigner`: presigned POSTs to `/local/upload` and signed GETs from
//! `/local/download`, both checked by `server::local_routes` with the same [`Signer`].

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeDelta, Utc};
use steps::ports::{PostPolicy, PresignError, PresignedPost, Presigner};

use serde_json::{Value, json};

use crate::signing::{
    ALGORITHM, FIELD_ALGORITHM, FIELD_BUCKET, FIELD_CONTENT_TYPE, FIELD_KEY, FIELD_POLICY,
    FIELD_SIGNATURE, Signer,
};

/// Presigns for one bucket of the local server at `base_url` (`http://127.0.0.1:8080`).
#[derive(Debug, Clone)]
pub struct LocalPresigner {
    pub base_url: String,
    pub bucket: String,
    pub signer: Signer,
}

/// Percent-encodes everything but RFC 3986's unreserved characters and `/`.
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The policy's conditions, as the AWS presigner writes them (handlers/src/post_policy.rs):
/// one bucket, one key, one content type, 1 byte to `max_bytes`, and the signing fields.
fn conditions(bucket: &str, key: &str, content_type: &str, max_bytes: u64) -> Vec<Value> {
    vec![
        json!({ FIELD_BUCKET: bucket }),
        json!(["eq", "$key", key]),
        json!(["eq", "$Content-Type", content_type]),
        json!(["content-length-range", 1, max_bytes]),
        json!({ FIELD_ALGORITHM: ALGORITHM }),
    ]
}

fn delta(d: Duration) -> Result<TimeDelta, PresignError> {
    TimeDelta::from_std(d).map_err(|e| PresignError::Failed(e.to_string()))
}

#[async_trait]
impl Presigner for LocalPresigner {
    async fn presign_post(&self, policy: PostPolicy) -> Result<PresignedPost, PresignError> {
        let expires_at = Utc::now() + delta(policy.expires_in)?;
        let [content_type] = policy.content_types.as_slice() else {
            return Err(PresignError::Failed(format!(
                "a presigned POST names one content type, not {}",
                policy.content_types.len()
            )));
        };
        let encoded = api::s3_post::encode_policy(
            expires_at,
            conditions(&self.bucket, &policy.key, content_type, policy.max_bytes),
        );
        let signature = self.signer.sign_policy(&encoded);
        let fields = BTreeMap::from([
            (FIELD_KEY.to_owned(), policy.key),
            (FIELD_CONTENT_TYPE.to_owned(), content_type.clone()),
            (FIELD_BUCKET.to_owned(), self.bucket.clone()),
            (FIELD_POLICY.to_owned(), encoded),
            (FIELD_ALGORITHM.to_owned(), ALGORITHM.to_owned()),
            (FIELD_SIGNATURE.to_owned(), signature),
        ]);
        Ok(PresignedPost {
            url: format!("{}/local/upload", self.base_url),
            fields,
            expires_at,
        })
    }

    async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<String, PresignError> {
        let expires = (Utc::now() + delta(expires_in)?).timestamp();
        let signature = self.signer.sign_download(&self.bucket, key, expires);
        Ok(format!(
            "{}/local/download?bucket={}&key={}&expires={expires}&signature={signature}",
            self.base_url,
            encode_query_value(&self.bucket),
            encode_query_value(key),
        ))
    }
}
