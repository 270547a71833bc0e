//! `if`/`else` as statements and expressions, else-if chains, early
//! returns: gradients at points on both sides of every condition, against
//! closed forms and finite differences, in f64 and f32.

// The lecture's code indexes in loops; so do these tests.
#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, close, tolerance, Rng};
use tapeless::{differentiable, Float};

// A statement `if` assigning a variable declared before it.
#[differentiable]
fn statement_if<T: Float>(x: T, y: T) -> T {
    let mut r = x;
    if x > y {
        r = x * y;
    } else {
        r = r + y.exp();
    }
    r * 2.0
}

// An `if` expression, and an else-if chain.
#[differentiable]
fn piecewise<T: Float>(x: T) -> T {
    let y = if x < -1.0 {
        -x
    } else if x < 1.0 {
        x * x * 0.5 + 0.5
    } else {
        x.ln() + 1.0
    };
    y * 3.0
}

// Early returns, nested.
#[differentiable]
fn early<T: Float>(x: T, y: T) -> T {
    if x < 0.0 {
        if y < 0.0 {
            return x * y;
        }
        return -x;
    }
    let z = x.sqrt();
    z + y
}

// A condition on a constant parameter, and on a comparison of products.
#[differentiable(wrt(x))]
fn flagged<T: Float>(x: T, square: bool) -> T {
    if square && x * x > 0.25 {
        x * x
    } else {
        x.sin()
    }
}

fn statement_if_by_hand(x: f64, y: f64) -> (f64, f64) {
    if x > y {
        (2.0 * y, 2.0 * x)
    } else {
        (2.0, 2.0 * y.exp())
    }
}

#[test]
fn both_sides_of_a_condition() {
    assert_eq!(statement_if_grad(3.0, 2.0), (12.0, (4.0, 6.0)));
    let mut rng = Rng::new(21);
    for _ in 0..50 {
        let (x, y) = (rng.uniform(-2.0, 2.0), rng.uniform(-2.0, 2.0));
        let (v, (dx, dy)) = statement_if_grad(x, y);
        assert_eq!(v, statement_if(x, y));
        let (hx, hy) = statement_if_by_hand(x, y);
        assert!(close(dx, hx, 1e-12) && close(dy, hy, 1e-12));
        if (x - y).abs() > 1e-3 {
            assert_gradient(
                "statement_if",
                |p: &[f64]| statement_if(p[0], p[1]),
                &[x, y],
                &[dx, dy],
                1e-5,
            );
            let (_, (fx, fy)) = statement_if_grad(x as f32, y as f32);
            assert_gradient(
                "statement_if f32",
                |p: &[f32]| statement_if(p[0], p[1]),
                &[x as f32, y as f32],
                &[fx, fy],
                2e-2,
            );
        }
    }
}

#[test]
fn else_if_chain() {
    for (x, want) in [(-2.0, -3.0), (0.5, 1.5), (2.0, 1.5)] {
        let (_, d) = piecewise_grad(x);
        assert!(close(d, want, 1e-12), "piecewise'({x}) = {d}, want {want}");
    }
    let mut rng = Rng::new(22);
    for _ in 0..50 {
        let x = rng.uniform(-3.0, 3.0);
        if (x.abs() - 1.0).abs() < 1e-2 {
            continue;
        }
        let (_, d) = piecewise_grad(x);
        assert_gradient(
            "piecewise",
            |p: &[f64]| piecewise(p[0]),
            &[x],
            &[d],
            tolerance::<f64>(),
        );
        let (_, d32) = piecewise_grad(x as f32);
        assert_gradient(
            "piecewise f32",
            |p: &[f32]| piecewise(p[0]),
            &[x as f32],
            &[d32],
            tolerance::<f32>(),
        );
    }
}

#[test]
fn early_returns() {
    assert_eq!(early_grad(-2.0, -3.0), (6.0, (-3.0, -2.0)));
    assert_eq!(early_grad(-2.0, 3.0), (2.0, (-1.0, 0.0)));
    assert_eq!(early_grad(4.0, 3.0), (5.0, (0.25, 1.0)));
    let mut rng = Rng::new(23);
    for _ in 0..50 {
        let (x, y) = (rng.uniform(-2.0, 2.0), rng.uniform(-2.0, 2.0));
        if x.abs() < 1e-2 || y.abs() < 1e-2 {
            continue;
        }
        let (_, (dx, dy)) = early_grad(x, y);
        assert_gradient(
            "early",
            |p: &[f64]| early(p[0], p[1]),
            &[x, y],
            &[dx, dy],
            tolerance::<f64>(),
        );
    }
}

#[test]
fn conditions_on_constants() {
    let (_, d) = flagged_grad(1.0, true);
    assert_eq!(d, 2.0);
    let (_, d) = flagged_grad(1.0, false);
    assert!(close(d, 1.0f64.cos(), 1e-15));
    let (_, d) = flagged_grad(0.1_f32, true);
    assert!(close(d as f64, 0.1f64.cos(), 1e-6));
}
