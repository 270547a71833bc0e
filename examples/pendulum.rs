//! System identification through a simulation: a damped pendulum's
//! stiffness and damping recovered from an observed swing by gradient
//! descent, the gradient taken through 400 steps of the integrator by
//! `#[differentiable]` (the loop's states kept on a tape, read back in
//! reverse), checked once against finite differences.
//!
//! Run with `cargo run --release --example pendulum`.

use tapeless::{check_gradient, differentiable, Float};

/// Time step and number of steps of the simulated swing.
const DT: f64 = 0.01;
const STEPS: usize = 400;

/// The mean squared distance between the simulated angle and the observed
/// one, every tenth step. The parameters are logarithms (both stay
/// positive): `theta'' = -k sin(theta) - c theta'`, semi-implicit Euler.
#[differentiable(wrt(log_k, log_c))]
fn misfit<T: Float>(log_k: T, log_c: T, observed: &[T], theta0: T) -> T {
    let (k, c) = (log_k.exp(), log_c.exp());
    let dt = T::from(DT).unwrap();
    let (mut theta, mut omega) = (theta0, T::zero());
    let mut loss = T::zero();
    for step in 0..STEPS {
        omega = omega - dt * (k * theta.sin() + c * omega);
        theta = theta + dt * omega;
        if step % 10 == 9 {
            let r = theta - observed[step / 10];
            loss = loss + r * r;
        }
    }
    loss / T::from(observed.len()).unwrap()
}

/// The swing the true pendulum makes (the same integrator, plain `f64`).
fn swing(k: f64, c: f64, theta0: f64) -> Vec<f64> {
    let (mut theta, mut omega) = (theta0, 0.0);
    let mut out = Vec::new();
    for step in 0..STEPS {
        omega -= DT * (k * theta.sin() + c * omega);
        theta += DT * omega;
        if step % 10 == 9 {
            out.push(theta);
        }
    }
    out
}

fn main() {
    let (k_true, c_true, theta0) = (9.81 / 1.3, 0.4, 1.2);
    let observed = swing(k_true, c_true, theta0);

    // Start from a pendulum twice as long and half as damped.
    let (mut lk, mut lc) = ((k_true / 2.0).ln(), (c_true / 2.0).ln());
    let (_, (gk, gc)) = misfit_grad(lk, lc, &observed, theta0);
    let report = check_gradient(
        |p: &[f64]| misfit(p[0], p[1], &observed, theta0),
        &[lk, lc],
        &[gk, gc],
    );
    println!("gradient at the start, against finite differences:\n{report}");
    assert!(report.within(1e-6), "the generated gradient disagrees");

    // Adam on the two logarithms.
    let (rate, b1, b2) = (0.05, 0.9, 0.999);
    let (mut m, mut v) = ([0.0; 2], [0.0; 2]);
    let start = std::time::Instant::now();
    for it in 1..=600 {
        let (loss, (gk, gc)) = misfit_grad(lk, lc, &observed, theta0);
        for (i, g) in [gk, gc].into_iter().enumerate() {
            m[i] = b1 * m[i] + (1.0 - b1) * g;
            v[i] = b2 * v[i] + (1.0 - b2) * g * g;
        }
        let (mh, vh) = (
            |i: usize| m[i] / (1.0 - b1.powi(it)),
            |i: usize| v[i] / (1.0 - b2.powi(it)),
        );
        lk -= rate * mh(0) / (vh(0).sqrt() + 1e-12);
        lc -= rate * mh(1) / (vh(1).sqrt() + 1e-12);
        if it == 1 || it % 150 == 0 {
            println!(
                "step {it:3}: misfit {loss:.3e}, k = {:.4}, c = {:.4}",
                lk.exp(),
                lc.exp()
            );
        }
    }
    println!(
        "recovered k = {:.4} (true {k_true:.4}), c = {:.4} (true {c_true:.4}) in {:.2} s",
        lk.exp(),
        lc.exp(),
        start.elapsed().as_secs_f64()
    );
}
