use tapeless::{differentiable, Float};

// One error, not one more at every use of `f`, `f_forward` and `f_grad`, nor
// in differentiable code that calls `f`.
#[differentiable]
fn f<T: Float>(x: T) -> T {
    let c = move |v: T| v * v;
    x
}

#[differentiable]
fn g<T: Float>(x: T) -> T {
    f(x) * 2.0
}

fn main() {
    let _ = f(1.0);
    let (_, back) = f_forward(1.0_f32);
    let _ = back(1.0);
    let (_, _dx) = f_grad(2.0);
    let _ = g_grad(1.0);
}
