use super::*;
use ebm_core::YInit;
use tch::{Device, Kind};

fn layout() -> YLayout {
    YLayout::new(vec![3, 2], 16).unwrap()
}

/// Features + head equal the whole network; the gradient reaches every label column; the
/// energy does not factorise: changing two mask bits together differs from the sum of
/// changing each (an interaction term that a factorised energy would not have).
#[test]
fn labels_interact_and_the_feature_split_is_exact() {
    for head in [FactorHead::Readout, FactorHead::Concat] {
        interactions(head);
    }
}

fn interactions(head: FactorHead) {
    // In double precision: at initialisation a label's effect on f is about 1e-6 and an
    // interaction about 1e-8, near float32's resolution of f.
    tch::manual_seed(0);
    let mut vs = nn::VarStore::new(Device::Cpu);
    vs.set_kind(Kind::Double);
    let e = MaskCnnEnergy::new(&vs.root(), layout(), 8, head).unwrap();
    let x = Tensor::randn([4, 1, 8, 8], (Kind::Double, Device::Cpu));
    let y = YInit::Uniform
        .sample(e.y_layout(), 4, Device::Cpu, Kind::Double)
        .unwrap();
    let f = e.log_density(&x, &y);
    assert_eq!(f.size(), [4]);
    let h = e.features(&x).unwrap();
    assert!(f.allclose(&e.log_density_from_features(&h, &y), 1e-9, 1e-12, false));
    let yg = y.detach().set_requires_grad(true);
    let g = tch::Tensor::run_backward(
        &[e.log_density(&x, &yg).sum(Kind::Double)],
        &[&yg],
        false,
        false,
    );
    let nonzero = g[0].abs().sum_dim_intlist(0, false, Kind::Double).gt(0.0);
    assert!(
        bool::try_from(nonzero.all()).unwrap(),
        "every column reaches f"
    );
    if head == FactorHead::Readout {
        // The readout's logits are centred within each group: ∂f/∂y sums to 0 per group.
        for (start, len) in [(0, 3), (3, 2)] {
            let s = g[0]
                .narrow(1, start, len)
                .sum_dim_intlist(1, false, Kind::Double);
            assert!(
                f64::try_from(s.abs().max()).unwrap() < 1e-9,
                "group at {start}"
            );
        }
    }
    let flip = |y: &Tensor, cols: &[i64]| {
        let y = y.copy();
        for &c in cols {
            let v = y.narrow(1, c, 1);
            let new = v.neg() + 1.0;
            y.narrow(1, c, 1).copy_(&new);
        }
        y
    };
    let (a, b) = (5 + 3, 5 + 4); // two neighbouring mask bits
    let d = |cols: &[i64]| e.log_density(&x, &flip(&y, cols)) - &f;
    let inter = d(&[a, b]) - d(&[a]) - d(&[b]);
    assert_eq!(f.kind(), Kind::Double);
    assert!(
        f64::try_from(inter.abs().max()).unwrap() > 1e-11,
        "mask bits interact"
    );
    // A factor and a mask bit interact too (through the head).
    let g0 = {
        let y2 = y.copy();
        let row = Tensor::from_slice(&[0.0f64, 0.0, 0.0]);
        for i in 0..4 {
            y2.get(i).narrow(0, 0, 3).copy_(&row);
        }
        let _ = y2.narrow(1, 0, 1).fill_(1.0);
        y2
    };
    let g1 = {
        let y2 = g0.copy();
        let _ = y2.narrow(1, 0, 1).fill_(0.0);
        let _ = y2.narrow(1, 1, 1).fill_(1.0);
        y2
    };
    let df = |y: &Tensor| e.log_density(&x, &flip(y, &[a])) - e.log_density(&x, y);
    let inter = df(&g0) - df(&g1);
    assert!(
        f64::try_from(inter.abs().max()).unwrap() > 1e-11,
        "factor × mask"
    );
}

#[test]
fn variants_and_bad_layouts() {
    let vs = nn::VarStore::new(Device::Cpu);
    let x = Tensor::randn([2, 1, 16, 16], (Kind::Float, Device::Cpu));
    for l in [
        YLayout::categorical(vec![3, 4]).unwrap(),
        YLayout::binary(64).unwrap(),
    ] {
        let e = MaskCnnEnergy::new(&vs.root(), l.clone(), 16, FactorHead::Readout).unwrap();
        let y = YInit::Uniform
            .sample(&l, 2, Device::Cpu, Kind::Float)
            .unwrap();
        assert_eq!(e.log_density(&x, &y).size(), [2]);
    }
    assert!(MaskCnnEnergy::new(
        &vs.root(),
        YLayout::binary(10).unwrap(),
        16,
        FactorHead::Readout
    )
    .is_err());
    assert!(MaskCnnEnergy::new(
        &vs.root(),
        YLayout::binary(36).unwrap(),
        16,
        FactorHead::Readout
    )
    .is_err());
    assert!(MaskCnnEnergy::new(&vs.root(), layout(), 12, FactorHead::Readout).is_err());
}

/// A map's stripes: at the sprites' geometry each of 16 bins lights one pixel (bin `k` the
/// pixel `8 + k` of 32); a coarse map covers the side with disjoint stripes.
#[test]
fn map_stripes_are_where_the_geometry_puts_them() {
    let m = FactorMap {
        group: 0,
        axis: MapAxis::Columns,
        from: 0.25,
        to: 0.75,
    };
    let t = Vec::<f32>::try_from(m.table(16, 32).reshape([-1])).unwrap();
    for k in 0..16 {
        let on: Vec<usize> = (0..32).filter(|&j| t[k * 32 + j] > 0.5).collect();
        assert_eq!(on, vec![8 + k], "bin {k}");
    }
    let coarse = FactorMap {
        from: 0.0,
        to: 1.0,
        ..m
    };
    let t = coarse.table(4, 8);
    assert_eq!(t.sum(Kind::Float).double_value(&[]), 8.0);
    assert_eq!(
        Vec::<f32>::try_from(t.sum_dim_intlist(0, false, Kind::Float)).unwrap(),
        vec![1.0; 8]
    );
}

/// With position maps (with or without a mask): the feature split stays exact, and the mapped
/// groups reach the CNN — the readout's per-group centring no longer holds for them (it still
/// does for the unmapped group), so `f` depends on them beyond one logit per value.
#[test]
fn mapped_groups_enter_the_cnn() {
    for bits in [0, 16] {
        tch::manual_seed(1);
        let mut vs = nn::VarStore::new(Device::Cpu);
        vs.set_kind(Kind::Double);
        let l = YLayout::new(vec![3, 4, 4], bits).unwrap();
        let maps = [
            FactorMap {
                group: 1,
                axis: MapAxis::Columns,
                from: 0.0,
                to: 1.0,
            },
            FactorMap {
                group: 2,
                axis: MapAxis::Rows,
                from: 0.25,
                to: 0.75,
            },
        ];
        let e =
            MaskCnnEnergy::with_maps(&vs.root(), l.clone(), 8, FactorHead::Readout, &maps).unwrap();
        let x = Tensor::randn([4, 1, 8, 8], (Kind::Double, Device::Cpu));
        let y = YInit::Uniform
            .sample(&l, 4, Device::Cpu, Kind::Double)
            .unwrap();
        let f = e.log_density(&x, &y);
        let h = e.features(&x).unwrap();
        assert!(f.allclose(&e.log_density_from_features(&h, &y), 1e-9, 1e-12, false));
        let yg = y.detach().set_requires_grad(true);
        let g = Tensor::run_backward(
            &[e.log_density(&x, &yg).sum(Kind::Double)],
            &[&yg],
            false,
            false,
        )
        .pop()
        .unwrap();
        let group_sum = |start: i64, len: i64| {
            g.narrow(1, start, len)
                .sum_dim_intlist(1, false, Kind::Double)
                .abs()
                .max()
                .double_value(&[])
        };
        assert!(group_sum(0, 3) < 1e-9, "the unmapped group stays centred");
        assert!(
            group_sum(3, 4) > 1e-9,
            "group 1 reaches the CNN (bits {bits})"
        );
        assert!(
            group_sum(7, 4) > 1e-9,
            "group 2 reaches the CNN (bits {bits})"
        );
        // The stripe tables are saved with the model but never trained.
        assert_eq!(vs.trainable_variables().len() + 2, vs.variables().len());
    }
}

#[test]
fn bad_maps_are_refused_with_the_reason() {
    let vs = nn::VarStore::new(Device::Cpu);
    let map = |group, from, to| FactorMap {
        group,
        axis: MapAxis::Rows,
        from,
        to,
    };
    for (maps, why) in [
        (vec![map(2, 0.0, 1.0)], "categorical groups"),
        (vec![map(0, 0.0, 1.0), map(0, 0.0, 0.5)], "twice"),
        (vec![map(1, 0.5, 0.5)], "from < to"),
        (vec![map(1, -0.1, 0.5)], "from < to"),
    ] {
        let err = MaskCnnEnergy::with_maps(&vs.root(), layout(), 8, FactorHead::Readout, &maps)
            .unwrap_err()
            .to_string();
        assert!(err.contains(why), "{err}");
    }
}
