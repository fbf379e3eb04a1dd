//! A queue with SQS semantics in SQLite: a received message stays invisible for the
//! visibility timeout and comes back if not deleted; each receive counts, and a message
//! received `max_receives` times moves to the dead-letter queue on its next receive
//! (SQS's redrive policy with `maxReceiveCount`). Messages come in the order they were sent
//! (as on a FIFO queue), so jobs start in the order they were submitted.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::Notify;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("receipt handle is not current (message deleted, or received again)")]
    StaleReceipt,
    #[error("the queue's blocking task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A received message: what SQS's ReceiveMessage returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// `ApproximateReceiveCount`, this receive included.
    pub receive_count: u32,
}

/// The two queues live in one table, told apart by `queue`.
const MAIN: &str = "main";
const DEAD_LETTER: &str = "dlq";

/// A message of the dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub message_id: String,
    pub body: String,
    pub receive_count: u32,
    /// Why its last receive was not handled, if the worker said.
    pub last_error: Option<String>,
    pub sent_at: DateTime<Utc>,
}

/// Databases made before dead letters kept their error lack the column: add it.
fn add_last_error_column(conn: &Connection) -> Result<(), rusqlite::Error> {
    let has: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('queue_messages') WHERE name = 'last_error'")?
        .exists([])?;
    if !has {
        conn.execute_batch("ALTER TABLE queue_messages ADD COLUMN last_error TEXT")?;
    }
    Ok(())
}

#[derive(Clone)]
pub struct SqliteQueue {
    conn: Arc<Mutex<Connection>>,
    max_receives: u32,
    /// Woken by each message sent through this handle (or its clones), so that a consumer
    /// in the same process need not wait for its next poll.
    sent: Arc<Notify>,
}

impl SqliteQueue {
    pub fn open(path: &Path, max_receives: u32) -> Result<Self, QueueError> {
        let conn = Connection::open(path)?;
        Self::with_connection(conn, max_receives)
    }

    /// The receives a message gets before its next receive moves it to the dead-letter queue.
    pub fn max_receives(&self) -> u32 {
        self.max_receives
    }

    pub fn in_memory(max_receives: u32) -> Result<Self, QueueError> {
        Self::with_connection(Connection::open_in_memory()?, max_receives)
    }

    fn with_connection(conn: Connection, max_receives: u32) -> Result<Self, QueueError> {
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE IF NOT EXISTS queue_messages (
                 message_id TEXT PRIMARY KEY,
                 queue TEXT NOT NULL,
                 body TEXT NOT NULL,
                 sent_at_ms INTEGER NOT NULL,
                 visible_at_ms INTEGER NOT NULL,
                 receive_count INTEGER NOT NULL DEFAULT 0,
                 receipt_handle TEXT
             );
             CREATE INDEX IF NOT EXISTS queue_messages_visible
                 ON queue_messages(queue, visible_at_ms, sent_at_ms);
             CREATE TABLE IF NOT EXISTS queue_dedup (
                 dedup_id TEXT PRIMARY KEY,
                 message_id TEXT NOT NULL,
                 sent_at_ms INTEGER NOT NULL
             );",
        )?;
        add_last_error_column(&conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            max_receives,
            sent: Arc::new(Notify::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        match self.conn.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// SendMessage: returns the message id.
    pub fn send(&self, body: &str, now: DateTime<Utc>) -> Result<String, QueueError> {
        let id = Uuid::new_v4().to_string();
        let now_ms = now.timestamp_millis();
        self.lock().execute(
            "INSERT INTO queue_messages (message_id, queue, body, sent_at_ms, visible_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?4)",
            params![id, MAIN, body, now_ms],
        )?;
        self.sent.notify_one();
        Ok(id)
    }

    /// Returns when a message has been sent through this queue handle since the last call
    /// returned (at once if one was). Messages from other processes, and messages that become
    /// visible again, are not signalled: a consumer still polls for those.
    pub async fn message_sent(&self) {
        self.sent.notified().await;
    }

    /// SendMessage with a deduplication id, as on an SQS FIFO queue: a second message with
    /// the same id within `window` is accepted but not enqueued. Returns the message id and
    /// whether this call enqueued it.
    pub fn send_deduplicated(
        &self,
        body: &str,
        dedup_id: &str,
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<(String, bool), QueueError> {
        let now_ms = now.timestamp_millis();
        let since = now_ms.saturating_sub(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let earlier: Option<String> = tx
            .query_row(
                "SELECT message_id FROM queue_dedup WHERE dedup_id = ?1 AND sent_at_ms > ?2",
                params![dedup_id, since],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(message_id) = earlier {
            return Ok((message_id, false));
        }
        let id = Uuid::new_v4().to_string();
        tx.execute(
            "INSERT INTO queue_messages (message_id, queue, body, sent_at_ms, visible_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?4)",
            params![id, MAIN, body, now_ms],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO queue_dedup (dedup_id, message_id, sent_at_ms) VALUES (?1, ?2, ?3)",
            params![dedup_id, id, now_ms],
        )?;
        tx.commit()?;
        self.sent.notify_one();
        Ok((id, true))
    }

    /// ReceiveMessage: up to `max` visible messages, hidden for `visibility` afterwards.
    pub fn receive(
        &self,
        max: usize,
        visibility: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let now_ms = now.timestamp_millis();
        let hidden_until =
            now_ms.saturating_add(i64::try_from(visibility.as_millis()).unwrap_or(i64::MAX));
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let candidates: Vec<(String, String, u32)> = {
            let mut stmt = tx.prepare(
                "SELECT message_id, body, receive_count FROM queue_messages
                 WHERE queue = ?1 AND visible_at_ms <= ?2 ORDER BY sent_at_ms, rowid",
            )?;
            let rows = stmt.query_map(params![MAIN, now_ms], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        let mut received = Vec::new();
        for (message_id, body, count) in candidates {
            if received.len() >= max {
                break;
            }
            if count >= self.max_receives {
                tx.execute(
                    "UPDATE queue_messages SET queue = ?2, receipt_handle = NULL, visible_at_ms = ?3
                     WHERE message_id = ?1",
                    params![message_id, DEAD_LETTER, now_ms],
                )?;
                tracing::warn!(
                    message_id,
                    receive_count = count,
                    "message moved to the dead-letter queue"
                );
                continue;
            }
            let receipt_handle = Uuid::new_v4().to_string();
            tx.execute(
                "UPDATE queue_messages SET receive_count = receive_count + 1,
                     receipt_handle = ?2, visible_at_ms = ?3 WHERE message_id = ?1",
                params![message_id, receipt_handle, hidden_until],
            )?;
            received.push(ReceivedMessage {
                message_id,
                receipt_handle,
                body,
                receive_count: count + 1,
            });
        }
        tx.commit()?;
        Ok(received)
    }

    /// DeleteMessage with the handle of the latest receive.
    pub fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        let changed = self.lock().execute(
            "DELETE FROM queue_messages WHERE queue = ?1 AND receipt_handle = ?2",
            params![MAIN, receipt_handle],
        )?;
        if changed == 0 {
            return Err(QueueError::StaleReceipt);
        }
        Ok(())
    }

    /// ChangeMessageVisibility: e.g. zero to make a message visible again at once.
    pub fn change_visibility(
        &self,
        receipt_handle: &str,
        visibility: Duration,
        now: DateTime<Utc>,
    ) -> Result<(), QueueError> {
        let visible_at = now
            .timestamp_millis()
            .saturating_add(i64::try_from(visibility.as_millis()).unwrap_or(i64::MAX));
        let changed = self.lock().execute(
            "UPDATE queue_messages SET visible_at_ms = ?3 WHERE queue = ?1 AND receipt_handle = ?2",
            params![MAIN, receipt_handle, visible_at],
        )?;
        if changed == 0 {
            return Err(QueueError::StaleReceipt);
        }
        Ok(())
    }

    /// Messages in the main queue (visible or in flight).
    pub fn depth(&self) -> Result<usize, QueueError> {
        self.count(MAIN)
    }

    /// Messages in the dead-letter queue.
    pub fn dead_letter_depth(&self) -> Result<usize, QueueError> {
        self.count(DEAD_LETTER)
    }

    /// Why the latest receive of a message was not handled, kept with it (into the dead-letter
    /// queue) for the operator. A stale handle changes nothing.
    pub fn record_error(&self, receipt_handle: &str, error: &str) -> Result<(), QueueError> {
        self.lock().execute(
            "UPDATE queue_messages SET last_error = ?2 WHERE receipt_handle = ?1",
            params![receipt_handle, error],
        )?;
        Ok(())
    }

    /// The dead-letter queue, oldest first, with what an operator needs to judge a message.
    pub fn dead_letter_messages(&self) -> Result<Vec<DeadLetter>, QueueError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT message_id, body, receive_count, last_error, sent_at_ms FROM queue_messages
             WHERE queue = ?1 ORDER BY sent_at_ms, rowid",
        )?;
        let rows = stmt.query_map(params![DEAD_LETTER], |r| {
            Ok(DeadLetter {
                message_id: r.get(0)?,
                body: r.get(1)?,
                receive_count: r.get(2)?,
                last_error: r.get(3)?,
                sent_at: DateTime::from_timestamp_millis(r.get(4)?).unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Moves dead letters back to the main queue (all, or the one with `message_id`), visible
    /// at once and with their receive count reset, as SQS's dead-letter redrive
    /// (StartMessageMoveTask) does; returns how many moved.
    pub fn replay_dead_letters(
        &self,
        message_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<usize, QueueError> {
        let changed = self.lock().execute(
            "UPDATE queue_messages SET queue = ?1, receive_count = 0, receipt_handle = NULL,
                 visible_at_ms = ?3
             WHERE queue = ?2 AND (?4 IS NULL OR message_id = ?4)",
            params![MAIN, DEAD_LETTER, now.timestamp_millis(), message_id],
        )?;
        if changed > 0 {
            self.sent.notify_one();
        }
        Ok(changed)
    }

    /// Deletes dead letters (all, or the one with `message_id`); returns how many.
    pub fn purge_dead_letters(&self, message_id: Option<&str>) -> Result<usize, QueueError> {
        Ok(self.lock().execute(
            "DELETE FROM queue_messages WHERE queue = ?1 AND (?2 IS NULL OR message_id = ?2)",
            params![DEAD_LETTER, message_id],
        )?)
    }

    /// Bodies of the dead-letter queue, oldest first.
    pub fn dead_letters(&self) -> Result<Vec<String>, QueueError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT body FROM queue_messages WHERE queue = ?1 ORDER BY sent_at_ms, rowid",
        )?;
        let rows = stmt.query_map(params![DEAD_LETTER], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn count(&self, queue: &str) -> Result<usize, QueueError> {
        let n: Option<i64> = self
            .lock()
            .query_row(
                "SELECT COUNT(*) FROM queue_messages WHERE queue = ?1",
                params![queue],
                |r| r.get(0),
            )
            .optional()?;
        Ok(usize::try_from(n.unwrap_or(0)).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    const VIS: Duration = Duration::from_secs(30);

    #[test]
    fn dead_letters_keep_their_last_error_and_are_replayed_or_purged() {
        let q = SqliteQueue::in_memory(2).unwrap();
        let first = q.send("a", t(0)).unwrap();
        q.send("b", t(1)).unwrap();
        for round in 0..2 {
            for m in q.receive(10, Duration::ZERO, t(10 + round)).unwrap() {
                q.record_error(&m.receipt_handle, &format!("failed {}", m.body))
                    .unwrap();
            }
        }
        assert!(q.receive(10, Duration::ZERO, t(20)).unwrap().is_empty());
        let dead = q.dead_letter_messages().unwrap();
        assert_eq!(
            dead.iter()
                .map(|d| (d.body.as_str(), d.receive_count, d.last_error.as_deref()))
                .collect::<Vec<_>>(),
            [("a", 2, Some("failed a")), ("b", 2, Some("failed b"))]
        );
        assert_eq!(q.replay_dead_letters(Some(&first), t(30)).unwrap(), 1);
        let again = q.receive(10, VIS, t(30)).unwrap();
        assert_eq!(
            (again.len(), again[0].body.as_str(), again[0].receive_count),
            (1, "a", 1)
        );
        assert_eq!(q.replay_dead_letters(Some("no-such-id"), t(30)).unwrap(), 0);
        assert_eq!(q.purge_dead_letters(None).unwrap(), 1);
        assert_eq!(q.dead_letter_depth().unwrap(), 0);
        assert_eq!(q.depth().unwrap(), 1, "the replayed one is not purged");
    }

    #[test]
    fn a_queue_made_before_last_error_gains_the_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE queue_messages (message_id TEXT PRIMARY KEY, queue TEXT NOT NULL,
                 body TEXT NOT NULL, sent_at_ms INTEGER NOT NULL, visible_at_ms INTEGER NOT NULL,
                 receive_count INTEGER NOT NULL DEFAULT 0, receipt_handle TEXT);",
        )
        .unwrap();
        drop(conn);
        let q = SqliteQueue::open(&path, 3).unwrap();
        q.send("a", t(0)).unwrap();
        let m = q.receive(1, VIS, t(0)).unwrap();
        q.record_error(&m[0].receipt_handle, "boom").unwrap();
        assert!(SqliteQueue::open(&path, 3).is_ok(), "and opens again");
    }

    #[test]
    fn a_received_message_is_invisible_until_its_timeout() {
        let q = SqliteQueue::in_memory(3).unwrap();
        q.send("a", t(0)).unwrap();
        let first = q.receive(10, VIS, t(0)).unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].receive_count, 1);
        assert!(q.receive(10, VIS, t(29)).unwrap().is_empty());
        let again = q.receive(10, VIS, t(30)).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].receive_count, 2);
        assert_ne!(again[0].receipt_handle, first[0].receipt_handle);
    }

    #[test]
    fn delete_needs_the_latest_receipt() {
        let q = SqliteQueue::in_memory(3).unwrap();
        q.send("a", t(0)).unwrap();
        let first = q.receive(1, VIS, t(0)).unwrap().remove(0);
        let second = q.receive(1, VIS, t(31)).unwrap().remove(0);
        assert!(matches!(
            q.delete(&first.receipt_handle),
            Err(QueueError::StaleReceipt)
        ));
        q.delete(&second.receipt_handle).unwrap();
        assert_eq!(q.depth().unwrap(), 0);
        assert!(q.receive(1, VIS, t(100)).unwrap().is_empty());
    }

    #[test]
    fn moves_to_the_dead_letter_queue_after_max_receives() {
        let q = SqliteQueue::in_memory(3).unwrap();
        q.send("poison", t(0)).unwrap();
        for i in 0..3 {
            let got = q.receive(1, VIS, t(i * 60)).unwrap();
            assert_eq!(got.len(), 1, "receive {i}");
        }
        assert!(q.receive(1, VIS, t(1000)).unwrap().is_empty());
        assert_eq!(q.depth().unwrap(), 0);
        assert_eq!(q.dead_letters().unwrap(), vec!["poison".to_owned()]);
    }

    #[test]
    fn receives_in_send_order_up_to_max() {
        let q = SqliteQueue::in_memory(3).unwrap();
        for (i, body) in ["1", "2", "3"].iter().enumerate() {
            q.send(body, t(0) + TimeDelta::milliseconds(i as i64))
                .unwrap();
        }
        let got = q.receive(2, VIS, t(1)).unwrap();
        let bodies: Vec<_> = got.iter().map(|m| m.body.as_str()).collect();
        assert_eq!(bodies, ["1", "2"]);
    }

    #[test]
    fn messages_of_one_millisecond_come_in_send_order() {
        let q = SqliteQueue::in_memory(3).unwrap();
        let sent: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        for body in &sent {
            q.send(body, t(0)).unwrap();
        }
        let got: Vec<String> = q
            .receive(20, VIS, t(0))
            .unwrap()
            .into_iter()
            .map(|m| m.body)
            .collect();
        assert_eq!(got, sent);
    }

    #[test]
    fn deduplicates_within_the_window() {
        let q = SqliteQueue::in_memory(3).unwrap();
        let window = Duration::from_secs(300);
        let (first, sent) = q.send_deduplicated("a", "job-1", window, t(0)).unwrap();
        assert!(sent);
        let (again, sent_again) = q.send_deduplicated("a", "job-1", window, t(10)).unwrap();
        assert!(!sent_again);
        assert_eq!(first, again);
        assert!(q.send_deduplicated("b", "job-2", window, t(10)).unwrap().1);
        assert_eq!(q.depth().unwrap(), 2);
        assert!(q.send_deduplicated("a", "job-1", window, t(301)).unwrap().1);
        assert_eq!(q.depth().unwrap(), 3);
    }

    #[test]
    fn visibility_can_be_reset() {
        let q = SqliteQueue::in_memory(3).unwrap();
        q.send("a", t(0)).unwrap();
        let m = q.receive(1, VIS, t(0)).unwrap().remove(0);
        q.change_visibility(&m.receipt_handle, Duration::ZERO, t(1))
            .unwrap();
        assert_eq!(q.receive(1, VIS, t(1)).unwrap().len(), 1);
    }

    #[test]
    fn survives_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        SqliteQueue::open(&path, 3)
            .unwrap()
            .send("kept", t(0))
            .unwrap();
        let q = SqliteQueue::open(&path, 3).unwrap();
        assert_eq!(q.receive(1, VIS, t(1)).unwrap()[0].body, "kept");
    }
}
