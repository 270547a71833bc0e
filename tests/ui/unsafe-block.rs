use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(x: T) -> T {
    let y = unsafe { x };
    y * x
}

fn main() {}
