//! Edge cases: identity, repeated outputs, an empty `wrt()`, parameters
//! returned as they are, a mutable parameter reassigned.

use tapeless::{differentiable, Float};

#[differentiable]
fn identity(x: f64) -> f64 {
    x
}

#[differentiable]
fn twice<T: Float>(x: T) -> (T, T) {
    (x, x)
}

#[differentiable(wrt())]
fn nothing<T: Float>(x: T) -> T {
    x * 2.0
}

#[differentiable]
fn pass_array<T: Float>(x: [T; 2]) -> [T; 2] {
    x
}

#[differentiable]
fn pass_vec<T: Float>(x: Vec<T>) -> Vec<T> {
    x
}

#[differentiable]
fn param_reassigned<T: Float>(mut x: T, y: T) -> T {
    x = x * y;
    x = x + y;
    x
}

#[test]
fn edges() {
    assert_eq!(identity_grad(3.0), (3.0, 1.0));
    let (v, back) = twice_forward(2.0);
    assert_eq!(v, (2.0, 2.0));
    assert_eq!(back((1.0, 3.0)), 4.0);
    assert_eq!(nothing_grad(1.0), (2.0, ()));
    let (v, back) = pass_array_forward([1.0, 2.0]);
    assert_eq!((v, back([5.0, 6.0])), ([1.0, 2.0], [5.0, 6.0]));
    let (v, back) = pass_vec_forward(vec![1.0, 2.0]);
    assert_eq!((v, back(vec![5.0, 6.0])), (vec![1.0, 2.0], vec![5.0, 6.0]));
    assert_eq!(param_reassigned_grad(2.0, 3.0), (9.0, (3.0, 3.0)));
}
