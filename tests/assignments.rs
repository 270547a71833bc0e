//! Assignments as Rust writes state updates, each checked against finite
//! differences in f64 and f32 at random points: destructuring assignments
//! (`(a, b) = (b, a + b);`, from a call, nested, with `_`, into elements)
//! and whole arrays the fn made assigned again (`st = step(st, k);`,
//! `v = v.iter().map(..).collect();`, `p = [p[1], p[0] + p[1]];`, `u = w;`),
//! and `Option`s of floats held in variables (`let mut prev: Option<T> =
//! None;`, `best = Some(match best { .. })`, `first.unwrap_or(t)`).

mod common;

use common::{assert_gradient, cast, close, tolerance, Rng};
use std::iter::Sum;
use tapeless::{differentiable, Float};

/// A damped pendulum stepped with a tuple state.
#[differentiable]
fn pendulum<T: Float>(theta0: T, omega0: T, g: T) -> T {
    let dt = T::from(0.01).unwrap();
    let (mut th, mut om) = (theta0, omega0);
    for _ in 0..100 {
        (th, om) = (th + om * dt, om - (g * th.sin() + 0.1 * om) * dt);
    }
    th * om
}

#[differentiable]
fn pair<T: Float>(a: T, b: T) -> (T, T) {
    (a * b, a - b)
}

/// From a call, nested, with `_`, and into elements.
#[differentiable]
fn shuffled<T: Float>(x: T, y: T, z: &[T]) -> T {
    let (mut a, mut b) = (x, y);
    let mut c = x;
    for _ in 0..3 {
        (a, b) = pair(a, b);
        ((a, _), c) = ((b + c, a), a.sin());
    }
    let mut s = z.to_vec();
    (s[0], s[1]) = (s[1], s[0] * 2.0);
    a + b * c + s[0] * s[1].exp()
}

#[differentiable]
fn step<T: Float>(s: [T; 2], k: T) -> [T; 2] {
    [s[0] + s[1] * 0.1, s[1] - k * s[0] * 0.1]
}

#[differentiable]
fn next<T: Float>(s: &[T], k: T) -> Vec<T> {
    let mut o = vec![T::zero(); s.len()];
    for i in 0..s.len() {
        o[i] = s[i] * k + s[(i + 1) % s.len()].sin();
    }
    o
}

/// Whole arrays assigned again: from calls, a reduction, a literal that
/// reads the array itself, another array.
#[differentiable]
fn states<T: Float + Sum>(x: &[T], k: T) -> T {
    let mut st = [x[0], x[1]];
    for _ in 0..10 {
        st = step(st, k);
    }
    let mut v = x.to_vec();
    for _ in 0..3 {
        v = next(&v, k);
        v = v.iter().map(|&a| a.tanh() * 1.5).collect();
    }
    let mut p = [x[1], x[2]];
    for _ in 0..3 {
        p = [p[1] * 0.9, p[0] + p[1]];
    }
    let w = vec![x[0] * k; x.len()];
    let mut u = vec![T::zero(); x.len()];
    u = w;
    st[0] * st[1] + v.iter().zip(&u).map(|(a, b)| *a * *b).sum::<T>() + p[0] * p[1]
}

/// The last value, the best so far, the first over a threshold.
#[differentiable]
fn running<T: Float>(xs: &[T], t: T) -> T {
    let mut acc = T::zero();
    let mut prev: Option<T> = None;
    for &x in xs {
        if let Some(p) = prev {
            acc = acc + (x - p).powi(2);
        }
        prev = Some(x);
    }
    let mut best = None;
    for &x in xs {
        best = Some(match best {
            Some(b) => x.max(b),
            None => x,
        });
    }
    let mut first: Option<T> = None;
    for &x in xs {
        if x > t && first.is_none() {
            first = Some(x * x);
        }
    }
    // A `match` as a statement whose arms assign.
    let mut low: Option<T> = None;
    for &x in xs {
        match low {
            Some(l) => {
                if x < l {
                    low = Some(x);
                }
            }
            None => low = Some(x * t),
        }
    }
    // Guards, and arms tried in order.
    let mut top: Option<T> = None;
    let mut mid = None;
    for &x in xs {
        match top {
            Some(b) if b > x => {}
            _ => top = Some(x),
        }
        mid = Some(match mid {
            None => x * t,
            Some(m) if x < m => x,
            Some(m) => m * 0.9 + x * 0.1,
        });
    }
    let last = prev.unwrap() * if prev.is_some() { 1.5 } else { 0.5 };
    acc + best.expect("xs is not empty") * last
        + first.unwrap_or(t) * 2.0
        + low.unwrap() * 0.5
        + top.unwrap() * mid.unwrap()
}

fn check<T: Float + Sum + std::fmt::Display>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    let q: Vec<T> = cast(&rng.point(3, -1.0, 1.0));
    let (_, (a, b, c)) = pendulum_grad(q[0], q[1], q[2] + T::from(9.0).unwrap());
    let f = |q: &[T]| pendulum(q[0], q[1], q[2] + T::from(9.0).unwrap());
    assert_gradient("pendulum", f, &q, &[a, b, c], tol);

    let p: Vec<T> = cast(&rng.point(5, -1.0, 1.0));
    let (_, (gx, gy, gz)) = shuffled_grad(p[0], p[1], &p[2..]);
    let g = [&[gx, gy][..], &gz[..]].concat();
    assert_gradient("shuffled", |q| shuffled(q[0], q[1], &q[2..]), &p, &g, tol);

    // Values at least 0.2 apart, and the threshold between two of them.
    let mut spaced: Vec<f64> = (0..5)
        .map(|i| -1.0 + 0.4 * i as f64 + rng.uniform(0.0, 0.2))
        .collect();
    for i in (1..5).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        spaced.swap(i, j);
    }
    let t = -0.7 + 0.4 * (rng.next_u64() % 4) as f64;
    let xt: Vec<T> = cast(&[&spaced[..], &[t][..]].concat());
    let (_, (gx, gt)) = running_grad(&xt[..5], xt[5]);
    let g = [gx, vec![gt]].concat();
    assert_gradient("running", |q| running(&q[..5], q[5]), &xt, &g, tol);

    let x: Vec<T> = cast(&rng.point(4, -1.0, 1.0));
    let k = T::from(rng.uniform(0.5, 1.5)).unwrap();
    let (_, (gx, gk)) = states_grad(&x, k);
    let xk = [&x[..], &[k][..]].concat();
    let g = [&gx[..], &[gk][..]].concat();
    assert_gradient("states", |q| states(&q[..4], q[4]), &xk, &g, tol);
}

#[test]
fn state_updates_f64() {
    let mut rng = Rng::new(81);
    for _ in 0..10 {
        check::<f64>(&mut rng);
    }
}

#[test]
fn state_updates_f32() {
    let mut rng = Rng::new(82);
    for _ in 0..10 {
        check::<f32>(&mut rng);
    }
}

/// The generated forward computes what the fn computes.
#[test]
fn values_are_the_fns_values() {
    let (mut a, mut b) = (0.3f64, 0.6);
    let mut c = 0.3;
    for _ in 0..3 {
        (a, b) = (a * b, a - b);
        ((a, _), c) = ((b + c, a), a.sin());
    }
    let mut s = [0.2, -0.4, 0.9];
    (s[0], s[1]) = (s[1], s[0] * 2.0);
    let by_hand = a + b * c + s[0] * s[1].exp();
    assert!(close(
        shuffled_grad(0.3, 0.6, &[0.2, -0.4, 0.9]).0,
        by_hand,
        1e-12
    ));
    let x = [0.3, -0.5, 1.2, 0.4];
    assert!(close(states_grad(&x, 0.8).0, states(&x, 0.8), 1e-12));
    assert!(close(
        pendulum_grad(0.5, 0.1, 9.8).0,
        pendulum(0.5, 0.1, 9.8),
        1e-12
    ));
}
