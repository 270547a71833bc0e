use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(x: &[T]) -> T {
    x.iter().copied().fold(T::zero(), |a, b| a + b)
}

#[differentiable]
fn g<T: Float>(x: &[T]) -> T {
    let total: T = x.iter().sum();
    total
}

fn main() {}
