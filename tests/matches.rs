//! `match` on constants with differentiated arms, as users write it:
//! activations chosen by an enum (with data), modes and indices with `|`,
//! ranges, `@` bindings and guards, tuples, `Option`, arms that assign,
//! nested, in loops; `if let` and `matches!`; matches on differentiated
//! values (flags, comparisons, guards); closures bound to names and
//! called. Each checked against finite differences in f64 and
//! f32, every arm taken.

mod common;

use common::{assert_gradient, cast, tolerance, Rng};
use tapeless::{differentiable, Float};

#[derive(Clone, Copy, Debug)]
pub enum Act {
    Relu,
    Tanh,
    Leaky(f64),
    Scaled { gain: f64, bias: f64 },
}

#[differentiable]
fn act<T: Float>(x: T, a: Act) -> T {
    match a {
        Act::Relu => x.max(T::zero()),
        Act::Leaky(s) => {
            if x > T::zero() {
                x
            } else {
                x * T::from(s).unwrap()
            }
        }
        Act::Scaled { gain, bias: b } if gain > 0.0_f64 => {
            x * T::from(gain).unwrap() + T::from(b).unwrap()
        }
        _ => x.tanh(),
    }
}

/// A layer whose activation is a parameter, the match inside a loop.
#[differentiable(wrt(w, x))]
fn layer<T: Float>(w: &[T], x: &[T], a: Act) -> T {
    let mut s = T::zero();
    for i in 0..x.len() {
        s = s + act(w[i] * x[i], a);
    }
    s
}

#[differentiable]
fn modes<T: Float>(x: &[T], mode: usize, pick: Option<usize>) -> T {
    let mut s = T::zero();
    let mut hits = 0;
    for (i, &v) in x.iter().enumerate() {
        let term = match (mode, i % 2) {
            (0, _) => v,
            (1, 0) | (2, 0) => v * v,
            (m, 1) if m > 0 => v.sin() * T::from(m).unwrap(),
            (k, _) => v.powi(k as i32),
        };
        s = s + term;
        match i {
            0 => s = s * 2.0,
            n @ 1..=3 => {
                s = s + v * T::from(n).unwrap();
                hits += 1;
            }
            _ => {}
        }
    }
    let extra = match pick {
        Some(k) if k < x.len() => match k % 2 {
            0 => x[k].exp(),
            _ => x[k].cos(),
        },
        Some(_) => T::one(),
        None => T::zero(),
    };
    s + extra * T::from(hits).unwrap()
}

/// `if let`, `else if let` and `matches!`, which are matches too.
#[differentiable]
fn if_lets<T: Float>(x: T, a: Act, pick: Option<usize>, w: &[T]) -> T {
    let mut y = if matches!(a, Act::Relu) {
        x.max(T::zero())
    } else if let Act::Leaky(s) = a {
        if x > T::zero() {
            x
        } else {
            x * T::from(s).unwrap()
        }
    } else {
        x.tanh()
    };
    if let Some(k) = pick {
        y = y + w[k] * x;
    }
    let flag = matches!(pick, Some(k) if k > 0);
    if flag {
        y * 2.0
    } else {
        y
    }
}

/// Closures bound to names and called, as helpers inside a fn.
#[differentiable]
fn helpers<T: Float>(x: &[T], k: T) -> T {
    let sq = |v: T| v * v;
    let scaled = |a: T, b: T| (a - b) * k;
    let sig = |z: T| T::one() / (T::one() + (-z).exp());
    let mut s = T::zero();
    for i in 1..x.len() {
        s = s + sq(scaled(x[i], x[i - 1])) + sig(x[i]);
    }
    // Arguments named like the parameters, swapped: bound together, not
    // one by one.
    let (a, b) = (x[0], x[1] * 2.0);
    s = s + scaled(b, a);
    let mut count = 0;
    let mut bump = |v: T| {
        count += 1;
        v * 0.5
    };
    s = s + bump(x[0]) + bump(x[1]);
    s * T::from(count).unwrap()
}

fn check<T: Float + std::fmt::Display + std::fmt::Debug>(rng: &mut Rng) {
    let tol = tolerance::<T>();
    let acts = [
        Act::Relu,
        Act::Tanh,
        Act::Leaky(0.1),
        Act::Scaled {
            gain: 2.0,
            bias: 0.5,
        },
        Act::Scaled {
            gain: -1.0,
            bias: 0.5,
        },
    ];
    // Away from relu's kink and leaky's.
    let x: Vec<T> = rng
        .point(5, 0.2, 2.0)
        .iter()
        .zip([1.0, -1.0, 1.0, -1.0, 1.0])
        .map(|(v, s)| T::from(v * s).unwrap())
        .collect();
    for a in acts {
        for &xi in &x {
            let (_, g) = act_grad(xi, a);
            assert_gradient("act", |q: &[T]| act(q[0], a), &[xi], &[g], tol);
        }
        let w: Vec<T> = cast(&rng.point(5, 0.5, 1.5));
        let (_, (gw, gx)) = layer_grad(&w, &x, a);
        let p = [w.clone(), x.clone()].concat();
        let f = |q: &[T]| layer(&q[..5], &q[5..], a);
        assert_gradient("layer", f, &p, &[gw, gx].concat(), tol);
    }
    for a in acts {
        for pick in [None, Some(0), Some(1)] {
            let w: Vec<T> = cast(&rng.point(2, -1.0, 1.0));
            let (_, (gx, gw)) = if_lets_grad(x[1], a, pick, &w);
            let f = |q: &[T]| if_lets(q[0], a, pick, &q[1..]);
            assert_gradient(
                "if_lets",
                f,
                &[x[1], w[0], w[1]],
                &[vec![gx], gw].concat(),
                tol,
            );
        }
    }
    let k = T::from(rng.uniform(0.5, 1.5)).unwrap();
    let (_, (g, gk)) = helpers_grad(&x, k);
    let f = |q: &[T]| helpers(&q[..5], q[5]);
    assert_gradient(
        "helpers",
        f,
        &[x.clone(), vec![k]].concat(),
        &[g, vec![gk]].concat(),
        tol,
    );
    for mode in 0..4 {
        for pick in [None, Some(1), Some(2), Some(9)] {
            let (v, g) = modes_grad(&x, mode, pick);
            assert_eq!(v, modes(&x, mode, pick));
            let f = |q: &[T]| modes(q, mode, pick);
            assert_gradient("modes", f, &x, &g, tol);
        }
    }
}

#[test]
fn matches_f64() {
    let mut rng = Rng::new(61);
    for _ in 0..10 {
        check::<f64>(&mut rng);
    }
}

#[test]
fn matches_f32() {
    let mut rng = Rng::new(62);
    for _ in 0..10 {
        check::<f32>(&mut rng);
    }
}

#[test]
fn the_arm_taken_is_the_one_the_fn_takes() {
    assert_eq!(act_grad(-2.0, Act::Relu), (0.0, 0.0));
    assert_eq!(act_grad(-2.0, Act::Leaky(0.1)), (-0.2, 0.1));
    assert_eq!(
        act_grad(
            3.0,
            Act::Scaled {
                gain: 2.0,
                bias: 0.5
            }
        ),
        (6.5, 2.0)
    );
    // A failed guard falls through to the last arm.
    let (v, g) = act_grad(
        0.5,
        Act::Scaled {
            gain: -1.0,
            bias: 0.5,
        },
    );
    assert_eq!((v, g), (0.5f64.tanh(), 1.0 - 0.5f64.tanh().powi(2)));
}

/// A closure bound again to the same name: each call goes to the closure
/// in scope.
#[differentiable]
fn rebound<T: Float>(x: T) -> T {
    let f = |v: T| v * v;
    let a = f(x);
    let f = |v: T| f(v) * v;
    a + f(x)
}

#[test]
fn closures_bound_again() {
    // x^2 + x^3.
    assert_eq!(rebound_grad(2.0), (12.0, 4.0 + 12.0));
}

/// `match` on differentiated values: a flag made from one, a comparison's
/// tuple, a float with guards (names bound by irrefutable patterns), and
/// `matches!` on one.
#[differentiable]
fn on_values<T: Float>(x: T, y: T) -> T {
    let positive = x > T::zero();
    let a = match positive {
        true => x * x,
        false => -x,
    };
    let b = match (x > y, y > T::zero()) {
        (true, true) => x - y,
        (true, false) => y.exp(),
        _ => y * 2.0,
    };
    let c = match x * y {
        p if p > T::one() => p.ln(),
        p => p * 0.5,
    };
    let d = if matches!(y, v if v < T::zero()) {
        y.sin()
    } else {
        y.cos()
    };
    let e = match x.partial_cmp(&y) {
        Some(core::cmp::Ordering::Less) => y,
        _ => x * 3.0,
    };
    a + b + c + d + e
}

/// Written-out f64: a float literal pattern.
#[differentiable]
fn on_literals(x: f64, y: f64) -> f64 {
    match x {
        0.0 => y,
        _ => x * y,
    }
}

fn check_values<T: Float + std::fmt::Display + std::fmt::Debug>(rng: &mut Rng) {
    // Every arm: both signs of x and y, x above and below y, x y above 1.
    for _ in 0..8 {
        let x =
            T::from(rng.uniform(0.2, 2.0) * [1.0, -1.0][(rng.next_u64() % 2) as usize]).unwrap();
        let y =
            T::from(rng.uniform(0.2, 2.0) * [1.0, -1.0][(rng.next_u64() % 2) as usize]).unwrap();
        let (v, (gx, gy)) = on_values_grad(x, y);
        assert_eq!(v, on_values(x, y));
        let f = |q: &[T]| on_values(q[0], q[1]);
        assert_gradient("on_values", f, &[x, y], &[gx, gy], tolerance::<T>());
    }
}

#[test]
fn matches_on_values() {
    let mut rng = Rng::new(63);
    check_values::<f64>(&mut rng);
    check_values::<f32>(&mut rng);
    // Closed forms: x^2 + (x - y) + ln(x y) + cos(y) + 3 x at (2, 1).
    let (_, (gx, gy)) = on_values_grad(2.0, 1.0);
    assert!((gx - (4.0 + 1.0 + 0.5 + 3.0)).abs() < 1e-12);
    assert!((gy - (-1.0 + 1.0 - 1f64.sin())).abs() < 1e-12);
    assert_eq!(on_literals_grad(0.0, 3.0), (3.0, (0.0, 1.0)));
    assert_eq!(on_literals_grad(2.0, 3.0), (6.0, (3.0, 2.0)));
}
