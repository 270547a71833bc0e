//! The benchmark workloads: the hand-written gradients the benches compare
//! against are checked against finite differences, and the generated ones
//! against both.

#[path = "../benches/workloads.rs"]
mod workloads;

use tapeless::check_gradient;
use workloads::*;

fn close_all(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{i}: {x} vs {y}");
    }
}

#[test]
fn neuron_hand_is_right() {
    let p = [2.0, -1.0, -3.0, -2.0, -3.0];
    let (f, g) = neuron_hand(p[0], p[1], p[2], p[3], p[4]);
    let report = check_gradient(|q: &[f64]| neuron(q[0], q[1], q[2], q[3], q[4]), &p, &g);
    assert!(report.within(1e-8), "{report}");
    let (fg, gg) = neuron_grad(p[0], p[1], p[2], p[3], p[4]);
    assert!((f - fg).abs() < 1e-15);
    close_all(&g, &[gg.0, gg.1, gg.2, gg.3, gg.4], 1e-12);
}

#[test]
fn rosenbrock_hand_is_right() {
    let d = data();
    let x = &d.rosen[..50];
    let mut g = vec![0.0; 50];
    let f = rosenbrock_hand(x, &mut g);
    assert!(check_gradient(|q: &[f64]| rosenbrock_primal(q), x, &g).within(1e-6));
    let (fg, gg) = rosenbrock_grad(x);
    assert!((f - fg).abs() < 1e-9 * f.abs());
    close_all(&gg, &g, 1e-12);
}

#[test]
fn mlp_hand_and_generated_agree_and_are_right() {
    let d = data();
    let (loss, g) = mlp_hand(&d.w1, &d.b1, &d.w2, &d.b2, &d.x, &d.y, 1e-3);
    let (lg, (gw1, gb1, gw2, gb2)) = mlp_grad(&d.w1, &d.b1, &d.w2, &d.b2, &d.x, &d.y, 1e-3);
    let (lt, (tw1, tb1, tw2, tb2)) = mlp_toolkit_grad(&d.w1, &d.b1, &d.w2, &d.b2, &d.x, &d.y, 1e-3);
    assert!((loss - lg).abs() < 1e-12 && (loss - lt).abs() < 1e-12);
    for (a, b, c) in [
        (&gw1, &g.w1, &tw1),
        (&gb1, &g.b1, &tb1),
        (&gw2, &g.w2, &tw2),
        (&gb2, &g.b2, &tb2),
    ] {
        close_all(a, b, 1e-10);
        close_all(c, b, 1e-10);
    }
    // The hand-written b2 and a few W2 entries against finite differences.
    let b2_check = check_gradient(
        |q: &[f64]| mlp_primal(&d.w1, &d.b1, &d.w2, q, &d.x, &d.y, 1e-3),
        &d.b2,
        &g.b2,
    );
    assert!(b2_check.within(1e-6), "{b2_check}");
    let w2_part = &d.w2[..20];
    let w2_check = check_gradient(
        |q: &[f64]| {
            let mut w2 = d.w2.clone();
            w2[..20].copy_from_slice(q);
            mlp_primal(&d.w1, &d.b1, &w2, &d.b2, &d.x, &d.y, 1e-3)
        },
        w2_part,
        &g.w2[..20],
    );
    assert!(w2_check.within(1e-6), "{w2_check}");
}

#[test]
fn svm_hand_is_right() {
    let d = data();
    let (loss, g) = svm_hand(&d.w_svm, &d.x, &d.y, 1e-3);
    let (lg, gg) = svm_grad(&d.w_svm, &d.x, &d.y, 1e-3);
    assert!((loss - lg).abs() < 1e-12);
    close_all(&gg, &g, 1e-12);
    let report = check_gradient(|q: &[f64]| svm_primal(q, &d.x, &d.y, 1e-3), &d.w_svm, &g);
    assert!(report.within(1e-5), "{report}");
}
