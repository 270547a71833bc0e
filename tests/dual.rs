//! Dual numbers: every `Float` method's derivative against finite
//! differences, and second derivatives from a generated gradient evaluated
//! on duals (forward over reverse), against closed forms and finite
//! differences of the gradient.

// The tables pair each dual method with its f64 counterpart.
#![allow(clippy::type_complexity)]

mod common;

use common::{close, Rng};
use tapeless::{differentiable, Dual, Float};

type D = Dual<f64>;

#[test]
fn every_method_has_the_right_derivative() {
    let unary: &[(&str, fn(D) -> D, fn(f64) -> f64, (f64, f64))] = &[
        ("exp", D::exp, f64::exp, (-2.0, 2.0)),
        ("exp2", D::exp2, f64::exp2, (-2.0, 2.0)),
        ("exp_m1", D::exp_m1, f64::exp_m1, (-2.0, 2.0)),
        ("ln", D::ln, f64::ln, (0.2, 4.0)),
        ("ln_1p", D::ln_1p, f64::ln_1p, (-0.5, 4.0)),
        ("log2", D::log2, f64::log2, (0.2, 4.0)),
        ("log10", D::log10, f64::log10, (0.2, 4.0)),
        ("sqrt", D::sqrt, f64::sqrt, (0.2, 4.0)),
        ("cbrt", D::cbrt, f64::cbrt, (0.2, 4.0)),
        ("recip", D::recip, f64::recip, (0.5, 4.0)),
        ("sin", D::sin, f64::sin, (-3.0, 3.0)),
        ("cos", D::cos, f64::cos, (-3.0, 3.0)),
        ("tan", D::tan, f64::tan, (-1.2, 1.2)),
        ("asin", D::asin, f64::asin, (-0.9, 0.9)),
        ("acos", D::acos, f64::acos, (-0.9, 0.9)),
        ("atan", D::atan, f64::atan, (-3.0, 3.0)),
        ("sinh", D::sinh, f64::sinh, (-2.0, 2.0)),
        ("cosh", D::cosh, f64::cosh, (-2.0, 2.0)),
        ("tanh", D::tanh, f64::tanh, (-2.0, 2.0)),
        ("asinh", D::asinh, f64::asinh, (-2.0, 2.0)),
        ("acosh", D::acosh, f64::acosh, (1.2, 4.0)),
        ("atanh", D::atanh, f64::atanh, (-0.9, 0.9)),
        ("abs", D::abs, f64::abs, (-2.0, 2.0)),
        ("fract", D::fract, f64::fract, (0.1, 0.9)),
        ("to_degrees", D::to_degrees, f64::to_degrees, (-2.0, 2.0)),
    ];
    let mut rng = Rng::new(101);
    for &(name, fd, f, (lo, hi)) in unary {
        for _ in 0..20 {
            let x = rng.uniform(lo, hi);
            let y = fd(Dual::variable(x));
            assert_eq!(y.re, f(x), "{name} value");
            let h = 1e-6 * x.abs().max(1.0);
            let numeric = (f(x + h) - f(x - h)) / (2.0 * h);
            assert!(
                close(y.eps, numeric, 1e-6),
                "{name}'({x}) = {} vs {numeric}",
                y.eps
            );
        }
    }
    // Binary methods and arithmetic, along a direction (1, 0.5).
    let mut rng = Rng::new(102);
    for _ in 0..20 {
        let (a, b) = (rng.uniform(0.5, 2.0), rng.uniform(0.5, 2.0));
        let binary: &[(&str, fn(D, D) -> D, fn(f64, f64) -> f64)] = &[
            ("add", |x, y| x + y, |x, y| x + y),
            ("sub", |x, y| x - y, |x, y| x - y),
            ("mul", |x, y| x * y, |x, y| x * y),
            ("div", |x, y| x / y, |x, y| x / y),
            ("powf", D::powf, f64::powf),
            ("log", D::log, f64::log),
            ("atan2", D::atan2, f64::atan2),
            ("hypot", D::hypot, f64::hypot),
            ("max", D::max, f64::max),
            ("min", D::min, f64::min),
        ];
        for &(name, fd, f) in binary {
            let y = fd(Dual::new(a, 1.0), Dual::new(b, 0.5));
            let h = 1e-6;
            let numeric = (f(a + h, b + 0.5 * h) - f(a - h, b - 0.5 * h)) / (2.0 * h);
            assert!(
                close(y.eps, numeric, 1e-6),
                "{name}: {} vs {numeric}",
                y.eps
            );
        }
        let y = Dual::new(a, 1.0).powi(3);
        assert!(close(y.eps, 3.0 * a * a, 1e-14));
        let y = Dual::new(a, 1.0).mul_add(Dual::constant(b), Dual::new(1.0, 2.0));
        assert!(close(y.eps, b + 2.0, 1e-14));
    }
    // Comparisons look at the real part only.
    assert!(Dual::new(1.0, 5.0) < Dual::new(2.0, -5.0));
    assert_eq!(Dual::new(0.0, 3.0).abs().eps, 0.0);
}

#[differentiable]
fn cubic_sin<T: Float>(x: T) -> T {
    x * x * x * x.sin()
}

#[test]
fn second_derivative_of_a_scalar_fn() {
    let mut rng = Rng::new(103);
    for _ in 0..20 {
        let x = rng.uniform(-2.0, 2.0);
        // f' = 3x^2 sin x + x^3 cos x; f'' = 6x sin x + 6x^2 cos x - x^3 sin x.
        let (value, d1) = cubic_sin_grad(Dual::variable(x));
        let want1 = 3.0 * x * x * x.sin() + x.powi(3) * x.cos();
        let want2 = 6.0 * x * x.sin() + 6.0 * x * x * x.cos() - x.powi(3) * x.sin();
        assert!(close(value.re, x.powi(3) * x.sin(), 1e-14));
        assert!(close(d1.re, want1, 1e-13), "f'");
        assert!(close(d1.eps, want2, 1e-12), "f'' = {} vs {want2}", d1.eps);
    }
}

// A loop and a branch, two inputs: Hessian-vector products.
#[differentiable]
fn energy<T: Float>(x: &[T]) -> T {
    let mut e = T::zero();
    for i in 0..x.len() - 1 {
        let d = x[i + 1] - x[i];
        e += if d > 0.0 { d * d * d } else { d.powi(2) } + (x[i] * 0.5).cos();
    }
    e
}

#[test]
fn hessian_vector_products_through_loops() {
    let mut rng = Rng::new(104);
    for _ in 0..20 {
        let x = rng.point(4, -1.0, 1.0);
        let v = rng.point(4, -1.0, 1.0);
        let dual: Vec<D> = x.iter().zip(&v).map(|(&a, &b)| Dual::new(a, b)).collect();
        let (_, g) = energy_grad(&dual);
        // H v by central differences of the (real) gradient along v.
        let h = 1e-5;
        let plus: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a + h * b).collect();
        let minus: Vec<f64> = x.iter().zip(&v).map(|(a, b)| a - h * b).collect();
        let (gp, gm) = (energy_grad(&plus).1, energy_grad(&minus).1);
        for i in 0..4 {
            let numeric = (gp[i] - gm[i]) / (2.0 * h);
            assert!(
                close(g[i].eps, numeric, 1e-5),
                "(Hv)[{i}] = {} vs {numeric}",
                g[i].eps
            );
            assert!(close(g[i].re, energy_grad(&x).1[i], 1e-14));
        }
    }
}

// A layer over rows called by a loss (its gradients move into the caller's,
// its rows are bound before its loops), a nearest-centre `min` (a routed
// cone) and a normaliser read after its loop: Hessian-vector products in
// dual numbers.
#[differentiable]
fn rows_layer<T: Float>(w: &[Vec<T>], x: &[T]) -> Vec<T> {
    let mut out = Vec::new();
    for row in w {
        let mut z = T::zero();
        for (a, b) in row.iter().zip(x) {
            z = z + *a * *b;
        }
        out.push(z.tanh());
    }
    out
}

#[differentiable]
fn rows_loss<T: Float>(w: &[Vec<T>], x: &[T]) -> T {
    let h = rows_layer(w, x);
    let mut z = T::zero();
    for v in &h {
        z = z + (*v).exp();
    }
    let mut s = T::zero();
    for &hi in &h {
        let mut best = T::infinity();
        for &c in x {
            let d = (hi - c) * (hi - c) + 0.1;
            best = best.min(d);
        }
        s = s + best + hi.exp() / z;
    }
    s
}

#[test]
fn hessian_vector_products_through_calls_rows_and_routes() {
    let mut rng = Rng::new(105);
    let rows = |v: &[f64]| vec![v[..3].to_vec(), v[3..6].to_vec()];
    let mut skipped = 0;
    for _ in 0..20 {
        let p = rng.point(9, -1.0, 1.0);
        let v = rng.point(9, -1.0, 1.0);
        let dual: Vec<D> = p.iter().zip(&v).map(|(&a, &b)| Dual::new(a, b)).collect();
        let drows = vec![dual[..3].to_vec(), dual[3..6].to_vec()];
        let (_, (gw, gx)) = rows_loss_grad(&drows, &dual[6..]);
        let g: Vec<D> = gw.concat().into_iter().chain(gx).collect();
        let real = |q: &[f64]| {
            let (_, (gw, gx)) = rows_loss_grad(&rows(q), &q[6..]);
            gw.concat().into_iter().chain(gx).collect::<Vec<f64>>()
        };
        let h = 1e-5;
        let plus: Vec<f64> = p.iter().zip(&v).map(|(a, b)| a + h * b).collect();
        let minus: Vec<f64> = p.iter().zip(&v).map(|(a, b)| a - h * b).collect();
        let (gp, gm, g0) = (real(&plus), real(&minus), real(&p));
        for i in 0..9 {
            // A step across the min's switch: the gradient jumps (it moves
            // by about 2h|Hv| otherwise).
            if (gp[i] - gm[i]).abs() > 1e-3 {
                skipped += 1;
                continue;
            }
            let numeric = (gp[i] - gm[i]) / (2.0 * h);
            assert!(
                close(g[i].eps, numeric, 1e-5),
                "(Hv)[{i}] = {} vs {numeric}",
                g[i].eps
            );
            assert!(close(g[i].re, g0[i], 1e-14));
        }
    }
    assert!(skipped <= 18, "{skipped} of 180 entries skipped");
}
