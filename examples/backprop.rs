//! The lecture's scalar examples, backpropagated by generated code.
//!
//! Each circuit is written twice: whole, and gate by gate. The whole
//! function's `_grad` gives the input gradients in one call; chaining the
//! gates' pullbacks by hand shows the gradient arriving at every node, which
//! is what the generated backward pass does inside.
//!
//! Run with `cargo run --release --example backprop`.

use tapeless::{check_gradient, differentiable, Float};

// ---- Example 1: f(x, y, z) = (x + y) z --------------------------------------

#[differentiable]
fn circuit<T: Float>(x: T, y: T, z: T) -> T {
    let q = x + y;
    q * z
}

#[differentiable]
fn add<T: Float>(a: T, b: T) -> T {
    a + b
}

#[differentiable]
fn mul<T: Float>(a: T, b: T) -> T {
    a * b
}

fn example_circuit() {
    let (x, y, z) = (-2.0, 5.0, -4.0);
    println!("1. f(x, y, z) = (x + y) * z   at x = {x}, y = {y}, z = {z}\n");
    println!("     x ──┐");
    println!("         (+)── q ──┐");
    println!("     y ──┘         (*)── f");
    println!("     z ────────────┘\n");

    // Forward, gate by gate; each pullback keeps what its gate needs.
    let (q, add_back) = add_forward(x, y);
    let (f, mul_back) = mul_forward(q, z);
    println!("   forward:  q = x + y = {q}");
    println!("             f = q * z = {f}");

    // Backward: start from df/df = 1 and walk the graph in reverse.
    let df = 1.0;
    let (dq, dz) = mul_back(df); // mul swaps: dq = z, dz = q
    let (dx, dy) = add_back(dq); // add distributes: dx = dy = dq
    println!("   backward: df/df = {df}");
    println!("             df/dq = z = {dq}      df/dz = q = {dz}   (mul swaps)");
    println!("             df/dx = df/dq = {dx}  df/dy = df/dq = {dy}   (add distributes)");

    // The whole function's gradient, generated in one piece, agrees.
    let (value, grads) = circuit_grad(x, y, z);
    assert_eq!((value, grads), (f, (dx, dy, dz)));
    println!("   circuit_grad({x}, {y}, {z}) = ({value}, {grads:?})\n");
}

// ---- Example 2: the sigmoid neuron -------------------------------------------

#[differentiable]
fn neuron<T: Float>(w0: T, x0: T, w1: T, x1: T, w2: T) -> T {
    let dot = w0 * x0 + w1 * x1 + w2;
    1.0 / (1.0 + (-dot).exp())
}

#[differentiable]
fn weighted_sum<T: Float>(w0: T, x0: T, w1: T, x1: T, w2: T) -> T {
    w0 * x0 + w1 * x1 + w2
}

#[differentiable]
fn sigmoid<T: Float>(t: T) -> T {
    1.0 / (1.0 + (-t).exp())
}

fn example_neuron() {
    let (w, x) = ([2.0, -3.0, -3.0], [-1.0, -2.0]);
    println!("2. the sigmoid neuron f = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2)))");
    println!("   at w = {w:?}, x = {x:?}\n");

    let (dot, dot_back) = weighted_sum_forward(w[0], x[0], w[1], x[1], w[2]);
    let (f, sigmoid_back) = sigmoid_forward(dot);
    println!("   forward:  dot = w0 x0 + w1 x1 + w2 = {dot}");
    println!("             f = sigmoid(dot) = {f:.4}");

    let ddot = sigmoid_back(1.0);
    println!(
        "   backward: df/ddot = {ddot:.4}   (the closed form (1 - f) f = {:.4})",
        (1.0 - f) * f
    );
    let (dw0, dx0, dw1, dx1, dw2) = dot_back(ddot);
    println!("             dw = [{dw0:.4}, {dw1:.4}, {dw2:.4}]");
    println!("             dx = [{dx0:.4}, {dx1:.4}]");

    let (_, whole) = neuron_grad(w[0], x[0], w[1], x[1], w[2]);
    assert_eq!(whole, (dw0, dx0, dw1, dx1, dw2));
    let check = check_gradient(
        |v: &[f64]| neuron(v[0], v[1], v[2], v[3], v[4]),
        &[w[0], x[0], w[1], x[1], w[2]],
        &[whole.0, whole.1, whole.2, whole.3, whole.4],
    );
    println!(
        "   neuron_grad agrees; its worst relative error against finite differences: {:.1e}\n",
        check.max_error()
    );
}

// ---- Example 3: add, mul and max gates together --------------------------------

#[differentiable]
fn gates<T: Float>(x: T, y: T, z: T, w: T) -> T {
    2.0 * (x * y + z.max(w))
}

fn example_gates() {
    let (x, y, z, w) = (3.0_f32, -4.0, 2.0, -1.0);
    println!("3. f = 2 (x y + max(z, w))   at x = {x}, y = {y}, z = {z}, w = {w}  (in f32)\n");
    let (f, back) = gates_forward(x, y, z, w);
    println!(
        "   forward:  x y = {}, max(z, w) = {}, f = {f}",
        x * y,
        z.max(w)
    );
    let (dx, dy, dz, dw) = back(1.0);
    println!("   backward: the *2 gate scales by 2; add distributes 2 to both branches;");
    println!("             mul swaps: dx = 2 y = {dx}, dy = 2 x = {dy}");
    println!("             max routes: dz = {dz} (z won), dw = {dw}");
}

fn main() {
    println!("Backpropagation, written by #[differentiable]\n");
    example_circuit();
    example_neuron();
    example_gates();
}
