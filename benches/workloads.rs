//! The standard workloads, each three ways: the `#[differentiable]` fn's
//! generated gradient, a gradient written by hand in the lecture's style
//! (forward stores, backward applies the chain rule), and the plain primal.
//! Shared by `benches/gradients.rs` and `tests/workloads.rs`, which checks
//! the hand-written gradients against finite differences.

#![allow(clippy::needless_range_loop, dead_code)]

use tapeless::{differentiable, Float};

// ---- neuron: the lecture's sigmoid neuron, 5 inputs ----------------------------

#[differentiable]
pub fn neuron<T: Float>(w0: T, x0: T, w1: T, x1: T, w2: T) -> T {
    let dot = w0 * x0 + w1 * x1 + w2;
    1.0 / (1.0 + (-dot).exp())
}

/// By hand: forward keeps f, backward uses df/ddot = f (1 - f).
pub fn neuron_hand(w0: f64, x0: f64, w1: f64, x1: f64, w2: f64) -> (f64, [f64; 5]) {
    let dot = w0 * x0 + w1 * x1 + w2;
    let f = 1.0 / (1.0 + (-dot).exp());
    let ddot = (1.0 - f) * f;
    (f, [x0 * ddot, w0 * ddot, x1 * ddot, w1 * ddot, ddot])
}

// ---- rosenbrock: n = 1000 ------------------------------------------------------

#[differentiable]
pub fn rosenbrock<T: Float>(x: &[T]) -> T {
    let mut f = T::zero();
    for i in 0..x.len() - 1 {
        let a = x[i + 1] - x[i] * x[i];
        let b = 1.0 - x[i];
        f += 100.0 * a * a + b * b;
    }
    f
}

pub fn rosenbrock_primal(x: &[f64]) -> f64 {
    let mut f = 0.0;
    for i in 0..x.len() - 1 {
        let a = x[i + 1] - x[i] * x[i];
        let b = 1.0 - x[i];
        f += 100.0 * a * a + b * b;
    }
    f
}

pub fn rosenbrock_hand(x: &[f64], grad: &mut [f64]) -> f64 {
    let mut f = 0.0;
    grad.iter_mut().for_each(|g| *g = 0.0);
    for i in 0..x.len() - 1 {
        let a = x[i + 1] - x[i] * x[i];
        let b = 1.0 - x[i];
        f += 100.0 * a * a + b * b;
        // d/da (100 a^2) = 200 a; a depends on x[i+1] (+1) and x[i] (-2 x[i]).
        grad[i + 1] += 200.0 * a;
        grad[i] += -400.0 * a * x[i] - 2.0 * b;
    }
    f
}

/// The same gradient as a careful person tunes it: the term for `x[i + 1]`
/// waits in a local for the next iteration instead of being added into
/// memory (LLVM pairs the two adds above into one vector add, whose load then
/// stalls on the overlapping store of the iteration before).
pub fn rosenbrock_hand_carry(x: &[f64], grad: &mut [f64]) -> f64 {
    let n = x.len();
    let mut f = 0.0;
    let mut next = 0.0;
    for i in 0..n - 1 {
        let a = x[i + 1] - x[i] * x[i];
        let b = 1.0 - x[i];
        f += 100.0 * a * a + b * b;
        grad[i] = next - 400.0 * a * x[i] - 2.0 * b;
        next = 200.0 * a;
    }
    grad[n - 1] = next;
    f
}

// ---- mlp: batch 32, 64 inputs, 128 hidden (ReLU), 10 classes, softmax CE + L2 --

pub const BATCH: usize = 32;
pub const INPUTS: usize = 64;
pub const HIDDEN: usize = 128;
pub const CLASSES: usize = 10;

/// W1 is INPUTS x HIDDEN, W2 is HIDDEN x CLASSES, X is BATCH x INPUTS; all
/// row-major slices, written with loops.
#[differentiable(wrt(w1, b1, w2, b2))]
#[allow(clippy::too_many_arguments)]
pub fn mlp<T: Float>(w1: &[T], b1: &[T], w2: &[T], b2: &[T], x: &[T], y: &[usize], reg: T) -> T {
    let (d, h, c) = (64, 128, 10);
    let batch = y.len();
    let mut loss = T::zero();
    for n in 0..batch {
        let mut hid = vec![T::zero(); h];
        for j in 0..h {
            let mut a = b1[j];
            for i in 0..d {
                a += x[n * d + i] * w1[i * h + j];
            }
            hid[j] = a.max(0.0);
        }
        let mut scores = vec![T::zero(); c];
        let mut m = T::neg_infinity();
        for k in 0..c {
            let mut s = b2[k];
            for j in 0..h {
                s += hid[j] * w2[j * c + k];
            }
            scores[k] = s;
            m = m.max(s);
        }
        let mut total = T::zero();
        for k in 0..c {
            total += (scores[k] - m).exp();
        }
        loss += total.ln() + m - scores[y[n]];
    }
    let mut r = T::zero();
    for &w in w1 {
        r += w * w;
    }
    for &w in w2 {
        r += w * w;
    }
    loss / T::from(batch).unwrap() + 0.5 * reg * r
}

/// The same net with the toolkit's matrix products and losses.
#[differentiable(wrt(w1, b1, w2, b2))]
#[allow(clippy::too_many_arguments)]
pub fn mlp_toolkit<T: Float>(
    w1: &[T],
    b1: &[T],
    w2: &[T],
    b2: &[T],
    x: &[T],
    y: &[usize],
    reg: T,
) -> T {
    let (d, h, c) = (64, 128, 10);
    let batch = y.len();
    let z: Vec<T> = tapeless::matmul(x, w1, batch, d, h);
    let mut a = vec![T::zero(); batch * h];
    for n in 0..batch {
        for j in 0..h {
            a[n * h + j] = z[n * h + j] + b1[j];
        }
    }
    let hid: Vec<T> = tapeless::relu(&a);
    let s: Vec<T> = tapeless::matmul(&hid, w2, batch, h, c);
    let mut scores = vec![T::zero(); batch * c];
    for n in 0..batch {
        for k in 0..c {
            scores[n * c + k] = s[n * c + k] + b2[k];
        }
    }
    let mut loss = T::zero();
    let mut row = vec![T::zero(); c];
    for n in 0..batch {
        for k in 0..c {
            row[k] = scores[n * c + k];
        }
        loss += tapeless::softmax_cross_entropy(&row, y[n]);
    }
    loss / T::from(batch).unwrap() + 0.5 * reg * (tapeless::dot(w1, w1) + tapeless::dot(w2, w2))
}

/// The gradients of the mlp's parameters.
pub struct MlpGrads {
    pub w1: Vec<f64>,
    pub b1: Vec<f64>,
    pub w2: Vec<f64>,
    pub b2: Vec<f64>,
}

/// By hand, in the lecture's style: the forward keeps the hidden layer and
/// the probabilities; the backward runs the chain rule layer by layer.
pub fn mlp_hand(
    w1: &[f64],
    b1: &[f64],
    w2: &[f64],
    b2: &[f64],
    x: &[f64],
    y: &[usize],
    reg: f64,
) -> (f64, MlpGrads) {
    let (d, h, c) = (INPUTS, HIDDEN, CLASSES);
    let batch = y.len();
    let mut hid = vec![0.0; batch * h];
    let mut probs = vec![0.0; batch * c];
    let mut loss = 0.0;
    for n in 0..batch {
        for j in 0..h {
            let mut a = b1[j];
            for i in 0..d {
                a += x[n * d + i] * w1[i * h + j];
            }
            hid[n * h + j] = a.max(0.0);
        }
        let mut m = f64::NEG_INFINITY;
        for k in 0..c {
            let mut s = b2[k];
            for j in 0..h {
                s += hid[n * h + j] * w2[j * c + k];
            }
            probs[n * c + k] = s;
            m = m.max(s);
        }
        let mut total = 0.0;
        for k in 0..c {
            let e = (probs[n * c + k] - m).exp();
            probs[n * c + k] = e;
            total += e;
        }
        for k in 0..c {
            probs[n * c + k] /= total;
        }
        loss -= probs[n * c + y[n]].ln();
    }
    let r: f64 = w1.iter().map(|w| w * w).sum::<f64>() + w2.iter().map(|w| w * w).sum::<f64>();
    let loss = loss / batch as f64 + 0.5 * reg * r;

    let mut g = MlpGrads {
        w1: vec![0.0; d * h],
        b1: vec![0.0; h],
        w2: vec![0.0; h * c],
        b2: vec![0.0; c],
    };
    let scale = 1.0 / batch as f64;
    let mut dhid = vec![0.0; h];
    for n in 0..batch {
        dhid.iter_mut().for_each(|v| *v = 0.0);
        for k in 0..c {
            let ds = (probs[n * c + k] - if k == y[n] { 1.0 } else { 0.0 }) * scale;
            g.b2[k] += ds;
            for j in 0..h {
                g.w2[j * c + k] += hid[n * h + j] * ds;
                dhid[j] += w2[j * c + k] * ds;
            }
        }
        for j in 0..h {
            if hid[n * h + j] <= 0.0 {
                continue;
            }
            let da = dhid[j];
            g.b1[j] += da;
            for i in 0..d {
                g.w1[i * h + j] += x[n * d + i] * da;
            }
        }
    }
    for (gw, w) in g.w1.iter_mut().zip(w1) {
        *gw += reg * w;
    }
    for (gw, w) in g.w2.iter_mut().zip(w2) {
        *gw += reg * w;
    }
    (loss, g)
}

pub fn mlp_primal(
    w1: &[f64],
    b1: &[f64],
    w2: &[f64],
    b2: &[f64],
    x: &[f64],
    y: &[usize],
    reg: f64,
) -> f64 {
    mlp(w1, b1, w2, b2, x, y, reg)
}

// ---- svm: batch 32, 64 inputs, 10 classes, multiclass hinge + L2 -------------

/// W is INPUTS x CLASSES, row-major.
#[differentiable(wrt(w))]
pub fn svm<T: Float>(w: &[T], x: &[T], y: &[usize], reg: T) -> T {
    let (d, c) = (64, 10);
    let batch = y.len();
    let mut loss = T::zero();
    let mut scores = vec![T::zero(); c];
    for n in 0..batch {
        for k in 0..c {
            let mut s = T::zero();
            for i in 0..d {
                s += x[n * d + i] * w[i * c + k];
            }
            scores[k] = s;
        }
        let correct = scores[y[n]];
        for k in 0..c {
            if k != y[n] {
                let margin = scores[k] - correct + 1.0;
                if margin > 0.0 {
                    loss += margin;
                }
            }
        }
    }
    let mut r = T::zero();
    for &v in w {
        r += v * v;
    }
    loss / T::from(batch).unwrap() + reg * r
}

pub fn svm_hand(w: &[f64], x: &[f64], y: &[usize], reg: f64) -> (f64, Vec<f64>) {
    let (d, c) = (INPUTS, CLASSES);
    let batch = y.len();
    let mut loss = 0.0;
    let mut dw = vec![0.0; d * c];
    let mut scores = vec![0.0; c];
    let scale = 1.0 / batch as f64;
    for n in 0..batch {
        for k in 0..c {
            let mut s = 0.0;
            for i in 0..d {
                s += x[n * d + i] * w[i * c + k];
            }
            scores[k] = s;
        }
        let correct = scores[y[n]];
        for k in 0..c {
            if k != y[n] {
                let margin = scores[k] - correct + 1.0;
                if margin > 0.0 {
                    loss += margin;
                    for i in 0..d {
                        dw[i * c + k] += x[n * d + i] * scale;
                        dw[i * c + y[n]] -= x[n * d + i] * scale;
                    }
                }
            }
        }
    }
    let r: f64 = w.iter().map(|v| v * v).sum();
    for (g, v) in dw.iter_mut().zip(w) {
        *g += 2.0 * reg * v;
    }
    (loss * scale + reg * r, dw)
}

pub fn svm_primal(w: &[f64], x: &[f64], y: &[usize], reg: f64) -> f64 {
    svm(w, x, y, reg)
}

// ---- k-means: 500 points in 2-D, 8 centres (beyond the five) --------

/// k-means' objective: each point's squared distance to its nearest centre.
#[differentiable]
pub fn kmeans<T: Float>(pts: &[[T; 2]], c: &[[T; 2]]) -> T {
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

/// Gradients of the points and of the centres.
pub type KmeansGradient = (Vec<[f64; 2]>, Vec<[f64; 2]>);

/// By hand: the forward keeps each point's nearest centre, the backward
/// sends `2 (p - q)` to the point and its negative to that centre.
pub fn kmeans_hand(pts: &[[f64; 2]], c: &[[f64; 2]]) -> (f64, KmeansGradient) {
    let mut total = 0.0;
    let mut dp = vec![[0.0; 2]; pts.len()];
    let mut dc = vec![[0.0; 2]; c.len()];
    for (n, p) in pts.iter().enumerate() {
        let (mut best, mut arg) = (f64::INFINITY, None);
        for (k, q) in c.iter().enumerate() {
            let d = (p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2);
            if d < best {
                best = d;
                arg = Some(k);
            }
        }
        total += best;
        if let Some(k) = arg {
            let g = [2.0 * (p[0] - c[k][0]), 2.0 * (p[1] - c[k][1])];
            dp[n] = g;
            dc[k][0] -= g[0];
            dc[k][1] -= g[1];
        }
    }
    (total, (dp, dc))
}

/// Seeded data for the benches and tests.
pub struct Data {
    pub w1: Vec<f64>,
    pub b1: Vec<f64>,
    pub w2: Vec<f64>,
    pub b2: Vec<f64>,
    pub x: Vec<f64>,
    pub y: Vec<usize>,
    pub w_svm: Vec<f64>,
    pub rosen: Vec<f64>,
    pub points: Vec<[f64; 2]>,
    pub centres: Vec<[f64; 2]>,
}

pub fn data() -> Data {
    let mut state = 0x1234_5678_u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    };
    let mut v = |n: usize, s: f64| (0..n).map(|_| next() * s).collect::<Vec<f64>>();
    let w1 = v(INPUTS * HIDDEN, 0.1);
    let b1 = v(HIDDEN, 0.1);
    let w2 = v(HIDDEN * CLASSES, 0.1);
    let b2 = v(CLASSES, 0.1);
    let x = v(BATCH * INPUTS, 1.0);
    let w_svm = v(INPUTS * CLASSES, 0.1);
    let rosen = v(1000, 1.5);
    let pairs = |v: Vec<f64>| v.chunks(2).map(|p| [p[0], p[1]]).collect::<Vec<_>>();
    let points = pairs(v(1000, 2.0));
    let centres = pairs(v(16, 2.0));
    let y = (0..BATCH).map(|i| (i * 7) % CLASSES).collect();
    Data {
        w1,
        b1,
        w2,
        b2,
        x,
        y,
        w_svm,
        rosen,
        points,
        centres,
    }
}
