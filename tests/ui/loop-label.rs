use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    'outer: for i in 0..x.len() {
        for j in 0..x.len() {
            if j > i {
                continue 'outer;
            }
            s += x[i] * x[j];
        }
    }
    s
}

fn main() {}
