use tapeless::{differentiable, Float};

#[differentiable]
fn trio<T: Float>(x: T) -> (T, T, T) {
    (x, x * x, x.exp())
}

#[differentiable]
fn f<T: Float>(x: T) -> T {
    let (.., last) = trio(x);
    last
}

fn main() {}
