//! Iterator reductions as users write them: `.sum()`, `.product()`,
//! `.fold(..)` and `.collect()` into a `Vec`, after `.map(..)`s, over
//! slices, zips, enumerations, windows and ranges, nested, inside loops and
//! branches, as a fn's value, `.rev()` after a `.map(..)`; and arrays
//! unpacked by `let [a, b] = p;`. Each
//! checked against finite differences in f64 and f32 at random points.

#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use std::iter::{Product, Sum};
use tapeless::{differentiable, Float};

/// Generic code without `Sum`: `fold`, with a closure or a fn path.
#[differentiable]
fn folds<T: Float>(x: &[T], y: &[T]) -> T {
    let n = T::from(x.len()).unwrap();
    let mean = x.iter().fold(T::zero(), |a, &b| a + b) / n;
    let var = x
        .iter()
        .fold(T::zero(), |acc, v| acc + (*v - mean) * (*v - mean))
        / n;
    let mx = x.iter().copied().fold(T::neg_infinity(), T::max);
    let mn = x.iter().fold(T::infinity(), |m, &v| m.min(v));
    let dot = x
        .iter()
        .zip(y.iter())
        .map(|(a, b)| *a * *b)
        .fold(T::zero(), |s, p| s + p);
    mean + var.sqrt() + mx * mn + dot
}

/// Generic code that asks for `Sum` and `Product`.
#[differentiable]
fn sums<T: Float + Sum + Product>(x: &[T], y: &[T], w: T) -> T {
    let total: T = x.iter().copied().sum();
    let sq = x.iter().map(|&v| v * v).sum::<T>();
    let prod: T = x.iter().map(|v| *v * w).product();
    let weighted = (0..x.len())
        .map(|i| x[i] * T::from(i + 1).unwrap())
        .sum::<T>();
    let ranked: T = x
        .iter()
        .enumerate()
        .map(|(i, &v)| v.powi(i as i32 + 1))
        .sum();
    // A reduction inside a reduction's map.
    let outer: T = x
        .iter()
        .map(|&a| y.iter().map(|&b| (a - b).tanh()).sum::<T>())
        .sum();
    // Sums of constants stay constants.
    let count = (0..x.len()).map(|i| i * 2).sum::<usize>();
    let lse = x.iter().map(|&v| v.exp()).sum::<T>().ln();
    total + sq + prod + weighted + ranked + outer + T::from(count).unwrap() * w + lse
}

/// Written-out f64, the way a loss is often written.
#[differentiable]
fn mse(pred: &[f64], target: &[f64]) -> f64 {
    pred.iter()
        .zip(target)
        .map(|(p, t)| (p - t).powi(2))
        .sum::<f64>()
        / pred.len() as f64
}

/// Softmax cross-entropy per row, reductions inside a loop and a branch.
#[differentiable(wrt(logits))]
fn cross_entropy(logits: &[Vec<f32>], labels: &[usize], smooth: bool) -> f32 {
    let mut loss = 0.0;
    for (row, &label) in logits.iter().zip(labels) {
        let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let z: f32 = row.iter().map(|&v| (v - m).exp()).sum();
        loss += z.ln() + m - row[label];
        if smooth {
            loss += 0.1 * row.iter().map(|v| v * v).sum::<f32>();
        }
    }
    loss / labels.len() as f32
}

/// A reduction in a condition (hoisted before the `if`), and one as the
/// value.
#[differentiable]
fn branchy<T: Float + Sum>(x: &[T]) -> T {
    if x.iter().map(|&v| v * v).sum::<T>() > 4.0 {
        return x.iter().map(|&v| v.sin()).sum();
    }
    x.iter().copied().map(|v| v.exp()).map(|e| e * e).sum()
}

/// Vectors made with `collect()`, and one returned.
#[differentiable]
fn softmax<T: Float>(z: &[T]) -> Vec<T> {
    let m = z.iter().copied().fold(T::neg_infinity(), T::max);
    let e: Vec<T> = z.iter().map(|&v| (v - m).exp()).collect();
    let total = e.iter().fold(T::zero(), |a, &b| a + b);
    e.iter().map(|&v| v / total).collect()
}

#[differentiable]
fn collected<T: Float>(x: &[T], y: &[T]) -> T {
    let steps: Vec<T> = x.windows(2).map(|w| w[1] - w[0]).collect();
    let pairs = (1..x.len()).map(|i| x[i] * x[i - 1]).collect::<Vec<_>>();
    let mid: Vec<T> = x.iter().skip(1).take(2).copied().collect();
    let prods: Vec<T> = x.iter().zip(y.iter()).map(|(a, b)| *a * *b).collect();
    let mut s = T::zero();
    for k in 0..steps.len() {
        s = s + steps[k] * pairs[k] + prods[k].sin();
    }
    s + mid[0] * mid[1]
}

/// Loops and sums over `.chain(..)`: one loop per half.
#[differentiable]
fn chained<T: Float>(w1: &[Vec<T>], w2: &[Vec<T>], b: &[T]) -> T {
    let mut reg = T::zero();
    for row in w1.iter().chain(w2.iter()) {
        for &v in row {
            if v < T::zero() {
                continue;
            }
            reg = reg + v * v;
        }
    }
    let extra = b
        .iter()
        .chain(w1[0].iter())
        .chain(b.iter())
        .fold(T::zero(), |a, &v| a + v.sin());
    reg + extra
}

/// Vectors built by one `push` per iteration, as many write them.
#[differentiable]
fn pushed<T: Float>(w: &[Vec<T>], x: &[T]) -> T {
    let mut h = Vec::with_capacity(w.len());
    for row in w {
        let mut s = T::zero();
        for j in 0..x.len() {
            s = s + row[j] * x[j];
        }
        h.push(s.tanh());
    }
    let mut out: Vec<T> = Vec::new();
    for (i, v) in h.iter().enumerate() {
        let scaled = *v * T::from(i + 1).unwrap();
        out.push(scaled * scaled);
    }
    let mut total = T::zero();
    for k in 0..out.len() {
        total = total + out[k] * x[k % x.len()];
    }
    total
}

/// Loops and reductions over ranges of arrays (`&x[1..]`, `x[..3].iter()`).
#[differentiable]
fn sliced<T: Float + Sum>(x: &[T], w: &[T]) -> T {
    let mut s = T::zero();
    for &v in &x[1..] {
        s = s + v * v;
    }
    for (i, v) in x[..3].iter().enumerate() {
        s = s + *v * w[i];
    }
    for v in x[1..=2].iter().rev() {
        s = s + v.sin();
    }
    let tail: T = x[2..].iter().map(|&v| v.exp()).sum();
    let head: Vec<T> = w[..2].iter().map(|&v| v * v).collect();
    s + tail + head[1]
}

/// `let [a, b] = p;` for arrays of the float type.
#[differentiable]
fn unpacked<T: Float>(p: [T; 2], q: &[T; 3]) -> T {
    let [a, b] = p;
    let [x, _, z] = *q;
    let [s, c] = [a.sin(), b.cos()];
    a * x + b * z + s * c
}

/// Reductions in a `.map(..)` of another reduction: each row's sum,
/// summed or folded again.
#[differentiable]
fn nested_sums<T: Float + Sum>(m: &[Vec<T>], w: T) -> T {
    let a = m
        .iter()
        .map(|r| r.iter().map(|&v| v * v).sum::<T>())
        .sum::<T>();
    let b = m
        .iter()
        .map(|r| r.iter().fold(T::zero(), |acc, &v| acc + v * w))
        .fold(T::zero(), |acc, s| acc + s * s);
    a + b
}

/// A filter on the index of an enumeration whose item the map ignores.
#[differentiable]
fn every_other<T: Float>(x: &[T]) -> T {
    x.iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, &v)| v * v)
        .fold(T::zero(), |a, b| a + b)
}

/// `.map(f)` with a fn's path for the closure: a `Float` method, a
/// differentiable fn, chained; into `fold`, `sum` and `collect`.
#[differentiable]
fn squared<T: Float>(v: T) -> T {
    v * v
}

#[differentiable]
fn mapped_paths<T: Float + Sum>(x: &[T]) -> T {
    let a = x
        .iter()
        .copied()
        .map(T::sin)
        .map(squared)
        .fold(T::zero(), |s, v| s + v);
    let b: T = x.iter().cloned().map(T::exp).sum();
    let c: Vec<T> = x.iter().copied().map(T::tanh).collect();
    a + b.ln() * c[0] + c[c.len() - 1]
}

/// Written-out f64: `f64::exp` as users write it.
#[differentiable]
fn log_sum_exp(x: &[f64]) -> f64 {
    x.iter().copied().map(f64::exp).sum::<f64>().ln()
}

fn check<T: Float + Sum + Product + std::fmt::Display>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    // Elements 0.4 apart (max and min must not change within a finite
    // difference's step), in a random order.
    let start = (rng.next_u64() % 4) as usize;
    let x: Vec<T> = (0..4)
        .map(|i| T::from(-0.9 + 0.6 * ((start + i) % 4) as f64 + rng.uniform(-0.1, 0.1)).unwrap())
        .collect();
    let y: Vec<T> = cast(&rng.point(4, -1.0, 1.0));
    let w = T::from(rng.uniform(0.5, 1.5)).unwrap();
    let (v, (gx, gy)) = folds_grad(&x, &y);
    assert!((v - folds(&x, &y)).abs() <= T::from(1e-5).unwrap() * (T::one() + v.abs()));
    let p = [x.clone(), y.clone()].concat();
    let g = [gx, gy].concat();
    assert_gradient("folds", |q: &[T]| folds(&q[..4], &q[4..]), &p, &g, tol);
    let (v, (gx, gy, gw)) = sums_grad(&x, &y, w);
    assert!((v - sums(&x, &y, w)).abs() <= T::from(1e-5).unwrap() * (T::one() + v.abs()));
    let p = [x.clone(), y.clone(), vec![w]].concat();
    let g = [gx, gy, vec![gw]].concat();
    assert_gradient("sums", |q: &[T]| sums(&q[..4], &q[4..8], q[8]), &p, &g, tol);
    let (out, back) = softmax_forward(&x);
    for i in 0..4 {
        let mut seed = vec![T::zero(); 4];
        seed[i] = T::one();
        assert_gradient("softmax", |q: &[T]| softmax(q)[i], &x, &back(seed), tol);
    }
    assert!((out.iter().fold(T::zero(), |a, &b| a + b) - T::one()).abs() < T::from(1e-5).unwrap());
    let (_, (gx, gy)) = collected_grad(&x, &y);
    let g = [gx, gy].concat();
    assert_gradient(
        "collected",
        |q: &[T]| collected(&q[..4], &q[4..]),
        &p[..8],
        &g,
        tol,
    );
    let rows = |q: &[T]| vec![q[..2].to_vec(), q[2..4].to_vec()];
    let (_, (g1, g2, gb)) = chained_grad(&rows(&x), &rows(&y), &x[1..]);
    let g = [g1.concat(), g2.concat(), gb].concat();
    let p3 = [x.clone(), y.clone(), x[1..].to_vec()].concat();
    let f = |q: &[T]| chained(&rows(&q[..4]), &rows(&q[4..8]), &q[8..]);
    assert_gradient("chained", f, &p3, &g, tol);
    let (_, (gw, gx)) = pushed_grad(&rows(&y), &x[..2]);
    let g = [gw.concat(), gx].concat();
    let f = |q: &[T]| pushed(&rows(&q[..4]), &q[4..]);
    assert_gradient("pushed", f, &[y.clone(), x[..2].to_vec()].concat(), &g, tol);
    let (_, (gx, gy)) = sliced_grad(&x, &y);
    let f = |q: &[T]| sliced(&q[..4], &q[4..]);
    assert_gradient("sliced", f, &p[..8], &[gx, gy].concat(), tol);
    let (pp, qq) = ([x[0], x[1]], [y[0], y[1], y[2]]);
    let (_, (gp, gq)) = unpacked_grad(pp, &qq);
    let g = [gp.to_vec(), gq.to_vec()].concat();
    let unpack = |v: &[T]| unpacked([v[0], v[1]], &[v[2], v[3], v[4]]);
    assert_gradient("unpacked", unpack, &[x[0], x[1], y[0], y[1], y[2]], &g, tol);
    let (_, g) = every_other_grad(&x);
    assert_gradient("every_other", |q: &[T]| every_other(q), &x, &g, tol);
    let (_, (gm, gw)) = nested_sums_grad(&rows(&x), w);
    let f = |q: &[T]| nested_sums(&rows(&q[..4]), q[4]);
    let g = [gm.concat(), vec![gw]].concat();
    assert_gradient("nested_sums", f, &[x.clone(), vec![w]].concat(), &g, tol);
    let (_, g) = mapped_paths_grad(&x);
    assert_gradient("mapped_paths", |q: &[T]| mapped_paths(q), &x, &g, tol);
    for scale in [0.5, 3.0] {
        let xs: Vec<T> = x.iter().map(|&v| v * T::from(scale).unwrap()).collect();
        let (_, g) = branchy_grad(&xs);
        assert_gradient("branchy", |q: &[T]| branchy(q), &xs, &g, tol);
    }
}

#[test]
fn reductions_f64() {
    let mut rng = Rng::new(41);
    for _ in 0..20 {
        check::<f64>(&mut rng);
        let p = rng.point(6, -2.0, 2.0);
        let t = rng.point(6, -2.0, 2.0);
        let (_, (gp, gt)) = mse_grad(&p, &t);
        assert_gradient("mse", |q: &[f64]| mse(q, &t), &p, &gp, 1e-6);
        assert_gradient("mse", |q: &[f64]| mse(&p, q), &t, &gt, 1e-6);
        // Softmax of the inputs, the closed form.
        let (v, g) = log_sum_exp_grad(&p);
        let z: f64 = p.iter().map(|v| v.exp()).sum();
        assert!((v - z.ln()).abs() < 1e-12);
        for (gi, pi) in g.iter().zip(&p) {
            assert!((gi - pi.exp() / z).abs() < 1e-12);
        }
    }
}

#[test]
fn reductions_f32() {
    let mut rng = Rng::new(42);
    for _ in 0..20 {
        check::<f32>(&mut rng);
        let rows: Vec<Vec<f32>> = (0..3).map(|_| cast(&rng.point(4, -2.0, 2.0))).collect();
        let labels = [0, 3, 1];
        for smooth in [false, true] {
            let (_, g) = cross_entropy_grad(&rows, &labels, smooth);
            let flat: Vec<f32> = rows.concat();
            let unflat = |q: &[f32]| q.chunks(4).map(|c| c.to_vec()).collect::<Vec<_>>();
            assert_gradient(
                "cross_entropy",
                |q: &[f32]| cross_entropy(&unflat(q), &labels, smooth),
                &flat,
                &g.concat(),
                2e-2,
            );
        }
    }
}

#[test]
fn a_closed_form() {
    // mse of (p - t): gradient 2 (p - t) / n.
    let (v, (gp, gt)) = mse_grad(&[1.0, 2.0], &[0.0, 4.0]);
    assert_eq!(v, (1.0 + 4.0) / 2.0);
    assert_eq!((gp, gt), (vec![1.0, -2.0], vec![-1.0, 2.0]));
    // fold with max/min: the winners get the gradient.
    let (_, (gx, gy)) = folds_grad(&[1.0, 3.0], &[0.0, 0.0]);
    // mean 2, var 1 (sqrt: 1), mx * mn = 3 * 1.
    // d mean = 1/2 each; d sqrt(var) = (x - mean) / (n sqrt var) = -1/2, 1/2;
    // d (mx mn) = (mn at x1, mx at x0) = (3, 1); dot: y.
    assert_eq!(gx, vec![0.5 - 0.5 + 3.0, 0.5 + 0.5 + 1.0]);
    assert_eq!(gy, vec![1.0, 3.0]);
}

/// `.rev()` after `.map(..)`: the same walk backwards (`Map::next_back`
/// maps the back item). A fold whose order matters (Horner's rule over
/// the coefficients from the highest), a collect reversed, a sum.
#[differentiable]
fn reversed_maps<T: Float>(c: &[T], x: T) -> T {
    let p = c
        .iter()
        .map(|&v| v * 2.0)
        .rev()
        .fold(T::zero(), |acc, v| acc * x + v);
    let back: Vec<T> = c.iter().map(|&v| v * v).rev().collect();
    let s = c
        .iter()
        .map(|&v| v.sin())
        .rev()
        .fold(T::zero(), |a, b| a + b);
    p + back[0] * 3.0 + back[back.len() - 1] + s
}

fn check_reversed<T: Float + std::fmt::Display>(rng: &mut Rng) {
    for _ in 0..10 {
        let p: Vec<T> = cast(&rng.point(5, -1.0, 1.0));
        let (_, (gc, gx)) = reversed_maps_grad(&p[..4], p[4]);
        let g = [gc, vec![gx]].concat();
        assert_gradient(
            "reversed_maps",
            |q: &[T]| reversed_maps(&q[..4], q[4]),
            &p,
            &g,
            tolerance::<T>(),
        );
    }
}

#[test]
fn reversed_maps_f64() {
    check_reversed::<f64>(&mut Rng::new(43));
    // Horner from the back: 2 (c0 + c1 x + c2 x^2 + c3 x^3); then
    // 3 c3^2 + c0^2 (the reversed squares' ends) and sum sin c.
    let (c, x) = ([0.5, -1.0, 2.0, 0.25], 0.7);
    let (v, (gc, gx)) = reversed_maps_grad(&c, x);
    assert!((v - reversed_maps(&c, x)).abs() < 1e-12);
    let poly = c[0] + c[1] * x + c[2] * x * x + c[3] * x * x * x;
    let s: f64 = c.iter().map(|v| v.sin()).sum();
    assert!((v - (2.0 * poly + 3.0 * c[3] * c[3] + c[0] * c[0] + s)).abs() < 1e-12);
    assert!((gc[0] - (2.0 + 2.0 * c[0] + c[0].cos())).abs() < 1e-12);
    assert!((gc[3] - (2.0 * x * x * x + 6.0 * c[3] + c[3].cos())).abs() < 1e-12);
    let dpoly = c[1] + 2.0 * c[2] * x + 3.0 * c[3] * x * x;
    assert!((gx - 2.0 * dpoly).abs() < 1e-12);
}

#[test]
fn reversed_maps_f32() {
    check_reversed::<f32>(&mut Rng::new(44));
}
