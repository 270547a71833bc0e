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
fn total<T: Float>(x: Vec<T>) -> T {
    x[0] + x[1]
}

// A call's result used as an array later (`y[0]`, `&y`, `y.iter()`) is
// taken as one, and one only passed on whole to calls is what the callee
// returns; bound again to another name, it is taken for a float.
#[differentiable]
fn f<T: Float>(x: &[T]) -> T {
    let y = double(x);
    let z = y;
    total(z)
}

fn main() {}
