//! Local presigned URLs: an upload is a multipart POST whose policy is S3's own POST policy
//! document (Base64 JSON, checked by `api::s3_post` exactly as S3 checks it), signed with
//! HMAC-SHA256 in place of AWS Signature V4; a download is a GET whose query carries
//! an expiry and an HMAC over bucket, key and expiry. The secret never leaves the data
//! folder; signatures are compared in constant time.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
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
    #[error("the signed URL has expired")]
    Expired,
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

    /// The hex signature of a presigned POST's `policy` field (the Base64 document, as S3's
    /// string to sign is).
    pub fn sign_policy(&self, encoded_policy: &str) -> String {
        hex::encode(self.mac(encoded_policy.as_bytes()))
    }

    /// Checks a presigned POST's signature over its `policy` field.
    pub fn verify_policy(
        &self,
        encoded_policy: &str,
        signature_hex: &str,
    ) -> Result<(), SignatureError> {
        self.verify_mac(encoded_policy.as_bytes(), signature_hex)
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn a_policy_signature_binds_the_policy_and_the_secret() {
        let signer = Signer::new(b"secret".to_vec());
        let sig = signer.sign_policy("eyJhIjoxfQ==");
        assert_eq!(signer.verify_policy("eyJhIjoxfQ==", &sig), Ok(()));
        assert_eq!(
            signer.verify_policy("eyJhIjoyfQ==", &sig),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(
            Signer::new(b"other".to_vec()).verify_policy("eyJhIjoxfQ==", &sig),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(
            signer.verify_policy("eyJhIjoxfQ==", "zz"),
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
}
