//! Pass 1a, before the checks: a `match` on a constant whose arms compute
//! differentiated values (`match act { Act::Relu => x.max(0.0),
//! Act::Leaky(s) => .., _ => x.tanh() }`) or assign variables becomes the
//! `if` chain lowering knows. The arm taken is found once, by the `match` itself on constants
//! (patterns and guards as written); each arm's names are bound again from
//! the scrutinee inside its branch:
//!
//! ```text
//! let y = match act {               let __tl_arm0 = match act {
//!     Act::Relu => x.max(0.0),          Act::Relu => 0usize,
//!     Act::Leaky(s) => x * s,  ==>      Act::Leaky(s) => 1usize,
//!     _ => x.tanh(),                    _ => 2usize,
//! };                                };
//!                                   let y = if __tl_arm0 == 0usize { x.max(0.0) }
//!                                       else if __tl_arm0 == 1usize {
//!                                           let s = match act { Act::Leaky(s) => s, _ => unreachable!() };
//!                                           x * s
//!                                       } else { x.tanh() };
//! ```
//!
//! A `match` on a differentiated value (`match x > 0.0 { true => .., false
//! => .. }`) is rewritten too: the arm taken is a constant whatever the
//! scrutinee. Only where an arm would bind part of a differentiated value
//! by a refutable pattern does it stay an error. Only the generated fns see
//! this; the user's fn is kept as written.

use proc_macro2::{Span, TokenStream};
use quote::{quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Block, Expr, Pat, Stmt};

/// `body` with its matches of differentiated arms written as `if` chains,
/// or `None` if it has none. `active` names what may carry a differentiated
/// value (parse's over-estimate).
pub(crate) fn rewrite(body: &Block, active: &rustc_hash::FxHashSet<String>) -> Option<Block> {
    let mut r = Rewrite {
        active,
        pending: Vec::new(),
        count: 0,
    };
    let mut body = body.clone();
    r.visit_block_mut(&mut body);
    (r.count > 0).then_some(body)
}

/// Whether `body` has a `match` (so that the common case costs nothing).
pub(crate) fn any(body: &Block) -> bool {
    struct Find(bool);
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_expr_match(&mut self, _: &'ast syn::ExprMatch) {
            self.0 = true;
        }
        fn visit_expr_let(&mut self, _: &'ast syn::ExprLet) {
            self.0 = true;
        }
        fn visit_macro(&mut self, m: &'ast syn::Macro) {
            self.0 |= m.path.is_ident("matches");
        }
    }
    let mut f = Find(false);
    syn::visit::visit_block(&mut f, body);
    f.0
}

struct Rewrite<'a> {
    active: &'a rustc_hash::FxHashSet<String>,
    /// Statements to put in front of the statement being visited.
    pending: Vec<Stmt>,
    count: usize,
}

/// Whether a name in a pattern binds a value: `None`, `Relu` (after
/// `use Act::*`) and `MAX` name a variant or a constant (Rust's naming
/// convention, which rustc warns about when broken).
fn binds(p: &syn::PatIdent) -> bool {
    p.ident
        .to_string()
        .chars()
        .next()
        .is_some_and(|c| c == '_' || c.is_lowercase())
}

/// The names a pattern binds, and whether each is `mut`.
fn bound(p: &Pat) -> Vec<(syn::Ident, bool)> {
    struct Names(Vec<(syn::Ident, bool)>);
    impl<'ast> syn::visit::Visit<'ast> for Names {
        fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
            if binds(p) {
                self.0.push((p.ident.clone(), p.mutability.is_some()));
            }
            syn::visit::visit_pat_ident(self, p);
        }
    }
    let mut n = Names(Vec::new());
    syn::visit::visit_pat(&mut n, p);
    n.0
}

/// Every identifier in `ts`.
fn idents(ts: TokenStream, out: &mut Vec<String>) {
    for t in ts {
        match t {
            proc_macro2::TokenTree::Ident(i) => out.push(i.to_string()),
            proc_macro2::TokenTree::Group(g) => idents(g.stream(), out),
            _ => {}
        }
    }
}

/// `p` without the bindings not named in `keep` (`_` in their place; a
/// match binds nothing it does not use).
fn unbound(p: &Pat, keep: &[String]) -> Pat {
    struct Strip<'k>(&'k [String]);
    impl Strip<'_> {
        fn strips(&self, p: &Pat) -> bool {
            matches!(p, Pat::Ident(i) if binds(i) && !self.0.contains(&i.ident.to_string()))
        }
    }
    impl VisitMut for Strip<'_> {
        // `S { g, .. }`: a shorthand field keeps its name when its binding
        // goes (`S { g: _, .. }`).
        fn visit_field_pat_mut(&mut self, f: &mut syn::FieldPat) {
            if f.colon_token.is_none() && self.strips(&f.pat) {
                f.colon_token = Some(Default::default());
            }
            syn::visit_mut::visit_field_pat_mut(self, f);
        }
        fn visit_pat_mut(&mut self, p: &mut Pat) {
            if self.strips(p) {
                if let Pat::Ident(i) = p {
                    *p = match i.subpat.take() {
                        Some((_, sub)) => *sub,
                        None => Pat::Wild(syn::PatWild {
                            attrs: Vec::new(),
                            underscore_token: Default::default(),
                        }),
                    };
                }
            }
            syn::visit_mut::visit_pat_mut(self, p);
        }
    }
    let mut p = p.clone();
    Strip(keep).visit_pat_mut(&mut p);
    p
}

/// `if let P = s { a } else { b }` as `match s { P => { a } _ => { b } }`,
/// and `matches!(s, P if g)` as `match s { P if g => true, _ => false }`.
fn as_match(e: &Expr) -> Option<syn::ExprMatch> {
    match e {
        Expr::If(i) => {
            let Expr::Let(l) = &*i.cond else { return None };
            let (pat, scrut, then) = (&l.pat, &l.expr, &i.then_branch);
            let span = i.if_token.span;
            let els = match &i.else_branch {
                Some((_, e)) => quote::quote!(#e),
                None => quote::quote!({}),
            };
            Some(syn::parse_quote_spanned!(span=> match #scrut { #pat => #then, _ => #els }))
        }
        Expr::Macro(m) if m.mac.path.is_ident("matches") => {
            let parser = |input: syn::parse::ParseStream| {
                let scrut: Expr = input.parse()?;
                input.parse::<syn::Token![,]>()?;
                let pat = Pat::parse_multi_with_leading_vert(input)?;
                let guard = if input.peek(syn::Token![if]) {
                    let i: syn::Token![if] = input.parse()?;
                    let g: Expr = input.parse()?;
                    Some(quote::quote!(#i #g))
                } else {
                    None
                };
                let _ = input.parse::<Option<syn::Token![,]>>()?;
                Ok((scrut, pat, guard))
            };
            let (scrut, pat, guard) =
                syn::parse::Parser::parse2(parser, m.mac.tokens.clone()).ok()?;
            let span = m.mac.path.span();
            Some(syn::parse_quote_spanned!(span=> match #scrut { #pat #guard => true, _ => false }))
        }
        _ => None,
    }
}

/// An assignment in `e` (`count += 1` in an arm): lowering follows it in
/// an `if` chain, not in a constant `match`.
fn writes(e: &Expr) -> bool {
    struct Find(bool);
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_expr_assign(&mut self, _: &'ast syn::ExprAssign) {
            self.0 = true;
        }
        fn visit_expr_binary(&mut self, b: &'ast syn::ExprBinary) {
            self.0 |= crate::parse::is_compound(&b.op);
            syn::visit::visit_expr_binary(self, b);
        }
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    }
    let mut f = Find(false);
    syn::visit::visit_expr(&mut f, e);
    f.0
}

/// The arm index's `match` (every arm an integer literal): a constant,
/// whatever its scrutinee, computed as written.
pub(crate) fn is_index(m: &syn::ExprMatch) -> bool {
    !m.arms.is_empty()
        && m.arms.iter().all(|a| {
            matches!(
                &*a.body,
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Int(_),
                    ..
                })
            )
        })
}

/// Matches anything without looking: `_`, a name, a tuple of such.
fn irrefutable(p: &Pat) -> bool {
    match p {
        Pat::Wild(_) => true,
        Pat::Ident(i) => i.subpat.is_none() && binds(i),
        Pat::Tuple(t) => t.elems.iter().all(irrefutable),
        Pat::Paren(p) => irrefutable(&p.pat),
        _ => false,
    }
}

impl Rewrite<'_> {
    fn mentions_active(&self, e: &Expr) -> bool {
        crate::parse::mentions_name(e, self.active)
    }

    /// The `if` chain for `m`; the arm index's `let` goes to `pending`.
    fn chain(&mut self, m: &syn::ExprMatch) -> Option<Expr> {
        let span = m.match_token.span;
        let scrut = &m.expr;
        let arm = proc_macro2::Ident::new(&format!("__tl_arm{}", self.count), span);
        self.count += 1;
        let index_arms = m.arms.iter().enumerate().map(|(k, a)| {
            let (pat, guard) = crate::parse::arm_parts(a);
            let mut used = Vec::new();
            if let Some((_, g)) = guard {
                idents(g.to_token_stream(), &mut used);
            }
            let stripped = unbound(pat, &used);
            let guard = guard.map(|(i, g)| quote_spanned!(span=> #i #g));
            quote_spanned!(pat.span()=> #stripped #guard => #k,)
        });
        // Parsed, not quoted: a pattern this pass cannot rewrite leaves the
        // `match` as written (and to the checks), never a panic.
        let index: Stmt = syn::parse2(quote_spanned!(span=>
            let #arm: usize = match #scrut { #(#index_arms)* };
        ))
        .ok()?;
        self.pending.push(index);
        // From the last arm back: each an `if` whose `else` is the rest.
        let mut chain: Option<Expr> = None;
        for (k, a) in m.arms.iter().enumerate().rev() {
            let spliced = crate::parse::spliceable(&a.body);
            // The names the arm's body reads (the others would be unused).
            let used = {
                let mut out = Vec::new();
                idents(a.body.to_token_stream(), &mut out);
                out
            };
            let pat = crate::parse::arm_parts(a).0;
            let names: Vec<_> = bound(pat)
                .into_iter()
                .filter(|(n, _)| used.contains(&n.to_string()))
                .collect();
            let body = &spliced;
            let rebind: TokenStream = if names.is_empty() {
                TokenStream::new()
            } else if irrefutable(pat) {
                let kept: Vec<String> = names.iter().map(|(n, _)| n.to_string()).collect();
                let stripped = unbound(pat, &kept);
                quote_spanned!(pat.span()=> let #stripped = #scrut;)
            } else {
                let kept: Vec<String> = names.iter().map(|(n, _)| n.to_string()).collect();
                let stripped = unbound(pat, &kept);
                let lets = names.iter().map(|(n, m)| match m {
                    true => quote_spanned!(n.span()=> mut #n),
                    false => n.to_token_stream(),
                });
                let values = names.iter().map(|(n, _)| n);
                quote_spanned!(pat.span()=>
                    let (#(#lets,)*) = match #scrut {
                        #stripped => (#(#values,)*),
                        _ => ::core::unreachable!(),
                    };
                )
            };
            let branch: Block = syn::parse_quote_spanned!(body.span()=> { #rebind #body });
            chain = Some(match chain {
                // The last arm: whatever the others left.
                None => Expr::Block(syn::ExprBlock {
                    attrs: Vec::new(),
                    label: None,
                    block: branch,
                }),
                Some(rest) => {
                    let k = syn::LitInt::new(&format!("{k}usize"), Span::call_site());
                    syn::parse_quote_spanned!(span=> if #arm == #k #branch else #rest)
                }
            });
        }
        chain
    }
}

impl VisitMut for Rewrite<'_> {
    fn visit_block_mut(&mut self, b: &mut Block) {
        let saved = std::mem::take(&mut self.pending);
        let stmts = std::mem::take(&mut b.stmts);
        let mut out = Vec::with_capacity(stmts.len());
        for mut s in stmts {
            self.visit_stmt_mut(&mut s);
            out.append(&mut self.pending);
            out.push(s);
        }
        b.stmts = out;
        self.pending = saved;
    }

    fn visit_expr_mut(&mut self, e: &mut Expr) {
        // `if let` and `matches!` are matches.
        if let Some(m) = as_match(e) {
            *e = Expr::Match(m);
            self.count += 1;
        }
        match e {
            Expr::Match(m) => {
                // Inner matches first; their lets stay inside their arms.
                for a in &mut m.arms {
                    let saved = std::mem::take(&mut self.pending);
                    self.visit_expr_mut(&mut a.body);
                    let inner = std::mem::replace(&mut self.pending, saved);
                    if !inner.is_empty() {
                        let body = crate::parse::spliceable(&a.body);
                        *a.body = syn::parse_quote_spanned!(body.span()=> { #(#inner)* #body });
                    }
                }
                let arms_active = m
                    .arms
                    .iter()
                    .any(|a| self.mentions_active(&a.body) || writes(&a.body));
                // On a differentiated scrutinee (`match x > 0.0 { .. }`, a
                // flag made from one) the arm index is a constant all the
                // same; an arm's names are then bound again by a plain
                // `let`, which only an irrefutable pattern allows.
                let rewritable = if self.mentions_active(&m.expr) {
                    !is_index(m)
                        && m.arms.iter().all(|a| {
                            let pat = crate::parse::arm_parts(a).0;
                            irrefutable(pat) || {
                                let mut used = Vec::new();
                                idents(a.body.to_token_stream(), &mut used);
                                bound(pat)
                                    .iter()
                                    .all(|(n, _)| !used.contains(&n.to_string()))
                            }
                        })
                } else {
                    arms_active
                };
                if rewritable && !m.arms.is_empty() {
                    if let Some(chain) = self.chain(m) {
                        *e = chain;
                    }
                }
            }
            // Their matches are their own (constants, or an error).
            Expr::Closure(_) => {}
            // A `while` condition runs again each iteration.
            Expr::While(w) => self.visit_block_mut(&mut w.body),
            _ => syn::visit_mut::visit_expr_mut(self, e),
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}
