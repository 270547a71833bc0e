use tapeless::{differentiable, Float};

// `.map(..)` then `.sum()`, `.product()` or `.fold(..)` over what a `for`
// loop walks (`.chain(..)`, `.filter(..)`, `.take_while(..)` too) is
// accepted; other adaptors are not.
#[differentiable]
fn f<T: Float>(x: &[T]) -> T {
    x.iter().copied().filter_map(|v| (v > 0.0).then_some(v)).fold(T::zero(), |a, b| a + b)
}

#[differentiable]
fn g(x: &[f64], y: &[f64]) -> f64 {
    let total: f64 = x.iter().skip_while(|v| **v < 5.0).map(|v| v * y[0]).sum();
    total
}

fn main() {}
