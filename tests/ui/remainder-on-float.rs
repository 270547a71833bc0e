use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(x: T, period: T) -> T {
    x % period
}

fn main() {}
