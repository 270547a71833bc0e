//! Shared by the integration tests: a seeded generator (no dependency) and
//! helpers around the core gradient check.
#![allow(dead_code)]

use tapeless::{check_gradient, Float};

/// SplitMix64: small, seeded, good enough for test points.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * unit
    }

    /// A point of `n` coordinates, each uniform in `[lo, hi)`.
    pub fn point(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

/// Converts a point to the float type under test.
pub fn cast<T: Float>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&x| T::from(x).unwrap()).collect()
}

/// Asserts that `analytic` matches central finite differences of `f` at `x`.
pub fn assert_gradient<T: Float + std::fmt::Display>(
    what: &str,
    f: impl Fn(&[T]) -> T,
    x: &[T],
    analytic: &[T],
    tolerance: f64,
) {
    let report = check_gradient(f, x, analytic);
    assert!(
        report.within(T::from(tolerance).unwrap()),
        "{what} at {:?}:\n{report}",
        x.iter().map(|v| v.to_f64().unwrap()).collect::<Vec<_>>()
    );
}

/// Tolerance for a gradient check in the precision of `T`.
pub fn tolerance<T: Float>() -> f64 {
    if T::epsilon().to_f64().unwrap() > 1e-10 {
        2e-2
    } else {
        1e-5
    }
}

pub fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}
