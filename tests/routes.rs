//! Gradients a `max` or `min` routes: the statements that computed the
//! losing argument add nothing in the backward, and are skipped when the
//! route goes elsewhere (see "How the backward pass adds" in the README).
//! Nearest-point searches, hinge losses, max-pooling and Chamfer distances,
//! checked against finite differences in f64 and f32 at random points, and
//! the cases that must not be skipped (a value the cone shares with other
//! code, a cone in a branch).

#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

/// k-means' objective: each point's squared distance to its nearest centre.
#[differentiable]
fn kmeans<T: Float>(pts: &[[T; 2]], c: &[[T; 2]]) -> T {
    let mut total = T::zero();
    for p in pts {
        let mut best = T::infinity();
        for q in c {
            let d = (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2);
            best = best.min(d);
        }
        total = total + best;
    }
    total
}

/// The same with `max` of negated distances, and the distance's root.
#[differentiable]
fn farthest<T: Float>(x: &[T], c: &[T]) -> T {
    let mut total = T::zero();
    for &p in x {
        let mut best = T::neg_infinity();
        for &q in c {
            let d = ((p - q) * (p - q) + 0.1).sqrt();
            best = d.max(best);
        }
        total = total + best;
    }
    total
}

/// Multiclass hinge loss: `max(0, margin)` per wrong class.
#[differentiable]
fn hinge<T: Float>(scores: &[T], label: usize, w: &[T]) -> T {
    let mut loss = T::zero();
    for j in 0..scores.len() {
        if j != label {
            let margin = scores[j] * w[j] - scores[label] * w[label] + 1.0;
            loss = loss + margin.max(T::zero());
        }
    }
    loss
}

/// A value the cone shares with code outside it (`e` is also added to the
/// total): its gradient comes from both, so the cone is not skipped.
#[differentiable]
fn shared<T: Float>(x: &[T], y: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..x.len() {
        let e = x[i] * y[i];
        let a = e.sin() * 2.0 + y[i];
        let b = a * a;
        s = s + b.max(x[i]) + e;
    }
    s
}

/// Max-pooling over windows of two, then a smooth loss.
#[differentiable]
fn pool<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    let mut i = 0;
    while i + 1 < x.len() {
        let a = (x[i] * 3.0).tanh() * x[i];
        let b = (x[i + 1] * 2.0).sin() * x[i + 1];
        let m = a.max(b);
        s = s + m * m;
        i += 2;
    }
    s
}

fn pairs<T: Float>(v: &[T]) -> Vec<[T; 2]> {
    v.chunks(2).map(|p| [p[0], p[1]]).collect()
}

/// Whether two of `values` are within `gap` of each other (a `max` near
/// its tie: finite differences cross the kink).
fn near_tie(values: &[f64], gap: f64) -> bool {
    values
        .iter()
        .enumerate()
        .any(|(i, a)| values[i + 1..].iter().any(|b| (a - b).abs() < gap))
}

fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    let gap = 8.0 * T::epsilon().cbrt().to_f64().unwrap();
    let mut checked = 0;
    for _ in 0..12 {
        let pc: Vec<f64> = rng.point(10 + 6, -1.0, 1.0);
        let p: Vec<T> = cast(&pc);
        // Skip points with two centres almost equally near a point.
        let ties = pc[..10].chunks(2).any(|q| {
            let d: Vec<f64> = pc[10..]
                .chunks(2)
                .map(|c| (q[0] - c[0]).powi(2) + (q[1] - c[1]).powi(2))
                .collect();
            near_tie(&d, gap)
        });
        if !ties {
            checked += 1;
            let (_, (dp, dc)) = kmeans_grad(&pairs(&p[..10]), &pairs(&p[10..]));
            let g: Vec<T> = dp.concat().into_iter().chain(dc.concat()).collect();
            assert_gradient(
                "kmeans",
                |v| kmeans(&pairs(&v[..10]), &pairs(&v[10..])),
                &p,
                &g,
                tol,
            );
        }

        let xc: Vec<f64> = rng.point(7, -1.0, 1.0);
        let x: Vec<T> = cast(&xc);
        let ties = xc[..4].iter().any(|p| {
            let d: Vec<f64> = xc[4..]
                .iter()
                .map(|q| ((p - q).powi(2) + 0.1).sqrt())
                .collect();
            near_tie(&d, gap)
        });
        if !ties {
            let (_, (gx, gc)) = farthest_grad(&x[..4], &x[4..]);
            let g: Vec<T> = gx.into_iter().chain(gc).collect();
            assert_gradient("farthest", |v| farthest(&v[..4], &v[4..]), &x, &g, tol);
        }

        let s: Vec<T> = cast(&rng.point(10, -1.5, 1.5));
        let (sc, w) = (&s[..5], &s[5..]);
        let margins: Vec<f64> = (0..5)
            .map(|j| (sc[j] * w[j] - sc[2] * w[2]).to_f64().unwrap() + 1.0)
            .collect();
        if margins.iter().all(|m| m.abs() > gap) {
            let (_, (gs, gw)) = hinge_grad(sc, 2, w);
            let g: Vec<T> = gs.into_iter().chain(gw).collect();
            assert_gradient("hinge", |v| hinge(&v[..5], 2, &v[5..]), &s, &g, tol);
        }

        let y: Vec<T> = cast(&rng.point(8, -1.0, 1.0));
        let (_, (gx, gy)) = shared_grad(&y[..4], &y[4..]);
        let g: Vec<T> = gx.into_iter().chain(gy).collect();
        let f = |v: &[T]| shared(&v[..4], &v[4..]);
        let kinks = (0..4).any(|i| {
            let (xi, yi) = (y[i].to_f64().unwrap(), y[4 + i].to_f64().unwrap());
            let a = (xi * yi).sin() * 2.0 + yi;
            (a * a - xi).abs() < gap
        });
        if !kinks {
            assert_gradient("shared", f, &y, &g, tol);
        }

        let z: Vec<f64> = rng.point(6, -1.0, 1.0);
        let tied = z.chunks(2).any(|w| {
            let a = (w[0] * 3.0).tanh() * w[0];
            let b = (w[1] * 2.0).sin() * w[1];
            (a - b).abs() < gap
        });
        if !tied {
            let z: Vec<T> = cast(&z);
            assert_gradient("pool", pool, &z, &pool_grad(&z).1, tol);
        }
    }
    assert!(checked >= 6, "only {checked} k-means points away from ties");
}

#[test]
fn routed_gradients_f64() {
    check::<f64>(&mut Rng::new(91));
}

#[test]
fn routed_gradients_f32() {
    check::<f32>(&mut Rng::new(92));
}

/// Exactly: the nearest centre gets `-2 (p - q)`, the others nothing.
#[test]
fn only_the_nearest_centre_gets_a_gradient() {
    let pts = [[0.0, 0.0], [1.0, 1.0]];
    let c = [[0.1, 0.0], [5.0, 5.0], [1.0, 0.5]];
    let (v, (dp, dc)) = kmeans_grad(&pts, &c);
    assert!((v - (0.01 + 0.25)).abs() < 1e-12);
    assert_eq!(dc[1], [0.0, 0.0]);
    assert!((dc[0][0] - 0.2).abs() < 1e-12 && dc[0][1] == 0.0);
    assert!(dc[2][0] == 0.0 && (dc[2][1] + 1.0).abs() < 1e-12);
    assert!((dp[0][0] + 0.2).abs() < 1e-12 && (dp[1][1] - 1.0).abs() < 1e-12);
}
