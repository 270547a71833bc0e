//! A dual number `re + eps ε` with `ε² = 0`: forward-mode differentiation
//! as a [`Float`]. Run a `#[differentiable]` fn's `_grad` on duals and the
//! `eps` parts of the gradient are second derivatives (forward over
//! reverse). Comparisons look at the real part only, so that dual code takes
//! the same branches as real code (as num-dual does).

use core::cmp::Ordering;
use core::num::FpCategory;
use core::ops::{Add, Div, Mul, Neg, Rem, Sub};

use num_traits::{Float, Num, NumCast, One, ToPrimitive, Zero};

/// A value and its derivative along one direction.
///
/// ```
/// use tapeless_core::{Dual, Float};
///
/// // d/dx (x^2 sin x) at x = 1: 2 sin 1 + cos 1.
/// let x = Dual::variable(1.0_f64);
/// let y = x * x * x.sin();
/// assert!((y.derivative() - (2.0 * 1f64.sin() + 1f64.cos())).abs() < 1e-15);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Dual<T> {
    /// The real part: the value.
    pub re: T,
    /// The dual part: the derivative.
    pub eps: T,
}

impl<T: Float> Dual<T> {
    /// `re + eps ε`.
    ///
    /// ```
    /// use tapeless_core::Dual;
    /// let d = Dual::new(2.0, 1.0);
    /// assert_eq!((d.re, d.eps), (2.0, 1.0));
    /// ```
    pub fn new(re: T, eps: T) -> Self {
        Dual { re, eps }
    }

    /// A constant: derivative 0.
    ///
    /// ```
    /// use tapeless_core::Dual;
    /// assert_eq!(Dual::constant(3.0).eps, 0.0);
    /// ```
    pub fn constant(re: T) -> Self {
        Dual { re, eps: T::zero() }
    }

    /// The variable being differentiated: derivative 1.
    ///
    /// ```
    /// use tapeless_core::Dual;
    /// assert_eq!(Dual::variable(3.0).eps, 1.0);
    /// ```
    pub fn variable(re: T) -> Self {
        Dual { re, eps: T::one() }
    }

    /// The real part.
    ///
    /// ```
    /// use tapeless_core::Dual;
    /// assert_eq!(Dual::new(2.0, 5.0).value(), 2.0);
    /// ```
    pub fn value(self) -> T {
        self.re
    }

    /// The dual part.
    ///
    /// ```
    /// use tapeless_core::Dual;
    /// assert_eq!(Dual::new(2.0, 5.0).derivative(), 5.0);
    /// ```
    pub fn derivative(self) -> T {
        self.eps
    }

    /// `f(re) + f'(re) eps ε`: the chain rule, shared by every function.
    fn chain(self, f: T, df: T) -> Self {
        Dual {
            re: f,
            eps: df * self.eps,
        }
    }
}

impl<T: Float> Add for Dual<T> {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Dual {
            re: self.re + o.re,
            eps: self.eps + o.eps,
        }
    }
}

impl<T: Float> Sub for Dual<T> {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        Dual {
            re: self.re - o.re,
            eps: self.eps - o.eps,
        }
    }
}

impl<T: Float> Mul for Dual<T> {
    type Output = Self;
    fn mul(self, o: Self) -> Self {
        Dual {
            re: self.re * o.re,
            eps: self.eps * o.re + self.re * o.eps,
        }
    }
}

impl<T: Float> Div for Dual<T> {
    type Output = Self;
    fn div(self, o: Self) -> Self {
        let re = self.re / o.re;
        Dual {
            re,
            eps: (self.eps - re * o.eps) / o.re,
        }
    }
}

impl<T: Float> Rem for Dual<T> {
    type Output = Self;
    /// `a - trunc(a / b) b`, the quotient's truncation flat.
    fn rem(self, o: Self) -> Self {
        let q = (self.re / o.re).trunc();
        Dual {
            re: self.re % o.re,
            eps: self.eps - q * o.eps,
        }
    }
}

impl<T: Float> Neg for Dual<T> {
    type Output = Self;
    fn neg(self) -> Self {
        Dual {
            re: -self.re,
            eps: -self.eps,
        }
    }
}

/// Comparisons on the real part only: dual code branches like real code.
impl<T: Float> PartialOrd for Dual<T> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        self.re.partial_cmp(&o.re)
    }
}

impl<T: Float> Zero for Dual<T> {
    fn zero() -> Self {
        Dual::constant(T::zero())
    }
    fn is_zero(&self) -> bool {
        self.re.is_zero() && self.eps.is_zero()
    }
}

impl<T: Float> One for Dual<T> {
    fn one() -> Self {
        Dual::constant(T::one())
    }
}

impl<T: Float> Num for Dual<T> {
    type FromStrRadixErr = T::FromStrRadixErr;
    fn from_str_radix(s: &str, radix: u32) -> Result<Self, Self::FromStrRadixErr> {
        T::from_str_radix(s, radix).map(Dual::constant)
    }
}

impl<T: Float> ToPrimitive for Dual<T> {
    fn to_i64(&self) -> Option<i64> {
        self.re.to_i64()
    }
    fn to_u64(&self) -> Option<u64> {
        self.re.to_u64()
    }
    fn to_f64(&self) -> Option<f64> {
        self.re.to_f64()
    }
    fn to_f32(&self) -> Option<f32> {
        self.re.to_f32()
    }
}

impl<T: Float> NumCast for Dual<T> {
    fn from<N: ToPrimitive>(n: N) -> Option<Self> {
        T::from(n).map(Dual::constant)
    }
}

impl<T: Float> Float for Dual<T> {
    fn nan() -> Self {
        Dual::constant(T::nan())
    }
    fn infinity() -> Self {
        Dual::constant(T::infinity())
    }
    fn neg_infinity() -> Self {
        Dual::constant(T::neg_infinity())
    }
    fn neg_zero() -> Self {
        Dual::constant(T::neg_zero())
    }
    fn min_value() -> Self {
        Dual::constant(T::min_value())
    }
    fn min_positive_value() -> Self {
        Dual::constant(T::min_positive_value())
    }
    fn epsilon() -> Self {
        Dual::constant(T::epsilon())
    }
    fn max_value() -> Self {
        Dual::constant(T::max_value())
    }
    fn is_nan(self) -> bool {
        self.re.is_nan()
    }
    fn is_infinite(self) -> bool {
        self.re.is_infinite()
    }
    fn is_finite(self) -> bool {
        self.re.is_finite()
    }
    fn is_normal(self) -> bool {
        self.re.is_normal()
    }
    fn classify(self) -> FpCategory {
        self.re.classify()
    }
    fn floor(self) -> Self {
        Dual::constant(self.re.floor())
    }
    fn ceil(self) -> Self {
        Dual::constant(self.re.ceil())
    }
    fn round(self) -> Self {
        Dual::constant(self.re.round())
    }
    fn trunc(self) -> Self {
        Dual::constant(self.re.trunc())
    }
    fn fract(self) -> Self {
        Dual {
            re: self.re.fract(),
            eps: self.eps,
        }
    }
    /// The sign, and 0 at 0 (as `#[differentiable]` does).
    fn abs(self) -> Self {
        let s = if self.re > T::zero() {
            T::one()
        } else if self.re < T::zero() {
            -T::one()
        } else {
            T::zero()
        };
        Dual {
            re: self.re.abs(),
            eps: self.eps * s,
        }
    }
    fn signum(self) -> Self {
        Dual::constant(self.re.signum())
    }
    fn is_sign_positive(self) -> bool {
        self.re.is_sign_positive()
    }
    fn is_sign_negative(self) -> bool {
        self.re.is_sign_negative()
    }
    fn mul_add(self, a: Self, b: Self) -> Self {
        self * a + b
    }
    fn recip(self) -> Self {
        let r = self.re.recip();
        self.chain(r, -r * r)
    }
    fn powi(self, n: i32) -> Self {
        let df = if n == 0 {
            T::zero()
        } else {
            T::from(n).unwrap_or_else(T::nan) * self.re.powi(n - 1)
        };
        self.chain(self.re.powi(n), df)
    }
    fn powf(self, p: Self) -> Self {
        let re = self.re.powf(p.re);
        let dx = if p.eps.is_zero() && self.eps.is_zero() {
            T::zero()
        } else {
            p.re * self.re.powf(p.re - T::one()) * self.eps
        };
        let dp = if p.eps.is_zero() || self.re.is_zero() {
            T::zero()
        } else {
            re * self.re.ln() * p.eps
        };
        Dual { re, eps: dx + dp }
    }
    fn sqrt(self) -> Self {
        let s = self.re.sqrt();
        self.chain(s, (s + s).recip())
    }
    fn exp(self) -> Self {
        let e = self.re.exp();
        self.chain(e, e)
    }
    fn exp2(self) -> Self {
        let e = self.re.exp2();
        self.chain(
            e,
            e * T::from(core::f64::consts::LN_2).unwrap_or_else(T::nan),
        )
    }
    fn ln(self) -> Self {
        self.chain(self.re.ln(), self.re.recip())
    }
    fn log(self, base: Self) -> Self {
        self.ln() / base.ln()
    }
    fn log2(self) -> Self {
        self.chain(
            self.re.log2(),
            (self.re * T::from(core::f64::consts::LN_2).unwrap_or_else(T::nan)).recip(),
        )
    }
    fn log10(self) -> Self {
        self.chain(
            self.re.log10(),
            (self.re * T::from(core::f64::consts::LN_10).unwrap_or_else(T::nan)).recip(),
        )
    }
    /// The argument that wins, with its derivative (ties: the first).
    fn max(self, o: Self) -> Self {
        if o.re > self.re || self.re.is_nan() {
            o
        } else {
            self
        }
    }
    fn min(self, o: Self) -> Self {
        if o.re < self.re || self.re.is_nan() {
            o
        } else {
            self
        }
    }
    #[allow(deprecated)]
    fn abs_sub(self, o: Self) -> Self {
        if self.re > o.re {
            self - o
        } else {
            Self::zero()
        }
    }
    fn cbrt(self) -> Self {
        let c = self.re.cbrt();
        self.chain(c, (T::from(3.0).unwrap_or_else(T::nan) * c * c).recip())
    }
    fn hypot(self, o: Self) -> Self {
        let h = self.re.hypot(o.re);
        if h.is_zero() {
            return Dual::constant(h);
        }
        Dual {
            re: h,
            eps: (self.re * self.eps + o.re * o.eps) / h,
        }
    }
    fn sin(self) -> Self {
        self.chain(self.re.sin(), self.re.cos())
    }
    fn cos(self) -> Self {
        self.chain(self.re.cos(), -self.re.sin())
    }
    fn tan(self) -> Self {
        let t = self.re.tan();
        self.chain(t, T::one() + t * t)
    }
    fn asin(self) -> Self {
        self.chain(
            self.re.asin(),
            (T::one() - self.re * self.re).sqrt().recip(),
        )
    }
    fn acos(self) -> Self {
        self.chain(
            self.re.acos(),
            -(T::one() - self.re * self.re).sqrt().recip(),
        )
    }
    fn atan(self) -> Self {
        self.chain(self.re.atan(), (T::one() + self.re * self.re).recip())
    }
    fn atan2(self, o: Self) -> Self {
        let r2 = self.re * self.re + o.re * o.re;
        Dual {
            re: self.re.atan2(o.re),
            eps: (o.re * self.eps - self.re * o.eps) / r2,
        }
    }
    fn sin_cos(self) -> (Self, Self) {
        (self.sin(), self.cos())
    }
    fn exp_m1(self) -> Self {
        self.chain(self.re.exp_m1(), self.re.exp())
    }
    fn ln_1p(self) -> Self {
        self.chain(self.re.ln_1p(), (T::one() + self.re).recip())
    }
    fn sinh(self) -> Self {
        self.chain(self.re.sinh(), self.re.cosh())
    }
    fn cosh(self) -> Self {
        self.chain(self.re.cosh(), self.re.sinh())
    }
    fn tanh(self) -> Self {
        let t = self.re.tanh();
        self.chain(t, T::one() - t * t)
    }
    fn asinh(self) -> Self {
        self.chain(
            self.re.asinh(),
            (self.re * self.re + T::one()).sqrt().recip(),
        )
    }
    fn acosh(self) -> Self {
        self.chain(
            self.re.acosh(),
            (self.re * self.re - T::one()).sqrt().recip(),
        )
    }
    fn atanh(self) -> Self {
        self.chain(self.re.atanh(), (T::one() - self.re * self.re).recip())
    }
    fn integer_decode(self) -> (u64, i16, i8) {
        self.re.integer_decode()
    }
    fn to_degrees(self) -> Self {
        Dual {
            re: self.re.to_degrees(),
            eps: self.eps.to_degrees(),
        }
    }
    fn to_radians(self) -> Self {
        Dual {
            re: self.re.to_radians(),
            eps: self.eps.to_radians(),
        }
    }
}

impl<T: Float + core::fmt::Display> core::fmt::Display for Dual<T> {
    /// `re + eps ε`.
    ///
    /// ```
    /// use tapeless_core::Dual;
    /// assert_eq!(Dual::new(1.5, -2.0).to_string(), "1.5 + -2ε");
    /// ```
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} + {}ε", self.re, self.eps)
    }
}
