//! Output on error: the errors, the user's fn untouched (so that only the
//! real error shows, not "cannot find function `f`" at every call), and where
//! the signature parsed, `NAME_forward` and `NAME_grad` stubs.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};

use crate::emit::{self, Signature};
use crate::parse::{Function, Output};

/// The errors plus the fn and, where `f` parsed, stubs with its signature.
pub(crate) fn expand(error: syn::Error, item: &syn::ItemFn, f: Option<&Function>) -> TokenStream {
    let errors = error.to_compile_error();
    let Some(f) = f else {
        return quote!(#errors #item);
    };
    let original = emit::original(f);
    let Signature {
        attrs,
        vis,
        generics,
        params,
        out,
        grads,
        captures,
    } = emit::signature(f);
    let (fwd, grad) = (emit::forward_name(f), emit::grad_name(f));
    let protocol_stub = protocol_stub(f);
    let returns_grads = (grads.to_string() != "()").then(|| quote!(-> #grads));
    let where_clause = &generics.where_clause;
    let grad_stub = match f.output {
        Output::Scalar => quote! {
            #(#attrs)*
            #[allow(unused_variables)]
            #vis fn #grad #generics (#(#params),*) -> (#out, #grads) #where_clause {
                ::core::unreachable!("`#[differentiable]` reported an error")
            }
        },
        Output::Tuple(_) | Output::Array => TokenStream::new(),
    };
    quote! {
        #errors
        #original
        #(#attrs)*
        #[allow(unused_variables, unreachable_code)]
        #vis fn #fwd #generics (#(#params),*) -> (#out, impl Fn(#out) #returns_grads #captures) #where_clause {
            (
                ::core::unreachable!("`#[differentiable]` reported an error"),
                move |_: #out| -> #grads { ::core::unreachable!() },
            )
        }
        #grad_stub
        #protocol_stub
    }
}

/// Callers reach `NAME` through its protocol: a stub keeps their code free
/// of errors that are not theirs. None for a method (no struct in an `impl`).
fn protocol_stub(f: &Function) -> TokenStream {
    if f.item.sig.receiver().is_some() {
        return TokenStream::new();
    }
    let vis = &f.item.vis;
    let name = &f.item.sig.ident;
    let generics = &f.item.sig.generics;
    let where_clause = &generics.where_clause;
    let params = f.params.iter().map(|p| {
        let (id, ty) = (p.ident, p.ty);
        quote!(#id: #ty)
    });
    let types: Vec<syn::Type> = f.params.iter().map(|p| emit::unbound(p.ty)).collect();
    let out = match &f.item.sig.output {
        syn::ReturnType::Type(_, t) => t.to_token_stream(),
        syn::ReturnType::Default => quote!(()),
    };
    let returns = emit::protocol_return(f);
    let method = quote! {
        #[doc(hidden)]
        #[allow(unused_variables, unreachable_code)]
        #vis fn __tl_forward #generics (#(#params),*) -> #returns #where_clause {
            (::core::unreachable!(), move |_: #out, _: (#(#types,)*), _: &[bool]| ::core::unreachable!())
        }
    };
    emit::protocol_carrier(vis, name, method)
}

/// Not a fn: the item unchanged, and the error.
pub(crate) fn not_a_fn(item: TokenStream) -> TokenStream {
    let error = syn::Error::new_spanned(
        &item,
        "`#[differentiable]` applies to a `fn`, or to an `impl` block whose associated fns it marks; put it on the function to differentiate",
    )
    .to_compile_error();
    quote!(#error #item)
}
