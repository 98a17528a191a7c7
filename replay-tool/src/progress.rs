//! Progress of a fold: an indicatif bar (events, events/s, ETA) when standard error is a
//! terminal, a plain line every few seconds otherwise (logs, CI, `| tee`).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a plain progress line is printed.
const LINE_EVERY: Duration = Duration::from_secs(2);

pub struct Progress {
    label: String,
    total: u64,
    done: u64,
    started: Instant,
    output: Output,
}

enum Output {
    Bar(ProgressBar),
    Lines { last: Instant },
    Quiet,
}

impl Progress {
    /// A bar on a terminal, plain lines otherwise; `total` is the expected number of events.
    pub fn new(label: &str, total: u64) -> Self {
        let output = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:20} [{bar:30}] {human_pos}/{human_len} events  {per_sec}  ETA {eta}",
                )
                .expect("a valid progress template")
                .progress_chars("=> "),
            );
            bar.set_message(label.to_owned());
            Output::Bar(bar)
        } else {
            Output::Lines {
                last: Instant::now(),
            }
        };
        Progress {
            label: label.to_owned(),
            total,
            done: 0,
            started: Instant::now(),
            output,
        }
    }

    /// No output at all (library callers and tests).
    pub fn quiet(label: &str) -> Self {
        Progress {
            label: label.to_owned(),
            total: 0,
            done: 0,
            started: Instant::now(),
            output: Output::Quiet,
        }
    }

    pub fn advance(&mut self, events: u64) {
        self.done += events;
        if self.done > self.total {
            self.total = self.done;
            if let Output::Bar(bar) = &self.output {
                bar.set_length(self.total);
            }
        }
        match &mut self.output {
            Output::Bar(bar) => bar.set_position(self.done),
            Output::Lines { last } if last.elapsed() >= LINE_EVERY => {
                *last = Instant::now();
                eprintln!(
                    "{}: {}/{} events, {:.0} events/s",
                    self.label,
                    self.done,
                    self.total,
                    self.rate()
                );
            }
            Output::Lines { .. } | Output::Quiet => {}
        }
    }

    /// Events per second since the start.
    pub fn rate(&self) -> f64 {
        let seconds = self.started.elapsed().as_secs_f64();
        if seconds > 0.0 {
            self.done as f64 / seconds
        } else {
            0.0
        }
    }

    pub fn finish(&self) {
        if let Output::Bar(bar) = &self.output {
            bar.finish_and_clear();
        }
    }
}
