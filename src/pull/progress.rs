//! Download progress on stderr: an `indicatif` bar on a terminal; otherwise (a log, CI, a
//! pipe) a plain line at every tenth of the file, or every few seconds when its size is
//! unknown or it is slow.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};

const LINE_EVERY: Duration = Duration::from_secs(10);

pub struct Progress {
    label: String,
    total: Option<u64>,
    kind: Kind,
}

enum Kind {
    Bar(ProgressBar),
    Lines {
        /// The tenth of the file at which the next line is printed.
        next_tenth: u64,
        last_line: Instant,
        /// Where this run started and when, for the rate.
        start: (u64, Instant),
    },
}

impl Progress {
    pub fn new(label: &str) -> Self {
        let kind = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(label.to_owned());
            Kind::Bar(bar)
        } else {
            Kind::Lines {
                next_tenth: 1,
                last_line: Instant::now(),
                start: (0, Instant::now()),
            }
        };
        Self {
            label: label.to_owned(),
            total: None,
            kind,
        }
    }

    /// A (re)start of the transfer at byte `at` of a file of `total` bytes.
    pub fn start(&mut self, at: u64, total: Option<u64>) {
        self.total = total;
        match &mut self.kind {
            Kind::Bar(bar) => {
                match total {
                    Some(total) => bar.set_length(total),
                    None => bar.set_style(ProgressStyle::default_spinner()),
                }
                bar.reset_eta();
                bar.set_position(at);
            }
            Kind::Lines {
                next_tenth, start, ..
            } => {
                *next_tenth = total.map_or(1, |total| tenth(at, total) + 1);
                *start = (at, Instant::now());
            }
        }
    }

    pub fn advance(&mut self, at: u64) {
        let total = self.total;
        match &mut self.kind {
            Kind::Bar(bar) => bar.set_position(at),
            Kind::Lines {
                next_tenth,
                last_line,
                start,
            } => {
                let crossed = total.is_some_and(|total| tenth(at, total) >= *next_tenth);
                if !crossed && last_line.elapsed() < LINE_EVERY {
                    return;
                }
                if let Some(total) = total {
                    *next_tenth = tenth(at, total) + 1;
                }
                *last_line = Instant::now();
                let seconds = start.1.elapsed().as_secs_f64().max(0.001);
                let rate = (at.saturating_sub(start.0) as f64 / seconds) as u64;
                let done = match total {
                    Some(total) => format!(
                        "{}% ({} of {})",
                        at.saturating_mul(100) / total.max(1),
                        HumanBytes(at),
                        HumanBytes(total)
                    ),
                    None => HumanBytes(at).to_string(),
                };
                eprintln!("pull: {} {done}, {}/s", self.label, HumanBytes(rate));
            }
        }
    }

    /// A line of its own (a retry, a resume), above the bar when there is one.
    pub fn note(&self, message: &str) {
        match &self.kind {
            Kind::Bar(bar) => bar.println(format!("pull: {message}")),
            Kind::Lines { .. } => eprintln!("pull: {message}"),
        }
    }

    pub fn finish(&self) {
        if let Kind::Bar(bar) = &self.kind {
            bar.finish_and_clear();
        }
    }
}

fn tenth(at: u64, total: u64) -> u64 {
    at.saturating_mul(10) / total.max(1)
}
