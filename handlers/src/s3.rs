//! S3 behind `steps::ports::ObjectStore` (one bucket per store) and `Presigner` (presigned POST
//! uploads, signed by [`crate::post_policy`]; presigned GETs through the SDK).

use std::time::Duration;

use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use chrono::Utc;
use steps::ports::{
    ObjectMeta, ObjectStore, ObjectStoreError, PostPolicy, PresignError, PresignedPost, Presigner,
};

use crate::aws_error::{Failure, classify, display_chain};
use crate::post_policy::{self, SigningCredentials, UploadRules};

/// One bucket as an `ObjectStore`.
#[derive(Debug, Clone)]
pub struct S3ObjectStore {
    client: Client,
    bucket: String,
}

impl S3ObjectStore {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

fn store_error(failure: Failure, key: &str) -> ObjectStoreError {
    match failure {
        Failure::Transient(m) => ObjectStoreError::Unavailable(format!("{key}: {m}")),
        Failure::Permanent { message, .. } => ObjectStoreError::Other(format!("{key}: {message}")),
    }
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn get(&self, key: &str) -> Result<Bytes, ObjectStoreError> {
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                    ObjectStoreError::NotFound(key.to_owned())
                } else {
                    store_error(classify(&e), key)
                }
            })?;
        let body = output.body.collect().await.map_err(|e| {
            ObjectStoreError::Unavailable(format!("{key}: reading the body: {}", display_chain(&e)))
        })?;
        Ok(body.into_bytes())
    }

    async fn put(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<(), ObjectStoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| store_error(classify(&e), key))?;
        Ok(())
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta, ObjectStoreError> {
        let output = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error().is_some_and(|s| s.is_not_found()) {
                    ObjectStoreError::NotFound(key.to_owned())
                } else {
                    store_error(classify(&e), key)
                }
            })?;
        Ok(ObjectMeta {
            key: key.to_owned(),
            size: output
                .content_length
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            content_type: output.content_type,
        })
    }
}

/// Presigns uploads into, and downloads from, one bucket.
#[derive(Clone)]
pub struct S3Presigner {
    client: Client,
    bucket: String,
    region: String,
    credentials: SharedCredentialsProvider,
    post_url: String,
}

impl std::fmt::Debug for S3Presigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Presigner")
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("post_url", &self.post_url)
            .finish()
    }
}

/// Where a presigner's URLs point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignTarget {
    pub bucket: String,
    pub region: String,
    /// An S3-compatible endpoint instead of AWS's.
    pub endpoint: Option<String>,
    pub path_style: bool,
}

impl S3Presigner {
    pub fn new(
        client: Client,
        credentials: SharedCredentialsProvider,
        target: PresignTarget,
    ) -> Self {
        let post_url = post_policy::post_url(
            &target.bucket,
            &target.region,
            target.endpoint.as_deref(),
            target.path_style,
        );
        Self {
            client,
            bucket: target.bucket,
            region: target.region,
            credentials,
            post_url,
        }
    }

    async fn signing_credentials(&self) -> Result<SigningCredentials, PresignError> {
        // The provider caches and refreshes: on Lambda these are the role's session credentials.
        let credentials = self.credentials.provide_credentials().await.map_err(|e| {
            PresignError::Failed(format!(
                "no credentials to sign with: {}",
                display_chain(&e)
            ))
        })?;
        Ok(SigningCredentials {
            access_key_id: credentials.access_key_id().to_owned(),
            secret_access_key: credentials.secret_access_key().to_owned(),
            session_token: credentials.session_token().map(str::to_owned),
        })
    }
}

#[async_trait]
impl Presigner for S3Presigner {
    async fn presign_post(&self, policy: PostPolicy) -> Result<PresignedPost, PresignError> {
        // A POST policy condition holds one value; "one of these types" cannot be expressed
        // exactly (only as a prefix), so the API presigns one content type per upload.
        let [content_type] = policy.content_types.as_slice() else {
            return Err(PresignError::Failed(format!(
                "a presigned POST enforces exactly one content type; {} given",
                policy.content_types.len()
            )));
        };
        let now = Utc::now();
        let expires_in = chrono::Duration::from_std(policy.expires_in)
            .map_err(|e| PresignError::Failed(format!("expiry out of range: {e}")))?;
        let rules = UploadRules {
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            key: policy.key,
            content_type: content_type.clone(),
            max_bytes: policy.max_bytes,
            expires_at: now + expires_in,
        };
        let credentials = self.signing_credentials().await?;
        Ok(PresignedPost {
            url: self.post_url.clone(),
            fields: post_policy::form_fields(&rules, &credentials, now),
            expires_at: rules.expires_at,
        })
    }

    async fn presign_get(&self, key: &str, expires_in: Duration) -> Result<String, PresignError> {
        let config = PresigningConfig::expires_in(expires_in)
            .map_err(|e| PresignError::Failed(format!("presigning config: {e}")))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| {
                PresignError::Failed(format!("presign GET {key}: {}", display_chain(&e)))
            })?;
        Ok(request.uri().to_owned())
    }
}
