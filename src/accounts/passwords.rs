//! Password hashing with Argon2id (OWASP's recommended parameters are the crate defaults).
//!
//! One hash takes tens of milliseconds of a core and 19 MiB, so it never runs on an
//! HTTP worker (a flood of sign-ups once raised `/healthz` latency from ~5 ms to
//! ~70 ms): it runs on the blocking pool, at most one per core at a time, and at most
//! [`QUEUED_PER_CORE`] per core wait for a turn. A request that finds the queue full
//! gets [`Busy`] at once (503 with `Retry-After`) instead of waiting without bound.

use std::sync::{Arc, LazyLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

/// Hashes waiting per core, beyond the one running.
pub const QUEUED_PER_CORE: usize = 8;

/// The queue of password work was full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server is busy checking passwords")]
pub struct Busy;

struct Slots {
    running: Semaphore,
    admitted: Arc<Semaphore>,
}

static SLOTS: LazyLock<Slots> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    Slots {
        running: Semaphore::new(cores),
        admitted: Arc::new(Semaphore::new(cores * (1 + QUEUED_PER_CORE))),
    }
});

/// A place in the queue of password work, taken before anything else is done for the
/// request, so that a busy answer leaves nothing behind (no throttle reservation).
pub struct HashingSlot {
    _admitted: OwnedSemaphorePermit,
}

/// Takes a place in the queue, or says at once that there is none.
pub fn hashing_slot() -> Result<HashingSlot, Busy> {
    SLOTS
        .admitted
        .clone()
        .try_acquire_owned()
        .map(|permit| HashingSlot { _admitted: permit })
        .map_err(|_| Busy)
}

impl HashingSlot {
    /// Runs `work` on the blocking pool once a core is free for it.
    pub async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        // Never closed, so acquiring only waits.
        let _running = SLOTS.running.acquire().await;
        tokio::task::spawn_blocking(work).await
    }
}

/// Fails only for parameters or salts out of range (the defaults are not) or a
/// password longer than 4 GiB.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
}

/// False for a wrong password and for a malformed stored hash alike.
pub fn verify_password(password: &str, stored_hash: &str) -> bool {
    match PasswordHash::new(stored_hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends about as long as a real verification, for logins with unknown emails.
pub fn burn_equivalent_time(password: &str) {
    // The time is what counts; a failure would be the same for the real hash.
    let _ = hash_password(password);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn password_work_runs_off_the_calling_thread_and_a_full_queue_says_busy() {
        let caller = std::thread::current().id();
        let slot = hashing_slot().expect("a place in an empty queue");
        let ran_on = slot.run(|| std::thread::current().id()).await.expect("ran");
        assert_ne!(ran_on, caller);

        let mut held = Vec::new();
        while let Ok(slot) = hashing_slot() {
            held.push(slot);
        }
        assert!(!held.is_empty());
        assert!(matches!(hashing_slot(), Err(Busy)));
        drop(held);
        assert!(hashing_slot().is_ok(), "places come back when work ends");
    }

    #[test]
    fn right_password_verifies_and_wrong_one_does_not() {
        let hash = hash_password("correct horse battery").expect("hashed");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("wrong horse battery", &hash));
        assert!(!verify_password("anything", "not a hash"));
    }
}
