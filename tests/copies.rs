//! Copies of arrays into mutable variables (`let mut y = x.to_vec();`, as a
//! simulation starts from its initial state): the copy's gradient flows back
//! into the array it was copied from. Checked against finite differences at
//! random points, f64 and f32: a slice copied and stepped in time, an array
//! value, an owned `Vec` moved, a local array cloned, a copy per loop
//! iteration (and a loop over the length of such a per-iteration array), and
//! a copy of constant data that becomes differentiated.

#![allow(clippy::needless_range_loop, clippy::manual_memcpy)]

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

/// Explicit Euler steps from a copied initial state.
#[differentiable]
fn simulate<T: Float>(x0: &[T], v: &[T], dt: T) -> T {
    let mut pos = x0.to_vec();
    for _ in 0..3 {
        for i in 0..pos.len() {
            pos[i] = pos[i] + dt * v[i] * pos[i].sin();
        }
    }
    let mut e = T::zero();
    for i in 0..pos.len() {
        e += pos[i] * pos[i];
    }
    e
}

/// An array value copied, the original read after the copy changed.
#[differentiable]
fn array_value<T: Float>(x: [T; 3]) -> T {
    let mut y = x;
    y[0] = y[0] * y[1];
    y[2] = y[2].exp();
    y[0] + y[2] * x[0]
}

/// An owned `Vec` moved into a mutable variable.
#[differentiable]
fn owned<T: Float>(x: Vec<T>) -> T {
    let mut y = x;
    y[0] = y[0] * y[1];
    y[0] + y[1].sin()
}

/// A local array cloned, both changed afterwards.
#[differentiable]
fn local<T: Float>(x: &[T]) -> T {
    let mut a = vec![T::zero(); x.len()];
    for i in 0..x.len() {
        a[i] = x[i].exp();
    }
    let mut b = a.clone();
    b[0] = b[0] * a[1];
    a[1] = a[1] * 3.0;
    b[0] + b[1] + a[1]
}

/// A fresh copy every iteration.
#[differentiable]
fn per_iteration<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for r in 0..x.len() {
        let mut y = x.to_owned();
        y[r] = y[r].tanh();
        for i in 0..y.len() {
            s += y[i] * y[(i + r) % y.len()];
        }
    }
    s
}

/// The same with a scratch array built per iteration: a loop over the
/// length of an array that lives in a loop (the backward has no such array
/// to measure; the loop counts its iterations instead).
#[differentiable]
fn scratch_len<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for r in 0..x.len() {
        let mut y = vec![T::zero(); x.len() + r];
        for i in 0..x.len() {
            y[i + r] = x[i];
        }
        for i in 0..y.len() {
            s += (y[i] * y[(i + 1) % y.len()]).sin();
        }
    }
    s
}

/// Constant data copied, then written with differentiated values.
#[differentiable(wrt(p))]
fn from_data<T: Float>(p: &[T], data: &[T]) -> T {
    let mut d = data.to_vec();
    for i in 0..d.len() {
        d[i] = d[i] * p[i % p.len()];
    }
    let mut s = T::zero();
    for i in 0..d.len() {
        s += d[i].sin();
    }
    s
}

fn check<T: Float + std::fmt::Display>(seed: u64) {
    let mut rng = Rng::new(seed);
    let tol = tolerance::<T>();
    for n in [2usize, 3, 6] {
        let x: Vec<T> = cast(&rng.point(n, -1.0, 1.0));
        let v: Vec<T> = cast(&rng.point(n, -1.0, 1.0));
        let dt = T::from(0.1).unwrap();
        let (e, (gx, gv, gdt)) = simulate_grad(&x, &v, dt);
        assert!(e == simulate(&x, &v, dt));
        assert_gradient("simulate x0", |p: &[T]| simulate(p, &v, dt), &x, &gx, tol);
        assert_gradient("simulate v", |p: &[T]| simulate(&x, p, dt), &v, &gv, tol);
        assert_gradient(
            "simulate dt",
            |p: &[T]| simulate(&x, &v, p[0]),
            &[dt],
            &[gdt],
            tol,
        );

        let a = [x[0], x[1], v[0]];
        let (_, g) = array_value_grad(a);
        assert_gradient(
            "array_value",
            |p: &[T]| array_value([p[0], p[1], p[2]]),
            &a,
            &g,
            tol,
        );

        let (_, g) = owned_grad(x.clone());
        assert_gradient("owned", |p: &[T]| owned(p.to_vec()), &x, &g, tol);

        let (s, g) = local_grad(&x);
        assert!(s == local(&x));
        assert_gradient("local", |p: &[T]| local(p), &x, &g, tol);

        let (s, g) = per_iteration_grad(&x);
        assert!(s == per_iteration(&x));
        assert_gradient("per_iteration", |p: &[T]| per_iteration(p), &x, &g, tol);

        let (s, g) = scratch_len_grad(&x);
        assert!(s == scratch_len(&x));
        assert_gradient("scratch_len", |p: &[T]| scratch_len(p), &x, &g, tol);

        let data: Vec<T> = cast(&rng.point(2 * n, -1.0, 1.0));
        let (s, g) = from_data_grad(&x, &data);
        assert!(s == from_data(&x, &data));
        assert_gradient("from_data", |p: &[T]| from_data(p, &data), &x, &g, tol);
    }
}

#[test]
fn copies_f64() {
    check::<f64>(501);
}

#[test]
fn copies_f32() {
    check::<f32>(502);
}
