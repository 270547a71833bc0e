//! Neighbours and ends of arrays as Rust offers them, each checked against
//! finite differences in f64 and f32 at random points: zips whose parts
//! start at different places or run backwards (`x.iter().zip(x.iter()
//! .skip(1))`, `x[..n - 1].iter().zip(&x[1..])`, `zip(y.iter().rev())`,
//! `(1..n).zip(..)`, `enumerate()` inside a part), `step_by(k)` over
//! arrays, `filter(..)` and `take_while(..)` in loops and reductions,
//! `chunks(k)` with a short last chunk, `x.first()`/`x.last()` unwrapped,
//! the largest and smallest item as Rust asks for them (`max_by(|a, b|
//! a.partial_cmp(b).unwrap())`, `reduce(T::max)`, `min_by`, `total_cmp`),
//! ranges of arrays passed to calls and bound to names (`dot(&w[a..b], x)`,
//! `let head = &x[..2];`), elements written through `iter_mut()` zipped
//! with other arrays and `for_each`, pushes under a condition, and
//! reductions over arrays the fn filled itself.

#![allow(
    clippy::needless_range_loop,
    clippy::manual_memcpy,
    clippy::useless_vec
)]

mod common;

use common::{assert_gradient, cast, close, tolerance, Rng};
use std::iter::Sum;
use tapeless::{differentiable, Float};

/// Rosenbrock over consecutive pairs, as the iterator reads it.
#[differentiable]
fn rosenbrock<T: Float + Sum>(x: &[T]) -> T {
    x.iter()
        .zip(x.iter().skip(1))
        .map(|(&a, &b)| 100.0 * (b - a * a).powi(2) + (1.0 - a).powi(2))
        .sum()
}

/// First differences by ranges of the same array.
#[differentiable]
fn roughness<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for (a, b) in x[..x.len() - 1].iter().zip(&x[1..]) {
        s = s + (*b - *a).powi(2);
    }
    s
}

/// A convolution-like pairing of one array forwards with another backwards.
#[differentiable]
fn mirrored<T: Float>(x: &[T], y: &[T]) -> T {
    let mut s = T::zero();
    for (a, b) in x.iter().zip(y.iter().rev()) {
        s = s + a.sin() * *b;
    }
    s
}

/// A range, floats and constants in one zip; an `enumerate` inside a part.
#[differentiable]
fn indexed<T: Float>(x: &[T], w: &[f64]) -> T {
    let mut s = T::zero();
    for (i, (&a, &c)) in (1..x.len()).zip(x.iter().zip(w)) {
        s = s + a * T::from(c * i as f64).unwrap();
    }
    for ((i, a), b) in x.iter().enumerate().skip(1).zip(x.iter().rev().skip(2)) {
        s = s + *a * *b * T::from(i).unwrap();
    }
    s
}

/// Differences collected, then a zip reversed as a whole.
#[differentiable]
fn differences<T: Float>(x: &[T]) -> Vec<T> {
    let d: Vec<T> = x
        .iter()
        .zip(x.iter().skip(1))
        .map(|(a, b)| *b - *a)
        .collect();
    let mut s = T::zero();
    for (a, b) in x.iter().zip(x.iter().skip(1)).rev() {
        s = s * 0.5 + *a * *b;
    }
    let mut out = vec![s; d.len() + 1];
    for i in 0..d.len() {
        out[i] = d[i];
    }
    out
}

/// `copied()` parts on an array by value, shifted and cut short.
#[differentiable]
fn fixed<T: Float>(x: [T; 5]) -> T {
    let mut s = T::zero();
    for (a, b) in x.iter().copied().zip(x.iter().copied().skip(2).take(2)) {
        s = s + a * b.exp();
    }
    s
}

/// Pairs of a flat array, the last one alone when the length is odd.
#[differentiable]
fn pairs<T: Float + Sum>(x: &[T]) -> T {
    let mut s = T::zero();
    for c in x.chunks(2) {
        let mut p = T::one();
        for j in 0..c.len() {
            p = p * c[j];
        }
        s = s + p;
    }
    s + x
        .chunks(3)
        .map(|c| c[0] * T::from(c.len()).unwrap())
        .sum::<T>()
}

/// The ends of an array, as `Option`s unwrapped.
#[differentiable]
fn ends<T: Float>(x: &[T], labels: &[usize]) -> T {
    let l = x.last().expect("x is not empty");
    let k = *labels.last().unwrap();
    *l * T::from(k).unwrap() - x.first().copied().unwrap() + x.last().unwrap().exp()
        - (*x.first().unwrap()).powi(3)
}

/// Reductions over arrays the fn wrote element by element.
#[differentiable]
fn filled<T: Float + Sum>(m: [[T; 3]; 3], v: [T; 3]) -> T {
    let mut out = [T::zero(); 3];
    for i in 0..3 {
        for j in 0..3 {
            out[i] = out[i] + m[i][j] * v[j];
        }
    }
    let mut sq = vec![T::zero(); 3];
    for i in 0..3 {
        sq[i] = out[i] * out[i];
    }
    out.iter().fold(T::zero(), |a, &b| a + b * b) + sq.iter().map(|&b| b.sqrt()).sum::<T>()
}

/// Items tested, then collected: as many as pass.
#[differentiable]
fn kept<T: Float + Sum>(x: &[T]) -> T {
    let pos: Vec<T> = x.iter().copied().filter(|&v| v > T::zero()).collect();
    let sq: Vec<T> = x.iter().filter(|v| v.abs() < 1.0).map(|&v| v * v).collect();
    let head: Vec<T> = x
        .iter()
        .take_while(|&&v| v < 1.2)
        .map(|&v| v.exp())
        .collect();
    let mut s = T::zero();
    for i in 0..pos.len() {
        s = s + pos[i] * pos[i];
    }
    s / T::from(pos.len().max(1)).unwrap()
        + sq.iter().copied().sum::<T>() * T::from(sq.len()).unwrap()
        + head.iter().copied().sum::<T>()
}

/// Pushes under a condition (counted first), and a pushed `Vec` whose
/// loop's length is computed after the `Vec::new()`.
#[differentiable]
fn pushed<T: Float>(x: &[T], k: T) -> T {
    let mut pos = Vec::new();
    for &v in x.iter() {
        let d = v - k;
        if d > T::zero() {
            pos.push(d * d);
        }
    }
    let mut pairs = Vec::new();
    let n = x.len() - 1;
    for i in 0..n {
        pairs.push(x[i] * x[i + 1]);
    }
    let mut s = T::zero();
    for v in pos.iter() {
        s = s + *v;
    }
    s / T::from(pos.len().max(1)).unwrap() + pairs.iter().fold(T::zero(), |a, &b| a + b)
}

#[differentiable]
fn evens<T: Float>(x: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(x.len());
    for i in 0..x.len() {
        if i % 2 == 0 {
            out.push(x[i].exp());
        }
    }
    out
}

#[differentiable]
fn roots<T: Float>(x: &[T]) -> Vec<T> {
    x.iter().filter(|v| **v > 0.0).map(|&v| v.sqrt()).collect()
}

/// Elements written through `iter_mut()` in zips and `for_each`.
#[differentiable]
fn written<T: Float>(x: &[T], w: &[T]) -> T {
    let mut g = vec![T::zero(); x.len()];
    for (gi, &xi) in g.iter_mut().zip(x) {
        *gi = xi * 2.0;
    }
    let mut out = vec![T::zero(); x.len()];
    for (o, (&a, &b)) in out.iter_mut().zip(x.iter().zip(w)) {
        *o = a * b + o.max(T::zero());
    }
    let mut acc = x.to_vec();
    for (i, (v, &d)) in acc.iter_mut().zip(w.iter().rev()).enumerate() {
        *v = *v * d + T::from(i).unwrap();
    }
    acc.iter_mut().for_each(|v| *v = v.sin() * 2.0);
    let mut s = T::zero();
    x.iter().zip(w).for_each(|(a, b)| {
        s = s + *a * *b;
    });
    s + g[0] * out[1] + g[1] + out[0] * acc[0] + acc[1] * acc[acc.len() - 1]
}

/// Every other element, from either end, and interleaved pairs.
#[differentiable]
fn strided<T: Float + Sum>(x: &[T]) -> T {
    let mut s = T::zero();
    for v in x.iter().rev().step_by(2) {
        s = s * 0.5 + *v;
    }
    for v in x.iter().step_by(3).rev() {
        s = s * 0.5 + v.sin();
    }
    for (a, b) in x.iter().step_by(2).zip(x.iter().skip(1).step_by(2)) {
        s = s + *a * *b;
    }
    s + x
        .iter()
        .skip(1)
        .step_by(2)
        .take(2)
        .map(|&v| v * v)
        .sum::<T>()
}

/// Items tested before they count: the ways Rust writes the test.
#[differentiable]
fn filtered<T: Float + Sum>(x: &[T], y: &[T]) -> T {
    let mut s = x
        .iter()
        .filter(|&&v| v > T::zero())
        .map(|&v| v.ln())
        .sum::<T>();
    for v in x.iter().filter(|v| **v < 0.5) {
        s = s + *v * *v;
    }
    for (i, v) in x.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        s = s + *v * T::from(i + 1).unwrap();
    }
    for &v in x.iter().take_while(|&&v| v < 1.0) {
        s = s + v.exp();
    }
    s + x
        .iter()
        .zip(y)
        .filter(|(a, b)| **a > **b)
        .map(|(a, b)| (*a - *b).powi(2))
        .sum::<T>()
        + x.iter().filter(|&v| v.abs() > 0.35).copied().sum::<T>()
        + x.iter()
            .filter(|v| v.abs() < 0.8)
            .fold(T::one(), |a, &b| a * b)
}

/// A log-sum-exp shifted by the largest, and the range of the values.
#[differentiable]
fn extremes<T: Float + Sum>(x: &[T]) -> T {
    let m = *x.iter().max_by(|a, b| a.partial_cmp(b).unwrap()).unwrap();
    let lse = x.iter().map(|&v| (v - m).exp()).sum::<T>().ln() + m;
    let lo = x
        .iter()
        .copied()
        .min_by(|a, b| a.partial_cmp(b).unwrap())
        .unwrap();
    let hi = x
        .iter()
        .cloned()
        .reduce(|a, b| a.max(b))
        .expect("not empty");
    let least = x.iter().max_by(|a, b| b.partial_cmp(a).unwrap()).unwrap();
    lse + (hi - lo) * *least + x.iter().copied().reduce(T::min).unwrap().powi(2)
}

#[differentiable]
fn spread(x: &[f64]) -> f64 {
    let hi = x.iter().copied().max_by(|a, b| a.total_cmp(b)).unwrap();
    let lo = x.iter().copied().reduce(f64::min).unwrap();
    (hi - lo).sqrt()
}

#[differentiable]
fn dotp<T: Float>(a: &[T], b: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..a.len() {
        s = s + a[i] * b[i];
    }
    s
}

/// A flat weight matrix used by rows, and ranges of one array.
#[differentiable]
fn ranges<T: Float + Sum>(w: &[T], x: &[T]) -> T {
    let n = x.len();
    let mut s = T::zero();
    for k in 0..w.len() / n {
        s = s + dotp(&w[k * n..(k + 1) * n], x).tanh();
    }
    let head = &x[..2];
    let tail = &x[2..];
    s + dotp(&x[1..], &x[..n - 1])
        + head[0] * head[1]
        + tail.iter().map(|&v| v * v).sum::<T>()
        + tapeless::dot(&x[..2], &x[1..=2])
}

fn check<T: Float + Sum + std::fmt::Display>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    for n in [4, 5, 7] {
        let x: Vec<T> = cast(&rng.point(n, -1.5, 1.5));
        let y: Vec<T> = cast(&rng.point(n - 1, -1.5, 1.5));
        let w = rng.point(n, -1.0, 1.0);

        let (_, g) = rosenbrock_grad(&x);
        assert_gradient("rosenbrock", |q| rosenbrock(q), &x, &g, tol);
        let (_, g) = roughness_grad(&x);
        assert_gradient("roughness", |q| roughness(q), &x, &g, tol);
        let (_, (gx, gy)) = mirrored_grad(&x, &y);
        let xy = [&x[..], &y[..]].concat();
        assert_gradient(
            "mirrored",
            |q| mirrored(&q[..n], &q[n..]),
            &xy,
            &[gx, gy].concat(),
            tol,
        );
        let (_, g) = indexed_grad(&x, &w);
        assert_gradient("indexed", |q| indexed(q, &w), &x, &g, tol);
        let (_, g) = pairs_grad(&x);
        assert_gradient("pairs", |q| pairs(q), &x, &g, tol);
        let (_, g) = strided_grad(&x);
        assert_gradient("strided", |q| strided(q), &x, &g, tol);
        // Kept away from the filters' thresholds.
        let mut z: Vec<T> = cast(&rng.point(n, -1.5, 1.5));
        for v in z.iter_mut() {
            for t in [0.0, 0.5, 1.0, 0.35, -0.35, 0.8, -0.8, 1.2, -1.0] {
                let t = T::from(t).unwrap();
                if (*v - t).abs() < T::from(0.05).unwrap() {
                    *v = t + T::from(0.1).unwrap();
                }
            }
        }
        let ys: Vec<T> = cast(&rng.point(n, -1.5, 1.5));
        let (_, (gx, gy)) = filtered_grad(&z, &ys);
        let zy = [&z[..], &ys[..]].concat();
        assert_gradient(
            "filtered",
            |q| filtered(&q[..n], &q[n..]),
            &zy,
            &[gx, gy].concat(),
            tol,
        );
        let w: Vec<T> = cast(&rng.point(2 * n, -1.0, 1.0));
        let (_, (gw, gx)) = ranges_grad(&w, &x);
        let wx = [&w[..], &x[..]].concat();
        let g = [gw, gx].concat();
        assert_gradient("ranges", |q| ranges(&q[..2 * n], &q[2 * n..]), &wx, &g, tol);
        // Values at least 0.2 apart, in a random order: no ties for the
        // finite differences to cross.
        let mut spaced: Vec<f64> = (0..n)
            .map(|i| -1.0 + 0.3 * i as f64 + rng.uniform(0.0, 0.1))
            .collect();
        for i in (1..n).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            spaced.swap(i, j);
        }
        let e: Vec<T> = cast(&spaced);
        let (_, g) = extremes_grad(&e);
        assert_gradient("extremes", |q| extremes(q), &e, &g, tol);
        let (_, (gx, gw)) = written_grad(&x, &ys);
        let xw = [&x[..], &ys[..]].concat();
        let g = [gx, gw].concat();
        assert_gradient("written", |q| written(&q[..n], &q[n..]), &xw, &g, tol);
        let (_, g) = kept_grad(&z);
        assert_gradient("kept", |q| kept(q), &z, &g, tol);
        let k = T::from(0.5).unwrap();
        let (_, (gz, gk)) = pushed_grad(&z, k);
        let zk = [&z[..], &[k][..]].concat();
        let g = [gz, vec![gk]].concat();
        assert_gradient("pushed", |q| pushed(&q[..n], q[n]), &zk, &g, tol);
        let (e, pullback) = evens_forward(&z);
        assert_eq!(e.len(), n.div_ceil(2));
        for k in 0..e.len() {
            let mut seed = vec![T::zero(); e.len()];
            seed[k] = T::one();
            let g = pullback(seed);
            assert_gradient("evens", |q| evens(q)[k], &z, &g, tol);
        }
        let (r, pullback) = roots_forward(&z);
        assert_eq!(r.len(), z.iter().filter(|v| **v > T::zero()).count());
        for k in 0..r.len() {
            let mut e = vec![T::zero(); r.len()];
            e[k] = T::one();
            let g = pullback(e);
            assert_gradient("roots", |q| roots(q)[k], &z, &g, tol);
        }
        let labels = [1, 3];
        let (_, g) = ends_grad(&x, &labels);
        assert_gradient("ends", |q| ends(q, &labels), &x, &g, tol);

        // Each output of the Vec, through its pullback.
        let (d, pullback) = differences_forward(&x);
        assert_eq!(d.len(), n);
        for k in 0..n {
            let mut e = vec![T::zero(); n];
            e[k] = T::one();
            let g = pullback(e);
            assert_gradient("differences", |q| differences(q)[k], &x, &g, tol);
        }
    }
    let x: Vec<T> = cast(&rng.point(5, -1.0, 1.0));
    let a = [x[0], x[1], x[2], x[3], x[4]];
    let (_, g) = fixed_grad(a);
    assert_gradient(
        "fixed",
        |q| fixed([q[0], q[1], q[2], q[3], q[4]]),
        &x,
        &g,
        tol,
    );

    let p: Vec<T> = cast(&rng.point(12, 0.2, 1.5));
    let m = [[p[0], p[1], p[2]], [p[3], p[4], p[5]], [p[6], p[7], p[8]]];
    let (_, (gm, gv)) = filled_grad(m, [p[9], p[10], p[11]]);
    let g: Vec<T> = gm.iter().flatten().chain(gv.iter()).copied().collect();
    let f = |q: &[T]| {
        let m = [[q[0], q[1], q[2]], [q[3], q[4], q[5]], [q[6], q[7], q[8]]];
        filled(m, [q[9], q[10], q[11]])
    };
    assert_gradient("filled", f, &p, &g, tol);
}

#[test]
fn extremes_of_concrete_floats() {
    let mut rng = Rng::new(73);
    for _ in 0..10 {
        let x = rng.point(6, -2.0, 2.0);
        let (v, g) = spread_grad(&x);
        let hi = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lo = x.iter().copied().fold(f64::INFINITY, f64::min);
        assert!(close(v, (hi - lo).sqrt(), 1e-12));
        assert_gradient("spread", spread, &x, &g, tolerance::<f64>());
    }
}

#[test]
fn neighbours_ends_and_chunks_f64() {
    let mut rng = Rng::new(71);
    for _ in 0..8 {
        check::<f64>(&mut rng);
    }
}

#[test]
fn neighbours_ends_and_chunks_f32() {
    let mut rng = Rng::new(72);
    for _ in 0..8 {
        check::<f32>(&mut rng);
    }
}

/// The generated forward computes what the fn computes, item for item:
/// compared with the same loops written by hand in plain Rust.
#[test]
fn values_are_the_fns_values() {
    let x = [0.3, -0.5, 1.2, 0.7, 0.4];
    let mut s = 0.0;
    for ((i, a), b) in x.iter().enumerate().skip(1).zip(x.iter().rev().skip(2)) {
        s += a * b * i as f64;
    }
    for (i, (a, c)) in (1..x.len()).zip(x.iter().zip([0.5, 1.0, -1.0, 2.0, 3.0])) {
        s += a * c * i as f64;
    }
    let w = [0.5, 1.0, -1.0, 2.0, 3.0];
    assert!(close(indexed_grad(&x, &w).0, s, 1e-12));
    assert!(close(indexed(&x, &w), s, 1e-12));
    let pairs_by_hand = 0.3 * -0.5 + 1.2 * 0.7 + 0.4 + (0.3 * 3.0 + 0.7 * 2.0);
    assert!(close(pairs_grad(&x).0, pairs_by_hand, 1e-12));
    let mut t = 0.0;
    for v in x.iter().rev().step_by(2) {
        t = t * 0.5 + v;
    }
    for v in x.iter().step_by(3).rev() {
        t = t * 0.5 + v.sin();
    }
    for (a, b) in x.iter().step_by(2).zip(x.iter().skip(1).step_by(2)) {
        t += a * b;
    }
    t += x
        .iter()
        .skip(1)
        .step_by(2)
        .take(2)
        .map(|&v| v * v)
        .sum::<f64>();
    assert!(close(strided_grad(&x).0, t, 1e-12));
    let y = [0.1, 0.2, -0.3, 0.4, 0.5];
    let mut f = x.iter().filter(|&&v| v > 0.0).map(|&v| v.ln()).sum::<f64>();
    for v in x.iter().filter(|v| **v < 0.5) {
        f += v * v;
    }
    for (i, v) in x.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        f += v * (i + 1) as f64;
    }
    for &v in x.iter().take_while(|&&v| v < 1.0) {
        f += v.exp();
    }
    f += x
        .iter()
        .zip(&y)
        .filter(|(a, b)| a > b)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>();
    f += x.iter().filter(|&v| v.abs() > 0.35).copied().sum::<f64>();
    f += x.iter().filter(|v| v.abs() < 0.8).product::<f64>();
    assert!(close(filtered_grad(&x, &y).0, f, 1e-12));
    let mut r = 0.0;
    for (a, b) in x.iter().zip(x.iter().skip(1)).rev() {
        r = r * 0.5 + a * b;
    }
    assert!(close(*differences(&x).last().unwrap(), r, 1e-12));
}

/// A flat parameter vector cut with `split_at`: the weights, then the
/// bias and a scale (also with `_` for a part).
#[differentiable]
fn split_params<T: Float>(p: &[T], x: &[T]) -> T {
    let (w, rest) = p.split_at(x.len());
    let (_, scale) = rest.split_at(1);
    let mut z = rest[0];
    for (wi, xi) in w.iter().zip(x) {
        z = z + *wi * *xi;
    }
    z.tanh() * scale[0]
}

#[test]
fn parameters_split_at() {
    fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
        for _ in 0..10 {
            let v: Vec<T> = cast(&rng.point(7, -1.0, 1.0));
            let (p, x) = v.split_at(5);
            let (_, (gp, gx)) = split_params_grad(p, x);
            let g: Vec<T> = gp.iter().chain(&gx).copied().collect();
            let f = |q: &[T]| split_params(&q[..5], &q[5..]);
            assert_gradient("split_params", f, &v, &g, tolerance::<T>());
        }
    }
    let mut rng = Rng::new(91);
    check::<f64>(&mut rng);
    check::<f32>(&mut rng);
    // Closed form: d/d scale = tanh(z), d/d bias = scale (1 - tanh^2).
    let (p, x) = ([0.5, -0.25, 0.1, 2.0, 0.0], [1.0, 2.0]);
    let (v, (gp, _)) = split_params_grad(&p, &x);
    let t = 0.1f64.tanh();
    assert!(close(v, 2.0 * t, 1e-12));
    assert!(close(gp[3], t, 1e-12) && close(gp[2], 2.0 * (1.0 - t * t), 1e-12));
    assert!(close(gp[0], 2.0 * (1.0 - t * t), 1e-12) && gp[4] == 0.0);
}
