use tapeless::{differentiable, Float};

type Real = f64;

#[differentiable(float = Real)]
fn f<T: Float>(x: T) -> T {
    x * x
}

fn main() {}
