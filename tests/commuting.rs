//! Loops whose reversed iterations commute run their reversal in the
//! forward's order: the loop reads nothing back from storage and writes,
//! of what is declared outside it, only scalar accumulators (`s += t`, `s
//! = s - t`) whose old value nothing else in it reads. Checked against
//! finite differences in f64 and f32, beside loops that must stay reversed
//! (an accumulator read again, a product carried, a value taped, a
//! `break`), with nesting, branches and empty ranges. Loops that read
//! tapes run forward too where each iteration reads its own entry and
//! writes outer arrays at its item only (`taped_units`).

#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

/// Accumulators: a dot product, a difference, two sums in one loop, one
/// inside a branch, nested loops adding to one sum.
#[differentiable]
fn accumulators<T: Float>(x: &[T], w: &[T], n: usize) -> T {
    let mut s = T::zero();
    for i in 0..x.len() {
        s += x[i] * w[i];
    }
    let mut d = T::one();
    let mut e = T::zero();
    for i in 0..x.len() {
        d = d - x[i] * x[i] * 0.5;
        e += w[i].sin();
        if x[i] > w[i] {
            e += x[i] - w[i];
        }
    }
    let mut m = T::zero();
    for i in 0..n {
        for j in 0..x.len() {
            m += x[j] * w[(i + j) % w.len()];
        }
    }
    s * d + e.tanh() + m
}

/// Loops that keep their reversed order: the accumulator read again in the
/// loop, a product carried, a value taped (`exp` of a running sum), a
/// `break`.
#[differentiable]
fn ordered<T: Float>(x: &[T], w: &[T]) -> T {
    let mut s = T::zero();
    let mut t = T::zero();
    for i in 0..x.len() {
        s += x[i];
        t += s * w[i];
    }
    let mut p = T::one();
    for i in 0..x.len() {
        p = p * (x[i] * 0.25 + 1.0);
    }
    let mut r = T::zero();
    for i in 0..w.len() {
        r = r + (r * 0.5 + w[i]).exp() * 0.1;
    }
    let mut q = T::zero();
    for i in 0..x.len() {
        if q > 2.0 {
            break;
        }
        q += x[i] * x[i] + 0.3;
    }
    t + p + r + q
}

/// Reversals that read tapes and still run forward: a layer's units, each
/// sum taped for its activation, written to an outer array at the item only; a
/// loop reading that array at other elements (reads only add). Beside
/// them, recurrences through an array that must stay reversed: a store
/// read back at the element before, and a store at the next element.
#[differentiable]
fn taped_units<T: Float>(x: &[T], w: &[T]) -> T {
    let m = w.len();
    let mut hid = vec![T::zero(); m];
    for j in 0..m {
        let mut a = w[j] * 0.5;
        for i in 0..x.len() {
            a += x[i] * w[(i + j) % m];
        }
        hid[j] = a.tanh() + a * 0.1;
    }
    let mut s = T::zero();
    for j in 1..m {
        let mut t = T::zero();
        for i in 0..x.len() {
            t += x[i] * hid[j - 1];
        }
        s += (t * hid[j]).tanh();
    }
    let mut chain = vec![T::one(); m];
    for j in 1..m {
        let mut a = T::zero();
        for i in 0..x.len() {
            a += x[i] * w[j];
        }
        chain[j] = chain[j - 1] * (a * 0.5).cos();
    }
    let mut ahead = vec![T::zero(); m + 1];
    for j in 0..m {
        let mut a = ahead[j];
        for i in 0..x.len() {
            a += x[i] * w[j];
        }
        ahead[j + 1] = a.sin();
    }
    s + chain[m - 1] + ahead[m]
}

fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    for len in [0, 1, 4, 7] {
        let x: Vec<T> = cast(&rng.point(len, -1.0, 1.0));
        let w: Vec<T> = cast(&rng.point(len.max(1), -1.0, 1.0));
        for n in [0, 2] {
            let (_, (dx, dw)) = accumulators_grad(&x, &w, n);
            assert_gradient("accumulators x", |q| accumulators(q, &w, n), &x, &dx, tol);
            assert_gradient("accumulators w", |q| accumulators(&x, q, n), &w, &dw, tol);
        }
        let (_, (dx, dw)) = taped_units_grad(&x, &w);
        assert_gradient("taped_units x", |q| taped_units(q, &w), &x, &dx, tol);
        assert_gradient("taped_units w", |q| taped_units(&x, q), &w, &dw, tol);
        let (_, (dx, dw)) = ordered_grad(&x, &w);
        assert_gradient("ordered x", |q| ordered(q, &w), &x, &dx, tol);
        assert_gradient("ordered w", |q| ordered(&x, q), &w, &dw, tol);
    }
}

#[test]
fn commuting_f64() {
    let mut rng = Rng::new(301);
    for _ in 0..4 {
        check::<f64>(&mut rng);
    }
}

#[test]
fn commuting_f32() {
    let mut rng = Rng::new(302);
    for _ in 0..4 {
        check::<f32>(&mut rng);
    }
}
