use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(x: &[T]) -> Vec<T> {
    let mut out = Vec::new();
    for &v in x {
        out.push(v * 2.0);
    }
    out
}

fn main() {}
