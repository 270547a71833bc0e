use tapeless::{differentiable, Float};

#[differentiable(order = 2)]
fn f<T: Float>(x: T) -> T {
    x * x
}

fn main() {}
