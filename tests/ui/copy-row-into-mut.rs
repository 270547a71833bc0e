use tapeless::{differentiable, Float};

// A row reached through a reference; `let mut r = w[0].to_vec();` and a
// loop's `row.to_vec()` are supported.
#[differentiable]
fn f<T: Float>(w: &[Vec<T>]) -> T {
    let first = &w[0];
    let mut r = first.to_vec();
    r[0] = r[0] * 2.0;
    r[0] + w[0][0]
}

fn main() {}
