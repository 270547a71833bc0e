//! More code written the way users write it, each checked against finite
//! differences: enumerate over zip, shadowed mutable copies of parameters,
//! `continue` on the first index, else-if chains returning early, arrays of
//! gradients filled in a loop, 2-D local accumulation, boolean flags.

// Written as users write it, indices included.
#![allow(clippy::needless_range_loop, clippy::collapsible_if)]

mod common;

use common::{assert_gradient, tolerance, Rng};
use tapeless::{differentiable, Float};

#[differentiable]
fn weighted_pairs<T: Float>(x: &[T], y: &[T]) -> T {
    let mut s = T::zero();
    for (i, (a, b)) in x.iter().zip(y.iter()).enumerate() {
        s += T::from(i + 1).unwrap() * *a * *b;
    }
    s
}

#[differentiable]
fn shadow_copy<T: Float>(x: T, n: usize) -> T {
    let mut x = x;
    for i in 0..n {
        if i == 0 {
            continue;
        }
        x = x * 0.9 + (x * 0.1).sin();
    }
    x
}

#[differentiable]
fn piecewise_early<T: Float>(x: T, flag: bool) -> T {
    if flag && x > 1.0 {
        return x.ln();
    } else if x < -1.0 {
        return -x.exp();
    }
    let y = if flag { x * x } else { x.tanh() };
    y * 2.0
}

#[differentiable]
fn grid<T: Float>(x: [T; 3]) -> T {
    let mut out = [T::zero(); 3];
    for i in 0..3 {
        out[i] = x[i] * 2.0 + x[(i + 1) % 3];
    }
    let mut m = [[T::zero(); 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            m[i][j] += out[i] * x[j];
            m[j][i] += x[i];
        }
    }
    let mut s = T::zero();
    for row in m.iter() {
        for &v in row.iter() {
            s += v * v;
        }
    }
    s
}

#[differentiable]
fn search_loop<T: Float>(x: &[T], limit: T) -> T {
    let mut acc = T::zero();
    let mut i = 0;
    while i < x.len() {
        if acc > limit {
            if x[i] > 0.0 {
                break;
            }
        }
        acc += x[i] * x[i];
        i += 1;
    }
    acc
}

#[test]
fn more_user_style_code() {
    let mut rng = Rng::new(111);
    for _ in 0..20 {
        let p = rng.point(6, -1.5, 1.5);
        let (_, (gx, gy)) = weighted_pairs_grad(&p[..3], &p[3..]);
        let both: Vec<f64> = gx.iter().chain(gy.iter()).copied().collect();
        assert_gradient(
            "weighted_pairs",
            |q: &[f64]| weighted_pairs(&q[..3], &q[3..]),
            &p,
            &both,
            tolerance::<f64>(),
        );

        let (_, d) = shadow_copy_grad(p[0], 5);
        assert_gradient(
            "shadow_copy",
            |q: &[f64]| shadow_copy(q[0], 5),
            &p[..1],
            &[d],
            tolerance::<f64>(),
        );

        for flag in [true, false] {
            let x = p[1] * 2.0;
            if (x.abs() - 1.0).abs() < 1e-3 {
                continue;
            }
            let (_, d) = piecewise_early_grad(x, flag);
            assert_gradient(
                "piecewise_early",
                |q: &[f64]| piecewise_early(q[0], flag),
                &[x],
                &[d],
                tolerance::<f64>(),
            );
        }

        let x3 = [p[0], p[1], p[2]];
        let (_, g) = grid_grad(x3);
        assert_gradient(
            "grid",
            |q: &[f64]| grid([q[0], q[1], q[2]]),
            &p[..3],
            &g,
            tolerance::<f64>(),
        );

        let (_, (g, dl)) = search_loop_grad(&p, 1.0);
        assert_eq!(dl, 0.0);
        assert_gradient(
            "search_loop",
            |q: &[f64]| search_loop(q, 1.0),
            &p,
            &g,
            tolerance::<f64>(),
        );
    }
}
