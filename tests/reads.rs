//! Element reads the way numeric code writes them: the same element read
//! twice, an element rewritten between two reads, reads at a running index,
//! a scratch array reused across iterations (ADBench's GMM), elements
//! updated in place (`a[i] += e`). The macro shares repeated reads, reads
//! inputs again instead of storing them, and leaves an element's adjoint as
//! it is across an update in place; these check the gradients against finite
//! differences at random points, f64 and f32.

#![allow(clippy::needless_range_loop, clippy::manual_memcpy)]

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

/// `q[l] * q[l]`, and `q[l]` rewritten in place between reads.
#[differentiable]
fn rewrites<T: Float>(x: &[T]) -> T {
    let mut q = vec![T::zero(); x.len()];
    let mut s = T::zero();
    for l in 0..x.len() {
        q[l] = x[l].sin();
        s += q[l] * q[l];
        q[l] = q[l] * x[l] + 1.0;
        s += q[l] * q[l] * q[l];
    }
    s
}

/// A lower triangle walked with a running index, as in ADBench's GMM.
#[differentiable]
fn triangle<T: Float>(l: &[T], v: &[T]) -> T {
    let d = v.len();
    let mut out = vec![T::zero(); d];
    for i in 0..d {
        out[i] = v[i];
    }
    let mut idx = 0;
    for a in 0..d {
        for b in a + 1..d {
            out[b] = out[b] + l[idx] * v[a];
            idx += 1;
        }
    }
    let mut s = T::zero();
    for i in 0..d {
        s += out[i] * out[i];
    }
    s.sqrt()
}

/// A scratch row reused by every iteration, read in a branch and after it.
#[differentiable]
fn scratch<T: Float>(w: &[T], x: &[T], rows: usize) -> T {
    let cols = x.len();
    let mut row = vec![T::zero(); cols];
    let mut total = T::zero();
    for r in 0..rows {
        for c in 0..cols {
            row[c] = w[r * cols + c] * x[c];
        }
        for c in 0..cols {
            if row[c] > 0.0 {
                total += row[c].exp();
            } else {
                total += row[c] * row[c];
            }
        }
    }
    total.ln()
}

/// Elements updated in place every way round: `+=` (at the index and at an
/// index computed, twice, by the `+=`), `-=`, the element on the right of the
/// sum, the element subtracted from something, an update
/// whose old value is also used elsewhere, and one whose element is
/// overwritten between the read and the store.
#[differentiable]
fn in_place<T: Float>(x: &[T]) -> T {
    let n = x.len();
    let mut a = vec![T::zero(); n];
    let mut s = T::zero();
    for r in 0..3 {
        for i in 0..n {
            a[i] += x[i] * x[(i + r) % n];
            a[(i + 1) % n] += x[i] * x[i];
            a[i] -= 0.25 * x[i].sin();
            a[i] = x[(i + 1) % n].cos() + a[i];
            a[i] = 0.5 * x[i] - a[i];
            let old = a[i];
            a[i] = old * x[i] + 0.1;
            s += old;
            let kept = a[i];
            a[i] = T::zero();
            a[i] = kept + x[i].exp();
        }
    }
    for i in 0..n {
        s += a[i] * a[i];
    }
    s
}

/// Immutable copies (`to_vec`, `to_owned`, `clone`) read like the array.
#[differentiable]
fn copies<T: Float>(x: &[T]) -> T {
    let y = x.to_vec();
    let z = x.to_owned();
    let mut s = T::zero();
    for i in 0..x.len() {
        s += y[i] * z[(i + 1) % x.len()].sin();
    }
    s
}

fn check<T: Float + std::fmt::Display>(seed: u64) {
    let mut rng = Rng::new(seed);
    for _ in 0..10 {
        let x: Vec<T> = cast(&rng.point(5, -1.5, 1.5));
        let (v, g) = rewrites_grad(&x);
        assert!(v == rewrites(&x));
        assert_gradient("rewrites", |p: &[T]| rewrites(p), &x, &g, tolerance::<T>());

        let d = 4;
        let l: Vec<T> = cast(&rng.point(d * (d - 1) / 2, -1.0, 1.0));
        let v: Vec<T> = cast(&rng.point(d, -1.0, 1.0));
        let (t, (gl, gv)) = triangle_grad(&l, &v);
        assert!(t == triangle(&l, &v));
        assert_gradient(
            "triangle l",
            |p: &[T]| triangle(p, &v),
            &l,
            &gl,
            tolerance::<T>(),
        );
        assert_gradient(
            "triangle v",
            |p: &[T]| triangle(&l, p),
            &v,
            &gv,
            tolerance::<T>(),
        );

        let (v, g) = copies_grad(&x);
        assert!(v == copies(&x));
        assert_gradient("copies", |p: &[T]| copies(p), &x, &g, tolerance::<T>());

        let (v, g) = in_place_grad(&x);
        assert!(v == in_place(&x));
        assert_gradient("in_place", |p: &[T]| in_place(p), &x, &g, tolerance::<T>());

        let (rows, cols) = (3, 4);
        let w: Vec<T> = cast(&rng.point(rows * cols, -1.0, 1.0));
        let xs: Vec<T> = cast(&rng.point(cols, -1.0, 1.0));
        let (s, (gw, gx)) = scratch_grad(&w, &xs, rows);
        assert!(s == scratch(&w, &xs, rows));
        assert_gradient(
            "scratch w",
            |p: &[T]| scratch(p, &xs, rows),
            &w,
            &gw,
            tolerance::<T>(),
        );
        assert_gradient(
            "scratch x",
            |p: &[T]| scratch(&w, p, rows),
            &xs,
            &gx,
            tolerance::<T>(),
        );
    }
}

#[test]
fn element_reads_f64() {
    check::<f64>(101);
}

#[test]
fn element_reads_f32() {
    check::<f32>(102);
}
