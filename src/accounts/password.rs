//! Password hashing with Argon2id at OWASP's minimum cost (m = 19456 KiB, t = 2, p = 1), on a
//! small pool of dedicated threads.
//!
//! Every check allocates 19 MiB. Run one per login request on the runtime's blocking threads
//! (up to 512 of them) and a flood of logins takes gigabytes, which the allocator then keeps
//! in per-thread arenas. The pool runs at most [`Pool::WORKERS_PER_CORE`] × cores checks at once,
//! always on the same threads (so each re-uses its own block), lets a few more wait, and
//! answers [`PasswordError::Busy`] to the rest: memory stays flat under any flood.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

pub const MIN_LEN: usize = 8;
pub const MAX_LEN: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Every hashing thread is busy and the queue is full: try again in a moment.
    #[error("password checks are busy")]
    Busy,
    #[error("hashing a password failed")]
    Failed,
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Whether the length is acceptable, counted in characters.
pub fn acceptable(password: &str) -> bool {
    (MIN_LEN..=MAX_LEN).contains(&password.chars().count())
}

/// The hashing threads of one server.
#[derive(Clone)]
pub struct Hasher {
    pool: Arc<Pool>,
}

impl Hasher {
    /// [`Pool::WORKERS_PER_CORE`] threads per core.
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            pool: Arc::new(Pool::new(cores * Pool::WORKERS_PER_CORE)),
        }
    }

    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.pool
            .run(move || hash_blocking(&password))
            .await?
            .ok_or(PasswordError::Failed)
    }

    /// Checks a password against a stored hash. Without a stored hash (unknown email) it
    /// checks against a dummy hash of the same cost, so the answer takes as long either way.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        self.pool
            .run(move || {
                let exists = stored.is_some();
                let stored = stored.as_deref().unwrap_or_else(|| dummy_hash());
                let matches = PasswordHash::new(stored).is_ok_and(|parsed| {
                    argon2()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                });
                exists && matches
            })
            .await
    }
}

fn hash_blocking(password: &str) -> Option<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .ok()
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking(&super::secrets::random_token()).unwrap_or_default())
}

/// Computes the dummy hash now, so the first unknown-email login is not slower than the rest.
pub fn warm_up() {
    let _ = dummy_hash();
}

type Work = Box<dyn FnOnce() + Send>;

/// A fixed set of hashing threads behind a bounded queue. The threads end when the pool is
/// dropped (its sender closes).
struct Pool {
    work: Sender<Work>,
    /// Checks running or waiting; a caller that finds none left is told [`PasswordError::Busy`].
    places: Arc<Semaphore>,
}

impl Pool {
    const WORKERS_PER_CORE: usize = 2;
    /// Callers that may wait for a thread, per thread.
    const QUEUE_PER_WORKER: usize = 4;

    fn new(workers: usize) -> Self {
        let (work, receiver) = mpsc::channel::<Work>();
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..workers {
            let receiver = Arc::clone(&receiver);
            let spawned = std::thread::Builder::new()
                .name(format!("sotto-password-{index}"))
                .spawn(move || worker(&receiver));
            if spawned.is_err() {
                tracing::error!("could not start a password hashing thread");
            }
        }
        Self {
            work,
            places: Arc::new(Semaphore::new(workers * (1 + Self::QUEUE_PER_WORKER))),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        task: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let place: OwnedSemaphorePermit = Arc::clone(&self.places)
            .try_acquire_owned()
            .map_err(|_| PasswordError::Busy)?;
        let (reply, answer) = oneshot::channel();
        let job: Work = Box::new(move || {
            let _place = place;
            let _ = reply.send(task());
        });
        self.work.send(job).map_err(|_| PasswordError::Failed)?;
        answer.await.map_err(|_| PasswordError::Failed)
    }
}

fn worker(receiver: &Mutex<Receiver<Work>>) {
    loop {
        let job = receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_at_owasp_cost_and_verify() {
        let hasher = Hasher::new();
        let stored = hasher.hash("correct horse".into()).await.expect("hash");
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        let verify = |password: &str, stored| hasher.verify(password.into(), stored);
        assert_eq!(verify("correct horse", Some(stored.clone())).await, Ok(true));
        assert_eq!(verify("wrong horse", Some(stored)).await, Ok(false));
        assert_eq!(verify("anything", None).await, Ok(false));
    }

    #[tokio::test]
    async fn a_full_pool_answers_busy_instead_of_queueing_without_bound() {
        let pool = Pool::new(1);
        let places = 1 + Pool::QUEUE_PER_WORKER;
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let mut running = Vec::new();
        for _ in 0..places {
            let gate = Arc::clone(&gate);
            running.push(pool.run(move || {
                let _ = gate.lock().map(|gate| gate.recv());
            }));
        }
        // The places are taken when `run` is first polled.
        let mut running: Vec<_> = running.into_iter().map(Box::pin).collect();
        for task in &mut running {
            assert!(futures::poll!(task.as_mut()).is_pending());
        }
        assert_eq!(pool.run(|| ()).await, Err(PasswordError::Busy));
        for _ in 0..places {
            release.send(()).expect("release");
        }
        for task in running {
            assert_eq!(task.await, Ok(()));
        }
        assert_eq!(pool.run(|| 7).await, Ok(7));
    }
}
