//! Rows fixed while a loop runs (`w[i][j]` in a loop over `j`): the loop's
//! reversal reads and adds through locals bound to the row before it; arrays
//! every iteration reads at the loop's item are bound as slices of the
//! loop's length (see "How the backward pass adds" in the README). Checked against finite
//! differences in f64 and f32, beside the cases that keep indexing the
//! array (two rows in one loop, a row chosen inside the loop, the array
//! passed whole to a call in the loop), and where the row does not exist
//! but the loop never reads it.

#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

/// The plain case: one row per outer iteration, read and written.
#[differentiable]
fn bilinear<T: Float>(a: &[Vec<T>], x: &[T], y: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..a.len() {
        for j in 0..a[i].len() {
            s = s + x[i] * a[i][j] * y[j];
        }
    }
    s
}

/// A local matrix written in one loop and read in another: its row is
/// bound for the adjoint, its values read as they are.
#[differentiable]
fn written<T: Float>(x: &[T]) -> T {
    let n = x.len();
    let mut m = vec![vec![T::zero(); n]; n];
    for i in 0..n {
        for j in 0..n {
            m[i][j] = (x[i] * x[j]).sin();
        }
    }
    for i in 0..n {
        for j in 0..n {
            m[i][j] = m[i][j] * x[j];
        }
    }
    let mut s = T::zero();
    for r in &m {
        for v in r {
            s = s + *v * *v;
        }
    }
    s
}

/// Three dimensions: `t[i][j][k]` in the loops over `j` and `k`.
#[differentiable]
fn cube<T: Float>(v: &[T], w: [T; 2]) -> T {
    let mut t = [[[T::zero(); 2]; 2]; 2];
    for i in 0..2 {
        for j in 0..2 {
            for k in 0..2 {
                t[i][j][k] = v[4 * i + 2 * j + k].tanh();
            }
        }
    }
    let mut s = T::zero();
    for i in 0..2 {
        for j in 0..2 {
            for k in 0..2 {
                s = s + t[i][j][k] * w[k] * T::from(i + 1).unwrap();
            }
        }
    }
    s
}

/// Two rows in one loop, and a row chosen inside the loop: not bound.
#[differentiable]
fn two_rows<T: Float>(a: &[Vec<T>]) -> T {
    let mut s = T::zero();
    for i in 1..a.len() {
        for j in 0..a[i].len() {
            s = s + a[i][j] * a[i - 1][j];
        }
    }
    for j in 0..a[0].len() {
        let i = j % a.len();
        s = s + a[i][j].exp();
    }
    s
}

#[differentiable]
fn row_sum<T: Float>(r: &[T]) -> T {
    let mut s = T::zero();
    for &v in r {
        s = s + v * v;
    }
    s
}

/// The matrix passed whole to a call inside the loop: not bound.
#[differentiable]
fn with_call<T: Float>(a: &[Vec<T>]) -> T {
    let mut s = T::zero();
    for i in 0..a.len() {
        for j in 0..a[i].len() {
            s = s + a[i][j].sin() * row_sum(&a[i]);
        }
    }
    s
}

/// Row `k` may not exist when the loop does not run.
#[differentiable]
fn maybe_row<T: Float>(a: &[Vec<T>], k: usize, n: usize) -> T {
    let mut s = a[0][0];
    for j in 0..n {
        s = s + a[k][j] * a[k][j];
    }
    s
}

/// Read at the loop's item by every iteration: bound as slices of the
/// loop's length. `a..b` may be empty with `b` past the end.
#[differentiable]
fn sliced<T: Float>(x: &[T], w: &[T], a: usize, b: usize) -> T {
    let mut s = x[0];
    for j in a..b {
        s = s + x[j] * w[j].sin();
    }
    let mut y = vec![T::zero(); x.len()];
    for j in 0..x.len() {
        y[j] = x[j] * x[j] + w[j];
    }
    for j in 1..x.len() {
        y[j] = y[j] * y[j - 1].tanh();
    }
    s + y.iter().fold(T::zero(), |acc, &v| acc + v * v)
}

/// Read under a condition that guards the index, or at two indices: not
/// bound (a slice of the loop's length would not exist).
#[differentiable]
fn guarded<T: Float>(x: &[T], n: usize) -> T {
    let mut s = T::zero();
    for j in 0..n {
        if j < x.len() {
            s = s + x[j].exp();
        }
    }
    for j in 0..x.len() - 1 {
        s = s + x[j] * x[x.len() - 1 - j];
    }
    s
}

fn rows<T: Float>(v: &[T], n: usize) -> Vec<Vec<T>> {
    v.chunks(n).map(|r| r.to_vec()).collect()
}

fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    for _ in 0..8 {
        let p: Vec<T> = cast(&rng.point(12, -1.5, 1.5));
        let (_, (da, dx, dy)) = bilinear_grad(&rows(&p[..6], 3), &p[6..8], &p[8..11]);
        let g: Vec<T> = da.concat().into_iter().chain(dx).chain(dy).collect();
        assert_gradient(
            "bilinear",
            |v| bilinear(&rows(&v[..6], 3), &v[6..8], &v[8..11]),
            &p[..11],
            &g,
            tol,
        );

        let x: Vec<T> = cast(&rng.point(4, -1.0, 1.0));
        assert_gradient("written", written, &x, &written_grad(&x).1, tol);

        let c: Vec<T> = cast(&rng.point(10, -1.5, 1.5));
        let (_, (dt, dw)) = cube_grad(&c[..8], [c[8], c[9]]);
        let g: Vec<T> = dt.into_iter().chain(dw).collect();
        assert_gradient("cube", |v| cube(&v[..8], [v[8], v[9]]), &c, &g, tol);

        let a: Vec<T> = cast(&rng.point(9, -1.0, 1.0));
        let g = two_rows_grad(&rows(&a, 3)).1.concat();
        assert_gradient("two_rows", |v| two_rows(&rows(v, 3)), &a, &g, tol);
        let g = with_call_grad(&rows(&a, 3)).1.concat();
        assert_gradient("with_call", |v| with_call(&rows(v, 3)), &a, &g, tol);
        let xw: Vec<T> = cast(&rng.point(8, -1.0, 1.0));
        for (lo, hi) in [(0, 4), (1, 3), (2, 2), (9, 9), (9, 2)] {
            let (_, (gx, gw)) = sliced_grad(&xw[..4], &xw[4..], lo, hi);
            let g: Vec<T> = gx.into_iter().chain(gw).collect();
            assert_gradient("sliced", |v| sliced(&v[..4], &v[4..], lo, hi), &xw, &g, tol);
        }
        for n in [0, 2, 4, 7] {
            let x = &xw[..4];
            assert_gradient("guarded", |v| guarded(v, n), x, &guarded_grad(x, n).1, tol);
        }
        for (k, n) in [(1, 3), (2, 2), (0, 0)] {
            let g = maybe_row_grad(&rows(&a, 3), k, n).1.concat();
            assert_gradient("maybe_row", |v| maybe_row(&rows(v, 3), k, n), &a, &g, tol);
        }
    }
}

#[test]
fn rows_bound_before_loops_f64() {
    check::<f64>(&mut Rng::new(71));
}

#[test]
fn rows_bound_before_loops_f32() {
    check::<f32>(&mut Rng::new(72));
}

/// A row that does not exist, in a loop that never runs: nothing reads it,
/// so nothing panics, in the forward or the backward.
#[test]
fn a_missing_row_in_a_loop_that_does_not_run() {
    let a = vec![vec![1.0, 2.0], vec![3.0, 4.0]];
    let (v, g) = maybe_row_grad(&a, 7, 0);
    assert_eq!(v, 1.0);
    assert_eq!(g, vec![vec![1.0, 0.0], vec![0.0, 0.0]]);
}

/// The same row, read: the forward panics as the user's fn does.
#[test]
#[should_panic(expected = "index out of bounds")]
fn a_missing_row_that_is_read_panics() {
    let a = vec![vec![1.0, 2.0], vec![3.0, 4.0]];
    let _ = maybe_row_grad(&a, 7, 1);
}
