//! Local adapters of the `steps` ports: jobs in SQLite, objects as files, API keys (hashed)
//! in SQLite. The job store applies `steps::job_rules` (the rules every job store shares)
//! inside one SQLite transaction per read-check-write.

use std::collections::{HashMap, VecDeque};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use rusqlite::{Connection, TransactionBehavior, params};
use steps::Job;
use steps::job_rules::{JobUpdate, apply_update};
use steps::ports::{JobStore, JobStoreError, ObjectMeta, ObjectStore, ObjectStoreError};
use uuid::Uuid;

/// How long a write waits for another connection's lock before SQLite answers `SQLITE_BUSY`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn open_db(path: &Path) -> Result<Connection, rusqlite::Error> {
    open_db_waiting(path, BUSY_TIMEOUT)
}

fn open_db_waiting(path: &Path, busy_timeout: Duration) -> Result<Connection, rusqlite::Error> {
    // SQLite gives the -wal and -shm files the mode of the database file: creating it 0600
    // keeps all three private.
    if let Err(e) = crate::private::create_private_file(path) {
        tracing::warn!(path = %path.display(), error = %e, "cannot create the database file owner-only");
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(busy_timeout)?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")?;
    Ok(conn)
}

/// Whether an SQLite error may pass by itself: another connection holds a lock (busy,
/// locked), or the disk or the system failed for a moment (I/O, full, out of memory, a WAL
/// lock race). Corruption, constraint violations, misuse and the rest are permanent.
pub fn is_transient_sqlite(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(code) => matches!(
            code,
            C::DatabaseBusy
                | C::DatabaseLocked
                | C::SystemIoFailure
                | C::DiskFull
                | C::OutOfMemory
                | C::FileLockingProtocolFailed
        ),
        None => false,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

// ---------------------------------------------------------------------------------------------
// Jobs

/// The `jobs` table: the record as JSON, with the columns a listing needs beside it.
#[derive(Clone)]
pub struct SqliteJobStore {
    db: Arc<Mutex<JobsDb>>,
}

/// The connection and the jobs parsed from it, under one lock.
struct JobsDb {
    conn: Connection,
    parsed: ParsedJobs,
}

/// How many parsed jobs [`ParsedJobs`] keeps: more than the jobs a busy server has in flight.
const PARSED_JOBS: usize = 256;

/// Jobs parsed from their record, each kept with the exact record text it came from. Every
/// `/status` poll reads a job, and a finished job's record is ~3 KB of JSON (analysis, identity,
/// career): parsing it was 40 % of the request. A poll still reads the record from SQLite, but
/// parses it only when its text differs from the one parsed before, so a record written by
/// another process (or any other way) is never answered from a stale parse.
struct ParsedJobs {
    jobs: HashMap<Uuid, (String, Job)>,
    /// Insertion order, for evicting the oldest entry once `PARSED_JOBS` are kept.
    order: VecDeque<Uuid>,
}

impl ParsedJobs {
    fn new() -> Self {
        Self {
            jobs: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// The job parsed from `record`, if that is the record last parsed for `job_id`.
    fn get(&self, job_id: Uuid, record: &str) -> Option<&Job> {
        match self.jobs.get(&job_id) {
            Some((text, job)) if text == record => Some(job),
            _ => None,
        }
    }

    fn insert(&mut self, job_id: Uuid, record: String, job: Job) {
        if self.jobs.insert(job_id, (record, job)).is_some() {
            return;
        }
        self.order.push_back(job_id);
        while self.order.len() > PARSED_JOBS {
            if let Some(oldest) = self.order.pop_front() {
                self.jobs.remove(&oldest);
            }
        }
    }
}

/// A failure that is not SQLite's (a record that does not parse): permanent.
fn store_error(e: impl std::fmt::Display) -> JobStoreError {
    JobStoreError::Other(e.to_string())
}

/// An SQLite failure, classified: busy/locked and I/O that may pass are `Unavailable` (the
/// stage fails `PetAvatar.Transient` and the state machine's Retry applies; the API answers
/// 503), the rest `Other`.
fn sqlite_error(e: rusqlite::Error) -> JobStoreError {
    if is_transient_sqlite(&e) {
        JobStoreError::Unavailable(e.to_string())
    } else {
        JobStoreError::Other(e.to_string())
    }
}

impl SqliteJobStore {
    pub fn open(path: &Path) -> Result<Self, rusqlite::Error> {
        Self::open_waiting(path, BUSY_TIMEOUT)
    }

    /// With another busy timeout than [`BUSY_TIMEOUT`] (tests of a locked database).
    pub fn open_waiting(path: &Path, busy_timeout: Duration) -> Result<Self, rusqlite::Error> {
        let conn = open_db_waiting(path, busy_timeout)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS jobs (
                 job_id TEXT PRIMARY KEY,
                 owner TEXT NOT NULL,
                 status TEXT NOT NULL,
                 created_at TEXT NOT NULL,
                 record TEXT NOT NULL
             );",
        )?;
        Ok(Self {
            db: Arc::new(Mutex::new(JobsDb {
                conn,
                parsed: ParsedJobs::new(),
            })),
        })
    }

    fn read(
        conn: &Connection,
        parsed: &mut ParsedJobs,
        job_id: Uuid,
    ) -> Result<Job, JobStoreError> {
        let mut stmt = conn
            .prepare_cached("SELECT record FROM jobs WHERE job_id = ?1")
            .map_err(sqlite_error)?;
        let mut rows = stmt
            .query(params![job_id.to_string()])
            .map_err(sqlite_error)?;
        let row = rows
            .next()
            .map_err(sqlite_error)?
            .ok_or(JobStoreError::NotFound(job_id))?;
        let record = row
            .get_ref(0)
            .and_then(|value| value.as_str().map_err(Into::into))
            .map_err(sqlite_error)?;
        if let Some(job) = parsed.get(job_id, record) {
            return Ok(job.clone());
        }
        let job: Job = serde_json::from_str(record).map_err(store_error)?;
        parsed.insert(job_id, record.to_owned(), job.clone());
        Ok(job)
    }

    fn write(conn: &Connection, parsed: &mut ParsedJobs, job: &Job) -> Result<(), JobStoreError> {
        let record = serde_json::to_string(job).map_err(store_error)?;
        conn.prepare_cached("UPDATE jobs SET status = ?2, record = ?3 WHERE job_id = ?1")
            .and_then(|mut stmt| {
                stmt.execute(params![job.job_id.to_string(), job.status.as_str(), record])
            })
            .map_err(sqlite_error)?;
        // The next poll finds what was just written already parsed.
        parsed.insert(job.job_id, record, job.clone());
        Ok(())
    }

    /// Applies `update` under the rules of `steps::job_rules`, in one transaction.
    fn apply(&self, job_id: Uuid, update: JobUpdate) -> Result<Job, JobStoreError> {
        let mut db = lock(&self.db);
        let JobsDb { conn, parsed } = &mut *db;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sqlite_error)?;
        let job = apply_update(&Self::read(&tx, parsed, job_id)?, update, Utc::now())?;
        Self::write(&tx, parsed, &job)?;
        tx.commit().map_err(sqlite_error)?;
        Ok(job)
    }

    /// Every job, newest first.
    pub fn list(&self) -> Result<Vec<Job>, JobStoreError> {
        let db = lock(&self.db);
        let mut stmt = db
            .conn
            .prepare_cached("SELECT record FROM jobs ORDER BY created_at DESC")
            .map_err(sqlite_error)?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(sqlite_error)?;
        let mut jobs = Vec::new();
        for row in rows {
            let record = row.map_err(sqlite_error)?;
            jobs.push(serde_json::from_str(&record).map_err(store_error)?);
        }
        Ok(jobs)
    }
}

#[async_trait]
impl JobStore for SqliteJobStore {
    async fn create(&self, job: Job) -> Result<(), JobStoreError> {
        let record = serde_json::to_string(&job).map_err(store_error)?;
        let mut db = lock(&self.db);
        let inserted = db
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO jobs (job_id, owner, status, created_at, record)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    job.job_id.to_string(),
                    job.owner,
                    job.status.as_str(),
                    job.created_at.to_rfc3339(),
                    record
                ])
            })
            .map_err(sqlite_error)?;
        if inserted == 0 {
            return Err(JobStoreError::AlreadyExists(job.job_id));
        }
        db.parsed.insert(job.job_id, record, job);
        Ok(())
    }

    async fn get(&self, job_id: Uuid) -> Result<Job, JobStoreError> {
        let mut db = lock(&self.db);
        let JobsDb { conn, parsed } = &mut *db;
        Self::read(conn, parsed, job_id)
    }

    async fn update(&self, job_id: Uuid, update: JobUpdate) -> Result<Job, JobStoreError> {
        self.apply(job_id, update)
    }
}

// ---------------------------------------------------------------------------------------------
// Objects

/// A bucket as a folder: key `a/b/c.png` is the file `{root}/a/b/c.png`. Writes go to a
/// temporary file renamed into place, so a reader (or a killed process) never sees half an object.
#[derive(Debug, Clone)]
pub struct FsObjectStore {
    root: PathBuf,
}

impl FsObjectStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of a key, refusing keys that could leave the bucket's folder.
    pub fn path_of(&self, key: &str) -> Result<PathBuf, ObjectStoreError> {
        let relative = Path::new(key);
        let safe = !key.is_empty()
            && !key.ends_with('/')
            && relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
        if !safe {
            return Err(ObjectStoreError::Other(format!(
                "invalid object key {key:?}"
            )));
        }
        Ok(self.root.join(relative))
    }
}

/// Content types by extension: the local store keeps no metadata beside the bytes.
fn content_type_of(key: &str) -> Option<String> {
    let ext = key.rsplit_once('.')?.1.to_ascii_lowercase();
    let ct = match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "heic" | "heif" => "image/heic",
        "json" => "application/json",
        _ => return None,
    };
    Some(ct.to_owned())
}

/// An I/O failure, classified: a missing file is `NotFound`; what may pass by itself (an
/// interrupted or timed-out call, a full disk or quota, too many open files, a device error,
/// no memory) is `Unavailable`, so a stage retries it; the rest (permissions, a folder where a
/// file should be, …) is permanent.
fn io_error(key: &str, e: std::io::Error) -> ObjectStoreError {
    use std::io::ErrorKind as K;
    if e.kind() == K::NotFound {
        return ObjectStoreError::NotFound(key.to_owned());
    }
    let transient_kind = matches!(
        e.kind(),
        K::Interrupted
            | K::WouldBlock
            | K::TimedOut
            | K::StorageFull
            | K::QuotaExceeded
            | K::ResourceBusy
            | K::OutOfMemory
    );
    let transient_errno = e.raw_os_error().is_some_and(|errno| {
        [
            libc::EIO,
            libc::EMFILE,
            libc::ENFILE,
            libc::ENOSPC,
            libc::EDQUOT,
            libc::EAGAIN,
            libc::EINTR,
            libc::EBUSY,
            libc::ENOMEM,
        ]
        .contains(&errno)
    });
    if transient_kind || transient_errno {
        ObjectStoreError::Unavailable(format!("{key}: {e}"))
    } else {
        ObjectStoreError::Other(format!("{key}: {e}"))
    }
}

/// The marker in the name of an object still being written: `original.partial-{uuid}`.
const PARTIAL_MARKER: &str = ".partial-";

/// How much of an upload is held in memory on its way to disk (tokio's file buffer).
pub const UPLOAD_WRITE_BUFFER: usize = 64 * 1024;

/// An object being written: a temporary owner-only file beside the object's path, renamed into
/// place by [`PartialObject::commit`]. Dropped before that (a refused or broken upload, a
/// timeout, a client gone), it removes its file.
pub struct PartialObject {
    file: Option<tokio::fs::File>,
    temporary: PathBuf,
    path: PathBuf,
    key: String,
    written: u64,
}

impl PartialObject {
    /// Appends a chunk. At most [`UPLOAD_WRITE_BUFFER`] bytes wait in memory for the disk.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), ObjectStoreError> {
        use tokio::io::AsyncWriteExt;
        let Some(file) = self.file.as_mut() else {
            return Err(ObjectStoreError::Other(format!("{}: closed", self.key)));
        };
        file.write_all(chunk)
            .await
            .map_err(|e| io_error(&self.key, e))?;
        self.written += chunk.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Flushes the file and renames it to the object's path: readers see the whole object or
    /// none of it.
    pub async fn commit(mut self) -> Result<(), ObjectStoreError> {
        use tokio::io::AsyncWriteExt;
        if let Some(mut file) = self.file.take() {
            file.flush().await.map_err(|e| io_error(&self.key, e))?;
        }
        tokio::fs::rename(&self.temporary, &self.path)
            .await
            .map_err(|e| io_error(&self.key, e))?;
        // Renamed: nothing left for `drop` to remove.
        self.temporary = PathBuf::new();
        Ok(())
    }
}

impl Drop for PartialObject {
    fn drop(&mut self) {
        if self.temporary.as_os_str().is_empty() {
            return;
        }
        self.file = None;
        match std::fs::remove_file(&self.temporary) {
            Ok(()) => tracing::info!(key = self.key, "unfinished upload removed"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(key = self.key, error = %e, "unfinished upload not removed"),
        }
    }
}

impl FsObjectStore {
    /// Starts writing `key`: creates its folders and an owner-only temporary file.
    pub async fn begin(&self, key: &str) -> Result<PartialObject, ObjectStoreError> {
        let path = self.path_of(key)?;
        if let Some(parent) = path.parent() {
            crate::private::create_private_dir_async(parent)
                .await
                .map_err(|e| io_error(key, e))?;
        }
        let temporary = path.with_extension(format!("{}{}", &PARTIAL_MARKER[1..], Uuid::new_v4()));
        let mut file = crate::private::create_new_private_file_async(&temporary)
            .await
            .map_err(|e| io_error(key, e))?;
        file.set_max_buf_size(UPLOAD_WRITE_BUFFER);
        Ok(PartialObject {
            file: Some(file),
            temporary,
            path,
            key: key.to_owned(),
            written: 0,
        })
    }

    /// Removes the temporary files of objects whose writing never finished (a server killed
    /// in the middle of an upload). Run at start-up, before anything writes; returns how many
    /// were removed.
    pub fn sweep_partials(&self) -> std::io::Result<usize> {
        fn sweep(folder: &Path, removed: &mut usize) -> std::io::Result<()> {
            let entries = match std::fs::read_dir(folder) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    sweep(&entry.path(), removed)?;
                } else if entry.file_name().to_string_lossy().contains(PARTIAL_MARKER) {
                    std::fs::remove_file(entry.path())?;
                    *removed += 1;
                }
            }
            Ok(())
        }
        let mut removed = 0;
        sweep(&self.root, &mut removed)?;
        Ok(removed)
    }
}

#[async_trait]
impl ObjectStore for FsObjectStore {
    async fn get(&self, key: &str) -> Result<Bytes, ObjectStoreError> {
        let path = self.path_of(key)?;
        tokio::fs::read(&path)
            .await
            .map(Bytes::from)
            .map_err(|e| io_error(key, e))
    }

    async fn put(
        &self,
        key: &str,
        body: Bytes,
        _content_type: &str,
    ) -> Result<(), ObjectStoreError> {
        let mut object = self.begin(key).await?;
        object.write(&body).await?;
        object.commit().await
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta, ObjectStoreError> {
        let path = self.path_of(key)?;
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|e| io_error(key, e))?;
        if !meta.is_file() {
            return Err(ObjectStoreError::NotFound(key.to_owned()));
        }
        Ok(ObjectMeta {
            key: key.to_owned(),
            size: meta.len(),
            content_type: content_type_of(key),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// API keys

/// A table of keys: an id and the SHA-256 of the key. The key itself is shown once, when
/// created, and never stored. Two kinds live in two tables, so that one can never pass for the
/// other: client keys (`api_keys`, `pa_…`; the id owns the jobs the key creates) and operator
/// keys (`operator_keys`, `pa_op_…`; they open the execution pages and the operator API, and
/// own no jobs).
pub struct ApiKeyStore {
    db: Mutex<KeysDb>,
    kind: KeyKind,
}

/// Which keys a [`ApiKeyStore`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Client,
    Operator,
}

impl KeyKind {
    fn table(self) -> &'static str {
        match self {
            KeyKind::Client => "api_keys",
            KeyKind::Operator => "operator_keys",
        }
    }

    fn id_prefix(self) -> &'static str {
        match self {
            KeyKind::Client => "key-",
            KeyKind::Operator => "op-",
        }
    }

    fn key_prefix(self) -> &'static str {
        match self {
            KeyKind::Client => "pa_",
            KeyKind::Operator => "pa_op_",
        }
    }
}

struct KeysDb {
    conn: Connection,
    /// The keys as last read, and SQLite's `data_version` when they were read.
    loaded: Option<(i64, Arc<api::ApiKeyAuthenticator>)>,
}

impl ApiKeyStore {
    /// The client keys of the database at `path`.
    pub fn open(path: &Path) -> Result<Self, rusqlite::Error> {
        Self::open_kind(path, KeyKind::Client)
    }

    /// The operator keys of the database at `path`.
    pub fn open_operators(path: &Path) -> Result<Self, rusqlite::Error> {
        Self::open_kind(path, KeyKind::Operator)
    }

    pub fn open_kind(path: &Path, kind: KeyKind) -> Result<Self, rusqlite::Error> {
        let conn = open_db(path)?;
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {} (
                 key_id TEXT PRIMARY KEY,
                 sha256 TEXT NOT NULL,
                 created_at TEXT NOT NULL
             );",
            kind.table()
        ))?;
        Ok(Self {
            db: Mutex::new(KeysDb { conn, loaded: None }),
            kind,
        })
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    pub fn all(&self) -> Result<Vec<api::StoredApiKey>, rusqlite::Error> {
        self.read_all(&lock(&self.db).conn)
    }

    fn read_all(&self, conn: &Connection) -> Result<Vec<api::StoredApiKey>, rusqlite::Error> {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT key_id, sha256 FROM {} ORDER BY created_at",
            self.kind.table()
        ))?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut keys = Vec::new();
        for row in rows {
            let (key_id, hash_hex) = row?;
            let mut sha256 = [0u8; 32];
            if hex::decode_to_slice(&hash_hex, &mut sha256).is_ok() {
                keys.push(api::StoredApiKey {
                    owner: api::Owner(key_id),
                    sha256,
                });
            }
        }
        Ok(keys)
    }

    /// A checker of the stored keys, current at the time of the call. The keys are read again
    /// only when the database changed since they were last read (`PRAGMA data_version` moves
    /// when another connection commits, e.g. `petavatar keys create` while the server runs),
    /// instead of on every request.
    pub fn authenticator(&self) -> Result<Arc<api::ApiKeyAuthenticator>, rusqlite::Error> {
        let mut db = lock(&self.db);
        let version: i64 = db
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        if let Some((loaded_at, authenticator)) = &db.loaded
            && *loaded_at == version
        {
            return Ok(authenticator.clone());
        }
        let authenticator = Arc::new(api::ApiKeyAuthenticator::new(self.read_all(&db.conn)?));
        db.loaded = Some((version, authenticator.clone()));
        Ok(authenticator)
    }

    /// Creates a key; returns `(key_id, key)`. The key is 32 random bytes, hex, prefixed `pa_`
    /// (a client's) or `pa_op_` (an operator's).
    pub fn create(&self) -> Result<(String, String), rusqlite::Error> {
        let key_id = format!(
            "{}{}",
            self.kind.id_prefix(),
            &Uuid::new_v4().simple().to_string()[..12]
        );
        let secret: [u8; 32] = rand::random();
        let key = format!("{}{}", self.kind.key_prefix(), hex::encode(secret));
        let mut db = lock(&self.db);
        db.conn.execute(
            &format!(
                "INSERT INTO {} (key_id, sha256, created_at) VALUES (?1, ?2, ?3)",
                self.kind.table()
            ),
            params![
                key_id,
                hex::encode(api::hash_api_key(&key)),
                Utc::now().to_rfc3339()
            ],
        )?;
        // This connection's own commits do not move its data_version.
        db.loaded = None;
        Ok((key_id, key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use steps::{JobError, JobStatus, Stage};

    fn job(now: chrono::DateTime<Utc>) -> Job {
        Job::new(Uuid::new_v4(), "key-1", "uploads/x/original.png", now)
    }

    #[tokio::test]
    async fn jobs_follow_the_conditional_write_rules() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteJobStore::open(&dir.path().join("db")).unwrap();
        let j = job(Utc::now());
        let id = j.job_id;
        store.create(j.clone()).await.unwrap();
        assert_eq!(store.create(j).await, Err(JobStoreError::AlreadyExists(id)));
        let advanced = store.advance(id, Stage::MapCareer, 45).await.unwrap();
        assert_eq!(
            (advanced.status, advanced.progress),
            (JobStatus::Processing, 45)
        );
        // Progress never goes back (the parallel branches report in any order).
        let same = store.advance(id, Stage::AnalyzePet, 25).await.unwrap();
        assert_eq!((same.stage, same.progress), (Stage::MapCareer, 45));
        let failed = store
            .fail(
                id,
                JobError {
                    code: "PetAvatar.NotAPet".into(),
                    message: "no".into(),
                },
            )
            .await
            .unwrap();
        assert_eq!(failed.status, JobStatus::Failed);
        assert!(matches!(
            store.advance(id, Stage::RecordResult, 90).await,
            Err(JobStoreError::Conflict {
                current: JobStatus::Failed,
                ..
            })
        ));
        let with_arn = store.set_execution_arn(id, "arn:x").await.unwrap();
        assert_eq!(with_arn.execution_arn.as_deref(), Some("arn:x"));
        assert_eq!(with_arn.status, JobStatus::Failed);
        assert_eq!(store.list().unwrap().len(), 1);
        assert!(matches!(
            store.get(Uuid::new_v4()).await,
            Err(JobStoreError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn jobs_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let j = job(Utc::now());
        SqliteJobStore::open(&path)
            .unwrap()
            .create(j.clone())
            .await
            .unwrap();
        let again = SqliteJobStore::open(&path)
            .unwrap()
            .get(j.job_id)
            .await
            .unwrap();
        assert_eq!(again.job_id, j.job_id);
        assert_eq!(again.upload_key, j.upload_key);
    }

    #[tokio::test]
    async fn a_job_written_through_another_connection_is_read_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let server = SqliteJobStore::open(&path).unwrap();
        let other_process = SqliteJobStore::open(&path).unwrap();
        let j = job(Utc::now());
        let id = j.job_id;
        server.create(j).await.unwrap();
        // Parsed and kept by `server`, then changed behind its back.
        assert_eq!(server.get(id).await.unwrap().status, JobStatus::Queued);
        other_process
            .advance(id, Stage::GenerateAvatar, 60)
            .await
            .unwrap();
        let seen = server.get(id).await.unwrap();
        assert_eq!(
            (seen.status, seen.stage, seen.progress),
            (JobStatus::Processing, Stage::GenerateAvatar, 60)
        );
        // Its own writes are seen too, and a repeated read gives the same job.
        server.advance(id, Stage::WriteIdentity, 80).await.unwrap();
        let first = server.get(id).await.unwrap();
        assert_eq!(first.progress, 80);
        assert_eq!(
            serde_json::to_value(&first).unwrap(),
            serde_json::to_value(server.get(id).await.unwrap()).unwrap()
        );
    }

    #[tokio::test]
    async fn parsed_jobs_beyond_the_limit_are_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteJobStore::open(&dir.path().join("db")).unwrap();
        let mut ids = Vec::new();
        for _ in 0..PARSED_JOBS + 10 {
            let j = job(Utc::now());
            ids.push(j.job_id);
            store.create(j).await.unwrap();
        }
        assert_eq!(lock(&store.db).parsed.jobs.len(), PARSED_JOBS);
        for id in ids {
            assert_eq!(store.get(id).await.unwrap().job_id, id);
        }
    }

    #[tokio::test]
    async fn objects_round_trip_and_stay_in_their_folder() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsObjectStore::new(dir.path().join("bucket"));
        store
            .put(
                "uploads/a/original.png",
                Bytes::from_static(b"png"),
                "image/png",
            )
            .await
            .unwrap();
        assert_eq!(
            store.get("uploads/a/original.png").await.unwrap(),
            Bytes::from_static(b"png")
        );
        let meta = store.head("uploads/a/original.png").await.unwrap();
        assert_eq!(
            (meta.size, meta.content_type.as_deref()),
            (3, Some("image/png"))
        );
        assert!(matches!(
            store.head("uploads/b").await,
            Err(ObjectStoreError::NotFound(_))
        ));
        for bad in ["../x", "/etc/passwd", "a/../../x", "", "a/"] {
            assert!(store.put(bad, Bytes::new(), "x").await.is_err(), "{bad}");
        }
    }

    #[test]
    fn a_key_created_by_another_process_is_accepted_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let server = ApiKeyStore::open(&path).unwrap();
        let (first_id, first) = server.create().unwrap();
        let before = server.authenticator().unwrap();
        assert_eq!(before.owner_of(&first), Some(api::Owner(first_id)));
        // Unchanged database: the same checker, not a new read.
        assert!(Arc::ptr_eq(&before, &server.authenticator().unwrap()));
        let (second_id, second) = ApiKeyStore::open(&path).unwrap().create().unwrap();
        assert_eq!(before.owner_of(&second), None);
        assert_eq!(
            server.authenticator().unwrap().owner_of(&second),
            Some(api::Owner(second_id))
        );
        let (third_id, third) = server.create().unwrap();
        assert_eq!(
            server.authenticator().unwrap().owner_of(&third),
            Some(api::Owner(third_id))
        );
    }

    #[test]
    fn api_keys_are_stored_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = ApiKeyStore::open(&path).unwrap();
        let (id, key) = store.create().unwrap();
        let auth = api::ApiKeyAuthenticator::new(store.all().unwrap());
        assert_eq!(auth.owner_of(&key), Some(api::Owner(id)));
        let needle = key.as_bytes();
        for file in std::fs::read_dir(dir.path()).unwrap() {
            let raw = std::fs::read(file.unwrap().path()).unwrap();
            assert!(
                !raw.windows(needle.len()).any(|w| w == needle),
                "the key itself is stored"
            );
        }
    }
}
