//! The rewrites combined at random (a seeded generator, written out here):
//! closures, matches, labels, loops with values, reductions, pushes,
//! unpacking, returns in loops, calls with array results, in one fn each.
//! Each checked against finite differences for three values of the
//! constant `m`. Combining them found four bugs the one-feature tests did
//! not (see the README's changelog).

#![allow(unused, clippy::all)]

use tapeless::{differentiable, dot, Float};

#[differentiable]
fn helper<T: Float>(v: &[T], k: T) -> Vec<T> {
    let mut o = vec![T::zero(); v.len()];
    for i in 0..v.len() {
        o[i] = (v[i] * k).sin();
    }
    o
}

#[differentiable]
fn norm3<T: Float>(v: [T; 3]) -> T {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

#[differentiable]
fn arr<T: Float>(k: T) -> [T; 3] {
    [k, k * k, T::one()]
}

#[differentiable]
fn pair<T: Float>(a: T, b: T) -> (T, T) {
    (a * b, a - b)
}

#[differentiable(wrt(x, k))]
fn c43_0<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let r = loop {
        s = s * 0.5;
        if s < k {
            break s;
        }
    };
    let w2 = loop {
        if s > k {
            break s * 2.0;
        }
        s = s + k;
        if s > T::from(100.0).unwrap() {
            break s;
        }
    };
    s
}

#[differentiable(wrt(x, k))]
fn c43_1<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let g = x.iter().any(|&v| v > k);
    let z = dot(&[x[0], k], &[k, x[1]]);
    let t = match m {
        Some(j) if j < x.len() => {
            let u = x[j] * k;
            u * u
        }
        Some(_) => {
            if k > s {
                k
            } else {
                s
            }
        }
        None => x.iter().fold(T::zero(), |a, &b| a + b),
    };
    s
}

#[differentiable(wrt(x, k))]
fn c43_2<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let g = x.iter().any(|&v| v > k);
    let (p1, p2) = pair(x[0], k);
    s = s + p1 * p2;
    s
}

#[differentiable(wrt(x, k))]
fn c55_0<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let y = match m {
        Some(0) => x[0],
        Some(n) if n < 3 => x[1] * T::from(n).unwrap(),
        Some(_) => k,
        None => T::zero(),
    };
    let [p, q] = [x[0], x[1]];
    s
}

#[differentiable(wrt(x, k))]
fn c55_1<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let mut w = x.to_vec();
    for v in w.iter_mut() {
        *v = *v * k;
    }
    let c = x.iter().fold(T::zero(), |m, &v| m.max(v));
    for (i, &v) in x.iter().enumerate() {
        let d = [v, k * v];
        s = s + d[0] * d[1] * T::from(i).unwrap();
    }
    let sq = |v: T| v * v;
    s = s + sq(x[0]) + sq(k);
    s
}

#[differentiable(wrt(x, k))]
fn c55_2<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let c = x.iter().fold(T::zero(), |m, &v| m.max(v));
    let z = dot(&[x[0], k], &[k, x[1]]);
    for (i, &v) in x.iter().enumerate() {
        let d = [v, k * v];
        s = s + d[0] * d[1] * T::from(i).unwrap();
    }
    s = s + x
        .iter()
        .zip(x.iter())
        .map(|(a, b)| *a - *b * k)
        .product::<T>();
    s
}

#[differentiable(wrt(x, k))]
fn c62_0<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let c = x.iter().fold(T::zero(), |m, &v| m.max(v));
    let mut w = x.to_vec();
    for v in w.iter_mut() {
        *v = *v * k;
    }
    if let Some(n) = m {
        s = s + x[n % x.len()];
    }
    s
}

#[differentiable(wrt(x, k))]
fn c62_1<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let r = loop {
        s = s * 0.5;
        if s < k {
            break s;
        }
    };
    let t = match m {
        Some(j) if j < x.len() => {
            let u = x[j] * k;
            u * u
        }
        Some(_) => {
            if k > s {
                k
            } else {
                s
            }
        }
        None => x.iter().fold(T::zero(), |a, &b| a + b),
    };
    let z = dot(&[x[0], k], &[k, x[1]]);
    let sq = |v: T| v * v;
    s = s + sq(x[0]) + sq(k);
    s = s + norm3([x[0], k, x[1]]);
    let av: [T; 3] = arr(k);
    s = s + norm3(av) + av[1];
    s
}

#[differentiable(wrt(x, k))]
fn c62_2<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let sq = |v: T| v * v;
    s = s + sq(x[0]) + sq(k);
    let a = x.iter().map(|&v| v * v).sum::<T>();
    'o: for i in 0..x.len() {
        for j in 0..x.len() {
            if x[i] > x[j] {
                continue 'o;
            }
            if i + j > 3 {
                break 'o;
            }
            s = s + x[i] * x[j];
        }
    }
    s
}

#[differentiable(wrt(x, k))]
fn c66_0<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let r = loop {
        s = s * 0.5;
        if s < k {
            break s;
        }
    };
    let f = matches!(m, Some(1 | 2));
    s
}

#[differentiable(wrt(x, k))]
fn c66_1<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    if let Some(j) = m {
        for i in 0..x.len() {
            if i == j {
                return s * x[i];
            }
        }
    }
    let g = x.iter().any(|&v| v > k);
    let r = loop {
        s = s * 0.5;
        if s < k {
            break s;
        }
    };
    s
}

#[differentiable(wrt(x, k))]
fn c66_2<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    s = s + x
        .iter()
        .zip(x.iter())
        .map(|(a, b)| *a - *b * k)
        .product::<T>();
    if let Some(j) = m {
        for i in 0..x.len() {
            if i == j {
                return s * x[i];
            }
        }
    }
    let mut it = 0;
    while it < 5 {
        it += 1;
        s = s + k * x[it % x.len()];
        if s > T::from(3.0).unwrap() {
            return s;
        }
    }
    let mut h = Vec::new();
    for v in x.iter() {
        h.push(*v * k);
    }
    s
}

#[differentiable(wrt(x, k))]
fn c84_0<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let mut it = 0;
    'l: loop {
        it += 1;
        if it > 3 {
            break;
        }
        for &v in x.iter() {
            if v < k {
                s = s + v;
                continue 'l;
            }
        }
        break;
    }
    let b: Vec<T> = x.iter().map(|v| *v * k).collect();
    let hv = helper(x, k);
    s = s + hv[0] * hv[1] + hv.iter().fold(T::zero(), |a, &b| a + b);
    let a = x.iter().map(|&v| v * v).sum::<T>();
    s
}

#[differentiable(wrt(x, k))]
fn c84_1<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let mut w = x.to_vec();
    for v in w.iter_mut() {
        *v = *v * k;
    }
    let y = match m {
        Some(0) => x[0],
        Some(n) if n < 3 => x[1] * T::from(n).unwrap(),
        Some(_) => k,
        None => T::zero(),
    };
    let g = x.iter().any(|&v| v > k);
    let hv = helper(x, k);
    s = s + hv[0] * hv[1] + hv.iter().fold(T::zero(), |a, &b| a + b);
    s
}

#[differentiable(wrt(x, k))]
fn c84_2<T: Float + std::iter::Sum + std::iter::Product>(x: &[T], k: T, m: Option<usize>) -> T {
    let mut s = T::zero();
    let (p1, p2) = pair(x[0], k);
    s = s + p1 * p2;
    let [p, q] = [x[0], x[1]];
    let mut it = 0;
    while it < 5 {
        it += 1;
        s = s + k * x[it % x.len()];
        if s > T::from(3.0).unwrap() {
            return s;
        }
    }
    let mut it = 0;
    'l: loop {
        it += 1;
        if it > 3 {
            break;
        }
        for &v in x.iter() {
            if v < k {
                s = s + v;
                continue 'l;
            }
        }
        break;
    }
    s
}

#[test]
fn combinations_match_finite_differences() {
    let x = [0.3f64, -0.5, 1.2, 0.7];
    for m in [None, Some(0), Some(2)] {
        let (_, (g, gk)) = c43_0_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f64]| c43_0(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(1e-5), "c43_0 {m:?}\n{r}");
        let (_, (g, gk)) = c43_1_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f64]| c43_1(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(1e-5), "c43_1 {m:?}\n{r}");
        let (_, (g, gk)) = c43_2_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f64]| c43_2(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(1e-5), "c43_2 {m:?}\n{r}");
        let (_, (g, gk)) = c55_0_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f64]| c55_0(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(1e-5), "c55_0 {m:?}\n{r}");
        let (_, (g, gk)) = c55_1_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f64]| c55_1(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(1e-5), "c55_1 {m:?}\n{r}");
        let (_, (g, gk)) = c55_2_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f64]| c55_2(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(1e-5), "c55_2 {m:?}\n{r}");
        let (_, (g, gk)) = c62_0_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f64]| c62_0(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(1e-5), "c62_0 {m:?}\n{r}");
        let (_, (g, gk)) = c62_1_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f64]| c62_1(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(1e-5), "c62_1 {m:?}\n{r}");
        let (_, (g, gk)) = c62_2_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f64]| c62_2(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(1e-5), "c62_2 {m:?}\n{r}");
        let (_, (g, gk)) = c66_0_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f64]| c66_0(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(1e-5), "c66_0 {m:?}\n{r}");
        let (_, (g, gk)) = c66_1_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f64]| c66_1(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(1e-5), "c66_1 {m:?}\n{r}");
        let (_, (g, gk)) = c66_2_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f64]| c66_2(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(1e-5), "c66_2 {m:?}\n{r}");
        let (_, (g, gk)) = c84_0_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f64]| c84_0(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(1e-5), "c84_0 {m:?}\n{r}");
        let (_, (g, gk)) = c84_1_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f64]| c84_1(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(1e-5), "c84_1 {m:?}\n{r}");
        let (_, (g, gk)) = c84_2_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f64]| c84_2(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(1e-5), "c84_2 {m:?}\n{r}");
    }
}

#[test]
fn combinations_match_finite_differences_f32() {
    let x = [0.3f32, -0.5, 1.2, 0.7];
    for m in [None, Some(0), Some(2)] {
        let (_, (g, gk)) = c43_0_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f32]| c43_0(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(2e-2), "c43_0 {m:?}\n{r}");
        let (_, (g, gk)) = c43_1_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f32]| c43_1(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(2e-2), "c43_1 {m:?}\n{r}");
        let (_, (g, gk)) = c43_2_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f32]| c43_2(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(2e-2), "c43_2 {m:?}\n{r}");
        let (_, (g, gk)) = c55_0_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f32]| c55_0(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(2e-2), "c55_0 {m:?}\n{r}");
        let (_, (g, gk)) = c55_1_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f32]| c55_1(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(2e-2), "c55_1 {m:?}\n{r}");
        let (_, (g, gk)) = c55_2_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f32]| c55_2(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(2e-2), "c55_2 {m:?}\n{r}");
        let (_, (g, gk)) = c62_0_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f32]| c62_0(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(2e-2), "c62_0 {m:?}\n{r}");
        let (_, (g, gk)) = c62_1_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f32]| c62_1(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(2e-2), "c62_1 {m:?}\n{r}");
        let (_, (g, gk)) = c62_2_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f32]| c62_2(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(2e-2), "c62_2 {m:?}\n{r}");
        let (_, (g, gk)) = c66_0_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f32]| c66_0(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(2e-2), "c66_0 {m:?}\n{r}");
        let (_, (g, gk)) = c66_1_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f32]| c66_1(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(2e-2), "c66_1 {m:?}\n{r}");
        let (_, (g, gk)) = c66_2_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f32]| c66_2(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(2e-2), "c66_2 {m:?}\n{r}");
        let (_, (g, gk)) = c84_0_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f32]| c84_0(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(2e-2), "c84_0 {m:?}\n{r}");
        let (_, (g, gk)) = c84_1_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f32]| c84_1(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(2e-2), "c84_1 {m:?}\n{r}");
        let (_, (g, gk)) = c84_2_grad(&x, 0.4, m);
        let r = tapeless::check_gradient(
            |q: &[f32]| c84_2(&q[..4], q[4], m),
            &[0.3, -0.5, 1.2, 0.7, 0.4],
            &[g, vec![gk]].concat(),
        );
        assert!(r.within(2e-2), "c84_2 {m:?}\n{r}");
    }
}
