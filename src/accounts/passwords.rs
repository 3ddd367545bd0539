//! Password hashing with Argon2id (OWASP's recommended parameters are the crate defaults).
//!
//! One hash takes tens of milliseconds of a core and 19 MiB, so it never runs on an
//! HTTP worker (a flood of sign-ups once raised `/healthz` latency from ~5 ms to
//! ~70 ms): it runs on threads of its own, one per core, at the lowest scheduling
//! priority (nice 19), so that whenever a worker has a request to serve the kernel
//! lets it run first; hashes use the rest of the machine. At most [`QUEUED_PER_CORE`]
//! per core wait for a thread; a request that finds the queue full gets [`Busy`] at
//! once (503 with `Retry-After`) instead of waiting without bound.

use std::sync::{mpsc, Arc, LazyLock, Mutex, PoisonError};

use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

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

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads and the places in their queue.
struct Pool {
    /// `None` when no thread could be started: the work then runs on tokio's blocking
    /// pool, at normal priority, rather than not at all.
    jobs: Option<mpsc::Sender<Job>>,
    admitted: Arc<Semaphore>,
}

static POOL: LazyLock<Pool> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let (sender, receiver) = mpsc::channel::<Job>();
    let receiver = Arc::new(Mutex::new(receiver));
    let started = (0..cores)
        .filter(|n| {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{n}"))
                .spawn(move || hashing_thread(&receiver))
                .map_err(
                    |e| tracing::warn!(error = %e, "could not start a password-hashing thread"),
                )
                .is_ok()
        })
        .count();
    Pool {
        jobs: (started > 0).then_some(sender),
        admitted: Arc::new(Semaphore::new(cores * (1 + QUEUED_PER_CORE))),
    }
});

fn hashing_thread(jobs: &Mutex<mpsc::Receiver<Job>>) {
    if let Err(e) =
        thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
    {
        tracing::warn!(error = ?e, "password hashing runs at normal priority");
    }
    loop {
        // The lock is held only while waiting for the next job, not while running it.
        let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => job(),
            Err(mpsc::RecvError) => return,
        }
    }
}

/// The work was lost: its thread panicked.
#[derive(Debug, thiserror::Error)]
#[error("the password-hashing thread stopped before finishing")]
pub struct HashingLost;

/// A place in the queue of password work, taken before anything else is done for the
/// request, so that a busy answer leaves nothing behind (no throttle reservation).
pub struct HashingSlot {
    _admitted: OwnedSemaphorePermit,
}

/// Takes a place in the queue, or says at once that there is none.
pub fn hashing_slot() -> Result<HashingSlot, Busy> {
    POOL.admitted
        .clone()
        .try_acquire_owned()
        .map(|permit| HashingSlot { _admitted: permit })
        .map_err(|_| Busy)
}

impl HashingSlot {
    /// Runs `work` on a hashing thread once one is free.
    pub async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashingLost> {
        let Some(jobs) = &POOL.jobs else {
            return tokio::task::spawn_blocking(work)
                .await
                .map_err(|_| HashingLost);
        };
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            // The requester may have gone away; the hash is then simply unused.
            let _ = done.send(work());
        });
        jobs.send(job).map_err(|_| HashingLost)?;
        result.await.map_err(|_| HashingLost)
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
    async fn password_work_runs_on_a_hashing_thread_and_a_full_queue_says_busy() {
        let slot = hashing_slot().expect("a place in an empty queue");
        let ran_on = slot
            .run(|| std::thread::current().name().map(str::to_owned))
            .await
            .expect("ran");
        assert!(ran_on.is_some_and(|name| name.starts_with("password-hash-")));

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
