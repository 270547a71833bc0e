//! `cargo bench -p tapeless-codegen`: the macro's whole pipeline (parse,
//! lower, analyse, emit; no rustc) on generated fns of 500 to 4,000
//! statements, and on fns of 250 to 1,000 of the forms the rewrites take
//! apart. Linear growth is the point: no pass may be quadratic in the
//! fn's size. Runs on proc_macro2's own token types, as tests do.
//! `cargo bench -p tapeless-codegen --features jemalloc` runs it on the
//! allocator rustc runs proc macros with (jemalloc, on Linux): the numbers
//! that say what a build pays. Without the feature it runs on the system's
//! `malloc` (glibc's here), whose cost per small allocation is higher.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;

fn pipeline(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipeline");
    for n in [500, 1000, 2000, 4000] {
        let item = tapeless_codegen::synthetic(n);
        g.bench_with_input(BenchmarkId::new("statements", n), &item, |b, item| {
            b.iter(|| tapeless_codegen::differentiable(quote::quote!(), black_box(item.clone())))
        });
    }
    // The forms the rewrites before lowering take apart (calls' results,
    // tuples by field, sorts, ...), a few statements each.
    for n in [250, 500, 1000] {
        let item = tapeless_codegen::synthetic_forms(n);
        g.bench_with_input(BenchmarkId::new("forms", n), &item, |b, item| {
            b.iter(|| tapeless_codegen::differentiable(quote::quote!(), black_box(item.clone())))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = pipeline
}
criterion_main!(benches);
