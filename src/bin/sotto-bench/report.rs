//! The markdown report: settings, machine, the table and the ratio of the first two servers.

use std::fmt::Write as _;

use crate::stats::LevelStats;

/// One measured server as the report names it.
pub struct ServerInfo {
    pub name: String,
    pub base: String,
    pub command: Option<String>,
}

pub struct Report {
    pub command_line: String,
    pub settings: Vec<String>,
    pub servers: Vec<ServerInfo>,
    /// Per level, the stats of each server in `servers` order.
    pub levels: Vec<Vec<LevelStats>>,
    pub notes: Vec<String>,
    pub load_before: String,
    pub load_after: String,
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        md.push_str("# sotto-bench results\n\n");
        let _ = writeln!(md, "- Date: {}", utc_now());
        let _ = writeln!(md, "- Machine: {}", machine());
        let _ = writeln!(
            md,
            "- Load average (1, 5, 15 min) before the run: {}; after: {}",
            self.load_before, self.load_after
        );
        let _ = writeln!(md, "- Command: `{}`", self.command_line);
        for setting in &self.settings {
            let _ = writeln!(md, "- {setting}");
        }
        md.push_str("\n## Servers\n\n");
        for server in &self.servers {
            match &server.command {
                Some(command) => {
                    let _ = writeln!(md, "- **{}**: `{command}`", server.name);
                }
                None => {
                    let _ = writeln!(
                        md,
                        "- **{}**: already running at {}",
                        server.name, server.base
                    );
                }
            }
        }
        md.push_str("\n## Results\n\n");
        md.push_str(&self.table());
        md.push_str(
            "\nTotal: completion tokens received during the level's window, per second. \
             Per-stream: mean of (tokens - 1) / (last token - first token) over requests that \
             ended inside the window. TTFT: from sending the request to the first text chunk. \
             Peak RSS: the server's VmHWM so far. CPU: server CPU time over the window \
             (100% = one core). Prompt cached: prompt tokens the server says it re-used \
             (`usage.prompt_tokens_details.cached_tokens`) over all prompt tokens.\n",
        );
        if let Some(errors) = self.first_errors() {
            md.push_str("\nFirst error per server and level:\n\n");
            md.push_str(&errors);
        }
        if !self.notes.is_empty() {
            md.push_str("\n## Notes\n\n");
            for note in &self.notes {
                let _ = writeln!(md, "- {note}");
            }
        }
        md
    }

    fn table(&self) -> String {
        let mut md = String::from(
            "| Clients | Server | Total tok/s | Per-stream tok/s | TTFT p50 ms | TTFT p95 ms \
             | Requests | Errors | Peak RSS MiB | CPU % | Prompt cached % |\n\
             |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for level in &self.levels {
            for (stats, server) in level.iter().zip(&self.servers) {
                let _ = writeln!(
                    md,
                    "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    stats.clients,
                    server.name,
                    stats.total_tps,
                    opt(stats.per_stream_tps, 1),
                    opt(stats.ttft_p50_ms, 0),
                    opt(stats.ttft_p95_ms, 0),
                    stats.requests,
                    stats.errors,
                    opt(stats.peak_rss_mib, 0),
                    opt(stats.cpu_percent, 0),
                    opt(stats.cached_prompt_percent, 0),
                );
            }
            if let [a, b, ..] = level.as_slice() {
                let _ = writeln!(
                    md,
                    "| {} | **{} ÷ {}** | **{}** | {} | {} | {} | | | {} | | |",
                    a.clients,
                    self.servers[0].name,
                    self.servers[1].name,
                    opt(ratio(Some(a.total_tps), Some(b.total_tps)), 2),
                    opt(ratio(a.per_stream_tps, b.per_stream_tps), 2),
                    opt(ratio(a.ttft_p50_ms, b.ttft_p50_ms), 2),
                    opt(ratio(a.ttft_p95_ms, b.ttft_p95_ms), 2),
                    opt(ratio(a.peak_rss_mib, b.peak_rss_mib), 2),
                );
            }
        }
        md
    }

    fn first_errors(&self) -> Option<String> {
        let mut md = String::new();
        for level in &self.levels {
            for (stats, server) in level.iter().zip(&self.servers) {
                if let Some(error) = &stats.first_error {
                    let _ = writeln!(md, "- {} clients, {}: {error}", stats.clients, server.name);
                }
            }
        }
        (!md.is_empty()).then_some(md)
    }
}

fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.decimals$}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    let (a, b) = (a?, b?);
    (b > 0.0).then(|| a / b)
}

/// Cores, CPU model and kernel of this machine.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown CPU", |(_, name)| name.trim());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores (nproc), {model}, Linux {}", kernel.trim())
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    loadavg
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// How idle all CPUs are over `window`, from `/proc/stat` (the load average lags too much).
pub async fn idle_percent(window: std::time::Duration) -> Option<f64> {
    let before = cpu_times()?;
    tokio::time::sleep(window).await;
    let after = cpu_times()?;
    let total = after.0.checked_sub(before.0)?;
    (total > 0).then(|| 100.0 * after.1.saturating_sub(before.1) as f64 / total as f64)
}

/// (all, idle + iowait) jiffies of the `cpu` line.
fn cpu_times() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    Some((fields.iter().sum(), fields.get(3)? + fields.get(4)?))
}

/// `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let secs = sotto::clock::now_secs();
    let (year, month, day) = sotto::clock::date_of(secs);
    let rest = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

/// The command line as typed, quoted where the shell would need it.
pub fn command_line() -> String {
    std::env::args()
        .map(|arg| {
            let plain = !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=,:@+%".contains(c));
            if plain {
                arg
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_need_both_sides() {
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio(Some(3.0), None), None);
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
    }
}
