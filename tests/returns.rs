//! `return` inside loops (`for`, `while`, `loop`, nested), DESIGN.md's
//! "early returns too": each checked against a closed form or finite
//! differences, in f64 and f32, at random points on both sides of the
//! early exit.

#![allow(clippy::needless_range_loop, clippy::collapsible_if)]

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

/// Newton's method for sqrt(a), leaving as soon as it has converged.
#[differentiable]
fn newton<T: Float>(a: T) -> T {
    let mut x = a;
    for _ in 0..60 {
        let fx = x * x - a;
        if fx.abs() < T::from(1e-6).unwrap() * a {
            return x;
        }
        x = x - fx / (2.0 * x);
    }
    x
}

/// The first product of two elements above a threshold, from two loops.
#[differentiable]
fn first_big<T: Float>(x: &[T], threshold: T) -> T {
    for i in 0..x.len() {
        for j in i + 1..x.len() {
            let p = x[i] * x[j];
            if p > threshold {
                return p.sqrt() + x[i];
            }
        }
    }
    x[0] * threshold
}

/// A search with `while` and a counter; the return reads a loop value.
#[differentiable]
fn first_above<T: Float>(x: &[T], t: T) -> T {
    let mut i = 0;
    let mut acc = T::zero();
    while i < x.len() {
        acc = acc + x[i].sin();
        if x[i] > t {
            return acc * t;
        }
        i += 1;
    }
    acc - t
}

/// `loop` with a tuple output and a return in a branch of a branch.
#[differentiable]
fn grow<T: Float>(x: T, y: T) -> (T, T) {
    let mut a = x;
    let mut k = 0;
    loop {
        a = a * y;
        k += 1;
        if k > 2 {
            if a > 5.0 {
                return (a, a * x);
            }
        }
        if k > 20 {
            break;
        }
    }
    (x, y)
}

/// A loop over elements inside an `if`, returning from the loop.
#[differentiable]
fn capped_norm<T: Float>(x: &[T], cap: bool) -> T {
    let mut s = T::zero();
    if cap {
        for &v in x {
            s += v * v;
            if s > 3.0 {
                return s.sqrt();
            }
        }
    }
    s
}

/// A callee that returns from a loop, called in a loop.
#[differentiable]
fn caller<T: Float>(x: &[T], t: T) -> T {
    let mut s = T::zero();
    for k in 0..3 {
        s = s + first_above(x, t + T::from(k).unwrap());
    }
    s
}

#[test]
fn newton_converges_to_the_closed_form() {
    let mut rng = Rng::new(5);
    for _ in 0..20 {
        let a = rng.uniform(0.1, 50.0);
        let (v, g) = newton_grad(a);
        assert!((v - a.sqrt()).abs() < 1e-6 * a.sqrt(), "{a}");
        assert!((g - 0.5 / a.sqrt()).abs() < 1e-5, "{a}: {g}");
        let (v, g) = newton_grad(a as f32);
        assert!((v - (a as f32).sqrt()).abs() < 1e-3, "{a}");
        assert!((g - 0.5 / (a as f32).sqrt()).abs() < 1e-3, "{a}: {g}");
    }
}

fn check<T: Float + std::fmt::Display + std::fmt::Debug>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    let x: Vec<T> = cast(&rng.point(5, 0.2, 3.0));
    // Thresholds away from every product (a step of the finite difference
    // must not change which pair returns): below all, in the widest gap,
    // above all (the loops run to the end).
    let mut products: Vec<f64> = Vec::new();
    for i in 0..5 {
        for j in i + 1..5 {
            products.push((x[i] * x[j]).to_f64().unwrap());
        }
    }
    products.sort_by(f64::total_cmp);
    let gap = (1..products.len())
        .max_by(|&a, &b| {
            (products[a] - products[a - 1]).total_cmp(&(products[b] - products[b - 1]))
        })
        .unwrap();
    let thresholds = [
        products[0] * 0.5,
        (products[gap] + products[gap - 1]) / 2.0,
        products[products.len() - 1] + 1.0,
    ];
    for t in thresholds {
        let t = T::from(t).unwrap();
        let (_, (gx, gt)) = first_big_grad(&x, t);
        let mut g = gx.clone();
        g.push(gt);
        let mut p = x.clone();
        p.push(t);
        assert_gradient("first_big", |q: &[T]| first_big(&q[..5], q[5]), &p, &g, tol);
    }
    // Elements 0.1 or more from every half-integer, thresholds (and the
    // caller's t + k) on half-integers.
    let x: Vec<T> = (0..5)
        .map(|i| T::from((i % 3) as f64 + rng.uniform(0.6, 0.9)).unwrap())
        .collect();
    for t in [0.5, 1.5, 2.5, 5.0] {
        let t = T::from(t).unwrap();
        let (v, (gx, gt)) = first_above_grad(&x, t);
        assert!((v - first_above(&x, t)).abs() <= T::from(1e-6).unwrap() * (T::one() + v.abs()));
        let mut g = gx.clone();
        g.push(gt);
        let mut p = x.clone();
        p.push(t);
        assert_gradient(
            "first_above",
            |q: &[T]| first_above(&q[..5], q[5]),
            &p,
            &g,
            tol,
        );
        let (_, (gx, gt)) = caller_grad(&x, t);
        let mut g = gx.clone();
        g.push(gt);
        assert_gradient("caller", |q: &[T]| caller(&q[..5], q[5]), &p, &g, tol);
    }
    // Running sums away from 3: returns at the third element, or never.
    let mut early = rng.point(5, 0.2, 0.8);
    early[2] = rng.uniform(1.9, 3.0);
    for v in [early, rng.point(5, 0.2, 0.6)] {
        let v: Vec<T> = cast(&v);
        for cap in [true, false] {
            let (s, g) = capped_norm_grad(&v, cap);
            assert_eq!(s, capped_norm(&v, cap));
            assert_gradient("capped_norm", |q: &[T]| capped_norm(q, cap), &v, &g, tol);
        }
    }
    // Away from the jumps (k where a first passes 5): a returns at k = 3,
    // b shrinks and never returns.
    for y in [rng.uniform(1.9, 2.1), rng.uniform(0.5, 0.9)] {
        grow_check(T::from(rng.uniform(1.0, 1.2)).unwrap(), T::from(y).unwrap());
    }
}

fn grow_check<T: Float + std::fmt::Display + std::fmt::Debug>(x0: T, y0: T) {
    let tol = tolerance::<T>();
    let (v, back) = grow_forward(x0, y0);
    assert_eq!(v, grow(x0, y0));
    for (i, seed) in [(T::one(), T::zero()), (T::zero(), T::one())]
        .into_iter()
        .enumerate()
    {
        let (dx, dy) = back(seed);
        let pick = |q: &[T]| {
            let (a, b) = grow(q[0], q[1]);
            if i == 0 {
                a
            } else {
                b
            }
        };
        assert_gradient("grow", pick, &[x0, y0], &[dx, dy], tol);
    }
}

#[test]
fn returns_inside_loops_f64() {
    let mut rng = Rng::new(31);
    for _ in 0..20 {
        check::<f64>(&mut rng);
    }
}

#[test]
fn returns_inside_loops_f32() {
    let mut rng = Rng::new(32);
    for _ in 0..20 {
        check::<f32>(&mut rng);
    }
}

#[test]
fn the_exit_taken_is_the_one_the_fn_takes() {
    // 1 * 2 = 2 > 1.5: returns sqrt(2) + 1 from the first pair.
    let (v, (g, _)) = first_big_grad(&[1.0, 2.0, 3.0], 1.5);
    assert!((v - (2f64.sqrt() + 1.0)).abs() < 1e-12);
    // d/dx0 = x1 / (2 sqrt(x0 x1)) + 1, d/dx1 = x0 / (2 sqrt(x0 x1)).
    let r = 2f64.sqrt();
    assert!((g[0] - (1.0 + 1.0 / r)).abs() < 1e-12 && (g[1] - 0.5 / r).abs() < 1e-12);
    assert_eq!(g[2], 0.0);
    // No pair above 100: the value after the loops.
    let (v, (g, gt)) = first_big_grad(&[1.0, 2.0, 3.0], 100.0);
    assert_eq!((v, g, gt), (100.0, vec![100.0, 0.0, 0.0], 1.0));
}

/// A block that leaves (`{ ..; break; }`) as a statement: what follows it
/// runs only where it does not leave.
#[differentiable]
fn block_break<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    let mut last = T::zero();
    for &v in x {
        if v > 2.0 {
            {
                last = v * v;
                break;
            }
        }
        s = s + v.sin();
    }
    s + last
}

#[test]
fn a_block_that_breaks() {
    let x = [0.5, 1.0, 3.0, 0.25];
    let (v, g) = block_break_grad(&x);
    assert!((v - (0.5f64.sin() + 1f64.sin() + 9.0)).abs() < 1e-12);
    assert_eq!(g, vec![0.5f64.cos(), 1f64.cos(), 6.0, 0.0]);
    let x32 = [0.5_f32, 1.0, 1.5];
    let (_, g) = block_break_grad(&x32);
    assert_gradient(
        "block_break",
        |q: &[f32]| block_break(q),
        &x32,
        &g,
        tolerance::<f32>(),
    );
}

/// Labelled loops: `continue 'rows` and `break 'rows` from an inner loop.
#[differentiable]
fn labelled<T: Float>(a: &[Vec<T>], t: T) -> T {
    let mut found = T::zero();
    let mut s = T::zero();
    'rows: for i in 0..a.len() {
        for j in 0..a[i].len() {
            if a[i][j] < T::zero() {
                continue 'rows;
            }
            if a[i][j] > t {
                found = a[i][j] * t;
                break 'rows;
            }
            s = s + a[i][j].sin();
        }
        s = s * 0.5;
    }
    found + s
}

/// Three levels, two labels, and a label on the innermost loop itself.
#[differentiable]
fn three_levels<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    'a: for i in 0..x.len() {
        'b: for j in 0..x.len() {
            'c: for k in 0..x.len() {
                if k == j {
                    continue 'b;
                }
                if k + 1 == i {
                    continue 'c;
                }
                if i + j + k > 5 {
                    break 'a;
                }
                s = s + x[i] * x[j] * x[k];
            }
        }
    }
    s
}

#[test]
fn labelled_breaks_and_continues() {
    fn check<T: Float + std::fmt::Display + std::fmt::Debug>(rng: &mut Rng) {
        let tol = tolerance::<T>();
        // Rows with a negative element (continue), one above the threshold
        // (break), or neither; elements 0.1 or more from 0 and from t.
        let pick = |rng: &mut Rng, lo: f64, hi: f64| T::from(rng.uniform(lo, hi)).unwrap();
        let a = vec![
            vec![pick(rng, 0.2, 1.0), pick(rng, 0.2, 1.0)],
            vec![pick(rng, -1.0, -0.2), pick(rng, 3.0, 4.0)],
            vec![
                pick(rng, 0.2, 1.0),
                pick(rng, 3.0, 4.0),
                pick(rng, 0.2, 1.0),
            ],
        ];
        let t = T::from(2.0).unwrap();
        let (v, (g, gt)) = labelled_grad(&a, t);
        assert_eq!(v, labelled(&a, t));
        let un = |q: &[T]| vec![q[0..2].to_vec(), q[2..4].to_vec(), q[4..7].to_vec()];
        let p = [a.concat(), vec![t]].concat();
        let f = |q: &[T]| labelled(&un(&q[..7]), q[7]);
        assert_gradient("labelled", f, &p, &[g.concat(), vec![gt]].concat(), tol);
        let x: Vec<T> = cast(&rng.point(4, -2.0, 2.0));
        let (v, g) = three_levels_grad(&x);
        assert_eq!(v, three_levels(&x));
        assert_gradient("three_levels", |q: &[T]| three_levels(q), &x, &g, tol);
    }
    let mut rng = Rng::new(71);
    for _ in 0..10 {
        check::<f64>(&mut rng);
        check::<f32>(&mut rng);
    }
}

/// `loop` as a value: `let root = loop { .. break x; .. };` and a loop as
/// the fn's value.
#[differentiable]
fn loop_value<T: Float>(a: T) -> T {
    let mut x = a;
    let mut k = 0;
    let root: T = loop {
        let fx = x * x - a;
        k += 1;
        if fx.abs() < T::from(1e-6).unwrap() * a || k > 60 {
            break x;
        }
        x = x - fx / (2.0 * x);
    };
    root * 2.0
}

#[differentiable]
fn loop_tail<T: Float>(x: &[T]) -> T {
    let mut i = 0;
    let mut s = T::zero();
    loop {
        s = s + x[i].sin();
        i += 1;
        if i == x.len() {
            break s * 2.0;
        }
        for j in 0..i {
            if j > 5 {
                break;
            }
            s = s + x[j] * 0.1;
        }
    }
}

#[test]
fn loops_with_values() {
    let mut rng = Rng::new(9);
    for _ in 0..10 {
        let a = rng.uniform(0.5, 20.0);
        let (v, g) = loop_value_grad(a);
        assert!((v - 2.0 * a.sqrt()).abs() < 1e-5 * a.sqrt());
        assert!((g - 1.0 / a.sqrt()).abs() < 1e-4, "{a}: {g}");
        let x: Vec<f64> = rng.point(4, -1.0, 1.0);
        let (v, g) = loop_tail_grad(&x);
        assert_eq!(v, loop_tail(&x));
        assert_gradient("loop_tail", |q: &[f64]| loop_tail(q), &x, &g, 1e-6);
        let x32: Vec<f32> = cast(&x);
        let (_, g) = loop_tail_grad(&x32);
        assert_gradient(
            "loop_tail",
            |q: &[f32]| loop_tail(q),
            &x32,
            &g,
            tolerance::<f32>(),
        );
    }
}
