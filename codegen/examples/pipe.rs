//! The macro's pipeline on `synthetic(n)` (default 2,000 statements), once
//! to warm up and once measured: the program to profile it with, e.g.
//! `valgrind --tool=callgrind target/release/examples/pipe 2000` (instruction
//! counts do not move with the machine's load, unlike times). With
//! `--features jemalloc`, on the allocator rustc gives proc macros.

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let item = tapeless_codegen::synthetic(n);
    let _ = tapeless_codegen::differentiable(quote::quote!(), item.clone());
    let t = std::time::Instant::now();
    let out = tapeless_codegen::differentiable(quote::quote!(), item);
    let elapsed = t.elapsed();
    println!("{n} statements: {:.1} ms", elapsed.as_secs_f64() * 1e3);
    drop(out);
}
