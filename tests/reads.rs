//! Element reads the way numeric code writes them: the same element read
//! twice, an element rewritten between two reads, reads at a running index,
//! a scratch array reused across iterations (ADBench's GMM). The macro shares
//! repeated reads and reads inputs again instead of storing them; these check
//! the gradients against finite differences at random points, f64 and f32.

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
