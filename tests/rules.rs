//! One row per primitive: its gradient against the closed form and against
//! finite differences at random points of its domain, in f64 and f32, in
//! every spelling (`x.m()`, `T::m(x)`, `Float::m(x)`, written-out `f64`).
//! The fns are made by `macro_rules!`, which also checks that the attribute
//! works inside one.

// The checkers take a fn and its generated gradient side by side.
#![allow(clippy::type_complexity)]

mod common;

use common::{assert_gradient, close, tolerance, Rng};
use std::f64::consts::{LN_10, LN_2, PI};
use tapeless::{differentiable, Float};

const POINTS: usize = 25;

/// Checks a one-input generated gradient against `closed` and finite
/// differences, in f64 and in f32.
fn check_unary(
    name: &str,
    (lo, hi): (f64, f64),
    closed: fn(f64) -> f64,
    forms64: &[(fn(f64) -> f64, fn(f64) -> (f64, f64))],
    forms32: &[(fn(f32) -> f32, fn(f32) -> (f32, f32))],
    finite_differences: bool,
) {
    let mut rng = Rng::new(name.len() as u64 * 7919);
    for _ in 0..POINTS {
        let x = rng.uniform(lo, hi);
        let want = closed(x);
        for (f, grad) in forms64 {
            let (v, d) = grad(x);
            assert_eq!(v.to_bits(), f(x).to_bits(), "{name}: value at {x}");
            assert!(
                close(d, want, 1e-12),
                "{name}'({x}) = {d}, closed form {want}"
            );
            if finite_differences {
                assert_gradient(name, |p: &[f64]| f(p[0]), &[x], &[d], tolerance::<f64>());
            }
        }
        let x32 = x as f32;
        for (f, grad) in forms32 {
            let (v, d) = grad(x32);
            assert_eq!(v.to_bits(), f(x32).to_bits(), "{name}: f32 value at {x}");
            assert!(
                close(d as f64, closed(x32 as f64), 1e-4),
                "{name}'({x32}) = {d} in f32, closed form {want}"
            );
            if finite_differences {
                assert_gradient(name, |p: &[f32]| f(p[0]), &[x32], &[d], tolerance::<f32>());
            }
        }
    }
}

macro_rules! unary {
    ($($m:ident in ($lo:expr, $hi:expr) => |$x:ident| $closed:expr;)*) => {$(
        mod $m {
            use super::*;

            #[differentiable]
            pub fn method<T: Float>(x: T) -> T {
                x.$m()
            }

            #[differentiable]
            pub fn path<T: Float>(x: T) -> T {
                T::$m(x)
            }

            #[differentiable]
            pub fn trait_path<T: Float>(x: T) -> T {
                Float::$m(x)
            }

            #[differentiable]
            pub fn concrete(x: f64) -> f64 {
                x.$m()
            }

            #[test]
            fn gradient() {
                check_unary(
                    stringify!($m),
                    ($lo, $hi),
                    |$x: f64| $closed,
                    &[
                        (method::<f64>, method_grad::<f64>),
                        (path::<f64>, path_grad::<f64>),
                        (trait_path::<f64>, trait_path_grad::<f64>),
                        (concrete, concrete_grad),
                    ],
                    &[(method::<f32>, method_grad::<f32>), (path::<f32>, path_grad::<f32>)],
                    true,
                );
            }
        }
    )*};
}

unary! {
    exp in (-3.0, 3.0) => |x| x.exp();
    exp2 in (-3.0, 3.0) => |x| x.exp2() * LN_2;
    exp_m1 in (-3.0, 3.0) => |x| x.exp();
    ln in (0.1, 5.0) => |x| 1.0 / x;
    ln_1p in (-0.9, 5.0) => |x| 1.0 / (1.0 + x);
    log2 in (0.1, 5.0) => |x| 1.0 / (x * LN_2);
    log10 in (0.1, 5.0) => |x| 1.0 / (x * LN_10);
    sqrt in (0.1, 5.0) => |x| 0.5 / x.sqrt();
    cbrt in (0.1, 5.0) => |x| 1.0 / (3.0 * x.cbrt().powi(2));
    recip in (0.5, 5.0) => |x| -1.0 / (x * x);
    sin in (-3.0, 3.0) => |x| x.cos();
    cos in (-3.0, 3.0) => |x| -x.sin();
    tan in (-1.2, 1.2) => |x| 1.0 / x.cos().powi(2);
    asin in (-0.9, 0.9) => |x| 1.0 / (1.0 - x * x).sqrt();
    acos in (-0.9, 0.9) => |x| -1.0 / (1.0 - x * x).sqrt();
    atan in (-3.0, 3.0) => |x| 1.0 / (1.0 + x * x);
    sinh in (-2.0, 2.0) => |x| x.cosh();
    cosh in (-2.0, 2.0) => |x| x.sinh();
    tanh in (-2.0, 2.0) => |x| 1.0 - x.tanh().powi(2);
    asinh in (-3.0, 3.0) => |x| 1.0 / (x * x + 1.0).sqrt();
    acosh in (1.1, 4.0) => |x| 1.0 / (x * x - 1.0).sqrt();
    atanh in (-0.9, 0.9) => |x| 1.0 / (1.0 - x * x);
    abs in (-3.0, 3.0) => |x| x.signum();
    fract in (0.1, 0.9) => |x| { let _ = x; 1.0 };
    to_degrees in (-3.0, 3.0) => |x| { let _ = x; 180.0 / PI };
    to_radians in (-90.0, 90.0) => |x| { let _ = x; PI / 180.0 };
}

/// Piecewise-constant functions: gradient 0 (finite differences would see
/// the jumps, so only the closed form and the value are checked).
macro_rules! flat {
    ($($m:ident),*) => {$(
        mod $m {
            use super::*;

            #[differentiable]
            pub fn method<T: Float>(x: T) -> T {
                x.$m()
            }

            #[test]
            fn gradient_is_zero() {
                check_unary(stringify!($m), (-3.0, 3.0), |_| 0.0,
                    &[(method::<f64>, method_grad::<f64>)], &[(method::<f32>, method_grad::<f32>)], false);
                assert_eq!(method_grad(0.0), (0.0_f64.$m(), 0.0));
            }
        }
    )*};
}

flat!(signum, floor, ceil, round, trunc);

#[test]
fn abs_is_flat_at_zero() {
    assert_eq!(abs::method_grad(0.0), (0.0, 0.0));
    assert_eq!(abs::method_grad(-0.0_f32), (0.0, 0.0));
}

// Integer powers, the exponent a literal or a parameter.
#[differentiable]
fn powi_param<T: Float>(x: T, n: i32) -> T {
    x.powi(n)
}

#[differentiable]
fn powi_literals<T: Float>(x: T) -> T {
    x.powi(0) + x.powi(1) + x.powi(2) + T::powi(x, 3) + x.powi(-2)
}

#[test]
fn powi() {
    let mut rng = Rng::new(11);
    for _ in 0..POINTS {
        let x = rng.uniform(0.2, 3.0);
        for n in -3..=4 {
            let (v, d) = powi_param_grad(x, n);
            assert_eq!(v, x.powi(n));
            let want = if n == 0 {
                0.0
            } else {
                n as f64 * x.powi(n - 1)
            };
            assert!(close(d, want, 1e-12), "powi({x}, {n})' = {d}, want {want}");
            let (_, d32) = powi_param_grad(x as f32, n);
            assert!(close(d32 as f64, want, 1e-4));
        }
        let (_, d) = powi_literals_grad(x);
        let want = 1.0 + 2.0 * x + 3.0 * x * x - 2.0 / x.powi(3);
        assert!(close(d, want, 1e-12));
        assert_gradient(
            "powi",
            |p: &[f32]| powi_literals(p[0]),
            &[x as f32],
            &[powi_literals_grad(x as f32).1],
            2e-2,
        );
    }
    // x^0 is flat, also at 0.
    assert_eq!(powi_param_grad(0.0, 0), (1.0, 0.0));
}

/// Two-input primitives: the closed-form partials, finite differences, and
/// the same variable on both sides.
fn check_binary(
    name: &str,
    (lo, hi): (f64, f64),
    closed: fn(f64, f64) -> (f64, f64),
    f64s: (fn(f64, f64) -> f64, fn(f64, f64) -> (f64, (f64, f64))),
    f32s: (fn(f32, f32) -> f32, fn(f32, f32) -> (f32, (f32, f32))),
    same: (fn(f64) -> f64, fn(f64) -> (f64, f64)),
) {
    let mut rng = Rng::new(name.len() as u64 * 104_729);
    for _ in 0..POINTS {
        let (a, b) = (rng.uniform(lo, hi), rng.uniform(lo, hi));
        let (want_a, want_b) = closed(a, b);
        let (v, (da, db)) = f64s.1(a, b);
        assert_eq!(v.to_bits(), f64s.0(a, b).to_bits());
        assert!(
            close(da, want_a, 1e-12) && close(db, want_b, 1e-12),
            "{name}({a}, {b}): ({da}, {db}) vs ({want_a}, {want_b})"
        );
        assert_gradient(
            name,
            |p: &[f64]| f64s.0(p[0], p[1]),
            &[a, b],
            &[da, db],
            tolerance::<f64>(),
        );

        let (a32, b32) = (a as f32, b as f32);
        let (_, (da, db)) = f32s.1(a32, b32);
        let (want_a, want_b) = closed(a32 as f64, b32 as f64);
        assert!(
            close(da as f64, want_a, 1e-4) && close(db as f64, want_b, 1e-4),
            "{name} in f32"
        );
        assert_gradient(
            name,
            |p: &[f32]| f32s.0(p[0], p[1]),
            &[a32, b32],
            &[da, db],
            tolerance::<f32>(),
        );

        let (_, d) = same.1(a);
        let (pa, pb) = closed(a, a);
        assert!(
            close(d, pa + pb, 1e-12),
            "{name}(x, x)' = {d}, want {}",
            pa + pb
        );
        assert_gradient(
            name,
            |p: &[f64]| same.0(p[0]),
            &[a],
            &[d],
            tolerance::<f64>(),
        );
    }
}

macro_rules! binary {
    ($($name:ident($a:ident, $b:ident) = $e:expr, in ($lo:expr, $hi:expr) => $closed:expr;)*) => {$(
        mod $name {
            use super::*;

            #[differentiable]
            pub fn two<T: Float>($a: T, $b: T) -> T {
                $e
            }

            #[differentiable]
            pub fn same<T: Float>(x: T) -> T {
                let ($a, $b) = (x, x);
                $e
            }

            #[test]
            fn gradient() {
                check_binary(
                    stringify!($name),
                    ($lo, $hi),
                    |$a: f64, $b: f64| $closed,
                    (two::<f64>, two_grad::<f64>),
                    (two::<f32>, two_grad::<f32>),
                    (same::<f64>, same_grad::<f64>),
                );
            }
        }
    )*};
}

binary! {
    add(a, b) = a + b, in (-3.0, 3.0) => { let _ = (a, b); (1.0, 1.0) };
    sub(a, b) = a - b, in (-3.0, 3.0) => { let _ = (a, b); (1.0, -1.0) };
    mul(a, b) = a * b, in (-3.0, 3.0) => (b, a);
    div(a, b) = a / b, in (0.5, 3.0) => (1.0 / b, -a / (b * b));
    powf(a, b) = a.powf(b), in (0.5, 2.5) => (b * a.powf(b - 1.0), a.powf(b) * a.ln());
    log(a, b) = a.log(b), in (1.5, 4.0) => (1.0 / (a * b.ln()), -a.ln() / (b * b.ln() * b.ln()));
    atan2(a, b) = a.atan2(b), in (-3.0, 3.0) => (b / (a * a + b * b), -a / (a * a + b * b));
    hypot(a, b) = T::hypot(a, b), in (-3.0, 3.0) => (a / a.hypot(b), b / a.hypot(b));
    max(a, b) = a.max(b), in (-3.0, 3.0) => if a >= b { (1.0, 0.0) } else { (0.0, 1.0) };
    min(a, b) = Float::min(a, b), in (-3.0, 3.0) => if a <= b { (1.0, 0.0) } else { (0.0, 1.0) };
}

// The same variable on both sides of max routes once (ties: the first).
#[test]
fn max_and_min_tie_conventions() {
    assert_eq!(max::two_grad(1.0, 1.0), (1.0, (1.0, 0.0)));
    assert_eq!(min::two_grad(1.0_f32, 1.0), (1.0, (1.0, 0.0)));
    // A NaN loses, as in `f64::max`.
    assert_eq!(max::two_grad(f64::NAN, 2.0), (2.0, (0.0, 1.0)));
    assert_eq!(max::two_grad(2.0, f64::NAN), (2.0, (1.0, 0.0)));
}

#[test]
fn conventions_at_non_differentiable_points() {
    assert_eq!(hypot::two_grad(0.0, 0.0), (0.0, (0.0, 0.0)));
    // d/db a^b at a = 0 is the limit from the right: 0.
    assert_eq!(powf::two_grad(0.0, 2.0), (0.0, (0.0, 0.0)));
}

#[differentiable]
fn mul_add<T: Float>(a: T, b: T, c: T) -> T {
    a.mul_add(b, c)
}

#[differentiable]
fn clamp<T: Float>(x: T, lo: T, hi: T) -> T {
    x.clamp(lo, hi)
}

#[test]
fn ternary() {
    let mut rng = Rng::new(5);
    for _ in 0..POINTS {
        let p = rng.point(3, -3.0, 3.0);
        let (v, g) = mul_add_grad(p[0], p[1], p[2]);
        assert_eq!(v, p[0].mul_add(p[1], p[2]));
        assert_eq!(g, (p[1], p[0], 1.0));
        assert_gradient(
            "mul_add",
            |q: &[f64]| mul_add(q[0], q[1], q[2]),
            &p,
            &[g.0, g.1, g.2],
            1e-6,
        );
        let q: Vec<f32> = p.iter().map(|&v| v as f32).collect();
        let (_, g) = mul_add_grad(q[0], q[1], q[2]);
        assert_gradient(
            "mul_add",
            |r: &[f32]| mul_add(r[0], r[1], r[2]),
            &q,
            &[g.0, g.1, g.2],
            2e-2,
        );
    }
    // clamp routes to whichever of the three it returned.
    assert_eq!(clamp_grad(0.5, 0.0, 1.0), (0.5, (1.0, 0.0, 0.0)));
    assert_eq!(clamp_grad(-0.5, 0.0, 1.0), (0.0, (0.0, 1.0, 0.0)));
    assert_eq!(clamp_grad(1.5_f32, 0.0, 1.0), (1.0, (0.0, 0.0, 1.0)));
    assert_eq!(clamp_grad(1.0, 0.0, 1.0), (1.0, (1.0, 0.0, 0.0)));
}

// sin_cos gives both, and their gradients add up.
#[differentiable]
fn sin_cos<T: Float>(x: T) -> T {
    let (s, c) = x.sin_cos();
    s * 2.0 + c
}

#[test]
fn sin_cos_pair() {
    let mut rng = Rng::new(9);
    for _ in 0..POINTS {
        let x = rng.uniform(-3.0, 3.0);
        let (_, d) = sin_cos_grad(x);
        assert!(close(d, 2.0 * x.cos() - x.sin(), 1e-12));
        assert_gradient(
            "sin_cos",
            |p: &[f32]| sin_cos(p[0]),
            &[x as f32],
            &[sin_cos_grad(x as f32).1],
            2e-2,
        );
    }
}

#[differentiable]
fn rem<T: Float>(a: T, b: T) -> T {
    a % b
}

#[differentiable]
fn rem_assign<T: Float + std::ops::RemAssign>(a: T, b: T) -> T {
    let mut r = a * a;
    r %= b;
    r
}

// `%` jumps where a / b is a whole number: points stay 0.1 away from one,
// with |b| >= 1, so that finite differences (f32 steps by 5e-3) do not cross a jump.
#[test]
fn remainder() {
    let mut rng = Rng::new(77);
    let mut checked = 0;
    while checked < POINTS {
        let (a, b) = (rng.uniform(-5.0, 5.0), rng.uniform(-3.0, 3.0));
        let q = a / b;
        let q2 = a * a / b;
        if b.abs() < 1.0 || (q - q.round()).abs() < 0.1 || (q2 - q2.round()).abs() < 0.1 {
            continue;
        }
        checked += 1;
        let (v, (da, db)) = rem_grad(a, b);
        assert_eq!(v.to_bits(), (a % b).to_bits());
        assert_eq!((da, db), (1.0, -q.trunc()), "{a} % {b}");
        assert_gradient(
            "rem",
            |p: &[f64]| rem(p[0], p[1]),
            &[a, b],
            &[da, db],
            tolerance::<f64>(),
        );
        let (a32, b32) = (a as f32, b as f32);
        let (_, (da, db)) = rem_grad(a32, b32);
        assert_gradient(
            "rem f32",
            |p: &[f32]| rem(p[0], p[1]),
            &[a32, b32],
            &[da, db],
            tolerance::<f32>(),
        );
        let (_, (da, db)) = rem_assign_grad(a, b);
        assert_eq!((da, db), (2.0 * a, -q2.trunc()), "{a}^2 %= {b}");
    }
}
