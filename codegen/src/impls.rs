//! `#[differentiable]` on an `impl` block: each associated fn in it that
//! carries `#[differentiable]` (or `#[differentiable(wrt(..))]`) is expanded
//! as a free fn would be, and the items are turned into associated ones.
//!
//! A free fn's expansion reaches its protocol through a hidden struct named
//! like the fn (`f::__tl_forward`), which cannot live in an `impl`: here the
//! protocol is the associated fn `__tl_differentiable_NAME`, and the expansion's
//! own references are qualified with `Self::` (`NAME_forward::<T>(..)`
//! becomes `Self::NAME_forward::<T>(..)`). Calls from differentiable code
//! to `Self::NAME(..)` or `Type::NAME(..)` reach `__tl_differentiable_NAME` (see
//! `lower.rs`). A `&self` method is differentiated as a fn taking
//! `__tl_self: &Self` (a constant: the fields are data), `self.f(x)` of a
//! marked method being `Self::f(self, x)`; the generated `NAME_forward` and
//! `NAME_grad` take `&self` again. A generic block's parameters (`impl<T: Float> Spring<T>`)
//! join the fn's for the pipeline and leave the generated items again. The
//! attribute on the fn alone cannot see that it is in an `impl`, which is
//! why the block carries it too.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::visit_mut::VisitMut;
use syn::{Expr, ImplItem, Item, Pat};

/// The protocol of associated fn `name` (`__tl_differentiable_NAME`: where
/// a caller names a fn that is not marked, rustc's "no associated item named
/// `__tl_differentiable_f`" says what is missing).
pub(crate) fn protocol_name(name: &syn::Ident) -> syn::Ident {
    format_ident!("__tl_differentiable_{}", name, span = name.span())
}

/// Whether `a` is `#[differentiable]` or `#[differentiable(..)]` (any path
/// ending in that name: `#[tapeless::differentiable]`).
fn is_differentiable(a: &syn::Attribute) -> bool {
    a.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "differentiable")
}

/// The block with its marked fns expanded. `attr` is the block's own
/// attribute arguments, which must be empty.
pub(crate) fn expand(attr: TokenStream, mut block: syn::ItemImpl) -> TokenStream {
    let mut errors = TokenStream::new();
    if !attr.is_empty() {
        errors.extend(
            syn::Error::new_spanned(
                &attr,
                "`#[differentiable]` on an `impl` block takes no arguments; put `wrt(..)` on the fn",
            )
            .to_compile_error(),
        );
    }
    if let Some((path, _)) = &block.trait_ {
        errors.extend(
            syn::Error::new_spanned(
                path,
                "`#[differentiable]` goes on an inherent `impl` block (its generated fns are not the trait's); \
                 move the fns to differentiate into an `impl` of the type itself",
            )
            .to_compile_error(),
        );
        // The fns' own attributes would expand them as free fns here.
        for it in &mut block.items {
            if let ImplItem::Fn(f) = it {
                f.attrs.retain(|a| !is_differentiable(a));
            }
        }
        return quote!(#errors #block);
    }
    let marked: Vec<syn::Ident> = block
        .items
        .iter()
        .filter_map(|it| match it {
            ImplItem::Fn(f) if f.attrs.iter().any(is_differentiable) => Some(f.sig.ident.clone()),
            _ => None,
        })
        .collect();
    if marked.is_empty() {
        errors.extend(
            syn::Error::new(
                block.impl_token.span,
                "no fn in this `impl` block is marked `#[differentiable]`; mark the associated fns to differentiate",
            )
            .to_compile_error(),
        );
    }
    let mut items = Vec::with_capacity(block.items.len());
    for it in std::mem::take(&mut block.items) {
        let ImplItem::Fn(mut f) = it else {
            items.push(it);
            continue;
        };
        let Some(at) = f.attrs.iter().position(is_differentiable) else {
            items.push(ImplItem::Fn(f));
            continue;
        };
        let ours = f.attrs.remove(at);
        let args = match &ours.meta {
            syn::Meta::List(l) => l.tokens.clone(),
            _ => TokenStream::new(),
        };
        // `&self` becomes a constant parameter `__tl_self: &Self` for the
        // pipeline (and `self` in the body `__tl_self`); the generated
        // methods take `&self` again.
        let by_ref = match f.sig.inputs.first() {
            Some(syn::FnArg::Receiver(syn::Receiver {
                kind: syn::ReceiverKind::Reference(and, lifetime, None),
                ..
            })) => {
                let ty: syn::Type = syn::parse_quote!(#and #lifetime Self);
                f.sig.inputs[0] = syn::parse_quote!(__tl_self: #ty);
                let mut rw = SelfParam { marked: &marked };
                rw.visit_block_mut(&mut f.block);
                true
            }
            Some(syn::FnArg::Receiver(r)) => {
                errors.extend(
                    syn::Error::new_spanned(
                        r,
                        "a differentiated method takes `&self` (its fields are constants); \
                         pass what it changes or owns as parameters",
                    )
                    .to_compile_error(),
                );
                items.push(ImplItem::Fn(f));
                continue;
            }
            _ => false,
        };
        // The block's generics (`impl<T: Float> Model<T>`) join the fn's
        // for the pipeline, which looks for the float type there, and
        // leave the generated items again (the block declares them).
        let mut sig = f.sig;
        sig.generics = merged(&block.generics, sig.generics);
        let free = syn::ItemFn {
            attrs: f.attrs,
            vis: f.vis,
            // A free fn has no `default` (specialization).
            modifiers: syn::FnModifiers::default(),
            sig,
            block: Box::new(f.block),
        };
        let name = free.sig.ident.clone();
        let expansion = crate::differentiable(args, free.to_token_stream());
        items.extend(associated(
            &name,
            expansion,
            &marked,
            &block.generics,
            by_ref,
        ));
    }
    block.items = items;
    quote!(#errors #block)
}

/// `outer`'s parameters and bounds with `inner`'s: lifetimes first, then
/// the block's types and constants, then the fn's (so that a turbofish of
/// the merged fn starts with the block's).
fn merged(outer: &syn::Generics, inner: syn::Generics) -> syn::Generics {
    if outer.params.is_empty() && outer.where_clause.is_none() {
        return inner;
    }
    let lifetime = |p: &&syn::GenericParam| matches!(p, syn::GenericParam::Lifetime(_));
    let params: Vec<syn::GenericParam> = outer
        .params
        .iter()
        .filter(lifetime)
        .chain(inner.params.iter().filter(lifetime))
        .chain(outer.params.iter().filter(|p| !lifetime(p)))
        .chain(inner.params.iter().filter(|p| !lifetime(p)))
        .cloned()
        .collect();
    let predicates: Vec<syn::WherePredicate> = outer
        .where_clause
        .iter()
        .chain(inner.where_clause.iter())
        .flat_map(|w| w.predicates.iter().cloned())
        .collect();
    syn::Generics {
        lt_token: Some(Default::default()),
        params: params.into_iter().collect(),
        gt_token: Some(Default::default()),
        where_clause: (!predicates.is_empty()).then(|| syn::WhereClause {
            where_token: Default::default(),
            predicates: predicates.into_iter().collect(),
        }),
    }
}

/// `generics` without what the block declares (see [`merged`]).
fn unmerged(generics: &mut syn::Generics, outer: &syn::Generics) {
    let name = |p: &syn::GenericParam| match p {
        syn::GenericParam::Lifetime(l) => l.lifetime.ident.to_string(),
        syn::GenericParam::Type(t) => t.ident.to_string(),
        syn::GenericParam::Const(c) => c.ident.to_string(),
    };
    let declared: Vec<String> = outer.params.iter().map(name).collect();
    generics.params = std::mem::take(&mut generics.params)
        .into_iter()
        .filter(|p| !declared.contains(&name(p)))
        .collect();
    if let (Some(w), Some(ow)) = (&mut generics.where_clause, &outer.where_clause) {
        let theirs: Vec<String> = ow
            .predicates
            .iter()
            .map(|p| p.to_token_stream().to_string())
            .collect();
        w.predicates = std::mem::take(&mut w.predicates)
            .into_iter()
            .filter(|p| !theirs.contains(&p.to_token_stream().to_string()))
            .collect();
        if w.predicates.is_empty() {
            generics.where_clause = None;
        }
    }
    if generics.params.is_empty() {
        generics.lt_token = None;
        generics.gt_token = None;
    }
}

/// A free fn's expansion as associated items.
fn associated(
    name: &syn::Ident,
    expansion: TokenStream,
    marked: &[syn::Ident],
    outer: &syn::Generics,
    by_ref: bool,
) -> Vec<ImplItem> {
    let file: syn::File = match syn::parse2(expansion.clone()) {
        Ok(f) => f,
        // Not expected (the expansion is Rust); keep the tokens for rustc.
        Err(_) => return vec![ImplItem::Verbatim(expansion)],
    };
    let mut out = Vec::new();
    for item in file.items {
        match item {
            Item::Fn(f) => out.push(ImplItem::Fn(syn::ImplItemFn {
                attrs: f.attrs,
                vis: f.vis,
                modifiers: f.modifiers,
                sig: f.sig,
                block: *f.block,
            })),
            // The free fn's protocol carrier: its method is ours.
            Item::Struct(s) if s.ident == *name => {}
            Item::Impl(i) if carrier_of(&i, name) => {
                for m in i.items {
                    match m {
                        ImplItem::Fn(mut m) => {
                            m.sig.ident = protocol_name(name);
                            out.push(ImplItem::Fn(m));
                        }
                        other => out.push(other),
                    }
                }
            }
            Item::Macro(m) => out.push(ImplItem::Macro(syn::ImplItemMacro {
                attrs: m.attrs,
                mac: m.mac,
                semi_token: m.semi_token,
            })),
            other => out.push(ImplItem::Verbatim(other.into_token_stream())),
        }
    }
    let skip = outer
        .params
        .iter()
        .filter(|p| !matches!(p, syn::GenericParam::Lifetime(_)))
        .count();
    let mut q = Qualify { name, marked, skip };
    let protocol = protocol_name(name);
    for it in &mut out {
        if let ImplItem::Fn(f) = it {
            unmerged(&mut f.sig.generics, outer);
            if by_ref && f.sig.ident != protocol {
                receiver_again(f);
            }
        }
        q.visit_impl_item_mut(it);
    }
    out
}

/// `fn f(__tl_self: &'a Self, ..)` as `fn f(&'a self, ..)`, its body
/// starting with `let __tl_self = self;`. The protocol keeps the parameter
/// (callers pass the receiver first, as `Self::f(self, ..)` does).
fn receiver_again(f: &mut syn::ImplItemFn) {
    let Some(syn::FnArg::Typed(pt)) = f.sig.inputs.first() else {
        return;
    };
    let (syn::Pat::Ident(pi), syn::Type::Reference(r)) = (&*pt.pat, &*pt.ty) else {
        return;
    };
    if pi.ident != "__tl_self" {
        return;
    }
    let lifetime = &r.lifetime;
    f.sig.inputs[0] = syn::parse_quote!(&#lifetime self);
    f.block
        .stmts
        .insert(0, syn::parse_quote!(let __tl_self = self;));
}

/// `impl NAME { .. }`: the carrier's.
fn carrier_of(i: &syn::ItemImpl, name: &syn::Ident) -> bool {
    i.trait_.is_none()
        && matches!(&*i.self_ty, syn::Type::Path(p) if p.qself.is_none() && p.path.is_ident(name))
}

/// Qualifies the expansion's references to its own items with `Self::`.
struct Qualify<'a> {
    name: &'a syn::Ident,
    marked: &'a [syn::Ident],
    /// How many generic arguments of the block lead the turbofishes of
    /// the expansion's references to its own items (dropped: the block
    /// has them).
    skip: usize,
}

impl Qualify<'_> {
    /// `seg`'s turbofish without the block's arguments.
    fn unmerge(&self, seg: &mut syn::PathSegment) {
        if self.skip == 0 {
            return;
        }
        if let syn::PathArguments::AngleBracketed(a) = &mut seg.arguments {
            a.args = std::mem::take(&mut a.args)
                .into_iter()
                .skip(self.skip)
                .collect();
            if a.args.is_empty() {
                seg.arguments = syn::PathArguments::None;
            }
        }
    }

    /// `NAME_forward` or `NAME_grad` of a marked fn.
    fn generated(&self, id: &syn::Ident) -> bool {
        let s = id.to_string();
        self.marked.iter().any(|m| {
            let m = m.to_string();
            s.strip_prefix(&m)
                .is_some_and(|rest| rest == "_forward" || rest == "_grad")
        })
    }
}

impl VisitMut for Qualify<'_> {
    // The generated mention of a fn without generics, `let _ = NAME;` (a
    // `let _` of a local of that name would be as harmless qualified).
    fn visit_local_mut(&mut self, l: &mut syn::Local) {
        if let (Pat::Wild(_), Some(init)) = (&l.pat, &mut l.init) {
            if let Expr::Path(p) = &mut *init.expr {
                if p.qself.is_none() && p.path.is_ident(self.name) {
                    let ident = self.name;
                    *init.expr = syn::parse_quote!(Self::#ident);
                    return;
                }
            }
        }
        syn::visit_mut::visit_local_mut(self, l);
    }

    fn visit_expr_path_mut(&mut self, e: &mut syn::ExprPath) {
        if e.qself.is_some() {
            return;
        }
        let segs = &e.path.segments;
        let self_seg = || syn::PathSegment::from(syn::Ident::new("Self", Span::call_site()));
        match segs.len() {
            // `NAME_forward::<T>` and `NAME_grad::<T>`; `NAME::<T>` (the
            // generated mention of the user's fn) only with its turbofish, so
            // that a local variable of the fn's name stays one.
            1 if e.path.leading_colon.is_none() => {
                let seg = &segs[0];
                let named = seg.ident == *self.name && !seg.arguments.is_none();
                if self.generated(&seg.ident) || named {
                    self.unmerge(&mut e.path.segments[0]);
                    e.path.segments.insert(0, self_seg());
                }
            }
            // The delegate `NAME::__tl_forward::<T>`.
            2 if e.path.leading_colon.is_none()
                && segs[0].ident == *self.name
                && segs[1].ident == "__tl_forward" =>
            {
                let mut last = segs[1].clone();
                last.ident = protocol_name(self.name);
                self.unmerge(&mut last);
                e.path.segments = [self_seg(), last].into_iter().collect();
            }
            _ => {}
        }
    }

    fn visit_attribute_mut(&mut self, a: &mut syn::Attribute) {
        // Doc links to the fn and its forward resolve in the `impl`.
        let syn::Meta::NameValue(nv) = &mut a.meta else {
            return;
        };
        if !nv.path.is_ident("doc") {
            return;
        }
        if let syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) = &mut nv.value
        {
            let text = s.value();
            let name = self.name.to_string();
            let fixed = text
                .replace(&format!("[`{name}`]"), &format!("[`Self::{name}`]"))
                .replace(
                    &format!("[`{name}_forward`]"),
                    &format!("[`Self::{name}_forward`]"),
                );
            if fixed != text {
                *s = syn::LitStr::new(&fixed, s.span());
            }
        }
    }

    // Items inside bodies (the callees' `use` aliases) are left alone.
    fn visit_item_mut(&mut self, _: &mut Item) {}
}

/// A `&self` method's body for the pipeline: `self` is `__tl_self`, and a
/// call of a marked method on it (`self.f(x)`) is `Self::f(__tl_self, x)`.
struct SelfParam<'a> {
    marked: &'a [syn::Ident],
}

impl VisitMut for SelfParam<'_> {
    fn visit_expr_mut(&mut self, e: &mut syn::Expr) {
        if let syn::Expr::MethodCall(m) = e {
            let on_self = matches!(&*m.receiver, syn::Expr::Path(p) if p.path.is_ident("self"));
            if on_self && self.marked.contains(&m.method) {
                let method = &m.method;
                let turbofish = &m.turbofish;
                let args = &m.args;
                *e = syn::parse_quote!(Self::#method #turbofish(self, #args));
            }
        }
        syn::visit_mut::visit_expr_mut(self, e);
    }

    /// `self` the value (not `self::` a module path).
    fn visit_expr_path_mut(&mut self, p: &mut syn::ExprPath) {
        if p.qself.is_none() && p.path.leading_colon.is_none() && p.path.is_ident("self") {
            p.path.segments[0].ident =
                syn::Ident::new("__tl_self", p.path.segments[0].ident.span());
        }
    }

    /// In macros (`assert!(self.n > 0)`), the tokens: `self` not followed
    /// by `::`.
    fn visit_macro_mut(&mut self, m: &mut syn::Macro) {
        m.tokens = self_tokens(std::mem::take(&mut m.tokens));
    }

    // Items in the body have no `self` of ours.
    fn visit_item_mut(&mut self, _: &mut Item) {}
}

/// Whether `name`, a path's segment before a fn's name, is a type whose
/// associated fns may be a `#[differentiable]` block's: `Self`, or a name
/// in UpperCamelCase (with a lower-case letter: not a float type parameter
/// such as `T` or `F`) that is not `Float` or a standard type.
pub(crate) fn user_type(name: &str) -> bool {
    const STD: &[&str] = &[
        "Float", "Vec", "VecDeque", "String", "Box", "Rc", "Arc", "Cell", "RefCell", "Option",
        "Result", "HashMap", "BTreeMap", "HashSet", "BTreeSet", "Some", "Ok", "Err",
    ];
    name == "Self"
        || (name.starts_with(|c: char| c.is_ascii_uppercase())
            && name.contains(|c: char| c.is_ascii_lowercase())
            && !STD.contains(&name))
}

/// Parameters whose methods may be `&self` methods of a `#[differentiable]`
/// block: a shared reference to a [`user_type`] (`d: &Data`, `m:
/// &Model<f64>`), by name, with its type's path and whether it is a
/// reference.
pub(crate) fn receivers(params: &[crate::parse::Param]) -> Vec<(String, syn::Path, bool)> {
    params
        .iter()
        .filter(|p| p.float.is_none())
        .filter_map(|p| {
            // By reference only: a borrow of an owned parameter would be
            // kept by the call's pullback past the fn.
            let (ty, by_ref) = match p.ty {
                syn::Type::Reference(r) if r.mutability.is_none() => (&*r.elem, true),
                _ => return None,
            };
            let syn::Type::Path(tp) = ty else { return None };
            let last = tp.path.segments.last()?.ident.to_string();
            (tp.qself.is_none() && user_type(&last))
                .then(|| (p.ident.to_string(), tp.path.clone(), by_ref))
        })
        .collect()
}

/// `d.f(x)`, `d` one of `receivers` and an argument possibly
/// differentiated (in `active`): `Data::f(d, x)` (`Data::f(&d, x)` for a
/// parameter held by value), the form in which the macro calls a `&self`
/// method of a `#[differentiable]` block. None where nothing changed.
pub(crate) fn method_calls(
    body: &syn::Block,
    receivers: &[(String, syn::Path, bool)],
    active: &rustc_hash::FxHashSet<String>,
) -> Option<syn::Block> {
    struct Rewrite<'a> {
        receivers: &'a [(String, syn::Path, bool)],
        active: &'a rustc_hash::FxHashSet<String>,
        changed: bool,
    }
    impl VisitMut for Rewrite<'_> {
        fn visit_expr_mut(&mut self, e: &mut syn::Expr) {
            syn::visit_mut::visit_expr_mut(self, e);
            let syn::Expr::MethodCall(m) = e else { return };
            let syn::Expr::Path(p) = &*m.receiver else {
                return;
            };
            let Some(name) = p.path.get_ident() else {
                return;
            };
            let Some((_, ty, by_ref)) = self.receivers.iter().find(|(n, _, _)| name == n) else {
                return;
            };
            if !m
                .args
                .iter()
                .any(|a| crate::parse::mentions_name(a, self.active))
            {
                return;
            }
            // The type's own generic arguments go in a turbofish position.
            let mut ty = ty.clone();
            if let Some(last) = ty.segments.last_mut() {
                if let syn::PathArguments::AngleBracketed(a) = &mut last.arguments {
                    a.colon2_token = Some(Default::default());
                }
            }
            let (method, turbofish, args) = (&m.method, &m.turbofish, &m.args);
            let receiver = if *by_ref {
                quote!(#name)
            } else {
                quote!(&#name)
            };
            *e = syn::parse_quote_spanned!(m.method.span()=> #ty::#method #turbofish(#receiver, #args));
            self.changed = true;
        }

        fn visit_expr_closure_mut(&mut self, _: &mut syn::ExprClosure) {}

        fn visit_item_mut(&mut self, _: &mut Item) {}
    }
    let mut r = Rewrite {
        receivers,
        active,
        changed: false,
    };
    let mut body = body.clone();
    r.visit_block_mut(&mut body);
    r.changed.then_some(body)
}

/// `tokens` with the value `self` renamed `__tl_self` (see [`SelfParam`]).
fn self_tokens(tokens: TokenStream) -> TokenStream {
    use proc_macro2::TokenTree;
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = Vec::with_capacity(trees.len());
    for (i, t) in trees.iter().enumerate() {
        match t {
            TokenTree::Ident(id) if id == "self" => {
                let path =
                    matches!(trees.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == ':');
                out.push(if path {
                    t.clone()
                } else {
                    TokenTree::Ident(syn::Ident::new("__tl_self", id.span()))
                });
            }
            TokenTree::Group(g) => {
                let mut group = proc_macro2::Group::new(g.delimiter(), self_tokens(g.stream()));
                group.set_span(g.span());
                out.push(TokenTree::Group(group));
            }
            other => out.push(other.clone()),
        }
    }
    out.into_iter().collect()
}
