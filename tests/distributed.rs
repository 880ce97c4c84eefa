//! Data-parallel training on two CPU ranks over MPI (feature `mpi`): the ranks are started by
//! `scripts/launch` (Open MPI's `mpirun`) from inside these tests.
//!
//! * the gradient averaged by `all_reduce_gradients` equals the mean of the per-shard
//!   gradients computed in one process (a worker test, run on both ranks);
//! * after training steps the parameters, EMA and Adam state of the two ranks are bit-identical
//!   while their replay buffers differ (each rank runs its own chains);
//! * a rank killed mid-run ends the other with a clear message, within the timeout.
#![cfg(feature = "mpi")]
#![allow(clippy::unwrap_used)]

mod common;

use common::example;
use joint_ebm::ebm_core::{JointEnergy, YInit};
use joint_ebm::tch::{nn, Device, Kind, Tensor};
use joint_ebm::train::{all_reduce_gradients, presets};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `scripts/launch n program args…`, with a hard time limit for the whole job.
fn launch(n: usize, program: &Path, args: &[&str], timeout_s: u64) -> Command {
    let mut cmd = Command::new(root().join("scripts/launch"));
    cmd.arg(n.to_string())
        .arg(program)
        .args(args)
        .env("LAUNCH_TIMEOUT", timeout_s.to_string());
    cmd
}

/// The toy example's arguments for a `tiny`-preset run of `iterations` into `out`.
fn tiny_toy<'a>(iterations: &'a str, out: &'a str) -> [&'a str; 10] {
    [
        "--device",
        "cpu",
        "--preset",
        "tiny",
        "--iterations",
        iterations,
        "--eval-examples",
        "16",
        "--out-dir",
        out,
    ]
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs on every rank when started by [`all_reduced_gradient_is_the_mean_of_the_shards`]
/// (ignored otherwise): each rank computes the gradient of a loss on its half of one batch,
/// the gradients are averaged in small buckets (several all-reduces), and rank 0 compares
/// them with the mean of both halves' gradients computed in this one process.
#[test]
#[ignore = "a worker: started on two ranks by all_reduced_gradient_is_the_mean_of_the_shards"]
fn gradient_worker() {
    if std::env::var("JOINT_EBM_GRADIENT_WORKER").is_err() {
        return;
    }
    let group = joint_ebm::dist::from_env()
        .unwrap()
        .expect("launched on ranks");
    assert_eq!(group.world_size(), 2);
    let rank = group.rank();
    joint_ebm::tch::manual_seed(7);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = presets::toy::energy(&vs.root());
    let layout = presets::toy::layout();
    let x = Tensor::randn([64, 2], (Kind::Float, Device::Cpu));
    let y = YInit::Uniform
        .sample(&layout, 64, Device::Cpu, Kind::Float)
        .unwrap();
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let vars: Vec<Tensor> = vars.into_iter().map(|(_, t)| t).collect();
    let grads_of = |shard: i64| -> Vec<Tensor> {
        for v in &vars {
            let mut g = v.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        let f = model.log_density(&x.narrow(0, 32 * shard, 32), &y.narrow(0, 32 * shard, 32));
        (f.square().mean(Kind::Float) - f.mean(Kind::Float)).backward();
        vars.iter().map(|v| v.grad().copy()).collect()
    };
    // The single-process reference, before the collective touches the gradients.
    let reference: Vec<Tensor> = grads_of(0)
        .iter()
        .zip(grads_of(1))
        .map(|(a, b)| (a + b) / 2.0)
        .collect();
    let own = grads_of(rank as i64);
    // 10 000 elements per bucket: the toy MLP's ≈ 134 000 parameters take several buckets.
    all_reduce_gradients(&vars, group.as_ref(), 10_000).unwrap();
    let mut worst = 0f64;
    for ((v, r), o) in vars.iter().zip(&reference).zip(&own) {
        let g = v.grad();
        worst = worst.max((&g - r).abs().max().double_value(&[]));
        assert!(o.numel() == g.numel());
    }
    let own_diff: f64 = vars
        .iter()
        .zip(&own)
        .map(|(v, o)| (v.grad() - o).abs().max().double_value(&[]))
        .fold(0.0, f64::max);
    println!("rank {rank}: max |all-reduced − reference| = {worst:.3e}, max |all-reduced − own| = {own_diff:.3e}");
    assert!(worst < 1e-6, "rank {rank}: {worst}");
    assert!(
        own_diff > 1e-4,
        "rank {rank}: the shards' gradients should differ"
    );
}

#[test]
fn all_reduced_gradient_is_the_mean_of_the_shards() {
    let exe = std::env::current_exe().unwrap();
    let o = launch(
        2,
        &exe,
        &["--exact", "gradient_worker", "--ignored", "--nocapture"],
        120,
    )
    .env("JOINT_EBM_GRADIENT_WORKER", "1")
    .output()
    .unwrap();
    let out = show(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("rank 0: max |all-reduced − reference|"),
        "{out}"
    );
    assert!(
        out.contains("rank 1: max |all-reduced − reference|"),
        "{out}"
    );
}

#[test]
fn two_ranks_train_identical_parameters_with_their_own_chains() {
    let toy = example("toy");
    let out = tempfile::tempdir().unwrap();
    let o = launch(2, &toy, &tiny_toy("6", out.path().to_str().unwrap()), 300)
        .output()
        .unwrap();
    let log = show(&o);
    assert!(o.status.success(), "{log}");
    assert!(log.contains("rank 1 of 2"), "{log}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("metrics.json")).unwrap())
            .unwrap();
    assert_eq!(m["ranks"], 2, "{m}");
    let a = out.path().join("checkpoints/ckpt-00000006");
    let b = out.path().join("rank1/checkpoints/ckpt-00000006");
    for f in [
        "model.safetensors",
        "ema.safetensors",
        "optimizer.safetensors",
    ] {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(x == y, "{f} differs between the ranks");
    }
    let (x, y) = (
        std::fs::read(a.join("buffer.safetensors")).unwrap(),
        std::fs::read(b.join("buffer.safetensors")).unwrap(),
    );
    assert!(
        x != y,
        "the ranks' replay buffers should differ (own chains)"
    );
    // Resuming with the same number of ranks continues both.
    let o = launch(
        2,
        &toy,
        &[
            "--device",
            "cpu",
            "--iterations",
            "8",
            "--eval-examples",
            "16",
            "--resume",
            out.path().to_str().unwrap(),
            "--out-dir",
            out.path().to_str().unwrap(),
        ],
        300,
    )
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let (a, b) = (
        out.path().join("checkpoints/ckpt-00000008"),
        out.path().join("rank1/checkpoints/ckpt-00000008"),
    );
    let (x, y) = (
        std::fs::read(a.join("model.safetensors")).unwrap(),
        std::fs::read(b.join("model.safetensors")).unwrap(),
    );
    assert!(x == y, "resumed ranks differ");
}

/// The PID of the process launched as MPI rank `rank` whose command line mentions `marker`.
fn rank_pid(marker: &str, rank: usize) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let has = |hay: &[u8], needle: &str| {
            hay.split(|&b| b == 0)
                .any(|part| String::from_utf8_lossy(part).contains(needle))
        };
        if has(&cmdline, marker)
            && has(&environ, &format!("OMPI_COMM_WORLD_RANK={rank}"))
            && !has(&cmdline, "mpirun")
        {
            return Some(pid);
        }
    }
    None
}

#[test]
fn a_killed_rank_ends_the_other_with_a_clear_error() {
    let toy = example("toy");
    let out = tempfile::tempdir().unwrap();
    let marker = out.path().to_str().unwrap().to_string();
    let child = launch(2, &toy, &tiny_toy("1000000", &marker), 600)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until rank 1 is training (its checkpoints appear every 2 iterations).
    let start = Instant::now();
    let victim = loop {
        if out.path().join("rank1/checkpoints/LATEST").exists() {
            if let Some(pid) = rank_pid(&marker, 1) {
                break pid;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "rank 1 never started"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let killed_at = Instant::now();
    let _ = Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status();
    let o = child.wait_with_output().unwrap();
    let waited = killed_at.elapsed();
    let log = show(&o);
    assert!(!o.status.success(), "{log}");
    assert!(
        waited < Duration::from_secs(60),
        "the job took {waited:?} to end"
    );
    assert!(
        log.contains("rank 1") && (log.contains("signal 9") || log.contains("Killed")),
        "no clear message naming the dead rank:\n{log}"
    );
    // Rank 0 is gone too.
    assert!(rank_pid(&marker, 0).is_none(), "rank 0 still runs");
}
