//! The attribute's arguments: `#[differentiable]`,
//! `#[differentiable(wrt(a, b))]`, `#[differentiable(float = Real)]` (a type
//! alias of `f32` or `f64`), or both. Checks their form only; whether the
//! names are parameters is parse.rs's business.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Ident, Token};

use crate::diag::Diagnostics;

/// What the attribute asked for.
#[derive(Default)]
pub(crate) struct Args {
    /// The parameters named in `wrt(..)`, or `None` for "every float one".
    pub wrt: Option<Vec<Ident>>,
    /// `float = Real`: the fn's float type, named by an alias the macro
    /// cannot see through (`type Real = f64;`).
    pub float: Option<syn::Type>,
}

struct Wrt(Punctuated<Ident, Token![,]>);

impl Parse for Wrt {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        Punctuated::parse_terminated(input).map(Wrt)
    }
}

/// Parses the attribute's tokens, recording any error in `cx`.
pub(crate) fn parse(cx: &Diagnostics, attr: TokenStream) -> Args {
    let mut args = Args::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("wrt") {
            if args.wrt.is_some() {
                return Err(
                    meta.error("`wrt` is given twice; name every parameter in one `wrt(..)`")
                );
            }
            let content;
            syn::parenthesized!(content in meta.input);
            let names: Wrt = content.parse()?;
            args.wrt = Some(names.0.into_iter().collect());
            Ok(())
        } else if meta.path.is_ident("float") {
            if args.float.is_some() {
                return Err(meta.error("`float` is given twice"));
            }
            args.float = Some(meta.value()?.parse()?);
            Ok(())
        } else {
            Err(meta.error(
                "unknown argument; `#[differentiable]` takes `wrt(a, b)` naming the parameters to differentiate, \
                 and `float = Real` naming the float type where it is an alias of `f32` or `f64`",
            ))
        }
    });
    if let Err(e) = parser.parse2(attr) {
        cx.push(e);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn run(tokens: TokenStream) -> (Args, syn::Result<()>) {
        let cx = Diagnostics::default();
        let args = parse(&cx, tokens);
        (args, cx.finish())
    }

    #[test]
    fn empty_means_everything() {
        let (args, res) = run(quote!());
        assert!(res.is_ok() && args.wrt.is_none());
    }

    #[test]
    fn wrt_lists_names() {
        let (args, res) = run(quote!(wrt(a, b)));
        assert!(res.is_ok());
        let names: Vec<String> = args.wrt.unwrap().iter().map(|i| i.to_string()).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn float_names_a_type() {
        let (args, res) = run(quote!(float = Real, wrt(x)));
        assert!(res.is_ok());
        let ty = args.float.unwrap();
        assert_eq!(quote!(#ty).to_string(), "Real");
        assert!(run(quote!(float = Real, float = Real)).1.is_err());
        assert!(run(quote!(float(Real))).1.is_err());
    }

    #[test]
    fn unknown_argument_is_an_error() {
        let (_, res) = run(quote!(with(a)));
        assert!(res.unwrap_err().to_string().contains("unknown argument"));
    }

    #[test]
    fn malformed_wrt_is_an_error() {
        assert!(run(quote!(wrt = a)).1.is_err());
        assert!(run(quote!(wrt(1))).1.is_err());
    }
}
