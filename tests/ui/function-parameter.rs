use tapeless::{differentiable, Float};

// A function passed in cannot be differentiated through, even left out of
// `wrt(..)` (data of other shapes can: `pts: &[(T, T)]`).
#[differentiable(wrt(x))]
fn f<T: Float>(x: T, g: impl Fn(T) -> T, pts: &[(T, T)]) -> T {
    g(x) * x + pts[0].0
}

fn main() {}
