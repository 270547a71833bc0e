use tapeless::{differentiable, Float};

// A return inside a loop is fine for float and tuple outputs; an array
// output returns at the end.
#[differentiable]
fn f<T: Float>(x: &[T]) -> Vec<T> {
    let mut y = vec![T::zero(); x.len()];
    for i in 0..x.len() {
        if x[i] > 1.0 {
            return y;
        }
        y[i] = x[i] * x[i];
    }
    y
}

fn main() {}
