use tapeless::{differentiable, Float};

// The forward's type would contain itself; a loop says the same.
#[differentiable]
fn power<T: Float>(x: T, n: usize) -> T {
    if n == 0 {
        T::one()
    } else {
        x * power(x, n - 1)
    }
}

fn main() {}
