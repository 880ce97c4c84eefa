//! Evaluation metrics: accuracy per attribute and overall, expected calibration error.

use ebm_core::{Error, Result, YLayout};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Accuracy of predictions `[B, V]` against the truth `[B, V]` (int64) per variable.
pub fn accuracy_per_variable(pred: &Tensor, truth: &Tensor) -> Result<Vec<f64>> {
    if pred.size() != truth.size() || pred.dim() != 2 {
        return Err(Error::shape(
            "accuracy_per_variable",
            "predictions",
            format!("{:?}", truth.size()),
            &pred.size(),
        ));
    }
    let acc = pred.eq_tensor(truth).to_kind(Kind::Double).mean_dim(
        [0i64].as_slice(),
        false,
        Kind::Double,
    );
    Ok(Vec::<f64>::try_from(acc.to_device(tch::Device::Cpu))?)
}

/// Expected calibration error with `bins` equal-width confidence bins of one categorical
/// prediction: `probs` `[B, K]` (a distribution per row), `truth` `[B]` int64.
/// `ECE = Σ_bins (n_b / B) · |accuracy_b − mean confidence_b|` with confidence = max prob and
/// prediction = argmax (the authors' `get_calibration`, docs/REFERENCE-NOTES.md §8).
pub fn expected_calibration_error(probs: &Tensor, truth: &Tensor, bins: i64) -> Result<f64> {
    let b = probs.size()[0];
    if truth.size() != [b] || bins < 1 {
        return Err(Error::shape(
            "expected_calibration_error",
            "truth",
            format!("[{b}]"),
            &truth.size(),
        ));
    }
    let (conf, pred) = probs.to_kind(Kind::Double).max_dim(1, false);
    let correct = pred.eq_tensor(truth).to_kind(Kind::Double);
    // bin index: confidence in ((i-1)/bins, i/bins]; confidence 0 goes to bin 0.
    let idx = (&conf * bins as f64)
        .ceil()
        .to_kind(Kind::Int64)
        .clamp(1, bins)
        - 1;
    let conf_sum = idx.bincount(Some(&conf), bins);
    let acc_sum = idx.bincount(Some(&correct), bins);
    let gap = (acc_sum - conf_sum).abs().sum(Kind::Double) / b.max(1) as f64;
    Ok(gap.double_value(&[]))
}

/// Evaluation figures of a joint model on a labelled test set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EvalMetrics {
    /// Energy-based accuracy (enumeration, argmax f), mean over examples × attributes.
    pub energy_accuracy: Option<f64>,
    /// Energy-based accuracy per attribute.
    pub energy_accuracy_per_attribute: Option<Vec<f64>>,
    /// Sample-based accuracy (chains × steps of GWG, majority vote), mean over examples ×
    /// attributes.
    pub sample_accuracy: Option<f64>,
    /// Sample-based accuracy per attribute.
    pub sample_accuracy_per_attribute: Option<Vec<f64>>,
    /// Expected calibration error (20 bins) of the energy-based posterior marginals, averaged
    /// over attributes.
    pub ece: Option<f64>,
    /// Number of test examples.
    pub test_examples: i64,
    /// Which examples the accuracies are on: `"test"`, or `"validation"` (carved from the
    /// training data; see `TrainOptions::validation`); `None` without examples.
    pub split: Option<String>,
    /// Figures of the generation judges (e.g. `conditional_accuracy_x`, `sprite_valid`), by
    /// name; empty when the run has no judge (see `Trainer::set_judge`).
    #[serde(flatten)]
    pub judges: std::collections::BTreeMap<String, f64>,
}

/// Mean ECE over the variables from posterior marginals (one `[B, K_v]` per variable) and the
/// true values `[B, V]`.
pub fn mean_ece(marginals: &[Tensor], truth: &Tensor, layout: &YLayout, bins: i64) -> Result<f64> {
    let mut total = 0.0;
    for (v, m) in marginals.iter().enumerate().take(layout.num_vars()) {
        total += expected_calibration_error(m, &truth.select(1, v as i64), bins)?;
    }
    Ok(total / layout.num_vars().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ece_of_hand_made_cases() {
        // confidence 0.9 always, right 9 times out of 10: perfectly calibrated → 0.
        let probs = Tensor::from_slice(&[0.9f64, 0.1]).repeat([10, 1]);
        let mut t = vec![0i64; 10];
        t[3] = 1;
        let truth = Tensor::from_slice(&t);
        assert!(
            expected_calibration_error(&probs, &truth, 20)
                .unwrap()
                .abs()
                < 1e-12
        );
        // confidence 0.9, always wrong → 0.9
        let wrong = Tensor::ones([10], (Kind::Int64, tch::Device::Cpu));
        assert!((expected_calibration_error(&probs, &wrong, 20).unwrap() - 0.9).abs() < 1e-12);
        // two bins: half at 0.6 all right (gap 0.4), half at 1.0 all right (gap 0) → 0.2
        let p = Tensor::from_slice(&[0.6f64, 0.4, 0.6, 0.4, 1.0, 0.0, 1.0, 0.0]).view([4, 2]);
        let t = Tensor::from_slice(&[0i64, 0, 0, 0]);
        assert!((expected_calibration_error(&p, &t, 20).unwrap() - 0.2).abs() < 1e-12);
    }

    #[test]
    fn accuracy_per_variable_counts() {
        let p = Tensor::from_slice(&[0i64, 1, 1, 1]).view([2, 2]);
        let t = Tensor::from_slice(&[0i64, 0, 1, 1]).view([2, 2]);
        assert_eq!(accuracy_per_variable(&p, &t).unwrap(), vec![1.0, 0.5]);
    }
}
