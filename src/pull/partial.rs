//! `ID.gguf.partial`: a download in progress, locked against a second pull of the same model,
//! hashed as it is written so that a resumed file's SHA-256 covers every byte on disk.
//!
//! Writes are plain blocking writes: this is a command-line download whose one task waits
//! on each write anyway.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::PullError;

pub struct Partial {
    pub path: PathBuf,
    file: BufWriter<File>,
    hasher: Sha256,
    /// Bytes on disk (once flushed), all of them hashed.
    pub written: u64,
    /// The file's first bytes, for the GGUF magic check.
    head: Vec<u8>,
}

impl Partial {
    /// Opens (or creates) the partial file for model `id` and hashes what it already holds.
    pub fn open(path: PathBuf, id: &str) -> Result<Self, PullError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(PullError::disk("opening", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(PullError::Busy { id: id.to_owned() }),
            Err(TryLockError::Error(error)) => {
                return Err(PullError::disk("locking", &path)(error))
            }
        }
        let mut partial = Self {
            path,
            file: BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            written: 0,
            head: Vec::with_capacity(4),
        };
        partial.hash_existing()?;
        Ok(partial)
    }

    fn hash_existing(&mut self) -> Result<(), PullError> {
        let file = self.file.get_mut();
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let read = file
                .read(&mut buffer)
                .map_err(PullError::disk("reading", &self.path))?;
            if read == 0 {
                break;
            }
            self.hasher.update(&buffer[..read]);
            remember_head(&mut self.head, &buffer[..read]);
            self.written += read as u64;
        }
        // Appends go after what is there.
        file.seek(SeekFrom::Start(self.written))
            .map_err(PullError::disk("seeking in", &self.path))?;
        Ok(())
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<(), PullError> {
        self.file
            .write_all(bytes)
            .map_err(PullError::disk("writing", &self.path))?;
        self.hasher.update(bytes);
        remember_head(&mut self.head, bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Puts every written byte on disk (before a retry, so a resume starts where the file ends).
    pub fn flush(&mut self) -> Result<(), PullError> {
        self.file
            .flush()
            .map_err(PullError::disk("writing", &self.path))
    }

    /// Empties the file: the server sent the whole file instead of the rest.
    pub fn restart(&mut self) -> Result<(), PullError> {
        self.flush()?;
        let file = self.file.get_mut();
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
            .map_err(PullError::disk("emptying", &self.path))?;
        self.hasher = Sha256::new();
        self.written = 0;
        self.head.clear();
        Ok(())
    }

    pub fn starts_with_gguf_magic(&self) -> bool {
        self.head == b"GGUF"
    }

    /// The SHA-256 of what was written, and the file, flushed and synced to disk.
    pub fn finish(mut self) -> Result<(String, PathBuf), PullError> {
        self.flush()?;
        self.file
            .get_ref()
            .sync_all()
            .map_err(PullError::disk("syncing", &self.path))?;
        let digest = self.hasher.finalize();
        let hex = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        Ok((hex, self.path))
    }

    /// Deletes the file (a failed download that cannot be resumed).
    pub fn discard(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn remember_head(head: &mut Vec<u8>, bytes: &[u8]) {
    let wanted = 4usize.saturating_sub(head.len()).min(bytes.len());
    head.extend_from_slice(&bytes[..wanted]);
}

/// Renames the finished file to its model name (atomic within the directory) and syncs the
/// directory so the rename survives a crash.
pub fn publish(partial: &Path, target: &Path) -> Result<(), PullError> {
    std::fs::rename(partial, target).map_err(PullError::disk("renaming", partial))?;
    if let Some(dir) = target.parent() {
        File::open(dir)
            .and_then(|dir| dir.sync_all())
            .map_err(PullError::disk("syncing", dir))?;
    }
    Ok(())
}
