//! Who is calling. Locally the API checks `x-api-key` itself; on AWS, API Gateway has
//! already validated the key and the owner comes from the request context. Both are an
//! [`Authenticator`], so the routes never know which one they run behind.

use std::sync::RwLock;

use async_trait::async_trait;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::error::ApiError;

/// The header clients put their API key in.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The identity a job belongs to: the id of the API key (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner(pub String);

impl Owner {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// The owner of the request, or an error (401) the client sees as is.
    async fn authenticate(&self, parts: &Parts) -> Result<Owner, ApiError>;
}

/// SHA-256 of an API key: what is stored, so a leaked database leaks no key.
pub fn hash_api_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A stored API key: its id (the owner of the jobs it creates) and the SHA-256 of the key.
#[derive(Clone)]
pub struct StoredApiKey {
    pub owner: Owner,
    pub sha256: [u8; 32],
}

/// The hash stays out of logs and panics: it is all a guess of the key is checked against.
impl std::fmt::Debug for StoredApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredApiKey")
            .field("owner", &self.owner)
            .field("sha256", &"<redacted>")
            .finish()
    }
}

/// Checks `x-api-key` against a set of hashed keys. Every stored hash is compared, in
/// constant time, whatever matches, so timing tells nothing about which bytes were right.
#[derive(Debug, Default)]
pub struct ApiKeyAuthenticator {
    keys: RwLock<Vec<StoredApiKey>>,
}

impl ApiKeyAuthenticator {
    pub fn new(keys: Vec<StoredApiKey>) -> Self {
        Self {
            keys: RwLock::new(keys),
        }
    }

    /// Adds a key at run time (a key created while the server runs).
    pub fn add(&self, key: StoredApiKey) {
        match self.keys.write() {
            Ok(mut keys) => keys.push(key),
            Err(poisoned) => poisoned.into_inner().push(key),
        }
    }

    /// The owner of a presented key, if any.
    pub fn owner_of(&self, presented: &str) -> Option<Owner> {
        let presented_hash = hash_api_key(presented);
        let keys = match self.keys.read() {
            Ok(keys) => keys,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut found = subtle::Choice::from(0u8);
        let mut index = 0u64;
        for (i, key) in keys.iter().enumerate() {
            let equal = key.sha256.ct_eq(&presented_hash);
            index.conditional_assign(&(i as u64), equal);
            found |= equal;
        }
        if bool::from(found) {
            usize::try_from(index)
                .ok()
                .and_then(|i| keys.get(i))
                .map(|k| k.owner.clone())
        } else {
            None
        }
    }
}

#[async_trait]
impl Authenticator for ApiKeyAuthenticator {
    async fn authenticate(&self, parts: &Parts) -> Result<Owner, ApiError> {
        let presented = parts
            .headers
            .get(API_KEY_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        self.owner_of(presented).ok_or_else(|| {
            tracing::info!("request with an unknown api key refused");
            ApiError::unauthorized()
        })
    }
}

/// For a gateway that has authenticated the caller already: an outer layer (e.g. the
/// Lambda adapter, from API Gateway's request context `identity.apiKeyId`) puts the
/// [`Owner`] into the request extensions; without one the request is refused.
#[derive(Debug, Default, Clone, Copy)]
pub struct ContextAuthenticator;

#[async_trait]
impl Authenticator for ContextAuthenticator {
    async fn authenticate(&self, parts: &Parts) -> Result<Owner, ApiError> {
        parts
            .extensions
            .get::<Owner>()
            .cloned()
            .ok_or_else(ApiError::unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticator() -> ApiKeyAuthenticator {
        ApiKeyAuthenticator::new(vec![
            StoredApiKey {
                owner: Owner("key-a".into()),
                sha256: hash_api_key("secret-a"),
            },
            StoredApiKey {
                owner: Owner("key-b".into()),
                sha256: hash_api_key("secret-b"),
            },
        ])
    }

    #[test]
    fn finds_the_owner_of_each_key() {
        let auth = authenticator();
        assert_eq!(auth.owner_of("secret-a"), Some(Owner("key-a".into())));
        assert_eq!(auth.owner_of("secret-b"), Some(Owner("key-b".into())));
    }

    #[test]
    fn refuses_unknown_and_near_keys() {
        let auth = authenticator();
        assert_eq!(auth.owner_of("secret-c"), None);
        assert_eq!(auth.owner_of(""), None);
        assert_eq!(auth.owner_of("secret-a "), None);
    }

    #[test]
    fn debug_output_shows_no_key_material() {
        let shown = format!("{:?}", authenticator());
        assert!(shown.contains("key-a"), "{shown}");
        for secret in ["secret-a", "secret-b"] {
            let hash = format!("{:?}", hash_api_key(secret));
            assert!(!shown.contains(&hash), "{shown}");
        }
    }

    #[test]
    fn keys_added_later_are_accepted() {
        let auth = authenticator();
        auth.add(StoredApiKey {
            owner: Owner("key-c".into()),
            sha256: hash_api_key("secret-c"),
        });
        assert_eq!(auth.owner_of("secret-c"), Some(Owner("key-c".into())));
    }
}
