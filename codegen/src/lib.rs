//! The code generator behind tapeless's attributes: `#[differentiable]`
//! and `#[custom_gradient]` on proc_macro2 tokens. A plain library (not a
//! proc-macro crate) so that tests and benchmarks can run the pipeline; the
//! attributes themselves live in `tapeless-macros`. Not an API: use the
//! `tapeless` crate.
//!
//! The expansion is a pipeline of passes, one per file:
//! `args.rs` and `parse.rs` check the input and report every error at once,
//! `lower.rs` builds the computational graph, `analyse.rs` decides what the
//! backward pass visits and reads (with `fuse.rs`, the loops over data
//! points whose backward runs point by point, and `winners.rs`, the loops
//! that replay only the iteration that won a running `min` or `max`, and
//! `scatters.rs`, the inner loops whose column sums are reversed row by
//! row),
//! `rules.rs` holds every primitive's local
//! gradient, and `emit.rs` writes the Rust; any error goes to `fallback.rs`.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// With `--features jemalloc` (measurement only: the bench `pipeline`, the
/// example `pipe`, the test `pipeline_time`), the pipeline runs on jemalloc
/// 5.3, the allocator rustc links on Linux and into whose `malloc` a proc
/// macro's allocations go: glibc's, the default of a plain program, makes
/// the pipeline's many small allocations cost more than they do in a build.
/// Never enabled by `tapeless-macros`.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod analyse;
mod args;
mod closures;
mod custom;
mod diag;
mod emit;
mod fallback;
mod fuse;
mod graph;
mod impls;
mod labels;
mod lower;
mod matches;
mod names;
mod options;
mod parse;
mod patterns;
mod reductions;
mod returns;
mod rules;
mod scatters;
mod sugar;
mod walks;
mod winners;

use proc_macro2::TokenStream;

/// `#[differentiable(attr)] item`: the user's fn and its generated items, or
/// the fn, stubs and `compile_error!`s. Never panics.
///
/// ```
/// let out = tapeless_codegen::differentiable(
///     quote::quote!(),
///     quote::quote!(fn f<T: Float>(x: T) -> T { x * x }),
/// );
/// assert!(out.to_string().contains("fn f_grad"));
/// ```
pub fn differentiable(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(attr, item)
}

/// `#[custom_gradient(attr)] item`, on a hand-written `NAME_forward`.
///
/// ```
/// let out = tapeless_codegen::custom_gradient(
///     quote::quote!(),
///     quote::quote!(fn id_forward<T: Float>(x: T) -> (T, impl Fn(T) -> T) { (x, |g| g) }),
/// );
/// assert!(out.to_string().contains("fn id_grad"));
/// ```
pub fn custom_gradient(attr: TokenStream, item: TokenStream) -> TokenStream {
    custom::expand(attr, item)
}

/// A generic fn of `n` statements (a chain through `x` and `y` of
/// arithmetic, `sin`, `max`, `exp`, divisions, and a small loop every eight
/// statements): the input of the
/// pipeline's benchmark and timing test.
///
/// ```
/// let item = tapeless_codegen::synthetic(3);
/// assert!(item.to_string().starts_with("fn big"));
/// ```
pub fn synthetic(n: usize) -> TokenStream {
    let stmts = (0..n).map(|i| {
        let v = quote::format_ident!("v{}", i);
        let prev = match i {
            0 => quote::format_ident!("x"),
            _ => quote::format_ident!("v{}", i - 1),
        };
        match i % 8 {
            // A loop every eight statements: regions, tapes, a reversed loop.
            7 => quote::quote!(let mut #v = #prev; for _ in 0..3 { #v = #v * y + x; }),
            i if i % 4 == 0 => quote::quote!(let #v = #prev * y + 0.5;),
            i if i % 4 == 1 => quote::quote!(let #v = #prev.sin() - x;),
            i if i % 4 == 2 => quote::quote!(let #v = (#prev * #prev).max(y);),
            _ => quote::quote!(let #v = #prev / (1.0 + y.exp());),
        }
    });
    let last = match n {
        0 => quote::format_ident!("x"),
        _ => quote::format_ident!("v{}", n - 1),
    };
    quote::quote!(fn big<T: Float>(x: T, y: T) -> T { #(#stmts)* #last })
}

/// A generic fn of `n` statements of the forms the rewrites before
/// lowering take apart, in turn: a call's array result indexed, a matrix
/// literal assigned by element, `sin_cos` destructured, a call's tuple read
/// by field, an array written through `iter_mut()`, a closure bound and
/// called, a copy sorted. The
/// pipeline's benchmark runs it too: those rewrites look ahead from a
/// `let`, and must do so without visiting the rest of the block each time.
///
/// ```
/// let item = tapeless_codegen::synthetic_forms(7);
/// let out = tapeless_codegen::differentiable(quote::quote!(), item);
/// assert!(!out.to_string().contains("compile_error"));
/// ```
pub fn synthetic_forms(n: usize) -> TokenStream {
    let stmts = (0..n).map(|i| {
        let id = |p: &str| quote::format_ident!("{}{}", p, i);
        let (h, m, a, b, p, v) = (id("h"), id("m"), id("a"), id("b"), id("p"), id("v"));
        let c = id("c");
        match i % 7 {
            0 => quote::quote!(let #h = layer(&w, &x); s = s + #h[0];),
            1 => quote::quote!(let mut #m = [[s, y], [y, s]]; #m[0][0] = s * y; s = s + #m[0][0];),
            2 => quote::quote!(let (#a, #b) = s.sin_cos(); s = #a * #b + s;),
            3 => quote::quote!(let #p = polar(s, y); s = s + #p.0 * #p.1;),
            4 => quote::quote!(for q in arr.iter_mut() { *q = *q * y; } s = s + arr[0];),
            5 => quote::quote!(let #c = |u: T| u * y + s; s = #c(s) * 0.5;),
            _ => quote::quote!(
                let mut #v = x.to_vec();
                #v.sort_by(|a, b| a.partial_cmp(b).unwrap());
                s = s + #v[0];
            ),
        }
    });
    quote::quote!(
        fn forms<T: Float>(x: &[T], w: &[Vec<T>], y: T) -> T {
            let mut s = y;
            let mut arr = x.to_vec();
            #(#stmts)*
            s + arr[1]
        }
    )
}

/// The whole expansion, on proc_macro2 tokens so that tests can run it.
fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item_fn: syn::ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            return match syn::parse2::<syn::ItemImpl>(item.clone()) {
                Ok(block) => impls::expand(attr, block),
                Err(_) => fallback::not_a_fn(item),
            }
        }
    };
    let cx = diag::Diagnostics::default();
    let args = args::parse(&cx, attr);
    let f = parse::function(&cx, &args, &item_fn);
    let mut names = names::Names::default();
    // Lowering assumes a body that parse.rs accepted.
    let graph = match &f {
        Some(f) if !cx.has_errors() => lower::lower(&cx, f, &mut names),
        _ => None,
    };
    if let Err(e) = cx.finish() {
        return fallback::expand(e, &item_fn, f.as_ref());
    }
    match (f, graph) {
        (Some(f), Some(g)) => {
            let a = analyse::analyse(&g);
            // Callers differentiate every float argument: where `wrt(..)`
            // leaves some out, the protocol needs the full expansion too.
            let partial = f.params.iter().any(|p| p.float.is_some() && !p.diff);
            let full = partial.then(|| {
                let cx = diag::Diagnostics::default();
                // Every parameter with a gradient shape; data of other
                // shapes (`&[(usize, T)]`) stays data.
                let every = args::Args {
                    float: args.float.clone(),
                    wrt: Some(
                        f.params
                            .iter()
                            .filter(|p| p.float.is_some())
                            .map(|p| p.ident.clone())
                            .collect(),
                    ),
                };
                let all_f = parse::function(&cx, &every, &item_fn);
                let all_g = all_f
                    .as_ref()
                    .and_then(|af| lower::lower(&cx, af, &mut names));
                let _ = cx.finish();
                all_f.zip(all_g)
            });
            let full = full.flatten().map(|(af, ag)| {
                let aa = analyse::analyse(&ag);
                (af, ag, aa)
            });
            let out = emit::expand(
                &f,
                &g,
                &a,
                &mut names,
                full.as_ref().map(|(af, ag, aa)| (af, ag, aa)),
            );
            // The user's fn last. A generic one is printed from its syntax
            // tree (by value: no copy), its literals made `T`; any other is
            // the input itself, unchanged (a token stream is shared, not
            // copied: printing the tree again would cost a tenth of the
            // expansion).
            let (float, generic) = (f.float.clone(), f.generic);
            drop((f, g, a, full));
            let mut all = if generic {
                emit::original_owned(item_fn, &float, generic)
            } else {
                item
            };
            all.extend(out);
            let out = all;
            if std::env::var_os("TAPELESS_DEBUG").is_some() {
                eprintln!("{out}");
            }
            out
        }
        (f, _) => {
            let e = syn::Error::new_spanned(
                &item_fn.sig.ident,
                "internal error in tapeless: no graph and no error",
            );
            fallback::expand(e, &item_fn, f.as_ref())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    /// The pipeline's cost on a 2,000-statement fn, printed, not asserted
    /// (timing on a shared machine is noise): run with `cargo test --release
    /// -p tapeless-codegen --features jemalloc -- --ignored --nocapture
    /// pipeline_time` (the feature: rustc's allocator, see `ALLOCATOR`).
    #[test]
    #[ignore]
    fn pipeline_time() {
        // Best of five per pass: the first run of each pays page faults.
        fn best<R>(mut f: impl FnMut() -> R) -> (f64, R) {
            let mut t_best = f64::MAX;
            let mut out = None;
            for _ in 0..5 {
                let t = std::time::Instant::now();
                let r = f();
                t_best = t_best.min(t.elapsed().as_secs_f64() * 1e3);
                out = Some(r);
            }
            (t_best, out.unwrap())
        }
        for n in [500usize, 1000, 2000, 4000] {
            let item = synthetic(n);
            let (total, out) = best(|| expand(quote!(), item.clone()));
            assert!(!out.to_string().contains("compile_error"));
            let (t_syn, item_fn) = best(|| syn::parse2::<syn::ItemFn>(item.clone()).unwrap());
            let cx = diag::Diagnostics::default();
            let (t_parse, f) =
                best(|| parse::function(&cx, &args::Args::default(), &item_fn).unwrap());
            let (t_lower, (g, names)) = best(|| {
                let mut names = names::Names::default();
                (lower::lower(&cx, &f, &mut names).unwrap(), names)
            });
            let (t_analyse, a) = best(|| analyse::analyse(&g));
            let (t_emit, _) = best(|| emit::expand(&f, &g, &a, &mut names.clone(), None));
            cx.finish().unwrap();
            println!(
                "{n} statements: {total:.1} ms (syn {t_syn:.1}, parse {t_parse:.1}, lower {t_lower:.1}, \
                 analyse {t_analyse:.1}, emit {t_emit:.1}); output {} tokens",
                count(out)
            );
        }
        fn count(s: TokenStream) -> usize {
            s.into_iter()
                .map(|t| match t {
                    proc_macro2::TokenTree::Group(g) => 1 + count(g.stream()),
                    _ => 1,
                })
                .sum()
        }
    }

    #[test]
    #[ignore]
    fn lower_scaling() {
        for n in [1000usize, 2000, 4000, 8000] {
            let item_fn: syn::ItemFn = syn::parse2(synthetic(n)).unwrap();
            let cx = diag::Diagnostics::default();
            let f = parse::function(&cx, &args::Args::default(), &item_fn).unwrap();
            let mut best = f64::MAX;
            for _ in 0..3 {
                let t = std::time::Instant::now();
                let mut names = names::Names::default();
                let g = lower::lower(&cx, &f, &mut names).unwrap();
                best = best.min(t.elapsed().as_secs_f64() * 1e3);
                drop(g);
            }
            println!("{n}: lower {best:.1} ms");
        }
    }

    /// The macro never panics: odd inputs give errors, not crashes.
    #[test]
    fn never_panics_on_odd_input() {
        let attrs = [
            quote!(),
            quote!(wrt),
            quote!(wrt()),
            quote!(wrt(x, x)),
            quote!(1 + 2),
            quote!(wrt(x), wrt(y)),
            quote!(float),
            quote!(float =),
            quote!(float = 1),
            quote!(float = Real, float = f64),
            quote!(float = &f64, wrt(x)),
        ];
        let items = [
            quote!(),
            quote!(
                struct S;
            ),
            quote!(fn),
            quote!(
                fn f() {}
            ),
            quote!(
                fn f<T: Float>(x: T) -> T {
                    x
                }
            ),
            quote!(
                fn f<T: Float>(x: T) -> (T, T) {
                    x
                }
            ),
            // Returns inside loops: without a value, of the wrong shape, in
            // a loop's condition, in a block that leaves, in a closure.
            quote!(
                fn f<T: Float>(x: T) -> T {
                    for _ in 0..3 {
                        return;
                    }
                    while {
                        return x;
                    } {
                        return (x, x);
                    }
                    loop {
                        {
                            return x;
                        }
                        x;
                        let c = || {
                            for _ in 0..2 {
                                return 1;
                            }
                            0
                        };
                    }
                }
            ),
            quote!(
                fn f<T: Float>(x: T) -> (T, T) {
                    for _ in 0..3 {
                        if x > 0.0 {
                            return x;
                        }
                        {
                            break;
                        }
                    }
                    'a: loop {
                        return (x, x);
                    }
                }
            ),
            quote!(
                fn f<T: Float>(x: T) -> (T, T) {
                    (x, (x, x))
                }
            ),
            quote!(
                fn f<T: Float>(x: T) -> T {
                    let (a, b) = x;
                    a
                }
            ),
            quote!(
                fn f<T: Float>(x: T) -> T {
                    let y = x.sin_cos().2;
                    y
                }
            ),
            quote!(
                fn f<T: Float>(x: T) -> T {
                    x.powi()
                }
            ),
            quote!(
                fn f<T: Float>(x: T) -> T {
                    T::max(x)
                }
            ),
            quote!(
                fn f<T: Float>(x: T) -> T {
                    y = x;
                    x
                }
            ),
            quote!(
                fn f<T: Float>(x: T) -> T {
                    return;
                }
            ),
            quote!(
                fn f<T: Float>(x: T) -> T {}
            ),
            quote!(
                fn f<T: Float>(x: T) -> T {
                    {
                        x
                    }
                }
            ),
            quote!(
                fn f<T: Float, U: Float>(x: T) -> T {
                    x
                }
            ),
            quote!(
                fn f<'a, T: Float, const N: usize>(x: T, s: &'a str) -> T {
                    x
                }
            ),
            quote!(
                fn f(self) -> f64 {
                    1.0
                }
            ),
            quote!(
                fn f<T: Float>(x: T) -> T {
                    x.0
                }
            ),
            quote!(
                fn f<T: Float>(x: T) -> T {
                    -(-(x))
                }
            ),
            // Loop rewrites and constant closures on odd input.
            quote!(
                fn f<T: Float>(x: &[T]) -> T {
                    let mut s = T::zero();
                    for w in x.windows() {
                        s = s + w[0];
                    }
                    for w in x.windows(x[0]) {
                        s = s + w;
                    }
                    for (i, v) in x.iter_mut().enumerate().rev() {
                        *v = s;
                    }
                    for v in &mut 3 {
                        *v = s;
                    }
                    for c in x.chunks_exact(0) {
                        s = c[c[0]];
                    }
                    for v in x.iter().skip(x[0]).take() {
                        s = s + *v;
                    }
                    *s = x[..][..][0];
                    let k = match s {
                        _ => |q| q,
                    };
                    s
                }
            ),
            quote!(
                fn f<T: Float>(x: T) -> [T; 2] {
                    if x > x {
                        return [x, x];
                    }
                    [x; 2]
                }
            ),
            quote!(
                fn f<T: Float>(x: T) -> T {
                    !x
                }
            ),
        ];
        for attr in &attrs {
            for item in &items {
                let _ = expand(attr.clone(), item.clone());
                let _ = custom::expand(attr.clone(), item.clone());
            }
        }
    }
}
