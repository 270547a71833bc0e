//! `cargo bench --bench paired`: the generated and the hand-written
//! gradient timed in alternation (A B A B ...), the ratio taken per pair
//! and its median reported. On a shared machine whose speed drifts
//! between and within runs, a pair sees the same conditions for both.
//!
//! What a pair cannot share is the process: which physical pages a process
//! gets moves a ratio by up to 10-20% on the project's machine (the loop
//! mlp's read 1.006-1.251 in eight processes of one binary). So the bench
//! runs itself in several processes (`PAIRED_PROCESSES`, default 5), prints
//! each one's ratios, and ends with the median over the processes.

mod gmm;
mod workloads;

use std::hint::black_box;
use std::time::Instant;

/// Median over `pairs` of time(a) / time(b), each timed over `reps` calls.
fn paired(name: &str, pairs: usize, reps: usize, mut a: impl FnMut(), mut b: impl FnMut()) {
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        t.elapsed().as_secs_f64() / reps as f64
    };
    // Warm up both.
    time(&mut a);
    time(&mut b);
    let mut ratios = Vec::with_capacity(pairs);
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for k in 0..pairs {
        // Alternate which goes first.
        let (x, y) = if k % 2 == 0 {
            let x = time(&mut a);
            (x, time(&mut b))
        } else {
            let y = time(&mut b);
            (time(&mut a), y)
        };
        ratios.push(x / y);
        ta.push(x);
        tb.push(y);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (r, a_med, b_med) = (med(&mut ratios), med(&mut ta), med(&mut tb));
    let q = |p: f64| ratios[((ratios.len() - 1) as f64 * p) as usize];
    println!(
        "{name:24} generated / hand {r:.2} (quartiles {:.2}-{:.2}); generated {:.1} us, hand {:.1} us",
        q(0.25),
        q(0.75),
        a_med * 1e6,
        b_med * 1e6
    );
    // For the parent process (see `main`).
    println!("{RATIO}{name}\t{r}");
}

/// Marks a child's machine-readable line: the workload, a tab, its ratio.
const RATIO: &str = "ratio\t";
/// Set in the children this bench spawns.
const CHILD: &str = "TAPELESS_PAIRED_CHILD";

fn main() {
    if std::env::var_os(CHILD).is_some() {
        run();
        return;
    }
    let processes: usize = std::env::var("PAIRED_PROCESSES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(5);
    let exe = std::env::current_exe().expect("the bench's own path");
    // Workload -> its ratio in each process, in the order first seen.
    let mut table: Vec<(String, Vec<f64>)> = Vec::new();
    for p in 1..=processes {
        println!("process {p} of {processes}:");
        let out = std::process::Command::new(&exe)
            .env(CHILD, "1")
            .output()
            .expect("the bench runs itself");
        assert!(out.status.success(), "process {p} failed");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Some((name, r)) = line.strip_prefix(RATIO).and_then(|l| l.split_once('\t')) else {
                println!("  {line}");
                continue;
            };
            let r: f64 = r.parse().expect("a ratio");
            match table.iter_mut().find(|(n, _)| n == name) {
                Some((_, rs)) => rs.push(r),
                None => table.push((name.to_string(), vec![r])),
            }
        }
    }
    println!("\ngenerated / hand, median over {processes} processes (each process's median of pairs; lowest-highest):");
    for (name, mut rs) in table {
        rs.sort_by(f64::total_cmp);
        let list: Vec<String> = rs.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "{name:24} {:.2} ({:.2}-{:.2}): {}",
            rs[rs.len() / 2],
            rs[0],
            rs[rs.len() - 1],
            list.join(" ")
        );
    }
}

/// One process's pairs, every workload.
fn run() {
    use workloads::*;
    let p = [2.0, -1.0, -3.0, -2.0, -3.0];
    paired(
        "neuron",
        101,
        20_000,
        || {
            let p = black_box(p);
            black_box(neuron_grad(p[0], p[1], p[2], p[3], p[4]));
        },
        || {
            let p = black_box(p);
            black_box(neuron_hand(p[0], p[1], p[2], p[3], p[4]));
        },
    );
    let d = data();
    let mut grad = vec![0.0; d.rosen.len()];
    let mut grad2 = vec![0.0; d.rosen.len()];
    paired(
        "rosenbrock",
        101,
        200,
        || {
            black_box(rosenbrock_grad(black_box(&d.rosen)));
        },
        || {
            black_box(rosenbrock_hand(black_box(&d.rosen), &mut grad));
        },
    );
    paired(
        "rosenbrock (tuned hand)",
        101,
        200,
        || {
            black_box(rosenbrock_grad(black_box(&d.rosen)));
        },
        || {
            black_box(rosenbrock_hand_carry(black_box(&d.rosen), &mut grad2));
        },
    );
    paired(
        "mlp",
        101,
        4,
        || {
            black_box(mlp_grad(
                black_box(&d.w1),
                &d.b1,
                &d.w2,
                &d.b2,
                &d.x,
                &d.y,
                1e-3,
            ));
        },
        || {
            black_box(mlp_hand(
                black_box(&d.w1),
                &d.b1,
                &d.w2,
                &d.b2,
                &d.x,
                &d.y,
                1e-3,
            ));
        },
    );
    paired(
        "mlp toolkit",
        101,
        4,
        || {
            black_box(mlp_toolkit_grad(
                black_box(&d.w1),
                &d.b1,
                &d.w2,
                &d.b2,
                &d.x,
                &d.y,
                1e-3,
            ));
        },
        || {
            black_box(mlp_hand(
                black_box(&d.w1),
                &d.b1,
                &d.w2,
                &d.b2,
                &d.x,
                &d.y,
                1e-3,
            ));
        },
    );
    paired(
        "k-means (not an issue workload)",
        101,
        100,
        || {
            black_box(kmeans_grad(black_box(&d.points), &d.centres));
        },
        || {
            black_box(kmeans_hand(black_box(&d.points), &d.centres));
        },
    );
    paired(
        "svm",
        101,
        50,
        || {
            black_box(svm_grad(black_box(&d.w_svm), &d.x, &d.y, 1e-3));
        },
        || {
            black_box(svm_hand(black_box(&d.w_svm), &d.x, &d.y, 1e-3));
        },
    );
    for (dim, k) in [(2, 5), (10, 25)] {
        let p = gmm::GmmData::new(dim, k, 1000, 7);
        macro_rules! on_p {
            ($f:path) => {
                black_box($f(
                    black_box(&p.alphas),
                    &p.means,
                    &p.icf,
                    &p.x,
                    dim,
                    p.gamma,
                    p.m,
                    p.constant,
                ))
            };
        }
        let reps = if dim == 2 { 20 } else { 2 };
        paired(
            &format!("gmm d={dim} k={k}"),
            101,
            reps,
            || {
                on_p!(gmm::gmm_grad);
            },
            || {
                on_p!(gmm::gmm_hand);
            },
        );
    }
}
