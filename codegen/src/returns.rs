//! Pass 1b, before lowering: a `return` inside a loop becomes what one
//! would write without it. The value goes to result variables, a flag
//! records that the fn has returned, and `break` leaves the loop; after each
//! loop that may return, an enclosing loop is left too (`if returned
//! { break; }`), and after the outermost one the fn returns (`if returned
//! { return ret; }`), an early return lowering already knows. Only the
//! generated fns see this; the user's fn is kept as written.
//!
//! ```text
//! for _ in 0..50 {                     let mut __tl_returned = false;
//!     if fx.abs() < tol {              let mut __tl_ret = 0.0;
//!         return x;          ==>       for _ in 0..50 {
//!     }                                    if fx.abs() < tol {
//!     x = x - fx / dfx;                        { __tl_ret = x; __tl_returned = true; break; }
//! }                                        }
//! x                                        x = x - fx / dfx;
//!                                      }
//!                                      if __tl_returned { return __tl_ret; }
//!                                      x
//! ```

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote_spanned};
use syn::visit_mut::VisitMut;
use syn::{Block, Expr, Stmt};

use crate::parse::Output;

const FLAG: &str = "__tl_returned";

/// `body` with its returns inside loops rewritten, or `None` if it has
/// none (or the output is an array, whose early returns lowering rejects
/// with its own message).
pub(crate) fn rewrite(body: &Block, output: &Output) -> Option<Block> {
    let results = match output {
        Output::Scalar => 1,
        Output::Tuple(n) => *n,
        Output::Array => return None,
    };
    if !in_a_loop(body) {
        return None;
    }
    let mut r = Rewrite {
        results,
        depth: 0,
        found: false,
        any: false,
    };
    let mut body = body.clone();
    r.visit_block_mut(&mut body);
    if !r.any {
        return None;
    }
    let flag = format_ident!("{}", FLAG);
    let mut head: Vec<Stmt> = vec![syn::parse_quote!(let mut #flag = false;)];
    for i in 0..results {
        let ret = result(results, i, Span::call_site());
        head.push(syn::parse_quote!(let mut #ret = 0.0;));
    }
    head.append(&mut body.stmts);
    body.stmts = head;
    Some(body)
}

/// `body` whose value, in a fn returning an array, is a call (`mm(a, b)`,
/// `return scale(v, k);`), with the call bound first with the fn's return
/// type (`let __tl_out: [[T; 2]; 2] = mm(a, b); __tl_out`): the macro sees
/// the callee's result as an array. `None` if the value is not a call.
pub(crate) fn tail_call(body: &Block, output: &Output, ret: &syn::ReturnType) -> Option<Block> {
    let (Output::Array, syn::ReturnType::Type(_, ty)) = (output, ret) else {
        return None;
    };
    let value = match body.stmts.last()? {
        Stmt::Expr(Expr::Return(syn::ExprReturn { expr: Some(e), .. }), _) => {
            crate::parse::strip_parens(e)
        }
        Stmt::Expr(e, None) => crate::parse::strip_parens(e),
        _ => return None,
    };
    let Expr::Call(c) = value else { return None };
    if !crate::patterns::user_fn(&c.func) {
        return None;
    }
    let span = syn::spanned::Spanned::span(c);
    let out = proc_macro2::Ident::new("__tl_out", span);
    let mut body = body.clone();
    body.stmts.pop();
    body.stmts
        .push(syn::parse_quote_spanned!(span=> let #out: #ty = #c;));
    body.stmts
        .push(Stmt::Expr(syn::parse_quote_spanned!(span=> #out), None));
    Some(body)
}

/// `body` of a fn returning a fixed-size array (`[T; N]`, `[[T; N]; M]`)
/// whose value is chosen by `if`s, a `match` or early `return`s outside
/// loops,
/// written with one result array assigned whole where each value is
/// given, which lowering and patterns.rs know:
///
/// ```text
/// if n < eps {                         let mut __tl_ret: [T; 3] = [0.0; 3];
///     return [0.0; 3];        ==>      if n < eps {
/// }                                        __tl_ret = [0.0; 3];
/// [v[0] / n, v[1] / n, v[2] / n]       } else {
///                                          __tl_ret = [v[0] / n, v[1] / n, v[2] / n];
///                                      }
///                                      __tl_ret
/// ```
///
/// A guard's `return` takes the rest of the block into the `else`. `None`
/// where there is nothing to do, or where a `return` sits somewhere else
/// (in a loop: lowering reports it).
pub(crate) fn array_value(body: &Block, output: &Output, ret: &syn::ReturnType) -> Option<Block> {
    let (Output::Array, syn::ReturnType::Type(_, ty)) = (output, ret) else {
        return None;
    };
    let zeros = fixed_zeros(ty)?;
    let tail_if = matches!(
        body.stmts.last(),
        Some(Stmt::Expr(e, None)) if matches!(crate::parse::strip_parens(e), Expr::If(_) | Expr::Match(_))
    );
    let returns = body.stmts.iter().any(has_return);
    if !tail_if && !returns {
        return None;
    }
    let mut stmts = tail_form(body.stmts.clone())?;
    let value = match stmts.pop()? {
        Stmt::Expr(e, None) => e,
        _ => return None,
    };
    let span = syn::spanned::Spanned::span(ty);
    let out = proc_macro2::Ident::new("__tl_ret", span);
    let mut body = body.clone();
    body.stmts = vec![syn::parse_quote_spanned!(span=> let mut #out: #ty = #zeros;)];
    body.stmts.extend(stmts);
    body.stmts.push(assign(&out, value)?);
    body.stmts
        .push(Stmt::Expr(syn::parse_quote_spanned!(span=> #out), None));
    Some(body)
}

/// `[0.0; N]` or `[[0.0; N]; M]` for a fixed-size array type of floats.
fn fixed_zeros(ty: &syn::Type) -> Option<TokenStream> {
    match ty {
        syn::Type::Paren(p) => fixed_zeros(&p.elem),
        syn::Type::Array(a) => {
            let len = &a.len;
            let inner = match &*a.elem {
                syn::Type::Array(_) | syn::Type::Paren(_) => fixed_zeros(&a.elem)?,
                _ => quote::quote!(0.0),
            };
            Some(quote::quote!([#inner; #len]))
        }
        _ => None,
    }
}

/// Whether a statement holds a `return` (not in a closure or an item).
pub(crate) fn has_return(s: &Stmt) -> bool {
    struct Find(bool);
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_expr_return(&mut self, _: &'ast syn::ExprReturn) {
            self.0 = true;
        }
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut f = Find(false);
    syn::visit::Visit::visit_stmt(&mut f, s);
    f.0
}

/// Statements without `return`s whose last is the value: a `return`
/// ends them, a guard `if c { ..; return a; }` takes the statements after
/// it as its `else`. `None` for a `return` anywhere else.
fn tail_form(mut stmts: Vec<Stmt>) -> Option<Vec<Stmt>> {
    let Some(k) = stmts.iter().position(has_return) else {
        return Some(stmts);
    };
    let rest = stmts.split_off(k + 1);
    let value = match stmts.pop()? {
        Stmt::Expr(Expr::Return(r), _) => *r.expr?,
        Stmt::Expr(Expr::If(ifx), _) => Expr::If(if_form(ifx, &rest)?),
        _ => return None,
    };
    stmts.push(Stmt::Expr(value, None));
    Some(stmts)
}

/// An `if` whose branches each end with a value: a branch that returns
/// keeps its own statements, one that does not runs `rest` after them.
fn if_form(mut ifx: syn::ExprIf, rest: &[Stmt]) -> Option<syn::ExprIf> {
    ifx.then_branch.stmts = branch(std::mem::take(&mut ifx.then_branch.stmts), rest)?;
    let els: Expr = match ifx.else_branch.take().map(|(_, e)| *e) {
        Some(Expr::If(inner)) => Expr::If(if_form(inner, rest)?),
        Some(Expr::Block(mut b)) => {
            b.block.stmts = branch(std::mem::take(&mut b.block.stmts), rest)?;
            Expr::Block(b)
        }
        Some(_) => return None,
        None => {
            let stmts = branch(Vec::new(), rest)?;
            syn::parse_quote!({ #(#stmts)* })
        }
    };
    ifx.else_branch = Some((Default::default(), Box::new(els)));
    Some(ifx)
}

/// A branch's statements, then `rest` where they may fall through, in
/// tail form. `None` where the branch's own `let`s would shadow names
/// `rest` reads.
fn branch(mut stmts: Vec<Stmt>, rest: &[Stmt]) -> Option<Vec<Stmt>> {
    let ends = matches!(stmts.last(), Some(Stmt::Expr(Expr::Return(_), _)));
    if !ends && !rest.is_empty() {
        let own: rustc_hash::FxHashSet<String> = stmts
            .iter()
            .filter_map(|s| match s {
                Stmt::Local(l) => Some(crate::parse::bindings(&l.pat)),
                _ => None,
            })
            .flatten()
            .collect();
        if rest.iter().any(|s| mentions(s, &own)) {
            return None;
        }
        stmts.extend(rest.iter().cloned());
    }
    tail_form(stmts)
}

/// Whether a statement names any of `names`.
fn mentions(s: &Stmt, names: &rustc_hash::FxHashSet<String>) -> bool {
    struct Find<'a>(&'a rustc_hash::FxHashSet<String>, bool);
    impl<'ast> syn::visit::Visit<'ast> for Find<'_> {
        fn visit_ident(&mut self, i: &'ast proc_macro2::Ident) {
            self.1 |= self.0.contains(&i.to_string());
        }
    }
    if names.is_empty() {
        return false;
    }
    let mut f = Find(names, false);
    syn::visit::Visit::visit_stmt(&mut f, s);
    f.1
}

/// `out = value;` where each value is given: into the branches of `if`s
/// and the ends of blocks.
fn assign(out: &proc_macro2::Ident, value: Expr) -> Option<Stmt> {
    match value {
        Expr::Paren(p) => assign(out, *p.expr),
        Expr::If(mut ifx) => {
            into_block(out, &mut ifx.then_branch)?;
            match ifx.else_branch.as_mut().map(|(_, e)| &mut **e) {
                Some(Expr::Block(b)) => into_block(out, &mut b.block)?,
                Some(e @ Expr::If(_)) => {
                    let inner = std::mem::replace(e, Expr::Verbatim(TokenStream::new()));
                    let Stmt::Expr(assigned, _) = assign(out, inner)? else {
                        return None;
                    };
                    *e = assigned;
                }
                _ => return None,
            }
            Some(Stmt::Expr(Expr::If(ifx), None))
        }
        Expr::Block(mut b) if b.label.is_none() => {
            into_block(out, &mut b.block)?;
            Some(Stmt::Expr(Expr::Block(b), None))
        }
        // `match axis { 0 => [..], _ => [..] }`: each arm assigns.
        Expr::Match(mut m) => {
            for arm in &mut m.arms {
                let value = std::mem::replace(&mut *arm.body, Expr::Verbatim(TokenStream::new()));
                let assigned = assign(out, value)?;
                *arm.body = syn::parse_quote!({ #assigned });
                arm.comma = Some(Default::default());
            }
            Some(Stmt::Expr(Expr::Match(m), None))
        }
        Expr::Return(_) => None,
        v => {
            let span = syn::spanned::Spanned::span(&v);
            Some(syn::parse_quote_spanned!(span=> #out = #v;))
        }
    }
}

fn into_block(out: &proc_macro2::Ident, b: &mut Block) -> Option<()> {
    let value = match b.stmts.pop()? {
        Stmt::Expr(e, None) => e,
        _ => return None,
    };
    b.stmts.push(assign(out, value)?);
    Some(())
}

/// Whether a `return` sits inside a loop (outside closures and items): the
/// common case costs no copy of the body.
fn in_a_loop(body: &Block) -> bool {
    struct Find {
        depth: usize,
        hit: bool,
    }
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_expr(&mut self, e: &'ast Expr) {
            match e {
                Expr::Return(_) if self.depth > 0 => self.hit = true,
                Expr::ForLoop(_) | Expr::While(_) | Expr::Loop(_) => {
                    self.depth += 1;
                    syn::visit::visit_expr(self, e);
                    self.depth -= 1;
                }
                Expr::Closure(_) => {}
                _ => syn::visit::visit_expr(self, e),
            }
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut f = Find {
        depth: 0,
        hit: false,
    };
    syn::visit::visit_block(&mut f, body);
    f.hit
}

/// The `i`th result variable.
fn result(results: usize, i: usize, span: Span) -> proc_macro2::Ident {
    match results {
        1 => proc_macro2::Ident::new("__tl_ret", span),
        _ => proc_macro2::Ident::new(&format!("__tl_ret{i}"), span),
    }
}

struct Rewrite {
    results: usize,
    /// Loops around the current expression.
    depth: usize,
    /// A return was rewritten in the statement being visited.
    found: bool,
    /// ... in any statement.
    any: bool,
}

impl Rewrite {
    /// `{ ret = value; returned = true; break; }`, spanned at the `return`.
    fn leave(&self, r: &syn::ExprReturn) -> Expr {
        let span = r.return_token.span;
        let flag = proc_macro2::Ident::new(FLAG, span);
        let value: TokenStream = match &r.expr {
            Some(e) => quote::ToTokens::to_token_stream(e),
            // `return;` in a fn with a float output: let lowering report it.
            None => return Expr::Return(r.clone()),
        };
        let assign: TokenStream = if self.results == 1 {
            let ret = result(1, 0, span);
            quote_spanned!(span=> #ret = #value;)
        } else {
            let parts: Vec<_> = (0..self.results)
                .map(|i| format_ident!("__tl_part{}", i, span = span))
                .collect();
            let rets: Vec<_> = (0..self.results)
                .map(|i| result(self.results, i, span))
                .collect();
            quote_spanned!(span=> let (#(#parts),*) = #value; #(#rets = #parts;)*)
        };
        syn::parse_quote_spanned!(span=> { #assign #flag = true; break; })
    }

    /// After a loop that may return: leave the enclosing loop, or the fn.
    fn after_loop(&self, span: Span) -> Stmt {
        let flag = proc_macro2::Ident::new(FLAG, span);
        if self.depth > 0 {
            return syn::parse_quote_spanned!(span=> if #flag { break; });
        }
        let rets: Vec<_> = (0..self.results)
            .map(|i| result(self.results, i, span))
            .collect();
        if self.results == 1 {
            syn::parse_quote_spanned!(span=> if #flag { return #(#rets)*; })
        } else {
            syn::parse_quote_spanned!(span=> if #flag { return (#(#rets),*); })
        }
    }
}

fn is_loop(e: &Expr) -> bool {
    matches!(e, Expr::ForLoop(_) | Expr::While(_) | Expr::Loop(_))
}

impl VisitMut for Rewrite {
    fn visit_block_mut(&mut self, b: &mut Block) {
        let outer = self.found;
        let stmts = std::mem::take(&mut b.stmts);
        let mut out = Vec::with_capacity(stmts.len());
        let mut here = false;
        for mut s in stmts {
            self.found = false;
            self.visit_stmt_mut(&mut s);
            let check = match &mut s {
                Stmt::Expr(e, semi) if self.found && is_loop(e) => {
                    // A loop that was the block's value (`()`) is now followed
                    // by the check.
                    if semi.is_none() {
                        *semi = Some(Default::default());
                    }
                    Some(self.after_loop(syn::spanned::Spanned::span(e)))
                }
                _ => None,
            };
            out.push(s);
            out.extend(check);
            here |= self.found;
        }
        self.any |= here;
        self.found = outer || here;
        b.stmts = out;
    }

    fn visit_expr_mut(&mut self, e: &mut Expr) {
        match e {
            Expr::Return(r) if self.depth > 0 => {
                self.found = true;
                *e = self.leave(r);
            }
            Expr::ForLoop(fl) => {
                self.visit_expr_mut(&mut fl.expr);
                self.depth += 1;
                self.visit_block_mut(&mut fl.body);
                self.depth -= 1;
            }
            Expr::While(w) => {
                self.depth += 1;
                self.visit_expr_mut(&mut w.cond);
                self.visit_block_mut(&mut w.body);
                self.depth -= 1;
            }
            Expr::Loop(l) => {
                self.depth += 1;
                self.visit_block_mut(&mut l.body);
                self.depth -= 1;
            }
            // Their returns are their own.
            Expr::Closure(_) => {}
            _ => syn::visit_mut::visit_expr_mut(self, e),
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}
