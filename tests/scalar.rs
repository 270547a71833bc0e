//! Straight-line code: the lecture's scalar examples with their exact numbers,
//! then property tests against finite differences in f32 and f64.

mod common;

use common::{assert_gradient, cast, close, tolerance, Rng};
use tapeless::{differentiable, Float};

// The lecture's first circuit: f(x, y, z) = (x + y) z.
#[differentiable]
fn circuit<T: Float>(x: T, y: T, z: T) -> T {
    let q = x + y;
    q * z
}

#[test]
fn circuit_known_answer() {
    assert_eq!(circuit(-2.0, 5.0, -4.0), -12.0);
    let (f, (dx, dy, dz)) = circuit_grad(-2.0, 5.0, -4.0);
    assert_eq!((f, dx, dy, dz), (-12.0, -4.0, -4.0, 3.0));
    let (f, (dx, dy, dz)) = circuit_grad(-2.0f32, 5.0, -4.0);
    assert_eq!((f, dx, dy, dz), (-12.0, -4.0, -4.0, 3.0));
}

#[test]
fn pullback_scales_with_the_upstream_gradient() {
    let (f, back) = circuit_forward(-2.0_f32, 5.0, -4.0);
    assert_eq!(f, -12.0);
    assert_eq!(back(1.0), (-4.0, -4.0, 3.0));
    assert_eq!(back(-0.5), (2.0, 2.0, -1.5));
}

// The sigmoid neuron: f(w, x) = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))).
#[differentiable]
fn neuron<T: Float>(w0: T, x0: T, w1: T, x1: T, w2: T) -> T {
    let dot = w0 * x0 + w1 * x1 + w2;
    1.0 / (1.0 + (-dot).exp())
}

#[test]
fn neuron_known_answer() {
    let (f, (dw0, dx0, dw1, dx1, dw2)) = neuron_grad(2.0, -1.0, -3.0, -2.0, -3.0);
    let want = [
        (f, 0.7311),
        (dw0, -0.1966),
        (dw1, -0.3932),
        (dw2, 0.1966),
        (dx0, 0.3932),
        (dx1, -0.5898),
    ];
    for (got, want) in want {
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }
    // The closed form: df/d(dot) = f (1 - f).
    let local = f * (1.0 - f);
    assert!(close(dw0, -local, 1e-12) && close(dx1, -3.0 * local, 1e-12));
}

// The lecture's gates: add distributes, mul swaps, max routes.
#[differentiable]
fn gates<T: Float>(x: T, y: T, z: T, w: T) -> T {
    2.0 * (x * y + z.max(w))
}

#[test]
fn gates_known_answer() {
    let (f, grads) = gates_grad(3.0, -4.0, 2.0, -1.0);
    assert_eq!(f, -20.0);
    assert_eq!(grads, (-8.0, 6.0, 2.0, 0.0));
    // max routes to the first argument on ties.
    assert_eq!(gates_grad(3.0_f32, -4.0, 1.0, 1.0).1, (-8.0, 6.0, 2.0, 0.0));
}

fn check_circuits<T: Float + std::fmt::Display>(seed: u64) {
    let mut rng = Rng::new(seed);
    for _ in 0..20 {
        let p = cast::<T>(&rng.point(5, -2.0, 2.0));
        let (_, g) = circuit_grad(p[0], p[1], p[2]);
        assert_gradient(
            "circuit",
            |v| circuit(v[0], v[1], v[2]),
            &p[..3],
            &[g.0, g.1, g.2],
            tolerance::<T>(),
        );
        let (_, g) = neuron_grad(p[0], p[1], p[2], p[3], p[4]);
        assert_gradient(
            "neuron",
            |v| neuron(v[0], v[1], v[2], v[3], v[4]),
            &p,
            &[g.0, g.1, g.2, g.3, g.4],
            tolerance::<T>(),
        );
    }
}

#[test]
fn circuits_match_finite_differences() {
    check_circuits::<f64>(1);
    check_circuits::<f32>(2);
}

// Every way of writing straight-line code.
#[differentiable]
#[allow(clippy::needless_return)] // `return` is one of the ways
fn styles<F: tapeless::Float + std::fmt::Debug>(x: F, y: F) -> F {
    let mut acc = F::zero();
    acc += x * y;
    acc -= 0.5 * y;
    acc *= 1.5;
    acc /= 2.0;
    let x = x.powi(2); // shadowing
    let t: F = F::from(3).unwrap() * x;
    let (s, c) = y.sin_cos();
    let z = {
        let inner = s * c;
        inner + t
    };
    acc = acc + z - (-x) + F::one();
    return acc;
}

fn styles_by_hand(x: f64, y: f64) -> (f64, f64) {
    // acc = (x y - y/2) * 1.5 / 2 + sin y cos y + 3 x^2 + x^2 + 1
    let dx = 0.75 * y + 8.0 * x;
    let dy = 0.75 * (x - 0.5) + (2.0 * y).cos();
    (dx, dy)
}

#[test]
fn every_straight_line_style() {
    let mut rng = Rng::new(3);
    for _ in 0..20 {
        let (x, y) = (rng.uniform(-2.0, 2.0), rng.uniform(-2.0, 2.0));
        let (v, (dx, dy)) = styles_grad(x, y);
        assert_eq!(v, styles(x, y));
        let (hx, hy) = styles_by_hand(x, y);
        assert!(
            close(dx, hx, 1e-12) && close(dy, hy, 1e-12),
            "({dx}, {dy}) vs ({hx}, {hy})"
        );
        let (_, (fx, fy)) = styles_grad(x as f32, y as f32);
        assert!(close(fx as f64, hx, 1e-4) && close(fy as f64, hy, 1e-4));
    }
}

// `where` bounds, written-out f64, constants, wrt.
#[differentiable(wrt(b))]
fn scaled<T>(a: T, b: T, n: usize) -> T
where
    T: Float,
{
    let k = T::from(n).unwrap();
    a * b * k
}

#[differentiable]
fn concrete(x: f64, n: i32) -> f64 {
    const HALF: f64 = 0.5;
    x.powi(n) * HALF
}

#[test]
fn constants_and_wrt() {
    let (v, db) = scaled_grad(2.0, 3.0, 4);
    assert_eq!((v, db), (24.0, 8.0));
    let (v, dx) = concrete_grad(3.0, 3);
    assert_eq!((v, dx), (13.5, 13.5));
    let (v, dx) = concrete_grad(3.0, 0);
    assert_eq!((v, dx), (0.5, 0.0));
}

// A tuple output: the pullback takes one upstream gradient per output.
#[differentiable]
fn polar<T: Float>(r: T, theta: T) -> (T, T) {
    (r * theta.cos(), r * theta.sin())
}

#[test]
fn tuple_output_pullback_is_a_jacobian_row() {
    let (r, t) = (2.0_f64, 0.3_f64);
    let ((x, y), back) = polar_forward(r, t);
    assert!(close(x, r * t.cos(), 1e-15) && close(y, r * t.sin(), 1e-15));
    // Rows of the Jacobian of (x, y) with respect to (r, theta).
    let (dr, dt) = back((1.0, 0.0));
    assert!(close(dr, t.cos(), 1e-15) && close(dt, -r * t.sin(), 1e-15));
    let (dr, dt) = back((0.0, 1.0));
    assert!(close(dr, t.sin(), 1e-15) && close(dt, r * t.cos(), 1e-15));
}

// An output that does not depend on the input, and an input not used.
#[differentiable]
fn flat<T: Float>(x: T, y: T) -> T {
    x.floor() + 2.0 + y - y
}

#[test]
fn flat_functions_have_zero_gradient() {
    assert_eq!(flat_grad(1.5, 3.0), (3.0, (0.0, 0.0)));
}
