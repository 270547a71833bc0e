//! Pass 1a', before the checks: a variable holding an `Option` of the float
//! type (`let mut prev: Option<T> = None;`, a running "last value" or "best
//! so far") becomes a flag and a value, which lowering knows:
//!
//! ```text
//! let mut prev: Option<T> = None;           let mut __tl_some_prev0 = false;
//! for &x in xs {                            let mut __tl_val_prev0 = 0.0;
//!     if let Some(p) = prev {      ==>      for &x in xs {
//!         acc = acc + (x - p).powi(2);          if __tl_some_prev0 { let p = __tl_val_prev0;
//!     }                                             acc = acc + (x - p).powi(2); }
//!     prev = Some(x);                           __tl_val_prev0 = x; __tl_some_prev0 = true;
//! }                                         }
//! ```
//!
//! Understood uses: `name = Some(e);`, `name = None;`, `if let Some(p) =
//! name`, `match name { Some(p) => .., None => .. }` (guards and `_` too,
//! the arms tried in order), `.is_some()`,
//! `.is_none()`, `.unwrap()`, `.expect(..)`, `.unwrap_or(d)`. Each `let`
//! of the name is a scope of its own (shadowing); a name used any other
//! way, captured by a closure, or bound by a loop, a closure or an arm, is
//! left as written (lowering reports it). Only the generated fns see this;
//! the user's fn is kept as written.

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
            float,
            stack: Vec::new(),
            made: 0,
            failed: false,
        };
        let mut attempt = body.clone();
        r.visit_block_mut(&mut attempt);
        if !r.failed && r.made > 0 {
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
        /// Per name, how many patterns other than `let`s bind it.
        bound: rustc_hash::FxHashMap<String, isize>,
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
            // Bound by a `let`: not counted with the other patterns.
            for n in crate::parse::bindings(&l.pat) {
                *self.f.bound.entry(n).or_default() -= 1;
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
    let mut names: Vec<Ident> = Vec::new();
    for (n, sure) in f.lets {
        let n_str = n.to_string();
        // No closure parameter, loop or arm binds it (each `let` of it is
        // a scope of its own).
        let elsewhere = f.bound.get(&n_str).copied().unwrap_or(0) > 0;
        if !elsewhere && (sure || f.assigned.contains(&n_str)) && !names.contains(&n) {
            names.push(n);
        }
    }
    names
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

struct Rewrite<'a> {
    name: &'a Ident,
    float: &'a Type,
    /// The `let`s of the name in scope, innermost last: its flag and value
    /// where it holds an `Option` of floats, `None` where another `let`
    /// shadows it.
    stack: Vec<Option<(Ident, Ident)>>,
    /// How many `let`s were rewritten.
    made: usize,
    failed: bool,
}

impl Rewrite<'_> {
    /// The flag and value of the name in scope, if it is one of ours.
    fn current(&self) -> Option<(Ident, Ident)> {
        self.stack.last().cloned().flatten()
    }

    fn is_name(&self, e: &Expr) -> bool {
        self.current().is_some()
            && matches!(strip_parens(e), Expr::Path(p) if p.path.is_ident(self.name))
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

    /// The arms of a `match` on the name, tried in order, as an `if` chain
    /// on its flag (`Some(p)` binds the value, a guard is tested after the
    /// binding, `None` and `_` match what is left). `None` for a pattern
    /// other than those, or arms that may all fail.
    fn arm_chain(&self, arms: &[&syn::Arm], some: &Ident, val: &Ident) -> Option<Expr> {
        let (arm, others) = arms.split_first()?;
        // An arm that assigns (`None => best = Some(v),`) is a statement of
        // its branch.
        let body = &*arm.body;
        let body: Block = match body {
            Expr::Block(b) if b.label.is_none() => b.block.clone(),
            Expr::Assign(_) => syn::parse_quote!({ #body; }),
            x => syn::parse_quote!({ #x }),
        };
        let (pat, guard) = crate::parse::arm_parts(arm);
        let guard = guard.map(|(_, g)| g);
        // What the arms after this one give, where it does not match.
        let rest = || -> Option<Block> {
            let next = self.arm_chain(others, some, val)?;
            Some(syn::parse_quote!({ #next }))
        };
        let guarded = |body: Block| -> Option<Block> {
            Some(match guard {
                Some(g) => {
                    let other = rest()?;
                    syn::parse_quote!({ if #g #body else #other })
                }
                None => body,
            })
        };
        // The last arm without a guard matches what the others left (the
        // `match` is exhaustive): no test.
        let last = others.is_empty() && guard.is_none();
        let block = |block: Block| {
            Expr::Block(syn::ExprBlock {
                attrs: Vec::new(),
                label: None,
                block,
            })
        };
        if let Some(p) = Self::some_pat(pat) {
            let then = self.bound(p, val, guarded(body)?);
            if last {
                return Some(block(then));
            }
            let other = rest()?;
            return Some(syn::parse_quote!(if #some #then else #other));
        }
        match pat {
            Pat::Wild(_) => Some(block(guarded(body)?)),
            p if Self::none_pat(p) => {
                let then = guarded(body)?;
                if last {
                    return Some(block(then));
                }
                let other = rest()?;
                Some(syn::parse_quote!(if !#some #then else #other))
            }
            _ => None,
        }
    }

    /// `{ let p = val; body }`.
    fn bound(&self, p: Option<&Pat>, val: &Ident, mut body: Block) -> Block {
        if let Some(p) = p {
            body.stmts.insert(0, syn::parse_quote!(let #p = #val;));
        }
        body
    }

    /// A `let` of the name: its flag and value (pushed in scope), or
    /// `None` where this `let` is not an `Option` of floats.
    fn declaration(&mut self, l: &syn::Local) -> Option<Vec<Stmt>> {
        let (pat, ty) = match &l.pat {
            Pat::Type(t) => (&*t.pat, Some(&*t.ty)),
            p => (p, None),
        };
        let (Pat::Ident(pi), Some(init)) = (pat, &l.init) else {
            return None;
        };
        if ty.is_some_and(|t| !option_of(t, self.float)) || init.diverge.is_some() {
            return None;
        }
        let value = match strip_parens(&init.expr) {
            Expr::Path(p) if p.path.is_ident("None") => None,
            Expr::Call(c)
                if matches!(&*c.func, Expr::Path(p) if p.path.is_ident("Some"))
                    && c.args.len() == 1 =>
            {
                // Read with the name's earlier `let` still in scope.
                let mut e = c.args[0].clone();
                self.visit_expr_mut(&mut e);
                Some(e)
            }
            _ => return None,
        };
        let k = self.made;
        self.made += 1;
        let some = format_ident!("__tl_some_{}{}", pi.ident, k);
        let val = format_ident!("__tl_val_{}{}", pi.ident, k);
        let out = match value {
            None => vec![
                syn::parse_quote!(let mut #some = false;),
                syn::parse_quote!(let mut #val = 0.0;),
            ],
            Some(e) => vec![
                syn::parse_quote!(let mut #some = true;),
                syn::parse_quote!(let mut #val = #e;),
            ],
        };
        self.stack.push(Some((some, val)));
        Some(out)
    }

    /// The statements for `name = Some(e);` / `name = None;`.
    fn assignment(&self, s: &Stmt) -> Option<Vec<Stmt>> {
        let Stmt::Expr(Expr::Assign(a), Some(_)) = s else {
            return None;
        };
        if !self.is_name(&a.left) {
            return None;
        }
        let (some, val) = self.current()?;
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
        let depth = self.stack.len();
        let stmts = std::mem::take(&mut b.stmts);
        let mut out = Vec::with_capacity(stmts.len());
        for mut s in stmts {
            if let Stmt::Local(l) = &s {
                let binds = crate::parse::bindings(&l.pat)
                    .iter()
                    .any(|n| self.name == n);
                if binds {
                    if let Some(decl) = self.declaration(l) {
                        out.extend(decl);
                        continue;
                    }
                    // Another `let` of the name: its value may read ours.
                    self.visit_stmt_mut(&mut s);
                    out.push(s);
                    self.stack.push(None);
                    continue;
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
        self.stack.truncate(depth);
    }

    fn visit_expr_mut(&mut self, e: &mut Expr) {
        let Some((some, val)) = self.current() else {
            return syn::visit_mut::visit_expr_mut(self, e);
        };
        match e {
            // `if let Some(p) = name { .. } else { .. }`
            Expr::If(i) => {
                if let Expr::Let(l) = &*i.cond {
                    if self.is_name(&l.expr) {
                        let Some(p) = Self::some_pat(&l.pat) else {
                            self.failed = true;
                            return;
                        };
                        let then = self.bound(p, &val, i.then_branch.clone());
                        i.then_branch = then;
                        *i.cond = syn::parse_quote!(#some);
                    }
                }
                syn::visit_mut::visit_expr_if_mut(self, i);
            }
            // `match name { Some(p) => a, None => b }`
            // `match name { Some(p) if g => a, Some(p) => b, None => c }`:
            // the arms in order, as an `if` chain.
            Expr::Match(m) if self.is_name(&m.expr) => {
                let arms: Vec<&syn::Arm> = m.arms.iter().collect();
                let Some(chain) = self.arm_chain(&arms, &some, &val) else {
                    self.failed = true;
                    return;
                };
                *e = chain;
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
            // A closure capturing it would capture a name that is gone.
            Expr::Closure(c) => {
                let mut names = rustc_hash::FxHashSet::default();
                names.insert(self.name.to_string());
                if mentions_name(&c.body, &names) {
                    self.failed = true;
                }
            }
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
        assert!(out.contains("let mut __tl_some_prev0 = false"), "{out}");
        assert!(
            out.contains("if __tl_some_prev0 { let p = __tl_val_prev0 ;"),
            "{out}"
        );
        assert!(
            out.contains("__tl_val_prev0 = x ; __tl_some_prev0 = true ;"),
            "{out}"
        );
    }

    #[test]
    fn each_let_is_a_scope_of_its_own() {
        let out = rewritten(
            "{ let mut p: Option<T> = None; p = Some(x); let a = p.unwrap(); \
               let mut p = Some(a * 2.0); let b = p.unwrap(); \
               let p = 3; s = s + a + b * T::from(p).unwrap(); }",
        )
        .unwrap();
        assert!(out.contains("let a = __tl_val_p0"), "{out}");
        assert!(out.contains("let mut __tl_val_p1 = a * 2.0"), "{out}");
        assert!(out.contains("let b = __tl_val_p1"), "{out}");
        // The last `let` is an integer: read as written.
        assert!(out.contains("T :: from (p)"), "{out}");
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
