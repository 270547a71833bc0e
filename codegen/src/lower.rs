//! Pass 2: the checked body -> [`Graph`]: one node per primitive operation,
//! names resolved (shadowing and reassignment make new nodes; a variable
//! assigned inside a branch or loop, and every array, becomes a [`Var`]),
//! branches and loops kept as structured statements. `break`, `continue` and
//! early `return` are made structured here: the statements after an `if`
//! that may leave are lowered into the branches that do not. Activity is
//! decided as nodes are made, with variables' activity found by iterating
//! to a fixed point. Errors that need activity are reported here.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::{BinOp, Expr, Pat, Stmt as SynStmt, UnOp};

use crate::diag::Diagnostics;
use crate::graph::{
    Block, CallArg, ForHeader, Graph, Init, Loop, Node, NodeId, Op, Prim, Region, RegionId, Shape,
    Stmt, Val, Var, VarId,
};
use crate::names::Names;
use crate::parse::{self, bindings, strip_parens, Function, Holds, Output, VecMacro};
use crate::rules;
use crate::sugar;

/// Lowers `f`'s body; `None` if an error was recorded.
pub(crate) fn lower(cx: &Diagnostics, f: &Function, names: &mut Names) -> Option<Graph> {
    // A variable is active if an active value is ever written to it, which a
    // loop may reveal only after its first read: iterate to a fixed point,
    // reporting errors from the final run only. A variable written active
    // before anything read its activity is active from there on in the same
    // run (`activate`), so code without such loops lowers once.
    // Variables are known by name across runs (`var_key`): a run that finds
    // more values active may create variables the run before did not (an
    // untyped `let` of a call becomes an array), which shifts indices.
    let mut active: HashSet<String> = HashSet::default();
    let mut written: HashSet<String> = HashSet::default();
    let body = &f.body.stmts;
    for _ in 0..64 {
        let scratch = Diagnostics::default();
        let mut n = names.clone();
        let (g, now_active, settled) = run(&scratch, f, body, &mut n, &active, &written);
        if settled {
            // The fixed point: this run is the final one (with its names and
            // errors), so the pipeline lowers once per round, not once more.
            cx.absorb(scratch);
            *names = n;
            return if cx.has_errors() {
                None
            } else {
                g.map(settle_snapshots)
            };
        }
        let _ = scratch.finish();
        written.extend(g.iter().flat_map(|g| {
            g.vars
                .iter()
                .enumerate()
                .filter(|(_, v)| v.written)
                .map(|(i, v)| var_key(&v.ident, i))
        }));
        active.extend(now_active);
    }
    let (graph, ..) = run(cx, f, body, names, &active, &written);
    if cx.has_errors() {
        return None;
    }
    graph.map(settle_snapshots)
}

/// How the fixed point knows a variable from one run to the next: by its
/// name where it has one (the user's, as `__tl_v_x`, or a parameter's),
/// which runs give alike; a temporary's (`__tl_v12`, numbered with the
/// nodes) by its index.
fn var_key(ident: &Ident, id: VarId) -> String {
    let name = ident.to_string();
    let temporary = name
        .strip_prefix("__tl_v")
        .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()));
    if temporary {
        format!("#{id}")
    } else {
        name
    }
}

/// Whether every mention of `var` in `expr` is `var.len()`.
fn only_lengths(expr: &TokenStream, var: &Ident) -> bool {
    use proc_macro2::TokenTree;
    let tokens: Vec<TokenTree> = expr.clone().into_iter().collect();
    tokens.iter().enumerate().all(|(i, t)| match t {
        TokenTree::Ident(id) if id == var => {
            matches!(
                (tokens.get(i + 1), tokens.get(i + 2), tokens.get(i + 3)),
                (
                    Some(TokenTree::Punct(p)),
                    Some(TokenTree::Ident(len)),
                    Some(TokenTree::Group(args)),
                ) if p.as_char() == '.' && len == "len" && args.stream().is_empty()
            )
        }
        TokenTree::Group(g) => only_lengths(&g.stream(), var),
        _ => true,
    })
}

/// A local array passed to a call is copied at the call (`CallArg::Snapshot`)
/// so that the callee's pullback sees the values the call saw. Where nothing
/// writes the array after the call, which runs once (in no loop), and the
/// array lives to the end of the fn (declared in its body, not returned),
/// the pullback reads the array itself: no copy (the toolkit mlp copied its
/// two hidden layers, 64 KB a call).
fn settle_snapshots(mut g: Graph) -> Graph {
    // Statements in program order: where each call is, and the last write
    // to each variable.
    fn walk(
        b: &Block,
        seq: &mut usize,
        calls: &mut HashMap<NodeId, usize>,
        last: &mut HashMap<VarId, usize>,
    ) {
        for s in &b.stmts {
            *seq += 1;
            match s {
                Stmt::Node(n) => {
                    calls.insert(*n, *seq);
                }
                Stmt::Set { var, .. } | Stmt::Store { var, .. } => {
                    last.insert(*var, *seq);
                }
                Stmt::Declare { .. } | Stmt::Break => {}
                Stmt::If { then, els, .. } => {
                    walk(then, seq, calls, last);
                    walk(els, seq, calls, last);
                }
                Stmt::Loop(l) => walk(&l.body, seq, calls, last),
            }
        }
    }
    let (mut seq, mut at, mut last) = (0, HashMap::default(), HashMap::default());
    walk(&g.body, &mut seq, &mut at, &mut last);
    let returned: Vec<VarId> = match &g.output {
        Val::Var(v) | Val::Row(v, _) => vec![*v],
        _ => vec![],
    };
    let in_loop = |g: &Graph, mut r: RegionId| {
        while r != 0 {
            if g.regions[r].is_loop {
                return true;
            }
            r = g.regions[r].parent;
        }
        false
    };
    // Arrays a call returns in a loop or a branch are kept whole for the
    // backward (analysis), so calls in their own block read them as they are.
    let kept_whole = crate::graph::nested_call_results(&g);
    let mut dropped: HashSet<NodeId> = HashSet::default();
    for id in 0..g.nodes.len() {
        let Some(&call_at) = at.get(&id) else {
            continue;
        };
        let once = !in_loop(&g, g.nodes[id].region);
        let call_region = g.nodes[id].region;
        let Op::Call { args, .. } = &g.nodes[id].op else {
            continue;
        };
        let settled: Vec<usize> = args
            .iter()
            .enumerate()
            .filter_map(|(k, a)| match a {
                CallArg::Snapshot { var, .. }
                    if once
                        && g.vars[*var].region == 0
                        && g.vars[*var].param.is_none()
                        && !returned.contains(var)
                        && last.get(var).is_none_or(|&w| w < call_at) =>
                {
                    Some(k)
                }
                CallArg::Snapshot { var, .. }
                    if kept_whole.contains(var) && g.vars[*var].region == call_region =>
                {
                    Some(k)
                }
                _ => None,
            })
            .collect();
        let Op::Call { args, .. } = &mut g.nodes[id].op else {
            continue;
        };
        for k in settled {
            if let CallArg::Snapshot {
                node,
                var,
                prefix,
                by_ref,
            } = args[k].clone()
            {
                dropped.insert(node);
                args[k] = CallArg::Array {
                    var,
                    prefix,
                    by_ref,
                };
            }
        }
    }
    if !dropped.is_empty() {
        fn prune(b: &mut Block, dropped: &HashSet<NodeId>) {
            b.stmts
                .retain(|s| !matches!(s, Stmt::Node(n) if dropped.contains(n)));
            for s in &mut b.stmts {
                match s {
                    Stmt::If { then, els, .. } => {
                        prune(then, dropped);
                        prune(els, dropped);
                    }
                    Stmt::Loop(l) => prune(&mut l.body, dropped),
                    _ => {}
                }
            }
        }
        prune(&mut g.body, &dropped);
    }
    g
}

fn run(
    cx: &Diagnostics,
    f: &Function,
    stmts: &[SynStmt],
    names: &mut Names,
    active: &HashSet<String>,
    written: &HashSet<String>,
) -> (Option<Graph>, HashSet<String>, bool) {
    let mut lw = Lower {
        cx,
        f,
        names,
        nodes: Vec::new(),
        vars: Vec::new(),
        regions: vec![Region {
            parent: 0,
            is_loop: false,
        }],
        region: 0,
        stmts: vec![Vec::new()],
        items: Vec::new(),
        scopes: Scopes::new(),
        active_vars: active,
        written_before: written,
        written_active: HashSet::default(),
        seen_inactive: Default::default(),
        asked_unwritten: Default::default(),
        loops: Vec::new(),
        ret: None,
        let_vars: 0,
        callees: Vec::new(),
        rewritten: Vec::new(),
        ref_rows: HashSet::default(),
        mut_consts: HashSet::default(),
        reads: HashMap::default(),
        control_writes: ControlWrites::default(),
        borrowed: HashMap::default(),
        changed_names: parse::written_names(&f.body),
        made: HashMap::default(),
        literals: HashMap::default(),
        same_literal: HashMap::default(),
    };
    for (i, p) in f.params.iter().enumerate() {
        let val = match &p.float {
            Some(Holds::Array { depth, zeros, .. }) => {
                let v = lw.new_var(
                    p.ident.clone(),
                    Shape::Array {
                        depth: *depth,
                        zeros: zeros.clone(),
                    },
                    Some(i),
                );
                lw.vars[v].active = p.diff;
                Val::Var(v)
            }
            _ => {
                lw.nodes.push(Node {
                    op: Op::Param,
                    ident: p.ident.clone(),
                    active: p.diff,
                    span: p.ident.span(),
                    region: 0,
                });
                Val::Node(lw.nodes.len() - 1)
            }
        };
        lw.scopes.insert(p.ident.to_string(), val);
    }
    let body: Vec<&SynStmt> = stmts.iter().collect();
    // A `mut` scalar parameter that a branch or loop assigns is a variable.
    for (i, p) in f.params.iter().enumerate() {
        if p.mutable
            && !matches!(p.float, Some(Holds::Array { .. }))
            && assigned_in_control(&body, &p.ident.to_string())
        {
            let node = lw
                .nodes
                .iter()
                .position(|n| matches!(n.op, Op::Param) && n.ident == *p.ident);
            if let Some(node) = node {
                let id = lw.names.fresh("v", Some(&p.ident.to_string()));
                let var = lw.new_var(id, Shape::Scalar, None);
                if lw.nodes[node].active {
                    lw.activate(var);
                }
                lw.emit(Stmt::Declare {
                    var,
                    init: Init::Value(node),
                });
                lw.scopes.insert(p.ident.to_string(), Val::Var(var));
            }
        }
        let _ = i;
    }
    // Early returns (anywhere but the end) deliver through variables.
    if has_early_return(stmts) {
        let n = match f.output {
            Output::Scalar => 1,
            Output::Tuple(n) => n,
            Output::Array => {
                cx.error(
                    &f.item.sig.output,
                    "an early `return` of an array is supported outside loops, in a fn returning a fixed-size \
                     array (`[T; N]`); here, return at the end (declare the result before the loop, assign it \
                     and `break`)",
                );
                return (None, HashSet::default(), true);
            }
        };
        let vars: Vec<VarId> = (0..n)
            .map(|i| {
                let id = lw.names.fresh(
                    "v",
                    Some(
                        if n == 1 {
                            "ret".to_string()
                        } else {
                            format!("ret{i}")
                        }
                        .as_str(),
                    ),
                );
                let v = lw.new_var(id, Shape::Scalar, None);
                lw.vars[v].written = true;
                lw.emit(Stmt::Declare {
                    var: v,
                    init: Init::Deferred,
                });
                v
            })
            .collect();
        lw.ret = Some(vars);
    }
    let ret = lw.ret.clone();
    let flow = lw.seq(
        &[Part {
            stmts: &body,
            depth: 1,
        }],
        Want::Value,
        ret.as_deref(),
    );
    let output = match (lw.ret.clone(), flow) {
        // Returning through variables: a value at the end of the body is the
        // last return; the output reads them.
        (Some(vars), flow) => {
            if let Flow::Falls(Some(v)) = flow {
                let at = f
                    .body
                    .stmts
                    .last()
                    .map(|s| s.span())
                    .unwrap_or_else(Span::call_site);
                lw.deliver(&vars, v, at);
            }
            let mut leaves: Vec<Val> = vars
                .iter()
                .map(|&v| Val::Node(lw.read_var(v, Span::call_site())))
                .collect();
            Some(if leaves.len() == 1 {
                leaves.remove(0)
            } else {
                Val::Tuple(leaves)
            })
        }
        (None, Flow::Falls(v)) => v,
        (None, Flow::Diverged) => None,
    };
    if output.is_none() && !lw.cx.has_errors() {
        // No value where one was due: an `if` choosing between arrays of
        // a length the macro cannot fix beforehand (returns.rs writes the
        // others), or a shape it cannot follow.
        match (f.output, f.body.stmts.last()) {
            (Output::Array, Some(SynStmt::Expr(e @ Expr::If(_), None))) => lw.cx.error(
                e,
                "an `if` choosing the returned array is supported where the fn returns a fixed-size array \
                 (`[T; N]`); for a `Vec`, declare it before the `if` (`let mut out = vec![T::zero(); n];`), \
                 assign its elements in each branch and return it at the end",
            ),
            _ => lw.cx.error(
                &f.item.sig.output,
                "the returned value does not have the declared shape",
            ),
        }
    }
    let output = output.and_then(|v| lw.check_output(v));
    // A returned temporary reads best as `__tl_v_out`.
    if let Some(Val::Node(n)) = output {
        // Not one a constant expression wrote by its name (`if k > s`
        // before `s` is returned): those tokens are fixed.
        let named = lw
            .nodes
            .iter()
            .any(|d| matches!(&d.op, Op::Const { deps, .. } if deps.contains(&n)));
        let node = &mut lw.nodes[n];
        let temp = !named
            && node
                .ident
                .to_string()
                .trim_start_matches("__tl_v")
                .chars()
                .all(|c| c.is_ascii_digit());
        if temp && matches!(node.op, Op::Prim { .. } | Op::Const { inline: false, .. }) {
            node.ident = lw.names.fresh("v", Some("out"));
        }
    }
    let written: HashSet<String> = lw
        .written_active
        .iter()
        .map(|&v| var_key(&lw.vars[v].ident, v))
        .collect();
    // The run is final when the next would decide alike: every variable
    // written active was active throughout (activated before any decision
    // read it), and no variable a decision asked `written_before` about
    // turned out written.
    let settled = lw.written_active.iter().all(|&v| lw.vars[v].active) && {
        let asked = lw.asked_unwritten.borrow();
        !lw.vars
            .iter()
            .enumerate()
            .any(|(i, v)| v.written && asked.contains(&var_key(&v.ident, i)))
    };
    let stmts = lw.stmts.pop().unwrap_or_default();
    mark_local_callees(&mut lw.items, &lw.callees);
    for (_, path, alias) in &lw.callees {
        // Paths that cannot be imported were reported (see `callee_alias`).
        if let Ok(item) = syn::parse2(quote!(#[allow(unused_imports)] use #path as #alias;)) {
            lw.items.push(item);
        }
    }
    let graph = output.map(|output| Graph {
        nodes: lw.nodes,
        vars: lw.vars,
        body: Block { id: 0, stmts },
        output,
        items: lw.items,
        regions: lw.regions,
    });
    (graph, written, settled)
}

/// The user's names in scope, innermost last, with an undo journal: a
/// branch or loop body marks the journal and rolls back to the mark, in time
/// proportional to what it changed (cloning every scope per branch or loop
/// made lowering quadratic in the fn's size).
struct Scopes {
    frames: Vec<HashMap<String, Val>>,
    journal: Vec<Undo>,
}

enum Undo {
    Set {
        frame: usize,
        name: String,
        old: Option<Val>,
    },
    Pushed,
    Popped(HashMap<String, Val>),
}

impl Scopes {
    fn new() -> Scopes {
        Scopes {
            frames: vec![HashMap::default()],
            journal: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.frames.len()
    }

    fn get(&self, name: &str) -> Option<&Val> {
        self.frames.iter().rev().find_map(|s| s.get(name))
    }

    fn push(&mut self) {
        self.frames.push(HashMap::default());
        self.journal.push(Undo::Pushed);
    }

    fn truncate(&mut self, len: usize) {
        while self.frames.len() > len {
            if let Some(f) = self.frames.pop() {
                self.journal.push(Undo::Popped(f));
            }
        }
    }

    /// Binds `name` in the innermost scope.
    fn insert(&mut self, name: String, v: Val) {
        let frame = self.frames.len().saturating_sub(1);
        self.set(frame, name, v);
    }

    /// Gives `name` a new value where it is bound.
    fn assign(&mut self, name: String, v: Val) {
        if let Some(frame) = self.frames.iter().rposition(|s| s.contains_key(&name)) {
            self.set(frame, name, v);
        }
    }

    fn set(&mut self, frame: usize, name: String, v: Val) {
        if let Some(f) = self.frames.get_mut(frame) {
            let old = f.insert(name.clone(), v);
            self.journal.push(Undo::Set { frame, name, old });
        }
    }

    fn mark(&self) -> usize {
        self.journal.len()
    }

    /// Undoes every change since `mark`, newest first.
    fn rollback(&mut self, mark: usize) {
        while self.journal.len() > mark {
            match self.journal.pop() {
                Some(Undo::Set { frame, name, old }) => {
                    if let Some(f) = self.frames.get_mut(frame) {
                        match old {
                            Some(v) => f.insert(name, v),
                            None => f.remove(&name),
                        };
                    }
                }
                Some(Undo::Pushed) => {
                    self.frames.pop();
                }
                Some(Undo::Popped(f)) => self.frames.push(f),
                None => break,
            }
        }
    }
}

/// How many fields a tuple pattern names, and whether it ends in `..`
/// (parse.rs admits `..` only there): `(a, _, ..)` names two.
fn tuple_elems(t: &syn::PatTuple) -> (usize, bool) {
    match t.elems.last() {
        Some(Pat::Rest(_)) => (t.elems.len() - 1, true),
        _ => (t.elems.len(), false),
    }
}

/// A fn item of the body (`fn helper<T: Float>(v: T) -> T { .. }`) that
/// the body calls with a differentiated value is differentiated too: its
/// copies in the generated fns are marked `#[differentiable]`, as the
/// user would mark a fn outside (the user's fn keeps it as written). The
/// copy's own errors, if its body is outside the subset, point at it.
fn mark_local_callees(items: &mut [syn::Item], callees: &[(String, syn::Path, Ident)]) {
    for item in items {
        let syn::Item::Fn(f) = item else { continue };
        let called = callees
            .iter()
            .any(|(_, path, _)| path.is_ident(&f.sig.ident));
        let marked = f.attrs.iter().any(|a| {
            a.path()
                .segments
                .last()
                .is_some_and(|s| s.ident == "differentiable" || s.ident == "custom_gradient")
        });
        if called && !marked {
            f.attrs
                .push(syn::parse_quote!(#[::tapeless::differentiable]));
        }
    }
}

struct Lower<'a, 'f> {
    cx: &'a Diagnostics,
    f: &'a Function<'f>,
    names: &'a mut Names,
    nodes: Vec<Node>,
    vars: Vec<Var>,
    regions: Vec<Region>,
    /// The region statements are added to now.
    region: RegionId,
    /// The statements of the open regions, innermost last.
    stmts: Vec<Vec<Stmt>>,
    items: Vec<syn::Item>,
    /// Innermost last: user name -> current value.
    scopes: Scopes,
    active_vars: &'a HashSet<String>,
    /// Variables written somewhere, as found by the previous run.
    written_before: &'a HashSet<String>,
    /// Variables written an active value in this run.
    written_active: HashSet<VarId>,
    /// Variables whose activity a decision read while they were inactive:
    /// written an active value later, they need another run.
    seen_inactive: std::cell::RefCell<HashSet<VarId>>,
    /// Variables `written_before` was asked about and did not hold.
    asked_unwritten: std::cell::RefCell<HashSet<String>>,
    /// Open loops, innermost last: whether each may `break`.
    loops: Vec<bool>,
    /// Where `return` delivers, when the fn returns early.
    ret: Option<Vec<VarId>>,
    /// Variables made by the `let` being lowered (from this index on).
    let_vars: VarId,
    /// Called fns: path (as text, and as written) and the alias used.
    callees: Vec<(String, syn::Path, Ident)>,
    /// Loops rewritten from `windows`/`chunks_exact`, kept alive (and at
    /// their addresses) while lowering runs.
    rewritten: Vec<std::rc::Rc<syn::ExprForLoop>>,
    /// Names bound to a row by reference (`for x in xs.iter()`, `let r =
    /// &w[i];`): passed on as they are, `layer(w, x)`, they are references.
    ref_rows: HashSet<String>,
    /// Names `let mut` bound to a constant value (their changes through a
    /// method, `idx.push(i)`, cannot be followed: an error).
    mut_consts: HashSet<String>,
    /// Element reads of this region since the array was last written: a
    /// second `a[i]` is the same node (`q[l] * q[l]` keeps one value).
    reads: HashMap<(VarId, Vec<NodeId>), NodeId>,
    control_writes: ControlWrites,
    /// Borrows of constants (see `borrowed_constant`): the constant each
    /// borrows, whose value a primitive takes.
    borrowed: HashMap<NodeId, NodeId>,
    /// The names the body changes after binding them
    /// ([`parse::written_names`]): a copy of one is a copy, not the source.
    changed_names: HashSet<String>,
    /// Primitives made so far, by operation and arguments: the same
    /// primitive of the same nodes again (`(l - rest) * (l - rest)`) is the
    /// node already made, where that one is computed on every path to here.
    made: HashMap<(Prim, [NodeId; 3]), NodeId>,
    /// The first node of each number literal's text, and each literal's
    /// node to that first one: `(x - 1.0) * (x - 1.0)` is one difference
    /// only if the two `1.0`s count as one in [`Lower::made`]'s keys (each
    /// keeps its own node, and its span, for where it is written).
    literals: HashMap<String, NodeId>,
    same_literal: HashMap<NodeId, NodeId>,
}

/// A run of statements to lower, and the scope depth of its block.
#[derive(Clone, Copy)]
struct Part<'s> {
    stmts: &'s [&'s SynStmt],
    depth: usize,
}

/// Whether a sequence's tail value is wanted.
#[derive(Clone, Copy, PartialEq)]
enum Want {
    Value,
    Nothing,
}

/// How a sequence of statements ends.
enum Flow {
    /// It runs to its end, with the tail value if there is one.
    Falls(Option<Val>),
    /// Every path leaves (`break`, `continue`, `return`).
    Diverged,
}

/// An expression as written with the user's variables replaced
/// ([`Lower::substituted`]).
struct Substituted {
    tokens: TokenStream,
    /// The nodes and variables it reads.
    deps: Vec<NodeId>,
    var_deps: Vec<VarId>,
    /// Whether (literals converted) it is simple enough to inline, and
    /// needs parentheses there.
    simple: bool,
    parens: bool,
}

/// A `for` loop over float arrays: which (with index prefixes for rows),
/// whether backwards, and whether the index is part of the item (counting
/// from the back if `.rev()` came before `.enumerate()`). Zipped with them,
/// slices of constants (labels, flags: `x.iter().zip(y.iter())` with
/// `y: &[bool]`), read at the same index.
struct Walk {
    arrays: Vec<(VarId, Vec<NodeId>)>,
    /// Per zipped part, in order: an array of `arrays` (by position), or a
    /// constant slice (its node, and whether items are copied out).
    parts: Vec<WalkPart>,
    /// How the parts nest in the item: `x.zip(y).zip(z)` gives `((x, y), z)`.
    shape: ItemShape,
    /// `.skip(a)` and `.take(b)` before any `rev`/`enumerate` (the take
    /// flagged if it came after the skip: `a..min(len, a + b)`).
    skip: Option<Expr>,
    take: Option<(Expr, bool)>,
    enumerate: Option<bool>,
    /// `.enumerate().skip(a)`: the count is the element's index (not from
    /// `a`'s element, as for `.skip(a).enumerate()`).
    counted_before_skip: bool,
    reversed: bool,
}

#[derive(Clone)]
enum ItemShape {
    Part(usize),
    Pair(Box<ItemShape>, Box<ItemShape>),
}

impl ItemShape {
    fn shifted(self, by: usize) -> ItemShape {
        match self {
            ItemShape::Part(i) => ItemShape::Part(i + by),
            ItemShape::Pair(a, b) => {
                ItemShape::Pair(Box::new(a.shifted(by)), Box::new(b.shifted(by)))
            }
        }
    }

    /// The item's value from its parts' values.
    fn build(&self, parts: &[Val]) -> Val {
        match self {
            ItemShape::Part(i) => parts.get(*i).cloned().unwrap_or(Val::Tuple(vec![])),
            ItemShape::Pair(a, b) => Val::Tuple(vec![a.build(parts), b.build(parts)]),
        }
    }
}

#[derive(Clone, Copy)]
enum WalkPart {
    Array(usize),
    Constant { base: NodeId, by_value: bool },
}

/// How a method or `T::name(..)` call maps to the graph.
enum Method {
    Prim(Prim, usize),
    SinCos,
    Identity,
    /// A predicate (`is_nan`, `len`, ...): no gradient flows through it.
    Predicate,
}

/// The `num_traits::Float` methods tapeless differentiates, with their
/// arity counting the receiver.
fn method(name: &str) -> Option<Method> {
    use Prim::*;
    let prim = |p, n| Some(Method::Prim(p, n));
    match name {
        "exp" => prim(Exp, 1),
        "exp2" => prim(Exp2, 1),
        "exp_m1" => prim(ExpM1, 1),
        "ln" => prim(Ln, 1),
        "ln_1p" => prim(Ln1p, 1),
        "log" => prim(Log, 2),
        "log2" => prim(Log2, 1),
        "log10" => prim(Log10, 1),
        "sqrt" => prim(Sqrt, 1),
        "cbrt" => prim(Cbrt, 1),
        "powi" => prim(Powi, 2),
        "powf" => prim(Powf, 2),
        "recip" => prim(Recip, 1),
        "sin" => prim(Sin, 1),
        "cos" => prim(Cos, 1),
        "tan" => prim(Tan, 1),
        "asin" => prim(Asin, 1),
        "acos" => prim(Acos, 1),
        "atan" => prim(Atan, 1),
        "atan2" => prim(Atan2, 2),
        "sinh" => prim(Sinh, 1),
        "cosh" => prim(Cosh, 1),
        "tanh" => prim(Tanh, 1),
        "asinh" => prim(Asinh, 1),
        "acosh" => prim(Acosh, 1),
        "atanh" => prim(Atanh, 1),
        "abs" => prim(Abs, 1),
        "max" => prim(Max, 2),
        "min" => prim(Min, 2),
        "clamp" => prim(Clamp, 3),
        "hypot" => prim(Hypot, 2),
        "mul_add" => prim(MulAdd, 3),
        "to_degrees" => prim(ToDegrees, 1),
        "to_radians" => prim(ToRadians, 1),
        "signum" => prim(Signum, 1),
        "floor" => prim(Floor, 1),
        "ceil" => prim(Ceil, 1),
        "round" => prim(Round, 1),
        "trunc" => prim(Trunc, 1),
        "fract" => prim(Fract, 1),
        "sin_cos" => Some(Method::SinCos),
        // An array's copy is the array (an immutable one), or the error for
        // copying into a mutable variable.
        "clone" | "to_vec" | "to_owned" => Some(Method::Identity),
        "is_nan" | "is_infinite" | "is_finite" | "is_normal" | "is_subnormal"
        | "is_sign_positive" | "is_sign_negative" | "classify" | "len" | "is_empty" => {
            Some(Method::Predicate)
        }
        // Questions about the items, answered with `bool`s and indices.
        "any" | "all" | "position" | "rposition" | "count" | "contains" => Some(Method::Predicate),
        // Conversions to integers (`x.to_usize()`): steps, no gradient.
        "to_usize" | "to_isize" | "to_u8" | "to_u16" | "to_u32" | "to_u64" | "to_u128"
        | "to_i8" | "to_i16" | "to_i32" | "to_i64" | "to_i128" => Some(Method::Predicate),
        _ => None,
    }
}

/// `usize`, `i32`, ...: what an `as` cast of a float to a step goes to.
fn integer_type(ty: &syn::Type) -> bool {
    const INTEGERS: &[&str] = &[
        "usize", "isize", "u8", "u16", "u32", "u64", "u128", "i8", "i16", "i32", "i64", "i128",
    ];
    matches!(ty, syn::Type::Path(p) if p.qself.is_none()
        && p.path.get_ident().is_some_and(|i| INTEGERS.contains(&i.to_string().as_str())))
}

const METHODS_HINT: &str = "use the `Float` methods (exp, ln, sqrt, powi, powf, sin, tanh, max, ...) or call a `#[differentiable]` fn";

impl Lower<'_, '_> {
    fn new_var(&mut self, ident: Ident, shape: Shape, param: Option<usize>) -> VarId {
        let id = self.vars.len();
        let active = self.active_vars.contains(&var_key(&ident, id));
        self.vars.push(Var {
            ident,
            shape,
            active,
            param,
            written: false,
            region: self.region,
            len: None,
        });
        id
    }

    fn emit(&mut self, stmt: Stmt) {
        match &stmt {
            Stmt::Declare { var, .. } | Stmt::Set { var, .. } | Stmt::Store { var, .. } => {
                let var = *var;
                self.reads.retain(|k, _| k.0 != var);
            }
            Stmt::If { .. } | Stmt::Loop(_) | Stmt::Break => self.reads.clear(),
            Stmt::Node(_) => {}
        }
        if let Some(s) = self.stmts.last_mut() {
            s.push(stmt);
        }
    }

    /// Adds a node; nodes computed by a statement get one.
    fn push(&mut self, op: Op, active: bool, span: Span) -> NodeId {
        let ident = self.names.fresh("v", None);
        let stmt = !matches!(
            op,
            Op::Param | Op::LoopItem | Op::Const { inline: true, .. }
        );
        self.nodes.push(Node {
            op,
            ident,
            active,
            span,
            region: self.region,
        });
        let id = self.nodes.len() - 1;
        if stmt {
            self.emit(Stmt::Node(id));
        }
        id
    }

    fn open_region(&mut self, is_loop: bool) -> RegionId {
        let id = self.regions.len();
        self.regions.push(Region {
            parent: self.region,
            is_loop,
        });
        self.region = id;
        self.stmts.push(Vec::new());
        self.reads.clear();
        id
    }

    fn close_region(&mut self, id: RegionId) -> Block {
        self.region = self.regions[id].parent;
        self.reads.clear();
        Block {
            id,
            stmts: self.stmts.pop().unwrap_or_default(),
        }
    }

    fn lookup(&self, name: &str) -> Option<&Val> {
        self.scopes.get(name)
    }

    fn is_active(&self, v: &Val) -> bool {
        match v {
            Val::Var(var) | Val::Row(var, _) => self.var_active(*var),
            Val::Node(n) => self.nodes[*n].active,
            _ => v.leaves().iter().any(|&n| self.nodes[n].active),
        }
    }

    /// The tokens that stand for a value in generated code.
    fn tokens(&self, v: &Val) -> TokenStream {
        match v {
            Val::Node(n) => node_tokens(&self.nodes[*n]),
            Val::Tuple(vs) => {
                let items = vs.iter().map(|v| self.tokens(v));
                quote!((#(#items,)*))
            }
            Val::Var(var) => self.vars[*var].ident.to_token_stream(),
            Val::Row(var, index) => {
                let base = &self.vars[*var].ident;
                let index = index.iter().map(|&i| node_tokens(&self.nodes[i]));
                quote!(#base #([#index])*)
            }
        }
    }

    /// Whether a variable is active, as a decision reads it: noted when
    /// not, since a later active write then needs another run.
    fn var_active(&self, var: VarId) -> bool {
        let active = self.vars[var].active;
        if !active {
            self.seen_inactive.borrow_mut().insert(var);
        }
        active
    }

    /// A variable was written an active value. Where no decision has read
    /// it inactive yet, it is active from here on, as it would be from its
    /// declaration in the next run: straight-line code lowers once.
    fn activate(&mut self, var: VarId) {
        self.written_active.insert(var);
        if !self.seen_inactive.borrow().contains(&var) {
            self.vars[var].active = true;
        }
    }

    /// Whether the previous run found the variable written (somewhere,
    /// maybe later); noted when not.
    fn written_earlier(&self, var: VarId) -> bool {
        let key = var_key(&self.vars[var].ident, var);
        let written = self.written_before.contains(&key);
        if !written {
            self.asked_unwritten.borrow_mut().insert(key);
        }
        written
    }

    fn read_var(&mut self, var: VarId, span: Span) -> NodeId {
        let active = self.var_active(var);
        self.push(Op::ReadVar(var), active, span)
    }

    /// The value a name stands for now (a scalar variable is read).
    fn resolve(&mut self, name: &str, span: Span) -> Option<Val> {
        match self.lookup(name)?.clone() {
            Val::Var(v) if matches!(self.vars[v].shape, Shape::Scalar) => {
                Some(Val::Node(self.read_var(v, span)))
            }
            other => Some(other),
        }
    }

    // ---- statements ----------------------------------------------------------

    /// Lowers `parts` in order (the first is the current block's statements,
    /// the others continuations from enclosing blocks, which run after it
    /// when an `if` that may leave forced them into its branches).
    fn seq(&mut self, parts: &[Part], want: Want, sink: Option<&[VarId]>) -> Flow {
        let Some((first, rest)) = parts.split_first() else {
            return Flow::Falls(None);
        };
        self.scopes.truncate(first.depth.max(1));
        while self.scopes.len() < first.depth {
            self.scopes.push();
        }
        let stmts = first.stmts;
        for (i, stmt) in stmts.iter().enumerate() {
            let last = i + 1 == stmts.len() && rest.is_empty();
            // What runs after this statement (made where a statement asks).
            let after = || -> Vec<Part> {
                std::iter::once(Part {
                    stmts: &stmts[i + 1..],
                    depth: first.depth,
                })
                .chain(rest.iter().copied())
                .collect()
            };
            match stmt {
                SynStmt::Local(local) => {
                    let Some(init) = &local.init else {
                        // `let y;`: a variable its first assignment defines.
                        if let Some((name, _)) = pat_idents(&local.pat).into_iter().next() {
                            let id = self.names.fresh("v", Some(&name));
                            let var = self.new_var(id, Shape::Scalar, None);
                            self.vars[var].written = true;
                            self.emit(Stmt::Declare {
                                var,
                                init: Init::Deferred,
                            });
                            self.scopes.insert(name, Val::Var(var));
                        }
                        continue;
                    };
                    let start = self.nodes.len();
                    self.let_vars = self.vars.len();
                    let idents = pat_idents(&local.pat);
                    let mutable_in_control = idents.iter().any(|(_, m)| *m) && {
                        let after = after();
                        idents.iter().filter(|(_, m)| *m).any(|(n, _)| {
                            after
                                .iter()
                                .any(|p| self.control_writes.assigned(p.stmts, n))
                        })
                    };
                    let first_name = idents.first().map(|(n, _)| n.as_str());
                    if let Some(v) = self.let_value(&init.expr, &local.pat, first_name) {
                        let row_ref = matches!(v, Val::Row(..) | Val::Var(_))
                            && matches!(strip_parens(&init.expr), Expr::Reference(_));
                        // (Names listed only where a set changes.)
                        if row_ref || !self.ref_rows.is_empty() {
                            for name in bindings(&local.pat) {
                                if row_ref {
                                    self.ref_rows.insert(name);
                                } else {
                                    self.ref_rows.remove(&name);
                                }
                            }
                        }
                        let constant = matches!(&v, Val::Node(n)
                            if matches!(self.nodes[*n].op, Op::Const { .. }));
                        for (name, mutable) in idents {
                            if mutable && constant {
                                self.mut_consts.insert(name);
                            } else {
                                self.mut_consts.remove(&name);
                            }
                        }
                        self.bind(&local.pat, v, start, None, mutable_in_control);
                    }
                }
                SynStmt::Item(item) => self.items.push(item.clone()),
                SynStmt::Macro(m) => {
                    let _ = self.macro_value(&m.mac);
                }
                SynStmt::Expr(Expr::Macro(m), _) if parse::assertion(&m.mac).is_some() => {
                    let _ = self.macro_value(&m.mac);
                }
                SynStmt::Expr(e, semi) => {
                    if let Some(flow) = self.leaving(e) {
                        return flow;
                    }
                    let tail = last && semi.is_none();
                    // A block that may leave (`{ s = v; break; }`) runs as
                    // part of this sequence, so that what follows it is
                    // lowered only where it falls through.
                    if let Expr::Block(b) = e {
                        if b.label.is_none() && !tail && may_leave(e) {
                            let inner: Vec<&SynStmt> = b.block.stmts.iter().collect();
                            let parts: Vec<Part> = std::iter::once(Part {
                                stmts: &inner,
                                depth: first.depth + 1,
                            })
                            .chain(after())
                            .collect();
                            return self.seq(&parts, want, sink);
                        }
                    }
                    if let Expr::If(ifx) = e {
                        let want_here = if tail { want } else { Want::Nothing };
                        let leaves = may_leave(e);
                        if leaves || (tail && sink.is_some()) {
                            // The value at the end of whichever branch the rest
                            // of the block ends in goes to a variable.
                            let after = after();
                            let continues = after.iter().any(|p| !p.stmts.is_empty());
                            let result =
                                (want == Want::Value && sink.is_none() && (tail || continues))
                                    .then(|| {
                                        let id = self.names.fresh("v", None);
                                        let var = self.new_var(id, Shape::Scalar, None);
                                        self.emit(Stmt::Declare {
                                            var,
                                            init: Init::Deferred,
                                        });
                                        var
                                    });
                            let own = result.map(|v| vec![v]);
                            let sink_here =
                                own.as_deref()
                                    .or(if tail || continues { sink } else { None });
                            let rest = if leaves { after.as_slice() } else { &[] };
                            let want_arms = if sink_here.is_some() {
                                Want::Value
                            } else {
                                want_here
                            };
                            let flow = self.if_expr(ifx, rest, want_arms, sink_here);
                            return match result {
                                Some(var) => Flow::Falls(Some(Val::Node(
                                    self.read_var(var, ifx.if_token.span),
                                ))),
                                None => flow,
                            };
                        }
                        let flow = self.if_expr(ifx, &[], want_here, None);
                        if tail {
                            return flow;
                        }
                        continue;
                    }
                    if tail && want == Want::Value {
                        let v = if first.depth == 1 && sink.is_none() {
                            self.fn_value(e)
                        } else {
                            self.expr(e)
                        };
                        if let (Some(sink), Some(v)) = (sink, v.clone()) {
                            let sink = sink.to_vec();
                            self.deliver(&sink, v, e.span());
                            return Flow::Diverged;
                        }
                        return Flow::Falls(v);
                    }
                    let _ = self.expr(e);
                }
            }
        }
        if rest.is_empty() {
            Flow::Falls(None)
        } else {
            self.seq(rest, want, sink)
        }
    }

    /// `break`, `continue` and `return` end the sequence.
    fn leaving(&mut self, e: &Expr) -> Option<Flow> {
        match e {
            Expr::Break(b) => {
                if self.loops.is_empty() {
                    self.cx.error(b.break_token, "`break` outside a loop");
                }
                self.emit(Stmt::Break);
                Some(Flow::Diverged)
            }
            Expr::Continue(c) => {
                if self.loops.is_empty() {
                    self.cx.error(c.continue_token, "`continue` outside a loop");
                }
                Some(Flow::Diverged)
            }
            Expr::Return(r) => {
                if !self.loops.is_empty() {
                    self.cx.error(
                        r.return_token,
                        "`return` inside a loop is not supported; assign the result to a variable and `break`",
                    );
                    return Some(Flow::Diverged);
                }
                let value = match &r.expr {
                    Some(e) if self.ret.is_none() => self.fn_value(e),
                    Some(e) => self.expr(e),
                    None => Some(Val::Tuple(vec![])),
                };
                match (self.ret.clone(), value) {
                    (Some(vars), Some(v)) => {
                        self.deliver(&vars, v, r.span());
                        Some(Flow::Diverged)
                    }
                    (None, v) => Some(Flow::Falls(v)),
                    (Some(_), None) => Some(Flow::Diverged),
                }
            }
            _ => None,
        }
    }

    /// The value the fn returns: `[a, b, c]` or `vec![..]` makes a new
    /// array for an array output, as `let out = [a, b, c]; out` would.
    fn fn_value(&mut self, e: &Expr) -> Option<Val> {
        let literal = match strip_parens(e) {
            Expr::Array(_) | Expr::Repeat(_) => true,
            Expr::Macro(m) => m.mac.path.is_ident("vec"),
            _ => false,
        };
        if literal && matches!(self.f.output, Output::Array) {
            self.array_init(e, Some("out"))
        } else {
            self.expr(e)
        }
    }

    /// Sets the fn's result variables to a returned value.
    fn deliver(&mut self, vars: &[VarId], v: Val, span: Span) {
        let leaves: Vec<NodeId> = match (&v, vars.len()) {
            (Val::Node(n), 1) => vec![*n],
            (Val::Tuple(parts), n) if parts.len() == n => match parts
                .iter()
                .map(|p| match p {
                    Val::Node(n) => Some(*n),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
            {
                Some(l) => l,
                None => {
                    self.cx.error(
                        quote::quote_spanned!(span=> return),
                        "the returned value does not have the declared shape",
                    );
                    return;
                }
            },
            _ => {
                self.cx.error(
                    quote::quote_spanned!(span=> return),
                    "the returned value does not have the declared shape",
                );
                return;
            }
        };
        for (&var, &n) in vars.iter().zip(&leaves) {
            self.set_var(var, n);
        }
    }

    fn set_var(&mut self, var: VarId, value: NodeId) {
        self.vars[var].written = true;
        if self.nodes[value].active {
            self.activate(var);
        }
        self.emit(Stmt::Set { var, value });
    }

    /// A block in its own scope.
    fn block(&mut self, block: &syn::Block, want: Want) -> Flow {
        let stmts: Vec<&SynStmt> = block.stmts.iter().collect();
        let depth = self.scopes.len() + 1;
        let saved = self.scopes.len();
        let flow = self.seq(
            &[Part {
                stmts: &stmts,
                depth,
            }],
            want,
            None,
        );
        self.scopes.truncate(saved);
        flow
    }

    /// `if`/`else` with the continuation `rest` lowered into every branch
    /// that falls through (empty when the `if` cannot leave). A value from
    /// both branches goes through a variable.
    fn if_expr(
        &mut self,
        ifx: &syn::ExprIf,
        rest: &[Part],
        want: Want,
        sink: Option<&[VarId]>,
    ) -> Flow {
        let Some(cond) = self.condition(&ifx.cond) else {
            return Flow::Diverged;
        };
        let saved = self.scopes.mark();
        let depth = self.scopes.len() + 1;

        let then_region = self.open_region(false);
        let then_stmts: Vec<&SynStmt> = ifx.then_branch.stmts.iter().collect();
        let mut parts = vec![Part {
            stmts: &then_stmts,
            depth,
        }];
        parts.extend(rest.iter().copied());
        let then_flow = self.seq(&parts, want, sink);
        let mut then_block = self.close_region(then_region);
        self.scopes.rollback(saved);

        let else_region = self.open_region(false);
        let else_flow = match &ifx.else_branch {
            Some((_, e)) => match &**e {
                Expr::Block(b) => {
                    let else_stmts: Vec<&SynStmt> = b.block.stmts.iter().collect();
                    let mut parts = vec![Part {
                        stmts: &else_stmts,
                        depth,
                    }];
                    parts.extend(rest.iter().copied());
                    self.seq(&parts, want, sink)
                }
                Expr::If(inner) => {
                    self.scopes.push();
                    self.if_expr(inner, rest, want, sink)
                }
                other => Flow::Falls(self.expr(other)),
            },
            None => {
                let none: Vec<&SynStmt> = vec![];
                let mut parts = vec![Part {
                    stmts: &none,
                    depth,
                }];
                parts.extend(rest.iter().copied());
                self.seq(&parts, want, sink)
            }
        };
        let mut else_block = self.close_region(else_region);
        self.scopes.rollback(saved);

        // The branches' values, if both give one (or leave).
        let value = |f: &Flow| match f {
            Flow::Falls(Some(Val::Node(n))) => Some(Some(*n)),
            Flow::Diverged => Some(None),
            _ => None,
        };
        let result = match (want, value(&then_flow), value(&else_flow)) {
            (Want::Value, Some(t), Some(e)) if sink.is_none() && (t.is_some() || e.is_some()) => {
                let id = self.names.fresh("v", None);
                let var = self.new_var(id, Shape::Scalar, None);
                self.emit(Stmt::Declare {
                    var,
                    init: Init::Deferred,
                });
                for (n, block) in [(t, &mut then_block), (e, &mut else_block)] {
                    if let Some(n) = n {
                        if self.nodes[n].active {
                            self.activate(var);
                        }
                        block.stmts.push(Stmt::Set { var, value: n });
                    }
                }
                Some(var)
            }
            _ => None,
        };
        self.emit(Stmt::If {
            cond,
            then: then_block,
            els: else_block,
        });
        match (result, then_flow, else_flow) {
            (Some(var), _, _) => {
                Flow::Falls(Some(Val::Node(self.read_var(var, ifx.if_token.span))))
            }
            (None, Flow::Diverged, Flow::Diverged) => Flow::Diverged,
            (None, Flow::Falls(v), Flow::Diverged) | (None, Flow::Diverged, Flow::Falls(v))
                if !rest.is_empty() =>
            {
                Flow::Falls(v)
            }
            _ => Flow::Falls(None),
        }
    }

    fn condition(&mut self, cond: &Expr) -> Option<NodeId> {
        match self.expr(cond)? {
            Val::Node(n) if !self.nodes[n].active => {
                // The backward pass reads the condition: bind it to a local.
                if let Op::Const { inline, .. } = &mut self.nodes[n].op {
                    if *inline {
                        *inline = false;
                        self.emit(Stmt::Node(n));
                    }
                }
                Some(n)
            }
            _ => {
                self.cx.error(
                    cond,
                    "a condition must be a `bool`, such as a comparison `a < b`",
                );
                None
            }
        }
    }

    // ---- loops -----------------------------------------------------------------

    fn for_loop(&mut self, fl: &syn::ExprForLoop) {
        let has_break = breaks(&fl.body.stmts);
        // Iterating over a float array: an index loop reading its elements.
        let over_array = self.array_iteration(&fl.expr);
        let (iter, replay) = match &over_array {
            Some((len, walk)) => {
                // The length is computed once, where the loop starts.
                let mut deps: Vec<NodeId> = walk
                    .arrays
                    .iter()
                    .flat_map(|(_, p)| p.iter().copied())
                    .collect();
                deps.sort_unstable();
                deps.dedup();
                deps.extend(walk.parts.iter().filter_map(|p| match p {
                    WalkPart::Constant { base, .. } => Some(*base),
                    WalkPart::Array(_) => None,
                }));
                let var_deps = walk.arrays.iter().map(|(v, _)| *v).collect();
                // `.skip(a)` starts at `a`; `.take(b)` ends at `b` (after a
                // skip, `a + b`), both within the length.
                let start = walk.skip.as_ref().map(|e| self.opaque(e));
                let start_tokens = start.map(|s| node_tokens(&self.nodes[s]));
                let mut len = len.clone();
                if let Some((b, after_skip)) = &walk.take {
                    let b_node = self.opaque(b);
                    deps.push(b_node);
                    let b = node_tokens(&self.nodes[b_node]);
                    let end = match (&start_tokens, after_skip) {
                        (Some(a), true) => quote!(#a + #b),
                        _ => b,
                    };
                    len = quote!(::core::cmp::min(#len, #end));
                }
                deps.extend(start);
                let n = self.push(
                    Op::Const {
                        expr: len,
                        ty: None,
                        inline: false,
                        deps,
                        var_deps,
                    },
                    false,
                    fl.expr.span(),
                );
                let n_tokens = self.nodes[n].ident.to_token_stream();
                let from = start_tokens.unwrap_or_else(|| quote!(0));
                let range = if walk.reversed {
                    quote!((#from..#n_tokens).rev())
                } else {
                    quote!(#from..#n_tokens)
                };
                let iter = Op::Const {
                    expr: range,
                    ty: None,
                    inline: true,
                    deps: std::iter::once(n).chain(start).collect(),
                    var_deps: vec![],
                };
                (self.push(iter, false, fl.expr.span()), true)
            }
            None => {
                if self.touches_active(&fl.expr) {
                    self.cx.error(
                        &fl.expr,
                        "this loop cannot be differentiated; loop over a range (`0..n`, `(a..=b).rev()`, `.step_by(k)`) \
                         or a float slice or array (`x.iter()`, `&x`, `.rev()`, `.enumerate()`, `.zip(..)`, \
                         `.skip(k)`, `.take(k)`, `.step_by(k)`, `.filter(..)`, `.take_while(..)`, `x.windows(k)`, `x.chunks(k)`, `x.chunks_exact(k)`, `a.chain(b)` with no `break`)",
                    );
                    return;
                }
                let n = self.opaque(&fl.expr);
                if let Op::Const { inline, .. } = &mut self.nodes[n].op {
                    if !*inline {
                        *inline = true;
                        // It was bound as a statement; the loop header is its only use.
                        // It was bound just now: look from the end, not
                        // through the whole block (a loop per statement of a
                        // long block made that quadratic).
                        if let Some(s) = self.stmts.last_mut() {
                            if let Some(at) = s
                                .iter()
                                .rposition(|st| matches!(st, Stmt::Node(x) if *x == n))
                            {
                                s.remove(at);
                            }
                        }
                    }
                }
                // A range over a local array's length (`0..y.len()`) where
                // the array lives in a loop or branch: the backward has no
                // such array to measure, so the loop counts its iterations
                // and tapes its items instead of replaying the range.
                let local_array = match &self.nodes[n].op {
                    Op::Const { var_deps, .. } => var_deps
                        .iter()
                        .any(|&v| self.vars[v].param.is_none() && self.vars[v].region != 0),
                    _ => false,
                };
                // A range over an element of an array the fn writes
                // (`0..counts[0]`, `counts[0] += 1` after): the backward
                // would read the last value. Its length (`0..out.len()`)
                // does not change with its elements.
                let moving = match &self.nodes[n].op {
                    Op::Const { var_deps, expr, .. } => var_deps.iter().any(|&v| {
                        self.written_earlier(v) && !only_lengths(expr, &self.vars[v].ident)
                    }),
                    _ => false,
                };
                (n, is_range(&fl.expr) && !local_array && !moving)
            }
        };
        let counter = (has_break || !replay).then(|| self.names.fresh("n", None));
        let mut item = 0;
        let body = self.loop_region(has_break, |lw| {
            item = lw.push(Op::LoopItem, false, fl.pat.span());
            match over_array {
                Some((_, walk)) => lw.bind_array_items(&fl.pat, item, &walk, iter),
                None => lw.bind_item(&fl.pat, Val::Node(item)),
            }
            lw.body(&fl.body);
        });
        self.finish_loop(
            Some(ForHeader { item, iter }),
            body,
            counter,
            fl.for_token.span,
        );
    }

    /// A loop body: its own region and scope; `f` lowers what is inside.
    fn loop_region(&mut self, may_break: bool, f: impl FnOnce(&mut Self)) -> Block {
        self.loops.push(may_break);
        let region = self.open_region(true);
        let saved = self.scopes.mark();
        self.scopes.push();
        f(self);
        self.scopes.rollback(saved);
        let body = self.close_region(region);
        self.loops.pop();
        body
    }

    /// The statements of a loop body, in a scope of their own.
    fn body(&mut self, block: &syn::Block) {
        let stmts: Vec<&SynStmt> = block.stmts.iter().collect();
        let depth = self.scopes.len() + 1;
        let _ = self.seq(
            &[Part {
                stmts: &stmts,
                depth,
            }],
            Want::Nothing,
            None,
        );
    }

    fn finish_loop(
        &mut self,
        header: Option<ForHeader>,
        body: Block,
        counter: Option<Ident>,
        span: Span,
    ) {
        let counter = counter.map(|c| {
            let idx = self.stmts.last().map_or(0, Vec::len);
            let node = self.push(Op::LoopCount { counter: c.clone() }, false, span);
            // The count is read after the loop: move its statement there.
            if let Some(s) = self.stmts.last_mut() {
                s.truncate(idx);
            }
            (c, node)
        });
        let count = counter.as_ref().map(|(_, n)| *n);
        self.emit(Stmt::Loop(Loop {
            header,
            body,
            counter,
        }));
        if let Some(n) = count {
            self.emit(Stmt::Node(n));
        }
    }

    /// `while cond { body }` is `loop { if cond { body } else { break } }`.
    fn while_loop(&mut self, w: &syn::ExprWhile) {
        let counter = self.names.fresh("n", None);
        let body = self.loop_region(true, |lw| {
            let Some(cond) = lw.condition(&w.cond) else {
                return;
            };
            let then_region = lw.open_region(false);
            lw.body(&w.body);
            let then = lw.close_region(then_region);
            let else_region = lw.open_region(false);
            lw.emit(Stmt::Break);
            let els = lw.close_region(else_region);
            lw.emit(Stmt::If { cond, then, els });
        });
        self.finish_loop(None, body, Some(counter), w.while_token.span);
    }

    fn infinite_loop(&mut self, l: &syn::ExprLoop) {
        let body = self.loop_region(true, |lw| lw.body(&l.body));
        let counter = self.names.fresh("n", None);
        self.finish_loop(None, body, Some(counter), l.loop_token.span);
    }

    /// `x.iter()`, `&x`, `x`, `w[i].iter()`, with `.enumerate()`, `.zip(..)`,
    /// `.copied()`: the length, the arrays (with index prefixes), and whether
    /// the index is part of the item.
    fn array_iteration(&mut self, e: &Expr) -> Option<(TokenStream, Walk)> {
        let walk = self.iterable(e)?;
        // Constants alone: an index loop only over slices of parameters
        // (the pullback gets those again; items of other constants are taped).
        let params_only = walk.parts.iter().all(|p| match p {
            WalkPart::Constant { base, .. } => matches!(self.nodes[*base].op, Op::Param),
            WalkPart::Array(_) => false,
        });
        if walk.arrays.is_empty() && !params_only {
            return None;
        }
        let lens: Vec<TokenStream> = walk
            .parts
            .iter()
            .map(|p| match *p {
                WalkPart::Array(a) => {
                    let (v, prefix) = &walk.arrays[a];
                    let row = self.tokens(&Val::Row(*v, prefix.clone()));
                    quote!(#row.len())
                }
                WalkPart::Constant { base, .. } => {
                    let base = node_tokens(&self.nodes[base]);
                    quote!(#base.len())
                }
            })
            .collect();
        let len = lens.iter().skip(1).fold(
            lens.first().cloned().unwrap_or_default(),
            |acc, l| quote!(::core::cmp::min(#acc, #l)),
        );
        Some((len, walk))
    }

    /// The arrays an iterator walks, in the order of its adaptors.
    fn iterable(&mut self, e: &Expr) -> Option<Walk> {
        if let Some(w) = self.param_walk(e) {
            return Some(w);
        }
        let one = |a| Walk {
            arrays: vec![a],
            parts: vec![WalkPart::Array(0)],
            shape: ItemShape::Part(0),
            skip: None,
            take: None,
            enumerate: None,
            counted_before_skip: false,
            reversed: false,
        };
        match e {
            Expr::Paren(p) => self.iterable(&p.expr),
            Expr::Group(g) => self.iterable(&g.expr),
            Expr::Reference(r) => self.array_ref(&r.expr).map(one),
            Expr::MethodCall(m) if m.args.is_empty() => match m.method.to_string().as_str() {
                "iter" | "into_iter" => self.array_ref(&m.receiver).map(one),
                "copied" | "cloned" => {
                    let mut w = self.iterable(&m.receiver)?;
                    for p in &mut w.parts {
                        if let WalkPart::Constant { by_value, .. } = p {
                            *by_value = true;
                        }
                    }
                    Some(w)
                }
                "rev" => {
                    let w = self.iterable(&m.receiver)?;
                    Some(Walk {
                        reversed: !w.reversed,
                        ..w
                    })
                }
                "enumerate" => {
                    let w = self.iterable(&m.receiver)?;
                    w.enumerate.is_none().then_some(Walk {
                        enumerate: Some(w.reversed),
                        ..w
                    })
                }
                _ => None,
            },
            Expr::MethodCall(m)
                if (m.method == "skip" || m.method == "take")
                    && m.args.len() == 1
                    && !self.touches_active(&m.args[0]) =>
            {
                let mut w = self.iterable(&m.receiver)?;
                if w.reversed || w.enumerate == Some(true) {
                    return None;
                }
                let count = m.args[0].clone();
                if m.method == "skip" && w.skip.is_none() {
                    w.counted_before_skip = w.enumerate.is_some();
                    w.skip = Some(count);
                } else if m.method == "take" && w.take.is_none() {
                    w.take = Some((count, w.skip.is_some()));
                } else {
                    return None;
                }
                Some(w)
            }
            Expr::MethodCall(m) if m.method == "zip" && m.args.len() == 1 => {
                let mut a = self
                    .iterable(&m.receiver)
                    .or_else(|| self.constant_walk(&m.receiver))?;
                let b = self
                    .iterable(&m.args[0])
                    .or_else(|| self.constant_walk(&m.args[0]))?;
                if a.enumerate.is_some()
                    || b.enumerate.is_some()
                    || a.reversed
                    || b.reversed
                    || [&a, &b]
                        .iter()
                        .any(|w| w.skip.is_some() || w.take.is_some())
                {
                    return None;
                }
                let shift = a.arrays.len();
                let parts = a.parts.len();
                a.parts.extend(b.parts.into_iter().map(|p| match p {
                    WalkPart::Array(i) => WalkPart::Array(i + shift),
                    c => c,
                }));
                a.arrays.extend(b.arrays);
                a.shape = ItemShape::Pair(Box::new(a.shape), Box::new(b.shape.shifted(parts)));
                Some(a)
            }
            other => self.array_ref(other).map(one),
        }
    }

    /// Loops over views of a float array, rewritten to loops over indices
    /// `__tl_startN`: `for w in x.windows(K)` reads `w[j]` as
    /// `x[__tl_startN + j]`, `for c in x.chunks_exact(K)` as
    /// `x[__tl_startN * K + j]` (`len()` is `K`), and `for v in
    /// x.iter_mut()` (or `&mut x`, `.enumerate()` too) reads and writes `*v`
    /// as `x[__tl_startN]`.
    fn windowed(&mut self, fl: &syn::ExprForLoop) -> Option<std::rc::Rc<syn::ExprForLoop>> {
        enum View<'e> {
            /// `exact`: every chunk has `size` elements (`chunks_exact`).
            Window {
                size: &'e Expr,
                chunks: bool,
                exact: bool,
            },
            Element,
        }
        let (array, view, index_pat, item_pat) = match (strip_parens(&fl.expr), &*fl.pat) {
            (Expr::Reference(r), Pat::Ident(pi)) if r.mutability.is_some() => {
                (&*r.expr, View::Element, None, pi)
            }
            (Expr::MethodCall(m), pat) => {
                let args: Vec<&Expr> = m.args.iter().collect();
                match (m.method.to_string().as_str(), args.as_slice(), pat) {
                    ("windows", [size], Pat::Ident(pi)) => (
                        &*m.receiver,
                        View::Window {
                            size,
                            chunks: false,
                            exact: true,
                        },
                        None,
                        pi,
                    ),
                    (method @ ("chunks_exact" | "chunks"), [size], Pat::Ident(pi)) => (
                        &*m.receiver,
                        View::Window {
                            size,
                            chunks: true,
                            exact: method == "chunks_exact",
                        },
                        None,
                        pi,
                    ),
                    ("iter_mut", [], Pat::Ident(pi)) => (&*m.receiver, View::Element, None, pi),
                    ("enumerate", [], Pat::Tuple(t)) => match (
                        strip_parens(&m.receiver),
                        t.elems.iter().collect::<Vec<_>>().as_slice(),
                    ) {
                        (Expr::MethodCall(inner), [Pat::Ident(i), Pat::Ident(v)])
                            if inner.method == "iter_mut" && inner.args.is_empty() =>
                        {
                            (&*inner.receiver, View::Element, Some(&i.ident), v)
                        }
                        _ => return None,
                    },
                    _ => return None,
                }
            }
            _ => return None,
        };
        if let View::Window { size, .. } = view {
            if self.touches_active(size) {
                return None;
            }
        }
        self.array_ref(array)?;
        // One name per rewritten loop: nested ones must not shadow.
        let start = format_ident!(
            "__tl_start{}",
            self.rewritten.len(),
            span = Span::mixed_site().located_at(fl.for_token.span)
        );
        struct Rewrite<'e> {
            name: &'e Ident,
            index: Option<&'e Ident>,
            array: &'e Expr,
            view: &'e View<'e>,
            start: &'e Ident,
            misuse: Option<Span>,
        }
        impl Rewrite<'_> {
            fn is_item(&self, e: &Expr) -> bool {
                matches!(e, Expr::Path(p) if p.path.is_ident(self.name))
            }
        }
        impl VisitMut for Rewrite<'_> {
            fn visit_expr_mut(&mut self, e: &mut Expr) {
                let (array, start) = (self.array, self.start);
                match (self.view, &mut *e) {
                    (View::Window { size, chunks, .. }, Expr::Index(i))
                        if self.is_item(&i.expr) =>
                    {
                        self.visit_expr_mut(&mut i.index);
                        let j = &i.index;
                        *e = if *chunks {
                            syn::parse_quote!(#array[#start * (#size) + (#j)])
                        } else {
                            syn::parse_quote!(#array[#start + (#j)])
                        };
                    }
                    (View::Window { size, exact, .. }, Expr::MethodCall(c))
                        if c.method == "len" && c.args.is_empty() && self.is_item(&c.receiver) =>
                    {
                        // The last of `chunks` may be short.
                        *e = match exact {
                            true => syn::parse_quote!((#size)),
                            false => syn::parse_quote!(usize::min(
                                #size,
                                (#array).len() - #start * (#size)
                            )),
                        };
                    }
                    (View::Element, Expr::Unary(u))
                        if matches!(u.op, syn::UnOp::Deref(_)) && self.is_item(&u.expr) =>
                    {
                        *e = syn::parse_quote!(#array[#start]);
                    }
                    // `v.abs()`: methods see through the reference.
                    (View::Element, Expr::MethodCall(c)) if self.is_item(&c.receiver) => {
                        *c.receiver = syn::parse_quote!(#array[#start]);
                        for a in &mut c.args {
                            self.visit_expr_mut(a);
                        }
                    }
                    (_, Expr::Path(p)) if p.path.is_ident(self.name) => {
                        self.misuse.get_or_insert(p.span());
                    }
                    (_, Expr::Path(p)) if self.index.is_some_and(|i| p.path.is_ident(i)) => {
                        *e = syn::parse_quote!(#start);
                    }
                    _ => syn::visit_mut::visit_expr_mut(self, e),
                }
            }
            fn visit_local_mut(&mut self, l: &mut syn::Local) {
                let names = bindings(&l.pat);
                if names
                    .iter()
                    .any(|b| self.name == b || self.index.is_some_and(|i| i == b))
                {
                    self.misuse.get_or_insert(l.pat.span());
                }
                syn::visit_mut::visit_local_mut(self, l);
            }
        }
        let mut body = fl.body.clone();
        let mut rw = Rewrite {
            name: &item_pat.ident,
            index: index_pat,
            array,
            view: &view,
            start: &start,
            misuse: None,
        };
        rw.visit_block_mut(&mut body);
        if let Some(span) = rw.misuse {
            let name = &item_pat.ident;
            let msg = match view {
                View::Window { chunks, .. } => format!(
                    "use a {} by its elements (`{name}[0]`, `{name}[1]`) and its `len()`, not as a whole",
                    if chunks { "chunk" } else { "window" }
                ),
                View::Element => format!(
                    "use the element as `*{name}` (`*{name} = *{name} * 2.0`), and do not rebind the loop's names"
                ),
            };
            self.cx.push(syn::Error::new(span, msg));
        }
        let range: Expr = match view {
            View::Window {
                size,
                chunks: true,
                exact: true,
            } => syn::parse_quote!(0..(#array).len() / (#size)),
            View::Window {
                size,
                chunks: true,
                exact: false,
            } => syn::parse_quote!(0..(#array).len().div_ceil(#size)),
            View::Window {
                size,
                chunks: false,
                ..
            } => {
                syn::parse_quote!(0..((#array).len() + 1).saturating_sub(#size))
            }
            View::Element => syn::parse_quote!(0..(#array).len()),
        };
        let rewritten = std::rc::Rc::new(syn::ExprForLoop {
            attrs: fl.attrs.clone(),
            label: fl.label.clone(),
            for_token: fl.for_token,
            pat: Box::new(syn::parse_quote!(#start)),
            in_token: fl.in_token,
            expr: Box::new(range),
            body,
        });
        self.rewritten.push(rewritten.clone());
        Some(rewritten)
    }

    /// A slice of constants zipped with float arrays: `y.iter()`, `&y`,
    /// `y`, `y.iter().copied()` for a name that holds no differentiated
    /// value; its items are `&y[k]` (or `y[k]` copied).
    fn constant_walk(&mut self, e: &Expr) -> Option<Walk> {
        let (name, by_value) = match strip_parens(e) {
            Expr::Path(p) => (p.path.get_ident()?, false),
            Expr::Reference(r) if r.mutability.is_none() => match strip_parens(&r.expr) {
                Expr::Path(p) => (p.path.get_ident()?, false),
                _ => return None,
            },
            Expr::MethodCall(m) if m.args.is_empty() => {
                let by_value = match m.method.to_string().as_str() {
                    "iter" => false,
                    "copied" | "cloned" => true,
                    _ => return None,
                };
                let inner = match (by_value, strip_parens(&m.receiver)) {
                    (false, inner) => inner,
                    (true, Expr::MethodCall(i)) if i.method == "iter" && i.args.is_empty() => {
                        strip_parens(&i.receiver)
                    }
                    _ => return None,
                };
                match inner {
                    Expr::Path(p) => (p.path.get_ident()?, by_value),
                    _ => return None,
                }
            }
            _ => return None,
        };
        let base = match self.lookup(&name.to_string())? {
            Val::Node(n) if !self.nodes[*n].active => *n,
            _ => return None,
        };
        Some(Walk {
            arrays: vec![],
            parts: vec![WalkPart::Constant { base, by_value }],
            shape: ItemShape::Part(0),
            skip: None,
            take: None,
            enumerate: None,
            counted_before_skip: false,
            reversed: false,
        })
    }

    /// A constant parameter that is a slice, `Vec` or array, walked by
    /// element (`for row in data`, `&data`, `data.iter()`, `.copied()`): an
    /// index loop reading `&data[k]`, which the pullback can replay from
    /// the arguments it is given again (a tape of `&row`s would borrow).
    fn param_walk(&mut self, e: &Expr) -> Option<Walk> {
        let w = self.constant_walk(e)?;
        let Some(WalkPart::Constant { base, .. }) = w.parts.first() else {
            return None;
        };
        if !matches!(self.nodes[*base].op, Op::Param) {
            return None;
        }
        let ident = &self.nodes[*base].ident;
        let ty = self.f.params.iter().find(|p| p.ident == ident)?.ty;
        fn is_vec(ty: &syn::Type) -> bool {
            matches!(ty, syn::Type::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "Vec"))
        }
        let by_reference = matches!(strip_parens(e), Expr::Path(_) | Expr::Reference(_));
        let ok = match ty {
            syn::Type::Reference(r) => {
                matches!(&*r.elem, syn::Type::Slice(_) | syn::Type::Array(_)) || is_vec(&r.elem)
            }
            // By value, only `.iter()`: `for x in v` would move `v`.
            syn::Type::Array(_) => true,
            other => is_vec(other) && !by_reference,
        };
        ok.then_some(w)
    }

    /// An array variable or a row of one.
    fn array_ref(&mut self, e: &Expr) -> Option<(VarId, Vec<NodeId>)> {
        match whole(e) {
            Expr::Paren(p) => self.array_ref(&p.expr),
            Expr::Path(p) => match self.lookup(&p.path.get_ident()?.to_string())? {
                Val::Var(v) if matches!(self.vars[*v].shape, Shape::Array { .. }) => {
                    Some((*v, vec![]))
                }
                Val::Row(v, prefix) => Some((*v, prefix.clone())),
                _ => None,
            },
            // Only rows of float arrays: lowering `data[0]` of a constant
            // would emit a read (a move of a `Vec` row) that nothing uses.
            Expr::Index(i) => {
                let mut root = &*i.expr;
                while let Expr::Index(inner) = whole(root) {
                    root = &inner.expr;
                }
                let root = match whole(root) {
                    Expr::Path(p) => p.path.get_ident()?.to_string(),
                    _ => return None,
                };
                if !matches!(self.lookup(&root), Some(Val::Var(_) | Val::Row(..))) {
                    return None;
                }
                match self.expr(e)? {
                    Val::Row(v, prefix) => Some((v, prefix)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn bind_array_items(&mut self, pat: &Pat, k: NodeId, walk: &Walk, iter: NodeId) {
        let element = |lw: &mut Self, (var, prefix): &(VarId, Vec<NodeId>)| {
            let depth = match &lw.vars[*var].shape {
                Shape::Array { depth, .. } => *depth,
                Shape::Scalar => 1,
            };
            let mut index = prefix.clone();
            index.push(k);
            if index.len() == depth {
                let active = lw.var_active(*var);
                Val::Node(lw.push(Op::ReadIndex { var: *var, index }, active, pat.span()))
            } else {
                Val::Row(*var, index)
            }
        };
        let items: Vec<Val> = walk
            .parts
            .iter()
            .map(|p| match *p {
                WalkPart::Array(a) => element(self, &walk.arrays[a]),
                WalkPart::Constant { base, by_value } => {
                    let (b, kt) = (node_tokens(&self.nodes[base]), node_tokens(&self.nodes[k]));
                    let expr = if by_value {
                        quote!(#b[#kt])
                    } else {
                        quote!(&#b[#kt])
                    };
                    Val::Node(self.push(
                        Op::Const {
                            expr,
                            ty: None,
                            inline: false,
                            deps: vec![base, k],
                            var_deps: vec![],
                        },
                        false,
                        pat.span(),
                    ))
                }
            })
            .collect();
        let item = if let Some(rev_first) = walk.enumerate {
            // `.rev().enumerate()` counts from the back: the count is len - 1 - k.
            let index = if rev_first {
                let len = node_tokens(&self.nodes[self.nodes[iter].op.inputs()[0]]);
                let kt = node_tokens(&self.nodes[k]);
                let deps = vec![self.nodes[iter].op.inputs()[0], k];
                self.push(
                    Op::Const {
                        expr: quote!(#len - 1 - #kt),
                        ty: None,
                        inline: false,
                        deps,
                        var_deps: vec![],
                    },
                    false,
                    pat.span(),
                )
            } else if let (Some(&start), false) = (
                self.nodes[iter].op.inputs().get(1),
                walk.counted_before_skip,
            ) {
                // `.skip(a).enumerate()` counts from `a`'s element: k - a.
                let (a, kt) = (node_tokens(&self.nodes[start]), node_tokens(&self.nodes[k]));
                self.push(
                    Op::Const {
                        expr: quote!(#kt - #a),
                        ty: None,
                        inline: false,
                        deps: vec![k, start],
                        var_deps: vec![],
                    },
                    false,
                    pat.span(),
                )
            } else {
                k
            };
            // `.zip(..).enumerate()`: the index, then the pair.
            Val::Tuple(vec![Val::Node(index), walk.shape.build(&items)])
        } else {
            walk.shape.build(&items)
        };
        self.bind_item(pat, item);
    }

    /// Binds a loop pattern (`v`, `&v`, `(i, v)`, `_`).
    fn bind_item(&mut self, pat: &Pat, v: Val) {
        match pat {
            Pat::Ident(pi) => {
                let name = pi.ident.to_string();
                if matches!(v, Val::Row(..)) {
                    self.ref_rows.insert(name.clone());
                } else {
                    self.ref_rows.remove(&name);
                }
                self.scopes.insert(name, v);
            }
            Pat::Reference(r) => {
                // `&v` on an inactive item dereferences it; float elements are values already.
                let v = match v {
                    Val::Node(n)
                        if matches!(self.nodes[n].op, Op::LoopItem | Op::Const { .. })
                            && !self.is_float_element(n) =>
                    {
                        let base = node_tokens(&self.nodes[n]);
                        Val::Node(self.push(
                            Op::Const {
                                expr: quote!(*#base),
                                ty: None,
                                inline: false,
                                deps: vec![n],
                                var_deps: vec![],
                            },
                            false,
                            r.span(),
                        ))
                    }
                    other => other,
                };
                self.bind_item(&r.pat, v);
                // `&row` copies the row: a value, not a reference.
                for name in bindings(&r.pat) {
                    self.ref_rows.remove(&name);
                }
            }
            Pat::Paren(p) => self.bind_item(&p.pat, v),
            Pat::Wild(_) => {}
            Pat::Tuple(t) => {
                let (named, open) = tuple_elems(t);
                let Some(parts) = self.tuple_parts(pat, named, open, v) else {
                    return;
                };
                for (p, v) in t.elems.iter().zip(parts) {
                    self.bind_item(p, v);
                }
            }
            other => self.cx.error(
                other,
                "loop variables must be names, `&name` or tuples of them",
            ),
        }
    }

    /// Whether `n` is the index of an array loop (whose `&` patterns are moot).
    fn is_float_element(&self, n: NodeId) -> bool {
        matches!(self.nodes[n].op, Op::ReadIndex { .. })
    }

    /// The parts of a value a tuple pattern of `n` names destructures: a
    /// tuple's parts, or fields of a constant (`(a, b)` of a `(usize, f64)`);
    /// the first `n` where the pattern ends in `..` (`open`).
    fn tuple_parts(&mut self, pat: &Pat, n: usize, open: bool, v: Val) -> Option<Vec<Val>> {
        match v {
            Val::Tuple(parts) if parts.len() == n => Some(parts),
            Val::Tuple(mut parts) if open && parts.len() > n => {
                parts.truncate(n);
                Some(parts)
            }
            Val::Node(node) if !self.nodes[node].active => {
                Some((0..n).map(|i| self.project(node, i, pat.span())).collect())
            }
            _ => {
                self.cx
                    .error(pat, "this pattern does not match the value's shape");
                None
            }
        }
    }

    fn project(&mut self, n: NodeId, i: usize, span: Span) -> Val {
        let index = syn::Index::from(i);
        let base = node_tokens(&self.nodes[n]);
        Val::Node(self.push(
            Op::Const {
                expr: quote!(#base.#index),
                ty: None,
                inline: false,
                deps: vec![n],
                var_deps: vec![],
            },
            false,
            span,
        ))
    }

    // ---- let -------------------------------------------------------------------

    /// The value of a `let`'s initializer: arrays get a variable.
    /// `name` is the pattern's first name (see [`pat_idents`]).
    fn let_value(&mut self, e: &Expr, pat: &Pat, name: Option<&str>) -> Option<Val> {
        // `let (a, b) = f(..)`: a call returning a tuple.
        // `let (a, ..) = f(..)`: its first fields, the tuple's length unknown.
        if let (Pat::Tuple(t), Expr::Call(c)) = (pat, e) {
            if let (Expr::Path(func), true) = (&*c.func, self.touches_active(e)) {
                let (named, open) = tuple_elems(t);
                let call = self.make_call(func, &c.args, None, e.span())?;
                let active = self.nodes[call].active;
                let parts: Vec<NodeId> = (0..named)
                    .map(|index| self.push(Op::Project { call, index }, active, e.span()))
                    .collect();
                if let Op::Call {
                    parts: slot,
                    open: slot_open,
                    ..
                } = &mut self.nodes[call].op
                {
                    *slot = parts.clone();
                    *slot_open = open;
                }
                return Some(Val::Tuple(parts.into_iter().map(Val::Node).collect()));
            }
        }
        // `let mut y = x.to_vec();`: a new array, the copy of another.
        if let Some(copy) = self.array_copy(e, pat, name) {
            return Some(copy);
        }
        // `let h: [T; N] = layer(..)`: a call returning an array.
        if let (Pat::Type(pt), Expr::Call(c)) = (pat, e) {
            if let (Expr::Path(func), true) = (&*c.func, self.touches_active(e)) {
                let ident = self.names.fresh("v", name);
                if let Some(Holds::Array { depth, zeros, .. }) =
                    parse::holds(&pt.ty, &self.f.float, Some(&ident))
                {
                    let var = self.new_var(ident.clone(), Shape::Array { depth, zeros }, None);
                    let call = self.make_call(func, &c.args, Some(var), e.span())?;
                    if self.nodes[call].active {
                        self.activate(var);
                    }
                    self.emit(Stmt::Declare {
                        var,
                        init: Init::Call(call),
                    });
                    // A `Vec` the user never writes: its adjoint's zeros
                    // read the length, taken here, not the value, which
                    // the pullback then keeps only if it reads it.
                    let is_vec = matches!(&*pt.ty, syn::Type::Path(tp)
                        if tp.path.segments.last().is_some_and(|s| s.ident == "Vec"));
                    if self.vars[var].active
                        && depth == 1
                        && is_vec
                        && name.is_some_and(|n| !self.changed_names.contains(n))
                    {
                        let len = self.push(
                            Op::Const {
                                expr: quote!(#ident.len()),
                                ty: None,
                                inline: false,
                                deps: Vec::new(),
                                var_deps: vec![var],
                            },
                            false,
                            e.span(),
                        );
                        let (float, len_id) = (&self.f.float, &self.nodes[len].ident);
                        self.vars[var].shape = Shape::Array {
                            depth: 1,
                            zeros: quote!(
                                ::tapeless::__private::vec![::tapeless::__private::zero::<#float>(); #len_id]
                            ),
                        };
                        self.vars[var].len = Some(len);
                    }
                    return Some(Val::Var(var));
                }
            }
        }
        match e {
            Expr::Repeat(_) | Expr::Array(_) => self.array_init(e, name),
            Expr::Macro(m) if m.mac.path.is_ident("vec") => self.array_init(e, name),
            Expr::Paren(p) => self.let_value(&p.expr, pat, name),
            _ => self.expr(e),
        }
    }

    /// `let mut y = x.to_vec();` (or `.to_owned()`, `.clone()`, or `x` itself
    /// where `x` is an array value) for an array variable `x`: a new array
    /// variable of the same shape, active if `x` is, holding a copy. An
    /// immutable `let` needs no copy: it is `x` (see `bind`).
    fn array_copy(&mut self, e: &Expr, pat: &Pat, name: Option<&str>) -> Option<Val> {
        let mutable = match pat {
            Pat::Ident(pi) => pi.mutability.is_some(),
            Pat::Type(pt) => matches!(&*pt.pat, Pat::Ident(pi) if pi.mutability.is_some()),
            _ => false,
        };
        let mut inner = e;
        while let Expr::Paren(p) = inner {
            inner = &p.expr;
        }
        let (path, method) = match inner {
            Expr::MethodCall(m)
                if m.args.is_empty()
                    && m.turbofish.is_none()
                    && ["to_vec", "to_owned", "clone"].contains(&m.method.to_string().as_str()) =>
            {
                (&*m.receiver, true)
            }
            other => (other, false),
        };
        let Expr::Path(p) = path else {
            return None;
        };
        let source_name = p.path.get_ident()?.to_string();
        let Some(Val::Var(source)) = self.scopes.get(&source_name).cloned() else {
            return None;
        };
        let Shape::Array { depth, zeros } = self.vars[source].shape.clone() else {
            return None;
        };
        // `let old = v.to_vec();` (not `mut`) may read the source itself, as
        // long as nothing can write the source: a parameter not declared
        // `mut`, or an array the body never changes. One written after the
        // copy (`v[i] = old[i + 1]`) would change what the copy reads.
        let fixed = self.vars[source]
            .param
            .is_some_and(|i| !self.f.params[i].mutable)
            || !self.changed_names.contains(&source_name);
        // (`let p = s;` copies an `[T; N]`, which is `Copy`, as much as
        // `s.clone()` does.)
        if !mutable && fixed {
            return None;
        }
        // A parameter keeps its name in the generated fns, so the user's own
        // `x.to_vec()` copies it; otherwise (a renamed local, or `let mut y =
        // x;`, which would move a `Vec` the generated code still reads) the
        // array is cloned.
        let expr = if method && self.vars[source].param.is_some() {
            e.to_token_stream()
        } else {
            let id = &self.vars[source].ident;
            quote!(::core::clone::Clone::clone(&#id))
        };
        let ident = self.names.fresh("v", name);
        let var = self.new_var(ident, Shape::Array { depth, zeros }, None);
        if self.var_active(source) {
            self.activate(var);
        }
        self.emit(Stmt::Declare {
            var,
            init: Init::Copy { source, expr },
        });
        Some(Val::Var(var))
    }

    /// `[x; N]`, `vec![x; n]` (nested), `[a, b]`, `vec![a, b]`: a new array
    /// variable, active if its elements are.
    fn array_init(&mut self, e: &Expr, name: Option<&str>) -> Option<Val> {
        let float = self.f.float.clone();
        let zero = quote!(__tl::zero::<#float>());
        // Peel the nested repeats: [[x; N]; M], vec![vec![x; n]; m].
        let mut lens: Vec<(bool, Expr)> = Vec::new();
        let mut cur = e.clone();
        let elems: Option<Vec<Expr>> = loop {
            let next = match &cur {
                Expr::Repeat(r) => {
                    lens.push((false, (*r.len).clone()));
                    (*r.expr).clone()
                }
                Expr::Macro(m) if m.mac.path.is_ident("vec") => match parse::parse_vec(&m.mac) {
                    Ok(VecMacro::Repeat(x, n)) => {
                        lens.push((true, *n));
                        *x
                    }
                    Ok(VecMacro::Elems(es)) if lens.is_empty() => {
                        lens.push((true, syn::parse_quote!(0)));
                        break Some(es);
                    }
                    _ => {
                        self.cx
                            .error(&m.mac, "write `vec![x; n]` or `vec![a, b, c]`");
                        return None;
                    }
                },
                Expr::Array(a) if lens.is_empty() => {
                    lens.push((false, syn::parse_quote!(0)));
                    break Some(a.elems.iter().cloned().collect());
                }
                Expr::Paren(p) => (*p.expr).clone(),
                _ => break None,
            };
            cur = next;
        };
        let depth = lens.len();
        // Lengths are computed once; the zeros of the adjoint reuse them.
        let mut len_tokens = Vec::new();
        let mut len_nodes = Vec::new();
        for (_, len) in lens.iter().filter(|_| elems.is_none()) {
            if self.touches_active(len) {
                self.cx.error(
                    len,
                    "an array length must not depend on differentiated values",
                );
                return None;
            }
            let n = self.opaque(len);
            len_tokens.push(node_tokens(&self.nodes[n]));
            len_nodes.push(n);
        }
        let wrap = |inner: TokenStream| -> TokenStream {
            lens.iter()
                .zip(&len_tokens)
                .rev()
                .fold(inner, |acc, ((is_vec, _), n)| {
                    if *is_vec {
                        quote!(__tl::vec![#acc; #n])
                    } else {
                        quote!([#acc; #n])
                    }
                })
        };
        let ident = self.names.fresh("v", name);
        match elems {
            None => {
                let value = self.scalar(&cur)?;
                let value_tokens = node_tokens(&self.nodes[value]);
                let zeros = wrap(zero);
                let fill = wrap(value_tokens);
                let var = self.new_var(ident, Shape::Array { depth, zeros }, None);
                if self.nodes[value].active {
                    self.activate(var);
                }
                self.emit(Stmt::Declare {
                    var,
                    init: Init::Fill {
                        value,
                        fill,
                        lens: len_nodes,
                    },
                });
                Some(Val::Var(var))
            }
            Some(es) => {
                let n = es.len();
                let nodes = es
                    .iter()
                    .map(|e| self.scalar(e))
                    .collect::<Option<Vec<_>>>()?;
                let is_vec = lens.first().is_some_and(|(v, _)| *v);
                let zeros = if is_vec {
                    quote!(__tl::vec![#zero; #n])
                } else {
                    quote!([#zero; #n])
                };
                let var = self.new_var(ident, Shape::Array { depth: 1, zeros }, None);
                if nodes.iter().any(|&x| self.nodes[x].active) {
                    self.activate(var);
                }
                self.emit(Stmt::Declare {
                    var,
                    init: Init::Elems {
                        values: nodes,
                        vec: is_vec,
                    },
                });
                Some(Val::Var(var))
            }
        }
    }

    fn macro_value(&mut self, mac: &syn::Macro) -> Option<Val> {
        if let Some(Some((mut args, message_at))) = parse::assertion(mac) {
            // Runs as written where it stands, on the primal values. Names a
            // format string captures (`"{n}"`, `"{x:.3}"`) are passed as
            // named arguments, `n = n`, whose values are then the generated
            // names (the string cannot see those).
            if let Some(Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(fmt),
                ..
            })) = args.get(message_at)
            {
                let given: Vec<String> = args[message_at + 1..]
                    .iter()
                    .filter_map(|a| match a {
                        Expr::Assign(a) => match &*a.left {
                            Expr::Path(p) => p.path.get_ident().map(|i| i.to_string()),
                            _ => None,
                        },
                        _ => None,
                    })
                    .collect();
                let span = fmt.span();
                for name in captured_names(&fmt.value()) {
                    if !given.contains(&name) {
                        let id = proc_macro2::Ident::new(&name, span);
                        args.push(syn::parse_quote_spanned!(span=> #id = #id));
                    }
                }
            }
            // Each argument's value substituted; a named one's name kept.
            let mut inner = TokenStream::new();
            let (mut deps, mut var_deps) = (Vec::new(), Vec::new());
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    inner.extend(quote!(,));
                }
                let (name, value) = match arg {
                    Expr::Assign(a) if i > message_at => (Some(&*a.left), &*a.right),
                    other => (None, other),
                };
                let Substituted {
                    tokens,
                    deps: d,
                    var_deps: v,
                    ..
                } = self.substituted(value);
                for n in d {
                    if !deps.contains(&n) {
                        deps.push(n);
                    }
                }
                for n in v {
                    if !var_deps.contains(&n) {
                        var_deps.push(n);
                    }
                }
                if let Some(name) = name {
                    inner.extend(quote!(#name =));
                }
                inner.extend(tokens);
            }
            let path = &mac.path;
            let expr = quote::quote_spanned!(path.span()=> #path!(#inner));
            self.push(
                Op::Const {
                    expr,
                    ty: None,
                    inline: false,
                    deps,
                    var_deps,
                },
                false,
                path.span(),
            );
            return Some(Val::Tuple(vec![]));
        }
        self.cx.error(
            &mac.path,
            "`vec![..]` makes an array: bind it with `let` (`let mut a = vec![x; n];`)",
        );
        None
    }

    /// Binds a pattern to a value; a node made by this statement is named
    /// after the variable, for readable generated code. A `mut` scalar that
    /// a branch or loop assigns becomes a variable.
    fn bind(&mut self, pat: &Pat, v: Val, start: NodeId, ty: Option<&syn::Type>, as_var: bool) {
        match pat {
            Pat::Ident(pi) => {
                let name = pi.ident.to_string();
                let v = match v {
                    Val::Node(n) if as_var && pi.mutability.is_some() => {
                        let ident = self.names.fresh("v", Some(&name));
                        let var = self.new_var(ident, Shape::Scalar, None);
                        if self.nodes[n].active {
                            self.activate(var);
                        }
                        self.emit(Stmt::Declare {
                            var,
                            init: Init::Value(n),
                        });
                        Val::Var(var)
                    }
                    Val::Node(n) => {
                        let node = &mut self.nodes[n];
                        if n >= start
                            && !matches!(
                                node.op,
                                Op::Param | Op::LoopItem | Op::Const { inline: true, .. }
                            )
                        {
                            node.ident = self.names.fresh("v", Some(&name));
                            // A call's result marked an array (patterns.rs)
                            // that is a constant keeps the callee's type.
                            let mark = matches!(ty, Some(syn::Type::Path(p))
                                if p.path.get_ident().is_some_and(|i| i.to_string().starts_with("__tl_array")));
                            if let (Op::Const { ty: slot, .. }, Some(ty), false) =
                                (&mut node.op, ty, mark)
                            {
                                *slot = Some(Box::new(ty.clone()));
                            }
                        }
                        Val::Node(n)
                    }
                    Val::Var(var) if var >= self.let_vars => {
                        // A fresh array from this `let` has the user's name already.
                        Val::Var(var)
                    }
                    // A copy `let_value` did not make (a row, `w[i].to_vec()`):
                    // binding it would alias the array it came from.
                    Val::Var(var)
                        if pi.mutability.is_some()
                            && matches!(self.vars[var].shape, Shape::Array { .. }) =>
                    {
                        self.cx.error(pat, "copying this array into a new mutable variable is not supported; copy a whole array (`let mut y = x.to_vec();`), or build the new one with `[x; N]` or `vec![x; n]` and fill it");
                        Val::Var(var)
                    }
                    Val::Row(var, prefix) if pi.mutability.is_some() => {
                        self.cx.error(pat, "copying a row reached this way into a new mutable variable is not supported; copy it by index (`let mut r = w[i].to_vec();`) or as a loop's row (`for row in w { let mut r = row.to_vec(); .. }`), or build the new one with `vec![x; n]` and fill it");
                        Val::Row(var, prefix)
                    }
                    other => other,
                };
                self.scopes.insert(name, v);
            }
            Pat::Type(pt) => self.bind(&pt.pat, v, start, Some(&pt.ty), as_var),
            Pat::Paren(p) => self.bind(&p.pat, v, start, ty, as_var),
            Pat::Wild(_) => {}
            Pat::Tuple(t) => {
                let (named, open) = tuple_elems(t);
                let Some(parts) = self.tuple_parts(pat, named, open, v) else {
                    return;
                };
                for (p, v) in t.elems.iter().zip(parts) {
                    self.bind(p, v, start, None, as_var);
                }
            }
            // parse.rs admits no other pattern.
            other => self
                .cx
                .error(other, "internal error in tapeless: unexpected pattern"),
        }
    }

    // ---- expressions -------------------------------------------------------------

    /// Whether `e` reads a differentiated value.
    fn touches_active(&self, e: &Expr) -> bool {
        struct Reads<'l, 'a, 'f> {
            lw: &'l Lower<'a, 'f>,
            hit: bool,
            /// Names bound inside the expression (closure parameters,
            /// `match` arms): not the fn's.
            bound: Vec<String>,
        }
        impl<'ast> Visit<'ast> for Reads<'_, '_, '_> {
            // One read is enough.
            fn visit_expr(&mut self, e: &'ast Expr) {
                if !self.hit {
                    syn::visit::visit_expr(self, e);
                }
            }
            fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
                if let Some(id) = p.path.get_ident() {
                    self.hit |= crate::names::text(id, |name| {
                        !self.bound.iter().any(|b| b == name)
                            && self.lw.lookup(name).is_some_and(|v| self.lw.is_active(v))
                    });
                }
            }
            fn visit_arm(&mut self, a: &'ast syn::Arm) {
                let depth = self.bound.len();
                self.bound.extend(bindings(crate::parse::arm_parts(a).0));
                syn::visit::visit_arm(self, a);
                self.bound.truncate(depth);
            }
            fn visit_expr_closure(&mut self, c: &'ast syn::ExprClosure) {
                let depth = self.bound.len();
                for p in &c.inputs {
                    self.bound.extend(bindings(p));
                }
                self.visit_expr(&c.body);
                self.bound.truncate(depth);
            }
            // The length of an array does not depend on its values.
            fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
                if m.method != "len" && m.method != "is_empty" {
                    self.visit_expr(&m.receiver);
                }
                m.args.iter().for_each(|a| self.visit_expr(a));
            }
            fn visit_macro(&mut self, m: &'ast syn::Macro) {
                if let Ok(v) = parse::parse_vec(m) {
                    match v {
                        VecMacro::Repeat(a, b) => {
                            self.visit_expr(&a);
                            self.visit_expr(&b);
                        }
                        VecMacro::Elems(es) => es.iter().for_each(|e| self.visit_expr(e)),
                    }
                }
            }
        }
        let mut r = Reads {
            lw: self,
            hit: false,
            bound: Vec::new(),
        };
        r.visit_expr(e);
        r.hit
    }

    /// A `Const` node for an expression computed as written: literals made
    /// the float type, the user's variables replaced by the values they hold.
    fn opaque(&mut self, e: &Expr) -> NodeId {
        // `x * (a + b)`: the constant is bound by a `let`, where the
        // user's parentheses would be `unused_parens`.
        let e = parse::strip_parens(e);
        let literal = match e {
            Expr::Lit(l) if matches!(l.lit, syn::Lit::Float(_) | syn::Lit::Int(_)) => {
                Some(l.lit.to_token_stream().to_string())
            }
            _ => None,
        };
        let Substituted {
            tokens,
            deps,
            var_deps,
            simple,
            parens,
        } = self.substituted(e);
        let inline = simple && deps.is_empty() && var_deps.is_empty();
        let expr = if inline && parens {
            quote!((#tokens))
        } else {
            tokens
        };
        let n = self.push(
            Op::Const {
                expr,
                ty: None,
                inline,
                deps,
                var_deps,
            },
            false,
            parse::first_span(e),
        );
        if let Some(text) = literal {
            let first = *self.literals.entry(text).or_insert(n);
            self.same_literal.insert(n, first);
        }
        n
    }

    /// `e` as written, literals made the float type and the user's
    /// variables replaced by the values they hold.
    fn substituted(&mut self, e: &Expr) -> Substituted {
        let mut e = e.clone();
        if self.f.generic {
            sugar::convert_expr(&self.f.float, &mut e);
        }
        let simple = is_simple(&e);
        let mut sub = Substitute {
            lw: self,
            deps: Vec::new(),
            var_deps: Vec::new(),
            reads: Vec::new(),
            bound: Vec::new(),
        };
        sub.visit_expr_mut(&mut e);
        let Substitute {
            deps,
            var_deps,
            reads,
            ..
        } = sub;
        // Scalar variables are read once, before the expression.
        let mut deps = deps;
        let mut e_tokens = e.to_token_stream();
        if !reads.is_empty() {
            let mut map = HashMap::default();
            for var in reads {
                let n = self.read_var(var, parse::first_span(&e));
                deps.push(n);
                map.insert(
                    self.vars[var].ident.to_string(),
                    node_tokens(&self.nodes[n]),
                );
            }
            e_tokens = replace_idents(e_tokens, &map);
        }
        Substituted {
            tokens: e_tokens,
            deps,
            var_deps,
            simple,
            parens: needs_parens(&e),
        }
    }

    fn prim(&mut self, prim: Prim, mut args: Vec<NodeId>, span: Span) -> NodeId {
        // A borrowed constant (`r` of `let r = &k;`, `r.max(x)`) is its value.
        for a in &mut args {
            if let Some(&value) = self.borrowed.get(a) {
                *a = value;
            }
        }
        let active = args
            .iter()
            .enumerate()
            .any(|(i, &a)| self.nodes[a].active && rules::flows(prim, i));
        // Common subexpressions: a primitive is a pure function of its
        // arguments, so a node made in this region or one enclosing it
        // (computed before this point on every path) has the value again.
        // The backward pass then adds both uses' gradients into one
        // adjoint, and the forward keeps one value, not two.
        // (A primitive takes at most three arguments.)
        let mut key = [NodeId::MAX; 3];
        for (k, &a) in key.iter_mut().zip(&args) {
            *k = self.same_literal.get(&a).copied().unwrap_or(a);
        }
        if matches!(prim, Prim::Add | Prim::Mul) {
            key[..2].sort_unstable();
        }
        let known = args.len() <= 3;
        if let Some(&n) = self.made.get(&(prim, key)).filter(|_| known) {
            if self.encloses(self.nodes[n].region) {
                return n;
            }
        }
        let n = self.push(Op::Prim { prim, args }, active, span);
        if known {
            self.made.insert((prim, key), n);
        }
        n
    }

    /// Whether region `r` is the current one or encloses it.
    fn encloses(&self, r: RegionId) -> bool {
        crate::graph::nested_in(&self.regions, self.region, r)
    }

    /// The value of a scalar expression (a single node).
    fn scalar(&mut self, e: &Expr) -> Option<NodeId> {
        match self.expr(e)? {
            Val::Node(n) => Some(n),
            _ => {
                self.cx.error(e, "expected a single float here");
                None
            }
        }
    }

    fn expr(&mut self, e: &Expr) -> Option<Val> {
        if let Expr::Index(_) = e {
            // `w[..]` is `w`.
            let w = whole(e);
            if !std::ptr::eq(w, e) {
                return self.expr(w);
            }
        }
        match strip_parens(e) {
            // A closure bound to a name would be called later, with
            // differentiated values: not supported.
            Expr::Closure(c) => {
                self.cx.error(c.inputs_begin, parse::CLOSURE);
                return None;
            }
            // The arm index of a `match` on a differentiated value.
            Expr::Match(m) if crate::matches::is_index(m) && !has_block(e) => {
                return Some(Val::Node(self.opaque(e)));
            }
            // The order a sort puts an array in (patterns.rs): indices.
            Expr::Call(c) if crate::patterns::is_order(c) => {
                return Some(Val::Node(self.opaque(e)));
            }
            Expr::Match(m) if self.touches_active(e) || has_block(e) => {
                self.cx.error(m.match_token, parse::MATCH);
                return None;
            }
            _ => {}
        }
        if let Expr::Path(p) = e {
            if let Some(id) = p.path.get_ident() {
                if let Some(v) = self.resolve(&id.to_string(), parse::first_span(e)) {
                    return Some(v);
                }
            }
        }
        // A borrowed array (`let r = &c;`) is the array (`r` is then bound
        // by reference, see `ref_rows`); a borrowed constant stays a borrow
        // of it, in the forward and in the pullback.
        if let Expr::Reference(r) = strip_parens(e) {
            if let (None, Expr::Path(p)) = (r.mutability, strip_parens(&r.expr)) {
                let name = p.path.get_ident().map(|id| id.to_string());
                if let Some(v @ Val::Var(_)) = name.and_then(|n| self.lookup(&n)) {
                    return Some(v.clone());
                }
            }
        }
        if let Some(n) = self.borrowed_constant(e, true) {
            return Some(Val::Node(n));
        }
        // (`has_block` also sees a macro or an assignment at the top.)
        if !self.touches_active(e) && !has_block(e) {
            return Some(Val::Node(self.opaque(e)));
        }
        match e {
            Expr::Path(_) | Expr::Lit(_) => Some(Val::Node(self.opaque(e))),
            Expr::Paren(p) => self.expr(&p.expr),
            Expr::Group(g) => self.expr(&g.expr),
            Expr::Block(b) => match self.block(&b.block, Want::Value) {
                Flow::Falls(v) => Some(v.unwrap_or(Val::Tuple(vec![]))),
                Flow::Diverged => None,
            },
            Expr::If(ifx) => match self.if_expr(ifx, &[], Want::Value, None) {
                Flow::Falls(v) => Some(v.unwrap_or(Val::Tuple(vec![]))),
                Flow::Diverged => None,
            },
            Expr::ForLoop(fl) => {
                match self.windowed(fl) {
                    Some(rewritten) => self.for_loop(&rewritten),
                    None => self.for_loop(fl),
                }
                Some(Val::Tuple(vec![]))
            }
            Expr::While(w) => {
                self.while_loop(w);
                Some(Val::Tuple(vec![]))
            }
            Expr::Loop(l) => {
                self.infinite_loop(l);
                Some(Val::Tuple(vec![]))
            }
            Expr::Break(_) | Expr::Continue(_) | Expr::Return(_) => {
                self.cx.error(e, "`break`, `continue` and `return` are supported as statements, at the end of a block");
                None
            }
            Expr::Tuple(t) => t
                .elems
                .iter()
                .map(|e| self.expr(e))
                .collect::<Option<Vec<_>>>()
                .map(Val::Tuple),
            Expr::Binary(b) => self.binary(e, b),
            Expr::Unary(u) => match u.op {
                UnOp::Neg(_) => {
                    let a = self.scalar(&u.expr)?;
                    Some(Val::Node(self.prim(
                        Prim::Neg,
                        vec![a],
                        parse::first_span(e),
                    )))
                }
                UnOp::Not(_) => Some(Val::Node(self.opaque(e))),
                // `*v` of a loop item: the item is a value already.
                UnOp::Deref(_) => self.expr(&u.expr),
                _ => None,
            },
            Expr::Assign(a) => {
                let v = self.expr(&a.right)?;
                self.assign(&a.left, v);
                Some(Val::Tuple(vec![]))
            }
            Expr::Index(_) => self.index(e),
            // Touches nothing differentiated, but holds a block, a macro or
            // an assignment, which a constant may not (their names cannot
            // be followed): say so, not "cannot be differentiated".
            Expr::MethodCall(m)
                if !self.touches_active(e) && crate::names::text(&m.method, method).is_none() =>
            {
                self.cx.error(
                    &m.method,
                    "this expression touches no differentiated value, but a constant expression may not contain \
                     blocks, macros (`vec![..]`) or assignments; compute it outside the fn and pass it in",
                );
                None
            }
            Expr::MethodCall(m) => {
                let name = m.method.to_string();
                let mut args = vec![&*m.receiver];
                args.extend(m.args.iter());
                self.call_method(&m.method, &name, &args, e)
            }
            Expr::Call(c) => self.call(e, c),
            Expr::Field(f) => {
                let base = self.expr(&f.base)?;
                match (&f.member, base) {
                    (syn::Member::Unnamed(i), Val::Tuple(mut parts))
                        if (i.index as usize) < parts.len() =>
                    {
                        Some(parts.swap_remove(i.index as usize))
                    }
                    (syn::Member::Named(name), _) => {
                        self.cx.error(
                            name,
                            "a differentiated value has no named fields: tapeless differentiates \
                             floats, arrays of them and tuples (`.0`); pass the field's value as a parameter",
                        );
                        None
                    }
                    _ if matches!(crate::parse::strip_parens(&f.base), Expr::Call(_)) => {
                        self.cx.error(
                            f,
                            "a field of a call's result cannot be taken here; bind the result \
                             with a pattern first (`let (a, b) = f(..);`, or `let (a, _) = ..`) and use `a`",
                        );
                        None
                    }
                    _ => {
                        self.cx.error(f, "this field does not exist on the value");
                        None
                    }
                }
            }
            // `x.floor() as usize`: an integer, a step of `x` (no gradient,
            // as `floor` has none), which may index and steer.
            Expr::Cast(c) if integer_type(&c.ty) => Some(Val::Node(self.opaque(e))),
            // `y as f32` in a fn of `f32`: the value itself.
            Expr::Cast(c) if !self.f.generic && parse::same_type(&c.ty, &self.f.float) => {
                self.expr(&c.expr)
            }
            Expr::Cast(c) => {
                self.cx.error(
                    c,
                    format_args!(
                        "`as` casts of a differentiated value to a float type are not supported: no gradient flows \
                         through them; keep the value as `{}` (casts to integers, `x.floor() as usize`, are constants)",
                        self.f.float.to_token_stream()
                    ),
                );
                None
            }
            Expr::Reference(r) => match self.expr(&r.expr)? {
                v @ (Val::Var(_) | Val::Row(..)) => Some(v),
                // `let q = &x[k];`, read as `*q`: the element's value.
                v @ Val::Node(_)
                    if r.mutability.is_none()
                        && matches!(strip_parens(&r.expr), Expr::Index(_)) =>
                {
                    Some(v)
                }
                _ => {
                    self.cx.error(r, "references to differentiated values are not supported; pass the value itself");
                    None
                }
            },
            Expr::Macro(m) => self.macro_value(&m.mac),
            Expr::Repeat(_) | Expr::Array(_) => {
                self.cx.error(
                    e,
                    "an array literal makes an array only as a `let`'s value (`let mut a = [x; N];`) or the fn's value; \
                     to choose between arrays, declare one and assign its elements in each branch",
                );
                None
            }
            Expr::Range(_) => {
                self.cx
                    .error(e, "a range may not depend on differentiated values");
                None
            }
            other => {
                self.cx
                    .error(other, "internal error in tapeless: unexpected expression");
                None
            }
        }
    }

    /// `a[i]`, `w[i][j]`: an element read, or a row.
    fn index(&mut self, e: &Expr) -> Option<Val> {
        let (var, index) = self.place(e)?;
        let depth = match &self.vars[var].shape {
            Shape::Array { depth, .. } => *depth,
            Shape::Scalar => 0,
        };
        if index.len() > depth {
            self.cx.error(e, "too many indices for this array");
            return None;
        }
        if index.len() < depth {
            return Some(Val::Row(var, index));
        }
        let key = (var, index);
        if let Some(&n) = self.reads.get(&key) {
            return Some(Val::Node(n));
        }
        let active = self.var_active(var);
        let n = self.push(
            Op::ReadIndex {
                var,
                index: key.1.clone(),
            },
            active,
            parse::first_span(e),
        );
        self.reads.insert(key, n);
        Some(Val::Node(n))
    }

    /// The array variable and indices an index expression names.
    fn place(&mut self, e: &Expr) -> Option<(VarId, Vec<NodeId>)> {
        match e {
            Expr::Index(i) => {
                let (var, mut index) = self.place(&i.expr)?;
                if let Expr::Range(r) = &*i.index {
                    self.cx.error(r, "slicing an array with a range is not supported; pass the whole array, or index its elements");
                    return None;
                }
                if self.touches_active(&i.index) {
                    self.cx.error(
                        &i.index,
                        "an index must not depend on differentiated values",
                    );
                    return None;
                }
                let n = self.scalar(&i.index)?;
                index.push(n);
                Some((var, index))
            }
            Expr::Paren(p) => self.place(&p.expr),
            Expr::Path(p) => {
                let id = p.path.get_ident()?;
                match self.lookup(&id.to_string()) {
                    Some(Val::Var(v)) if matches!(self.vars[*v].shape, Shape::Array { .. }) => {
                        Some((*v, vec![]))
                    }
                    Some(Val::Row(v, prefix)) => Some((*v, prefix.clone())),
                    Some(Val::Node(n)) if matches!(self.nodes[*n].op, Op::Call { .. }) => {
                        let f = self.f.float.to_token_stream();
                        self.cx.error(
                            id,
                            format_args!(
                                "`{id}` holds what a call returned, taken as one float; if the call returns an array, \
                                 bind it with its type: `let {id}: Vec<{f}> = ..` or `let {id}: [{f}; N] = ..`"
                            ),
                        );
                        None
                    }
                    _ => {
                        self.cx.error(
                            id,
                            format_args!(
                                "`{id}` is not an array this fn made, so its elements cannot be assigned here; \
                                 make it with `vec![value; n]` or `[value; N]` (integers too: \
                                 `vec![0usize; n]`) and assign its elements"
                            ),
                        );
                        None
                    }
                }
            }
            other => {
                self.cx
                    .error(other, "index an array by name (`a[i]`, `w[i][j]`)");
                None
            }
        }
    }

    fn binary(&mut self, e: &Expr, b: &syn::ExprBinary) -> Option<Val> {
        let arith = |op: &BinOp| match op {
            BinOp::Add(_) | BinOp::AddAssign(_) => Some(Prim::Add),
            BinOp::Sub(_) | BinOp::SubAssign(_) => Some(Prim::Sub),
            BinOp::Mul(_) | BinOp::MulAssign(_) => Some(Prim::Mul),
            BinOp::Div(_) | BinOp::DivAssign(_) => Some(Prim::Div),
            BinOp::Rem(_) | BinOp::RemAssign(_) => Some(Prim::Rem),
            _ => None,
        };
        let compound = parse::is_compound(&b.op);
        match (arith(&b.op), &b.op) {
            // `1.0 / x` is a reciprocal, whose gradient needs no division.
            (Some(Prim::Div), BinOp::Div(_))
                if is_one(&b.left) && !self.touches_active(&b.left) =>
            {
                let r = self.scalar(&b.right)?;
                Some(Val::Node(self.prim(
                    Prim::Recip,
                    vec![r],
                    parse::first_span(e),
                )))
            }
            (Some(prim), _) => {
                let l = if compound {
                    self.place_value(&b.left)
                } else {
                    self.scalar(&b.left)
                };
                let r = self.scalar(&b.right);
                let n = self.prim(prim, vec![l?, r?], parse::first_span(e));
                if compound {
                    self.assign(&b.left, Val::Node(n));
                    return Some(Val::Tuple(vec![]));
                }
                Some(Val::Node(n))
            }
            (
                None,
                BinOp::Lt(_)
                | BinOp::Le(_)
                | BinOp::Gt(_)
                | BinOp::Ge(_)
                | BinOp::Eq(_)
                | BinOp::Ne(_)
                | BinOp::And(_)
                | BinOp::Or(_),
            ) => Some(Val::Node(self.opaque(e))),
            (None, op) => {
                if !compound && !self.touches_active(e) {
                    return Some(Val::Node(self.opaque(e)));
                }
                self.cx.error(
                    op,
                    "this operator is not differentiable; use `+ - * / %` or the `Float` methods on differentiated values",
                );
                None
            }
        }
    }

    /// The current value of an assignment target.
    fn place_value(&mut self, place: &Expr) -> Option<NodeId> {
        match place {
            Expr::Index(_) => match self.index(place)? {
                Val::Node(n) => Some(n),
                _ => {
                    self.cx.error(place, "assign to an element, not a row");
                    None
                }
            },
            _ => self.scalar(place),
        }
    }

    /// `x = v` or `a[i] = v`.
    fn assign(&mut self, place: &Expr, v: Val) {
        if let Expr::Index(_) = place {
            let Some((var, index)) = self.place(place) else {
                return;
            };
            let Val::Node(value) = v else {
                self.cx.error(place, "assign one float to an element");
                return;
            };
            self.vars[var].written = true;
            if self.nodes[value].active {
                self.activate(var);
            }
            if self.vars[var].param.is_some() && !self.vars[var].ident.to_string().is_empty() {
                // Parameters are borrowed or copied; writing one is allowed only by value.
            }
            self.emit(Stmt::Store { var, index, value });
            return;
        }
        let Some(id) = (match place {
            Expr::Path(p) => p.path.get_ident(),
            _ => None,
        }) else {
            // `*v = ..` outside a loop over `x.iter_mut()`.
            self.cx.error(
                place,
                "assign to a local variable by name or to an array element (`x = ..`, `a[i] += ..`)",
            );
            return;
        };
        let name = id.to_string();
        match self.lookup(&name).cloned() {
            Some(Val::Var(var)) if matches!(self.vars[var].shape, Shape::Scalar) => match v {
                Val::Node(n) => self.set_var(var, n),
                _ => self.cx.error(place, "assign one float to this variable"),
            },
            Some(Val::Var(_) | Val::Row(..)) => self.cx.error(
                place,
                "assigning this array whole is not supported (only arrays the fn made with `let`, of one dimension, `[x, y]`, `vec![..]`, `.to_vec()`, or two, `[[x; N]; M]`, `vec![vec![x; n]; m]`); assign its elements (`a[i] = ..`, `m[i][j] = ..`)",
            ),
            Some(_) => {
                self.scopes.assign(name, v);
            }
            None => self.cx.error(
                id,
                format_args!(
                    "`{id}` is not a local variable of this fn; declare it with `let mut`"
                ),
            ),
        }
    }

    fn call_method(
        &mut self,
        at: &dyn ToTokens,
        name: &str,
        args: &[&Expr],
        whole: &Expr,
    ) -> Option<Val> {
        // `x.iter().position(..).unwrap()`: the answer to a question stays
        // a constant through `Option`'s methods.
        const OPTION: &[&str] = &[
            "unwrap",
            "unwrap_or",
            "unwrap_or_default",
            "unwrap_or_else",
            "expect",
            "is_some",
            "is_none",
        ];
        if OPTION.contains(&name) {
            if let Expr::MethodCall(m) = strip_parens(whole) {
                if let Expr::MethodCall(inner) = strip_parens(&m.receiver) {
                    if matches!(method(&inner.method.to_string()), Some(Method::Predicate)) {
                        return Some(Val::Node(self.opaque(whole)));
                    }
                }
            }
        }
        match method(name) {
            Some(Method::Prim(prim, arity)) if arity == args.len() => {
                let vals: Vec<Option<NodeId>> = args.iter().map(|a| self.scalar(a)).collect();
                let vals = vals.into_iter().collect::<Option<Vec<_>>>()?;
                Some(Val::Node(self.prim(prim, vals, parse::first_span(whole))))
            }
            Some(Method::SinCos) if args.len() == 1 => {
                let x = self.scalar(args[0])?;
                let s = self.prim(Prim::Sin, vec![x], parse::first_span(whole));
                let c = self.prim(Prim::Cos, vec![x], parse::first_span(whole));
                Some(Val::Tuple(vec![Val::Node(s), Val::Node(c)]))
            }
            Some(Method::Identity) if args.len() == 1 => self.expr(args[0]),
            Some(Method::Predicate) => Some(Val::Node(self.opaque(whole))),
            Some(_) => {
                self.cx.error(
                    at,
                    format_args!("`{name}` takes a different number of arguments"),
                );
                None
            }
            None => {
                let hint = if matches!(
                    name,
                    "iter" | "sum" | "map" | "fold" | "product" | "enumerate" | "zip"
                ) {
                    "; iterators are supported as `for` loops (`for v in x.iter()`, `.enumerate()`, `.zip(..)`) and reduced by `.map(|v| ..)` then `.sum()`, `.product()` or `.fold(init, |acc, v| ..)` over such a loop's iterator (`.filter(..)` and `.take_while(..)` too; not `filter_map`, `skip_while`, `flat_map`, ...)"
                } else if matches!(name, "push" | "extend" | "insert" | "resize") {
                    "; make arrays with `vec![x; n]` or `[x; N]` and assign their elements (`a[i] = ..`), or push in the `for` loop that first uses a `Vec::new()`, once per iteration or under one `if` without `else` whose condition reads nothing the loop changes (no `break` or `continue` in the loop)"
                } else if args.first().is_some_and(|r| !self.touches_active(r)) {
                    // A method of a constant value with differentiated
                    // arguments: perhaps a `&self` method of a marked block.
                    "; a `&self` method of a `#[differentiable]` `impl` block is called on a parameter `d: &Type` (`d.method(..)`), or as `self.method(..)` inside the block"
                } else {
                    ""
                };
                self.cx.error(
                    at,
                    format_args!("`{name}` cannot be differentiated: it is not a `Float` method tapeless knows; {METHODS_HINT}{hint}"),
                );
                None
            }
        }
    }

    /// A name bound to an array or a row of one.
    fn is_array_name(&self, e: &Expr) -> bool {
        let Expr::Path(p) = e else { return false };
        p.path
            .get_ident()
            .and_then(|id| self.lookup(&id.to_string()))
            .is_some_and(|v| {
                matches!(v, Val::Var(var) if matches!(self.vars[*var].shape, Shape::Array { .. }))
                    || matches!(v, Val::Row(..))
            })
    }

    fn call(&mut self, e: &Expr, c: &syn::ExprCall) -> Option<Val> {
        let Expr::Path(func) = &*c.func else {
            return None;
        };
        let path = &func.path;
        let last = path.segments.last()?;
        // `T::exp(x)`, `f64::exp(x)`, `Float::exp(x)`, `<T as Float>::exp(x)`.
        let on_float = func.qself.is_some()
            || (path.segments.len() >= 2 && {
                let owner = &path.segments[path.segments.len() - 2].ident;
                owner == "Float" || parse::same_type(&syn::parse_quote!(#owner), &self.f.float)
            });
        if on_float {
            let args: Vec<&Expr> = c.args.iter().collect();
            return self.call_method(&last.ident, &last.ident.to_string(), &args, e);
        }
        // Another `#[differentiable]` fn, or a toolkit fn: through its protocol.
        self.make_call(func, &c.args, None, parse::first_span(e))
            .map(Val::Node)
    }

    /// `alias::__tl_forward #generics` for the free fn (or toolkit fn) at
    /// `path`, through an alias whose name says what to do when it is not
    /// `#[differentiable]`.
    fn callee_alias(
        &mut self,
        path: &syn::Path,
        callee: &Ident,
        generics: TokenStream,
    ) -> Option<TokenStream> {
        // `Self(x)` (a tuple struct's constructor) and other paths no `use`
        // can name are not fns tapeless can call through.
        if syn::parse2::<syn::ItemUse>(quote!(use #path as #callee;)).is_err() {
            self.cx.error(
                path,
                "this call cannot be differentiated: a `#[differentiable]` fn is called by its name or \
                 path (`f(x)`, `module::f(x)`, `Self::f(x)` in a `#[differentiable]` `impl` block)",
            );
            return None;
        }
        let key = path.to_token_stream().to_string();
        let alias = match self.callees.iter().find(|(k, _, _)| *k == key) {
            Some((_, _, alias)) => alias.clone(),
            None => {
                let n = self
                    .callees
                    .iter()
                    .filter(|(_, p, _)| p.segments.last().is_some_and(|s| s.ident == *callee))
                    .count();
                let suffix = if n == 0 {
                    String::new()
                } else {
                    format!("_{n}")
                };
                let alias = format_ident!(
                    "{}_is_not_differentiable_mark_it_differentiable{}",
                    callee,
                    suffix,
                    span = callee.span()
                );
                self.callees.push((key, path.clone(), alias.clone()));
                alias
            }
        };
        let protocol = Ident::new("__tl_forward", callee.span());
        Some(quote!(#alias::#protocol #generics))
    }

    /// A call node and its pullback node; `result` is the array variable the
    /// call's value initializes, if it returns an array.
    fn make_call(
        &mut self,
        func: &syn::ExprPath,
        args: &syn::punctuated::Punctuated<Expr, syn::Token![,]>,
        result: Option<VarId>,
        span: Span,
    ) -> Option<NodeId> {
        // A fn calling itself: its forward's type would contain itself.
        if func.path.segments.len() == 1 && func.path.segments[0].ident == self.f.item.sig.ident {
            self.cx.error(
                func,
                "a `#[differentiable]` fn calling itself is not supported; write the recursion as a loop \
                 (`while n > 0 { x = x * x; n -= 1; }`)",
            );
            return None;
        }
        // `f::<T>(x)` calls `f::__tl_forward::<T>(x)`.
        let mut path = func.path.clone();
        let last = path.segments.last_mut()?;
        let generics = std::mem::replace(&mut last.arguments, syn::PathArguments::None);
        let callee = last.ident.clone();
        let generics = match generics {
            syn::PathArguments::AngleBracketed(mut a) => {
                a.colon2_token = Some(Default::default());
                a.to_token_stream()
            }
            _ => TokenStream::new(),
        };
        // An associated fn of a `#[differentiable]` `impl` block (`Self::f`,
        // `Model::f`: a type's name before the fn's) has its protocol beside
        // it, `__tl_differentiable_f` (see impls.rs); a type's items cannot be
        // imported under an alias.
        // Else the callee is reached through an alias whose name says what
        // to do when it is not `#[differentiable]`: rustc's error then reads
        // "cannot find module `f_is_not_differentiable_mark_it_differentiable`".
        let func_tokens = match associated_owner(&path) {
            Some(owner) => {
                let protocol = crate::impls::protocol_name(&callee);
                quote!(#owner::#protocol #generics)
            }
            None => self.callee_alias(&path, &callee, generics)?,
        };
        let mut call_args = Vec::new();
        let mut copies: Vec<(VarId, Vec<NodeId>, NodeId)> = Vec::new();
        for a in args {
            let (inner, by_ref) = match a {
                Expr::Reference(r) if r.mutability.is_none() => (whole(&r.expr), true),
                // `*p`, a row bound by reference passed by value (`[T; N]`).
                Expr::Unary(syn::ExprUnary {
                    op: UnOp::Deref(_),
                    expr,
                    ..
                }) if self.is_array_name(expr) => (whole(expr), false),
                // A row bound by reference is passed as a reference.
                Expr::Path(p)
                    if p.path
                        .get_ident()
                        .is_some_and(|id| self.ref_rows.contains(&id.to_string())) =>
                {
                    (whole(a), true)
                }
                other => (whole(other), false),
            };
            let is_array = match inner {
                Expr::Path(_) => self.is_array_name(inner),
                Expr::Index(_) => self.touches_active(inner) && self.is_row(inner),
                _ => false,
            };
            if is_array {
                let (var, prefix) = self.array_ref(inner)?;
                let frozen = self.vars[var].param.is_some() && !self.written_earlier(var);
                if frozen {
                    call_args.push(CallArg::Array {
                        var,
                        prefix,
                        by_ref,
                    });
                } else if let Some(&(_, _, node)) =
                    copies.iter().find(|(v, p, _)| *v == var && *p == prefix)
                {
                    // `dot(&y, &y)`: one copy serves both arguments.
                    call_args.push(CallArg::Snapshot {
                        node,
                        var,
                        prefix,
                        by_ref,
                    });
                } else {
                    let place = self.tokens(&Val::Row(var, prefix.clone()));
                    let op = Op::Const {
                        expr: quote!(::core::clone::Clone::clone(&#place)),
                        ty: None,
                        inline: false,
                        deps: prefix.clone(),
                        var_deps: vec![var],
                    };
                    let node = self.push(op, false, a.span());
                    copies.push((var, prefix.clone(), node));
                    call_args.push(CallArg::Snapshot {
                        node,
                        var,
                        prefix,
                        by_ref,
                    });
                }
            } else {
                let value = match self.borrowed_constant(a, false) {
                    Some(n) => n,
                    None => self.scalar(a)?,
                };
                call_args.push(CallArg::Value(value));
            }
        }
        let active = call_args.iter().any(|a| match a {
            CallArg::Value(n) => self.nodes[*n].active,
            CallArg::Array { var, .. } | CallArg::Snapshot { var, .. } => self.var_active(*var),
        });
        let op = Op::Call {
            func: func_tokens,
            args: call_args,
            result,
            pullback: 0,
            parts: Vec::new(),
            open: false,
        };
        let call = self.push(op, active, span);
        let pb = self.push(Op::Pullback { call }, false, span);
        self.nodes[pb].ident = self.names.fresh("pullback", Some(&callee.to_string()));
        if let Op::Call { pullback, .. } = &mut self.nodes[call].op {
            *pullback = pb;
        }
        Some(call)
    }

    /// `&c` of a constant the fn made (`let c = scale(x, 2.0);` of data):
    /// borrowed where it is used (a call's argument, or through `let r =
    /// &c;`), in the forward and again in the pullback, as an inline
    /// constant. Bound to a `let`, the reference would be what the pullback
    /// keeps, and it cannot outlive the forward. In parentheses where it
    /// may meet a method call or an operator (`r.sin()`), not as a call's
    /// argument (where they would be unused).
    fn borrowed_constant(&mut self, a: &Expr, paren: bool) -> Option<NodeId> {
        let Expr::Reference(r) = a else { return None };
        let Expr::Path(p) = parse::strip_parens(&r.expr) else {
            return None;
        };
        if r.mutability.is_some() {
            return None;
        }
        let Some(Val::Node(n)) = p
            .path
            .get_ident()
            .and_then(|id| self.lookup(&id.to_string()))
        else {
            return None;
        };
        let n = *n;
        if self.nodes[n].active || !matches!(self.nodes[n].op, Op::Const { .. }) {
            return None;
        }
        let value = node_tokens(&self.nodes[n]);
        let expr = match paren {
            true => quote!((&#value)),
            false => quote!(&#value),
        };
        let borrow = self.push(
            Op::Const {
                expr,
                ty: None,
                inline: true,
                deps: vec![n],
                var_deps: Vec::new(),
            },
            false,
            a.span(),
        );
        self.borrowed.insert(borrow, n);
        Some(borrow)
    }

    /// Whether an index expression names a row (not an element) of an array.
    fn is_row(&self, e: &Expr) -> bool {
        let mut depth = 0;
        let mut cur = e;
        while let Expr::Index(i) = cur {
            depth += 1;
            cur = &i.expr;
        }
        let Expr::Path(p) = cur else { return false };
        match p
            .path
            .get_ident()
            .and_then(|id| self.lookup(&id.to_string()))
        {
            Some(Val::Var(v)) => {
                matches!(&self.vars[*v].shape, Shape::Array { depth: d, .. } if depth < *d)
            }
            Some(Val::Row(v, prefix)) => {
                matches!(&self.vars[*v].shape, Shape::Array { depth: d, .. } if depth + prefix.len() < *d)
            }
            _ => false,
        }
    }

    fn check_output(&mut self, v: Val) -> Option<Val> {
        let v = match v {
            Val::Var(var) if matches!(self.vars[var].shape, Shape::Scalar) => {
                Val::Node(self.read_var(var, Span::call_site()))
            }
            other => other,
        };
        let shape_ok = match (self.f.output, &v) {
            (Output::Scalar, Val::Node(_)) => true,
            (Output::Tuple(n), Val::Tuple(parts)) => {
                parts.len() == n && parts.iter().all(|p| matches!(p, Val::Node(_)))
            }
            (Output::Array, Val::Var(var)) => matches!(self.vars[*var].shape, Shape::Array { .. }),
            _ => false,
        };
        if !shape_ok && !self.cx.has_errors() {
            self.cx.error(
                &self.f.item.sig.output,
                "the returned value does not have the declared shape",
            );
            return None;
        }
        Some(v)
    }
}

/// `e` without `[..]` (the whole array) and parentheses: `&w[..]` is `&w`.
fn whole(mut e: &Expr) -> &Expr {
    loop {
        match e {
            Expr::Paren(p) => e = &p.expr,
            Expr::Index(i) if matches!(&*i.index, Expr::Range(r) if r.start.is_none() && r.end.is_none()) => {
                e = &i.expr
            }
            _ => return e,
        }
    }
}

/// The names a format string captures (`"{n}"`, `"{n:.3}"`), once each.
fn captured_names(fmt: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut rest = fmt;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        // `{{` is a brace.
        if let Some(after) = rest.strip_prefix('{') {
            rest = after;
            continue;
        }
        let close = rest.find('}').unwrap_or(rest.len());
        let arg = rest[..close].split(':').next().unwrap_or("").trim();
        let ident = arg
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && arg.chars().all(|c| c.is_alphanumeric() || c == '_');
        if ident && !names.iter().any(|n| n == arg) {
            names.push(arg.to_string());
        }
        rest = &rest[close.min(rest.len())..];
    }
    names
}

/// A node's value in generated code: its local, or an inline constant.
pub(crate) fn node_tokens(node: &Node) -> TokenStream {
    node_ref(node).to_token_stream()
}

/// The tokens that stand for a node, written where they are interpolated
/// (no stream made, then copied): its name, or an inline constant's
/// expression.
pub(crate) fn node_ref(node: &Node) -> NodeRef<'_> {
    match &node.op {
        Op::Const {
            expr, inline: true, ..
        } => NodeRef::Expr(expr),
        _ => NodeRef::Name(&node.ident),
    }
}

/// [`node_ref`] of each of a primitive's inputs, kept on the stack (at most
/// three; more, or none, in a list).
pub(crate) fn node_refs<'g>(g: &'g Graph, args: &[NodeId]) -> NodeRefs<'g> {
    match args {
        [a, rest @ ..] if rest.len() < 3 => {
            let first = node_ref(&g.nodes[*a]);
            let mut refs = [first; 3];
            for (slot, n) in refs[1..].iter_mut().zip(rest) {
                *slot = node_ref(&g.nodes[*n]);
            }
            NodeRefs::Few(refs, args.len())
        }
        _ => NodeRefs::Many(args.iter().map(|&n| node_ref(&g.nodes[n])).collect()),
    }
}

/// See [`node_refs`].
pub(crate) enum NodeRefs<'g> {
    Few([NodeRef<'g>; 3], usize),
    Many(Vec<NodeRef<'g>>),
}

impl<'g> std::ops::Deref for NodeRefs<'g> {
    type Target = [NodeRef<'g>];
    fn deref(&self) -> &[NodeRef<'g>] {
        match self {
            NodeRefs::Few(refs, len) => &refs[..*len],
            NodeRefs::Many(refs) => refs,
        }
    }
}

/// See [`node_ref`].
#[derive(Clone, Copy)]
pub(crate) enum NodeRef<'a> {
    Name(&'a Ident),
    Expr(&'a TokenStream),
}

impl ToTokens for NodeRef<'_> {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            NodeRef::Name(id) => id.to_tokens(tokens),
            NodeRef::Expr(e) => e.to_tokens(tokens),
        }
    }
}

/// Replaces the user's variables by the tokens of the values they hold.
struct Substitute<'l, 'a, 'f> {
    lw: &'l Lower<'a, 'f>,
    deps: Vec<NodeId>,
    var_deps: Vec<VarId>,
    /// Scalar variables read (their current value is copied first).
    reads: Vec<VarId>,
    /// Names the expression binds itself (closure parameters, `match` arm
    /// patterns), which shadow the user's variables inside their scope.
    bound: Vec<String>,
}

impl VisitMut for Substitute<'_, '_, '_> {
    fn visit_expr_closure_mut(&mut self, c: &mut syn::ExprClosure) {
        let depth = self.bound.len();
        for p in &c.inputs {
            self.bound.extend(bindings(p));
        }
        self.visit_expr_mut(&mut c.body);
        self.bound.truncate(depth);
    }

    fn visit_arm_mut(&mut self, arm: &mut syn::Arm) {
        let depth = self.bound.len();
        self.bound.extend(bindings(crate::parse::arm_parts(arm).0));
        if let Pat::Guard(g) = &mut arm.pat {
            self.visit_expr_mut(&mut g.guard);
        }
        self.visit_expr_mut(&mut arm.body);
        self.bound.truncate(depth);
    }

    fn visit_expr_mut(&mut self, e: &mut Expr) {
        // A constant changed in place (`idx.push(i)`, `rng.gen()`,
        // `&mut idx`): its uses would see the value it was made with.
        let changed = match &*e {
            Expr::MethodCall(m) if MUTATORS.contains(&m.method.to_string().as_str()) => {
                Some((&*m.receiver, m.method.to_token_stream()))
            }
            Expr::Reference(r) if r.mutability.is_some() => Some((&*r.expr, r.to_token_stream())),
            _ => None,
        };
        if let Some((Expr::Path(p), at)) = changed {
            if let Some(id) = p.path.get_ident() {
                let name = id.to_string();
                if self.lw.mut_consts.contains(&name) && !self.bound.contains(&name) {
                    self.lw.cx.error(
                        at,
                        format_args!(
                            "`{name}` is changed in place here, which `#[differentiable]` cannot \
                             follow (it reads `{name}` as the value it was made with); make `{name}` \
                             with one expression (`let {name}: Vec<usize> = (0..n).filter(..).collect();`) \
                             or before the fn, and pass it in"
                        ),
                    );
                }
            }
        }
        // `*p` for a float the graph holds by value (`for p in x.iter()`,
        // `if *p > t`): the value itself.
        if let Expr::Unary(syn::ExprUnary {
            op: UnOp::Deref(_),
            expr,
            ..
        }) = &*e
        {
            if let Expr::Path(p) = strip_parens(expr) {
                let by_value = p
                    .path
                    .get_ident()
                    .filter(|id| !self.bound.iter().any(|b| *id == b))
                    .and_then(|id| self.lw.lookup(&id.to_string()))
                    .is_some_and(|v| {
                        matches!(v, Val::Node(n)
                            if !matches!(self.lw.nodes[*n].op, Op::Const { .. } | Op::Param))
                    });
                if by_value {
                    *e = (**expr).clone();
                }
            }
        }
        if let Expr::Path(p) = e {
            if let Some(v) = p
                .path
                .get_ident()
                .filter(|id| !self.bound.iter().any(|b| *id == b))
                .and_then(|id| self.lw.lookup(&id.to_string()))
            {
                match v {
                    // A parameter keeps the user's own token; another name
                    // for it (`let t0 = x;`, no binding of its own in the
                    // generated fns) is the parameter's.
                    Val::Node(n) if matches!(self.lw.nodes[*n].op, Op::Param) => {
                        self.deps.push(*n);
                        let param = &self.lw.nodes[*n].ident;
                        if let Some(id) = p.path.get_ident().filter(|id| *id != param) {
                            let mut param = param.clone();
                            param.set_span(id.span());
                            *e = Expr::Verbatim(param.to_token_stream());
                        }
                        return;
                    }
                    Val::Var(var) if matches!(self.lw.vars[*var].shape, Shape::Scalar) => {
                        if !self.reads.contains(var) {
                            self.reads.push(*var);
                        }
                    }
                    Val::Var(var) | Val::Row(var, _) => self.var_deps.push(*var),
                    other => self.deps.extend(other.leaves()),
                }
                if let Val::Row(_, index) = v {
                    self.deps.extend(index.iter().copied());
                }
                *e = Expr::Verbatim(self.lw.tokens(v));
                return;
            }
        }
        syn::visit_mut::visit_expr_mut(self, e);
    }
}

/// Methods that change their receiver in place (`&mut self`), on constants.
const MUTATORS: &[&str] = &[
    "push",
    "push_str",
    "pop",
    "insert",
    "remove",
    "clear",
    "extend",
    "extend_from_slice",
    "append",
    "truncate",
    "resize",
    "sort",
    "sort_by",
    "sort_by_key",
    "sort_unstable",
    "sort_unstable_by",
    "sort_unstable_by_key",
    "dedup",
    "reverse",
    "swap",
    "swap_remove",
    "retain",
    "drain",
    "fill",
    "rotate_left",
    "rotate_right",
    "iter_mut",
    "get_mut",
    "first_mut",
    "last_mut",
    "split_off",
    "next",
    "next_back",
    "nth",
    "gen",
    "gen_range",
    "gen_bool",
    "random",
    "random_range",
    "sample",
    "shuffle",
    "entry",
    "take",
    "replace",
    "set",
    "as_mut",
    "as_mut_slice",
    "copy_from_slice",
    "clone_from_slice",
];

/// Replaces identifiers by tokens (a variable's ident by its read's node).
fn replace_idents(ts: TokenStream, map: &HashMap<String, TokenStream>) -> TokenStream {
    ts.into_iter()
        .flat_map(|t| match t {
            proc_macro2::TokenTree::Ident(i) if map.contains_key(&i.to_string()) => {
                map[&i.to_string()].clone().into_iter().collect::<Vec<_>>()
            }
            proc_macro2::TokenTree::Group(g) => {
                let mut ng =
                    proc_macro2::Group::new(g.delimiter(), replace_idents(g.stream(), map));
                ng.set_span(g.span());
                vec![proc_macro2::TokenTree::Group(ng)]
            }
            other => vec![other],
        })
        .collect()
}

/// `1.0`, `1`, `T::one()`.
fn is_one(e: &Expr) -> bool {
    match e {
        Expr::Lit(l) => match &l.lit {
            syn::Lit::Float(f) => f.base10_parse::<f64>().is_ok_and(|v| v == 1.0),
            syn::Lit::Int(i) => i.base10_parse::<u64>().is_ok_and(|v| v == 1),
            _ => false,
        },
        Expr::Paren(p) => is_one(&p.expr),
        Expr::Call(c) => {
            c.args.is_empty()
                && matches!(&*c.func, Expr::Path(p) if p.path.segments.last().is_some_and(|s| s.ident == "one"))
        }
        _ => false,
    }
}

/// Literals, paths and calls of them (`T::from(0.5).unwrap()`): cheap
/// enough to write at every use.
fn is_simple(e: &Expr) -> bool {
    match e {
        Expr::Lit(_) | Expr::Path(_) | Expr::Verbatim(_) => true,
        Expr::Paren(p) => is_simple(&p.expr),
        Expr::Unary(u) => matches!(u.op, UnOp::Neg(_)) && is_simple(&u.expr),
        Expr::Call(c) => matches!(&*c.func, Expr::Path(_)) && c.args.iter().all(is_simple),
        Expr::MethodCall(m) => is_simple(&m.receiver) && m.args.iter().all(is_simple),
        _ => false,
    }
}

fn needs_parens(e: &Expr) -> bool {
    !matches!(
        e,
        Expr::Lit(_)
            | Expr::Path(_)
            | Expr::Verbatim(_)
            | Expr::Paren(_)
            | Expr::Call(_)
            | Expr::MethodCall(_)
    )
}

/// Whether a block (with its own scope), control flow, a macro or an
/// assignment is nested in `e`.
fn has_block(e: &Expr) -> bool {
    struct Find(bool);
    impl<'ast> Visit<'ast> for Find {
        fn visit_block(&mut self, _: &'ast syn::Block) {
            self.0 = true;
        }
        // A macro whose tokens name nothing (`unreachable!()`) reads and
        // writes nothing.
        fn visit_macro(&mut self, m: &'ast syn::Macro) {
            self.0 |= names_anything(m.tokens.clone());
        }
        // An assignment inside (a `match` arm, a closure) writes a variable
        // behind lowering's back: not a constant.
        fn visit_expr_assign(&mut self, _: &'ast syn::ExprAssign) {
            self.0 = true;
        }
        fn visit_expr_binary(&mut self, b: &'ast syn::ExprBinary) {
            self.0 |= parse::is_compound(&b.op);
            syn::visit::visit_expr_binary(self, b);
        }
    }
    let mut f = Find(false);
    f.visit_expr(e);
    f.0
}

fn names_anything(ts: TokenStream) -> bool {
    ts.into_iter().any(|t| match t {
        proc_macro2::TokenTree::Ident(_) => true,
        proc_macro2::TokenTree::Group(g) => names_anything(g.stream()),
        _ => false,
    })
}

/// A range the backward pass can run in reverse: `a..b`, `a..=b`, and
/// `.rev()`/`.step_by(k)` of one.
fn is_range(e: &Expr) -> bool {
    match e {
        Expr::Range(r) => r.start.is_some() && r.end.is_some(),
        Expr::Paren(p) => is_range(&p.expr),
        Expr::Group(g) => is_range(&g.expr),
        Expr::MethodCall(m) => {
            matches!(m.method.to_string().as_str(), "rev" | "step_by") && is_range(&m.receiver)
        }
        _ => false,
    }
}

/// The names a pattern binds, with whether each is `mut`.
fn pat_idents(pat: &Pat) -> Vec<(String, bool)> {
    match pat {
        Pat::Ident(pi) => vec![(pi.ident.to_string(), pi.mutability.is_some())],
        Pat::Type(pt) => pat_idents(&pt.pat),
        Pat::Paren(p) => pat_idents(&p.pat),
        Pat::Tuple(t) => t.elems.iter().flat_map(pat_idents).collect(),
        _ => vec![],
    }
}

/// The names a statement assigns inside a branch or loop of its own
/// (`x = ..` or `x += ..` under `if`, `for`, `while`, `loop`).
fn assigned_in_control_of(stmt: &SynStmt) -> HashSet<String> {
    struct Find {
        depth: usize,
        names: HashSet<String>,
    }
    impl Find {
        fn target(&mut self, e: &Expr) {
            if let Expr::Path(p) = e {
                if let Some(id) = p.path.get_ident().filter(|_| self.depth > 0) {
                    self.names.insert(id.to_string());
                }
            }
        }
    }
    impl<'ast> Visit<'ast> for Find {
        fn visit_expr(&mut self, e: &'ast Expr) {
            match e {
                Expr::If(_) | Expr::ForLoop(_) | Expr::While(_) | Expr::Loop(_) => {
                    self.depth += 1;
                    syn::visit::visit_expr(self, e);
                    self.depth -= 1;
                }
                Expr::Assign(a) => {
                    self.target(&a.left);
                    syn::visit::visit_expr(self, e);
                }
                Expr::Binary(b) if parse::is_compound(&b.op) => {
                    self.target(&b.left);
                    syn::visit::visit_expr(self, e);
                }
                _ => syn::visit::visit_expr(self, e),
            }
        }
    }
    let mut f = Find {
        depth: 0,
        names: HashSet::default(),
    };
    f.visit_stmt(stmt);
    f.names
}

/// Whether any of `stmts` assigns `name` inside a branch or loop.
fn assigned_in_control(stmts: &[&SynStmt], name: &str) -> bool {
    stmts
        .iter()
        .any(|s| assigned_in_control_of(s).contains(name))
}

/// For the statements of one block, keyed by its last statement: each name
/// assigned in control, with how many statements follow the last one that
/// does. A suffix of `len` statements assigns `name` when that is `< len`:
/// one visit per block instead of one per `let mut` (which was quadratic).
#[derive(Default)]
struct ControlWrites(HashMap<*const SynStmt, BlockWrites>);

#[derive(Default)]
struct BlockWrites {
    /// How many statements (a suffix of the block) the map was built from.
    seen: usize,
    /// Name -> statements after the last one assigning it in control.
    after_last: HashMap<String, usize>,
}

impl ControlWrites {
    fn assigned(&mut self, stmts: &[&SynStmt], name: &str) -> bool {
        let Some(&last) = stmts.last() else {
            return false;
        };
        let w = self.0.entry(last as *const SynStmt).or_default();
        // Lowering asks about ever shorter suffixes of a block; a longer one
        // than the map has seen rebuilds it.
        if w.seen < stmts.len() {
            w.after_last.clear();
            for (r, s) in stmts.iter().rev().enumerate() {
                for name in assigned_in_control_of(s) {
                    w.after_last.entry(name).or_insert(r);
                }
            }
            w.seen = stmts.len();
        }
        w.after_last.get(name).is_some_and(|&r| r < stmts.len())
    }
}

/// Whether `e` may `break`, `continue` (out of the loop around it) or
/// `return`: then the statements after it need restructuring.
fn may_leave(e: &Expr) -> bool {
    struct Find {
        loops: usize,
        hit: bool,
    }
    impl<'ast> Visit<'ast> for Find {
        fn visit_expr(&mut self, e: &'ast Expr) {
            match e {
                Expr::Break(_) | Expr::Continue(_) if self.loops == 0 => self.hit = true,
                Expr::Return(_) => self.hit = true,
                Expr::ForLoop(_) | Expr::While(_) | Expr::Loop(_) => {
                    self.loops += 1;
                    syn::visit::visit_expr(self, e);
                    self.loops -= 1;
                }
                Expr::Closure(_) => {}
                _ => syn::visit::visit_expr(self, e),
            }
        }
    }
    let mut f = Find {
        loops: 0,
        hit: false,
    };
    f.visit_expr(e);
    f.hit
}

/// Whether a loop body `break`s out of its own loop.
fn breaks(stmts: &[SynStmt]) -> bool {
    parse::at_loop_level(stmts, |e| matches!(e, Expr::Break(_)))
}

/// Whether the body returns anywhere but at its very end.
fn has_early_return(stmts: &[SynStmt]) -> bool {
    let n = stmts.len();
    stmts.iter().enumerate().any(|(i, s)| {
        let final_return = i + 1 == n && matches!(s, SynStmt::Expr(Expr::Return(_), _));
        !final_return && crate::returns::has_return(s)
    })
}

/// The type before an associated fn's name in a call's path (`Self` in
/// `Self::f`, `Model` in `Model::f`, `m::Model` in `m::Model::f`): a
/// [`crate::impls::user_type`].
fn associated_owner(path: &syn::Path) -> Option<TokenStream> {
    let n = path.segments.len();
    if n < 2 || !crate::impls::user_type(&path.segments[n - 2].ident.to_string()) {
        return None;
    }
    let leading = &path.leading_colon;
    let segs = path.segments.iter().take(n - 1);
    Some(quote!(#leading #(#segs)::*))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Args;
    use syn::{parse_quote, ItemFn};

    fn graph(item: ItemFn) -> Graph {
        let cx = Diagnostics::default();
        let f = crate::parse::function(&cx, &Args::default(), &item).unwrap();
        let g = lower(&cx, &f, &mut Names::default());
        cx.finish().unwrap();
        g.unwrap()
    }

    fn lower_errors(item: ItemFn) -> Vec<String> {
        let cx = Diagnostics::default();
        if let Some(f) = crate::parse::function(&cx, &Args::default(), &item) {
            let _ = lower(&cx, &f, &mut Names::default());
        }
        cx.finish()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    fn prims(g: &Graph) -> Vec<Prim> {
        g.nodes
            .iter()
            .filter_map(|n| match &n.op {
                Op::Prim { prim, .. } => Some(*prim),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn one_node_per_primitive() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: T, y: T, z: T) -> T {
                let q = x + y;
                q * z
            }
        ));
        assert_eq!(prims(&g), [Prim::Add, Prim::Mul]);
        assert_eq!(g.nodes[3].ident.to_string(), "__tl_v_q");
        assert_eq!(g.output, Val::Node(4));
        assert!(g.nodes.iter().all(|n| n.active));
    }

    #[test]
    fn shadowing_and_reassignment_make_new_nodes() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                let mut a = x * x;
                a += x;
                let x = a.exp();
                x
            }
        ));
        assert_eq!(prims(&g), [Prim::Mul, Prim::Add, Prim::Exp]);
        assert_eq!(g.output, Val::Node(g.nodes.len() - 1));
    }

    #[test]
    fn method_and_path_forms_are_one_primitive() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                x.exp() + T::exp(x) + Float::exp(x)
            }
        ));
        // One primitive, and so one node: the same `exp` of the same `x`.
        assert_eq!(prims(&g), [Prim::Exp, Prim::Add, Prim::Add]);
    }

    #[test]
    fn constants_are_one_node_and_inactive() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: T, n: usize) -> T {
                let c = T::from(n * 2).unwrap();
                c * x * 2.0
            }
        ));
        let consts: Vec<&Node> = g
            .nodes
            .iter()
            .filter(|n| matches!(n.op, Op::Const { .. }))
            .collect();
        assert_eq!(consts.len(), 2);
        assert!(consts.iter().all(|n| !n.active));
        assert!(matches!(consts[1].op, Op::Const { inline: true, .. }));
    }

    #[test]
    fn wrt_leaves_other_floats_inactive() {
        let item: ItemFn = parse_quote!(
            fn f<T: Float>(x: T, y: T) -> T {
                x * y
            }
        );
        let cx = Diagnostics::default();
        let args = Args {
            wrt: Some(vec![parse_quote!(x)]),
            float: None,
        };
        let f = crate::parse::function(&cx, &args, &item).unwrap();
        let g = lower(&cx, &f, &mut Names::default()).unwrap();
        assert_eq!(
            g.nodes.iter().map(|n| n.active).collect::<Vec<_>>(),
            [true, false, true]
        );
    }

    #[test]
    fn flat_primitives_stop_activity() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                x.floor()
            }
        ));
        assert!(!g.nodes[1].active);
    }

    #[test]
    fn sin_cos_is_a_tuple_of_two_nodes() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                let (s, c) = x.sin_cos();
                s * c
            }
        ));
        assert_eq!(prims(&g), [Prim::Sin, Prim::Cos, Prim::Mul]);
    }

    #[test]
    fn non_differentiable_uses_are_errors() {
        let msgs = lower_errors(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                let a = x.exp();
                let b = x.to_f64();
                let c = x as f32;
                x & a
            }
        ));
        assert_eq!(msgs.len(), 3, "{msgs:?}");
        assert!(msgs[0].contains("`to_f64`"));
        assert!(msgs[1].contains("`as` casts"));
        assert!(msgs[2].contains("not differentiable"));
    }

    #[test]
    fn calls_become_call_nodes_with_their_pullback() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: T, w: &[T]) -> T {
                helper(x, &w, 3)
            }
        ));
        let call = g
            .nodes
            .iter()
            .position(|n| matches!(n.op, Op::Call { .. }))
            .unwrap();
        let Op::Call {
            func,
            args,
            pullback,
            result,
            ..
        } = &g.nodes[call].op
        else {
            unreachable!()
        };
        assert_eq!(
            func.to_string(),
            "helper_is_not_differentiable_mark_it_differentiable :: __tl_forward"
        );
        assert!(matches!(
            args.as_slice(),
            [
                CallArg::Value(_),
                CallArg::Array { by_ref: true, .. },
                CallArg::Value(_)
            ]
        ));
        assert!(matches!(g.nodes[*pullback].op, Op::Pullback { .. }) && result.is_none());
        assert!(g.nodes[call].active);
    }

    #[test]
    fn comparisons_of_active_values_are_constants() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                let b = x > 0.0;
                x
            }
        ));
        assert!(matches!(&g.nodes[1].op, Op::Const { inline: false, .. }));
        assert!(!g.nodes[1].active);
    }

    fn stmts(g: &Graph) -> Vec<&'static str> {
        g.body
            .stmts
            .iter()
            .map(|s| match s {
                Stmt::Node(_) => "node",
                Stmt::Declare { .. } => "declare",
                Stmt::Set { .. } => "set",
                Stmt::Store { .. } => "store",
                Stmt::If { .. } => "if",
                Stmt::Loop(_) => "loop",
                Stmt::Break => "break",
            })
            .collect()
    }

    #[test]
    fn a_variable_assigned_in_a_loop_is_a_var_and_active() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: &[T]) -> T {
                let mut p = T::one();
                for i in 0..x.len() {
                    p = p * x[i];
                }
                p
            }
        ));
        // x (param array) and p
        assert_eq!(g.vars.len(), 2);
        assert!(
            g.vars[1].active && g.vars[1].written,
            "p is found active by the fixed point"
        );
        assert_eq!(stmts(&g), ["declare", "loop", "node"]);
    }

    #[test]
    fn a_mut_variable_assigned_only_at_its_level_stays_ssa() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                let mut a = x;
                a = a * 2.0;
                a
            }
        ));
        assert!(g.vars.is_empty());
    }

    #[test]
    fn continue_moves_the_rest_into_the_other_branch() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: &[T]) -> T {
                let mut s = T::zero();
                for i in 0..x.len() {
                    if x[i] < 0.0 {
                        continue;
                    }
                    s += x[i];
                }
                s
            }
        ));
        let Some(Stmt::Loop(l)) = g.body.stmts.iter().find(|s| matches!(s, Stmt::Loop(_))) else {
            panic!("no loop")
        };
        let Some(Stmt::If { then, els, .. }) =
            l.body.stmts.iter().find(|s| matches!(s, Stmt::If { .. }))
        else {
            panic!("no if")
        };
        assert!(then.stmts.is_empty(), "the `continue` branch does nothing");
        assert!(
            els.stmts.iter().any(|s| matches!(s, Stmt::Set { .. })),
            "the rest runs in the other branch"
        );
        // No break: the backward replays the range, no counter.
        assert!(l.counter.is_none());
    }

    #[test]
    fn break_needs_a_counter() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                let mut y = x;
                loop {
                    y = y * 2.0;
                    if y > 1.0 {
                        break;
                    }
                }
                y
            }
        ));
        let Some(Stmt::Loop(l)) = g.body.stmts.iter().find(|s| matches!(s, Stmt::Loop(_))) else {
            panic!("no loop")
        };
        assert!(l.counter.is_some());
    }

    #[test]
    fn element_loops_read_elements_by_index() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: &[T]) -> T {
                let mut s = T::zero();
                for &v in x.iter() {
                    s += v;
                }
                s
            }
        ));
        assert!(g
            .nodes
            .iter()
            .any(|n| matches!(n.op, Op::ReadIndex { var: 0, .. })));
    }

    #[test]
    fn early_return_delivers_through_a_variable() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                if x < 0.0 {
                    return -x;
                }
                x
            }
        ));
        assert_eq!(g.vars.len(), 1);
        assert_eq!(stmts(&g), ["declare", "node", "if", "node"]);
    }

    fn element_reads(g: &Graph) -> usize {
        g.nodes
            .iter()
            .filter(|n| matches!(n.op, Op::ReadIndex { .. }))
            .count()
    }

    #[test]
    fn a_repeated_element_read_is_one_node() {
        let g = graph(parse_quote!(
            fn f<T: Float>(q: &[T]) -> T {
                let mut s = T::zero();
                for l in 0..q.len() {
                    s += q[l] * q[l];
                }
                s
            }
        ));
        assert_eq!(element_reads(&g), 1);
    }

    #[test]
    fn a_write_between_two_reads_makes_two_nodes() {
        let g = graph(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                let mut b = vec![x; 2];
                let p = b[0];
                b[0] = p * x;
                let q = b[0];
                p * q
            }
        ));
        assert_eq!(element_reads(&g), 2);
    }
}
