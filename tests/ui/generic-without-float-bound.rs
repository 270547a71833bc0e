use tapeless::differentiable;

#[differentiable]
fn f<T>(x: T) -> T {
    x
}

fn main() {}
