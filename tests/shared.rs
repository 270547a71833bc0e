//! Common subexpressions: the same primitive of the same values written
//! twice (`(l - rest) * (l - rest)`, `x.exp() + T::exp(x)`) is one node of
//! the graph, computed once and given both uses' gradients; a value times
//! itself gives its input one term; cheap arithmetic on values the backward
//! pass keeps anyway is redone there rather than taped. Each form is
//! checked against finite differences in f64 and f32 at random points, and
//! against a closed form where there is one. The cases that must *not*
//! share are here too: a variable assigned between the two expressions, a
//! value of another branch, of an earlier iteration, or a shadowed name.

#![allow(clippy::needless_range_loop)]

mod common;

use common::{assert_gradient, cast, close, tolerance, Rng};
use tapeless::{differentiable, Float};

/// Springs between pairs of points: `(l - rest) * (l - rest)` squared
/// by hand, the length kept for its square root's gradient.
#[differentiable(wrt(pos))]
fn springs<T: Float>(pos: &[[T; 2]], edges: &[(usize, usize)], rest: T) -> T {
    let mut e = T::zero();
    for &(i, j) in edges {
        let dx = pos[i][0] - pos[j][0];
        let dy = pos[i][1] - pos[j][1];
        let l = (dx * dx + dy * dy).sqrt();
        e = e + (l - rest) * (l - rest);
    }
    e
}

/// A squared error written out, the literal repeated.
#[differentiable]
fn literal_square<T: Float>(x: T, y: T) -> T {
    (x * y - 1.0) * (x * y - 1.0) + (1.0 - x) * (1.0 - x) * 2.0
}

/// The method and path forms of one function of one value.
#[differentiable]
fn forms<T: Float>(x: T) -> T {
    x.exp() + T::exp(x) + Float::exp(x) * x.sin()
}

/// The operands of `+` and `*` in either order.
#[differentiable]
fn commuted<T: Float>(a: T, b: T) -> T {
    (a * b).sin() + (b * a).cos() + (a + b) * (b + a)
}

/// A variable assigned between two equal-looking expressions: two values.
#[differentiable]
fn reassigned<T: Float>(x: T, y: T) -> T {
    let mut s = x * y;
    let first = (s + x).exp();
    s = s * x;
    let second = (s + x).exp();
    first * second
}

/// The same expression in both branches and after the `if`: each branch
/// its own, the one after the `if` may reuse the one before it.
#[differentiable]
fn branches<T: Float>(x: T, y: T) -> T {
    let before = x * y;
    let mid = if x > y {
        (x * y).sin()
    } else {
        (x * y).cos() + x * y
    };
    let after = (x * y).tanh();
    // Made first inside a branch: not shared with the other branch, nor
    // after the `if` (the other path never computed it).
    let side = if x > y {
        (x - y).exp()
    } else {
        (x - y).exp() * 2.0
    };
    before + mid * after + side * (x - y).exp()
}

/// Inside a loop: the same expression in one iteration is shared, across
/// iterations it is not (the variable changes), and an expression of
/// values from before the loop reuses the one computed there.
#[differentiable]
fn looped<T: Float>(x: &[T], w: T) -> T {
    let scale = w * w;
    let mut acc = T::zero();
    for i in 0..x.len() {
        // Made first in the loop: computed again after it, not shared.
        acc = acc + (w * 3.0).sin() * 0.1;
        let d = x[i] - acc;
        acc = acc * 0.5 + d * d * (w * w) * 0.2 + (x[i] - acc) * scale * 0.3;
        if i % 2 == 0 {
            acc = acc - (x[i] - acc).sin() * 0.1;
        }
    }
    acc * (w * 3.0).sin()
}

/// A shadowed name: the second `v` is another value.
#[differentiable]
fn shadowed<T: Float>(x: T) -> T {
    let v = x * 2.0;
    let a = (v + 1.0).ln();
    let v = x * 3.0;
    let b = (v + 1.0).ln();
    a * b + (v + 1.0).ln()
}

/// A residual kept in a loop for a square root, the arithmetic on it redone
/// in the backward pass: distances to a centre, squared after a shift.
#[differentiable]
fn shifted<T: Float>(x: &[T], c: T, r: T) -> T {
    let mut total = T::zero();
    for &v in x {
        let d = ((v - c) * (v - c) + 1.0).sqrt();
        let s = d - r;
        total = total + s * s * (d + r) / (d * 2.0 - r);
    }
    total
}

fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    let p: Vec<T> = cast(&rng.point(6, 0.2, 1.0));

    // Springs on four points.
    let pos: Vec<[T; 2]> = (0..4).map(|i| [p[i], p[(i + 1) % 6] * p[5]]).collect();
    let edges = [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)];
    let rest = T::from(0.3).unwrap();
    let (_, g) = springs_grad(&pos, &edges, rest);
    let flat: Vec<T> = pos.iter().flatten().copied().collect();
    let gflat: Vec<T> = g.iter().flatten().copied().collect();
    assert_gradient(
        "springs",
        |v: &[T]| {
            let pos: Vec<[T; 2]> = v.chunks(2).map(|c| [c[0], c[1]]).collect();
            springs(&pos, &edges, rest)
        },
        &flat,
        &gflat,
        tol,
    );

    let (_, (gx, gy)) = literal_square_grad(p[0], p[1]);
    assert_gradient(
        "literal_square",
        |v: &[T]| literal_square(v[0], v[1]),
        &p[..2],
        &[gx, gy],
        tol,
    );
    let (_, g) = forms_grad(p[0]);
    assert_gradient("forms", |v: &[T]| forms(v[0]), &p[..1], &[g], tol);
    let (_, (ga, gb)) = commuted_grad(p[0], p[1]);
    assert_gradient(
        "commuted",
        |v: &[T]| commuted(v[0], v[1]),
        &p[..2],
        &[ga, gb],
        tol,
    );
    let (_, (gx, gy)) = reassigned_grad(p[0], p[1]);
    assert_gradient(
        "reassigned",
        |v: &[T]| reassigned(v[0], v[1]),
        &p[..2],
        &[gx, gy],
        tol,
    );
    for (x, y) in [(p[0], p[1]), (p[1], p[0])] {
        let (_, (gx, gy)) = branches_grad(x, y);
        assert_gradient(
            "branches",
            |v: &[T]| branches(v[0], v[1]),
            &[x, y],
            &[gx, gy],
            tol,
        );
    }
    let (_, (gx, gw)) = looped_grad(&p[..5], p[5]);
    let mut all = p[..5].to_vec();
    all.push(p[5]);
    let mut gall = gx.clone();
    gall.push(gw);
    assert_gradient("looped", |v: &[T]| looped(&v[..5], v[5]), &all, &gall, tol);
    let (_, g) = shadowed_grad(p[0]);
    assert_gradient("shadowed", |v: &[T]| shadowed(v[0]), &p[..1], &[g], tol);
    let half = T::from(0.5).unwrap();
    let (_, (gx, gc, gr)) = shifted_grad(&p[..4], p[4], p[5] * half);
    let mut all = p[..4].to_vec();
    all.extend([p[4], p[5] * half]);
    let mut gall = gx.clone();
    gall.extend([gc, gr]);
    assert_gradient(
        "shifted",
        |v: &[T]| shifted(&v[..4], v[4], v[5]),
        &all,
        &gall,
        tol,
    );
}

#[test]
fn shared_subexpressions_f64() {
    let mut rng = Rng::new(71);
    for _ in 0..20 {
        check::<f64>(&mut rng);
    }
}

#[test]
fn shared_subexpressions_f32() {
    let mut rng = Rng::new(72);
    for _ in 0..20 {
        check::<f32>(&mut rng);
    }
}

#[test]
fn closed_forms() {
    // d/dx [(x y - 1)^2 + 2 (1 - x)^2] = 2 y (x y - 1) - 4 (1 - x).
    let (x, y) = (0.7, 1.3);
    let (v, (gx, gy)) = literal_square_grad(x, y);
    assert!(close(v, literal_square(x, y), 1e-15));
    assert!(close(gx, 2.0 * y * (x * y - 1.0) - 4.0 * (1.0 - x), 1e-12));
    assert!(close(gy, 2.0 * x * (x * y - 1.0), 1e-12));
    // d/dx [2 e^x + e^x sin x] = 2 e^x + e^x (sin x + cos x).
    let (_, g) = forms_grad(0.4);
    let e = 0.4f64.exp();
    assert!(close(g, 2.0 * e + e * (0.4f64.sin() + 0.4f64.cos()), 1e-12));
    // One spring of length l: d/dp0 (l - r)^2 = 2 (l - r) (p0 - p1) / l.
    let pos = [[0.0, 0.0], [3.0, 4.0]];
    let (v, g) = springs_grad(&pos, &[(0, 1)], 1.0);
    assert_eq!(v, 16.0);
    assert!(close(g[1][0], 2.0 * 4.0 * 3.0 / 5.0, 1e-12));
    assert!(close(g[1][1], 2.0 * 4.0 * 4.0 / 5.0, 1e-12));
    assert!(close(g[0][0], -g[1][0], 1e-12) && close(g[0][1], -g[1][1], 1e-12));
}

/// Another name for a parameter (`let t0 = x;`, which the generated fns
/// do not bind) read by an expression computed as written: a condition, an
/// integer step, a `match` scrutinee.
#[differentiable]
fn renamed<T: Float>(x: T, y: T) -> T {
    let t0 = x;
    let u = y;
    // (Steps and the loop's bound far from the random points: no kink.)
    let k = (t0 * 0.3).abs().floor().to_usize().unwrap_or(0);
    let a = if t0 > u { t0 * u } else { (t0 - u).sin() };
    let mut s = a;
    let mut i = 0;
    while t0 * T::from(i).unwrap() < u + 10.0 && i < 3 {
        s = s + t0 * 0.1;
        i += 1;
    }
    s * T::from(k + 1).unwrap()
}

#[test]
fn renamed_parameters() {
    fn check<T: Float + std::fmt::Display>(rng: &mut Rng) {
        for _ in 0..20 {
            let p: Vec<T> = cast(&rng.point(2, -1.0, 1.0));
            let (v, (gx, gy)) = renamed_grad(p[0], p[1]);
            assert!((v - renamed(p[0], p[1])).abs() <= T::from(1e-5).unwrap());
            assert_gradient(
                "renamed",
                |q: &[T]| renamed(q[0], q[1]),
                &p,
                &[gx, gy],
                tolerance::<T>(),
            );
        }
    }
    check::<f64>(&mut Rng::new(73));
    check::<f32>(&mut Rng::new(74));
}
