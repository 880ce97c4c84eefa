//! Criterion benchmarks of the joint-EBM samplers and the PCD training iteration, on the
//! paper's three energies (toy, MNIST, dSprites) with the paper's batch sizes and step counts,
//! plus Gibbs-with-Gradients on two classic discrete models (Ising and Potts on a 10 × 10
//! torus).
//!
//! Benchmark IDs: `gwg_step/{toy,mnist,dsprites,mnist_cnn,ising10x10,potts10x10k3}`,
//! `{gwg,dmala}_step/{bits64,bits256,bits1024,bits4096,groups64x16}` (growth in `D`),
//! `langevin_step/{toy,mnist,dsprites,mnist_cnn}`, `mwg_sweep/{toy,mnist,dsprites,mnist_cnn}`
//! and `train_iter/{toy,mnist,dsprites,mnist_cnn}` (`mnist_cnn`: the MNIST default's CNN on 28 ×
//! 28 inputs, not the paper's MLP). One iteration of a sampler benchmark is a run of the
//! paper's number of steps on the paper's batch of chains (toy 1000 × 20, MNIST 100 × 40,
//! dSprites 100 × 40); one iteration of `train_iter` is one PCD iteration with that many sweeps.
//! Throughput is reported in chain-steps (`batch × steps`) per second.
//!
//! Environment:
//! * `JEBM_BENCH_DEVICE` — `cpu` (default) or `cuda` (fails loudly when CUDA is unavailable);
//! * `JEBM_BENCH_THREADS` — libtorch intra-op threads (default 1);
//! * `JEBM_BENCH_SECONDS` — criterion measurement time per benchmark (default 3);
//! * `JEBM_BENCH_CHECK_DIR` — instead of benchmarking, replay the chains exported by
//!   `scripts/pytorch_reference.py --export-check DIR` with the same seed and compare them with
//!   PyTorch's (see `benchmarks::samplers::chain_check`).
//!
//! Run: `cargo bench --bench main` (all), `cargo bench --bench main -- mwg_sweep/toy` (a filter),
//! `cargo bench --bench main -- --quick` or `-- --test` (smoke run);
//! `scripts/bench-compare` runs these interleaved with the PyTorch reference.

mod benchmarks;

fn main() {
    if let Some(dir) = std::env::var_os("JEBM_BENCH_CHECK_DIR") {
        benchmarks::setup();
        let ok = benchmarks::samplers::chain_check(std::path::Path::new(&dir));
        std::process::exit(if ok { 0 } else { 1 });
    }
    benchmarks::samplers::benches();
    benchmarks::training::benches();
    benchmarks::discrete::benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
