//! An array passed whole to a call, where that call is the first (in the
//! backward's order) to add to the array's adjoint: the callee's gradient
//! becomes the adjoint instead of being added into zeros (see "How the
//! backward pass adds" in the README). Each case is checked against finite
//! differences in f64 and f32, and the cases where the gradient must still
//! be added (the array used again after the call, passed twice, passed to
//! two calls, in a branch, in a loop) beside those where it moves.

#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

/// A dense ReLU layer over rows: the natural way to write one.
#[differentiable]
fn layer<T: Float>(w: &[Vec<T>], b: &[T], x: &[T]) -> Vec<T> {
    let mut out = Vec::new();
    for (row, bi) in w.iter().zip(b) {
        let mut z = *bi;
        for (wij, xj) in row.iter().zip(x) {
            z = z + *wij * *xj;
        }
        out.push(z.max(T::zero()));
    }
    out
}

/// Every parameter goes whole into one call: all three gradients move.
#[differentiable]
fn net<T: Float>(w: &[Vec<T>], b: &[T], x: &[T]) -> T {
    let h = layer(w, b, x);
    let mut s = T::zero();
    for v in &h {
        s = s + *v * *v;
    }
    s
}

#[differentiable]
fn energy<T: Float>(v: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..v.len() {
        s = s + v[i].sin() * T::from(i + 1).unwrap();
    }
    s
}

#[differentiable]
fn pair<T: Float>(a: &[T], b: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..a.len() {
        s = s + a[i] * b[i].cos();
    }
    s
}

/// A fixed-size array into a slice parameter: the callee's `Vec` gradient
/// becomes the caller's `[T; 3]`.
#[differentiable]
fn array_into_slice<T: Float>(a: [T; 3]) -> T {
    let e = energy(&a);
    e * e
}

/// Used again after the call: the read's adjoint comes first, the call's
/// gradient is added to it.
#[differentiable]
fn used_after<T: Float>(x: &[T]) -> T {
    let e = energy(x);
    e * x[0] + x[x.len() - 1].exp()
}

/// Used before the call: the backward reaches the call first, so it moves,
/// and the earlier read adds to it.
#[differentiable]
fn used_before<T: Float>(x: &[T]) -> T {
    let first = x[0] * x[1];
    let e = energy(x);
    e + first
}

/// Passed twice to the same call, and to two calls.
#[differentiable]
fn twice<T: Float>(x: &[T], y: &[T]) -> T {
    let p = pair(x, x);
    let q = energy(y) * energy(x);
    p + q + pair(y, x)
}

/// In a branch and in a loop: added, not moved (the branch may not run; the
/// loop runs the call more than once).
#[differentiable]
fn branch_and_loop<T: Float>(x: &[T], flag: bool) -> T {
    let mut s = T::zero();
    if flag {
        s = s + energy(x);
    }
    for k in 0..3 {
        s = s + energy(x) * T::from(k).unwrap();
    }
    s
}

/// A local array declared in a loop body and passed whole there: its
/// adjoint is declared per iteration, and moves.
#[differentiable]
fn local_in_loop<T: Float>(m: &[Vec<T>], w: &[T]) -> T {
    let mut s = T::zero();
    for row in m {
        let scaled: Vec<T> = row.iter().zip(w).map(|(a, b)| *a * *b).collect();
        s = s + energy(&scaled);
    }
    s
}

/// Rows of fixed-size arrays into a callee over a slice of them.
#[differentiable]
fn spread<T: Float>(pts: &[[T; 2]]) -> T {
    let mut s = T::zero();
    for p in pts {
        s = s + (p[0] - p[1]).powi(2);
    }
    s
}

#[differentiable]
fn fixed_rows<T: Float>(pts: [[T; 2]; 3]) -> T {
    spread(&pts).sqrt()
}

fn rows<T: Float>(v: &[T], n: usize) -> Vec<Vec<T>> {
    v.chunks(n).map(|r| r.to_vec()).collect()
}

fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    for _ in 0..8 {
        // net: 3 x 4 weights, 3 biases, 4 inputs; biases away from the kink.
        let p: Vec<T> = cast(&rng.point(19, -1.0, 1.0));
        let (w, b, x) = (rows(&p[..12], 4), &p[12..15], &p[15..]);
        let (_, (dw, db, dx)) = net_grad(&w, b, x);
        let analytic: Vec<T> = dw.concat().into_iter().chain(db).chain(dx).collect();
        let f = |v: &[T]| net(&rows(&v[..12], 4), &v[12..15], &v[15..]);
        // ReLU kinks: skip points where a unit sits within the step.
        let step = T::epsilon().cbrt().to_f64().unwrap() * 40.0;
        let z_near_zero = w.iter().zip(b).any(|(row, bi)| {
            let z = row
                .iter()
                .zip(x)
                .fold(*bi, |acc, (a, c)| acc + *a * *c)
                .to_f64()
                .unwrap();
            z.abs() < step
        });
        if !z_near_zero {
            assert_gradient("net", f, &p, &analytic, tol);
        }

        let a: Vec<T> = cast(&rng.point(3, -1.5, 1.5));
        let (_, g) = array_into_slice_grad([a[0], a[1], a[2]]);
        assert_gradient(
            "array_into_slice",
            |v| array_into_slice([v[0], v[1], v[2]]),
            &a,
            &g,
            tol,
        );

        let x: Vec<T> = cast(&rng.point(5, -1.5, 1.5));
        assert_gradient("used_after", used_after, &x, &used_after_grad(&x).1, tol);
        assert_gradient("used_before", used_before, &x, &used_before_grad(&x).1, tol);
        assert_gradient(
            "branch_and_loop true",
            |v| branch_and_loop(v, true),
            &x,
            &branch_and_loop_grad(&x, true).1,
            tol,
        );
        assert_gradient(
            "branch_and_loop false",
            |v| branch_and_loop(v, false),
            &x,
            &branch_and_loop_grad(&x, false).1,
            tol,
        );

        let xy: Vec<T> = cast(&rng.point(8, -1.5, 1.5));
        let (_, (gx, gy)) = twice_grad(&xy[..4], &xy[4..]);
        let g: Vec<T> = gx.into_iter().chain(gy).collect();
        assert_gradient("twice", |v| twice(&v[..4], &v[4..]), &xy, &g, tol);

        let mw: Vec<T> = cast(&rng.point(9, -1.5, 1.5));
        let (_, (gm, gw)) = local_in_loop_grad(&rows(&mw[..6], 3), &mw[6..]);
        let g: Vec<T> = gm.concat().into_iter().chain(gw).collect();
        assert_gradient(
            "local_in_loop",
            |v| local_in_loop(&rows(&v[..6], 3), &v[6..]),
            &mw,
            &g,
            tol,
        );

        let q: Vec<T> = cast(&rng.point(6, -1.5, 1.5));
        let pts = |v: &[T]| [[v[0], v[1]], [v[2], v[3]], [v[4], v[5]]];
        let (_, g) = fixed_rows_grad(pts(&q));
        assert_gradient("fixed_rows", |v| fixed_rows(pts(v)), &q, &g.concat(), tol);
    }
}

#[test]
fn moved_gradients_f64() {
    check::<f64>(&mut Rng::new(61));
}

#[test]
fn moved_gradients_f32() {
    check::<f32>(&mut Rng::new(62));
}

/// The moves happen where they should: `net`'s pullback allocates its
/// gradients once (in `layer`'s pullback), so the gradient of `w` is the
/// very buffer `layer`'s pullback made. Checked through what is observable:
/// the pullback called twice gives the same gradients (nothing is left
/// behind in a moved buffer).
#[test]
fn a_pullback_called_twice_gives_the_same_gradients() {
    let w = vec![vec![0.5, -0.2], vec![0.3, 0.8]];
    let (b, x) = ([0.1, 0.2], [1.0, 2.0]);
    let (_, back) = net_forward(&w, &b, &x);
    let first = back(1.0);
    let second = back(1.0);
    assert_eq!(first, second);
    let (_, doubled) = net_forward(&w, &b, &x);
    let (dw, db, dx) = doubled(2.0);
    for (r2, r1) in dw.iter().zip(&first.0) {
        for (a, b) in r2.iter().zip(r1) {
            assert!((a - 2.0 * b).abs() < 1e-12);
        }
    }
    assert!((db[0] - 2.0 * first.1[0]).abs() < 1e-12);
    assert!((dx[1] - 2.0 * first.2[1]).abs() < 1e-12);
}
