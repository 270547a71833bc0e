//! Elements whose adjoints the reversed loop sums in locals. Neighbouring
//! elements read by each iteration (`x[i]` and `x[i + 1]`: stencils, finite
//! differences, Rosenbrock, smoothness penalties) are carried from one
//! iteration to the next and written once each; an element fixed while the
//! loop runs (`v[a]` in a loop over `b`) is written after it. These check the
//! gradients against finite differences at random points, f64 and f32, for
//! every shape that carries: counting up or down, inclusive ranges, offsets
//! below and above the index, gaps, reads in branches (some of which never
//! run, at indices that do not exist), `continue`, slices iterated with
//! `.enumerate()` (and `.rev()`), loops in loops, arrays computed before
//! the loop, rows of nested arrays, and loops that run no iteration.

#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Dual, Float};

#[differentiable]
fn rosenbrock<T: Float>(x: &[T]) -> T {
    let mut f = T::zero();
    for i in 0..x.len() - 1 {
        let a = x[i + 1] - x[i] * x[i];
        let b = 1.0 - x[i];
        f += 100.0 * a * a + b * b;
    }
    f
}

/// A second difference on both sides of the index, weighted per element.
#[differentiable]
fn smooth<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let mut s = T::zero();
    for i in 1..n - 1 {
        let l = x[i - 1] - 2.0 * x[i] + x[i + 1];
        s += w[i] * l * l;
    }
    s
}

/// Counting down, with a value carried through the iterations.
#[differentiable]
fn backwards<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for i in (0..x.len() - 1).rev() {
        s = s * 0.9 + (x[i + 1] - x[i]).sin();
    }
    s
}

/// An inclusive range and a gap: `x[i]` itself is never read.
#[differentiable]
fn gap<T: Float>(x: &[T]) -> T {
    let n = x.len();
    let mut s = T::zero();
    for i in 1..=n - 2 {
        s += x[i - 1] * x[i + 1];
    }
    s
}

/// Reads in both arms of a branch (smooth where the arms meet, so that
/// finite differences across it stay accurate).
#[differentiable]
fn branchy<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..x.len() - 1 {
        let (here, next) = (x[i], x[i + 1]);
        if here > next {
            s += (here - x[i + 1]).powi(2) * here.exp();
        } else {
            s += (x[i + 1] - here).powi(3) * x[i + 1].cos();
        }
    }
    s
}

/// A stencil inside an outer loop, with a weight per outer step.
#[differentiable]
fn steps<T: Float>(x: &[T], c: &[T]) -> T {
    let mut e = T::zero();
    for t in 0..c.len() {
        for i in 0..x.len() - 1 {
            e += (x[i + 1] - x[i]) * c[t] + (x[i] * c[t]).tanh();
        }
    }
    e
}

/// An array computed before the loop, its neighbours multiplied.
#[differentiable]
fn computed<T: Float>(x: &[T]) -> T {
    let n = x.len();
    let mut y = vec![T::zero(); n];
    for i in 0..n {
        y[i] = x[i].sin() + x[i] * x[i];
    }
    let mut s = T::zero();
    for i in 0..n - 1 {
        s += y[i] * y[i + 1];
    }
    s
}

/// Reversed iteration over a slice's windows by index, counting down with
/// the offset below the index, the neighbour's index bound to a name first.
#[differentiable]
fn down_below<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for i in (1..x.len()).rev() {
        let before = i - 1;
        let d = x[i] - x[before];
        s += d * d * d.exp();
    }
    s
}

/// Total variation in plain `f64` (`+=` on adjoints), smoothed.
#[differentiable]
fn total_variation(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() - 1 {
        let d = x[i + 1] - x[i];
        s += (d * d + 1e-3).sqrt();
    }
    s
}

/// Neighbours read every iteration and one more only where it exists: the
/// window is what every iteration reads; `x[i + 1]` goes straight to memory.
#[differentiable]
fn partly<T: Float>(x: &[T]) -> T {
    let n = x.len();
    let mut s = T::zero();
    for i in 1..n {
        s += x[i] * x[i - 1];
        if i + 1 < n {
            s += x[i + 1].sin();
        }
    }
    s
}

/// Iterating one slice and reading the neighbours of another by its index,
/// forwards and reversed.
#[differentiable]
fn enumerated<T: Float>(w: &[T], x: &[T]) -> T {
    let mut s = T::zero();
    for (i, &wi) in w.iter().enumerate() {
        s += wi * x[i] * x[i + 1];
    }
    for (i, wi) in w.iter().enumerate().rev() {
        s += (*wi * x[i + 1] - x[i]).tanh();
    }
    s
}

/// A `continue` before some of the reads (the rest of the body is then a
/// branch of its own).
#[differentiable]
fn skips<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..x.len() - 1 {
        let (a, b) = (x[i], x[i + 1]);
        s += a * b;
        if i % 3 == 0 {
            continue;
        }
        s += (x[i + 1] - x[i]).sin();
    }
    s
}

/// Elements fixed while the inner loop runs, one read in a branch that
/// never runs where its index is past the end.
#[differentiable]
fn fixed<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len();
    let mut s = T::zero();
    for a in 0..n {
        let far = a + 3;
        for b in 0..w.len() {
            s += w[b] * x[a];
            if far < n {
                s += (w[b] * x[far]).sin();
            }
        }
    }
    s
}

/// A row of a nested array against an element fixed per row.
#[differentiable]
fn rows<T: Float>(m: &[Vec<T>], v: &[T]) -> T {
    let mut s = T::zero();
    for r in 0..m.len() {
        for c in 0..m[r].len() {
            s += (m[r][c] * v[r]).tanh();
        }
    }
    s
}

fn check<T: Float + std::fmt::Display>(seed: u64) {
    let mut rng = Rng::new(seed);
    let tol = tolerance::<T>();
    for n in [1usize, 2, 3, 4, 7, 12] {
        let x: Vec<T> = cast(&rng.point(n, -1.2, 1.2));
        let w: Vec<T> = cast(&rng.point(n, 0.5, 1.5));
        let (v, g) = rosenbrock_grad(&x);
        assert!(v == rosenbrock(&x));
        assert_gradient("rosenbrock", |p: &[T]| rosenbrock(p), &x, &g, tol);
        let (v, g) = backwards_grad(&x);
        assert!(v == backwards(&x));
        assert_gradient("backwards", |p: &[T]| backwards(p), &x, &g, tol);
        let (v, g) = branchy_grad(&x);
        assert!(v == branchy(&x));
        assert_gradient("branchy", |p: &[T]| branchy(p), &x, &g, tol);
        let (v, g) = computed_grad(&x);
        assert!(v == computed(&x));
        assert_gradient("computed", |p: &[T]| computed(p), &x, &g, tol);
        let (v, g) = down_below_grad(&x);
        assert!(v == down_below(&x));
        assert_gradient("down_below", |p: &[T]| down_below(p), &x, &g, tol);
        if n >= 2 {
            let (v, (gx, gw)) = smooth_grad(&x, &w);
            assert!(v == smooth(&x, &w));
            assert_gradient("smooth x", |p: &[T]| smooth(p, &w), &x, &gx, tol);
            assert_gradient("smooth w", |p: &[T]| smooth(&x, p), &w, &gw, tol);
            let (v, g) = gap_grad(&x);
            assert!(v == gap(&x));
            assert_gradient("gap", |p: &[T]| gap(p), &x, &g, tol);
        }
        if n >= 2 {
            let wn = &w[..n - 1];
            let (v, (gw, gx)) = enumerated_grad(wn, &x);
            assert!(v == enumerated(wn, &x));
            assert_gradient("enumerated w", |p: &[T]| enumerated(p, &x), wn, &gw, tol);
            assert_gradient("enumerated x", |p: &[T]| enumerated(wn, p), &x, &gx, tol);
        }
        let (v, g) = skips_grad(&x);
        assert!(v == skips(&x));
        assert_gradient("skips", |p: &[T]| skips(p), &x, &g, tol);
        let (v, g) = partly_grad(&x);
        assert!(v == partly(&x));
        assert_gradient("partly", |p: &[T]| partly(p), &x, &g, tol);
        for len in [0, 1, 3] {
            let w: Vec<T> = cast(&rng.point(len, -1.0, 1.0));
            let (v, (gx, gw)) = fixed_grad(&x, &w);
            assert!(v == fixed(&x, &w));
            assert_gradient("fixed x", |p: &[T]| fixed(p, &w), &x, &gx, tol);
            assert_gradient("fixed w", |p: &[T]| fixed(&x, p), &w, &gw, tol);
        }
        let flat: Vec<T> = cast(&rng.point(3 * n, -1.0, 1.0));
        let m: Vec<Vec<T>> = flat.chunks(n).map(|r| r.to_vec()).collect();
        let v3: Vec<T> = cast(&rng.point(3, -1.0, 1.0));
        let (_, (gm, gv)) = rows_grad(&m, &v3);
        let gm_flat: Vec<T> = gm.concat();
        assert_gradient(
            "rows m",
            |p: &[T]| rows(&p.chunks(n).map(|r| r.to_vec()).collect::<Vec<_>>(), &v3),
            &flat,
            &gm_flat,
            tol,
        );
        assert_gradient("rows v", |p: &[T]| rows(&m, p), &v3, &gv, tol);
        let c: Vec<T> = cast(&rng.point(3, -1.0, 1.0));
        let (v, (gx, gc)) = steps_grad(&x, &c);
        assert!(v == steps(&x, &c));
        assert_gradient("steps x", |p: &[T]| steps(p, &c), &x, &gx, tol);
        assert_gradient("steps c", |p: &[T]| steps(&x, p), &c, &gc, tol);
    }
}

#[test]
fn stencils_f64() {
    check::<f64>(301);
}

#[test]
fn stencils_f32() {
    check::<f32>(302);
}

#[test]
fn stencils_in_plain_f64() {
    let mut rng = Rng::new(303);
    for n in [1usize, 2, 5, 9] {
        let x = rng.point(n, -1.0, 1.0);
        let (v, g) = total_variation_grad(&x);
        assert!(v == total_variation(&x));
        assert_gradient(
            "total_variation",
            total_variation,
            &x,
            &g,
            tolerance::<f64>(),
        );
    }
}

/// Rosenbrock's gradient in closed form, element by element.
#[test]
fn rosenbrock_matches_its_closed_form() {
    let mut rng = Rng::new(304);
    for n in [2usize, 3, 10, 100] {
        let x = rng.point(n, -2.0, 2.0);
        let (_, g) = rosenbrock_grad(&x);
        for j in 0..n {
            let mut want = 0.0;
            if j + 1 < n {
                want += -400.0 * x[j] * (x[j + 1] - x[j] * x[j]) - 2.0 * (1.0 - x[j]);
            }
            if j > 0 {
                want += 200.0 * (x[j] - x[j - 1] * x[j - 1]);
            }
            assert!(
                (g[j] - want).abs() <= 1e-12 * (1.0 + want.abs()),
                "n={n} j={j}: {} vs {want}",
                g[j]
            );
        }
    }
}

/// Second derivatives through carried adjoints: the gradient of the
/// smoothness penalty in dual numbers, against its Hessian in closed form
/// (tridiagonal: 2 on the ends of the diagonal, 4 inside, -2 off it).
#[test]
fn second_derivatives_through_carried_adjoints() {
    #[differentiable]
    fn penalty<T: Float>(x: &[T]) -> T {
        let mut s = T::zero();
        for i in 1..=x.len() - 1 {
            s += (x[i] - x[i - 1]).powi(2);
        }
        s
    }
    let x = [0.3, -0.2, 0.5, 1.1, -0.7];
    let n = x.len();
    for j in 0..n {
        let xd: Vec<Dual<f64>> = (0..n)
            .map(|i| Dual {
                re: x[i],
                eps: if i == j { 1.0 } else { 0.0 },
            })
            .collect();
        let (_, g) = penalty_grad(&xd);
        for i in 0..n {
            let want = match (i as i64 - j as i64).abs() {
                0 if i == 0 || i == n - 1 => 2.0,
                0 => 4.0,
                1 => -2.0,
                _ => 0.0,
            };
            assert!(
                (g[i].eps - want).abs() < 1e-12,
                "H[{i}][{j}] = {}",
                g[i].eps
            );
        }
    }
}
