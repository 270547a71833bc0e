//! Fns returning fixed-size arrays whose value is chosen: by an `if` or a
//! `match` on a constant as the fn's value, by guards that `return` early (also nested, `else if`,
//! with the rest of the body after them), by a branch returning a
//! parameter whole or a two-dimensional literal. Each output's pullback,
//! one Jacobian row per upstream gradient, is checked against finite
//! differences in f64 and f32 at random points on every branch.

#![allow(clippy::needless_range_loop, clippy::needless_return)]

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

/// An `if` as the value; the short vector's branch is a constant.
#[differentiable]
fn normalize<T: Float>(v: [T; 3]) -> [T; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    if n < 0.3 {
        [T::zero(); 3]
    } else {
        [v[0] / n, v[1] / n, v[2] / n]
    }
}

/// Guards: a parameter returned whole, an `else if` chain of returns with
/// a name of its own, then the rest of the body with a loop.
#[differentiable]
fn guarded<T: Float>(v: [T; 2], k: usize) -> [T; 2] {
    if k == 0 {
        return v;
    }
    let s = v[0] * v[1];
    if s > 0.0 {
        let t = s.sqrt();
        return [t, -t * v[0]];
    } else if s < -1.0 {
        return [s, s * s];
    }
    let mut out = [T::zero(); 2];
    for i in 0..2 {
        out[i] = v[i].sin() * s;
    }
    out
}

/// A guard nested in a branch that falls through; matrices returned.
#[differentiable]
fn rotation<T: Float>(a: T, flip: bool, scale: T) -> [[T; 2]; 2] {
    let (s, c) = a.sin_cos();
    if flip {
        if scale > 1.0 {
            return [[s * scale, c], [c, -s]];
        }
        let d = scale * scale;
        return [[s, c * d], [c, -s]];
    }
    [[c, -s], [s, c]]
}

/// A `match` on a constant choosing the matrix (rotation about an axis).
#[differentiable(wrt(t))]
fn axis_rotation<T: Float>(t: T, axis: usize) -> [[T; 3]; 3] {
    let (s, c) = t.sin_cos();
    let (o, z) = (T::one(), T::zero());
    match axis {
        0 => [[o, z, z], [z, c, -s], [z, s, c]],
        1 => [[c, z, s], [z, o, z], [-s, z, c]],
        _ => [[c, -s, z], [s, c, z], [z, z, o]],
    }
}

/// An array made by `std::array::from_fn` (its type written), returned
/// by a guard or scaled.
#[differentiable]
fn made_by_index<T: Float>(x: [T; 3], flip: bool) -> [T; 3] {
    let v: [T; 3] = std::array::from_fn(|i| x[i] * T::from(i + 1).unwrap());
    if flip {
        return [v[2], v[1], v[0]];
    }
    let w: [T; 3] = core::array::from_fn(|k: usize| v[k] * v[(k + 1) % 3]);
    w
}

/// Checks every output's pullback at `p` against finite differences.
fn rows<T: Float + std::fmt::Display, const N: usize>(
    what: &str,
    f: impl Fn(&[T]) -> [T; N],
    back: impl Fn([T; N]) -> Vec<T>,
    p: &[T],
) {
    for row in 0..N {
        let mut up = [T::zero(); N];
        up[row] = T::one();
        let g = back(up);
        assert_gradient(what, |q| f(q)[row], p, &g, tolerance::<T>());
    }
}

fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
    let mut branches = [0usize; 5];
    for _ in 0..40 {
        let p: Vec<T> = cast(&rng.point(3, -0.6, 0.6));
        let v = [p[0], p[1], p[2]];
        let n = v
            .iter()
            .fold(T::zero(), |a, &b| a + b * b)
            .sqrt()
            .to_f64()
            .unwrap();
        // Away from the switch, where the fn jumps.
        if (n - 0.3).abs() > 0.02 {
            branches[usize::from(n > 0.3)] += 1;
            let (_, back) = normalize_forward(v);
            rows(
                "normalize",
                |q| normalize([q[0], q[1], q[2]]),
                |u| back(u).to_vec(),
                &p,
            );
        }

        let p: Vec<T> = cast(&rng.point(2, -2.0, 2.0));
        let s = (p[0] * p[1]).to_f64().unwrap();
        if s.abs() > 0.02 && (s + 1.0).abs() > 0.02 {
            branches[2 + usize::from(s > 0.0) + usize::from(s < -1.0) * 2] += 1;
            for k in [0, 1] {
                let (_, back) = guarded_forward([p[0], p[1]], k);
                rows(
                    "guarded",
                    |q| guarded([q[0], q[1]], k),
                    |u| back(u).to_vec(),
                    &p,
                );
            }
        }

        let p: Vec<T> = cast(&rng.point(2, 0.0, 2.0));
        if (p[1].to_f64().unwrap() - 1.0).abs() > 0.02 {
            for flip in [false, true] {
                let (_, back) = rotation_forward(p[0], flip, p[1]);
                for (i, j) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let mut up = [[T::zero(); 2]; 2];
                    up[i][j] = T::one();
                    let (da, ds) = back(up);
                    assert_gradient(
                        "rotation",
                        |q| rotation(q[0], flip, q[1])[i][j],
                        &p,
                        &[da, ds],
                        tolerance::<T>(),
                    );
                }
            }
        }
    }
    let p: Vec<T> = cast(&rng.point(3, -1.0, 1.0));
    for flip in [false, true] {
        let (_, back) = made_by_index_forward([p[0], p[1], p[2]], flip);
        rows(
            "made_by_index",
            |q| made_by_index([q[0], q[1], q[2]], flip),
            |u| back(u).to_vec(),
            &p,
        );
    }
    let t: T = cast(&rng.point(1, -1.5, 1.5))[0];
    for axis in 0..3 {
        let (_, back) = axis_rotation_forward(t, axis);
        for (i, j) in [(0, 0), (0, 1), (1, 2), (2, 0)] {
            let mut up = [[T::zero(); 3]; 3];
            up[i][j] = T::one();
            let g = back(up);
            assert_gradient(
                "axis_rotation",
                |q| axis_rotation(q[0], axis)[i][j],
                &[t],
                &[g],
                tolerance::<T>(),
            );
        }
    }
    // Every branch was taken.
    assert!(branches.iter().all(|&b| b > 0), "{branches:?}");
}

#[test]
fn chosen_arrays_f64() {
    check::<f64>(&mut Rng::new(7));
}

#[test]
fn chosen_arrays_f32() {
    check::<f32>(&mut Rng::new(8));
}
