//! Pass 1a, before the checks: `let [a, b, c] = v;` (an array pattern of
//! names, as one unpacks a `[T; 3]`) becomes a read of each element,
//! `let a = v[0]; let b = v[1]; let c = v[2];`, which lowering knows.
//! `*v` and `&v` are read through; any other value is bound to a name
//! first. Only the generated fns see this; the user's fn is kept as
//! written.

use syn::visit_mut::VisitMut;
use syn::{Block, Expr, Pat, Stmt};

/// `body` with its array patterns unpacked, or `None` if it has none.
pub(crate) fn rewrite(body: &Block) -> Option<Block> {
    if !any(body) {
        return None;
    }
    let mut body = body.clone();
    Unpack { count: 0 }.visit_block_mut(&mut body);
    Some(body)
}

/// An array pattern of names (no `..`, no nesting): the names.
fn names(p: &Pat) -> Option<Vec<&Pat>> {
    match p {
        Pat::Slice(s) => s
            .elems
            .iter()
            .map(|e| match e {
                Pat::Ident(i) if i.by_ref.is_none() && i.subpat.is_none() => Some(e),
                Pat::Wild(_) => Some(e),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

fn unpacks(s: &Stmt) -> bool {
    matches!(s, Stmt::Local(l)
        if l.init.as_ref().is_some_and(|i| i.diverge.is_none()) && names(&l.pat).is_some())
}

fn any(body: &Block) -> bool {
    struct Find(bool);
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_stmt(&mut self, s: &'ast Stmt) {
            self.0 |= unpacks(s);
            syn::visit::visit_stmt(self, s);
        }
    }
    let mut f = Find(false);
    syn::visit::visit_block(&mut f, body);
    f.0
}

struct Unpack {
    count: usize,
}

impl VisitMut for Unpack {
    fn visit_block_mut(&mut self, b: &mut Block) {
        let stmts = std::mem::take(&mut b.stmts);
        let mut out = Vec::with_capacity(stmts.len());
        for mut s in stmts {
            self.visit_stmt_mut(&mut s);
            let Stmt::Local(l) = &s else {
                out.push(s);
                continue;
            };
            let (Some(names), Some(init)) = (names(&l.pat), &l.init) else {
                out.push(s);
                continue;
            };
            if init.diverge.is_some() {
                out.push(s);
                continue;
            }
            // The array: a name (or a row, a field) read through `*` and
            // `&`, else bound first.
            let mut value = &*init.expr;
            while let Expr::Unary(syn::ExprUnary {
                op: syn::UnOp::Deref(_),
                expr,
                ..
            })
            | Expr::Reference(syn::ExprReference { expr, .. })
            | Expr::Paren(syn::ExprParen { expr, .. }) = value
            {
                value = expr;
            }
            let base: Expr = match value {
                Expr::Path(_) | Expr::Index(_) | Expr::Field(_) => value.clone(),
                _ => {
                    let tmp = quote::format_ident!("__tl_unpack{}", self.count);
                    self.count += 1;
                    let e = &init.expr;
                    out.push(syn::parse_quote!(let #tmp = #e;));
                    syn::parse_quote!(#tmp)
                }
            };
            let span = syn::spanned::Spanned::span(&l.pat);
            for (i, name) in names.into_iter().enumerate() {
                if matches!(name, Pat::Wild(_)) {
                    continue;
                }
                let i = syn::LitInt::new(&i.to_string(), span);
                out.push(syn::parse_quote_spanned!(span=> let #name = #base[#i];));
            }
        }
        b.stmts = out;
    }

    fn visit_expr_mut(&mut self, e: &mut Expr) {
        if !matches!(e, Expr::Closure(_)) {
            syn::visit_mut::visit_expr_mut(self, e);
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}
