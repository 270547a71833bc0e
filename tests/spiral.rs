//! The spiral example's logic, smaller so that it runs in the test suite:
//! the generated gradient trains the two-layer net to high accuracy, and
//! agrees with finite differences on the way.

// Written with indices, as in the lecture.
#![allow(clippy::needless_range_loop, clippy::manual_memcpy)]

#[path = "../examples/spiral/model.rs"]
mod spiral_model;

use spiral_model::{loss, loss_grad, spiral, Net};
use tapeless::check_gradient;

#[test]
fn a_small_spiral_net_learns() {
    let (x, y) = spiral(40, 3, 7);
    let mut net = Net::<f64>::new(16, 3, 11);
    let first = net.step(&x, &y, 1e-3, 2.0);
    let mut last = first;
    for _ in 0..2000 {
        last = net.step(&x, &y, 1e-3, 2.0);
    }
    let accuracy = net.accuracy(&x, &y);
    assert!(last < first * 0.3, "loss {first} -> {last}");
    assert!(accuracy >= 0.95, "training accuracy {accuracy}");
}

#[test]
fn the_loss_gradient_matches_finite_differences() {
    let (x, y) = spiral(5, 3, 3);
    let net = Net::<f64>::new(4, 3, 5);
    let (_, (dw1, db1, dw2, db2)) = loss_grad(&net.w1, &net.b1, &net.w2, &net.b2, &x, &y, 0.1);
    let sizes = [net.w1.len(), net.b1.len(), net.w2.len()];
    let mut point: Vec<f64> = net.w1.clone();
    point.extend(&net.b1);
    point.extend(&net.w2);
    point.extend(&net.b2);
    let grad: Vec<f64> = dw1
        .iter()
        .chain(&db1)
        .chain(&dw2)
        .chain(&db2)
        .copied()
        .collect();
    let f = |p: &[f64]| {
        let (w1, rest) = p.split_at(sizes[0]);
        let (b1, rest) = rest.split_at(sizes[1]);
        let (w2, b2) = rest.split_at(sizes[2]);
        loss(w1, b1, w2, b2, &x, &y, 0.1)
    };
    let report = check_gradient(f, &point, &grad);
    assert!(report.within(1e-6), "{report}");
}
