use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(x: T) -> T {
    println!("computing");
    x * x
}

fn main() {}
