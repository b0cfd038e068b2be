//! The real `sotto` binary as a child process, for what an in-process server cannot show: its
//! memory, its file descriptors under a low limit, everything it prints.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct ServerProcess {
    pub child: Child,
    pub base: String,
    pub root: PathBuf,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Starts `sotto serve` with the default model in `root` (models/, data/, tmp/ and the logs
    /// go there), `args` appended, under `ulimit -n` when `max_files` is given. Waits until it
    /// listens (not until the model is loaded).
    // The child is killed and waited for by Drop, which clippy cannot see through.
    #[allow(clippy::zombie_processes)]
    pub fn start(root: &Path, args: &[&str], max_files: Option<u32>) -> Self {
        let models = root.join("models");
        let data = root.join("data");
        let tmp = root.join("tmp");
        for dir in [&models, &data, &tmp] {
            std::fs::create_dir_all(dir).expect("dir");
        }
        std::os::unix::fs::symlink(
            super::model_file(),
            models.join(format!("{}.gguf", super::MODEL)),
        )
        .expect("link");
        let binary = env!("CARGO_BIN_EXE_sotto");
        let mut command = match max_files {
            // `exec` keeps the pid: the child is the server itself, not a shell around it.
            Some(limit) => {
                let mut shell = Command::new("bash");
                shell
                    .arg("-c")
                    .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                    .arg(binary);
                shell
            }
            None => Command::new(binary),
        };
        command
            .args([
                "serve",
                "--port",
                "0",
                "--ctx-size",
                "1024",
                "--parallel",
                "2",
            ])
            .args(args)
            .arg("--models-dir")
            .arg(&models)
            .arg("--data-dir")
            .arg(&data)
            .env("TMPDIR", &tmp)
            .stdout(std::fs::File::create(root.join("stdout.log")).expect("stdout file"))
            .stderr(std::fs::File::create(root.join("stderr.log")).expect("stderr file"))
            .stdin(Stdio::null());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SOTTO_") {
                command.env_remove(name);
            }
        }
        let child = command.spawn().expect("the server starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = std::fs::read_to_string(root.join("stderr.log")).unwrap_or_default();
            if let Some(at) = log.find("listening on http://") {
                let address: String = log[at + 20..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                return Self {
                    child,
                    base: format!("http://{address}"),
                    root: root.to_owned(),
                };
            }
            assert!(
                Instant::now() < deadline,
                "the server did not start:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The most memory the process has had resident so far (`VmHWM`), in bytes.
    pub fn peak_resident_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("the server's /proc status");
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc status");
        kib * 1024
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.root.join("stderr.log")).unwrap_or_default()
    }
}
