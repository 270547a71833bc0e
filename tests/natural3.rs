//! Still more code written the way users write it, each checked against
//! finite differences in f64 and f32: float slices zipped with slices of
//! labels and flags (`x.iter().zip(y)` with `y: &[usize]`, `.copied()`,
//! `.rev()`), zips of three (`((a, f), c)`), logistic regression over rows
//! with boolean labels, a spring simulated from a copy of its initial state,
//! settings read from the fields of a struct, closures and `match` in
//! constant expressions, assertions, `&w[..]` for `&w`, `windows` and
//! `chunks_exact`, `.skip(k)`/`.take(k)`, elements written through
//! `iter_mut()`, and helper `fn`s declared inside.

#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

#[differentiable]
fn labelled<T: Float>(x: &[T], y: &[usize]) -> T {
    let mut s = T::zero();
    for (a, &b) in x.iter().zip(y) {
        s = s + *a * T::from(b).unwrap();
    }
    for (b, a) in y.iter().copied().zip(x.iter()).rev() {
        s = s + *a * *a * T::from(b + 1).unwrap();
    }
    s
}

#[differentiable]
fn flagged<T: Float>(x: &[T], on: &[bool], w: &[T]) -> T {
    let mut s = T::zero();
    for ((a, f), c) in x.iter().zip(on.iter()).zip(w.iter()) {
        if *f {
            s = s + (*a * *c).sin();
        } else {
            s = s - *a * *a;
        }
    }
    s
}

#[differentiable]
fn logistic<T: Float>(w: &[T], b: T, x: &[Vec<T>], y: &[bool]) -> T {
    let mut loss = T::zero();
    for (xi, &yi) in x.iter().zip(y.iter()) {
        let mut z = b;
        for j in 0..w.len() {
            z = z + w[j] * xi[j];
        }
        let p = T::one() / (T::one() + (-z).exp());
        loss = loss - if yi { p.ln() } else { (T::one() - p).ln() };
    }
    loss / T::from(y.len()).unwrap()
}

#[differentiable]
fn spring<T: Float>(pos: &[T], k: T, steps: usize) -> T {
    let mut x = pos.to_vec();
    let mut v = vec![T::zero(); pos.len()];
    let dt = T::from(0.01).unwrap();
    for _ in 0..steps {
        for i in 0..x.len() {
            let a = -k * x[i];
            v[i] = v[i] + a * dt;
            x[i] = x[i] + v[i] * dt;
        }
    }
    let mut e = T::zero();
    for i in 0..x.len() {
        e += x[i] * x[i];
    }
    e
}

/// Settings passed as a struct: its fields are constants.
pub struct Settings {
    pub scale: f64,
    pub rate: f64,
    pub skip: usize,
}

#[differentiable]
fn configured<T: Float>(x: &[T], cfg: &Settings) -> T {
    const EPS: f64 = 1e-8;
    let s = T::from(cfg.scale).unwrap();
    let mut total: T = T::zero();
    for i in cfg.skip..x.len() {
        total = total + (x[i] * x[i] * s + T::from(EPS).unwrap()).ln_1p();
    }
    total * T::from(cfg.rate).unwrap()
}

/// Closures and `match` in expressions that touch no differentiated value
/// are constants, computed as written; a closure's parameter `i` is its own,
/// not the loop's.
#[differentiable]
fn counted_weights<T: Float>(x: &[T], labels: &[bool], mode: usize) -> T {
    let positives = labels.iter().filter(|&&l| l).count();
    let power = match mode {
        0 => 1,
        1 | 2 => 2,
        _ => 3,
    };
    let mut s = T::zero();
    for i in 0..x.len() {
        let triangle = (0..i).map(|i| i + 1).sum::<usize>();
        s = s + x[i].powi(power) * T::from(triangle + positives).unwrap();
    }
    s
}

/// Assertions run as written, in the generated fns too; float literals in
/// `vec![..]` and in assertions take the float type.
#[differentiable]
fn checked<T: Float>(x: &[T], y: &[T]) -> T {
    debug_assert_eq!(x.len(), y.len());
    assert!(!x.is_empty(), "x must not be empty");
    let w = vec![0.5; x.len()];
    let n = x.len();
    let mut s = T::zero();
    for i in 0..n {
        let d = x[i] - y[i];
        debug_assert!(d.is_finite(), "difference at {} is not finite ({i})", i);
        s = s + w[i] * d * d;
    }
    assert!(s >= 0.0, "a sum of squares below zero at n = {n}");
    assert_ne!(n, 0);
    s
}

#[test]
fn assertions_run_in_the_gradient_too() {
    let (v, (gx, gy)) = checked_grad(&[1.0, 2.0], &[0.5, 3.0]);
    assert_eq!((v, gx, gy), (0.625, vec![0.5, -1.0], vec![-0.5, 1.0]));
    let (v, (gx, _)) = checked_grad(&[1.0_f32, 2.0], &[0.5, 3.0]);
    assert_eq!((v, gx), (0.625, vec![0.5, -1.0]));
    let empty = std::panic::catch_unwind(|| checked_grad::<f64>(&[], &[]));
    assert!(
        empty.is_err(),
        "`assert!(!x.is_empty())` runs in `checked_grad`"
    );
}

/// A neuron called per row, its weights passed as `&w[..]`.
#[differentiable]
fn neuron<F: Float>(w: &[F], b: F, x: &[F]) -> F {
    let mut s = b;
    for i in 0..x.len() {
        s = s + w[i] * x[i];
    }
    s.tanh()
}

// `&v[..]` is how a `Vec` is passed as a slice; written here on slices.
#[differentiable(wrt(w))]
#[allow(clippy::redundant_slicing)]
fn fit<F: Float>(w: &[F], xs: &[Vec<F>], ys: &[F]) -> F {
    let mut loss = F::zero();
    for k in 0..xs.len() {
        let e = neuron(&w[..], w[0], &xs[k][..]) - ys[k];
        loss = loss + e * e;
    }
    loss
}

/// Neighbours by `windows`, points by `chunks_exact`.
#[differentiable]
fn smoothness<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for w in x.windows(2) {
        let d = w[1] - w[0];
        s = s + d * d;
    }
    for w in x.windows(3) {
        s = s + (w[0] - 2.0 * w[1] + w[2]).powi(2) * T::from(w.len()).unwrap();
    }
    s
}

#[differentiable]
fn cross_slopes<T: Float>(x: &[T], y: &[T]) -> T {
    let mut s = T::zero();
    for a in x.windows(2) {
        for b in y.windows(2) {
            s = s + (a[1] - a[0]) * (b[1] - b[0]) * a[0];
        }
    }
    s
}

#[differentiable]
fn radii<T: Float>(xyz: &[T]) -> T {
    let mut s = T::zero();
    for p in xyz.chunks_exact(3) {
        s = s + (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
    }
    s
}

/// `.skip(k)` and `.take(k)`, with `rev`, `enumerate` and `zip` around them.
#[differentiable]
fn adaptors<T: Float>(x: &[T], y: &[T], k: usize) -> T {
    let mut max = x[0];
    for &v in x.iter().skip(1) {
        max = max.max(v);
    }
    let mut s = max;
    for (i, v) in x.iter().skip(1).enumerate() {
        s = s + *v * T::from(i + 1).unwrap();
    }
    for v in x.iter().take(k) {
        s = s + v.sin();
    }
    for (a, b) in x.iter().zip(y.iter()).skip(1).take(2).rev() {
        s = s + *a * *b;
    }
    for (i, v) in x.iter().take(3).skip(1).rev().enumerate() {
        s = s + *v * *v * T::from(i + 2).unwrap();
    }
    s
}

#[test]
fn skip_and_take() {
    let x = [1.0_f64, 2.0, 0.5, -1.0, 3.0];
    let y = [0.5, -1.0, 2.0, 1.5, 0.25];
    // max 3; 2*1 + 0.5*2 - 1*3 + 3*4; sin 1 + sin 2; 2*-1 + 0.5*2;
    // [0.5, 2.0] backwards: 0.25*2 + 4*3.
    let want = 3.0 + 12.0 + 1f64.sin() + 2f64.sin() - 1.0 + 12.5;
    assert!((adaptors_grad(&x, &y, 2).0 - want).abs() < 1e-12);
    assert!((adaptors_grad(&x, &y, 0).0 - (want - 1f64.sin() - 2f64.sin())).abs() < 1e-12);
    let (_, (_, gy)) = adaptors_grad(&x, &y, 2);
    assert_eq!(
        gy,
        vec![0.0, 2.0, 0.5, 0.0, 0.0],
        "only the pairs skip(1).take(2) keeps"
    );
}

/// Elements written through `iter_mut()`, `&mut`, and `.enumerate()`.
#[differentiable]
fn softmax_in_place<T: Float>(z: &[T], k: T) -> T {
    let mut out = vec![T::zero(); z.len()];
    let mut total = T::zero();
    for i in 0..out.len() {
        out[i] = z[i].exp();
        total = total + out[i];
    }
    for v in out.iter_mut() {
        *v = *v / total;
    }
    for (i, v) in out.iter_mut().enumerate() {
        *v *= k * T::from(i + 1).unwrap() + v.abs();
    }
    for v in &mut out {
        *v += 1.0;
    }
    let mut s = T::zero();
    for v in out.iter() {
        s = s + *v * *v;
    }
    s
}

/// A quadrature with its weights in a `const` and its nodes from a helper
/// `fn` declared inside; conditions joined with `&&`, `||` and `!`.
#[differentiable]
fn quadrature<T: Float>(f0: T, scale: T) -> T {
    const W: [f64; 3] = [0.25, 0.5, 0.25];
    fn node(i: usize) -> f64 {
        i as f64 * 0.5
    }
    let mut s = T::zero();
    for i in 0..W.len() {
        let t = T::from(node(i)).unwrap();
        let v = (f0 * t).sin() * scale;
        let past_one = t > T::one();
        if v > T::zero() && !past_one || v < -scale {
            s = s + T::from(W[i]).unwrap() * v;
        } else {
            s = s - v * v;
        }
    }
    s
}

#[test]
fn windows_and_chunks() {
    let x = [1.0, 2.0, 4.0, 3.0, 0.5];
    // 1 + 4 + 1 + 6.25 first differences, 3 (1 + 9 + 2.25) second ones.
    assert_eq!(smoothness_grad(&x).0, 49.0);
    let (v, g) = smoothness_grad(&[1.0_f32]);
    assert_eq!((v, g), (0.0, vec![0.0]), "a slice shorter than a window");
    // 7 values: two whole points, the last value in none.
    let y = [3.0, 4.0, 0.0, 0.0, 0.0, 2.0, 9.0];
    let (v, g) = radii_grad(&y);
    assert_eq!((v, g[6]), (7.0, 0.0));
    assert!((g[0] - 0.6).abs() < 1e-15 && (g[1] - 0.8).abs() < 1e-15 && g[2] == 0.0);
}

fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
    let p = rng.point(4, -1.5, 1.5);
    let x: Vec<T> = cast(&p);
    let labels = [2usize, 0, 1, 3];
    let y: Vec<T> = cast(&rng.point(4, -1.0, 1.0));
    let (_, (gx, _)) = checked_grad(&x, &y);
    assert_gradient(
        "checked",
        |q: &[T]| checked(q, &y),
        &x,
        &gx,
        tolerance::<T>(),
    );

    let rows: Vec<Vec<T>> = (0..3).map(|_| cast(&rng.point(4, -1.0, 1.0))).collect();
    let ys: Vec<T> = cast(&rng.point(3, -0.5, 0.5));
    let (_, g) = fit_grad(&x, &rows, &ys);
    assert_gradient(
        "fit",
        |q: &[T]| fit(q, &rows, &ys),
        &x,
        &g,
        tolerance::<T>(),
    );

    // A clear maximum: finite differences must not cross `max`'s kink.
    let mut p4 = rng.point(4, -1.0, 0.5);
    p4[2] = 1.5 + rng.uniform(0.0, 0.5);
    let x4: Vec<T> = cast(&p4);
    let y4: Vec<T> = cast(&rng.point(4, -1.0, 1.0));
    let (_, (gx, gy)) = adaptors_grad(&x4, &y4, 3);
    let both: Vec<T> = gx.iter().chain(&gy).copied().collect();
    let xy: Vec<T> = x4.iter().chain(&y4).copied().collect();
    assert_gradient(
        "adaptors",
        |q: &[T]| adaptors(&q[..4], &q[4..], 3),
        &xy,
        &both,
        tolerance::<T>(),
    );

    let (_, (gz, gk)) = softmax_in_place_grad(&x, x[0]);
    let mut g = gz.clone();
    g.push(gk);
    let mut xk = x.clone();
    xk.push(x[0]);
    assert_gradient(
        "softmax_in_place",
        |q: &[T]| softmax_in_place(&q[..4], q[4]),
        &xk,
        &g,
        tolerance::<T>(),
    );

    let (_, (g0, g1)) = quadrature_grad(x[0], x[1]);
    assert_gradient(
        "quadrature",
        |q: &[T]| quadrature(q[0], q[1]),
        &x[..2],
        &[g0, g1],
        tolerance::<T>(),
    );

    let (_, g) = smoothness_grad(&x);
    assert_gradient("smoothness", smoothness::<T>, &x, &g, tolerance::<T>());
    let six: Vec<T> = cast(&rng.point(7, -1.0, 1.0));
    let (_, g) = radii_grad(&six);
    assert_gradient("radii", radii::<T>, &six, &g, tolerance::<T>());

    let (_, g) = labelled_grad(&x, &labels);
    assert_gradient(
        "labelled",
        |q: &[T]| labelled(q, &labels),
        &x,
        &g,
        tolerance::<T>(),
    );

    let on = [true, false, true, true];
    let w: Vec<T> = cast(&rng.point(4, -1.0, 1.0));
    let (_, (gx, gw)) = flagged_grad(&x, &on, &w);
    let both: Vec<T> = gx.iter().chain(&gw).copied().collect();
    let xw: Vec<T> = x.iter().chain(&w).copied().collect();
    assert_gradient(
        "flagged",
        |q: &[T]| flagged(&q[..4], &on, &q[4..]),
        &xw,
        &both,
        tolerance::<T>(),
    );
    let (_, (gx, gy)) = cross_slopes_grad(&x, &w);
    let both: Vec<T> = gx.iter().chain(&gy).copied().collect();
    assert_gradient(
        "cross_slopes",
        |q: &[T]| cross_slopes(&q[..4], &q[4..]),
        &xw,
        &both,
        tolerance::<T>(),
    );

    let rows: Vec<Vec<T>> = (0..5).map(|_| cast(&rng.point(2, -2.0, 2.0))).collect();
    let ys = [true, false, false, true, true];
    let wb: Vec<T> = cast(&rng.point(3, -1.0, 1.0));
    let (_, (gw, gb, gx)) = logistic_grad(&wb[..2], wb[2], &rows, &ys);
    assert_eq!(
        (gx.len(), gx[0].len()),
        (5, 2),
        "the rows' gradient has their shape"
    );
    let mut g = gw.clone();
    g.push(gb);
    assert_gradient(
        "logistic",
        |q: &[T]| logistic(&q[..2], q[2], &rows, &ys),
        &wb,
        &g,
        tolerance::<T>(),
    );

    let cfg = Settings {
        scale: 2.0,
        rate: 0.5,
        skip: 1,
    };
    let (_, g) = configured_grad(&x, &cfg);
    assert!(g[0] == T::zero(), "skipped by `cfg.skip`");
    assert_gradient(
        "configured",
        |q: &[T]| configured(q, &cfg),
        &x,
        &g,
        tolerance::<T>(),
    );

    let flags = [true, false, true, true];
    for mode in 0..4 {
        let (v, g) = counted_weights_grad(&x, &flags, mode);
        let power = [1, 2, 2, 3][mode];
        // Weights: i(i+1)/2 plus the 3 positives.
        let want: T = x
            .iter()
            .enumerate()
            .map(|(i, &xi)| xi.powi(power) * T::from(i * (i + 1) / 2 + 3).unwrap())
            .fold(T::zero(), |a, b| a + b);
        assert!((v - want).abs() <= T::from(1e-5).unwrap() * want.abs().max(T::one()));
        assert_gradient(
            "counted_weights",
            |q: &[T]| counted_weights(q, &flags, mode),
            &x,
            &g,
            tolerance::<T>(),
        );
    }

    let pos: Vec<T> = cast(&rng.point(3, -1.0, 1.0));
    let k = T::from(2.0 + rng.uniform(0.0, 1.0)).unwrap();
    let (_, (gp, gk)) = spring_grad(&pos, k, 10);
    let mut g = gp.clone();
    g.push(gk);
    let mut pk = pos.clone();
    pk.push(k);
    assert_gradient(
        "spring",
        |q: &[T]| spring(&q[..3], q[3], 10),
        &pk,
        &g,
        tolerance::<T>(),
    );
}

#[test]
fn zips_with_constants_rows_and_simulations_f64() {
    let mut rng = Rng::new(2024);
    for _ in 0..20 {
        check::<f64>(&mut rng);
    }
}

#[test]
fn zips_with_constants_rows_and_simulations_f32() {
    let mut rng = Rng::new(2025);
    for _ in 0..20 {
        check::<f32>(&mut rng);
    }
}

/// A loop over a constant slice of `f64` data in a generic fn (its tape's
/// capacity is taken from the slice, which is not itself an iterator).
#[differentiable]
fn log_likelihood<T: Float>(mu: T, sigma: T, data: &[f64]) -> T {
    let two_pi = T::from(2.0 * std::f64::consts::PI).unwrap();
    let mut ll = T::zero();
    for &x in data {
        let z = (T::from(x).unwrap() - mu) / sigma;
        ll = ll - 0.5 * z * z - sigma.ln() - 0.5 * two_pi.ln();
    }
    ll
}

#[test]
fn loops_over_constant_data() {
    let data = [0.5, 1.5, 2.0, -0.25];
    for (mu, sigma) in [(1.0, 0.8), (-0.5, 2.0)] {
        let (_, (gm, gs)) = log_likelihood_grad(mu, sigma, &data);
        // d/dmu = sum z / sigma; d/dsigma = sum (z^2 - 1) / sigma.
        let z: Vec<f64> = data.iter().map(|x| (x - mu) / sigma).collect();
        let want_m: f64 = z.iter().sum::<f64>() / sigma;
        let want_s: f64 = z.iter().map(|z| z * z - 1.0).sum::<f64>() / sigma;
        assert!((gm - want_m).abs() < 1e-12 && (gs - want_s).abs() < 1e-12);
        let (_, (gm32, gs32)) = log_likelihood_grad(mu as f32, sigma as f32, &data);
        assert!((f64::from(gm32) - want_m).abs() < 1e-4 && (f64::from(gs32) - want_s).abs() < 1e-4);
    }
}

/// Walking constant parameters: a graph's edges (`&(i, j)` with
/// `.enumerate()`), rows of a data table, one row of it by index.
#[differentiable]
fn springs<T: Float>(x: &[T], edges: &[(usize, usize)], rest: &[f64]) -> T {
    let mut e = T::zero();
    for (k, &(i, j)) in edges.iter().enumerate() {
        let d = (x[i] - x[j]).abs() - T::from(rest[k]).unwrap();
        e = e + d * d;
    }
    e
}

#[differentiable]
fn table<T: Float>(w: &[T], data: &[Vec<f64>]) -> T {
    let mut s = T::zero();
    for row in data {
        let mut z = T::zero();
        for j in 0..row.len() {
            z = z + w[j] * T::from(row[j]).unwrap();
        }
        s = s + z.tanh();
    }
    for &v in data[0].iter().rev() {
        s = s * T::from(v).unwrap();
    }
    s
}

#[test]
fn loops_over_constant_parameters() {
    let edges = [(0, 1), (1, 2), (0, 2)];
    let rest = [1.0, 1.0, 2.0];
    let data = vec![vec![1.0, 2.0], vec![-0.5, 0.25], vec![0.75, -1.0]];
    let mut rng = Rng::new(77);
    for _ in 0..10 {
        let x = rng.point(3, -2.0, 2.0);
        let (_, g) = springs_grad(&x, &edges, &rest);
        assert_gradient(
            "springs",
            |q: &[f64]| springs(q, &edges, &rest),
            &x,
            &g,
            tolerance::<f64>(),
        );
        let x32: Vec<f32> = cast(&x);
        let (_, g) = springs_grad(&x32, &edges, &rest);
        assert_gradient(
            "springs f32",
            |q: &[f32]| springs(q, &edges, &rest),
            &x32,
            &g,
            tolerance::<f32>(),
        );
        let w = rng.point(2, -1.0, 1.0);
        let (_, g) = table_grad(&w, &data);
        assert_gradient(
            "table",
            |q: &[f64]| table(q, &data),
            &w,
            &g,
            tolerance::<f64>(),
        );
        let w32: Vec<f32> = cast(&w);
        let (_, g) = table_grad(&w32, &data);
        assert_gradient(
            "table f32",
            |q: &[f32]| table(q, &data),
            &w32,
            &g,
            tolerance::<f32>(),
        );
    }
}

/// An array a call returns per loop iteration, passed to another call and
/// read by element: kept whole per iteration for the backward.
#[differentiable]
fn hidden<T: Float>(w: &[Vec<T>], x: &[T]) -> Vec<T> {
    let mut h = vec![T::zero(); w.len()];
    for i in 0..w.len() {
        h[i] = tapeless::dot(&w[i], x).tanh();
    }
    h
}

#[differentiable(wrt(w))]
fn classify<T: Float>(w: &[Vec<T>], xs: &[Vec<T>], ys: &[usize]) -> T {
    let mut loss = T::zero();
    for k in 0..xs.len() {
        let h: Vec<T> = hidden(w, &xs[k]);
        loss = loss + tapeless::softmax_cross_entropy(&h, ys[k]) + h[0] * h[1];
    }
    loss / T::from(ys.len()).unwrap()
}

/// The same, the rows passed on as the loop binds them (`layer(w, x)` with
/// `x` a `&Vec` from `xs.iter()`, and `let r = &xs[0];`).
#[differentiable(wrt(w))]
fn classify_rows<T: Float>(w: &[Vec<T>], xs: &[Vec<T>], ys: &[usize]) -> T {
    let mut loss = T::zero();
    for (x, &y) in xs.iter().zip(ys) {
        let h: Vec<T> = hidden(w, x);
        loss = loss + tapeless::softmax_cross_entropy(&h, y);
    }
    let r = &xs[0];
    let h0: Vec<T> = hidden(w, r);
    loss / T::from(ys.len()).unwrap() + h0[0]
}

#[test]
fn call_results_per_iteration() {
    let xs = vec![vec![1.0, 2.0], vec![-1.0, 0.5], vec![0.25, -0.75]];
    let ys = [2usize, 0, 1];
    let mut rng = Rng::new(99);
    for _ in 0..5 {
        let p = rng.point(6, -1.0, 1.0);
        let w: Vec<Vec<f64>> = p.chunks(2).map(|c| c.to_vec()).collect();
        let (_, g) = classify_grad(&w, &xs, &ys);
        let flat: Vec<f64> = g.iter().flatten().copied().collect();
        let rows = |q: &[f64]| q.chunks(2).map(|c| c.to_vec()).collect::<Vec<_>>();
        assert_gradient(
            "classify",
            |q: &[f64]| classify(&rows(q), &xs, &ys),
            &p,
            &flat,
            tolerance::<f64>(),
        );
        let (_, g) = classify_rows_grad(&w, &xs, &ys);
        let flat: Vec<f64> = g.iter().flatten().copied().collect();
        assert_gradient(
            "classify_rows",
            |q: &[f64]| classify_rows(&rows(q), &xs, &ys),
            &p,
            &flat,
            tolerance::<f64>(),
        );
        let w32: Vec<Vec<f32>> = w.iter().map(|r| cast(r)).collect();
        let xs32: Vec<Vec<f32>> = xs.iter().map(|r| cast(r)).collect();
        let (_, g) = classify_grad(&w32, &xs32, &ys);
        let flat: Vec<f32> = g.iter().flatten().copied().collect();
        let p32: Vec<f32> = cast(&p);
        let rows32 = |q: &[f32]| q.chunks(2).map(|c| c.to_vec()).collect::<Vec<_>>();
        assert_gradient(
            "classify f32",
            |q: &[f32]| classify(&rows32(q), &xs32, &ys),
            &p32,
            &flat,
            tolerance::<f32>(),
        );
    }
}

/// Conditions on elements taken by reference, as Rust asks for them
/// (`*p > limit`): the generated code reads the element by value.
#[differentiable]
fn thresholded<T: Float>(x: &[T], limit: T) -> T {
    let mut s = T::zero();
    for p in x.iter() {
        if *p > limit {
            s = s + *p * *p;
        } else if (*p).abs() < limit * 0.5 {
            s = s - *p;
        }
    }
    for (i, p) in x.iter().enumerate() {
        let q = &x[x.len() - 1 - i];
        let bigger = if *p > *q { *p } else { *q };
        s = s + bigger.sin();
    }
    s
}

#[test]
fn conditions_on_elements_by_reference() {
    fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
        // Away from the thresholds (0.5 and 1) and from ties.
        let x: Vec<T> = [0.1, 0.3, 0.7, 1.4, -0.2, -1.6]
            .iter()
            .map(|&v| T::from(v + rng.uniform(-0.05, 0.05)).unwrap())
            .collect();
        let limit = T::one();
        let (_, (g, gl)) = thresholded_grad(&x, limit);
        let f = |q: &[T]| thresholded(&q[..6], q[6]);
        let p = [x.clone(), vec![limit]].concat();
        assert_gradient(
            "thresholded",
            f,
            &p,
            &[g, vec![gl]].concat(),
            tolerance::<T>(),
        );
    }
    let mut rng = Rng::new(5);
    for _ in 0..10 {
        check::<f64>(&mut rng);
        check::<f32>(&mut rng);
    }
}

/// Questions about differentiated values answered as constants (closures
/// reading them too): `any`,
/// `position(..).unwrap_or(..)`, flags, a `while` on a difference.
#[differentiable]
fn questions<T: Float>(x: &[T], eps: T) -> T {
    let mut s = T::zero();
    let any_big = x.iter().any(|&v| v > eps * T::from(150.0).unwrap());
    let all_small = x.iter().all(|v| v.abs() < T::from(10.0).unwrap());
    let first_neg = x.iter().position(|v| *v < T::zero()).unwrap_or(0);
    let negatives = x.iter().filter(|v| **v < T::zero()).count();
    for i in 1..x.len() {
        let flag = x[i] > x[i - 1] && !x[i].is_nan();
        if (x[i] - x[i - 1]).abs() < eps || flag {
            s = s + x[i] * x[i - 1];
        }
    }
    let (mut prev, mut cur, mut it) = (x[0], x[0] * 0.5, 0);
    while (cur - prev).abs() > eps && it < 20 {
        prev = cur;
        cur = (cur + x[1] / cur) * 0.5;
        it += 1;
    }
    let scale = if any_big && all_small {
        T::one()
    } else {
        T::zero()
    };
    s + x[first_neg] * scale + cur * T::from(negatives + 1).unwrap()
}

#[test]
fn questions_about_values_are_constants() {
    fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
        let x: Vec<T> = [0.3, 2.0, -0.5, 1.7]
            .iter()
            .map(|&v| T::from(v + rng.uniform(-0.05, 0.05)).unwrap())
            .collect();
        let eps = T::from(0.01).unwrap();
        let (_, (g, _)) = questions_grad(&x, eps);
        let f = |q: &[T]| questions(q, eps);
        assert_gradient("questions", f, &x, &g, tolerance::<T>());
    }
    let mut rng = Rng::new(6);
    for _ in 0..10 {
        check::<f64>(&mut rng);
        check::<f32>(&mut rng);
    }
}

/// The returned value read by a condition before it is returned.
#[differentiable]
fn checked_sum<T: Float>(x: &[T], cap: T) -> T {
    let mut s = T::zero();
    s = s + x[0] * x[1];
    let t = if s > cap { cap } else { s };
    assert!(t <= cap || t.is_nan());
    s
}

#[test]
fn a_returned_value_read_by_a_condition() {
    assert_eq!(
        checked_sum_grad(&[2.0, 3.0], 1.0),
        (6.0, (vec![3.0, 2.0], 0.0))
    );
    assert_eq!(
        checked_sum_grad(&[2.0_f32, 3.0], 10.0),
        (6.0, (vec![3.0, 2.0], 0.0))
    );
}
