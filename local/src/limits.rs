//! Per-key limits of `petavatar serve`: how many uploads one API key's jobs may stream at once,
//! and how many presigned forms one key may hold open (issued, not expired, not used yet; each
//! one is a job record). Past a limit the server answers 429 with `Retry-After` instead of
//! letting one key holder take the server's memory, disk or database for itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use uuid::Uuid;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Uploads in progress, per owner (the id of the API key whose job it is).
#[derive(Debug)]
pub struct UploadSlots {
    max_per_owner: usize,
    in_use: Mutex<HashMap<String, usize>>,
}

/// One upload in progress; its slot is given back when this is dropped (the upload stored,
/// refused, or abandoned by its client).
#[derive(Debug)]
pub struct UploadSlot {
    slots: Arc<UploadSlots>,
    owner: String,
}

impl UploadSlots {
    pub fn new(max_per_owner: usize) -> Arc<Self> {
        Arc::new(Self {
            max_per_owner,
            in_use: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more upload of `owner`, or `None` when it has `max_per_owner` running.
    pub fn try_acquire(self: &Arc<Self>, owner: &str) -> Option<UploadSlot> {
        let mut in_use = lock(&self.in_use);
        let count = in_use.entry(owner.to_owned()).or_insert(0);
        if *count >= self.max_per_owner {
            return None;
        }
        *count += 1;
        Some(UploadSlot {
            slots: self.clone(),
            owner: owner.to_owned(),
        })
    }

    /// Uploads of `owner` in progress.
    pub fn in_use(&self, owner: &str) -> usize {
        lock(&self.in_use).get(owner).copied().unwrap_or(0)
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut in_use = lock(&self.slots.in_use);
        if let Some(count) = in_use.get_mut(&self.owner) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                in_use.remove(&self.owner);
            }
        }
    }
}

/// Presigned forms issued and not used yet, per owner. A form counts until its upload is
/// stored or it expires.
#[derive(Debug)]
pub struct OpenForms {
    max_per_owner: usize,
    lifetime: Duration,
    open: Mutex<HashMap<String, Vec<(Uuid, Instant)>>>,
}

impl OpenForms {
    pub fn new(max_per_owner: usize, lifetime: Duration) -> Arc<Self> {
        Arc::new(Self {
            max_per_owner,
            lifetime,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `owner` may have one more form (its expired forms are forgotten first).
    pub fn has_room(&self, owner: &str, now: Instant) -> bool {
        let mut open = lock(&self.open);
        let Some(forms) = open.get_mut(owner) else {
            return self.max_per_owner > 0;
        };
        forms.retain(|(_, expires)| *expires > now);
        if forms.is_empty() {
            open.remove(owner);
            return self.max_per_owner > 0;
        }
        forms.len() < self.max_per_owner
    }

    /// A form for `job_id` was issued to `owner` at `now`.
    pub fn issued(&self, owner: &str, job_id: Uuid, now: Instant) {
        lock(&self.open)
            .entry(owner.to_owned())
            .or_default()
            .push((job_id, now + self.lifetime));
    }

    /// The upload of `job_id` was stored: its form no longer counts.
    pub fn used(&self, job_id: Uuid) {
        let mut open = lock(&self.open);
        open.retain(|_, forms| {
            forms.retain(|(id, _)| *id != job_id);
            !forms.is_empty()
        });
    }

    /// Forms of `owner` that still count.
    pub fn open_count(&self, owner: &str, now: Instant) -> usize {
        lock(&self.open)
            .get(owner)
            .map_or(0, |forms| forms.iter().filter(|(_, e)| *e > now).count())
    }
}

/// The per-key limits the local routes apply.
#[derive(Debug, Clone)]
pub struct KeyLimits {
    pub uploads: Arc<UploadSlots>,
    pub forms: Arc<OpenForms>,
}

impl KeyLimits {
    pub fn new(max_uploads_per_key: usize, max_open_forms_per_key: usize) -> Self {
        Self {
            uploads: UploadSlots::new(max_uploads_per_key),
            forms: OpenForms::new(max_open_forms_per_key, api::UPLOAD_EXPIRES_IN),
        }
    }
}

/// Generous defaults: a key's honest client (the web page, `petavatar submit`, a script of 100
/// jobs at once) stays far below them.
pub const DEFAULT_UPLOADS_PER_KEY: usize = 16;
pub const DEFAULT_OPEN_FORMS_PER_KEY: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_gets_at_most_its_slots_and_a_dropped_slot_is_given_back() {
        let slots = UploadSlots::new(2);
        let a = slots.try_acquire("key-a").unwrap();
        let _b = slots.try_acquire("key-a").unwrap();
        assert!(slots.try_acquire("key-a").is_none());
        // Another key is not affected.
        let _other = slots.try_acquire("key-b").unwrap();
        drop(a);
        assert_eq!(slots.in_use("key-a"), 1);
        assert!(slots.try_acquire("key-a").is_some());
    }

    #[test]
    fn forms_count_until_used_or_expired() {
        let forms = OpenForms::new(2, Duration::from_secs(900));
        let t0 = Instant::now();
        let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(forms.has_room("key-a", t0));
        forms.issued("key-a", first, t0);
        forms.issued("key-a", second, t0);
        assert!(!forms.has_room("key-a", t0));
        assert!(forms.has_room("key-b", t0));
        forms.used(first);
        assert!(forms.has_room("key-a", t0));
        forms.issued("key-a", Uuid::new_v4(), t0);
        assert!(!forms.has_room("key-a", t0 + Duration::from_secs(899)));
        assert!(forms.has_room("key-a", t0 + Duration::from_secs(900)));
        assert_eq!(forms.open_count("key-a", t0 + Duration::from_secs(900)), 0);
    }
}
