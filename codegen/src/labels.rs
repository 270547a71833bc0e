//! Pass 1a, before the checks: loop labels. `break 'outer` and
//! `continue 'outer` from inside an inner loop set a flag and `break`;
//! after each inner loop that may have set it, the enclosing loops leave
//! too, until the labelled loop breaks or continues. The labels are then
//! gone, and lowering sees plain loops:
//!
//! ```text
//! 'rows: for i in 0..n {               let mut __tl_brk0 = false;
//!     for j in 0..m {                  for i in 0..n {
//!         if a[i][j] > t {                 for j in 0..m {
//!             break 'rows;       ==>           if a[i][j] > t { { __tl_brk0 = true; break; } }
//!         }                                }
//!     }                                    if __tl_brk0 { break; }
//! }                                    }
//! ```
//!
//! A `loop` whose value is used (`let root = loop { .. break x; .. };`, or
//! a block's last expression) becomes a `let root;` assigned before each
//! of its `break`s, which lowering knows as a variable assigned later.
//!
//! Only the generated fns see this; the user's fn is kept as written.

use proc_macro2::Span;
use syn::visit_mut::VisitMut;
use syn::{Block, Expr, Pat, Stmt};

/// `body` without loop labels, or `None` if it has none.
pub(crate) fn rewrite(body: &Block) -> Option<Block> {
    if !any(body) {
        return None;
    }
    let mut r = Labels::default();
    let mut body = body.clone();
    r.visit_block_mut(&mut body);
    Some(body)
}

fn any(body: &Block) -> bool {
    struct Find(bool);
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_label(&mut self, _: &'ast syn::Label) {
            self.0 = true;
        }
        fn visit_expr_break(&mut self, b: &'ast syn::ExprBreak) {
            self.0 |= b.expr.is_some();
            syn::visit::visit_expr_break(self, b);
        }
    }
    let mut f = Find(false);
    syn::visit::visit_block(&mut f, body);
    f.0
}

/// A labelled loop being visited.
struct Open {
    name: String,
    id: usize,
    /// Its own loop depth (1 for an outermost loop).
    depth: usize,
    breaks: bool,
    continues: bool,
}

#[derive(Default)]
struct Labels {
    open: Vec<Open>,
    depth: usize,
    count: usize,
    /// Labels (by id) jumped to, from inside a loop within them, in the
    /// statement being visited.
    jumped: Vec<usize>,
}

fn flag(kind: &str, id: usize, span: Span) -> syn::Ident {
    syn::Ident::new(&format!("__tl_{kind}{id}"), span)
}

impl Labels {
    fn find(&self, label: &syn::Lifetime) -> Option<usize> {
        let name = label.ident.to_string();
        self.open.iter().rposition(|o| o.name == name)
    }

    /// A labelled `break` or `continue`: plain where its loop is the
    /// innermost, else a flag and a `break`.
    fn jump(&mut self, e: &mut Expr) {
        let (label, is_break, span) = match e {
            Expr::Break(b) if b.expr.is_none() => (b.label.clone(), true, b.break_token.span),
            Expr::Continue(c) => (c.label.clone(), false, c.continue_token.span),
            _ => return,
        };
        let Some(label) = label else { return };
        let Some(k) = self.find(&label) else { return };
        if self.open[k].depth == self.depth {
            match e {
                Expr::Break(b) => b.label = None,
                Expr::Continue(c) => c.label = None,
                _ => {}
            }
            return;
        }
        let id = self.open[k].id;
        let f = if is_break {
            self.open[k].breaks = true;
            flag("brk", id, span)
        } else {
            self.open[k].continues = true;
            flag("cont", id, span)
        };
        if !self.jumped.contains(&id) {
            self.jumped.push(id);
        }
        *e = syn::parse_quote_spanned!(span=> { #f = true; break; });
    }

    /// The checks after a loop statement at the current depth that jumped
    /// to the labels `ids`.
    fn checks(&self, ids: &[usize], span: Span) -> Vec<Stmt> {
        let mut out = Vec::new();
        for o in self.open.iter().filter(|o| ids.contains(&o.id)) {
            if o.depth > self.depth {
                continue;
            }
            // At the labelled loop's own level: break it or go on with its
            // next iteration; deeper: leave this loop too.
            let here = o.depth == self.depth;
            if o.breaks {
                let f = flag("brk", o.id, span);
                out.push(syn::parse_quote_spanned!(span=> if #f { break; }));
            }
            if o.continues {
                let f = flag("cont", o.id, span);
                out.push(if here {
                    syn::parse_quote_spanned!(span=> if #f { continue; })
                } else {
                    syn::parse_quote_spanned!(span=> if #f { break; })
                });
            }
        }
        out
    }

    /// Visits a loop's body; a labelled loop gets its flags (declared in
    /// `decls`, reset at the top of each iteration for `continue`).
    fn body(&mut self, label: &mut Option<syn::Label>, body: &mut Block, decls: &mut Vec<Stmt>) {
        self.depth += 1;
        let opened = label.take().map(|l| {
            self.open.push(Open {
                name: l.name.ident.to_string(),
                id: self.count,
                depth: self.depth,
                breaks: false,
                continues: false,
            });
            self.count += 1;
            l.name.span()
        });
        self.visit_block_mut(body);
        if let Some(span) = opened {
            if let Some(o) = self.open.pop() {
                if o.breaks {
                    let f = flag("brk", o.id, span);
                    decls.push(syn::parse_quote_spanned!(span=> let mut #f = false;));
                }
                if o.continues {
                    let f = flag("cont", o.id, span);
                    decls.push(syn::parse_quote_spanned!(span=> let mut #f = false;));
                    body.stmts
                        .insert(0, syn::parse_quote_spanned!(span=> #f = false;));
                }
                self.jumped.retain(|&id| id != o.id);
            }
        }
        self.depth -= 1;
    }

    /// A loop statement: its flags' declarations, the loop, the checks.
    fn loop_stmt(&mut self, e: &mut Expr, out: &mut Vec<Stmt>, semi: Option<syn::Token![;]>) {
        let mut decls = Vec::new();
        let span = syn::spanned::Spanned::span(&*e);
        let outer = std::mem::take(&mut self.jumped);
        match e {
            Expr::ForLoop(f) => {
                self.visit_expr_mut(&mut f.expr);
                self.body(&mut f.label, &mut f.body, &mut decls);
            }
            Expr::While(w) => {
                self.body(&mut w.label, &mut w.body, &mut decls);
            }
            Expr::Loop(l) => {
                self.body(&mut l.label, &mut l.body, &mut decls);
            }
            _ => {}
        }
        let inner = std::mem::replace(&mut self.jumped, outer);
        out.extend(decls);
        // A loop that was its block's value (`()`) is followed by checks.
        let checks = self.checks(&inner, span);
        let semi = if checks.is_empty() {
            semi
        } else {
            semi.or(Some(Default::default()))
        };
        out.push(Stmt::Expr(e.clone(), semi));
        out.extend(checks);
        for id in inner {
            if !self.jumped.contains(&id) {
                self.jumped.push(id);
            }
        }
    }
}

/// A `loop` whose value is used: the variable's `let`, the loop with its
/// `break v` made `{ name = v; break; }`, and (for a block's value) the
/// statement that reads the variable. `Err` gives the statement back.
#[allow(clippy::result_large_err)]
fn valued_loop(
    s: Stmt,
    tail: bool,
    count: usize,
) -> Result<(Stmt, syn::ExprLoop, Option<Stmt>), Stmt> {
    let (name, mutable, lp, tail_value, ty) = match &s {
        Stmt::Local(l) => {
            let (pat, ty) = match &l.pat {
                Pat::Type(t) => (&*t.pat, Some((*t.ty).clone())),
                p => (p, None),
            };
            let Pat::Ident(pi) = pat else { return Err(s) };
            let Some(init) = &l.init else { return Err(s) };
            let Expr::Loop(lp) = &*init.expr else {
                return Err(s);
            };
            if init.diverge.is_some() || pi.subpat.is_some() || pi.by_ref.is_some() {
                return Err(s);
            }
            (
                pi.ident.clone(),
                pi.mutability.is_some(),
                lp.clone(),
                false,
                ty,
            )
        }
        Stmt::Expr(Expr::Loop(lp), None) if tail => {
            let name = syn::Ident::new(&format!("__tl_value{count}"), lp.loop_token.span);
            (name, false, lp.clone(), true, None)
        }
        _ => return Err(s),
    };
    if lp.label.is_some() || !breaks_with_value(&lp.body) {
        return Err(s);
    }
    struct Assign<'n> {
        name: &'n syn::Ident,
        loops: usize,
    }
    impl VisitMut for Assign<'_> {
        fn visit_expr_mut(&mut self, e: &mut Expr) {
            match e {
                Expr::Break(b) if self.loops == 0 && b.label.is_none() => {
                    if let Some(v) = b.expr.take() {
                        let (name, span) = (self.name, b.break_token.span);
                        *e = syn::parse_quote_spanned!(span=> { #name = #v; break; });
                    }
                }
                Expr::ForLoop(_) | Expr::While(_) | Expr::Loop(_) => {
                    self.loops += 1;
                    syn::visit_mut::visit_expr_mut(self, e);
                    self.loops -= 1;
                }
                Expr::Closure(_) => {}
                _ => syn::visit_mut::visit_expr_mut(self, e),
            }
        }
        fn visit_item_mut(&mut self, _: &mut syn::Item) {}
    }
    let mut lp = lp;
    Assign {
        name: &name,
        loops: 0,
    }
    .visit_block_mut(&mut lp.body);
    let span = lp.loop_token.span;
    let ty = ty.map(|t| quote::quote!(: #t));
    let decl: Stmt = if mutable {
        syn::parse_quote_spanned!(span=> let mut #name #ty;)
    } else {
        syn::parse_quote_spanned!(span=> let #name #ty;)
    };
    let value = tail_value.then(|| Stmt::Expr(syn::parse_quote_spanned!(span=> #name), None));
    Ok((decl, lp, value))
}

/// A `break v` of this loop in `body`.
fn breaks_with_value(body: &Block) -> bool {
    crate::parse::at_loop_level(
        &body.stmts,
        |e| matches!(e, Expr::Break(b) if b.expr.is_some() && b.label.is_none()),
    )
}

impl VisitMut for Labels {
    fn visit_block_mut(&mut self, b: &mut Block) {
        let stmts = std::mem::take(&mut b.stmts);
        let last = stmts.len();
        let mut out = Vec::with_capacity(stmts.len());
        for (k, s) in stmts.into_iter().enumerate() {
            // `let v = loop { .. break x; .. };` and a `loop` as the block's
            // value: a variable assigned before each `break`.
            let s = match valued_loop(s, k + 1 == last, self.count) {
                Ok((decl, lp, value)) => {
                    self.count += 1;
                    out.push(decl);
                    self.loop_stmt(&mut Expr::Loop(lp), &mut out, Some(Default::default()));
                    match value {
                        Some(v) => v,
                        None => continue,
                    }
                }
                Err(s) => s,
            };
            match s {
                Stmt::Expr(mut e, semi)
                    if matches!(e, Expr::ForLoop(_) | Expr::While(_) | Expr::Loop(_)) =>
                {
                    self.loop_stmt(&mut e, &mut out, semi);
                }
                mut s => {
                    self.visit_stmt_mut(&mut s);
                    out.push(s);
                }
            }
        }
        b.stmts = out;
    }

    fn visit_expr_mut(&mut self, e: &mut Expr) {
        match e {
            Expr::Break(_) | Expr::Continue(_) => self.jump(e),
            // A loop inside an expression (not a statement): visited, its
            // labels stay (and are reported).
            Expr::ForLoop(_) | Expr::While(_) | Expr::Loop(_) => {
                self.depth += 1;
                syn::visit_mut::visit_expr_mut(self, e);
                self.depth -= 1;
            }
            Expr::Closure(_) => {}
            _ => syn::visit_mut::visit_expr_mut(self, e),
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}
