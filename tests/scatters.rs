//! Inner loops whose reversal adds into a matrix along a column (`w[i * h +
//! j]` summed over `i` for each `j`: a dense layer's weight gradient) run
//! after the outer loop's reversal, row by row over the noted columns. Each
//! fn comes twice: as users write it, and walking the column with a running
//! index (`k += h`), which the macro reverses column by column as before.
//! Every element gets one add per `(i, j)` either way, so their gradients
//! must be equal bit for bit; both are checked against finite differences,
//! in f32 and f64, with layers narrower and wider than 16 columns (the
//! deferred reversal goes column by column below 16 noted columns).

// Indexed loops, as users write them.
#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

/// A ReLU layer, its outputs weighted: `w` is `d x h`, row-major.
#[differentiable(wrt(w, b))]
fn layer<T: Float>(w: &[T], b: &[T], x: &[T], v: &[T]) -> T {
    let (d, h) = (x.len(), b.len());
    let mut out = T::zero();
    for j in 0..h {
        let mut a = b[j];
        for i in 0..d {
            a += x[i] * w[i * h + j];
        }
        out += a.max(T::zero()) * v[j];
    }
    out
}

#[differentiable(wrt(w, b))]
fn layer_plain<T: Float>(w: &[T], b: &[T], x: &[T], v: &[T]) -> T {
    let (d, h) = (x.len(), b.len());
    let mut out = T::zero();
    for j in 0..h {
        let mut a = b[j];
        let mut k = j;
        for i in 0..d {
            a += x[i] * w[k];
            k += h;
        }
        out += a.max(T::zero()) * v[j];
    }
    out
}

/// The same over a batch of points (the loop over points fuses), with a
/// `tanh`, and the input differentiated too (its gradient is summed along
/// a row: not deferred, the column's adds stay as they were).
#[differentiable]
fn batch<T: Float>(w: &[T], xs: &[T], h: usize) -> T {
    let d = w.len() / h;
    let mut total = T::zero();
    for n in 0..xs.len() / d {
        for j in 0..h {
            let mut a = T::zero();
            for i in 0..d {
                a += w[i * h + j] * xs[n * d + i];
            }
            total += a.tanh();
        }
    }
    total
}

#[differentiable(wrt(w))]
fn batch_w<T: Float>(w: &[T], xs: &[T], h: usize) -> T {
    let d = w.len() / h;
    let mut total = T::zero();
    for n in 0..xs.len() / d {
        for j in 0..h {
            let mut a = T::zero();
            for i in 0..d {
                a += w[i * h + j] * xs[n * d + i];
            }
            total += a.tanh();
        }
    }
    total
}

#[differentiable(wrt(w))]
fn batch_w_plain<T: Float>(w: &[T], xs: &[T], h: usize) -> T {
    let d = w.len() / h;
    let mut total = T::zero();
    for n in 0..xs.len() / d {
        for j in 0..h {
            let mut a = T::zero();
            let mut k = j;
            for i in 0..d {
                a += w[k] * xs[n * d + i];
                k += h;
            }
            total += a.tanh();
        }
    }
    total
}

/// Two column sums in one loop: the first is deferred, the second walks
/// its column as before.
#[differentiable(wrt(w, u))]
fn two_layers<T: Float>(w: &[T], u: &[T], x: &[T], h: usize) -> T {
    let d = x.len();
    let mut out = T::zero();
    for j in 0..h {
        let mut a = T::zero();
        for i in 0..d {
            a += x[i] * w[i * h + j];
        }
        let mut c = T::zero();
        for i in 0..d {
            c += x[i] * u[i * h + j];
        }
        out += a.max(T::zero()) * c.tanh();
    }
    out
}

#[test]
fn two_column_sums_in_one_loop() {
    let mut rng = Rng::new(23);
    for h in [4, 20] {
        let (w, u, x) = (
            rng.point(3 * h, -1.0, 1.0),
            rng.point(3 * h, -1.0, 1.0),
            rng.point(3, -1.0, 1.0),
        );
        let (gw, gu) = two_layers_grad(&w, &u, &x, h).1;
        let both: Vec<f64> = w.iter().chain(&u).copied().collect();
        let g: Vec<f64> = gw.into_iter().chain(gu).collect();
        let f = |q: &[f64]| two_layers(&q[..3 * h], &q[3 * h..], &x, h);
        assert_gradient("two_layers", f, &both, &g, 1e-5);
    }
}

#[test]
fn deferred_scatters_add_what_the_column_walk_adds() {
    let mut rng = Rng::new(17);
    for h in [1, 3, 15, 16, 17, 40] {
        for _ in 0..10 {
            let d = 1 + (rng.next_u64() % 5) as usize;
            let w = rng.point(d * h, -1.0, 1.0);
            let b = rng.point(h, -0.5, 0.5);
            let x = rng.point(d, -2.0, 2.0);
            let v = rng.point(h, -1.0, 1.0);
            let (a, (gw, gb)) = layer_grad(&w, &b, &x, &v);
            let (p, (pw, pb)) = layer_plain_grad(&w, &b, &x, &v);
            assert_eq!((a, &gw, &gb), (p, &pw, &pb), "h = {h}");
            let xs = rng.point(3 * d, -1.0, 1.0);
            let (a, gw) = batch_w_grad(&w, &xs, h);
            let (p, pw) = batch_w_plain_grad(&w, &xs, h);
            assert_eq!((a, &gw), (p, &pw), "h = {h}");
            let (_, (gw2, _)) = batch_grad(&w, &xs, h);
            assert_eq!(gw, gw2);
        }
    }
}

fn check<T: Float + std::fmt::Display>(seed: u64) {
    let mut rng = Rng::new(seed);
    let tol = tolerance::<T>();
    for h in [5, 20] {
        for _ in 0..4 {
            let d = 3;
            let p: Vec<f64> = rng.point(d * h + h, -1.0, 1.0);
            let x: Vec<T> = cast(&rng.point(d, -2.0, 2.0));
            let v: Vec<T> = cast(&rng.point(h, -1.0, 1.0));
            let pt: Vec<T> = cast(&p);
            let (w, b) = pt.split_at(d * h);
            // Away from the ReLU's kinks.
            let kink = (0..h).any(|j| {
                let a = b[j] + (0..d).fold(T::zero(), |s, i| s + x[i] * w[i * h + j]);
                a.abs().to_f64().unwrap() < 0.05
            });
            if !kink {
                let (gw, gb) = layer_grad(w, b, &x, &v).1;
                let g: Vec<T> = gw.into_iter().chain(gb).collect();
                let f = |q: &[T]| layer(&q[..d * h], &q[d * h..], &x, &v);
                assert_gradient("layer", f, &pt, &g, tol);
            }
            let xs: Vec<T> = cast(&rng.point(2 * d, -1.0, 1.0));
            let (gw, gx) = batch_grad(w, &xs, h).1;
            assert_gradient("batch w", |q| batch(q, &xs, h), w, &gw, tol);
            assert_gradient("batch xs", |q| batch(w, q, h), &xs, &gx, tol);
        }
    }
}

#[test]
fn deferred_scatters_match_finite_differences_f64() {
    check::<f64>(41);
}

#[test]
fn deferred_scatters_match_finite_differences_f32() {
    check::<f32>(42);
}
