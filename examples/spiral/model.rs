//! The CS231n spiral case study, shared by `examples/spiral.rs` and
//! `tests/spiral.rs`: the data, a two-layer net whose loss is a
//! `#[differentiable]` fn, and gradient descent on the generated gradient.

use tapeless::{differentiable, Float};

/// SplitMix64 with Box-Muller normals: the data is the same on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal.
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// `points` points per class on `classes` interleaved spiral arms, with
/// angular noise 0.2, as in the lecture.
pub fn spiral(points: usize, classes: usize, seed: u64) -> (Vec<[f64; 2]>, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let mut x = Vec::with_capacity(points * classes);
    let mut y = Vec::with_capacity(points * classes);
    for class in 0..classes {
        for i in 0..points {
            let r = i as f64 / (points - 1) as f64;
            let t = class as f64 * 4.0 + 4.0 * r + rng.normal() * 0.2;
            x.push([r * t.sin(), r * t.cos()]);
            y.push(class);
        }
    }
    (x, y)
}

/// The lecture's two-layer net on 2-D points: `W1` is `2 x hidden`, `W2`
/// is `hidden x classes`, row-major; ReLU, softmax cross-entropy averaged
/// over the batch, and `reg/2 (|W1|^2 + |W2|^2)`.
#[differentiable(wrt(w1, b1, w2, b2))]
#[allow(clippy::too_many_arguments)]
pub fn loss<T: Float>(
    w1: &[T],
    b1: &[T],
    w2: &[T],
    b2: &[T],
    x: &[[T; 2]],
    y: &[usize],
    reg: T,
) -> T {
    let hidden = b1.len();
    let classes = b2.len();
    let mut data_loss = T::zero();
    for n in 0..x.len() {
        let mut scores = vec![T::zero(); classes];
        for c in 0..classes {
            scores[c] = b2[c];
        }
        for j in 0..hidden {
            let a = x[n][0] * w1[j] + x[n][1] * w1[hidden + j] + b1[j];
            let h = a.max(0.0);
            for c in 0..classes {
                scores[c] += h * w2[j * classes + c];
            }
        }
        let mut m = scores[0];
        for &s in scores.iter() {
            m = m.max(s);
        }
        let mut total = T::zero();
        for &s in scores.iter() {
            total += (s - m).exp();
        }
        data_loss += total.ln() + m - scores[y[n]];
    }
    let mut reg_loss = T::zero();
    for &w in w1 {
        reg_loss += w * w;
    }
    for &w in w2 {
        reg_loss += w * w;
    }
    data_loss / T::from(x.len()).unwrap() + 0.5 * reg * reg_loss
}

/// The net's parameters.
pub struct Net<T> {
    pub w1: Vec<T>,
    pub b1: Vec<T>,
    pub w2: Vec<T>,
    pub b2: Vec<T>,
}

impl<T: Float> Net<T> {
    /// Small random weights (0.01 N(0, 1)), zero biases.
    pub fn new(hidden: usize, classes: usize, seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let mut w = |n: usize| {
            (0..n)
                .map(|_| T::from(0.01 * rng.normal()).unwrap())
                .collect::<Vec<T>>()
        };
        Net {
            w1: w(2 * hidden),
            b1: vec![T::zero(); hidden],
            w2: w(hidden * classes),
            b2: vec![T::zero(); classes],
        }
    }

    /// One step of gradient descent; returns the loss before the step.
    pub fn step(&mut self, x: &[[T; 2]], y: &[usize], reg: T, rate: T) -> T {
        let (value, (dw1, db1, dw2, db2)) =
            loss_grad(&self.w1, &self.b1, &self.w2, &self.b2, x, y, reg);
        for (p, g) in [
            (&mut self.w1, dw1),
            (&mut self.b1, db1),
            (&mut self.w2, dw2),
            (&mut self.b2, db2),
        ] {
            for (v, d) in p.iter_mut().zip(g) {
                *v = *v - rate * d;
            }
        }
        value
    }

    /// The predicted class of one point.
    pub fn predict(&self, p: [T; 2]) -> usize {
        let (hidden, classes) = (self.b1.len(), self.b2.len());
        let mut scores = self.b2.clone();
        for j in 0..hidden {
            let h = (p[0] * self.w1[j] + p[1] * self.w1[hidden + j] + self.b1[j]).max(T::zero());
            for c in 0..classes {
                scores[c] = scores[c] + h * self.w2[j * classes + c];
            }
        }
        (0..classes).fold(0, |best, c| if scores[c] > scores[best] { c } else { best })
    }

    /// The fraction of points classified correctly.
    pub fn accuracy(&self, x: &[[T; 2]], y: &[usize]) -> f64 {
        let right = x
            .iter()
            .zip(y)
            .filter(|(p, &label)| self.predict(**p) == label)
            .count();
        right as f64 / x.len() as f64
    }
}
