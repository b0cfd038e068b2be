//! The engine's grammar-mask thread. A constrained sequence sends its matcher here before each
//! decode step and gets it back with the mask for its next pick. The engine thread never
//! waits for a mask: a sequence whose mask is late keeps its logits and picks at a later step
//! (see `Scheduler::sample_all`), while every other sequence goes on.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use llguidance::Matcher;
use toktrie::SimpleVob;

/// A matcher back from the mask thread, with the mask it computed (`None` if the grammar
/// allows nothing).
pub(super) struct Computed {
    pub matcher: Box<Matcher>,
    pub mask: Option<SimpleVob>,
}

/// Where one matcher's mask arrives. Disconnected: llguidance panicked on it and the matcher
/// is gone.
pub(super) type Pending = Receiver<Computed>;

struct Job {
    matcher: Box<Matcher>,
    reply: SyncSender<Computed>,
}

pub(super) struct MaskThread {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl MaskThread {
    /// Starts the thread. If it cannot start, every matcher is handed back to be masked on the
    /// engine thread (slower, still correct).
    pub fn start() -> Self {
        let (jobs, receiver) = mpsc::channel::<Job>();
        match std::thread::Builder::new()
            .name("sotto-masks".into())
            .spawn(move || receiver.into_iter().for_each(compute))
        {
            Ok(thread) => Self {
                jobs: Some(jobs),
                thread: Some(thread),
            },
            Err(error) => {
                tracing::warn!(%error, "no grammar mask thread: masks are computed in the decode loop");
                Self {
                    jobs: None,
                    thread: None,
                }
            }
        }
    }

    /// Sends `matcher` away for its next mask, or hands it back if the thread is gone.
    pub fn compute(&self, matcher: Box<Matcher>) -> Result<Pending, Box<Matcher>> {
        let Some(jobs) = &self.jobs else {
            return Err(matcher);
        };
        let (reply, pending) = mpsc::sync_channel(1);
        jobs.send(Job { matcher, reply })
            .map(|()| pending)
            .map_err(|mpsc::SendError(job)| job.matcher)
    }
}

fn compute(job: Job) {
    let Job { mut matcher, reply } = job;
    let started = std::time::Instant::now();
    // A panic inside llguidance costs only this sequence: its matcher is dropped with the
    // reply channel, and the sequence ends as broken.
    let Ok(mask) =
        std::panic::catch_unwind(AssertUnwindSafe(|| matcher.compute_mask_or_eos().ok()))
    else {
        return;
    };
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    tracing::trace!(micros, "grammar mask");
    let _ = reply.send(Computed { matcher, mask });
}

impl Drop for MaskThread {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
