//! Pass 1a', before the checks: a variable holding an `Option` of the float
//! type (`let mut prev: Option<T> = None;`, a running "last value" or "best
//! so far") becomes a flag and a value, which lowering knows:
//!
//! ```text
//! let mut prev: Option<T> = None;           let mut __tl_some_prev = false;
//! for &x in xs {                            let mut __tl_val_prev = 0.0;
//!     if let Some(p) = prev {      ==>      for &x in xs {
//!         acc = acc + (x - p).powi(2);          if __tl_some_prev { let p = __tl_val_prev;
//!     }                                             acc = acc + (x - p).powi(2); }
//!     prev = Some(x);                           __tl_val_prev = x; __tl_some_prev = true;
//! }                                         }
//! ```
//!
//! Understood uses: `name = Some(e);`, `name = None;`, `if let Some(p) =
//! name`, `match name { Some(p) => .., None => .. }`, `.is_some()`,
//! `.is_none()`, `.unwrap()`, `.expect(..)`, `.unwrap_or(d)`. A name used
//! any other way, or bound more than once, is left as written (lowering
//! reports it). Only the generated fns see this; the user's fn is kept as
//! written.

use proc_macro2::Ident;
use quote::format_ident;
use syn::visit_mut::VisitMut;
use syn::{Block, Expr, Pat, Stmt, Type};

use crate::parse::{mentions_name, same_type, strip_parens};

/// `body` with its float `Option` variables written as flags and values,
/// or `None` if it has none. `active` names what may carry a
/// differentiated value (parse's over-estimate).
pub(crate) fn rewrite(
    body: &Block,
    float: &Type,
    active: &rustc_hash::FxHashSet<String>,
) -> Option<Block> {
    let mut body = body.clone();
    let mut changed = false;
    for name in candidates(&body, float, active) {
        let mut r = Rewrite {
            name: &name,
            some: format_ident!("__tl_some_{}", name),
            val: format_ident!("__tl_val_{}", name),
            failed: false,
        };
        let mut attempt = body.clone();
        r.visit_block_mut(&mut attempt);
        if !r.failed && !mentions_ident(&attempt, &name) {
            body = attempt;
            changed = true;
        }
    }
    changed.then_some(body)
}

/// Whether `body` mentions `Option`, `Some` or `None` (so that the common
/// case costs no copy of the body).
pub(crate) fn any(body: &Block) -> bool {
    struct Find(bool);
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_ident(&mut self, i: &'ast Ident) {
            self.0 |= i == "Some" || i == "None" || i == "Option";
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut f = Find(false);
    syn::visit::visit_block(&mut f, body);
    f.0
}

/// The names `let` binds once to an `Option` of the float type: typed
/// `Option<T>`, or made `Some(e)` of a possibly differentiated `e`, or made
/// `None` and assigned such a `Some(e)` later.
fn candidates(body: &Block, float: &Type, active: &rustc_hash::FxHashSet<String>) -> Vec<Ident> {
    #[derive(Default)]
    struct Find {
        lets: Vec<(Ident, bool)>,
        bound: rustc_hash::FxHashMap<String, usize>,
        assigned: rustc_hash::FxHashSet<String>,
    }
    struct Visit<'a> {
        f: Find,
        float: &'a Type,
        active: &'a rustc_hash::FxHashSet<String>,
    }
    impl Visit<'_> {
        fn some_active(&self, e: &Expr) -> bool {
            matches!(strip_parens(e), Expr::Call(c)
                if matches!(&*c.func, Expr::Path(p) if p.path.is_ident("Some"))
                    && c.args.len() == 1
                    && mentions_name(&c.args[0], self.active))
        }
    }
    impl<'ast> syn::visit::Visit<'ast> for Visit<'_> {
        fn visit_local(&mut self, l: &'ast syn::Local) {
            for n in crate::parse::bindings(&l.pat) {
                *self.f.bound.entry(n).or_default() += 1;
            }
            let (pat, ty) = match &l.pat {
                Pat::Type(t) => (&*t.pat, Some(&*t.ty)),
                p => (p, None),
            };
            if let (Pat::Ident(pi), Some(init)) = (pat, &l.init) {
                let typed = ty.is_some_and(|t| option_of(t, self.float));
                let made = self.some_active(&init.expr);
                let none =
                    matches!(strip_parens(&init.expr), Expr::Path(p) if p.path.is_ident("None"));
                let plain = pi.subpat.is_none() && pi.by_ref.is_none() && init.diverge.is_none();
                if plain && (typed || made || (ty.is_none() && none)) {
                    self.f.lets.push((pi.ident.clone(), typed || made));
                }
            }
            syn::visit::visit_local(self, l);
        }
        fn visit_expr_assign(&mut self, a: &'ast syn::ExprAssign) {
            if let (Expr::Path(p), true) = (&*a.left, self.some_active(&a.right)) {
                if let Some(id) = p.path.get_ident() {
                    self.f.assigned.insert(id.to_string());
                }
            }
            syn::visit::visit_expr_assign(self, a);
        }
        fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
            // Bound by a pattern elsewhere (closure, loop, match arm).
            *self.f.bound.entry(p.ident.to_string()).or_default() += 1;
            syn::visit::visit_pat_ident(self, p);
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut v = Visit {
        f: Find::default(),
        float,
        active,
    };
    syn::visit::Visit::visit_block(&mut v, body);
    let f = v.f;
    f.lets
        .into_iter()
        .filter(|(n, sure)| {
            let n_str = n.to_string();
            // `visit_local` counted the `let`, `visit_pat_ident` its name.
            f.bound.get(&n_str) == Some(&2) && (*sure || f.assigned.contains(&n_str))
        })
        .map(|(n, _)| n)
        .collect()
}

/// `Option<T>` for the fn's float type `T`.
fn option_of(ty: &Type, float: &Type) -> bool {
    let Type::Path(p) = ty else { return false };
    let Some(last) = p.path.segments.last() else {
        return false;
    };
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return false;
    };
    last.ident == "Option"
        && matches!(args.args.first(), Some(syn::GenericArgument::Type(t)) if same_type(t, float))
}

/// Whether `name` is still mentioned (a use the rewrite did not know).
fn mentions_ident(b: &Block, name: &Ident) -> bool {
    struct Find<'a>(&'a Ident, bool);
    impl<'ast> syn::visit::Visit<'ast> for Find<'_> {
        fn visit_ident(&mut self, i: &'ast Ident) {
            self.1 |= i == self.0;
        }
    }
    let mut f = Find(name, false);
    syn::visit::visit_block(&mut f, b);
    f.1
}

struct Rewrite<'a> {
    name: &'a Ident,
    some: Ident,
    val: Ident,
    failed: bool,
}

impl Rewrite<'_> {
    fn is_name(&self, e: &Expr) -> bool {
        matches!(strip_parens(e), Expr::Path(p) if p.path.is_ident(self.name))
    }

    /// `Some(p)` (or `Some(_)`): the name it binds.
    fn some_pat(p: &Pat) -> Option<Option<&Pat>> {
        match p {
            Pat::TupleStruct(t) if t.path.is_ident("Some") && t.elems.len() == 1 => {
                match &t.elems[0] {
                    Pat::Wild(_) => Some(None),
                    e @ Pat::Ident(pi) if pi.subpat.is_none() && pi.by_ref.is_none() => {
                        Some(Some(e))
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn none_pat(p: &Pat) -> bool {
        matches!(p, Pat::Wild(_))
            || matches!(p, Pat::Ident(pi) if pi.ident == "None")
            || matches!(p, Pat::Path(pp) if pp.path.is_ident("None"))
    }

    /// `{ let p = val; body }`.
    fn bound(&self, p: Option<&Pat>, mut body: Block) -> Block {
        if let Some(p) = p {
            let val = &self.val;
            body.stmts.insert(0, syn::parse_quote!(let #p = #val;));
        }
        body
    }

    /// The statements for `name = Some(e);` / `name = None;`.
    fn assignment(&self, s: &Stmt) -> Option<Vec<Stmt>> {
        let Stmt::Expr(Expr::Assign(a), Some(_)) = s else {
            return None;
        };
        if !self.is_name(&a.left) {
            return None;
        }
        let (some, val) = (&self.some, &self.val);
        match strip_parens(&a.right) {
            Expr::Call(c)
                if matches!(&*c.func, Expr::Path(p) if p.path.is_ident("Some"))
                    && c.args.len() == 1 =>
            {
                let e = &c.args[0];
                Some(vec![
                    syn::parse_quote!(#val = #e;),
                    syn::parse_quote!(#some = true;),
                ])
            }
            Expr::Path(p) if p.path.is_ident("None") => {
                Some(vec![syn::parse_quote!(#some = false;)])
            }
            _ => None,
        }
    }
}

impl VisitMut for Rewrite<'_> {
    fn visit_block_mut(&mut self, b: &mut Block) {
        let stmts = std::mem::take(&mut b.stmts);
        let mut out = Vec::with_capacity(stmts.len());
        for mut s in stmts {
            // The `let`: a flag and a value.
            if let Stmt::Local(l) = &s {
                let pat = match &l.pat {
                    Pat::Type(t) => &*t.pat,
                    p => p,
                };
                if let (Pat::Ident(pi), Some(init)) = (pat, &l.init) {
                    if pi.ident == *self.name {
                        let (some, val) = (self.some.clone(), self.val.clone());
                        match strip_parens(&init.expr) {
                            Expr::Path(p) if p.path.is_ident("None") => {
                                out.push(syn::parse_quote!(let mut #some = false;));
                                out.push(syn::parse_quote!(let mut #val = 0.0;));
                            }
                            Expr::Call(c) if c.args.len() == 1 => {
                                let mut e = c.args[0].clone();
                                self.visit_expr_mut(&mut e);
                                out.push(syn::parse_quote!(let mut #some = true;));
                                out.push(syn::parse_quote!(let mut #val = #e;));
                            }
                            _ => self.failed = true,
                        }
                        continue;
                    }
                }
            }
            if let Some(new) = self.assignment(&s) {
                for mut n in new {
                    self.visit_stmt_mut(&mut n);
                    out.push(n);
                }
                continue;
            }
            self.visit_stmt_mut(&mut s);
            out.push(s);
        }
        b.stmts = out;
    }

    fn visit_expr_mut(&mut self, e: &mut Expr) {
        let (some, val) = (self.some.clone(), self.val.clone());
        match e {
            // `if let Some(p) = name { .. } else { .. }`
            Expr::If(i) => {
                if let Expr::Let(l) = &*i.cond {
                    if self.is_name(&l.expr) {
                        let Some(p) = Self::some_pat(&l.pat) else {
                            self.failed = true;
                            return;
                        };
                        let then = self.bound(p, i.then_branch.clone());
                        i.then_branch = then;
                        *i.cond = syn::parse_quote!(#some);
                    }
                }
                syn::visit_mut::visit_expr_if_mut(self, i);
            }
            // `match name { Some(p) => a, None => b }`
            Expr::Match(m) if self.is_name(&m.expr) => {
                let mut on_some = None;
                let mut on_none = None;
                for arm in &m.arms {
                    if arm.guard.is_some() {
                        self.failed = true;
                        return;
                    }
                    if let Some(p) = Self::some_pat(&arm.pat) {
                        on_some.get_or_insert((p.cloned(), (*arm.body).clone()));
                    } else if Self::none_pat(&arm.pat) {
                        on_none.get_or_insert((*arm.body).clone());
                    } else {
                        self.failed = true;
                        return;
                    }
                }
                let (Some((p, a)), Some(b)) = (on_some, on_none) else {
                    self.failed = true;
                    return;
                };
                let then = self.bound(p.as_ref(), syn::parse_quote!({ #a }));
                *e = syn::parse_quote!(if #some #then else { #b });
                syn::visit_mut::visit_expr_mut(self, e);
            }
            Expr::MethodCall(m) if self.is_name(&m.receiver) => {
                *e = match (m.method.to_string().as_str(), m.args.len()) {
                    ("is_some", 0) => syn::parse_quote!(#some),
                    ("is_none", 0) => syn::parse_quote!((!#some)),
                    ("unwrap", 0) | ("expect", 1) => syn::parse_quote!(#val),
                    ("unwrap_or", 1) => {
                        let d = &m.args[0];
                        syn::parse_quote!((if #some { #val } else { #d }))
                    }
                    _ => {
                        self.failed = true;
                        return;
                    }
                };
            }
            Expr::Path(p) if p.path.is_ident(self.name) => self.failed = true,
            Expr::Closure(_) => {}
            _ => syn::visit_mut::visit_expr_mut(self, e),
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;

    fn rewritten(src: &str) -> Option<String> {
        let body: Block = syn::parse_str(src).unwrap();
        let active = ["x", "xs"].iter().map(|s| s.to_string()).collect();
        let float: Type = syn::parse_quote!(T);
        rewrite(&body, &float, &active).map(|b| b.to_token_stream().to_string())
    }

    #[test]
    fn a_running_option_is_a_flag_and_a_value() {
        let out = rewritten(
            "{ let mut prev: Option<T> = None; for &x in xs { if let Some(p) = prev { s = s + p; } prev = Some(x); } }",
        )
        .unwrap();
        assert!(out.contains("let mut __tl_some_prev = false"), "{out}");
        assert!(
            out.contains("if __tl_some_prev { let p = __tl_val_prev ;"),
            "{out}"
        );
        assert!(
            out.contains("__tl_val_prev = x ; __tl_some_prev = true ;"),
            "{out}"
        );
    }

    #[test]
    fn other_uses_are_left_as_written() {
        // Passed on whole: not a use this pass knows.
        let src = "{ let mut best: Option<T> = None; best = Some(x); f(best) }";
        assert_eq!(rewritten(src), None);
        // A constant `Option` (of a count) is not ours.
        let src = "{ let k: Option<usize> = None; k.is_some() }";
        assert_eq!(rewritten(src), None);
    }
}
