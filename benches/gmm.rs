//! The ADBench Gaussian mixture objective (Srajer, Kukelova, Fitzgibbon 2018),
//! three ways: `#[differentiable]`, a gradient written by hand in the
//! lecture's style, and the primal (the user's fn itself, called with f64).
//!
//! Parameters, flat row-major slices as the ADBench C++ code has them:
//! `alphas` (k), `means` (k x d), `icf` (k x (d + d(d-1)/2)): per component
//! the logs of Q's diagonal, then Q's strictly lower triangle column by
//! column. Q is the Cholesky factor of the inverse covariance.
//!
//! err = -nd/2 ln 2pi + sum_i logsumexp_k(alpha_k + sum(log Qdiag_k)
//!       - |Q_k (x_i - mu_k)|^2 / 2) - n logsumexp(alpha)
//!       + sum_k (gamma^2/2 |Q_k|_F^2 - m sum(log Qdiag_k)) - k C(gamma, m, d).

#![allow(clippy::needless_range_loop, clippy::too_many_arguments, dead_code)]

use tapeless::{differentiable, Float};

/// The objective. `constant` holds the terms without parameters (the
/// Gaussian normaliser and the Wishart normaliser, which needs lgamma).
#[differentiable(wrt(alphas, means, icf))]
pub fn gmm<T: Float>(
    alphas: &[T],
    means: &[T],
    icf: &[T],
    x: &[T],
    d: usize,
    gamma: T,
    m: T,
    constant: T,
) -> T {
    let k = alphas.len();
    let n = x.len() / d;
    let icf_sz = d * (d + 1) / 2;
    // Q's diagonal and the sum of its logs, per component.
    let mut qdiags = vec![T::zero(); k * d];
    let mut sum_qs = vec![T::zero(); k];
    for j in 0..k {
        let mut s = T::zero();
        for l in 0..d {
            let li = icf[j * icf_sz + l];
            qdiags[j * d + l] = li.exp();
            s += li;
        }
        sum_qs[j] = s;
    }
    let mut main_term = vec![T::zero(); k];
    let mut qx = vec![T::zero(); d];
    let mut slse = T::zero();
    for i in 0..n {
        for j in 0..k {
            // qx = Q_j (x_i - mu_j), Q_j lower triangular.
            for l in 0..d {
                qx[l] = qdiags[j * d + l] * (x[i * d + l] - means[j * d + l]);
            }
            let mut idx = j * icf_sz + d;
            for a in 0..d {
                let xa = x[i * d + a] - means[j * d + a];
                for b in a + 1..d {
                    qx[b] = qx[b] + icf[idx] * xa;
                    idx += 1;
                }
            }
            let mut sq = T::zero();
            for l in 0..d {
                sq += qx[l] * qx[l];
            }
            main_term[j] = alphas[j] + sum_qs[j] - 0.5 * sq;
        }
        let mut mx = main_term[0];
        for j in 1..k {
            mx = mx.max(main_term[j]);
        }
        let mut se = T::zero();
        for j in 0..k {
            se += (main_term[j] - mx).exp();
        }
        slse += mx + se.ln();
    }
    // n logsumexp(alphas)
    let mut amax = alphas[0];
    for &a in alphas {
        amax = amax.max(a);
    }
    let mut asum = T::zero();
    for &a in alphas {
        asum += (a - amax).exp();
    }
    let lse_alphas = amax + asum.ln();
    // Wishart prior.
    let mut prior = T::zero();
    for j in 0..k {
        let mut frob = T::zero();
        for l in 0..d {
            frob += qdiags[j * d + l] * qdiags[j * d + l];
        }
        for l in d..icf_sz {
            frob += icf[j * icf_sz + l] * icf[j * icf_sz + l];
        }
        prior += 0.5 * gamma * gamma * frob - m * sum_qs[j];
    }
    constant + slse - T::from(n).unwrap() * lse_alphas + prior
}

/// Gradients of alphas, means and icf.
pub type GmmGradient = (Vec<f64>, Vec<f64>, Vec<f64>);

/// The gradient by hand: the forward stores each component's qx, the
/// centred point and the softmax weights; the backward applies the chain rule
/// in reverse.
pub fn gmm_hand(
    alphas: &[f64],
    means: &[f64],
    icf: &[f64],
    x: &[f64],
    d: usize,
    gamma: f64,
    m: f64,
    constant: f64,
) -> (f64, GmmGradient) {
    let k = alphas.len();
    let n = x.len() / d;
    let icf_sz = d * (d + 1) / 2;
    let mut dalphas = vec![0.0; k];
    let mut dmeans = vec![0.0; k * d];
    let mut dicf = vec![0.0; k * icf_sz];
    let mut qdiags = vec![0.0; k * d];
    let mut sum_qs = vec![0.0; k];
    for j in 0..k {
        for l in 0..d {
            qdiags[j * d + l] = icf[j * icf_sz + l].exp();
            sum_qs[j] += icf[j * icf_sz + l];
        }
    }
    // Upstream gradients of Q's diagonal and of sum(log Qdiag), gathered
    // over the data and applied to icf once at the end.
    let mut dqdiags = vec![0.0; k * d];
    let mut dsum_qs = vec![0.0; k];
    let mut xc = vec![0.0; k * d];
    let mut qx = vec![0.0; k * d];
    let mut main_term = vec![0.0; k];
    let mut slse = 0.0;
    for i in 0..n {
        let xi = &x[i * d..(i + 1) * d];
        // forward: keep xc and qx of every component of this point.
        for j in 0..k {
            let (xcj, qxj) = (&mut xc[j * d..(j + 1) * d], &mut qx[j * d..(j + 1) * d]);
            let lt = &icf[j * icf_sz + d..(j + 1) * icf_sz];
            for l in 0..d {
                xcj[l] = xi[l] - means[j * d + l];
                qxj[l] = qdiags[j * d + l] * xcj[l];
            }
            let mut idx = 0;
            for a in 0..d {
                for b in a + 1..d {
                    qxj[b] += lt[idx] * xcj[a];
                    idx += 1;
                }
            }
            let sq: f64 = qxj.iter().map(|v| v * v).sum();
            main_term[j] = alphas[j] + sum_qs[j] - 0.5 * sq;
        }
        let mx = main_term.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        let se: f64 = main_term.iter().map(|t| (t - mx).exp()).sum();
        let lse = mx + se.ln();
        slse += lse;
        // backward: d lse / d main_term = softmax.
        for j in 0..k {
            let w = (main_term[j] - lse).exp();
            dalphas[j] += w;
            dsum_qs[j] += w;
            // main_term = ... - |qx|^2 / 2  =>  dqx = -w qx
            let (xcj, qxj) = (&xc[j * d..(j + 1) * d], &qx[j * d..(j + 1) * d]);
            let lt = &icf[j * icf_sz + d..(j + 1) * icf_sz];
            let dlt = &mut dicf[j * icf_sz + d..(j + 1) * icf_sz];
            let dmj = &mut dmeans[j * d..(j + 1) * d];
            // qx[b] = qdiag[b] xc[b] + sum_{a<b} L[b,a] xc[a]
            for l in 0..d {
                let dq = -w * qxj[l];
                dqdiags[j * d + l] += dq * xcj[l];
                dmj[l] -= qdiags[j * d + l] * dq;
            }
            let mut idx = 0;
            for a in 0..d {
                for b in a + 1..d {
                    let dq = -w * qxj[b];
                    dlt[idx] += dq * xcj[a];
                    dmj[a] -= lt[idx] * dq;
                    idx += 1;
                }
            }
        }
    }
    let amax = alphas.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let asum: f64 = alphas.iter().map(|a| (a - amax).exp()).sum();
    let lse_alphas = amax + asum.ln();
    let nf = n as f64;
    for j in 0..k {
        dalphas[j] -= nf * (alphas[j] - lse_alphas).exp();
    }
    let mut prior = 0.0;
    let g2 = gamma * gamma;
    for j in 0..k {
        let mut frob = 0.0;
        for l in 0..d {
            let q = qdiags[j * d + l];
            frob += q * q;
            // d/dq (g2/2 q^2) = g2 q
            dqdiags[j * d + l] += g2 * q;
        }
        for l in d..icf_sz {
            let v = icf[j * icf_sz + l];
            frob += v * v;
            dicf[j * icf_sz + l] += g2 * v;
        }
        prior += 0.5 * g2 * frob - m * sum_qs[j];
        dsum_qs[j] -= m;
        // qdiag = exp(icf), sum_qs = sum(icf[..d])
        for l in 0..d {
            dicf[j * icf_sz + l] += dqdiags[j * d + l] * qdiags[j * d + l] + dsum_qs[j];
        }
    }
    (
        constant + slse - nf * lse_alphas + prior,
        (dalphas, dmeans, dicf),
    )
}

/// One GMM problem: parameters and data, generated from a seed.
pub struct GmmData {
    pub d: usize,
    pub k: usize,
    pub alphas: Vec<f64>,
    pub means: Vec<f64>,
    pub icf: Vec<f64>,
    pub x: Vec<f64>,
    pub gamma: f64,
    pub m: f64,
    pub constant: f64,
}

impl GmmData {
    /// The bench's problem of `d` dimensions, `k` components, `n` points.
    pub fn new(d: usize, k: usize, n: usize, seed: u64) -> GmmData {
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let icf_sz = d * (d + 1) / 2;
        let alphas = (0..k).map(|_| next() * 2.0 - 1.0).collect();
        let means = (0..k * d).map(|_| next() * 4.0 - 2.0).collect();
        let icf = (0..k * icf_sz).map(|_| next() - 0.5).collect();
        let x = (0..n * d).map(|_| next() * 4.0 - 2.0).collect();
        let (gamma, m) = (1.0, 0.0);
        // -nd/2 ln(2 pi) - k C, C = nw d (ln gamma - ln 2 / 2) - ln Gamma_d(nw / 2)
        let nw = d as f64 + m + 1.0;
        let log_gamma_d = 0.25 * (d * (d - 1)) as f64 * std::f64::consts::PI.ln()
            + (1..=d)
                .map(|j| ln_gamma(0.5 * nw + 0.5 * (1.0 - j as f64)))
                .sum::<f64>();
        let c = nw * d as f64 * (gamma.ln() - 0.5 * 2f64.ln()) - log_gamma_d;
        let constant = -((n * d) as f64) * 0.5 * (2.0 * std::f64::consts::PI).ln() - k as f64 * c;
        GmmData {
            d,
            k,
            alphas,
            means,
            icf,
            x,
            gamma,
            m,
            constant,
        }
    }
}

/// ln Gamma(x) for x > 0 (Lanczos, g = 7), for the Wishart normaliser.
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let mut a = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}
