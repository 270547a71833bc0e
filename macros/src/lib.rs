//! The `#[differentiable]` attribute of tapeless. Use it through the
//! `tapeless` crate, whose documentation tells the whole story.
//!
//! The expansion itself is `tapeless-codegen`, a plain library, so that its
//! tests and benchmarks can run it.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proc_macro::TokenStream;

/// Generates `NAME_forward` (value and pullback) and `NAME_grad` (value and
/// gradient) for a numeric fn. See the `tapeless` crate.
///
/// Arguments: `wrt(a, b)` differentiates only the named parameters;
/// `float = Real` names the float type where the signature writes it as
/// an alias of `f32` or `f64`.
///
/// ```
/// use tapeless::{differentiable, Float};
///
/// #[differentiable]
/// fn f<T: Float>(x: T, y: T) -> T {
///     (x * y).sin()
/// }
///
/// let (value, (dx, dy)) = f_grad(1.0, 2.0);
/// assert_eq!((value, dx, dy), (2f64.sin(), 2.0 * 2f64.cos(), 2f64.cos()));
/// ```
#[proc_macro_attribute]
pub fn differentiable(attr: TokenStream, item: TokenStream) -> TokenStream {
    tapeless_codegen::differentiable(attr.into(), item.into()).into()
}

/// Makes a hand-written `NAME_forward` (the value and its pullback, the
/// convention `#[differentiable]` generates) callable from
/// `#[differentiable]` code, and defines `NAME` (the value alone) and, for a
/// scalar output, `NAME_grad`. See the `tapeless` crate.
///
/// Argument: `float = Real` names the float type where the signature
/// writes it as an alias of `f32` or `f64`.
///
/// ```
/// use tapeless::{custom_gradient, Float};
///
/// #[custom_gradient]
/// fn clip_forward<T: Float>(x: T) -> (T, impl Fn(T) -> T) {
///     // Clipped to [-1, 1], with the gradient of the identity.
///     (x.max(-T::one()).min(T::one()), |g| g)
/// }
///
/// assert_eq!(clip_grad(3.0), (1.0, 1.0));
/// ```
#[proc_macro_attribute]
pub fn custom_gradient(attr: TokenStream, item: TokenStream) -> TokenStream {
    tapeless_codegen::custom_gradient(attr.into(), item.into()).into()
}
