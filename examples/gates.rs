//! The lecture's gate API, built from generated code: each gate is a
//! `#[differentiable]` fn, and `Gate` keeps the pullback its `_forward`
//! returns, so that `forward` stores what `backward` needs, as in CS231n's
//! `MultiplyGate`. A circuit of gates is then run forward and backward.
//!
//! Run with `cargo run --release --example gates`.

use tapeless::{differentiable, Float};

#[differentiable]
fn mul<T: Float>(x: T, y: T) -> T {
    x * y
}

#[differentiable]
fn add<T: Float>(x: T, y: T) -> T {
    x + y
}

#[differentiable]
fn max<T: Float>(x: T, y: T) -> T {
    x.max(y)
}

/// A gate's pullback: upstream gradient -> the two inputs' gradients.
type Pullback = Box<dyn Fn(f64) -> (f64, f64)>;

/// A two-input gate: `forward` runs the generated forward pass and keeps its
/// pullback; `backward` maps the upstream gradient to the inputs' gradients.
struct Gate {
    name: &'static str,
    forward_fn: fn(f64, f64) -> (f64, Pullback),
    pullback: Option<Pullback>,
}

impl Gate {
    fn new(name: &'static str, forward_fn: fn(f64, f64) -> (f64, Pullback)) -> Self {
        Gate {
            name,
            forward_fn,
            pullback: None,
        }
    }

    fn forward(&mut self, x: f64, y: f64) -> f64 {
        let (z, pullback) = (self.forward_fn)(x, y);
        self.pullback = Some(pullback);
        println!("  {:<4} forward  ({x:>5}, {y:>5}) -> {z:>5}", self.name);
        z
    }

    fn backward(&self, dz: f64) -> (f64, f64) {
        let pullback = self
            .pullback
            .as_ref()
            .expect("forward runs before backward");
        let (dx, dy) = pullback(dz);
        println!("  {:<4} backward {dz:>5} -> ({dx:>5}, {dy:>5})", self.name);
        (dx, dy)
    }
}

fn boxed(f: impl Fn(f64) -> (f64, f64) + 'static) -> Pullback {
    Box::new(f)
}

fn main() {
    let mut mul_gate = Gate::new("mul", |x, y| {
        let (z, back) = mul_forward(x, y);
        (z, boxed(back))
    });
    let mut add_gate = Gate::new("add", |x, y| {
        let (z, back) = add_forward(x, y);
        (z, boxed(back))
    });
    let mut max_gate = Gate::new("max", |x, y| {
        let (z, back) = max_forward(x, y);
        (z, boxed(back))
    });
    let mut scale_gate = Gate::new("*2", |x, y| {
        let (z, back) = mul_forward(x, y);
        (z, boxed(back))
    });

    // The lecture's figure: f = 2 * (x * y + max(z, w)).
    let (x, y, z, w) = (3.0, -4.0, 2.0, -1.0);
    println!("f = 2 (x y + max(z, w)) at x = {x}, y = {y}, z = {z}, w = {w}\n");
    println!("forward, gate by gate:");
    let xy = mul_gate.forward(x, y);
    let m = max_gate.forward(z, w);
    let s = add_gate.forward(xy, m);
    let f = scale_gate.forward(2.0, s);

    println!("\nbackward, in reverse, from df/df = 1:");
    let (_, ds) = scale_gate.backward(1.0); // scales by 2
    let (dxy, dm) = add_gate.backward(ds); // add distributes
    let (dz, dw) = max_gate.backward(dm); // max routes
    let (dx, dy) = mul_gate.backward(dxy); // mul swaps

    println!("\nf = {f}; gradients dx = {dx}, dy = {dy}, dz = {dz}, dw = {dw}");
    println!("  add distributes: both inputs of `add` got {ds}");
    println!("  mul swaps:       dx = y * {dxy} = {dx}, dy = x * {dxy} = {dy}");
    println!("  max routes:      z won, so dz = {dz} and dw = {dw}");
    assert_eq!((f, dx, dy, dz, dw), (-20.0, -8.0, 6.0, 2.0, 0.0));
}
