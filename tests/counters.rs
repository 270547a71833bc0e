//! Running indices (`idx += 1` through a packed triangle or a sparse
//! matrix's rows, `k -= 1` walking backwards, steps of two, steps in a
//! branch): the backward steps them back
//! instead of storing every value read. These check the gradients against
//! finite differences at random points, f64 and f32, wherever a counter can
//! be declared (the fn body, a loop, the block that steps it) and read
//! (before and after its step, in a branch, after its loop, through a cast),
//! and where a loop around it could be skipped.

#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

/// A packed lower triangle per component, its index declared per component
/// (ADBench's GMM): one tape entry per component, none per element.
#[differentiable]
fn packed<T: Float>(l: &[T], v: &[T], k: usize) -> T {
    let d = v.len();
    let per = d * (d - 1) / 2;
    let mut s = T::zero();
    for j in 0..k {
        let mut idx = j * per;
        let mut out = vec![T::zero(); d];
        for a in 0..d {
            for b in a + 1..d {
                out[b] += l[idx] * v[a];
                idx += 1;
            }
        }
        for i in 0..d {
            s += (out[i] + v[i]).sin() * l[j * per];
        }
    }
    s
}

/// Declared, stepped and read in the same loop body; a typed counter read
/// through a cast.
#[differentiable]
fn same_block<T: Float>(w: &[T], x: &[T]) -> T {
    let mut s = T::zero();
    for j in 0..x.len() {
        let mut at = 2 * j;
        s += w[at] * x[j];
        at += 1;
        s += (w[at] * x[j]).sin();
        let mut k: i32 = j as i32;
        k += 1;
        s += w[k as usize] * w[at];
    }
    s
}

/// A sparse matrix (compressed rows) times a vector, squared: the running
/// position in the values steps through rows of different lengths.
#[differentiable]
fn sparse<T: Float>(vals: &[T], x: &[T], cols: &[usize], lens: &[usize]) -> T {
    let mut k = 0;
    let mut s = T::zero();
    for r in 0..lens.len() {
        let mut row = T::zero();
        for _ in 0..lens[r] {
            row += vals[k] * x[cols[k]];
            k += 1;
        }
        s += row * row;
    }
    s
}

/// Walking backwards, read after the step; and a stride of two.
#[differentiable]
fn strides<T: Float>(x: &[T], w: &[T]) -> T {
    let n = w.len();
    let mut k = n;
    let mut s = T::zero();
    for i in 0..n {
        k -= 1;
        s += x[k] * w[i] * w[k];
    }
    let mut j = 1;
    for i in 0..n - 1 {
        s += (x[j] * w[i]).tanh();
        j += 2;
    }
    s
}

/// Stepped only in a branch; read in the branch and outside it.
#[differentiable]
fn branchy<T: Float>(x: &[T], w: &[T]) -> T {
    let mut at = 0;
    let mut s = T::zero();
    for i in 0..x.len() {
        if x[i] > 0.0 {
            s += w[at] * x[i];
            at += 1;
        }
        s += (w[at] * x[i]).cos();
    }
    s
}

/// A loop whose reversal could be skipped when its scalar's adjoint is zero
/// (`acc` below zero): it must still step the counter back.
#[differentiable]
fn skipping<T: Float>(l: &[T], v: &[T]) -> T {
    let d = v.len();
    let mut idx = 0;
    let mut total = T::zero();
    for a in 0..d {
        let mut acc = T::zero();
        for b in a + 1..d {
            acc += l[idx] * v[b];
            idx += 1;
        }
        total += acc.max(T::zero()) * v[a];
    }
    total + (l[idx - 1] * v[0]).sin()
}

/// The counter's value read after its loop, and a loop with a `break`
/// around its steps (stored as before).
#[differentiable]
fn around<T: Float>(x: &[T]) -> T {
    let mut idx = 0;
    let mut s = T::zero();
    for i in 0..x.len() {
        s += x[idx] * x[i];
        idx += 1;
    }
    s += x[idx - 1].exp();
    let mut k = 0;
    let mut p = T::zero();
    for i in 0..x.len() {
        p += x[k] * x[i];
        k += 1;
        if p > 2.0 {
            break;
        }
    }
    s + p
}

/// Trip counts kept in an array the fn writes (`0..counts[j]`, then
/// `counts[j] += 1`): the backward counts the iterations each loop ran; it
/// cannot replay the range from the array's last values. Lengths of written
/// arrays (`0..out.len()`) do not change and are replayed.
#[differentiable]
fn growing<T: Float>(x: &[T]) -> T {
    let mut counts = [1usize; 2];
    let mut out = vec![T::zero(); x.len()];
    let mut s = T::zero();
    for i in 0..x.len() {
        for _ in 0..counts[i % 2] {
            s = s * x[i] + x[i].sin();
        }
        counts[i % 2] += 1;
        for j in 0..out.len() {
            out[j] = out[j] + s * x[j];
        }
    }
    s + out.iter().fold(T::zero(), |a, &b| a + b * b)
}

fn check<T: Float + std::fmt::Display>(seed: u64) {
    let mut rng = Rng::new(seed);
    let tol = tolerance::<T>();
    for d in [2usize, 3, 5] {
        for _ in 0..3 {
            let k = 3;
            let l: Vec<T> = cast(&rng.point(k * d * (d - 1) / 2, -1.0, 1.0));
            let v: Vec<T> = cast(&rng.point(d, -1.0, 1.0));
            let (s, (gl, gv)) = packed_grad(&l, &v, k);
            assert!(s == packed(&l, &v, k));
            assert_gradient("packed l", |p: &[T]| packed(p, &v, k), &l, &gl, tol);
            assert_gradient("packed v", |p: &[T]| packed(&l, p, k), &v, &gv, tol);

            let l1 = &l[..d * (d - 1) / 2];
            let (s, (gl, gv)) = skipping_grad(l1, &v);
            assert!(s == skipping(l1, &v));
            assert_gradient("skipping l", |p: &[T]| skipping(p, &v), l1, &gl, tol);
            assert_gradient("skipping v", |p: &[T]| skipping(l1, p), &v, &gv, tol);

            let x: Vec<T> = cast(&rng.point(2 * d, -1.0, 1.0));
            let w: Vec<T> = cast(&rng.point(d, -1.0, 1.0));
            let (s, (gx, gw)) = strides_grad(&x, &w);
            assert!(s == strides(&x, &w));
            assert_gradient("strides x", |p: &[T]| strides(p, &w), &x, &gx, tol);
            assert_gradient("strides w", |p: &[T]| strides(&x, p), &w, &gw, tol);

            // Away from the branch's edge at zero, where the function jumps.
            let xb: Vec<T> = cast(
                &rng.point(2 * d, 0.2, 1.0)
                    .iter()
                    .enumerate()
                    .map(|(i, v)| if i % 2 == 0 { *v } else { -*v })
                    .collect::<Vec<_>>(),
            );
            let x = xb;
            let wb: Vec<T> = cast(&rng.point(2 * d + 1, -1.0, 1.0));
            let (s, (gx, gw)) = branchy_grad(&x, &wb);
            assert!(s == branchy(&x, &wb));
            assert_gradient("branchy x", |p: &[T]| branchy(p, &wb), &x, &gx, tol);
            assert_gradient("branchy w", |p: &[T]| branchy(&x, p), &wb, &gw, tol);

            let ws: Vec<T> = cast(&rng.point(4 * d + 2, -1.0, 1.0));
            let (s, (gw, gx)) = same_block_grad(&ws, &x);
            assert!(s == same_block(&ws, &x));
            assert_gradient("same_block w", |p: &[T]| same_block(p, &x), &ws, &gw, tol);
            assert_gradient("same_block x", |p: &[T]| same_block(&ws, p), &x, &gx, tol);

            let lens = [2usize, 0, 3, 1];
            let cols: Vec<usize> = (0..6).map(|i| (i * 7 + d) % x.len()).collect();
            let vals: Vec<T> = cast(&rng.point(6, -1.0, 1.0));
            let (s, (gv, gx)) = sparse_grad(&vals, &x, &cols, &lens);
            assert!(s == sparse(&vals, &x, &cols, &lens));
            assert_gradient(
                "sparse vals",
                |p: &[T]| sparse(p, &x, &cols, &lens),
                &vals,
                &gv,
                tol,
            );
            assert_gradient(
                "sparse x",
                |p: &[T]| sparse(&vals, p, &cols, &lens),
                &x,
                &gx,
                tol,
            );

            let (s, g) = around_grad(&x);
            assert!(s == around(&x));
            assert_gradient("around", |p: &[T]| around(p), &x, &g, tol);

            let xg: Vec<T> = cast(&rng.point(d + 1, 0.1, 0.8));
            let (s, g) = growing_grad(&xg);
            assert!(s == growing(&xg));
            assert_gradient("growing", |p: &[T]| growing(p), &xg, &g, tol);
        }
    }
}

#[test]
fn counters_f64() {
    check::<f64>(401);
}

#[test]
fn counters_f32() {
    check::<f32>(402);
}
