//! Local presigned URLs: an upload is a multipart POST whose policy (base64 JSON, as in
//! S3's POST policy) is signed with HMAC-SHA256; a download is a GET whose query carries
//! an expiry and an HMAC over bucket, key and expiry. The secret never leaves the data
//! folder; signatures are compared in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The form fields S3 uses for a presigned POST; the local endpoint reads the same names.
pub const FIELD_KEY: &str = "key";
pub const FIELD_CONTENT_TYPE: &str = "Content-Type";
pub const FIELD_POLICY: &str = "policy";
pub const FIELD_ALGORITHM: &str = "x-amz-algorithm";
pub const FIELD_SIGNATURE: &str = "x-amz-signature";
pub const FIELD_BUCKET: &str = "bucket";
pub const ALGORITHM: &str = "PETAVATAR-HMAC-SHA256";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature does not match")]
    BadSignature,
    #[error("the signed URL or policy has expired")]
    Expired,
    #[error("the policy is malformed")]
    MalformedPolicy,
    #[error("the form does not satisfy the policy: {0}")]
    PolicyViolation(String),
}

/// What an upload policy allows: one key, one content type, at most `max_bytes`, until `expiration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadPolicy {
    pub expiration: DateTime<Utc>,
    pub bucket: String,
    pub key: String,
    pub content_types: Vec<String>,
    pub min_bytes: u64,
    pub max_bytes: u64,
}

/// Signs and verifies with one secret.
#[derive(Clone)]
pub struct Signer {
    secret: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer { secret: <redacted> }")
    }
}

impl Signer {
    pub fn new(secret: Vec<u8>) -> Self {
        Self { secret }
    }

    fn mac(&self, message: &[u8]) -> Vec<u8> {
        // An HMAC takes a key of any length, so this cannot fail.
        let mut mac = match HmacSha256::new_from_slice(&self.secret) {
            Ok(mac) => mac,
            Err(_) => return Vec::new(),
        };
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    fn verify_mac(&self, message: &[u8], signature_hex: &str) -> Result<(), SignatureError> {
        let presented = hex::decode(signature_hex).map_err(|_| SignatureError::BadSignature)?;
        let expected = self.mac(message);
        if expected.is_empty() || !bool::from(expected.ct_eq(&presented)) {
            return Err(SignatureError::BadSignature);
        }
        Ok(())
    }

    /// The `policy` (base64 JSON) and its hex signature.
    pub fn sign_policy(&self, policy: &UploadPolicy) -> (String, String) {
        let json = serde_json::to_vec(policy).unwrap_or_default();
        let encoded = BASE64.encode(json);
        let signature = hex::encode(self.mac(encoded.as_bytes()));
        (encoded, signature)
    }

    /// Checks the signature and expiry of a policy and returns it.
    pub fn verify_policy(
        &self,
        encoded: &str,
        signature_hex: &str,
        now: DateTime<Utc>,
    ) -> Result<UploadPolicy, SignatureError> {
        self.verify_mac(encoded.as_bytes(), signature_hex)?;
        let json = BASE64
            .decode(encoded)
            .map_err(|_| SignatureError::MalformedPolicy)?;
        let policy: UploadPolicy =
            serde_json::from_slice(&json).map_err(|_| SignatureError::MalformedPolicy)?;
        if now >= policy.expiration {
            return Err(SignatureError::Expired);
        }
        Ok(policy)
    }

    fn download_message(bucket: &str, key: &str, expires: i64) -> Vec<u8> {
        format!("GET\n{bucket}\n{key}\n{expires}").into_bytes()
    }

    /// The hex signature of a download of `bucket/key` valid until `expires` (Unix seconds).
    pub fn sign_download(&self, bucket: &str, key: &str, expires: i64) -> String {
        hex::encode(self.mac(&Self::download_message(bucket, key, expires)))
    }

    pub fn verify_download(
        &self,
        bucket: &str,
        key: &str,
        expires: i64,
        signature_hex: &str,
        now: DateTime<Utc>,
    ) -> Result<(), SignatureError> {
        self.verify_mac(&Self::download_message(bucket, key, expires), signature_hex)?;
        if now.timestamp() >= expires {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}

impl UploadPolicy {
    /// Checks the form's key and content type against the policy (the size is checked
    /// while the file streams in).
    pub fn check_fields(&self, key: &str, content_type: &str) -> Result<(), SignatureError> {
        if key != self.key {
            return Err(SignatureError::PolicyViolation(
                "key does not match the policy".into(),
            ));
        }
        if !self
            .content_types
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(content_type.trim()))
        {
            return Err(SignatureError::PolicyViolation(format!(
                "Content-Type must be one of {}",
                self.content_types.join(", ")
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn policy(now: DateTime<Utc>) -> UploadPolicy {
        UploadPolicy {
            expiration: now + TimeDelta::seconds(900),
            bucket: "uploads".into(),
            key: "uploads/x/original.png".into(),
            content_types: vec!["image/png".into()],
            min_bytes: 1,
            max_bytes: 50 * 1024 * 1024,
        }
    }

    #[test]
    fn a_signed_policy_verifies_until_it_expires() {
        let signer = Signer::new(b"secret".to_vec());
        let now = Utc::now();
        let (encoded, sig) = signer.sign_policy(&policy(now));
        assert_eq!(
            signer.verify_policy(&encoded, &sig, now).unwrap(),
            policy(now)
        );
        assert_eq!(
            signer.verify_policy(&encoded, &sig, now + TimeDelta::seconds(900)),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn a_tampered_policy_or_signature_is_refused() {
        let signer = Signer::new(b"secret".to_vec());
        let now = Utc::now();
        let (encoded, sig) = signer.sign_policy(&policy(now));
        let mut bigger = policy(now);
        bigger.max_bytes *= 10;
        let (tampered, _) = signer.sign_policy(&bigger);
        assert_eq!(
            signer.verify_policy(&tampered, &sig, now),
            Err(SignatureError::BadSignature)
        );
        let mut bad_sig = sig.clone();
        bad_sig.replace_range(0..2, if sig.starts_with("00") { "11" } else { "00" });
        assert_eq!(
            signer.verify_policy(&encoded, &bad_sig, now),
            Err(SignatureError::BadSignature)
        );
        let other = Signer::new(b"other".to_vec());
        assert_eq!(
            other.verify_policy(&encoded, &sig, now),
            Err(SignatureError::BadSignature)
        );
    }

    #[test]
    fn download_signatures_bind_bucket_key_and_expiry() {
        let signer = Signer::new(b"secret".to_vec());
        let now = Utc::now();
        let exp = now.timestamp() + 3600;
        let sig = signer.sign_download("gen", "generated/a/avatar.png", exp);
        assert!(
            signer
                .verify_download("gen", "generated/a/avatar.png", exp, &sig, now)
                .is_ok()
        );
        assert!(
            signer
                .verify_download("gen", "generated/b/avatar.png", exp, &sig, now)
                .is_err()
        );
        assert!(
            signer
                .verify_download("up", "generated/a/avatar.png", exp, &sig, now)
                .is_err()
        );
        assert!(
            signer
                .verify_download("gen", "generated/a/avatar.png", exp + 1, &sig, now)
                .is_err()
        );
        assert_eq!(
            signer.verify_download(
                "gen",
                "generated/a/avatar.png",
                exp,
                &sig,
                now + TimeDelta::seconds(3600)
            ),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn fields_must_match_the_policy() {
        let p = policy(Utc::now());
        assert!(
            p.check_fields("uploads/x/original.png", "image/png")
                .is_ok()
        );
        assert!(
            p.check_fields("uploads/y/original.png", "image/png")
                .is_err()
        );
        assert!(
            p.check_fields("uploads/x/original.png", "image/jpeg")
                .is_err()
        );
    }
}
