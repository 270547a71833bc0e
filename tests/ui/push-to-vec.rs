use tapeless::{differentiable, Float};

// One push per iteration of the loop after `Vec::new()`, or one under an
// `if`, fills it by position; a loop that may stop early cannot be
// followed.
#[differentiable]
fn f<T: Float>(x: &[T]) -> Vec<T> {
    let mut out = Vec::new();
    for &v in x {
        if v > 5.0 {
            break;
        }
        out.push(v * 2.0);
    }
    out
}

// A constant changed in place would be read as it was made.
#[differentiable]
fn g<T: Float>(x: &[T]) -> T {
    let mut idx: Vec<usize> = Vec::new();
    for i in 0..x.len() {
        if i % 2 == 0 {
            idx.push(i);
        }
    }
    let mut total = T::zero();
    for &i in &idx {
        total = total + x[i];
    }
    total
}

fn main() {}
