//! Columns of flat matrices: an array read at `item * stride + offset` in a
//! loop over `0..end` (`w[i * h + j]` in a loop over `i`, `stride` and
//! `offset` fixed while it runs). Until 2026-12-04 the backward bound such a
//! column as one span before the loop's reversal; it now reads the full
//! index (the span measured slower, see the README's changelog). Checked
//! against finite differences in f64 and f32, in the ways the index is
//! written (the stride a variable or a literal, on either side of the
//! item, the offset on either side of the sum), beside forms close to a
//! stride (a range from 1, an index with a `-`, a stride that changes in
//! the loop) and empty loops.

#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

/// A dense layer written by columns: `w`'s adjoint and value through
/// `w[i * h + j]`, `x` at the item.
#[differentiable]
fn columns<T: Float>(w: &[T], b: &[T], x: &[T], h: usize) -> T {
    let d = x.len();
    let mut s = T::zero();
    for j in 0..h {
        let mut a = b[j];
        for i in 0..d {
            a += x[i] * w[i * h + j];
        }
        s += a.tanh();
    }
    s
}

/// The other spellings: a literal stride with the offset first, the stride
/// first, a value the backward reads again (`w[..]` squared), a product
/// carried through the loop; then forms that are not strides.
#[differentiable]
fn spellings<T: Float>(w: &[T], n: usize) -> T {
    let m = w.len() / 3;
    let mut s = T::zero();
    for k in 0..3 {
        let mut p = T::one();
        for i in 0..m {
            p = p * (w[k + i * 3] * 0.5 + 1.0);
        }
        s += p;
        for i in 0..m {
            s += w[3 * i + k] * w[3 * i + k];
        }
    }
    for k in 0..n.min(3) {
        // From 1: not bound.
        for i in 1..m {
            s += w[i * 3 + k].sin();
        }
        // A `-` in the index: not a stride.
        for i in 1..m {
            s += w[i * 3 - 1] * 0.25;
        }
    }
    // A stride the loop changes: not one.
    let mut step = 1;
    for i in 0..m {
        s += w[i * step] * 0.5;
        step = 2;
    }
    s
}

/// Data outside `wrt(..)` read by column, and a column written.
#[differentiable(wrt(w))]
fn data_columns<T: Float>(w: &[T], m: &[T], d: usize, h: usize) -> T {
    let mut c = vec![T::zero(); d * h];
    let mut s = T::zero();
    for j in 0..h {
        for i in 0..d {
            c[i * h + j] = w[i * h + j] * m[i * h + j];
        }
        for i in 0..d {
            s += c[i * h + j] * w[j];
        }
    }
    s
}

fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    for h in [1, 2, 4] {
        for d in [0, 1, 3] {
            let w: Vec<T> = cast(&rng.point(d * h, -1.0, 1.0));
            let b: Vec<T> = cast(&rng.point(h, -1.0, 1.0));
            let x: Vec<T> = cast(&rng.point(d, -1.0, 1.0));
            let (_, (dw, db, dx)) = columns_grad(&w, &b, &x, h);
            assert_gradient("columns w", |q| columns(q, &b, &x, h), &w, &dw, tol);
            assert_gradient("columns b", |q| columns(&w, q, &x, h), &b, &db, tol);
            assert_gradient("columns x", |q| columns(&w, &b, q, h), &x, &dx, tol);

            let m: Vec<T> = cast(&rng.point(d * h, -1.0, 1.0));
            let w: Vec<T> = cast(&rng.point(d * h.max(1), -1.0, 1.0));
            let (_, dw) = data_columns_grad(&w, &m, d, h);
            assert_gradient("data_columns", |q| data_columns(q, &m, d, h), &w, &dw, tol);
        }
    }
    for m in [0, 1, 2, 5] {
        let w: Vec<T> = cast(&rng.point(3 * m, -1.0, 1.0));
        for n in [0, 3] {
            let (_, dw) = spellings_grad(&w, n);
            assert_gradient("spellings", |q| spellings(q, n), &w, &dw, tol);
        }
    }
}

#[test]
fn strides_f64() {
    let mut rng = Rng::new(201);
    for _ in 0..4 {
        check::<f64>(&mut rng);
    }
}

#[test]
fn strides_f32() {
    let mut rng = Rng::new(202);
    for _ in 0..4 {
        check::<f32>(&mut rng);
    }
}
