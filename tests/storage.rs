//! What the forward pass stores, measured: a counting allocator sees every
//! buffer it allocates. A loop that only accumulates stores nothing; a loop
//! that overwrites a value the backward needs keeps one value per iteration,
//! in one buffer allocated before the loop.

// The lecture's code indexes in loops; so do these tests.
#![allow(clippy::needless_range_loop)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tapeless::{differentiable, Float};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    static BYTES: Cell<usize> = const { Cell::new(0) };
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn live_add(bytes: usize) {
    let now = LIVE.with(|c| {
        c.set(c.get() + bytes);
        c.get()
    });
    PEAK.with(|p| p.set(p.get().max(now)));
}

fn live_sub(bytes: usize) {
    LIVE.with(|c| c.set(c.get().saturating_sub(bytes)));
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counters are thread-local cells, which allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        BYTES.with(|c| c.set(c.get() + layout.size()));
        live_add(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        live_sub(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        BYTES.with(|c| c.set(c.get() + new_size));
        live_sub(layout.size());
        live_add(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations and bytes allocated on this thread while running `f`.
fn counted<R>(f: impl FnOnce() -> R) -> (R, usize, usize) {
    let (a0, b0) = (ALLOCATIONS.with(Cell::get), BYTES.with(Cell::get));
    let r = f();
    (
        r,
        ALLOCATIONS.with(Cell::get) - a0,
        BYTES.with(Cell::get) - b0,
    )
}

/// The most bytes live at once on this thread while running `f`, above
/// what was live before.
fn peak<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(before));
    let r = f();
    (r, PEAK.with(Cell::get) - before)
}

#[differentiable]
fn dot<T: Float>(w: &[T], x: &[T]) -> T {
    let mut s = T::zero();
    for i in 0..w.len() {
        s += w[i] * x[i];
    }
    s
}

#[differentiable]
fn product<T: Float>(x: &[T]) -> T {
    let mut p = T::one();
    for i in 0..x.len() {
        p = p * x[i];
    }
    p
}

#[differentiable]
fn neuron<T: Float>(w0: T, x0: T, w1: T, x1: T, w2: T) -> T {
    let dot = w0 * x0 + w1 * x1 + w2;
    1.0 / (1.0 + (-dot).exp())
}

#[test]
fn accumulating_loop_stores_nothing() {
    let w: Vec<f64> = (0..1000).map(|i| i as f64 * 0.001).collect();
    let x: Vec<f64> = (0..1000).map(|i| 1.0 - i as f64 * 0.001).collect();
    let ((value, back), allocations, _) = counted(|| dot_forward(&w, &x));
    assert_eq!(
        allocations, 0,
        "the forward of a dot product allocates nothing"
    );
    let (dw, dx) = back(1.0);
    assert!((value - w.iter().zip(&x).map(|(a, b)| a * b).sum::<f64>()).abs() < 1e-9);
    assert_eq!(dw, x);
    assert_eq!(dx, w);
}

#[test]
fn overwriting_loop_stores_one_value_per_iteration() {
    let n = 1000;
    let x: Vec<f64> = (0..n)
        .map(|i| 1.0 + (i as f64 * 0.37).sin() * 1e-3)
        .collect();
    let ((value, back), allocations, bytes) = counted(|| product_forward(&x));
    assert_eq!(allocations, 1, "one buffer, allocated once before the loop");
    assert_eq!(
        bytes,
        n * std::mem::size_of::<f64>(),
        "one f64 per iteration"
    );
    let dx = back(1.0);
    for i in [0, 17, 999] {
        let others: f64 = x
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, v)| v)
            .product();
        assert!((dx[i] - others).abs() < 1e-12 * others.abs().max(1.0));
    }
    assert!((value - x.iter().product::<f64>()).abs() < 1e-12);

    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let (_, allocations, bytes) = counted(|| product_forward(&x32));
    assert_eq!((allocations, bytes), (1, n * std::mem::size_of::<f32>()));
}

#[test]
fn straight_line_code_allocates_nothing() {
    let (r, allocations, _) = counted(|| {
        let (v, back) = neuron_forward(2.0, -1.0, -3.0, -2.0, -3.0);
        (v, back(1.0))
    });
    assert_eq!(allocations, 0);
    assert!((r.0 - 0.7311).abs() < 1e-4);
}

/// A local array handed to a call and never written again: the call's
/// pullback reads the array itself, no copy of it is kept.
#[differentiable]
fn quartic<T: Float>(x: &[T]) -> T {
    let mut y = vec![T::zero(); x.len()];
    for i in 0..x.len() {
        y[i] = x[i] * x[i];
    }
    tapeless::dot(&y, &y)
}

/// The same array written after the first call: that call's pullback must
/// see the values it was given, so those are copied.
#[differentiable]
fn quartic_and_sixth<T: Float>(x: &[T]) -> T {
    let mut y = vec![T::zero(); x.len()];
    for i in 0..x.len() {
        y[i] = x[i] * x[i];
    }
    let four = tapeless::dot(&y, &y);
    for i in 0..x.len() {
        y[i] = y[i] * x[i];
    }
    four + tapeless::dot(&y, &y)
}

#[test]
fn arrays_passed_to_calls_are_copied_only_when_written_after() {
    let x: Vec<f64> = (0..50).map(|i| 0.5 + 0.02 * i as f64).collect();
    let ((v, back), allocations, bytes) = counted(|| quartic_forward(&x));
    assert_eq!(allocations, 1, "`y` alone");
    assert_eq!(bytes, x.len() * std::mem::size_of::<f64>());
    assert!((v - x.iter().map(|t| t.powi(4)).sum::<f64>()).abs() < 1e-12);
    let g = back(1.0);
    for (gi, xi) in g.iter().zip(&x) {
        assert!((gi - 4.0 * xi.powi(3)).abs() < 1e-12);
    }
    let ((v, back), allocations, _) = counted(|| quartic_and_sixth_forward(&x));
    assert_eq!(
        allocations, 3,
        "`y`, one copy for the first call's two arguments, and the tape of \
         `y[i]` the second loop overwrites"
    );
    let exact = |t: f64| t.powi(4) + t.powi(6);
    assert!((v - x.iter().map(|&t| exact(t)).sum::<f64>()).abs() < 1e-12);
    let g = back(1.0);
    for (gi, xi) in g.iter().zip(&x) {
        assert!((gi - (4.0 * xi.powi(3) + 6.0 * xi.powi(5))).abs() < 1e-12);
    }
    // f32, against central differences.
    let x32: Vec<f32> = x.iter().map(|&t| t as f32).collect();
    for (f, g) in [
        (
            quartic::<f32> as fn(&[f32]) -> f32,
            quartic_grad::<f32> as fn(&[f32]) -> (f32, Vec<f32>),
        ),
        (quartic_and_sixth::<f32>, quartic_and_sixth_grad::<f32>),
    ] {
        let report = tapeless::check_gradient(f, &x32, &g(&x32).1);
        assert!(report.within(1e-2), "{report}");
    }
}

/// Four layers, each a `Vec` the next reads: in the backward pass each
/// layer's adjoint is allocated where it is first written and freed once
/// the reversal passes the layer's declaration, so at most two are live.
#[differentiable]
fn layers<T: Float>(x: &[T]) -> T {
    let n = x.len();
    let mut a = vec![T::zero(); n];
    for i in 0..n {
        a[i] = x[i] * 3.0 - 1.0;
    }
    let mut b = vec![T::zero(); n];
    for i in 0..n {
        b[i] = a[i] * 2.0 + 1.0;
    }
    let mut c = vec![T::zero(); n];
    for i in 0..n {
        c[i] = b[i] * 0.5 - a[i];
    }
    let mut d = vec![T::zero(); n];
    for i in 0..n {
        d[i] = c[i] + b[i] * 0.25;
    }
    let mut s = T::zero();
    for i in 0..n {
        s += d[i] * d[i];
    }
    s
}

/// Three calls whose gradients all go to `x`: the first becomes `x`'s
/// gradient, the others are added to it and freed at once.
#[differentiable]
fn three_sums<T: Float>(x: &[T]) -> T {
    tapeless::sum(x) * 2.0 + tapeless::dot(x, x) + tapeless::sum(x)
}

#[test]
fn adjoints_are_freed_when_the_backward_is_done_with_them() {
    let n = 4000;
    let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.01).sin()).collect();
    let bytes = n * std::mem::size_of::<f64>();
    let (_, back) = layers_forward(&x);
    let (g, peak_bytes) = peak(|| back(1.0));
    // `x`'s gradient and at most two layers' adjoints (`d` and `c` feed
    // `b`; `c` and `b` feed `a`...), not all four at once.
    assert!(
        peak_bytes <= 3 * bytes + 512,
        "peak {peak_bytes} bytes, more than three arrays of {bytes}"
    );
    // d = c + b/4 = b/2 - a + b/4 = 3/4 (2a + 1) - a = a/2 + 3/4, a = 3x - 1.
    for (gi, xi) in g.iter().zip(&x) {
        let d = (3.0 * xi - 1.0) / 2.0 + 0.75;
        assert!((gi - 2.0 * d * 1.5).abs() < 1e-12);
    }
    let x32: Vec<f32> = x.iter().take(50).map(|&t| t as f32).collect();
    let report = tapeless::check_gradient(layers::<f32>, &x32, &layers_grad(&x32).1);
    assert!(report.within(1e-2), "{report}");

    let (_, back) = three_sums_forward(&x);
    let (g, peak_bytes) = peak(|| back(1.0));
    // The gradient, and one callee's gradient at a time (`dot` returns
    // two, one per argument).
    assert!(
        peak_bytes <= 3 * bytes + 512,
        "peak {peak_bytes} bytes, more than three arrays of {bytes}"
    );
    for (gi, xi) in g.iter().zip(&x) {
        assert!((gi - (3.0 + 2.0 * xi)).abs() < 1e-12);
    }
    let report = tapeless::check_gradient(three_sums::<f32>, &x32, &three_sums_grad(&x32).1);
    assert!(report.within(1e-2), "{report}");
}

/// A call's `Vec` result that the backward reads nowhere (`relu`'s
/// pullback reads `x`; the loop is linear in `z`): it needs only its length
/// (for its adjoint's zeros), so the pullback does not keep `z`.
#[differentiable]
fn relu_total<T: Float>(x: &[T]) -> T {
    let z: Vec<T> = tapeless::relu(x);
    let mut s = T::zero();
    for i in 0..x.len() {
        s = s + z[i] * 2.0;
    }
    s
}

#[test]
fn a_call_result_read_only_for_its_length_is_not_kept() {
    let n = 1000;
    let x: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
    let before = LIVE.with(Cell::get);
    let (v, back) = relu_total_forward(&x);
    let held = LIVE.with(Cell::get) - before;
    assert!(
        held < n * std::mem::size_of::<f64>(),
        "the pullback holds {held} bytes: `z` kept"
    );
    assert!((v - 2.0 * x.iter().map(|t| t.max(0.0)).sum::<f64>()).abs() < 1e-9);
    let g = back(1.0);
    for (gi, xi) in g.iter().zip(&x) {
        assert_eq!(*gi, if *xi > 0.0 { 2.0 } else { 0.0 });
    }
    let x32: Vec<f32> = x.iter().take(40).map(|&t| t as f32 + 0.01).collect();
    let report = tapeless::check_gradient(relu_total::<f32>, &x32, &relu_total_grad(&x32).1);
    assert!(report.within(1e-2), "{report}");
}
