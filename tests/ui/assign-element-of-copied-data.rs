// Integer data copied from a parameter and then assigned by element: the
// copy is not an array the fn made, so the error says how to make one.
use tapeless::differentiable;

#[differentiable]
fn f(x: &[f64], steps: &[usize]) -> f64 {
    let mut s = 0.0;
    let mut t = steps.to_vec();
    for i in 0..x.len() {
        for _ in 0..t[i % t.len()] {
            s = (s + x[i]).tanh();
        }
        t[0] += 1;
    }
    s
}

fn main() {}
