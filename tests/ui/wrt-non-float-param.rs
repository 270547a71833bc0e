use tapeless::{differentiable, Float};

#[differentiable(wrt(n))]
fn f<T: Float>(x: T, n: i32) -> T {
    x.powi(n)
}

fn main() {}
