//! A float type named by an alias (`type Real = f64;`), which the macro
//! cannot see through, given in the attribute: `#[differentiable(float =
//! Real)]`, with `wrt(..)` too, arrays of it, calls between such fns, an
//! alias of `f32`, and `#[custom_gradient(float = Real)]`. Checked against
//! finite differences and closed forms.

#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, close, Rng};
use tapeless::{custom_gradient, differentiable};

type Real = f64;
type Single = f32;

#[differentiable(float = Real)]
fn wave(x: Real, y: Real) -> Real {
    x * y.sin() + 0.5 * x * x
}

#[differentiable(float = Real, wrt(x, w))]
fn weighted(x: &[Real], w: [Real; 2], k: usize) -> Real {
    let mut s: Real = 0.0;
    for i in 0..x.len() {
        s += x[i] * w[i % 2] * k as Real;
    }
    s + wave(s, w[0])
}

#[differentiable(float = Single)]
fn single(x: &[Single]) -> Single {
    x.iter().map(|&v| v * v).fold(0.0, |a, b| a + b).sqrt()
}

#[test]
fn aliases_of_f64() {
    let mut rng = Rng::new(141);
    for _ in 0..10 {
        let p = rng.point(5, -1.0, 1.0);
        let (_, (gx, gw)) = weighted_grad(&p[..3], [p[3], p[4]], 2);
        let g = [gx, gw.to_vec()].concat();
        assert_gradient(
            "weighted",
            |q: &[f64]| weighted(&q[..3], [q[3], q[4]], 2),
            &p,
            &g,
            1e-6,
        );
    }
    // d/dx = sin y + x, d/dy = x cos y.
    let (v, (dx, dy)) = wave_grad(1.5, 0.5);
    assert!(close(v, wave(1.5, 0.5), 1e-15));
    assert!(close(dx, 0.5f64.sin() + 1.5, 1e-12) && close(dy, 1.5 * 0.5f64.cos(), 1e-12));
}

#[test]
fn an_alias_of_f32() {
    let (v, g) = single_grad(&[3.0, 4.0]);
    assert_eq!(v, 5.0);
    assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6);
    let mut rng = Rng::new(142);
    for _ in 0..10 {
        let p: Vec<f32> = rng.point(3, 0.2, 1.0).iter().map(|&v| v as f32).collect();
        let (_, g) = single_grad(&p);
        assert_gradient("single", |q: &[f32]| single(q), &p, &g, 2e-2);
    }
}

/// A hand-written rule in the aliased type: softplus, whose derivative is
/// the logistic function.
#[custom_gradient(float = Real)]
fn softplus_forward(x: Real) -> (Real, impl Fn(Real) -> Real) {
    let y = (1.0 + x.exp()).ln();
    (y, move |g: Real| g / (1.0 + (-x).exp()))
}

#[differentiable(float = Real)]
fn through_custom(x: Real, y: Real) -> Real {
    softplus(x * y) + y
}

#[test]
fn custom_gradient_of_an_alias() {
    let s = |v: f64| 1.0 / (1.0 + (-v).exp());
    let (x, y) = (0.4, -1.2);
    let (v, (dx, dy)) = through_custom_grad(x, y);
    assert!(close(v, (1.0 + (x * y).exp()).ln() + y, 1e-15));
    assert!(close(dx, s(x * y) * y, 1e-12) && close(dy, s(x * y) * x + 1.0, 1e-12));
}
