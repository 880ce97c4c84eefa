//! Statistical tests of the discrete kernels (ignored by default; run with
//! `cargo test -p samplers-disc --test statistical -- --ignored --nocapture`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use ebm_core::{seed_everything, DiscreteKernel, JointEnergy, JointState};
use samplers_disc::{ExactGibbs, Gwg, GwgConfig};
use std::time::Instant;

#[test]
#[ignore]
fn timing_probe() {
    let mut rng = seed_everything(1);
    if let Ok(t) = std::env::var("PROBE_THREADS") { tch::set_num_threads(t.parse().unwrap()); }
    println!("threads {}", tch::get_num_threads());
    let model = Ising::new(4, 0.44);
    let layout = model.y_layout().clone();
    let gwg = Gwg::new(GwgConfig::default()).unwrap();
    for n in [64usize, 10_000, 100_000] {
        let y = uniform_y(&layout, n, &mut rng);
        let mut state = JointState::new(&model, &dummy_x(n), &y).unwrap();
        let t = Instant::now();
        let steps = if n == 64 { 2000 } else { 100 };
        for _ in 0..steps {
            state = gwg.step(&model, state).unwrap().0;
        }
        println!("gwg n={n}: {:.3} ms/step", t.elapsed().as_secs_f64() * 1e3 / steps as f64);
        let t = Instant::now();
        for _ in 0..steps {
            state = ExactGibbs.step(&model, state).unwrap().0;
        }
        println!("gibbs n={n}: {:.3} ms/step", t.elapsed().as_secs_f64() * 1e3 / steps as f64);
    }
}
