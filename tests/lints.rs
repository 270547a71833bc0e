//! Generated code compiles without warnings under strict lints, has no
//! `unsafe`, and leaves no "never used" warning on the user's fn when only
//! its gradient is used.
#![deny(warnings)]
#![forbid(unsafe_code)]
#![deny(unused_qualifications, unused_results, trivial_casts, unused_parens)]

use tapeless::{differentiable, Float};

/// A documented public fn: the generated ones get docs too.
#[differentiable]
pub fn documented<T: Float>(x: T, y: T) -> T {
    let q = x * y + 1.0;
    q.ln() - x.max(y)
}

// Used only through its gradient.
#[differentiable]
fn only_grad_used<T: Float>(x: T) -> T {
    -2.5 * x.tanh()
}

// Used only through its forward.
#[differentiable]
fn only_forward_used(x: f32, y: f32) -> (f32, f32) {
    (x * y, x - y)
}

// Constant parameters, a mutable parameter, a parameter the gradient ignores.
#[differentiable(wrt(x))]
fn with_constants<T: Float>(mut x: T, scale: T, n: usize, flag: bool) -> T {
    x *= scale;
    let k = T::from(n).unwrap();
    let _unused = flag;
    x * k
}

#[differentiable]
fn no_float_work<T: Float>(x: T) -> T {
    let _ = x;
    T::one()
}

// Branches, loops, arrays, early returns, `break` and `continue`.
#[differentiable]
fn control_flow<T: Float, const N: usize>(x: [T; N], w: &[T], limit: T) -> Vec<T> {
    let mut out = vec![T::zero(); N];
    let mut acc = T::zero();
    for (i, &v) in x.iter().enumerate() {
        if v < 0.0 {
            continue;
        }
        acc += v * w[i];
        out[i] = acc.tanh();
        if acc > limit {
            break;
        }
    }
    let mut k = 0;
    while k < 3 {
        out[0] = out[0] * 0.5;
        k += 1;
    }
    out
}

#[differentiable]
fn returns_early<T: Float>(x: T) -> T {
    if x < 0.0 {
        return x * x;
    }
    let y = if x > 1.0 { x.ln() } else { x };
    y * 2.0
}

// Returns from inside loops, with a tuple output.
#[differentiable]
#[allow(clippy::needless_range_loop)]
fn returns_from_loops<T: Float>(x: &[T], t: T) -> (T, T) {
    let mut s = T::zero();
    for i in 0..x.len() {
        let mut k = 0;
        while k < 2 {
            s += x[i] * t;
            if s > t {
                return (s, x[i]);
            }
            k += 1;
        }
    }
    (s, t)
}

// A match on constants with differentiated arms, bindings and guards.
#[differentiable]
fn matched<T: Float>(x: T, mode: Option<usize>) -> T {
    match mode {
        Some(0) => x,
        Some(k) if k < 3 => x * T::from(k).unwrap(),
        Some(k @ 3..=5) => x.powi(k as i32),
        Some(_) => x.sin(),
        None => T::zero(),
    }
}

/// A variant with fields, some unread.
#[derive(Clone, Copy)]
pub enum Shape {
    Box { w: f64, h: f64 },
    Disc { r: f64 },
}

#[differentiable]
fn shaped<T: Float>(x: T, s: Shape) -> T {
    match s {
        Shape::Box { w, h: _ } => x * T::from(w).unwrap(),
        Shape::Disc { r } if r > 1.0_f64 => x * x,
        Shape::Disc { .. } => x,
    }
}

// Iterator reductions: written as loops in the generated fns.
#[differentiable]
fn reductions(x: &[f64], y: &[f64]) -> f64 {
    let dot: f64 = x.iter().zip(y).map(|(a, b)| a * b).sum();
    let m = (0..x.len())
        .map(|i| x[i] * y[i])
        .fold(f64::NEG_INFINITY, f64::max);
    dot + m + x.iter().product::<f64>()
}

// Written-out f64: arrays filled from a value, index assignment, a call.
#[differentiable]
fn concrete_arrays(x: f64, v: &[f64]) -> f64 {
    let mut a = [x; 3];
    a[1] *= 2.0;
    let mut s = 0.0;
    for i in 0..3 {
        s += a[i] * v[i];
    }
    s + returns_early(x)
}

// Tapes sized before a counted loop nest and written by position, and one
// pushed (its inner range starts at the outer index).
#[differentiable]
#[allow(clippy::needless_range_loop)]
fn taped_nests<T: Float>(x: &[T], n: usize) -> T {
    let mut p = T::one();
    for _ in 0..n {
        for i in 0..x.len() {
            p = p * x[i].sin();
        }
    }
    for a in 0..x.len() {
        for b in a + 1..x.len() {
            p = p * x[b];
        }
    }
    p
}

// Neighbouring and fixed elements carried, an update in place, counters
// declared in the body and in a loop.
#[differentiable]
#[allow(clippy::needless_range_loop)]
fn carried_and_counted<T: Float>(x: &[T], l: &[T]) -> T {
    let d = x.len();
    let mut s = T::zero();
    for i in 0..d - 1 {
        s += x[i] * x[i + 1];
    }
    let mut out = vec![T::zero(); d];
    let mut idx = 0;
    for a in 0..d {
        for b in a + 1..d {
            out[b] += l[idx] * x[a];
            idx += 1;
        }
    }
    for r in 0..2 {
        let mut k = r;
        for i in 0..d {
            s += out[i] * x[k % d];
            k += 1;
        }
    }
    s
}

// Parenthesized constants inside differentiated expressions are bound by
// the generated code without their parentheses (`unused_parens`).
#[differentiable]
fn parenthesized<T: Float>(x: T, a: f64, n: usize) -> T {
    let pi = T::from(std::f64::consts::PI).unwrap();
    let c = T::from(a).unwrap();
    let wrapped = (x + pi) % (pi + pi) - pi;
    x * (pi + pi) + x / (c * c) + x * T::from((n + 1) * 2).unwrap() + wrapped
}

// A fused loop (a sum over points whose backward runs per point in the
// forward pass), in a concrete fn and a generic one: the seed's last value,
// the per-point tapes' cursors and the sums of unit gradients.
#[differentiable(wrt(w))]
#[allow(clippy::needless_range_loop, clippy::explicit_counter_loop)]
fn fused_sum(w: &[f64], x: &[f64], c: f64) -> f64 {
    let mut h = vec![0.0; w.len()];
    let mut s = 0.0;
    for i in 0..x.len() {
        for j in 0..w.len() {
            h[j] = (w[j] * x[i] + c).tanh();
        }
        let mut idx = 0;
        for j in 0..w.len() {
            s += h[idx] * h[j];
            idx += 1;
        }
    }
    s
}

#[differentiable]
#[allow(clippy::needless_range_loop)]
fn fused_generic<T: Float>(w: &[T], xs: &[Vec<T>], c: T) -> T {
    let scale = c * c;
    let mut loss = T::zero();
    for x in xs {
        let mut z = T::zero();
        for i in 0..x.len() {
            z += (w[i] * x[i]).exp();
        }
        loss -= scale * z.ln();
    }
    loss
}

// Loops that keep only their winner: in the fn body (the winner captured
// by the pullback), and in a fused loop over points, with `wrt`.
#[differentiable]
fn winner_in_body<T: Float>(x: &[T]) -> T {
    let mut m = T::neg_infinity();
    for &v in x {
        m = m.max(v);
    }
    let mut s = T::zero();
    for &v in x {
        s += (v - m).exp();
    }
    m + s.ln()
}

#[differentiable(wrt(p))]
fn winner_per_point(p: &[f64], c: &[f64]) -> f64 {
    let mut total = 0.0;
    for &v in p {
        let mut best = f64::INFINITY;
        for &q in c {
            best = (v - q).powi(2).min(best);
        }
        total += best;
    }
    total
}

#[test]
fn winner_loops_compile_under_deny_warnings() {
    let x = [0.5, -1.0, 2.0, 1.5];
    let (v, g) = winner_in_body_grad(&x);
    assert_eq!(v, winner_in_body(&x));
    let report = tapeless::check_gradient(|q: &[f64]| winner_in_body(q), &x, &g);
    assert!(report.within(1e-7), "{report}");
    let (x, c) = ([0.3, -0.8, 2.2, 1.4], [0.0, 1.0, -2.0]);
    let (v, gp) = winner_per_point_grad(&x, &c);
    assert_eq!(v, winner_per_point(&x, &c));
    let report = tapeless::check_gradient(|q: &[f64]| winner_per_point(q, &c), &x, &gp);
    assert!(report.within(1e-6), "{report}");
}

#[test]
fn fused_loops_compile_under_deny_warnings() {
    let (w, x) = ([0.5, -0.25, 0.75], [0.5, 1.0, -1.5, 2.0]);
    let (v, g) = fused_sum_grad(&w, &x, 0.1);
    assert_eq!(v, fused_sum(&w, &x, 0.1));
    let report = tapeless::check_gradient(|q: &[f64]| fused_sum(q, &x, 0.1), &w, &g);
    assert!(report.within(1e-7), "{report}");
    let xs = vec![vec![0.5, 1.0, -1.0], vec![2.0, -0.5, 0.25]];
    let (v, (gw, _, gc)) = fused_generic_grad(&w, &xs, 0.7);
    assert_eq!(v, fused_generic(&w, &xs, 0.7));
    let report = tapeless::check_gradient(|q: &[f64]| fused_generic(q, &xs, 0.7), &w, &gw);
    assert!(report.within(1e-7), "{report}");
    let report = tapeless::check_gradient(|q: &[f64]| fused_generic(&w, &xs, q[0]), &[0.7], &[gc]);
    assert!(report.within(1e-7), "{report}");
}

#[test]
fn parenthesized_constants_compile_under_deny_warnings() {
    let (v, g) = parenthesized_grad(1.0, 2.0, 3);
    assert_eq!(v, parenthesized(1.0, 2.0, 3));
    let report = tapeless::check_gradient(|q: &[f64]| parenthesized(q[0], 2.0, 3), &[1.0], &[g]);
    assert!(report.within(1e-7), "{report}");
}

#[test]
fn carried_and_counted_compile_under_deny_warnings() {
    let (x, l) = ([0.5, -1.5, 2.0], [0.25, 0.75, -0.5]);
    let (v, (gx, gl)) = carried_and_counted_grad(&x, &l);
    assert_eq!(v, carried_and_counted(&x, &l));
    let report = tapeless::check_gradient(|q: &[f64]| carried_and_counted(q, &l), &x, &gx);
    assert!(report.within(1e-7), "{report}");
    let report = tapeless::check_gradient(|q: &[f64]| carried_and_counted(&x, q), &l, &gl);
    assert!(report.within(1e-7), "{report}");
}

#[test]
fn taped_nests_compile_under_deny_warnings() {
    let x = [0.5, 1.5, 2.0];
    let (v, g) = taped_nests_grad(&x, 2);
    assert_eq!(v, taped_nests(&x, 2));
    let report = tapeless::check_gradient(|q: &[f64]| taped_nests(q, 2), &x, &g);
    assert!(report.within(1e-7), "{report}");
}

#[test]
fn compiles_and_runs_under_deny_warnings() {
    let (v, (dx, dv)) = concrete_arrays_grad(0.5, &[1.0, 2.0, 3.0]);
    assert_eq!(v, 0.5 + 2.0 + 1.5 + 1.0);
    assert_eq!((dx, dv), (1.0 + 4.0 + 3.0 + 2.0, vec![0.5, 1.0, 0.5]));
    let (out, back) = control_flow_forward([1.0, -1.0, 2.0], &[0.5, 0.5, 0.5], 10.0);
    assert_eq!(out.len(), 3);
    let (dx, dw, dlimit) = back(vec![1.0, 0.0, 0.0]);
    assert_eq!((dx.len(), dw.len(), dlimit), (3, 3, 0.0));
    assert_eq!(returns_early_grad(-2.0), (4.0, -4.0));
    assert_eq!(matched_grad(2.0, Some(2)), (4.0, 2.0));
    assert_eq!(matched_grad(2.0, Some(3)), (8.0, 12.0));
    assert_eq!(matched_grad(2.0, None), (0.0, 0.0));
    assert_eq!(shaped_grad(3.0, Shape::Box { w: 2.0, h: 1.0 }), (6.0, 2.0));
    assert_eq!(shaped_grad(3.0, Shape::Disc { r: 2.0 }), (9.0, 6.0));
    assert_eq!(shaped_grad(3.0, Shape::Disc { r: 0.5 }), (3.0, 1.0));
    // dot 5 + max 3 + product 3; d/dx = y + (0, y1) + (x1, x0).
    let (v, (gx, gy)) = reductions_grad(&[1.0, 3.0], &[2.0, 1.0]);
    assert_eq!((v, gx, gy), (11.0, vec![5.0, 3.0], vec![1.0, 6.0]));
    let ((s, xi), back) = returns_from_loops_forward(&[0.25, 1.0], 1.0);
    assert_eq!((s, xi), (1.5, 1.0));
    // s = 2 x0 t + x1 t.
    assert_eq!(back((1.0, 0.0)), (vec![2.0, 1.0], 1.5));
    assert_eq!(documented_grad(1.0, 2.0).0, documented(1.0, 2.0));
    assert!(only_grad_used_grad(0.0_f64).1 == -2.5);
    let ((a, b), back) = only_forward_used_forward(2.0, 3.0);
    assert_eq!((a, b), (6.0, -1.0));
    assert_eq!(back((1.0, 0.0)), (3.0, 2.0));
    assert_eq!(with_constants_grad(2.0, 3.0, 4, true), (24.0, 12.0));
    assert_eq!(no_float_work_grad(5.0), (1.0, 0.0));
}

// Calls' results passed on whole to other calls, of floats and arrays, in
// a concrete fn, a generic one, a fused sum and an array fn's value.
#[differentiable]
fn rot2(t: f64) -> [[f64; 2]; 2] {
    let (s, c) = t.sin_cos();
    [[c, -s], [s, c]]
}

#[differentiable]
fn apply2(r: [[f64; 2]; 2], v: [f64; 2]) -> [f64; 2] {
    [
        r[0][0] * v[0] + r[0][1] * v[1],
        r[1][0] * v[0] + r[1][1] * v[1],
    ]
}

#[differentiable]
fn turned(t: f64, x: f64) -> [f64; 2] {
    apply2(rot2(t), [x, 1.0])
}

#[differentiable]
fn sq<T: Float>(x: T) -> T {
    x * x
}

#[differentiable]
fn nested_generic<T: Float>(x: T, y: T) -> T {
    let s = sq(x);
    sq(sq(s)) + T::exp(sq(y)) + s.sin()
}

#[differentiable(wrt(w))]
#[allow(clippy::needless_range_loop)]
fn nested_fused(w: &[f64], x: &[f64]) -> f64 {
    let r = rot2(w[0]);
    let mut loss = 0.0;
    for i in 0..x.len() {
        let mut acc = 0.0;
        for j in 1..w.len() {
            acc += (w[j] * x[i]).tanh();
        }
        let p = apply2(r, [acc, x[i]]);
        loss += p[0] * p[1] + turned(w[1], acc)[0];
    }
    loss
}

#[test]
fn nested_calls_compile_under_deny_warnings() {
    let (w, x) = ([0.5, -0.25, 0.75], [0.5, 1.0, -1.5, 2.0]);
    let (v, g) = nested_fused_grad(&w, &x);
    assert_eq!(v, nested_fused(&w, &x));
    let report = tapeless::check_gradient(|q: &[f64]| nested_fused(q, &x), &w, &g);
    assert!(report.within(1e-7), "{report}");
    let (v, (gx, gy)) = nested_generic_grad(0.5, -0.3);
    assert_eq!(v, nested_generic(0.5, -0.3));
    let report = tapeless::check_gradient(
        |q: &[f64]| nested_generic(q[0], q[1]),
        &[0.5, -0.3],
        &[gx, gy],
    );
    assert!(report.within(1e-7), "{report}");
}

// An array chosen by an `if` and by a guard's early `return`.
#[differentiable]
fn chosen(v: [f64; 2], k: usize) -> [f64; 2] {
    if k == 0 {
        return [v[1], v[0]];
    }
    let n = v[0].hypot(v[1]);
    if n < 1e-3 {
        [0.0; 2]
    } else {
        [v[0] / n, v[1] / n]
    }
}

#[test]
fn chosen_arrays_compile_under_deny_warnings() {
    for k in [0, 1] {
        let (v, back) = chosen_forward([0.6, -0.8], k);
        assert_eq!(v, chosen([0.6, -0.8], k));
        let g = back([1.0, 0.0]);
        let report =
            tapeless::check_gradient(|q: &[f64]| chosen([q[0], q[1]], k)[0], &[0.6, -0.8], &g);
        assert!(report.within(1e-7), "{report}");
    }
}

/// Prints while debugging: run as written on the forward pass's values,
/// with names the format strings capture (`{k:.3}`, `{s}`), positional and
/// named arguments, in a loop and a fused sum.
#[differentiable]
fn printed<T: Float + std::fmt::Display>(x: &[T], k: T) -> T {
    let mut s = T::zero();
    println!("start k={k:.3} n={}", x.len());
    for (i, &v) in x.iter().enumerate() {
        s += v * k * 2.0;
        eprintln!("i={i} v={v} s={s:.4} twice={}", s * 2.0);
        print!("{} ", i);
    }
    println!();
    let t = s.tanh();
    eprintln!("{t} {what}", what = t * 2.0);
    assert!(t < T::one(), "t = {t}");
    t
}

#[test]
fn prints_compile_under_deny_warnings() {
    let x = [0.3, -0.5, 0.8];
    for k in [0.7, -1.2] {
        let (v, (gx, gk)) = printed_grad(&x, k);
        assert_eq!(v, printed(&x, k));
        // Closed form: t = tanh(2 k sum x).
        let sum: f64 = x.iter().sum();
        let d = 1.0 - (2.0 * k * sum).tanh().powi(2);
        assert!((gk - d * 2.0 * sum).abs() < 1e-12);
        assert!(gx.iter().all(|g| (g - d * 2.0 * k).abs() < 1e-12));
        let x32 = [0.3f32, -0.5, 0.8];
        let (_, (gx32, _)) = printed_grad(&x32, k as f32);
        let report = tapeless::check_gradient(|q: &[f32]| printed(q, k as f32), &x32, &gx32);
        assert!(report.within(2e-2), "{report}");
    }
}
