//! The handle on an engine thread (the chat engine's, an embeddings context's): its command
//! channel, and the thread itself, which stopping ends and waits for.

use std::sync::mpsc::{SendError, Sender};
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;

/// The engine thread's handle: its command channel, and the thread, which [`stop`] (or
/// dropping the handle) ends and waits for. llama.cpp's process-wide state is torn down at
/// exit: a context still being freed on a detached thread at that moment crashes the process
/// (a test binary died of it after every test had passed). So `serve` returns only once its
/// engines are gone.
///
/// [`stop`]: WorkerThread::stop
pub(super) struct WorkerThread<Command> {
    commands: Mutex<Option<Sender<Command>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl<Command> WorkerThread<Command> {
    pub(super) fn new(commands: Sender<Command>, thread: JoinHandle<()>) -> Self {
        Self {
            commands: Mutex::new(Some(commands)),
            thread: Mutex::new(Some(thread)),
        }
    }

    pub(super) fn send(&self, command: Command) -> Result<(), SendError<Command>> {
        match &*lock(&self.commands) {
            Some(commands) => commands.send(command),
            None => Err(SendError(command)),
        }
    }

    /// Whether the thread runs and takes commands.
    pub(super) fn is_running(&self) -> bool {
        lock(&self.commands).is_some()
            && lock(&self.thread)
                .as_ref()
                .is_some_and(|thread| !thread.is_finished())
    }

    /// Closes the channel, which ends the thread within one decode step (see `Scheduler::run`),
    /// and waits until it has ended. Blocking; idempotent.
    pub(super) fn stop(&self) {
        lock(&self.commands).take();
        let thread = lock(&self.thread).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl<Command> Drop for WorkerThread<Command> {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
