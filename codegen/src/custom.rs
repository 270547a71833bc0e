//! `#[custom_gradient]`: a hand-written `NAME_forward` (the value and a
//! pullback, the generated convention) becomes callable from
//! `#[differentiable]` code. Emits `NAME` (the value alone), the hidden
//! protocol callers use, and `NAME_grad` for a scalar output.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::{FnArg, ItemFn, Pat, ReturnType, Type};

use crate::diag::Diagnostics;
use crate::parse::{self, Holds};

/// The expansion, or the errors with the fn unchanged.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item_fn: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => return crate::fallback::not_a_fn(item),
    };
    let cx = Diagnostics::default();
    // `float = Real` only: a custom gradient's pullback returns every
    // input's gradient, so there is no `wrt(..)`.
    let mut alias: Option<Type> = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("float") && alias.is_none() {
            alias = Some(meta.value()?.parse()?);
            Ok(())
        } else {
            Err(meta.error(
                "`#[custom_gradient]` takes only `float = Real`, naming the float type where it is an \
                 alias of `f32` or `f64` (its pullback returns every input's gradient: no `wrt(..)`)",
            ))
        }
    });
    if let Err(e) = syn::parse::Parser::parse2(parser, attr) {
        cx.push(e);
    }
    let out = custom(&cx, &item_fn, alias.as_ref());
    match cx.finish() {
        Ok(()) => out.unwrap_or_default(),
        Err(e) => {
            let e = e.to_compile_error();
            quote!(#e #item_fn)
        }
    }
}

struct Param<'a> {
    ident: &'a Ident,
    ty: &'a Type,
    holds: Option<Holds>,
}

fn custom(cx: &Diagnostics, f: &ItemFn, alias: Option<&Type>) -> Option<TokenStream> {
    let sig = &f.sig;
    // Rule: the fn is `NAME_forward`, returning `(Out, impl Fn(Out) -> Grads)`.
    let fwd_name = sig.ident.to_string();
    let Some(name) = fwd_name.strip_suffix("_forward").filter(|n| !n.is_empty()) else {
        cx.error(
            &sig.ident,
            "`#[custom_gradient]` goes on a fn named `NAME_forward` that returns the value and its pullback",
        );
        return None;
    };
    let name = format_ident!("{}", name, span = sig.ident.span());
    let out = match &sig.output {
        ReturnType::Type(_, t) => match &**t {
            Type::Tuple(tt) if tt.elems.len() == 2 => tt.elems[0].clone(),
            other => {
                cx.error(
                    other,
                    "return `(Out, impl Fn(Out) -> Grads)`: the value and its pullback",
                );
                return None;
            }
        },
        ReturnType::Default => {
            cx.error(
                &sig.ident,
                "return `(Out, impl Fn(Out) -> Grads)`: the value and its pullback",
            );
            return None;
        }
    };
    let (float, _) = match alias {
        Some(alias) => parse::alias_float(cx, f, alias)?,
        None => parse::float_type(cx, f)?,
    };
    let mut params = Vec::new();
    let mut borrows = false;
    for input in &sig.inputs {
        match input {
            FnArg::Typed(pt) => match &*pt.pat {
                Pat::Ident(pi) => {
                    borrows |= mentions_reference(&pt.ty);
                    params.push(Param {
                        ident: &pi.ident,
                        ty: &pt.ty,
                        holds: parse::holds(&pt.ty, &float, Some(&pi.ident)),
                    });
                }
                other => cx.error(other, "parameters must be plain names (`x: T`)"),
            },
            FnArg::Receiver(r) => cx.error(r, "a custom gradient is a free fn, not a method"),
        }
    }
    let vis = &f.vis;
    let generics = &sig.generics;
    let where_clause = &generics.where_clause;
    let fwd = &sig.ident;
    let idents: Vec<&Ident> = params.iter().map(|p| p.ident).collect();
    let types: Vec<&Type> = params.iter().map(|p| p.ty).collect();
    // The protocol's pullback takes the arguments with lifetimes elided.
    let free_types: Vec<Type> = params.iter().map(|p| crate::emit::unbound(p.ty)).collect();
    let owned = parse::generic_args(generics);
    let turbofish = if owned.is_empty() {
        TokenStream::new()
    } else {
        quote!(::<#(#owned),*>)
    };
    // The user's pullback returns the float parameters' gradients in order,
    // a lone one unwrapped; the protocol wants one per parameter.
    let floats: Vec<usize> = params
        .iter()
        .enumerate()
        .filter(|(_, p)| p.holds.is_some())
        .map(|(i, _)| i)
        .collect();
    let g = Ident::new("__tl_grads", proc_macro2::Span::mixed_site());
    let mut grads = Vec::new();
    let mut mapped = Vec::new();
    for (i, p) in params.iter().enumerate() {
        match (&p.holds, floats.iter().position(|&k| k == i)) {
            (Some(h), Some(k)) => {
                grads.push(match h {
                    Holds::Array { grad, .. } => grad.to_token_stream(),
                    Holds::Scalar => p.ty.to_token_stream(),
                });
                if floats.len() == 1 {
                    mapped.push(g.to_token_stream());
                } else {
                    let k = syn::Index::from(k);
                    mapped.push(quote!(#g.#k));
                }
            }
            _ => {
                grads.push(quote!(()));
                mapped.push(quote!(()));
            }
        }
    }
    let (value, pullback, dout) = (
        Ident::new("__tl_value", proc_macro2::Span::mixed_site()),
        Ident::new("__tl_pullback", proc_macro2::Span::mixed_site()),
        Ident::new("__tl_dout", proc_macro2::Span::mixed_site()),
    );
    // A pullback that may borrow the arguments cannot be kept by a caller:
    // the protocol runs the forward again when the gradient is needed.
    let protocol_body = if borrows {
        quote! {
            let (#value, _) = #fwd #turbofish (#(#idents),*);
            (#value, move |#dout: #out, (#(#idents,)*): (#(#free_types,)*), _: &[bool]| {
                let (_, #pullback) = #fwd #turbofish (#(#idents),*);
                let #g = #pullback(#dout);
                (#(#mapped,)*)
            })
        }
    } else {
        quote! {
            let (#value, #pullback) = #fwd #turbofish (#(#idents),*);
            (#value, move |#dout: #out, _: (#(#free_types,)*), _: &[bool]| {
                let #g = #pullback(#dout);
                (#(#mapped,)*)
            })
        }
    };
    let value_doc = format!("The value of [`{fwd}`] alone (its gradient is hand-written). Generated by `#[custom_gradient]`.");
    let scalar = parse::same_type(&out, &float);
    let grad_fn = scalar.then(|| {
        let grad_name = format_ident!("{}_grad", name, span = name.span());
        let grad_types: Vec<&TokenStream> = floats.iter().map(|&i| &grads[i]).collect();
        let grad_ty = match grad_types.as_slice() {
            [one] => quote!(#one),
            many => quote!((#(#many),*)),
        };
        let doc = format!("Value and gradient of [`{name}`], by the hand-written [`{fwd}`].");
        quote! {
            #[doc = #doc]
            #[inline]
            #[allow(dead_code)]
            #vis fn #grad_name #generics (#(#idents: #types),*) -> (#out, #grad_ty) #where_clause {
                let (#value, #pullback) = #fwd #turbofish (#(#idents),*);
                (#value, #pullback(::tapeless::__private::one::<#float>()))
            }
        }
    });
    let method = quote! {
        #[doc(hidden)]
        #[inline]
        #vis fn __tl_forward #generics (#(#idents: #types),*)
            -> (#out, impl Fn(#out, (#(#free_types,)*), &[bool]) -> (#(#grads,)*) + use<#(#owned),*>) #where_clause
        {
            #protocol_body
        }
    };
    let carrier = crate::emit::protocol_carrier(vis, &name, method);
    Some(quote! {
        #f

        #[doc = #value_doc]
        #[inline]
        #[allow(dead_code)]
        #vis fn #name #generics (#(#idents: #types),*) -> #out #where_clause {
            #fwd #turbofish (#(#idents),*).0
        }

        #grad_fn

        #carrier
    })
}

fn mentions_reference(ty: &Type) -> bool {
    struct Find(bool);
    impl<'a> syn::visit::Visit<'a> for Find {
        fn visit_type_reference(&mut self, _: &'a syn::TypeReference) {
            self.0 = true;
        }
    }
    let mut f = Find(false);
    syn::visit::Visit::visit_type(&mut f, ty);
    f.0
}
