use tapeless::{differentiable, Float};

// Every error is reported at once, each at its own tokens.
#[differentiable]
fn f<T: Float>(x: T) -> T {
    let a = |v: T| v;
    let b = unsafe { x };
    let c = match 1 { _ => x };
    let d = format!("{}", 1);
    x
}

fn main() {}
