//! In-memory `ObjectStore` and `JobStore`: for tests and for `petavatar run`. The job store
//! applies the rules of [`crate::job_rules`], as every other adapter does. [`InMemoryWorld`]
//! wires them to the offline backend, keeping handles to read back what the stages wrote.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::Deps;
use crate::domain::Job;
use crate::job_rules::{JobUpdate, apply_update};
use crate::ports::{JobStore, JobStoreError, ObjectMeta, ObjectStore, ObjectStoreError};

/// A source of "now" for `updated_at`, injectable for tests.
pub type ClockFn = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means another test thread panicked; the data is still consistent
    // because every mutation below is a single assignment.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Default)]
pub struct InMemoryObjectStore {
    objects: Mutex<HashMap<String, (Bytes, String)>>,
}

impl InMemoryObjectStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keys currently stored, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = lock(&self.objects).keys().cloned().collect();
        keys.sort();
        keys
    }
}

#[async_trait]
impl ObjectStore for InMemoryObjectStore {
    async fn get(&self, key: &str) -> Result<Bytes, ObjectStoreError> {
        lock(&self.objects)
            .get(key)
            .map(|(b, _)| b.clone())
            .ok_or_else(|| ObjectStoreError::NotFound(key.to_string()))
    }

    async fn put(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<(), ObjectStoreError> {
        lock(&self.objects).insert(key.to_string(), (body, content_type.to_string()));
        Ok(())
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta, ObjectStoreError> {
        lock(&self.objects)
            .get(key)
            .map(|(b, ct)| ObjectMeta {
                key: key.to_string(),
                size: b.len() as u64,
                content_type: Some(ct.clone()),
            })
            .ok_or_else(|| ObjectStoreError::NotFound(key.to_string()))
    }
}

pub struct InMemoryJobStore {
    jobs: Mutex<HashMap<Uuid, Job>>,
    clock: ClockFn,
}

impl Default for InMemoryJobStore {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemoryJobStore {
    pub fn new() -> Self {
        Self::with_clock(Arc::new(Utc::now))
    }

    pub fn with_clock(clock: ClockFn) -> Self {
        InMemoryJobStore {
            jobs: Mutex::new(HashMap::new()),
            clock,
        }
    }
}

#[async_trait]
impl JobStore for InMemoryJobStore {
    async fn create(&self, job: Job) -> Result<(), JobStoreError> {
        let mut jobs = lock(&self.jobs);
        if jobs.contains_key(&job.job_id) {
            return Err(JobStoreError::AlreadyExists(job.job_id));
        }
        jobs.insert(job.job_id, job);
        Ok(())
    }

    async fn get(&self, job_id: Uuid) -> Result<Job, JobStoreError> {
        lock(&self.jobs)
            .get(&job_id)
            .cloned()
            .ok_or(JobStoreError::NotFound(job_id))
    }

    async fn update(&self, job_id: Uuid, update: JobUpdate) -> Result<Job, JobStoreError> {
        let mut jobs = lock(&self.jobs);
        let job = jobs
            .get_mut(&job_id)
            .ok_or(JobStoreError::NotFound(job_id))?;
        *job = apply_update(job, update, (self.clock)())?;
        Ok(job.clone())
    }
}

/// The offline pipeline's dependencies over in-memory stores, with typed handles to the stores
/// (to upload a photo, create its job, or read the results back).
#[derive(Clone)]
pub struct InMemoryWorld {
    pub deps: Deps,
    pub uploads: Arc<InMemoryObjectStore>,
    pub generated: Arc<InMemoryObjectStore>,
    pub jobs: Arc<InMemoryJobStore>,
}

impl InMemoryWorld {
    /// Fresh, empty stores and the offline model backend.
    pub fn offline() -> Self {
        let uploads = Arc::new(InMemoryObjectStore::new());
        let generated = Arc::new(InMemoryObjectStore::new());
        let jobs = Arc::new(InMemoryJobStore::new());
        InMemoryWorld {
            deps: Deps::offline(uploads.clone(), generated.clone(), jobs.clone()),
            uploads,
            generated,
            jobs,
        }
    }
}
