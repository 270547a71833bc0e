//! Not API: the helpers generated code calls, through `::tapeless::__private`.
//! Everything here is `#[inline]` and free of allocation; the conventions for
//! non-differentiable points (DESIGN.md) are decided here, once.

pub use num_traits::Float;

/// A float literal of the function's float type (`2.0` in generic code).
#[inline(always)]
pub fn lit<T: Float>(value: f64) -> T {
    // `from` cannot fail for f32, f64 or a dual number; a type that cannot
    // represent the literal gets NaN rather than a panic.
    T::from(value).unwrap_or_else(T::nan)
}

/// `0` of the float type.
#[inline(always)]
pub fn zero<T: Float>() -> T {
    T::zero()
}

/// `1` of the float type.
#[inline(always)]
pub fn one<T: Float>() -> T {
    T::one()
}

/// `g` if `cond`, else zero: routes a gradient to the chosen branch.
#[inline(always)]
pub fn pick<T: Float>(cond: bool, g: T) -> T {
    if cond {
        g
    } else {
        T::zero()
    }
}

/// Whether `a.max(b)` returned `a` (ties go to `a`; a NaN loses).
#[inline(always)]
pub fn max_first<T: Float>(a: T, b: T) -> bool {
    !(b > a || a.is_nan())
}

/// Whether `a.min(b)` returned `a` (ties go to `a`; a NaN loses).
#[inline(always)]
pub fn min_first<T: Float>(a: T, b: T) -> bool {
    !(b < a || a.is_nan())
}

/// Local gradient of `abs`: the sign, and 0 at 0.
#[inline(always)]
pub fn abs_grad<T: Float>(x: T) -> T {
    if x > T::zero() {
        T::one()
    } else if x < T::zero() {
        -T::one()
    } else {
        T::zero()
    }
}

/// Local gradient of `x.powi(n)`: `n * x^(n-1)`, and 0 for `n == 0`.
#[inline(always)]
pub fn powi_grad<T: Float>(x: T, n: i32) -> T {
    match n {
        0 => T::zero(),
        1 => T::one(),
        2 => x + x,
        _ => lit::<T>(f64::from(n)) * x.powi(n - 1),
    }
}

/// Local gradient of `x.powf(p)` with respect to `p`: `x^p ln x`, given the
/// output `y = x^p`; 0 where `x == 0` (the limit from the right).
#[inline(always)]
pub fn powf_exponent_grad<T: Float>(x: T, y: T) -> T {
    if x == T::zero() {
        T::zero()
    } else {
        y * x.ln()
    }
}

/// `a / b`, or 0 where `b == 0`: `hypot`'s local gradient `a / hypot(a, b)`
/// is flat at the origin, like `abs` at 0.
#[inline(always)]
pub fn div_or_zero<T: Float>(a: T, b: T) -> T {
    if b == T::zero() {
        T::zero()
    } else {
        a / b
    }
}

/// Which argument `x.clamp(lo, hi)` returned: 0 for `x`, 1 for `lo`, 2 for
/// `hi` (at a bound the gradient goes to `x`, the first argument).
#[inline(always)]
pub fn clamp_choice<T: Float>(x: T, lo: T, hi: T) -> u8 {
    if x < lo {
        1
    } else if x > hi {
        2
    } else {
        0
    }
}

/// A value the forward pass kept in a slot; it is there whenever the
/// backward pass takes the branch that reads it.
#[inline(always)]
pub fn stored<X: Copy>(slot: Option<X>) -> X {
    match slot {
        Some(x) => x,
        None => unreachable!("internal error in tapeless: a kept value is missing"),
    }
}

// Generated code names `Vec` and `vec!` through here, so that it needs only
// `alloc` (no_std users included).
pub use alloc::vec;
pub use alloc::vec::Vec;

/// A kept value that is not `Copy` (a callee's pullback), by reference.
#[inline(always)]
pub fn stored_ref<X>(slot: &Option<X>) -> &X {
    match slot {
        Some(x) => x,
        None => unreachable!("internal error in tapeless: a kept value is missing"),
    }
}

/// Takes the last value of a fused loop's seed (the accumulator's adjoint
/// in one iteration's backward), which nothing else reads.
#[inline(always)]
pub fn spent<T>(_: T) {}

/// Pushes a value on a tape. The forward pass reserves a tape's length
/// before a counted loop, so the growth path is cold, and kept out of line
/// together with the value: `Vec::push` alone leaves the value (and what is
/// computed with it) live across its growth call, and LLVM then keeps a
/// loop's accumulator on the stack.
#[inline(always)]
pub fn push<X>(tape: &mut Vec<X>, x: X) {
    if tape.len() < tape.capacity() {
        tape.push(x);
    } else {
        push_growing(tape, x);
    }
}

/// The order `v.sort_by(compare)` puts `v`'s elements in: `order[k]` is
/// where the element that lands at `k` was. A stable sort of the indices by
/// the same comparison, so ties keep their order as `sort_by` keeps them.
/// A constant of the forward pass: the sort's gradient is the gather
/// through it (each element's gradient goes back to where it came from).
///
/// ```
/// let order = tapeless_core::__private::order_by(&[0.5, -1.0, 2.0], |a: &f64, b: &f64| {
///     a.partial_cmp(b).unwrap()
/// });
/// assert_eq!(order, vec![1, 0, 2]);
/// ```
pub fn order_by<X, F>(v: &[X], mut compare: F) -> Vec<usize>
where
    F: FnMut(&X, &X) -> core::cmp::Ordering,
{
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| compare(&v[i], &v[j]));
    order
}

/// How many times a `for` loop will run, as far as its iterator knows (the
/// lower bound of its size hint): for tape capacities. Takes anything a
/// `for` takes by copy or clone: ranges, iterators, `&[T]`, `&Vec<T>`.
#[inline(always)]
pub fn trip_hint<I: IntoIterator + Clone>(iter: &I) -> usize {
    iter.clone().into_iter().size_hint().0
}

/// Zeros of the shape of an array of floats whose type the macro does
/// not see (`let h = layer(..);` then `h[i]`): `Vec<T>`, `[T; N]`, or a
/// reference to one.
pub trait ZerosLike1<T> {
    /// The owned array.
    type Out;
    /// Zeros of `self`'s shape.
    fn zeros_like(&self) -> Self::Out;
}

impl<T: Float> ZerosLike1<T> for Vec<T> {
    type Out = Vec<T>;
    fn zeros_like(&self) -> Vec<T> {
        alloc::vec![T::zero(); self.len()]
    }
}

impl<T: Float, const N: usize> ZerosLike1<T> for [T; N] {
    type Out = [T; N];
    fn zeros_like(&self) -> [T; N] {
        [T::zero(); N]
    }
}

impl<T, X: ZerosLike1<T> + ?Sized> ZerosLike1<T> for &X {
    type Out = X::Out;
    fn zeros_like(&self) -> X::Out {
        (**self).zeros_like()
    }
}

/// [`ZerosLike1`] for rows: `Vec<Vec<T>>`, `Vec<[T; N]>`, `[[T; N]; M]`.
pub trait ZerosLike2<T> {
    /// The owned array of rows.
    type Out;
    /// Zeros of `self`'s shape.
    fn zeros_like(&self) -> Self::Out;
}

impl<T, R: ZerosLike1<T>> ZerosLike2<T> for Vec<R> {
    type Out = Vec<R::Out>;
    fn zeros_like(&self) -> Self::Out {
        self.iter().map(|r| r.zeros_like()).collect()
    }
}

impl<T, R: ZerosLike1<T>, const M: usize> ZerosLike2<T> for [R; M] {
    type Out = [R::Out; M];
    fn zeros_like(&self) -> Self::Out {
        core::array::from_fn(|i| self[i].zeros_like())
    }
}

impl<T, X: ZerosLike2<T> + ?Sized> ZerosLike2<T> for &X {
    type Out = X::Out;
    fn zeros_like(&self) -> X::Out {
        (**self).zeros_like()
    }
}

/// Frees an array's adjoint where the backward pass is done with it (at
/// the reversal of the array's declaration), not at the end of the
/// pullback: a deep function's adjoints do not all stay allocated at once.
#[inline(always)]
pub fn free<X>(adjoint: X) {
    drop(adjoint)
}

/// The adjoint of an array whose first contribution is a callee's whole
/// gradient: that gradient itself, moved rather than added to zeros (no
/// buffer allocated, zeroed and added into). `zeros` is never called: it
/// only fixes the adjoint's type, which is the gradient's unless a slice
/// parameter received a fixed-size array (`Vec<X>` into `[X; N]`).
#[inline(always)]
pub fn moved<G, D: FromGrad<G>>(g: G, zeros: impl FnOnce() -> D) -> D {
    let _ = zeros;
    D::from_grad(g)
}

/// The adjoint of a call's result whose type the macro does not see and
/// that is only passed on whole to other calls (`mm(rz(a), rz(b))`, or
/// `let r = rz(a);` then `mm(r, q)`): the float type itself, or an array
/// of it one or two dimensions deep. Its zeros, called as a method
/// (`value.__tl_whole_zeros()`) so that a value the backward reads from a
/// tape by reference finds them too, and the sum of two gradients.
#[diagnostic::on_unimplemented(
    message = "this call's result, passed on whole to another call, is `{Self}`: neither `{T}` nor an array of it",
    label = "passed on whole: its gradient must be `{T}` or an array of it"
)]
pub trait Whole<T>: Sized {
    /// Zeros of `self`'s shape.
    fn __tl_whole_zeros(&self) -> Self;
    /// `self += g`, elementwise.
    fn add_grad(&mut self, g: Self);
    /// `self += k g`, elementwise.
    fn add_scaled(&mut self, k: T, g: &Self);
}

impl<T: Float> Whole<T> for T {
    #[inline(always)]
    fn __tl_whole_zeros(&self) -> T {
        T::zero()
    }
    #[inline(always)]
    fn add_grad(&mut self, g: T) {
        *self = *self + g;
    }
    #[inline(always)]
    fn add_scaled(&mut self, k: T, g: &T) {
        *self = *self + k * *g;
    }
}

// Rows spelled out: a blanket `[R; M]` would overlap `T` itself (rustc
// cannot rule out a `Float` impl for arrays).
macro_rules! whole {
    ($([$($g:tt)*] $ty:ty => $zeros:expr, $rows:expr;)*) => {$(
        impl<T: Float, $($g)*> Whole<T> for $ty {
            #[inline(always)]
            #[allow(clippy::redundant_closure_call)]
            fn __tl_whole_zeros(&self) -> $ty {
                ($zeros)(self)
            }
            #[inline(always)]
            fn add_grad(&mut self, g: $ty) {
                self.add_scaled(T::one(), &g)
            }
            #[inline(always)]
            #[allow(clippy::redundant_closure_call)]
            fn add_scaled(&mut self, k: T, g: &$ty) {
                ($rows)(self, g, k)
            }
        }
    )*};
}

/// `a += k b`, elementwise.
#[inline(always)]
fn add_row<T: Float>(a: &mut [T], b: &[T], k: T) {
    for (a, &b) in a.iter_mut().zip(b) {
        *a = *a + k * b;
    }
}

whole! {
    [const N: usize] [T; N] => |_: &[T; N]| [T::zero(); N], |a: &mut [T; N], b: &[T; N], k| add_row(a, b, k);
    [] Vec<T> => |v: &Vec<T>| alloc::vec![T::zero(); v.len()], |a: &mut Vec<T>, b: &Vec<T>, k| add_row(a, b, k);
    [const N: usize, const M: usize] [[T; N]; M] => |_: &[[T; N]; M]| [[T::zero(); N]; M],
        |a: &mut [[T; N]; M], b: &[[T; N]; M], k| a.iter_mut().zip(b).for_each(|(a, b)| add_row(a, b, k));
    [] Vec<Vec<T>> => |v: &Vec<Vec<T>>| v.iter().map(|r| alloc::vec![T::zero(); r.len()]).collect(),
        |a: &mut Vec<Vec<T>>, b: &Vec<Vec<T>>, k| a.iter_mut().zip(b).for_each(|(a, b)| add_row(a, b, k));
    [const N: usize] Vec<[T; N]> => |v: &Vec<[T; N]>| alloc::vec![[T::zero(); N]; v.len()],
        |a: &mut Vec<[T; N]>, b: &Vec<[T; N]>, k| a.iter_mut().zip(b).for_each(|(a, b)| add_row(a, b, k));
}

/// How a callee's gradient becomes the adjoint of the caller's array: see
/// [`moved`].
pub trait FromGrad<G> {
    /// The adjoint holding `g`.
    fn from_grad(g: G) -> Self;
}

impl<X> FromGrad<X> for X {
    #[inline(always)]
    fn from_grad(g: X) -> X {
        g
    }
}

impl<X: Copy, const N: usize> FromGrad<Vec<X>> for [X; N] {
    #[inline(always)]
    fn from_grad(g: Vec<X>) -> [X; N] {
        core::array::from_fn(|i| g[i])
    }
}

impl<X: Copy, const N: usize> FromGrad<[X; N]> for Vec<X> {
    #[inline(always)]
    fn from_grad(g: [X; N]) -> Vec<X> {
        g.to_vec()
    }
}

impl<X: Copy, const N: usize> FromGrad<&[X]> for [X; N] {
    #[inline(always)]
    fn from_grad(g: &[X]) -> [X; N] {
        core::array::from_fn(|i| g[i])
    }
}

impl<X: Copy> FromGrad<&[X]> for Vec<X> {
    #[inline(always)]
    fn from_grad(g: &[X]) -> Vec<X> {
        g.to_vec()
    }
}

#[cold]
#[inline(never)]
fn push_growing<X>(tape: &mut Vec<X>, x: X) {
    tape.push(x);
}

/// A call's value and pullback, where the caller takes the value as one
/// float (`let r = norm(d);` without a type). Only checks that it is: a
/// callee returning an array is a type error that says what to write.
#[inline(always)]
pub fn float_result<T, V: FloatResult<T>, B>(r: (V, B)) -> (T, B) {
    (r.0.into_float(), r.1)
}

/// Implemented by the float type alone: see [`float_result`].
#[diagnostic::on_unimplemented(
    message = "this call's result is taken as one float, but it is `{Self}`",
    label = "taken as one `{T}`: the macro does not see the callee's return type",
    note = "if the callee returns an array, bind its result with the type written, `let d: [{T}; 3] = f(..);` or `let d: Vec<{T}> = f(..);`, and use `d`"
)]
pub trait FloatResult<T> {
    /// Itself.
    fn into_float(self) -> T;
}

impl<T: Float> FloatResult<T> for T {
    #[inline(always)]
    fn into_float(self) -> T {
        self
    }
}

/// The zero upstream gradient for a call's tuple, whatever its length, of
/// the type its pullback `_pullback` takes: the caller then sets the fields
/// it read (`let (x, ..) = f(..)`, or `p.0` alone of `let p = f(..)`,
/// where the macro does not see how long the tuple is).
#[inline(always)]
pub fn zero_out<O: ZeroTuple, A, G, P: Fn(O, A, &[bool]) -> G>(_pullback: &P) -> O {
    O::zero_tuple()
}

/// Tuples of floats (of any `num_traits::Zero` type), up to 12 fields:
/// see [`zero_out`].
#[diagnostic::on_unimplemented(
    message = "a field of this call's tuple has no zero gradient tapeless can write",
    note = "tuples of floats are read by field; destructure a tuple with arrays in it with all its fields, `let (a, b) = f(..);`"
)]
pub trait ZeroTuple {
    /// Every field zero.
    fn zero_tuple() -> Self;
}

macro_rules! zero_tuple {
    ($($t:ident),+) => {
        impl<$($t: num_traits::Zero),+> ZeroTuple for ($($t,)+) {
            #[inline(always)]
            fn zero_tuple() -> Self {
                ($($t::zero(),)+)
            }
        }
    };
}
zero_tuple!(A);
zero_tuple!(A, B);
zero_tuple!(A, B, C);
zero_tuple!(A, B, C, D);
zero_tuple!(A, B, C, D, E);
zero_tuple!(A, B, C, D, E, F);
zero_tuple!(A, B, C, D, E, F, G);
zero_tuple!(A, B, C, D, E, F, G, H);
zero_tuple!(A, B, C, D, E, F, G, H, I);
zero_tuple!(A, B, C, D, E, F, G, H, I, J);
zero_tuple!(A, B, C, D, E, F, G, H, I, J, K);
zero_tuple!(A, B, C, D, E, F, G, H, I, J, K, L);
