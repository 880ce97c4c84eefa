use super::*;
use crate::npz::testing::{npy_bytes, pickled_npy, write_npz};
use crate::seeded::seeded_permutation;
use crate::DataSource;
use tch::Kind;
use tch::{Device, Tensor};

/// Centre of mass (x = column, y = row) of a 32 × 32 quarter image.
fn centroid(img: &[u8]) -> (f64, f64) {
    let (mut m, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for r in 0..SIDE {
        for c in 0..SIDE {
            let v = f64::from(img[r * SIDE + c]);
            m += v;
            sx += v * c as f64;
            sy += v * r as f64;
        }
    }
    (sx / m, sy / m)
}

#[test]
fn generated_subset_has_correct_labels_and_split() {
    let t0 = std::time::Instant::now();
    let subset = DSpritesSubset::generate();
    assert_eq!(subset.len(), SUBSET_SIZE);
    assert_eq!(subset.images.len(), SUBSET_SIZE * SIDE * SIDE);
    let img = |i: usize| &subset.images[i * SIDE * SIDE..(i + 1) * SIDE * SIDE];
    // Every (x-bin, y-bin) pair equally often: 8 orientations × 6 scales × 2 × 2.
    let mut pairs = vec![0usize; POSITION_BINS * POSITION_BINS];
    for [bx, by] in subset.position_bins() {
        pairs[bx as usize * POSITION_BINS + by as usize] += 1;
    }
    assert!(pairs.iter().all(|&c| c == 192), "{pairs:?}");
    // Centre of mass strictly increasing in posX (fixed everything else) and in posY; the
    // sprite never touches the border; the area grows with the scale.
    let np = NUM_POSITIONS as usize;
    for (i, l) in subset.latents.iter().enumerate() {
        assert!(in_subset(l));
        let im = img(i);
        assert!(im.iter().any(|&v| v > 0));
        assert!((0..SIDE).all(|k| im[k] == 0
            && im[(SIDE - 1) * SIDE + k] == 0
            && im[k * SIDE] == 0
            && im[k * SIDE + SIDE - 1] == 0));
        let (cx, cy) = centroid(im);
        if l[4] > 0 {
            let (px, _) = centroid(img(i - np));
            assert!(cx > px, "image {i} {l:?}: x centroid {cx} ≤ {px}");
        }
        if l[5] > 0 {
            let (_, py) = centroid(img(i - 1));
            assert!(cy > py, "image {i} {l:?}: y centroid {cy} ≤ {py}");
        }
        // Centroid in 32-px coordinates ≈ (16 + 32·pos)/2 − ½.
        let ex = (POSITION_MIN_PX + POSITION_RANGE_PX * position_value(l[4])) / 2.0 - 0.5;
        assert!(
            (cx - ex).abs() < 0.3,
            "image {i}: x centroid {cx}, expected ≈ {ex}"
        );
    }
    let area = |s: i64| -> u32 {
        let i = subset.latents.iter().position(|l| l[2] == s).unwrap();
        img(i).iter().map(|&v| u32::from(v)).sum()
    };
    assert!((0..NUM_SCALES - 1).all(|s| area(s) < area(s + 1)));
    // Scale 1: π·11.5·6.5 ≈ 234.8 px at 64² → ≈ 58.7 at 32², i.e. ≈ 235 quarters.
    assert!((area(NUM_SCALES - 1) as f64 - 234.8).abs() < 8.0);

    // The split: 2,500 test, 46,652 train, disjoint, reproducible from the seed.
    let ds = DSprites::from_subset(&subset, DSpritesConfig::default()).unwrap();
    assert_eq!(ds.test().len(), 2500);
    assert_eq!(ds.train().len(), 46_652);
    assert_eq!(
        ds.test_indices(),
        &seeded_permutation(SUBSET_SIZE, 0)[..2500]
    );
    let again = DSprites::from_subset(&subset, DSpritesConfig::default()).unwrap();
    assert_eq!(ds.test_indices(), again.test_indices());
    assert!(ds.test().images.equal(&again.test().images));
    let other = DSpritesConfig {
        split_seed: 1,
        ..DSpritesConfig::default()
    };
    let other = DSprites::from_subset(&subset, other).unwrap();
    assert_ne!(ds.test_indices(), other.test_indices());
    // Test labels and images are those of the subset entries they came from.
    let bins = subset.position_bins();
    let test_labels = Vec::<i64>::try_from(ds.test().labels.view([-1])).unwrap();
    for (k, &i) in ds.test_indices().iter().enumerate().take(50) {
        assert_eq!(test_labels[2 * k..2 * k + 2], bins[i]);
        let t = Vec::<u8>::try_from(ds.test().images.get(k as i64).view([-1])).unwrap();
        assert_eq!(t, img(i));
    }
    eprintln!("generate + checks + 3 splits: {:?}", t0.elapsed());
}

#[test]
fn batches_and_fixed_label_mask() {
    let subset = DSpritesSubset::generate();
    let cfg = DSpritesConfig {
        missing_fraction: 0.5,
        mask_seed: 11,
        ..DSpritesConfig::default()
    };
    let mut ds = DSprites::from_subset(&subset, cfg).unwrap();
    assert_eq!(ds.x_shape(), [1, 32, 32]);
    assert_eq!(ds.y_layout().groups(), [16, 16]);
    let mask = ds.observed().unwrap();
    assert_eq!(mask.size(), [46_652, 2]);
    // v = 2, fraction ½: every example hides exactly one of its two labels.
    let kept = mask.sum_dim_intlist([1i64].as_slice(), false, Kind::Int64);
    assert!(bool::try_from(kept.eq(1).all()).unwrap());
    let same = DSprites::from_subset(&subset, cfg).unwrap();
    assert!(
        mask.equal(same.observed().unwrap()),
        "mask fixed by its seed"
    );
    let b = ds.next_batch(256, Device::Cpu).unwrap();
    assert_eq!(b.x.size(), [256, 1, 32, 32]);
    assert_eq!(b.x.kind(), Kind::Float);
    assert_eq!(b.y.size(), [256, 32]);
    assert_eq!(b.observed.as_ref().unwrap().size(), [256, 2]);
    // dSprites dequantisation: intensities q/4 map into [7q/32, (7q/4 + 1)/8).
    let back = crate::from_logit(&b.x);
    assert!(bool::try_from(back.ge(0.0).all()).unwrap());
    let t = ds.test_set(10, Device::Cpu).unwrap();
    assert_eq!(t.x.size(), [10, 1, 32, 32]);
    assert!(t.observed.is_none());
    let labels = ds.y_layout().decode(&t.y);
    assert!(labels.equal(&ds.test().labels.narrow(0, 0, 10)));
}

#[test]
fn downsampling_is_torch_bilinear() {
    let imgs: Vec<u8> = [
        (0.5, 0.3, 0.0, 1.0),
        (1.0, 2.0, 0.4, 0.77),
        (0.7, 4.0, 1.0, 0.0),
    ]
    .iter()
    .flat_map(|&(s, o, x, y)| render_ellipse(s, o, x, y))
    .collect();
    let t = Tensor::from_slice(&imgs)
        .view([3, 1, 64, 64])
        .to_kind(Kind::Float);
    let torch = t.upsample_bilinear2d([32, 32], false, None, None) * 4.0;
    let ours: Vec<u8> = imgs
        .chunks_exact(64 * 64)
        .flat_map(|im| downsample_2x(im, 64))
        .collect();
    let ours = Tensor::from_slice(&ours)
        .view([3, 1, 32, 32])
        .to_kind(Kind::Float);
    assert_eq!(f64::try_from((torch - ours).abs().max()).unwrap(), 0.0);
}

/// A small original-format `.npz`: 5 rows of the subset, 3 rows outside it.
fn small_npz_rows() -> Vec<[i64; 6]> {
    vec![
        [0, 0, 5, 0, 3, 4],  // square: not selected
        [0, 1, 0, 0, 0, 31], // selected
        [0, 1, 2, 5, 7, 7],  // orientation 5: not selected
        [0, 1, 5, 9, 16, 2], // selected
        [0, 1, 3, 10, 31, 0],
        [0, 2, 1, 0, 8, 8], // heart: not selected
        [0, 1, 1, 29, 12, 13],
        [0, 1, 4, 39, 20, 30],
    ]
}

fn render_row(l: &[i64; 6]) -> Vec<u8> {
    render_ellipse(
        scale_value(l[2]),
        orientation_value(l[3]),
        position_value(l[4]),
        position_value(l[5]),
    )
}

#[test]
fn npz_loader_selects_the_subset() {
    let dir = tempfile::tempdir().unwrap();
    let rows = small_npz_rows();
    let n = rows.len();
    let classes: Vec<u8> = rows
        .iter()
        .flatten()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let imgs: Vec<u8> = rows.iter().flat_map(render_row).collect();
    let good = dir.path().join(DSPRITES_NPZ);
    let entries = |imgs_npy: Vec<u8>, classes_npy: Vec<u8>| {
        vec![
            ("imgs.npy", imgs_npy),
            ("latents_classes.npy", classes_npy),
            ("metadata.npy", pickled_npy()),
        ]
    };
    let imgs_npy = npy_bytes("|u1", &[n, 64, 64], &imgs);
    let classes_npy = npy_bytes("<i8", &[n, 6], &classes);
    write_npz(&good, &entries(imgs_npy.clone(), classes_npy.clone()));
    let subset = DSpritesSubset::from_npz(&good).unwrap();
    let selected: Vec<[i64; 6]> = rows.iter().copied().filter(in_subset).collect();
    assert_eq!(subset.latents, selected);
    let expect: Vec<u8> = selected
        .iter()
        .flat_map(|l| downsample_2x(&render_row(l), 64))
        .collect();
    assert_eq!(subset.images, expect);
    assert_eq!(subset.position_bins()[1], [8, 1]);
    let cfg = DSpritesConfig {
        test_size: 2,
        ..DSpritesConfig::default()
    };
    let mut ds = DSprites::from_npz(&good, cfg).unwrap();
    assert_eq!((ds.train().len(), ds.test().len()), (3, 2));
    assert_eq!(
        ds.next_batch(3, Device::Cpu).unwrap().x.size(),
        [3, 1, 32, 32]
    );
    assert!(DSprites::from_npz(&good, DSpritesConfig::default()).is_err());

    let err = |name: &str, e: Vec<(&str, Vec<u8>)>| {
        let p = dir.path().join(name);
        write_npz(&p, &e);
        let e = DSpritesSubset::from_npz(&p).unwrap_err();
        let s = e.to_string();
        assert!(s.contains(name), "{s}");
        s
    };
    // Missing entry.
    let s = err(
        "missing.npz",
        vec![
            ("imgs.npy", imgs_npy.clone()),
            ("metadata.npy", pickled_npy()),
        ],
    );
    assert!(s.contains("no array `latents_classes`"), "{s}");
    // Wrong dtypes.
    let wide: Vec<u8> = imgs
        .iter()
        .flat_map(|&v| u16::from(v).to_le_bytes())
        .collect();
    let s = err(
        "dtype.npz",
        entries(npy_bytes("<u2", &[n, 64, 64], &wide), classes_npy.clone()),
    );
    assert!(
        s.contains("`imgs.npy`") && s.contains("expected uint8"),
        "{s}"
    );
    let int32: Vec<u8> = rows
        .iter()
        .flatten()
        .flat_map(|&v| (v as i32).to_le_bytes())
        .collect();
    let s = err(
        "dtype2.npz",
        entries(imgs_npy.clone(), npy_bytes("<i4", &[n, 6], &int32)),
    );
    assert!(
        s.contains("`latents_classes.npy`") && s.contains("expected int64"),
        "{s}"
    );
    // Truncated image data, and a shape that disagrees with latents_classes.
    let s = err(
        "truncated.npz",
        entries(
            npy_bytes("|u1", &[n, 64, 64], &imgs[..imgs.len() - 100]),
            classes_npy.clone(),
        ),
    );
    assert!(s.contains("truncated"), "{s}");
    let s = err(
        "shape.npz",
        entries(
            npy_bytes("|u1", &[n - 1, 64, 64], &imgs[..(n - 1) * 4096]),
            classes_npy.clone(),
        ),
    );
    assert!(s.contains("expected [8, 64, 64]"), "{s}");
    // Non-binary pixels.
    let mut bright = imgs.clone();
    bright.iter_mut().for_each(|v| *v *= 255);
    let s = err(
        "bright.npz",
        entries(npy_bytes("|u1", &[n, 64, 64], &bright), classes_npy),
    );
    assert!(s.contains("expected binary"), "{s}");
    // A truncated archive file.
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.npz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let s = DSpritesSubset::from_npz(&cut).unwrap_err().to_string();
    assert!(
        s.contains("cut.npz") && s.contains("truncated or corrupt"),
        "{s}"
    );
}
