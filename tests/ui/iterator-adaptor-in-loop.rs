use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(x: &[T], y: &[T]) -> T {
    let mut s = T::zero();
    for v in x.iter().chain(y.iter()) {
        s += *v;
    }
    s
}

fn main() {}
