//! The workloads for two peers: the `reverse` crate (reverse mode on a
//! runtime tape) and `num-dual` (forward mode: one pass per input). Each
//! workload is written once over [`Num`], which both peers' number types
//! implement; data stays `f64`, as a user of either crate would keep it.

#![allow(clippy::needless_range_loop, clippy::too_many_arguments, dead_code)]

use num_dual::{Dual64, DualNum};
use reverse::{Gradient, Tape, Var};
use std::ops::{Add, Mul, Neg, Sub};

/// What the workloads need of a peer's number type.
pub trait Num:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Neg<Output = Self>
    + Add<f64, Output = Self>
    + Sub<f64, Output = Self>
    + Mul<f64, Output = Self>
    + PartialOrd
    + PartialOrd<f64>
{
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn recip(self) -> Self;
    fn max(self, other: Self) -> Self {
        if other > self {
            other
        } else {
            self
        }
    }
}

impl Num for Var<'_> {
    fn exp(self) -> Self {
        Var::exp(&self)
    }
    fn ln(self) -> Self {
        Var::ln(&self)
    }
    fn recip(self) -> Self {
        Var::recip(&self)
    }
}

impl Num for Dual64 {
    fn exp(self) -> Self {
        DualNum::exp(&self)
    }
    fn ln(self) -> Self {
        DualNum::ln(&self)
    }
    fn recip(self) -> Self {
        DualNum::recip(&self)
    }
}

// ---- the workloads, once for both peers -------------------------------------

pub fn neuron<N: Num>(p: &[N]) -> N {
    let dot = p[0] * p[1] + p[2] * p[3] + p[4];
    ((-dot).exp() + 1.0).recip()
}

pub fn rosenbrock<N: Num>(x: &[N]) -> N {
    let mut f = x[0] * 0.0;
    for i in 0..x.len() - 1 {
        let a = x[i + 1] - x[i] * x[i];
        let b = -x[i] + 1.0;
        f = f + a * a * 100.0 + b * b;
    }
    f
}

/// `p` is w1, b1, w2, b2 one after the other (the shapes of `mlp`).
pub fn mlp<N: Num>(p: &[N], x: &[f64], y: &[usize], reg: f64) -> N {
    use crate::workloads::{CLASSES as C, HIDDEN as H, INPUTS as D};
    let (w1, rest) = p.split_at(D * H);
    let (b1, rest) = rest.split_at(H);
    let (w2, b2) = rest.split_at(H * C);
    let zero = p[0] * 0.0;
    let mut loss = zero;
    let mut hid = [zero; H];
    let mut scores = [zero; C];
    for n in 0..y.len() {
        for j in 0..H {
            let mut a = b1[j];
            for i in 0..D {
                a = a + w1[i * H + j] * x[n * D + i];
            }
            hid[j] = if a > 0.0 { a } else { zero };
        }
        let mut m = b2[0];
        for k in 0..C {
            let mut s = b2[k];
            for j in 0..H {
                s = s + hid[j] * w2[j * C + k];
            }
            scores[k] = s;
            m = m.max(s);
        }
        let mut total = zero;
        for k in 0..C {
            total = total + (scores[k] - m).exp();
        }
        loss = loss + total.ln() + m - scores[y[n]];
    }
    let mut r = zero;
    for &w in w1.iter().chain(w2) {
        r = r + w * w;
    }
    loss * (1.0 / y.len() as f64) + r * (0.5 * reg)
}

pub fn svm<N: Num>(w: &[N], x: &[f64], y: &[usize], reg: f64) -> N {
    use crate::workloads::{CLASSES as C, INPUTS as D};
    let zero = w[0] * 0.0;
    let mut loss = zero;
    let mut scores = [zero; C];
    for n in 0..y.len() {
        for k in 0..C {
            let mut s = zero;
            for i in 0..D {
                s = s + w[i * C + k] * x[n * D + i];
            }
            scores[k] = s;
        }
        let correct = scores[y[n]];
        for k in 0..C {
            if k != y[n] {
                let margin = scores[k] - correct + 1.0;
                if margin > 0.0 {
                    loss = loss + margin;
                }
            }
        }
    }
    let mut r = zero;
    for &v in w {
        r = r + v * v;
    }
    loss * (1.0 / y.len() as f64) + r * reg
}

/// `p` is alphas, means, icf one after the other (the shapes of `gmm`).
pub fn gmm<N: Num>(p: &[N], k: usize, x: &[f64], d: usize, gamma: f64, m: f64, c: f64) -> N {
    let icf_sz = d * (d + 1) / 2;
    let (alphas, rest) = p.split_at(k);
    let (means, icf) = rest.split_at(k * d);
    let n = x.len() / d;
    let zero = p[0] * 0.0;
    let mut qdiags = vec![zero; k * d];
    let mut sum_qs = vec![zero; k];
    for j in 0..k {
        for l in 0..d {
            qdiags[j * d + l] = icf[j * icf_sz + l].exp();
            sum_qs[j] = sum_qs[j] + icf[j * icf_sz + l];
        }
    }
    let mut main_term = vec![zero; k];
    let mut qx = vec![zero; d];
    let mut slse = zero;
    for i in 0..n {
        for j in 0..k {
            for l in 0..d {
                qx[l] = qdiags[j * d + l] * (-means[j * d + l] + x[i * d + l]);
            }
            let mut idx = j * icf_sz + d;
            for a in 0..d {
                let xa = -means[j * d + a] + x[i * d + a];
                for b in a + 1..d {
                    qx[b] = qx[b] + icf[idx] * xa;
                    idx += 1;
                }
            }
            let mut sq = zero;
            for l in 0..d {
                sq = sq + qx[l] * qx[l];
            }
            main_term[j] = alphas[j] + sum_qs[j] - sq * 0.5;
        }
        let mut mx = main_term[0];
        for j in 1..k {
            mx = mx.max(main_term[j]);
        }
        let mut se = zero;
        for j in 0..k {
            se = se + (main_term[j] - mx).exp();
        }
        slse = slse + mx + se.ln();
    }
    let mut amax = alphas[0];
    for &a in alphas {
        amax = amax.max(a);
    }
    let mut asum = zero;
    for &a in alphas {
        asum = asum + (a - amax).exp();
    }
    let lse_alphas = amax + asum.ln();
    let mut prior = zero;
    for j in 0..k {
        let mut frob = zero;
        for l in 0..d {
            frob = frob + qdiags[j * d + l] * qdiags[j * d + l];
        }
        for l in d..icf_sz {
            frob = frob + icf[j * icf_sz + l] * icf[j * icf_sz + l];
        }
        prior = prior + frob * (0.5 * gamma * gamma) - sum_qs[j] * m;
    }
    slse - lse_alphas * n as f64 + prior + c
}

// ---- the two ways of taking a gradient --------------------------------------

/// Reverse mode with `reverse`: record on a tape, sweep it back once.
pub fn with_reverse(p: &[f64], f: impl for<'t> Fn(&[Var<'t>]) -> Var<'t>) -> (f64, Vec<f64>) {
    let tape = Tape::new();
    let vars = tape.add_vars(p);
    let out = f(&vars);
    (out.val(), out.grad().wrt(&vars))
}

/// Forward mode with `num-dual`: one pass per input, seeding its tangent.
pub fn with_num_dual(p: &[f64], f: impl Fn(&[Dual64]) -> Dual64) -> (f64, Vec<f64>) {
    let mut x: Vec<Dual64> = p.iter().map(|&v| Dual64::from(v)).collect();
    let mut value = 0.0;
    let mut grad = Vec::with_capacity(p.len());
    for i in 0..p.len() {
        x[i].eps = 1.0;
        let out = f(&x);
        x[i].eps = 0.0;
        value = out.re;
        grad.push(out.eps);
    }
    (value, grad)
}
