use tapeless::{differentiable, Float};

// `let z = loop { .. break y; .. };` is fine; a loop's value destructured
// is not.
#[differentiable]
fn f<T: Float>(x: T) -> T {
    let mut y = x;
    let z = loop {
        y = y * 2.0;
        if y > 10.0 {
            break y;
        }
    };
    let (a, b) = loop {
        y = y * 2.0;
        if y > 100.0 {
            break (y, z);
        }
    };
    a + b
}

fn main() {}
