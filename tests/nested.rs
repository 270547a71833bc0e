//! Calls whose results the macro cannot see the type of, used as users
//! write them: passed straight to another call (`mm(rot(a), rot(b))`),
//! bound without a type and only passed on (`let r = rot(a);` then
//! `mv(r, p)` twice), indexed where they are made (`mv(r, p)[1]`), walked
//! or measured where they are made (`softmax(z).iter()`, `for p in
//! &softmax(z)`, `0..softmax(z).len()`), in an `if`'s condition, and
//! returned as an array fn's value (`add(mv(..), mv(..))`,
//! `return scale(..);`). Floats and arrays, `[T; N]`, `[[T; N]; M]` and
//! `Vec<T>`, in straight code, branches, taped loops and a fused sum,
//! checked against finite differences in f64 and f32 at random points.

#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

#[differentiable]
fn rot<T: Float>(t: T) -> [[T; 2]; 2] {
    let (s, c) = t.sin_cos();
    [[c, -s], [s, c]]
}

#[differentiable]
fn mm<T: Float>(a: [[T; 2]; 2], b: [[T; 2]; 2]) -> [[T; 2]; 2] {
    let mut r = [[T::zero(); 2]; 2];
    for i in 0..2 {
        for j in 0..2 {
            for k in 0..2 {
                r[i][j] += a[i][k] * b[k][j];
            }
        }
    }
    r
}

#[differentiable]
fn mv<T: Float>(a: [[T; 2]; 2], v: [T; 2]) -> [T; 2] {
    [
        a[0][0] * v[0] + a[0][1] * v[1],
        a[1][0] * v[0] + a[1][1] * v[1],
    ]
}

#[differentiable]
fn add<T: Float>(a: [T; 2], b: [T; 2]) -> [T; 2] {
    [a[0] + b[0], a[1] + b[1]]
}

#[differentiable]
fn sq<T: Float>(x: T) -> T {
    x * x
}

#[differentiable]
fn scale<T: Float>(v: &[T], k: T) -> Vec<T> {
    v.iter().map(|&x| x * k).collect()
}

#[differentiable]
fn norm<T: Float>(v: &[T]) -> T {
    v.iter().fold(T::zero(), |a, &b| a + b * b).sqrt()
}

#[differentiable]
fn total<T: Float>(v: Vec<T>) -> T {
    let mut s = T::zero();
    for &x in &v {
        s += x.sin();
    }
    s
}

/// A two-link arm's tip: rotations composed where they are made, the
/// value of the fn a call.
#[differentiable]
fn tip<T: Float>(t1: T, t2: T, l1: T, l2: T) -> [T; 2] {
    add(
        mv(rot(t1), [l1, T::zero()]),
        mv(mm(rot(t1), rot(t2)), [l2, T::zero()]),
    )
}

/// The tip's distance to a target; `r` bound without a type, passed on
/// twice (its gradient is the sum of both calls').
#[differentiable]
fn reach<T: Float>(t1: T, t2: T, l1: T, l2: T, gx: T, gy: T) -> T {
    let p = tip(t1, t2, l1, l2);
    let r = rot(t2);
    let q = mv(r, mv(r, p));
    let dx = q[0] - gx;
    let dy = mv(r, p)[1] - gy;
    sq(sq(dx)) + dy * dy + T::exp(sq(t1) * 0.1)
}

/// `Vec` results passed by reference and by value, nested twice.
#[differentiable]
fn vecs<T: Float>(x: &[T], k: T) -> T {
    norm(&scale(x, k)) + norm(&scale(&scale(x, k), k)) * total(scale(x, k * k))
}

#[differentiable]
fn softmax<T: Float>(z: &[T]) -> Vec<T> {
    let m = z.iter().fold(T::neg_infinity(), |a, &b| a.max(b));
    let e: Vec<T> = z.iter().map(|&v| (v - m).exp()).collect();
    let s = e.iter().fold(T::zero(), |a, &b| a + b);
    e.iter().map(|&v| v / s).collect()
}

/// Methods and loops on a call's result where it is made.
#[differentiable]
fn entropy<T: Float>(z: &[T], t: T) -> T {
    let h = softmax(z).iter().fold(T::zero(), |a, &p| a - p * p.ln());
    let mut s = h / T::from(softmax(z).len()).unwrap();
    for p in &softmax(z) {
        s = s + *p * t;
    }
    for i in 0..scale(z, t).len() {
        s = s + scale(z, t)[i].sin();
    }
    if mv(rot(t), [z[0], z[1]])[0] > T::zero() {
        s = s * norm(&scale(z, t)).sqrt();
    }
    s
}

/// A call's result unpacked, in a tuple, in a closure, walked flat (as
/// made and bound), and assigned to an array in a loop.
#[differentiable]
fn unpacked<T: Float>(t: T, u: T) -> T {
    let [x, y] = mv(rot(t), [u, T::one()]);
    let (a, b) = (sq(x), sq(sq(y)));
    let f = |s: T| mv(rot(s), [u, u])[0];
    let flat: T = rot(t)
        .iter()
        .flatten()
        .fold(T::zero(), |acc, &v| acc + v * v);
    let r = rot(u);
    let mut g = T::zero();
    for &v in r.iter().flatten() {
        g = g + v * t;
    }
    let mut p = [T::one(), T::zero()];
    for k in 0..3 {
        p = mv(rot(t * T::from(k).unwrap()), p);
    }
    a + b + f(t * 2.0) + flat * u + g + p[1]
}

/// Calls of data only (outside `wrt(..)`): constants, used as arrays,
/// borrowed by differentiated calls, nested.
#[differentiable(wrt(t))]
fn constant_calls<T: Float>(x: &[T], t: T) -> T {
    let c = scale(x, x[0]);
    let h = scale(x, T::from(2.0).unwrap());
    norm(&scale(&c, t)) + h[0] * t + norm(&scale(&scale(x, x[1]), t)) + rot(x[2])[0][1] * t
}

/// `return` of a call in a fn returning a `Vec`.
#[differentiable]
#[allow(clippy::needless_return)]
fn twice<T: Float>(x: &[T], k: T) -> Vec<T> {
    return scale(&scale(x, k), k);
}

#[differentiable]
fn twice_user<T: Float>(x: &[T], k: T) -> T {
    let y = twice(x, k);
    y[0] * y[y.len() - 1]
}

/// In a loop kept on tapes, and in branches.
#[differentiable(wrt(w))]
fn taped<T: Float>(w: &[T], x: &[T], y: &[T]) -> T {
    let mut loss = T::zero();
    let mut carry = T::one();
    for i in 0..x.len() {
        let r = rot(w[0] * x[i]);
        let p = mv(r, [w[1] * x[i], y[i]]);
        if p[1] > T::zero() {
            carry = carry * 0.5 + sq(sq(p[0] - y[i])) + sq(mv(r, p)[1]);
        } else {
            carry = carry * 0.5 - mv(rot(w[2]), p)[0];
        }
        loss += carry;
    }
    loss
}

/// A sum over points that fuses, reading a rotation made before the loop
/// and a float passed on whole.
#[differentiable(wrt(w))]
fn fused<T: Float>(w: &[T], x: &[T]) -> T {
    let r = rot(w[0]);
    let s = sq(w[1]);
    let mut loss = T::zero();
    for i in 0..x.len() {
        let mut acc = T::zero();
        for j in 1..w.len() {
            acc = acc + (w[j] * x[i]).tanh();
        }
        let p = mv(r, [acc, x[i]]);
        loss += p[0] * p[1] + sq(s * acc);
    }
    loss
}

fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    for _ in 0..8 {
        let p: Vec<T> = cast(&rng.point(6, -1.5, 1.5));
        let (_, g) = reach_grad(p[0], p[1], p[2], p[3], p[4], p[5]);
        let g = [g.0, g.1, g.2, g.3, g.4, g.5];
        assert_gradient(
            "reach",
            |q| reach(q[0], q[1], q[2], q[3], q[4], q[5]),
            &p,
            &g,
            tol,
        );

        // The tip's pullback, one Jacobian row per upstream gradient.
        let (tip_at, back) = tip_forward(p[0], p[1], p[2], p[3]);
        for row in 0..2 {
            let mut up = [T::zero(); 2];
            up[row] = T::one();
            let g = back(up);
            let g = [g.0, g.1, g.2, g.3];
            assert_gradient(
                "tip",
                |q| tip(q[0], q[1], q[2], q[3])[row],
                &p[..4],
                &g,
                tol,
            );
        }
        let (c1, s1) = (p[0].cos(), p[0].sin());
        let (c12, s12) = ((p[0] + p[1]).cos(), (p[0] + p[1]).sin());
        let want = [p[2] * c1 + p[3] * c12, p[2] * s1 + p[3] * s12];
        for i in 0..2 {
            assert!((tip_at[i] - want[i]).abs() < T::from(1e-4).unwrap());
        }

        let p: Vec<T> = cast(&rng.point(4, -1.0, 1.0));
        let (_, (dx, dk)) = vecs_grad(&p[..3], p[3]);
        let g: Vec<T> = dx.into_iter().chain([dk]).collect();
        assert_gradient("vecs", |q| vecs(&q[..3], q[3]), &p, &g, tol);

        let dt = constant_calls_grad(&p[..3], p[3]).1;
        assert_gradient(
            "constant_calls",
            |q| constant_calls(&p[..3], q[0]),
            &p[3..],
            &[dt],
            tol,
        );

        let (_, (dt, du)) = unpacked_grad(p[0], p[1]);
        assert_gradient(
            "unpacked",
            |q| unpacked(q[0], q[1]),
            &p[..2],
            &[dt, du],
            tol,
        );

        let (_, (dz, dt)) = entropy_grad(&p[..3], p[3]);
        let g: Vec<T> = dz.into_iter().chain([dt]).collect();
        assert_gradient("entropy", |q| entropy(&q[..3], q[3]), &p, &g, tol);

        let (_, (dx, dk)) = twice_user_grad(&p[..3], p[3]);
        let g: Vec<T> = dx.into_iter().chain([dk]).collect();
        assert_gradient("twice", |q| twice_user(&q[..3], q[3]), &p, &g, tol);

        let w: Vec<T> = cast(&rng.point(3, -1.0, 1.0));
        let x: Vec<T> = cast(&rng.point(5, -1.0, 1.0));
        let y: Vec<T> = cast(&rng.point(5, -1.0, 1.0));
        let (_, g) = taped_grad(&w, &x, &y);
        assert_gradient("taped", |q| taped(q, &x, &y), &w, &g, tol);

        let (_, g) = fused_grad(&w, &x);
        assert_gradient("fused", |q| fused(q, &x), &w, &g, tol);
    }
}

#[test]
fn nested_calls_f64() {
    check::<f64>(&mut Rng::new(41));
}

#[test]
fn nested_calls_f32() {
    check::<f32>(&mut Rng::new(42));
}
