use tapeless::{differentiable, Float};

// A `match` on a constant may compute differentiated values and assign
// variables in its arms (it runs as an `if` chain); a `match` on a
// differentiated value may not.
#[differentiable]
fn f<T: Float>(x: T, mode: usize) -> T {
    let mut count = 0;
    match mode {
        0 => count += 1,
        _ => (),
    };
    let y = match x > T::one() {
        true => x * x,
        false => x,
    };
    match x.partial_cmp(&y) {
        Some(core::cmp::Ordering::Less) => y,
        _ => x * T::from(count).unwrap(),
    }
}

fn main() {}
