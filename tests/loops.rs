//! Loops: every range form, slices and arrays, nested loops, `while` with a
//! data-dependent condition, `loop`, `break` and `continue`. Gradients
//! against closed forms and finite differences, in f64 and f32.

// The lecture's code indexes in loops; so do these tests.
#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, close, tolerance, Rng};
use tapeless::{differentiable, Float};

// Every range form, over a slice.
#[differentiable]
fn ranges<T: Float>(x: &[T]) -> T {
    let n = x.len();
    let mut s = T::zero();
    for i in 0..n {
        s += x[i] * x[i];
    }
    for i in 1..=n - 1 {
        s += x[i] * x[i - 1];
    }
    for i in (0..n).rev() {
        s = s * 0.5 + x[i];
    }
    for i in (0..n).step_by(2) {
        s -= x[i].sin();
    }
    s
}

fn ranges_plain(x: &[f64]) -> f64 {
    let n = x.len();
    let mut s = 0.0;
    for i in 0..n {
        s += x[i] * x[i];
    }
    for i in 1..n {
        s += x[i] * x[i - 1];
    }
    for i in (0..n).rev() {
        s = s * 0.5 + x[i];
    }
    for i in (0..n).step_by(2) {
        s -= x[i].sin();
    }
    s
}

#[test]
fn range_forms() {
    let mut rng = Rng::new(31);
    for n in [1, 2, 5, 8] {
        let x = rng.point(n, -1.5, 1.5);
        let (v, g) = ranges_grad(&x);
        assert!(close(v, ranges_plain(&x), 1e-14));
        assert_gradient("ranges", |p: &[f64]| ranges(p), &x, &g, tolerance::<f64>());
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let (_, g32) = ranges_grad(&x32);
        assert_gradient(
            "ranges f32",
            |p: &[f32]| ranges(p),
            &x32,
            &g32,
            tolerance::<f32>(),
        );
    }
}

// Iterating over elements: `.iter()`, `&x`, `.enumerate()`, `.zip(..)`.
#[differentiable]
fn iterators<T: Float>(a: &[T], b: &[T]) -> T {
    let mut s = T::zero();
    for v in a.iter() {
        s += *v * *v;
    }
    for &v in b {
        s += v.exp();
    }
    for (i, &v) in a.iter().enumerate() {
        s += v * T::from(i).unwrap();
    }
    for (p, q) in a.iter().zip(b.iter()) {
        s += *p * *q;
    }
    s
}

#[test]
fn element_iteration() {
    let a = [1.0, -2.0, 0.5];
    let b = [0.3, 0.1, -0.4];
    let (v, (da, db)) = iterators_grad(&a, &b);
    let want = 1.0
        + 4.0
        + 0.25
        + b.iter().map(|v: &f64| v.exp()).sum::<f64>()
        + (-2.0 + 1.0)
        + (0.3 - 0.2 - 0.2);
    assert!(close(v, want, 1e-14), "{v} vs {want}");
    for i in 0..3 {
        assert!(close(da[i], 2.0 * a[i] + i as f64 + b[i], 1e-14));
        assert!(close(db[i], b[i].exp() + a[i], 1e-14));
    }
}

// Horner's rule: a loop-carried product, the coefficients constants.
#[differentiable(wrt(x))]
fn horner<T: Float>(coeffs: &[T], x: T) -> T {
    let mut y = T::zero();
    for &c in coeffs.iter() {
        y = y * x + c;
    }
    y
}

#[test]
fn loop_carried_product() {
    let c = [2.0, -3.0, 0.5, 1.0];
    let mut rng = Rng::new(32);
    for _ in 0..30 {
        let x = rng.uniform(-2.0, 2.0);
        let (v, d) = horner_grad(&c, x);
        assert!(close(v, ((2.0 * x - 3.0) * x + 0.5) * x + 1.0, 1e-14));
        assert!(close(d, 6.0 * x * x - 6.0 * x + 0.5, 1e-12), "{d}");
        let c32 = c.map(|v| v as f32);
        let (_, d32) = horner_grad(&c32, x as f32);
        assert_gradient(
            "horner f32",
            |p: &[f32]| horner(&c32, p[0]),
            &[x as f32],
            &[d32],
            tolerance::<f32>(),
        );
    }
}

// `while` with a data-dependent condition: Newton's method for sqrt. Its
// gradient is that of the iterations actually run, close to 1 / (2 sqrt a).
#[differentiable]
fn newton_sqrt<T: Float>(a: T) -> T {
    let mut y = a;
    while (y * y - a).abs() > a * 1e-12 {
        y = 0.5 * (y + a / y);
    }
    y
}

#[test]
fn while_with_data_dependent_trip_count() {
    let mut rng = Rng::new(33);
    for _ in 0..30 {
        let a = rng.uniform(0.5, 50.0);
        let (v, d) = newton_sqrt_grad(a);
        assert!(close(v, a.sqrt(), 1e-12));
        assert!(close(d, 0.5 / a.sqrt(), 1e-6), "{d} vs {}", 0.5 / a.sqrt());
    }
}

// `loop` with `break`, and `continue`.
#[differentiable]
fn until_large<T: Float>(x: T, limit: T) -> T {
    let mut y = x;
    let mut steps = 0;
    loop {
        y = y * 1.5 + 0.1;
        steps += 1;
        if y > limit || steps > 100 {
            break;
        }
    }
    y
}

#[differentiable]
fn positive_part_sum<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..x.len() {
        if x[i] < 0.0 {
            continue;
        }
        s += x[i].powi(3);
    }
    s
}

// An early `break` out of a `for`: the first partial sum above a bound.
#[differentiable]
fn first_above<T: Float>(x: &[T], bound: T) -> T {
    let mut s = T::zero();
    for &v in x.iter() {
        s += v * v;
        if s > bound {
            break;
        }
    }
    s
}

#[test]
fn break_and_continue() {
    let mut rng = Rng::new(34);
    for _ in 0..30 {
        let x = rng.uniform(0.2, 1.0);
        let (v, (dx, dl)) = until_large_grad(x, 10.0);
        assert_eq!(v, until_large(x, 10.0));
        // y_k = 1.5^k x + c: dy/dx = 1.5^k for the k steps taken; flat in the limit.
        let mut k = 0;
        let mut y = x;
        loop {
            y = y * 1.5 + 0.1;
            k += 1;
            if y > 10.0 {
                break;
            }
        }
        assert!(close(dx, 1.5f64.powi(k), 1e-12));
        assert_eq!(dl, 0.0);

        let p = rng.point(6, -1.0, 1.0);
        let (_, g) = positive_part_sum_grad(&p);
        for i in 0..6 {
            let want = if p[i] < 0.0 { 0.0 } else { 3.0 * p[i] * p[i] };
            assert!(close(g[i], want, 1e-14));
        }
        let (s, (g, db)) = first_above_grad(&p, 0.8);
        let taken = {
            let mut acc = 0.0;
            let mut n = 0;
            for &v in &p {
                acc += v * v;
                n += 1;
                if acc > 0.8 {
                    break;
                }
            }
            n
        };
        assert_eq!(s, first_above(&p, 0.8));
        assert_eq!(db, 0.0);
        for i in 0..6 {
            let want = if i < taken { 2.0 * p[i] } else { 0.0 };
            assert!(close(g[i], want, 1e-14), "{i}: {} vs {want}", g[i]);
        }
    }
}

// Nested loops over a 2-D array: the matrix-vector product's squared norm.
#[differentiable]
fn nested<T: Float, const N: usize, const M: usize>(w: [[T; N]; M], x: [T; N]) -> T {
    let mut total = T::zero();
    for i in 0..M {
        let mut row = T::zero();
        for j in 0..N {
            row += w[i][j] * x[j];
        }
        total += row * row;
    }
    total
}

#[test]
fn nested_loops() {
    let mut rng = Rng::new(35);
    for _ in 0..20 {
        let p = rng.point(3 * 2 + 3, -1.0, 1.0);
        let w = [[p[0], p[1], p[2]], [p[3], p[4], p[5]]];
        let x = [p[6], p[7], p[8]];
        let (_, (dw, dx)) = nested_grad(w, x);
        let flat: Vec<f64> = dw.iter().flatten().chain(dx.iter()).copied().collect();
        let f = |q: &[f64]| nested([[q[0], q[1], q[2]], [q[3], q[4], q[5]]], [q[6], q[7], q[8]]);
        assert_gradient("nested", f, &p, &flat, tolerance::<f64>());
        let w32 = w.map(|r| r.map(|v| v as f32));
        let x32 = x.map(|v| v as f32);
        let (_, (dw32, dx32)) = nested_grad(w32, x32);
        let flat32: Vec<f32> = dw32.iter().flatten().chain(dx32.iter()).copied().collect();
        let p32: Vec<f32> = p.iter().map(|&v| v as f32).collect();
        let f32_ = |q: &[f32]| nested([[q[0], q[1], q[2]], [q[3], q[4], q[5]]], [q[6], q[7], q[8]]);
        assert_gradient("nested f32", f32_, &p32, &flat32, tolerance::<f32>());
    }
}

// `.rev()` on element iteration, before and after `.enumerate()`.
#[differentiable]
fn reversed<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for (i, &v) in x.iter().rev().enumerate() {
        s = s * 2.0 + v * T::from(i + 1).unwrap();
    }
    for (i, v) in x.iter().enumerate().rev() {
        s += *v * T::from(i).unwrap();
    }
    s
}

#[test]
fn reversed_iteration() {
    // s = 4 x2 + 4 x1 + 3 x0 from the first loop, + x1 + 2 x2 from the second.
    let (v, g) = reversed_grad(&[1.0, 2.0, 3.0]);
    assert_eq!(v, 31.0);
    assert_eq!(g, vec![3.0, 5.0, 6.0]);
    let (_, g32) = reversed_grad(&[1.0_f32, 2.0, 3.0]);
    assert_eq!(g32, vec![3.0, 5.0, 6.0]);
}

// `.skip(k)` and `.take(k)` after `.rev()`: counted from the back.
#[differentiable]
fn reversed_cut<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for &v in x.iter().rev().skip(1) {
        s = s * 0.5 + v;
    }
    for (i, v) in x.iter().rev().enumerate().take(2) {
        s = s + *v * *v * T::from(i + 1).unwrap();
    }
    let t = x
        .iter()
        .rev()
        .skip(2)
        .fold(T::zero(), |a, &b| a * 2.0 + b.sin());
    s + t
}

#[test]
fn reversed_and_cut() {
    let mut rng = Rng::new(77);
    for n in [1, 2, 3, 5] {
        let x = rng.point(n, -1.5, 1.5);
        let (v, g) = reversed_cut_grad(&x);
        assert_eq!(v, reversed_cut(&x));
        assert_gradient("reversed_cut", |q: &[f64]| reversed_cut(q), &x, &g, 1e-6);
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let (_, g32) = reversed_cut_grad(&x32);
        let f32_ = |q: &[f32]| reversed_cut(q);
        assert_gradient("reversed_cut f32", f32_, &x32, &g32, tolerance::<f32>());
    }
    // Closed form at (1, 2, 3): s = x1 / 2 + x0 = 2, then + x2^2 + 2 x1^2
    // = 19; t = sin(x0).
    let (v, g) = reversed_cut_grad(&[1.0, 2.0, 3.0]);
    assert!((v - (19.0 + 1f64.sin())).abs() < 1e-12);
    assert!((g[0] - (1.0 + 1f64.cos())).abs() < 1e-12);
    assert_eq!((g[1], g[2]), (0.5 + 8.0, 6.0));
}

// Taped values read again later in the iteration are pushed at the end of
// the iteration, but never past a `break`: `q` is taped, tested, then used.
#[differentiable]
fn damped<T: Float>(x: &[T], bound: T) -> T {
    let mut s = T::zero();
    let mut p = T::one();
    for &v in x.iter() {
        let q = p * v.sin();
        if q.abs() > bound {
            break;
        }
        p = p * (q + 1.0);
        s += p * q.exp();
    }
    s
}

fn damped_check<T: Float + std::fmt::Display>(seed: u64) {
    let mut rng = Rng::new(seed);
    for _ in 0..20 {
        let x: Vec<T> = common::cast(&rng.point(8, -2.0, 2.0));
        let bound = T::from(rng.uniform(0.3, 1.2)).unwrap();
        let (s, (g, _)) = damped_grad(&x, bound);
        assert!(s == damped(&x, bound));
        assert_gradient(
            "damped",
            |q: &[T]| damped(q, bound),
            &x,
            &g,
            tolerance::<T>(),
        );
    }
}

#[test]
fn taped_values_used_after_a_break_check() {
    damped_check::<f64>(71);
    damped_check::<f32>(72);
}

/// Rows of two arrays of arrays written through `iter_mut()` zipped (a
/// particle system's positions and velocities, symplectic Euler steps),
/// rows written through one `iter_mut()`, and two flat arrays written
/// through a zip of `iter_mut()`s.
#[differentiable]
fn particles<T: Float>(x: &[T]) -> T {
    let mut pos = [[T::zero(); 2]; 3];
    let mut vel = [[T::zero(); 2]; 3];
    for i in 0..3 {
        pos[i][0] = x[i];
        vel[i][1] = x[i + 3];
    }
    let dt = T::from(0.1).unwrap();
    for _ in 0..4 {
        for (p, v) in pos.iter_mut().zip(vel.iter_mut()) {
            v[1] = v[1] - dt * p[1] * p[0];
            v[0] += dt * p[1].sin();
            p[0] = p[0] + dt * v[0];
            p[1] = p[1] + dt * v[1];
        }
    }
    for p in pos.iter_mut() {
        p[1] = p[1] * 2.0;
    }
    let mut a = x.to_vec();
    let mut b = vec![T::one(); x.len()];
    for (p, q) in a.iter_mut().zip(b.iter_mut()) {
        *q = *q * p.sin();
        *p = *p + *q * 0.5;
    }
    let mut e = T::zero();
    for p in pos.iter() {
        e = e + p[0] * p[0] + p[1] * p[1];
    }
    e + a.iter().zip(&b).fold(T::zero(), |s, (&u, &v)| s + u * v)
}

#[test]
fn written_through_iter_mut() {
    let mut rng = Rng::new(78);
    for _ in 0..10 {
        let x = rng.point(6, -1.0, 1.0);
        let (v, g) = particles_grad(&x);
        assert_eq!(v, particles(&x));
        assert_gradient("particles", |q: &[f64]| particles(q), &x, &g, 1e-6);
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let (_, g32) = particles_grad(&x32);
        let f32_ = |q: &[f32]| particles(q);
        assert_gradient("particles f32", f32_, &x32, &g32, tolerance::<f32>());
    }
    // Closed form with no velocity and the particles at rest on the x axis
    // (x[3..] = 0): nothing moves but the flat part; e = sum x_i^2 over
    // the first three, the flat part sum (x + sin x / 2) sin x.
    let x = [0.3, -0.2, 0.5, 0.0, 0.0, 0.0];
    let (v, g) = particles_grad(&x);
    let flat = |t: f64| (t + t.sin() / 2.0) * t.sin();
    let dflat = |t: f64| (1.0 + t.cos() / 2.0) * t.sin() + (t + t.sin() / 2.0) * t.cos();
    let want: f64 =
        x[..3].iter().map(|t| t * t).sum::<f64>() + x.iter().map(|&t| flat(t)).sum::<f64>();
    assert!(close(v, want, 1e-12));
    for i in 0..3 {
        assert!(close(g[i], 2.0 * x[i] + dflat(x[i]), 1e-9), "{i}");
    }
}
