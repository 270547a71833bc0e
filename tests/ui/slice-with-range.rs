use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(x: &[T]) -> T {
    let head = x[..2][0];
    head * x[1]
}

fn main() {}
