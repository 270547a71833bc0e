use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(x: &[T]) -> T {
    let mut y = x.to_vec();
    let mut s = T::zero();
    for v in y.iter_mut() {
        let w = v;
        s = s + *w;
    }
    s + y[0]
}

fn main() {}
