//! A fixed corpus of random programs: fns of three inputs and a weight
//! made of arithmetic, `sin`, `tanh`, `sqrt`, divisions, calls (a scalar
//! helper, a tuple read by field and by `(t, _)`, an array returned and
//! reduced), arrays filled in loops, `if`/`else` assignments, `while`
//! loops, early returns and `match` on constants, where expressions repeat
//! verbatim (the common subexpressions lowering shares, in branches and
//! after them). Written once by a random generator and kept as it came
//! out, so that every change to lowering and emission meets programs
//! nobody wrote by hand: each fn's value and gradient against the fn
//! itself and central finite differences at four points.

#![allow(
    unused_parens,
    unused_mut,
    unused_variables,
    unused_assignments,
    clippy::all
)]

use tapeless::{differentiable, Float};

#[differentiable]
fn sq<T: Float>(a: T) -> T {
    a * a
}

#[differentiable]
fn mix<T: Float>(a: T, b: T) -> (T, T) {
    (a * b.cos(), a + b * 0.5)
}

#[differentiable]
fn scale<T: Float>(v: &[T], k: T) -> Vec<T> {
    v.iter().map(|&q| q * k).collect()
}

#[differentiable]
fn h0<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let t0p = mix(
        ((sq(0.5) / (1.5 + x[1] * x[1])) / (1.5 + (w + 1.5) * (w + 1.5))),
        0.5,
    );
    let t0 = t0p.0 * t0p.1;
    if x[1] > 1.0 {
        return (((x[1] * x[1] + 0.5).sqrt() + (x[1] / (1.5 + 1.5 * 1.5))) + x[1]);
    }
    let t2p = mix(
        ((x[2] + x[2]) * x[1]).tanh(),
        (((1.5 - x[1]) * (x[1] * x[1] + 0.5).sqrt()) - ((x[2]).sin() - (t0 * t0 + 0.5).sqrt())),
    );
    let t2 = t2p.0 * t2p.1;
    let mut t3v = vec![T::zero(); n];
    for i in 0..n {
        t3v[i] = x[i] * ((x[1] - (t2 - t0)) * (x[2] * (t2 * w))) + t3v[(i + n - 1) % n];
    }
    let t3 = t3v.iter().fold(T::zero(), |a, &b| a + b * b);
    let mut t4v = vec![T::zero(); n];
    for i in 0..n {
        t4v[i] = x[i] * 0.25 + t4v[(i + n - 1) % n];
    }
    let t4 = t4v.iter().fold(T::zero(), |a, &b| a + b * b);
    let t5 = (x[2]).tanh();
    let t6s = scale(x, sq(((t0).sin() * 0.25)));
    let t6 = t6s.iter().map(|&q| q.sin()).fold(T::zero(), |a, b| a + b);
    t0 + t2 + t3 + t4 + t5 + t6
}

#[differentiable]
fn h1<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let mut t0v = vec![T::zero(); n];
    for i in 0..n {
        t0v[i] = x[i]
            * ((0.25 - x[0]).sin() - ((x[1]).tanh() / (1.5 + (x[1] - x[1]) * (x[1] - x[1]))))
            + t0v[(i + n - 1) % n];
    }
    let t0 = t0v.iter().fold(T::zero(), |a, &b| a + b * b);
    let (t1, _) = mix(
        sq(w),
        (((0.5 - w) * (0.5 + x[0])) * ((0.5 - w) * (0.5 + x[0])) + 0.5).sqrt(),
    );
    let mut t2v = vec![T::zero(); n];
    for i in 0..n {
        t2v[i] = x[i] * (0.5 * (sq(t0) * sq(t0) + 0.5).sqrt()) + t2v[(i + n - 1) % n];
    }
    let t2 = t2v.iter().fold(T::zero(), |a, &b| a + b * b);
    let t3p = mix(
        (((w * x[1]) * (t1 * x[0])) + ((0.25 - w) * (0.25 - w) + 0.5).sqrt()),
        (1.5 * x[2]),
    );
    let t3 = t3p.0 * t3p.1;
    let t4s = scale(x, x[1]);
    let t4 = t4s.iter().map(|&q| q.sin()).fold(T::zero(), |a, b| a + b);
    t0 + t1 + t2 + t3 + t4
}

#[differentiable]
fn h2<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let t0 = x[1];
    let t1 = x[2];
    let t2p = mix(
        (sq((w - t0)) + ((t1 + t0) * t0)),
        ((1.5 * (0.25 / (1.5 + w * w))) * (1.5 * (0.25 / (1.5 + w * w))) + 0.5).sqrt(),
    );
    let t2 = t2p.0 * t2p.1;
    let (t3, _) = mix(sq(((t1 * t2) * x[0])), (1.5).tanh());
    let mut t4 = (x[1]).sin();
    let mut it = 0;
    while it < 3 && t4 < 10.0 {
        t4 = t4 * 0.7 + (((t0 * w) * 0.25) + (x[2] * t1).tanh()) * 0.1;
        it += 1;
    }
    let t5 = (((t4 + x[0]) * (w * w + 0.5).sqrt()) * ((t1 + 1.5) / (1.5 + (t2 * t1) * (t2 * t1))));
    let t6 = match n % 3 {
        0 => (((t2 * x[0]) * x[0]) * ((t0 - 0.25) * (t0 - 0.25) + 0.5).sqrt()),
        1 => 1.5,
        _ => t0,
    };
    t0 + t1 + t2 + t3 + t4 + t5 + t6
}

#[differentiable]
fn h3<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let t0 = (((x[0] - w) - (1.5 + x[1])) + (x[1] + (0.25 * x[2])));
    let (t1, _) = mix(
        (((x[0] + w) * (w - 1.5)) + t0),
        (((x[1] + w) + (w + x[0])) * ((x[1] + w) + (w + x[0])) + 0.5).sqrt(),
    );
    let t2 = 0.5;
    if t2 > 1.0 {
        return (w + (t2 + w).sin());
    }
    t0 + t1 + t2
}

#[differentiable]
fn h4<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let t0 = (x[0] + ((x[1] - x[1]) * (x[1] - x[1]) + 0.5).sqrt());
    let mut t1v = vec![T::zero(); n];
    for i in 0..n {
        t1v[i] = x[i] * (0.5 + ((0.25 / (1.5 + w * w)) * 1.5)) + t1v[(i + n - 1) % n];
    }
    let t1 = t1v.iter().fold(T::zero(), |a, &b| a + b * b);
    let mut t2 = (x[2] - t1);
    let mut it = 0;
    while it < 3 && t2 < 10.0 {
        t2 = t2 * 0.7 + (x[2] + ((x[1] + x[2]) - (x[1] + x[0]))) * 0.1;
        it += 1;
    }
    let t3p = mix(
        (1.5 / (1.5
            + ((w * w + 0.5).sqrt() + (w * w + 0.5).sqrt())
                * ((w * w + 0.5).sqrt() + (w * w + 0.5).sqrt()))),
        0.25,
    );
    let t3 = t3p.0 * t3p.1;
    let mut t4 = (((t0 - 1.5) * (0.5 - w)) + ((t1 + w) / (1.5 + (x[1] + 1.5) * (x[1] + 1.5))));
    if w > t1 {
        t4 = ((x[1] + (t2 * x[0])) * ((t3 * 0.25) * (x[2] / (1.5 + 1.5 * 1.5))));
    } else {
        t4 = t4 * ((t1 + sq(1.5)) + x[1]);
    }
    t0 + t1 + t2 + t3 + t4
}

#[differentiable]
fn h5<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let t0 = (((x[1]).sin() / (1.5 + (0.25 + x[0]) * (0.25 + x[0])))
        * ((x[1]).sin() / (1.5 + (0.25 + x[0]) * (0.25 + x[0])))
        + 0.5)
        .sqrt();
    let (t1, _) = mix(
        (sq(x[1]) - ((w * x[1]) / (1.5 + (x[2] - x[0]) * (x[2] - x[0])))),
        t0,
    );
    if x[0] > 1.0 {
        return t0;
    }
    t0 + t1
}

#[differentiable]
fn h6<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let t0 = x[0];
    let mut t1v = vec![T::zero(); n];
    for i in 0..n {
        t1v[i] = x[i]
            * ((sq(x[0]) + x[2])
                / (1.5
                    + ((0.5).sin() + (0.5 / (1.5 + x[0] * x[0])))
                        * ((0.5).sin() + (0.5 / (1.5 + x[0] * x[0])))))
            + t1v[(i + n - 1) % n];
    }
    let t1 = t1v.iter().fold(T::zero(), |a, &b| a + b * b);
    let (t2, _) = mix(
        (((1.5 + x[0]) * (1.5 + x[0]) + 0.5).sqrt() + ((x[0]).sin() + (x[1] + w))),
        (w).sin(),
    );
    let mut t3 = (sq(x[1]) + w);
    let mut it = 0;
    while it < 3 && t3 < 10.0 {
        t3 = t3 * 0.7 + (((x[2] + t2) + (w * 0.25)) + ((x[0] / (1.5 + w * w)) * (1.5 * 1.5))) * 0.1;
        it += 1;
    }
    let mut t4 = ((0.5 - (t0 + t1)) + x[1]);
    if x[2] > t3 {
        t4 = x[0];
    } else {
        t4 = t4 * sq(t3);
    }
    t0 + t1 + t2 + t3 + t4
}

#[differentiable]
fn h7<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let mut t0v = vec![T::zero(); n];
    for i in 0..n {
        t0v[i] = x[i] * x[0] + t0v[(i + n - 1) % n];
    }
    let t0 = t0v.iter().fold(T::zero(), |a, &b| a + b * b);
    let t1p = mix(x[2], ((x[2] * x[2] + 0.5).sqrt() * x[0]));
    let t1 = t1p.0 * t1p.1;
    let mut t2 = (((x[0] + x[2]) * (x[0] * x[2])) * ((w * x[1]) - (x[0] / (1.5 + t0 * t0))));
    if t0 > w {
        t2 = t0;
    } else {
        t2 = t2 * ((t0 + (x[2] + 1.5)) * (0.25 - x[0]));
    }
    if x[0] > 1.0 {
        return (w / (1.5 + (1.5 * x[0]).tanh() * (1.5 * x[0]).tanh()));
    }
    if w > 1.0 {
        return t0;
    }
    t0 + t1 + t2
}

#[differentiable]
fn h8<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let mut t0 = ((x[2] + x[0]).sin()
        / (1.5
            + ((w - x[1]) - (x[1] * x[1] + 0.5).sqrt())
                * ((w - x[1]) - (x[1] * x[1] + 0.5).sqrt())));
    let mut it = 0;
    while it < 3 && t0 < 10.0 {
        t0 = t0 * 0.7 + (((w + w) / (1.5 + (w - w) * (w - w))) + (x[1] * x[1] + 0.5).sqrt()) * 0.1;
        it += 1;
    }
    let t1p = mix(
        sq(x[0]),
        (((x[0] - x[2]) - sq(x[2])) / (1.5 + (w * w).tanh() * (w * w).tanh())),
    );
    let t1 = t1p.0 * t1p.1;
    let t2 = match n % 3 {
        0 => (((t0 + x[0]) + (x[0] / (1.5 + t0 * t0))) - (0.5).tanh()),
        1 => (1.5 + ((x[1] / (1.5 + x[2] * x[2])) * (x[0] * x[1]))),
        _ => ((t1 * t0) * (t1 * t0) + 0.5).sqrt(),
    };
    let (t3, _) = mix(w, ((x[2] * x[2] + 0.5).sqrt() * (t1).sin()));
    let mut t4v = vec![T::zero(); n];
    for i in 0..n {
        t4v[i] = x[i]
            * ((t1 - x[0]).tanh()
                / (1.5 + ((x[0] - x[1]) * (w + t2)) * ((x[0] - x[1]) * (w + t2))))
            + t4v[(i + n - 1) % n];
    }
    let t4 = t4v.iter().fold(T::zero(), |a, &b| a + b * b);
    let t5 = match n % 3 {
        0 => (x[0] / (1.5 + x[1] * x[1])),
        1 => (((t3 - 0.25) - x[0]) * x[0]),
        _ => x[2],
    };
    let t6s = scale(x, (0.25 * (t5).tanh()).tanh());
    let t6 = t6s.iter().map(|&q| q.sin()).fold(T::zero(), |a, b| a + b);
    t0 + t1 + t2 + t3 + t4 + t5 + t6
}

#[differentiable]
fn h9<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let mut t0v = vec![T::zero(); n];
    for i in 0..n {
        t0v[i] = x[i] * (1.5 - ((x[0] * x[1]) + sq(x[0]))) + t0v[(i + n - 1) % n];
    }
    let t0 = t0v.iter().fold(T::zero(), |a, &b| a + b * b);
    let t1 = (sq((x[2] * x[0])) / (1.5 + ((x[2] - t0) + x[0]) * ((x[2] - t0) + x[0])));
    let t2 = (sq(sq(x[2])) * ((t0 * x[0]) - t0));
    t0 + t1 + t2
}

#[differentiable]
fn h10<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let t0 = ((x[1] - sq(1.5)) + sq(sq(x[0])));
    let t1p = mix(((x[2] + w) + w), x[1]);
    let t1 = t1p.0 * t1p.1;
    let mut t2v = vec![T::zero(); n];
    for i in 0..n {
        t2v[i] = x[i] * w + t2v[(i + n - 1) % n];
    }
    let t2 = t2v.iter().fold(T::zero(), |a, &b| a + b * b);
    t0 + t1 + t2
}

#[differentiable]
fn h11<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let mut t0 = ((x[2] - x[0]) * (x[1] * w)).sin();
    if x[1] > x[2] {
        t0 = x[0];
    } else {
        t0 = t0 * x[2];
    }
    let t1p = mix(
        (((w / (1.5 + 0.25 * 0.25)) + (x[2] + 0.5)) + 1.5),
        (((x[1] * t0) + (w - w)) - (0.25 + (x[1] - x[1]))),
    );
    let t1 = t1p.0 * t1p.1;
    let t2 = match n % 3 {
        0 => (t0 / (1.5 + ((0.5 + x[0]) - x[0]) * ((0.5 + x[0]) - x[0]))),
        1 => (((x[1] + t1) - (x[0] + 0.25)) * ((x[1] + t1) - (x[0] + 0.25)) + 0.5).sqrt(),
        _ => (t0 + x[0]).sin(),
    };
    let mut t3 = x[1];
    if x[2] > x[2] {
        t3 = x[0];
    } else {
        t3 = t3 * ((t2 - 0.25) - x[0]).sin();
    }
    let mut t4 = ((x[1] / (1.5 + t3 * t3)) * (t1 / (1.5 + x[0] * x[0]))).sin();
    if t3 > x[2] {
        t4 = t0;
    } else {
        t4 = t4 * (((w - w) - (t0).tanh()) - ((x[0]).sin() + (t0 + x[2])));
    }
    t0 + t1 + t2 + t3 + t4
}

#[differentiable]
fn h12<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let t0s = scale(
        x,
        (x[1] / (1.5 + (1.5 - x[1]).tanh() * (1.5 - x[1]).tanh())),
    );
    let t0 = t0s.iter().map(|&q| q.sin()).fold(T::zero(), |a, b| a + b);
    let t1 = ((x[0] / (1.5 + 0.5 * 0.5)) + x[1]).sin();
    let t2 = (((1.5 + x[0]) / (1.5 + x[2] * x[2])) * t1);
    let t3p = mix(
        (((x[0] - t2) * t2) * 0.5),
        (((t1 / (1.5 + 0.5 * 0.5)) - x[1]) + sq((t1 * t1 + 0.5).sqrt())),
    );
    let t3 = t3p.0 * t3p.1;
    let t4 = (t3).tanh();
    t0 + t1 + t2 + t3 + t4
}

#[differentiable]
fn h13<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let t0 = (x[0] - ((x[0] * w) - w));
    let mut t1 = ((x[0] - (1.5 * x[1])) / (1.5 + (w * w + 0.5).sqrt() * (w * w + 0.5).sqrt()));
    let mut it = 0;
    while it < 3 && t1 < 10.0 {
        t1 = t1 * 0.7 + 0.5 * 0.1;
        it += 1;
    }
    let t2 = match n % 3 {
        0 => t0,
        1 => t1,
        _ => x[1],
    };
    let t3p = mix(
        (((x[2] * w) * 1.5) * ((x[2] * w) * 1.5) + 0.5).sqrt(),
        sq(((0.5 * t2) * (x[0] * x[0] + 0.5).sqrt())),
    );
    let t3 = t3p.0 * t3p.1;
    let mut t4v = vec![T::zero(); n];
    for i in 0..n {
        t4v[i] = x[i] * ((0.5 * (t3 - t0)) - t1) + t4v[(i + n - 1) % n];
    }
    let t4 = t4v.iter().fold(T::zero(), |a, &b| a + b * b);
    t0 + t1 + t2 + t3 + t4
}

#[differentiable]
fn h14<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let t0 = match n % 3 {
        0 => (x[2] + ((x[1]).tanh() / (1.5 + (x[2]).sin() * (x[2]).sin()))),
        1 => (((x[1] + x[2]) / (1.5 + 0.25 * 0.25)) * ((1.5 * x[2]) + (x[2] - w))),
        _ => (0.5).sin(),
    };
    let t1 = sq(((t0 * t0) * (t0 / (1.5 + w * w))));
    let t2p = mix((x[0] * 0.5), (x[0] * ((t1 * t1 + 0.5).sqrt()).tanh()));
    let t2 = t2p.0 * t2p.1;
    let t3 = (((w - 1.5) / (1.5 + t1 * t1)) * ((1.5 + 0.25) * (t0 + t1)));
    let t4 = 0.25;
    let t5s = scale(x, t2);
    let t5 = t5s.iter().map(|&q| q.sin()).fold(T::zero(), |a, b| a + b);
    let t6 = (x[1] - (1.5 * (t5).tanh()));
    t0 + t1 + t2 + t3 + t4 + t5 + t6
}

#[differentiable]
fn h15<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let t0 = (w / (1.5 + x[1] * x[1]));
    if x[0] > 1.0 {
        return x[1];
    }
    let t2 = ((0.5 + t0) * 0.5).tanh();
    t0 + t2
}

#[differentiable]
fn h16<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let t0 = (((0.5 + 0.5) * (0.5 + 0.5) + 0.5).sqrt() - w);
    let t1 = x[2];
    let (t2, _) = mix(
        (t1 / (1.5
            + ((x[1] + x[2]) * (x[1] + x[2]) + 0.5).sqrt()
                * ((x[1] + x[2]) * (x[1] + x[2]) + 0.5).sqrt())),
        (((x[1] * x[1] + 0.5).sqrt() * (x[1] * x[1] + 0.5).sqrt() + 0.5).sqrt()
            * ((x[1] * x[1] + 0.5).sqrt() * (x[1] * x[1] + 0.5).sqrt() + 0.5).sqrt()
            + 0.5)
            .sqrt(),
    );
    t0 + t1 + t2
}

#[differentiable]
fn h17<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let mut t0v = vec![T::zero(); n];
    for i in 0..n {
        t0v[i] = x[i] * x[0] + t0v[(i + n - 1) % n];
    }
    let t0 = t0v.iter().fold(T::zero(), |a, &b| a + b * b);
    let t1 = (((w + w) * (x[2] * 0.25))
        * ((0.5 * 0.5 + 0.5).sqrt() * (0.5 * 0.5 + 0.5).sqrt() + 0.5).sqrt());
    let t2 = 0.5;
    let (t3, _) = mix(x[1], (((x[0]).tanh() - (t1 * 0.5)) * t2));
    let t4 = (t2 - ((t2 * 0.25) - sq(0.25)));
    t0 + t1 + t2 + t3 + t4
}

#[differentiable]
fn h18<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let t0 = w;
    let mut t1 = x[0];
    let mut it = 0;
    while it < 3 && t1 < 10.0 {
        t1 = t1 * 0.7 + (t0 - x[0]) * 0.1;
        it += 1;
    }
    let t2s = scale(x, sq(((x[1] / (1.5 + x[1] * x[1])) * (t1 + x[1]))));
    let t2 = t2s.iter().map(|&q| q.sin()).fold(T::zero(), |a, b| a + b);
    let t3 = sq(((x[0]).sin() + (t1 / (1.5 + 0.5 * 0.5))));
    let mut t4 = (t3 + 0.25);
    if t3 > t2 {
        t4 = ((x[2] - 1.5) + sq((t2 + x[1])));
    } else {
        t4 = t4 * ((1.5 * (0.25 + t0)) + t1);
    }
    let t5p = mix(
        (((t0).tanh() / (1.5 + (1.5 + w) * (1.5 + w))) * (t3 - (x[1] * 0.25))),
        (((1.5 - t2) * (1.5 - t2) + 0.5).sqrt() - (x[0] + t0).sin()),
    );
    let t5 = t5p.0 * t5p.1;
    let mut t6v = vec![T::zero(); n];
    for i in 0..n {
        t6v[i] = x[i] * (((t0 * x[1]) * t4) * (x[1] + t4)) + t6v[(i + n - 1) % n];
    }
    let t6 = t6v.iter().fold(T::zero(), |a, &b| a + b * b);
    t0 + t1 + t2 + t3 + t4 + t5 + t6
}

#[differentiable]
fn h19<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let t0 = (0.5 * 0.5 + 0.5).sqrt();
    let t1p = mix(x[1], t0);
    let t1 = t1p.0 * t1p.1;
    let t2 = ((0.25 + (t0 + 1.5)) * ((x[0] * x[0] + 0.5).sqrt() + (w / (1.5 + x[2] * x[2]))));
    if t2 > 1.0 {
        return (((w).sin()).tanh() * ((w).sin()).tanh() + 0.5).sqrt();
    }
    let t4 = (((t0).sin() + 0.5) * ((t0).sin() + 0.5) + 0.5).sqrt();
    t0 + t1 + t2 + t4
}

#[differentiable]
fn h20<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let t0s = scale(x, x[2]);
    let t0 = t0s.iter().map(|&q| q.sin()).fold(T::zero(), |a, b| a + b);
    let t1p = mix(
        (((w - t0) - x[0]) + x[0]),
        (t0 - ((x[1] + 1.5) + (x[1] - 1.5))),
    );
    let t1 = t1p.0 * t1p.1;
    let (t2, _) = mix(
        ((t0 * (t0 * t0 + 0.5).sqrt()) + ((w - t1) + t0)),
        (((x[2] * t0) / (1.5 + (t1).sin() * (t1).sin())) - (w * (x[0] * x[0] + 0.5).sqrt())),
    );
    let (t3, _) = mix(
        t2,
        (((t1 / (1.5 + x[0] * x[0])) * (t0 + t2)) - (sq(x[0]) - t1)),
    );
    let t4 = ((1.5 / (1.5 + 0.25 * 0.25)) - (sq(t3) * (x[0] * x[0] + 0.5).sqrt()));
    let t5s = scale(x, w);
    let t5 = t5s.iter().map(|&q| q.sin()).fold(T::zero(), |a, b| a + b);
    if x[1] > 1.0 {
        return (((t2 * 0.5) * (0.25 / (1.5 + t4 * t4))) + ((t5 + t0) + (t5 - t3)));
    }
    t0 + t1 + t2 + t3 + t4 + t5
}

#[differentiable]
fn h21<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let mut t0 = (x[0] * (sq(0.25) + (1.5 * 1.5 + 0.5).sqrt()));
    if w > x[0] {
        t0 = (1.5 * sq((x[2] * x[2])));
    } else {
        t0 = t0 * (w * sq(x[0]));
    }
    let t1p = mix(
        (((x[2] + x[2]) * (x[2] + x[2]) + 0.5).sqrt()
            * ((x[2] + x[2]) * (x[2] + x[2]) + 0.5).sqrt()
            + 0.5)
            .sqrt(),
        (((0.25 - x[1]) + (0.5 * x[1])) * sq((1.5 + 0.5))),
    );
    let t1 = t1p.0 * t1p.1;
    let mut t2v = vec![T::zero(); n];
    for i in 0..n {
        t2v[i] = x[i] * ((t1).sin() * t0) + t2v[(i + n - 1) % n];
    }
    let t2 = t2v.iter().fold(T::zero(), |a, &b| a + b * b);
    let t3p = mix(1.5, t2);
    let t3 = t3p.0 * t3p.1;
    t0 + t1 + t2 + t3
}

#[differentiable]
fn h22<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let t0 = (((0.25).tanh() + (x[1]).sin()) - 0.25);
    let t1 = (((x[1] * x[0]) * (x[1] * x[0]) + 0.5).sqrt() * (1.5 - x[1]).tanh());
    let t2p = mix(((x[1] * 0.5) * (x[1] * 0.5) + 0.5).sqrt(), t0);
    let t2 = t2p.0 * t2p.1;
    t0 + t1 + t2
}

#[differentiable]
fn h23<T: Float>(x: &[T], w: T) -> T {
    let n = x.len();
    let t0 = x[0];
    let (t1, _) = mix(x[0], x[2]);
    let t2p = mix(x[2], sq((x[1] / (1.5 + (0.25 + w) * (0.25 + w)))));
    let t2 = t2p.0 * t2p.1;
    let mut t3 = (sq((t2 + 1.5)) - ((t2 + 0.5) * (0.5 / (1.5 + x[2] * x[2]))));
    let mut it = 0;
    while it < 3 && t3 < 10.0 {
        t3 = t3 * 0.7 + (t1).sin() * 0.1;
        it += 1;
    }
    t0 + t1 + t2 + t3
}

#[test]
fn generated_programs() {
    let pts: [[f64; 4]; 4] = [
        [0.3, -0.7, 1.1, 0.45],
        [-0.4, 0.9, 0.2, -0.15],
        [1.2, 0.1, -0.6, 0.8],
        [0.05, 0.35, -0.25, 1.3],
    ];
    let mut bad = 0;
    for p in pts {
        let (v, (gx, gw)) = h0_grad(&p[..3], p[3]);
        if (v - h0(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h0 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h0(&a[..3], a[3]) - h0(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h0 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h1_grad(&p[..3], p[3]);
        if (v - h1(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h1 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h1(&a[..3], a[3]) - h1(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h1 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h2_grad(&p[..3], p[3]);
        if (v - h2(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h2 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h2(&a[..3], a[3]) - h2(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h2 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h3_grad(&p[..3], p[3]);
        if (v - h3(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h3 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h3(&a[..3], a[3]) - h3(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h3 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h4_grad(&p[..3], p[3]);
        if (v - h4(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h4 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h4(&a[..3], a[3]) - h4(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h4 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h5_grad(&p[..3], p[3]);
        if (v - h5(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h5 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h5(&a[..3], a[3]) - h5(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h5 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h6_grad(&p[..3], p[3]);
        if (v - h6(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h6 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h6(&a[..3], a[3]) - h6(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h6 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h7_grad(&p[..3], p[3]);
        if (v - h7(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h7 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h7(&a[..3], a[3]) - h7(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h7 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h8_grad(&p[..3], p[3]);
        if (v - h8(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h8 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h8(&a[..3], a[3]) - h8(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h8 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h9_grad(&p[..3], p[3]);
        if (v - h9(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h9 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h9(&a[..3], a[3]) - h9(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h9 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h10_grad(&p[..3], p[3]);
        if (v - h10(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h10 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h10(&a[..3], a[3]) - h10(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h10 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h11_grad(&p[..3], p[3]);
        if (v - h11(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h11 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h11(&a[..3], a[3]) - h11(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h11 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h12_grad(&p[..3], p[3]);
        if (v - h12(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h12 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h12(&a[..3], a[3]) - h12(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h12 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h13_grad(&p[..3], p[3]);
        if (v - h13(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h13 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h13(&a[..3], a[3]) - h13(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h13 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h14_grad(&p[..3], p[3]);
        if (v - h14(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h14 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h14(&a[..3], a[3]) - h14(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h14 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h15_grad(&p[..3], p[3]);
        if (v - h15(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h15 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h15(&a[..3], a[3]) - h15(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h15 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h16_grad(&p[..3], p[3]);
        if (v - h16(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h16 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h16(&a[..3], a[3]) - h16(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h16 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h17_grad(&p[..3], p[3]);
        if (v - h17(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h17 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h17(&a[..3], a[3]) - h17(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h17 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h18_grad(&p[..3], p[3]);
        if (v - h18(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h18 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h18(&a[..3], a[3]) - h18(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h18 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h19_grad(&p[..3], p[3]);
        if (v - h19(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h19 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h19(&a[..3], a[3]) - h19(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h19 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h20_grad(&p[..3], p[3]);
        if (v - h20(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h20 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h20(&a[..3], a[3]) - h20(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h20 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h21_grad(&p[..3], p[3]);
        if (v - h21(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h21 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h21(&a[..3], a[3]) - h21(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h21 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h22_grad(&p[..3], p[3]);
        if (v - h22(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h22 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h22(&a[..3], a[3]) - h22(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h22 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    for p in pts {
        let (v, (gx, gw)) = h23_grad(&p[..3], p[3]);
        if (v - h23(&p[..3], p[3])).abs() > 1e-12 * (1.0 + v.abs()) {
            bad += 1;
            println!("h23 value");
        }
        let g = [gx[0], gx[1], gx[2], gw];
        for i in 0..4 {
            let h = 1e-6;
            let mut a = p;
            a[i] += h;
            let mut b = p;
            b[i] -= h;
            let fd = (h23(&a[..3], a[3]) - h23(&b[..3], b[3])) / (2.0 * h);
            if (fd - g[i]).abs() > 1e-4 * (1.0 + fd.abs()) {
                bad += 1;
                println!("h23 p {:?} i {i} g {} fd {}", p, g[i], fd);
            }
        }
    }
    assert_eq!(
        bad, 0,
        "gradients that differ from finite differences (printed above)"
    );
}
