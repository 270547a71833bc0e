use tapeless::differentiable;

// A `match` on a differentiated value runs as an `if` chain where its arms
// bind the value whole or not at all; a range pattern with `@` binds it
// only if it matches.
#[differentiable]
fn f(x: f64) -> f64 {
    match x {
        v @ 0.0..=1.0 => v * v,
        _ => 0.0,
    }
}

fn main() {}
