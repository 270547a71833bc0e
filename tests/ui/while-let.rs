use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(x: T, steps: Option<usize>) -> T {
    let mut y = x;
    while let Some(n) = steps {
        y = y * 2.0;
    }
    y
}

fn main() {}
