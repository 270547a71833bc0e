use tapeless::{differentiable, Float};

// Labelled loops are fine (`continue 'outer;`, `break 'outer;`); a
// labelled block is not.
#[differentiable]
fn f<T: Float>(x: &[T]) -> T {
    let mut s = T::zero();
    'outer: for i in 0..x.len() {
        for j in 0..x.len() {
            if j > i {
                continue 'outer;
            }
            s += x[i] * x[j];
        }
    }
    let t = 'done: {
        if s > 1.0 {
            break 'done s;
        }
        s * 2.0
    };
    t
}

fn main() {}
