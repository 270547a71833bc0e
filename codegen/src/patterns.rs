//! Pass 1a, before the checks: `let [a, b, c] = v;` (an array pattern of
//! names, as one unpacks a `[T; 3]`) becomes a read of each element,
//! `let a = v[0]; let b = v[1]; let c = v[2];`, which lowering knows; in a
//! loop's header (`for [a, b] in points.iter()`) the row is named and
//! unpacked so at the top of the body.
//! `*v` and `&v` are read through; any other value is bound to a name
//! first.
//!
//! And `let h = layer(&w, x);`, a call of differentiated values whose
//! result the statements after it use as an array (`h[i]`, `h.iter()`,
//! `h.len()`, `&h`, `for v in &h`), is marked as one (`__tl_array1`, or
//! `__tl_array2` where `h[i][j]` reads rows; parse.rs's `holds` knows the
//! marks): the callee's own type, whatever it is, is kept. One that is only
//! passed on whole to other calls (`let r = rz(a);` then `mm(r, q)`) is
//! `__tl_array0`: a float or an array, the callee says; its gradient only
//! moves between pullbacks (`Whole` in the runtime). Only the
//! generated fns see this; the user's fn is kept as written.
//!
//! And `v.sort_by(cmp);` of a made array is the order the sort puts it in
//! (`__private::order_by`, a constant: `is_order`) and a gather through a
//! copy, `v.reverse();` the gather from the end; `let row = m[i].clone();`
//! of a made matrix the fn changes is a new array filled element by
//! element, and `m[i] = row;` a copy of each element.
//!
//! And `let p = polar(r, th);`, a call of differentiated values whose
//! result the statements after it read only by field (`p.0`, `p.1`), is
//! bound by a tuple pattern of those fields, `let (__tl_p_0, __tl_p_1) =
//! ..`, and the reads are the names.
//!
//! And assignments the graph takes apart: `(a, b) = (b, a + b);` (a
//! destructuring assignment) becomes lets of the values, then one
//! assignment each; `st = step(st, k);`, a whole array the fn made
//! (`let mut st = [x, y];`, `vec![..]`, `.to_vec()`, or a `let` typed as an
//! array) assigned again, becomes a copy of each element of the new value
//! (the length stays the array's).
//!
//! And the ends of an array taken as Rust offers them, `*x.last().unwrap()`,
//! `x.first().copied().unwrap()`, `x.last().unwrap().exp()` (or
//! `.expect(..)`), are its elements `x[x.len() - 1]` and `x[0]`; likewise
//! `x.get(i)` unwrapped is `x[i]`, with `.unwrap_or(d)` (after `.copied()`,
//! or `*x.get(i).unwrap_or(&d)`) it is `if i < x.len() { x[i] } else { d }`,
//! and `if let Some(&v) = x.get(i) { .. }` is `if i < x.len() { let v =
//! x[i]; .. }`.
//!
//! And `v.swap(i, j)` of a made array is an exchange through a temporary;
//! `let m = [[a, b], [c, d]];` (also a block's value) is a zero array and
//! an assignment of each element; `let mut s = s0;` of an owned array
//! parameter (`[T; N]`, `Vec<T>`) makes an array, and a `mut` one may be
//! assigned whole.

use syn::visit_mut::VisitMut;
use syn::{Block, Expr, Pat, Stmt};

/// `body` with its array patterns unpacked and array results of calls
/// marked, or `None` if it has neither. `active` names what may carry a
/// differentiated value (parse's over-estimate).
pub(crate) fn rewrite(
    body: &Block,
    active: &rustc_hash::FxHashSet<String>,
    owned: &rustc_hash::FxHashMap<String, bool>,
) -> Option<Block> {
    let mut body = body.clone();
    let Made { arrays, matrices } = made(&body, owned);
    let mut u = Unpack {
        count: 0,
        active: active.clone(),
        changed: false,
        mappable: mappable(&arrays, owned),
        arrays,
        matrices,
        written: crate::parse::written_names(&body),
        loop_items: Vec::new(),
    };
    u.visit_block_mut(&mut body);
    u.changed.then_some(body)
}

/// A `let` of a call's result to a plain name, without a type.
fn untyped_call(s: &Stmt) -> Option<(&syn::PatIdent, &syn::ExprCall)> {
    let Stmt::Local(l) = s else { return None };
    let Pat::Ident(pi) = &l.pat else { return None };
    let init = l.init.as_ref()?;
    if init.diverge.is_some() || pi.subpat.is_some() || pi.by_ref.is_some() {
        return None;
    }
    let Expr::Call(c) = &*init.expr else {
        return None;
    };
    // A fn (`layer`, `nn::layer`), not a tuple struct or `T::from`.
    user_fn(&c.func).then_some((pi, c))
}

/// How deep the statements use `name` as an array: 2 for `name[i][j]`, 1
/// for `name[i]`, `name.iter()`, `name.len()`, `&name`; `None` if not.
fn array_use<'s>(
    stmts: impl IntoIterator<Item = &'s Stmt>,
    name: &proc_macro2::Ident,
) -> Option<usize> {
    struct Find<'n> {
        name: &'n proc_macro2::Ident,
        depth: Option<usize>,
        /// Reads of the name, and those that pass it whole to a call.
        reads: usize,
        passed: usize,
    }
    impl Find<'_> {
        fn is_name(&self, e: &Expr) -> bool {
            matches!(e, Expr::Path(p) if p.path.is_ident(self.name))
        }
        fn saw(&mut self, d: usize) {
            self.depth = Some(self.depth.map_or(d, |k| k.max(d)));
        }
    }
    impl<'ast> syn::visit::Visit<'ast> for Find<'_> {
        fn visit_expr(&mut self, e: &'ast Expr) {
            match e {
                Expr::Index(i) => {
                    if let Expr::Index(inner) = &*i.expr {
                        if self.is_name(&inner.expr) {
                            self.saw(2);
                        }
                    }
                    if self.is_name(&i.expr) {
                        self.saw(1);
                    }
                }
                // `r.iter().flatten()`: walked as rows.
                Expr::MethodCall(m)
                    if m.method == "flatten"
                        && matches!(&*m.receiver, Expr::MethodCall(inner)
                            if inner.method == "iter" && self.is_name(&inner.receiver)) =>
                {
                    self.saw(2)
                }
                Expr::MethodCall(m) if self.is_name(&m.receiver) => {
                    const ARRAY: &[&str] = &[
                        "iter",
                        "iter_mut",
                        "len",
                        "is_empty",
                        "to_vec",
                        "windows",
                        "chunks_exact",
                        "chunks",
                        "first",
                        "last",
                        "get",
                    ];
                    if ARRAY.contains(&m.method.to_string().as_str()) {
                        self.saw(1);
                    }
                }
                Expr::Reference(r) if self.is_name(&r.expr) => self.saw(1),
                Expr::ForLoop(f) if self.is_name(&f.expr) => self.saw(1),
                Expr::Path(_) if self.is_name(e) => self.reads += 1,
                Expr::Call(c) if user_fn(&c.func) => {
                    self.passed += c.args.iter().filter(|a| self.is_name(a)).count();
                }
                _ => {}
            }
            syn::visit::visit_expr(self, e);
        }
    }
    let mut f = Find {
        name,
        depth: None,
        reads: 0,
        passed: 0,
    };
    for s in stmts {
        // A new `let` of the name ends the search (the old value is gone).
        if let Stmt::Local(l) = s {
            if crate::parse::bindings(&l.pat).contains(&name.to_string()) {
                if let Some(init) = &l.init {
                    syn::visit::Visit::visit_expr(&mut f, &init.expr);
                }
                break;
            }
        }
        syn::visit::Visit::visit_stmt(&mut f, s);
    }
    // Only passed on whole to calls: an array or a float, the callee's type
    // says (`0`, see `Whole` in the runtime).
    f.depth
        .or((f.reads > 0 && f.reads == f.passed).then_some(0))
}

/// Whether a call's callee is a fn of the user's or the toolkit's (`f`,
/// `f::<T>`, `tapeless::matmul`, `crate::nn::layer`: a lower-case name),
/// not a method of the float type (`T::exp`, `Float::max`, `f64::sqrt`,
/// `<T as Float>::ln`), a tuple struct or a variant (`Some(x)`).
pub(crate) fn user_fn(func: &Expr) -> bool {
    let Expr::Path(p) = crate::parse::strip_parens(func) else {
        return false;
    };
    let segs = &p.path.segments;
    let named = segs.last().is_some_and(|s| {
        s.ident
            .to_string()
            .starts_with(|c: char| c.is_lowercase() || c == '_')
    });
    if p.qself.is_some() || !named {
        return false;
    }
    if segs.len() < 2 {
        return true;
    }
    let owner = segs[segs.len() - 2].ident.to_string();
    // An associated fn of a user's type (`Self::f`, `Model::f`: see
    // impls.rs), not the float type's (`T::exp`, `F::from`, `Float::max`)
    // or a standard type's (`Vec::with_capacity`).
    if owner.starts_with(|c: char| c.is_ascii_uppercase()) {
        return crate::impls::user_type(&owner);
    }
    !(owner == "f32" || owner == "f64")
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

/// Whether `body` has an array pattern (in a `let` or a loop's header), an
/// untyped `let` of a call, an assignment this pass takes apart, or an end
/// of an array (so that the common case costs no copy of the body).
pub(crate) fn any(body: &Block, owned: &rustc_hash::FxHashMap<String, bool>) -> bool {
    struct Find(
        bool,
        rustc_hash::FxHashSet<String>,
        rustc_hash::FxHashSet<String>,
        rustc_hash::FxHashSet<String>,
    );
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_stmt(&mut self, s: &'ast Stmt) {
            self.0 |= unpacks(s)
                || untyped_call(s).is_some()
                || array_map(s, &self.2).is_some()
                || matches!(s, Stmt::Expr(Expr::Array(a), None)
                    if a.elems.iter().any(|e| matches!(e, Expr::Array(_))))
                || whole_assignment(s, &self.1)
                || whole_assignment(s, &self.3)
                || row_assigned(s, &self.3).is_some()
                || row_bound(s, &self.3)
                || tuple_literal(s).is_some_and(|(pi, _)| pi.mutability.is_some())
                || matrix_literal(s).is_some();
            syn::visit::visit_stmt(self, s);
        }
        fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
            self.0 |= user_fn(&c.func) && c.args.iter().any(|a| nested_call(a).is_some());
            self.0 |= matches!(&*c.func, Expr::Path(f) if f.path.segments.last().is_some_and(|s| s.ident == "from_fn"));
            syn::visit::visit_expr_call(self, c);
        }
        fn visit_expr_index(&mut self, i: &'ast syn::ExprIndex) {
            self.0 |= nested_call(&i.expr).is_some();
            syn::visit::visit_expr_index(self, i);
        }
        fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
            self.0 |= nested_call(&m.receiver).is_some();
            self.0 |= [
                "first",
                "last",
                "get",
                "swap",
                "sort_by",
                "sort_unstable_by",
                "reverse",
                "split_at",
            ]
            .iter()
            .any(|n| m.method == n);
            // A row copied (`m[i].to_vec()`, `row.to_vec()` of a loop's
            // row): see `Unpack::row_copy`.
            self.0 |= ["to_vec", "clone", "to_owned"]
                .iter()
                .any(|n| m.method == n)
                && matches!(
                    crate::parse::strip_parens(&m.receiver),
                    Expr::Index(_) | Expr::Path(_)
                );
            syn::visit::visit_expr_method_call(self, m);
        }
        fn visit_expr_for_loop(&mut self, f: &'ast syn::ExprForLoop) {
            let pat = match &*f.pat {
                Pat::Reference(r) => &*r.pat,
                p => p,
            };
            self.0 |= names(pat).is_some() || nested_call(&f.expr).is_some();
            syn::visit::visit_expr_for_loop(self, f);
        }
    }
    let Made { arrays, matrices } = made(body, owned);
    let maps = mappable(&arrays, owned);
    let mut f = Find(false, arrays, maps, matrices);
    syn::visit::visit_block(&mut f, body);
    f.0
}

struct Unpack {
    count: usize,
    /// What may carry a differentiated value, and the names bound to calls
    /// passed to calls (`hoist`).
    active: rustc_hash::FxHashSet<String>,
    changed: bool,
    /// Names every `let` of which makes a one-dimensional array.
    arrays: rustc_hash::FxHashSet<String>,
    /// Those and the owned array parameters: `x.map(..)` makes an array.
    mappable: rustc_hash::FxHashSet<String>,
    /// Names every `let` of which makes a two-dimensional array.
    matrices: rustc_hash::FxHashSet<String>,
    /// The names the body changes ([`crate::parse::written_names`]).
    written: rustc_hash::FxHashSet<String>,
    /// The names the enclosing `for` loops bind (their items).
    loop_items: Vec<String>,
}

/// The names of one-dimensional arrays held by value: [`made`]'s and
/// the owned array parameters.
fn mappable(
    made: &rustc_hash::FxHashSet<String>,
    owned: &rustc_hash::FxHashMap<String, bool>,
) -> rustc_hash::FxHashSet<String> {
    let mut names = made.clone();
    names.extend(owned.keys().cloned());
    names
}

/// The arrays the body's `let`s make, by name: of one dimension (`[x, y]`,
/// `[x; 3]`, `vec![..]`, `.to_vec()`, a copy of an owned array parameter in
/// `owned` or of an array made before, a `[T; N]` or `Vec<T>` type), with
/// the `mut` parameters in `owned`; and of two (`[[x; N]; M]`,
/// `vec![vec![x; n]; m]`, a `[[T; N]; M]` or `Vec<Vec<T>>` type). A name
/// also bound to anything else is in neither.
struct Made {
    arrays: rustc_hash::FxHashSet<String>,
    matrices: rustc_hash::FxHashSet<String>,
}

fn made(body: &Block, owned: &rustc_hash::FxHashMap<String, bool>) -> Made {
    struct Find<'a> {
        made: Made,
        others: rustc_hash::FxHashSet<String>,
        owned: &'a rustc_hash::FxHashMap<String, bool>,
    }
    /// How many dimensions a type of nested arrays or `Vec`s has.
    fn type_depth(ty: &syn::Type) -> usize {
        match ty {
            syn::Type::Array(a) => 1 + type_depth(&a.elem),
            syn::Type::Paren(p) => type_depth(&p.elem),
            syn::Type::Path(p) => match p.path.segments.last() {
                Some(s) if s.ident == "Vec" => match &s.arguments {
                    syn::PathArguments::AngleBracketed(a) => match a.args.first() {
                        Some(syn::GenericArgument::Type(t)) => 1 + type_depth(t),
                        _ => 1,
                    },
                    _ => 1,
                },
                _ => 0,
            },
            _ => 0,
        }
    }
    /// How many dimensions an array the expression makes has (0: none).
    fn made_depth(e: &Expr) -> usize {
        // The element of a repeat, `[x; N]` or `vec![x; n]`.
        let repeated = |x: &Expr| match made_depth(x) {
            0 if !matches!(x, Expr::Array(_)) => 1,
            0 => 0,
            d => d + 1,
        };
        match crate::parse::strip_parens(e) {
            // `[[a, b], [c, d]]`: rows, each a literal of one dimension.
            Expr::Array(a)
                if !a.elems.is_empty()
                    && a.elems.iter().all(|e| {
                        matches!(crate::parse::strip_parens(e), Expr::Array(_))
                            && made_depth(e) == 1
                    }) =>
            {
                2
            }
            Expr::Array(a) => usize::from(
                !a.elems
                    .iter()
                    .any(|e| matches!(e, Expr::Array(_) | Expr::Repeat(_))),
            ),
            Expr::Repeat(r) => repeated(&r.expr),
            Expr::Macro(m) if m.mac.path.is_ident("vec") => match crate::parse::parse_vec(&m.mac) {
                Ok(crate::parse::VecMacro::Repeat(x, _)) => repeated(&x),
                Ok(crate::parse::VecMacro::Elems(es)) => usize::from(
                    !es.iter()
                        .any(|e| made_depth(e) > 0 || matches!(e, Expr::Array(_))),
                ),
                Err(_) => 0,
            },
            Expr::MethodCall(m) => usize::from(m.method == "to_vec" && m.args.is_empty()),
            _ => 0,
        }
    }
    impl<'ast> syn::visit::Visit<'ast> for Find<'_> {
        fn visit_local(&mut self, l: &'ast syn::Local) {
            let (pat, ty) = match &l.pat {
                Pat::Type(t) => (&*t.pat, Some(&*t.ty)),
                p => (p, None),
            };
            let depth = ty.map(type_depth).unwrap_or_else(|| {
                l.init
                    .as_ref()
                    .map_or(0, |i| match crate::parse::strip_parens(&i.expr) {
                        // A copy of an owned parameter or of an array made
                        // before (`let mut w = a;`).
                        Expr::Path(p) => usize::from(p.path.get_ident().is_some_and(|n| {
                            let n = n.to_string();
                            self.owned.contains_key(&n) || self.made.arrays.contains(&n)
                        })),
                        e => made_depth(e),
                    })
            });
            match (pat, depth) {
                (Pat::Ident(pi), 1) => {
                    self.made.arrays.insert(pi.ident.to_string());
                }
                (Pat::Ident(pi), 2) => {
                    self.made.matrices.insert(pi.ident.to_string());
                }
                (p, _) => self.others.extend(crate::parse::bindings(p)),
            }
            syn::visit::visit_local(self, l);
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut f = Find {
        made: Made {
            // A `mut` parameter is assigned as the array it holds.
            arrays: owned
                .iter()
                .filter(|&(_, &m)| m)
                .map(|(n, _)| n.clone())
                .collect(),
            matrices: Default::default(),
        },
        others: Default::default(),
        owned,
    };
    syn::visit::visit_block(&mut f, body);
    let Find {
        mut made, others, ..
    } = f;
    made.arrays.retain(|n| !others.contains(n));
    made.matrices.retain(|n| !others.contains(n));
    made
}

/// Whether `s` assigns a tuple of places (`(a, b) = ..;`) or a name in
/// `arrays` as a whole.
fn whole_assignment(s: &Stmt, arrays: &rustc_hash::FxHashSet<String>) -> bool {
    if swap(s, arrays).is_some() {
        return true;
    }
    let Stmt::Expr(Expr::Assign(a), Some(_)) = s else {
        return false;
    };
    match &*a.left {
        Expr::Tuple(_) => true,
        Expr::Path(p) => p
            .path
            .get_ident()
            .is_some_and(|i| arrays.contains(&i.to_string())),
        _ => false,
    }
}

/// `v.swap(i, j);` of a name in `arrays`: the name and the two indices.
fn swap<'a>(
    s: &'a Stmt,
    arrays: &rustc_hash::FxHashSet<String>,
) -> Option<(&'a syn::Ident, &'a Expr, &'a Expr)> {
    let Stmt::Expr(Expr::MethodCall(m), Some(_)) = s else {
        return None;
    };
    let Expr::Path(p) = &*m.receiver else {
        return None;
    };
    let name = p.path.get_ident()?;
    if m.method != "swap" || m.args.len() != 2 || !arrays.contains(&name.to_string()) {
        return None;
    }
    Some((name, &m.args[0], &m.args[1]))
}

impl Unpack {
    /// `(a, b) = (b, a + b);` as `let`s of the values, then the
    /// assignments; `st = step(st, k);` of a made array as the new value,
    /// then a copy of each element. `false` if `s` is neither.
    fn assignment(&mut self, s: &Stmt, out: &mut Vec<Stmt>) -> bool {
        if !whole_assignment(s, &self.arrays) && !whole_assignment(s, &self.matrices) {
            return false;
        }
        // `v.swap(i, j);`: the two elements exchanged through a temporary.
        if let Some((name, i, j)) = swap(s, &self.arrays) {
            if !self.active.contains(&name.to_string()) {
                return false;
            }
            let c = self.count;
            self.count += 1;
            let span = name.span();
            let (ti, tj, t) = (
                quote::format_ident!("__tl_swap{}_i", c, span = span),
                quote::format_ident!("__tl_swap{}_j", c, span = span),
                quote::format_ident!("__tl_swap{}", c, span = span),
            );
            out.push(syn::parse_quote_spanned!(span=> let #ti: usize = #i;));
            out.push(syn::parse_quote_spanned!(span=> let #tj: usize = #j;));
            out.push(syn::parse_quote_spanned!(span=> let #t = #name[#ti];));
            out.push(syn::parse_quote_spanned!(span=> #name[#ti] = #name[#tj];));
            out.push(syn::parse_quote_spanned!(span=> #name[#tj] = #t;));
            self.changed = true;
            return true;
        }
        let Stmt::Expr(Expr::Assign(a), Some(_)) = s else {
            return false;
        };
        let c = self.count;
        let span = syn::spanned::Spanned::span(&a.left);
        match &*a.left {
            Expr::Tuple(t) => {
                let temps: Vec<proc_macro2::Ident> = (0..t.elems.len())
                    .map(|i| quote::format_ident!("__tl_tuple{}_{}", c, i, span = span))
                    .collect();
                match crate::parse::strip_parens(&a.right) {
                    Expr::Tuple(r) if r.elems.len() == t.elems.len() => {
                        for (tmp, e) in temps.iter().zip(&r.elems) {
                            out.push(syn::parse_quote_spanned!(span=> let #tmp = #e;));
                        }
                    }
                    right => {
                        out.push(syn::parse_quote_spanned!(span=> let (#(#temps,)*) = #right;))
                    }
                }
                self.count += 1;
                for (place, tmp) in t.elems.iter().zip(&temps) {
                    if matches!(place, Expr::Infer(_)) {
                        continue;
                    }
                    let st: Stmt = syn::parse_quote_spanned!(span=> #place = #tmp;);
                    if !self.assignment(&st, out) {
                        out.push(st);
                    }
                }
            }
            Expr::Path(p) => {
                let Some(name) = p.path.get_ident() else {
                    return false;
                };
                if !self.active.contains(&name.to_string()) {
                    return false;
                }
                let matrix = self.matrices.contains(&name.to_string());
                let right = &a.right;
                let src: Expr = match crate::parse::strip_parens(right) {
                    Expr::Path(src) => Expr::Path(src.clone()),
                    value => {
                        let tmp = quote::format_ident!("__tl_whole{}", c, span = span);
                        let bind: Stmt = match value {
                            // A call's result: an array (patterns' mark).
                            Expr::Call(_) if matrix => {
                                syn::parse_quote_spanned!(span=> let #tmp: __tl_array2 = #value;)
                            }
                            Expr::Call(_) => {
                                syn::parse_quote_spanned!(span=> let #tmp: __tl_array1 = #value;)
                            }
                            _ => syn::parse_quote_spanned!(span=> let #tmp = #value;),
                        };
                        // `a = w.map(|v| ..);`: the map written out too,
                        // as a two-dimensional literal is.
                        if !self.mapped(&bind, out) && !self.matrix(&bind, out) {
                            out.push(bind);
                        }
                        syn::parse_quote!(#tmp)
                    }
                };
                self.count += 1;
                let i = quote::format_ident!("__tl_i{}", c, span = span);
                let j = quote::format_ident!("__tl_j{}", c, span = span);
                out.push(match matrix {
                    true => syn::parse_quote_spanned!(span=>
                        for #i in 0..#name.len() {
                            for #j in 0..#name[#i].len() {
                                #name[#i][#j] = #src[#i][#j];
                            }
                        }
                    ),
                    false => syn::parse_quote_spanned!(span=>
                        for #i in 0..#name.len() {
                            #name[#i] = #src[#i];
                        }
                    ),
                });
            }
            _ => return false,
        }
        self.changed = true;
        true
    }
}

/// `let m = [[a, b], [c, d]];`: the name, its type if written, and the
/// rows of a two-dimensional array literal (rows of one length, at least
/// one element, of elements that are not arrays).
fn matrix_literal(s: &Stmt) -> Option<(&syn::PatIdent, Option<&syn::Type>, Vec<&syn::ExprArray>)> {
    let Stmt::Local(l) = s else { return None };
    let (pat, ty) = match &l.pat {
        Pat::Type(t) => (&*t.pat, Some(&*t.ty)),
        p => (p, None),
    };
    let Pat::Ident(pi) = pat else { return None };
    let init = l.init.as_ref().filter(|i| i.diverge.is_none())?;
    let Expr::Array(outer) = crate::parse::strip_parens(&init.expr) else {
        return None;
    };
    let rows: Vec<&syn::ExprArray> = outer
        .elems
        .iter()
        .map(|e| match crate::parse::strip_parens(e) {
            Expr::Array(r) => Some(r),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let cols = rows.first()?.elems.len();
    let flat = rows.iter().all(|r| {
        r.elems.len() == cols
            && r.elems.iter().all(|e| {
                !matches!(
                    crate::parse::strip_parens(e),
                    Expr::Array(_) | Expr::Repeat(_)
                )
            })
    });
    (flat && cols > 0 && pi.by_ref.is_none() && pi.subpat.is_none()).then_some((pi, ty, rows))
}

/// `let y = x.map(|v| ..);` of an array `x` in `arrays`: the `let`'s
/// pattern, `x`, the closure's parameter and its body.
fn array_map<'a>(
    s: &'a Stmt,
    arrays: &rustc_hash::FxHashSet<String>,
) -> Option<(&'a Pat, &'a syn::Ident, &'a Pat, &'a Expr)> {
    let Stmt::Local(l) = s else { return None };
    let init = l.init.as_ref().filter(|i| i.diverge.is_none())?;
    let Expr::MethodCall(m) = crate::parse::strip_parens(&init.expr) else {
        return None;
    };
    let Expr::Path(p) = crate::parse::strip_parens(&m.receiver) else {
        return None;
    };
    let x = p.path.get_ident()?;
    let Some(Expr::Closure(c)) = m.args.first() else {
        return None;
    };
    let name_only = match &l.pat {
        Pat::Ident(pi) => pi.by_ref.is_none() && pi.subpat.is_none(),
        Pat::Type(t) => matches!(&*t.pat, Pat::Ident(_)),
        _ => false,
    };
    (m.method == "map"
        && m.args.len() == 1
        && c.inputs.len() == 1
        && c.asyncness.is_none()
        && name_only
        && arrays.contains(&x.to_string()))
    .then(|| (&l.pat, x, &c.inputs[0], &*c.body))
}

impl Unpack {
    /// `let p = polar(r, th);` of differentiated values, the statements
    /// after it reading `p` only by field (`p.0`, `p.1`), as `let (__tl_p_0,
    /// __tl_p_1) = polar(r, th);` and those reads as the names, which
    /// lowering knows (a tuple pattern of a call); unread fields before the
    /// last read are `_`. Up to a `let` that binds `p` again; any other use
    /// of `p` (passed on whole, in a macro, bound again in a nested block)
    /// leaves the statements as written.
    fn fields(&mut self, stmts: &mut [Stmt], k: usize, later: &[usize]) {
        // A call's tuple (its length unknown), or a tuple literal whose
        // fields the fn assigns (`s.0 = ..`; lowering reads a literal's
        // fields itself).
        let (pi, arity) = match untyped_call(&stmts[k]) {
            Some((pi, call))
                if call
                    .args
                    .iter()
                    .any(|a| crate::parse::mentions_name(a, &self.active)) =>
            {
                (pi, None)
            }
            Some(_) => return,
            None => match tuple_literal(&stmts[k]) {
                Some((pi, n)) if pi.mutability.is_some() => (pi, Some(n)),
                _ => return,
            },
        };
        let name = pi.ident.clone();
        let mutability = pi.mutability;
        // The statements that see this binding (of those after it that
        // mention the name, `later`): up to the next `let` of the name, and
        // that one's value.
        let rebind = later.iter().copied().find(|&j| {
            matches!(&stmts[j], Stmt::Local(l)
                if crate::parse::bindings(&l.pat).contains(&name.to_string()))
        });
        let end = rebind.unwrap_or(stmts.len());
        let seen: Vec<usize> = later.iter().copied().filter(|&j| j < end).collect();
        let mut reads = Fields {
            name: &name,
            used: Vec::new(),
            other: false,
            assigned: false,
        };
        for &j in &seen {
            syn::visit::Visit::visit_stmt(&mut reads, &stmts[j]);
        }
        if let Some(Stmt::Local(l)) = rebind.map(|j| &stmts[j]) {
            if let Some(init) = &l.init {
                syn::visit::Visit::visit_expr(&mut reads, &init.expr);
            }
        }
        let Fields {
            mut used,
            other,
            assigned,
            ..
        } = reads;
        if other || used.is_empty() {
            return;
        }
        if let Some(n) = arity {
            if !assigned || used.len() > n {
                return;
            }
            used.resize(n, false);
        }
        let span = name.span();
        let field = |i: usize| quote::format_ident!("__tl_{}_{}", name, i, span = span);
        let elems = used.iter().enumerate().map(|(i, &u)| -> Pat {
            match u {
                true => {
                    let f = field(i);
                    syn::parse_quote_spanned!(span=> #mutability #f)
                }
                false => syn::parse_quote_spanned!(span=> _),
            }
        });
        // A call's tuple may have fields after the last one read: `..`.
        let pat: Pat = match (arity, used.len()) {
            (None, _) => syn::parse_quote_spanned!(span=> (#(#elems,)* ..)),
            (Some(_), 1) => syn::parse_quote_spanned!(span=> (#(#elems,)*)),
            (Some(_), _) => syn::parse_quote_spanned!(span=> (#(#elems),*)),
        };
        if let Stmt::Local(l) = &mut stmts[k] {
            l.pat = pat;
        }
        self.active.extend(
            used.iter()
                .enumerate()
                .filter(|&(_, &u)| u)
                .map(|(i, _)| field(i).to_string()),
        );
        let mut rename = Rename {
            name: &name,
            field: &field,
            used: &used,
        };
        for &j in &seen {
            rename.visit_stmt_mut(&mut stmts[j]);
        }
        if let Some(Stmt::Local(l)) = rebind.map(|j| &mut stmts[j]) {
            if let Some(init) = &mut l.init {
                rename.visit_expr_mut(&mut init.expr);
            }
        }
        self.changed = true;
    }

    /// `let row = m[i].to_vec();` (or `.clone()`, `.to_owned()`, or `m[i]`
    /// of an array of arrays; `mut` or
    /// not) of a row of a matrix the fn made, where the fn may change the
    /// matrix or the copy: a new array with the row's elements, copied one
    /// by one, which lowering knows (a copy that read the row itself would
    /// see the matrix's later writes, and lowering copies whole arrays
    /// only). `false` if `s` is not such a `let`.
    fn row_copy(&mut self, s: &Stmt, out: &mut Vec<Stmt>) -> bool {
        let Stmt::Local(l) = s else { return false };
        let Some(init) = l.init.as_ref().filter(|i| i.diverge.is_none()) else {
            return false;
        };
        let pat = match &l.pat {
            Pat::Type(t) => &*t.pat,
            p => p,
        };
        let Pat::Ident(pi) = pat else { return false };
        if pi.subpat.is_some() || pi.by_ref.is_some() {
            return false;
        }
        // `m[i].to_vec()`, or `m[i]` itself (a copy of an `[T; N]` row).
        let (row, method) = match crate::parse::strip_parens(&init.expr) {
            Expr::MethodCall(m)
                if m.args.is_empty()
                    && ["to_vec", "clone", "to_owned"]
                        .iter()
                        .any(|n| m.method == n) =>
            {
                (&*m.receiver, true)
            }
            e @ Expr::Index(_) => (e, false),
            _ => return false,
        };
        let span = pi.ident.span();
        let (source, at): (Expr, Option<&Expr>) = match crate::parse::strip_parens(row) {
            Expr::Index(ix) => match crate::parse::strip_parens(&ix.expr) {
                Expr::Path(p) => {
                    let Some(key) = p.path.get_ident().map(|i| i.to_string()) else {
                        return false;
                    };
                    let made = self.matrices.contains(&key);
                    // A made matrix's row where the fn changes the matrix
                    // or the copy; any other differentiated row (a
                    // parameter's, `w[i]`) copied into a `mut` variable.
                    let wanted = match made {
                        true => pi.mutability.is_some() || self.written.contains(&key),
                        false => pi.mutability.is_some() && method,
                    };
                    if !self.active.contains(&key) || !wanted {
                        return false;
                    }
                    ((*ix.expr).clone(), Some(&*ix.index))
                }
                _ => return false,
            },
            // A row a loop walks (`for row in data`), copied into a `mut`
            // variable.
            Expr::Path(p)
                if method
                    && pi.mutability.is_some()
                    && p.path.get_ident().is_some_and(|i| {
                        let i = i.to_string();
                        self.loop_items.contains(&i) && self.active.contains(&i)
                    }) =>
            {
                (Expr::Path(p.clone()), None)
            }
            _ => return false,
        };
        let c = self.count;
        self.count += 1;
        let name = &pi.ident;
        let k = quote::format_ident!("__tl_k{}", c, span = span);
        let place: Expr = match at {
            Some(index) => {
                let r = quote::format_ident!("__tl_row{}", c, span = span);
                out.push(syn::parse_quote_spanned!(span=> let #r: usize = #index;));
                syn::parse_quote_spanned!(span=> #source[#r])
            }
            None => source,
        };
        out.push(syn::parse_quote_spanned!(span=>
            let mut #name = vec![0.0; #place.len()];
        ));
        out.push(syn::parse_quote_spanned!(span=>
            for #k in 0..#place.len() {
                #name[#k] = #place[#k];
            }
        ));
        self.changed = true;
        true
    }

    /// `m[i] = row;` of a matrix the fn made: the new row bound first
    /// (`m[j].clone()` as [`Self::row_copy`] copies it), then copied in
    /// element by element, `for k in 0..m[i].len() { m[i][k] = row[k]; }`
    /// (a row swap through a temporary, as Gaussian elimination pivots).
    /// `false` if `s` is not such an assignment.
    fn row_assignment(&mut self, s: &Stmt, out: &mut Vec<Stmt>) -> bool {
        let Some((matrix, index, value)) = row_assigned(s, &self.matrices) else {
            return false;
        };
        if !self.active.contains(&matrix.to_string()) {
            return false;
        }
        let c = self.count;
        self.count += 1;
        let span = matrix.span();
        let (at, row, k) = (
            quote::format_ident!("__tl_at{}", c, span = span),
            quote::format_ident!("__tl_new_row{}", c, span = span),
            quote::format_ident!("__tl_k{}", c, span = span),
        );
        out.push(syn::parse_quote_spanned!(span=> let #at: usize = #index;));
        let call = matches!(crate::parse::strip_parens(value), Expr::Call(c) if user_fn(&c.func));
        let bind: Stmt = match call {
            true => syn::parse_quote_spanned!(span=> let #row: __tl_array1 = #value;),
            false => syn::parse_quote_spanned!(span=> let #row = #value;),
        };
        if !self.row_copy(&bind, out) {
            out.push(bind);
        }
        out.push(syn::parse_quote_spanned!(span=>
            for #k in 0..#matrix[#at].len() {
                #matrix[#at][#k] = #row[#k];
            }
        ));
        self.changed = true;
        true
    }

    /// `let (w, b) = p.split_at(k);` as the two slices, `let w =
    /// &p[..k]; let b = &p[k..];`, which lowering knows (a flat parameter
    /// vector cut into its parts). `false` if `s` is not such a `let`.
    fn split(&mut self, s: &Stmt, out: &mut Vec<Stmt>) -> bool {
        let Stmt::Local(l) = s else { return false };
        let Some(init) = l.init.as_ref().filter(|i| i.diverge.is_none()) else {
            return false;
        };
        let Pat::Tuple(t) = &l.pat else { return false };
        let plain = |p: &Pat| match p {
            Pat::Ident(pi) => pi.subpat.is_none() && pi.by_ref.is_none() && pi.mutability.is_none(),
            Pat::Wild(_) => true,
            _ => false,
        };
        if t.elems.len() != 2 || !t.elems.iter().all(plain) {
            return false;
        }
        let Expr::MethodCall(m) = crate::parse::strip_parens(&init.expr) else {
            return false;
        };
        if m.method != "split_at" || m.args.len() != 1 {
            return false;
        }
        let mut base = crate::parse::strip_parens(&m.receiver);
        if let Expr::Reference(r) = base {
            base = crate::parse::strip_parens(&r.expr);
        }
        if !matches!(base, Expr::Path(_) | Expr::Field(_) | Expr::Index(_))
            || !crate::parse::mentions_name(base, &self.active)
        {
            return false;
        }
        let c = self.count;
        self.count += 1;
        let span = m.method.span();
        let at = quote::format_ident!("__tl_split{}", c, span = span);
        let k = &m.args[0];
        out.push(syn::parse_quote_spanned!(span=> let #at: usize = #k;));
        let (head, tail) = (&t.elems[0], &t.elems[1]);
        if !matches!(head, Pat::Wild(_)) {
            out.push(syn::parse_quote_spanned!(span=> let #head = &#base[..#at];));
        }
        if !matches!(tail, Pat::Wild(_)) {
            out.push(syn::parse_quote_spanned!(span=> let #tail = &#base[#at..];));
        }
        self.changed = true;
        true
    }

    /// `v.sort_by(compare);` (or `sort_unstable_by`) of an array the fn
    /// made, as the order the sort puts its elements in, a constant
    /// (`__tl::order_by(&v, compare)`: the indices sorted by the same
    /// comparison, stably), and a gather through a copy, which lowering
    /// knows: `let src = v.to_vec(); for k in 0..v.len() { v[k] =
    /// src[order[k]]; }`. Each element's gradient goes back to where it
    /// came from. `v.reverse();` is the gather from the other end. `false`
    /// if `s` is neither.
    fn sorted(&mut self, s: &Stmt, out: &mut Vec<Stmt>) -> bool {
        let Stmt::Expr(Expr::MethodCall(m), Some(_)) = s else {
            return false;
        };
        let Expr::Path(p) = crate::parse::strip_parens(&m.receiver) else {
            return false;
        };
        let Some(name) = p.path.get_ident() else {
            return false;
        };
        let method = m.method.to_string();
        let sort = matches!(method.as_str(), "sort_by" | "sort_unstable_by") && m.args.len() == 1;
        let reverse = method == "reverse" && m.args.is_empty();
        if !(sort || reverse)
            || !self.arrays.contains(&name.to_string())
            || !self.active.contains(&name.to_string())
        {
            return false;
        }
        let c = self.count;
        self.count += 1;
        let span = m.method.span();
        let (src, k) = (
            quote::format_ident!("__tl_unsorted{}", c, span = span),
            quote::format_ident!("__tl_k{}", c, span = span),
        );
        out.push(syn::parse_quote_spanned!(span=> let #src = #name.to_vec();));
        if sort {
            let order = quote::format_ident!("__tl_order{}", c, span = span);
            let compare = &m.args[0];
            out.push(syn::parse_quote_spanned!(span=>
                let #order = ::tapeless::__private::order_by(&#name, #compare);
            ));
            out.push(syn::parse_quote_spanned!(span=>
                for #k in 0..#name.len() {
                    #name[#k] = #src[#order[#k]];
                }
            ));
        } else {
            out.push(syn::parse_quote_spanned!(span=>
                for #k in 0..#name.len() {
                    #name[#k] = #src[#name.len() - 1 - #k];
                }
            ));
        }
        self.changed = true;
        true
    }

    /// `let v: [T; N] = std::array::from_fn(|i| f(i));` as a zero array
    /// and a loop assigning `v[i] = f(i)`, which lowering knows. `false` if
    /// `s` is not such a `let` (its type written, one dimension).
    fn made_by_index(&mut self, s: &Stmt, out: &mut Vec<Stmt>) -> bool {
        let Stmt::Local(l) = s else { return false };
        let (Pat::Type(pt), Some(init)) = (&l.pat, &l.init) else {
            return false;
        };
        let (Pat::Ident(pi), syn::Type::Array(arr)) = (&*pt.pat, &*pt.ty) else {
            return false;
        };
        if init.diverge.is_some()
            || pi.subpat.is_some()
            || matches!(&*arr.elem, syn::Type::Array(_))
        {
            return false;
        }
        let Expr::Call(c) = crate::parse::strip_parens(&init.expr) else {
            return false;
        };
        let Expr::Path(f) = &*c.func else {
            return false;
        };
        let segs = crate::parse::segment_names(&f.path);
        let named = segs.last().is_some_and(|l| l == "from_fn")
            && segs.len() >= 2
            && segs[segs.len() - 2] == "array";
        let [Expr::Closure(cl)] = c.args.iter().collect::<Vec<_>>()[..] else {
            return false;
        };
        if !named || cl.inputs.len() != 1 || cl.asyncness.is_some() || cl.capture.is_some() {
            return false;
        }
        if !crate::parse::mentions_name(&cl.body, &self.active) {
            return false;
        }
        let index = match &cl.inputs[0] {
            Pat::Type(t) => &*t.pat,
            p => p,
        };
        let (name, ty, len, body) = (&pi.ident, &pt.ty, &arr.len, &cl.body);
        let span = name.span();
        let i = quote::format_ident!("__tl_i{}", self.count, span = span);
        self.count += 1;
        out.push(syn::parse_quote_spanned!(span=> let mut #name: #ty = [0.0; #len];));
        out.push(syn::parse_quote_spanned!(span=>
            for #i in 0..#len {
                let #index: usize = #i;
                #name[#i] = #body;
            }
        ));
        self.changed = true;
        true
    }

    /// `let y = x.map(|v| f(v));` of an array `x` as `let mut y = x;` and a
    /// loop assigning `y[i] = f(x[i])`, which lowering knows. `false` if
    /// `s` is not such a `let`.
    fn mapped(&mut self, s: &Stmt, out: &mut Vec<Stmt>) -> bool {
        let Some((pat, x, v, body)) = array_map(s, &self.mappable) else {
            return false;
        };
        if !self.active.contains(&x.to_string()) {
            return false;
        }
        let (name, ty) = match pat {
            Pat::Type(t) => (&*t.pat, Some(&t.ty)),
            p => (p, None),
        };
        let Pat::Ident(pi) = name else { return false };
        let y = &pi.ident;
        let ty = ty.map(|t| quote::quote!(: #t));
        let span = y.span();
        let i = quote::format_ident!("__tl_i{}", self.count, span = span);
        self.count += 1;
        out.push(syn::parse_quote_spanned!(span=> let mut #y #ty = #x;));
        out.push(syn::parse_quote_spanned!(span=>
            for #i in 0..#x.len() {
                let #v = #x[#i];
                #y[#i] = #body;
            }
        ));
        self.changed = true;
        true
    }

    /// `let m = [[a, b], [c, d]];` as `let mut m = [[0.0; 2]; 2];` and an
    /// assignment of each element, which lowering knows. `false` if `s`
    /// is not such a `let`.
    fn matrix(&mut self, s: &Stmt, out: &mut Vec<Stmt>) -> bool {
        let Some((pi, ty, rows)) = matrix_literal(s) else {
            return false;
        };
        // Constants (integers too) stay as written, unless the fn may
        // assign them (`let mut m = [[one, zero], [zero, one]];` then
        // `m = nm;` or `m[i][j] = ..`): then the fill is the first element,
        // which has the elements' type whatever it is.
        let active = rows.iter().any(|r| {
            r.elems
                .iter()
                .any(|e| crate::parse::mentions_name(e, &self.active))
        });
        if !active && pi.mutability.is_none() {
            return false;
        }
        let name = &pi.ident;
        let span = name.span();
        let (r, c) = (rows.len(), rows[0].elems.len());
        let ty = ty.map(|t| quote::quote!(: #t));
        let fill: Expr = match active {
            true => syn::parse_quote!(0.0),
            false => rows[0].elems[0].clone(),
        };
        out.push(syn::parse_quote_spanned!(span=> let mut #name #ty = [[#fill; #c]; #r];));
        for (i, row) in rows.iter().enumerate() {
            for (j, e) in row.elems.iter().enumerate() {
                out.push(syn::parse_quote_spanned!(span=> #name[#i][#j] = #e;));
            }
        }
        self.changed = true;
        true
    }
}

/// A call of a fn passed as another's argument (`rz(a)` in `mm(rz(a), q)`,
/// `&layer(w, x)`), with the `&` if any.
fn nested_call(a: &Expr) -> Option<(&syn::ExprCall, bool)> {
    let (inner, by_ref) = match crate::parse::strip_parens(a) {
        Expr::Reference(r) if r.mutability.is_none() => (crate::parse::strip_parens(&r.expr), true),
        other => (other, false),
    };
    match inner {
        Expr::Call(c) if user_fn(&c.func) => Some((c, by_ref)),
        _ => None,
    }
}

impl Unpack {
    /// The calls of differentiated values passed as arguments to other
    /// calls in `e`, where `e` runs once (not in branches, loops or
    /// closures), bound first, in the order they run, each to a `let`
    /// pushed on `out` (`mm(rz(a), rz(b))` is `let t0 = rz(a); let t1 =
    /// rz(b); mm(t0, t1)`): the marks below then say how their results
    /// are used, which the macro cannot see from the callee.
    fn hoist(&mut self, e: &mut Expr, out: &mut Vec<Stmt>) {
        match e {
            Expr::Call(c) => {
                let user = user_fn(&c.func);
                for a in c.args.iter_mut() {
                    self.hoist(a, out);
                    if user {
                        self.bind(a, out);
                    }
                }
            }
            // `mv(r, p)[1]`: the call bound, then indexed.
            Expr::Index(i) => {
                self.hoist(&mut i.expr, out);
                self.hoist(&mut i.index, out);
                self.bind(&mut i.expr, out);
            }
            Expr::Binary(b) if !matches!(b.op, syn::BinOp::And(_) | syn::BinOp::Or(_)) => {
                self.hoist(&mut b.left, out);
                self.hoist(&mut b.right, out);
            }
            Expr::Assign(a) => self.hoist(&mut a.right, out),
            Expr::Unary(syn::ExprUnary { expr, .. })
            | Expr::Paren(syn::ExprParen { expr, .. })
            | Expr::Reference(syn::ExprReference { expr, .. })
            | Expr::Field(syn::ExprField { base: expr, .. })
            | Expr::Cast(syn::ExprCast { expr, .. })
            | Expr::Return(syn::ExprReturn {
                expr: Some(expr), ..
            }) => self.hoist(expr, out),
            // `softmax(z).iter()`, `norm(v).sqrt()`: the call bound, then
            // used as the method says.
            Expr::MethodCall(m) => {
                self.hoist(&mut m.receiver, out);
                self.bind(&mut m.receiver, out);
                for a in m.args.iter_mut() {
                    if !matches!(a, Expr::Closure(_)) {
                        self.hoist(a, out);
                    }
                }
            }
            Expr::Tuple(t) => t.elems.iter_mut().for_each(|x| self.hoist(x, out)),
            Expr::Array(t) => t.elems.iter_mut().for_each(|x| self.hoist(x, out)),
            Expr::Range(r) => {
                for end in [&mut r.start, &mut r.end].into_iter().flatten() {
                    self.hoist(end, out);
                }
            }
            // What a loop walks and an `if`'s condition run once, before.
            Expr::ForLoop(f) => {
                self.hoist(&mut f.expr, out);
                self.bind(&mut f.expr, out);
            }
            Expr::If(i) if !matches!(&*i.cond, Expr::Let(_)) => self.hoist(&mut i.cond, out),
            _ => {}
        }
    }

    /// `a`, a call of differentiated values (or `&` one), bound to a
    /// `let` pushed on `out` and replaced by the name.
    fn bind(&mut self, a: &mut Expr, out: &mut Vec<Stmt>) {
        let Some((call, by_ref)) = nested_call(a) else {
            return;
        };
        if !call
            .args
            .iter()
            .any(|x| crate::parse::mentions_name(x, &self.active))
        {
            return;
        }
        let span = syn::spanned::Spanned::span(call);
        let tmp = quote::format_ident!("__tl_result{}", self.count, span = span);
        self.count += 1;
        let call = call.clone();
        out.push(syn::parse_quote_spanned!(span=> let #tmp = #call;));
        self.active.insert(tmp.to_string());
        *a = match by_ref {
            true => syn::parse_quote_spanned!(span=> &#tmp),
            false => syn::parse_quote_spanned!(span=> #tmp),
        };
        self.changed = true;
    }
}

impl VisitMut for Unpack {
    fn visit_expr_for_loop_mut(&mut self, f: &mut syn::ExprForLoop) {
        let names = crate::parse::bindings(&f.pat);
        let before = self.loop_items.len();
        self.loop_items.extend(names);
        syn::visit_mut::visit_expr_for_loop_mut(self, f);
        self.loop_items.truncate(before);
    }

    fn visit_block_mut(&mut self, b: &mut Block) {
        // Calls passed to calls: bound first.
        let stmts = std::mem::take(&mut b.stmts);
        let mut out = Vec::with_capacity(stmts.len());
        for mut s in stmts {
            match &mut s {
                Stmt::Local(l) => {
                    if let Some(init) = l.init.as_mut().filter(|i| i.diverge.is_none()) {
                        self.hoist(&mut init.expr, &mut out);
                    }
                }
                Stmt::Expr(e, _) => self.hoist(e, &mut out),
                _ => {}
            }
            out.push(s);
        }
        b.stmts = out;
        // Which statements mention each name: the searches below look at
        // those after a `let` only (one look at the block, not one per
        // `let`: that was quadratic in a fn of many calls).
        let index = mentions_index(&b.stmts);
        let after = |name: &proc_macro2::Ident, k: usize| -> &[usize] {
            let at = index.get(&name.to_string()).map_or(&[][..], |v| &v[..]);
            &at[at.partition_point(|&j| j <= k)..]
        };
        // Calls whose results are used as arrays: marked.
        for k in 0..b.stmts.len() {
            let Some((pi, call)) = untyped_call(&b.stmts[k]) else {
                continue;
            };
            let args_active = call
                .args
                .iter()
                .any(|a| crate::parse::mentions_name(a, &self.active));
            if !args_active {
                continue;
            }
            let later = after(&pi.ident, k).iter().map(|&j| &b.stmts[j]);
            let Some(depth) = array_use(later, &pi.ident) else {
                continue;
            };
            let mark =
                proc_macro2::Ident::new(&format!("__tl_array{}", depth.min(2)), pi.ident.span());
            if let Stmt::Local(l) = &mut b.stmts[k] {
                l.pat = Pat::Type(syn::PatType {
                    attrs: Vec::new(),
                    pat: Box::new(l.pat.clone()),
                    colon_token: Default::default(),
                    ty: Box::new(syn::Type::Path(syn::TypePath {
                        attrs: Vec::new(),
                        qself: None,
                        path: mark.into(),
                    })),
                });
                self.changed = true;
            }
        }
        // Calls whose results are read by field (`p.0`): unpacked.
        for k in 0..b.stmts.len() {
            let later = match &b.stmts[k] {
                Stmt::Local(l) => match &l.pat {
                    Pat::Ident(pi) => after(&pi.ident, k).to_vec(),
                    _ => continue,
                },
                _ => continue,
            };
            self.fields(&mut b.stmts, k, &later);
        }
        // A block whose value is `[[a, b], [c, d]]`: bound first (below).
        if let Some(Stmt::Expr(e, None)) = b.stmts.last() {
            if let Expr::Array(_) = crate::parse::strip_parens(e) {
                let name = quote::format_ident!("__tl_matrix{}", self.count);
                let value = e.clone();
                let bind: Stmt = syn::parse_quote!(let #name = #value;);
                if matrix_literal(&bind).is_some() {
                    self.count += 1;
                    b.stmts.pop();
                    b.stmts.push(bind);
                    b.stmts.push(Stmt::Expr(syn::parse_quote!(#name), None));
                }
            }
        }
        let stmts = std::mem::take(&mut b.stmts);
        let mut out = Vec::with_capacity(stmts.len());
        for mut s in stmts {
            self.visit_stmt_mut(&mut s);
            if self.assignment(&s, &mut out)
                || self.matrix(&s, &mut out)
                || self.mapped(&s, &mut out)
                || self.made_by_index(&s, &mut out)
                || self.sorted(&s, &mut out)
                || self.row_copy(&s, &mut out)
                || self.row_assignment(&s, &mut out)
                || self.split(&s, &mut out)
            {
                continue;
            }
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
                    // `let [a, b] = rot(t, p);`: a call of differentiated
                    // values returns the array (the mark above).
                    let call = matches!(value, Expr::Call(c)
                        if c.args.iter().any(|a| crate::parse::mentions_name(a, &self.active)));
                    out.push(match call {
                        true => syn::parse_quote!(let #tmp: __tl_array1 = #e;),
                        false => syn::parse_quote!(let #tmp = #e;),
                    });
                    syn::parse_quote!(#tmp)
                }
            };
            self.changed = true;
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
        // `for [a, b] in points.iter()` (or `&[a, b]`): a row named, then
        // unpacked as a `let` at the top of the body.
        if let Expr::ForLoop(fl) = e {
            let pat = match &*fl.pat {
                Pat::Reference(r) if r.mutability.is_none() => &*r.pat,
                p => p,
            };
            if names(pat).is_some() {
                let pat = pat.clone();
                let row = quote::format_ident!("__tl_row{}", self.count, span = fl.for_token.span);
                self.count += 1;
                *fl.pat = syn::parse_quote!(#row);
                fl.body.stmts.insert(0, syn::parse_quote!(let #pat = #row;));
                self.changed = true;
            }
        }
        // `if let Some(&v) = x.get(i) { .. }`: `if i < x.len() { let v =
        // x[i]; .. }` (`Some(v)` binds `&x[i]`).
        if let Expr::If(fi) = e {
            if let Some((pat, base, index)) = get_let(&fi.cond)
                .filter(|(_, base, _)| crate::parse::mentions_name(base, &self.active))
            {
                let cond: Expr = syn::parse_quote!((#index) < #base.len());
                let bind: Stmt = match pat {
                    Pat::Reference(r) => {
                        let inner = &r.pat;
                        syn::parse_quote!(let #inner = #base[#index];)
                    }
                    p => syn::parse_quote!(let #p = &#base[#index];),
                };
                *fi.cond = cond;
                fi.then_branch.stmts.insert(0, bind);
                self.changed = true;
            }
        }
        // An end of an array: its element, by value where Rust reads one
        // (through `*`, `.copied()`, a method), else by reference.
        let (end, by_value) = match &*e {
            Expr::Unary(u) if matches!(u.op, syn::UnOp::Deref(_)) => (end_element(&u.expr), true),
            Expr::MethodCall(m) => match end_element(&m.receiver)
                .filter(|end| crate::parse::mentions_name(&end.base, &self.active))
            {
                Some(end) => {
                    let Expr::MethodCall(m) = e else {
                        unreachable!()
                    };
                    *m.receiver = end.read(true);
                    self.changed = true;
                    return syn::visit_mut::visit_expr_mut(self, e);
                }
                None => (end_element(e), false),
            },
            _ => (None, false),
        };
        if let Some(end) = end.filter(|end| crate::parse::mentions_name(&end.base, &self.active)) {
            *e = end.read(by_value || end.copied);
            self.changed = true;
        }
        if !matches!(e, Expr::Closure(_)) {
            syn::visit_mut::visit_expr_mut(self, e);
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// `let Some(p) = x.get(i)` (`p` a name, `&name` or `_`): `p`, `x` and `i`.
fn get_let(cond: &Expr) -> Option<(Pat, Expr, Expr)> {
    let Expr::Let(l) = cond else { return None };
    let Pat::TupleStruct(ts) = &*l.pat else {
        return None;
    };
    if !ts.path.is_ident("Some") || ts.elems.len() != 1 {
        return None;
    }
    let pat = ts.elems[0].clone();
    let simple = |p: &Pat| {
        matches!(p, Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none())
            || matches!(p, Pat::Wild(_))
    };
    let ok = match &pat {
        Pat::Reference(r) => r.mutability.is_none() && simple(&r.pat),
        p => simple(p),
    };
    let Expr::MethodCall(get) = crate::parse::strip_parens(&l.expr) else {
        return None;
    };
    let base = crate::parse::strip_parens(&get.receiver);
    (ok && get.method == "get"
        && get.args.len() == 1
        && !matches!(&get.args[0], Expr::Range(_))
        && matches!(base, Expr::Path(_) | Expr::Field(_) | Expr::Index(_)))
    .then(|| (pat, base.clone(), get.args[0].clone()))
}

/// `x.first()`, `x.last()` or `x.get(i)` unwrapped (`.unwrap()`,
/// `.expect(..)`, or for `get` `.unwrap_or(d)`), `.copied()` or
/// `.cloned()` in between or not.
struct End {
    base: Expr,
    which: Which,
    copied: bool,
}

enum Which {
    First,
    Last,
    /// `x.get(i)`, and the value if `i` is out of bounds.
    Get(Box<Expr>, Option<Box<Expr>>),
}

impl End {
    /// The element, `x[0]`, `x[x.len() - 1]`, `x[i]` or `if i < x.len() {
    /// x[i] } else { d }`, or a reference to it.
    fn read(&self, by_value: bool) -> Expr {
        let base = &self.base;
        let index = match &self.which {
            Which::Last => quote::quote!(#base.len() - 1),
            Which::First => quote::quote!(0),
            Which::Get(i, _) => quote::quote!(#i),
        };
        let element: Expr = match by_value {
            true => syn::parse_quote!(#base[#index]),
            false => syn::parse_quote!(&#base[#index]),
        };
        match &self.which {
            Which::Get(i, Some(d)) => {
                syn::parse_quote!(if (#i) < #base.len() { #element } else { #d })
            }
            _ => element,
        }
    }
}

fn end_element(e: &Expr) -> Option<End> {
    let Expr::MethodCall(unwrap) = crate::parse::strip_parens(e) else {
        return None;
    };
    let mut default = match (unwrap.method.to_string().as_str(), unwrap.args.len()) {
        ("unwrap", 0) | ("expect", 1) => None,
        ("unwrap_or", 1) => Some(Box::new(unwrap.args[0].clone())),
        _ => return None,
    };
    let mut inner = crate::parse::strip_parens(&unwrap.receiver);
    let mut copied = false;
    if let Expr::MethodCall(c) = inner {
        if (c.method == "copied" || c.method == "cloned") && c.args.is_empty() {
            copied = true;
            inner = crate::parse::strip_parens(&c.receiver);
        }
    }
    // `*x.get(i).unwrap_or(&d)`: the default by reference, read by value.
    if let (false, Some(Expr::Reference(r))) = (copied, default.as_deref()) {
        default = Some(r.expr.clone());
    } else if !copied && default.is_some() {
        return None;
    }
    let Expr::MethodCall(end) = inner else {
        return None;
    };
    let which = match (end.method.to_string().as_str(), end.args.len()) {
        ("first", 0) if default.is_none() => Which::First,
        ("last", 0) if default.is_none() => Which::Last,
        ("get", 1) if !matches!(&end.args[0], Expr::Range(_)) => {
            Which::Get(Box::new(end.args[0].clone()), default)
        }
        _ => return None,
    };
    // A place, read twice for `len()`.
    let base = crate::parse::strip_parens(&end.receiver);
    matches!(base, Expr::Path(_) | Expr::Field(_) | Expr::Index(_)).then(|| End {
        base: base.clone(),
        which,
        copied,
    })
}

/// The fields of `name` its reads take (`name.0`: `used[0]`), whether
/// anything else mentions it (passed whole, in a macro's tokens, bound
/// again in a nested block or closure), and whether a field or the whole
/// is assigned (`name.0 = ..`, `name = step(..)`).
struct Fields<'n> {
    name: &'n proc_macro2::Ident,
    used: Vec<bool>,
    other: bool,
    assigned: bool,
}

impl Fields<'_> {
    fn is_field(&self, e: &Expr) -> bool {
        matches!(e, Expr::Field(f) if matches!(&*f.base, Expr::Path(p) if p.path.is_ident(self.name)))
    }
}

impl<'ast> syn::visit::Visit<'ast> for Fields<'_> {
    fn visit_expr(&mut self, e: &'ast Expr) {
        match e {
            // The whole assigned: its value only (`name = step(name.0, ..)`).
            Expr::Assign(a) if matches!(&*a.left, Expr::Path(p) if p.path.is_ident(self.name)) => {
                self.assigned = true;
                self.visit_expr(&a.right);
                return;
            }
            Expr::Assign(a) if self.is_field(&a.left) => self.assigned = true,
            Expr::Binary(b) if crate::parse::is_compound(&b.op) && self.is_field(&b.left) => {
                self.assigned = true
            }
            _ => {}
        }
        if let Expr::Field(f) = e {
            if let (Expr::Path(p), syn::Member::Unnamed(i)) = (&*f.base, &f.member) {
                if p.path.is_ident(self.name) {
                    let i = i.index as usize;
                    if self.used.len() <= i {
                        self.used.resize(i + 1, false);
                    }
                    self.used[i] = true;
                    return;
                }
            }
        }
        syn::visit::visit_expr(self, e);
    }
    fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
        self.other |= p.path.is_ident(self.name);
    }
    fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
        self.other |= p.ident == *self.name;
        syn::visit::visit_pat_ident(self, p);
    }
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        fn mentions(t: proc_macro2::TokenStream, name: &proc_macro2::Ident) -> bool {
            t.into_iter().any(|t| match t {
                proc_macro2::TokenTree::Ident(i) => i == *name,
                proc_macro2::TokenTree::Group(g) => mentions(g.stream(), name),
                _ => false,
            })
        }
        self.other |= mentions(m.tokens.clone(), self.name);
    }
    fn visit_item(&mut self, _: &'ast syn::Item) {}
}

/// `name.i` as the name `field(i)`, and `name = v` as `(field(0), _, ..)
/// = v` over the fields `used`.
struct Rename<'n, F> {
    name: &'n proc_macro2::Ident,
    field: &'n F,
    used: &'n [bool],
}

impl<F: Fn(usize) -> proc_macro2::Ident> VisitMut for Rename<'_, F> {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        // The whole assigned: a destructuring assignment of the fields,
        // `_` for the unread (patterns' `assignment` takes it apart).
        if let Expr::Assign(a) = e {
            if matches!(&*a.left, Expr::Path(p) if p.path.is_ident(self.name)) {
                self.visit_expr_mut(&mut a.right);
                let span = syn::spanned::Spanned::span(&a.left);
                let places = self.used.iter().enumerate().map(|(i, &u)| -> Expr {
                    match u {
                        true => {
                            let f = (self.field)(i);
                            syn::parse_quote_spanned!(span=> #f)
                        }
                        false => syn::parse_quote_spanned!(span=> _),
                    }
                });
                *a.left = match self.used.len() {
                    1 => syn::parse_quote_spanned!(span=> (#(#places,)*)),
                    _ => syn::parse_quote_spanned!(span=> (#(#places),*)),
                };
                return;
            }
        }
        if let Expr::Field(f) = e {
            if let (Expr::Path(p), syn::Member::Unnamed(i)) = (&*f.base, &f.member) {
                if p.path.is_ident(self.name) {
                    let ident = (self.field)(i.index as usize);
                    *e = syn::parse_quote_spanned!(i.span=> #ident);
                    return;
                }
            }
        }
        syn::visit_mut::visit_expr_mut(self, e);
    }
    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// A call of `::tapeless::__private::order_by`, which [`Unpack::sorted`]
/// writes: the order of a sort, indices (a constant whatever it reads).
pub(crate) fn is_order(c: &syn::ExprCall) -> bool {
    match &*c.func {
        Expr::Path(p) => {
            let segs: Vec<String> = p
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            p.path.leading_colon.is_some() && segs == ["tapeless", "__private", "order_by"]
        }
        _ => false,
    }
}

/// `m[i] = value;` of a name in `matrices` (one index: a whole row): the
/// name, the index and the value.
fn row_assigned<'a>(
    s: &'a Stmt,
    matrices: &rustc_hash::FxHashSet<String>,
) -> Option<(&'a syn::Ident, &'a Expr, &'a Expr)> {
    let Stmt::Expr(Expr::Assign(a), Some(_)) = s else {
        return None;
    };
    let Expr::Index(ix) = crate::parse::strip_parens(&a.left) else {
        return None;
    };
    let Expr::Path(p) = crate::parse::strip_parens(&ix.expr) else {
        return None;
    };
    let name = p.path.get_ident()?;
    matrices
        .contains(&name.to_string())
        .then_some((name, &*ix.index, &*a.right))
}

/// `let r = m[i];` of a name in `matrices`: a row bound (a copy, for an
/// array of arrays).
fn row_bound(s: &Stmt, matrices: &rustc_hash::FxHashSet<String>) -> bool {
    let Stmt::Local(l) = s else { return false };
    let Some(init) = &l.init else { return false };
    matches!(crate::parse::strip_parens(&init.expr), Expr::Index(ix)
        if matches!(crate::parse::strip_parens(&ix.expr), Expr::Path(p)
            if p.path.get_ident().is_some_and(|n| matrices.contains(&n.to_string()))))
}

/// `let s = (a, b, c);`: the name and the tuple's length.
fn tuple_literal(s: &Stmt) -> Option<(&syn::PatIdent, usize)> {
    let Stmt::Local(l) = s else { return None };
    let Pat::Ident(pi) = &l.pat else { return None };
    let init = l.init.as_ref().filter(|i| i.diverge.is_none())?;
    if pi.subpat.is_some() || pi.by_ref.is_some() {
        return None;
    }
    match crate::parse::strip_parens(&init.expr) {
        Expr::Tuple(t) if !t.elems.is_empty() => Some((pi, t.elems.len())),
        _ => None,
    }
}

/// For each name, the statements of `stmts` that mention it (in a path, a
/// pattern, a method's name, a macro's tokens), in order.
pub(crate) fn mentions_index(stmts: &[Stmt]) -> rustc_hash::FxHashMap<String, Vec<usize>> {
    struct Collect<'m> {
        at: usize,
        index: &'m mut rustc_hash::FxHashMap<String, Vec<usize>>,
    }
    impl Collect<'_> {
        fn note(&mut self, name: String) {
            let list = self.index.entry(name).or_default();
            if list.last() != Some(&self.at) {
                list.push(self.at);
            }
        }
    }
    impl<'ast> syn::visit::Visit<'ast> for Collect<'_> {
        fn visit_ident(&mut self, i: &'ast proc_macro2::Ident) {
            self.note(i.to_string());
        }
        fn visit_macro(&mut self, m: &'ast syn::Macro) {
            fn scan(t: proc_macro2::TokenStream, c: &mut Collect<'_>) {
                for t in t {
                    match t {
                        proc_macro2::TokenTree::Ident(i) => c.note(i.to_string()),
                        proc_macro2::TokenTree::Group(g) => scan(g.stream(), c),
                        _ => {}
                    }
                }
            }
            syn::visit::visit_macro(self, m);
            scan(m.tokens.clone(), self);
        }
    }
    let mut index = rustc_hash::FxHashMap::default();
    for (at, s) in stmts.iter().enumerate() {
        let mut c = Collect {
            at,
            index: &mut index,
        };
        syn::visit::Visit::visit_stmt(&mut c, s);
    }
    index
}
