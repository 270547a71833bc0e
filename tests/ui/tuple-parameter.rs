use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(point: (T, T)) -> T {
    point.0 * point.1
}

fn main() {}
