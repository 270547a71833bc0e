use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(x: T) -> T {
    let Some(y) = Some(x) else { return x };
    y
}

fn main() {}
