//! Arrays and vectors: every parameter form of DESIGN.md's table, local
//! arrays (`[x; N]`, `vec![x; n]`, literals), index assignment, array and
//! `Vec` returns. Gradients have the shape of their variable.

// The lecture's code indexes in loops; so do these tests.
#![allow(clippy::needless_range_loop, clippy::type_complexity)]

mod common;

use common::{assert_gradient, close, tolerance, Rng};
use tapeless::{differentiable, Float};

// Every parameter form; each gradient has its parameter's shape.
#[differentiable]
#[allow(clippy::ptr_arg)] // `&Vec<T>` is one of the forms
fn forms<T: Float, const N: usize>(
    a: [T; N],
    b: &[T; N],
    c: &[T],
    d: &Vec<T>,
    e: Vec<T>,
    m: [[T; N]; 2],
) -> T {
    let mut s = T::zero();
    for i in 0..N {
        s += a[i] * b[i] + c[i] * d[i] - e[i] * m[0][i] + m[1][i];
    }
    s
}

#[test]
fn gradient_shapes_follow_the_parameters() {
    let a = [1.0, 2.0];
    let b = [3.0, 4.0];
    let c = vec![5.0, 6.0];
    let d = vec![7.0, 8.0];
    let e = vec![9.0, 10.0];
    let m = [[11.0, 12.0], [13.0, 14.0]];
    let (_, (da, db, dc, dd, de, dm)): (
        f64,
        (
            [f64; 2],
            [f64; 2],
            Vec<f64>,
            Vec<f64>,
            Vec<f64>,
            [[f64; 2]; 2],
        ),
    ) = forms_grad(a, &b, &c, &d, e.clone(), m);
    assert_eq!(da, b);
    assert_eq!(db, a);
    assert_eq!(dc, d);
    assert_eq!(dd, c);
    assert_eq!(de, vec![-11.0, -12.0]);
    assert_eq!(dm, [[-9.0, -10.0], [1.0, 1.0]]);
}

// Local arrays: filled, written element by element, read back.
#[differentiable]
fn prefix_sums<T: Float>(x: &[T]) -> T {
    let n = x.len();
    let mut p = vec![T::zero(); n];
    p[0] = x[0];
    for i in 1..n {
        p[i] = p[i - 1] + x[i];
    }
    let mut total = T::zero();
    for i in 0..n {
        total += p[i] * p[i];
    }
    total
}

#[differentiable]
fn fixed_locals<T: Float>(x: T, y: T) -> T {
    let mut a = [x; 3];
    a[1] = y * 2.0;
    a[2] *= y;
    let b = [x, y, x * y];
    let mut grid = [[T::zero(); 2]; 2];
    grid[0][1] = a[0] + b[2];
    grid[1][0] += a[1] * a[2];
    grid[0][1] * grid[1][0] + b[0]
}

#[test]
fn local_arrays() {
    let mut rng = Rng::new(41);
    for _ in 0..20 {
        let x = rng.point(5, -1.0, 1.0);
        let (_, g) = prefix_sums_grad(&x);
        // d/dx_i sum_k p_k^2 = 2 sum_{k >= i} p_k
        let mut p = x.clone();
        for i in 1..5 {
            p[i] += p[i - 1];
        }
        for i in 0..5 {
            let want: f64 = 2.0 * p[i..].iter().sum::<f64>();
            assert!(close(g[i], want, 1e-13));
        }
        let (x0, y0) = (x[0], x[1]);
        let (_, (dx, dy)) = fixed_locals_grad(x0, y0);
        assert_gradient(
            "fixed_locals",
            |q: &[f64]| fixed_locals(q[0], q[1]),
            &[x0, y0],
            &[dx, dy],
            tolerance::<f64>(),
        );
        let (_, (fx, fy)) = fixed_locals_grad(x0 as f32, y0 as f32);
        assert_gradient(
            "fixed_locals f32",
            |q: &[f32]| fixed_locals(q[0], q[1]),
            &[x0 as f32, y0 as f32],
            &[fx, fy],
            tolerance::<f32>(),
        );
    }
}

// Array and Vec outputs: the pullback takes an upstream gradient of the
// output's shape, one Jacobian row at a time.
#[differentiable]
fn scale_shift<T: Float, const N: usize>(x: [T; N], k: T) -> [T; N] {
    let mut y = [T::zero(); N];
    for i in 0..N {
        y[i] = x[i] * k + 1.0;
    }
    y
}

#[differentiable]
fn softmax<T: Float>(z: &[T]) -> Vec<T> {
    let mut m = z[0];
    for &v in z.iter() {
        m = m.max(v);
    }
    let mut e = vec![T::zero(); z.len()];
    let mut total = T::zero();
    for i in 0..z.len() {
        e[i] = (z[i] - m).exp();
        total += e[i];
    }
    for i in 0..z.len() {
        e[i] = e[i] / total;
    }
    e
}

// An array literal as the value: the cross product, and `vec![..]`.
#[differentiable]
fn cross<T: Float>(a: [T; 3], b: [T; 3]) -> [T; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

#[differentiable]
fn polar_to_xy<T: Float>(r: T, theta: T) -> Vec<T> {
    vec![r * theta.cos(), r * theta.sin()]
}

// Written with an explicit `return`, as some users do.
#[differentiable]
#[allow(clippy::needless_return)]
fn rotate<T: Float>(x: T, y: T, angle: T) -> [T; 2] {
    let (s, c) = angle.sin_cos();
    return [c * x - s * y, s * x + c * y];
}

#[test]
fn array_literal_outputs() {
    let (p, back) = rotate_forward(1.0_f64, 2.0, 0.3);
    let (s, c) = 0.3f64.sin_cos();
    assert!(close(p[0], c - 2.0 * s, 1e-15) && close(p[1], s + 2.0 * c, 1e-15));
    // d p0 / d angle = -s x - c y.
    let (dx, dy, da) = back([1.0, 0.0]);
    assert!(close(dx, c, 1e-15) && close(dy, -s, 1e-15) && close(da, -s - 2.0 * c, 1e-14));
    let (_, back32) = rotate_forward(1.0_f32, 2.0, 0.3);
    let (dx, dy, da) = back32([0.0, 1.0]);
    let (s32, c32) = 0.3f32.sin_cos();
    assert!(
        (dx - s32).abs() < 1e-6 && (dy - c32).abs() < 1e-6 && (da - (c32 - 2.0 * s32)).abs() < 1e-5
    );
    let mut rng = Rng::new(7);
    for _ in 0..20 {
        let p = rng.point(6, -2.0, 2.0);
        let (a, b) = ([p[0], p[1], p[2]], [p[3], p[4], p[5]]);
        let (c, back) = cross_forward(a, b);
        assert!(close(c[0], a[1] * b[2] - a[2] * b[1], 1e-14));
        // Row i of the Jacobian is back(e_i); d(a x b)/da = -[b]x, d/db = [a]x.
        let u = [0.5, -1.5, 2.0];
        let (da, db) = back(u);
        // u . (a x b) = a . (b x u) = b . (u x a)
        let (want_a, _) = cross_forward(b, u);
        let (want_b, _) = cross_forward(u, a);
        for i in 0..3 {
            assert!(close(da[i], want_a[i], 1e-13) && close(db[i], want_b[i], 1e-13));
        }
        let p32: Vec<f32> = p.iter().map(|&v| v as f32).collect();
        let u32 = [0.5_f32, -1.5, 2.0];
        let (_, back32) = cross_forward([p32[0], p32[1], p32[2]], [p32[3], p32[4], p32[5]]);
        let (ga, gb) = back32(u32);
        let g: Vec<f32> = ga.iter().chain(&gb).copied().collect();
        assert_gradient(
            "cross f32 (u . a x b)",
            |q: &[f32]| {
                let c = cross([q[0], q[1], q[2]], [q[3], q[4], q[5]]);
                c.iter().zip(&u32).map(|(x, y)| x * y).sum()
            },
            &p32,
            &g,
            tolerance::<f32>(),
        );
    }
    let (xy, back) = polar_to_xy_forward(2.0_f64, 0.5);
    assert!(close(xy[0], 2.0 * 0.5f64.cos(), 1e-15) && close(xy[1], 2.0 * 0.5f64.sin(), 1e-15));
    let (dr, dt) = back(vec![1.0, 0.0]);
    assert!(close(dr, 0.5f64.cos(), 1e-15) && close(dt, -2.0 * 0.5f64.sin(), 1e-15));
    let (_, back32) = polar_to_xy_forward(2.0_f32, 0.5);
    let (dr, dt) = back32(vec![0.0, 1.0]);
    assert!((dr - 0.5f32.sin()).abs() < 1e-6 && (dt - 2.0 * 0.5f32.cos()).abs() < 1e-6);
}

// The returned array is a copy of the input, scaled in place, whose own
// length the loops run over (the pullback replays them, so it keeps it).
#[differentiable]
fn normalized<T: Float>(x: &[T]) -> Vec<T> {
    let mut y = x.to_vec();
    let mut norm = T::zero();
    for i in 0..y.len() {
        norm += y[i] * y[i];
    }
    let norm = norm.sqrt();
    for i in 0..y.len() {
        y[i] /= norm;
        y[i] *= 2.0;
        y[i] -= 0.5;
    }
    y
}

#[test]
fn returned_arrays_read_by_the_pullback() {
    let mut rng = Rng::new(5);
    for _ in 0..10 {
        let x = rng.point(4, 0.5, 2.0);
        let (y, back) = normalized_forward(&x);
        let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!(close(y[1], 2.0 * x[1] / norm - 0.5, 1e-14));
        for i in 0..4 {
            let mut e = vec![0.0; 4];
            e[i] = 1.0;
            let row = back(e);
            assert_gradient(
                "normalized row",
                |q: &[f64]| normalized(q)[i],
                &x,
                &row,
                tolerance::<f64>(),
            );
        }
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let (_, back32) = normalized_forward(&x32);
        let row = back32(vec![0.0, 0.0, 1.0, 0.0]);
        assert_gradient(
            "normalized row f32",
            |q: &[f32]| normalized(q)[2],
            &x32,
            &row,
            tolerance::<f32>(),
        );
    }
}

#[test]
fn array_outputs() {
    let (y, back) = scale_shift_forward([1.0, 2.0, 3.0], 2.0);
    assert_eq!(y, [3.0, 5.0, 7.0]);
    let (dx, dk) = back([1.0, 0.0, -1.0]);
    assert_eq!(dx, [2.0, 0.0, -2.0]);
    assert_eq!(dk, 1.0 - 3.0);

    let mut rng = Rng::new(42);
    for _ in 0..20 {
        let z = rng.point(4, -2.0, 2.0);
        let (s, back) = softmax_forward(&z);
        // Jacobian of softmax: s_i (delta_ij - s_j); row i is back(e_i).
        for i in 0..4 {
            let mut e = vec![0.0; 4];
            e[i] = 1.0;
            let row = back(e);
            for j in 0..4 {
                let want = s[i] * (f64::from(u8::from(i == j)) - s[j]);
                assert!(
                    close(row[j], want, 1e-13),
                    "J[{i}][{j}] = {} vs {want}",
                    row[j]
                );
            }
        }
        let z32: Vec<f32> = z.iter().map(|&v| v as f32).collect();
        let (_, back32) = softmax_forward(&z32);
        let u = [0.3_f32, -1.0, 0.5, 2.0];
        let g = back32(u.to_vec());
        assert_gradient(
            "softmax f32 (u . s)",
            |q: &[f32]| softmax(q).iter().zip(&u).map(|(a, b)| a * b).sum(),
            &z32,
            &g,
            tolerance::<f32>(),
        );
    }
}

// Batches: a slice of fixed rows and a slice of `Vec` rows; a variable
// declared without a value and set in each branch.
#[differentiable]
#[allow(clippy::needless_late_init)] // the late `let y;` is what is tested
fn batch<T: Float>(xs: &[[T; 2]], ys: &[Vec<T>]) -> T {
    let mut s = T::zero();
    for i in 0..xs.len() {
        let y;
        if xs[i][0] > xs[i][1] {
            y = xs[i][0] * ys[i][0];
        } else {
            y = xs[i][1];
        }
        s += y;
    }
    for row in xs.iter() {
        for &v in row.iter() {
            s += v * v;
        }
    }
    s
}

#[test]
fn batches_of_rows() {
    let xs = [[1.0, 0.5], [0.2, 3.0]];
    let ys = [vec![4.0], vec![5.0]];
    let (v, (dxs, dys)): (f64, (Vec<[f64; 2]>, Vec<Vec<f64>>)) = batch_grad(&xs, &ys);
    assert!(close(v, 17.29, 1e-12));
    assert_eq!(dxs, vec![[6.0, 1.0], [0.4, 7.0]]);
    assert_eq!(dys, vec![vec![1.0], vec![0.0]]);
}

/// Arrays made inside a loop or a branch and only read there: each
/// iteration's array is kept for the backward (it was read from a name the
/// backward does not have).
#[differentiable]
#[allow(clippy::useless_vec)]
fn made_inside<T: Float>(points: &[[T; 2]], flag: bool) -> T {
    let mut s = T::zero();
    for k in 1..points.len() {
        let d = [
            points[k][0] - points[k - 1][0],
            points[k][1] - points[k - 1][1],
        ];
        s = s + d[0] * d[1] + (d[0] * d[0] + d[1] * d[1]).sqrt();
        let e = vec![points[k][0] * 2.0; 3];
        s = s + e[1] * e[2].sin();
    }
    if flag {
        let f = [points[0][0].exp(), points[0][1]];
        s = s * f[0] + f[1];
    }
    s
}

#[test]
fn arrays_made_inside_loops_and_branches() {
    fn check<T: Float + std::fmt::Display + std::fmt::Debug>(rng: &mut Rng) {
        let flat: Vec<T> = rng
            .point(8, -2.0, 2.0)
            .iter()
            .map(|&v| T::from(v).unwrap())
            .collect();
        let rows = |q: &[T]| q.chunks(2).map(|c| [c[0], c[1]]).collect::<Vec<_>>();
        for flag in [false, true] {
            let (v, g) = made_inside_grad(&rows(&flat), flag);
            assert_eq!(v, made_inside(&rows(&flat), flag));
            let f = |q: &[T]| made_inside(&rows(q), flag);
            assert_gradient("made_inside", f, &flat, &g.concat(), tolerance::<T>());
        }
    }
    let mut rng = Rng::new(12);
    for _ in 0..10 {
        check::<f64>(&mut rng);
        check::<f32>(&mut rng);
    }
}
