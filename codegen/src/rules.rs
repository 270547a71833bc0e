//! Pass 4: the rule table. For every primitive: how the forward computes it,
//! what the backward keeps, and its pullback (the local gradient times the
//! upstream gradient `g`, for each input). No `_ =>` arm in any of the three:
//! a new `Prim` does not compile until all of them handle it.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};

use crate::graph::Prim;

/// What the backward pass reads of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keep {
    Nothing,
    Inputs,
    Output,
    InputsAndOutput,
}

/// The contribution of one pullback to one input's adjoint.
#[derive(Clone, Debug)]
pub(crate) enum Local {
    /// Nothing flows (a flat function, or a non-float argument).
    Zero,
    /// `g` itself (add distributes).
    Same,
    /// `-g`.
    Neg,
    /// Any other expression of `g` and the kept values.
    Expr(TokenStream),
}

/// The tokens a pullback may read: the inputs, the output, the upstream
/// gradient, and the float type (for constants). The inputs and output are
/// whatever writes their tokens (a node's name, by reference).
pub(crate) struct Kept<'a, A> {
    pub args: &'a [A],
    pub out: A,
    pub g: &'a dyn ToTokens,
    pub float: &'a TokenStream,
}

impl<A> Kept<'_, A> {
    fn lit(&self, v: TokenStream) -> TokenStream {
        let t = self.float;
        quote!(__tl::lit::<#t>(#v))
    }
}

/// `__tl`, the generated bodies' name for `::tapeless::__private` (see
/// [`crate::emit::alias`]), written where a rule interpolates it: a rule
/// builds no stream for it to be copied from (rules run once per node, and
/// the pipeline's cost is mostly tokens made and copied).
struct Private;

impl ToTokens for Private {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        use proc_macro2::{Ident, Span};
        use quote::TokenStreamExt;
        tokens.append(Ident::new("__tl", Span::call_site()));
    }
}

/// `one::<T>()`, written where interpolated, like [`Private`].
struct One<'a>(&'a TokenStream);

impl ToTokens for One<'_> {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        let t = self.0;
        tokens.extend(quote!(__tl::one::<#t>()));
    }
}

/// The forward computation of `prim` on its inputs.
pub(crate) fn forward<A: ToTokens>(prim: Prim, a: &[A]) -> TokenStream {
    let (x, y, z) = (a.first(), a.get(1), a.get(2));
    match prim {
        Prim::Add => quote!(#x + #y),
        Prim::Sub => quote!(#x - #y),
        Prim::Mul => quote!(#x * #y),
        Prim::Div => quote!(#x / #y),
        Prim::Rem => quote!(#x % #y),
        Prim::Neg => quote!(-#x),
        Prim::Exp => quote!(#x.exp()),
        Prim::Exp2 => quote!(#x.exp2()),
        Prim::ExpM1 => quote!(#x.exp_m1()),
        Prim::Ln => quote!(#x.ln()),
        Prim::Ln1p => quote!(#x.ln_1p()),
        Prim::Log => quote!(#x.log(#y)),
        Prim::Log2 => quote!(#x.log2()),
        Prim::Log10 => quote!(#x.log10()),
        Prim::Sqrt => quote!(#x.sqrt()),
        Prim::Cbrt => quote!(#x.cbrt()),
        Prim::Powi => quote!(#x.powi(#y)),
        Prim::Powf => quote!(#x.powf(#y)),
        Prim::Recip => quote!(#x.recip()),
        Prim::Sin => quote!(#x.sin()),
        Prim::Cos => quote!(#x.cos()),
        Prim::Tan => quote!(#x.tan()),
        Prim::Asin => quote!(#x.asin()),
        Prim::Acos => quote!(#x.acos()),
        Prim::Atan => quote!(#x.atan()),
        Prim::Atan2 => quote!(#x.atan2(#y)),
        Prim::Sinh => quote!(#x.sinh()),
        Prim::Cosh => quote!(#x.cosh()),
        Prim::Tanh => quote!(#x.tanh()),
        Prim::Asinh => quote!(#x.asinh()),
        Prim::Acosh => quote!(#x.acosh()),
        Prim::Atanh => quote!(#x.atanh()),
        Prim::Abs => quote!(#x.abs()),
        Prim::Max => quote!(#x.max(#y)),
        Prim::Min => quote!(#x.min(#y)),
        Prim::Clamp => quote!(#x.clamp(#y, #z)),
        Prim::Hypot => quote!(#x.hypot(#y)),
        Prim::MulAdd => quote!(#x.mul_add(#y, #z)),
        Prim::ToDegrees => quote!(#x.to_degrees()),
        Prim::ToRadians => quote!(#x.to_radians()),
        Prim::Signum => quote!(#x.signum()),
        Prim::Floor => quote!(#x.floor()),
        Prim::Ceil => quote!(#x.ceil()),
        Prim::Round => quote!(#x.round()),
        Prim::Trunc => quote!(#x.trunc()),
        Prim::Fract => quote!(#x.fract()),
    }
}

/// What the pullback of `prim` reads (JAX's rule classes: linear rules keep
/// nothing, `exp` keeps its output, `sin` its input, ...).
pub(crate) fn keep(prim: Prim) -> Keep {
    use Prim::*;
    match prim {
        Add | Sub | Neg | ToDegrees | ToRadians | Signum | Floor | Ceil | Round | Trunc | Fract => {
            Keep::Nothing
        }
        Exp | Exp2 | ExpM1 | Sqrt | Cbrt | Recip | Tan | Tanh => Keep::Output,
        Mul | Rem | Ln | Ln1p | Log2 | Log10 | Powi | Sin | Cos | Asin | Acos | Atan | Atan2
        | Sinh | Cosh | Asinh | Acosh | Atanh | Abs | Max | Min | Clamp | MulAdd => Keep::Inputs,
        Div | Log | Powf | Hypot => Keep::InputsAndOutput,
    }
}

/// The pullback of `prim`: one [`Local`] per input, in order.
pub(crate) fn pullback<A: ToTokens>(prim: Prim, v: &Kept<A>) -> Vec<Local> {
    use Local::{Expr as E, Neg, Same, Zero};
    let (g, y, one, p) = (v.g, &v.out, One(v.float), Private);
    // lower.rs gives every primitive its arity: an input is never missing.
    let (a, b, c) = (v.args.first(), v.args.get(1), v.args.get(2));
    match prim {
        // add distributes
        Prim::Add => vec![Same, Same],
        Prim::Sub => vec![Same, Neg],
        // mul swaps
        Prim::Mul => vec![E(quote!(#g * #b)), E(quote!(#g * #a))],
        // d(a/b) = da/b - a db/b^2 = da/b - y db/b: one division, `g / b`,
        // written the same in both terms so that LLVM computes it once
        Prim::Div => vec![E(quote!(#g / #b)), E(quote!(-(#g / #b) * #y))],
        // a % b = a - trunc(a / b) b, the truncation flat
        Prim::Rem => vec![Same, E(quote!(-#g * (#a / #b).trunc()))],
        Prim::Neg => vec![Neg],
        // exp reuses its output
        Prim::Exp => vec![E(quote!(#g * #y))],
        Prim::Exp2 => {
            let ln2 = v.lit(quote!(::core::f64::consts::LN_2));
            vec![E(quote!(#g * #y * #ln2))]
        }
        Prim::ExpM1 => vec![E(quote!(#g * (#y + #one)))],
        Prim::Ln => vec![E(quote!(#g / #a))],
        Prim::Ln1p => vec![E(quote!(#g / (#one + #a)))],
        // log_b(a) = ln a / ln b
        Prim::Log => vec![
            E(quote!(#g / (#a * #b.ln()))),
            E(quote!(-#g * #y / (#b * #b.ln()))),
        ],
        Prim::Log2 => {
            let ln2 = v.lit(quote!(::core::f64::consts::LN_2));
            vec![E(quote!(#g / (#a * #ln2)))]
        }
        Prim::Log10 => {
            let ln10 = v.lit(quote!(::core::f64::consts::LN_10));
            vec![E(quote!(#g / (#a * #ln10)))]
        }
        Prim::Sqrt => vec![E(quote!(#g / (#y + #y)))],
        Prim::Cbrt => {
            let three = v.lit(quote!(3.0));
            vec![E(quote!(#g / (#three * #y * #y)))]
        }
        // the exponent is an integer: nothing flows to it; n = 0 is flat
        Prim::Powi => vec![E(quote!(#g * #p::powi_grad(#a, #b))), Zero],
        // d(a^b) = b a^(b-1) da + a^b ln(a) db, the latter 0 at a = 0
        Prim::Powf => vec![
            E(quote!(#g * #b * #a.powf(#b - #one))),
            E(quote!(#g * #p::powf_exponent_grad(#a, #y))),
        ],
        Prim::Recip => vec![E(quote!(-#g * #y * #y))],
        Prim::Sin => vec![E(quote!(#g * #a.cos()))],
        Prim::Cos => vec![E(quote!(-#g * #a.sin()))],
        Prim::Tan => vec![E(quote!(#g * (#one + #y * #y)))],
        Prim::Asin => vec![E(quote!(#g / (#one - #a * #a).sqrt()))],
        Prim::Acos => vec![E(quote!(-#g / (#one - #a * #a).sqrt()))],
        Prim::Atan => vec![E(quote!(#g / (#one + #a * #a)))],
        // atan2(a, b) = atan(a / b)
        Prim::Atan2 => vec![
            E(quote!(#g * #b / (#a * #a + #b * #b))),
            E(quote!(-#g * #a / (#a * #a + #b * #b))),
        ],
        Prim::Sinh => vec![E(quote!(#g * #a.cosh()))],
        Prim::Cosh => vec![E(quote!(#g * #a.sinh()))],
        Prim::Tanh => vec![E(quote!(#g * (#one - #y * #y)))],
        Prim::Asinh => vec![E(quote!(#g / (#a * #a + #one).sqrt()))],
        Prim::Acosh => vec![E(quote!(#g / (#a * #a - #one).sqrt()))],
        Prim::Atanh => vec![E(quote!(#g / (#one - #a * #a)))],
        // the sign, and 0 at 0
        Prim::Abs => vec![E(quote!(#g * #p::abs_grad(#a)))],
        // max routes: to the argument that won, ties to the first
        Prim::Max => vec![
            E(quote!(#p::pick(#p::max_first(#a, #b), #g))),
            E(quote!(#p::pick(!#p::max_first(#a, #b), #g))),
        ],
        Prim::Min => vec![
            E(quote!(#p::pick(#p::min_first(#a, #b), #g))),
            E(quote!(#p::pick(!#p::min_first(#a, #b), #g))),
        ],
        // clamp routes: to the bound that was returned, at a bound to the value
        Prim::Clamp => vec![
            E(quote!(#p::pick(#p::clamp_choice(#a, #b, #c) == 0, #g))),
            E(quote!(#p::pick(#p::clamp_choice(#a, #b, #c) == 1, #g))),
            E(quote!(#p::pick(#p::clamp_choice(#a, #b, #c) == 2, #g))),
        ],
        // hypot(a, b): a / hypot, flat at the origin
        Prim::Hypot => vec![
            E(quote!(#g * #p::div_or_zero(#a, #y))),
            E(quote!(#g * #p::div_or_zero(#b, #y))),
        ],
        // a * b + c: mul swaps, add distributes
        Prim::MulAdd => vec![E(quote!(#g * #b)), E(quote!(#g * #a)), Same],
        // linear: the same scaling applies to the gradient
        Prim::ToDegrees => vec![E(quote!(#g.to_degrees()))],
        Prim::ToRadians => vec![E(quote!(#g.to_radians()))],
        // piecewise constant: nothing flows
        Prim::Signum | Prim::Floor | Prim::Ceil | Prim::Round | Prim::Trunc => vec![Zero],
        // x - trunc(x)
        Prim::Fract => vec![Same],
    }
}

/// Whether `prim` of `args` multiplies a value by itself (`dx * dx`, or
/// `(l - r) * (l - r)`, one node after lowering): its input then gets one
/// term, [`square`], rather than `mul`'s two.
pub(crate) fn squares<T: PartialEq>(prim: Prim, args: &[T]) -> bool {
    prim == Prim::Mul && args.len() == 2 && args[0] == args[1]
}

/// The pullback of `a * a` (see [`squares`]): `g (a + a)`, one term where
/// `mul`'s rule gives `g a` twice (the same value: doubling is exact).
pub(crate) fn square<A: ToTokens>(v: &Kept<A>) -> Local {
    let (g, a) = (v.g, &v.args[0]);
    Local::Expr(quote!(#g * (#a + #a)))
}

/// Whether recomputing `prim` in the backward pass costs less than keeping
/// its value on a tape (a load and a store per iteration): arithmetic, not
/// transcendental functions. A division counts as arithmetic: redone, it
/// cost 15% less time than taped (`scores[i] / z` in the inner loop of an
/// attention-weighted sum), as the tape's push, cursor and load, and its
/// traffic, outweigh one divide. So does `powi`: almost always a small
/// constant power (`d.powi(2)`), which LLVM makes one or two products.
pub(crate) fn cheap(prim: Prim) -> bool {
    use Prim::*;
    match prim {
        Add | Sub | Mul | Div | Rem | Recip | Powi | Neg | Abs | Max | Min | Clamp | MulAdd
        | Signum | Floor | Ceil | Round | Trunc | Fract | ToDegrees | ToRadians => true,
        Exp | Exp2 | ExpM1 | Ln | Ln1p | Log | Log2 | Log10 | Sqrt | Cbrt | Powf | Sin | Cos
        | Tan | Asin | Acos | Atan | Atan2 | Sinh | Cosh | Tanh | Asinh | Acosh | Atanh | Hypot => {
            false
        }
    }
}

/// Whether any gradient flows from `prim`'s output to its input `i`
/// (read off the pullback once per primitive, then remembered).
pub(crate) fn flows(prim: Prim, i: usize) -> bool {
    thread_local! {
        static FLOWS: std::cell::RefCell<rustc_hash::FxHashMap<(Prim, usize), bool>> =
            std::cell::RefCell::new(rustc_hash::FxHashMap::default());
    }
    if let Some(known) = FLOWS.with(|f| f.borrow().get(&(prim, i)).copied()) {
        return known;
    }
    let answer = flows_uncached(prim, i);
    FLOWS.with(|f| f.borrow_mut().insert((prim, i), answer));
    answer
}

fn flows_uncached(prim: Prim, i: usize) -> bool {
    let placeholder = Kept {
        args: &[quote!(a), quote!(b), quote!(c)],
        out: quote!(y),
        g: &quote!(g),
        float: &quote!(T),
    };
    !matches!(
        pullback(prim, &placeholder).get(i),
        None | Some(Local::Zero)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arity(prim: Prim) -> usize {
        let kept = Kept {
            args: &[quote!(a), quote!(b), quote!(c)],
            out: quote!(y),
            g: &quote!(g),
            float: &quote!(T),
        };
        pullback(prim, &kept).len()
    }

    #[test]
    fn every_rule_has_one_local_per_input() {
        for &prim in Prim::ALL {
            let n = arity(prim);
            assert!((1..=3).contains(&n), "{prim:?}");
            // The forward reads exactly as many inputs.
            let args: Vec<TokenStream> = (0..n)
                .map(|i| quote::format_ident!("a{}", i))
                .map(|i| quote!(#i))
                .collect();
            let fwd = forward(prim, &args).to_string();
            for i in 0..n {
                assert!(fwd.contains(&format!("a{i}")), "{prim:?}: {fwd}");
            }
        }
    }

    #[test]
    fn pullbacks_read_only_what_keep_says() {
        for &prim in Prim::ALL {
            let kept = Kept {
                args: &[quote!(a), quote!(b), quote!(c)],
                out: quote!(y),
                g: &quote!(g),
                float: &quote!(T),
            };
            let text: String = pullback(prim, &kept)
                .iter()
                .map(|l| match l {
                    Local::Expr(e) => e.to_string(),
                    _ => String::new(),
                })
                .collect::<Vec<_>>()
                .join(" ");
            let words: Vec<&str> = text
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .collect();
            let reads_input = ["a", "b", "c"].iter().any(|v| words.contains(v));
            let reads_output = words.contains(&"y");
            let k = keep(prim);
            assert_eq!(
                reads_input,
                matches!(k, Keep::Inputs | Keep::InputsAndOutput),
                "{prim:?} inputs"
            );
            assert_eq!(
                reads_output,
                matches!(k, Keep::Output | Keep::InputsAndOutput),
                "{prim:?} output"
            );
        }
    }

    #[test]
    fn flat_primitives_pass_nothing() {
        assert!(!flows(Prim::Floor, 0));
        assert!(flows(Prim::Powi, 0) && !flows(Prim::Powi, 1));
        assert!(flows(Prim::Fract, 0));
    }
}
