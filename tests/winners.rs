//! Loops that keep the least or greatest of their values (`best =
//! best.min(d)`): the backward replays only the iteration that won. Each fn
//! here comes twice: as users write it, and with the running value copied
//! with the running value read twice (below), which the macro reverses
//! iteration by iteration as before. Their gradients must be
//! equal at finite values, ties included; away from ties they
//! are checked against finite differences, in f32 and f64.
//!
//! Where a value is infinite or NaN the two may differ, on purpose: an
//! iteration that lost adds exact zeros (as a skipped routed cone does,
//! see the README), where replaying it could give `0 x inf = NaN`.
//!
//! The plain twin takes the running value's `min` once more
//! (`best = best.min(d).min(best)`): the same values and the same routes
//! (ties and NaNs too), but `best` is read twice in the body, so the loop
//! is reversed iteration by iteration.

// Indexed loops, as users write them.
#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

/// The largest element, squared: a loop in the fn body.
#[differentiable]
fn top<T: Float>(x: &[T]) -> T {
    let mut m = x[0];
    for i in 1..x.len() {
        m = m.max(x[i]);
    }
    m * m
}

#[differentiable]
fn top_plain<T: Float>(x: &[T]) -> T {
    let mut m = x[0];
    for i in 1..x.len() {
        m = m.max(x[i]).max(m);
    }
    m * m
}

/// The new value first (ties go to it), from infinity, over `1..=n`.
#[differentiable]
fn least<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len() - 1;
    let mut m = T::infinity();
    for i in 1..=n {
        m = (x[i] * w[i]).min(m);
    }
    (m * 0.5).exp() + w[0] * x[0]
}

#[differentiable]
fn least_plain<T: Float>(x: &[T], w: &[T]) -> T {
    let n = x.len() - 1;
    let mut m = T::infinity();
    for i in 1..=n {
        m = (x[i] * w[i]).min(m).min(m);
    }
    (m * 0.5).exp() + w[0] * x[0]
}

/// k-means in one dimension: the nearest centre of each point, in a loop
/// over the points (fused: each point's backward runs after it).
#[differentiable]
fn nearest<T: Float>(p: &[T], c: &[T]) -> T {
    let mut total = T::zero();
    for i in 0..p.len() {
        let mut best = T::infinity();
        for j in 0..c.len() {
            let d = (p[i] - c[j]).powi(2) + 0.1 * c[j] * c[j];
            best = best.min(d);
        }
        total += best.sqrt();
    }
    total
}

#[differentiable]
fn nearest_plain<T: Float>(p: &[T], c: &[T]) -> T {
    let mut total = T::zero();
    for i in 0..p.len() {
        let mut best = T::infinity();
        for j in 0..c.len() {
            let d = (p[i] - c[j]).powi(2) + 0.1 * c[j] * c[j];
            best = best.min(d).min(best);
        }
        total += best.sqrt();
    }
    total
}

/// k-means in `d` dimensions: each distance summed in an inner loop.
#[differentiable]
fn kmeans_d<T: Float>(pts: &[T], c: &[T], d: usize) -> T {
    let mut total = T::zero();
    for i in 0..pts.len() / d {
        let mut best = T::infinity();
        for k in 0..c.len() / d {
            let mut dist = T::zero();
            for l in 0..d {
                dist += (pts[i * d + l] - c[k * d + l]).powi(2);
            }
            best = best.min(dist);
        }
        total += best;
    }
    total
}

#[differentiable]
fn kmeans_d_plain<T: Float>(pts: &[T], c: &[T], d: usize) -> T {
    let mut total = T::zero();
    for i in 0..pts.len() / d {
        let mut best = T::infinity();
        for k in 0..c.len() / d {
            let mut dist = T::zero();
            for l in 0..d {
                dist += (pts[i * d + l] - c[k * d + l]).powi(2);
            }
            best = best.min(dist).min(best);
        }
        total += best;
    }
    total
}

/// A branch in the body, in the fn body.
#[differentiable]
fn branchy<T: Float>(x: &[T], w: T) -> T {
    let mut m = T::neg_infinity();
    for i in 0..x.len() {
        let v = if x[i] > T::zero() {
            x[i] * w
        } else {
            -x[i] * 0.5
        };
        m = m.max(v);
    }
    m * w
}

#[differentiable]
fn branchy_plain<T: Float>(x: &[T], w: T) -> T {
    let mut m = T::neg_infinity();
    for i in 0..x.len() {
        let v = if x[i] > T::zero() {
            x[i] * w
        } else {
            -x[i] * 0.5
        };
        m = m.max(v).max(m);
    }
    m * w
}

/// Two loops in turn keep the same running max, the second through the
/// path form `T::max`.
#[differentiable]
fn two_loops<T: Float>(x: &[T], y: &[T]) -> T {
    let mut m = x[0];
    for i in 1..x.len() {
        m = m.max(x[i] * x[i]);
    }
    for j in 0..y.len() {
        m = T::max(m, y[j] - 1.0);
    }
    m.sin()
}

#[differentiable]
fn two_loops_plain<T: Float>(x: &[T], y: &[T]) -> T {
    let mut m = x[0];
    for i in 1..x.len() {
        m = m.max(x[i] * x[i]).max(m);
    }
    for j in 0..y.len() {
        m = T::max(m, y[j] - 1.0).max(m);
    }
    m.sin()
}

/// Max-pooling over overlapping windows, weighted, of 2-D points.
#[differentiable(wrt(x, v))]
fn pool<T: Float>(x: &[[T; 2]], v: &[T]) -> T {
    let mut loss = T::zero();
    for o in 0..v.len() {
        let mut b = x[2 * o][0] * x[2 * o][1];
        for k in 2 * o + 1..2 * o + 3 {
            b = b.max(x[k][0] * x[k][1]);
        }
        loss += b * v[o];
    }
    loss
}

#[differentiable(wrt(x, v))]
fn pool_plain<T: Float>(x: &[[T; 2]], v: &[T]) -> T {
    let mut loss = T::zero();
    for o in 0..v.len() {
        let mut b = x[2 * o][0] * x[2 * o][1];
        for k in 2 * o + 1..2 * o + 3 {
            b = b.max(x[k][0] * x[k][1]).max(b);
        }
        loss += b * v[o];
    }
    loss
}

fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
}

fn pairs<T: Float>(v: &[T]) -> Vec<[T; 2]> {
    v.chunks(2).map(|c| [c[0], c[1]]).collect()
}

/// Values with many ties.
fn tied(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| (rng.next_u64() % 9) as f64 * 0.5 - 2.0)
        .collect()
}

#[test]
fn the_winner_gets_what_every_iteration_would_have_routed() {
    let mut rng = Rng::new(7);
    for _ in 0..400 {
        let n = 1 + (rng.next_u64() % 6) as usize;
        let x = tied(&mut rng, n);
        let (a, ga) = top_grad(&x);
        let (b, gb) = top_plain_grad(&x);
        assert!(
            same(&[a], &[b]) && same(&ga, &gb),
            "top {x:?}: {ga:?} {gb:?}"
        );

        let w = tied(&mut rng, n);
        let (a, (gx, gw)) = least_grad(&x, &w);
        let (b, (hx, hw)) = least_plain_grad(&x, &w);
        assert!(same(&[a], &[b]), "least {x:?} {w:?}");
        assert!(same(&gx, &hx) && same(&gw, &hw), "least {x:?} {w:?}");

        let k = 1 + (rng.next_u64() % 4) as usize;
        let c = tied(&mut rng, k);
        let (a, (gp, gc)) = nearest_grad(&x, &c);
        let (b, (hp, hc)) = nearest_plain_grad(&x, &c);
        assert!(same(&[a], &[b]), "nearest {x:?} {c:?}");
        assert!(same(&gp, &hp) && same(&gc, &hc), "nearest {x:?} {c:?}");

        let d = 1 + (rng.next_u64() % 3) as usize;
        let (pts, c) = (tied(&mut rng, 4 * d), tied(&mut rng, 3 * d));
        let (a, (gp, gc)) = kmeans_d_grad(&pts, &c, d);
        let (b, (hp, hc)) = kmeans_d_plain_grad(&pts, &c, d);
        assert!(same(&[a], &[b]), "kmeans_d {pts:?} {c:?}");
        assert!(same(&gp, &hp) && same(&gc, &hc), "kmeans_d {pts:?} {c:?}");

        let y = tied(&mut rng, k);
        let (a, (gx, gy)) = two_loops_grad(&x, &y);
        let (b, (hx, hy)) = two_loops_plain_grad(&x, &y);
        assert!(
            same(&[a], &[b]) && same(&gx, &hx) && same(&gy, &hy),
            "two_loops {x:?} {y:?}"
        );

        let w = tied(&mut rng, 1)[0];
        let (a, (gx, gw)) = branchy_grad(&x, w);
        let (b, (hx, hw)) = branchy_plain_grad(&x, w);
        assert!(
            same(&[a, gw], &[b, hw]) && same(&gx, &hx),
            "branchy {x:?} {w}"
        );

        let v = tied(&mut rng, 3);
        let p = pairs(&tied(&mut rng, 14));
        let (a, (gp, gv)) = pool_grad(&p, &v);
        let (b, (hp, hv)) = pool_plain_grad(&p, &v);
        assert!(same(&[a], &[b]), "pool {p:?} {v:?}");
        assert!(
            same(&gp.concat(), &hp.concat()) && same(&gv, &hv),
            "pool {p:?} {v:?}"
        );
    }
}

/// Ties: `m.max(x)` keeps the first of equal values, `x.min(m)` the last.
#[test]
fn ties_go_where_the_rule_sends_them() {
    let (_, g) = top_grad(&[1.0, 3.0, 3.0, 2.0]);
    assert_eq!(g, [0.0, 6.0, 0.0, 0.0]);
    let (_, (gx, _)) = least_grad(&[0.0, 1.0, 1.0, 2.0], &[5.0, 1.0, 1.0, 1.0]);
    let e = (0.5f64).exp() * 0.5;
    assert_eq!(gx, [5.0, 0.0, e, 0.0]);
    // No later value wins: the first element gets it all; with one
    // element the loop does not run.
    assert_eq!(top_grad(&[4.0, 1.0, -2.0]).1, [8.0, 0.0, 0.0]);
    assert_eq!(top_grad(&[-1.5]).1, [-3.0]);
    // Nothing wins from infinity over an empty range: `exp(inf)`'s
    // gradient stays with the starting value, which has none.
    let (v, (gx, gw)) = least_grad(&[2.0], &[3.0]);
    assert_eq!((v, gx, gw), (f64::INFINITY, vec![3.0], vec![2.0]));
}

/// A NaN never wins (`max` and `min` return the other argument); an
/// infinity can; an iteration that lost adds exact zeros.
#[test]
fn non_finite_values_lose_cleanly() {
    let (v, g) = top_grad(&[1.0, f64::NAN, 3.0]);
    assert_eq!((v, g), (9.0, vec![0.0, 0.0, 6.0]));
    let (v, g) = top_grad(&[f64::NAN, -2.0]);
    assert_eq!((v, g), (4.0, vec![0.0, -4.0]));
    let (v, g) = top_grad(&[1.0, f64::INFINITY, 3.0]);
    assert_eq!(v, f64::INFINITY);
    assert_eq!(g, [0.0, f64::INFINITY, 0.0]);
    // The cell of a NaN loses its window, and its other factor gets zero,
    // not `0 x NaN`.
    let n = f64::NAN;
    let p = [[1.0, 1.0], [2.0, 1.5], [0.5, n]];
    let (v, (gp, gv)) = pool_grad(&p, &[2.0]);
    assert_eq!(v, 6.0);
    assert_eq!(gp, [[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]]);
    assert_eq!(gv, [3.0]);
    // A point at infinity: every distance is infinite, none beats the
    // start, and the centres get no NaN from it.
    let (v, (gp, gc)) = nearest_grad(&[f64::INFINITY, 0.0], &[1.0, -3.0]);
    assert_eq!(v, f64::INFINITY);
    assert_eq!(gp[0], 0.0);
    assert!(gc.iter().all(|g| g.is_finite()), "{gc:?}");
}

/// The pullback of a fn-body winner loop can run twice (it keeps the winner).
#[test]
fn the_pullback_runs_again() {
    let x = [0.5, -1.0, 2.5, 2.0];
    let (_, back) = top_forward(&x);
    assert_eq!(back(1.0), [0.0, 0.0, 5.0, 0.0]);
    assert_eq!(back(2.0), [0.0, 0.0, 10.0, 0.0]);
}

fn check<T: Float + std::fmt::Display>(seed: u64) {
    let mut rng = Rng::new(seed);
    let tol = tolerance::<T>();
    // Distinct values at least this far apart: finite differences stay on
    // one side of every tie.
    let apart = |v: &[f64]| {
        v.iter()
            .enumerate()
            .all(|(i, a)| v[..i].iter().all(|b| (a - b).abs() > 0.05))
    };
    let mut checked = 0;
    for _ in 0..40 {
        let x: Vec<f64> = rng.point(6, -2.0, 2.0);
        let w: Vec<f64> = rng.point(6, 0.5, 1.5);
        let prods: Vec<f64> = x.iter().zip(&w).skip(1).map(|(a, b)| a * b).collect();
        if !apart(&x) || !apart(&prods) {
            continue;
        }
        checked += 1;
        let (xt, wt): (Vec<T>, Vec<T>) = (cast(&x), cast(&w));
        assert_gradient("top", |v| top(v), &xt, &top_grad(&xt).1, tol);
        let both: Vec<T> = xt.iter().chain(&wt).copied().collect();
        let (gx, gw) = least_grad(&xt, &wt).1;
        let g: Vec<T> = gx.into_iter().chain(gw).collect();
        assert_gradient("least", |v| least(&v[..6], &v[6..]), &both, &g, tol);

        let c: Vec<f64> = rng.point(3, -2.0, 2.0);
        let near = x.iter().all(|p| {
            let d: Vec<f64> = c.iter().map(|q| (p - q).powi(2) + 0.1 * q * q).collect();
            apart(&d)
        });
        if near {
            let pc: Vec<T> = cast(&x.iter().chain(&c).copied().collect::<Vec<_>>());
            let (gp, gc) = nearest_grad(&pc[..6], &pc[6..]).1;
            let g: Vec<T> = gp.into_iter().chain(gc).collect();
            assert_gradient("nearest", |v| nearest(&v[..6], &v[6..]), &pc, &g, tol);
        }

        let (pts, c): (Vec<f64>, Vec<f64>) = (rng.point(8, -2.0, 2.0), rng.point(6, -2.0, 2.0));
        let dists: Vec<Vec<f64>> = pts
            .chunks(2)
            .map(|p| {
                c.chunks(2)
                    .map(|q| (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2))
                    .collect()
            })
            .collect();
        if dists.iter().all(|ds| apart(ds)) {
            let both: Vec<T> = cast(&pts.iter().chain(&c).copied().collect::<Vec<_>>());
            let (gp, gc) = kmeans_d_grad(&both[..8], &both[8..], 2).1;
            let g: Vec<T> = gp.into_iter().chain(gc).collect();
            assert_gradient(
                "kmeans_d",
                |v| kmeans_d(&v[..8], &v[8..], 2),
                &both,
                &g,
                tol,
            );
        }

        let y: Vec<f64> = rng.point(3, -1.0, 4.0);
        let cands: Vec<f64> = std::iter::once(x[0])
            .chain(x[1..].iter().map(|v| v * v))
            .chain(y.iter().map(|v| v - 1.0))
            .collect();
        if apart(&cands) {
            let xy: Vec<T> = cast(&x.iter().chain(&y).copied().collect::<Vec<_>>());
            let (gx, gy) = two_loops_grad(&xy[..6], &xy[6..]).1;
            let g: Vec<T> = gx.into_iter().chain(gy).collect();
            assert_gradient("two_loops", |v| two_loops(&v[..6], &v[6..]), &xy, &g, tol);
        }

        let vals: Vec<f64> = x
            .iter()
            .map(|&v| if v > 0.0 { v * w[0] } else { -v * 0.5 })
            .collect();
        if apart(&vals) && x.iter().all(|v| v.abs() > 0.05) {
            let xw: Vec<T> = cast(&x.iter().chain(&w[..1]).copied().collect::<Vec<_>>());
            let (gx, gw) = branchy_grad(&xw[..6], xw[6]).1;
            let g: Vec<T> = gx.into_iter().chain([gw]).collect();
            assert_gradient("branchy", |v| branchy(&v[..6], v[6]), &xw, &g, tol);
        }

        let px: Vec<f64> = rng.point(14, -1.5, 1.5);
        let cells: Vec<f64> = px.chunks(2).map(|c| c[0] * c[1]).collect();
        if (0..3).all(|o| apart(&cells[2 * o..2 * o + 3])) {
            let pv: Vec<T> = cast(&px.iter().chain(&w[..3]).copied().collect::<Vec<_>>());
            let (gp, gv) = pool_grad(&pairs(&pv[..14]), &pv[14..]).1;
            let g: Vec<T> = gp.concat().into_iter().chain(gv).collect();
            assert_gradient("pool", |v| pool(&pairs(&v[..14]), &v[14..]), &pv, &g, tol);
        }
    }
    assert!(checked >= 10, "only {checked} points away from ties");
}

#[test]
fn winners_match_finite_differences_f64() {
    check::<f64>(31);
}

#[test]
fn winners_match_finite_differences_f32() {
    check::<f32>(32);
}
