//! The macro never panics, whatever it is given: every `#[differentiable]`
//! fn (and `impl` block) of the repository's tests, benches and examples, mutated a few tokens
//! at a time (deleted, doubled, replaced by another of the fn's tokens,
//! wrapped in parentheses, swapped for a literal), is expanded without a
//! panic; where the mutant is still a fn, the expansion is valid Rust
//! syntax (errors are `compile_error!`s next to the fn, not broken tokens).

use proc_macro2::{Delimiter, Group, Literal, TokenStream, TokenTree};
use std::panic;

/// xorshift64: the same mutants on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// Every token of `ts`, groups and their contents alike.
fn flatten(ts: &TokenStream, out: &mut Vec<TokenTree>) {
    for t in ts.clone() {
        if let TokenTree::Group(g) = &t {
            flatten(&g.stream(), out);
        }
        out.push(t);
    }
}

/// `ts` with its `at`-th token (counted depth first) mutated.
fn mutate(ts: TokenStream, at: &mut usize, rng: &mut Rng, pool: &[TokenTree]) -> TokenStream {
    let mut out = Vec::new();
    for t in ts {
        if *at == 0 {
            *at = usize::MAX;
            match rng.below(6) {
                0 => {}
                1 => out.extend([t.clone(), t]),
                2 => out.push(pool[rng.below(pool.len())].clone()),
                3 => out.extend([pool[rng.below(pool.len())].clone(), t]),
                4 => out.push(TokenTree::Group(Group::new(
                    Delimiter::Parenthesis,
                    TokenStream::from(t),
                ))),
                _ => out.push(TokenTree::Literal(Literal::f64_unsuffixed(2.0))),
            }
            continue;
        }
        *at = at.wrapping_sub(1);
        match t {
            TokenTree::Group(g) => {
                let inner = mutate(g.stream(), at, rng, pool);
                let mut group = Group::new(g.delimiter(), inner);
                group.set_span(g.span());
                out.push(TokenTree::Group(group));
            }
            other => out.push(other),
        }
    }
    out.into_iter().collect()
}

/// The `#[differentiable]` fns and `impl` blocks of a file (nested fns
/// too): the attribute's arguments and the item without the attribute.
fn differentiable_fns(items: &[syn::Item], out: &mut Vec<(TokenStream, TokenStream)>) {
    let is_ours = |a: &syn::Attribute| {
        a.path()
            .segments
            .last()
            .is_some_and(|s| s.ident == "differentiable")
    };
    for item in items {
        match item {
            syn::Item::Fn(f) => {
                if let Some(a) = f.attrs.iter().find(|a| is_ours(a)) {
                    let args = match &a.meta {
                        syn::Meta::List(l) => l.tokens.clone(),
                        _ => TokenStream::new(),
                    };
                    let mut f = f.clone();
                    f.attrs.retain(|a| !is_ours(a));
                    out.push((args, quote::quote!(#f)));
                }
                let nested: Vec<syn::Item> = f
                    .block
                    .stmts
                    .iter()
                    .filter_map(|s| match s {
                        syn::Stmt::Item(i) => Some(i.clone()),
                        _ => None,
                    })
                    .collect();
                differentiable_fns(&nested, out);
            }
            // `#[differentiable]` impl blocks, whole.
            syn::Item::Impl(i) if i.attrs.iter().any(is_ours) => {
                let mut i = i.clone();
                i.attrs.retain(|a| !is_ours(a));
                out.push((TokenStream::new(), quote::quote!(#i)));
            }
            syn::Item::Mod(m) => {
                if let Some((_, items)) = &m.content {
                    differentiable_fns(items, out);
                }
            }
            _ => {}
        }
    }
}

#[test]
fn mutated_fns_expand_without_a_panic() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut fns = Vec::new();
    for dir in ["tests", "benches", "examples"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let Ok(src) = std::fs::read_to_string(&path) else {
                continue;
            };
            if let Ok(file) = syn::parse_file(&src) {
                differentiable_fns(&file.items, &mut fns);
            }
        }
    }
    assert!(fns.len() > 100, "found only {} fns", fns.len());
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut failures = Vec::new();
    // Three mutants of each fn (a few tokens changed each): they reach the
    // error paths of every pass, in a few seconds of a debug build.
    for (attr, f) in fns.iter().flat_map(|f| [f, f, f]) {
        let mut pool = Vec::new();
        flatten(f, &mut pool);
        let mut ts = f.clone();
        for _ in 0..1 + rng.below(3) {
            let mut at = rng.below(pool.len());
            ts = mutate(ts, &mut at, &mut rng, &pool);
        }
        let still_a_fn = syn::parse2::<syn::ItemFn>(ts.clone()).is_ok()
            || syn::parse2::<syn::ItemImpl>(ts.clone()).is_ok();
        let (attr_in, ts_in) = (attr.clone(), ts.clone());
        match panic::catch_unwind(move || tapeless_codegen::differentiable(attr_in, ts_in)) {
            Err(_) => failures.push(format!("panicked on #[differentiable({attr})] {ts}")),
            Ok(out) if still_a_fn && syn::parse2::<syn::File>(out.clone()).is_err() => {
                failures.push(format!("invalid Rust from #[differentiable({attr})] {ts}"));
            }
            Ok(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
