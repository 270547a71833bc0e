//! Shared types only: the compile-time computational graph that lower.rs
//! builds, analyse.rs annotates and emit.rs writes out.
//!
//! Values are SSA nodes (computed once, never overwritten). What changes
//! over time, a variable assigned in a loop or branch and every array, is a
//! [`Var`]: reading it makes a node (a copy), writing it is a statement.
//! Statements are structured like the user's code: blocks, branches, loops.

use proc_macro2::{Ident, Span, TokenStream};

/// Index of a node in [`Graph::nodes`].
pub(crate) type NodeId = usize;
/// Index of a variable in [`Graph::vars`].
pub(crate) type VarId = usize;
/// Index of a block (a region of the control structure); 0 is the fn body.
pub(crate) type RegionId = usize;

/// One function's graph.
pub(crate) struct Graph {
    pub nodes: Vec<Node>,
    pub vars: Vec<Var>,
    pub body: Block,
    pub output: Val,
    /// `const` and `use` items of the body, re-emitted in every generated fn.
    pub items: Vec<syn::Item>,
    /// For each region, its parent (the fn body is its own parent) and
    /// whether it is a loop body.
    pub regions: Vec<Region>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Region {
    pub parent: RegionId,
    pub is_loop: bool,
}

/// A value computed once.
pub(crate) struct Node {
    pub op: Op,
    /// The local the forward pass binds it to (a parameter's own name).
    pub ident: Ident,
    /// Depends on a differentiated parameter through differentiable operations.
    pub active: bool,
    /// The user's tokens it came from.
    pub span: Span,
    /// The block whose statements compute it.
    pub region: RegionId,
}

pub(crate) enum Op {
    /// A scalar parameter, by its own name.
    Param,
    /// An expression computed as written, through which no gradient flows:
    /// literals, `T::zero()`, anything touching no differentiated value, and
    /// comparisons or predicates of differentiated values (bools).
    Const {
        expr: TokenStream,
        /// The `let`'s type annotation, re-emitted on the binding.
        ty: Option<Box<syn::Type>>,
        /// Written at every use rather than bound to a local.
        inline: bool,
        /// Nodes and variables the expression reads.
        deps: Vec<NodeId>,
        var_deps: Vec<VarId>,
    },
    /// A differentiable primitive applied to other nodes.
    Prim { prim: Prim, args: Vec<NodeId> },
    /// The current value of a scalar variable.
    ReadVar(VarId),
    /// An element of an array variable.
    ReadIndex { var: VarId, index: Vec<NodeId> },
    /// The item a `for` loop binds, each iteration (the loop's `item`).
    LoopItem,
    /// How many iterations the loop before it ran (its `counter`).
    LoopCount { counter: Ident },
    /// A call of another `#[differentiable]` fn (or a toolkit fn) through
    /// its protocol `func` (`path::__tl_forward`); its value is a scalar, or
    /// the array variable `result`. `pullback` is the node that holds the
    /// callee's pullback.
    Call {
        func: TokenStream,
        args: Vec<CallArg>,
        result: Option<VarId>,
        pullback: NodeId,
        /// The parts of the tuple it returned (`let (a, b) = f(..)`).
        parts: Vec<NodeId>,
        /// The tuple may be longer than `parts` (`let (a, ..) = f(..)`):
        /// its upstream gradient is made by the callee's type
        /// (`__private::zero_out`), then its first fields set.
        open: bool,
    },
    /// Part `index` of the tuple a call returned.
    Project { call: NodeId, index: usize },
    /// The pullback a call returned (`call` is the call node).
    Pullback {
        #[allow(dead_code)]
        call: NodeId,
    },
}

/// An argument of a call: a value, or an array (whole or a row) passed by
/// reference or by value.
#[derive(Clone, Debug)]
pub(crate) enum CallArg {
    Value(NodeId),
    /// An array that holds the call's values until the pullback runs (a
    /// parameter never written, or a local of the fn's body that nothing
    /// writes after the call, made once): passed as it is, in the forward
    /// and again to the pullback.
    Array {
        var: VarId,
        prefix: Vec<NodeId>,
        by_ref: bool,
    },
    /// Any other array: a copy taken at the call (the node), so that the
    /// pullback sees the values the call saw; gradients go to `var`.
    Snapshot {
        node: NodeId,
        var: VarId,
        prefix: Vec<NodeId>,
        by_ref: bool,
    },
}

impl Op {
    /// The nodes this one reads.
    pub(crate) fn inputs(&self) -> Vec<NodeId> {
        let mut out = Vec::new();
        self.each_input(|n| out.push(n));
        out
    }

    /// Calls `f` on each node this one reads, in order (no list made: the
    /// passes ask this of every node).
    pub(crate) fn each_input(&self, mut f: impl FnMut(NodeId)) {
        match self {
            Op::Param
            | Op::ReadVar(_)
            | Op::LoopItem
            | Op::LoopCount { .. }
            | Op::Pullback { .. } => {}
            Op::Project { call, .. } => f(*call),
            Op::Call { args, .. } => {
                for a in args {
                    match a {
                        CallArg::Value(n) => f(*n),
                        CallArg::Array { prefix, .. } => prefix.iter().copied().for_each(&mut f),
                        CallArg::Snapshot { node, prefix, .. } => {
                            f(*node);
                            prefix.iter().copied().for_each(&mut f);
                        }
                    }
                }
            }
            Op::Const { deps: ns, .. }
            | Op::Prim { args: ns, .. }
            | Op::ReadIndex { index: ns, .. } => ns.iter().copied().for_each(f),
        }
    }
}

/// Something that changes over time: a scalar variable assigned in a branch
/// or loop, or an array.
pub(crate) struct Var {
    /// Its Rust name in the forward pass (the parameter's own for parameters).
    pub ident: Ident,
    pub shape: Shape,
    /// Holds a value that depends on a differentiated parameter.
    pub active: bool,
    /// A parameter, by index.
    pub param: Option<usize>,
    /// Assigned or stored into after its declaration.
    pub written: bool,
    /// Where it is declared.
    pub region: RegionId,
    /// A node holding its length, which its adjoint's zeros read (a call's
    /// `Vec` result: the backward keeps the length, not the array).
    pub len: Option<NodeId>,
}

/// The shape of a variable, and how to make its zero adjoint.
#[derive(Clone)]
pub(crate) enum Shape {
    Scalar,
    /// An array of `depth` dimensions; `zeros` builds a zero adjoint of the
    /// same shape (it may read the forward value through its ident).
    Array {
        depth: usize,
        zeros: TokenStream,
    },
}

/// A region of the control structure.
pub(crate) struct Block {
    pub id: RegionId,
    pub stmts: Vec<Stmt>,
}

pub(crate) enum Stmt {
    /// Computes a node (`let __tl_v3 = ...;`).
    Node(NodeId),
    /// Declares a variable with its initial value.
    Declare {
        var: VarId,
        init: Init,
    },
    /// `x = value`.
    Set {
        var: VarId,
        value: NodeId,
    },
    /// `a[i][j] = value`.
    Store {
        var: VarId,
        index: Vec<NodeId>,
        value: NodeId,
    },
    If {
        cond: NodeId,
        then: Block,
        els: Block,
    },
    Loop(Loop),
    /// Leaves the innermost loop.
    Break,
}

pub(crate) enum Init {
    /// A scalar's first value.
    Value(NodeId),
    /// Assigned in every branch that follows (an `if` expression's result).
    Deferred,
    /// `[value; len]` or `vec![value; len]`, nested to any depth; `fill` is
    /// the same shape built around the value's tokens.
    Fill {
        value: NodeId,
        fill: TokenStream,
        lens: Vec<NodeId>,
    },
    /// `[a, b, c]` or `vec![a, b, c]`.
    Elems { values: Vec<NodeId>, vec: bool },
    /// The array a call returned (the call node).
    Call(NodeId),
    /// A copy of the array `source` (`x.to_vec()`, `x.clone()`, or `x` for
    /// an array value); `expr` makes the copy in the forward pass.
    Copy { source: VarId, expr: TokenStream },
}

pub(crate) struct Loop {
    /// The `for` loop's iterator and item, or `None` for `loop`/`while`.
    pub header: Option<ForHeader>,
    pub body: Block,
    /// Counts iterations where the backward cannot replay them; the count
    /// node follows the loop.
    pub counter: Option<(Ident, NodeId)>,
}

pub(crate) struct ForHeader {
    pub item: NodeId,
    /// An inline `Const` node: the iterator expression. Without a counter,
    /// the backward runs it again in reverse (`.rev()`).
    pub iter: NodeId,
}

/// A value of the program.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    Node(NodeId),
    Tuple(Vec<Val>),
    /// A variable: a scalar read at use, or an array.
    Var(VarId),
    /// Part of an array: `w[i]` of a 2-D array.
    Row(VarId, Vec<NodeId>),
}

impl Val {
    /// The nodes of the value, left to right.
    pub(crate) fn leaves(&self) -> Vec<NodeId> {
        let mut out = Vec::new();
        fn walk(v: &Val, out: &mut Vec<NodeId>) {
            match v {
                Val::Node(n) => out.push(*n),
                Val::Tuple(vs) => vs.iter().for_each(|v| walk(v, out)),
                Val::Var(_) | Val::Row(..) => {}
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
    /// `a % b`, Rust's: `a - trunc(a / b) b`.
    Rem,
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
        Prim::Rem,
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

/// Whether region `r` is `ancestor` or nested in it.
/// Calls `f` on every statement of `b`, nested ones included (a branch's,
/// a loop's body), each before those it holds.
pub(crate) fn for_each_stmt<'b>(b: &'b Block, f: &mut dyn FnMut(&'b Stmt)) {
    for s in &b.stmts {
        f(s);
        match s {
            Stmt::If { then, els, .. } => {
                for_each_stmt(then, f);
                for_each_stmt(els, f);
            }
            Stmt::Loop(inner) => for_each_stmt(&inner.body, f),
            _ => {}
        }
    }
}

pub(crate) fn within(g: &Graph, r: RegionId, ancestor: RegionId) -> bool {
    nested_in(&g.regions, r, ancestor)
}

/// [`within`] on the regions alone (lowering's, before the graph exists).
pub(crate) fn nested_in(regions: &[Region], mut r: RegionId, ancestor: RegionId) -> bool {
    loop {
        if r == ancestor {
            return true;
        }
        if r == 0 {
            return false;
        }
        r = regions[r].parent;
    }
}

/// Arrays a call returns inside a loop body or a branch (`let h: Vec<T> =
/// layer(&w, x);` per item, or after an early `return`), never written
/// after: the backward cannot make them again (nor name them: they are gone
/// with their block), so they are kept whole, one per run of the block, and
/// read where they are needed (their length, elements, and the arguments of
/// the calls they are passed to, instead of a copy each).
pub(crate) fn nested_call_results(g: &Graph) -> Vec<VarId> {
    fn walk(g: &Graph, b: &Block, nested: bool, out: &mut Vec<VarId>) {
        for s in &b.stmts {
            match s {
                Stmt::Declare {
                    var,
                    init: Init::Call(_),
                } if nested
                    && !g.vars[*var].written
                    && matches!(g.vars[*var].shape, Shape::Array { .. }) =>
                {
                    out.push(*var)
                }
                Stmt::If { then, els, .. } => {
                    walk(g, then, true, out);
                    walk(g, els, true, out);
                }
                Stmt::Loop(l) => walk(g, &l.body, true, out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(g, &g.body, false, &mut out);
    out
}
