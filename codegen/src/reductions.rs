//! Pass 1a, before the checks: iterator reductions of differentiated values
//! become the loops they stand for, hoisted in front of the statement that
//! uses them. `.sum()`, `.product()` and `.fold(init, f)`, after any number
//! of `.map(|p| ..)`s, over whatever a `for` loop accepts (`x.iter()`,
//! `.zip(..)`, `.enumerate()`, ranges, ...):
//!
//! ```text
//! let m = x.iter().map(|&v| v * v).sum::<T>() / n;
//!     ==>
//! let mut __tl_acc0 = 0.0;
//! for &v in x.iter() { __tl_acc0 = __tl_acc0 + (v * v); }
//! let m = __tl_acc0 / n;
//! ```
//!
//! A `for` loop over `a.chain(b)` with no `break` becomes a loop over `a`
//! and one over `b`, with the same body; one over `rows.flatten()` a loop
//! over the rows with the body in a loop over each row's items.
//!
//! Only reductions that may touch a differentiated value are rewritten (a
//! sum of `usize`s stays a constant expression), and none in a `while`
//! condition (evaluated again each iteration) or inside a closure. Only the
//! generated fns see this; the user's fn is kept as written.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::visit_mut::VisitMut;
use syn::{Block, Expr, Pat, Stmt, Type};

use crate::parse::same_type;

/// `body` with its reductions of possibly differentiated values written as
/// loops, or `None` if it has none. `active` names what may carry a
/// differentiated value (parse's over-estimate).
pub(crate) fn rewrite(
    body: &Block,
    float: &Type,
    active: &rustc_hash::FxHashSet<String>,
) -> Option<Block> {
    let mut r = Rewrite {
        float,
        active: std::borrow::Cow::Borrowed(active),
        pending: Vec::new(),
        count: 0,
        in_while_cond: false,
        let_ty: None,
    };
    let mut body = body.clone();
    r.visit_block_mut(&mut body);
    (r.count > 0).then_some(body)
}

/// Whether `body` has a method call that could be a reduction, or a loop
/// over a `.chain(..)` (so that the common case costs no copy of the body).
pub(crate) fn any(body: &Block) -> bool {
    struct Find(bool);
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
            self.0 |= reduction_kind(m).is_some()
                || ["push", "max_by", "min_by", "reduce"]
                    .iter()
                    .any(|w| m.method == w);
            syn::visit::visit_expr_method_call(self, m);
        }
        fn visit_local(&mut self, l: &'ast syn::Local) {
            self.0 |= l.init.as_ref().is_some_and(|i| {
                matches!(strip(&i.expr), Expr::Reference(r)
                    if matches!(strip(&r.expr), Expr::Index(ix) if matches!(&*ix.index, Expr::Range(_))))
            });
            syn::visit::visit_local(self, l);
        }
        fn visit_expr_for_loop(&mut self, f: &'ast syn::ExprForLoop) {
            self.0 |= chained(&f.expr).is_some()
                || flattened(&f.expr).is_some()
                || unsliced(&f.expr).is_some();
            syn::visit::visit_expr_for_loop(self, f);
        }
        fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
            self.0 |= c.args.iter().any(|a| {
                let a = match a {
                    Expr::Reference(r) => &*r.expr,
                    other => other,
                };
                matches!(a, Expr::Array(_) | Expr::Repeat(_))
                    || matches!(a, Expr::Macro(m) if m.mac.path.is_ident("vec"))
                    || matches!(a, Expr::Index(ix) if matches!(&*ix.index, Expr::Range(_)))
            });
            syn::visit::visit_expr_call(self, c);
        }
    }
    let mut f = Find(false);
    syn::visit::visit_block(&mut f, body);
    f.0
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Sum,
    Product,
    Fold,
    /// Into a `Vec`, filled by position.
    Collect,
}

fn reduction_kind(m: &syn::ExprMethodCall) -> Option<Kind> {
    match (m.method.to_string().as_str(), m.args.len()) {
        ("sum", 0) => Some(Kind::Sum),
        ("product", 0) => Some(Kind::Product),
        ("fold", 2) => Some(Kind::Fold),
        ("collect", 0) => Some(Kind::Collect),
        _ => None,
    }
}

/// The largest or smallest item, as Rust code asks for it:
/// `ITER.max_by(|a, b| a.partial_cmp(b).unwrap()).unwrap()` (or
/// `total_cmp`, `min_by`, the comparison the other way round), and
/// `ITER.reduce(T::max).unwrap()` (or `|a, b| a.max(b)`, `min`), also
/// through `*` and `.expect(..)`: `ITER.fold(-inf, T::max)` (or `+inf`,
/// `T::min`), a fold the rewrite knows. (An empty `ITER` gives the
/// infinity where Rust's `unwrap` would panic.)
fn extremum(e: &Expr, float: &Type) -> Option<Expr> {
    let mut e = strip(e);
    if let Expr::Unary(u) = e {
        if matches!(u.op, syn::UnOp::Deref(_)) {
            e = strip(&u.expr);
        }
    }
    let Expr::MethodCall(unwrap) = e else {
        return None;
    };
    match (unwrap.method.to_string().as_str(), unwrap.args.len()) {
        ("unwrap", 0) | ("expect", 1) => {}
        _ => return None,
    }
    let Expr::MethodCall(m) = strip(&unwrap.receiver) else {
        return None;
    };
    let params = |c: &syn::ExprClosure| -> Option<(String, String)> {
        let name = |p: &Pat| match untyped(p) {
            Pat::Ident(i) => Some(i.ident.to_string()),
            Pat::Reference(r) => match untyped(&r.pat) {
                Pat::Ident(i) => Some(i.ident.to_string()),
                _ => None,
            },
            _ => None,
        };
        match c.inputs.len() {
            2 => Some((name(&c.inputs[0])?, name(&c.inputs[1])?)),
            _ => None,
        }
    };
    let is = |e: &Expr, n: &str| {
        let mut e = strip(e);
        while let Expr::Unary(u) = e {
            e = strip(&u.expr);
        }
        while let Expr::Reference(r) = e {
            e = strip(&r.expr);
        }
        matches!(e, Expr::Path(p) if p.path.is_ident(n))
    };
    // Whether it asks for the largest.
    let largest = match (
        m.method.to_string().as_str(),
        m.args.len(),
        strip(m.args.first()?),
    ) {
        (method @ ("max_by" | "min_by"), 1, Expr::Closure(c)) => {
            let (a, b) = params(c)?;
            let mut body = strip(&c.body);
            if let Expr::MethodCall(u) = body {
                if u.method == "unwrap" && u.args.is_empty() {
                    body = strip(&u.receiver);
                }
            }
            let Expr::MethodCall(cmp) = body else {
                return None;
            };
            if !(cmp.method == "partial_cmp" || cmp.method == "total_cmp") || cmp.args.len() != 1 {
                return None;
            }
            let forward = match (is(&cmp.receiver, &a), is(&cmp.args[0], &b)) {
                (true, true) => true,
                _ if is(&cmp.receiver, &b) && is(&cmp.args[0], &a) => false,
                _ => return None,
            };
            (method == "max_by") == forward
        }
        ("reduce", 1, Expr::Path(p)) => match p.path.segments.last()?.ident.to_string().as_str() {
            "max" => true,
            "min" => false,
            _ => return None,
        },
        ("reduce", 1, Expr::Closure(c)) => {
            let (a, b) = params(c)?;
            let Expr::MethodCall(call) = strip(&c.body) else {
                return None;
            };
            let both = call.args.len() == 1
                && ((is(&call.receiver, &a) && is(&call.args[0], &b))
                    || (is(&call.receiver, &b) && is(&call.args[0], &a)));
            match call.method.to_string().as_str() {
                "max" if both => true,
                "min" if both => false,
                _ => return None,
            }
        }
        _ => return None,
    };
    let iter = &m.receiver;
    // `f64::NEG_INFINITY` needs no trait in scope; a generic type has
    // `Float`'s methods by its bound.
    let primitive =
        matches!(float, Type::Path(p) if p.path.is_ident("f64") || p.path.is_ident("f32"));
    let (init, step) = match (largest, primitive) {
        (true, true) => (quote!(#float::NEG_INFINITY), quote!(#float::max)),
        (false, true) => (quote!(#float::INFINITY), quote!(#float::min)),
        (true, false) => (quote!(#float::neg_infinity()), quote!(#float::max)),
        (false, false) => (quote!(#float::infinity()), quote!(#float::min)),
    };
    Some(syn::parse_quote_spanned!(m.method.span()=> #iter.fold(#init, #step)))
}

/// A one-parameter closure's pattern (without its type) and body.
fn unary(e: &Expr) -> Option<(Pat, &Expr)> {
    match e {
        Expr::Closure(c) if c.inputs.len() == 1 && c.capture.is_none() => {
            Some((untyped(&c.inputs[0]).clone(), &c.body))
        }
        Expr::Paren(p) => unary(&p.expr),
        _ => None,
    }
}

fn untyped(p: &Pat) -> &Pat {
    match p {
        Pat::Type(t) => &t.pat,
        other => other,
    }
}

struct Rewrite<'a> {
    float: &'a Type,
    /// What may carry a differentiated value, and the items of the loops
    /// reductions of such values became.
    active: std::borrow::Cow<'a, rustc_hash::FxHashSet<String>>,
    /// Statements to put in front of the statement being visited.
    pending: Vec<Stmt>,
    count: usize,
    in_while_cond: bool,
    /// The type a `let` gives the value being visited (`let v: Vec<T> =`).
    let_ty: Option<Type>,
}

impl Rewrite<'_> {
    /// `let mut v = Vec::new();` (or `Vec::with_capacity(..)`, `vec![]`)
    /// whose first use is a `for` loop that pushes one float per iteration
    /// (`v.push(e);` at the top of its body, no `break` or `continue`):
    /// a `Vec` as long as the loop, filled by position.
    fn fill_pushes(&mut self, stmts: &mut Vec<Stmt>) {
        // Per rewritten loop: the `let` it replaces, and what goes just
        // before the loop (the length, the `Vec`, the counter).
        let mut moves: Vec<(usize, usize, Vec<Stmt>)> = Vec::new();
        for at in 0..stmts.len() {
            let Some((name, typed)) = empty_vec(&stmts[at]) else {
                continue;
            };
            if typed.as_ref().is_some_and(|t| !self.vec_of_float(t)) {
                continue;
            }
            let Some(use_at) = (at + 1..stmts.len()).find(|&k| mentions(&stmts[k], &name)) else {
                continue;
            };
            let Stmt::Expr(Expr::ForLoop(fl), _) = &stmts[use_at] else {
                continue;
            };
            let pushes: Vec<usize> = fl
                .body
                .stmts
                .iter()
                .enumerate()
                .filter(|(_, s)| pushed(s, &name).is_some())
                .map(|(k, _)| k)
                .collect();
            let [push_at] = pushes[..] else { continue };
            let others = fl
                .body
                .stmts
                .iter()
                .enumerate()
                .any(|(k, s)| k != push_at && mentions(s, &name));
            let Some((cond, value)) = pushed(&fl.body.stmts[push_at], &name) else {
                continue;
            };
            let (cond, value) = (cond.cloned(), value.clone());
            if others
                || fl.label.is_some()
                || breaks(&fl.body)
                || continues(&fl.body)
                || (typed.is_none() && !self.mentions_active(&value))
            {
                continue;
            }
            let span = name.span();
            let k = proc_macro2::Ident::new(&format!("__tl_at{}", self.count), span);
            let mut before: Vec<Stmt> = Vec::new();
            let n = match &cond {
                // Pushed every time: as long as the loop.
                None => match length(&fl.expr) {
                    Some(n) => n,
                    None => continue,
                },
                // Pushed where `cond` holds: counted first, by the same
                // loop with only its `let`s before the push (they may
                // compute what `cond` reads).
                Some(cond) => {
                    let lets = &fl.body.stmts[..push_at];
                    if !lets.iter().all(|s| matches!(s, Stmt::Local(_))) {
                        continue;
                    }
                    // The count must see what the fill sees: nothing the
                    // loop changes may steer it (`if acc < 1.0 { .. }
                    // acc = acc + v;` would count every item).
                    let changed = assigned_in(&fl.body);
                    let reads = |e: &Expr| crate::parse::mentions_name(e, &changed);
                    let lets_read = lets.iter().any(|s| match s {
                        Stmt::Local(l) => l.init.as_ref().is_some_and(|i| reads(&i.expr)),
                        _ => true,
                    });
                    if reads(cond) || lets_read {
                        continue;
                    }
                    let c = proc_macro2::Ident::new(&format!("__tl_count{}", self.count), span);
                    let (pat, iter) = (&fl.pat, &fl.expr);
                    before.push(syn::parse_quote_spanned!(span=> let mut #c = 0usize;));
                    before.push(syn::parse_quote_spanned!(span=>
                        for #pat in #iter {
                            #(#lets)*
                            if #cond {
                                #c += 1;
                            }
                        }
                    ));
                    quote!(#c)
                }
            };
            self.count += 1;
            before.push(syn::parse_quote_spanned!(span=> let mut #name = vec![0.0; #n];));
            before.push(syn::parse_quote_spanned!(span=> let mut #k = 0usize;));
            let Stmt::Expr(Expr::ForLoop(fl), _) = &mut stmts[use_at] else {
                continue;
            };
            let fill: Stmt = match &cond {
                None => syn::parse_quote_spanned!(span=> { #name[#k] = #value; #k += 1; }),
                Some(cond) => syn::parse_quote_spanned!(span=>
                    if #cond {
                        #name[#k] = #value;
                        #k += 1;
                    }
                ),
            };
            match (&cond, fill) {
                // Two statements in the body, not a block.
                (None, Stmt::Expr(Expr::Block(b), _)) => {
                    fl.body.stmts.splice(push_at..=push_at, b.block.stmts);
                }
                (_, fill) => fl.body.stmts[push_at] = fill,
            }
            moves.push((at, use_at, before));
        }
        if moves.is_empty() {
            return;
        }
        // The `Vec::new()`s go; their loops get what goes before them.
        let old = std::mem::take(stmts);
        for (i, s) in old.into_iter().enumerate() {
            if moves.iter().any(|(at, _, _)| *at == i) {
                continue;
            }
            if let Some((_, _, before)) = moves.iter_mut().find(|(_, u, _)| *u == i) {
                stmts.append(before);
            }
            stmts.push(s);
        }
    }

    /// `for p in a.chain(b) { body }` (no `break` in `body`): the body once
    /// over `a`, then once over `b`, into `out`.
    fn split_chain(&mut self, mut s: Stmt, out: &mut Vec<Stmt>) {
        // `for v in x[a..b].iter()`: `x.iter().skip(a).take(b - a)`.
        if let Stmt::Expr(Expr::ForLoop(fl), _) = &mut s {
            if let Some(walk) = unsliced(&fl.expr) {
                *fl.expr = walk;
                self.count += 1;
            }
        }
        let Stmt::Expr(Expr::ForLoop(fl), semi) = &s else {
            out.push(s);
            return;
        };
        if fl.label.is_some() || breaks(&fl.body) {
            out.push(s);
            return;
        }
        // `for v in rows.iter().flatten()`: a loop over the rows, and in
        // it the body over each row's items (a `continue` still moves to
        // the next item).
        if let Some((rows, copied)) = flattened(&fl.expr) {
            let row = quote::format_ident!("__tl_row{}", self.count);
            self.count += 1;
            let each = match copied {
                true => quote!(#row.iter().copied()),
                false => quote!(#row.iter()),
            };
            let mut inner = fl.clone();
            *inner.expr = syn::parse_quote!(#each);
            let outer: Stmt = syn::parse_quote!(for #row in #rows { #inner });
            return self.split_chain(outer, out);
        }
        let Some((first, second)) = chained(&fl.expr) else {
            out.push(s);
            return;
        };
        self.count += 1;
        for part in [first, second] {
            let mut half = fl.clone();
            half.expr = Box::new(part.clone());
            self.split_chain(Stmt::Expr(Expr::ForLoop(half), *semi), out);
        }
    }

    /// `Vec<T>` or `Vec<_>` (T the float type).
    fn vec_of_float(&self, ty: &Type) -> bool {
        let Type::Path(p) = ty else { return false };
        let Some(last) = p.path.segments.last() else {
            return false;
        };
        let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
            return false;
        };
        p.qself.is_none()
            && last.ident == "Vec"
            && matches!(args.args.first(), Some(syn::GenericArgument::Type(t))
                if matches!(t, Type::Infer(_)) || same_type(t, self.float))
    }

    /// `let __tl_argN = literal;` and its name: an array written out
    /// where lowering wants a name (a call's argument, a borrow).
    fn bound_literal(&mut self, literal: &Expr) -> (proc_macro2::Ident, Stmt) {
        let span = syn::spanned::Spanned::span(literal);
        let name = proc_macro2::Ident::new(&format!("__tl_arg{}", self.count), span);
        self.count += 1;
        let decl: Stmt = syn::parse_quote_spanned!(span=> let #name = #literal;);
        (name, decl)
    }

    /// `&[a, b]`, `&[x; n]` or `&vec![..]` becomes `&__tl_argN`, with the
    /// `let` that makes it: a borrow of a temporary the backward pass would
    /// keep past its statement (E0716 in the generated fn).
    fn bind_borrowed_literal(&mut self, e: &mut Expr) -> Option<Stmt> {
        let Expr::Reference(r) = e else { return None };
        if r.mutability.is_some() || !array_literal(&r.expr) {
            return None;
        }
        let span = syn::spanned::Spanned::span(&r.expr);
        let (name, decl) = self.bound_literal(&r.expr);
        *e = syn::parse_quote_spanned!(span=> &#name);
        Some(decl)
    }

    /// `&x[a..b]` (`&x[a..]`, `&x[..b]`, `&x[a..=b]`) of a possibly
    /// differentiated array: a `Vec` made just before (pushed to
    /// `pending`) with a copy of each element, which lowering knows; its
    /// name.
    fn slice_copy(&mut self, e: &Expr) -> Option<proc_macro2::Ident> {
        let Expr::Reference(r) = strip(e) else {
            return None;
        };
        let Expr::Index(ix) = strip(&r.expr) else {
            return None;
        };
        let Expr::Range(range) = strip(&ix.index) else {
            return None;
        };
        if r.mutability.is_some() || !self.mentions_active(&ix.expr) {
            return None;
        }
        let base = &ix.expr;
        let start = range
            .start
            .as_ref()
            .map_or(quote!(0usize), |a| quote!((#a)));
        let len = match (&range.end, &range.limits) {
            (None, _) => quote!(usize::saturating_sub(#base.len(), #start)),
            (Some(b), syn::RangeLimits::HalfOpen(_)) => quote!(usize::saturating_sub(#b, #start)),
            (Some(b), syn::RangeLimits::Closed(_)) => {
                quote!(usize::saturating_sub(#b + 1, #start))
            }
        };
        let span = syn::spanned::Spanned::span(&ix.index);
        let name = proc_macro2::Ident::new(&format!("__tl_slice{}", self.count), span);
        let j = proc_macro2::Ident::new(&format!("__tl_j{}", self.count), span);
        self.count += 1;
        self.pending
            .push(syn::parse_quote_spanned!(span=> let mut #name = vec![0.0; #len];));
        self.pending.push(syn::parse_quote_spanned!(span=>
            for #j in 0..#name.len() {
                #name[#j] = #base[#start + #j];
            }
        ));
        Some(name)
    }

    fn mentions_active(&self, e: &Expr) -> bool {
        crate::parse::mentions_name(e, &self.active)
    }

    /// The loop for `m`, pushed to `pending`; the accumulator's name.
    fn reduce(&mut self, m: &syn::ExprMethodCall, kind: Kind) -> Option<Expr> {
        // A turbofish names the sum's type: only the float type is ours.
        if let Some(t) = &m.turbofish {
            let [syn::GenericArgument::Type(ty)] = t.args.iter().collect::<Vec<_>>()[..] else {
                return None;
            };
            let ours = match kind {
                Kind::Collect => self.vec_of_float(ty),
                _ => same_type(ty, self.float),
            };
            if !ours {
                return None;
            }
        }
        // Peel `.map(..)`s from the end: the items, then each map's body
        // bound to the next map's pattern.
        // A fn's path (`.map(f64::exp)`, `.map(square)`) is the closure
        // that calls it on the item.
        // A `.rev()` among the maps (`x.iter().map(f).rev()`) reverses the
        // walk: `Map::next_back` applies `f` to the back item, so it is the
        // same as `x.iter().rev().map(f)`, side effects and all.
        let mut maps: Vec<(Pat, TokenStream)> = Vec::new();
        let mut iter = &*m.receiver;
        let mut reversed = false;
        while let Expr::MethodCall(inner) = iter {
            if inner.method == "rev" && inner.args.is_empty() && !without_map(&inner.receiver) {
                reversed = !reversed;
                iter = &inner.receiver;
                continue;
            }
            if inner.method != "map" || inner.args.len() != 1 {
                break;
            }
            maps.push(match unary(&inner.args[0]) {
                Some((pat, body)) => (pat, body.to_token_stream()),
                None => {
                    let Expr::Path(f) = strip(&inner.args[0]) else {
                        return None;
                    };
                    let span = syn::spanned::Spanned::span(f);
                    let v = proc_macro2::Ident::new(
                        &format!("__tl_map{}_{}", self.count, maps.len()),
                        span,
                    );
                    (syn::parse_quote!(#v), quote_spanned!(span=> #f(#v)))
                }
            });
            iter = &inner.receiver;
        }
        maps.reverse();
        let turned: Expr;
        if reversed {
            turned = syn::parse_quote!(#iter.rev());
            iter = &turned;
        }
        // What a `for` loop walks; anything else keeps lowering's error.
        let mut walk = iter;
        while let Expr::MethodCall(c) = strip(walk) {
            if !WALKS.contains(&c.method.to_string().as_str()) {
                return None;
            }
            walk = &c.receiver;
        }
        let span = m.method.span();
        let acc = proc_macro2::Ident::new(&format!("__tl_acc{}", self.count), span);
        let item = proc_macro2::Ident::new(&format!("__tl_item{}", self.count), span);
        // fold's step: a closure of (accumulator, item), or a fn path
        // (`T::max`).
        enum Step<'e> {
            Closure(&'e Pat, &'e Pat, &'e Expr),
            Path(&'e syn::ExprPath),
        }
        let step = match kind {
            Kind::Fold => match strip(&m.args[1]) {
                Expr::Closure(c) if c.inputs.len() == 2 && c.capture.is_none() => Some(
                    Step::Closure(untyped(&c.inputs[0]), untyped(&c.inputs[1]), &c.body),
                ),
                Expr::Path(p) => Some(Step::Path(p)),
                _ => return None,
            },
            _ => None,
        };
        // The loop's pattern, the lets that carry each map's value to the
        // next map's pattern, and the item's value.
        let (pattern, mut lets, value): (Pat, Vec<TokenStream>, TokenStream) = match maps
            .split_first()
        {
            Some(((first, body), rest)) => {
                let mut lets = Vec::new();
                let mut value = body.clone();
                for (pat, body) in rest {
                    lets.push(quote!(let #pat = #value;));
                    value = body.clone();
                }
                (first.clone(), lets, value)
            }
            None => match &step {
                // The fold closure's own pattern binds the items.
                Some(Step::Closure(_, b, _)) => ((*b).clone(), Vec::new(), b.to_token_stream()),
                _ => {
                    // What filters test: the items they pass on.
                    let mut items = strip(iter);
                    while let Expr::MethodCall(c) = items {
                        match c.method.to_string().as_str() {
                            "filter" | "take_while" => items = strip(&c.receiver),
                            _ => break,
                        }
                    }
                    let by_value = matches!(items, Expr::MethodCall(c)
                            if ["copied", "cloned", "into_iter"].contains(&c.method.to_string().as_str()));
                    let pat: Pat = if by_value {
                        syn::parse_quote!(#item)
                    } else {
                        syn::parse_quote!(&#item)
                    };
                    (pat, Vec::new(), item.to_token_stream())
                }
            },
        };
        let (init, update) = match (kind, step) {
            (Kind::Sum, _) => (quote!(0.0), quote_spanned!(span=> #acc = #acc + (#value);)),
            (Kind::Product, _) => (quote!(1.0), quote_spanned!(span=> #acc = #acc * (#value);)),
            (Kind::Fold, Some(Step::Closure(a, b, body))) => {
                if !maps.is_empty() {
                    lets.push(quote!(let #b = #value;));
                }
                (
                    m.args[0].to_token_stream(),
                    quote_spanned!(span=> let #a = #acc; #acc = #body;),
                )
            }
            (Kind::Fold, Some(Step::Path(p))) => (
                m.args[0].to_token_stream(),
                quote_spanned!(span=> #acc = #p(#acc, #value);),
            ),
            (Kind::Fold, None) => return None,
            // acc[k] = value; k += 1, into a Vec as long as the loop.
            (Kind::Collect, _) => {
                // Filtered: as long as the items that pass (a question about
                // the items, answered before the loop).
                let filtered = matches!(strip(iter), Expr::MethodCall(c)
                    if c.method == "filter" || c.method == "take_while");
                let n = match length(strip(iter)) {
                    Some(n) => n,
                    None if filtered => {
                        let len = proc_macro2::Ident::new(&format!("__tl_len{}", self.count), span);
                        self.pending
                            .push(syn::parse_quote_spanned!(span=> let #len = #iter.count();));
                        quote!(#len)
                    }
                    None => return None,
                };
                let k = proc_macro2::Ident::new(&format!("__tl_at{}", self.count), span);
                self.pending
                    .push(syn::parse_quote_spanned!(span=> let mut #k = 0usize;));
                (
                    quote_spanned!(span=> vec![0.0; #n]),
                    quote_spanned!(span=> #acc[#k] = #value; #k += 1;),
                )
            }
        };
        let decl: Stmt = syn::parse_quote_spanned!(span=> let mut #acc = #init;);
        // `(0..n).map(..)`: the range alone heads the loop.
        let iter = strip(iter);
        let mut lp: Stmt = syn::parse_quote_spanned!(span=>
            for #pattern in #iter {
                #(#lets)*
                #update
            }
        );
        self.count += 1;
        // Reductions inside the maps' bodies become loops inside this one.
        let saved = std::mem::take(&mut self.pending);
        self.visit_stmt_mut(&mut lp);
        let inner = std::mem::replace(&mut self.pending, saved);
        self.pending.extend(inner);
        self.pending.push(decl);
        self.pending.push(lp);
        Some(syn::parse_quote_spanned!(span=> #acc))
    }
}

/// `let mut v = Vec::new();`, `Vec::with_capacity(n)` or `vec![]`: the
/// name, and the type it is given.
fn empty_vec(s: &Stmt) -> Option<(proc_macro2::Ident, Option<Type>)> {
    let Stmt::Local(l) = s else { return None };
    let (pat, ty) = match &l.pat {
        Pat::Type(t) => (&*t.pat, Some((*t.ty).clone())),
        p => (p, None),
    };
    let Pat::Ident(id) = pat else { return None };
    if id.mutability.is_none() || id.by_ref.is_some() || id.subpat.is_some() {
        return None;
    }
    let init = l.init.as_ref()?;
    if init.diverge.is_some() {
        return None;
    }
    let empty = match strip(&init.expr) {
        Expr::Call(c) => match &*c.func {
            Expr::Path(p) => {
                let segs = crate::parse::segment_names(&p.path);
                segs.len() >= 2
                    && segs[segs.len() - 2] == "Vec"
                    && matches!(segs[segs.len() - 1].as_str(), "new" | "with_capacity")
            }
            _ => false,
        },
        Expr::Macro(m) => m.mac.path.is_ident("vec") && m.mac.tokens.is_empty(),
        _ => false,
    };
    empty.then(|| (id.ident.clone(), ty))
}

/// Whether `s` mentions `name`.
fn mentions(s: &Stmt, name: &proc_macro2::Ident) -> bool {
    struct Find<'n>(&'n proc_macro2::Ident, bool);
    impl<'ast> syn::visit::Visit<'ast> for Find<'_> {
        fn visit_ident(&mut self, i: &'ast proc_macro2::Ident) {
            self.1 |= i == self.0;
        }
        fn visit_macro(&mut self, m: &'ast syn::Macro) {
            // Tokens inside a macro (`assert!(v.len() > 0)`).
            self.1 |= m
                .tokens
                .clone()
                .into_iter()
                .any(|t| matches!(t, proc_macro2::TokenTree::Ident(i) if i == *self.0));
        }
    }
    let mut f = Find(name, false);
    syn::visit::visit_stmt(&mut f, s);
    f.1
}

/// `name.push(value);`: the value.
/// The names a loop body assigns or changes in place (`acc = ..`, `acc +=
/// ..`, `a[i] = ..`, `v.push(..)`, `&mut v`), counting the receiver of any
/// method call as changed (a count must not miss one).
fn assigned_in(body: &Block) -> rustc_hash::FxHashSet<String> {
    crate::parse::changed_names(body, true)
}

/// `name.push(v);`, or `if cond { name.push(v); }` (no `else`): the
/// condition, if any, and the value.
fn pushed<'s>(s: &'s Stmt, name: &proc_macro2::Ident) -> Option<(Option<&'s Expr>, &'s Expr)> {
    match s {
        Stmt::Expr(Expr::MethodCall(m), Some(_)) => match (&*m.receiver, m.args.first()) {
            (Expr::Path(p), Some(v))
                if m.method == "push" && m.args.len() == 1 && p.path.is_ident(name) =>
            {
                Some((None, v))
            }
            _ => None,
        },
        Stmt::Expr(Expr::If(i), _)
            if i.else_branch.is_none() && !matches!(&*i.cond, Expr::Let(_)) =>
        {
            match &i.then_branch.stmts[..] {
                [push] => match pushed(push, name)? {
                    (None, v) => Some((Some(&*i.cond), v)),
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    }
}

/// A `continue` of this loop in `body`.
fn continues(body: &Block) -> bool {
    crate::parse::at_loop_level(&body.stmts, |e| matches!(e, Expr::Continue(_)))
}

/// A loop's iterable over a range of an array (`x[a..b].iter()`,
/// `&x[a..]`, then any adaptors) as `x.iter().skip(a).take(b - a)`, which
/// the loop walker knows; `None` for any other iterable.
fn unsliced(e: &Expr) -> Option<Expr> {
    fn sliced(e: &Expr) -> Option<(&Expr, &syn::ExprRange)> {
        match strip(e) {
            Expr::Index(ix) => match strip(&ix.index) {
                Expr::Range(r) => Some((&ix.expr, r)),
                _ => None,
            },
            _ => None,
        }
    }
    fn walk(base: &Expr, r: &syn::ExprRange) -> Expr {
        let mut out: Expr = syn::parse_quote!(#base.iter());
        if let Some(a) = &r.start {
            out = syn::parse_quote!(#out.skip(#a));
        }
        if let Some(b) = &r.end {
            let n = match (&r.start, &r.limits) {
                (Some(a), syn::RangeLimits::HalfOpen(_)) => quote!(usize::saturating_sub(#b, #a)),
                (Some(a), syn::RangeLimits::Closed(_)) => quote!(usize::saturating_sub(#b + 1, #a)),
                (None, syn::RangeLimits::HalfOpen(_)) => quote!(#b),
                (None, syn::RangeLimits::Closed(_)) => quote!(#b + 1),
            };
            out = syn::parse_quote!(#out.take(#n));
        }
        out
    }
    match e {
        Expr::Paren(p) => unsliced(&p.expr),
        Expr::Reference(r) if r.mutability.is_none() => {
            sliced(&r.expr).map(|(base, range)| walk(base, range))
        }
        Expr::MethodCall(m)
            if (m.method == "iter" || m.method == "into_iter") && m.args.is_empty() =>
        {
            sliced(&m.receiver).map(|(base, range)| walk(base, range))
        }
        // `.enumerate()`, `.rev()`, `.copied()`, ... after the slice.
        Expr::MethodCall(m) if m.method != "zip" => {
            let receiver = unsliced(&m.receiver)?;
            let mut m = m.clone();
            *m.receiver = receiver;
            Some(Expr::MethodCall(m))
        }
        _ => None,
    }
}

/// The two halves of `a.chain(b)`.
fn chained(iter: &Expr) -> Option<(Expr, Expr)> {
    match strip(iter) {
        Expr::MethodCall(c) if c.method == "chain" && c.args.len() == 1 => {
            Some(((*c.receiver).clone(), c.args[0].clone()))
        }
        _ => None,
    }
}

/// `rows.flatten()`, then `.copied()` or `.cloned()` or not: `rows` and
/// whether the items are copied.
fn flattened(iter: &Expr) -> Option<(Expr, bool)> {
    let (inner, copied) = match strip(iter) {
        Expr::MethodCall(c)
            if (c.method == "copied" || c.method == "cloned") && c.args.is_empty() =>
        {
            (strip(&c.receiver), true)
        }
        other => (other, false),
    };
    match inner {
        Expr::MethodCall(c) if c.method == "flatten" && c.args.is_empty() => {
            Some(((*c.receiver).clone(), copied))
        }
        _ => None,
    }
}

/// A `break` of this loop in `body` (not of a loop inside it).
fn breaks(body: &Block) -> bool {
    crate::parse::at_loop_level(&body.stmts, |e| matches!(e, Expr::Break(_)))
}

/// How many items `iter` (what a `for` loop walks) yields, as a constant
/// expression: lengths of the arrays walked, bounds of ranges.
fn length(iter: &Expr) -> Option<TokenStream> {
    let min = |a: TokenStream, b: TokenStream| quote!(usize::min(#a, #b));
    Some(match strip(iter) {
        Expr::Range(r) => {
            let start = r
                .start
                .as_ref()
                .map_or(quote!(0usize), |s| s.to_token_stream());
            let end = r.end.as_ref()?;
            match r.limits {
                syn::RangeLimits::HalfOpen(_) => quote!(usize::saturating_sub(#end, #start)),
                syn::RangeLimits::Closed(_) => quote!(usize::saturating_sub(#end + 1, #start)),
            }
        }
        Expr::Reference(r) => length(&r.expr)?,
        e @ (Expr::Path(_) | Expr::Index(_) | Expr::Field(_)) => quote!(#e.len()),
        Expr::MethodCall(c) => {
            let inner = || length(&c.receiver);
            let arg = c.args.first();
            match (c.method.to_string().as_str(), arg) {
                ("iter" | "iter_mut" | "into_iter", None) => {
                    let r = &c.receiver;
                    match strip(r) {
                        Expr::Range(_) | Expr::MethodCall(_) => inner()?,
                        _ => quote!(#r.len()),
                    }
                }
                ("copied" | "cloned" | "rev" | "enumerate", None) => inner()?,
                ("zip", Some(other)) => min(inner()?, length(other)?),
                ("skip", Some(k)) => {
                    let n = inner()?;
                    quote!(usize::saturating_sub(#n, #k))
                }
                ("take", Some(k)) => min(inner()?, k.to_token_stream()),
                ("step_by", Some(k)) => {
                    let n = inner()?;
                    quote!((#n).div_ceil(#k))
                }
                ("windows", Some(k)) => {
                    let r = &c.receiver;
                    quote!((#r.len() + 1).saturating_sub(#k))
                }
                ("chunks_exact", Some(k)) => {
                    let r = &c.receiver;
                    quote!(#r.len() / (#k))
                }
                ("chunks", Some(k)) => {
                    let r = &c.receiver;
                    quote!(#r.len().div_ceil(#k))
                }
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// Whether `e` has no `.map(..)` in its chain of calls: a `.rev()` on it
/// is the walk's own, not one among the maps.
fn without_map(e: &Expr) -> bool {
    let mut e = strip(e);
    while let Expr::MethodCall(c) = e {
        if c.method == "map" {
            return false;
        }
        e = strip(&c.receiver);
    }
    true
}

/// The adaptors a `for` loop's iterator may have (lower.rs).
const WALKS: &[&str] = &[
    "chain",
    "flatten",
    "iter",
    "iter_mut",
    "into_iter",
    "copied",
    "cloned",
    "rev",
    "enumerate",
    "zip",
    "skip",
    "take",
    "step_by",
    "windows",
    "chunks_exact",
    "chunks",
    "filter",
    "take_while",
];

fn strip(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => strip(&p.expr),
        other => other,
    }
}

impl VisitMut for Rewrite<'_> {
    fn visit_block_mut(&mut self, b: &mut Block) {
        let saved = std::mem::take(&mut self.pending);
        let stmts = std::mem::take(&mut b.stmts);
        let mut out = Vec::with_capacity(stmts.len());
        for mut s in stmts {
            self.let_ty = match &s {
                Stmt::Local(syn::Local {
                    pat: Pat::Type(t), ..
                }) => Some((*t.ty).clone()),
                _ => None,
            };
            self.visit_stmt_mut(&mut s);
            self.let_ty = None;
            // `let seg = &x[a..b];`: `seg` is a copy.
            if let Stmt::Local(l) = &mut s {
                if let (Pat::Ident(pi), Some(init)) = (&l.pat, &mut l.init) {
                    if pi.mutability.is_none() && pi.by_ref.is_none() && init.diverge.is_none() {
                        if let Some(copy) = self.slice_copy(&init.expr) {
                            *init.expr = syn::parse_quote!(&#copy);
                        } else if let Some(bound) = self.bind_borrowed_literal(&mut init.expr) {
                            // `let r = &[a, b];`: `let __tl_argN = [a, b]; let r = &__tl_argN;`.
                            self.pending.push(bound);
                        }
                    }
                }
            }
            // The loops a reduction became are visited in turn: a reduction
            // in a `.map(..)`'s body (`m.iter().map(|r| r.iter().sum()).sum()`)
            // is now in a loop's body, where it becomes a loop too.
            for mut p in std::mem::take(&mut self.pending) {
                if let Stmt::Expr(Expr::ForLoop(f), _) = &p {
                    // Its items come from a differentiated reduction.
                    let items = crate::parse::bindings(&f.pat);
                    if items.iter().any(|n| !self.active.contains(n)) {
                        self.active.to_mut().extend(items);
                    }
                    self.visit_stmt_mut(&mut p);
                }
                for q in std::mem::take(&mut self.pending) {
                    self.split_chain(q, &mut out);
                }
                self.split_chain(p, &mut out);
            }
            self.split_chain(s, &mut out);
        }
        self.fill_pushes(&mut out);
        b.stmts = out;
        self.pending = saved;
    }

    fn visit_expr_mut(&mut self, e: &mut Expr) {
        if !self.in_while_cond && matches!(e, Expr::MethodCall(_) | Expr::Unary(_)) {
            if let Some(fold) = extremum(e, self.float) {
                if self.mentions_active(&fold) {
                    *e = fold;
                }
            }
        }
        match e {
            Expr::MethodCall(m) if !self.in_while_cond => {
                if let Some(kind) = reduction_kind(m) {
                    // A `let` of another type (`Vec<bool>`) collects no floats.
                    let typed = self.let_ty.take();
                    if kind == Kind::Collect
                        && m.turbofish.is_none()
                        && typed.as_ref().is_some_and(|t| !self.vec_of_float(t))
                    {
                        syn::visit_mut::visit_expr_mut(self, e);
                        return;
                    }
                    let whole = Expr::MethodCall(m.clone());
                    if self.mentions_active(&whole) {
                        if let Some(acc) = self.reduce(m, kind) {
                            *e = acc;
                            return;
                        }
                    }
                }
                syn::visit_mut::visit_expr_mut(self, e);
            }
            // An array written out as a call's argument (`cross(r, [a, b,
            // c])`, `&[x, y]`, `vec![..]`): made by a `let` just before, as
            // lowering makes arrays.
            Expr::Call(c) if !self.in_while_cond => {
                syn::visit_mut::visit_expr_call_mut(self, c);
                for arg in c.args.iter_mut() {
                    // `dot(&x[1..], &w[k * n..(k + 1) * n])`: a copy.
                    if let Some(copy) = self.slice_copy(arg) {
                        *arg = syn::parse_quote!(&#copy);
                        continue;
                    }
                    // Borrowed, a constant one is bound too
                    // (`&[[T::one(), T::zero()]]`): the call's pullback keeps
                    // the reference, which must not be to a temporary.
                    if let Some(decl) = self.bind_borrowed_literal(arg) {
                        self.pending.push(decl);
                        continue;
                    }
                    if matches!(arg, Expr::Reference(_))
                        || !array_literal(arg)
                        || !self.mentions_active(arg)
                    {
                        continue;
                    }
                    let span = syn::spanned::Spanned::span(&*arg);
                    let (name, decl) = self.bound_literal(arg);
                    self.pending.push(decl);
                    *arg = syn::parse_quote_spanned!(span=> #name);
                }
            }
            Expr::While(w) => {
                let saved = self.in_while_cond;
                self.in_while_cond = true;
                self.visit_expr_mut(&mut w.cond);
                self.in_while_cond = saved;
                self.visit_block_mut(&mut w.body);
            }
            Expr::Closure(_) => {}
            _ => syn::visit_mut::visit_expr_mut(self, e),
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// An array written out: `[a, b]`, `[x; n]`, `vec![..]`.
fn array_literal(e: &Expr) -> bool {
    match e {
        Expr::Array(_) | Expr::Repeat(_) => true,
        Expr::Macro(m) => m.mac.path.is_ident("vec"),
        _ => false,
    }
}
