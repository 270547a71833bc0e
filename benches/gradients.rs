//! `cargo bench --bench gradients`: every workload's generated gradient
//! against the hand-written one and the primal, in the same run. Report
//! ratios, not absolute times (shared machines are noisy): after the run it
//! prints them, from the medians criterion wrote for this run.

mod gmm;
mod peers;
mod workloads;

use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use workloads::*;

fn neuron_benches(c: &mut Criterion) {
    let p = [2.0, -1.0, -3.0, -2.0, -3.0];
    let mut g = c.benchmark_group("neuron");
    g.bench_function("tapeless", |b| {
        b.iter(|| {
            let p = black_box(p);
            neuron_grad(p[0], p[1], p[2], p[3], p[4])
        })
    });
    g.bench_function("hand", |b| {
        b.iter(|| {
            let p = black_box(p);
            neuron_hand(p[0], p[1], p[2], p[3], p[4])
        })
    });
    g.bench_function("primal", |b| {
        b.iter(|| {
            let p = black_box(p);
            neuron(p[0], p[1], p[2], p[3], p[4])
        })
    });
    g.bench_function("reverse", |b| {
        b.iter(|| peers::with_reverse(black_box(&p), |v| peers::neuron(v)))
    });
    g.bench_function("num_dual", |b| {
        b.iter(|| peers::with_num_dual(black_box(&p), peers::neuron))
    });
    g.finish();
}

fn rosenbrock_benches(c: &mut Criterion) {
    let d = data();
    let x = d.rosen;
    let mut grad = vec![0.0; x.len()];
    let mut g = c.benchmark_group("rosenbrock");
    g.bench_function("tapeless", |b| b.iter(|| rosenbrock_grad(black_box(&x))));
    g.bench_function("hand", |b| {
        b.iter(|| rosenbrock_hand(black_box(&x), &mut grad))
    });
    g.bench_function("hand_carry", |b| {
        b.iter(|| rosenbrock_hand_carry(black_box(&x), &mut grad))
    });
    g.bench_function("primal", |b| b.iter(|| rosenbrock_primal(black_box(&x))));
    g.bench_function("reverse", |b| {
        b.iter(|| peers::with_reverse(black_box(&x), |v| peers::rosenbrock(v)))
    });
    g.bench_function("num_dual", |b| {
        b.iter(|| peers::with_num_dual(black_box(&x), peers::rosenbrock))
    });
    g.finish();
}

fn mlp_benches(c: &mut Criterion) {
    let d = data();
    let mut g = c.benchmark_group("mlp");
    g.bench_function("tapeless", |b| {
        b.iter(|| mlp_grad(black_box(&d.w1), &d.b1, &d.w2, &d.b2, &d.x, &d.y, 1e-3))
    });
    g.bench_function("tapeless_toolkit", |b| {
        b.iter(|| mlp_toolkit_grad(black_box(&d.w1), &d.b1, &d.w2, &d.b2, &d.x, &d.y, 1e-3))
    });
    g.bench_function("hand", |b| {
        b.iter(|| mlp_hand(black_box(&d.w1), &d.b1, &d.w2, &d.b2, &d.x, &d.y, 1e-3))
    });
    g.bench_function("primal", |b| {
        b.iter(|| mlp_primal(black_box(&d.w1), &d.b1, &d.w2, &d.b2, &d.x, &d.y, 1e-3))
    });
    // num-dual would need one pass per parameter (9,610 of them): not run.
    let flat: Vec<f64> = [&d.w1[..], &d.b1, &d.w2, &d.b2].concat();
    g.bench_function("reverse", |b| {
        b.iter(|| peers::with_reverse(black_box(&flat), |v| peers::mlp(v, &d.x, &d.y, 1e-3)))
    });
    g.finish();
}

fn svm_benches(c: &mut Criterion) {
    let d = data();
    let mut g = c.benchmark_group("svm");
    g.bench_function("tapeless", |b| {
        b.iter(|| svm_grad(black_box(&d.w_svm), &d.x, &d.y, 1e-3))
    });
    g.bench_function("hand", |b| {
        b.iter(|| svm_hand(black_box(&d.w_svm), &d.x, &d.y, 1e-3))
    });
    g.bench_function("primal", |b| {
        b.iter(|| svm_primal(black_box(&d.w_svm), &d.x, &d.y, 1e-3))
    });
    g.bench_function("reverse", |b| {
        b.iter(|| peers::with_reverse(black_box(&d.w_svm), |v| peers::svm(v, &d.x, &d.y, 1e-3)))
    });
    g.bench_function("num_dual", |b| {
        b.iter(|| peers::with_num_dual(black_box(&d.w_svm), |v| peers::svm(v, &d.x, &d.y, 1e-3)))
    });
    g.finish();
}

fn gmm_benches(c: &mut Criterion) {
    for (d, k) in [(2, 5), (10, 25)] {
        let p = gmm::GmmData::new(d, k, 1000, 7);
        let mut g = c.benchmark_group(format!("gmm_d{d}_k{k}"));
        // The three take the same arguments.
        macro_rules! on_p {
            ($f:path) => {
                $f(
                    black_box(&p.alphas),
                    &p.means,
                    &p.icf,
                    &p.x,
                    d,
                    p.gamma,
                    p.m,
                    p.constant,
                )
            };
        }
        g.bench_function("tapeless", |b| b.iter(|| on_p!(gmm::gmm_grad)));
        g.bench_function("hand", |b| b.iter(|| on_p!(gmm::gmm_hand)));
        g.bench_function("primal", |b| b.iter(|| on_p!(gmm::gmm)));
        let flat: Vec<f64> = [&p.alphas[..], &p.means, &p.icf].concat();
        let run = |v: &[_]| peers::gmm(v, k, &p.x, d, p.gamma, p.m, p.constant);
        g.bench_function("reverse", |b| {
            b.iter(|| {
                peers::with_reverse(black_box(&flat), |v| {
                    peers::gmm(v, k, &p.x, d, p.gamma, p.m, p.constant)
                })
            })
        });
        // Forward mode needs one pass per parameter: run where that is 30
        // passes, not where it is 1,650.
        if flat.len() <= 100 {
            g.bench_function("num_dual", |b| {
                b.iter(|| peers::with_num_dual(black_box(&flat), run))
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = neuron_benches, rosenbrock_benches, mlp_benches, svm_benches, gmm_benches
}
fn main() {
    let start = std::time::SystemTime::now();
    benches();
    Criterion::default().configure_from_args().final_summary();
    ratios(start);
}

/// Where criterion keeps its results: `$CRITERION_HOME`, else
/// `$CARGO_TARGET_DIR/criterion`, else this workspace's `target/criterion`.
fn criterion_dir() -> std::path::PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("criterion")
}

/// The median time (ns) criterion measured for `group/function` in this run
/// (a result older than `since`, from an earlier run or another filter, is
/// not used).
fn median(group: &str, function: &str, since: std::time::SystemTime) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(function)
        .join("new/estimates.json");
    let fresh = std::fs::metadata(&path).ok()?.modified().ok()? >= since;
    let text = std::fs::read_to_string(&path).ok().filter(|_| fresh)?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

/// The ratios of this run's medians: generated / hand-written, generated /
/// primal, each peer / hand-written (`-` where this run did not measure it).
fn ratios(since: std::time::SystemTime) {
    let groups = [
        ("neuron", "neuron"),
        ("rosenbrock", "rosenbrock"),
        ("mlp", "mlp, loops"),
        ("svm", "svm"),
        ("gmm_d2_k5", "gmm, d = 2"),
        ("gmm_d10_k25", "gmm, d = 10"),
    ];
    let m = |g: &str, f: &str| median(g, f, since);
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => match a / b {
            r if r >= 100.0 => format!("{r:.0}"),
            r if r >= 10.0 => format!("{r:.1}"),
            r => format!("{r:.2}"),
        },
        _ => "-".to_string(),
    };
    println!("\nmedians of this run, as ratios:");
    println!(
        "{:<28} {:>16} {:>18} {:>14} {:>15}",
        "workload", "generated / hand", "generated / primal", "reverse / hand", "num-dual / hand"
    );
    for (group, name) in groups {
        let hand = m(group, "hand");
        let generated = m(group, "tapeless");
        println!(
            "{:<28} {:>16} {:>18} {:>14} {:>15}",
            name,
            ratio(generated, hand),
            ratio(generated, m(group, "primal")),
            ratio(m(group, "reverse"), hand),
            ratio(m(group, "num_dual"), hand),
        );
    }
    println!(
        "{:<28} {:>16} {:>18}",
        "mlp, toolkit (hand: loops)",
        ratio(m("mlp", "tapeless_toolkit"), m("mlp", "hand")),
        ratio(m("mlp", "tapeless_toolkit"), m("mlp", "primal")),
    );
    println!(
        "{:<28} {:>16}",
        "rosenbrock (hand: tuned)",
        ratio(m("rosenbrock", "tapeless"), m("rosenbrock", "hand_carry")),
    );
}
