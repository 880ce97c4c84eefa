use super::*;
use tch::Device;

#[test]
fn columns_and_counts() {
    let l = YLayout::new(vec![3, 2], 2).unwrap();
    assert_eq!(l.dim(), 7);
    assert_eq!(l.num_vars(), 4);
    assert_eq!(l.columns(0), 0..3);
    assert_eq!(l.columns(1), 3..5);
    assert_eq!(l.columns(3), 6..7);
    assert_eq!(l.num_configurations(), 24);
}

#[test]
fn rejects_bad_layouts() {
    assert!(YLayout::new(vec![1], 0).is_err());
    assert!(YLayout::new(vec![], 0).is_err());
}

#[test]
fn encode_decode_round_trip_and_validate() {
    let l = YLayout::new(vec![3, 2], 1).unwrap();
    let all = l.enumerate_values(100).unwrap();
    assert_eq!(all.size(), vec![12, 3]);
    let y = l.encode(&all, Kind::Double).unwrap();
    l.validate("test", "y", &y).unwrap();
    assert!(l.decode(&y).equal(&all));
    assert!(l.enumerate_values(11).is_err());
}

#[test]
fn validate_rejects_non_one_hot_and_bad_shapes() {
    let l = YLayout::categorical(vec![2, 2]).unwrap();
    let bad = Tensor::from_slice(&[1.0f64, 1.0, 0.0, 1.0]).view([1, 4]);
    assert!(matches!(
        l.validate("t", "y", &bad),
        Err(Error::InvalidLabels { .. })
    ));
    let half = Tensor::from_slice(&[0.5f64, 0.5, 0.0, 1.0]).view([1, 4]);
    assert!(l.validate("t", "y", &half).is_err());
    let wrong = Tensor::zeros([2, 3], (Kind::Double, Device::Cpu));
    assert!(matches!(
        l.validate("t", "y", &wrong),
        Err(Error::Shape { .. })
    ));
    let ints = Tensor::from_slice(&[1i64, 0, 0, 1]).view([1, 4]);
    assert!(l.validate("t", "y", &ints).is_err());
}

/// The segment operations agree with the dense same-variable matrix they replace, on a
/// layout of groups and bits.
#[test]
fn column_maps() {
    let l = YLayout::new(vec![2, 3], 2).unwrap();
    let m = ColumnMaps::new(&l, Device::Cpu);
    // The dense [D, D] map: 1 where two columns belong to the same variable.
    let d = l.dim();
    let mut same = vec![0f64; d * d];
    for v in 0..l.num_vars() {
        for i in l.columns(v) {
            for j in l.columns(v) {
                same[i * d + j] = 1.0;
            }
        }
    }
    let same = Tensor::from_slice(&same).view([d as i64, d as i64]);
    let t = Tensor::randn([5, d as i64], (Kind::Double, Device::Cpu));
    assert!(m
        .sum_within_var(&t)
        .allclose(&t.matmul(&same), 1e-12, 1e-12, false));
    let cell = Tensor::from_slice(&[0i64, 3, 5, 6, 1]);
    let dense = cell
        .one_hot(d as i64)
        .to_kind(Kind::Double)
        .matmul(&same)
        .gt(0.0);
    assert!(m.same_var_as(&cell).equal(&dense));
    let mask = Tensor::from_slice(&[true, false, false, true, false, false, false]).view([1, 7]);
    let any = Tensor::from_slice(&[true, true, false, false]).view([1, 4]);
    assert!(m.any_per_var(&mask).equal(&any));
    let vmask = Tensor::from_slice(&[true, false, true, false]).view([1, 4]);
    let cols = m.expand_var_mask(&vmask);
    let want = Tensor::from_slice(&[true, true, false, false, false, true, false]).view([1, 7]);
    assert!(cols.equal(&want));
    assert_eq!(m.num_vars(), 4);
    // The cache hands out the same storage for the same layout.
    let a = ColumnMaps::for_layout(&l, Device::Cpu);
    let b = ColumnMaps::for_layout(&l, Device::Cpu);
    assert_eq!(a.var_of_col.data_ptr(), b.var_of_col.data_ptr());
    assert!(a.var_of_col.equal(&m.var_of_col));
}
