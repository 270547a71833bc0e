//! Loops whose iterations are independent terms of one sum (`loss += ..`
//! per data point, with inner loops) run each iteration's backward right
//! after its forward, in the forward pass, and keep one iteration's values
//! instead of a tape as long as the data (see "What the forward pass
//! stores"). Checked against finite differences in f64 and f32: the forms
//! that fuse (scratch arrays from before the loop overwritten per point,
//! `-=`, a sum in a branch or an inner loop, values and scalars from before
//! the loop, arrays kept whole and counters inside), and beside them loops
//! that must not fuse and still give the right gradient (a scratch array
//! read before it is overwritten, two sums, a sum read in the loop, an
//! array read after the loop). A loop without a tape fuses where every
//! gradient it sends out is a scalar's (a likelihood in its parameters).

#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

/// A mixture's log-likelihood in the ADBench style: scratch arrays from
/// before the loop, overwritten for each point and component.
#[differentiable(wrt(means, w))]
fn mixture<T: Float>(means: &[T], w: &[T], x: &[T], d: usize, gamma: T) -> T {
    let k = w.len();
    let n = x.len() / d;
    let scale = gamma * gamma;
    let mut terms = vec![T::zero(); k];
    let mut diff = vec![T::zero(); d];
    let mut total = T::zero();
    for i in 0..n {
        for j in 0..k {
            for l in 0..d {
                diff[l] = x[i * d + l] - means[j * d + l];
            }
            let mut sq = T::zero();
            for l in 0..d {
                sq += diff[l] * diff[l];
            }
            terms[j] = w[j] - scale * sq;
        }
        let mut mx = terms[0];
        for j in 1..k {
            mx = mx.max(terms[j]);
        }
        let mut se = T::zero();
        for j in 0..k {
            se += (terms[j] - mx).exp();
        }
        total += mx + se.ln();
    }
    total
}

/// A per-sample squared error of a small net, subtracted; the hidden layer
/// is made in the loop; the scalar `bias` comes from before it.
#[differentiable]
fn net_loss<T: Float>(w: &[Vec<T>], v: &[T], xs: &[Vec<T>], ys: &[T], b: T) -> T {
    let bias = b * 0.5;
    let mut loss = T::zero();
    for (x, &y) in xs.iter().zip(ys) {
        let mut h = vec![T::zero(); w.len()];
        for j in 0..w.len() {
            let mut s = bias;
            for i in 0..x.len() {
                s += w[j][i] * x[i];
            }
            h[j] = s.tanh();
        }
        let mut out = T::zero();
        for j in 0..h.len() {
            out += v[j] * h[j];
        }
        loss -= (out - y).powi(2);
    }
    -loss / T::from(ys.len()).unwrap()
}

/// The sum added in an inner loop and in a branch; a running index (a
/// counter) inside.
#[differentiable]
fn inner_sums<T: Float>(a: &[T], x: &[T], n: usize) -> T {
    let m = a.len();
    let mut s = T::zero();
    for i in 0..n {
        let mut idx = 0;
        for j in 0..m {
            s = s + a[idx] * (x[i] * a[j]).sin();
            idx += 1;
        }
        if x[i] > a[0] {
            s = (x[i] - a[0]).sqrt() + s;
        }
    }
    s
}

/// A scratch array read before the loop overwrites it: the values carry
/// from one point to the next, so the iterations are not independent.
#[differentiable]
fn carried<T: Float>(a: &[T], x: &[T]) -> T {
    let m = a.len();
    let mut state = vec![T::zero(); m];
    let mut s = T::zero();
    for i in 0..x.len() {
        let prev = state[0];
        for j in 0..m {
            state[j] = (a[j] * x[i] + prev).tanh();
        }
        for j in 0..m {
            s += state[j] * state[j];
        }
    }
    s
}

/// Two sums, a sum read in the loop, an array read after the loop.
#[differentiable]
fn not_fused<T: Float>(a: &[T], x: &[T]) -> T {
    let m = a.len();
    let (mut s, mut t) = (T::zero(), T::zero());
    for i in 0..x.len() {
        for j in 0..m {
            let e = (a[j] * x[i]).exp();
            s += e;
            t += e * e;
        }
    }
    let mut u = T::zero();
    for i in 0..x.len() {
        for j in 0..m {
            u = u * 0.5 + (a[j] - x[i]).powi(2);
        }
    }
    let mut last = vec![T::zero(); m];
    let mut v = T::zero();
    for i in 0..x.len() {
        for j in 0..m {
            last[j] = a[j] * x[i];
        }
        for j in 0..m {
            v += last[j].sin();
        }
    }
    s + t.sqrt() + u + v + last[0]
}

/// A caller: the fused callee's protocol differentiates every float,
/// the data and `gamma` included.
#[differentiable]
fn caller<T: Float>(means: &[T], w: &[T], x: &[T], gamma: T) -> T {
    let a = mixture(means, w, x, 2, gamma);
    let b = net_loss_row(w, x);
    a * a.sin() + b
}

/// A caller passing constant data: the fused callee's pullback is told
/// the data's gradient is not needed.
#[differentiable]
fn caller_const<T: Float>(means: &[T], w: &[T], gamma: T) -> T {
    let x = [
        T::from(0.1).unwrap(),
        T::from(-0.4).unwrap(),
        T::from(0.7).unwrap(),
        T::from(0.2).unwrap(),
    ];
    mixture(means, w, &x, 2, gamma).exp()
}

#[differentiable]
fn net_loss_row<T: Float>(v: &[T], x: &[T]) -> T {
    let mut loss = T::zero();
    for i in 0..x.len() {
        let mut h = vec![T::zero(); v.len()];
        for j in 0..v.len() {
            h[j] = (v[j] * x[i]).tanh();
        }
        for j in 0..v.len() {
            loss += h[j] * h[j];
        }
    }
    loss
}

fn rows<T: Float>(v: &[T], n: usize) -> Vec<Vec<T>> {
    v.chunks(n).map(|r| r.to_vec()).collect()
}

fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    for _ in 0..6 {
        // mixture: d = 2, k = 3, n = 5.
        let p: Vec<T> = cast(&rng.point(6 + 3, -1.0, 1.0));
        let x: Vec<T> = cast(&rng.point(10, -1.5, 1.5));
        let gamma = T::from(0.7).unwrap();
        let (_, (dm, dw)) = mixture_grad(&p[..6], &p[6..], &x, 2, gamma);
        let g: Vec<T> = dm.into_iter().chain(dw).collect();
        assert_gradient(
            "mixture",
            |q| mixture(&q[..6], &q[6..], &x, 2, gamma),
            &p,
            &g,
            tol,
        );

        // net_loss: 3 hidden, 2 inputs, 4 samples.
        let p: Vec<T> = cast(&rng.point(6 + 3 + 1, -1.0, 1.0));
        let xs = rows(&cast::<T>(&rng.point(8, -1.0, 1.0)), 2);
        let ys: Vec<T> = cast(&rng.point(4, -1.0, 1.0));
        let (_, (dw, dv, _, _, db)) = net_loss_grad(&rows(&p[..6], 2), &p[6..9], &xs, &ys, p[9]);
        let g: Vec<T> = dw.concat().into_iter().chain(dv).chain([db]).collect();
        assert_gradient(
            "net_loss",
            |q| net_loss(&rows(&q[..6], 2), &q[6..9], &xs, &ys, q[9]),
            &p,
            &g,
            tol,
        );

        // inner_sums: positive values keep the square root smooth.
        let p: Vec<T> = cast(&rng.point(3 + 4, 0.1, 1.0));
        let (_, (da, dx)) = inner_sums_grad(&p[..3], &p[3..], 4);
        let g: Vec<T> = da.into_iter().chain(dx).collect();
        let near_kink = p[3..]
            .iter()
            .any(|&xi| (xi - p[0]).abs() < T::from(0.05).unwrap());
        if !near_kink {
            assert_gradient(
                "inner_sums",
                |q| inner_sums(&q[..3], &q[3..], 4),
                &p,
                &g,
                tol,
            );
        }

        let p: Vec<T> = cast(&rng.point(4 + 2 + 6 + 1, -1.0, 1.0));
        let (_, (dm, dw, dx, dg)) = caller_grad(&p[..4], &p[4..6], &p[6..12], p[12]);
        let g: Vec<T> = dm.into_iter().chain(dw).chain(dx).chain([dg]).collect();
        assert_gradient(
            "caller",
            |q| caller(&q[..4], &q[4..6], &q[6..12], q[12]),
            &p,
            &g,
            tol,
        );

        let p: Vec<T> = cast(&rng.point(4 + 2 + 1, -0.5, 0.5));
        let (_, (dm, dw, dg)) = caller_const_grad(&p[..4], &p[4..6], p[6]);
        let g: Vec<T> = dm.into_iter().chain(dw).chain([dg]).collect();
        assert_gradient(
            "caller_const",
            |q| caller_const(&q[..4], &q[4..6], q[6]),
            &p,
            &g,
            tol,
        );

        let p: Vec<T> = cast(&rng.point(3 + 4, -1.0, 1.0));
        let (_, (da, dx)) = carried_grad(&p[..3], &p[3..]);
        let g: Vec<T> = da.into_iter().chain(dx).collect();
        assert_gradient("carried", |q| carried(&q[..3], &q[3..]), &p, &g, tol);

        let p: Vec<T> = cast(&rng.point(3 + 4, 0.2, 1.0));
        let (_, (da, dx)) = not_fused_grad(&p[..3], &p[3..]);
        let g: Vec<T> = da.into_iter().chain(dx).collect();
        assert_gradient("not_fused", |q| not_fused(&q[..3], &q[3..]), &p, &g, tol);
    }
}

#[test]
fn fused_loops_f64() {
    check::<f64>(&mut Rng::new(91));
}

#[test]
fn fused_loops_f32() {
    check::<f32>(&mut Rng::new(92));
}

/// The pullback may be called again and with any upstream gradient: the
/// sums the forward built are scaled, not spent.
#[test]
fn pullback_scales_and_repeats() {
    let means = [0.3, -0.2, 0.5, 0.1];
    let w = [0.2, -0.4];
    let x = [0.1, 0.4, -0.3, 0.8, 0.5, -0.6];
    let (_, back) = mixture_forward(&means, &w, &x, 2, 0.9);
    let (m1, w1) = back(1.0);
    let (m2, w2) = back(-2.5);
    let (m3, _) = back(1.0);
    for (a, b) in m1.iter().zip(&m2) {
        assert!((a * -2.5 - b).abs() < 1e-12);
    }
    for (a, b) in w1.iter().zip(&w2) {
        assert!((a * -2.5 - b).abs() < 1e-12);
    }
    assert_eq!(m1, m3);
    let (_, zero) = back(0.0);
    assert!(zero.iter().all(|&g| g == 0.0));
}

/// A Gaussian's negative log-likelihood in its two scalar parameters: no
/// tape, but every gradient the loop sends out is a scalar's, so each
/// point's backward runs right after its forward instead of a second pass
/// over the data that computes each `z` again.
#[differentiable(wrt(mu, log_sigma))]
fn gaussian<T: Float>(x: &[T], mu: T, log_sigma: T) -> T {
    let sigma = log_sigma.exp();
    let mut s = T::zero();
    for &v in x {
        let z = (v - mu) / sigma;
        s += 0.5 * z * z + log_sigma;
    }
    s
}

/// The same differentiated in the data too: the loop adds into an array,
/// so it is reversed as a second pass (not fused).
#[differentiable]
fn gaussian_all<T: Float>(x: &[T], mu: T, log_sigma: T) -> T {
    let sigma = log_sigma.exp();
    let mut s = T::zero();
    for &v in x {
        let z = (v - mu) / sigma;
        s += 0.5 * z * z + log_sigma;
    }
    s
}

/// A robust loss of a line's two parameters: a branch per point, a scalar
/// from before the loop, `-=`.
#[differentiable(wrt(a, b))]
fn robust_line<T: Float>(xs: &[T], ys: &[T], a: T, b: T, delta: T) -> T {
    let scale = a * a + 1.0;
    let mut loss = T::zero();
    for i in 0..xs.len() {
        let r = (ys[i] - a * xs[i] - b) / scale.sqrt();
        if r.abs() < delta {
            loss += r * r * 0.5;
        } else {
            loss -= delta * (0.5 * delta - r.abs());
        }
    }
    loss
}

fn check_scalars<T: Float + std::fmt::Display>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    for _ in 0..10 {
        let x: Vec<T> = cast(&rng.point(7, -2.0, 2.0));
        let p: Vec<T> = cast(&rng.point(3, -0.5, 0.5));
        let (_, (gm, gl)) = gaussian_grad(&x, p[0], p[1]);
        assert_gradient(
            "gaussian",
            |v: &[T]| gaussian(&x, v[0], v[1]),
            &p[..2],
            &[gm, gl],
            tol,
        );
        let (_, (gx, gm, gl)) = gaussian_all_grad(&x, p[0], p[1]);
        let mut all = x.clone();
        all.extend([p[0], p[1]]);
        let mut gall = gx.clone();
        gall.extend([gm, gl]);
        assert_gradient(
            "gaussian_all",
            |v: &[T]| gaussian_all(&v[..7], v[7], v[8]),
            &all,
            &gall,
            tol,
        );
        let ys: Vec<T> = x.iter().map(|&v| v * p[2] + p[0]).collect();
        let delta = T::from(0.3).unwrap();
        let (_, (ga, gb)) = robust_line_grad(&x, &ys, p[1], p[2], delta);
        assert_gradient(
            "robust_line",
            |v: &[T]| robust_line(&x, &ys, v[0], v[1], delta),
            &[p[1], p[2]],
            &[ga, gb],
            tol,
        );
    }
}

#[test]
fn fused_scalar_loops_f64() {
    check_scalars::<f64>(&mut Rng::new(95));
}

#[test]
fn fused_scalar_loops_f32() {
    check_scalars::<f32>(&mut Rng::new(96));
}

/// d/dmu = -sum z / sigma, d/dlog_sigma = sum (1 - z^2); the pullback
/// scales the sums the forward built, any number of times.
#[test]
fn gaussian_closed_form() {
    let x = [0.3, -1.2, 2.0, 0.7];
    let (mu, ls) = (0.4, -0.3);
    let sigma = f64::exp(ls);
    let z: Vec<f64> = x.iter().map(|v| (v - mu) / sigma).collect();
    let gm: f64 = -z.iter().sum::<f64>() / sigma;
    let gl: f64 = z.iter().map(|z| 1.0 - z * z).sum();
    let (v, back) = gaussian_forward(&x, mu, ls);
    assert!((v - gaussian(&x, mu, ls)).abs() < 1e-12);
    let (a, b) = back(1.0);
    assert!((a - gm).abs() < 1e-12 && (b - gl).abs() < 1e-12);
    let (a2, b2) = back(-3.0);
    assert!((a2 + 3.0 * gm).abs() < 1e-11 && (b2 + 3.0 * gl).abs() < 1e-11);
    assert_eq!(back(0.0), (0.0, 0.0));
    let (_, (_, a, b)) = gaussian_all_grad(&x, mu, ls);
    assert!((a - gm).abs() < 1e-12 && (b - gl).abs() < 1e-12);
}

/// A layer called per sample, a loss of its output: calls inside a fused
/// loop, their pullbacks run per sample.
#[differentiable]
fn dense<T: Float>(w: &[Vec<T>], x: &[T]) -> Vec<T> {
    let mut h = vec![T::zero(); w.len()];
    for j in 0..w.len() {
        for i in 0..x.len() {
            h[j] += w[j][i] * x[i];
        }
        h[j] = h[j].tanh();
    }
    h
}

#[differentiable]
fn sq<T: Float>(a: T) -> T {
    a * a
}

#[differentiable]
fn per_sample<T: Float>(w: &[Vec<T>], xs: &[Vec<T>], c: T) -> T {
    let mut loss = T::zero();
    for x in xs {
        let h: Vec<T> = dense(w, x);
        let mut t = T::zero();
        for j in 0..h.len() {
            t += sq(h[j] - c);
        }
        loss += t;
    }
    loss
}

fn check_calls<T: Float + std::fmt::Display>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    for _ in 0..6 {
        let p: Vec<T> = cast(&rng.point(6 + 1, -1.0, 1.0));
        let xs = rows(&cast::<T>(&rng.point(8, -1.0, 1.0)), 2);
        let (_, (dw, _, dc)) = per_sample_grad(&rows(&p[..6], 2), &xs, p[6]);
        let g: Vec<T> = dw.concat().into_iter().chain([dc]).collect();
        assert_gradient(
            "per_sample",
            |q| per_sample(&rows(&q[..6], 2), &xs, q[6]),
            &p,
            &g,
            tol,
        );
    }
}

#[test]
fn fused_calls_f64() {
    check_calls::<f64>(&mut Rng::new(93));
}

#[test]
fn fused_calls_f32() {
    check_calls::<f32>(&mut Rng::new(94));
}
