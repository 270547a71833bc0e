//! Explicit lifetime parameters: the forward captures them, the call
//! protocol erases them (its pullback takes the arguments again).

use tapeless::{differentiable, Float};

#[differentiable]
#[allow(clippy::needless_lifetimes)] // written out on purpose
fn with_lifetime<'a, T: Float>(x: &'a [T], k: T) -> T {
    let mut s = T::zero();
    for &v in x {
        s += v * k;
    }
    s
}

#[differentiable]
fn caller<T: Float>(x: &[T], k: T) -> T {
    with_lifetime(x, k) * 2.0
}

#[test]
fn lifetimes() {
    assert_eq!(
        with_lifetime_grad(&[1.0, 2.0], 3.0),
        (9.0, (vec![3.0, 3.0], 3.0))
    );
    assert_eq!(caller_grad(&[1.0, 2.0], 3.0), (18.0, (vec![6.0, 6.0], 6.0)));
}
