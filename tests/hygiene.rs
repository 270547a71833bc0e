//! User names never collide with generated ones: every generated local is
//! `__tl_`-prefixed and hygienic, so a user's own `__tl_d_x` is just a name.
#![allow(non_snake_case)]

use tapeless::{differentiable, Float};

#[differentiable]
fn clash<T: Float>(__tl_dout: T, __tl_d_x: T, x: T) -> T {
    let __tl_v_q = __tl_dout * __tl_d_x;
    let __tl_v1 = __tl_v_q + x;
    let __tl_d_q = __tl_v1 * x;
    let __tl_value = __tl_d_q;
    let __tl_pullback = __tl_value * 2.0;
    __tl_pullback
}

#[test]
fn generated_names_do_not_clash_with_user_names() {
    let (a, b, x) = (1.5, -2.0, 0.5);
    let (v, (da, db, dx)) = clash_grad(a, b, x);
    // f = 2 (a b + x) x
    assert_eq!(v, 2.0 * (a * b + x) * x);
    assert_eq!(
        (da, db, dx),
        (2.0 * b * x, 2.0 * a * x, 2.0 * (a * b + 2.0 * x))
    );
}

// The attribute inside a `macro_rules!`, with names coming from the macro.
macro_rules! define_square {
    ($name:ident, $arg:ident) => {
        #[differentiable]
        fn $name<T: Float>($arg: T) -> T {
            $arg * $arg
        }
    };
}

define_square!(square, value);

#[test]
fn works_inside_macro_rules() {
    assert_eq!(square_grad(3.0), (9.0, 6.0));
}

// A user fn, const and type named like the runtime's helpers.
#[allow(dead_code)]
fn lit() -> f64 {
    0.0
}
#[allow(dead_code)]
fn one() -> f64 {
    0.0
}
#[allow(dead_code, non_upper_case_globals)]
const zero: f64 = 7.0;

#[differentiable]
fn uses_helpers_names<T: Float>(x: T) -> T {
    x * 3.0 + T::one()
}

#[test]
fn runtime_paths_are_absolute() {
    assert_eq!(uses_helpers_names_grad(2.0), (7.0, 3.0));
}
