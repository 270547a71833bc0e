use tapeless::{differentiable, Float};

macro_rules! square {
    ($x:expr) => {
        $x * $x
    };
}

#[differentiable]
fn f<T: Float + std::fmt::Debug>(x: T) -> T {
    println!("computing {x:?}");
    let y = dbg!(x * x);
    square!(y)
}

fn main() {}
