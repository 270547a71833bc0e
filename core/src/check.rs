//! Gradient checking by central finite differences: the independent reference
//! every gradient test compares against (CS231n's "gradient check").

use alloc::vec::Vec;
use core::fmt;

use num_traits::Float;

/// The result of [`check_gradient`]: for every input coordinate, the gradient
/// under test, the finite-difference estimate, and their relative error
/// `|a - n| / max(1, |a|, |n|)` (relative for large gradients, absolute for
/// small ones, so that a gradient of 0 is not divided by 0).
///
/// ```
/// use tapeless_core::check_gradient;
///
/// // f(x, y) = x * y has gradient (y, x).
/// let report = check_gradient(|v: &[f64]| v[0] * v[1], &[3.0, -4.0], &[-4.0, 3.0]);
/// let (worst_input, worst_error) = report.worst();
/// assert!(worst_error < 1e-8, "input {worst_input}: {report}");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct GradientCheck<T> {
    /// The gradient under test, as given.
    pub analytic: Vec<T>,
    /// The central finite-difference estimate, per input.
    pub numeric: Vec<T>,
    /// The relative error per input (NaN where either side is NaN).
    pub errors: Vec<T>,
}

impl<T: Float> GradientCheck<T> {
    /// The input with the largest error and that error; a NaN error counts as
    /// the largest. `(0, 0)` for a function of no inputs.
    ///
    /// ```
    /// use tapeless_core::check_gradient;
    ///
    /// // A wrong gradient for the second input: d(x*y)/dy is x = 3, not 0.
    /// let report = check_gradient(|v: &[f64]| v[0] * v[1], &[3.0, -4.0], &[-4.0, 0.0]);
    /// assert_eq!(report.worst().0, 1);
    /// ```
    pub fn worst(&self) -> (usize, T) {
        let mut worst = (0, T::zero());
        for (i, &e) in self.errors.iter().enumerate() {
            if e.is_nan() {
                return (i, e);
            }
            if e > worst.1 {
                worst = (i, e);
            }
        }
        worst
    }

    /// The largest relative error (NaN if any error is NaN).
    ///
    /// ```
    /// use tapeless_core::check_gradient;
    ///
    /// let report = check_gradient(|v: &[f32]| v[0].exp(), &[0.5], &[0.5f32.exp()]);
    /// assert!(report.max_error() < 1e-3);
    /// ```
    pub fn max_error(&self) -> T {
        self.worst().1
    }

    /// Whether every relative error is at most `tolerance` (and none is NaN).
    ///
    /// ```
    /// use tapeless_core::check_gradient;
    ///
    /// let report = check_gradient(|v: &[f64]| v[0].sin(), &[1.0], &[1.0f64.cos()]);
    /// assert!(report.within(1e-6));
    /// ```
    pub fn within(&self, tolerance: T) -> bool {
        let worst = self.max_error();
        !worst.is_nan() && worst <= tolerance
    }
}

impl<T: Float + fmt::Display> fmt::Display for GradientCheck<T> {
    /// One line per input: index, gradient, finite difference, error.
    ///
    /// ```
    /// use tapeless_core::check_gradient;
    ///
    /// let report = check_gradient(|v: &[f64]| 2.0 * v[0], &[1.0], &[2.0]);
    /// assert!(report.to_string().starts_with("input 0: gradient 2"));
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, ((a, n), e)) in self
            .analytic
            .iter()
            .zip(&self.numeric)
            .zip(&self.errors)
            .enumerate()
        {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "input {i}: gradient {a}, finite difference {n}, relative error {e}"
            )?;
        }
        Ok(())
    }
}

/// Checks `analytic`, a claimed gradient of `f` at `x`, against central finite
/// differences `(f(x + h e_i) - f(x - h e_i)) / 2h` with the step
/// `h = eps^(1/3) * max(1, |x_i|)` (about `6e-6` for `f64`, `5e-3` for `f32`),
/// which balances truncation and rounding error.
///
/// A differentiable function of several parameters is checked by packing its
/// inputs into one slice:
///
/// ```
/// use tapeless_core::check_gradient;
///
/// fn f(x: f64, y: f64, z: f64) -> f64 { (x + y) * z }
/// let analytic = [-4.0, -4.0, 3.0]; // the lecture's (x + y) * z at (-2, 5, -4)
/// let report = check_gradient(|v: &[f64]| f(v[0], v[1], v[2]), &[-2.0, 5.0, -4.0], &analytic);
/// assert!(report.within(1e-8), "{report}");
/// ```
///
/// # Panics
///
/// If `analytic` and `x` differ in length.
pub fn check_gradient<T: Float>(
    f: impl Fn(&[T]) -> T,
    x: &[T],
    analytic: &[T],
) -> GradientCheck<T> {
    let step = T::epsilon().cbrt();
    check_gradient_with(f, x, analytic, step)
}

/// [`check_gradient`] with a chosen relative step: input `i` moves by
/// `step * max(1, |x_i|)` each way.
///
/// ```
/// use tapeless_core::check_gradient_with;
///
/// let report = check_gradient_with(|v: &[f64]| v[0].powi(3), &[2.0], &[12.0], 1e-4);
/// assert!(report.within(1e-6));
/// ```
///
/// # Panics
///
/// If `analytic` and `x` differ in length.
pub fn check_gradient_with<T: Float>(
    f: impl Fn(&[T]) -> T,
    x: &[T],
    analytic: &[T],
    step: T,
) -> GradientCheck<T> {
    assert_eq!(
        x.len(),
        analytic.len(),
        "check_gradient: {} inputs but a gradient of {}",
        x.len(),
        analytic.len()
    );
    let mut point: Vec<T> = x.to_vec();
    let mut numeric = Vec::with_capacity(x.len());
    let mut errors = Vec::with_capacity(x.len());
    for i in 0..x.len() {
        let h = step * x[i].abs().max(T::one());
        point[i] = x[i] + h;
        let up = f(&point);
        point[i] = x[i] - h;
        let down = f(&point);
        point[i] = x[i];
        // Divide by the step actually taken, which rounding may have changed.
        let n = (up - down) / ((x[i] + h) - (x[i] - h));
        let a = analytic[i];
        let scale = a.abs().max(n.abs()).max(T::one());
        numeric.push(n);
        errors.push((a - n).abs() / scale);
    }
    GradientCheck {
        analytic: analytic.to_vec(),
        numeric,
        errors,
    }
}
