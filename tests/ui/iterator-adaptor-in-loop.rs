use tapeless::{differentiable, Float};

// `.chain(..)` is split into two loops where the body has no `break`;
// `.filter(..)` is not supported.
#[differentiable]
fn f<T: Float>(x: &[T], y: &[T]) -> T {
    let mut s = T::zero();
    for v in x.iter().chain(y.iter()) {
        s += *v;
        if s > 10.0 {
            break;
        }
    }
    for v in x.iter().filter(|v| **v > 0.0) {
        s += *v;
    }
    s
}

fn main() {}
