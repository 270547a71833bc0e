use tapeless::{differentiable, Float};

// Rows walked flat are summed, folded and looped over; collected, their
// length is not known before the loop.
#[differentiable]
fn f<T: Float>(w: &[Vec<T>]) -> T {
    let all: Vec<T> = w.iter().flatten().map(|&v| v * 2.0).collect();
    all[0]
}

fn main() {}
