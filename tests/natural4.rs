//! Code written the way users write it, part four, each checked against
//! finite differences in f64 and f32 at random points: an owned array
//! parameter copied (`let mut s = s0;`) or taken `mut`, then assigned whole
//! from a call (`s = step(s, k);`, an integrator's loop); `v.swap(i, j)`;
//! two-dimensional array literals as a `let`'s value and as the fn's value
//! (a Jacobian); arrays returned by calls with their type written
//! (`let d: [T; 3] = sub(..)`), a pairwise energy over `&[[T; 3]]`; a robot
//! arm over zipped slices; a net over `zip` of `zip`; a `let` without a
//! value assigned in both branches; const generics; `fold` over a `zip`
//! from a parameter; `(0..n).step_by(2)`; Newton's iteration in a `while`;
//! `x.get(i)` with a default and in `if let Some(&v) = x.get(i)`;
//! `.enumerate().skip(k)`; `let [a, b] = rotate(t, p);`; `x.map(|v| ..)` on
//! arrays; rows walked flat (`w.iter().flatten()`); a classifier written
//! with iterators; a Gaussian process's likelihood through a Cholesky
//! factor built in place; matrices assigned whole (forward kinematics).

#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

#[differentiable]
fn step<T: Float>(s: [T; 2], k: T) -> [T; 2] {
    let dt = T::from(0.05).unwrap();
    [s[0] + dt * s[1], s[1] - dt * k * s[0].sin()]
}

/// A pendulum: the state a copy of the parameter, assigned whole.
#[differentiable]
fn pendulum<T: Float>(s0: [T; 2], k: T, n: usize) -> T {
    let mut s = s0;
    for _ in 0..n {
        s = step(s, k);
    }
    s = [s[1], s[0] * k];
    s[0] * s[0] + s[1]
}

/// The same with the parameter itself taken `mut`.
#[differentiable]
fn pendulum_mut<T: Float>(mut s: [T; 2], k: T, n: usize) -> T {
    for _ in 0..n {
        s = step(s, k);
    }
    s[0] * s[0] + s[1]
}

/// A `Vec` parameter by value, copied and assigned whole.
#[differentiable]
fn relax<T: Float>(v0: Vec<T>, k: T) -> T {
    let mut v = v0;
    for _ in 0..3 {
        v = vec![v[0] * k + v[1], v[1] - v[0] * v[0] * 0.1];
    }
    v[0] + v[1] * v[1]
}

/// Sorted by exchanges: the three smallest, weighted.
#[differentiable]
fn sorted_head<T: Float>(x: &[T]) -> T {
    let mut v = x.to_vec();
    for i in 0..v.len() {
        for j in 0..v.len() - 1 - i {
            if v[j] > v[j + 1] {
                v.swap(j, j + 1);
            }
        }
    }
    v.swap(0, 2);
    v[0] * 3.0 + v[1] * 2.0 + v[2].exp()
}

/// The inverse of a 2 x 2 matrix, written as a literal.
#[differentiable]
fn inverse_sum<T: Float>(m: [[T; 2]; 2]) -> T {
    let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    let inv = [
        [m[1][1] / det, -m[0][1] / det],
        [-m[1][0] / det, m[0][0] / det],
    ];
    inv[0][0] + inv[0][1] * 2.0 + inv[1][0] * 3.0 + inv[1][1] * 4.0
}

/// A Jacobian as the fn's value; a typed literal mixing constants.
#[differentiable]
fn jacobian<T: Float>(x: T, y: T) -> [[T; 2]; 2] {
    let m: [[T; 2]; 2] = [[x, T::one()], [T::zero(), x * y]];
    let c = [[1.0, 2.0], [3.0, 4.0]];
    [
        [y.cos() * m[0][0], x * y + m[0][1] * c[0][1]],
        [x.exp() * c[1][0], -y + m[1][1]],
    ]
}

#[differentiable]
fn sub<T: Float>(a: [T; 3], b: [T; 3]) -> [T; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

#[differentiable]
fn norm<T: Float>(a: [T; 3]) -> T {
    (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt()
}

/// Pairwise energy over points `&[[T; 3]]`.
#[differentiable]
fn energy<T: Float>(pos: &[[T; 3]], k: T) -> T {
    let mut e = T::zero();
    for i in 0..pos.len() {
        for j in (i + 1)..pos.len() {
            let d: [T; 3] = sub(pos[i], pos[j]);
            e = e + k / norm(d);
        }
    }
    e
}

/// A planar arm's distance to a target.
#[differentiable]
fn reach<T: Float>(angles: &[T], lens: &[T], target: [T; 2]) -> T {
    let mut x = T::zero();
    let mut y = T::zero();
    let mut a = T::zero();
    for (th, l) in angles.iter().zip(lens) {
        a = a + *th;
        x = x + *l * a.cos();
        y = y + *l * a.sin();
    }
    (x - target[0]).powi(2) + (y - target[1]).powi(2)
}

/// One hidden layer, its rows zipped with biases and output weights.
#[differentiable(wrt(w1, b1, w2))]
fn net<T: Float>(w1: &[Vec<T>], b1: &[T], w2: &[T], x: &[Vec<T>], y: &[T]) -> T {
    let mut loss = T::zero();
    for (xi, &yi) in x.iter().zip(y) {
        let mut out = T::zero();
        for (row, (&b, &v)) in w1.iter().zip(b1.iter().zip(w2)) {
            let mut h = b;
            for (wij, xj) in row.iter().zip(xi) {
                h = h + *wij * *xj;
            }
            out = out + v * h.tanh();
        }
        loss = loss + (out - yi).powi(2);
    }
    loss / T::from(x.len()).unwrap()
}

/// A `let` given its value in each branch.
#[allow(clippy::needless_late_init)]
#[differentiable]
fn deferred<T: Float>(x: T, y: T) -> T {
    let z;
    if x > y {
        z = x * y;
    } else {
        z = x - y;
    }
    z * z
}

#[differentiable]
fn ring<T: Float, const N: usize>(x: [T; N]) -> T {
    let mut s = T::zero();
    for i in 0..N {
        s = s + x[i] * x[(i + 1) % N];
    }
    s
}

#[differentiable]
fn affine<T: Float>(x: &[T], w: &[T], b: T) -> T {
    let z = x.iter().zip(w).fold(b, |acc, (xi, wi)| acc + *xi * *wi);
    z.tanh()
}

#[differentiable]
fn even<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for i in (0..x.len()).step_by(2) {
        s = s + x[i].sin() * x[x.len() - 1 - i];
    }
    s
}

/// The square root by Newton's iteration, differentiated through it.
#[differentiable]
fn newton_sqrt<T: Float>(a: T) -> T {
    let mut x = T::one();
    let tol = T::from(1e-6).unwrap();
    let mut it = 0;
    while (x * x - a).abs() > tol * a && it < 100 {
        x = x - (x * x - a) / (2.0 * x);
        it += 1;
    }
    x
}

/// Reads that may fall outside the array: `get` with a default, unwrapped,
/// and in `if let`.
#[differentiable]
fn guarded<T: Float>(x: &[T], i: usize) -> T {
    let a = x.get(i).copied().unwrap_or(T::zero());
    let b = *x.get(i / 2).unwrap_or(&T::one());
    let c = x.get(i % 2).unwrap().exp() + *x.get(1).expect("two values");
    let mut s = a * a + b * c + x.get(i + 1).cloned().unwrap_or(T::one()).sin();
    if let Some(&v) = x.get(i + 2) {
        s = s * v;
    }
    if let Some(v) = x.get(i + 3) {
        s = s + *v;
    } else {
        s = s - T::one();
    }
    s
}

/// A stencil whose ends read zeros.
#[differentiable]
fn bending<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..x.len() {
        let left = if i > 0 { x[i - 1] } else { T::zero() };
        let right = x.get(i + 1).copied().unwrap_or(T::zero());
        s = s + (left + right - 2.0 * x[i]).powi(2);
    }
    s
}

/// Counted, then skipped or taken: the count is the element's index.
#[differentiable]
fn counted<T: Float + std::iter::Sum>(x: &[T], y: &[T]) -> T {
    let mut s = T::zero();
    for (i, v) in x.iter().enumerate().skip(1) {
        s = s + *v * T::from(i).unwrap() * y[i];
    }
    for (i, v) in x.iter().enumerate().skip(1).take(2) {
        s = s + v.sin() * T::from(i + 3).unwrap();
    }
    for (i, v) in x.iter().skip(1).enumerate() {
        s = s + v.cos() * T::from(i + 7).unwrap();
    }
    s + x
        .iter()
        .enumerate()
        .skip(2)
        .map(|(i, v)| *v * T::from(i).unwrap())
        .sum::<T>()
}

/// `map` on arrays held by value: a parameter and one the fn made.
#[differentiable]
fn mapped<T: Float>(x: [T; 3]) -> T {
    let y = x.map(|v| v * v);
    let mut z = [T::zero(), x[1], x[0]];
    z[0] = x[2];
    let w: [T; 3] = z.map(|v: T| v.exp() * y[0]);
    y[0] + y[1] * y[2] + w[0] * w[1] + w[2]
}

/// Rows walked flat: `for &v in w.iter().flatten()` (with `continue`),
/// `.copied()`, and a reduction over them.
#[differentiable]
fn flattened<T: Float + std::iter::Sum>(w: &[Vec<T>], m: [[T; 2]; 2]) -> T {
    let mut s = T::zero();
    for &v in w.iter().flatten() {
        if v < T::zero() {
            continue;
        }
        s = s + v.sqrt();
    }
    for v in m.iter().flatten().copied() {
        s = s + v * v;
    }
    s + w.iter().flatten().map(|v| v.exp()).sum::<T>()
}

/// A net written with iterators: layers as `zip`/`fold`/`collect`, an L2
/// over the weights' rows flattened.
#[differentiable]
fn dense<T: Float>(w: &[Vec<T>], b: &[T], x: &[T]) -> Vec<T> {
    w.iter()
        .zip(b)
        .map(|(row, &bi)| {
            row.iter()
                .zip(x)
                .fold(bi, |acc, (&wij, &xj)| acc + wij * xj)
        })
        .collect()
}

#[differentiable]
fn relu<T: Float>(x: &[T]) -> Vec<T> {
    x.iter().map(|&v| v.max(T::zero())).collect()
}

#[differentiable]
fn xent<T: Float>(logits: &[T], label: usize) -> T {
    let m = logits.iter().fold(T::neg_infinity(), |a, &b| a.max(b));
    let lse = logits
        .iter()
        .map(|&z| (z - m).exp())
        .fold(T::zero(), |a, b| a + b)
        .ln()
        + m;
    lse - logits[label]
}

#[differentiable(wrt(w1, w2))]
fn classifier<T: Float>(w1: &[Vec<T>], w2: &[Vec<T>], xs: &[Vec<T>], ys: &[usize]) -> T {
    let b1 = vec![T::from(0.1).unwrap(); w1.len()];
    let b2 = vec![T::zero(); w2.len()];
    let mut loss = T::zero();
    for (x, &y) in xs.iter().zip(ys) {
        let h: Vec<T> = dense(w1, &b1, x);
        let a: Vec<T> = relu(&h);
        let z: Vec<T> = dense(w2, &b2, &a);
        loss = loss + xent(&z, y);
    }
    let l2 = w1
        .iter()
        .flatten()
        .map(|&v| v * v)
        .fold(T::zero(), |a, b| a + b);
    loss / T::from(xs.len()).unwrap() + T::from(1e-3).unwrap() * l2
}

/// A Gaussian process's negative log likelihood: a Cholesky factor built
/// in place in a `Vec<Vec<T>>` (each element read after the ones before it
/// are written), a triangular solve, `ln` of the diagonal.
#[differentiable]
fn gp_nll<T: Float>(a: &[Vec<T>], y: &[T]) -> T {
    let n = a.len();
    let mut l = vec![vec![T::zero(); n]; n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i][j];
            for k in 0..j {
                s = s - l[i][k] * l[j][k];
            }
            if i == j {
                l[i][j] = s.sqrt();
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    // forward solve L z = y
    let mut z = vec![T::zero(); n];
    for i in 0..n {
        let mut s = y[i];
        for k in 0..i {
            s = s - l[i][k] * z[k];
        }
        z[i] = s / l[i][i];
    }
    let mut logdet = T::zero();
    for i in 0..n {
        logdet = logdet + l[i][i].ln();
    }
    let quad: T = z.iter().fold(T::zero(), |acc, &v| acc + v * v);
    0.5 * quad + logdet
}

/// RBF kernel matrix from hyperparameters, then the NLL.
#[differentiable(wrt(ls, sf, noise))]
fn gp_hyper<T: Float>(xs: &[T], y: &[T], ls: T, sf: T, noise: T) -> T {
    let n = xs.len();
    let mut k = vec![vec![T::zero(); n]; n];
    for i in 0..n {
        for j in 0..n {
            let d = (xs[i] - xs[j]) / ls;
            k[i][j] = sf * sf * (-0.5 * d * d).exp();
        }
        k[i][i] = k[i][i] + noise * noise;
    }
    gp_nll(&k, y)
}

#[differentiable]
fn step3<T: Float>(a: [T; 3], k: T) -> [T; 3] {
    [a[0] + k * a[1], a[1] - k * a[0], a[2] * 0.9 + k]
}

/// An array from a call bound without its type and written into another
/// one, and an `Option` held across a loop. Lowering runs to a fixed point
/// of activity, and its second run made a variable the first did not (the
/// call's array): variables known by index then shifted, and the `Option`'s
/// flag was taken for a float ("a condition must be a `bool`").
#[differentiable]
fn carried<T: Float>(x: &[T], y: [T; 3]) -> T {
    let mut s = x[0] * 0.5;
    let mut a = y;
    let b = step3(a, s);
    a[0] = b[0];
    let mut prev: Option<T> = None;
    for &q in x {
        if let Some(p) = prev {
            s = s + (q - p) * 0.2;
        }
        prev = Some(q);
    }
    s + a[1] * a[0]
}

/// A cast to the fn's own float type, as code mixing `f64` data writes
/// it: the value itself.
#[differentiable]
#[allow(clippy::unnecessary_cast)]
fn cast_to_self(x: f64, n: usize) -> f64 {
    (x as f64).sin() * (n as f64) + (x * x) as f64
}

#[differentiable]
fn matmul<T: Float>(a: [[T; 3]; 3], b: [[T; 3]; 3]) -> [[T; 3]; 3] {
    let mut c = [[T::zero(); 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            for k in 0..3 {
                c[i][j] = c[i][j] + a[i][k] * b[k][j];
            }
        }
    }
    c
}

#[differentiable]
fn rot_z<T: Float>(t: T) -> [[T; 3]; 3] {
    let (s, c) = t.sin_cos();
    [
        [c, -s, T::zero()],
        [s, c, T::zero()],
        [T::zero(), T::zero(), T::one()],
    ]
}

/// Forward kinematics: a matrix the fn made, assigned whole from a call
/// each joint.
#[differentiable]
fn kinematics<T: Float>(angles: &[T]) -> T {
    let mut r = [[T::zero(); 3]; 3];
    for i in 0..3 {
        r[i][i] = T::one();
    }
    for &t in angles {
        let z: [[T; 3]; 3] = rot_z(t);
        r = matmul(r, z);
    }
    r[0][0] + 2.0 * r[1][0]
}

/// A matrix assigned whole from a parameter and from a `Vec<Vec<T>>` made
/// by the fn.
#[differentiable]
fn reassigned<T: Float>(x: T, y: T, w: [[T; 2]; 2]) -> T {
    let mut m = [[x; 2]; 2];
    let a = m[0][0];
    m = w;
    let mut v = vec![vec![y; 2]; 2];
    v[1][0] = m[0][1] * x;
    let mut u = vec![vec![T::zero(); 2]; 2];
    u = v;
    m[0][1] * a * y + u[1][0] * u[0][1]
}

/// An array a call returns, unpacked by a pattern.
#[differentiable]
fn turned<T: Float>(t: T, p: [T; 2]) -> T {
    let [a, b] = rotate(t, p);
    a * b + a
}

#[differentiable]
fn rotate<T: Float>(t: T, p: [T; 2]) -> [T; 2] {
    let (s, c) = t.sin_cos();
    [c * p[0] - s * p[1], s * p[0] + c * p[1]]
}

fn check<T: Float + std::fmt::Display + std::iter::Sum>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    let p: Vec<T> = cast(&rng.point(3, -1.0, 1.0));
    let k = p[2].abs() + T::one();
    let (_, (gs, gk)) = pendulum_grad([p[0], p[1]], k, 12);
    let q = [p[0], p[1], k];
    assert_gradient(
        "pendulum",
        |v: &[T]| pendulum([v[0], v[1]], v[2], 12),
        &q,
        &[gs[0], gs[1], gk],
        tol,
    );
    let (_, (gs, gk)) = pendulum_mut_grad([p[0], p[1]], k, 12);
    assert_gradient(
        "pendulum_mut",
        |v: &[T]| pendulum_mut([v[0], v[1]], v[2], 12),
        &q,
        &[gs[0], gs[1], gk],
        tol,
    );
    let (_, (gv, gk)) = relax_grad(vec![p[0], p[1]], k);
    assert_gradient(
        "relax",
        |v: &[T]| relax(vec![v[0], v[1]], v[2]),
        &q,
        &[gv[0], gv[1], gk],
        tol,
    );

    // Distinct values, at least 0.1 apart, in random order.
    let mut x: Vec<f64> = (0..5)
        .map(|i| i as f64 * 0.3 - 0.6 + rng.uniform(0.0, 0.2))
        .collect();
    for i in (1..x.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        x.swap(i, j);
    }
    let x: Vec<T> = cast(&x);
    let (_, g) = sorted_head_grad(&x);
    assert_gradient("sorted_head", sorted_head::<T>, &x, &g, tol);
    assert_eq!(
        g.iter().filter(|v| **v != T::zero()).count(),
        3,
        "only the three smallest have gradients"
    );

    let m: Vec<T> = cast(&[
        1.0 + rng.uniform(0.0, 0.5),
        rng.uniform(-0.3, 0.3),
        rng.uniform(-0.3, 0.3),
        1.0 + rng.uniform(0.0, 0.5),
    ]);
    let g = inverse_sum_grad([[m[0], m[1]], [m[2], m[3]]]).1;
    assert_gradient(
        "inverse_sum",
        |v: &[T]| inverse_sum([[v[0], v[1]], [v[2], v[3]]]),
        &m,
        &[g[0][0], g[0][1], g[1][0], g[1][1]],
        tol,
    );

    let up: Vec<T> = cast(&rng.point(4, -1.0, 1.0));
    let (_, back) = jacobian_forward(p[0], p[1]);
    let (gx, gy) = back([[up[0], up[1]], [up[2], up[3]]]);
    assert_gradient(
        "jacobian",
        |v: &[T]| {
            let j = jacobian(v[0], v[1]);
            j[0][0] * up[0] + j[0][1] * up[1] + j[1][0] * up[2] + j[1][1] * up[3]
        },
        &p[..2],
        &[gx, gy],
        tol,
    );

    let pts: Vec<f64> = rng.point(9, -1.0, 1.0);
    let pos: Vec<[T; 3]> = (0..3)
        .map(|i| [0, 1, 2].map(|c| T::from(pts[3 * i + c] + 3.0 * i as f64).unwrap()))
        .collect();
    let (_, (gp, gk)) = energy_grad(&pos, k);
    let flat: Vec<T> = pos.iter().flatten().copied().chain([k]).collect();
    let g: Vec<T> = gp.iter().flatten().copied().chain([gk]).collect();
    assert_gradient(
        "energy",
        |v: &[T]| {
            energy(
                &[[v[0], v[1], v[2]], [v[3], v[4], v[5]], [v[6], v[7], v[8]]],
                v[9],
            )
        },
        &flat,
        &g,
        tol,
    );

    let al: Vec<T> = cast(&rng.point(8, -1.0, 1.0));
    let (_, (ga, gl, gt)) = reach_grad(&al[..3], &al[3..6], [al[6], al[7]]);
    let g: Vec<T> = ga.iter().chain(&gl).chain(&gt).copied().collect();
    assert_gradient(
        "reach",
        |v: &[T]| reach(&v[..3], &v[3..6], [v[6], v[7]]),
        &al,
        &g,
        tol,
    );

    let w: Vec<T> = cast(&rng.point(6 + 3 + 3, -1.0, 1.0));
    let xs: Vec<Vec<T>> = (0..4).map(|_| cast(&rng.point(2, -1.0, 1.0))).collect();
    let ys: Vec<T> = cast(&rng.point(4, -1.0, 1.0));
    let rows = |v: &[T]| v[..6].chunks(2).map(|c| c.to_vec()).collect::<Vec<_>>();
    let (_, (gw1, gb1, gw2)) = net_grad(&rows(&w), &w[6..9], &w[9..], &xs, &ys);
    let g: Vec<T> = gw1
        .iter()
        .flatten()
        .chain(&gb1)
        .chain(&gw2)
        .copied()
        .collect();
    assert_gradient(
        "net",
        |v: &[T]| net(&rows(v), &v[6..9], &v[9..], &xs, &ys),
        &w,
        &g,
        tol,
    );

    let (a, b) = (
        p[0],
        p[1] + if p[1] > p[0] {
            T::from(0.1).unwrap()
        } else {
            -T::from(0.1).unwrap()
        },
    );
    let (_, (ga, gb)) = deferred_grad(a, b);
    assert_gradient(
        "deferred",
        |v: &[T]| deferred(v[0], v[1]),
        &[a, b],
        &[ga, gb],
        tol,
    );

    let r4 = [up[0], up[1], up[2], up[3]];
    let (_, g) = ring_grad(r4);
    assert_gradient(
        "ring",
        |v: &[T]| ring([v[0], v[1], v[2], v[3]]),
        &r4,
        &g,
        tol,
    );
    let (_, (gx, gw, gb)) = affine_grad(&up, &w[..4], p[2]);
    let xw: Vec<T> = up.iter().chain(&w[..4]).copied().chain([p[2]]).collect();
    let g: Vec<T> = gx.iter().chain(&gw).copied().chain([gb]).collect();
    assert_gradient(
        "affine",
        |v: &[T]| affine(&v[..4], &v[4..8], v[8]),
        &xw,
        &g,
        tol,
    );
    let (_, g) = even_grad(&w[..5]);
    assert_gradient("even", even::<T>, &w[..5], &g, tol);
    for i in 0..6 {
        let (_, g) = guarded_grad(&w[..4], i);
        assert_gradient("guarded", |v: &[T]| guarded(v, i), &w[..4], &g, tol);
    }
    let (_, g) = bending_grad(&w[..5]);
    assert_gradient("bending", bending::<T>, &w[..5], &g, tol);
    let (_, (gx, gy)) = counted_grad(&w[..4], &w[4..8]);
    let g: Vec<T> = gx.iter().chain(&gy).copied().collect();
    assert_gradient(
        "counted",
        |v: &[T]| counted(&v[..4], &v[4..]),
        &w[..8],
        &g,
        tol,
    );
    let (_, (gt, gp)) = turned_grad(p[0], [p[1], p[2]]);
    assert_gradient(
        "turned",
        |v: &[T]| turned(v[0], [v[1], v[2]]),
        &p,
        &[gt, gp[0], gp[1]],
        tol,
    );
    let (_, g) = mapped_grad([p[0], p[1], p[2]]);
    assert_gradient("mapped", |v: &[T]| mapped([v[0], v[1], v[2]]), &p, &g, tol);
    let rows = |v: &[T], n: usize| v.chunks(n).map(|c| c.to_vec()).collect::<Vec<_>>();
    // Away from the square root's threshold at 0.
    let w6: Vec<T> = cast(
        &(0..6)
            .map(|i| rng.uniform(0.2, 1.0) * if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect::<Vec<_>>(),
    );
    let (_, (gw, gm)) = flattened_grad(&rows(&w6, 3), [[up[0], up[1]], [up[2], up[3]]]);
    let g: Vec<T> = gw
        .iter()
        .flatten()
        .chain(gm.iter().flatten())
        .copied()
        .collect();
    let wm: Vec<T> = w6.iter().chain(&up).copied().collect();
    assert_gradient(
        "flattened",
        |v: &[T]| flattened(&rows(&v[..6], 3), [[v[6], v[7]], [v[8], v[9]]]),
        &wm,
        &g,
        tol,
    );
    let wts: Vec<T> = cast(&rng.point(4 * 3 + 2 * 4, -1.0, 1.0));
    let xs: Vec<Vec<T>> = (0..3).map(|_| cast(&rng.point(3, -1.0, 1.0))).collect();
    let ys = [0, 1, 1];
    let (_, (g1, g2)) = classifier_grad(&rows(&wts[..12], 3), &rows(&wts[12..], 4), &xs, &ys);
    let g: Vec<T> = g1
        .iter()
        .flatten()
        .chain(g2.iter().flatten())
        .copied()
        .collect();
    if T::epsilon() < T::from(1e-10).unwrap() {
        assert_gradient(
            "classifier",
            |v: &[T]| classifier(&rows(&v[..12], 3), &rows(&v[12..], 4), &xs, &ys),
            &wts,
            &g,
            tol,
        );
    } else {
        // f32's finite differences (step 5e-3) may cross a ReLU's kink:
        // against the f64 gradient (which `natural_forms_f64` checks by
        // finite differences).
        let to64 = |v: &[T]| v.iter().map(|x| x.to_f64().unwrap()).collect::<Vec<f64>>();
        let rows64 = |v: &[T], n: usize| to64(v).chunks(n).map(|c| c.to_vec()).collect::<Vec<_>>();
        let xs64: Vec<Vec<f64>> = xs.iter().map(|x| to64(x)).collect();
        let (_, (h1, h2)) =
            classifier_grad(&rows64(&wts[..12], 3), &rows64(&wts[12..], 4), &xs64, &ys);
        for (a, b) in g.iter().zip(h1.iter().flatten().chain(h2.iter().flatten())) {
            let a = a.to_f64().unwrap();
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "classifier f32 {a} vs f64 {b}"
            );
        }
    }
    let xs: Vec<T> = cast(&[0.0, 0.4, 1.1, 1.7, 2.5]);
    let ys: Vec<T> = cast(&rng.point(5, -1.0, 1.0));
    let h: Vec<T> = cast(&[
        rng.uniform(0.6, 1.2),
        rng.uniform(0.8, 1.5),
        rng.uniform(0.3, 0.6),
    ]);
    let (_, (gl, gs, gn)) = gp_hyper_grad(&xs, &ys, h[0], h[1], h[2]);
    assert_gradient(
        "gp_hyper",
        |v: &[T]| gp_hyper(&xs, &ys, v[0], v[1], v[2]),
        &h,
        &[gl, gs, gn],
        tol,
    );
    let (_, (gx, gy)) = carried_grad(&w[..4], [p[0], p[1], p[2]]);
    let g: Vec<T> = gx.iter().chain(&gy).copied().collect();
    let xy: Vec<T> = w[..4].iter().chain(&p).copied().collect();
    assert_gradient(
        "carried",
        |v: &[T]| carried(&v[..4], [v[4], v[5], v[6]]),
        &xy,
        &g,
        tol,
    );
    let (_, g) = kinematics_grad(&p);
    assert_gradient("kinematics", kinematics::<T>, &p, &g, tol);
    let (_, (gx, gy, gw)) = reassigned_grad(p[0], p[1], [[up[0], up[1]], [up[2], up[3]]]);
    let q: Vec<T> = [p[0], p[1]].iter().chain(&up).copied().collect();
    assert_gradient(
        "reassigned",
        |v: &[T]| reassigned(v[0], v[1], [[v[2], v[3]], [v[4], v[5]]]),
        &q,
        &[gx, gy, gw[0][0], gw[0][1], gw[1][0], gw[1][1]],
        tol,
    );
    let (_, g) = newton_sqrt_grad(k);
    assert_gradient("newton_sqrt", |v: &[T]| newton_sqrt(v[0]), &[k], &[g], tol);
}

#[test]
fn natural_forms_f64() {
    let mut rng = Rng::new(41);
    for _ in 0..20 {
        check::<f64>(&mut rng);
    }
}

#[test]
fn natural_forms_f32() {
    let mut rng = Rng::new(42);
    for _ in 0..20 {
        check::<f32>(&mut rng);
    }
}

#[test]
fn casts_to_the_float_type() {
    let (v, g) = cast_to_self_grad(0.5, 3);
    assert_eq!(v, cast_to_self(0.5, 3));
    assert_eq!(g, 0.5f64.cos() * 3.0 + 1.0);
}

#[test]
fn closed_forms() {
    // d/da sqrt(a) = 1 / (2 sqrt(a)), through the iterations.
    let (v, g) = newton_sqrt_grad(2.0);
    assert!((v - 2f64.sqrt()).abs() < 1e-9 && (g - 0.5 / 2f64.sqrt()).abs() < 1e-6);
    // Sorting routes each gradient to the element that landed there:
    // sorted [-1, 0, 0.5, 2], then swapped to [0.5, 0, -1, 2].
    let (v, g) = sorted_head_grad(&[0.5, -1.0, 2.0, 0.0]);
    assert_eq!(v, 1.5 + (-1f64).exp());
    assert_eq!(g, vec![3.0, (-1f64).exp(), 0.0, 2.0]);
}

/// A planar arm: the orientation starts as a matrix literal of constants
/// (`let mut m = [[one, zero], [zero, one]];`) and is assigned whole, the
/// product with each joint's rotation; and a literal of constants with
/// one element assigned a differentiated value.
#[differentiable]
fn planar_arm<T: Float>(q: &[T], l: &[T]) -> T {
    let mut m = [[T::one(), T::zero()], [T::zero(), T::one()]];
    let mut pos = [T::zero(), T::zero()];
    for i in 0..q.len() {
        let (s, c) = q[i].sin_cos();
        let r = [[c, -s], [s, c]];
        let mut nm = [[T::zero(); 2]; 2];
        for a in 0..2 {
            for b in 0..2 {
                for k in 0..2 {
                    nm[a][b] = nm[a][b] + m[a][k] * r[k][b];
                }
            }
        }
        m = nm;
        pos[0] = pos[0] + m[0][0] * l[i];
        pos[1] = pos[1] + m[1][0] * l[i];
    }
    let mut shear = [[1.0, 0.0], [0.0, 1.0]];
    shear[0][1] = l[0];
    (pos[0] + shear[0][1] * pos[1] - 0.5).powi(2) + (pos[1] - shear[1][1]).powi(2)
}

#[test]
fn matrix_literals_assigned() {
    fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
        for _ in 0..10 {
            let p: Vec<T> = cast(&rng.point(6, -1.0, 1.0));
            let (q, l) = p.split_at(3);
            let (v, (gq, gl)) = planar_arm_grad(q, l);
            // Closed form: the arm's end is the sum of l[i] (cos, sin) of
            // the partial sums of the angles.
            let (mut x, mut y, mut a) = (0.0, 0.0, 0.0);
            let f = |v: &[T]| v.iter().map(|t| t.to_f64().unwrap()).collect::<Vec<f64>>();
            let (qf, lf) = (f(q), f(l));
            for i in 0..3 {
                a += qf[i];
                x += lf[i] * a.cos();
                y += lf[i] * a.sin();
            }
            let want = (x + lf[0] * y - 0.5).powi(2) + (y - 1.0).powi(2);
            assert!((v.to_f64().unwrap() - want).abs() < tolerance::<T>());
            let g: Vec<T> = gq.iter().chain(&gl).copied().collect();
            let h = |v: &[T]| planar_arm(&v[..3], &v[3..]);
            assert_gradient("planar_arm", h, &p, &g, tolerance::<T>());
        }
    }
    let mut rng = Rng::new(43);
    check::<f64>(&mut rng);
    check::<f32>(&mut rng);
}
