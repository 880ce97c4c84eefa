//! What a trained structured-sprites model knows, separated from how well its chains mix.
//!
//! For each run folder or checkpoint given: the accuracy of `argmax_k f` for each factor with
//! every other label at its true value, on 1 000 validation images, without sampling
//! (`joint_ebm::structured::factor_accuracy_given_rest`). With `--gen-sweeps 200,1000,…`, also
//! generation from noise on the validation split judged as during training (60 chains per
//! conditioning) after each number of sweeps: if the judges rise with the sweeps, the chains
//! had not mixed; if they do not, the model's conditionals are what they are. With
//! `--predict-test N`, also prediction on the first `N` test images with the final protocol's
//! chains (10 per image, 50 steps): the test rows of a run stopped before its final
//! evaluation.
//!
//! With `--gen-test N`, also generation from noise on the test split and on the held-out
//! combinations (zero-shot), N chains per conditioning with the run's `gen_sweeps`: the final
//! protocol's generation from noise (N = 240) without its buffer starts.
//!
//! With `--set KEY=VALUE` (repeatable), each model is sampled with that setting changed, as on a
//! resumed run (`JointModel::apply_overrides`): e.g. `--set langevin.noise_scale=0.01` judges
//! generation with hotter `x` chains than the run trained with.
//!
//! `cargo run --release --example sprites_probe -- [--gen-sweeps 200,1000] [--predict-test 500]
//! [--gen-test 240] [--set langevin.noise_scale=0.01] runs/sprites [runs/other/checkpoints/ckpt-00000300 …]` (models with all labels; the network is the one
//! each checkpoint records; the judges are fitted on the training split, or read from the
//! judges' cache).
use anyhow::{Context, Result};
use ebm_core::seed_everything;
use ebm_data::sprites::{SpritesConfig, StructuredSprites};
use jem_train::{GenerationStart, JointModel};
use joint_ebm::structured::{
    factor_accuracy_given_rest, generation_metrics, predict_metrics, EvalSet, Protocol, Split,
    SpriteJudges, FACTOR_JUDGE_IMAGES, FACTOR_NAMES,
};
use joint_ebm::tch::Device;
use std::collections::BTreeMap;

/// Chains per conditioning in the generation probe (the validation protocol's).
const GEN_PER_CONDITION: i64 = 60;
/// Prediction chains per test image and their steps (the final protocol's, with the sprites
/// preset's `eval_steps`).
const PREDICT_CHAINS: i64 = 10;
const PREDICT_STEPS: usize = 50;

fn main() -> Result<()> {
    let mut dirs = Vec::new();
    let mut sweeps: Vec<usize> = Vec::new();
    let mut predict_test: i64 = 0;
    let mut gen_test: i64 = 0;
    let mut overrides = jem_train::Overrides::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--predict-test" {
            predict_test = count(&a, args.next(), "images")?;
        } else if a == "--gen-test" {
            gen_test = count(&a, args.next(), "chains per conditioning")?;
        } else if a == "--set" {
            let kv = args.next().context("--set needs KEY=VALUE")?;
            overrides.set.push(kv);
        } else if a == "--gen-sweeps" {
            let list = args
                .next()
                .context("--gen-sweeps needs a list, e.g. 200,1000")?;
            for s in list.split(',') {
                let n: usize = s
                    .trim()
                    .parse()
                    .with_context(|| format!("--gen-sweeps: {s:?} is not a number of sweeps"))?;
                anyhow::ensure!(n > 0, "--gen-sweeps: sweeps must be ≥ 1");
                sweeps.push(n);
            }
        } else {
            dirs.push(a);
        }
    }
    anyhow::ensure!(
        !dirs.is_empty(),
        "give one or more run folders or checkpoints"
    );
    let mut data = StructuredSprites::generate(SpritesConfig::default())?;
    let set = EvalSet::of(&mut data, Split::Validation, 1000, Device::Cpu)?;
    let test = (predict_test > 0 || gen_test > 0)
        .then(|| {
            EvalSet::of(
                &mut data,
                Split::Test,
                predict_test.max(gen_test),
                Device::Cpu,
            )
        })
        .transpose()?;
    let zero_shot = (gen_test > 0)
        .then(|| EvalSet::of(&mut data, Split::ZeroShot, gen_test, Device::Cpu))
        .transpose()?;
    let judges = if sweeps.is_empty() && gen_test == 0 {
        None
    } else {
        Some(SpriteJudges::fit(
            &data,
            FACTOR_JUDGE_IMAGES,
            &joint_ebm::judges::cache_dir(),
        )?)
    };
    for d in dirs {
        let mut m = JointModel::load_saved(std::path::Path::new(&d), Device::Cpu)
            .with_context(|| format!("cannot load {d}"))?;
        m.apply_overrides(&overrides)
            .with_context(|| format!("--set {:?} on {d}", overrides.set))?;
        if !overrides.set.is_empty() {
            println!("{d}: sampled with {}", overrides.set.join(", "));
        }
        let acc = factor_accuracy_given_rest(m.energy(), &set.x, &set.y, &set.factors)?;
        let parts: Vec<String> = FACTOR_NAMES
            .iter()
            .zip(acc)
            .map(|(n, a)| format!("{n} {a:.3}"))
            .collect();
        println!("{d}: given the rest, by energy: {}", parts.join(", "));
        if let (Some(test), Some(judges)) = (test.as_ref().filter(|_| gen_test > 0), &judges) {
            let p = Protocol {
                predict_examples: 0,
                chains: 0,
                steps: 0,
                gen_per_condition: gen_test,
                gen_sweeps: m.config().gen_sweeps,
                starts: vec![GenerationStart::Noise],
            };
            seed_everything(0);
            let start = std::time::Instant::now();
            let mut out = BTreeMap::new();
            generation_metrics(&m, judges, test, &p, "", false, &mut out)?;
            if let Some(z) = &zero_shot {
                generation_metrics(&m, judges, z, &p, "zero_shot_", true, &mut out)?;
            }
            let parts: Vec<String> = out.iter().map(|(k, v)| format!("{k} {v:.3}")).collect();
            println!(
                "{d}: test generation from noise, {gen_test} chains per conditioning, {} sweeps \
                 ({:.0} s): {}",
                p.gen_sweeps,
                start.elapsed().as_secs_f64(),
                parts.join(", ")
            );
        }
        if let Some(test) = test.as_ref().filter(|_| predict_test > 0) {
            let p = Protocol {
                predict_examples: predict_test,
                chains: PREDICT_CHAINS,
                steps: PREDICT_STEPS,
                gen_per_condition: 0,
                gen_sweeps: 0,
                starts: Vec::new(),
            };
            seed_everything(0);
            let start = std::time::Instant::now();
            let mut out = BTreeMap::new();
            predict_metrics(&m, test, &p, "", &mut out)?;
            let parts: Vec<String> = out.iter().map(|(k, v)| format!("{k} {v:.3}")).collect();
            println!(
                "{d}: test prediction, {} images ({:.0} s): {}",
                predict_test.min(test.x.size()[0]),
                start.elapsed().as_secs_f64(),
                parts.join(", ")
            );
        }
        let Some(judges) = &judges else { continue };
        for &s in &sweeps {
            let p = Protocol {
                predict_examples: 0,
                chains: 0,
                steps: 0,
                gen_per_condition: GEN_PER_CONDITION,
                gen_sweeps: s,
                starts: vec![GenerationStart::Noise],
            };
            seed_everything(0);
            let start = std::time::Instant::now();
            let mut out = BTreeMap::new();
            generation_metrics(&m, judges, &set, &p, "", false, &mut out)?;
            let parts: Vec<String> = out.iter().map(|(k, v)| format!("{k} {v:.3}")).collect();
            println!(
                "{d}: from noise, {s} sweeps ({:.0} s): {}",
                start.elapsed().as_secs_f64(),
                parts.join(", ")
            );
        }
    }
    Ok(())
}

/// The value of `flag`, a count ≥ 1 of `what`.
fn count(flag: &str, value: Option<String>, what: &str) -> Result<i64> {
    let v = value.with_context(|| format!("{flag} needs a number of {what}"))?;
    let n: i64 = v
        .trim()
        .parse()
        .with_context(|| format!("{flag}: {v:?} is not a number of {what}"))?;
    anyhow::ensure!(n > 0, "{flag}: {what} must be ≥ 1");
    Ok(n)
}
