use tapeless::{differentiable, Float};

// Arrays of one dimension the fn made are copied element by element when
// assigned whole; a matrix is not.
#[differentiable]
fn f<T: Float>(x: T, y: T, w: [[T; 2]; 2]) -> T {
    let mut m = [[x; 2]; 2];
    let a = m[0][0];
    m = w;
    m[0][1] * a * y
}

fn main() {}
