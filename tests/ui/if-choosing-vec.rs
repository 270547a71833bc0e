use tapeless::{differentiable, Float};

// An `if` choosing the returned array, or an early `return` of one, is
// fine for fixed-size arrays (`[T; N]`); a `Vec` may differ in length
// between the branches.
#[differentiable]
fn clip<T: Float>(x: &[T], lim: T) -> Vec<T> {
    if x.is_empty() {
        Vec::new()
    } else {
        let mut out = vec![T::zero(); x.len()];
        for i in 0..x.len() {
            out[i] = x[i].min(lim);
        }
        out
    }
}

fn main() {}
