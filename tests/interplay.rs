//! Features together: calls of calls and of the toolkit with `wrt`, second
//! derivatives (duals) through them, concrete `f32` with arrays and toolkit.

#![allow(clippy::needless_range_loop)]
mod common;
use common::{assert_gradient, tolerance};
use tapeless::{differentiable, Dual, Float};

#[differentiable]
fn inner<T: Float>(a: &[T], b: &[T]) -> T {
    tapeless::dot(a, b).tanh()
}

#[differentiable(wrt(w))]
fn outer<T: Float>(w: &[T], x: &[T]) -> T {
    let s = inner(w, x);
    s * s + tapeless::log_sum_exp(w)
}

#[differentiable]
fn concrete32(w: [f32; 3], x: &[f32]) -> f32 {
    let mut s = 0.0;
    for i in 0..3 {
        s += w[i] * x[i];
    }
    let h: Vec<f32> = tapeless::relu(x);
    s + h[0]
}

#[test]
fn features_work_together() {
    let w = [0.3, -0.2, 0.5];
    let x = [1.0, 2.0, -1.0];
    let (_, g) = outer_grad(&w, &x);
    assert_gradient(
        "outer",
        |q: &[f64]| outer(q, &x),
        &w,
        &g,
        tolerance::<f64>(),
    );
    // Second derivatives through calls and the toolkit.
    let wd: Vec<Dual<f64>> = w.iter().map(|&v| Dual::new(v, 1.0)).collect();
    let xd: Vec<Dual<f64>> = x.iter().map(|&v| Dual::constant(v)).collect();
    let (_, gd) = outer_grad(&wd, &xd);
    let h = 1e-6;
    let wp: Vec<f64> = w.iter().map(|v| v + h).collect();
    let wm: Vec<f64> = w.iter().map(|v| v - h).collect();
    let (gp, gm) = (outer_grad(&wp, &x).1, outer_grad(&wm, &x).1);
    for i in 0..3 {
        let hv = (gp[i] - gm[i]) / (2.0 * h);
        assert!(
            (gd[i].eps - hv).abs() < 1e-5 * (1.0 + hv.abs()),
            "{} vs {hv}",
            gd[i].eps
        );
    }
    let (_, (gw, gx)) = concrete32_grad([0.5, 1.0, -1.0], &[1.0, 2.0, 3.0]);
    assert_eq!(gw, [1.0, 2.0, 3.0]);
    assert_eq!(gx, vec![1.5, 1.0, -1.0]);
}
