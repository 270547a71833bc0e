//! The lecture's vectorized examples, written the way Rust users write them:
//! `||W x||^2` with its exact numbers, a two-layer ReLU net, a linear
//! classifier's multiclass SVM loss with L2 regularisation, and softmax
//! cross-entropy. Closed forms and finite differences, f64 and f32.

// The lecture's code indexes in loops; so do these tests.
#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, close, tolerance, Rng};
use tapeless::{differentiable, Float};

#[differentiable]
fn wx_norm<T: Float, const N: usize, const M: usize>(w: [[T; N]; M], x: [T; N]) -> T {
    let mut f = T::zero();
    for i in 0..M {
        let mut q = T::zero();
        for j in 0..N {
            q += w[i][j] * x[j];
        }
        f += q * q;
    }
    f
}

#[test]
fn wx_norm_known_answer() {
    let w = [[0.1, 0.5], [-0.3, 0.8]];
    let x = [0.2, 0.4];
    let (f, (dw, dx)) = wx_norm_grad(w, x);
    assert!(close(f, 0.116, 1e-12));
    let want_dw = [[0.088, 0.176], [0.104, 0.208]];
    for i in 0..2 {
        for j in 0..2 {
            assert!(
                close(dw[i][j], want_dw[i][j], 1e-12),
                "dW[{i}][{j}] = {}",
                dw[i][j]
            );
        }
    }
    assert!(
        close(dx[0], -0.112, 1e-12) && close(dx[1], 0.636, 1e-12),
        "{dx:?}"
    );
    // Gradients have the shapes of their variables.
    let _: ([[f32; 2]; 2], [f32; 2]) = wx_norm_grad([[0.1_f32, 0.5], [-0.3, 0.8]], [0.2, 0.4]).1;
}

// A two-layer net: f = w2 . max(0, W1 x).
#[differentiable]
fn two_layer<T: Float, const D: usize, const H: usize>(
    w1: [[T; D]; H],
    w2: [T; H],
    x: [T; D],
) -> T {
    let mut f = T::zero();
    for i in 0..H {
        let mut a = T::zero();
        for j in 0..D {
            a += w1[i][j] * x[j];
        }
        let h = a.max(0.0);
        f += w2[i] * h;
    }
    f
}

#[test]
fn two_layer_net() {
    let mut rng = Rng::new(51);
    for _ in 0..20 {
        let p = rng.point(4 * 3 + 4 + 3, -1.0, 1.0);
        let w1 = [
            [p[0], p[1], p[2]],
            [p[3], p[4], p[5]],
            [p[6], p[7], p[8]],
            [p[9], p[10], p[11]],
        ];
        let w2 = [p[12], p[13], p[14], p[15]];
        let x = [p[16], p[17], p[18]];
        let (_, (dw1, dw2, dx)) = two_layer_grad(w1, w2, x);
        // Closed form: dw2 = h, dW1[i][j] = w2[i] 1[a_i > 0] x[j], dx = W1^T (w2 * 1[a > 0]).
        for i in 0..4 {
            let a: f64 = (0..3).map(|j| w1[i][j] * x[j]).sum();
            assert!(close(dw2[i], a.max(0.0), 1e-14));
            for j in 0..3 {
                let want = if a > 0.0 { w2[i] * x[j] } else { 0.0 };
                assert!(close(dw1[i][j], want, 1e-14));
            }
        }
        for j in 0..3 {
            let want: f64 = (0..4)
                .map(|i| {
                    if (0..3).map(|k| w1[i][k] * x[k]).sum::<f64>() > 0.0 {
                        w1[i][j] * w2[i]
                    } else {
                        0.0
                    }
                })
                .sum();
            assert!(close(dx[j], want, 1e-13));
        }
        let flat: Vec<f64> = dw1
            .iter()
            .flatten()
            .chain(dw2.iter())
            .chain(dx.iter())
            .copied()
            .collect();
        let rebuild = |q: &[f64]| {
            let w1 = [
                [q[0], q[1], q[2]],
                [q[3], q[4], q[5]],
                [q[6], q[7], q[8]],
                [q[9], q[10], q[11]],
            ];
            two_layer(w1, [q[12], q[13], q[14], q[15]], [q[16], q[17], q[18]])
        };
        assert_gradient("two_layer", rebuild, &p, &flat, tolerance::<f64>());
    }
}

// A linear classifier's multiclass SVM loss, averaged over the batch, plus
// L2 regularisation; only the weights are differentiated.
#[differentiable(wrt(w))]
fn svm_loss<T: Float, const D: usize, const C: usize, const B: usize>(
    w: [[T; D]; C],
    x: [[T; D]; B],
    y: &[usize],
    reg: T,
) -> T {
    let mut loss = T::zero();
    for n in 0..B {
        let mut scores = [T::zero(); C];
        for c in 0..C {
            for d in 0..D {
                scores[c] += w[c][d] * x[n][d];
            }
        }
        let correct = scores[y[n]];
        for c in 0..C {
            if c == y[n] {
                continue;
            }
            loss += (scores[c] - correct + 1.0).max(0.0);
        }
    }
    loss = loss / T::from(B).unwrap();
    for c in 0..C {
        for d in 0..D {
            loss += reg * w[c][d] * w[c][d];
        }
    }
    loss
}

#[test]
fn svm_hinge_loss_with_l2() {
    let mut rng = Rng::new(52);
    for _ in 0..20 {
        let p = rng.point(3 * 4 + 5 * 4, -1.0, 1.0);
        let mut w = [[0.0; 4]; 3];
        let mut x = [[0.0; 4]; 5];
        for c in 0..3 {
            for d in 0..4 {
                w[c][d] = p[c * 4 + d];
            }
        }
        for n in 0..5 {
            for d in 0..4 {
                x[n][d] = p[12 + n * 4 + d];
            }
        }
        let y = [0, 2, 1, 1, 0];
        let reg = 0.1;
        let (_, dw) = svm_loss_grad(w, x, &y, reg);
        // Closed form (CS231n): violated margins push their class up and the correct one down.
        let mut want = [[0.0; 4]; 3];
        for n in 0..5 {
            let s: Vec<f64> = (0..3)
                .map(|c| (0..4).map(|d| w[c][d] * x[n][d]).sum())
                .collect();
            for c in 0..3 {
                if c != y[n] && s[c] - s[y[n]] + 1.0 > 0.0 {
                    for d in 0..4 {
                        want[c][d] += x[n][d] / 5.0;
                        want[y[n]][d] -= x[n][d] / 5.0;
                    }
                }
            }
        }
        for c in 0..3 {
            for d in 0..4 {
                want[c][d] += 2.0 * reg * w[c][d];
                assert!(
                    close(dw[c][d], want[c][d], 1e-13),
                    "dW[{c}][{d}] = {} vs {}",
                    dw[c][d],
                    want[c][d]
                );
            }
        }
        // And in f32, against finite differences.
        let w32 = w.map(|r| r.map(|v| v as f32));
        let x32 = x.map(|r| r.map(|v| v as f32));
        let (_, dw32) = svm_loss_grad(w32, x32, &y, 0.1);
        let flat: Vec<f32> = dw32.iter().flatten().copied().collect();
        let wflat: Vec<f32> = w32.iter().flatten().copied().collect();
        let f = |q: &[f32]| {
            let mut w = [[0.0; 4]; 3];
            for c in 0..3 {
                for d in 0..4 {
                    w[c][d] = q[c * 4 + d];
                }
            }
            svm_loss(w, x32, &y, 0.1)
        };
        assert_gradient("svm f32", f, &wflat, &flat, tolerance::<f32>());
    }
}

// Softmax cross-entropy of one example, numerically stable.
#[differentiable(wrt(scores))]
fn softmax_cross_entropy<T: Float>(scores: &[T], label: usize) -> T {
    let mut m = scores[0];
    for &s in scores.iter() {
        m = m.max(s);
    }
    let mut total = T::zero();
    for &s in scores.iter() {
        total += (s - m).exp();
    }
    total.ln() + m - scores[label]
}

#[test]
fn softmax_cross_entropy_gradient_is_p_minus_onehot() {
    let mut rng = Rng::new(53);
    for _ in 0..30 {
        let s = rng.point(5, -3.0, 3.0);
        let label = (rng.next_u64() % 5) as usize;
        let (loss, ds) = softmax_cross_entropy_grad(&s, label);
        let z: f64 = s.iter().map(|v| v.exp()).sum();
        assert!(close(loss, z.ln() - s[label], 1e-12));
        for j in 0..5 {
            let want = s[j].exp() / z - if j == label { 1.0 } else { 0.0 };
            assert!(close(ds[j], want, 1e-13), "{j}: {} vs {want}", ds[j]);
        }
        let s32: Vec<f32> = s.iter().map(|&v| v as f32).collect();
        let (_, ds32) = softmax_cross_entropy_grad(&s32, label);
        assert_gradient(
            "softmax CE f32",
            |q: &[f32]| softmax_cross_entropy(q, label),
            &s32,
            &ds32,
            tolerance::<f32>(),
        );
    }
}
