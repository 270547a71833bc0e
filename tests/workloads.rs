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
    let mut gc = vec![0.0; 50];
    let fc = rosenbrock_hand_carry(x, &mut gc);
    assert!((f - fc).abs() < 1e-9 * f.abs());
    close_all(&gc, &g, 1e-12);
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

#[test]
fn kmeans_hand_and_generated_agree_and_are_right() {
    let d = data();
    let (loss, (dp, dc)) = kmeans_hand(&d.points, &d.centres);
    let (lg, (gp, gc)) = kmeans_grad(&d.points, &d.centres);
    assert!((loss - lg).abs() < 1e-12);
    close_all(&gp.concat(), &dp.concat(), 1e-12);
    close_all(&gc.concat(), &dc.concat(), 1e-12);
    let pairs = |v: &[f64]| v.chunks(2).map(|p| [p[0], p[1]]).collect::<Vec<_>>();
    // The seeded points are away from ties: the centres' gradients by
    // finite differences.
    let flat = d.centres.concat();
    let report = check_gradient(
        |q: &[f64]| kmeans(&d.points, &pairs(q)),
        &flat,
        &dc.concat(),
    );
    assert!(report.within(1e-5), "{report}");
    let flat = d.points[..40].concat();
    let report = check_gradient(
        |q: &[f64]| kmeans(&pairs(q), &d.centres),
        &flat,
        &dp[..40].concat(),
    );
    assert!(report.within(1e-5), "{report}");
}

#[path = "../benches/gmm.rs"]
mod gmm;

/// All of the GMM's parameters in one vector, for the finite-difference check.
fn gmm_at(p: &gmm::GmmData, flat: &[f64]) -> f64 {
    let (a, rest) = flat.split_at(p.k);
    let (mu, icf) = rest.split_at(p.k * p.d);
    gmm::gmm(a, mu, icf, &p.x, p.d, p.gamma, p.m, p.constant)
}

#[test]
fn gmm_hand_and_generated_agree_and_are_right() {
    // Several shapes, d = 1 (no triangle) included, random data per seed.
    for (seed, (d, k, n)) in [(1, 2, 10), (2, 3, 7), (3, 5, 20), (4, 1, 5), (1, 4, 6)]
        .into_iter()
        .enumerate()
    {
        let p = gmm::GmmData::new(d, k, n, 17 + seed as u64);
        let (f, (ga, gm, gi)) = gmm::gmm_hand(
            &p.alphas, &p.means, &p.icf, &p.x, d, p.gamma, p.m, p.constant,
        );
        let flat: Vec<f64> = [&p.alphas[..], &p.means, &p.icf].concat();
        let hand: Vec<f64> = [&ga[..], &gm, &gi].concat();
        let report = check_gradient(|q: &[f64]| gmm_at(&p, q), &flat, &hand);
        assert!(report.within(1e-6), "d={d} k={k}: {report}");
        assert!((f - gmm_at(&p, &flat)).abs() < 1e-9 * f.abs());

        let (fg, (ta, tm, ti)) = gmm::gmm_grad(
            &p.alphas, &p.means, &p.icf, &p.x, d, p.gamma, p.m, p.constant,
        );
        assert!((f - fg).abs() < 1e-9 * f.abs());
        close_all(&[&ta[..], &tm, &ti].concat(), &hand, 1e-10);
    }
}

#[test]
fn gmm_generated_in_f32() {
    let p = gmm::GmmData::new(3, 4, 12, 99);
    let to32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let (a, mu, icf, x) = (to32(&p.alphas), to32(&p.means), to32(&p.icf), to32(&p.x));
    let c = p.constant as f32;
    let (_, (ga, gm, gi)) = gmm::gmm_grad(&a, &mu, &icf, &x, p.d, 1.0f32, 0.0, c);
    let (_, (ha, hm, hi)) = gmm::gmm_hand(
        &p.alphas, &p.means, &p.icf, &p.x, p.d, p.gamma, p.m, p.constant,
    );
    let got: Vec<f64> = [&ga[..], &gm, &gi]
        .concat()
        .iter()
        .map(|&v| v as f64)
        .collect();
    close_all(&got, &[&ha[..], &hm, &hi].concat(), 1e-3);
}

#[test]
fn gmm_with_a_wishart_m() {
    // m > 0 weighs sum(log Qdiag) in the prior; the benches use m = 0.
    let mut p = gmm::GmmData::new(2, 3, 8, 5);
    p.m = 2.0;
    p.gamma = 0.7;
    let (_, (ga, gm, gi)) = gmm::gmm_hand(
        &p.alphas, &p.means, &p.icf, &p.x, p.d, p.gamma, p.m, p.constant,
    );
    let flat: Vec<f64> = [&p.alphas[..], &p.means, &p.icf].concat();
    let hand: Vec<f64> = [&ga[..], &gm, &gi].concat();
    assert!(check_gradient(|q: &[f64]| gmm_at(&p, q), &flat, &hand).within(1e-6));
    let (_, (ta, tm, ti)) = gmm::gmm_grad(
        &p.alphas, &p.means, &p.icf, &p.x, p.d, p.gamma, p.m, p.constant,
    );
    close_all(&[&ta[..], &tm, &ti].concat(), &hand, 1e-10);
}

#[path = "../benches/peers.rs"]
mod peers;

/// The peers the benches compare with compute the same gradients.
#[test]
fn peers_agree_with_the_hand_written_gradients() {
    let d = data();
    let p = [2.0, -1.0, -3.0, -2.0, -3.0];
    let (_, g) = neuron_hand(p[0], p[1], p[2], p[3], p[4]);
    close_all(&peers::with_reverse(&p, |v| peers::neuron(v)).1, &g, 1e-12);
    close_all(&peers::with_num_dual(&p, peers::neuron).1, &g, 1e-12);

    let x = &d.rosen[..40];
    let mut g = vec![0.0; 40];
    rosenbrock_hand(x, &mut g);
    close_all(
        &peers::with_reverse(x, |v| peers::rosenbrock(v)).1,
        &g,
        1e-12,
    );
    close_all(&peers::with_num_dual(x, peers::rosenbrock).1, &g, 1e-12);

    let (loss, g) = svm_hand(&d.w_svm, &d.x, &d.y, 1e-3);
    let (lr, gr) = peers::with_reverse(&d.w_svm, |v| peers::svm(v, &d.x, &d.y, 1e-3));
    assert!((loss - lr).abs() < 1e-12);
    close_all(&gr, &g, 1e-12);
    close_all(
        &peers::with_num_dual(&d.w_svm, |v| peers::svm(v, &d.x, &d.y, 1e-3)).1,
        &g,
        1e-12,
    );

    let (loss, g) = mlp_hand(&d.w1, &d.b1, &d.w2, &d.b2, &d.x, &d.y, 1e-3);
    let flat: Vec<f64> = [&d.w1[..], &d.b1, &d.w2, &d.b2].concat();
    let (lr, gr) = peers::with_reverse(&flat, |v| peers::mlp(v, &d.x, &d.y, 1e-3));
    assert!((loss - lr).abs() < 1e-12);
    close_all(&gr, &[&g.w1[..], &g.b1, &g.w2, &g.b2].concat(), 1e-10);

    let q = gmm::GmmData::new(3, 4, 30, 8);
    let (f, (ga, gm, gi)) = gmm::gmm_hand(
        &q.alphas, &q.means, &q.icf, &q.x, q.d, q.gamma, q.m, q.constant,
    );
    let flat: Vec<f64> = [&q.alphas[..], &q.means, &q.icf].concat();
    let hand: Vec<f64> = [&ga[..], &gm, &gi].concat();
    let run = |v: &[_]| peers::gmm(v, q.k, &q.x, q.d, q.gamma, q.m, q.constant);
    let (fr, gr) = peers::with_reverse(&flat, |v| {
        peers::gmm(v, q.k, &q.x, q.d, q.gamma, q.m, q.constant)
    });
    assert!((f - fr).abs() < 1e-9 * f.abs());
    close_all(&gr, &hand, 1e-10);
    close_all(&peers::with_num_dual(&flat, run).1, &hand, 1e-10);
}
