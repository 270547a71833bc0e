//! Code written the way users write it, each checked against finite
//! differences at random points: shadowing in loops, `if` expressions in
//! sums, running maxima, mutated parameters, matrix products into local 2-D
//! arrays, tuple outputs from loops, concrete `f32`.

// Written as users write it, indices included.
#![allow(clippy::needless_range_loop, clippy::collapsible_if)]

mod common;

use common::{assert_gradient, tolerance, Rng};
use tapeless::{differentiable, Float};

#[differentiable]
fn running_max<T: Float>(x: &[T]) -> T {
    let mut best = x[0];
    for &v in x {
        if v > best {
            best = v;
        }
    }
    best * best
}

#[differentiable]
fn shadowed<T: Float>(x: &[T], n: usize) -> T {
    let mut s = T::zero();
    for i in 0..n {
        let x = x[i] * 2.0;
        let x = x.sin();
        s += if x > 0.0 { x } else { -x * 0.5 };
    }
    s
}

#[differentiable]
fn mutated_param<T: Float, const N: usize>(mut x: [T; N], k: T) -> T {
    for i in 1..N {
        x[i] = x[i] + x[i - 1] * k;
    }
    let mut s = T::zero();
    for v in x.iter() {
        s += v.powi(2);
    }
    s
}

#[differentiable]
fn matmul_frobenius<T: Float, const N: usize>(a: [[T; N]; N], b: [[T; N]; N]) -> T {
    let mut c = [[T::zero(); N]; N];
    for i in 0..N {
        for j in 0..N {
            for k in 0..N {
                c[i][j] += a[i][k] * b[k][j];
            }
        }
    }
    let mut s = T::zero();
    for row in c.iter() {
        for &v in row.iter() {
            s += v * v;
        }
    }
    s.sqrt()
}

#[differentiable]
fn stats<T: Float>(x: &[T]) -> (T, T) {
    let n = T::from(x.len()).unwrap();
    let mut mean = T::zero();
    for &v in x.iter() {
        mean += v;
    }
    mean /= n;
    let mut var = T::zero();
    for i in (1..x.len() + 1).rev() {
        let d = x[i - 1] - mean;
        var += d * d;
    }
    (mean, var / n)
}

#[differentiable]
fn concrete_loop(x: &[f32], y: &[f32]) -> f32 {
    let mut s = 0.0;
    let mut i = 0;
    while i < x.len() {
        let d = x[i] - y[i];
        s += d.abs().min(1.0) * d;
        i += 1;
    }
    s
}

#[differentiable]
fn search<T: Float>(x: &[T], target: T) -> T {
    let mut acc = T::one();
    for (i, &v) in x.iter().enumerate() {
        if i > 0 {
            if v > target {
                break;
            }
        }
        acc = acc * (v + 2.0);
    }
    acc
}

#[differentiable]
fn zipped<T: Float>(x: &[T], y: &[T]) -> T {
    let mut s = T::zero();
    for (a, b) in x.iter().zip(y) {
        s += (*a - *b).powi(2);
    }
    s
}

#[differentiable]
fn iterate_param<T: Float>(mut x: T, n: usize) -> T {
    for _ in 0..n {
        x = x * x.cos() + 0.1;
    }
    x
}

#[test]
fn user_style_code_matches_finite_differences() {
    let mut rng = Rng::new(61);
    for _ in 0..20 {
        let p = rng.point(6, -1.5, 1.5);
        let (_, g) = running_max_grad(&p);
        assert_gradient(
            "running_max",
            |q: &[f64]| running_max(q),
            &p,
            &g,
            tolerance::<f64>(),
        );

        let (_, g) = shadowed_grad(&p, 5);
        assert_gradient(
            "shadowed",
            |q: &[f64]| shadowed(q, 5),
            &p,
            &g,
            tolerance::<f64>(),
        );

        let x = [p[0], p[1], p[2], p[3]];
        let (_, (dx, dk)) = mutated_param_grad(x, p[4]);
        let all = [dx[0], dx[1], dx[2], dx[3], dk];
        assert_gradient(
            "mutated_param",
            |q: &[f64]| mutated_param([q[0], q[1], q[2], q[3]], q[4]),
            &p[..5],
            &all,
            tolerance::<f64>(),
        );

        let a = [[p[0], p[1]], [p[2], p[3]]];
        let b = [[p[4], p[5]], [p[1], p[0]]];
        let (_, (da, db)) = matmul_frobenius_grad(a, b);
        let flat: Vec<f64> = da
            .iter()
            .flatten()
            .chain(db.iter().flatten())
            .copied()
            .collect();
        let point: Vec<f64> = a
            .iter()
            .flatten()
            .chain(b.iter().flatten())
            .copied()
            .collect();
        assert_gradient(
            "matmul_frobenius",
            |q: &[f64]| {
                matmul_frobenius([[q[0], q[1]], [q[2], q[3]]], [[q[4], q[5]], [q[6], q[7]]])
            },
            &point,
            &flat,
            tolerance::<f64>(),
        );

        // A tuple output: each output's gradient through the pullback.
        let (_, back) = stats_forward(&p);
        let dmean = back((1.0, 0.0));
        let dvar = back((0.0, 1.0));
        assert_gradient(
            "stats.mean",
            |q: &[f64]| stats(q).0,
            &p,
            &dmean,
            tolerance::<f64>(),
        );
        assert_gradient(
            "stats.var",
            |q: &[f64]| stats(q).1,
            &p,
            &dvar,
            tolerance::<f64>(),
        );

        let x32: Vec<f32> = p[..3].iter().map(|&v| v as f32).collect();
        let y32: Vec<f32> = p[3..].iter().map(|&v| v as f32).collect();
        let (_, (gx, gy)) = concrete_loop_grad(&x32, &y32);
        let both: Vec<f32> = gx.iter().chain(gy.iter()).copied().collect();
        let pt: Vec<f32> = x32.iter().chain(y32.iter()).copied().collect();
        assert_gradient(
            "concrete_loop",
            |q: &[f32]| concrete_loop(&q[..3], &q[3..]),
            &pt,
            &both,
            tolerance::<f32>(),
        );

        let (_, (g, dt)) = search_grad(&p, 0.5);
        assert_eq!(dt, 0.0);
        assert_gradient(
            "search",
            |q: &[f64]| search(q, 0.5),
            &p,
            &g,
            tolerance::<f64>(),
        );

        let (v, d) = iterate_param_grad(p[0], 4);
        assert_eq!(v, iterate_param(p[0], 4));
        assert_gradient(
            "iterate_param",
            |q: &[f64]| iterate_param(q[0], 4),
            &p[..1],
            &[d],
            tolerance::<f64>(),
        );

        let (_, (gx, gy)) = zipped_grad(&p[..3], &p[3..]);
        let both: Vec<f64> = gx.iter().chain(gy.iter()).copied().collect();
        assert_gradient(
            "zipped",
            |q: &[f64]| zipped(&q[..3], &q[3..]),
            &p,
            &both,
            tolerance::<f64>(),
        );
    }
}
