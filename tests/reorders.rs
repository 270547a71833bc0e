//! Arrays put in another order and copies that must keep their values:
//! `v.sort_by(..)` (a median, a trimmed sum), `v.reverse()`, a copy of an
//! array the fn changes afterwards (`let old = v.to_vec(); v[i] = old[..]`),
//! a row of a matrix copied and rows exchanged whole (Gaussian elimination
//! with pivoting), rows of parameters copied into `mut` variables. Checked
//! against finite differences at random points,
//! f64 and f32, and against closed forms (a sort routes each gradient to
//! the element that landed there; a determinant's gradient is its
//! cofactor matrix).

#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, cast, close, tolerance, Rng};
use tapeless::{differentiable, Float};

/// The median: the middle of the sorted copy (the mean of the two middle
/// ones for an even length).
#[differentiable]
fn median<T: Float>(x: &[T]) -> T {
    let mut v = x.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Sorted descending, then reversed (ascending again), and weighted by
/// rank without the extremes.
#[differentiable]
fn ranked(x: &[f64]) -> f64 {
    let mut v = x.to_vec();
    v.sort_unstable_by(|a, b| b.total_cmp(a));
    v.reverse();
    let mut s = 0.0;
    for i in 1..v.len() - 1 {
        s += v[i] * v[i] * (i as f64);
    }
    s
}

/// A rotation through a copy of the array it overwrites: the copy keeps
/// the values from before the loop.
#[differentiable]
fn rotated<T: Float>(x: &[T]) -> T {
    let mut v = x.to_vec();
    let old = v.to_vec();
    let n = v.len();
    for i in 0..n {
        v[i] = old[(i + 1) % n] * T::from(i + 1).unwrap();
    }
    let mut s = T::zero();
    for i in 0..n {
        s = s + v[i] * old[i].sin();
    }
    s
}

/// A row copied, then the matrix changed under it.
#[differentiable]
fn row_kept<T: Float>(x: &[T]) -> T {
    let mut m = vec![vec![T::zero(); 2]; 2];
    m[0][0] = x[0];
    m[0][1] = x[1];
    m[1][0] = x[2];
    m[1][1] = x[0] * x[1];
    let row = m[0].to_vec();
    m[0][0] = m[0][0] * 3.0;
    m[0][1] = row[0] * row[1];
    row[0] + m[0][0] + m[0][1] * 2.0 + m[1][1]
}

/// Copies of `Copy` arrays by a plain `let`: the state before each step
/// (`let p = s;`), a row of an array of arrays (`let r = m[0];`), and rows
/// exchanged through them.
#[differentiable]
fn stepped<T: Float>(x: [T; 4]) -> T {
    let mut s = x;
    for _ in 0..3 {
        let p = s;
        for i in 0..4 {
            s[i] = (p[(i + 1) % 4] - p[i]).tanh() + p[i];
        }
    }
    let mut m = [[T::zero(); 2]; 2];
    m[0][0] = s[0];
    m[0][1] = s[1];
    m[1][0] = s[2];
    m[1][1] = s[3];
    let r = m[0];
    m[0][0] = m[1][1] * r[1];
    let r2 = m[1];
    m[1] = r;
    m[0] = r2;
    m[0][0] * m[1][1] + r[0] * m[0][1] + m[1][0].sin()
}

/// The determinant by Gaussian elimination with partial pivoting: rows
/// exchanged whole through a temporary.
#[differentiable]
fn determinant<T: Float>(a: &[Vec<T>]) -> T {
    let n = a.len();
    let mut m = vec![vec![T::zero(); n]; n];
    for i in 0..n {
        for j in 0..n {
            m[i][j] = a[i][j];
        }
    }
    let mut det = T::one();
    for c in 0..n {
        let mut p = c;
        for r in c + 1..n {
            if m[r][c].abs() > m[p][c].abs() {
                p = r;
            }
        }
        if p != c {
            let tmp = m[p].clone();
            m[p] = m[c].clone();
            m[c] = tmp;
            det = -det;
        }
        det = det * m[c][c];
        for r in c + 1..n {
            let f = m[r][c] / m[c][c];
            for k in c..n {
                m[r][k] = m[r][k] - f * m[c][k];
            }
        }
    }
    det
}

/// Rows of differentiated parameters copied into `mut` variables: a row
/// a loop walks (sorted: each row's smallest and largest), a row by index,
/// and a row of a fixed-size matrix; then changed.
#[differentiable]
fn row_copies<T: Float>(data: &[Vec<T>], m: [[T; 2]; 2], k: T) -> T {
    let mut s = T::zero();
    for row in data {
        let mut v = row.to_vec();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        s = s + v[0] * k + v[v.len() - 1] * k * k;
    }
    let mut last = data[1].clone();
    last[0] = last[0].exp();
    for row in m.iter() {
        let mut r = row.to_vec();
        for v in r.iter_mut() {
            *v = *v * k;
        }
        s = s + r[0] * r[1];
    }
    s + last[0] + last[1]
}

fn matrix<T: Float>(v: &[T]) -> Vec<Vec<T>> {
    v.chunks(3).map(|r| r.to_vec()).collect()
}

fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    // Distinct values, so that the order is the same a step away.
    let mut x: Vec<f64> = (0..6)
        .map(|i| i as f64 * 0.4 - 1.0 + rng.uniform(0.0, 0.2))
        .collect();
    for i in (1..x.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        x.swap(i, j);
    }
    let x: Vec<T> = cast(&x);
    for n in [5, 6] {
        let (_, g) = median_grad(&x[..n]);
        assert_gradient("median", median::<T>, &x[..n], &g, tol);
    }
    let (_, g) = rotated_grad(&x);
    assert_gradient("rotated", rotated::<T>, &x, &g, tol);
    let (_, g) = stepped_grad([x[0], x[1], x[2], x[3]]);
    assert_gradient(
        "stepped",
        |v: &[T]| stepped([v[0], v[1], v[2], v[3]]),
        &x[..4],
        &g,
        tol,
    );
    let (_, g) = row_kept_grad(&x[..3]);
    assert_gradient("row_kept", row_kept::<T>, &x[..3], &g, tol);
    // The data rows from `x` (values apart, so that each row's order is
    // the same a finite-difference step away), the matrix and `k` random.
    let rest: Vec<T> = cast(&rng.point(5, -1.0, 1.0));
    let p: Vec<T> = x.iter().chain(&rest).copied().collect();
    let (_, (gd, gm, gk)) = row_copies_grad(&matrix(&p[..6]), [[p[6], p[7]], [p[8], p[9]]], p[10]);
    let g: Vec<T> = gd
        .concat()
        .into_iter()
        .chain(gm.concat())
        .chain([gk])
        .collect();
    let f = |v: &[T]| row_copies(&matrix(&v[..6]), [[v[6], v[7]], [v[8], v[9]]], v[10]);
    assert_gradient("row_copies", f, &p, &g, tol);
    let a: Vec<T> = cast(&rng.point(9, -1.0, 1.0));
    let (_, g) = determinant_grad(&matrix(&a));
    let g: Vec<T> = g.concat();
    assert_gradient(
        "determinant",
        |v: &[T]| determinant(&matrix(v)),
        &a,
        &g,
        tol,
    );
}

#[test]
fn reorders_and_copies_f64() {
    let mut rng = Rng::new(51);
    for _ in 0..10 {
        check::<f64>(&mut rng);
        let x = rng.point(5, -2.0, 2.0);
        let (_, g) = ranked_grad(&x);
        assert_gradient("ranked", ranked, &x, &g, tolerance::<f64>());
    }
}

#[test]
fn reorders_and_copies_f32() {
    let mut rng = Rng::new(52);
    for _ in 0..10 {
        check::<f32>(&mut rng);
    }
}

#[test]
fn closed_forms() {
    // The median routes the gradient to the middle element, wherever it
    // was: sorted [-1, 0.2, 0.5, 2, 3].
    let (v, g) = median_grad(&[0.5, 3.0, -1.0, 2.0, 0.2]);
    assert_eq!(v, 0.5);
    assert_eq!(g, vec![1.0, 0.0, 0.0, 0.0, 0.0]);
    // Even length: half to each of the two middle ones.
    let (v, g) = median_grad(&[4.0, 1.0, 3.0, 2.0]);
    assert_eq!(v, 2.5);
    assert_eq!(g, vec![0.0, 0.0, 0.5, 0.5]);
    // Ascending [-1, 0.5, 2, 3]: ranks 1 and 2 kept, d/dv (v^2 i) = 2 v i.
    let (v, g) = ranked_grad(&[3.0, 0.5, -1.0, 2.0]);
    assert_eq!(v, 0.25 + 8.0);
    assert_eq!(g, vec![0.0, 1.0, 0.0, 8.0]);
    // The determinant's gradient is the cofactor matrix.
    let a = [[2.0, -1.0, 0.5], [1.0, 3.0, -2.0], [0.0, 1.5, 1.0]];
    let rows: Vec<Vec<f64>> = a.iter().map(|r| r.to_vec()).collect();
    let (d, g) = determinant_grad(&rows);
    let det = |m: &[[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    assert!(close(d, det(&a), 1e-12));
    for i in 0..3 {
        for j in 0..3 {
            let (r0, r1) = ((i + 1) % 3, (i + 2) % 3);
            let (c0, c1) = ((j + 1) % 3, (j + 2) % 3);
            let cofactor = a[r0][c0] * a[r1][c1] - a[r0][c1] * a[r1][c0];
            assert!(
                close(g[i][j], cofactor, 1e-12),
                "{i} {j}: {} {cofactor}",
                g[i][j]
            );
        }
    }
}
