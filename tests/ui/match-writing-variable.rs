use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(x: T, mode: usize) -> T {
    let mut count = 0;
    match mode {
        0 => count += 1,
        _ => (),
    };
    x * T::from(count).unwrap()
}

fn main() {}
