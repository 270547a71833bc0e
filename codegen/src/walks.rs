//! Pass 1c, before lowering: loops over iterators lowering's walker does
//! not know, written in forms it does. A `for` loop over a zip whose parts
//! start at different places, step or run backwards, or are ranges
//! (`x.iter().zip(x.iter().skip(1))`, `x[..n - 1].iter().zip(&x[1..])`,
//! `a.iter().zip(b.iter().rev())`, `(0..n).zip(y)`, `x.iter().step_by(2)`,
//! `x.iter().enumerate().zip(..)`) becomes a loop over one index that reads
//! each part at its own offset (the walker has one start and direction for
//! all parts):
//!
//! ```text
//! for (&a, &b) in x.iter().zip(&x[1..]) {     let __tl_zip0_len = usize::min(x.len(), usize::saturating_sub(x.len(), 1));
//!     s = s + (b - a * a).powi(2);     ==>    let __tl_zip0_at1 = 1;
//! }                                           for __tl_zip0 in 0..__tl_zip0_len {
//!                                                 let a = x[__tl_zip0];
//!                                                 let b = x[__tl_zip0_at1 + __tl_zip0];
//!                                                 s = s + (b - a * a).powi(2);
//!                                             }
//! ```
//!
//! And a loop over `iter.filter(|q| ..)` (or `.take_while(..)`) becomes a
//! loop over `iter` whose body starts with the test, its closure's pattern
//! matched against the item: `for v in x.iter().filter(|v| **v > 0.0)` runs
//! `if *v > 0.0 {} else { continue; }` first. Only the generated fns see
//! this; the user's fn is kept as written.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::visit_mut::VisitMut;
use syn::{Block, Expr, Pat, Stmt};

use crate::parse::{mentions_name, strip_parens};

/// `body` with its irregular zips written as index loops, or `None` if it
/// has none. `active` names what may carry a differentiated value (parse's
/// over-estimate): loops over constants alone are left as written.
pub(crate) fn rewrite(body: &Block, active: &rustc_hash::FxHashSet<String>) -> Option<Block> {
    let mut r = Rewrite { active, count: 0 };
    let mut body = body.clone();
    r.visit_block_mut(&mut body);
    (r.count > 0).then_some(body)
}

/// Whether `body` calls a method named `zip`, `step_by`, `filter`,
/// `take_while` or `for_each`, or skips or takes after a `rev` (so that
/// the common case costs no copy of the body).
pub(crate) fn any(body: &Block) -> bool {
    struct Find(bool);
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
            self.0 |= [
                "zip",
                "step_by",
                "filter",
                "take_while",
                "for_each",
                "iter_mut",
            ]
            .iter()
            .any(|w| m.method == w)
                || ((m.method == "skip" || m.method == "take") && reversed(&m.receiver));
            syn::visit::visit_expr_method_call(self, m);
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut f = Find(false);
    syn::visit::visit_block(&mut f, body);
    f.0
}

/// What one part of the walk yields at step `k`: `base[first + k *
/// stride]` (or, walking down, `base[first - k * stride]`), by reference
/// unless copied; without a base (a range, an `enumerate`'s count) the
/// index itself.
#[derive(Clone)]
struct View {
    base: Option<Box<Expr>>,
    /// `None` for 0, where every array's walk starts.
    first: Option<TokenStream>,
    /// `None` for 1.
    stride: Option<TokenStream>,
    down: bool,
    /// How many items; `None` for no end (`0..`, an `enumerate`'s count).
    count: Option<TokenStream>,
    by_value: bool,
    /// `x.iter_mut()`, `&mut x`: the body writes the element through it.
    mutable: bool,
}

impl View {
    /// `stride * n`.
    fn steps(&self, n: TokenStream) -> TokenStream {
        match &self.stride {
            None => n,
            Some(s) => quote!(#s * #n),
        }
    }

    /// The first index, `0usize` where it is 0.
    fn start(&self) -> TokenStream {
        self.first.clone().unwrap_or_else(|| quote!(0usize))
    }

    /// `first` moved `n` items on, in the walk's direction (wrapping: a
    /// walk of no items may start before 0, and reads nothing).
    fn advance(&mut self, n: TokenStream) {
        let by = self.steps(n);
        let first = self.start();
        self.first = Some(match self.down {
            false => plus(&self.first, by),
            true => quote!(usize::wrapping_sub(#first, #by)),
        });
    }
}

/// The shape of the item: a part, or a pair from `zip`/`enumerate`.
enum Tree {
    Part(View),
    Pair(Box<Tree>, Box<Tree>),
}

impl Tree {
    fn parts_mut(&mut self) -> Vec<&mut View> {
        match self {
            Tree::Part(v) => vec![v],
            Tree::Pair(a, b) => {
                let mut out = a.parts_mut();
                out.extend(b.parts_mut());
                out
            }
        }
    }

    fn parts(&self) -> Vec<&View> {
        match self {
            Tree::Part(v) => vec![v],
            Tree::Pair(a, b) => {
                let mut out = a.parts();
                out.extend(b.parts());
                out
            }
        }
    }

    /// How many items the whole yields (the shortest part); `None` if no
    /// part ends.
    fn count(&self) -> Option<TokenStream> {
        self.parts()
            .into_iter()
            .filter_map(|v| v.count.clone())
            .reduce(|a, b| quote!(usize::min(#a, #b)))
    }

    /// `.skip(n)`: each part drops its first `n` items.
    fn skip(&mut self, n: TokenStream) {
        for v in self.parts_mut() {
            let count = v.count.take();
            v.count = count.map(|c| quote!(usize::saturating_sub(#c, #n)));
            v.advance(n.clone());
        }
    }

    /// `.take(n)`: each part keeps its first `n` items.
    fn take(&mut self, n: &TokenStream) {
        for v in self.parts_mut() {
            v.count = Some(match v.count.take() {
                None => n.clone(),
                Some(c) => quote!(usize::min(#c, #n)),
            });
        }
    }

    /// `.step_by(m)`: every `m`-th item of each part, from its first.
    fn step_by(&mut self, m: TokenStream) {
        for v in self.parts_mut() {
            let count = v.count.take();
            v.count = count.map(|c| quote!(usize::div_ceil(#c, #m)));
            v.stride = Some(v.steps(m.clone()));
        }
    }

    /// `.rev()`: the whole's items backwards (a zip is first cut to its
    /// shortest part, as `Zip`'s `next_back` does).
    fn rev(&mut self) -> Option<()> {
        let n = self.count()?;
        if self.parts().len() > 1 {
            self.take(&n);
        }
        for v in self.parts_mut() {
            // From the last item: `count - 1` on from the first.
            let c = v.count.clone()?;
            let last = v.steps(quote!(#c));
            let one = v.steps(quote!(1));
            let first = v.start();
            let end = plus(&v.first, last.clone());
            v.first = Some(match v.down {
                false => quote!(usize::wrapping_sub(#end, #one)),
                true => quote!(usize::wrapping_add(usize::wrapping_sub(#first, #last), #one)),
            });
            v.down = !v.down;
        }
        Some(())
    }
}

/// What a loop over `e` walks, if this pass knows it; `irregular` is set
/// where lowering's walker does not (adaptors and ranges inside a zip).
fn tree(e: &Expr, in_zip: bool, irregular: &mut bool) -> Option<Tree> {
    match strip_parens(e) {
        Expr::Range(r) => {
            *irregular |= in_zip;
            range(r)
        }
        Expr::Reference(r) if r.mutability.is_none() => array(&r.expr, in_zip, irregular),
        // Written through: lowering's own rewrite knows it alone, not zipped.
        Expr::Reference(r) => {
            *irregular |= in_zip;
            writable(array(&r.expr, in_zip, irregular)?)
        }
        Expr::MethodCall(m) => {
            let method = m.method.to_string();
            match (method.as_str(), m.args.len()) {
                ("iter_mut", 0) => {
                    *irregular |= in_zip;
                    writable(array(&m.receiver, in_zip, irregular)?)
                }
                ("iter" | "into_iter", 0) => match strip_parens(&m.receiver) {
                    Expr::Range(r) => {
                        *irregular |= in_zip;
                        range(r)
                    }
                    // `(&mut x).into_iter()` is `&mut x`.
                    Expr::Reference(_) => tree(&m.receiver, in_zip, irregular),
                    base => array(base, in_zip, irregular),
                },
                ("copied" | "cloned", 0) => {
                    let mut t = tree(&m.receiver, in_zip, irregular)?;
                    for v in t.parts_mut() {
                        v.by_value = true;
                    }
                    Some(t)
                }
                ("rev", 0) => {
                    *irregular |= in_zip;
                    let mut t = tree(&m.receiver, in_zip, irregular)?;
                    t.rev()?;
                    Some(t)
                }
                ("enumerate", 0) => {
                    *irregular |= in_zip;
                    let t = tree(&m.receiver, in_zip, irregular)?;
                    let index = View {
                        base: None,
                        first: None,
                        stride: None,
                        down: false,
                        count: None,
                        by_value: true,
                        mutable: false,
                    };
                    Some(Tree::Pair(Box::new(Tree::Part(index)), Box::new(t)))
                }
                ("skip", 1) => {
                    *irregular |= in_zip || reversed(&m.receiver);
                    let mut t = tree(&m.receiver, in_zip, irregular)?;
                    t.skip(group(&m.args[0]));
                    Some(t)
                }
                ("take", 1) => {
                    *irregular |= in_zip || reversed(&m.receiver);
                    let mut t = tree(&m.receiver, in_zip, irregular)?;
                    t.take(&group(&m.args[0]));
                    Some(t)
                }
                ("step_by", 1) => {
                    let mut t = tree(&m.receiver, in_zip, irregular)?;
                    // Ranges step in lowering; arrays do not.
                    *irregular |= in_zip || t.parts().iter().any(|v| v.base.is_some());
                    t.step_by(group(&m.args[0]));
                    Some(t)
                }
                ("zip", 1) => {
                    let a = tree(&m.receiver, true, irregular)?;
                    let b = tree(&m.args[0], true, irregular)?;
                    Some(Tree::Pair(Box::new(a), Box::new(b)))
                }
                _ => None,
            }
        }
        base @ (Expr::Path(_) | Expr::Field(_) | Expr::Index(_)) => array(base, in_zip, irregular),
        _ => None,
    }
}

/// Whether an iterator runs backwards: lowering's walker counts `skip` and
/// `take` from the front only (`x.iter().rev().skip(1)` is this pass's).
fn reversed(e: &Expr) -> bool {
    match strip_parens(e) {
        Expr::MethodCall(m) => m.method == "rev" || reversed(&m.receiver),
        _ => false,
    }
}

/// A part whose elements the body writes (`*g = ..`).
fn writable(mut t: Tree) -> Option<Tree> {
    match &mut t {
        Tree::Part(v) if v.base.is_some() => v.mutable = true,
        _ => return None,
    }
    Some(t)
}

/// `a..b`, `a..=b`, `a..`: its numbers.
fn range(r: &syn::ExprRange) -> Option<Tree> {
    let start = r.start.as_ref().map(|s| group(s));
    let count = match (&r.end, &r.limits, &start) {
        (None, ..) => None,
        (Some(b), syn::RangeLimits::HalfOpen(_), None) => Some(quote!(#b)),
        (Some(b), syn::RangeLimits::Closed(_), None) => Some(quote!(#b + 1)),
        (Some(b), syn::RangeLimits::HalfOpen(_), Some(a)) => {
            Some(quote!(usize::saturating_sub(#b, #a)))
        }
        (Some(b), syn::RangeLimits::Closed(_), Some(a)) => {
            Some(quote!(usize::saturating_sub(#b + 1, #a)))
        }
    };
    Some(Tree::Part(View {
        base: None,
        first: start,
        stride: None,
        down: false,
        count,
        by_value: true,
        mutable: false,
    }))
}

/// The elements of `base` (an array, a row `w[i]`, a field), or of a range
/// of it (`x[1..]`, `x[..n - 1]`, `x[a..=b]`).
fn array(base: &Expr, in_zip: bool, irregular: &mut bool) -> Option<Tree> {
    let base = strip_parens(base);
    if let Expr::Index(ix) = base {
        if let Expr::Range(r) = strip_parens(&ix.index) {
            *irregular |= in_zip;
            let Tree::Part(mut v) = range(r)? else {
                return None;
            };
            let whole = &ix.expr;
            v.count.get_or_insert_with(|| match &v.first {
                None => quote!(#whole.len()),
                Some(s) => quote!(usize::saturating_sub(#whole.len(), #s)),
            });
            v.base = Some(ix.expr.clone());
            v.by_value = false;
            return Some(Tree::Part(v));
        }
    }
    if !matches!(base, Expr::Path(_) | Expr::Field(_) | Expr::Index(_)) {
        return None;
    }
    Some(Tree::Part(View {
        base: Some(Box::new(base.clone())),
        first: None,
        stride: None,
        down: false,
        count: Some(quote!(#base.len())),
        by_value: false,
        mutable: false,
    }))
}

/// `e` where it is an operand of `+`: in parentheses unless it is one
/// token tree or a call, a method call, an index or a field.
fn group(e: &Expr) -> TokenStream {
    match strip_parens(e) {
        e @ (Expr::Lit(_)
        | Expr::Path(_)
        | Expr::Call(_)
        | Expr::MethodCall(_)
        | Expr::Index(_)
        | Expr::Field(_)) => e.to_token_stream(),
        e => quote!((#e)),
    }
}

/// `a + b`, or `b` where `a` is 0 (`None`).
fn plus(a: &Option<TokenStream>, b: TokenStream) -> TokenStream {
    match a {
        None => b,
        Some(a) => quote!(#a + #b),
    }
}

struct Rewrite<'a> {
    active: &'a rustc_hash::FxHashSet<String>,
    count: usize,
}

impl Rewrite<'_> {
    /// The statements for `fl` if it walks an irregular zip: the bounds,
    /// then the index loop.
    fn index_loop(&mut self, fl: &syn::ExprForLoop) -> Option<Vec<Stmt>> {
        if !mentions_name(&fl.expr, self.active) {
            return None;
        }
        let mut irregular = false;
        let tree = tree(&fl.expr, false, &mut irregular)?;
        // Elements written through two `iter_mut()`s at once, or rows
        // written through one (`p[0] = ..` for `p` in `pos.iter_mut()`):
        // lowering's walker writes one element through `*v`.
        let mutable = tree.parts().iter().filter(|v| v.mutable).count();
        irregular |= mutable >= 2 || (mutable == 1 && indexes_binding(&fl.pat, &fl.body));
        if !irregular {
            return None;
        }
        let len = tree.count()?;
        let span = fl.for_token.span;
        let k = format_ident!("__tl_zip{}", self.count, span = span);
        let len_name = format_ident!("__tl_zip{}_len", self.count, span = span);
        let mut head: Vec<Stmt> = vec![syn::parse_quote_spanned!(span=> let #len_name = #len;)];
        // Each part's first element, named once.
        let mut at: Vec<TokenStream> = Vec::new();
        for (j, v) in tree.parts().into_iter().enumerate() {
            let step = v.steps(quote!(#k));
            // From 0 up: the step alone.
            if v.first.is_none() && !v.down {
                at.push(step);
                continue;
            }
            let first = v.start();
            let name = format_ident!("__tl_zip{}_at{}", self.count, j, span = span);
            head.push(syn::parse_quote_spanned!(span=> let #name = #first;));
            at.push(match v.down {
                false => quote!(#name + #step),
                true => quote!(#name - #step),
            });
        }
        let mut lets = Vec::new();
        let mut places = Vec::new();
        let mut next = at.into_iter();
        bind(&fl.pat, &tree, &mut next, &mut lets, &mut places)?;
        let mut body = fl.body.clone();
        // Elements written through `iter_mut()`: `*g` is the element itself.
        if !places.is_empty() {
            let mut w = WriteThrough {
                places: &places,
                failed: false,
            };
            w.visit_block_mut(&mut body);
            if w.failed {
                return None;
            }
        }
        lets.append(&mut body.stmts);
        body.stmts = lets;
        let label = &fl.label;
        let attrs = &fl.attrs;
        head.push(syn::parse_quote_spanned!(span=>
            #(#attrs)* #label for #k in 0..#len_name #body
        ));
        self.count += 1;
        Some(head)
    }
}

/// `let`s binding `pat` to the item: each part's element (or index) at
/// the next of `at`.
fn bind(
    pat: &Pat,
    tree: &Tree,
    at: &mut impl Iterator<Item = TokenStream>,
    out: &mut Vec<Stmt>,
    places: &mut Vec<(Ident, Expr)>,
) -> Option<()> {
    match (pat, tree) {
        (Pat::Paren(p), _) => bind(&p.pat, tree, at, out, places),
        (Pat::Tuple(t), Tree::Pair(a, b)) if t.elems.len() == 2 => {
            bind(&t.elems[0], a, at, out, places)?;
            bind(&t.elems[1], b, at, out, places)
        }
        (Pat::Ident(pi), Tree::Part(v)) if v.mutable => {
            let i = at.next()?;
            let b = v.base.as_ref()?;
            if pi.subpat.is_some() || pi.by_ref.is_some() {
                return None;
            }
            places.push((pi.ident.clone(), syn::parse_quote!(#b[#i])));
            Some(())
        }
        (Pat::Wild(_), _) => {
            for _ in tree.parts() {
                at.next()?;
            }
            Some(())
        }
        (_, Tree::Part(v)) => {
            let i = at.next()?;
            let (pat, value) = match (pat, &v.base) {
                (Pat::Reference(r), Some(b)) if !v.by_value && r.mutability.is_none() => {
                    (&*r.pat, quote!(#b[#i]))
                }
                (Pat::Ident(_), Some(b)) if v.by_value => (pat, quote!(#b[#i])),
                (Pat::Ident(_), Some(b)) => (pat, quote!(&#b[#i])),
                (Pat::Ident(_), None) => (pat, i),
                _ => return None,
            };
            if !matches!(pat, Pat::Ident(_) | Pat::Wild(_)) {
                return None;
            }
            out.push(syn::parse_quote!(let #pat = #value;));
            Some(())
        }
        _ => None,
    }
}

/// `for PAT in ITER.filter(|q| ..)` (or `.take_while(..)`): the loop over
/// `ITER` whose body first tests the item, and leaves it (`continue`, or
/// `break`) where the test fails. The test reads the loop's names: the
/// closure's pattern is matched against a reference to the item.
fn guarded(fl: &syn::ExprForLoop) -> Option<syn::ExprForLoop> {
    // `.copied()`, `.cloned()` and `.rev()` after the filter commute with
    // it: they go before (a copied item was a reference when tested).
    let mut after = Vec::new();
    let mut e = strip_parens(&fl.expr);
    while let Expr::MethodCall(c) = e {
        match c.method.to_string().as_str() {
            "copied" | "cloned" | "rev" if c.args.is_empty() => {
                after.push(&c.method);
                e = strip_parens(&c.receiver);
            }
            _ => break,
        }
    }
    let Expr::MethodCall(m) = e else {
        return None;
    };
    let leave = match (m.method.to_string().as_str(), m.args.len()) {
        ("filter", 1) => quote!(continue),
        ("take_while", 1) => quote!(break),
        _ => return None,
    };
    let Expr::Closure(c) = strip_parens(&m.args[0]) else {
        return None;
    };
    if c.inputs.len() != 1 || c.asyncness.is_some() {
        return None;
    }
    let mut param = &c.inputs[0];
    if let Pat::Type(t) = param {
        param = &t.pat;
    }
    // The test must not read a name the loop's pattern shadows.
    let bound: rustc_hash::FxHashSet<String> = crate::parse::bindings(&fl.pat)
        .into_iter()
        .filter(|n| !crate::parse::bindings(param).contains(n))
        .collect();
    if mentions_name(&c.body, &bound) {
        return None;
    }
    // A part the loop ignores (`for (_, &v) in ..enumerate().filter(|(i, _)|
    // ..)`) that the test may read is named.
    let mut fl = fl.clone();
    name_wildcards(&mut fl.pat, &mut 0);
    let fl = &fl;
    let mut item = item_expr(&fl.pat)?;
    for a in &after {
        if *a != "rev" {
            item = syn::parse_quote!(&#item);
        }
    }
    let mut names = Vec::new();
    matched(param, &syn::parse_quote!(&#item), &mut names)?;
    let mut test = (*c.body).clone();
    let mut sub = Substitute {
        names: &names,
        failed: false,
    };
    sub.visit_expr_mut(&mut test);
    if sub.failed {
        return None;
    }
    let mut inner = fl.clone();
    let mut walked = (*m.receiver).clone();
    for a in after.iter().rev() {
        walked = syn::parse_quote!(#walked.#a());
    }
    *inner.expr = walked;
    let guard: Stmt = syn::parse_quote_spanned!(m.method.span()=> if #test {} else { #leave; });
    inner.body.stmts.insert(0, guard);
    // A chain of them: the inner ones test first.
    Some(guarded(&inner).unwrap_or(inner))
}

/// `iter.for_each(|pat| body);` as a statement: `for pat in iter { body;
/// }` (not where the closure returns, which would leave the loop's body).
fn for_each(s: &Stmt) -> Option<syn::ExprForLoop> {
    let Stmt::Expr(Expr::MethodCall(m), _) = s else {
        return None;
    };
    if m.method != "for_each" || m.args.len() != 1 {
        return None;
    }
    let Expr::Closure(c) = strip_parens(&m.args[0]) else {
        return None;
    };
    if c.inputs.len() != 1 || c.asyncness.is_some() || crate::closures::returns(&c.body) {
        return None;
    }
    let pat = match &c.inputs[0] {
        Pat::Type(t) => &*t.pat,
        p => p,
    };
    let iter = &m.receiver;
    let body: Block = match strip_parens(&c.body) {
        Expr::Block(b) if b.label.is_none() => b.block.clone(),
        e => syn::parse_quote!({ #e; }),
    };
    Some(syn::parse_quote_spanned!(m.method.span()=> for #pat in #iter #body))
}

/// The item a loop's pattern binds, as an expression of its names.
/// `pat` with each `_` in it a name of its own (`__tl_ignored0`, ...; the
/// leading underscore keeps an unread one quiet).
fn name_wildcards(pat: &mut Pat, n: &mut usize) {
    match pat {
        Pat::Wild(w) => {
            let id = quote::format_ident!("__tl_ignored{}", *n, span = w.underscore_token.span);
            *n += 1;
            *pat = syn::parse_quote!(#id);
        }
        Pat::Reference(r) => name_wildcards(&mut r.pat, n),
        Pat::Paren(p) => name_wildcards(&mut p.pat, n),
        Pat::Tuple(t) => t.elems.iter_mut().for_each(|e| name_wildcards(e, n)),
        _ => {}
    }
}

fn item_expr(pat: &Pat) -> Option<Expr> {
    Some(match pat {
        Pat::Ident(pi) if pi.subpat.is_none() && pi.by_ref.is_none() => {
            let id = &pi.ident;
            syn::parse_quote!(#id)
        }
        Pat::Reference(r) => {
            let inner = item_expr(&r.pat)?;
            syn::parse_quote!(&#inner)
        }
        Pat::Paren(p) => item_expr(&p.pat)?,
        Pat::Tuple(t) => {
            let elems = t.elems.iter().map(item_expr).collect::<Option<Vec<_>>>()?;
            syn::parse_quote!((#(#elems,)*))
        }
        _ => return None,
    })
}

/// The names `pat` binds when it matches `value`, each with what it is:
/// `&&w` against `&v` binds `w` to `*v`; a tuple pattern against a
/// reference to a tuple binds references to its parts (Rust's default
/// binding mode).
fn matched(pat: &Pat, value: &Expr, out: &mut Vec<(Ident, Expr)>) -> Option<()> {
    match pat {
        Pat::Paren(p) => matched(&p.pat, value, out),
        Pat::Wild(_) => Some(()),
        Pat::Ident(pi) if pi.subpat.is_none() && pi.by_ref.is_none() => {
            out.push((pi.ident.clone(), value.clone()));
            Some(())
        }
        Pat::Reference(r) => match strip_parens(value) {
            Expr::Reference(v) => matched(&r.pat, &v.expr, out),
            v => matched(&r.pat, &syn::parse_quote!(*#v), out),
        },
        Pat::Tuple(t) => {
            let mut v = strip_parens(value);
            let mut by_ref = false;
            while let Expr::Reference(r) = v {
                by_ref = true;
                v = strip_parens(&r.expr);
            }
            let Expr::Tuple(parts) = v else {
                return None;
            };
            if parts.elems.len() != t.elems.len() {
                return None;
            }
            for (p, e) in t.elems.iter().zip(&parts.elems) {
                let e: Expr = match by_ref {
                    true => syn::parse_quote!(&#e),
                    false => e.clone(),
                };
                matched(p, &e, out)?;
            }
            Some(())
        }
        _ => None,
    }
}

/// The names of elements walked by `iter_mut()` replaced by the elements:
/// `*g = ..` writes `y[k]`, `g.max(..)` reads it; any other use (passing
/// `g` on, binding the name again) is left to lowering's error.
struct WriteThrough<'a> {
    places: &'a [(Ident, Expr)],
    failed: bool,
}

impl WriteThrough<'_> {
    fn place(&self, e: &Expr) -> Option<&Expr> {
        match strip_parens(e) {
            Expr::Path(p) => self
                .places
                .iter()
                .find(|(n, _)| p.path.is_ident(n))
                .map(|(_, place)| place),
            _ => None,
        }
    }
}

impl VisitMut for WriteThrough<'_> {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        match e {
            Expr::Unary(u) if matches!(u.op, syn::UnOp::Deref(_)) => {
                if let Some(place) = self.place(&u.expr) {
                    *e = place.clone();
                    return;
                }
            }
            Expr::MethodCall(m) => {
                if let Some(place) = self.place(&m.receiver) {
                    *m.receiver = place.clone();
                    for a in &mut m.args {
                        self.visit_expr_mut(a);
                    }
                    return;
                }
            }
            // A row walked by `iter_mut()`, indexed: `p[0]` is `pos[k][0]`.
            Expr::Index(ix) => {
                if let Some(place) = self.place(&ix.expr) {
                    *ix.expr = place.clone();
                    self.visit_expr_mut(&mut ix.index);
                    return;
                }
            }
            Expr::Path(_) if self.place(e).is_some() => {
                self.failed = true;
                return;
            }
            Expr::Closure(_) => {
                self.failed = true;
                return;
            }
            _ => {}
        }
        syn::visit_mut::visit_expr_mut(self, e);
    }

    fn visit_local_mut(&mut self, l: &mut syn::Local) {
        let names = crate::parse::bindings(&l.pat);
        if self
            .places
            .iter()
            .any(|(n, _)| names.iter().any(|m| n == m))
        {
            self.failed = true;
        }
        syn::visit_mut::visit_local_mut(self, l);
    }
}

/// The closure's names replaced by what they are bound to, with `*&e`
/// read as `e` and methods called on `e` rather than `&e` (auto-deref).
struct Substitute<'a> {
    names: &'a [(Ident, Expr)],
    failed: bool,
}

impl VisitMut for Substitute<'_> {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        if let Expr::Path(p) = &*e {
            if let Some((_, v)) = self.names.iter().find(|(n, _)| p.path.is_ident(n)) {
                *e = match v {
                    Expr::Path(_) => v.clone(),
                    v => syn::parse_quote!((#v)),
                };
                return;
            }
        }
        if let Expr::Closure(_) = e {
            self.failed = true;
            return;
        }
        syn::visit_mut::visit_expr_mut(self, e);
        fn unref(e: &Expr) -> Option<&Expr> {
            match strip_parens(e) {
                Expr::Reference(r) if r.mutability.is_none() => Some(&r.expr),
                _ => None,
            }
        }
        match e {
            Expr::Unary(u) if matches!(u.op, syn::UnOp::Deref(_)) => {
                if let Some(inner) = unref(&u.expr) {
                    *e = inner.clone();
                }
            }
            Expr::MethodCall(m) => {
                while let Some(inner) = unref(&m.receiver) {
                    *m.receiver = inner.clone();
                }
            }
            // `(*v) < 1.0` reads as `*v < 1.0`.
            Expr::Binary(b) => {
                for side in [&mut b.left, &mut b.right] {
                    if let Expr::Paren(p) = &**side {
                        if matches!(&*p.expr, Expr::Unary(u) if matches!(*u.expr, Expr::Path(_))) {
                            **side = (*p.expr).clone();
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

impl VisitMut for Rewrite<'_> {
    fn visit_block_mut(&mut self, b: &mut Block) {
        let stmts = std::mem::take(&mut b.stmts);
        let mut out = Vec::with_capacity(stmts.len());
        for mut s in stmts {
            // `x.iter_mut().for_each(|v| *v = ..);`: the loop it stands for.
            if let Some(fl) = for_each(&s).filter(|fl| mentions_name(&fl.expr, self.active)) {
                self.count += 1;
                s = Stmt::Expr(Expr::ForLoop(fl), None);
            }
            if let Stmt::Expr(Expr::ForLoop(fl), semi) = &s {
                // Filters first: the loop they leave may be one to index.
                if let Some(g) = guarded(fl).filter(|_| mentions_name(&fl.expr, self.active)) {
                    self.count += 1;
                    s = Stmt::Expr(Expr::ForLoop(g), *semi);
                }
            }
            if let Stmt::Expr(Expr::ForLoop(fl), _) = &s {
                if let Some(new) = self.index_loop(fl) {
                    for mut n in new {
                        self.visit_stmt_mut(&mut n);
                        out.push(n);
                    }
                    continue;
                }
            }
            self.visit_stmt_mut(&mut s);
            out.push(s);
        }
        b.stmts = out;
    }

    fn visit_expr_closure_mut(&mut self, _: &mut syn::ExprClosure) {}

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// Whether `body` indexes a name `pat` binds (`p[0]`, `p[0][1]`).
fn indexes_binding(pat: &Pat, body: &Block) -> bool {
    struct Find {
        names: Vec<String>,
        found: bool,
    }
    impl<'ast> syn::visit::Visit<'ast> for Find {
        fn visit_expr_index(&mut self, ix: &'ast syn::ExprIndex) {
            if let Expr::Path(p) = strip_parens(&ix.expr) {
                self.found |= p
                    .path
                    .get_ident()
                    .is_some_and(|i| self.names.iter().any(|n| i == n));
            }
            syn::visit::visit_expr_index(self, ix);
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut f = Find {
        names: crate::parse::bindings(pat),
        found: false,
    };
    syn::visit::visit_block(&mut f, body);
    f.found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(src: &str, active: &[&str]) -> Option<String> {
        let body: Block = syn::parse_str(src).unwrap();
        let active = active.iter().map(|s| s.to_string()).collect();
        rewrite(&body, &active).map(|b| b.to_token_stream().to_string())
    }

    #[test]
    fn shifted_parts_are_read_at_their_offsets() {
        let out = rewritten(
            "{ for (&a, &b) in x.iter().zip(x.iter().skip(1)) { s = s + a * b; } }",
            &["x"],
        )
        .unwrap();
        assert!(out.contains("let a = x [__tl_zip0]"), "{out}");
        assert!(out.contains("let __tl_zip0_at1 = 1 ;"), "{out}");
        assert!(
            out.contains("let b = x [__tl_zip0_at1 + __tl_zip0]"),
            "{out}"
        );
    }

    #[test]
    fn reversed_parts_count_down_from_their_last() {
        let out = rewritten(
            "{ for (a, b) in x.iter().zip(y.iter().rev()) { s = s + *a * *b; } }",
            &["x"],
        )
        .unwrap();
        assert!(out.contains("let a = & x [__tl_zip0]"), "{out}");
        assert!(out.contains("__tl_zip0_at1 - __tl_zip0"), "{out}");
    }

    #[test]
    fn filters_test_the_item_first() {
        let out = rewritten(
            "{ for v in x.iter().filter(|w| **w > 0.0).take_while(|&&w| w < 1.0) { s = s + *v; } }",
            &["x"],
        )
        .unwrap();
        assert!(
            out.contains("for v in x . iter () { if * v > 0.0 { } else { continue ; } if * v < 1.0 { } else { break ; }"),
            "{out}"
        );
        // A test that reads a name the loop shadows is not moved into it.
        let src = "{ let v = 1.0; for v in x.iter().filter(|w| **w > v) { s = s + *v; } }";
        assert_eq!(rewritten(src, &["x"]), None);
    }

    #[test]
    fn what_the_walker_knows_is_left_alone() {
        for src in [
            "{ for (a, b) in x.iter().zip(y.iter()) { s = s + *a * *b; } }",
            "{ for (i, (a, b)) in x.iter().zip(&y).enumerate() { s = s + *a * *b; } }",
            "{ for v in x.iter().skip(1) { s = s + *v; } }",
        ] {
            assert_eq!(rewritten(src, &["x"]), None, "{src}");
        }
        // Constants alone: not ours.
        let src = "{ for (a, b) in l.iter().zip(l.iter().skip(1)) { n += a * b; } }";
        assert_eq!(rewritten(src, &["x"]), None);
    }
}
