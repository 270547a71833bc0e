use tapeless::differentiable;

#[differentiable]
fn f(x: f32) -> f32 {
    let wide = x as f64;
    (wide * 2.0) as f32
}

fn main() {}
