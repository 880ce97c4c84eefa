use super::*;
use tch::nn::VarStore;
use tch::{nn, Device, Kind};

#[test]
fn linear_decay_schedule() {
    // Off: the warm-up schedule.
    assert_eq!(scheduled_lr(1e-3, 50, 0, 0.1, 1500, 1200), 1e-3);
    assert_eq!(
        scheduled_lr(1e-3, 50, 0, 0.1, 1500, 10),
        warmup_lr(1e-3, 50, 10)
    );
    // On: constant until the start, then linear to lr · factor at the last iteration.
    assert_eq!(scheduled_lr(1e-3, 50, 1000, 0.1, 1501, 1000), 1e-3);
    let mid = scheduled_lr(1e-3, 50, 1000, 0.1, 1501, 1250);
    assert!((mid - 0.55e-3).abs() < 1e-12, "{mid}");
    let end = scheduled_lr(1e-3, 50, 1000, 0.1, 1501, 1500);
    assert!((end - 1e-4).abs() < 1e-12, "{end}");
    // Never below the final rate, even past the end (a resumed run evaluated late).
    assert!((scheduled_lr(1e-3, 50, 1000, 0.1, 1501, 3000) - 1e-4).abs() < 1e-12);
    // A start at or past the end is off.
    assert_eq!(scheduled_lr(1e-3, 50, 1500, 0.1, 1501, 1500), 1e-3);
}

#[test]
fn warmup_schedule() {
    assert!((warmup_lr(1e-4, 1000, 0) - 1e-7).abs() < 1e-20);
    assert!((warmup_lr(1e-4, 1000, 499) - 5e-5).abs() < 1e-18);
    assert_eq!(warmup_lr(1e-4, 1000, 999), 1e-4);
    assert_eq!(warmup_lr(1e-4, 1000, 5000), 1e-4);
    assert_eq!(warmup_lr(1e-3, 0, 0), 1e-3);
}

#[test]
fn ema_arithmetic() {
    let live = VarStore::new(Device::Cpu);
    let mut ema = VarStore::new(Device::Cpu);
    let w = live.root().var("w", &[3], nn::Init::Const(1.0));
    let _ = ema.root().var("w", &[3], nn::Init::Const(0.0));
    ema.copy(&live).unwrap();
    tch::no_grad(|| {
        let _ = w.shallow_clone().fill_(2.0);
    });
    ema_update(&ema, &live, 0.99).unwrap();
    let e = ema.variables()["w"].double_value(&[0]);
    assert!((e - (0.99 * 1.0 + 0.01 * 2.0)).abs() < 1e-6, "{e}");
    ema_update(&ema, &live, 0.99).unwrap();
    let e2 = ema.variables()["w"].double_value(&[1]);
    assert!((e2 - (0.99 * e + 0.01 * 2.0)).abs() < 1e-6, "{e2}");
}

/// Matches a hand-computed Adam trajectory on f(θ) = θ² from θ = 1.
#[test]
fn adam_matches_reference_steps() {
    let vs = VarStore::new(Device::Cpu);
    let _ = vs.root().var("t", &[1], nn::Init::Const(1.0));
    let mut opt = Adam::new(&vs, AdamConfig::default());
    let (mut th, mut m, mut v) = (1.0f64, 0.0f64, 0.0f64);
    for t in 1..=5 {
        let var = &vs.variables()["t"];
        let loss = (var * var).sum(Kind::Double);
        loss.backward();
        opt.step(0.1).unwrap();
        let g = 2.0 * th;
        m = 0.9 * m + 0.1 * g;
        v = 0.999 * v + 0.001 * g * g;
        let mh = m / (1.0 - 0.9f64.powi(t));
        let vh = v / (1.0 - 0.999f64.powi(t));
        th -= 0.1 * mh / (vh.sqrt() + 1e-8);
        let got = vs.variables()["t"].double_value(&[0]);
        assert!((got - th).abs() < 1e-5, "step {t}: {got} vs {th}");
    }
    assert_eq!(opt.steps(), 5);
}

/// A scaled variable moves `scale` times as far as the same variable unscaled, the others
/// exactly as before; only names with the suffix match.
#[test]
fn lr_scale_multiplies_only_the_matching_steps() {
    let run = |scale: Option<f64>| {
        let vs = VarStore::new(Device::Cpu);
        let a = vs.root().var("layer_weight_y", &[2], nn::Init::Const(1.0));
        let b = vs.root().var("layer_weight_x", &[2], nn::Init::Const(1.0));
        let mut opt = Adam::new(&vs, AdamConfig::default());
        if let Some(s) = scale {
            assert_eq!(opt.scale_lr("weight_y", s), 1);
        }
        for _ in 0..3 {
            let loss = (&a * &a + &b * &b * 3.0).sum(Kind::Float);
            loss.backward();
            opt.step(0.01).unwrap();
        }
        (1.0 - a.double_value(&[0]), 1.0 - b.double_value(&[0]))
    };
    let (da, db) = run(None);
    let (sa, sb) = run(Some(10.0));
    assert!(da > 0.0 && db > 0.0);
    assert!((sa / da - 10.0).abs() < 0.05, "{sa} vs {da}");
    assert_eq!(sb, db);
}

/// Clipping rescales the whole gradient to the given global norm, and is a no-op below it.
#[test]
fn clipping_bounds_the_global_norm() {
    for (max, want_scale) in [(1.0f64, 0.2f64), (100.0, 1.0)] {
        let vs = VarStore::new(Device::Cpu);
        let a = vs.root().var("a", &[1], nn::Init::Const(0.0));
        let b = vs.root().var("b", &[1], nn::Init::Const(0.0));
        // Gradient (3, 4): norm 5.
        let loss = (&a * 3.0 + &b * 4.0).sum(Kind::Float);
        loss.backward();
        // SGD-like first Adam step is sign-based, so read the moments instead.
        let mut opt = Adam::new(&vs, AdamConfig::default());
        opt.step_clipped(0.0, Some(max)).unwrap();
        let m = opt.state_tensors();
        let ma = m
            .iter()
            .find(|(n, _)| n == "m.a")
            .unwrap()
            .1
            .double_value(&[0]);
        let mb = m
            .iter()
            .find(|(n, _)| n == "m.b")
            .unwrap()
            .1
            .double_value(&[0]);
        let scale = want_scale.min(max / (5.0 + 1e-6));
        assert!((ma - 0.1 * 3.0 * scale).abs() < 1e-6, "{max}: {ma}");
        assert!((mb - 0.1 * 4.0 * scale).abs() < 1e-6, "{max}: {mb}");
        assert!(a.grad().abs().sum(Kind::Float).double_value(&[]) == 0.0);
    }
}
