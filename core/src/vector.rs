//! The vector toolkit: common operations with gradients written by hand,
//! callable from `#[differentiable]` code like any generated fn.
//!
//! Each operation `op` comes in three parts, side by side: the plain `op`,
//! `op_forward` (the value and a pullback, the generated convention), and a
//! hidden struct `op` whose `__tl_forward` is what generated callers use (its
//! pullback takes the arguments again, so that it borrows nothing and can be
//! kept in a loop). Gradients have the shape of their variable; constant
//! arguments (dimensions, labels) get `()`.
//!
//! Matrices are row-major slices with their dimensions, or arrays of rows.

// The protocol structs are named like their functions, on purpose.
#![allow(non_camel_case_types)]

use alloc::vec;
use alloc::vec::Vec;

use num_traits::Float;

/// Defines the hidden protocol struct `$name` and the public `$forward`
/// from one pullback that takes the arguments again.
macro_rules! toolkit {
    (
        $(#[$doc:meta])*
        fn $name:ident / $forward:ident ($($arg:ident : $ty:ty => $free:ty),*) -> $out:ty;
        grads ($($grad:ty),*);
        value = $value:expr;
        pullback($dout:ident, $needs:ident) = $pullback:expr;
    ) => {
        #[doc(hidden)]
        pub struct $name {}

        impl $name {
            #[doc(hidden)]
            #[inline]
            pub fn __tl_forward<'a, T: Float>($($arg: $ty),*) -> ($out, impl Fn($out, ($($free,)*), &[bool]) -> ($($grad,)*) + use<T>) {
                let value = $value;
                (value, move |$dout: $out, ($($arg,)*): ($($free,)*), $needs: &[bool]| {
                    let _ = $needs;
                    $pullback
                })
            }
        }

        $(#[$doc])*
        #[inline]
        pub fn $forward<'a, T: Float>($($arg: $ty),*) -> ($out, impl Fn($out) -> ($($grad,)*) + 'a) {
            let (value, pullback) = $name::__tl_forward($($arg),*);
            (value, move |d: $out| pullback(d, ($($arg,)*), &[true; 8]))
        }
    };
}

/// `sum_i a_i b_i`.
///
/// ```
/// use tapeless_core::dot;
/// assert_eq!(dot(&[1.0, 2.0], &[3.0, 4.0]), 11.0);
/// ```
#[inline]
pub fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    a.iter().zip(b).fold(T::zero(), |s, (&x, &y)| s + x * y)
}

toolkit! {
    /// [`dot`] and its pullback: `(g b, g a)`.
    ///
    /// ```
    /// use tapeless_core::dot_forward;
    /// let (v, back) = dot_forward(&[1.0, 2.0], &[3.0, 4.0]);
    /// assert_eq!((v, back(1.0)), (11.0, (vec![3.0, 4.0], vec![1.0, 2.0])));
    /// ```
    fn dot / dot_forward(a: &'a [T] => &[T], b: &'a [T] => &[T]) -> T;
    grads (Vec<T>, Vec<T>);
    value = dot(a, b);
    pullback(g, needs) = {
        // A gradient the caller does not use is left empty.
        let scaled = |v: &[T], need: Option<&bool>| match need.copied().unwrap_or(true) {
            true => v.iter().map(|&v| g * v).collect(),
            false => Vec::new(),
        };
        (scaled(b, needs.first()), scaled(a, needs.get(1)))
    };
}

/// `sum_i x_i`.
///
/// ```
/// use tapeless_core::sum;
/// assert_eq!(sum(&[1.0, 2.0, 3.5]), 6.5);
/// ```
#[inline]
pub fn sum<T: Float>(x: &[T]) -> T {
    x.iter().fold(T::zero(), |s, &v| s + v)
}

toolkit! {
    /// [`sum`] and its pullback: `g` for every element.
    ///
    /// ```
    /// use tapeless_core::sum_forward;
    /// let (v, back) = sum_forward(&[1.0, 2.0]);
    /// assert_eq!((v, back(0.5)), (3.0, (vec![0.5, 0.5],)));
    /// ```
    fn sum / sum_forward(x: &'a [T] => &[T]) -> T;
    grads (Vec<T>);
    value = sum(x);
    pullback(g, needs) = (vec![g; x.len()],);
}

/// `A x` for a row-major `rows x cols` matrix `a`.
///
/// ```
/// use tapeless_core::matvec;
/// // [[1, 2], [3, 4]] [1, 1] = [3, 7]
/// assert_eq!(matvec(&[1.0, 2.0, 3.0, 4.0], 2, 2, &[1.0, 1.0]), vec![3.0, 7.0]);
/// ```
pub fn matvec<T: Float>(a: &[T], rows: usize, cols: usize, x: &[T]) -> Vec<T> {
    assert_eq!(a.len(), rows * cols, "matvec: a is not rows x cols");
    assert_eq!(x.len(), cols, "matvec: x does not have cols elements");
    a.chunks_exact(cols).map(|row| dot(row, x)).collect()
}

fn matvec_grads<T: Float>(a: &[T], cols: usize, x: &[T], dy: &[T]) -> (Vec<T>, Vec<T>) {
    let mut da = Vec::with_capacity(a.len());
    let mut dx = vec![T::zero(); cols];
    for (row, &d) in a.chunks_exact(cols).zip(dy) {
        da.extend(x.iter().map(|&v| d * v));
        for (acc, &w) in dx.iter_mut().zip(row) {
            *acc = *acc + d * w;
        }
    }
    (da, dx)
}

toolkit! {
    /// [`matvec`] and its pullback: `dA = dy x^T`, `dx = A^T dy`.
    ///
    /// ```
    /// use tapeless_core::matvec_forward;
    /// let (y, back) = matvec_forward(&[1.0, 2.0, 3.0, 4.0], 2, 2, &[1.0, 1.0]);
    /// let (da, (), (), dx) = back(vec![1.0, 0.0]);
    /// assert_eq!((y, da, dx), (vec![3.0, 7.0], vec![1.0, 1.0, 0.0, 0.0], vec![1.0, 2.0]));
    /// ```
    fn matvec / matvec_forward(a: &'a [T] => &[T], rows: usize => usize, cols: usize => usize, x: &'a [T] => &[T]) -> Vec<T>;
    grads (Vec<T>, (), (), Vec<T>);
    value = matvec(a, rows, cols, x);
    pullback(dy, needs) = {
        let _ = (rows, needs);
        let (da, dx) = matvec_grads(a, cols, x, &dy);
        (da, (), (), dx)
    };
}

/// `A B` for row-major `a` (`n x k`) and `b` (`k x m`): an `n x m` result.
///
/// ```
/// use tapeless_core::matmul;
/// // [[1, 2]] [[3], [4]] = [[11]]
/// assert_eq!(matmul(&[1.0, 2.0], &[3.0, 4.0], 1, 2, 1), vec![11.0]);
/// ```
pub fn matmul<T: Float>(a: &[T], b: &[T], n: usize, k: usize, m: usize) -> Vec<T> {
    assert_eq!(a.len(), n * k, "matmul: a is not n x k");
    assert_eq!(b.len(), k * m, "matmul: b is not k x m");
    let mut c = vec![T::zero(); n * m];
    gemm_acc(&mut c, a, b, n, k, m);
    c
}

/// The side of the blocks the matrix products compute in registers.
const BLOCK: usize = 4;

/// `acc += av bv^T`: one step of a 4 x 4 block of a product, sixteen
/// multiply-adds on values held in registers.
#[inline(always)]
fn block_step<T: Float>(acc: &mut [[T; BLOCK]; BLOCK], av: [T; BLOCK], bv: &[T; BLOCK]) {
    for (row, &x) in acc.iter_mut().zip(&av) {
        for (c, &y) in row.iter_mut().zip(bv) {
            *c = *c + x * y;
        }
    }
}

/// Four consecutive values of `v` from `at`, as an array.
#[inline(always)]
fn four<T: Float>(v: &[T], at: usize) -> &[T; BLOCK] {
    v[at..at + BLOCK].try_into().unwrap()
}

/// `c += a b`, all row-major (`a` is `n x k`, `b` is `k x m`): 4 x 4
/// blocks of `c` summed in registers over `k` (each step four values of
/// `a`'s column and four of `b`'s row), the edges in the i-p-j order.
fn gemm_acc<T: Float>(c: &mut [T], a: &[T], b: &[T], n: usize, k: usize, m: usize) {
    let (n4, m4) = (n - n % BLOCK, m - m % BLOCK);
    for i in (0..n4).step_by(BLOCK) {
        let rows: [&[T]; BLOCK] = core::array::from_fn(|r| &a[(i + r) * k..(i + r + 1) * k]);
        for j in (0..m4).step_by(BLOCK) {
            let mut acc = [[T::zero(); BLOCK]; BLOCK];
            for p in 0..k {
                block_step(&mut acc, rows.map(|row| row[p]), four(b, p * m + j));
            }
            for (r, sums) in acc.iter().enumerate() {
                for (cij, &s) in c[(i + r) * m + j..][..BLOCK].iter_mut().zip(sums) {
                    *cij = *cij + s;
                }
            }
        }
    }
    // The columns right of the blocks, and the rows below them.
    for i in 0..n {
        let (from, c_row) = match i < n4 {
            true => (m4, &mut c[i * m + m4..(i + 1) * m]),
            false => (0, &mut c[i * m..(i + 1) * m]),
        };
        if c_row.is_empty() {
            continue;
        }
        for p in 0..k {
            let aip = a[i * k + p];
            for (cij, &bpj) in c_row.iter_mut().zip(&b[p * m + from..(p + 1) * m]) {
                *cij = *cij + aip * bpj;
            }
        }
    }
}

/// `db += a^T dc` (`a` is `n x k`, `dc` is `n x m`, `db` is `k x m`): 4 x 4
/// blocks of `db` summed in registers over `n` (each step four values of
/// a row of `a` and four of a row of `dc`), the edges in the i-p-j order.
fn gemm_tn_acc<T: Float>(db: &mut [T], a: &[T], dc: &[T], n: usize, k: usize, m: usize) {
    let (k4, m4) = (k - k % BLOCK, m - m % BLOCK);
    for p in (0..k4).step_by(BLOCK) {
        for j in (0..m4).step_by(BLOCK) {
            let mut acc = [[T::zero(); BLOCK]; BLOCK];
            for i in 0..n {
                block_step(&mut acc, *four(a, i * k + p), four(dc, i * m + j));
            }
            for (r, sums) in acc.iter().enumerate() {
                for (d, &s) in db[(p + r) * m + j..][..BLOCK].iter_mut().zip(sums) {
                    *d = *d + s;
                }
            }
        }
    }
    for i in 0..n {
        let dc_row = &dc[i * m..(i + 1) * m];
        for p in 0..k {
            let from = if p < k4 { m4 } else { 0 };
            if from == m {
                continue;
            }
            let aip = a[i * k + p];
            for (d, &g) in db[p * m + from..(p + 1) * m]
                .iter_mut()
                .zip(&dc_row[from..])
            {
                *d = *d + aip * g;
            }
        }
    }
}

/// `dA = dC B^T` (n x k) and `dB = A^T dC` (k x m); a gradient the caller
/// does not use is left empty.
#[allow(clippy::too_many_arguments)]
fn matmul_grads<T: Float>(
    a: &[T],
    b: &[T],
    n: usize,
    k: usize,
    m: usize,
    dc: &[T],
    need_a: bool,
    need_b: bool,
) -> (Vec<T>, Vec<T>) {
    // dA = dC B^T: B transposed once (k x m, read by rows), then the
    // blocked product.
    let mut da = Vec::new();
    if need_a {
        da = vec![T::zero(); n * k];
        let mut bt = vec![T::zero(); m * k];
        for (p, row) in b.chunks_exact(m.max(1)).enumerate().take(k) {
            for (j, &v) in row.iter().enumerate() {
                bt[j * k + p] = v;
            }
        }
        gemm_acc(&mut da, dc, &bt, n, m, k);
    }
    let mut db = if need_b {
        vec![T::zero(); k * m]
    } else {
        Vec::new()
    };
    if need_b {
        gemm_tn_acc(&mut db, a, dc, n, k, m);
    }
    (da, db)
}

toolkit! {
    /// [`matmul`] and its pullback: `dA = dC B^T`, `dB = A^T dC`.
    ///
    /// ```
    /// use tapeless_core::matmul_forward;
    /// let (c, back) = matmul_forward(&[1.0, 2.0], &[3.0, 4.0], 1, 2, 1);
    /// let (da, db, (), (), ()) = back(vec![1.0]);
    /// assert_eq!((c, da, db), (vec![11.0], vec![3.0, 4.0], vec![1.0, 2.0]));
    /// ```
    fn matmul / matmul_forward(a: &'a [T] => &[T], b: &'a [T] => &[T], n: usize => usize, k: usize => usize, m: usize => usize) -> Vec<T>;
    grads (Vec<T>, Vec<T>, (), (), ());
    value = matmul(a, b, n, k, m);
    pullback(dc, needs) = {
        let (da, db) = matmul_grads(a, b, n, k, m, &dc, needs.first().copied().unwrap_or(true), needs.get(1).copied().unwrap_or(true));
        (da, db, (), (), ())
    };
}

/// `max(0, x)` elementwise.
///
/// ```
/// use tapeless_core::relu;
/// assert_eq!(relu(&[-1.0, 2.0]), vec![0.0, 2.0]);
/// ```
pub fn relu<T: Float>(x: &[T]) -> Vec<T> {
    x.iter().map(|&v| v.max(T::zero())).collect()
}

toolkit! {
    /// [`relu`] and its pullback: the gradient passes where `x > 0` (0 at 0).
    ///
    /// ```
    /// use tapeless_core::relu_forward;
    /// let (y, back) = relu_forward(&[-1.0, 2.0]);
    /// assert_eq!((y, back(vec![5.0, 5.0])), (vec![0.0, 2.0], (vec![0.0, 5.0],)));
    /// ```
    fn relu / relu_forward(x: &'a [T] => &[T]) -> Vec<T>;
    grads (Vec<T>);
    value = relu(x);
    pullback(dy, needs) = {
        // In place: the upstream gradient's buffer becomes the gradient.
        let mut dx = dy;
        for (d, &v) in dx.iter_mut().zip(x) {
            *d = if v > T::zero() { *d } else { T::zero() };
        }
        (dx,)
    };
}

/// `1 / (1 + exp(-x))` elementwise.
///
/// ```
/// use tapeless_core::sigmoid;
/// assert_eq!(sigmoid(&[0.0]), vec![0.5]);
/// ```
pub fn sigmoid<T: Float>(x: &[T]) -> Vec<T> {
    x.iter()
        .map(|&v| T::one() / (T::one() + (-v).exp()))
        .collect()
}

toolkit! {
    /// [`sigmoid`] and its pullback: `dy * s (1 - s)`.
    ///
    /// ```
    /// use tapeless_core::sigmoid_forward;
    /// let (s, back) = sigmoid_forward(&[0.0]);
    /// assert_eq!((s, back(vec![1.0])), (vec![0.5], (vec![0.25],)));
    /// ```
    fn sigmoid / sigmoid_forward(x: &'a [T] => &[T]) -> Vec<T>;
    grads (Vec<T>);
    value = sigmoid(x);
    pullback(dy, needs) = {
        // In place, `s` recomputed element by element (no second vector).
        let mut dx = dy;
        for (d, &v) in dx.iter_mut().zip(x) {
            let s = T::one() / (T::one() + (-v).exp());
            *d = *d * s * (T::one() - s);
        }
        (dx,)
    };
}

/// `ln sum_i exp(x_i)`, computed stably (shifted by the maximum).
///
/// ```
/// use tapeless_core::log_sum_exp;
/// assert!((log_sum_exp(&[1000.0, 1000.0]) - (1000.0 + 2f64.ln())).abs() < 1e-9);
/// ```
pub fn log_sum_exp<T: Float>(x: &[T]) -> T {
    let m = x.iter().fold(T::neg_infinity(), |m, &v| m.max(v));
    if m.is_infinite() {
        return m;
    }
    m + x.iter().fold(T::zero(), |s, &v| s + (v - m).exp()).ln()
}

/// `exp(x_i) / sum_j exp(x_j)`, computed stably.
///
/// ```
/// use tapeless_core::softmax;
/// assert_eq!(softmax(&[1.0, 1.0]), vec![0.5, 0.5]);
/// ```
pub fn softmax<T: Float>(x: &[T]) -> Vec<T> {
    let m = x.iter().fold(T::neg_infinity(), |m, &v| m.max(v));
    let e: Vec<T> = x.iter().map(|&v| (v - m).exp()).collect();
    let total = e.iter().fold(T::zero(), |s, &v| s + v);
    e.into_iter().map(|v| v / total).collect()
}

toolkit! {
    /// [`log_sum_exp`] and its pullback: `g softmax(x)`.
    ///
    /// ```
    /// use tapeless_core::log_sum_exp_forward;
    /// let (_, back) = log_sum_exp_forward(&[0.0, 0.0]);
    /// assert_eq!(back(2.0), (vec![1.0, 1.0],));
    /// ```
    fn log_sum_exp / log_sum_exp_forward(x: &'a [T] => &[T]) -> T;
    grads (Vec<T>);
    value = log_sum_exp(x);
    pullback(g, needs) = (softmax(x).into_iter().map(|p| g * p).collect(),);
}

toolkit! {
    /// [`softmax`] and its pullback: `s * (dy - dy . s)`.
    ///
    /// ```
    /// use tapeless_core::softmax_forward;
    /// let (s, back) = softmax_forward(&[0.0, 0.0]);
    /// assert_eq!((s, back(vec![1.0, 0.0])), (vec![0.5, 0.5], (vec![0.25, -0.25],)));
    /// ```
    fn softmax / softmax_forward(x: &'a [T] => &[T]) -> Vec<T>;
    grads (Vec<T>);
    value = softmax(x);
    pullback(dy, needs) = {
        // `s` becomes the gradient, in place.
        let mut s = softmax(x);
        let inner = dot(&s, &dy);
        for (p, &d) in s.iter_mut().zip(&dy) {
            *p = *p * (d - inner);
        }
        (s,)
    };
}

/// The cross-entropy of `softmax(scores)` against the class `label`:
/// `log_sum_exp(scores) - scores[label]`.
///
/// ```
/// use tapeless_core::softmax_cross_entropy;
/// assert!((softmax_cross_entropy(&[0.0, 0.0], 1) - 2f64.ln()).abs() < 1e-15);
/// ```
pub fn softmax_cross_entropy<T: Float>(scores: &[T], label: usize) -> T {
    log_sum_exp(scores) - scores[label]
}

toolkit! {
    /// [`softmax_cross_entropy`] and its pullback: `g (softmax(s) - onehot(label))`.
    ///
    /// ```
    /// use tapeless_core::softmax_cross_entropy_forward;
    /// let (_, back) = softmax_cross_entropy_forward(&[0.0, 0.0], 1);
    /// assert_eq!(back(1.0), (vec![0.5, -0.5], ()));
    /// ```
    fn softmax_cross_entropy / softmax_cross_entropy_forward(scores: &'a [T] => &[T], label: usize => usize) -> T;
    grads (Vec<T>, ());
    value = softmax_cross_entropy(scores, label);
    pullback(g, needs) = {
        let mut d: Vec<T> = softmax(scores).into_iter().map(|p| g * p).collect();
        d[label] = d[label] - g;
        (d, ())
    };
}

/// The multiclass SVM (hinge) loss with margin 1:
/// `sum_{j != label} max(0, s_j - s_label + 1)`.
///
/// ```
/// use tapeless_core::svm_hinge;
/// // Margins: 2 - 1 + 1 = 2 for class 0, and 0 for class 2 (0.5 - 1 + 1 - 1 < 0 is clipped).
/// assert_eq!(svm_hinge(&[2.0, 1.0, -0.5], 1), 2.0);
/// ```
pub fn svm_hinge<T: Float>(scores: &[T], label: usize) -> T {
    let correct = scores[label];
    scores
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != label)
        .fold(T::zero(), |s, (_, &v)| {
            s + (v - correct + T::one()).max(T::zero())
        })
}

toolkit! {
    /// [`svm_hinge`] and its pullback: `g` to every class whose margin is
    /// positive, `-g` times their count to the label (0 at a margin of exactly
    /// 0, as in CS231n).
    ///
    /// ```
    /// use tapeless_core::svm_hinge_forward;
    /// let (_, back) = svm_hinge_forward(&[2.0, 1.0, -0.5], 1);
    /// assert_eq!(back(1.0), (vec![1.0, -1.0, 0.0], ()));
    /// ```
    fn svm_hinge / svm_hinge_forward(scores: &'a [T] => &[T], label: usize => usize) -> T;
    grads (Vec<T>, ());
    value = svm_hinge(scores, label);
    pullback(g, needs) = {
        let correct = scores[label];
        let mut d = vec![T::zero(); scores.len()];
        for (j, &v) in scores.iter().enumerate() {
            if j != label && v - correct + T::one() > T::zero() {
                d[j] = d[j] + g;
                d[label] = d[label] - g;
            }
        }
        (d, ())
    };
}

/// `A x` for a matrix given as an array of rows.
///
/// ```
/// use tapeless_core::matvec_array;
/// assert_eq!(matvec_array(&[[1.0, 2.0], [3.0, 4.0]], &[1.0, 1.0]), [3.0, 7.0]);
/// ```
pub fn matvec_array<T: Float, const N: usize, const M: usize>(
    a: &[[T; N]; M],
    x: &[T; N],
) -> [T; M] {
    let mut y = [T::zero(); M];
    for (yi, row) in y.iter_mut().zip(a) {
        *yi = dot(row, x);
    }
    y
}

fn matvec_array_grads<T: Float, const N: usize, const M: usize>(
    a: &[[T; N]; M],
    x: &[T; N],
    dy: &[T; M],
) -> ([[T; N]; M], [T; N]) {
    let mut da = [[T::zero(); N]; M];
    let mut dx = [T::zero(); N];
    for ((row, da_row), &d) in a.iter().zip(da.iter_mut()).zip(dy) {
        for j in 0..N {
            da_row[j] = d * x[j];
            dx[j] = dx[j] + d * row[j];
        }
    }
    (da, dx)
}

/// [`matvec_array`] and its pullback: `dA = dy x^T`, `dx = A^T dy`.
///
/// ```
/// use tapeless_core::matvec_array_forward;
/// let (y, back) = matvec_array_forward(&[[1.0, 2.0], [3.0, 4.0]], &[1.0, 1.0]);
/// assert_eq!((y, back([1.0, 0.0])), ([3.0, 7.0], ([[1.0, 1.0], [0.0, 0.0]], [1.0, 2.0])));
/// ```
#[allow(clippy::type_complexity)]
pub fn matvec_array_forward<'a, T: Float, const N: usize, const M: usize>(
    a: &'a [[T; N]; M],
    x: &'a [T; N],
) -> ([T; M], impl Fn([T; M]) -> ([[T; N]; M], [T; N]) + 'a) {
    (matvec_array(a, x), move |dy: [T; M]| {
        matvec_array_grads(a, x, &dy)
    })
}

#[doc(hidden)]
pub struct matvec_array {}

impl matvec_array {
    #[doc(hidden)]
    #[inline]
    #[allow(clippy::type_complexity)]
    pub fn __tl_forward<T: Float, const N: usize, const M: usize>(
        a: &[[T; N]; M],
        x: &[T; N],
    ) -> (
        [T; M],
        impl Fn([T; M], (&[[T; N]; M], &[T; N]), &[bool]) -> ([[T; N]; M], [T; N]) + use<T, N, M>,
    ) {
        (
            matvec_array(a, x),
            |dy: [T; M], (a, x): (&[[T; N]; M], &[T; N]), _: &[bool]| matvec_array_grads(a, x, &dy),
        )
    }
}

/// `A B` for matrices given as arrays of rows: `N x K` times `K x M`.
///
/// ```
/// use tapeless_core::matmul_array;
/// assert_eq!(matmul_array(&[[1.0, 2.0]], &[[3.0], [4.0]]), [[11.0]]);
/// ```
pub fn matmul_array<T: Float, const N: usize, const K: usize, const M: usize>(
    a: &[[T; K]; N],
    b: &[[T; M]; K],
) -> [[T; M]; N] {
    let mut c = [[T::zero(); M]; N];
    for (c_row, a_row) in c.iter_mut().zip(a) {
        for (&aip, b_row) in a_row.iter().zip(b) {
            for (cij, &bpj) in c_row.iter_mut().zip(b_row) {
                *cij = *cij + aip * bpj;
            }
        }
    }
    c
}

#[allow(clippy::type_complexity)]
fn matmul_array_grads<T: Float, const N: usize, const K: usize, const M: usize>(
    a: &[[T; K]; N],
    b: &[[T; M]; K],
    dc: &[[T; M]; N],
) -> ([[T; K]; N], [[T; M]; K]) {
    let mut da = [[T::zero(); K]; N];
    let mut db = [[T::zero(); M]; K];
    for i in 0..N {
        for p in 0..K {
            da[i][p] = dot(&dc[i], &b[p]);
            let aip = a[i][p];
            for (d, &g) in db[p].iter_mut().zip(&dc[i]) {
                *d = *d + aip * g;
            }
        }
    }
    (da, db)
}

/// [`matmul_array`] and its pullback: `dA = dC B^T`, `dB = A^T dC`.
///
/// ```
/// use tapeless_core::matmul_array_forward;
/// let (c, back) = matmul_array_forward(&[[1.0, 2.0]], &[[3.0], [4.0]]);
/// assert_eq!((c, back([[1.0]])), ([[11.0]], ([[3.0, 4.0]], [[1.0], [2.0]])));
/// ```
#[allow(clippy::type_complexity)]
pub fn matmul_array_forward<'a, T: Float, const N: usize, const K: usize, const M: usize>(
    a: &'a [[T; K]; N],
    b: &'a [[T; M]; K],
) -> (
    [[T; M]; N],
    impl Fn([[T; M]; N]) -> ([[T; K]; N], [[T; M]; K]) + 'a,
) {
    (matmul_array(a, b), move |dc: [[T; M]; N]| {
        matmul_array_grads(a, b, &dc)
    })
}

#[doc(hidden)]
pub struct matmul_array {}

impl matmul_array {
    #[doc(hidden)]
    #[inline]
    #[allow(clippy::type_complexity)]
    pub fn __tl_forward<T: Float, const N: usize, const K: usize, const M: usize>(
        a: &[[T; K]; N],
        b: &[[T; M]; K],
    ) -> (
        [[T; M]; N],
        impl Fn([[T; M]; N], (&[[T; K]; N], &[[T; M]; K]), &[bool]) -> ([[T; K]; N], [[T; M]; K])
            + use<T, N, K, M>,
    ) {
        (
            matmul_array(a, b),
            |dc: [[T; M]; N], (a, b): (&[[T; K]; N], &[[T; M]; K]), _: &[bool]| {
                matmul_array_grads(a, b, &dc)
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small integers, so that every order of summation gives the same sum.
    fn values(len: usize, seed: usize) -> Vec<f64> {
        (0..len)
            .map(|i| ((i * 7 + seed * 3) % 11) as f64 - 5.0)
            .collect()
    }

    /// The blocked products against the triple loop, on every shape up to
    /// 9 (blocks, edges, and shapes without a whole block).
    #[test]
    fn blocked_products_match_the_triple_loop() {
        for n in 0..10 {
            for k in 0..10 {
                for m in 0..10 {
                    let (a, b) = (values(n * k, 1), values(k * m, 2));
                    let mut want = vec![0.0; n * m];
                    for i in 0..n {
                        for j in 0..m {
                            want[i * m + j] = (0..k).map(|p| a[i * k + p] * b[p * m + j]).sum();
                        }
                    }
                    assert_eq!(matmul(&a, &b, n, k, m), want, "{n} x {k} x {m}");
                    // dB = A^T dC, with dC = want's shape.
                    let dc = values(n * m, 3);
                    let mut db = vec![0.0; k * m];
                    for p in 0..k {
                        for j in 0..m {
                            db[p * m + j] = (0..n).map(|i| a[i * k + p] * dc[i * m + j]).sum();
                        }
                    }
                    // dA = dC B^T.
                    let mut da = vec![0.0; n * k];
                    for i in 0..n {
                        for p in 0..k {
                            da[i * k + p] = (0..m).map(|j| dc[i * m + j] * b[p * m + j]).sum();
                        }
                    }
                    let (got_a, got) = matmul_grads(&a, &b, n, k, m, &dc, true, true);
                    assert_eq!(got, db, "{n} x {k} x {m}");
                    assert_eq!(got_a, da, "{n} x {k} x {m}");
                }
            }
        }
    }
}
