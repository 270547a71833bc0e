use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(x: T) -> T {
    let square = |v: T| v * v;
    square(x)
}

fn main() {}
