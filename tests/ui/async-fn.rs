use tapeless::{differentiable, Float};

#[differentiable]
async fn f<T: Float>(x: T) -> T {
    x * x
}

fn main() {}
