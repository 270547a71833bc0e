//! Pass 1a, before the checks: a closure bound to a name and only called
//! (`let sq = |v: T| v * v; .. sq(a) + sq(b)`) is written out at each
//! call, its parameters bound to the arguments first:
//!
//! ```text
//! let sq = |v: T| v * v;           (gone)
//! sq(a) + sq(b)            ==>     { let (v,): (T,) = (a,); v * v } + { let (v,): (T,) = (b,); v * v }
//! ```
//!
//! The same as calling it, for closures that borrow what they capture
//! (Rust keeps what they borrow from changing while they live). Left as
//! written, and so an error, are `move` closures (they copy what they
//! capture when made), closures with `return` inside, and names used other
//! than by a call. Only the generated fns see this; the user's fn is kept
//! as written.

use syn::visit_mut::VisitMut;
use syn::{Block, Expr, Pat, Stmt};

/// Whether `body` binds a closure to a name (so that the common case costs
/// nothing).
pub(crate) fn any(body: &Block) -> bool {
    struct Find(bool);
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_local(&mut self, l: &'ast syn::Local) {
            self.0 |= l
                .init
                .as_ref()
                .is_some_and(|i| matches!(&*i.expr, Expr::Closure(_)));
            syn::visit::visit_local(self, l);
        }
    }
    let mut f = Find(false);
    syn::visit::visit_block(&mut f, body);
    f.0
}

/// `body` with its named closures written out at their calls, or `None`.
pub(crate) fn rewrite(body: &Block) -> Option<Block> {
    let mut body = body.clone();
    let mut r = Inline { changed: false };
    r.visit_block_mut(&mut body);
    r.changed.then_some(body)
}

struct Inline {
    changed: bool,
}

/// `let name = |..| ..;` that can be written out: its name and closure.
fn named_closure(s: &Stmt) -> Option<(&syn::Ident, &syn::ExprClosure)> {
    let Stmt::Local(l) = s else { return None };
    let Pat::Ident(pi) = &l.pat else { return None };
    let init = l.init.as_ref()?;
    let Expr::Closure(c) = &*init.expr else {
        return None;
    };
    let plain = init.diverge.is_none()
        && pi.subpat.is_none()
        && pi.by_ref.is_none()
        && c.capture.is_none()
        && c.asyncness.is_none()
        && c.constness.is_none()
        && c.lifetimes.is_none()
        && !returns(&c.body);
    plain.then_some((&pi.ident, c))
}

/// A `return` in `e` (it would leave the closure, not the fn).
pub(crate) fn returns(e: &Expr) -> bool {
    struct Find(bool);
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_expr_return(&mut self, _: &'ast syn::ExprReturn) {
            self.0 = true;
        }
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
    }
    let mut f = Find(false);
    syn::visit::visit_expr(&mut f, e);
    f.0
}

/// Every use of `name` in `stmts` is a call with `arity` arguments, and no
/// `let` binds it again.
fn only_called(stmts: &[Stmt], name: &syn::Ident, arity: usize) -> bool {
    struct Check<'n> {
        name: &'n syn::Ident,
        arity: usize,
        ok: bool,
    }
    impl<'ast> syn::visit::Visit<'ast> for Check<'_> {
        fn visit_expr(&mut self, e: &'ast Expr) {
            match e {
                Expr::Call(c) if matches!(&*c.func, Expr::Path(p) if p.path.is_ident(self.name)) => {
                    self.ok &= c.args.len() == self.arity;
                    for a in &c.args {
                        self.visit_expr(a);
                    }
                }
                Expr::Path(p) if p.path.is_ident(self.name) => self.ok = false,
                _ => syn::visit::visit_expr(self, e),
            }
        }
        fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
            self.ok &= p.ident != *self.name;
        }
        fn visit_macro(&mut self, m: &'ast syn::Macro) {
            let name = self.name.to_string();
            self.ok &= !m.tokens.clone().into_iter().any(|t| t.to_string() == name);
        }
    }
    let mut c = Check {
        name,
        arity,
        ok: true,
    };
    for s in stmts {
        syn::visit::Visit::visit_stmt(&mut c, s);
    }
    c.ok
}

/// Writes out the calls of one closure.
struct Calls<'c> {
    name: &'c syn::Ident,
    closure: &'c syn::ExprClosure,
}

impl VisitMut for Calls<'_> {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        syn::visit_mut::visit_expr_mut(self, e);
        let Expr::Call(call) = e else { return };
        if !matches!(&*call.func, Expr::Path(p) if p.path.is_ident(self.name)) {
            return;
        }
        let (pats, tys): (Vec<&Pat>, Vec<Option<&syn::Type>>) = self
            .closure
            .inputs
            .iter()
            .map(|p| match p {
                Pat::Type(t) => (&*t.pat, Some(&*t.ty)),
                other => (other, None),
            })
            .unzip();
        let args = call.args.iter();
        let body = crate::parse::spliceable(&self.closure.body);
        let span = syn::spanned::Spanned::span(&*call);
        // A type on every parameter or on none (`_` for the ones without
        // would leave float literals untyped).
        let ty = tys.iter().all(|t| t.is_some()).then(|| {
            let tys = tys.iter().flatten();
            quote::quote!(: (#(#tys,)*))
        });
        *e = syn::parse_quote_spanned!(span=> { let (#(#pats,)*) #ty = (#(#args,)*); #body });
    }
}

impl VisitMut for Inline {
    fn visit_block_mut(&mut self, b: &mut Block) {
        // Which statements mention each name: a closure's scope is searched
        // among those only (scanning the rest of the block for each
        // closure was quadratic in a fn of many).
        let index = crate::patterns::mentions_index(&b.stmts);
        let mut removed = vec![false; b.stmts.len()];
        for k in 0..b.stmts.len() {
            let Some((name, closure)) = named_closure(&b.stmts[k]) else {
                continue;
            };
            let (name, closure) = (name.clone(), closure.clone());
            let at = index.get(&name.to_string()).map_or(&[][..], |v| &v[..]);
            let later = &at[at.partition_point(|&j| j <= k)..];
            // Its scope: up to a `let` that binds the name again (whose
            // value may still call it).
            let end = later.iter().copied().find(|&j| {
                matches!(&b.stmts[j], Stmt::Local(l)
                    if crate::parse::bindings(&l.pat).contains(&name.to_string()))
            });
            let seen: Vec<usize> = later
                .iter()
                .copied()
                .filter(|&j| end.is_none_or(|e| j < e))
                .collect();
            let mut scope: Vec<Stmt> = seen.iter().map(|&j| b.stmts[j].clone()).collect();
            if let Some(Stmt::Local(l)) = end.map(|e| &b.stmts[e]) {
                if let Some(init) = &l.init {
                    scope.push(Stmt::Expr((*init.expr).clone(), None));
                }
            }
            if !only_called(&scope, &name, closure.inputs.len()) {
                continue;
            }
            let mut calls = Calls {
                name: &name,
                closure: &closure,
            };
            for &j in &seen {
                calls.visit_stmt_mut(&mut b.stmts[j]);
            }
            if let Some(Stmt::Local(l)) = end.map(|e| &mut b.stmts[e]) {
                if let Some(init) = &mut l.init {
                    calls.visit_expr_mut(&mut init.expr);
                }
            }
            removed[k] = true;
            self.changed = true;
        }
        if removed.contains(&true) {
            let stmts = std::mem::take(&mut b.stmts);
            b.stmts = stmts
                .into_iter()
                .zip(removed)
                .filter_map(|(s, r)| (!r).then_some(s))
                .collect();
        }
        for s in &mut b.stmts {
            self.visit_stmt_mut(s);
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}
