use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(x: T) -> T {
    let mut y = x;
    let z = loop {
        y = y * 2.0;
        if y > 10.0 {
            break y;
        }
    };
    z
}

fn main() {}
