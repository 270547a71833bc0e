//! Pass 1: `syn::ItemFn` -> [`Function`], the checked signature. Every
//! construct outside the accepted subset (DESIGN.md) is reported with a span
//! on the user's tokens, all of them in one go; lower.rs may assume the body
//! holds only what [`check_block`] lets through.

use proc_macro2::Ident;
use quote::ToTokens;
use rustc_hash::FxHashSet as HashSet;
use syn::visit::Visit;
use syn::{
    Block, Expr, FnArg, GenericParam, ItemFn, Pat, ReturnType, Stmt, Type, TypeParamBound,
    WherePredicate,
};

use crate::args::Args;
use crate::diag::Diagnostics;

/// A checked `#[differentiable]` fn.
pub(crate) struct Function<'a> {
    pub item: &'a ItemFn,
    /// The body the graph is built from: the item's, with iterator
    /// reductions and returns inside loops written as plain loops
    /// (reductions.rs, returns.rs).
    pub body: std::borrow::Cow<'a, Block>,
    /// The float type: the `Float`-bound generic parameter, or `f32`/`f64`.
    pub float: Type,
    /// Whether the float type is a generic parameter (then plain float
    /// literals are converted to it).
    pub generic: bool,
    pub params: Vec<Param<'a>>,
    pub output: Output,
}

/// A parameter and its role.
pub(crate) struct Param<'a> {
    pub ident: &'a Ident,
    pub ty: &'a Type,
    /// Its gradient is computed and returned.
    pub diff: bool,
    /// Holds floats: the float type itself, or an array of it.
    pub float: Option<Holds>,
    /// Declared `mut`.
    pub mutable: bool,
}

/// What a float parameter or output holds.
#[derive(Clone)]
pub(crate) enum Holds {
    Scalar,
    /// An array of `depth` dimensions; its gradient has type `grad` and
    /// starts as `zeros` (which may read the parameter).
    Array {
        depth: usize,
        grad: Box<Type>,
        zeros: proc_macro2::TokenStream,
    },
}

/// The gradient shape of a parameter type (DESIGN.md's table): `T`,
/// `[T; N]`, `[[T; N]; M]`, `&[T; N]`, `&[T]`, `&Vec<T>`, `Vec<T>`.
pub(crate) fn holds(ty: &Type, float: &Type, ident: Option<&Ident>) -> Option<Holds> {
    let zero = quote::quote!(::tapeless::__private::zero::<#float>());
    if same_type(ty, float) {
        return Some(Holds::Scalar);
    }
    // Fixed-size arrays, nested.
    fn fixed(
        ty: &Type,
        float: &Type,
        zero: &proc_macro2::TokenStream,
    ) -> Option<(usize, Type, proc_macro2::TokenStream)> {
        match ty {
            Type::Paren(p) => fixed(&p.elem, float, zero),
            Type::Array(a) => {
                let len = &a.len;
                if same_type(&a.elem, float) {
                    Some((
                        1,
                        syn::parse_quote!([#float; #len]),
                        quote::quote!([#zero; #len]),
                    ))
                } else {
                    let (d, g, z) = fixed(&a.elem, float, zero)?;
                    (d < 2).then(|| {
                        (
                            d + 1,
                            syn::parse_quote!([#g; #len]),
                            quote::quote!([#z; #len]),
                        )
                    })
                }
            }
            _ => None,
        }
    }
    // `Vec<E>`: the element type.
    let vec_of = |ty: &Type| -> Option<Type> {
        if let Type::Path(tp) = ty {
            let seg = tp.path.segments.last()?;
            if seg.ident == "Vec" {
                if let syn::PathArguments::AngleBracketed(args) = &seg.arguments {
                    if let (1, Some(syn::GenericArgument::Type(t))) =
                        (args.args.len(), args.args.first())
                    {
                        return Some(t.clone());
                    }
                }
            }
        }
        None
    };
    // `let h = layer(..);` used as an array later: patterns.rs marks it
    // `__tl_array1` (or `2` for rows); its type is the callee's.
    if let Type::Path(tp) = ty {
        let depth = match tp.path.get_ident().map(|i| i.to_string()).as_deref() {
            // Passed on whole only: a float or an array (`Whole`).
            Some("__tl_array0") => {
                let zeros = ident
                    .map(|id| quote::quote!({ use ::tapeless::__private::Whole as _; #id.__tl_whole_zeros() }))
                    .unwrap_or_default();
                return Some(Holds::Array {
                    depth: 0,
                    grad: Box::new(syn::parse_quote!(::tapeless::__private::Vec<#float>)),
                    zeros,
                });
            }
            Some("__tl_array1") => Some(1),
            Some("__tl_array2") => Some(2),
            _ => None,
        };
        if let Some(depth) = depth {
            let helper = proc_macro2::Ident::new(
                &format!("ZerosLike{depth}"),
                proc_macro2::Span::call_site(),
            );
            let zeros = ident
                .map(|id| quote::quote!(::tapeless::__private::#helper::<#float>::zeros_like(&#id)))
                .unwrap_or_default();
            return Some(Holds::Array {
                depth,
                grad: Box::new(syn::parse_quote!(::tapeless::__private::Vec<#float>)),
                zeros,
            });
        }
    }
    let vec_elem = |ty: &Type| vec_of(ty).is_some_and(|t| same_type(&t, float));
    let by_len = || {
        let zeros = ident
            .map(|id| quote::quote!(::tapeless::__private::vec![#zero; #id.len()]))
            .unwrap_or_default();
        Some(Holds::Array {
            depth: 1,
            grad: Box::new(syn::parse_quote!(::tapeless::__private::Vec<#float>)),
            zeros,
        })
    };
    // Rows of a batch: `&[[T; N]]`, `&[Vec<T>]`, `Vec<Vec<T>>`.
    let rows = |elem: &Type| -> Option<Holds> {
        let row = proc_macro2::Ident::new("__tl_row", proc_macro2::Span::mixed_site());
        if let Some((1, g, z)) = fixed(elem, float, &zero) {
            let zeros = ident
                .map(|id| quote::quote!(::tapeless::__private::vec![#z; #id.len()]))
                .unwrap_or_default();
            return Some(Holds::Array {
                depth: 2,
                grad: Box::new(syn::parse_quote!(::tapeless::__private::Vec<#g>)),
                zeros,
            });
        }
        if vec_elem(elem) {
            let zeros = ident
                .map(|id| {
                    quote::quote!(#id.iter().map(|#row| ::tapeless::__private::vec![#zero; #row.len()]).collect::<::tapeless::__private::Vec<_>>())
                })
                .unwrap_or_default();
            let grad =
                syn::parse_quote!(::tapeless::__private::Vec<::tapeless::__private::Vec<#float>>);
            return Some(Holds::Array {
                depth: 2,
                grad: Box::new(grad),
                zeros,
            });
        }
        None
    };
    match ty {
        Type::Array(_) => fixed(ty, float, &zero).map(|(depth, grad, zeros)| Holds::Array {
            depth,
            grad: Box::new(grad),
            zeros,
        }),
        Type::Reference(r) if r.mutability.is_none() => match &*r.elem {
            Type::Array(_) => {
                fixed(&r.elem, float, &zero).map(|(depth, grad, zeros)| Holds::Array {
                    depth,
                    grad: Box::new(grad),
                    zeros,
                })
            }
            Type::Slice(s) if same_type(&s.elem, float) => by_len(),
            Type::Slice(s) => rows(&s.elem),
            t if vec_elem(t) => by_len(),
            t => vec_of(t).and_then(|e| rows(&e)),
        },
        t if vec_elem(t) => by_len(),
        t => vec_of(t).and_then(|e| rows(&e)),
    }
}

/// Whether a type is or holds something callable: `impl Trait`, `dyn
/// Trait`, a fn pointer.
fn callable(ty: &Type) -> bool {
    struct Find(bool);
    impl<'ast> Visit<'ast> for Find {
        fn visit_type(&mut self, t: &'ast Type) {
            self.0 |= matches!(
                t,
                Type::ImplTrait(_) | Type::TraitObject(_) | Type::FnPtr(_)
            );
            syn::visit::visit_type(self, t);
        }
    }
    let mut f = Find(false);
    f.visit_type(ty);
    f.0
}

/// The shape of the returned value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    /// The float type: the pullback takes one upstream gradient, and a
    /// `NAME_grad` exists.
    Scalar,
    /// A tuple of `n` floats: the pullback takes a tuple.
    Tuple(usize),
    /// An array or `Vec` of floats: the pullback takes one of the same type.
    Array,
}

/// Checks the signature and the body; returns `None` where the signature is
/// unusable (errors recorded).
pub(crate) fn function<'a>(
    cx: &Diagnostics,
    args: &Args,
    item: &'a ItemFn,
) -> Option<Function<'a>> {
    let sig = &item.sig;
    // Rule: only plain synchronous safe Rust fns; generated code must be able to
    // call the body as written.
    if let Some(t) = &sig.asyncness {
        cx.error(
            t,
            "`async fn` cannot be differentiated; make it a plain `fn` and await outside",
        );
    }
    if let syn::Safety::Unsafe(t) = &sig.safety {
        cx.error(t, "`unsafe fn` cannot be differentiated; keep the unsafe code in a plain fn and pass its result in");
    }
    if let Some(t) = &sig.constness {
        cx.error(t, "`const fn` cannot be differentiated; remove `const`");
    }
    if let Some(abi) = &sig.abi {
        cx.error(abi, "`extern` fns cannot be differentiated; wrap the differentiable code in a plain Rust fn");
    }
    if let Some(v) = &sig.variadic {
        cx.error(v, "variadic fns cannot be differentiated");
    }
    let (float, generic) = match &args.float {
        Some(alias) => alias_float(cx, item, alias)?,
        None => float_type(cx, item)?,
    };

    let mut params = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(r) => cx.error(
                r,
                "a method with `self` is differentiated in an `impl` block marked `#[differentiable]` too, taking `&self` (its fields are constants); or write a free fn that takes the values it needs",
            ),
            FnArg::Typed(pt) => {
                let (ident, mutable) = match &*pt.pat {
                    Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => (&pi.ident, pi.mutability.is_some()),
                    other => {
                        cx.error(other, "parameters must be plain names (`x: T`); destructure inside the body");
                        continue;
                    }
                };
                let holds = holds(&pt.ty, &float, Some(ident));
                // Data of another shape (`&[(f64, f64)]` points), left out
                // of `wrt(..)`: a constant like any other.
                let data = args.wrt.as_ref().is_some_and(|w| !w.iter().any(|n| n == ident));
                if holds.is_none() && mentions(&pt.ty, &float) && callable(&pt.ty) {
                    cx.error(
                        &pt.ty,
                        "a function passed in (`impl Fn(T) -> T`, `fn(T) -> T`, `&dyn Fn(T) -> T`) cannot be \
                         differentiated through; call a `#[differentiable]` fn by its name instead",
                    );
                    continue;
                }
                if holds.is_none() && mentions(&pt.ty, &float) && !data {
                    let f = float.to_token_stream();
                    cx.error(
                        &pt.ty,
                        format_args!(
                            "parameter type `{}` has no gradient tapeless can give; differentiated parameters are `{f}`, \
                             `[{f}; N]`, `[[{f}; N]; M]`, `&[{f}]` or `Vec<{f}>`. If it is data, name the parameters to \
                             differentiate, `#[differentiable(wrt(..))]`, and leave it out",
                            pretty(&pt.ty),
                        ),
                    );
                    continue;
                }
                params.push(Param { ident, ty: &pt.ty, diff: holds.is_some(), float: holds, mutable });
            }
        }
    }

    // Rule: `wrt(..)` names float parameters, each once.
    if let Some(wrt) = &args.wrt {
        for (i, name) in wrt.iter().enumerate() {
            if wrt[..i].contains(name) {
                cx.error(name, format_args!("`{name}` is named twice in `wrt(..)`"));
            }
            match params.iter().find(|p| p.ident == name) {
                None => cx.error(
                    name,
                    format_args!("`wrt({name})` names no parameter of `{}`", sig.ident),
                ),
                Some(p) if !p.diff => cx.error(
                    name,
                    format_args!(
                        "`{name}` is not of the float type `{}`, so it has no gradient; \
                         list only float parameters in `wrt(..)`",
                        float.to_token_stream()
                    ),
                ),
                Some(_) => {}
            }
        }
        for p in &mut params {
            p.diff = p.diff && wrt.iter().any(|w| w == p.ident);
        }
    }

    let output = output(cx, item, &float)?;
    let floats: Vec<String> = params
        .iter()
        .filter(|p| p.float.is_some())
        .map(|p| p.ident.to_string())
        .collect();
    // The body the graph is built from: natural forms the checks and
    // lowering do not know, written as forms they do.
    let mut body = std::borrow::Cow::Borrowed(&*item.block);
    if let Some(b) = crate::labels::rewrite(&body) {
        body = std::borrow::Cow::Owned(b);
    }
    if crate::closures::any(&body) {
        if let Some(b) = crate::closures::rewrite(&body) {
            body = std::borrow::Cow::Owned(b);
        }
    }
    if crate::options::any(&body) {
        let active = may_be_active(&body, floats.clone(), true);
        if let Some(b) = crate::options::rewrite(&body, &float, &active) {
            body = std::borrow::Cow::Owned(b);
        }
    }
    // `d.f(x)` of a parameter `d: &Data`: `Data::f(d, x)`, the call of a
    // `&self` method of a `#[differentiable]` block.
    let receivers = crate::impls::receivers(&params);
    if !receivers.is_empty() {
        let active = may_be_active(&body, floats.clone(), true);
        if let Some(b) = crate::impls::method_calls(&body, &receivers, &active) {
            body = std::borrow::Cow::Owned(b);
        }
    }
    if let Some(b) = crate::returns::array_value(&body, &output, &item.sig.output) {
        body = std::borrow::Cow::Owned(b);
    }
    if let Some(b) = crate::returns::tail_call(&body, &output, &item.sig.output) {
        body = std::borrow::Cow::Owned(b);
    }
    // Owned one-dimensional array parameters (`s0: [T; 2]`, `v: Vec<T>`),
    // and whether each is `mut`: `let mut s = s0;` makes an array as
    // `.to_vec()` does, and a `mut` one may be assigned whole.
    let owned: rustc_hash::FxHashMap<String, bool> = params
        .iter()
        .filter(|p| {
            matches!(&p.float, Some(Holds::Array { depth: 1, .. }))
                && !matches!(p.ty, Type::Reference(_))
        })
        .map(|p| (p.ident.to_string(), p.mutable))
        .collect();
    if crate::patterns::any(&body, &owned) {
        let active = may_be_active(&body, floats.clone(), true);
        if let Some(b) = crate::patterns::rewrite(&body, &active, &owned) {
            body = std::borrow::Cow::Owned(b);
        }
    }
    if crate::matches::any(&body) {
        let active = may_be_active(&body, floats.clone(), true);
        if let Some(b) = crate::matches::rewrite(&body, &active) {
            body = std::borrow::Cow::Owned(b);
        }
    }
    if crate::reductions::any(&body) {
        let active = may_be_active(&body, floats.clone(), true);
        if let Some(b) = crate::reductions::rewrite(&body, &float, &active) {
            body = std::borrow::Cow::Owned(b);
        }
    }
    if crate::walks::any(&body) {
        let active = may_be_active(&body, floats.clone(), true);
        if let Some(b) = crate::walks::rewrite(&body, &active) {
            body = std::borrow::Cow::Owned(b);
        }
    }
    if let Some(b) = crate::returns::rewrite(&body, &output) {
        body = std::borrow::Cow::Owned(b);
    }
    let wrt_active = params
        .iter()
        .any(|p| p.float.is_some() && !p.diff)
        .then(|| {
            let diff = params.iter().filter(|p| p.diff);
            may_be_active(&body, diff.map(|p| p.ident.to_string()).collect(), false)
        });
    check_block(
        &Check {
            diag: cx,
            active: may_be_active(&body, floats, false),
            wrt_active,
        },
        &body,
    );
    Some(Function {
        item,
        body,
        float,
        generic,
        params,
        output,
    })
}

/// The float type: one generic type parameter bounded by `Float` (under any
/// path, inline or in `where`), or else `f32`/`f64` written in the signature.
pub(crate) fn float_type(cx: &Diagnostics, item: &ItemFn) -> Option<(Type, bool)> {
    let g = &item.sig.generics;
    let bounded_by_float = |bounds: &syn::punctuated::Punctuated<
        TypeParamBound,
        syn::Token![+],
    >| {
        bounds.iter().any(|b| match b {
            TypeParamBound::Trait(t) => t.path.segments.last().is_some_and(|s| s.ident == "Float"),
            _ => false,
        })
    };
    let mut floats = Vec::new();
    let mut others = Vec::new();
    for p in &g.params {
        if let GenericParam::Type(tp) = p {
            let in_where = g.where_clause.iter().flat_map(|w| &w.predicates).any(|wp| match wp {
                WherePredicate::Type(pt) => {
                    matches!(&pt.bounded_ty, Type::Path(tp2) if tp2.qself.is_none() && tp2.path.is_ident(&tp.ident))
                        && bounded_by_float(&pt.bounds)
                }
                _ => false,
            });
            if bounded_by_float(&tp.bounds) || in_where {
                floats.push(&tp.ident);
            } else {
                others.push(&tp.ident);
            }
        }
    }
    // Rule: every type parameter is the float type; tapeless differentiates
    // with respect to one float type per fn.
    for o in &others {
        if floats.is_empty() {
            cx.error(
                o,
                format_args!("generic parameter `{o}` needs a `Float` bound: write `{o}: Float` (from `tapeless::Float`)"),
            );
        } else {
            cx.error(
                o,
                format_args!(
                    "generic parameter `{o}` is not supported; a `#[differentiable]` fn is generic over one float type (`{}`) and const parameters",
                    floats[0]
                ),
            );
        }
    }
    if let Some(second) = floats.get(1) {
        cx.error(
            second,
            format_args!(
                "a `#[differentiable]` fn has one float type; use `{}` for every float",
                floats[0]
            ),
        );
    }
    if let Some(t) = floats.first() {
        return Some((syn::parse_quote!(#t), true));
    }
    if !others.is_empty() {
        return None;
    }
    // Concrete: the first of f32/f64 in the signature, and no other.
    let mut found: Option<(&Ident, &Ident)> = None;
    let mut ok = true;
    let tys = item
        .sig
        .inputs
        .iter()
        .filter_map(|i| match i {
            FnArg::Typed(pt) => Some(&*pt.ty),
            FnArg::Receiver(_) => None,
        })
        .chain(match &item.sig.output {
            ReturnType::Type(_, t) => Some(&**t),
            ReturnType::Default => None,
        });
    for ty in tys {
        let mut v = PrimitiveFloats::default();
        v.visit_type(ty);
        for id in v.found {
            match found {
                None => found = Some((id, id)),
                Some((first, _)) if *first != *id && ok => {
                    cx.error(
                        id,
                        format_args!("`{first}` and `{id}` in one `#[differentiable]` fn; use one float type, or a generic `T: Float`"),
                    );
                    ok = false;
                }
                Some(_) => {}
            }
        }
    }
    match found {
        Some((id, _)) if ok => Some((syn::parse_quote!(#id), false)),
        Some(_) => None,
        None => {
            cx.error(
                &item.sig.ident,
                "no float type in this signature; differentiate over a generic `T: Float`, `f32` or `f64` \
                 (a type alias of one is named in the attribute: `#[differentiable(float = Real)]`)",
            );
            None
        }
    }
}

/// `#[differentiable(float = Real)]`: the fn's float type is the alias
/// `Real` of `f32` or `f64` (the macro sees names, not what they stand
/// for). Not for a fn generic over its float type, and the alias must be a
/// name (a path), used for the floats of the signature.
pub(crate) fn alias_float(cx: &Diagnostics, item: &ItemFn, alias: &Type) -> Option<(Type, bool)> {
    let generic_float = item.sig.generics.params.iter().find_map(|p| match p {
        GenericParam::Type(tp) => Some(&tp.ident),
        _ => None,
    });
    if let Some(t) = generic_float {
        cx.error(
            alias,
            format_args!(
                "`float = ..` names a concrete float type's alias; this fn is generic over `{t}`, which is its float type"
            ),
        );
        return None;
    }
    if !matches!(alias, Type::Path(p) if p.qself.is_none()) {
        cx.error(
            alias,
            "`float = ..` takes the name of a type alias of `f32` or `f64` (`float = Real`)",
        );
        return None;
    }
    Some((alias.clone(), false))
}

#[derive(Default)]
struct PrimitiveFloats<'a> {
    found: Vec<&'a Ident>,
}

impl<'a> Visit<'a> for PrimitiveFloats<'a> {
    fn visit_path(&mut self, p: &'a syn::Path) {
        if let Some(id) = p.get_ident() {
            if id == "f32" || id == "f64" {
                self.found.push(id);
            }
        }
        syn::visit::visit_path(self, p);
    }
}

/// The type and const parameters' names (`T, N`), for turbofishes and
/// `use<..>` bounds; lifetimes are left to inference.
pub(crate) fn generic_args(generics: &syn::Generics) -> Vec<proc_macro2::TokenStream> {
    generics
        .params
        .iter()
        .filter_map(|p| match p {
            GenericParam::Type(t) => Some(t.ident.to_token_stream()),
            GenericParam::Const(c) => Some(c.ident.to_token_stream()),
            GenericParam::Lifetime(_) => None,
        })
        .collect()
}

/// A type as a user writes it (`&mut [T]`, not `& mut [T]`).
pub(crate) fn pretty(ty: &Type) -> String {
    let s = ty.to_token_stream().to_string();
    let s = s
        .replace("& ", "&")
        .replace(" ;", ";")
        .replace(" <", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" :: ", "::")
        .replace(" ,", ",");
    s.replace("[ ", "[")
        .replace(" ]", "]")
        .replace("( ", "(")
        .replace(" )", ")")
}

/// Whether `ty` is the float type (`T`, `f64`; parentheses ignored).
pub(crate) fn same_type(ty: &Type, float: &Type) -> bool {
    match ty {
        Type::Paren(p) => same_type(&p.elem, float),
        Type::Group(g) => same_type(&g.elem, float),
        Type::Path(tp) => {
            tp.qself.is_none()
                && tp.path.to_token_stream().to_string() == float.to_token_stream().to_string()
        }
        _ => false,
    }
}

/// Whether the float type appears anywhere in `ty`.
fn mentions(ty: &Type, float: &Type) -> bool {
    struct Find<'f> {
        float: &'f Type,
        hit: bool,
    }
    impl<'a> Visit<'a> for Find<'_> {
        fn visit_type(&mut self, t: &'a Type) {
            if same_type(t, self.float) {
                self.hit = true;
            }
            syn::visit::visit_type(self, t);
        }
    }
    let mut f = Find { float, hit: false };
    f.visit_type(ty);
    f.hit
}

fn output(cx: &Diagnostics, item: &ItemFn, float: &Type) -> Option<Output> {
    let f = float.to_token_stream();
    match &item.sig.output {
        ReturnType::Default => {
            cx.error(
                &item.sig.ident,
                format_args!(
                    "a `#[differentiable]` fn returns what it computes; add a return type `-> {f}`"
                ),
            );
            None
        }
        ReturnType::Type(_, ty) => match &**ty {
            t if same_type(t, float) => Some(Output::Scalar),
            Type::Tuple(tt)
                if !tt.elems.is_empty() && tt.elems.iter().all(|e| same_type(e, float)) =>
            {
                Some(Output::Tuple(tt.elems.len()))
            }
            t if matches!(holds(t, float, None), Some(Holds::Array { .. })) => Some(Output::Array),
            Type::Reference(r) => {
                cx.error(
                    r,
                    format_args!("a `#[differentiable]` fn cannot return a reference; return the value (`-> {f}`)"),
                );
                None
            }
            other => {
                cx.error(
                    other,
                    format_args!(
                        "return type `{}` is not supported; return `{f}`, a tuple such as `({f}, {f})`, `[{f}; N]` or `Vec<{f}>`",
                        pretty(other)
                    ),
                );
                None
            }
        },
    }
}

/// The checks' context: the diagnostics, and the names that may hold a
/// differentiated value.
struct Check<'a> {
    diag: &'a Diagnostics,
    active: HashSet<String>,
    /// What may carry a value differentiated by `wrt(..)`, where it names
    /// fewer than every float (`active` counts them all).
    wrt_active: Option<HashSet<String>>,
}

impl Check<'_> {
    fn wrt_active(&self) -> &HashSet<String> {
        self.wrt_active.as_ref().unwrap_or(&self.active)
    }
}

impl std::ops::Deref for Check<'_> {
    type Target = Diagnostics;
    fn deref(&self) -> &Diagnostics {
        self.diag
    }
}

/// Whether `e` mentions one of `names` as a plain path.
pub(crate) fn mentions_name(e: &Expr, names: &HashSet<String>) -> bool {
    mentions_noting(e, names, None)
}

/// [`mentions_name`], noting in `missed` the names it looked at and did not
/// find (where it finds one, it stops: the answer cannot change).
fn mentions_noting(
    e: &Expr,
    names: &HashSet<String>,
    missed: Option<&mut HashSet<String>>,
) -> bool {
    struct Find<'n, 'm> {
        names: &'n HashSet<String>,
        found: bool,
        missed: Option<&'m mut HashSet<String>>,
    }
    impl Find<'_, '_> {
        fn name(&mut self, id: &proc_macro2::Ident) {
            crate::names::text(id, |name| {
                if self.names.contains(name) {
                    self.found = true;
                } else if let Some(m) = self.missed.as_deref_mut() {
                    m.insert(name.to_string());
                }
            })
        }
    }
    impl<'ast> Visit<'ast> for Find<'_, '_> {
        // One mention is enough.
        fn visit_expr(&mut self, e: &'ast Expr) {
            if !self.found {
                syn::visit::visit_expr(self, e);
            }
        }
        // A length carries no differentiated value (`k < x.len()`).
        fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
            if (m.method == "len" || m.method == "is_empty") && m.args.is_empty() {
                return;
            }
            syn::visit::visit_expr_method_call(self, m);
        }
        fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
            if let Some(id) = p.path.get_ident() {
                self.name(id);
            }
        }
        // `vec![x[0]; n]`, `assert!(..)`: any of the names among its tokens.
        fn visit_macro(&mut self, m: &'ast syn::Macro) {
            fn scan(t: proc_macro2::TokenStream, f: &mut Find<'_, '_>) {
                for t in t {
                    if f.found {
                        return;
                    }
                    match t {
                        proc_macro2::TokenTree::Ident(i) => f.name(&i),
                        proc_macro2::TokenTree::Group(g) => scan(g.stream(), f),
                        _ => {}
                    }
                }
            }
            scan(m.tokens.clone(), self);
        }
    }
    let mut f = Find {
        names,
        found: false,
        missed,
    };
    f.visit_expr(e);
    f.found
}

/// The names that may hold differentiated values: the float parameters,
/// and variables assigned from an expression that mentions one (in order,
/// again while a value carried around a loop turns up). A syntactic over-estimate
/// of lowering's activity, so that closures and `match` (constants only:
/// nothing differentiated may flow into them) are reported with the other
/// errors where they surely fail; lowering decides the rest exactly.
///
/// With `through_loops`, also the names a `for` loop over such a value binds
/// (its rows and elements): reductions.rs's test, where guessing wide is
/// harmless; the checks leave them to lowering.
pub(crate) fn may_be_active(
    block: &Block,
    floats: Vec<String>,
    through_loops: bool,
) -> HashSet<String> {
    struct Spread {
        active: HashSet<String>,
        through_loops: bool,
        /// Per nested block, the names its `let`s bind and whether each
        /// was active before: restored when the block ends (a `let m` in
        /// a loop is not the fn's `m`), for the checks.
        frames: Vec<Vec<(String, bool)>>,
        /// Names a test found inactive in this walk: one of them active at
        /// its end means another walk (a value carried around a loop).
        missed: HashSet<String>,
    }
    impl Spread {
        fn mentions(&mut self, e: &Expr) -> bool {
            mentions_noting(e, &self.active, Some(&mut self.missed))
        }
        /// `place = value`: the place's variable (`s`, also `out` in
        /// `out[i][j]` and `*r`) is active if the value may be.
        fn assign(&mut self, mut place: &Expr, value: &Expr) {
            loop {
                place = match place {
                    Expr::Index(i) => &i.expr,
                    Expr::Field(f) => &f.base,
                    Expr::Paren(p) => &p.expr,
                    Expr::Unary(u) if matches!(u.op, syn::UnOp::Deref(_)) => &u.expr,
                    _ => break,
                };
            }
            if let (Expr::Path(p), true) = (place, self.mentions(value)) {
                if let Some(id) = p.path.get_ident() {
                    self.active.insert(id.to_string());
                }
            }
        }
    }
    impl<'ast> Visit<'ast> for Spread {
        fn visit_block(&mut self, b: &'ast Block) {
            // The rewrites ask about names anywhere (wide); the checks about
            // names in scope.
            if self.through_loops {
                return syn::visit::visit_block(self, b);
            }
            self.frames.push(Vec::new());
            syn::visit::visit_block(self, b);
            for (name, was) in self.frames.pop().unwrap_or_default() {
                if was {
                    self.active.insert(name);
                } else {
                    self.active.remove(&name);
                }
            }
        }
        fn visit_local(&mut self, l: &'ast syn::Local) {
            let names = bindings(&l.pat);
            if let Some(frame) = self.frames.last_mut() {
                for n in &names {
                    if !frame.iter().any(|(m, _)| m == n) {
                        frame.push((n.clone(), self.active.contains(n)));
                    }
                }
            }
            if let Some(init) = &l.init {
                if self.mentions(&init.expr) {
                    self.active.extend(names);
                }
            }
            syn::visit::visit_local(self, l);
        }
        fn visit_expr_assign(&mut self, a: &'ast syn::ExprAssign) {
            self.assign(&a.left, &a.right);
            syn::visit::visit_expr_assign(self, a);
        }
        fn visit_expr_binary(&mut self, b: &'ast syn::ExprBinary) {
            if is_compound(&b.op) {
                self.assign(&b.left, &b.right);
            }
            syn::visit::visit_expr_binary(self, b);
        }
        fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
            // `v.push(x)`, `v.insert(0, x)`, `v.extend(..)`, `a.fill(x)`:
            // what goes in makes the receiver active.
            let fills = ["push", "insert", "extend", "extend_from_slice", "fill"];
            if fills.iter().any(|w| m.method == w) {
                for a in &m.args {
                    self.assign(&m.receiver, a);
                }
            }
            syn::visit::visit_expr_method_call(self, m);
        }
        fn visit_expr_for_loop(&mut self, f: &'ast syn::ExprForLoop) {
            if self.through_loops && self.mentions(&f.expr) {
                self.active.extend(item_bindings(&f.pat, &f.expr));
            }
            syn::visit::visit_expr_for_loop(self, f);
        }
    }
    let mut spread = Spread {
        active: floats.into_iter().collect(),
        through_loops,
        frames: Vec::new(),
        missed: HashSet::default(),
    };
    // The body's own `let`s stand to its end: no frame for it. Walk again
    // while a name a test found inactive ended active (a value carried
    // around a loop, `c = b; b = a; a = x;` takes three walks); every
    // state of a walk holds the same point's state of the walk before, so
    // a walk after which none did would find nothing new.
    for _ in 0..64 {
        spread.missed.clear();
        for s in &block.stmts {
            spread.visit_stmt(s);
        }
        if !spread.missed.iter().any(|n| spread.active.contains(n)) {
            break;
        }
    }
    spread.active
}

/// The names a `for` loop binds to the items of what it walks: none for a
/// range (`usize`s), the item's for `.enumerate()` (not the index).
fn item_bindings(pat: &Pat, iter: &Expr) -> Vec<String> {
    let mut e = strip_parens(iter);
    while let Expr::MethodCall(m) = e {
        match m.method.to_string().as_str() {
            "rev" | "step_by" | "skip" | "take" => e = strip_parens(&m.receiver),
            "enumerate" => {
                return match pat {
                    Pat::Tuple(t) if t.elems.len() == 2 => bindings(&t.elems[1]),
                    _ => bindings(pat),
                }
            }
            _ => break,
        }
    }
    match e {
        Expr::Range(_) => Vec::new(),
        _ => bindings(pat),
    }
}

/// A `match` reads a possibly differentiated name: in its scrutinee, or in
/// an arm's guard or value other than through the arm's own bindings (an
/// arm's `t` is not the fn's `t`).
fn match_reads_active(m: &syn::ExprMatch, active: &HashSet<String>) -> bool {
    mentions_name(&m.expr, active)
        || m.arms.iter().any(|a| {
            let (pat, guard) = arm_parts(a);
            let own = bindings(pat);
            let outer: HashSet<String> = active
                .iter()
                .filter(|n| !own.contains(n))
                .cloned()
                .collect();
            mentions_name(&a.body, &outer) || guard.is_some_and(|(_, g)| mentions_name(g, &outer))
        })
}

/// Iterator adaptors and consumers with closures that no rewrite turns
/// into a loop tapeless walks.
const ADAPTORS: &[&str] = &[
    "skip_while",
    "map_while",
    "filter_map",
    "flat_map",
    "flatten",
    "scan",
    "inspect",
    "partition",
    "find",
    "find_map",
    "reduce",
    "max_by_key",
    "min_by_key",
    "try_fold",
    "for_each",
    "peekable",
    "cycle",
];

/// The closure error, shared with lowering.
pub(crate) const CLOSURE: &str = "this closure is not supported in a `#[differentiable]` fn: closures are, as the arguments of `.map(..)`/`.fold(..)` reductions and bound to a name that is only called (not `move`, no `return` inside); write the code inline or in another `#[differentiable]` fn";
/// The `match` error, shared with lowering.
pub(crate) const MATCH: &str = "this `match` on a differentiated value is not supported in a `#[differentiable]` fn: its arms may bind the value whole (`v if v > 0.0 => ..`) or not at all (`true => ..`, `0.0 => ..`), not by a pattern that can fail; bind it whole, or write the cases with `if`/`else`";

/// `e` with parentheses where its tokens would start with a block
/// (`{ a } * b`, or `match`, `if`, `loop` at its left): written at the start
/// of a statement, such tokens parse as a block statement and then `*b`.
/// Rewrites that splice an expression into a block's tail use it.
pub(crate) fn spliceable(e: &Expr) -> Expr {
    fn block_like(e: &Expr) -> bool {
        matches!(
            e,
            Expr::Block(_)
                | Expr::If(_)
                | Expr::Match(_)
                | Expr::Loop(_)
                | Expr::While(_)
                | Expr::ForLoop(_)
                | Expr::Unsafe(_)
        )
    }
    fn leftmost_block(e: &Expr) -> bool {
        match e {
            e if block_like(e) => true,
            Expr::Binary(b) => leftmost_block(&b.left),
            Expr::MethodCall(m) => leftmost_block(&m.receiver),
            Expr::Field(f) => leftmost_block(&f.base),
            Expr::Index(i) => leftmost_block(&i.expr),
            Expr::Cast(c) => leftmost_block(&c.expr),
            Expr::Try(t) => leftmost_block(&t.expr),
            Expr::Range(r) => r.start.as_deref().is_some_and(leftmost_block),
            _ => false,
        }
    }
    if leftmost_block(e) && !block_like(e) {
        syn::parse_quote!((#e))
    } else {
        e.clone()
    }
}

/// Whether an expression of `body` satisfies `hit` at the level of the
/// loop whose body it is: not inside a loop within it, a closure or an
/// item (`break`, `continue`, `break v` of this loop).
pub(crate) fn at_loop_level(body: &[Stmt], hit: impl Fn(&Expr) -> bool) -> bool {
    struct Find<F> {
        loops: usize,
        hit: F,
        found: bool,
    }
    impl<'ast, F: Fn(&Expr) -> bool> Visit<'ast> for Find<F> {
        fn visit_expr(&mut self, e: &'ast Expr) {
            match e {
                e if self.loops == 0 && (self.hit)(e) => self.found = true,
                Expr::ForLoop(_) | Expr::While(_) | Expr::Loop(_) => {
                    self.loops += 1;
                    syn::visit::visit_expr(self, e);
                    self.loops -= 1;
                }
                Expr::Closure(_) => {}
                _ => syn::visit::visit_expr(self, e),
            }
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut f = Find {
        loops: 0,
        hit,
        found: false,
    };
    body.iter().for_each(|s| f.visit_stmt(s));
    f.found
}

/// `+=`, `-=`, `*=`, `/=`, `%=`.
pub(crate) fn is_compound(op: &syn::BinOp) -> bool {
    use syn::BinOp::*;
    matches!(
        op,
        AddAssign(_) | SubAssign(_) | MulAssign(_) | DivAssign(_) | RemAssign(_)
    )
}

/// A `match` arm's pattern and its guard, apart: syn keeps the guard
/// inside the pattern (`Pat::Guard`), where it binds nothing and reads
/// like any expression.
pub(crate) fn arm_parts(arm: &syn::Arm) -> (&Pat, Option<(&syn::Token![if], &Expr)>) {
    match &arm.pat {
        Pat::Guard(g) => (&g.pat, Some((&g.if_token, &g.guard))),
        p => (p, None),
    }
}

/// Every name a pattern binds (`&&l`, `(a, b)`, `Some(v)`, `n @ 1..=3`).
pub(crate) fn bindings(pat: &Pat) -> Vec<String> {
    struct Names(Vec<String>);
    impl<'ast> Visit<'ast> for Names {
        fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
            self.0.push(p.ident.to_string());
            syn::visit::visit_pat_ident(self, p);
        }
    }
    let mut n = Names(Vec::new());
    n.visit_pat(pat);
    n.0
}

/// The span `Spanned::span` gives an expression on stable Rust (where
/// spans do not join: its first token's), found without printing the
/// expression to tokens first. Lowering asks for one per node, and printing
/// a nested expression for each of its parts cost the pipeline a tenth of
/// its time.
pub(crate) fn first_span(e: &Expr) -> proc_macro2::Span {
    use syn::spanned::Spanned;
    match e {
        Expr::Binary(b) if b.attrs.is_empty() => first_span(&b.left),
        Expr::MethodCall(m) if m.attrs.is_empty() => first_span(&m.receiver),
        Expr::Call(c) if c.attrs.is_empty() => first_span(&c.func),
        Expr::Index(x) if x.attrs.is_empty() => first_span(&x.expr),
        Expr::Field(f) if f.attrs.is_empty() => first_span(&f.base),
        Expr::Cast(c) if c.attrs.is_empty() => first_span(&c.expr),
        Expr::Paren(p) if p.attrs.is_empty() => p.paren_token.span.join(),
        Expr::Lit(l) if l.attrs.is_empty() => l.lit.span(),
        Expr::Path(p) if p.attrs.is_empty() && p.qself.is_none() => match &p.path.leading_colon {
            Some(c) => c.spans[0],
            None => match p.path.segments.first() {
                Some(s) => s.ident.span(),
                None => e.span(),
            },
        },
        _ => e.span(),
    }
}

/// The names of a path's segments (`std::array::from_fn`: `std`,
/// `array`, `from_fn`).
pub(crate) fn segment_names(path: &syn::Path) -> Vec<String> {
    path.segments.iter().map(|s| s.ident.to_string()).collect()
}

/// `e` without the parentheses around it.
pub(crate) fn strip_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

/// Reports every construct of the body outside the accepted subset.
fn check_block(cx: &Check, block: &Block) {
    for stmt in &block.stmts {
        check_stmt(cx, stmt);
    }
}

fn check_stmt(cx: &Check, stmt: &Stmt) {
    match stmt {
        Stmt::Local(local) => {
            if local.init.is_none() {
                // `let y;` assigned later (in each branch, say): one name.
                let plain = match &local.pat {
                    Pat::Ident(pi) => pi.by_ref.is_none() && pi.subpat.is_none(),
                    Pat::Type(pt) => matches!(&*pt.pat, Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none()),
                    _ => false,
                };
                if !plain {
                    cx.error(&local.pat, "declare one variable at a time when it has no value yet: `let y;`");
                }
                return;
            }
            let let_else = local.init.as_ref().and_then(|i| i.diverge.as_ref());
            if let Some((else_token, _)) = let_else {
                cx.error(else_token, "`let ... else` is not supported; bind the value with a plain `let`");
            } else {
                check_pat(cx, &local.pat, true);
            }
            if let Some(init) = &local.init {
                // A closure bound to a name would be called with
                // differentiated values later.
                if let Expr::Closure(c) = strip_parens(&init.expr) {
                    cx.error(c.inputs_begin, CLOSURE);
                }
                check_expr(cx, &init.expr);
            }
        }
        // Re-emitted in every generated fn; a helper fn is called on
        // constants (a differentiated argument needs it `#[differentiable]`).
        Stmt::Item(syn::Item::Const(_) | syn::Item::Use(_) | syn::Item::Fn(_)) => {}
        Stmt::Item(item) => cx.error(
            item,
            "only `const`, `use` and `fn` items are supported inside a `#[differentiable]` fn; define other items outside it",
        ),
        Stmt::Expr(e, _) => check_expr(cx, e),
        Stmt::Macro(m) => check_macro(cx, &m.mac),
    }
}

fn macro_error(cx: &Check, mac: &syn::Macro) {
    if mac.path.is_ident("dbg") {
        cx.error(
            &mac.path,
            "`dbg!` is not supported in a `#[differentiable]` fn; print with `eprintln!(\"{x:?}\")` \
             (prints and assertions run as written, on the forward pass's values)",
        );
        return;
    }
    cx.error(
        &mac.path,
        format_args!(
            "macro calls such as `{}!` are not supported in a `#[differentiable]` fn (`vec!`, the prints and the \
             assertions are); write the expression out, or compute it outside and pass it in",
            mac.path.to_token_stream()
        ),
    );
}

fn check_pat(cx: &Check, pat: &Pat, top: bool) {
    match pat {
        Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {}
        Pat::Wild(_) => {}
        Pat::Tuple(t) => {
            let last = t.elems.len().saturating_sub(1);
            for (i, p) in t.elems.iter().enumerate() {
                match p {
                    // `let (x, ..) = f(..)`: the first fields.
                    Pat::Rest(_) if i == last => {}
                    Pat::Rest(_) => cx.error(
                        p,
                        "`..` is supported at the end of a tuple pattern only (`let (x, y, ..) = f(..)`); \
                         name or `_` the fields before the ones you need",
                    ),
                    p => check_pat(cx, p, false),
                }
            }
        }
        Pat::Paren(p) => check_pat(cx, &p.pat, top),
        Pat::Type(pt) if top => check_pat(cx, &pt.pat, false),
        other => cx.error(
            other,
            "only plain names and tuples of names are supported in `let` (`let x = ..`, `let (s, c) = ..`)",
        ),
    }
}

fn check_expr(cx: &Check, expr: &Expr) {
    match expr {
        Expr::Lit(_) | Expr::Path(_) => {}
        Expr::Binary(b) => {
            if is_compound(&b.op) {
                check_place(cx, &b.left);
            } else {
                check_expr(cx, &b.left);
            }
            check_expr(cx, &b.right);
        }
        Expr::Unary(u) => check_expr(cx, &u.expr),
        Expr::Paren(p) => check_expr(cx, &p.expr),
        Expr::Group(g) => check_expr(cx, &g.expr),
        Expr::Tuple(t) => t.elems.iter().for_each(|e| check_expr(cx, e)),
        Expr::Array(a) => a.elems.iter().for_each(|e| check_expr(cx, e)),
        Expr::Repeat(r) => {
            check_expr(cx, &r.expr);
            check_expr(cx, &r.len);
        }
        Expr::Cast(c) => check_expr(cx, &c.expr),
        Expr::Reference(r) => check_expr(cx, &r.expr),
        Expr::Index(i) => {
            check_expr(cx, &i.expr);
            check_expr(cx, &i.index);
        }
        Expr::Range(r) => {
            r.start.iter().chain(r.end.iter()).for_each(|e| check_expr(cx, e));
        }
        // A question about the items (`x.iter().any(|&v| v > t)`,
        // `.filter(..).count()`) is answered as a constant: its closures may
        // read differentiated values (lowering takes it whole).
        Expr::MethodCall(m)
            if ["any", "all", "position", "rposition", "count"]
                .iter()
                .any(|w| m.method == w) => {}
        // An iterator adaptor no rewrite knows, over differentiated items:
        // said at its name (not at its closure).
        Expr::MethodCall(m)
            if ADAPTORS.iter().any(|w| m.method == w)
                && mentions_name(&m.receiver, cx.wrt_active()) =>
        {
            let name = &m.method;
            let instead = match name.to_string().as_str() {
                "reduce" => "`.reduce(..)` of differentiated items is supported with `max` or `min` \
                    (`.reduce(T::max)`, `.reduce(|a, b| a.min(b))`); for a sum write `.sum()` or \
                    `.fold(T::zero(), |a, b| a + b)`"
                    .to_string(),
                "flatten" => "rows walked flat are supported as a `for` loop's iterator \
                    (`for &v in w.iter().flatten()`, `.copied()`) and reduced by `.sum()`, \
                    `.product()` or `.fold(..)` after `.map(..)`s; collected, or followed by other \
                    adaptors, they are not: write nested `for` loops over the rows"
                    .to_string(),
                other => format!(
                    "`.{other}(..)` of differentiated items is not supported; iterators are walked \
                     with `.map`, `.filter`, `.take_while`, `.zip`, `.enumerate`, `.skip`, `.take`, \
                     `.step_by`, `.rev`, `.chain` (and `rows.iter().flatten()` last) and reduced with \
                     `.sum()`, `.product()`, `.fold(..)`, `.max_by(..)`, `.collect()`; write a `for` loop instead"
                ),
            };
            cx.error(name, instead);
            check_expr(cx, &m.receiver);
        }
        Expr::MethodCall(m) => {
            check_expr(cx, &m.receiver);
            // After an adaptor reported above (`.skip_while(..).map(|v| ..)`),
            // the closures are not errors of their own.
            let mut below = &*m.receiver;
            let mut reported = false;
            while let Expr::MethodCall(r) = strip_parens(below) {
                reported |= ADAPTORS.iter().any(|w| r.method == w)
                    && mentions_name(&r.receiver, cx.wrt_active());
                below = &r.receiver;
            }
            if !reported {
                m.args.iter().for_each(|e| check_expr(cx, e));
            }
        }
        // The order a sort puts an array in (patterns.rs): a constant.
        Expr::Call(c) if crate::patterns::is_order(c) => {}
        Expr::Call(c) => {
            match &*c.func {
                Expr::Path(_) => {}
                other => cx.error(other, "only calls of functions by path (`f(x)`, `T::exp(x)`) are supported"),
            }
            c.args.iter().for_each(|e| check_expr(cx, e));
        }
        // A field of a constant (`cfg.rate`) is a constant; lowering
        // reports one of a differentiated value.
        Expr::Field(f) => check_expr(cx, &f.base),
        Expr::Assign(a) => {
            check_place(cx, &a.left);
            check_expr(cx, &a.right);
        }
        Expr::Block(b) => {
            if let Some(label) = &b.label {
                cx.error(label, "labelled blocks are not supported; use a plain block");
            }
            check_block(cx, &b.block);
        }
        Expr::If(i) => {
            if let Expr::Let(l) = &*i.cond {
                cx.error(l.let_token, "`if let` is not supported in a `#[differentiable]` fn; compare values with `if a < b`");
            } else {
                check_expr(cx, &i.cond);
            }
            check_block(cx, &i.then_branch);
            if let Some((_, e)) = &i.else_branch {
                check_expr(cx, e);
            }
        }
        Expr::ForLoop(f) => {
            if let Some(label) = &f.label {
                cx.error(label, "a label on a loop used as a value is not supported; labels are, on loops written as statements");
            }
            check_loop_pat(cx, &f.pat);
            check_expr(cx, &f.expr);
            check_block(cx, &f.body);
        }
        Expr::While(w) => {
            if let Some(label) = &w.label {
                cx.error(label, "a label on a loop used as a value is not supported; labels are, on loops written as statements");
            }
            if let Expr::Let(l) = &*w.cond {
                cx.error(l.let_token, "`while let` is not supported in a `#[differentiable]` fn; loop over a range or a slice");
            } else {
                check_expr(cx, &w.cond);
            }
            check_block(cx, &w.body);
        }
        Expr::Loop(l) => {
            if let Some(label) = &l.label {
                cx.error(label, "a label on a loop used as a value is not supported; labels are, on loops written as statements");
            }
            check_block(cx, &l.body);
        }
        Expr::Break(b) => {
            if let Some(label) = &b.label {
                cx.error(label, "this `break` leaves a labelled block or a loop used as a value, which is not supported; labels are, on loops written as statements");
            }
            if let Some(e) = &b.expr {
                cx.error(e, "this `break` with a value is not supported; it is, in a `loop` that is a `let`'s value (`let v = loop { .. break x; .. };`) or a block's; else assign the value to a variable, then `break`");
            }
        }
        Expr::Continue(c) => {
            if let Some(label) = &c.label {
                cx.error(label, "this `continue` names a loop used as a value, which is not supported; labels are, on loops written as statements");
            }
        }
        Expr::Return(r) => {
            if let Some(e) = &r.expr {
                check_expr(cx, e);
            }
        }
        Expr::Macro(m) => check_macro(cx, &m.mac),
        // Constants, computed as written, where nothing differentiated flows
        // in (`labels.iter().filter(|&&l| l).count()`, `match mode { 0 => 1,
        // _ => 2 }`); lowering decides where this cannot tell.
        Expr::Closure(c) if mentions_name(expr, &cx.active) => cx.error(c.inputs_begin, CLOSURE),
        Expr::Match(m) if match_reads_active(m, &cx.active) && !crate::matches::is_index(m) => {
            cx.error(m.match_token, MATCH)
        }
        Expr::Closure(_) | Expr::Match(_) => {}
        Expr::Unsafe(u) => cx.error(
            u.unsafe_token,
            "`unsafe` blocks are not allowed in a `#[differentiable]` fn; move the unsafe code into a plain fn and pass its result in",
        ),
        Expr::Async(a) => cx.error(a.async_token, "`async` blocks are not supported in a `#[differentiable]` fn; await outside and pass the value in"),
        Expr::Await(a) => cx.error(a.await_token, "`.await` is not supported in a `#[differentiable]` fn; await outside and pass the value in"),
        Expr::Struct(s) => cx.error(&s.path, "struct literals are not supported in a `#[differentiable]` fn; pass the values as separate parameters"),
        Expr::Try(t) => cx.error(t.question_token, "`?` is not supported in a `#[differentiable]` fn; handle the error outside and pass the value in"),
        Expr::Let(l) => cx.error(l.let_token, "`let` in an expression is not supported; use a `let` statement"),
        other => cx.error(other, "this expression is not supported in a `#[differentiable]` fn"),
    }
}

/// Rule: `vec![x; n]` is the one macro; its parts are checked like code.
fn check_macro(cx: &Check, mac: &syn::Macro) {
    if let Some(args) = assertion(mac) {
        // Checks of the primal values, run as written (no gradient).
        if args.is_none() {
            cx.error(
                &mac.path,
                format_args!(
                    "write `{}!` with its arguments separated by commas",
                    mac.path.to_token_stream()
                ),
            );
        }
    } else if mac.path.is_ident("vec") {
        match parse_vec(mac) {
            Ok(VecMacro::Repeat(e, n)) => {
                check_expr(cx, &e);
                check_expr(cx, &n);
            }
            Ok(VecMacro::Elems(es)) => es.iter().for_each(|e| check_expr(cx, e)),
            Err(e) => cx.push(e),
        }
    } else {
        macro_error(cx, mac);
    }
}

/// For `assert!`, `assert_eq!`, `assert_ne!` and their `debug_` forms, and
/// `println!`, `print!`, `eprintln!`, `eprint!`: their arguments (`None` if
/// they do not parse as expressions), with the index where the message's
/// format string would be (0 for the prints).
pub(crate) fn assertion(mac: &syn::Macro) -> Option<Option<(Vec<Expr>, usize)>> {
    let name = mac.path.get_ident()?.to_string();
    let message_at = match name.as_str() {
        "assert" | "debug_assert" => 1,
        "assert_eq" | "assert_ne" | "debug_assert_eq" | "debug_assert_ne" => 2,
        // Printing, as one debugs: the format string first.
        "println" | "print" | "eprintln" | "eprint" => 0,
        _ => return None,
    };
    let args = mac
        .parse_body_with(syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated)
        .ok()
        .map(|a| (a.into_iter().collect(), message_at));
    Some(args)
}

/// The two forms of `vec!`.
pub(crate) enum VecMacro {
    Repeat(Box<Expr>, Box<Expr>),
    Elems(Vec<Expr>),
}

pub(crate) fn parse_vec(mac: &syn::Macro) -> syn::Result<VecMacro> {
    use syn::parse::Parser;
    let repeat = |input: syn::parse::ParseStream| -> syn::Result<VecMacro> {
        let e: Expr = input.parse()?;
        input.parse::<syn::Token![;]>()?;
        let n: Expr = input.parse()?;
        Ok(VecMacro::Repeat(Box::new(e), Box::new(n)))
    };
    if let Ok(v) = repeat.parse2(mac.tokens.clone()) {
        return Ok(v);
    }
    let elems = syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated;
    elems
        .parse2(mac.tokens.clone())
        .map(|p| VecMacro::Elems(p.into_iter().collect()))
}

/// Rule: loop patterns bind names, `_`, `&name` and tuples of them.
fn check_loop_pat(cx: &Check, pat: &Pat) {
    match pat {
        Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {}
        Pat::Wild(_) => {}
        Pat::Reference(r) => check_loop_pat(cx, &r.pat),
        Pat::Tuple(t) => t.elems.iter().for_each(|p| check_loop_pat(cx, p)),
        Pat::Paren(p) => check_loop_pat(cx, &p.pat),
        other => cx.error(
            other,
            "loop variables must be names, `&name` or tuples of them (`for (i, &v) in ..`)",
        ),
    }
}

/// Rule: assignment targets are local variables by name, or elements of
/// arrays (`a[i] = ..`, `a[i][j] += ..`).
fn check_place(cx: &Check, place: &Expr) {
    match place {
        Expr::Path(p) if p.path.get_ident().is_some() && p.qself.is_none() => {}
        Expr::Index(i) => {
            check_place(cx, &i.expr);
            check_expr(cx, &i.index);
        }
        // `*v = ..` in `for v in x.iter_mut()`; lowering reports other uses.
        Expr::Unary(u)
            if matches!(u.op, syn::UnOp::Deref(_))
                && matches!(&*u.expr, Expr::Path(p) if p.path.get_ident().is_some()) => {}
        other => cx.error(
            other,
            "assign to a local variable by name or to an array element (`x = ..`, `a[i] += ..`)",
        ),
    }
}

/// The names the body may change after binding them: assigned whole or by
/// element (`a = ..`, `a[i] += ..`, `a[i][j] = ..`), lent mutably (`&mut
/// a`), or changed by a method that writes in place (`a.swap(..)`,
/// `a.push(..)`, `a.sort_by(..)`, ...). A syntactic over-estimate (a
/// shadowed name counts for all its bindings): where a copy of an array may
/// read the source instead, the source must not be here.
pub(crate) fn written_names(body: &syn::Block) -> HashSet<String> {
    changed_names(body, false)
}

/// [`written_names`], or with `any_method` the receiver of every method
/// call counted as changed too (the wider over-estimate).
pub(crate) fn changed_names(body: &syn::Block, any_method: bool) -> HashSet<String> {
    struct Find(HashSet<String>, bool);
    impl Find {
        fn base(&mut self, mut e: &Expr) {
            loop {
                e = match e {
                    Expr::Index(i) => &i.expr,
                    Expr::Field(f) => &f.base,
                    Expr::Paren(p) => &p.expr,
                    Expr::Unary(u) => &u.expr,
                    _ => break,
                };
            }
            if let Expr::Path(p) = e {
                if let Some(id) = p.path.get_ident() {
                    self.0.insert(id.to_string());
                }
            }
        }
    }
    impl<'ast> Visit<'ast> for Find {
        fn visit_expr_assign(&mut self, a: &'ast syn::ExprAssign) {
            self.base(&a.left);
            syn::visit::visit_expr_assign(self, a);
        }
        fn visit_expr_binary(&mut self, b: &'ast syn::ExprBinary) {
            if is_compound(&b.op) {
                self.base(&b.left);
            }
            syn::visit::visit_expr_binary(self, b);
        }
        fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
            const IN_PLACE: &[&str] = &[
                "swap",
                "push",
                "pop",
                "insert",
                "remove",
                "clear",
                "truncate",
                "resize",
                "extend",
                "extend_from_slice",
                "append",
                "fill",
                "copy_from_slice",
                "clone_from_slice",
                "iter_mut",
                "as_mut_slice",
                "sort_by",
                "sort_unstable_by",
                "reverse",
                "rotate_left",
                "rotate_right",
                "retain",
                "dedup",
                "get_mut",
                "first_mut",
                "last_mut",
            ];
            if self.1 || IN_PLACE.iter().any(|n| m.method == n) {
                self.base(&m.receiver);
            }
            syn::visit::visit_expr_method_call(self, m);
        }
        fn visit_expr_reference(&mut self, r: &'ast syn::ExprReference) {
            if r.mutability.is_some() {
                self.base(&r.expr);
            }
            syn::visit::visit_expr_reference(self, r);
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut f = Find(HashSet::default(), any_method);
    f.visit_block(body);
    f.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn errors(item: ItemFn) -> Vec<String> {
        let cx = Diagnostics::default();
        let _ = function(&cx, &Args::default(), &item);
        match cx.finish() {
            Ok(()) => vec![],
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn activity_carried_around_a_loop_to_its_fixed_point() {
        // `c` learns of `x` on the third trip: three walks (two were done
        // before, and missed it); straight code needs one.
        let body: Block = parse_quote!({
            let mut a = 0.0;
            let mut b = 0.0;
            let mut c = 0.0;
            let k = 2.0;
            for _ in 0..3 {
                c = b;
                b = a;
                a = x * k;
            }
        });
        for through_loops in [false, true] {
            let active = may_be_active(&body, vec!["x".to_string()], through_loops);
            for name in ["a", "b", "c", "x"] {
                assert!(active.contains(name), "{name}");
            }
            assert!(!active.contains("k"));
        }
    }

    #[test]
    fn generic_float_under_any_name_and_bound_style() {
        for item in [
            parse_quote!(
                fn f<T: Float>(x: T) -> T {
                    x
                }
            ),
            parse_quote!(
                fn f<F: tapeless::Float + Debug>(x: F) -> F {
                    x
                }
            ),
            parse_quote!(
                fn f<T>(x: T) -> T
                where
                    T: Float,
                {
                    x
                }
            ),
        ] {
            let item: ItemFn = item;
            let cx = Diagnostics::default();
            let f = function(&cx, &Args::default(), &item).unwrap();
            assert!(f.generic);
            assert!(f.params[0].diff);
            cx.finish().unwrap();
        }
    }

    #[test]
    fn concrete_float_and_constant_params() {
        let item: ItemFn = parse_quote!(
            fn f(x: f64, n: usize, y: f64) -> f64 {
                x
            }
        );
        let cx = Diagnostics::default();
        let f = function(&cx, &Args::default(), &item).unwrap();
        cx.finish().unwrap();
        assert!(!f.generic);
        let diff: Vec<bool> = f.params.iter().map(|p| p.diff).collect();
        assert_eq!(diff, [true, false, true]);
        assert_eq!(f.output, Output::Scalar);
    }

    #[test]
    fn wrt_selects_and_checks() {
        let item: ItemFn = parse_quote!(
            fn f<T: Float>(a: T, b: T, n: usize) -> (T, T) {
                (a, b)
            }
        );
        let cx = Diagnostics::default();
        let args = Args {
            wrt: Some(vec![parse_quote!(b)]),
            float: None,
        };
        let f = function(&cx, &args, &item).unwrap();
        cx.finish().unwrap();
        assert_eq!(
            f.params.iter().map(|p| p.diff).collect::<Vec<_>>(),
            [false, true, false]
        );
        assert_eq!(f.output, Output::Tuple(2));

        let cx = Diagnostics::default();
        let args = Args {
            wrt: Some(vec![parse_quote!(c), parse_quote!(n)]),
            float: None,
        };
        let _ = function(&cx, &args, &item);
        let msgs: Vec<String> = cx
            .finish()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(msgs.len(), 2, "{msgs:?}");
    }

    #[test]
    fn reports_every_unsupported_construct() {
        let msgs = errors(parse_quote! {
            async fn f<T: Float>(x: T) -> T {
                let c = move |y: T| y;
                unsafe { x }
            }
        });
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert!(msgs[0].contains("async"));
        assert!(msgs[1].contains("closure"));
        assert!(msgs[2].contains("unsafe"));
    }

    #[test]
    fn signature_errors() {
        assert!(errors(parse_quote!(
            fn f<T>(x: T) -> T {
                x
            }
        ))[0]
            .contains("needs a `Float` bound"));
        assert!(errors(parse_quote!(
            fn f<T: Float>(x: T) {
                x
            }
        ))[0]
            .contains("add a return type"));
        assert!(errors(parse_quote!(
            fn f<T: Float>(x: &T) -> &T {
                x
            }
        ))[1]
            .contains("reference"));
        assert!(errors(parse_quote!(
            fn f(x: f32, y: f64) -> f64 {
                y
            }
        ))[0]
            .contains("one float type"));
        assert!(errors(parse_quote!(
            fn f(n: usize) -> usize {
                n
            }
        ))[0]
            .contains("no float type"));
    }
}
