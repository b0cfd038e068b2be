//! Starting, waiting for and stopping the measured servers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;

/// How the started servers are configured: the same for each of them.
#[derive(Debug, Clone)]
pub struct Launch {
    pub model_file: PathBuf,
    pub model_id: String,
    pub threads: u32,
    pub parallel: u32,
    pub ctx_size: u32,
}

/// A server under measurement, started by us or already running.
pub struct Server {
    pub name: String,
    pub base: String,
    /// The command that started it, for the report.
    pub command: Option<String>,
    process: Option<Process>,
}

/// A child process that is killed, and its scratch folder removed, when dropped: on success,
/// on error and on ctrl-c alike.
struct Process {
    child: Child,
    dir: PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    pub fn external(name: String, base: String) -> Self {
        Self {
            name,
            base,
            command: None,
            process: None,
        }
    }

    /// `sotto serve` on a models folder holding only the model, with its own data folder and
    /// no API keys.
    pub fn start_sotto(binary: &Path, launch: &Launch, extra: &[String]) -> anyhow::Result<Self> {
        let dir = scratch_dir("sotto")?;
        let models = dir.join("models");
        std::fs::create_dir_all(&models)?;
        let model = std::fs::canonicalize(&launch.model_file)
            .with_context(|| format!("model file {}", launch.model_file.display()))?;
        std::os::unix::fs::symlink(&model, models.join(format!("{}.gguf", launch.model_id)))?;
        let port = free_port()?;
        let mut args = vec![
            "serve".to_owned(),
            "--host=127.0.0.1".to_owned(),
            format!("--port={port}"),
            format!("--models-dir={}", models.display()),
            format!("--model={}", launch.model_id),
            format!("--parallel={}", launch.parallel),
            format!("--ctx-size={}", launch.ctx_size),
            format!("--threads={}", launch.threads),
            "--auth=off".to_owned(),
            format!("--data-dir={}", dir.join("data").display()),
        ];
        args.extend_from_slice(extra);
        Self::spawn("sotto", binary, &args, dir, port)
    }

    /// llama.cpp's `llama-server`; its `-c` is shared by all slots, so it gets
    /// `parallel × ctx_size` for the same context per slot.
    pub fn start_llama_server(
        binary: &Path,
        launch: &Launch,
        extra: &[String],
    ) -> anyhow::Result<Self> {
        let dir = scratch_dir("llama-server")?;
        let port = free_port()?;
        let threads = launch.threads.to_string();
        let mut args = vec![
            "-m".to_owned(),
            launch.model_file.display().to_string(),
            "--host".to_owned(),
            "127.0.0.1".to_owned(),
            "--port".to_owned(),
            port.to_string(),
            "-np".to_owned(),
            launch.parallel.to_string(),
            "-c".to_owned(),
            (u64::from(launch.parallel) * u64::from(launch.ctx_size)).to_string(),
            "-t".to_owned(),
            threads.clone(),
            "-tb".to_owned(),
            threads,
            "--no-webui".to_owned(),
        ];
        args.extend_from_slice(extra);
        Self::spawn("llama-server", binary, &args, dir, port)
    }

    fn spawn(
        name: &str,
        binary: &Path,
        args: &[String],
        dir: PathBuf,
        port: u16,
    ) -> anyhow::Result<Self> {
        let log = std::fs::File::create(dir.join("server.log"))?;
        let child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let process = Process { child, dir };
        Ok(Self {
            name: name.to_owned(),
            base: format!("http://127.0.0.1:{port}"),
            command: Some(format!("{} {}", binary.display(), args.join(" "))),
            process: Some(process),
        })
    }

    /// Waits until `/health` answers 200 and, when it lists models (sotto), `model_id` is
    /// "ready".
    pub async fn wait_ready(
        &mut self,
        client: &reqwest::Client,
        model_id: &str,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(process) = &mut self.process {
                if let Some(status) = process.child.try_wait()? {
                    bail!("{} exited ({status}):\n{}", self.name, self.log_tail());
                }
            }
            if let Ok(response) = client.get(format!("{}/health", self.base)).send().await {
                let ok = response.status().is_success();
                let health: Value = response.json().await.unwrap_or_default();
                match model_state(&health, model_id) {
                    Some("failed") => bail!("{} failed to load {model_id}", self.name),
                    Some("ready") | None if ok => return Ok(()),
                    _ => {}
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "{} not ready after {timeout:?}:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Peak resident memory (VmHWM) in MiB of a server we started.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }

    /// CPU time (user + system) used so far by a server we started, in seconds.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()?)).ok()?;
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        // USER_HZ is 100 on every Linux architecture the kernel exposes to user space.
        Some(ticks / 100.0)
    }

    fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.child.id())
    }

    fn log_tail(&self) -> String {
        let Some(process) = &self.process else {
            return String::new();
        };
        let log = std::fs::read_to_string(process.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// The state sotto's `/health` gives a model; `None` when the answer lists no such model.
fn model_state<'a>(health: &'a Value, model_id: &str) -> Option<&'a str> {
    health["models"]
        .as_array()?
        .iter()
        .find(|m| m["id"] == model_id)?["state"]
        .as_str()
}

fn scratch_dir(name: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("sotto-bench-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// A port nobody listens on right now.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn health_states_are_read_per_model() {
        let health = json!({ "models": [{ "id": "a", "state": "loading" }] });
        assert_eq!(model_state(&health, "a"), Some("loading"));
        assert_eq!(model_state(&health, "b"), None);
        assert_eq!(model_state(&json!({ "status": "ok" }), "a"), None);
    }
}
