//! What DESIGN.md accepts in generic code that Rust does not: plain float
//! literals (`2.0 * x` with `x: T`) become `lit::<T>(2.0)`, and compound
//! assignments (`acc += x`, as `Float` has no `AddAssign`) become
//! `acc = acc + (x)`, in the kept fn as in the generated ones. Literals that
//! feed a conversion (`T::from(0.5)`) or a `let` annotated with another type
//! (`let h: f64 = 0.5;`) stay as written.

use proc_macro2::Span;
use quote::quote_spanned;
use syn::visit_mut::VisitMut;
use syn::{Expr, Lit, Type};

use crate::parse::same_type;

/// Rewrites the literals and compound assignments of `block` (the fn
/// body); whether a compound assignment was rewritten.
pub(crate) fn convert_block(float: &Type, block: &mut syn::Block) -> bool {
    let mut c = Converter {
        float,
        compound: false,
    };
    c.visit_block_mut(block);
    c.compound
}

/// Rewrites the literals of one expression.
pub(crate) fn convert_expr(float: &Type, expr: &mut Expr) {
    Converter {
        float,
        compound: false,
    }
    .visit_expr_mut(expr);
}

/// `+=` -> `+`, and so on.
fn compound(op: &syn::BinOp) -> Option<proc_macro2::TokenStream> {
    use syn::BinOp::*;
    match op {
        AddAssign(t) => Some(quote::quote_spanned!(t.spans[0]=> +)),
        SubAssign(t) => Some(quote::quote_spanned!(t.spans[0]=> -)),
        MulAssign(t) => Some(quote::quote_spanned!(t.spans[0]=> *)),
        DivAssign(t) => Some(quote::quote_spanned!(t.spans[0]=> /)),
        _ => None,
    }
}

struct Converter<'a> {
    float: &'a Type,
    compound: bool,
}

/// Whether `ty` is `float` or holds it (`Vec<T>`, `[T; N]`, `(T, T)`,
/// `&[T]`, `Vec<_>`).
fn mentions_type(ty: &Type, float: &Type) -> bool {
    struct Find<'a>(&'a Type, bool);
    impl<'ast> syn::visit::Visit<'ast> for Find<'_> {
        fn visit_type(&mut self, t: &'ast Type) {
            if same_type(t, self.0) || matches!(t, Type::Infer(_)) {
                self.1 = true;
            } else {
                syn::visit::visit_type(self, t);
            }
        }
    }
    let mut f = Find(float, false);
    syn::visit::Visit::visit_type(&mut f, ty);
    f.1
}

/// `T::from(..)`, `T::from_f64(..)`, `NumCast::from(..)`: arguments of a
/// conversion keep their own type.
fn is_conversion(func: &Expr) -> bool {
    match func {
        Expr::Path(p) => p.path.segments.last().is_some_and(|s| {
            let s = s.ident.to_string();
            s == "from" || s.starts_with("from_")
        }),
        _ => false,
    }
}

impl VisitMut for Converter<'_> {
    fn visit_expr_mut(&mut self, e: &mut Expr) {
        match e {
            Expr::Lit(l) => {
                if let Lit::Float(f) = &l.lit {
                    if f.suffix().is_empty() {
                        let float = self.float;
                        let span = f.span();
                        // The user's literal keeps its span; the call around it is ours.
                        let call = quote_spanned!(Span::mixed_site().located_at(span)=>
                            __tl::lit::<#float>(#f)
                        );
                        *e = Expr::Verbatim(call);
                    }
                }
            }
            Expr::Call(c) if is_conversion(&c.func) => {}
            Expr::Binary(b) if compound(&b.op).is_some() => {
                syn::visit_mut::visit_expr_mut(self, e);
                if let Expr::Binary(b) = e {
                    if let Some(op) = compound(&b.op) {
                        self.compound = true;
                        let (left, right) = (&b.left, &b.right);
                        let right = match &**right {
                            Expr::Lit(_)
                            | Expr::Path(_)
                            | Expr::Call(_)
                            | Expr::MethodCall(_)
                            | Expr::Paren(_)
                            | Expr::Verbatim(_) => quote::quote!(#right),
                            _ => quote::quote!((#right)),
                        };
                        *e = syn::parse_quote!(#left = #left #op #right);
                    }
                }
            }
            _ => syn::visit_mut::visit_expr_mut(self, e),
        }
    }

    fn visit_local_mut(&mut self, local: &mut syn::Local) {
        // A `let` of another type keeps its literals (`let h: f64 = 0.5;`);
        // one of floats of the fn's type (`Vec<T>`, `[T; 3]`) converts them.
        if let syn::Pat::Type(pt) = &local.pat {
            if !mentions_type(&pt.ty, self.float) && !matches!(&*pt.ty, Type::Infer(_)) {
                return;
            }
        }
        syn::visit_mut::visit_local_mut(self, local);
    }

    // Items (`const C: f64 = 0.5;`) have their own types.
    fn visit_item_mut(&mut self, _: &mut syn::Item) {}

    /// Inside the macros the subset knows: `vec![0.5; n]`, `vec![a, 1.0]`,
    /// the conditions and operands of assertions (not their messages,
    /// whose arguments are formatted as written), and the values prints
    /// format.
    fn visit_macro_mut(&mut self, mac: &mut syn::Macro) {
        use crate::parse::{assertion, parse_vec, VecMacro};
        if mac.path.is_ident("vec") {
            match parse_vec(mac) {
                Ok(VecMacro::Repeat(mut x, n)) => {
                    self.visit_expr_mut(&mut x);
                    mac.tokens = quote::quote!(#x; #n);
                }
                Ok(VecMacro::Elems(mut es)) => {
                    es.iter_mut().for_each(|e| self.visit_expr_mut(e));
                    mac.tokens = quote::quote!(#(#es),*);
                }
                Err(_) => {}
            }
        } else if let Some(Some((mut args, message_at))) = assertion(mac) {
            // A print's values are what it is for: converted too.
            let print = message_at == 0;
            args.iter_mut()
                .enumerate()
                .filter(|&(i, _)| i < message_at || (print && i > 0))
                .for_each(|(_, e)| self.visit_expr_mut(e));
            mac.tokens = quote::quote!(#(#args),*);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;
    use syn::parse_quote;

    fn convert(mut e: Expr) -> String {
        convert_expr(&parse_quote!(T), &mut e);
        e.to_token_stream().to_string()
    }

    #[test]
    fn plain_literals_take_the_float_type() {
        let s = convert(parse_quote!(2.0 * x + 1e-3));
        assert_eq!(s.matches("lit :: < T >").count(), 2, "{s}");
    }

    #[test]
    fn conversions_suffixes_and_integers_stay() {
        assert!(!convert(parse_quote!(T::from(0.5).unwrap())).contains("lit"));
        assert!(!convert(parse_quote!(2.0_f64 * 3.0f32)).contains("lit"));
        assert!(!convert(parse_quote!(x.powi(2))).contains("lit"));
    }

    #[test]
    fn compound_assignments_become_plain_ones() {
        let s = convert(parse_quote!(acc -= a - b));
        assert_eq!(s, "acc = acc - (a - b)");
    }

    #[test]
    fn annotated_lets_keep_their_type() {
        let mut b: syn::Block = parse_quote!({
            let h: f64 = 0.5;
            let k: T = 0.5;
            let j = 0.5;
        });
        convert_block(&parse_quote!(T), &mut b);
        let s = b.to_token_stream().to_string();
        assert_eq!(s.matches("lit").count(), 2, "{s}");
    }
}
