//! Calls between `#[differentiable]` fns: generics, constant arguments,
//! calls in loops and branches, on values computed in loops, several levels
//! deep, arrays in and out. Each checked against finite differences and
//! against the same program written as one function.

// Written as users write it, indices included.
#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, close, tolerance, Rng};
use tapeless::{differentiable, Float};

#[differentiable]
fn sigmoid<T: Float>(z: T) -> T {
    1.0 / (1.0 + (-z).exp())
}

#[differentiable]
fn softplus<F: Float>(z: F) -> F {
    (F::one() + z.exp()).ln()
}

// A callee with a constant argument and a wrt subset: callers still get the
// gradient of every float argument.
#[differentiable(wrt(x))]
fn scaled_power<T: Float>(x: T, k: T, n: i32) -> T {
    k * x.powi(n)
}

#[differentiable]
fn weighted<T: Float>(w: &[T], x: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..w.len() {
        s += w[i] * x[i];
    }
    s
}

// Calls: nested, in a loop, in a branch, on a loop-computed value, with
// arrays (whole and rows) passed by reference.
#[differentiable]
fn model<T: Float, const N: usize>(w: [[T; N]; 2], x: [T; N], k: T) -> T {
    let mut total = T::zero();
    for r in 0..2 {
        let z = weighted(&w[r], &x);
        let a = if z > 0.0 {
            sigmoid(z)
        } else {
            softplus(z) * 0.5
        };
        total += a * scaled_power(k, z, 2);
    }
    sigmoid(total) + softplus(sigmoid(k))
}

// The same program as one function.
#[differentiable]
fn model_inline<T: Float, const N: usize>(w: [[T; N]; 2], x: [T; N], k: T) -> T {
    let mut total = T::zero();
    for r in 0..2 {
        let mut z = T::zero();
        for i in 0..N {
            z += w[r][i] * x[i];
        }
        let a = if z > 0.0 {
            1.0 / (1.0 + (-z).exp())
        } else {
            (T::one() + z.exp()).ln() * 0.5
        };
        total += a * (z * k.powi(2));
    }
    let s = 1.0 / (1.0 + (-k).exp());
    1.0 / (1.0 + (-total).exp()) + (T::one() + s.exp()).ln()
}

#[test]
fn calls_match_the_inlined_program_and_finite_differences() {
    let mut rng = Rng::new(71);
    for _ in 0..30 {
        let p = rng.point(9, -1.5, 1.5);
        let w = [[p[0], p[1], p[2]], [p[3], p[4], p[5]]];
        let x = [p[6], p[7], p[8]];
        let k = rng.uniform(-1.0, 1.0);
        let (v, (dw, dx, dk)) = model_grad(w, x, k);
        let (vi, (dwi, dxi, dki)) = model_inline_grad(w, x, k);
        assert!(close(v, vi, 1e-14));
        for r in 0..2 {
            for i in 0..3 {
                assert!(close(dw[r][i], dwi[r][i], 1e-12));
            }
        }
        for i in 0..3 {
            assert!(close(dx[i], dxi[i], 1e-12));
        }
        assert!(close(dk, dki, 1e-12));
        let mut point = p.clone();
        point.push(k);
        let flat: Vec<f64> = dw
            .iter()
            .flatten()
            .chain(dx.iter())
            .chain([dk].iter())
            .copied()
            .collect();
        let f = |q: &[f64]| {
            model(
                [[q[0], q[1], q[2]], [q[3], q[4], q[5]]],
                [q[6], q[7], q[8]],
                q[9],
            )
        };
        assert_gradient("model", f, &point, &flat, tolerance::<f64>());

        // f32, other generic parameter names in the callees.
        let w32 = w.map(|r| r.map(|v| v as f32));
        let x32 = x.map(|v| v as f32);
        let (_, (dw32, dx32, dk32)) = model_grad(w32, x32, k as f32);
        let flat32: Vec<f32> = dw32
            .iter()
            .flatten()
            .chain(dx32.iter())
            .chain([dk32].iter())
            .copied()
            .collect();
        let point32: Vec<f32> = point.iter().map(|&v| v as f32).collect();
        let f32_ = |q: &[f32]| {
            model(
                [[q[0], q[1], q[2]], [q[3], q[4], q[5]]],
                [q[6], q[7], q[8]],
                q[9],
            )
        };
        assert_gradient("model f32", f32_, &point32, &flat32, tolerance::<f32>());
    }
}

// A callee returning an array, bound with its type.
#[differentiable]
fn layer<T: Float, const N: usize, const M: usize>(w: [[T; N]; M], x: [T; N]) -> [T; M] {
    let mut h = [T::zero(); M];
    for i in 0..M {
        for j in 0..N {
            h[i] += w[i][j] * x[j];
        }
        h[i] = h[i].max(0.0);
    }
    h
}

#[differentiable]
fn two_layers<T: Float>(w1: [[T; 3]; 4], w2: [[T; 4]; 2], x: [T; 3]) -> T {
    let h: [T; 4] = layer(w1, x);
    let out: [T; 2] = layer(w2, h);
    out[0] * out[0] + out[1]
}

#[test]
fn calls_returning_arrays() {
    let mut rng = Rng::new(72);
    for _ in 0..20 {
        let p = rng.point(12 + 8 + 3, -1.0, 1.0);
        let mut w1 = [[0.0; 3]; 4];
        let mut w2 = [[0.0; 4]; 2];
        for i in 0..12 {
            w1[i / 3][i % 3] = p[i];
        }
        for i in 0..8 {
            w2[i / 4][i % 4] = p[12 + i];
        }
        let x = [p[20], p[21], p[22]];
        let (_, (d1, d2, dx)) = two_layers_grad(w1, w2, x);
        let flat: Vec<f64> = d1
            .iter()
            .flatten()
            .chain(d2.iter().flatten())
            .chain(dx.iter())
            .copied()
            .collect();
        let f = |q: &[f64]| {
            let mut w1 = [[0.0; 3]; 4];
            let mut w2 = [[0.0; 4]; 2];
            for i in 0..12 {
                w1[i / 3][i % 3] = q[i];
            }
            for i in 0..8 {
                w2[i / 4][i % 4] = q[12 + i];
            }
            two_layers(w1, w2, [q[20], q[21], q[22]])
        };
        assert_gradient("two_layers", f, &p, &flat, tolerance::<f64>());
    }
}

// The wrt subset of the callee does not drop the gradient of `k`.
#[differentiable]
fn through_wrt<T: Float>(x: T, k: T) -> T {
    scaled_power(x, k, 3)
}

#[test]
fn a_callees_wrt_does_not_drop_gradients() {
    let (v, (dx, dk)) = through_wrt_grad(2.0, 0.5);
    assert_eq!(v, 4.0);
    assert_eq!((dx, dk), (6.0, 8.0));
    // The callee's own gradient is still only with respect to x.
    assert_eq!(scaled_power_grad(2.0, 0.5, 3), (4.0, 6.0));
}

// A callee returning a tuple, destructured by the caller.
#[differentiable]
fn polar<T: Float>(r: T, theta: T) -> (T, T) {
    (r * theta.cos(), r * theta.sin())
}

#[differentiable]
fn through_tuple<T: Float>(r: T, theta: T, w: T) -> T {
    let (x, y) = polar(r, theta);
    let (_, only_y) = polar(w, theta);
    x * x * w + y + only_y
}

#[test]
fn calls_returning_tuples() {
    let mut rng = Rng::new(73);
    for _ in 0..20 {
        let p = rng.point(3, -2.0, 2.0);
        let (v, (dr, dt, dw)) = through_tuple_grad(p[0], p[1], p[2]);
        assert_eq!(v, through_tuple(p[0], p[1], p[2]));
        let f = |q: &[f64]| through_tuple(q[0], q[1], q[2]);
        assert_gradient("through_tuple", f, &p, &[dr, dt, dw], tolerance::<f64>());
    }
}

#[differentiable]
fn moments<T: Float>(a: T) -> (T, T, T) {
    (a, a * a, a.exp())
}

/// The tuple bound whole and read by field, as one writes it without a
/// pattern: `p.0`, `p.1` (also assigned, in a closure, in a loop, and a
/// name bound twice).
#[differentiable]
fn tuple_fields<T: Float>(r: T, theta: T) -> T {
    let mut p = polar(r, theta);
    p.0 = p.0 * 2.0;
    p.1 += r;
    let m = moments(p.0 + p.1);
    let mut s = (0..3)
        .map(|i| T::from(i).unwrap() * m.1 + m.2 * p.0)
        .fold(T::zero(), |a, b| a + b);
    for k in 0..2 {
        if k == 1 {
            s = s + m.0 * theta;
        }
    }
    let m = moments(s * m.0 * 0.1);
    m.1 - m.2 + p.1
}

/// A map iterated on a tuple: bound from a call and assigned whole from
/// the next call; a tuple literal whose fields are assigned, with a
/// counter in it.
#[differentiable]
fn iterated_map<T: Float>(x: T, y: T) -> T {
    let mut s = polar(x, y);
    for _ in 0..3 {
        s = polar(s.0, s.1);
    }
    let mut t = (s.0, s.1, 0usize);
    while t.2 < 2 {
        t.0 = t.0 * t.1 + 0.1;
        t.1 += t.0;
        t.2 += 1;
    }
    t.0 * t.1
}

/// `tuple_fields` written with patterns: the same function.
fn tuple_fields_by_pattern(r: f64, theta: f64) -> f64 {
    let (p0, p1) = (2.0 * r * theta.cos(), r * theta.sin() + r);
    let (m0, m1, m2) = (p0 + p1, (p0 + p1).powi(2), (p0 + p1).exp());
    let s = 3.0 * m1 + 3.0 * m2 * p0 + m0 * theta;
    let m = s * m0 * 0.1;
    m * m - m.exp() + p1
}

#[test]
fn calls_returning_tuples_read_by_field() {
    fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
        for _ in 0..10 {
            let p = common::cast::<T>(&rng.point(2, -0.6, 0.6));
            let (v, (dr, dt)) = tuple_fields_grad(p[0], p[1]);
            let (r, t) = (p[0].to_f64().unwrap(), p[1].to_f64().unwrap());
            assert!(close(
                v.to_f64().unwrap(),
                tuple_fields_by_pattern(r, t),
                tolerance::<T>()
            ));
            let f = |q: &[T]| tuple_fields(q[0], q[1]);
            assert_gradient("tuple_fields", f, &p, &[dr, dt], tolerance::<T>());
            let (_, (dx, dy)) = iterated_map_grad(p[0], p[1]);
            let f = |q: &[T]| iterated_map(q[0], q[1]);
            assert_gradient("iterated_map", f, &p, &[dx, dy], tolerance::<T>());
        }
    }
    let mut rng = Rng::new(74);
    check::<f64>(&mut rng);
    check::<f32>(&mut rng);
    // The same function by hand, through finite differences of the
    // pattern form: the field reads change nothing.
    let (r, t) = (0.3, -0.2);
    let (_, (dr, dt)) = tuple_fields_grad(r, t);
    let h = 1e-6;
    let fd_r = (tuple_fields_by_pattern(r + h, t) - tuple_fields_by_pattern(r - h, t)) / (2.0 * h);
    let fd_t = (tuple_fields_by_pattern(r, t + h) - tuple_fields_by_pattern(r, t - h)) / (2.0 * h);
    assert!(
        close(dr, fd_r, 1e-6) && close(dt, fd_t, 1e-6),
        "{dr} {fd_r} {dt} {fd_t}"
    );
}

/// `wrt(x)`, and a body that cannot be differentiated with respect to `y`
/// (a fold over `skip_while`, an adaptor tapeless does not walk): fine for
/// its own `_grad`, and for callers that pass a constant `y`; a caller that
/// needs `y`'s gradient gets a panic that says so, never a zero.
#[differentiable(wrt(x))]
fn picks<T: Float>(x: &[T], y: &[T]) -> T {
    let k = y[0].to_usize().unwrap().min(x.len() - 1);
    let rest = y
        .iter()
        .copied()
        .skip_while(|v| *v > T::one())
        .fold(T::zero(), |a, v| a + v);
    x[k] * x[k] + y[1] + rest
}

#[differentiable(wrt(x))]
fn picks_caller<T: Float>(x: &[T], y: &[T]) -> T {
    picks(x, y).sin()
}

#[differentiable]
fn picks_through_y<T: Float>(x: &[T], y: &[T]) -> T {
    picks(x, y)
}

#[test]
fn a_float_left_out_of_wrt_that_cannot_be_differentiated() {
    let (x, y) = ([1.0, 2.0, 3.0], [1.7, 0.5]);
    let (v, g) = picks_grad(&x, &y);
    assert_eq!((v, g), (5.0, vec![0.0, 4.0, 0.0]));
    let (v, g) = picks_caller_grad(&x, &y);
    assert_eq!(v, 5.0f64.sin());
    assert_eq!(g, vec![0.0, 4.0 * 5.0f64.cos(), 0.0]);
    let through = std::panic::catch_unwind(|| picks_through_y_grad(&x, &y));
    let payload = through.expect_err("y's gradient is needed");
    let message = match payload.downcast_ref::<&str>() {
        Some(m) => m.to_string(),
        None => payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default(),
    };
    assert!(
        message.contains("`picks` is not differentiated with respect to `y`"),
        "{message}"
    );
}

#[differentiable]
fn norm_n<T: Float, const N: usize>(v: [T; N]) -> T {
    let mut s = T::zero();
    for i in 0..N {
        s = s + v[i] * v[i];
    }
    s.sqrt()
}

/// Rows of `[T; 2]` passed by value (`*p`) and by reference.
#[differentiable]
fn path_length<T: Float>(points: &[[T; 2]]) -> T {
    let mut s = T::zero();
    for p in points {
        s = s + norm_n(*p);
    }
    for k in 1..points.len() {
        let d = [
            points[k][0] - points[k - 1][0],
            points[k][1] - points[k - 1][1],
        ];
        s = s + norm_n(d);
    }
    s
}

#[test]
fn rows_passed_by_value() {
    fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
        let flat: Vec<T> = rng
            .point(6, -2.0, 2.0)
            .iter()
            .map(|&v| T::from(v).unwrap())
            .collect();
        let rows = |q: &[T]| q.chunks(2).map(|c| [c[0], c[1]]).collect::<Vec<_>>();
        let (_, g) = path_length_grad(&rows(&flat));
        let g: Vec<T> = g.concat();
        assert_gradient(
            "path_length",
            |q: &[T]| path_length(&rows(q)),
            &flat,
            &g,
            tolerance::<T>(),
        );
    }
    let mut rng = Rng::new(8);
    for _ in 0..10 {
        check::<f64>(&mut rng);
        check::<f32>(&mut rng);
    }
}

#[differentiable]
fn dense_tanh<T: Float>(w: &[Vec<T>], b: &[T], x: &[T]) -> Vec<T> {
    let mut out = vec![T::zero(); w.len()];
    for i in 0..w.len() {
        let mut s = b[i];
        for j in 0..x.len() {
            s = s + w[i][j] * x[j];
        }
        out[i] = s.tanh();
    }
    out
}

#[differentiable]
fn cross3<T: Float>(a: [T; 3], b: [T; 3]) -> [T; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

#[differentiable]
fn outer_product<T: Float>(a: &[T]) -> Vec<Vec<T>> {
    let mut m = vec![vec![T::zero(); a.len()]; a.len()];
    for i in 0..a.len() {
        for j in 0..a.len() {
            m[i][j] = a[i] * a[j];
        }
    }
    m
}

/// Arrays returned by calls and bound without their type, as users write
/// it: the statements after the `let` use them as arrays.
#[differentiable]
fn untyped_results<T: Float>(w: &[Vec<T>], b: &[T], xs: &[Vec<T>], r: [T; 3]) -> T {
    let mut loss = T::zero();
    for x in xs {
        let h = dense_tanh(w, b, x);
        let o = dense_tanh(w, b, &[x[1], h[2]]);
        for v in o.iter() {
            loss = loss + *v * *v;
        }
        loss = loss + h[0] + norm_n([h[1], h[2]]);
    }
    let t = cross3(r, [b[0], b[1], b[2]]);
    let m = outer_product(b);
    loss + t[0] * t[1] + m[0][1] * t[2]
}

#[test]
fn array_results_bound_without_their_type() {
    fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
        let p: Vec<T> = rng
            .point(6 + 3 + 4 + 3, -1.0, 1.0)
            .iter()
            .map(|&v| T::from(v).unwrap())
            .collect();
        let split = |q: &[T]| {
            let w = vec![q[0..2].to_vec(), q[2..4].to_vec(), q[4..6].to_vec()];
            let b = q[6..9].to_vec();
            let xs = vec![q[9..11].to_vec(), q[11..13].to_vec()];
            let r = [q[13], q[14], q[15]];
            (w, b, xs, r)
        };
        let (w, b, xs, r) = split(&p);
        let (_, (gw, gb, gxs, gr)) = untyped_results_grad(&w, &b, &xs, r);
        let g = [gw.concat(), gb, gxs.concat(), gr.to_vec()].concat();
        let f = |q: &[T]| {
            let (w, b, xs, r) = split(q);
            untyped_results(&w, &b, &xs, r)
        };
        assert_gradient("untyped_results", f, &p, &g, tolerance::<T>());
    }
    let mut rng = Rng::new(21);
    for _ in 0..10 {
        check::<f64>(&mut rng);
        check::<f32>(&mut rng);
    }
}

#[differentiable]
fn waves<T: Float>(v: &[T], k: T) -> Vec<T> {
    let mut o = vec![T::zero(); v.len()];
    for i in 0..v.len() {
        o[i] = (v[i] * k).sin();
    }
    o
}

/// Arrays calls return inside branches: after an early `return` (the rest
/// of the fn is a branch), in a branch that leaves its loop with `break`,
/// and in a plain `if`. The backward reads each as the branch made it.
#[differentiable]
fn branched_results<T: Float>(x: &[T], k: T) -> T {
    let mut s = T::zero();
    for i in 0..x.len() {
        if x[i] > k {
            let h = waves(x, x[i]);
            s = s + h[i] * h[0];
            break;
        }
        s = s + x[i];
    }
    if s > T::zero() {
        let g: Vec<T> = waves(x, s);
        s = s * g[1];
    }
    let mut it = 0;
    while it < 3 {
        it += 1;
        s = s + k * x[it % x.len()];
        if s > T::from(3.0).unwrap() {
            return s;
        }
    }
    let hv = waves(x, k);
    s + hv[0] * hv[1]
}

#[test]
fn array_results_made_in_branches() {
    /// Whether the point was checked (not skipped near a threshold).
    fn check<T: Float + std::fmt::Display>(rng: &mut Rng) -> bool {
        let p: Vec<T> = rng
            .point(5, -1.0, 1.5)
            .iter()
            .map(|&v| T::from(v).unwrap())
            .collect();
        // Away from the branches' thresholds: no jump within 0.02 of the
        // point along any input (the finite differences would cross it).
        let at = |q: &[f64]| branched_results(&q[..4], q[4]);
        let q: Vec<f64> = p.iter().map(|v| v.to_f64().unwrap()).collect();
        let jumps = (0..5).any(|j| {
            let (mut lo, mut hi) = (q.clone(), q.clone());
            lo[j] -= 2e-2;
            hi[j] += 2e-2;
            (at(&hi) - 2.0 * at(&q) + at(&lo)).abs() > 1e-2
        });
        if jumps {
            return false;
        }
        let (_, (gx, gk)) = branched_results_grad(&p[..4], p[4]);
        let g = [gx, vec![gk]].concat();
        let f = |q: &[T]| branched_results(&q[..4], q[4]);
        assert_gradient("branched_results", f, &p, &g, tolerance::<T>());
        true
    }
    let mut rng = Rng::new(22);
    let mut checked = 0;
    for _ in 0..40 {
        checked += usize::from(check::<f64>(&mut rng));
        checked += usize::from(check::<f32>(&mut rng));
    }
    // Most points are away from every threshold: the skip cannot hide all.
    assert!(checked >= 40, "only {checked} of 80 points checked");
}

/// Data of a shape with no gradient (`&[(f64, f64)]` points, `(usize, T)`
/// sparse entries) left out of `wrt(..)`: constants, also when another fn
/// passes them.
#[differentiable(wrt(a, b))]
fn line_fit(a: f64, b: f64, data: &[(f64, f64)]) -> f64 {
    let mut l = 0.0;
    for &(x, y) in data {
        let r = a * x + b - y;
        l += r * r;
    }
    l / data.len() as f64
}

/// `k` is left out of `wrt(..)` too: a caller that passes a differentiated
/// `k` gets its gradient through the full expansion, where the entries
/// stay data.
#[differentiable(wrt(w))]
fn sparse_dot<T: Float>(w: &[T], k: T, entries: &[(usize, T)]) -> T {
    let mut s = T::zero();
    for &(i, v) in entries {
        s = s + w[i] * v * k;
    }
    s.tanh()
}

#[differentiable]
fn sparse_caller<T: Float>(w: &[T], k: T) -> T {
    let entries = [
        (0usize, T::one()),
        (2, T::from(0.5).unwrap()),
        (0, -T::one() / 4.0),
    ];
    sparse_dot(w, k * k, &entries) * k
}

#[test]
fn data_of_other_shapes_outside_wrt() {
    let data = [(0.5, 1.0), (1.0, 2.2), (-1.0, -0.5)];
    let mut rng = Rng::new(75);
    for _ in 0..10 {
        let p = rng.point(2, -1.0, 1.0);
        let (v, (da, db)) = line_fit_grad(p[0], p[1], &data);
        assert_eq!(v, line_fit(p[0], p[1], &data));
        // Closed form: the mean of 2 r x and of 2 r.
        let r: Vec<f64> = data.iter().map(|&(x, y)| p[0] * x + p[1] - y).collect();
        let want_a = data
            .iter()
            .zip(&r)
            .map(|(&(x, _), r)| 2.0 * r * x)
            .sum::<f64>()
            / 3.0;
        let want_b = r.iter().map(|r| 2.0 * r).sum::<f64>() / 3.0;
        assert!(close(da, want_a, 1e-12) && close(db, want_b, 1e-12));
    }
    fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
        for _ in 0..10 {
            let p: Vec<T> = common::cast(&rng.point(4, -1.0, 1.0));
            let (_, (gw, gk)) = sparse_caller_grad(&p[..3], p[3]);
            let g: Vec<T> = gw.iter().copied().chain([gk]).collect();
            let f = |q: &[T]| sparse_caller(&q[..3], q[3]);
            assert_gradient("sparse_caller", f, &p, &g, tolerance::<T>());
        }
    }
    check::<f64>(&mut rng);
    check::<f32>(&mut rng);
}

/// Helper fns written inside the body and called with differentiated
/// values are differentiated as if marked: a scalar helper, one over a
/// slice that calls the first, and one called only on constants (left as
/// it is; its `usize` result steers).
#[differentiable]
fn nested_helpers<T: Float>(x: &[T], k: T) -> T {
    fn sq<T: Float>(v: T) -> T {
        v * v
    }
    fn norm<T: Float>(v: &[T]) -> T {
        let mut s = T::zero();
        for &q in v {
            s = s + sq(q);
        }
        s.sqrt()
    }
    fn half(n: usize) -> usize {
        n / 2
    }
    let mut t = T::zero();
    for i in 0..half(x.len() * 2) {
        t = t + sq(x[i] * k);
    }
    t + norm(x) * k.sin()
}

/// The same in `f64`, the helper not generic.
#[differentiable]
fn nested_helper_f64(x: f64, y: f64) -> f64 {
    fn smooth(v: f64) -> f64 {
        (1.0 + v.exp()).ln()
    }
    smooth(x * y) + smooth(x) * y
}

fn check_nested<T: Float + std::fmt::Display>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    for _ in 0..10 {
        let p: Vec<T> = rng
            .point(4, -1.0, 1.0)
            .iter()
            .map(|&v| T::from(v).unwrap())
            .collect();
        let (_, (gx, gk)) = nested_helpers_grad(&p[..3], p[3]);
        let mut g = gx.clone();
        g.push(gk);
        assert_gradient(
            "nested_helpers",
            |v: &[T]| nested_helpers(&v[..3], v[3]),
            &p,
            &g,
            tol,
        );
    }
}

#[test]
fn nested_helpers_f64() {
    check_nested::<f64>(&mut Rng::new(131));
}

#[test]
fn nested_helpers_f32() {
    check_nested::<f32>(&mut Rng::new(132));
}

#[test]
fn nested_helper_closed_forms() {
    // d/dx [sum (x_i k)^2 + |x| sin k] = 2 x_i k^2 + x_i / |x| sin k.
    let (x, k) = ([3.0, 4.0], 0.5);
    let (v, (gx, gk)) = nested_helpers_grad(&x, k);
    assert!(close(v, 6.25 + 5.0 * k.sin(), 1e-12));
    assert!(close(gx[0], 2.0 * 3.0 * 0.25 + 0.6 * k.sin(), 1e-12));
    assert!(close(gx[1], 2.0 * 4.0 * 0.25 + 0.8 * k.sin(), 1e-12));
    assert!(close(gk, 2.0 * k * 25.0 + 5.0 * k.cos(), 1e-12));
    // softplus' = sigmoid.
    let s = |v: f64| 1.0 / (1.0 + (-v).exp());
    let (x, y) = (0.3, -0.7);
    let (_, (gx, gy)) = nested_helper_f64_grad(x, y);
    let sp = (1.0 + x.exp()).ln();
    assert!(close(gx, s(x * y) * y + s(x) * y, 1e-12));
    assert!(close(gy, s(x * y) * x + sp, 1e-12));
}

/// A tuple read only in its first fields, its length unseen by the macro:
/// `p.0` alone of a pair, `let (a, ..) = ..` and `let (_, b, ..) = ..` of
/// a triple, in a loop (the pullback kept per iteration) and a branch.
#[differentiable]
fn first_fields<T: Float>(r: T, theta: T) -> T {
    let p = polar(r, theta);
    let (a, ..) = moments(p.0);
    let (_, b, ..) = moments(theta * 0.5);
    let mut s = a * b;
    for k in 0..3 {
        let q = moments(s * 0.3 + T::from(k).unwrap() * 0.1);
        s = s + q.0 * 0.5;
        if k == 1 {
            let (c, ..) = polar(s, r);
            s = s * c;
        }
    }
    s
}

/// The same with every field named.
fn first_fields_plain(r: f64, theta: f64) -> f64 {
    let p0 = r * theta.cos();
    let b = (theta * 0.5) * (theta * 0.5);
    let mut s = p0 * b;
    for k in 0..3 {
        s = s + (s * 0.3 + k as f64 * 0.1) * 0.5;
        if k == 1 {
            s = s * (s * r.cos());
        }
    }
    s
}

#[test]
fn calls_returning_tuples_read_in_part() {
    fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
        for _ in 0..10 {
            let p = common::cast::<T>(&rng.point(2, -0.9, 0.9));
            let (v, (dr, dt)) = first_fields_grad(p[0], p[1]);
            let (r, t) = (p[0].to_f64().unwrap(), p[1].to_f64().unwrap());
            assert!(close(
                v.to_f64().unwrap(),
                first_fields_plain(r, t),
                tolerance::<T>()
            ));
            let f = |q: &[T]| first_fields(q[0], q[1]);
            assert_gradient("first_fields", f, &p, &[dr, dt], tolerance::<T>());
        }
    }
    check::<f64>(&mut Rng::new(133));
    check::<f32>(&mut Rng::new(134));
}
