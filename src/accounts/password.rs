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
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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

fn params() -> Params {
    Params::new(19_456, 2, 1, None).unwrap_or_default()
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
            .run(move |memory| hash_with(&password, memory))
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
            .run(move |memory| {
                let exists = stored.is_some();
                let stored = stored.as_deref().unwrap_or_else(|| dummy_hash());
                // Computed whether or not the user exists: `exists && verify_with(..)` would
                // skip it and answer unknown emails in a millisecond.
                let matches = verify_with(&password, stored, memory);
                exists && matches
            })
            .await
    }
}

/// Argon2's working memory, allocated once per hashing thread.
type Memory = Vec<Block>;

fn new_memory() -> Memory {
    vec![Block::default(); params().block_count()]
}

/// A new PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`), as `PasswordHasher` writes
/// it, computed in `memory`.
fn hash_with(password: &str, memory: &mut Memory) -> Option<String> {
    let salt = SaltString::generate(&mut OsRng);
    let salt = Salt::from(&salt);
    let params = params();
    let output = compute(
        password,
        Algorithm::Argon2id,
        Version::V0x13,
        &params,
        salt,
        memory,
    )?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).ok()?,
        salt: Some(salt),
        hash: Some(output),
    };
    Some(hash.to_string())
}

/// Whether `password` matches a stored PHC string, computed in `memory`. The outputs are
/// compared in constant time (`Output`'s equality).
fn verify_with(password: &str, stored: &str, memory: &mut Memory) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from)
        .ok();
    let params = Params::try_from(&parsed).ok();
    let (Some(version), Some(params)) = (version, params) else {
        return false;
    };
    compute(password, algorithm, version, &params, salt, memory)
        .is_some_and(|computed| computed == expected)
}

fn compute(
    password: &str,
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    salt: Salt<'_>,
    memory: &mut Memory,
) -> Option<Output> {
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes).ok()?;
    let blocks = params.block_count();
    if memory.len() < blocks {
        // A stored hash of a higher cost than ours (set by another tool): grow once.
        *memory = vec![Block::default(); blocks];
    }
    let length = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let argon2 = Argon2::new(algorithm, version, params.clone());
    Output::init_with(length, |out| {
        argon2
            .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..blocks])
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .ok()
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_with(&super::secrets::random_token(), &mut new_memory()).unwrap_or_default()
    })
}

/// Computes the dummy hash now, so the first unknown-email login is not slower than the rest.
pub fn warm_up() {
    let _ = dummy_hash();
}

type Work = Box<dyn FnOnce(&mut Memory) + Send>;

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
        task: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let place: OwnedSemaphorePermit = Arc::clone(&self.places)
            .try_acquire_owned()
            .map_err(|_| PasswordError::Busy)?;
        let (reply, answer) = oneshot::channel();
        let job: Work = Box::new(move |memory| {
            let _place = place;
            let _ = reply.send(task(memory));
        });
        self.work.send(job).map_err(|_| PasswordError::Failed)?;
        answer.await.map_err(|_| PasswordError::Failed)
    }
}

fn worker(receiver: &Mutex<Receiver<Work>>) {
    // Allocated by the first check (`compute`), then kept for every later one.
    let mut memory = Memory::new();
    loop {
        let job = receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        match job {
            Ok(job) => job(&mut memory),
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
        assert_eq!(
            verify("correct horse", Some(stored.clone())).await,
            Ok(true)
        );
        assert_eq!(verify("wrong horse", Some(stored)).await, Ok(false));
        assert_eq!(verify("anything", None).await, Ok(false));
    }

    #[test]
    fn hashes_verify_with_the_argon2_crate_and_back() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let mut memory = new_memory();
        let ours = hash_with("correct horse", &mut memory).expect("hash");
        let parsed = PasswordHash::new(&ours).expect("a PHC string");
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
            .hash_password(b"battery staple", &salt)
            .expect("hash")
            .to_string();
        assert!(verify_with("battery staple", &theirs, &mut memory));
        assert!(!verify_with("battery stapler", &theirs, &mut memory));
        assert!(!verify_with("battery staple", "not a hash", &mut memory));
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
            running.push(pool.run(move |_| {
                let _ = gate.lock().map(|gate| gate.recv());
            }));
        }
        // The places are taken when `run` is first polled.
        let mut running: Vec<_> = running.into_iter().map(Box::pin).collect();
        for task in &mut running {
            assert!(futures::poll!(task.as_mut()).is_pending());
        }
        assert_eq!(pool.run(|_| ()).await, Err(PasswordError::Busy));
        for _ in 0..places {
            release.send(()).expect("release");
        }
        for task in running {
            assert_eq!(task.await, Ok(()));
        }
        assert_eq!(pool.run(|_| 7).await, Ok(7));
    }
}
