//! Integer steps of differentiated values and rows unpacked in loop
//! headers, each checked against finite differences in f64 and f32 at
//! random points kept away from the steps: `x.floor() as usize` indexing a
//! table, `x.to_usize()`, `.round().to_i32()` as a trip count (constants:
//! no gradient flows through a step, as through `floor`), and `for [a, b]
//! in points.iter()`, `for &[a, b] in points`, `for [a, _, c] in rows`.

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

/// Piecewise-linear interpolation in a table, scaled by `x`.
#[differentiable]
fn lookup(x: f64, table: &[f64]) -> f64 {
    let i = (x.floor() as usize).min(table.len() - 2);
    let t = x - i as f64;
    table[i] * (1.0 - t) + table[i + 1] * t * x
}

#[differentiable]
fn stepped<T: Float>(x: T, n: usize) -> T {
    let k = x.to_usize().unwrap_or(0);
    let steps = (x * T::from(n).unwrap()).round().to_i32().unwrap();
    let mut s = x * T::from(k + 1).unwrap();
    for _ in 0..steps.max(0) {
        s = s * 0.9 + x;
    }
    s
}

#[differentiable]
fn rows<T: Float>(p: &[[T; 2]], q: [[T; 3]; 2]) -> T {
    let mut s = T::zero();
    for [a, b] in p.iter() {
        s = s + *a * *b;
    }
    for &[a, b] in p {
        s = s + a.sin() * b;
    }
    for [a, _, c] in q {
        s = s + a * c.exp();
    }
    s
}

fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    // Away from the integers and from the trip count's rounding.
    let x = T::from(rng.uniform(0.05, 0.45) + rng.uniform(0.0, 3.0).floor()).unwrap();
    let (_, g) = stepped_grad(x, 1);
    assert_gradient("stepped", |q| stepped(q[0], 1), &[x], &[g], tol);

    let p: Vec<T> = cast(&rng.point(10, -1.0, 1.0));
    let pts = [[p[0], p[1]], [p[2], p[3]]];
    let q = [[p[4], p[5], p[6]], [p[7], p[8], p[9]]];
    let (_, (gp, gq)) = rows_grad(&pts, q);
    let g: Vec<T> = gp
        .iter()
        .flatten()
        .chain(gq.iter().flatten())
        .copied()
        .collect();
    let f = |v: &[T]| {
        rows(
            &[[v[0], v[1]], [v[2], v[3]]],
            [[v[4], v[5], v[6]], [v[7], v[8], v[9]]],
        )
    };
    assert_gradient("rows", f, &p, &g, tol);
}

#[test]
fn steps_and_rows_f64() {
    let mut rng = Rng::new(91);
    let table = [0.5, 1.5, -0.5, 2.0, 1.0];
    for _ in 0..10 {
        let x = rng.uniform(0.05, 0.95) + rng.uniform(0.0, 4.0).floor();
        let (_, (g, gt)) = lookup_grad(x, &table);
        let xt = [&[x][..], &table[..]].concat();
        let f = |q: &[f64]| lookup(q[0], &q[1..]);
        assert_gradient("lookup", f, &xt, &[&[g][..], &gt[..]].concat(), 1e-5);
        check::<f64>(&mut rng);
    }
}

#[test]
fn steps_and_rows_f32() {
    let mut rng = Rng::new(92);
    for _ in 0..10 {
        check::<f32>(&mut rng);
    }
}
