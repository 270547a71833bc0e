//! The vector toolkit: each operation against finite differences, and
//! against the same function written with loops in `#[differentiable]` code
//! (same gradient); and called from differentiable code.

// Written as users write it, indices included.
#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, close, tolerance, Rng};
use tapeless::{differentiable, Float};

fn all_close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| close(*x, *y, tol))
}

// Loop versions, differentiated by the macro.
#[differentiable]
fn dot_loops<T: Float>(a: &[T], b: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..a.len() {
        s += a[i] * b[i];
    }
    s
}

#[differentiable]
fn lse_loops<T: Float>(x: &[T]) -> T {
    let mut m = x[0];
    for &v in x {
        m = m.max(v);
    }
    let mut s = T::zero();
    for &v in x {
        s += (v - m).exp();
    }
    m + s.ln()
}

#[differentiable(wrt(s))]
fn hinge_loops<T: Float>(s: &[T], y: usize) -> T {
    let mut loss = T::zero();
    for j in 0..s.len() {
        if j != y {
            let margin = s[j] - s[y] + 1.0;
            if margin > 0.0 {
                loss += margin;
            }
        }
    }
    loss
}

#[test]
fn scalar_valued_operations() {
    let mut rng = Rng::new(81);
    for _ in 0..20 {
        let a = rng.point(5, -2.0, 2.0);
        let b = rng.point(5, -2.0, 2.0);
        let (v, (da, db)) = tapeless::dot_forward(&a, &b).pipe(|(v, back)| (v, back(1.0)));
        let (vl, (dal, dbl)) = dot_loops_grad(&a, &b);
        assert!(close(v, vl, 1e-14) && all_close(&da, &dal, 1e-14) && all_close(&db, &dbl, 1e-14));

        let (v, (dx,)) = tapeless::log_sum_exp_forward(&a).pipe(|(v, back)| (v, back(1.0)));
        let (vl, dxl) = lse_loops_grad(&a);
        assert!(close(v, vl, 1e-13) && all_close(&dx, &dxl, 1e-13));
        assert_gradient(
            "log_sum_exp",
            |q: &[f64]| tapeless::log_sum_exp(q),
            &a,
            &dx,
            tolerance::<f64>(),
        );

        let label = (rng.next_u64() % 5) as usize;
        let (_, (ds, ())) = tapeless::svm_hinge_forward(&a, label).pipe(|(v, back)| (v, back(1.0)));
        let (_, dsl) = hinge_loops_grad(&a, label);
        assert!(all_close(&ds, &dsl, 1e-14));

        let (_, (ds, ())) =
            tapeless::softmax_cross_entropy_forward(&a, label).pipe(|(v, back)| (v, back(1.0)));
        assert_gradient(
            "softmax_cross_entropy",
            |q: &[f64]| tapeless::softmax_cross_entropy(q, label),
            &a,
            &ds,
            tolerance::<f64>(),
        );

        let (_, (ds,)) = tapeless::sum_forward(&a).pipe(|(v, back)| (v, back(2.0)));
        assert_eq!(ds, vec![2.0; 5]);
    }
}

#[test]
fn vector_valued_operations() {
    let mut rng = Rng::new(82);
    for _ in 0..20 {
        let x = rng.point(4, -2.0, 2.0);
        let u = rng.point(4, -1.0, 1.0);
        // <u, f(x)> has gradient J^T u: the pullback of u.
        for (name, f, fwd) in [
            ("relu", tapeless::relu::<f64> as fn(&[f64]) -> Vec<f64>, 0),
            ("sigmoid", tapeless::sigmoid::<f64>, 1),
            ("softmax", tapeless::softmax::<f64>, 2),
        ] {
            let g = match fwd {
                0 => tapeless::relu_forward(&x).1(u.clone()).0,
                1 => tapeless::sigmoid_forward(&x).1(u.clone()).0,
                _ => tapeless::softmax_forward(&x).1(u.clone()).0,
            };
            let inner = |q: &[f64]| f(q).iter().zip(&u).map(|(a, b)| a * b).sum::<f64>();
            assert_gradient(name, inner, &x, &g, tolerance::<f64>());
        }
        // matvec: 3 x 4 matrix.
        let a = rng.point(12, -1.0, 1.0);
        let dy = rng.point(3, -1.0, 1.0);
        let (y, back) = tapeless::matvec_forward(&a, 3, 4, &x);
        assert_eq!(y.len(), 3);
        let (da, (), (), dx) = back(dy.clone());
        let mut point = a.clone();
        point.extend(&x);
        let grad: Vec<f64> = da.iter().chain(dx.iter()).copied().collect();
        let inner = |q: &[f64]| {
            tapeless::matvec(&q[..12], 3, 4, &q[12..])
                .iter()
                .zip(&dy)
                .map(|(a, b)| a * b)
                .sum::<f64>()
        };
        assert_gradient("matvec", inner, &point, &grad, tolerance::<f64>());
        // matmul: (2 x 3) (3 x 2), all edges, and (5 x 6) (6 x 7), blocks
        // of four and edges.
        for (n, k, m) in [(2, 3, 2), (5, 6, 7)] {
            let a = rng.point(n * k, -1.0, 1.0);
            let b = rng.point(k * m, -1.0, 1.0);
            let dc = rng.point(n * m, -1.0, 1.0);
            let (_, back) = tapeless::matmul_forward(&a, &b, n, k, m);
            let (da, db, (), (), ()) = back(dc.clone());
            let mut point = a.clone();
            point.extend(&b);
            let grad: Vec<f64> = da.iter().chain(db.iter()).copied().collect();
            let inner = |q: &[f64]| {
                tapeless::matmul(&q[..n * k], &q[n * k..], n, k, m)
                    .iter()
                    .zip(&dc)
                    .map(|(a, b)| a * b)
                    .sum::<f64>()
            };
            assert_gradient("matmul", inner, &point, &grad, tolerance::<f64>());
        }
    }
}

// Calling the toolkit from differentiable code: a two-layer net's loss.
#[differentiable(wrt(w1, w2))]
fn net_loss<T: Float>(w1: &[T], w2: &[T], x: &[T], label: usize, hidden: usize) -> T {
    let z: Vec<T> = tapeless::matvec(w1, hidden, x.len(), x);
    let h: Vec<T> = tapeless::relu(&z);
    let scores: Vec<T> = tapeless::matvec(w2, w2.len() / hidden, hidden, &h);
    tapeless::softmax_cross_entropy(&scores, label) + 0.01 * tapeless::dot(w1, w1)
}

#[differentiable(wrt(w1, w2))]
fn net_loss_loops<T: Float>(w1: &[T], w2: &[T], x: &[T], label: usize, hidden: usize) -> T {
    let d = x.len();
    let classes = w2.len() / hidden;
    let mut h = vec![T::zero(); hidden];
    for i in 0..hidden {
        let mut z = T::zero();
        for j in 0..d {
            z += w1[i * d + j] * x[j];
        }
        h[i] = z.max(0.0);
    }
    let mut scores = vec![T::zero(); classes];
    for c in 0..classes {
        for i in 0..hidden {
            scores[c] += w2[c * hidden + i] * h[i];
        }
    }
    let mut m = scores[0];
    for &s in scores.iter() {
        m = m.max(s);
    }
    let mut total = T::zero();
    for &s in scores.iter() {
        total += (s - m).exp();
    }
    let mut reg = T::zero();
    for &w in w1 {
        reg += w * w;
    }
    total.ln() + m - scores[label] + 0.01 * reg
}

#[test]
fn toolkit_from_differentiable_code() {
    let mut rng = Rng::new(83);
    for _ in 0..20 {
        let (d, hidden, classes) = (3, 4, 3);
        let w1 = rng.point(hidden * d, -1.0, 1.0);
        let w2 = rng.point(classes * hidden, -1.0, 1.0);
        let x = rng.point(d, -1.0, 1.0);
        let label = (rng.next_u64() % 3) as usize;
        let (v, (d1, d2)) = net_loss_grad(&w1, &w2, &x, label, hidden);
        let (vl, (d1l, d2l)) = net_loss_loops_grad(&w1, &w2, &x, label, hidden);
        assert!(close(v, vl, 1e-13));
        assert!(all_close(&d1, &d1l, 1e-12) && all_close(&d2, &d2l, 1e-12));
        let mut point = w1.clone();
        point.extend(&w2);
        let grad: Vec<f64> = d1.iter().chain(d2.iter()).copied().collect();
        let f = |q: &[f64]| net_loss(&q[..12], &q[12..], &x, label, hidden);
        assert_gradient("net_loss", f, &point, &grad, tolerance::<f64>());
    }
}

trait Pipe: Sized {
    fn pipe<R>(self, f: impl FnOnce(Self) -> R) -> R {
        f(self)
    }
}
impl<T> Pipe for T {}

// The array forms, called from differentiable code, against loops.
#[differentiable]
fn layers_array<T: Float>(w1: [[T; 3]; 2], w2: [[T; 2]; 2], x: [T; 3]) -> T {
    let h: [T; 2] = tapeless::matvec_array(&w1, &x);
    let p: [[T; 2]; 2] = tapeless::matmul_array(&w2, &w2);
    let mut s = T::zero();
    for i in 0..2 {
        for j in 0..2 {
            s += p[i][j] * h[j];
        }
    }
    s
}

#[test]
fn array_forms() {
    let mut rng = Rng::new(84);
    for _ in 0..20 {
        let q = rng.point(6 + 4 + 3, -1.0, 1.0);
        let w1 = [[q[0], q[1], q[2]], [q[3], q[4], q[5]]];
        let w2 = [[q[6], q[7]], [q[8], q[9]]];
        let x = [q[10], q[11], q[12]];
        let (_, (d1, d2, dx)) = layers_array_grad(w1, w2, x);
        let grad: Vec<f64> = d1
            .iter()
            .flatten()
            .chain(d2.iter().flatten())
            .chain(dx.iter())
            .copied()
            .collect();
        let f = |p: &[f64]| {
            layers_array(
                [[p[0], p[1], p[2]], [p[3], p[4], p[5]]],
                [[p[6], p[7]], [p[8], p[9]]],
                [p[10], p[11], p[12]],
            )
        };
        assert_gradient("layers_array", f, &q, &grad, tolerance::<f64>());
    }
}

// Every toolkit function against the same function written with loops,
// through a weighted sum so that the output's gradient is a random vector.
#[differentiable(wrt(x))]
fn through_toolkit<T: Float>(x: &[T], u: &[T], a: &[T], label: usize) -> T {
    let n = x.len();
    let r: Vec<T> = tapeless::relu(x);
    let s: Vec<T> = tapeless::sigmoid(x);
    let p: Vec<T> = tapeless::softmax(x);
    let y: Vec<T> = tapeless::matvec(a, n, n, x);
    let c: Vec<T> = tapeless::matmul(x, x, n, 1, n);
    let mut total = tapeless::sum(x)
        + tapeless::softmax_cross_entropy(x, label)
        + tapeless::svm_hinge(x, label);
    for i in 0..n {
        total += u[i] * (r[i] + s[i] * 2.0 + p[i] * 3.0 - y[i] + c[i * n + i] * 0.5);
    }
    total
}

#[differentiable(wrt(x))]
fn through_loops<T: Float>(x: &[T], u: &[T], a: &[T], label: usize) -> T {
    let n = x.len();
    let mut m = x[0];
    for &v in x {
        m = m.max(v);
    }
    let mut z = T::zero();
    for &v in x {
        z += (v - m).exp();
    }
    let lse = m + z.ln();
    let mut total = T::zero();
    for &v in x {
        total += v;
    }
    total += lse - x[label];
    for j in 0..n {
        if j != label {
            let margin = x[j] - x[label] + 1.0;
            if margin > 0.0 {
                total += margin;
            }
        }
    }
    for i in 0..n {
        let r = x[i].max(0.0);
        let s = 1.0 / (1.0 + (-x[i]).exp());
        let p = (x[i] - lse).exp();
        let mut y = T::zero();
        for j in 0..n {
            y += a[i * n + j] * x[j];
        }
        let c = x[i] * x[i];
        total += u[i] * (r + s * 2.0 + p * 3.0 - y + c * 0.5);
    }
    total
}

#[test]
fn each_toolkit_function_matches_its_loop_version() {
    let mut rng = Rng::new(85);
    for _ in 0..30 {
        let x = rng.point(4, -2.0, 2.0);
        let u = rng.point(4, -1.0, 1.0);
        let a = rng.point(16, -1.0, 1.0);
        let label = (rng.next_u64() % 4) as usize;
        let (v, g) = through_toolkit_grad(&x, &u, &a, label);
        let (vl, gl) = through_loops_grad(&x, &u, &a, label);
        assert!(close(v, vl, 1e-12), "{v} vs {vl}");
        assert!(all_close(&g, &gl, 1e-11), "{g:?} vs {gl:?}");
        assert_gradient(
            "through_toolkit",
            |q: &[f64]| through_toolkit(q, &u, &a, label),
            &x,
            &g,
            tolerance::<f64>(),
        );
    }
}
