//! The learning-rate schedule: linear warm-up, then an optional linear decay.

/// Learning rate at iteration `it` (0-based) with linear warm-up over `warmup` iterations:
/// `lr · (it + 1) / warmup` while `it < warmup`, then `lr` (the authors' schedule,
/// docs/REFERENCE-NOTES.md §5).
pub fn warmup_lr(lr: f64, warmup: usize, it: usize) -> f64 {
    if it < warmup {
        lr * (it + 1) as f64 / warmup as f64
    } else {
        lr
    }
}

/// Whether [`scheduled_lr`] decays at all: `decay_from > 0` and at least one iteration after
/// `decay_from` before the last (`iterations − 1`).
pub fn lr_decays(decay_from: usize, iterations: usize) -> bool {
    decay_from > 0 && decay_from + 1 < iterations
}

/// Learning rate at iteration `it` (0-based) of a run of `iterations`: [`warmup_lr`], then,
/// when `decay_from > 0`, a linear decay from `lr` at iteration `decay_from` to
/// `lr · final_factor` at the last iteration (`iterations − 1`). `decay_from = 0` (or
/// `≥ iterations`) keeps `lr` constant after warm-up, the authors' schedule. Extending a
/// run's `iterations` on resume stretches the decay.
pub fn scheduled_lr(
    lr: f64,
    warmup: usize,
    decay_from: usize,
    final_factor: f64,
    iterations: usize,
    it: usize,
) -> f64 {
    let base = warmup_lr(lr, warmup, it);
    if !lr_decays(decay_from, iterations) || it <= decay_from {
        return base;
    }
    let last = iterations - 1;
    let t = ((it - decay_from) as f64 / (last - decay_from) as f64).min(1.0);
    base * (1.0 - t * (1.0 - final_factor))
}
