use tapeless::{differentiable, Float};

#[differentiable]
fn f<T: Float>(w: T, n: usize) -> T {
    let rows: Vec<Vec<f64>> = (0..n).map(|i| vec![i as f64, 1.0_f64]).collect();
    w * T::from(rows.len()).unwrap()
}

fn main() {}
