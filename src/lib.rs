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

/// Not API: what generated code calls. It may change in any release, which
/// is why the facade pins its macro and core crates to one exact version.
#[doc(hidden)]
pub mod __private {
    pub use tapeless_core::__private::*;
}
