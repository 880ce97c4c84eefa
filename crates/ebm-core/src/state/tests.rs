use super::*;
use crate::{FnEnergy, YLayout};
use tch::{Device, Kind};

fn energy() -> FnEnergy<impl Fn(&Tensor, &Tensor) -> Tensor> {
    // f(x, y) = −|x|²/2 + x₀·(y·w): couples both blocks.
    let w = Tensor::from_slice(&[0.0f64, 1.0, 2.0]);
    FnEnergy::new(
        YLayout::categorical(vec![3]).unwrap(),
        move |x: &Tensor, y: &Tensor| {
            -(x * x).sum_dim_intlist([1i64].as_slice(), false, None) / 2.0
                + x.select(1, 0) * y.mv(&w)
        },
    )
}

fn start(b: i64) -> (Tensor, Tensor) {
    let x = Tensor::randn([b, 2], (Kind::Double, Device::Cpu));
    let y = Tensor::zeros([b, 3], (Kind::Double, Device::Cpu));
    let _ = y.select(1, 0).fill_(1.0);
    (x, y)
}

fn assert_in_step<E: JointEnergy>(e: &E, s: &JointState) {
    let fresh = Evaluation::at(e, s.x(), s.y()).unwrap();
    assert!(fresh
        .log_density()
        .allclose(s.eval().log_density(), 1e-12, 1e-12, false));
    assert!(fresh
        .grad_y()
        .allclose(s.eval().grad_y(), 1e-12, 1e-12, false));
}

#[test]
fn accepted_moves_keep_the_cache_in_step_and_respect_clamps() {
    tch::manual_seed(3);
    let e = energy();
    let (x, y) = start(6);
    let fixed_x = Tensor::from_slice(&[true, false]);
    let fixed_y = Tensor::from_slice(&[true]);
    let s = JointState::new(&e, &x, &y)
        .unwrap()
        .with_fixed_x(&fixed_x)
        .unwrap();
    // x move: the clamped coordinate stays whatever the proposal says.
    let p = s.propose_x(&e, &(&x + 1.0)).unwrap();
    assert!(p.x().select(1, 0).equal(&x.select(1, 0)));
    let acc = Tensor::from_slice(&[true, false, true, false, true, false]);
    let s = s.accept(&acc, p).unwrap();
    assert_in_step(&e, &s);
    assert!(s.x().select(1, 0).equal(&x.select(1, 0)));
    // y move on a state with the label clamped: nothing changes.
    let s = s.with_fixed_y(&fixed_y).unwrap();
    let y2 = Tensor::zeros([6, 3], (Kind::Double, Device::Cpu));
    let _ = y2.select(1, 2).fill_(1.0);
    let p = s.propose_y(&e, &y2).unwrap();
    assert!(p.y().equal(&y));
    let s = s.accept(&acc.ones_like(), p).unwrap();
    assert!(s.y().equal(&y));
    assert_in_step(&e, &s);
}

#[test]
fn a_proposal_from_another_state_is_refused() {
    tch::manual_seed(4);
    let e = energy();
    let (x, y) = start(4);
    let a = JointState::new(&e, &x, &y).unwrap();
    let b = JointState::new(&e, &(&x * 2.0), &y).unwrap();
    let y2 = y.roll([1], [1]);
    let from_b = b.propose_y(&e, &y2).unwrap();
    let all = Tensor::ones([4], (Kind::Bool, Device::Cpu));
    assert!(matches!(
        a.accept(&all, from_b),
        Err(Error::InvalidConfig { .. })
    ));
    let a = JointState::new(&e, &x, &y).unwrap();
    let p = a.propose_y(&e, &y2).unwrap();
    assert!(a
        .accept(&Tensor::ones([3], (Kind::Bool, Device::Cpu)), p)
        .is_err());
    let a = JointState::new(&e, &x, &y).unwrap();
    assert!(a
        .propose_x(&e, &Tensor::zeros([4, 3], (Kind::Double, Device::Cpu)))
        .is_err());
}

#[test]
fn propose_y_among_picks_the_chosen_candidates_with_their_evaluation() {
    tch::manual_seed(5);
    let e = energy();
    let (x, y) = start(3);
    let s = JointState::new(&e, &x, &y).unwrap();
    let eye = Tensor::eye(3, (Kind::Double, Device::Cpu));
    let cands = eye.unsqueeze(0).expand([3, 3, 3], false); // [B, K = 3, D]
    let p = s
        .propose_y_among(&e, &cands, |f| {
            assert_eq!(f.size(), vec![3, 3]);
            Ok(Tensor::from_slice(&[2i64, 0, 1]))
        })
        .unwrap();
    let want = Tensor::from_slice(&[2i64, 0, 1])
        .one_hot(3)
        .to_kind(Kind::Double);
    assert!(p.y().equal(&want));
    let s = s
        .accept(&Tensor::ones([3], (Kind::Bool, Device::Cpu)), p)
        .unwrap();
    assert_in_step(&e, &s);
}
