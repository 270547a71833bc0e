use tapeless::{differentiable, Float};

#[differentiable]
fn double<T: Float>(x: &[T]) -> Vec<T> {
    let mut y = vec![T::zero(); x.len()];
    for i in 0..x.len() {
        y[i] = x[i] * 2.0;
    }
    y
}

#[differentiable]
fn f<T: Float>(x: &[T]) -> T {
    let y = double(x);
    y[0] + y[1]
}

fn main() {}
