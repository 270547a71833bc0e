//! Differentiable fns across modules: called by path, after `use`, and the
//! toolkit after `use tapeless::..`.

mod activations {
    use tapeless::{differentiable, Float};

    #[differentiable]
    pub fn softplus<T: Float>(x: T) -> T {
        (T::one() + x.exp()).ln()
    }
}

mod model {
    use super::activations::softplus;
    use tapeless::{differentiable, dot, Float};

    #[differentiable]
    pub fn score<T: Float>(w: &[T], x: &[T]) -> T {
        softplus(dot(w, x)) + crate::activations::softplus(w[0])
    }
}

#[test]
fn calls_across_modules() {
    let (w, x) = ([0.5, -1.0], [2.0, 1.0]);
    let (_, (dw, dx)) = model::score_grad(&w, &x);
    let s = |z: f64| 1.0 / (1.0 + (-z).exp());
    let z: f64 = w[0] * x[0] + w[1] * x[1];
    assert!((dw[0] - (s(z) * x[0] + s(w[0]))).abs() < 1e-12);
    assert!((dw[1] - s(z) * x[1]).abs() < 1e-12);
    assert!((dx[0] - s(z) * w[0]).abs() < 1e-12 && (dx[1] - s(z) * w[1]).abs() < 1e-12);
}
