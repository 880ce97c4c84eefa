//! Shared energies for the whole-stack tests.
#![allow(dead_code)]

use joint_ebm::ebm_core::{JointEnergy, YLayout};
use joint_ebm::tch::{Device, Kind, Tensor};
use std::cell::Cell;

/// `f(x, y) = w2 · tanh(x W1x + y W1y + b1)`, higher = more probable. With `split`, the
/// y-independent part `x W1x + b1` is exposed as the feature stage (the "x-columns of the
/// first layer" caching of docs/REFERENCE-NOTES.md §3.2).
pub struct SmallMlp {
    pub layout: YLayout,
    pub w1x: Tensor,
    pub w1y: Tensor,
    pub b1: Tensor,
    pub w2: Tensor,
    pub split: bool,
}

impl SmallMlp {
    pub fn new(layout: YLayout, x_dim: i64, hidden: i64, split: bool) -> Self {
        let opts = (Kind::Double, Device::Cpu);
        let d = layout.dim() as i64;
        Self {
            w1x: Tensor::randn([x_dim, hidden], opts) * 0.7,
            w1y: Tensor::randn([d, hidden], opts) * 0.7,
            b1: Tensor::randn([hidden], opts) * 0.1,
            w2: Tensor::randn([hidden], opts),
            layout,
            split,
        }
    }
}

impl JointEnergy for SmallMlp {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }
    fn features(&self, x: &Tensor) -> Option<Tensor> {
        self.split.then(|| x.matmul(&self.w1x) + &self.b1)
    }
    fn log_density_from_features(&self, h: &Tensor, y: &Tensor) -> Tensor {
        let pre = if self.split {
            h + y.matmul(&self.w1y)
        } else {
            h.matmul(&self.w1x) + y.matmul(&self.w1y) + &self.b1
        };
        pre.tanh().mv(&self.w2)
    }
}

/// Counts the forward calls of an energy's feature stage and head.
pub struct Counting<E> {
    pub inner: E,
    pub feature_forwards: Cell<u64>,
    pub head_forwards: Cell<u64>,
}

impl<E> Counting<E> {
    pub fn new(inner: E) -> Self {
        Self {
            inner,
            feature_forwards: Cell::new(0),
            head_forwards: Cell::new(0),
        }
    }
}

impl<E: JointEnergy> JointEnergy for Counting<E> {
    fn y_layout(&self) -> &YLayout {
        self.inner.y_layout()
    }
    fn features(&self, x: &Tensor) -> Option<Tensor> {
        let h = self.inner.features(x);
        if h.is_some() {
            self.feature_forwards.set(self.feature_forwards.get() + 1);
        }
        h
    }
    fn log_density_from_features(&self, h: &Tensor, y: &Tensor) -> Tensor {
        self.head_forwards.set(self.head_forwards.get() + 1);
        self.inner.log_density_from_features(h, y)
    }
}

/// `target/<profile>/examples/<name>`, brought up to date once per test process (a plain
/// `cargo test` has built it already, so this is quick; `cargo test --test examples` alone
/// would otherwise run a stale binary).
#[allow(clippy::unwrap_used)]
pub fn example(name: &str) -> std::path::PathBuf {
    use std::process::Command;
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    let path = profile_dir.join("examples").join(name);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|b| b == name) {
        built.push(name.to_string());
        let mut cmd = Command::new(env!("CARGO"));
        // `--workspace`, as in the README's `cargo test --workspace`: features are unified over
        // the packages a command selects, so a build of this package alone resolves them
        // differently and would compile a second copy of `tch` and every crate above it
        // (minutes, and gigabytes of disk that a CI machine may not have).
        cmd.args(["build", "--workspace", "--example", name]);
        // The features this test was built with (no rebuild of the examples in between).
        if cfg!(feature = "mpi") {
            cmd.args(["--features", "mpi"]);
        }
        if profile_dir.ends_with("release") {
            cmd.arg("--release");
        }
        assert!(
            cmd.status().unwrap().success(),
            "cannot build example {name}"
        );
    }
    path
}
