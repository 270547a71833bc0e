use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float, const N: usize>(x: [T; N]) -> T {
    let mut y = x;
    y[0] = y[0] * 2.0;
    y[0] + x[0]
}

#[differentiable]
fn g<T: Float>(x: &[T]) -> T {
    let mut y = x.to_vec();
    y[0] = y[0] * 2.0;
    y[0] + x[0]
}

fn main() {}
