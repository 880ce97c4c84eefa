//! Smoke tests of the examples on tiny settings: each runs end to end as a user would run it
//! and writes its promised outputs.
#![allow(clippy::unwrap_used)]

mod common;

use common::example;
use std::path::Path;
use std::process::{Command, Output};

/// Runs example `name` on the CPU with `args`, writing into `out`.
fn run_example(name: &str, args: &[&str], out: &Path) -> Output {
    Command::new(example(name))
        .args(["--device", "cpu"])
        .args(args)
        .arg("--out-dir")
        .arg(out)
        .output()
        .unwrap()
}

/// Panics naming the first of `files` missing under `dir`.
fn assert_files(dir: &Path, files: &[&str]) {
    for f in files {
        assert!(dir.join(f).exists(), "missing {f}");
    }
}

/// Panics unless every key of `keys` in `m` is a number in `[0, 1]`.
fn assert_unit_interval(m: &serde_json::Value, keys: &[&str]) {
    for key in keys {
        let v = m[key].as_f64().unwrap_or(f64::NAN);
        assert!((0.0..=1.0).contains(&v), "{key} = {v} in {m}");
    }
}

/// Runs example `name` like [`run_example`], panics with its stderr unless it succeeds, and
/// returns the `metrics.json` it wrote into `out`.
fn run_ok(name: &str, args: &[&str], out: &Path) -> serde_json::Value {
    let o = run_example(name, args, out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    metrics(out)
}

/// The `metrics.json` an example wrote into `dir`.
fn metrics(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap()
}

/// A deliberately broken configuration — the toy default with a learning rate of 1e-9, so the
/// model never leaves chance — must not end as a success: exit status 3, a message naming the
/// failed floors and the last healthy checkpoint, `"healthy": false` in `metrics.json`, and the
/// default's bars not applied (the learning rate was changed).
#[test]
fn a_broken_run_fails_its_health_check() {
    let out = tempfile::tempdir().unwrap();
    let o = run_example(
        "toy",
        &[
            "--iterations",
            "20",
            "--lr",
            "1e-9",
            "--eval-examples",
            "200",
        ],
        out.path(),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("FAILED") && err.contains("floor"), "{err}");
    assert!(err.contains("with a healthy energy gap"), "{err}");
    let m = metrics(out.path());
    assert_eq!(m["healthy"], false, "{m}");
    assert_eq!(m["bars_apply"], false, "{m}");
    assert!(m["bars_met"].is_null(), "{m}");
    let failures = m["failures"].as_array().unwrap();
    assert!(
        failures
            .iter()
            .any(|f| f.as_str().unwrap().contains("accuracy")),
        "{m}"
    );
    assert!(m["last_healthy_checkpoint"].is_string(), "{m}");
}

#[test]
fn toy_runs_end_to_end_and_resumes() {
    let out = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let args = [&["--preset", "tiny", "--eval-examples", "16"], extra].concat();
        let o = run_example("toy", &args, out.path());
        assert!(
            o.status.success(),
            "toy failed: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    let stdout = run(&["--missing-labels", "0.5"]);
    assert!(stdout.contains("energy-based accuracy"), "{stdout}");
    assert_files(
        out.path(),
        &[
            "config.json",
            "metrics.json",
            "metrics.jsonl",
            "conditional_samples.png",
            "unconditional_samples.png",
            "densities.png",
            "checkpoints/LATEST",
        ],
    );
    let m = metrics(out.path());
    for key in ["energy_accuracy", "sample_accuracy", "ece"] {
        let v = m[key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&v), "{key} = {v}");
    }
    assert_eq!(m["iterations"].as_u64(), Some(4));
    assert!(m["train_seconds"].as_f64().unwrap() > 0.0);
    assert_unit_interval(&m, &["conditional_accuracy", "conditional_accuracy_a1"]);
    assert!(m["objective"]
        .as_str()
        .unwrap()
        .contains("not in the paper"));
    // resume to 6 iterations from the checkpoint just written
    let ckpt = out.path().join("checkpoints");
    run(&["--resume", ckpt.to_str().unwrap(), "--iterations", "6"]);
    assert_eq!(metrics(out.path())["iterations"].as_u64(), Some(6));
    // Without `--preset`, a resumed run keeps its own preset (read from its config.json), so
    // the smoke-test run is not judged against the default's floors (it would fail them).
    let m = run_ok(
        "toy",
        &[
            "--resume",
            out.path().to_str().unwrap(),
            "--iterations",
            "8",
            "--eval-examples",
            "16",
        ],
        out.path(),
    );
    assert_eq!(m["iterations"].as_u64(), Some(8));
    assert_eq!(m["healthy"], true, "{m}");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["preset"], "tiny", "{config}");
}

#[test]
fn toy_rejects_bad_flags() {
    let o = run_example(
        "toy",
        &["--preset", "nope"],
        tempfile::tempdir().unwrap().path(),
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("invalid preset = nope") && err.contains("default, paper, tiny"),
        "{err}"
    );
    let o = run_example(
        "toy",
        &["--resume", "/nonexistent/ckpt"],
        tempfile::tempdir().unwrap().path(),
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/ckpt"));
}

#[test]
fn demo_and_doctor_run() {
    let o = Command::new(example("demo"))
        .args(["--device", "cpu", "--chains", "50", "--sweeps", "20"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("energy-based accuracy"));
    let o = Command::new(example("doctor")).output().unwrap();
    assert!(o.status.success());
    // The doctor reports the libtorch this test process itself has loaded.
    let out = String::from_utf8_lossy(&o.stdout);
    let mine = joint_ebm::ebm_core::runtime_report();
    let version = mine.torch_version.expect("this process's libtorch version");
    let path = mine.libtorch_path.expect("this process's libtorch path");
    assert!(out.contains(&format!("version : {version}")), "{out}");
    assert!(out.contains(&path.display().to_string()), "{out}");
}

#[test]
fn mnist_runs_end_to_end_with_inpainting() {
    let out = tempfile::tempdir().unwrap();
    let m = run_ok(
        "mnist",
        &["--preset", "tiny", "--eval-examples", "8", "--inpaint"],
        out.path(),
    );
    assert_files(
        out.path(),
        &[
            "metrics.json",
            "conditional_samples.png",
            "unconditional_samples.png",
            "inpainting.png",
            "checkpoints/LATEST",
        ],
    );
    assert!(
        m["energy_accuracy"].as_f64().is_some()
            && m["sample_accuracy"].as_f64().is_some()
            && m["ece"].as_f64().is_some()
    );
    assert_unit_interval(
        &m,
        &[
            "conditional_accuracy",
            "conditional_confidence",
            "judge_confidence",
        ],
    );
    // The judge was trained on the training split only and reads real test digits.
    assert!(m["judge_test_accuracy"].as_f64().unwrap() >= 0.97, "{m}");
    // The default's energy is not the paper's MLP, and metrics.json says so.
    let energy = m["energy"].as_str().unwrap_or_default();
    assert!(
        energy.starts_with("cnn") && energy.contains("not the paper"),
        "{m}"
    );
    // A resumed run keeps the architecture it was trained with (read from its config.json).
    let dir = out.path().to_str().unwrap();
    let m = run_ok(
        "mnist",
        &[
            "--preset",
            "tiny",
            "--eval-examples",
            "8",
            "--iterations",
            "6",
            "--resume",
            dir,
        ],
        out.path(),
    );
    assert_eq!(m["iterations"].as_u64(), Some(6), "{m}");
    assert!(
        m["energy"].as_str().unwrap_or_default().starts_with("cnn"),
        "{m}"
    );
    // The label-readout energy runs with the default preset (its label multiplier reset to 1).
    let logit = tempfile::tempdir().unwrap();
    let m = run_ok(
        "mnist",
        &[
            "--preset",
            "tiny",
            "--eval-examples",
            "8",
            "--energy",
            "logit",
        ],
        logit.path(),
    );
    assert!(m["energy"]
        .as_str()
        .unwrap_or_default()
        .starts_with("logit"));
    // a missing data directory is a clear error naming it
    let o = run_example(
        "mnist",
        &["--preset", "tiny", "--data-dir", "/nonexistent/mnist"],
        out.path(),
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/mnist"));
}

#[test]
fn dsprites_runs_end_to_end() {
    let out = tempfile::tempdir().unwrap();
    let m = run_ok(
        "dsprites",
        &[
            "--preset",
            "tiny",
            "--eval-examples",
            "8",
            "--cond-weight",
            "0",
            "--negative-labels",
            "expected",
            "--gen-start",
            "buffer",
        ],
        out.path(),
    );
    assert_unit_interval(
        &m,
        &[
            "conditional_accuracy_x",
            "conditional_accuracy_y",
            "conditional_exact_x",
            "sprite_valid",
        ],
    );
    assert!(m["judge_real_test_within_one"].as_f64().unwrap() >= 0.98);
    assert_eq!(m["gen_start"], "buffer");
    assert!(m["objective"]
        .as_str()
        .unwrap()
        .contains("Rao-Blackwellised"));
    let lines = std::fs::read_to_string(out.path().join("metrics.jsonl")).unwrap();
    assert!(lines.lines().all(|l| l.contains("conditional_accuracy_x")));
    // The default (and tiny) preset's energy is JEM's label readout, named as not the
    // paper's in metrics.json; the `conditional` preset keeps the paper's CNN and its extra
    // conditional term; no MLP for dSprites.
    assert!(
        m["energy"].as_str().unwrap_or_default()
            == "logit: CNN features + MLP to one logit per label value (not the paper's)",
        "{m}"
    );
    let cond = tempfile::tempdir().unwrap();
    // Two iterations of a real preset leave the model at chance: the run writes its results,
    // says it is unhealthy and exits with 3 (the floors apply to every preset but `tiny`).
    let o = run_example(
        "dsprites",
        &[
            "--preset",
            "conditional",
            "--iterations",
            "2",
            "--eval-examples",
            "8",
        ],
        cond.path(),
    );
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let c = metrics(cond.path());
    assert_eq!(c["healthy"], false, "{c}");
    assert!(
        c["energy"].as_str().unwrap_or_default()
            == "cnn: CNN features + MLP head on concat(h, y) (the paper's)",
        "{c}"
    );
    assert!(
        c["objective"]
            .as_str()
            .unwrap_or_default()
            .contains("1 × extra conditional pseudo-log-likelihood (NOT the paper's objective)"),
        "{c}"
    );
    let none = tempfile::tempdir().unwrap();
    let o = run_example(
        "dsprites",
        &["--preset", "tiny", "--energy", "mlp"],
        none.path(),
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not available for dSprites"));
    let o = run_example(
        "dsprites",
        &["--preset", "tiny", "--negative-labels", "nope"],
        out.path(),
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("expected one of: `sampled` `expected`"),
        "{err}"
    );
    let o = run_example(
        "dsprites",
        &["--preset", "tiny", "--y-sampler", "dula"],
        out.path(),
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("`gwg`, `gibbs` or `dmala`"), "{err}");
    assert_files(
        out.path(),
        &[
            "metrics.json",
            "conditional_on_x.png",
            "conditional_on_y.png",
            "unconditional_samples.png",
            "checkpoints/LATEST",
        ],
    );
    let o = run_example(
        "dsprites",
        &["--preset", "tiny", "--data-file", "/nonexistent/d.npz"],
        out.path(),
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent/d.npz"));
}

/// Structured sprites (factors and a 256-bit mask, not enumerable): the tiny preset runs end to
/// end with DMALA and sampled negatives, writes validation metrics during training and test and
/// zero-shot metrics at the end, and its figures; the factors-only and mask-only variants run.
#[test]
fn sprites_runs_end_to_end() {
    let out = tempfile::tempdir().unwrap();
    let m = run_ok("sprites", &["--preset", "tiny"], out.path());
    assert_unit_interval(
        &m,
        &[
            "shape_accuracy",
            "mask_iou",
            "mask_iou_given_shape",
            "all_factors_accuracy_given_mask",
            "cond_shape_accuracy_noise",
            "cond_position_within_one_noise",
            "cond_mask_iou_noise",
            "sprite_valid_noise",
            "zero_shot_cond_factors_shape_accuracy_noise",
            "zero_shot_mask_iou",
        ],
    );
    assert_eq!(m["judge_real_mask_iou"].as_f64(), Some(1.0));
    let objective = m["objective"].as_str().unwrap();
    assert!(objective.contains("Dmala on y"), "{objective}");
    assert!(!objective.contains("Rao-Blackwellised"), "{objective}");
    assert!(objective.contains("bit dropout"), "{objective}");
    let lines = std::fs::read_to_string(out.path().join("metrics.jsonl")).unwrap();
    assert!(lines.lines().next().unwrap().contains("val_mask_iou"));
    assert_files(
        out.path(),
        &[
            "cond_shape.png",
            "cond_mask.png",
            "zero_shot.png",
            "unconditional.png",
        ],
    );
    for (labels, has, lacks) in [
        ("factors", "shape_accuracy", "mask_iou"),
        ("mask", "mask_iou", "shape_accuracy"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let m = run_ok(
            "sprites",
            &["--preset", "tiny", "--labels", labels, "--holdout", "none"],
            dir.path(),
        );
        assert!(m[has].is_number() && m[lacks].is_null(), "{labels}: {m}");
    }
}

/// Training with exact Gibbs on the labels and MALA on x, chosen on the command line: the run
/// completes, and `config.json` and the first log line name the kernels.
#[test]
fn toy_trains_with_exact_kernels() {
    let out = tempfile::tempdir().unwrap();
    let o = run_example(
        "toy",
        &[
            "--preset",
            "tiny",
            "--eval-examples",
            "16",
            "--y-sampler",
            "gibbs",
            "--x-sampler",
            "mala",
            "--set",
            "mala.noise_scale=0.05",
            "--set",
            "mala.step_size=0.00125",
        ],
        out.path(),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("samplers Gibbs on y and Mala on x"), "{err}");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["train"]["y_sampler"], "gibbs");
    assert_eq!(config["train"]["x_sampler"], "mala");
    assert_eq!(config["train"]["mala"]["noise_scale"], 0.05);
    assert_files(out.path(), &["metrics.json", "conditional_samples.png"]);
    let o = run_example(
        "toy",
        &[
            "--preset",
            "tiny",
            "--eval-examples",
            "16",
            "--y-sampler",
            "dmala",
        ],
        out.path(),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("samplers Dmala on y"), "{err}");
}

/// SIGINT during training: the run stops cleanly after the current iteration, writes a
/// checkpoint, says how to resume and exits with 130; resuming from the run folder finishes
/// the run, and its final state equals an uninterrupted run's byte for byte.
#[test]
fn sigint_checkpoints_and_resume_matches_an_uninterrupted_run() {
    let args = [
        "--preset",
        "tiny",
        "--iterations",
        "300",
        "--eval-every",
        "0",
    ];
    let full = tempfile::tempdir().unwrap();
    let o = run_example("toy", &args, full.path());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let cut = tempfile::tempdir().unwrap();
    let child = Command::new(example("toy"))
        .args(["--device", "cpu"])
        .args(args)
        .arg("--out-dir")
        .arg(cut.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first checkpoint, then interrupt.
    let latest = cut.path().join("checkpoints").join("LATEST");
    let t0 = std::time::Instant::now();
    while !latest.exists() && t0.elapsed().as_secs() < 60 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted after iteration") && err.contains("Resume with:"),
        "{err}"
    );
    assert!(
        !cut.path().join("metrics.json").exists(),
        "an interrupted run has no final metrics"
    );

    let o = run_example(
        "toy",
        &[&args[..], &["--resume", cut.path().to_str().unwrap()]].concat(),
        cut.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let last =
        |d: &Path, f: &str| std::fs::read(d.join("checkpoints/ckpt-00000300").join(f)).unwrap();
    for f in [
        "model.safetensors",
        "ema.safetensors",
        "buffer.safetensors",
        "optimizer.safetensors",
    ] {
        assert!(
            last(full.path(), f) == last(cut.path(), f),
            "{f} differs after interruption"
        );
    }
}

/// The mixing comparison runs end to end on its quick settings and writes its table.
#[test]
fn mixing_comparison_runs_quick() {
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(example("mixing"))
        .args(["--quick", "--out-dir"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("mixing.json")).unwrap())
            .unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 15, "5 targets × 3 samplers");
    assert_files(out.path(), &["mixing.md"]);
}

/// `--resume` changes exactly the keys given: in the resumed run's `config.json` every training
/// key but `iterations`, `lr` (two flags given) and `langevin.step_size` (given by `--set`)
/// equals the original's, recovery policy included, and the run keeps its preset.
#[test]
fn resume_changes_exactly_the_keys_given() {
    fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    flatten(&format!("{prefix}.{k}"), v, out);
                }
            }
            _ => out.push((prefix.to_string(), v.to_string())),
        }
    }
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let config = || -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap())
            .unwrap()
    };
    run_ok(
        "toy",
        &["--preset", "tiny", "--eval-examples", "8"],
        out.path(),
    );
    let before = config();
    let resume = [
        "--resume",
        dir,
        "--iterations",
        "6",
        "--lr",
        "0.0005",
        "--set",
        "langevin.step_size=0.0123",
        "--eval-examples",
        "8",
    ];
    run_ok("toy", &resume, out.path());
    let after = config();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    flatten("train", &before["train"], &mut a);
    flatten("train", &after["train"], &mut b);
    assert_eq!(a.len(), b.len());
    let changed: Vec<&str> = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x != y)
        .map(|(x, _)| x.0.as_str())
        .collect();
    assert_eq!(
        changed,
        ["train.iterations", "train.langevin.step_size", "train.lr"],
        "{before}\n{after}"
    );
    assert_eq!(after["preset"], "tiny");
}

/// `--set KEY=VALUE` sets a training setting by its `config.json` name (nested keys too) with
/// the library's validation; unknown keys, and on `--resume` keys that fix the saved state, are
/// refused by name.
#[test]
fn set_changes_settings_by_their_config_names() {
    let out = tempfile::tempdir().unwrap();
    let args = [
        "--preset",
        "tiny",
        "--eval-examples",
        "8",
        "--set",
        "lr=5e-4",
        "--set",
        "langevin.step_size=0.02",
    ];
    let m = run_ok("toy", &args, out.path());
    assert_eq!(m["bars_apply"], false, "{m}");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["train"]["lr"], 5e-4, "{config}");
    assert_eq!(config["train"]["langevin"]["step_size"], 0.02, "{config}");
    for (extra, needle) in [
        (&["--set", "learning_rate=1"][..], "learning_rate"),
        (&["--set", "lr=-1"][..], "lr"),
        (
            &[
                "--resume",
                out.path().to_str().unwrap(),
                "--set",
                "batch_size=3",
            ][..],
            "batch_size",
        ),
    ] {
        let o = run_example("toy", &[&["--preset", "tiny"], extra].concat(), out.path());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains(needle),
            "{extra:?}: {err}"
        );
    }
}

/// The tutorial of `docs/YOUR-OWN-DATA.md` runs end to end: a user's data source and network
/// trained for 300 iterations, then loaded without the trainer; the four cluster centres are
/// predicted right both ways and samples of cluster 1 from noise lie around its centre (0, 2).
#[test]
fn the_own_data_tutorial_runs_end_to_end() {
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(example("own_data"))
        .arg(out.path())
        .arg("300")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        text.contains("by energy [0, 1, 2, 3], by sampling [0, 1, 2, 3]"),
        "{text}"
    );
    let mean: Vec<f64> = text
        .lines()
        .find_map(|l| l.split("mean (").nth(1))
        .unwrap_or_else(|| panic!("no sample mean in {text}"))
        .trim_end_matches(')')
        .split(", ")
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(mean[0].abs() < 0.5 && mean[1] > 1.5, "{mean:?}");
    assert!(out.path().join("checkpoints").is_dir());
}

/// A new dataset is one `Experiment` written outside the library (`own_experiment`): the
/// library's driver trains it from its own preset (the four clusters are learned: accuracy ≥
/// 0.95 both ways), records it under its own name, resumes it and refuses a preset it lacks.
#[test]
fn an_experiment_written_outside_the_library_gets_the_whole_command_line() {
    let out = tempfile::tempdir().unwrap();
    let m = run_ok("own_experiment", &[], out.path());
    for key in ["energy_accuracy", "sample_accuracy"] {
        assert!(m[key].as_f64().unwrap() >= 0.95, "{key} in {m}");
    }
    assert_eq!(m["iterations"], 300);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["experiment"], "four-clusters");
    assert_eq!(
        config["train"]["l2_energy"], 0.1,
        "the experiment's own preset"
    );
    let resumed = Command::new(example("own_experiment"))
        .args(["--device", "cpu", "--iterations", "320", "--resume"])
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(metrics(out.path())["iterations"], 320);
    let o = run_example("own_experiment", &["--preset", "paper"], out.path());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("expected default or tiny"),
        "{err}"
    );
}

/// `--validation N`: the evaluation during training reads N examples carved from the training
/// data (`split: "validation"` in `metrics.jsonl`), the final one the test split.
#[test]
fn validation_split_serves_the_evaluations_during_training() {
    let out = tempfile::tempdir().unwrap();
    let m = run_ok(
        "dsprites",
        &[
            "--preset",
            "tiny",
            "--eval-examples",
            "8",
            "--validation",
            "100",
        ],
        out.path(),
    );
    assert_eq!(m["split"], "test", "{m}");
    let lines = std::fs::read_to_string(out.path().join("metrics.jsonl")).unwrap();
    let splits: Vec<String> = lines
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["split"].as_str().map(str::to_string))
        .collect();
    assert_eq!(splits, ["validation", "test"], "{lines}");
}

/// A run of a built-in network records it in its checkpoints: `JointModel::load_saved` loads
/// the toy run without being told the network, predicts and generates; a run folder without
/// checkpoints is an error, not a panic.
#[test]
fn a_saved_model_loads_without_naming_its_network() {
    use joint_ebm::tch::{Device, Tensor};
    use joint_ebm::train::{GenerationStart, JointModel};
    let out = tempfile::tempdir().unwrap();
    run_ok(
        "toy",
        &["--preset", "tiny", "--eval-examples", "8"],
        out.path(),
    );
    let model = JointModel::load_saved(out.path(), Device::Cpu).unwrap();
    let x = Tensor::from_slice(&[2.0f32, 0.0, 0.0, -2.0]).view([2, 2]);
    assert_eq!(model.predict_by_energy(&x).unwrap().values.size(), [2, 3]);
    let (samples, labels) = model
        .generate(4, &[(0, &[1])], None, GenerationStart::Noise, 3)
        .unwrap();
    assert_eq!((samples.size(), labels.size()), (vec![4, 2], vec![4, 3]));
    let empty = tempfile::tempdir().unwrap();
    assert!(JointModel::load_saved(empty.path(), Device::Cpu).is_err());
}
