//! Arrays bound by reference (`let r = &c;`) and passed on, read, walked
//! and measured through the reference, as users write them: a constant
//! array the fn made, a differentiated array the fn made, a parameter
//! slice, a fixed-size parameter, a constant float, and arrays written out
//! and borrowed in place (`f(&[a, b], &[T::one(), T::zero()])`, `&[x; n]`).
//! Checked against finite differences in f64 and f32 at random points.

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

#[differentiable]
fn weighted<T: Float>(v: &[T], k: T) -> T {
    let mut s = T::zero();
    for &x in v {
        s = s + x * k;
    }
    s
}

/// A constant array borrowed: passed on, indexed, measured.
#[differentiable]
fn borrowed_constant<T: Float>(t: T) -> T {
    let c = vec![T::one(), T::from(2.0).unwrap(), T::from(3.0).unwrap()];
    let r = &c;
    weighted(r, t) * t + r[1] * t.sin() + T::from(r.len()).unwrap() * t
}

/// A differentiated array borrowed: walked, folded, passed on (and the
/// array itself too), indexed.
#[differentiable]
fn borrowed_active<T: Float>(t: T, w: &[T]) -> T {
    let c: Vec<T> = w.iter().map(|&x| x * x).collect();
    let r = &c;
    let mut acc = T::zero();
    for &v in r {
        acc = acc + v * t;
    }
    let s = r.iter().fold(T::zero(), |a, &v| a + v.sin());
    weighted(r, t) + weighted(&c, t) + acc + s * r[0]
}

/// A parameter slice borrowed again, data outside `wrt`.
#[differentiable(wrt(t))]
fn borrowed_data<T: Float>(t: T, w: &[T]) -> T {
    let r = &w;
    weighted(r, t) * t
}

/// A fixed-size parameter borrowed and walked.
#[differentiable]
fn borrowed_fixed<T: Float>(t: T, w: [T; 3]) -> T {
    let r = &w;
    let mut acc = t;
    for &v in r.iter() {
        acc = acc * v;
    }
    acc + r[2] * r[0]
}

fn plus_one<T: Float>(v: &T) -> T {
    *v + T::one()
}

/// A constant float borrowed: dereferenced, methods called through the
/// reference (`r.max(x)` takes the constant's value), passed to a plain fn
/// taking `&T`.
#[differentiable]
fn borrowed_scalar<T: Float>(x: T) -> T {
    let k = T::from(2.5).unwrap();
    let r = &k;
    x * *r + r.sin() * x + plus_one(r) * x * x + r.max(x) + r.min(x * x)
}

/// Arrays written out and borrowed, constant ones included: passed to a
/// differentiated call (`&[T::one(), T::zero()]`, `&vec![..]`) and bound by
/// `let r = &[..];` (a borrow of a temporary the pullback would keep).
#[differentiable]
fn borrowed_literals<T: Float>(a: T, b: T) -> T {
    let r = &[T::one(), T::from(2.0).unwrap()];
    let s = &[a, a * b];
    weighted(&[a, b], a) * weighted(r, b)
        + weighted(&[T::one(); 3], a * b)
        + weighted(&[T::one(), T::zero()], b)
        + weighted(s, b)
}

fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    for _ in 0..6 {
        let p: Vec<T> = cast(&rng.point(4, -1.5, 1.5));
        let (t, w) = (p[0], &p[1..3]);
        let (_, g) = borrowed_constant_grad(t);
        assert_gradient("constant", |x| borrowed_constant(x[0]), &[t], &[g], tol);
        let (_, (gt, gw)) = borrowed_active_grad(t, w);
        assert_gradient("active, t", |x| borrowed_active(x[0], w), &[t], &[gt], tol);
        assert_gradient("active, w", |x| borrowed_active(t, x), w, &gw, tol);
        let (_, g) = borrowed_scalar_grad(t);
        assert_gradient("scalar", |x| borrowed_scalar(x[0]), &[t], &[g], tol);
        let (_, (ga, gb)) = borrowed_literals_grad(t, w[0]);
        assert_gradient(
            "literals",
            |x| borrowed_literals(x[0], x[1]),
            &[t, w[0]],
            &[ga, gb],
            tol,
        );
        let (_, g) = borrowed_data_grad(t, w);
        assert_gradient("data", |x| borrowed_data(x[0], w), &[t], &[g], tol);
        let w3 = [p[1], p[2], p[3]];
        let (_, (gt, gw)) = borrowed_fixed_grad(t, w3);
        assert_gradient("fixed, t", |x| borrowed_fixed(x[0], w3), &[t], &[gt], tol);
        assert_gradient(
            "fixed, w",
            |x| borrowed_fixed(t, [x[0], x[1], x[2]]),
            &w3,
            &gw,
            tol,
        );
    }
}

#[test]
fn borrowed_arrays_f64() {
    check::<f64>(&mut Rng::new(71));
}

#[test]
fn borrowed_arrays_f32() {
    check::<f32>(&mut Rng::new(72));
}
