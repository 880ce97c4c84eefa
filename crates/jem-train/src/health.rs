//! The end-of-run health check: what an experiment declares a trained model must reach, checked
//! on the final metrics, so that a dead run is never reported as a success.
//!
//! An experiment declares two kinds of [`Threshold`]s on named metrics (the keys of
//! `metrics.json`, e.g. `energy_accuracy`, `sprite_valid`):
//!
//! * **floors** — well above chance and far below any working model. A metric under its floor
//!   means the model is broken (a collapsed run: texture samples, labels at chance); the run is
//!   **unhealthy** whatever its settings.
//! * **bars** — the targets a preset was measured to meet. They apply only to the run of that
//!   preset (a run with other settings is not expected to meet them), and a miss says the run
//!   is healthy but short of the preset's claim.
//!
//! A metric that is missing or not finite fails its threshold. [`Expectations::check`] returns
//! a [`HealthReport`]; the examples write it into `metrics.json` (`healthy`, `bars_met`,
//! `failures`) and exit with a non-zero status when it is not [`HealthReport::passed`].

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A lower bound on one metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    /// The metric's key in `metrics.json`.
    pub metric: String,
    /// The smallest acceptable value.
    pub min: f64,
}

impl Threshold {
    /// `metric ≥ min`.
    pub fn new(metric: &str, min: f64) -> Self {
        Self {
            metric: metric.to_string(),
            min,
        }
    }
}

/// The floors and bars of an experiment's preset (see the module documentation).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Expectations {
    /// Near-chance lower bounds: below any of them the model is broken.
    pub floors: Vec<Threshold>,
    /// The preset's measured targets.
    pub bars: Vec<Threshold>,
}

/// The outcome of [`Expectations::check`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthReport {
    /// Every floor met.
    pub healthy: bool,
    /// Every bar met (`None` when the bars do not apply to this run).
    pub bars_met: Option<bool>,
    /// Each failed threshold in words, floors first (e.g. "sprite_valid = 0.014 < floor 0.5").
    pub failures: Vec<String>,
}

impl HealthReport {
    /// Healthy, and every bar met where the bars apply.
    pub fn passed(&self) -> bool {
        self.healthy && self.bars_met != Some(false)
    }
}

impl Expectations {
    /// Checks `metrics` against the floors, and against the bars when `bars_apply`.
    pub fn check(&self, metrics: &BTreeMap<String, f64>, bars_apply: bool) -> HealthReport {
        let mut failures = Vec::new();
        let mut fails = |set: &[Threshold], kind: &str| -> bool {
            let mut ok = true;
            for t in set {
                match metrics.get(&t.metric) {
                    Some(v) if v.is_finite() && *v >= t.min => {}
                    Some(v) => {
                        ok = false;
                        failures.push(format!("{} = {v:.4} < {kind} {}", t.metric, t.min));
                    }
                    None => {
                        ok = false;
                        failures.push(format!("{} missing (its {kind} is {})", t.metric, t.min));
                    }
                }
            }
            ok
        };
        let healthy = fails(&self.floors, "floor");
        let bars_met = (bars_apply && !self.bars.is_empty()).then(|| fails(&self.bars, "bar"));
        HealthReport {
            healthy,
            bars_met,
            failures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn expect() -> Expectations {
        Expectations {
            floors: vec![Threshold::new("acc", 0.5)],
            bars: vec![Threshold::new("acc", 0.9), Threshold::new("valid", 0.9)],
        }
    }

    #[test]
    fn floors_bars_missing_and_nan() {
        let e = expect();
        let good = e.check(&metrics(&[("acc", 0.95), ("valid", 0.93)]), true);
        assert!(good.passed() && good.healthy && good.bars_met == Some(true));
        assert!(good.failures.is_empty());

        let short = e.check(&metrics(&[("acc", 0.85), ("valid", 0.93)]), true);
        assert!(short.healthy && short.bars_met == Some(false) && !short.passed());
        assert_eq!(short.failures, vec!["acc = 0.8500 < bar 0.9".to_string()]);
        // The same run where the bars do not apply passes.
        assert!(e.check(&metrics(&[("acc", 0.85)]), false).passed());

        let dead = e.check(&metrics(&[("acc", 0.1), ("valid", 0.01)]), false);
        assert!(!dead.healthy && !dead.passed() && dead.bars_met.is_none());
        assert!(dead.failures[0].contains("floor"), "{:?}", dead.failures);

        let nan = e.check(&metrics(&[("acc", f64::NAN)]), true);
        assert!(!nan.healthy);
        assert!(nan.failures.iter().any(|f| f.contains("valid missing")));
    }
}
