use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(x: T) -> &'static T {
    x
}

fn main() {}
