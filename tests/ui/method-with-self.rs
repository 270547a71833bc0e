use tapeless::differentiable;

struct Model {
    w: f64,
}

impl Model {
    #[differentiable]
    fn predict(&self, x: f64) -> f64 {
        x * 2.0
    }
}

fn main() {}
