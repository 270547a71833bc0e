use tapeless::{differentiable, Float};

fn softplus<T: Float>(x: T) -> T {
    (T::one() + x.exp()).ln()
}

#[differentiable]
fn f<T: Float>(x: T) -> T {
    softplus(x) * x
}

fn main() {}
