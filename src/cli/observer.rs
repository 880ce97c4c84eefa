//! [`RunObserver`]: progress on the terminal, evaluations into `metrics.jsonl`.

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jem_train::{EvalMetrics, IterationReport, Observer};
use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

/// Renders training progress: a bar on a terminal (iteration, loss, acceptance, ETA), nothing
/// otherwise; evaluations go to `metrics.jsonl` (appended, flushed each time) and a line on
/// stderr.
pub struct RunObserver {
    bar: ProgressBar,
    metrics: File,
    last_loss: f64,
    /// The last iteration reported (for the final table).
    pub last_report: Option<IterationReport>,
    /// Not a terminal: a plain progress line every `LOG_EVERY` (logs stay readable).
    plain: Option<Instant>,
}

/// Interval of the plain progress lines written when stderr is not a terminal.
const LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

impl RunObserver {
    /// Appends to `OUT_DIR/metrics.jsonl`; the bar spans `total` iterations from `start`.
    pub fn new(out_dir: &Path, total: usize, start: usize) -> Result<Self> {
        let bar = ProgressBar::new(total as u64);
        if std::io::stderr().is_terminal() {
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} {msg} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
        } else {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        let plain = (!std::io::stderr().is_terminal()).then(Instant::now);
        bar.set_position(start as u64);
        let path = out_dir.join("metrics.jsonl");
        let metrics = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Self {
            bar,
            metrics,
            last_loss: f64::NAN,
            last_report: None,
            plain,
        })
    }
    /// Clears the progress bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Observer for RunObserver {
    fn on_iteration(&mut self, r: &IterationReport) {
        self.bar.set_position(r.iteration as u64 + 1);
        self.last_loss = r.loss;
        let cond = r
            .cond_ll
            .map_or(String::new(), |c| format!(" cond-ll {c:+.3}"));
        let split = match (r.f_neg_joint, r.f_neg_conditional) {
            (Some(j), Some(c)) => format!(" (joint {j:+.2} cond. {c:+.2})"),
            _ => String::new(),
        };
        let msg = format!(
            "loss {:+.3} f+ {:+.2} f- {:+.2}{split}{cond} y-accept {:.2} lr {:.1e}",
            r.loss, r.f_pos, r.f_neg, r.accept_y, r.lr
        );
        if let Some(last) = &mut self.plain {
            if last.elapsed() >= LOG_EVERY {
                *last = Instant::now();
                say!(
                    "[it {}/{} {:.0}s] {msg}",
                    r.iteration + 1,
                    self.bar.length().unwrap_or(0),
                    r.seconds
                );
            }
        }
        self.bar.set_message(msg);
        self.last_report = Some(r.clone());
    }
    fn on_evaluation(&mut self, iteration: usize, m: &EvalMetrics) {
        let mut line = serde_json::json!({ "iteration": iteration, "loss": self.last_loss });
        if let (Some(obj), Ok(serde_json::Value::Object(extra))) =
            (line.as_object_mut(), serde_json::to_value(m))
        {
            obj.extend(extra);
            if let Some(r) = &self.last_report {
                obj.insert("f_pos".into(), r.f_pos.into());
                obj.insert("f_neg".into(), r.f_neg.into());
                if let Some(v) = r.f_neg_joint {
                    obj.insert("f_neg_joint".into(), v.into());
                }
                if let Some(v) = r.f_neg_conditional {
                    obj.insert("f_neg_conditional".into(), v.into());
                }
                obj.insert("accept_y".into(), r.accept_y.into());
                if let Some(c) = r.cond_ll {
                    obj.insert("cond_ll".into(), c.into());
                }
                obj.insert("train_seconds".into(), r.seconds.into());
            }
        }
        let _ = writeln!(self.metrics, "{line}");
        let _ = self.metrics.flush();
        let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
        let judges: String = m
            .judges
            .iter()
            .map(|(k, v)| format!("  {k} {v:.3}"))
            .collect();
        self.bar.suspend(|| {
            say!(
                "[eval @ {iteration}] energy acc {}  sample acc {}  ECE {}{judges}",
                fmt(m.energy_accuracy),
                fmt(m.sample_accuracy),
                fmt(m.ece)
            )
        });
    }
    fn on_checkpoint(&mut self, _path: &Path) {}
    fn on_recovery(&mut self, e: &jem_train::RecoveryEvent) {
        let line = serde_json::json!({ "recovery": e });
        let _ = writeln!(self.metrics, "{line}");
        let _ = self.metrics.flush();
        self.bar.set_position(e.rolled_back_to as u64);
        self.bar.suspend(|| {
            say!(
                "[recovery at {}] {}: rolled back to iteration {}; {}",
                e.iteration,
                e.cause,
                e.rolled_back_to,
                e.remedy
            )
        });
    }
}
