//! The real `sotto` binary as a child process, for what an in-process server cannot show: its
//! memory, its file descriptors under a low limit, everything it prints.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to start the server beyond its defaults (see [`ServerProcess::launch`]).
#[derive(Default, Clone, Copy)]
pub struct Launch<'a> {
    /// Appended to `sotto serve`.
    pub args: &'a [&'a str],
    /// Run under `ulimit -n` this low.
    pub max_files: Option<u32>,
    /// Set in the child's environment (after every `SOTTO_*` variable was removed).
    pub env: &'a [(&'a str, &'a str)],
    /// The default model is also in models/ under these ids.
    pub model_aliases: &'a [&'a str],
    /// The child's working directory; `root` when `None`.
    pub current_dir: Option<&'a Path>,
}

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
    pub fn start(root: &Path, args: &[&str], max_files: Option<u32>) -> Self {
        Self::launch(
            root,
            &Launch {
                args,
                max_files,
                ..Launch::default()
            },
        )
    }

    /// [`ServerProcess::start`] with these environment variables set (`SOTTO_*` ones too).
    pub fn start_with_env(
        root: &Path,
        args: &[&str],
        max_files: Option<u32>,
        env: &[(&str, &str)],
    ) -> Self {
        Self::launch(
            root,
            &Launch {
                args,
                max_files,
                env,
                ..Launch::default()
            },
        )
    }

    /// [`ServerProcess::start`] with everything [`Launch`] can add.
    // The child is killed and waited for by Drop, which clippy cannot see through.
    #[allow(clippy::zombie_processes)]
    pub fn launch(root: &Path, launch: &Launch) -> Self {
        let Launch {
            args,
            max_files,
            env,
            model_aliases,
            current_dir,
        } = *launch;
        let models = root.join("models");
        let data = root.join("data");
        let tmp = root.join("tmp");
        for dir in [&models, &data, &tmp] {
            std::fs::create_dir_all(dir).expect("dir");
        }
        for id in std::iter::once(super::MODEL).chain(model_aliases.iter().copied()) {
            std::os::unix::fs::symlink(super::model_file(), models.join(format!("{id}.gguf")))
                .expect("link");
        }
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
            .args(["serve", "--port", "0"])
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
        // The harness's sizes, as variables: a test's own flags win over them. One engine
        // thread: see `test_config`.
        command
            .env("SOTTO_CTX_SIZE", "1024")
            .env("SOTTO_PARALLEL", "2")
            .env("SOTTO_THREADS", "1")
            .envs(env.iter().copied());
        // Not the checkout: a developer's own sotto.toml there must not configure tests.
        command.current_dir(current_dir.unwrap_or(root));
        let child = command.spawn().expect("the server starts");
        Self::listening(child, root)
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

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.root.join("stdout.log")).unwrap_or_default()
    }

    /// Stops the server as Ctrl-C does (SIGINT) and waits up to `timeout` for it to exit;
    /// panics (after killing it) if it does not, or if it exits with a failure.
    pub fn interrupt(&mut self, timeout: Duration) {
        self.signal("INT");
        let status = self.wait_exit(timeout);
        assert!(
            status.success(),
            "the server exited with {status} on SIGINT:\n{}",
            self.stderr()
        );
    }

    /// Sends the server signal `name` (`INT`, `TERM`).
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIG{name} could not be sent");
    }

    /// Waits up to `timeout` for the server to exit; panics (after killing it) if it does not.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("the child's status") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the server did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl ServerProcess {
    /// Starts `sotto serve` with the default model in `root`, exactly `args` and `env` (and
    /// `--models-dir`, `--data-dir`; no other flag, and no `SOTTO_*` variable of this
    /// process). Waits until it listens, failing on a server that exits first.
    #[allow(clippy::zombie_processes)]
    pub fn start_exactly(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let models = root.join("models");
        let data = root.join("data");
        for dir in [&models, &data] {
            std::fs::create_dir_all(dir).expect("dir");
        }
        let link = models.join(format!("{}.gguf", super::MODEL));
        if !link.exists() {
            std::os::unix::fs::symlink(super::model_file(), link).expect("link");
        }
        let mut command = sotto_command();
        command
            .arg("serve")
            .args(args)
            .arg("--models-dir")
            .arg(&models)
            .arg("--data-dir")
            .arg(&data)
            .envs(env.iter().copied())
            .stdout(std::fs::File::create(root.join("stdout.log")).expect("stdout file"))
            .stderr(std::fs::File::create(root.join("stderr.log")).expect("stderr file"))
            .stdin(Stdio::null());
        let child = command.spawn().expect("the server starts");
        Self::listening(child, root)
    }

    /// Waits (60 s at most) until the server started in `root` says where it listens; fails
    /// at once if it exits first.
    pub fn listening(mut child: Child, root: &Path) -> Self {
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
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the server exited ({status}):\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "the server did not start:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .expect("a port in the base URL")
    }
}

/// The `sotto` binary without this process's `SOTTO_*` variables, run outside the checkout (a
/// developer's own configuration, variables or `sotto.toml`, must not change what a test sees).
pub fn sotto_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sotto"));
    command.current_dir(std::env::temp_dir());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SOTTO_") {
            command.env_remove(name);
        }
    }
    command
}

/// Runs `command` to its end with `stdin` as its whole input (then end of file).
pub fn output_with_stdin(mut command: Command, stdin: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("stdin written");
    child.wait_with_output().expect("output")
}

/// Runs `command` to its end, or kills it after `limit` and fails: a command that should
/// exit must not hang a test forever when it does not.
pub fn output_within(mut command: Command, limit: Duration) -> std::process::Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("runs");
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!(
                "still running after {limit:?}:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
