use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(x: &mut [T]) -> T {
    x[0] = x[0] * 2.0;
    x[0]
}

fn main() {}
