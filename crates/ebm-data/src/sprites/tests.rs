use super::*;
use crate::dsprites::{orientation_value, ORIENTATION_CLASSES, RENDER_SIDE};
use crate::DataSource;
use tch::{Device, Kind, Tensor};

fn area(img: &[u8]) -> usize {
    img.iter().map(|&v| usize::from(v)).sum()
}

#[test]
fn shapes_have_the_documented_areas_and_stay_inside() {
    let a: Vec<usize> = (0..3)
        .map(|s| area(&render_shape(s, 1.0, 0.0, 0.5, 0.5)))
        .collect();
    assert!((a[0] as f64 - 300.0).abs() < 30.0, "square {a:?}");
    assert!((a[1] as f64 - 235.0).abs() < 10.0, "ellipse {a:?}");
    assert!((a[2] as f64 - 290.0).abs() < 30.0, "heart {a:?}");
    // Every shape at the largest scale, every orientation, at the corners: inside.
    for s in 0..3 {
        for o in ORIENTATION_CLASSES {
            for (x, y) in [(0.0, 0.0), (1.0, 1.0), (0.0, 1.0), (1.0, 0.0)] {
                let img = render_shape(s, 1.0, orientation_value(o), x, y);
                let n = RENDER_SIDE;
                assert!((0..n).all(|k| img[k] == 0
                    && img[(n - 1) * n + k] == 0
                    && img[k * n] == 0
                    && img[k * n + n - 1] == 0));
            }
        }
    }
    // The heart's point is down at orientation 0: more pixels in the upper half.
    let h = render_shape(2, 1.0, 0.0, 0.5, 0.5);
    let upper = area(&h[..32 * 64]);
    assert!(upper > area(&h) / 2, "{upper} of {}", area(&h));
}

#[test]
fn the_mask_is_the_block_majority_and_the_judge_reads_it_back() {
    let scenes = SpriteScenes::generate_where(|l| l[2] % 5 == 0 && l[4] % 7 == 0);
    assert!(!scenes.is_empty());
    let n = scenes.len() as i64;
    let images = Tensor::from_slice(&scenes.images)
        .view([n, 1, 32, 32])
        .to_kind(Kind::Float)
        / 4.0;
    let masks = Tensor::from_slice(&scenes.masks).view([n, 256]);
    let read = mask_of_images(&images);
    assert!(read.to_kind(Kind::Uint8).equal(&masks), "judge = data rule");
    assert!(bool::try_from(mask_iou(&read, &masks).eq(1.0).all()).unwrap());
    // A mask covers about the sprite's area: between ½ and 2 × area / 16 bits.
    for i in 0..scenes.len() {
        let bits = area(&scenes.masks[i * 256..(i + 1) * 256]) as f64;
        // quarters of the 32 × 32 image = pixels set on the 64 × 64 canvas
        let px = area(&scenes.images[i * 1024..(i + 1) * 1024]) as f64;
        let expect = px / 16.0;
        assert!(
            bits > 0.5 * expect && bits < 2.0 * expect,
            "{i}: {bits} bits, {expect}"
        );
    }
    let half = Tensor::from_slice(&[1.0f32, 0.0, 1.0, 1.0, 0.0, 0.0]).view([2, 3]);
    let other = Tensor::from_slice(&[1.0f32, 1.0, 0.0, 1.0, 0.0, 0.0]).view([2, 3]);
    let iou = Vec::<f32>::try_from(mask_iou(&half, &other)).unwrap();
    assert_eq!(iou, [1.0 / 3.0, 1.0]);
}

#[test]
fn holdout_syntax() {
    assert_eq!(
        Holdout::parse_list("heart:upper-left").unwrap(),
        [Holdout::DEFAULT]
    );
    let two = Holdout::parse_list("square:lower-right, ellipse:upper-right").unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!(two[0].to_string(), "square:lower-right");
    assert!(Holdout::parse_list("none").unwrap().is_empty());
    for bad in ["heart", "star:upper-left", "heart:middle", ""] {
        assert!(Holdout::parse_list(bad).is_err(), "{bad}");
    }
    assert!(Quadrant::UpperLeft.contains(15, 0) && !Quadrant::UpperLeft.contains(16, 0));
    assert!(Quadrant::LowerRight.contains(31, 16));
}

#[test]
fn splits_layouts_holdout_and_partial_masks() {
    // A subset (one orientation, even scales) keeps the test fast in debug builds.
    let scenes = SpriteScenes::generate_where(|l| l[3] == 0 && l[2] % 2 == 0);
    let n = scenes.len(); // 3 × 3 × 1024
    let cfg = SpritesConfig {
        test_size: 500,
        val_size: 300,
        mask_observed: 0.1,
        mask_seed: 3,
        ..SpritesConfig::default()
    };
    let mut ds = StructuredSprites::from_scenes(&scenes, cfg.clone()).unwrap();
    let held = 3 * 256; // hearts, 3 scales, 16 × 16 upper-left positions
    assert_eq!(ds.zero_shot().len(), held);
    assert_eq!(ds.test().len(), 500);
    assert_eq!(ds.validation().len(), 300);
    assert_eq!(ds.train().len(), n - held - 800);
    // Zero-shot = exactly the hearts upper-left; none of them anywhere else.
    let zf = Vec::<i64>::try_from(ds.zero_shot().factors.view([-1])).unwrap();
    assert!(zf.chunks(4).all(|f| f[0] == 2 && f[2] < 8 && f[3] < 8));
    for s in [ds.train(), ds.validation(), ds.test()] {
        let f = Vec::<i64>::try_from(s.factors.view([-1])).unwrap();
        assert!(f.chunks(4).all(|f| !(f[0] == 2 && f[2] < 8 && f[3] < 8)));
    }
    assert_eq!(ds.y_layout().dim(), 41 + 256);
    assert_eq!(ds.y_layout().num_vars(), 4 + 256);
    let b = ds.next_batch(64, Device::Cpu).unwrap();
    assert_eq!(b.y.size(), [64, 297]);
    ds.y_layout().validate("test", "y", &b.y).unwrap();
    let obs = b.observed.unwrap();
    assert_eq!(obs.size(), [64, 260]);
    // Factors always observed; the mask all-or-nothing per image, about 10 % of images.
    assert!(bool::try_from(obs.narrow(1, 0, 4).all()).unwrap());
    let m = ds
        .observed()
        .unwrap()
        .narrow(1, 4, 256)
        .to_kind(Kind::Int64);
    let per_image = m.sum_dim_intlist(1, false, Kind::Int64);
    assert!(bool::try_from(per_image.eq(0).logical_or(&per_image.eq(256)).all()).unwrap());
    let frac = f64::try_from(per_image.to_kind(Kind::Double).mean(Kind::Double)).unwrap() / 256.0;
    assert!((frac - 0.1).abs() < 0.02, "{frac}");
    // The test batch's labels decode to the split's factors and masks.
    let t = ds.test_set(20, Device::Cpu).unwrap();
    let v = ds.y_layout().decode(&t.y);
    assert!(v.narrow(1, 0, 4).equal(&ds.test().factors.narrow(0, 0, 20)));
    assert!(v
        .narrow(1, 4, 256)
        .equal(&ds.test().masks.narrow(0, 0, 20).to_kind(Kind::Int64)));
    // The same split again from the seed; variants' layouts.
    let again = StructuredSprites::from_scenes(&scenes, cfg.clone()).unwrap();
    assert!(again.test().images.equal(&ds.test().images));
    for (labels, d) in [(SpriteLabels::Factors, 41), (SpriteLabels::Mask, 256)] {
        let c = SpritesConfig {
            labels,
            mask_observed: 1.0,
            ..cfg.clone()
        };
        let mut v = StructuredSprites::from_scenes(&scenes, c).unwrap();
        assert_eq!(v.next_batch(8, Device::Cpu).unwrap().y.size(), [8, d]);
    }
    let z = ds.zero_shot_set(10, Device::Cpu).unwrap();
    assert_eq!(z.x.size(), [10, 1, 32, 32]);
    // A labelled share: half of every batch has its mask observed (10 % of the images do).
    let half = SpritesConfig {
        labelled_share: Some(0.5),
        ..cfg.clone()
    };
    let mut h = StructuredSprites::from_scenes(&scenes, half).unwrap();
    for _ in 0..3 {
        let obs = h.next_batch(64, Device::Cpu).unwrap().observed.unwrap();
        let with_mask = obs.narrow(1, 4, 256).all_dim(1, false);
        assert_eq!(i64::try_from(with_mask.sum(Kind::Int64)).unwrap(), 32);
    }
    // Bad options are errors: a share without hidden masks, a share out of range.
    for (observed, share) in [(1.0, 0.5), (0.1, 0.0), (0.1, 1.5)] {
        let c = SpritesConfig {
            mask_observed: observed,
            labelled_share: Some(share),
            ..cfg.clone()
        };
        assert!(
            StructuredSprites::from_scenes(&scenes, c).is_err(),
            "{observed} {share}"
        );
    }
    let bad = SpritesConfig {
        labels: SpriteLabels::Factors,
        ..cfg.clone()
    };
    assert!(StructuredSprites::from_scenes(&scenes, bad).is_err());
    let none = SpritesConfig {
        holdout: vec![],
        mask_observed: 1.0,
        ..cfg
    };
    let none = StructuredSprites::from_scenes(&scenes, none).unwrap();
    assert!(none.zero_shot_set(1, Device::Cpu).is_err());
}
