use super::*;

/// The floors apply to every preset but `tiny`, the bars to `default` only, and every
/// default preset has bars; the seed-17 collapse of the dSprites default
/// (0.145 / 0.104 / 0.001 / 0.003 / 0.014) fails its floors.
#[test]
fn expectations_per_preset() {
    for e in EXPERIMENTS {
        let d = expectations(e, "default").unwrap();
        assert!(!d.floors.is_empty() && !d.bars.is_empty(), "{e}");
        for f in &d.floors {
            let bar = d.bars.iter().find(|b| b.metric == f.metric).unwrap();
            assert!(f.min < bar.min, "{e}: floor {} above its bar", f.metric);
        }
        let p = expectations(e, "paper").unwrap();
        assert!(!p.floors.is_empty() && p.bars.is_empty(), "{e}");
        assert_eq!(expectations(e, "tiny").unwrap(), Expectations::default());
    }
    assert!(expectations("toy", "nope").is_err());
    let collapsed: std::collections::BTreeMap<String, f64> = [
        ("energy_accuracy", 0.145),
        ("sample_accuracy", 0.104),
        ("conditional_accuracy_x", 0.001),
        ("conditional_accuracy_y", 0.003),
        ("sprite_valid", 0.014),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), *v))
    .collect();
    let r = dsprites::expectations().check(&collapsed, true);
    assert!(!r.healthy && r.failures.len() == 10, "{r:?}");
}

#[test]
fn every_preset_is_valid_and_found_by_name() {
    for e in EXPERIMENTS {
        for p in PRESETS {
            let c = lookup(e, p).unwrap();
            c.validate().unwrap();
        }
    }
    assert_eq!(lookup("dsprites", "paper").unwrap().lr, 1e-5);
    for p in ["conditional", "paper-objective"] {
        lookup("dsprites", p).unwrap().validate().unwrap();
    }
    assert!(matches!(
        lookup("cifar", "default"),
        Err(Error::InvalidConfig { .. })
    ));
    let e = lookup("toy", "fast").unwrap_err().to_string();
    assert!(e.contains("default, paper, tiny"), "{e}");
}

/// The dSprites default: the joint log-likelihood with no extra conditional term, plus
/// an L2 penalty on energies and gradient clipping that its objective string names as not
/// the paper's; the paper's Langevin settings.
#[test]
fn the_dsprites_default_names_its_departures_from_the_paper() {
    let d = dsprites::default();
    assert_eq!((d.cond_weight, d.label_lr_scale), (0.0, 1.0));
    assert_eq!(d.l2_energy, 0.01);
    let objective = d.objective_summary();
    assert!(
        objective.contains("L2 penalty 0.01 on energies (not in the paper)")
            && !objective.contains("the paper's objective"),
        "{objective}"
    );
    assert!(objective.contains("gradient norm clipped at 1 (not in the paper)"));
    assert_eq!(d.langevin, dsprites::paper().langevin);
    assert!(crate::lr_decays(d.lr_decay_from, d.iterations));
    // The previous default keeps its extra conditional term and a constant rate.
    let c = dsprites::conditional();
    assert_eq!(
        (c.cond_weight, c.label_lr_scale, c.clip_grad),
        (1.0, 3.0, 0.0)
    );
    assert!(!crate::lr_decays(c.lr_decay_from, c.iterations));
    assert_eq!(c.lr_decay_final, TrainConfig::default().lr_decay_final);
}

#[test]
fn the_paper_presets_are_the_paper_tables() {
    let t = toy::paper();
    assert_eq!(
        (t.iterations, t.batch_size, t.lr, t.sweeps),
        (5_500, 1_000, 1e-4, 20)
    );
    let m = mnist::paper();
    assert_eq!(
        (m.iterations, m.batch_size, m.lr, m.sweeps),
        (110_000, 100, 1e-4, 40)
    );
    let d = dsprites::paper();
    assert_eq!(
        (d.iterations, d.batch_size, d.lr, d.sweeps),
        (180_000, 100, 1e-5, 40)
    );
    for c in [t, m, d] {
        assert_eq!(c.cond_weight, 0.0);
        assert_eq!(c.l2_energy, 0.0);
        assert_eq!(c.negative_labels, NegativeLabels::Sampled);
    }
}

/// The sprites default keeps its terms over the factor groups where the labels have groups
/// and drops them for the mask-only labels, where the conditional negatives would be refused.
#[test]
fn the_sprites_default_drops_the_group_terms_without_groups() {
    let full = sprites::for_layout(sprites::default(), &sprites::layout());
    assert_eq!(full.conditional_negatives, 0.5);
    assert_eq!(full.cond_weight, 30.0);
    let mask_only = YLayout::new(vec![], 256).unwrap();
    let m = sprites::for_layout(sprites::default(), &mask_only);
    assert_eq!((m.conditional_negatives, m.cond_weight), (0.0, 0.0));
    m.validate().unwrap();
}
