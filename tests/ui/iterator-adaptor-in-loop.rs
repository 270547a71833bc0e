use tapeless::{differentiable, Float};

// `.chain(..)` is split into two loops where the body has no `break`;
// `.filter(..)` and `.take_while(..)` are tests in the loop's body; an
// `.enumerate()` after a filter is not supported.
#[differentiable]
fn f<T: Float>(x: &[T], y: &[T]) -> T {
    let mut s = T::zero();
    for v in x.iter().chain(y.iter()) {
        s += *v;
        if s > 10.0 {
            break;
        }
    }
    for (i, v) in x.iter().filter(|v| **v > 0.0).enumerate() {
        s += *v * T::from(i).unwrap();
    }
    s
}

fn main() {}
