//! A running `min` or `max` written the ways users write it: over items,
//! `enumerate`, a subslice, a fixed array, rows, a parameter as the start,
//! two loops, `T::min`, `1..=n`, `wrt`, concrete `f64`, after an early
//! return (the loop then in a branch); and the forms that keep their
//! loop's ordinary reversal (`.rev()`, `while`, a call). Every gradient against finite differences at random
//! points (ties are measure zero there; see `tests/winners.rs` for them).

// Indexed loops, as users write them; closures that name the fn's type.
#![allow(clippy::needless_range_loop, clippy::redundant_closure)]

mod common;
use common::{assert_gradient, Rng};
use tapeless::{differentiable, Float};

#[differentiable]
fn f1<T: Float>(x: &[T]) -> T {
    let mut m = T::neg_infinity();
    for v in x.iter() {
        m = m.max(*v);
    }
    m * m
}
#[differentiable]
fn f2<T: Float>(x: &[T], w: &[T]) -> T {
    let mut m = T::neg_infinity();
    for (i, &v) in x.iter().enumerate() {
        m = m.max(v * w[i]);
    }
    m.exp()
}
#[differentiable]
fn f3<T: Float>(x: &[T]) -> T {
    let mut m = x[0];
    for i in (0..x.len()).rev() {
        m = m.min(x[i] * 3.0);
    }
    m
}
#[differentiable]
fn f5<T: Float>(x: &[T]) -> T {
    let mut m = x[0];
    for &v in &x[1..] {
        m = m.max(v.sin());
    }
    m
}
#[differentiable]
fn f6<T: Float>(x: [T; 4]) -> T {
    let mut m = x[0];
    for i in 1..4 {
        m = m.max(x[i] * x[i]);
    }
    m
}
#[differentiable]
fn f7<T: Float>(w: &[Vec<T>]) -> T {
    let mut s = T::zero();
    for row in w {
        let mut m = row[0];
        for &v in row.iter() {
            m = m.max(v);
        }
        s += m * m;
    }
    s
}
#[differentiable]
fn f8<T: Float>(x: &[T], t: T) -> T {
    if t > T::one() {
        return t;
    }
    let mut m = x[0] * 2.0;
    for i in 0..x.len() {
        let d = x[i] - t;
        let d = d * d;
        m = m.min(d);
    }
    m + t
}
#[differentiable]
fn f10(x: &[f64], c: f64) -> f64 {
    let mut best = f64::MAX;
    for &v in x {
        best = best.min((v - c).abs());
    }
    best
}
#[differentiable(wrt(w))]
fn f13<T: Float>(x: &[T], w: &[T]) -> T {
    let mut m = T::neg_infinity();
    for i in 0..x.len() {
        m = m.max(x[i] * w[i]);
    }
    m
}
#[differentiable]
fn sq<T: Float>(a: T, b: T) -> T {
    (a - b) * (a - b)
}
#[differentiable]
fn f16<T: Float>(x: &[T], c: T) -> T {
    let mut best = T::infinity();
    for &v in x {
        best = best.min(sq(v, c));
    }
    best
}
#[differentiable]
fn f18<T: Float>(mut m: T, x: &[T]) -> T {
    for &v in x {
        m = m.max(v);
    }
    m * 3.0
}
#[differentiable]
fn f19<T: Float>(x: &[T]) -> T {
    let n = x.len();
    let mut m = T::neg_infinity();
    let mut i = 0;
    while i < n {
        m = m.max(x[i]);
        i += 1;
    }
    m
}
#[differentiable]
fn f20<T: Float>(x: &[T]) -> T {
    let mut lo = x[0];
    let mut hi = x[0];
    for &v in x {
        lo = lo.min(v);
    }
    for &v in x {
        hi = hi.max(v);
    }
    (hi - lo) * (hi + lo)
}
#[differentiable]
fn f21<T: Float>(x: &[T]) -> T {
    let mut m = x[0];
    for i in 1..=x.len() - 1 {
        let a = x[i] * 0.5;
        m = T::min(a, m);
    }
    m
}

#[test]
fn winner_forms_match_finite_differences() {
    let mut rng = Rng::new(5);
    for _ in 0..30 {
        let x: Vec<f64> = rng.point(5, -2.0, 2.0);
        let w: Vec<f64> = rng.point(5, 0.5, 1.5);
        let t = rng.uniform(-0.5, 0.9);
        let tol = 1e-5;
        assert_gradient("f1", |v| f1(v), &x, &f1_grad(&x).1, tol);
        let xw: Vec<f64> = x.iter().chain(&w).copied().collect();
        let (a, b) = f2_grad(&x, &w).1;
        assert_gradient("f2", |v| f2(&v[..5], &v[5..]), &xw, &[a, b].concat(), tol);
        assert_gradient("f3", |v| f3(v), &x, &f3_grad(&x).1, tol);
        assert_gradient("f5", |v| f5(v), &x, &f5_grad(&x).1, tol);
        let x4 = [x[0], x[1], x[2], x[3]];
        assert_gradient(
            "f6",
            |v| f6([v[0], v[1], v[2], v[3]]),
            &x4,
            &f6_grad(x4).1,
            tol,
        );
        let rows = vec![x.clone(), w.clone()];
        let g7 = f7_grad(&rows).1;
        assert_gradient(
            "f7",
            |v| f7(&[v[..5].to_vec(), v[5..].to_vec()]),
            &xw,
            &g7.concat(),
            tol,
        );
        let xt: Vec<f64> = x.iter().copied().chain([t]).collect();
        let (a, b) = f8_grad(&x, t).1;
        assert_gradient(
            "f8",
            |v| f8(&v[..5], v[5]),
            &xt,
            &[a, vec![b]].concat(),
            tol,
        );
        let (a, b) = f10_grad(&x, t).1;
        assert_gradient(
            "f10",
            |v| f10(&v[..5], v[5]),
            &xt,
            &[a, vec![b]].concat(),
            tol,
        );
        let g13 = f13_grad(&x, &w).1;
        assert_gradient("f13", |v| f13(&x, v), &w, &g13, tol);
        let (a, b) = f16_grad(&x, t).1;
        assert_gradient(
            "f16",
            |v| f16(&v[..5], v[5]),
            &xt,
            &[a, vec![b]].concat(),
            tol,
        );
        let tx: Vec<f64> = [t].iter().chain(&x).copied().collect();
        let (a, b) = f18_grad(t, &x).1;
        assert_gradient(
            "f18",
            |v| f18(v[0], &v[1..]),
            &tx,
            &[vec![a], b].concat(),
            tol,
        );
        assert_gradient("f19", |v| f19(v), &x, &f19_grad(&x).1, tol);
        assert_gradient("f20", |v| f20(v), &x, &f20_grad(&x).1, tol);
        assert_gradient("f21", |v| f21(v), &x, &f21_grad(&x).1, tol);
    }
}
