use tapeless::{differentiable, Float};

// A closure bound to a name and only called is written out at its calls;
// one passed on as a value, or a `move` closure, is not supported.
#[differentiable]
fn f<T: Float>(x: &[T]) -> T {
    let square = |v: &T| *v * *v;
    let twice = move |v: T| v * 2.0;
    let s = x.iter().map(square).fold(T::zero(), |a, b| a + b);
    twice(s)
}

fn main() {}
