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

// A push under a condition the loop changes: the items that pass cannot
// be counted before the loop.
#[differentiable]
fn h<T: Float>(x: &[T]) -> T {
    let mut out = Vec::new();
    let mut acc = T::zero();
    for &v in x.iter() {
        if acc < T::one() {
            out.push(v * 2.0);
        }
        acc = acc + v;
    }
    out[0]
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
