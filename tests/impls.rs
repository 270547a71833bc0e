//! `#[differentiable]` on an `impl` block: associated fns marked
//! `#[differentiable]` get `Type::NAME_forward` and `Type::NAME_grad`, call
//! each other as `Self::NAME(..)` or `Type::NAME(..)`, read the type's
//! constants, and are called from free differentiable fns; `&self`
//! methods read their fields as constants and call each other as
//! `self.f(..)` (array results used untyped too), and are called on
//! parameters by reference (`layer.hidden(x)`); a generic block's fns differentiate over its float type;
//! the block's other items stay as written. Checked against finite differences in f64
//! and f32 at random points.

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

/// A planar arm of two links.
pub struct Arm;

#[differentiable]
impl Arm {
    /// The links' lengths: the type's constants, read by the fns.
    pub const L1: f64 = 1.5;
    pub const L2: f64 = 0.8;

    /// A plain method, left alone.
    pub fn span(&self) -> f64 {
        Self::L1 + Self::L2
    }

    /// The tip of the arm at joint angles `a`, `b`.
    #[differentiable]
    pub fn tip<T: Float>(a: T, b: T) -> [T; 2] {
        let (l1, l2) = (T::from(Self::L1).unwrap(), T::from(Self::L2).unwrap());
        [
            l1 * a.cos() + l2 * (a + b).cos(),
            l1 * a.sin() + l2 * (a + b).sin(),
        ]
    }

    /// Squared distance of the tip to a target, through `Self::tip`; a
    /// local named like the fn stays a local.
    #[differentiable(wrt(a, b))]
    #[allow(clippy::let_and_return)]
    pub fn reach<T: Float>(a: T, b: T, target: [T; 2]) -> T {
        let p: [T; 2] = Self::tip(a, b);
        let reach = (p[0] - target[0]).powi(2) + (p[1] - target[1]).powi(2);
        reach
    }

    /// Over a path of targets, through `Arm::reach`, with a private helper.
    #[differentiable]
    fn path<T: Float>(angles: &[T], targets: &[[T; 2]]) -> T {
        let mut total = T::zero();
        for (i, t) in targets.iter().enumerate() {
            total += Arm::reach(angles[2 * i], angles[2 * i + 1], *t) + Self::smooth(angles[2 * i]);
        }
        total
    }

    #[differentiable]
    fn smooth<T: Float>(a: T) -> T {
        0.1 * a * a
    }
}

/// A generic block: the fns differentiate over the block's float type.
pub struct Spring<T> {
    _float: std::marker::PhantomData<T>,
}

#[differentiable]
impl<T: Float> Spring<T> {
    #[differentiable]
    pub fn energy(x: T, k: T) -> T {
        0.5 * k * x * x
    }

    /// Over a chain, through `Self::energy`, with a parameter of its own.
    #[differentiable(wrt(xs))]
    pub fn chain<const N: usize>(xs: [T; N], k: T) -> T {
        let mut e = T::zero();
        for i in 1..N {
            e += Self::energy(xs[i] - xs[i - 1], k);
        }
        e
    }
}

/// A module-level helper, called as `self::scaled` in a method.
fn scaled(x: f64) -> f64 {
    x
}

/// Data in `self`: the fields are constants, the parameters differentiated.
pub struct Fit {
    xs: Vec<f64>,
    ys: Vec<f64>,
    decay: f64,
}

#[differentiable]
impl Fit {
    /// A plain method the differentiated ones call on constants.
    fn weight(&self, i: usize) -> f64 {
        (-self.decay * i as f64).exp()
    }

    #[differentiable]
    pub fn residual<T: Float>(&self, i: usize, w: T, b: T) -> T {
        (w * T::from(self::scaled(self.xs[i])).unwrap() + b).tanh() - T::from(self.ys[i]).unwrap()
    }

    /// Weighted squared residuals, through `self.residual(..)`, over the
    /// fields in a closure and an assertion too.
    #[differentiable(wrt(w, b))]
    pub fn loss<T: Float>(&self, w: T, b: T) -> T {
        assert_eq!(self.xs.len(), self.ys.len(), "{} points", self.xs.len());
        let mut total = T::zero();
        for i in 0..self.xs.len() {
            let r = self.residual(i, w, b);
            total += T::from(self.weight(i)).unwrap() * r * r;
        }
        let n = self.xs.iter().filter(|&&x| x > 0.0_f64).count();
        total / T::from(n.max(1)).unwrap()
    }

    /// Not generic: `f64` written out, a slice of weights.
    #[differentiable]
    fn squared(&self, w: &[f64]) -> f64 {
        let mut total = 0.0;
        for i in 0..self.xs.len() {
            let r = w[0] * self.xs[i] + w[1] - self.ys[i];
            total += r * r;
        }
        total
    }
}

/// A layer whose weights are data: a method returning a `Vec`, whose
/// result another method uses untyped (`let h = self.hidden(x);`).
pub struct Layer {
    w: Vec<Vec<f64>>,
}

#[differentiable]
impl Layer {
    #[differentiable]
    pub fn hidden<T: Float>(&self, x: &[T]) -> Vec<T> {
        let mut out = vec![T::zero(); self.w.len()];
        for (i, row) in self.w.iter().enumerate() {
            let mut s = T::zero();
            for (j, &wij) in row.iter().enumerate() {
                s += x[j] * T::from(wij).unwrap();
            }
            out[i] = s.tanh();
        }
        out
    }

    #[differentiable]
    pub fn energy<T: Float>(&self, x: &[T]) -> T {
        let h = self.hidden(x);
        let mut e = T::zero();
        for v in &h {
            e += *v * *v;
        }
        e + h[0]
    }
}

/// Through a parameter by reference, untyped too.
#[differentiable]
fn layered<T: Float>(layer: &Layer, x: &[T]) -> T {
    let h = layer.hidden(x);
    h[1] * layer.energy(x)
}

/// A free fn calling `&self` methods on a parameter by reference, as a
/// method and through the type.
#[differentiable]
fn refit<T: Float>(fit: &Fit, w: T) -> T {
    fit.loss(w, w * w) + Fit::residual(fit, 1, w, -w)
}

/// A free fn calling an associated one.
#[differentiable]
fn outside<T: Float>(a: T, b: T) -> T {
    let p: [T; 2] = Arm::tip(a, b);
    p[0] * p[1] + Arm::path(&[a, b], &[[T::one(), T::zero()]])
}

fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    assert_eq!(Arm.span(), 2.3);
    for _ in 0..6 {
        let p: Vec<T> = cast(&rng.point(6, -1.5, 1.5));
        let (a, b) = (p[0], p[1]);
        let target = [p[2], p[3]];
        let (v, (ga, gb)) = Arm::reach_grad(a, b, target);
        assert!(v == Arm::reach(a, b, target));
        assert_gradient(
            "reach",
            |x| Arm::reach(x[0], x[1], target),
            &[a, b],
            &[ga, gb],
            tol,
        );
        // The tip's Jacobian, a row per upstream gradient.
        let (tip, back) = Arm::tip_forward(a, b);
        assert!(tip == Arm::tip(a, b));
        for (k, row) in [[T::one(), T::zero()], [T::zero(), T::one()]]
            .into_iter()
            .enumerate()
        {
            let (da, db) = back(row);
            assert_gradient("tip", |x| Arm::tip(x[0], x[1])[k], &[a, b], &[da, db], tol);
        }
        let angles = [a, b, p[4], p[5]];
        let targets = [target, [p[5], p[4]]];
        let (_, (g, _)) = Arm::path_grad(&angles, &targets);
        assert_gradient("path", |x| Arm::path(x, &targets), &angles, &g, tol);
        let (_, (gx, gk)) = Spring::energy_grad(a, b);
        assert_gradient(
            "energy",
            |x| Spring::energy(x[0], x[1]),
            &[a, b],
            &[gx, gk],
            tol,
        );
        let xs = [p[2], p[3], p[4]];
        let (_, g) = Spring::chain_grad(xs, b);
        assert_gradient(
            "chain",
            |x| Spring::chain([x[0], x[1], x[2]], b),
            &xs,
            &g,
            tol,
        );
        let fit = Fit {
            xs: rng.point(4, -1.0, 2.0),
            ys: rng.point(4, -0.5, 0.5),
            decay: 0.3,
        };
        let (v, (gw, gb)) = fit.loss_grad(a, b);
        assert!(v == fit.loss(a, b));
        assert_gradient("loss", |x| fit.loss(x[0], x[1]), &[a, b], &[gw, gb], tol);
        let (_, back) = fit.residual_forward(2, a, b);
        let (gw, gb) = back(T::one());
        assert_gradient(
            "residual",
            |x| fit.residual(2, x[0], x[1]),
            &[a, b],
            &[gw, gb],
            tol,
        );
        let layer = Layer {
            w: vec![rng.point(2, -1.0, 1.0), rng.point(2, -1.0, 1.0)],
        };
        let x = [a, b];
        let (_, g) = layer.energy_grad(&x);
        assert_gradient("energy", |x| layer.energy(x), &x, &g, tol);
        let (_, g) = layered_grad(&layer, &x);
        assert_gradient("layered", |x| layered(&layer, x), &x, &g, tol);
        let (h, back) = layer.hidden_forward(&x);
        assert!(h == layer.hidden(&x));
        let g = back(vec![T::zero(), T::one()]);
        assert_gradient("hidden", |x| layer.hidden(x)[1], &x, &g, tol);
        let (_, g) = refit_grad(&fit, a);
        assert_gradient("refit", |x| refit(&fit, x[0]), &[a], &[g], tol);
        let (_, (ga, gb)) = outside_grad(a, b);
        assert_gradient("outside", |x| outside(x[0], x[1]), &[a, b], &[ga, gb], tol);
    }
}

#[test]
fn associated_fns_f64() {
    check::<f64>(&mut Rng::new(81));
}

#[test]
fn associated_fns_f32() {
    check::<f32>(&mut Rng::new(82));
}

#[test]
fn a_method_without_generics() {
    let fit = Fit {
        xs: vec![0.5, -1.0, 2.0],
        ys: vec![1.0, 0.0, -0.5],
        decay: 0.1,
    };
    let mut rng = Rng::new(83);
    for _ in 0..10 {
        let w = rng.point(2, -1.0, 1.0);
        let (v, g) = fit.squared_grad(&w);
        assert_eq!(v, fit.squared(&w));
        assert_gradient("squared", |p: &[f64]| fit.squared(p), &w, &g, 1e-6);
        // Closed form: d/dw0 = 2 sum r x, d/dw1 = 2 sum r.
        let r: Vec<f64> = (0..3)
            .map(|i| w[0] * fit.xs[i] + w[1] - fit.ys[i])
            .collect();
        let d0: f64 = (0..3).map(|i| 2.0 * r[i] * fit.xs[i]).sum();
        let d1: f64 = r.iter().map(|r| 2.0 * r).sum();
        assert!((g[0] - d0).abs() < 1e-12 && (g[1] - d1).abs() < 1e-12);
    }
}

#[test]
fn a_closed_form() {
    // reach at a = b = 0 to the origin: |(L1 + L2, 0)|^2, and its gradient
    // in b is 0 (the tip moves perpendicular to the arm), in a too.
    let (v, (ga, gb)) = Arm::reach_grad(0.0, 0.0, [0.0, 0.0]);
    assert!((v - (Arm::L1 + Arm::L2).powi(2)).abs() < 1e-12);
    assert!(ga.abs() < 1e-12 && gb.abs() < 1e-12);
}
