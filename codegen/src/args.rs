//! The attribute's arguments: `#[differentiable]` or
//! `#[differentiable(wrt(a, b))]`. Checks their form only; whether the names
//! are parameters is parse.rs's business.

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
        } else {
            Err(meta.error(
                "unknown argument; `#[differentiable]` takes `wrt(a, b)` naming the parameters to differentiate",
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
