use tapeless::{differentiable, Float};

#[differentiable]
fn pair<T: Float>(x: T, y: T) -> (T, T) {
    (x * y, x + y)
}

// The caller does not see how many values `pair` returns, so `.0` of the
// call itself cannot be differentiated; a pattern says it.
#[differentiable]
fn f<T: Float>(x: T, y: T) -> T {
    pair(x, y).0 * x
}

fn main() {}
