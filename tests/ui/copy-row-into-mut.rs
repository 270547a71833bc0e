use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(w: &[Vec<T>]) -> T {
    let mut r = w[0].to_vec();
    r[0] = r[0] * 2.0;
    r[0] + w[0][0]
}

fn main() {}
