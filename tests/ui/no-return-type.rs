use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(x: T) {
    let _ = x * x;
}

fn main() {}
