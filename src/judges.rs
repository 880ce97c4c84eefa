//! Generation judges for the paper's experiments: samples of a trainer's EMA model
//! ([`Trainer::generate`]), scored by the independent judges of [`ebm_data::judge`]. Each
//! returns a [`Judge`] to install with [`Trainer::set_judge`]; the trainer runs it at every
//! evaluation and its figures join the metrics.

use ebm_core::JointEnergy;
use ebm_data::from_logit;
use ebm_data::judge::{toy_bayes_attributes, DigitJudge, SpriteJudge};
use jem_train::{Judge, Trainer};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where trained judges are cached: `$JOINT_EBM_CACHE/judges`, else
/// `$XDG_CACHE_HOME/joint-ebm/judges`, else `~/.cache/joint-ebm/judges`.
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("JOINT_EBM_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("joint-ebm")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/joint-ebm")))
        .unwrap_or_else(|| PathBuf::from(".cache/joint-ebm"));
    base.join("judges")
}

/// `values[k]` repeated `per` times each, in order.
fn repeated(values: impl Iterator<Item = i64>, per: i64) -> Vec<i64> {
    values
        .flat_map(|v| std::iter::repeat_n(v, per.max(0) as usize))
        .collect()
}

/// dSprites: for each position coordinate, `per_bin` samples with that coordinate clamped to
/// each of the 16 bins (the other sampled) → `conditional_accuracy_{x,y}` (valid sprite
/// within ±1 bin), `conditional_exact_*`, `conditional_rank_corr_*` (clamped bin vs centroid),
/// `conditional_valid_*`; `unconditional` free samples → `sprite_valid`. `real_within_one` is
/// the judge's own score on the real test images (the smaller of its x and y rates within ±1
/// bin), reported beside them.
pub fn sprites<M: JointEnergy + 'static>(
    judge: SpriteJudge,
    per_bin: i64,
    unconditional: i64,
    real_within_one: f64,
) -> Judge<M> {
    Box::new(move |t: &Trainer<M>| {
        let mut out = BTreeMap::new();
        out.insert("judge_real_test_within_one".into(), real_within_one);
        let clamped = repeated(0..16, per_bin);
        for (g, name) in [(0usize, "x"), (1, "y")] {
            let (x, _) = t.generate(clamped.len() as i64, &[(g, &clamped)], None)?;
            let r = judge.read(&from_logit(&x))?;
            let s = SpriteJudge::conditional_score(&r, g, &clamped);
            out.insert(format!("conditional_accuracy_{name}"), s.within_one);
            out.insert(format!("conditional_exact_{name}"), s.exact);
            out.insert(format!("conditional_rank_corr_{name}"), s.rank_correlation);
            out.insert(
                format!("conditional_valid_{name}"),
                SpriteJudge::valid_rate(&r),
            );
        }
        let (x, _) = t.generate(unconditional, &[], None)?;
        let r = judge.read(&from_logit(&x))?;
        out.insert("sprite_valid".into(), SpriteJudge::valid_rate(&r));
        Ok(out)
    })
}

/// MNIST: `per_class` samples clamped to each digit → `conditional_accuracy` (the judge's
/// class equals the clamped one) and `conditional_confidence`; `unconditional` free samples
/// → `judge_confidence` (mean max-probability) and `label_agreement` (the judge agrees with
/// the label sampled jointly). `test_accuracy` is the judge's own accuracy on the test split.
pub fn digits<M: JointEnergy + 'static>(
    judge: DigitJudge,
    per_class: i64,
    unconditional: i64,
    test_accuracy: f64,
) -> Judge<M> {
    Box::new(move |t: &Trainer<M>| {
        let mut out = BTreeMap::new();
        out.insert("judge_test_accuracy".into(), test_accuracy);
        let clamped = repeated(0..10, per_class);
        let (x, _) = t.generate(clamped.len() as i64, &[(0, &clamped)], None)?;
        let (classes, conf) = judge.classify(&from_logit(&x))?;
        let right = classes.iter().zip(&clamped).filter(|(a, b)| a == b).count();
        out.insert(
            "conditional_accuracy".into(),
            right as f64 / clamped.len() as f64,
        );
        out.insert(
            "conditional_confidence".into(),
            conf.iter().sum::<f64>() / conf.len() as f64,
        );
        let (x, y) = t.generate(unconditional, &[], None)?;
        let (classes, conf) = judge.classify(&from_logit(&x))?;
        let sampled = Vec::<i64>::try_from(y.reshape([-1]))?;
        let agree = classes.iter().zip(&sampled).filter(|(a, b)| a == b).count();
        out.insert(
            "judge_confidence".into(),
            conf.iter().sum::<f64>() / conf.len() as f64,
        );
        out.insert(
            "label_agreement".into(),
            agree as f64 / sampled.len() as f64,
        );
        Ok(out)
    })
}

/// Toy: for each attribute, `per_value` samples with it clamped to 0 and to 1 → the Bayes
/// classifier's attribute equals the clamped one: `conditional_accuracy_a{1,2,3}` and their
/// mean `conditional_accuracy`.
pub fn toy<M: JointEnergy + 'static>(per_value: i64) -> Judge<M> {
    Box::new(move |t: &Trainer<M>| {
        let mut out = BTreeMap::new();
        let clamped = repeated(0..2, per_value);
        let mut total = 0.0;
        for var in 0..3usize {
            let (x, _) = t.generate(clamped.len() as i64, &[(var, &clamped)], None)?;
            let attrs = toy_bayes_attributes(&x)?;
            let right = attrs
                .iter()
                .zip(&clamped)
                .filter(|(a, &c)| a[var] == c)
                .count();
            let acc = right as f64 / clamped.len() as f64;
            out.insert(format!("conditional_accuracy_a{}", var + 1), acc);
            total += acc / 3.0;
        }
        out.insert("conditional_accuracy".into(), total);
        Ok(out)
    })
}
