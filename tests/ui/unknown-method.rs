use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(x: T) -> T {
    x.pow(2)
}

fn main() {}
