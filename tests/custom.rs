//! Custom gradients: a hand-written `NAME_forward` marked
//! `#[custom_gradient]` is what `#[differentiable]` callers use. A rule that
//! differs from the true derivative on purpose proves it is the one used.

mod common;

use common::{assert_gradient, close, tolerance, Rng};
use tapeless::{custom_gradient, differentiable, Float};

// On purpose not the derivative of x^2 (which is 2x): 10 everywhere.
#[custom_gradient]
fn fake_square_forward<T: Float>(x: T) -> (T, impl Fn(T) -> T) {
    (x * x, |g: T| g * T::from(10.0).unwrap())
}

#[differentiable]
fn uses_fake<T: Float>(x: T, y: T) -> T {
    fake_square(x) * y + y
}

#[test]
fn the_custom_rule_is_the_one_used() {
    let (v, (dx, dy)) = uses_fake_grad(3.0, 2.0);
    assert_eq!(v, 20.0);
    // d/dx = 10 * y by the custom rule, not 2 x y = 12.
    assert_eq!((dx, dy), (20.0, 10.0));
    assert_eq!(fake_square_grad(3.0_f32), (9.0, 10.0));
    assert_eq!(fake_square(3.0), 9.0);
}

// A numerically stable log-sum-exp over a slice, written by hand: its
// pullback borrows the input, which callers need not care about.
#[custom_gradient]
fn stable_lse_forward<T: Float>(x: &[T]) -> (T, impl Fn(T) -> Vec<T> + '_) {
    let m = x.iter().fold(T::neg_infinity(), |m, &v| m.max(v));
    let s = x.iter().fold(T::zero(), |s, &v| s + (v - m).exp());
    let lse = m + s.ln();
    (lse, move |g: T| {
        x.iter().map(|&v| g * (v - lse).exp()).collect()
    })
}

#[differentiable]
fn cross_entropy<T: Float>(scores: &[T], label: usize) -> T {
    stable_lse(scores) - scores[label]
}

#[test]
fn a_stable_log_sum_exp_by_hand() {
    let mut rng = Rng::new(91);
    for _ in 0..20 {
        let s = rng.point(5, -3.0, 3.0);
        let label = (rng.next_u64() % 5) as usize;
        let (_, ds) = cross_entropy_grad(&s, label);
        assert_gradient(
            "cross_entropy",
            |q: &[f64]| cross_entropy(q, label),
            &s,
            &ds,
            tolerance::<f64>(),
        );
        let s32: Vec<f32> = s.iter().map(|&v| v as f32).collect();
        let (_, ds32) = cross_entropy_grad(&s32, label);
        assert_gradient(
            "cross_entropy f32",
            |q: &[f32]| cross_entropy(q, label),
            &s32,
            &ds32,
            tolerance::<f32>(),
        );
    }
    // Stable where the naive formula overflows.
    let (v, ds) = cross_entropy_grad(&[1000.0, 1000.0], 0);
    assert!(close(v, 2f64.ln(), 1e-12) && close(ds[0], -0.5, 1e-12));
}

// A function from "another library", wrapped with its known derivative.
mod other_library {
    pub fn softsign(x: f64) -> f64 {
        x / (1.0 + x.abs())
    }
}

#[custom_gradient]
fn softsign_forward(x: f64) -> (f64, impl Fn(f64) -> f64) {
    let d = 1.0 / (1.0 + x.abs()).powi(2);
    (other_library::softsign(x), move |g| g * d)
}

#[differentiable]
fn in_a_loop(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for &v in x {
        s += softsign(v * 2.0);
    }
    s
}

#[test]
fn a_foreign_function_in_a_loop() {
    let mut rng = Rng::new(92);
    for _ in 0..20 {
        let x = rng.point(4, -2.0, 2.0);
        let (_, g) = in_a_loop_grad(&x);
        assert_gradient(
            "in_a_loop",
            |q: &[f64]| in_a_loop(q),
            &x,
            &g,
            tolerance::<f64>(),
        );
    }
}
