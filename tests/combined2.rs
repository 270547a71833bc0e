//! The newer rewrites combined at random with the older ones (a seeded
//! generator, written out here): zips of shifted parts, filters, strides,
//! extremes, ends of arrays, destructuring and whole-array assignments,
//! chunks, reductions over filled arrays, with closures, matches, labels,
//! returns in loops and calls. Each checked against finite differences in
//! f64 and f32 for three values of the constant `m`; the combination
//! generator found the array-in-a-branch bug (README changelog).

#![allow(unused, clippy::all)]

use tapeless::{differentiable, dot, Float};

#[differentiable]
fn helper<T: Float>(v: &[T], k: T) -> Vec<T> {
    let mut o = vec![T::zero(); v.len()];
    for i in 0..v.len() {
        o[i] = (v[i] * k).sin();
    }
    o
}

#[differentiable]
fn norm3<T: Float>(v: [T; 3]) -> T {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

#[differentiable]
fn arr<T: Float>(k: T) -> [T; 3] {
    [k, k * k, T::one()]
}

#[differentiable]
fn pair<T: Float>(a: T, b: T) -> (T, T) {
    (a * b, a - b)
}

#[differentiable(wrt(x, k))]
fn n7_0<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let mx = *x.iter().max_by(|a, b| a.partial_cmp(b).unwrap()).unwrap();
    s = s + mx * k;
    let mut st = [x[0], k];
    for _ in 0..3 {
        st = [st[1] * 0.9, st[0] + st[1] * k];
    }
    s = s + st[0] + st[1];
    for v in x.iter().filter(|v| **v > k) {
        s = s + *v * *v;
    }
    s
}

#[differentiable(wrt(x, k))]
fn n7_1<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    s = s + x
        .iter()
        .zip(x.iter().skip(1))
        .map(|(&a, &b)| a * b - k)
        .sum::<T>();
    s = s + *x.last().unwrap() * x.first().copied().unwrap();
    let (mut a1, mut b1) = (k, x[0]);
    for _ in 0..3 {
        (a1, b1) = (b1 * 0.5, a1 + b1);
    }
    s = s + a1 * b1;
    s
}

#[differentiable(wrt(x, k))]
fn n7_2<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let mx = *x.iter().max_by(|a, b| a.partial_cmp(b).unwrap()).unwrap();
    s = s + mx * k;
    for (a, b) in x[..x.len() - 1].iter().zip(&x[1..]) {
        s = s + (*b - *a) * k;
    }
    s = s + x
        .iter()
        .copied()
        .filter(|&v| v < k)
        .map(|v| v.sin())
        .sum::<T>();
    s
}

#[differentiable(wrt(x, k))]
fn n7_3<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let (mut a1, mut b1) = (k, x[0]);
    for _ in 0..3 {
        (a1, b1) = (b1 * 0.5, a1 + b1);
    }
    s = s + a1 * b1;
    for ((i, a), b) in x.iter().enumerate().skip(1).zip(x.iter().rev()) {
        s = s + *a * *b * T::from(i).unwrap();
    }
    s
}

#[differentiable(wrt(x, k))]
fn n7_4<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let e = match (m, x.len()) {
        (Some(t), n) if t < n => x[t],
        (_, _) => k,
    };
    s = s + x
        .iter()
        .zip(x.iter().skip(1))
        .map(|(&a, &b)| a * b - k)
        .sum::<T>();
    let (mut a1, mut b1) = (k, x[0]);
    for _ in 0..3 {
        (a1, b1) = (b1 * 0.5, a1 + b1);
    }
    s = s + a1 * b1;
    let b: Vec<T> = x.iter().map(|v| *v * k).collect();
    let mut st = [x[0], k];
    for _ in 0..3 {
        st = [st[1] * 0.9, st[0] + st[1] * k];
    }
    s = s + st[0] + st[1];
    let (mut a1, mut b1) = (k, x[0]);
    for _ in 0..3 {
        (a1, b1) = (b1 * 0.5, a1 + b1);
    }
    s = s + a1 * b1;
    s
}

#[differentiable(wrt(x, k))]
fn n7_5<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let mut it = 0;
    while it < 5 {
        it += 1;
        s = s + k * x[it % x.len()];
        if s > T::from(3.0).unwrap() {
            return s;
        }
    }
    let r = loop {
        s = s * 0.5;
        if s < k {
            break s;
        }
    };
    s = s + *x.last().unwrap() * x.first().copied().unwrap();
    for (a, b) in x[..x.len() - 1].iter().zip(&x[1..]) {
        s = s + (*b - *a) * k;
    }
    s
}

#[differentiable(wrt(x, k))]
fn n7_6<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    s = s + *x.last().unwrap() * x.first().copied().unwrap();
    for (a, b) in x[..x.len() - 1].iter().zip(&x[1..]) {
        s = s + (*b - *a) * k;
    }
    for c in x.chunks(3) {
        s = s + c[0] * T::from(c.len()).unwrap();
    }
    s
}

#[differentiable(wrt(x, k))]
fn n7_7<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    s = s + x
        .iter()
        .copied()
        .filter(|&v| v < k)
        .map(|v| v.sin())
        .sum::<T>();
    s = s + x.iter().copied().reduce(T::min).unwrap() * k;
    let mut it = 0;
    'l: loop {
        it += 1;
        if it > 3 {
            break;
        }
        for &v in x.iter() {
            if v < k {
                s = s + v;
                continue 'l;
            }
        }
        break;
    }
    s = s + *x.last().unwrap() * x.first().copied().unwrap();
    let mut st = [x[0], k];
    for _ in 0..3 {
        st = [st[1] * 0.9, st[0] + st[1] * k];
    }
    s = s + st[0] + st[1];
    s
}

#[differentiable(wrt(x, k))]
fn n7_8<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    s = s + x
        .iter()
        .copied()
        .filter(|&v| v < k)
        .map(|v| v.sin())
        .sum::<T>();
    for v in x.iter().rev().step_by(2) {
        s = s * 0.5 + *v;
    }
    let mut o = vec![T::zero(); x.len()];
    for i in 0..x.len() {
        o[i] = x[i] * k;
    }
    s = s + o.iter().map(|&v| v * v).sum::<T>();
    s
}

#[differentiable(wrt(x, k))]
fn n7_9<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let hv = helper(x, k);
    s = s + hv[0] * hv[1] + hv.iter().fold(T::zero(), |a, &b| a + b);
    let (mut a1, mut b1) = (k, x[0]);
    for _ in 0..3 {
        (a1, b1) = (b1 * 0.5, a1 + b1);
    }
    s = s + a1 * b1;
    for v in x.iter().rev().step_by(2) {
        s = s * 0.5 + *v;
    }
    for i in 0..x.len() {
        if x[i] > k {
            return s + x[i];
        }
    }
    s
}

#[differentiable(wrt(x, k))]
fn n7_10<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    s = s + *x.last().unwrap() * x.first().copied().unwrap();
    let mx = *x.iter().max_by(|a, b| a.partial_cmp(b).unwrap()).unwrap();
    s = s + mx * k;
    s
}

#[differentiable(wrt(x, k))]
fn n7_11<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let mx = *x.iter().max_by(|a, b| a.partial_cmp(b).unwrap()).unwrap();
    s = s + mx * k;
    s = s + x.iter().copied().reduce(T::min).unwrap() * k;
    s
}

#[differentiable(wrt(x, k))]
fn n7_12<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let (mut a1, mut b1) = (k, x[0]);
    for _ in 0..3 {
        (a1, b1) = (b1 * 0.5, a1 + b1);
    }
    s = s + a1 * b1;
    let mut o = vec![T::zero(); x.len()];
    for i in 0..x.len() {
        o[i] = x[i] * k;
    }
    s = s + o.iter().map(|&v| v * v).sum::<T>();
    let w2 = loop {
        if s > k {
            break s * 2.0;
        }
        s = s + k;
        if s > T::from(100.0).unwrap() {
            break s;
        }
    };
    for &v in x.iter().take_while(|&&v| v < k + 1.0) {
        s = s + v.exp();
    }
    for ((i, a), b) in x.iter().enumerate().skip(1).zip(x.iter().rev()) {
        s = s + *a * *b * T::from(i).unwrap();
    }
    s
}

#[differentiable(wrt(x, k))]
fn n7_13<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    for (a, b) in x[..x.len() - 1].iter().zip(&x[1..]) {
        s = s + (*b - *a) * k;
    }
    for ((i, a), b) in x.iter().enumerate().skip(1).zip(x.iter().rev()) {
        s = s + *a * *b * T::from(i).unwrap();
    }
    let hv = helper(x, k);
    s = s + hv[0] * hv[1] + hv.iter().fold(T::zero(), |a, &b| a + b);
    s
}

/// Each fn's gradient against central finite differences, at one point
/// and three values of `m`.
macro_rules! check_all {
    ($t:ty, $tol:expr, $($f:ident, $g:ident);* $(;)?) => {{
        let x: [$t; 4] = [0.3, -0.5, 1.2, 0.7];
        for m in [None, Some(0), Some(2)] {
            $(
                let (_, (g, gk)) = $g(&x, 0.4, m);
                let r = tapeless::check_gradient(
                    |q: &[$t]| $f(&q[..4], q[4], m),
                    &[0.3, -0.5, 1.2, 0.7, 0.4],
                    &[g, vec![gk]].concat(),
                );
                assert!(r.within($tol), "{} {m:?}\n{r}", stringify!($f));
            )*
        }
    }};
}

/// Every fn of this file, for `check_all!`.
macro_rules! every_fn {
    ($t:ty, $tol:expr) => {
        check_all!(
            $t,
            $tol,
            n7_0, n7_0_grad;
            n7_1, n7_1_grad;
            n7_2, n7_2_grad;
            n7_3, n7_3_grad;
            n7_4, n7_4_grad;
            n7_5, n7_5_grad;
            n7_6, n7_6_grad;
            n7_7, n7_7_grad;
            n7_8, n7_8_grad;
            n7_9, n7_9_grad;
            n7_10, n7_10_grad;
            n7_11, n7_11_grad;
            n7_12, n7_12_grad;
            n7_13, n7_13_grad;
        )
    };
}

#[test]
fn newer_combinations_match_finite_differences() {
    every_fn!(f64, 1e-5);
}

#[test]
fn newer_combinations_match_finite_differences_f32() {
    every_fn!(f32, 2e-2);
}
