//! Flat indices: an array read at `offset + item` in a loop (`w[i * n +
//! j]` for `j` in a range, `offset` fixed while the loop runs) is bound as
//! `&w[offset..offset + end]` before the loop's reversal, as arrays read at
//! the item are bound as `&w[..end]`: the checks on every index go. Checked
//! against finite differences in f64 and f32, beside indices that must not
//! be taken for an offset (one that changes in the loop, the item on the
//! left, an index read from data, the same array read two ways). A range
//! that starts after 0 (`i + 1..n`, `k..n`) binds its slices from its
//! start, read at `item - start`: triangles, nested, with offsets, written
//! and read, empty ranges included. Data outside `wrt(..)` read at the
//! item is recomputed from such slices too.

#![allow(clippy::needless_range_loop, clippy::explicit_counter_loop)]

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

/// A matrix-vector product through flat indices, three ways of writing the
/// offset; one loop starts at 1.
#[differentiable]
fn flat<T: Float>(w: &[T], x: &[T], n: usize) -> T {
    let m = w.len() / n;
    let mut s = T::zero();
    for i in 0..m {
        let mut z = T::zero();
        for j in 0..n {
            z += w[i * n + j] * x[j];
        }
        let base = i * n;
        for j in 1..n {
            z += (w[base + j] * x[j - 1]).sin();
        }
        if i + 1 < m {
            for j in 0..n {
                z += w[(i + 1) * n + j] * w[i * n + j] * 0.5;
            }
        }
        s += z.tanh();
    }
    s
}

/// A flat array the fn writes (an update in place through an offset), and
/// an offset that changes inside the loop, which is not one.
#[differentiable]
fn written<T: Float>(w: &[T], n: usize) -> T {
    let m = w.len() / n;
    let mut a = vec![T::zero(); m * n];
    for i in 0..m {
        for j in 0..n {
            a[i * n + j] = w[i * n + j] * w[j];
        }
    }
    let mut s = T::zero();
    for i in 0..m {
        let mut base = i;
        for j in 0..n - 1 {
            s += a[base + j] * a[i * n + j];
            base += 1;
        }
    }
    s
}

/// The item on the left, an index read from data, and one array read at
/// the item and at an offset in the same loop.
#[differentiable]
fn mixed<T: Float>(w: &[T], ids: &[usize], n: usize) -> T {
    let mut s = T::zero();
    for j in 0..n {
        s += w[j + n] * w[j];
    }
    for k in 0..ids.len() {
        for j in 0..n {
            s += (w[ids[k] + j] * w[k * n + j]).cos();
        }
    }
    s
}

/// Triangles: ranges from `i + 1`, from a parameter (empty when it is past
/// the end), nested, an array written and read there, a flat offset.
#[differentiable(wrt(x, m))]
fn triangles<T: Float>(x: &[T], m: &[T], k: usize) -> T {
    let n = x.len();
    let mut y = vec![T::zero(); n];
    let mut s = T::zero();
    for i in 0..n {
        for j in i + 1..n {
            y[j] = y[j] + x[j] * x[i];
            s += m[i * n + j] * y[j];
        }
        for j in (k..n).rev() {
            s += (x[j] * y[j]).sin() * 0.5;
            for l in j..n {
                s += x[l] * m[j * n + l] * 0.25;
            }
        }
    }
    s
}

/// Data outside `wrt(..)` read at the item, at `offset + item` and from a
/// range's start: the backward recomputes the reads from slices.
#[differentiable(wrt(x))]
fn data_reads<T: Float>(x: &[T], m: &[T], w: &[T], k: usize) -> T {
    let n = x.len();
    let mut s = T::zero();
    for i in 0..n {
        let mut z = T::zero();
        for j in 0..n {
            z += (m[i * n + j] - x[j]) * w[j];
        }
        for j in i + k..n {
            z += x[j] * m[i * n + j] * w[j];
        }
        s += z.tanh();
    }
    s
}

/// Data read after a `continue` or before a `break` that guards its
/// length: the reads are not every iteration's, so no slice is bound (it
/// would be longer than `w`).
#[differentiable(wrt(x))]
fn guarded_data<T: Float>(x: &[T], w: &[T]) -> T {
    let mut s = T::zero();
    for j in 0..x.len() {
        if j >= w.len() {
            continue;
        }
        s += (x[j] * w[j]).sin();
    }
    for j in 0..x.len() {
        if j >= w.len() {
            break;
        }
        s += x[j] * w[j] * w[j];
    }
    s
}

fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    for n in [2, 3, 5] {
        let w: Vec<T> = cast(&rng.point(3 * n, -1.0, 1.0));
        let x: Vec<T> = cast(&rng.point(n, -1.0, 1.0));
        let (_, (dw, dx)) = flat_grad(&w, &x, n);
        assert_gradient("flat w", |q| flat(q, &x, n), &w, &dw, tol);
        assert_gradient("flat x", |q| flat(&w, q, n), &x, &dx, tol);

        let (_, dw) = written_grad(&w, n);
        assert_gradient("written", |q| written(q, n), &w, &dw, tol);

        let ids = [n, 0, 2 * n - 1];
        let (_, dw) = mixed_grad(&w, &ids, n);
        assert_gradient("mixed", |q| mixed(q, &ids, n), &w, &dw, tol);

        let (_, dx) = guarded_data_grad(&x, &w[..n - 1]);
        assert_gradient(
            "guarded_data",
            |q| guarded_data(q, &w[..n - 1]),
            &x,
            &dx,
            tol,
        );

        let m: Vec<T> = cast(&rng.point(n * n, -1.0, 1.0));
        for k in [0, 1, n, n + 2] {
            let (_, dx) = data_reads_grad(&x, &m, &w[..n], k);
            assert_gradient(
                "data_reads",
                |q| data_reads(q, &m, &w[..n], k),
                &x,
                &dx,
                tol,
            );
            let (_, (dx, dm)) = triangles_grad(&x, &m, k);
            assert_gradient("triangles x", |q| triangles(q, &m, k), &x, &dx, tol);
            assert_gradient("triangles m", |q| triangles(&x, q, k), &m, &dm, tol);
        }
    }
}

#[test]
fn offsets_f64() {
    check::<f64>(&mut Rng::new(101));
}

#[test]
fn offsets_f32() {
    check::<f32>(&mut Rng::new(102));
}
