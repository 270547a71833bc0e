use tapeless::{differentiable, Float};

#[differentiable(wrt(x, z))]
fn f<T: Float>(x: T, y: T) -> T {
    x * y
}

fn main() {}
