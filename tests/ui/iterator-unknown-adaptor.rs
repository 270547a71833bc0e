use tapeless::{differentiable, Float};

// Adaptors no rewrite knows are errors at their names, in loops and in
// reductions; `.reduce(..)` is supported with `max` or `min` only.
#[differentiable]
fn f<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    for v in x.iter().skip_while(|v| **v < 0.0) {
        s += *v;
    }
    let total = x.iter().copied().reduce(|a, b| a + b).unwrap();
    let big = x.iter().max_by_key(|v| v.to_i64().unwrap()).unwrap();
    s + total + *big
}

fn main() {}
