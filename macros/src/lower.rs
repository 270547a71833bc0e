//! Pass 2: the checked body -> [`Graph`]: one node per primitive operation in
//! program order, names resolved (shadowing, reassignment and scopes become
//! distinct nodes), activity decided as nodes are made. Expressions touching
//! no differentiated value become one `Const` node, computed as written.
//! Errors that need activity (a differentiated value passed where no gradient
//! can flow) are reported here, all of them.

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::{BinOp, Block, Expr, Pat, Stmt, UnOp};

use crate::diag::Diagnostics;
use crate::graph::{Graph, Node, NodeId, Op, Prim, Val};
use crate::names::Names;
use crate::parse::{Function, Output};
use crate::rules;
use crate::sugar;

/// Lowers `f`'s body; `None` if an error was recorded.
pub(crate) fn lower(cx: &Diagnostics, f: &Function, names: &mut Names) -> Option<Graph> {
    let mut lw = Lower {
        cx,
        f,
        names,
        nodes: Vec::new(),
        scopes: vec![HashMap::new()],
        items: Vec::new(),
    };
    for p in &f.params {
        lw.nodes.push(Node {
            op: Op::Param,
            ident: p.ident.clone(),
            active: p.diff,
            span: p.ident.span(),
        });
        lw.scopes[0].insert(p.ident.to_string(), Val::Node(lw.nodes.len() - 1));
    }
    let body = lw.block(&f.item.block, true);
    let output = body.and_then(|v| lw.check_output(v));
    // A returned temporary reads best as `__tl_v_out`.
    if let Some(Val::Node(n)) = output {
        let node = &mut lw.nodes[n];
        let temp = node
            .ident
            .to_string()
            .trim_start_matches("__tl_v")
            .chars()
            .all(|c| c.is_ascii_digit());
        if temp && !matches!(node.op, Op::Param | Op::Const { inline: true, .. }) {
            node.ident = lw.names.fresh("v", Some("out"));
        }
    }
    if cx.has_errors() {
        return None;
    }
    Some(Graph {
        nodes: lw.nodes,
        output: output?,
        items: lw.items,
    })
}

struct Lower<'a, 'f> {
    cx: &'a Diagnostics,
    f: &'a Function<'f>,
    names: &'a mut Names,
    nodes: Vec<Node>,
    /// Innermost last: user name -> current value.
    scopes: Vec<HashMap<String, Val>>,
    items: Vec<syn::Item>,
}

/// How a method or `T::name(..)` call maps to the graph.
enum Method {
    Prim(Prim, usize),
    SinCos,
    Identity,
    /// A predicate (`is_nan`, ...): a bool, through which no gradient flows.
    Predicate,
}

/// The `num_traits::Float` methods tapeless differentiates, with their
/// arity counting the receiver.
fn method(name: &str) -> Option<Method> {
    use Prim::*;
    let prim = |p, n| Some(Method::Prim(p, n));
    match name {
        "exp" => prim(Exp, 1),
        "exp2" => prim(Exp2, 1),
        "exp_m1" => prim(ExpM1, 1),
        "ln" => prim(Ln, 1),
        "ln_1p" => prim(Ln1p, 1),
        "log" => prim(Log, 2),
        "log2" => prim(Log2, 1),
        "log10" => prim(Log10, 1),
        "sqrt" => prim(Sqrt, 1),
        "cbrt" => prim(Cbrt, 1),
        "powi" => prim(Powi, 2),
        "powf" => prim(Powf, 2),
        "recip" => prim(Recip, 1),
        "sin" => prim(Sin, 1),
        "cos" => prim(Cos, 1),
        "tan" => prim(Tan, 1),
        "asin" => prim(Asin, 1),
        "acos" => prim(Acos, 1),
        "atan" => prim(Atan, 1),
        "atan2" => prim(Atan2, 2),
        "sinh" => prim(Sinh, 1),
        "cosh" => prim(Cosh, 1),
        "tanh" => prim(Tanh, 1),
        "asinh" => prim(Asinh, 1),
        "acosh" => prim(Acosh, 1),
        "atanh" => prim(Atanh, 1),
        "abs" => prim(Abs, 1),
        "max" => prim(Max, 2),
        "min" => prim(Min, 2),
        "clamp" => prim(Clamp, 3),
        "hypot" => prim(Hypot, 2),
        "mul_add" => prim(MulAdd, 3),
        "to_degrees" => prim(ToDegrees, 1),
        "to_radians" => prim(ToRadians, 1),
        "signum" => prim(Signum, 1),
        "floor" => prim(Floor, 1),
        "ceil" => prim(Ceil, 1),
        "round" => prim(Round, 1),
        "trunc" => prim(Trunc, 1),
        "fract" => prim(Fract, 1),
        "sin_cos" => Some(Method::SinCos),
        "clone" => Some(Method::Identity),
        "is_nan" | "is_infinite" | "is_finite" | "is_normal" | "is_subnormal"
        | "is_sign_positive" | "is_sign_negative" | "classify" => Some(Method::Predicate),
        _ => None,
    }
}

const METHODS_HINT: &str = "use the `Float` methods (exp, ln, sqrt, powi, powf, sin, tanh, max, ...) or call a `#[differentiable]` fn";

impl Lower<'_, '_> {
    fn push(&mut self, op: Op, active: bool, span: Span) -> NodeId {
        let ident = self.names.fresh("v", None);
        self.nodes.push(Node {
            op,
            ident,
            active,
            span,
        });
        self.nodes.len() - 1
    }

    fn lookup(&self, name: &str) -> Option<&Val> {
        self.scopes.iter().rev().find_map(|s| s.get(name))
    }

    fn is_active(&self, v: &Val) -> bool {
        v.leaves().iter().any(|&n| self.nodes[n].active)
    }

    /// The tokens that stand for a value in generated code.
    fn tokens(&self, v: &Val) -> TokenStream {
        match v {
            Val::Node(n) => node_tokens(&self.nodes[*n]),
            Val::Tuple(vs) => {
                let items = vs.iter().map(|v| self.tokens(v));
                quote!((#(#items,)*))
            }
        }
    }

    /// Lowers a block in a new scope; its value is the tail expression (or
    /// the final `return` of the fn body).
    fn block(&mut self, block: &Block, fn_body: bool) -> Option<Val> {
        self.scopes.push(HashMap::new());
        let mut value = None;
        let last = block.stmts.len().saturating_sub(1);
        for (i, stmt) in block.stmts.iter().enumerate() {
            match stmt {
                Stmt::Local(local) => {
                    let Some(init) = &local.init else { continue };
                    let start = self.nodes.len();
                    if let Some(v) = self.expr(&init.expr) {
                        self.bind(&local.pat, v, start, None);
                    }
                }
                Stmt::Item(item) => self.items.push(item.clone()),
                Stmt::Expr(Expr::Return(r), _) if fn_body && i == last => {
                    value = r.expr.as_deref().and_then(|e| self.expr(e));
                }
                Stmt::Expr(e, None) if i == last => value = self.expr(e),
                Stmt::Expr(e, _) => {
                    let _ = self.expr(e);
                }
                Stmt::Macro(_) => {}
            }
        }
        self.scopes.pop();
        if value.is_none() && block.stmts.is_empty() {
            value = Some(Val::Tuple(vec![]));
        }
        value
    }

    /// Binds a pattern to a value; a node made by this statement is named
    /// after the variable, for readable generated code.
    fn bind(&mut self, pat: &Pat, v: Val, start: NodeId, ty: Option<&syn::Type>) {
        match pat {
            Pat::Ident(pi) => {
                if let Val::Node(n) = v {
                    let node = &mut self.nodes[n];
                    if n >= start && !matches!(node.op, Op::Param | Op::Const { inline: true, .. })
                    {
                        node.ident = self.names.fresh("v", Some(&pi.ident.to_string()));
                        if let (Op::Const { ty: slot, .. }, Some(ty)) = (&mut node.op, ty) {
                            *slot = Some(Box::new(ty.clone()));
                        }
                    }
                }
                if let Some(scope) = self.scopes.last_mut() {
                    scope.insert(pi.ident.to_string(), v);
                }
            }
            Pat::Type(pt) => self.bind(&pt.pat, v, start, Some(&pt.ty)),
            Pat::Paren(p) => self.bind(&p.pat, v, start, ty),
            Pat::Wild(_) => {}
            Pat::Tuple(t) => {
                let parts = match v {
                    Val::Tuple(parts) if parts.len() == t.elems.len() => parts,
                    Val::Node(n) if !self.nodes[n].active => (0..t.elems.len())
                        .map(|i| {
                            let index = syn::Index::from(i);
                            let base = node_tokens(&self.nodes[n]);
                            let op = Op::Const {
                                expr: quote!(#base.#index),
                                ty: None,
                                inline: false,
                            };
                            Val::Node(self.push(op, false, pat.span()))
                        })
                        .collect(),
                    _ => {
                        self.cx
                            .error(pat, "this pattern does not match the value's shape");
                        return;
                    }
                };
                for (p, v) in t.elems.iter().zip(parts) {
                    self.bind(p, v, start, None);
                }
            }
            // parse.rs admits no other pattern.
            other => self
                .cx
                .error(other, "internal error in tapeless: unexpected pattern"),
        }
    }

    /// Whether `e` reads a differentiated value.
    fn touches_active(&self, e: &Expr) -> bool {
        struct Reads<'l, 'a, 'f> {
            lw: &'l Lower<'a, 'f>,
            hit: bool,
        }
        impl<'ast> Visit<'ast> for Reads<'_, '_, '_> {
            fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
                if let Some(id) = p.path.get_ident() {
                    if let Some(v) = self.lw.lookup(&id.to_string()) {
                        self.hit |= self.lw.is_active(v);
                    }
                }
            }
        }
        let mut r = Reads {
            lw: self,
            hit: false,
        };
        r.visit_expr(e);
        r.hit
    }

    /// A `Const` node for an expression computed as written: literals made
    /// the float type, the user's variables replaced by the values they hold.
    fn opaque(&mut self, e: &Expr) -> NodeId {
        let mut e = e.clone();
        if self.f.generic {
            sugar::convert_expr(&self.f.float, &mut e);
        }
        let inline = is_simple(&e);
        let mut sub = Substitute {
            lw: self,
            reads_locals: false,
        };
        sub.visit_expr_mut(&mut e);
        let inline = inline && !sub.reads_locals;
        let expr = if inline && needs_parens(&e) {
            quote!((#e))
        } else {
            e.to_token_stream()
        };
        self.push(
            Op::Const {
                expr,
                ty: None,
                inline,
            },
            false,
            e.span(),
        )
    }

    fn prim(&mut self, prim: Prim, args: Vec<NodeId>, span: Span) -> NodeId {
        let active = args
            .iter()
            .enumerate()
            .any(|(i, &a)| self.nodes[a].active && rules::flows(prim, i));
        self.push(Op::Prim { prim, args }, active, span)
    }

    /// The value of a scalar expression (a single node).
    fn scalar(&mut self, e: &Expr) -> Option<NodeId> {
        match self.expr(e)? {
            Val::Node(n) => Some(n),
            Val::Tuple(_) => {
                self.cx
                    .error(e, "expected a single float here, not a tuple");
                None
            }
        }
    }

    fn expr(&mut self, e: &Expr) -> Option<Val> {
        if let Expr::Path(p) = e {
            if let Some(v) = p
                .path
                .get_ident()
                .and_then(|id| self.lookup(&id.to_string()))
            {
                return Some(v.clone());
            }
        }
        if !self.touches_active(e) && !has_block(e) {
            return Some(Val::Node(self.opaque(e)));
        }
        match e {
            Expr::Path(_) => Some(Val::Node(self.opaque(e))),
            Expr::Paren(p) => self.expr(&p.expr),
            Expr::Group(g) => self.expr(&g.expr),
            Expr::Block(b) => self.block(&b.block, false),
            Expr::Tuple(t) => t
                .elems
                .iter()
                .map(|e| self.expr(e))
                .collect::<Option<Vec<_>>>()
                .map(Val::Tuple),
            Expr::Binary(b) => self.binary(e, b),
            Expr::Unary(u) => match u.op {
                UnOp::Neg(_) => {
                    let a = self.scalar(&u.expr)?;
                    Some(Val::Node(self.prim(Prim::Neg, vec![a], e.span())))
                }
                UnOp::Not(_) => Some(Val::Node(self.opaque(e))),
                _ => {
                    self.cx.error(u, "dereferencing a differentiated value is not supported; use the value directly");
                    None
                }
            },
            Expr::Assign(a) => {
                let v = self.expr(&a.right)?;
                self.assign(&a.left, v);
                Some(Val::Tuple(vec![]))
            }
            Expr::MethodCall(m) => {
                let name = m.method.to_string();
                let mut args = vec![&*m.receiver];
                args.extend(m.args.iter());
                self.call_method(&m.method, &name, &args, e)
            }
            Expr::Call(c) => self.call(e, c),
            Expr::Field(f) => {
                let base = self.expr(&f.base)?;
                match (&f.member, base) {
                    (syn::Member::Unnamed(i), Val::Tuple(mut parts))
                        if (i.index as usize) < parts.len() =>
                    {
                        Some(parts.swap_remove(i.index as usize))
                    }
                    _ => {
                        self.cx.error(f, "this field does not exist on the value");
                        None
                    }
                }
            }
            Expr::Cast(c) => {
                self.cx.error(
                    c,
                    format_args!(
                        "`as` casts of a differentiated value are not supported: no gradient flows through them; \
                         keep the value as `{}`",
                        self.f.float.to_token_stream()
                    ),
                );
                None
            }
            Expr::Reference(r) => {
                self.cx.error(
                    r,
                    "references to differentiated values are not supported; pass the value itself",
                );
                None
            }
            Expr::Return(r) => {
                self.cx.error(
                    r.return_token,
                    "an early `return` is not supported yet; return the value at the end of the fn",
                );
                None
            }
            Expr::Lit(_) => Some(Val::Node(self.opaque(e))),
            other => {
                self.cx
                    .error(other, "internal error in tapeless: unexpected expression");
                None
            }
        }
    }

    fn binary(&mut self, e: &Expr, b: &syn::ExprBinary) -> Option<Val> {
        let arith = |op: &BinOp| match op {
            BinOp::Add(_) | BinOp::AddAssign(_) => Some(Prim::Add),
            BinOp::Sub(_) | BinOp::SubAssign(_) => Some(Prim::Sub),
            BinOp::Mul(_) | BinOp::MulAssign(_) => Some(Prim::Mul),
            BinOp::Div(_) | BinOp::DivAssign(_) => Some(Prim::Div),
            _ => None,
        };
        let compound = matches!(
            b.op,
            BinOp::AddAssign(_) | BinOp::SubAssign(_) | BinOp::MulAssign(_) | BinOp::DivAssign(_)
        );
        match (arith(&b.op), &b.op) {
            (Some(prim), _) => {
                let l = self.scalar(&b.left);
                let r = self.scalar(&b.right);
                let n = self.prim(prim, vec![l?, r?], e.span());
                if compound {
                    self.assign(&b.left, Val::Node(n));
                    return Some(Val::Tuple(vec![]));
                }
                Some(Val::Node(n))
            }
            (
                None,
                BinOp::Lt(_)
                | BinOp::Le(_)
                | BinOp::Gt(_)
                | BinOp::Ge(_)
                | BinOp::Eq(_)
                | BinOp::Ne(_)
                | BinOp::And(_)
                | BinOp::Or(_),
            ) => Some(Val::Node(self.opaque(e))),
            (None, op) => {
                self.cx.error(
                    op,
                    "this operator is not differentiable; use `+ - * /` or the `Float` methods on differentiated values",
                );
                None
            }
        }
    }

    /// `x = v`: the variable now holds `v`, in the scope that declared it.
    fn assign(&mut self, place: &Expr, v: Val) {
        let Expr::Path(p) = place else { return };
        let Some(id) = p.path.get_ident() else { return };
        let name = id.to_string();
        match self.scopes.iter_mut().rev().find(|s| s.contains_key(&name)) {
            Some(scope) => {
                scope.insert(name, v);
            }
            None => self.cx.error(
                id,
                format_args!(
                    "`{id}` is not a local variable of this fn; declare it with `let mut`"
                ),
            ),
        }
    }

    fn call_method(
        &mut self,
        at: &dyn ToTokens,
        name: &str,
        args: &[&Expr],
        whole: &Expr,
    ) -> Option<Val> {
        match method(name) {
            Some(Method::Prim(prim, arity)) if arity == args.len() => {
                let vals: Vec<Option<NodeId>> = args.iter().map(|a| self.scalar(a)).collect();
                let vals = vals.into_iter().collect::<Option<Vec<_>>>()?;
                Some(Val::Node(self.prim(prim, vals, whole.span())))
            }
            Some(Method::SinCos) if args.len() == 1 => {
                let x = self.scalar(args[0])?;
                let s = self.prim(Prim::Sin, vec![x], whole.span());
                let c = self.prim(Prim::Cos, vec![x], whole.span());
                Some(Val::Tuple(vec![Val::Node(s), Val::Node(c)]))
            }
            Some(Method::Identity) if args.len() == 1 => self.expr(args[0]),
            Some(Method::Predicate) => Some(Val::Node(self.opaque(whole))),
            Some(_) => {
                self.cx.error(
                    at,
                    format_args!("`{name}` takes a different number of arguments"),
                );
                None
            }
            None => {
                self.cx.error(
                    at,
                    format_args!("`{name}` cannot be differentiated: it is not a `Float` method tapeless knows; {METHODS_HINT}"),
                );
                None
            }
        }
    }

    fn call(&mut self, e: &Expr, c: &syn::ExprCall) -> Option<Val> {
        let Expr::Path(func) = &*c.func else {
            return None;
        };
        let path = &func.path;
        let last = path.segments.last()?;
        // `T::exp(x)`, `f64::exp(x)`, `Float::exp(x)`, `<T as Float>::exp(x)`.
        let on_float = func.qself.is_some()
            || (path.segments.len() >= 2 && {
                let owner = &path.segments[path.segments.len() - 2].ident;
                owner == "Float"
                    || crate::parse::same_type(&syn::parse_quote!(#owner), &self.f.float)
            });
        if on_float {
            let args: Vec<&Expr> = c.args.iter().collect();
            return self.call_method(&last.ident, &last.ident.to_string(), &args, e);
        }
        self.cx.error(
            &c.func,
            format_args!(
                "cannot differentiate through `{}`: it is not a `#[differentiable]` fn; \
                 mark it `#[differentiable]`, or {METHODS_HINT}",
                path.to_token_stream().to_string().replace(' ', "")
            ),
        );
        None
    }

    fn check_output(&mut self, v: Val) -> Option<Val> {
        let shape_ok = match (self.f.output, &v) {
            (Output::Scalar, Val::Node(_)) => true,
            (Output::Tuple(n), Val::Tuple(parts)) => {
                parts.len() == n && parts.iter().all(|p| matches!(p, Val::Node(_)))
            }
            _ => false,
        };
        if !shape_ok {
            self.cx.error(
                &self.f.item.sig.output,
                "the returned value does not have the declared shape",
            );
            return None;
        }
        Some(v)
    }
}

/// A node's value in generated code: its local, or an inline constant.
pub(crate) fn node_tokens(node: &Node) -> TokenStream {
    match &node.op {
        Op::Const {
            expr, inline: true, ..
        } => expr.clone(),
        _ => node.ident.to_token_stream(),
    }
}

/// Replaces the user's variables by the tokens of the values they hold.
struct Substitute<'l, 'a, 'f> {
    lw: &'l Lower<'a, 'f>,
    /// The expression reads a variable of the fn (so it is not inlined).
    reads_locals: bool,
}

impl VisitMut for Substitute<'_, '_, '_> {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        if let Expr::Path(p) = e {
            if let Some(v) = p
                .path
                .get_ident()
                .and_then(|id| self.lw.lookup(&id.to_string()))
            {
                // A parameter not shadowed keeps the user's own token.
                self.reads_locals = true;
                if let Val::Node(n) = v {
                    if matches!(self.lw.nodes[*n].op, Op::Param) {
                        return;
                    }
                }
                *e = Expr::Verbatim(self.lw.tokens(v));
                return;
            }
        }
        syn::visit_mut::visit_expr_mut(self, e);
    }
}

/// Literals, paths and calls of them (`T::from(0.5).unwrap()`): cheap
/// enough to write at every use.
fn is_simple(e: &Expr) -> bool {
    match e {
        Expr::Lit(_) | Expr::Path(_) | Expr::Verbatim(_) => true,
        Expr::Paren(p) => is_simple(&p.expr),
        Expr::Unary(u) => matches!(u.op, UnOp::Neg(_)) && is_simple(&u.expr),
        Expr::Call(c) => matches!(&*c.func, Expr::Path(_)) && c.args.iter().all(is_simple),
        Expr::MethodCall(m) => is_simple(&m.receiver) && m.args.iter().all(is_simple),
        _ => false,
    }
}

fn needs_parens(e: &Expr) -> bool {
    !matches!(
        e,
        Expr::Lit(_)
            | Expr::Path(_)
            | Expr::Verbatim(_)
            | Expr::Paren(_)
            | Expr::Call(_)
            | Expr::MethodCall(_)
    )
}

/// Whether a block (with its own scope) is nested in `e`.
fn has_block(e: &Expr) -> bool {
    struct Find(bool);
    impl<'ast> Visit<'ast> for Find {
        fn visit_block(&mut self, _: &'ast Block) {
            self.0 = true;
        }
    }
    let mut f = Find(false);
    f.visit_expr(e);
    f.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Args;
    use syn::{parse_quote, ItemFn};

    fn graph(item: ItemFn) -> Graph {
        let cx = Diagnostics::default();
        let f = crate::parse::function(&cx, &Args::default(), &item).unwrap();
        let g = lower(&cx, &f, &mut Names::default());
        cx.finish().unwrap();
        g.unwrap()
    }

    fn lower_errors(item: ItemFn) -> Vec<String> {
        let cx = Diagnostics::default();
        if let Some(f) = crate::parse::function(&cx, &Args::default(), &item) {
            let _ = lower(&cx, &f, &mut Names::default());
        }
        cx.finish()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    fn prims(g: &Graph) -> Vec<Prim> {
        g.nodes
            .iter()
            .filter_map(|n| match &n.op {
                Op::Prim { prim, .. } => Some(*prim),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn one_node_per_primitive() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: T, y: T, z: T) -> T {
                let q = x + y;
                q * z
            }
        ));
        assert_eq!(prims(&g), [Prim::Add, Prim::Mul]);
        assert_eq!(g.nodes[3].ident.to_string(), "__tl_v_q");
        assert_eq!(g.output, Val::Node(4));
        assert!(g.nodes.iter().all(|n| n.active));
    }

    #[test]
    fn shadowing_and_reassignment_make_new_nodes() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                let mut a = x * x;
                a += x;
                let x = a.exp();
                x
            }
        ));
        assert_eq!(prims(&g), [Prim::Mul, Prim::Add, Prim::Exp]);
        assert_eq!(g.output, Val::Node(g.nodes.len() - 1));
    }

    #[test]
    fn method_and_path_forms_are_one_primitive() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                x.exp() + T::exp(x) + Float::exp(x)
            }
        ));
        assert_eq!(
            prims(&g),
            [Prim::Exp, Prim::Exp, Prim::Add, Prim::Exp, Prim::Add]
        );
    }

    #[test]
    fn constants_are_one_node_and_inactive() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: T, n: usize) -> T {
                let c = T::from(n * 2).unwrap();
                c * x * 2.0
            }
        ));
        let consts: Vec<&Node> = g
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Const { .. }))
            .collect();
        assert_eq!(consts.len(), 2);
        assert!(consts.iter().all(|n| !n.active));
        assert!(matches!(consts[1].op, Op::Const { inline: true, .. }));
    }

    #[test]
    fn wrt_leaves_other_floats_inactive() {
        let item: ItemFn = parse_quote!(
            fn f<T: Float>(x: T, y: T) -> T {
                x * y
            }
        );
        let cx = Diagnostics::default();
        let args = Args {
            wrt: Some(vec![parse_quote!(x)]),
        };
        let f = crate::parse::function(&cx, &args, &item).unwrap();
        let g = lower(&cx, &f, &mut Names::default()).unwrap();
        assert_eq!(
            g.nodes.iter().map(|n| n.active).collect::<Vec<_>>(),
            [true, false, true]
        );
    }

    #[test]
    fn flat_primitives_stop_activity() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                x.floor()
            }
        ));
        assert!(!g.nodes[1].active);
    }

    #[test]
    fn sin_cos_is_a_tuple_of_two_nodes() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                let (s, c) = x.sin_cos();
                s * c
            }
        ));
        assert_eq!(prims(&g), [Prim::Sin, Prim::Cos, Prim::Mul]);
    }

    #[test]
    fn non_differentiable_uses_are_errors() {
        let msgs = lower_errors(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                let a = foo(x);
                let b = x.to_f64();
                x % a
            }
        ));
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert!(msgs[0].contains("`foo`"));
        assert!(msgs[1].contains("`to_f64`"));
    }

    #[test]
    fn comparisons_of_active_values_are_constants() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                let b = x > 0.0;
                x
            }
        ));
        assert!(matches!(&g.nodes[1].op, Op::Const { inline: false, .. }));
        assert!(!g.nodes[1].active);
    }
}
