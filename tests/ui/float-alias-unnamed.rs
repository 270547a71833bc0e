use tapeless::differentiable;

type Real = f64;

#[differentiable]
fn f(x: Real, y: Real) -> Real {
    x * y
}

fn main() {}
