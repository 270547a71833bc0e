use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(x: &[T]) -> T {
    for &v in x {
        if v > 1.0 {
            return v;
        }
    }
    T::zero()
}

fn main() {}
