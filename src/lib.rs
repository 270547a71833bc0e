#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]

pub use tapeless_core::*;

/// Generates the forward pass and the backward pass of a function.
///
/// See the [crate documentation](crate) for the whole story.
///
/// ```
/// use tapeless::{differentiable, Float};
///
/// #[differentiable]
/// fn f<T: Float>(x: T, y: T, z: T) -> T {
///     let q = x + y;
///     q * z
/// }
///
/// let (value, (dx, dy, dz)) = f_grad(-2.0, 5.0, -4.0);
/// assert_eq!((value, dx, dy, dz), (-12.0, -4.0, -4.0, 3.0));
/// ```
pub use tapeless_macros::differentiable;

/// Gives a function a hand-written gradient that `#[differentiable]` code
/// uses when it calls the function.
///
/// Put it on `NAME_forward`, written in the convention `#[differentiable]`
/// generates: it returns the value and a pullback that maps an upstream
/// gradient to the gradients of the float parameters (in order; a lone one
/// unwrapped). The attribute defines `NAME` (the value alone), `NAME_grad`
/// for a scalar output, and what callers need.
///
/// ```
/// use tapeless::{custom_gradient, differentiable, Float};
///
/// // Rounding with a "straight-through" gradient: the pullback passes the
/// // upstream gradient through, as if rounding were the identity.
/// #[custom_gradient]
/// fn round_st_forward<T: Float>(x: T) -> (T, impl Fn(T) -> T) {
///     (x.round(), |g| g)
/// }
///
/// #[differentiable]
/// fn quantized<T: Float>(x: T) -> T {
///     round_st(x * 4.0) * 0.25
/// }
///
/// assert_eq!(quantized_grad(0.3), (0.25, 1.0));
/// ```
pub use tapeless_macros::custom_gradient;

/// Not API: what generated code calls. It may change in any release, which
/// is why the facade pins its macro and core crates to one exact version.
#[doc(hidden)]
pub mod __private {
    pub use tapeless_core::__private::*;
}
