use tapeless::differentiable;

#[differentiable]
fn f(x: f64) -> f64 {
    x.re * 2.0
}

fn main() {}
