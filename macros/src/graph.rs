//! Shared types only: the compile-time computational graph that lower.rs
//! builds, analyse.rs annotates and emit.rs writes out.

use proc_macro2::{Ident, Span, TokenStream};

/// Index of a node in [`Graph::nodes`].
pub(crate) type NodeId = usize;

/// One function's graph: nodes in program order (every input precedes its
/// users), and which nodes make up the returned value.
pub(crate) struct Graph {
    pub nodes: Vec<Node>,
    pub output: Val,
    /// `const` and `use` items of the body, re-emitted in every generated fn.
    pub items: Vec<syn::Item>,
}

/// A value computed once: a parameter, a constant expression or a primitive.
pub(crate) struct Node {
    pub op: Op,
    /// The local the forward pass binds it to (a parameter's own name).
    pub ident: Ident,
    /// Depends on a differentiated parameter through differentiable operations.
    pub active: bool,
    /// The user's tokens it came from, for error messages.
    pub span: Span,
}

pub(crate) enum Op {
    /// A parameter, by its own name.
    Param,
    /// An expression computed as written, through which no gradient flows:
    /// literals, `T::zero()`, anything touching no differentiated value, and
    /// comparisons or predicates of differentiated values (bools).
    Const {
        expr: TokenStream,
        /// The `let`'s type annotation, re-emitted on the binding.
        ty: Option<Box<syn::Type>>,
        /// Cheap enough to write at every use rather than bind to a local.
        inline: bool,
    },
    /// A differentiable primitive applied to other nodes.
    Prim { prim: Prim, args: Vec<NodeId> },
}

/// A value of the program: one node, or a tuple of values (`x.sin_cos()`,
/// a tuple return).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    Node(NodeId),
    Tuple(Vec<Val>),
}

impl Val {
    /// The nodes of the value, left to right.
    pub(crate) fn leaves(&self) -> Vec<NodeId> {
        let mut out = Vec::new();
        fn walk(v: &Val, out: &mut Vec<NodeId>) {
            match v {
                Val::Node(n) => out.push(*n),
                Val::Tuple(vs) => vs.iter().for_each(|v| walk(v, out)),
            }
        }
        walk(self, &mut out);
        out
    }
}

/// The primitive operations, each with a rule in rules.rs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Prim {
    Add,
    Sub,
    Mul,
    Div,
    Neg,
    Exp,
    Exp2,
    ExpM1,
    Ln,
    Ln1p,
    Log,
    Log2,
    Log10,
    Sqrt,
    Cbrt,
    Powi,
    Powf,
    Recip,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Atan2,
    Sinh,
    Cosh,
    Tanh,
    Asinh,
    Acosh,
    Atanh,
    Abs,
    Max,
    Min,
    Clamp,
    Hypot,
    MulAdd,
    ToDegrees,
    ToRadians,
    Signum,
    Floor,
    Ceil,
    Round,
    Trunc,
    Fract,
}

impl Prim {
    /// Every primitive, for table-driven tests.
    #[cfg(test)]
    pub(crate) const ALL: &'static [Prim] = &[
        Prim::Add,
        Prim::Sub,
        Prim::Mul,
        Prim::Div,
        Prim::Neg,
        Prim::Exp,
        Prim::Exp2,
        Prim::ExpM1,
        Prim::Ln,
        Prim::Ln1p,
        Prim::Log,
        Prim::Log2,
        Prim::Log10,
        Prim::Sqrt,
        Prim::Cbrt,
        Prim::Powi,
        Prim::Powf,
        Prim::Recip,
        Prim::Sin,
        Prim::Cos,
        Prim::Tan,
        Prim::Asin,
        Prim::Acos,
        Prim::Atan,
        Prim::Atan2,
        Prim::Sinh,
        Prim::Cosh,
        Prim::Tanh,
        Prim::Asinh,
        Prim::Acosh,
        Prim::Atanh,
        Prim::Abs,
        Prim::Max,
        Prim::Min,
        Prim::Clamp,
        Prim::Hypot,
        Prim::MulAdd,
        Prim::ToDegrees,
        Prim::ToRadians,
        Prim::Signum,
        Prim::Floor,
        Prim::Ceil,
        Prim::Round,
        Prim::Trunc,
        Prim::Fract,
    ];
}
