use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(x: T, scale: Option<f64>) -> T {
    let s = T::from(scale?).unwrap();
    x * s
}

fn main() {}
