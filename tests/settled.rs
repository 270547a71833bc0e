//! A scalar of the fn body read in a loop after its last assignment (a
//! normaliser summed in one loop and divided by in the next) is read again
//! by the backward from the value the forward left, not taped once per
//! iteration. Checked against finite differences in f64 and f32, beside the
//! cases where the value read is not the last one (assigned later in the
//! same loop, after the loop, in a branch after it), which must still be
//! taped.

#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

/// Softmax-weighted values: `z` is final when the last loop reads it.
#[differentiable]
fn attention<T: Float>(q: &[T], k: &[Vec<T>], v: &[Vec<T>]) -> T {
    let n = k.len();
    let mut scores = vec![T::zero(); n];
    for i in 0..n {
        let mut s = T::zero();
        for j in 0..q.len() {
            s = s + q[j] * k[i][j];
        }
        scores[i] = s;
    }
    let m = scores.iter().fold(T::neg_infinity(), |a, &b| a.max(b));
    let mut z = T::zero();
    for i in 0..n {
        scores[i] = (scores[i] - m).exp();
        z = z + scores[i];
    }
    let mut out = T::zero();
    for i in 0..n {
        for j in 0..v[i].len() {
            out = out + scores[i] / z * v[i][j];
        }
    }
    out
}

/// `z` changes in the loop that reads it, and again after it.
#[differentiable]
fn changing<T: Float>(x: &[T], z0: T) -> T {
    let mut z = z0;
    let mut s = T::zero();
    for i in 0..x.len() {
        s = s + x[i] * z;
        z = z * (T::one() + x[i] * 0.1);
    }
    let mut t = T::zero();
    for i in 0..x.len() {
        t = t + (x[i] * z).sin();
    }
    z = z * z;
    for i in 0..x.len() {
        t = t + x[i] / z;
    }
    if s > t {
        z = z + s;
    }
    s + t * z
}

/// Assigned in both branches of an `if` (a deferred `let`), then read in
/// loops; the loop that reads it is itself in a branch.
#[differentiable]
fn deferred<T: Float>(x: &[T], flag: bool) -> T {
    let scale;
    if flag {
        scale = x[0].exp();
    } else {
        scale = x[1] * x[1] + 1.0;
    }
    let mut s = T::zero();
    if x[0] > x[1] {
        for i in 0..x.len() {
            s = s + x[i] * scale;
        }
    } else {
        for &v in x {
            s = s + (v / scale).sin();
        }
    }
    s
}

fn rows<T: Float>(v: &[T], n: usize) -> Vec<Vec<T>> {
    v.chunks(n).map(|r| r.to_vec()).collect()
}

fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    for _ in 0..8 {
        let p: Vec<T> = cast(&rng.point(3 + 12 + 8, -1.0, 1.0));
        let (q, k, v) = (&p[..3], rows(&p[3..15], 3), rows(&p[15..], 2));
        let (_, (dq, dk, dv)) = attention_grad(q, &k, &v);
        let g: Vec<T> = dq
            .into_iter()
            .chain(dk.concat())
            .chain(dv.concat())
            .collect();
        assert_gradient(
            "attention",
            |w| attention(&w[..3], &rows(&w[3..15], 3), &rows(&w[15..], 2)),
            &p,
            &g,
            tol,
        );

        let x: Vec<T> = cast(&rng.point(5, 0.5, 1.5));
        let (_, (dx, dz)) = changing_grad(&x[..4], x[4]);
        let g: Vec<T> = dx.into_iter().chain([dz]).collect();
        assert_gradient("changing", |w| changing(&w[..4], w[4]), &x, &g, tol);

        let x: Vec<T> = cast(&rng.point(4, -1.0, 1.0));
        for flag in [true, false] {
            assert_gradient(
                "deferred",
                |w| deferred(w, flag),
                &x,
                &deferred_grad(&x, flag).1,
                tol,
            );
        }
    }
}

#[test]
fn settled_scalars_f64() {
    check::<f64>(&mut Rng::new(81));
}

#[test]
fn settled_scalars_f32() {
    check::<f32>(&mut Rng::new(82));
}
