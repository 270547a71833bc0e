//! The lecture's vectorized example, `f(x, W) = ||W x||^2`, differentiated
//! by generated code: the forward values, the gradients, and a check that
//! every gradient has the shape of its variable.
//!
//! Run with `cargo run --release --example vectorized`.

// Written with indices, as in the lecture.
#![allow(clippy::needless_range_loop)]

use tapeless::{check_gradient, differentiable, Float};

/// `f(x, W) = sum_i (W x)_i^2`, written with loops as in the lecture.
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

/// The same function with the intermediate `q = W x` as a vector output, to
/// show the gradient arriving at `q`.
#[differentiable]
fn matvec<T: Float, const N: usize, const M: usize>(w: [[T; N]; M], x: [T; N]) -> [T; M] {
    let mut q = [T::zero(); M];
    for i in 0..M {
        for j in 0..N {
            q[i] += w[i][j] * x[j];
        }
    }
    q
}

fn shape_of<const N: usize, const M: usize>(_: &[[f64; N]; M]) -> String {
    format!("{M}x{N}")
}

fn main() {
    let w = [[0.1, 0.5], [-0.3, 0.8]];
    let x = [0.2, 0.4];
    println!("f(x, W) = ||W x||^2   with W = {w:?}, x = {x:?}\n");

    // Forward, through the intermediate q = W x.
    let (q, matvec_back) = matvec_forward(w, x);
    let f = wx_norm(w, x);
    println!("forward:  q = W x = [{:.3}, {:.3}]", q[0], q[1]);
    println!("          f = q . q = {f:.3}");

    // Backward: df/dq = 2 q, then through the matrix-vector product.
    let dq = [2.0 * q[0], 2.0 * q[1]];
    let (dw, dx) = matvec_back(dq);
    println!("backward: df/dq = 2 q = [{:.3}, {:.3}]", dq[0], dq[1]);
    println!(
        "          df/dW = 2 q x^T = [[{:.3}, {:.3}], [{:.3}, {:.3}]]",
        dw[0][0], dw[0][1], dw[1][0], dw[1][1]
    );
    println!("          df/dx = 2 W^T q = [{:.3}, {:.3}]", dx[0], dx[1]);

    // The whole function's gradient, in one call, agrees.
    let (value, (dw_whole, dx_whole)) = wx_norm_grad(w, x);
    assert!((value - f).abs() < 1e-15 && dw_whole == dw && dx_whole == dx);

    // Gradients always have the shape of their variable: the types say so,
    // and so do the values.
    let dw_shaped: [[f64; 2]; 2] = dw_whole;
    let dx_shaped: [f64; 2] = dx_whole;
    println!(
        "\nshapes:   W is {}, df/dW is {}; x has {}, df/dx has {}",
        shape_of(&w),
        shape_of(&dw_shaped),
        x.len(),
        dx_shaped.len()
    );

    let flat_w: Vec<f64> = w.iter().flatten().chain(x.iter()).copied().collect();
    let flat_g: Vec<f64> = dw_whole
        .iter()
        .flatten()
        .chain(dx_whole.iter())
        .copied()
        .collect();
    let report = check_gradient(
        |p: &[f64]| wx_norm([[p[0], p[1]], [p[2], p[3]]], [p[4], p[5]]),
        &flat_w,
        &flat_g,
    );
    println!(
        "check:    worst relative error against finite differences {:.1e}",
        report.max_error()
    );
}
