//! Pass 3: what the backward pass does and reads. For every node: whether it
//! has an adjoint and how its terms are summed ([`Mode`]); whether the
//! backward reads its value (`kept`) and where that value comes from
//! ([`Storage`]): the closure's capture for the fn body's values, a
//! recomputation for cheap values of a loop (indices, elements of inputs),
//! and otherwise one slot, or one tape entry per iteration.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use crate::graph::{
    Block, CallArg, Graph, Init, Loop, NodeId, Op, Prim, RegionId, Shape, Stmt, VarId,
};
use crate::rules::{self, Keep};

/// How a node's adjoint sums its terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// No gradient reaches it.
    None,
    /// All `n` terms come from its own block, after it: the first is a `let`.
    Let(usize),
    /// Terms come from nested blocks (loops, branches): a zero adjoint is
    /// declared where the node's block starts, and terms are added to it.
    Accum,
}

/// Where the backward pass finds a value it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Storage {
    /// Computed in the fn body (or a parameter): the closure captures it.
    Captured,
    /// Recomputed in the backward pass: loop indices, constants of them,
    /// elements of arrays never written.
    Recompute,
    /// Computed in a branch: kept in an `Option`.
    Slot,
    /// Computed in a loop: pushed on a tape each iteration.
    Tape,
    /// The value of a [`Counter`], which the backward steps back.
    Counted,
}

pub(crate) struct Analysis {
    pub mode: Vec<Mode>,
    /// The backward pass reads the node's value.
    pub kept: Vec<bool>,
    pub storage: Vec<Storage>,
    /// Blocks whose reversal does something.
    pub work: Vec<bool>,
    /// The loop item nodes of loops the backward replays.
    pub replayed: Vec<bool>,
    /// Arrays kept whole for the reads that follow their last write (one
    /// copy per iteration of the loop that declares them, instead of one
    /// tape entry per read).
    pub settled: Vec<bool>,
    /// Per loop body: the arrays whose adjoints the reversal carries in
    /// locals from one iteration to the next.
    pub carries: HashMap<RegionId, Vec<Carry>>,
    pub counters: Vec<Counter>,
    /// Loops whose backward runs in the forward pass, by body (see
    /// [`crate::fuse`]).
    pub fused: HashMap<RegionId, crate::fuse::Fused>,
    /// Loops whose backward replays only the iteration that won, by body
    /// (see [`crate::winners`]).
    pub winners: HashMap<RegionId, crate::winners::Winner>,
    /// Their `min`s and `max`s, whose rule keeps nothing.
    pub winner_routers: HashSet<NodeId>,
    /// Inner loops whose reversal runs after their outer loop's, row by
    /// row, by the inner loop's body (see [`crate::scatters`]).
    pub deferred: HashMap<RegionId, crate::scatters::Deferred>,
}

/// An integer variable stepped only by constants, all in one block
/// (`idx += 1`, a running index into a packed triangle): the backward keeps
/// its value and steps it back block by block instead of storing every
/// value read. Its reads in that block (`Storage::Counted`) are the value at
/// the block's end less what the block adds after them. Where it is
/// declared in a loop, its value at the end of each iteration is taped
/// (one entry where every read would have been one each).
#[derive(Debug)]
pub(crate) struct Counter {
    pub var: VarId,
    /// The block that steps it.
    pub block: RegionId,
    /// What the block adds in all.
    pub total: i64,
    /// Its reads in the block, with what the block adds after each.
    pub reads: Vec<(NodeId, i64)>,
}

/// Element reads of one array in a replayed `for` loop whose adjoints the
/// reversal sums in locals instead of adding them into the array's adjoint
/// one by one: a careful person's habit, and what keeps a loop's updates
/// from chaining through memory (each add loading the store before it, and
/// once LLVM pairs neighbouring adds into one vector add, a load it cannot
/// forward from the overlapping store). Only for arrays the loop adds into
/// and nothing else (not written, passed to calls, or read by a nested
/// loop), so that the order of the adds is free.
#[derive(Debug)]
pub(crate) struct Carry {
    pub var: VarId,
    pub kind: CarryKind,
    /// Each read and the local its adjoint goes to.
    pub reads: Vec<(NodeId, usize)>,
}

#[derive(Debug)]
pub(crate) enum CarryKind {
    /// `x[i + k]` for constants `k` spanning `width` >= 2 elements (`x[i]`
    /// and `x[i + 1]`), read by every iteration of a loop over a range:
    /// neighbouring iterations add into the same elements, so local `j`
    /// holds element `i + low + j`; each iteration writes the element no
    /// later one touches and moves the others one place.
    Window {
        low: i64,
        width: usize,
        /// The loop counts down (`(a..b).rev()`), so its reversal counts up.
        descends: bool,
    },
    /// `x[j]` with `j` fixed while the loop runs (`v[a]` in a loop over
    /// `b`): one local, written after the loop.
    Fixed { index: Vec<NodeId> },
}

pub(crate) fn analyse(g: &Graph) -> Analysis {
    let n = g.nodes.len();
    let mut a = Analysis {
        mode: vec![Mode::None; n],
        kept: vec![false; n],
        storage: vec![Storage::Captured; n],
        work: vec![false; g.regions.len()],
        replayed: vec![false; n],
        settled: vec![false; g.vars.len()],
        carries: HashMap::default(),
        counters: Vec::new(),
        fused: HashMap::default(),
        winners: HashMap::default(),
        winner_routers: HashSet::default(),
        deferred: HashMap::default(),
    };
    modes(g, &mut a);
    work(g, &g.body, &mut a);
    let mut nodes_in = vec![Vec::new(); g.regions.len()];
    for (id, node) in g.nodes.iter().enumerate() {
        nodes_in[node.region].push(id);
    }
    // A loop that keeps only its winner changes what the rest keeps; one
    // that turns out not to qualify is dropped and the rest decided again.
    a.winners = crate::winners::candidates(g, &a, &nodes_in);
    loop {
        a.winner_routers = a.winners.values().map(|w| w.router).collect();
        kept(g, &g.body, &mut a);
        a.counters = counters(g);
        storage(g, &mut a);
        // Counters whose reads the backward never uses are left alone.
        a.counters
            .retain(|c| c.reads.iter().any(|&(r, _)| a.kept[r]));
        carries(g, &g.body, &nodes_in, &mut a.carries);
        a.fused = crate::fuse::fused(g, &a);
        let before = a.winners.len();
        let winners = std::mem::take(&mut a.winners);
        a.winners = winners
            .into_iter()
            .filter(|(body, w)| crate::winners::holds(g, &a, &nodes_in, *body, w))
            .collect();
        if a.winners.len() == before {
            a.deferred = crate::scatters::deferred(g, &a, &nodes_in);
            return a;
        }
        a.kept = vec![false; n];
        a.storage = vec![Storage::Captured; n];
        a.replayed = vec![false; n];
        a.settled = vec![false; g.vars.len()];
        a.carries = HashMap::default();
    }
}

/// Finds the [`Counter`]s: integer variables (not differentiated, not
/// parameters) declared in the fn body or in a loop that cannot `break`,
/// whose every write is `v = v + k` or `v = v - k` with a literal `k`, all
/// in one block inside a loop.
fn counters(g: &Graph) -> Vec<Counter> {
    // Per variable: the blocks of its writes, and each write's position.
    let mut sets: HashMap<VarId, Vec<(RegionId, usize, NodeId)>> = HashMap::default();
    let mut no_break_loops = HashSet::default();
    fn walk(
        b: &Block,
        sets: &mut HashMap<VarId, Vec<(RegionId, usize, NodeId)>>,
        loops: &mut HashSet<RegionId>,
    ) {
        for (i, s) in b.stmts.iter().enumerate() {
            match s {
                Stmt::Set { var, value } => sets.entry(*var).or_default().push((b.id, i, *value)),
                Stmt::If { then, els, .. } => {
                    walk(then, sets, loops);
                    walk(els, sets, loops);
                }
                Stmt::Loop(l) => {
                    if l.counter.is_none() {
                        loops.insert(l.body.id);
                    }
                    walk(&l.body, sets, loops);
                }
                _ => {}
            }
        }
    }
    walk(&g.body, &mut sets, &mut no_break_loops);
    // Every block by its region: the body, and the blocks its statements
    // hold (the shared walk reaches the nested ones).
    let mut blocks: HashMap<RegionId, &Block> = HashMap::default();
    blocks.insert(g.body.id, &g.body);
    crate::graph::for_each_stmt(&g.body, &mut |s| match s {
        Stmt::If { then, els, .. } => {
            blocks.insert(then.id, then);
            blocks.insert(els.id, els);
        }
        Stmt::Loop(l) => {
            blocks.insert(l.body.id, &l.body);
        }
        _ => {}
    });
    let mut out = Vec::new();
    let mut vars: Vec<VarId> = sets.keys().copied().collect();
    vars.sort_unstable();
    for var in vars {
        let v = &g.vars[var];
        let declared_ok = v.region == 0 || no_break_loops.contains(&v.region);
        if v.active || v.param.is_some() || !matches!(v.shape, Shape::Scalar) || !declared_ok {
            continue;
        }
        let writes = &sets[&var];
        let block = writes[0].0;
        if block == 0 || !in_loop(g, block) || writes.iter().any(|w| w.0 != block) {
            continue;
        }
        // Every loop around the block replays whole iterations (a `break`
        // leaves one half done).
        let mut r = block;
        let mut whole = true;
        while r != v.region && r != 0 {
            whole &= !g.regions[r].is_loop || no_break_loops.contains(&r);
            r = g.regions[r].parent;
        }
        if !whole {
            continue;
        }
        let steps: Option<Vec<(usize, i64)>> = writes
            .iter()
            .map(|&(_, i, value)| step(g, var, value).map(|k| (i, k)))
            .collect();
        if let Some(steps) = steps {
            out.push(Counter {
                var,
                block,
                total: steps.iter().map(|&(_, k)| k).sum(),
                reads: Vec::new(),
            });
        }
    }
    // The reads of each counter's block, with what the block adds after
    // each: one pass backwards over every such block.
    let mut by_block: HashMap<RegionId, Vec<usize>> = HashMap::default();
    for (i, c) in out.iter().enumerate() {
        by_block.entry(c.block).or_default().push(i);
    }
    for (block, counters) in by_block {
        let mut after: HashMap<VarId, (usize, i64)> =
            counters.iter().map(|&i| (out[i].var, (i, 0))).collect();
        for s in blocks[&block].stmts.iter().rev() {
            match s {
                Stmt::Set { var, value } => {
                    if let Some((_, sum)) = after.get_mut(var) {
                        *sum += step(g, *var, *value).unwrap_or(0);
                    }
                }
                Stmt::Node(n) => {
                    if let Op::ReadVar(var) = g.nodes[*n].op {
                        if let Some(&(i, sum)) = after.get(&var) {
                            out[i].reads.push((*n, sum));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// `k` where `value` is `v + k` (or `k + v`, or `v - k` as `-k`) for a read
/// of the variable `var` and an integer literal `k`.
fn step(g: &Graph, var: VarId, value: NodeId) -> Option<i64> {
    match plus_constant(g, value)? {
        (read, k) if matches!(g.nodes[read].op, Op::ReadVar(v) if v == var) => Some(k),
        _ => None,
    }
}

/// `(n, k)` where node `id` is node `n` plus the integer literal `k`
/// (`n + k`, `k + n`, `n - k` as `-k`): integer arithmetic, as lowering
/// writes it (a primitive of a `let`, or an expression inside an index).
fn plus_constant(g: &Graph, id: NodeId) -> Option<(NodeId, i64)> {
    fn strip(e: &syn::Expr) -> &syn::Expr {
        match e {
            syn::Expr::Paren(p) => strip(&p.expr),
            syn::Expr::Group(p) => strip(&p.expr),
            _ => e,
        }
    }
    fn int(e: &syn::Expr) -> Option<i64> {
        match strip(e) {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(i),
                ..
            }) => i.base10_parse::<i64>().ok().filter(|k| k.abs() < 1 << 20),
            _ => None,
        }
    }
    let literal = |n: NodeId| match &g.nodes[n].op {
        Op::Const { expr, deps, .. } if deps.is_empty() => {
            int(&syn::parse2::<syn::Expr>(expr.clone()).ok()?)
        }
        _ => None,
    };
    match &g.nodes[id].op {
        Op::Prim { prim, args } => match (prim, args.as_slice()) {
            (Prim::Add, &[a, b]) => match literal(b) {
                Some(k) => Some((a, k)),
                None => literal(a).map(|k| (b, k)),
            },
            (Prim::Sub, &[a, b]) => literal(b).map(|k| (a, -k)),
            _ => None,
        },
        Op::Const {
            expr,
            deps,
            var_deps,
            ..
        } if var_deps.is_empty() => {
            let base = sole_value(g, deps)?;
            let name = g.nodes[base].ident.to_string();
            let is_base =
                |e: &syn::Expr| matches!(strip(e), syn::Expr::Path(p) if p.path.is_ident(&name));
            let syn::Expr::Binary(b) = syn::parse2::<syn::Expr>(expr.clone()).ok()? else {
                return None;
            };
            let k = match b.op {
                syn::BinOp::Add(_) if is_base(&b.left) => int(&b.right),
                syn::BinOp::Add(_) if is_base(&b.right) => int(&b.left),
                syn::BinOp::Sub(_) if is_base(&b.left) => int(&b.right).map(|k| -k),
                _ => None,
            }?;
            Some((base, k))
        }
        _ => None,
    }
}

/// The one input of an expression that is not a literal written inline.
fn sole_value(g: &Graph, deps: &[NodeId]) -> Option<NodeId> {
    let mut values = deps.iter().copied().filter(|&d| {
        !matches!(&g.nodes[d].op, Op::Const { inline: true, deps, var_deps, .. }
            if deps.is_empty() && var_deps.is_empty())
    });
    let one = values.next()?;
    values.next().is_none().then_some(one)
}

/// Finds the [`Carry`]s of every replayed loop.
fn carries(
    g: &Graph,
    b: &Block,
    nodes_in: &[Vec<NodeId>],
    out: &mut HashMap<RegionId, Vec<Carry>>,
) {
    for s in &b.stmts {
        match s {
            Stmt::If { then, els, .. } => {
                carries(g, then, nodes_in, out);
                carries(g, els, nodes_in, out);
            }
            Stmt::Loop(l) => {
                let found = loop_carries(g, l, nodes_in);
                if !found.is_empty() {
                    out.insert(l.body.id, found);
                }
                carries(g, &l.body, nodes_in, out);
            }
            _ => {}
        }
    }
}

fn loop_carries(g: &Graph, l: &Loop, nodes_in: &[Vec<NodeId>]) -> Vec<Carry> {
    let (Some(h), None) = (&l.header, &l.counter) else {
        return vec![];
    };
    let mut reads = Vec::new();
    let mut barred = HashSet::default();
    scan(g, &l.body, nodes_in, false, &mut reads, &mut barred);
    reads.retain(|(_, var, _)| !barred.contains(var));
    if reads.is_empty() {
        return vec![];
    }
    let steps = match &g.nodes[h.iter].op {
        Op::Const { expr, .. } => syn::parse2::<syn::Expr>(expr.clone())
            .ok()
            .and_then(|e| unit_steps(&e)),
        _ => None,
    };
    let inside = |n: NodeId| {
        let mut r = g.nodes[n].region;
        loop {
            if r == l.body.id {
                return true;
            }
            if r == 0 {
                return false;
            }
            r = g.regions[r].parent;
        }
    };
    let mut vars: Vec<VarId> = reads.iter().map(|(_, v, _)| *v).collect();
    vars.sort_unstable();
    vars.dedup();
    let mut out = Vec::new();
    for var in vars {
        let mine = || reads.iter().filter(|(_, v, _)| *v == var);
        // The same element every iteration: one local per index.
        let mut fixed: Vec<(&[NodeId], Vec<NodeId>)> = Vec::new();
        for (id, _, index) in mine() {
            if index.iter().any(|&i| inside(i)) {
                continue;
            }
            match fixed.iter_mut().find(|(at, _)| at == index) {
                Some((_, ids)) => ids.push(*id),
                None => fixed.push((index, vec![*id])),
            }
        }
        for (index, ids) in fixed {
            out.push(Carry {
                var,
                kind: CarryKind::Fixed {
                    index: index.to_vec(),
                },
                reads: ids.into_iter().map(|id| (id, 0)).collect(),
            });
        }
        // A window of neighbours around the item, its bounds set by reads
        // every iteration makes (so every element it writes exists).
        let Some(descends) = steps else {
            continue;
        };
        if !matches!(g.vars[var].shape, Shape::Array { depth: 1, .. }) {
            continue;
        }
        let offsets: Vec<(NodeId, i64, bool)> = mine()
            .filter_map(|(id, _, index)| match index {
                [i] if inside(*i) => {
                    offset(g, *i, h.item).map(|k| (*id, k, g.nodes[*id].region == l.body.id))
                }
                _ => None,
            })
            .collect();
        let always = offsets.iter().filter(|(_, _, every)| *every);
        let (Some(low), Some(high)) = (
            always.clone().map(|(_, k, _)| *k).min(),
            always.map(|(_, k, _)| *k).max(),
        ) else {
            continue;
        };
        let width = (high - low + 1) as usize;
        // One element per iteration needs no carrying; wide stencils
        // would hold too many locals.
        if !(2..=4).contains(&width) {
            continue;
        }
        out.push(Carry {
            var,
            kind: CarryKind::Window {
                low,
                width,
                descends,
            },
            reads: offsets
                .into_iter()
                .filter(|(_, k, _)| (low..=high).contains(k))
                .map(|(id, k, _)| (id, (k - low) as usize))
                .collect(),
        });
    }
    out
}

/// Whether a loop's iterator steps through consecutive integers: `a..b` or
/// `a..=b` (`Some(false)`), or one reversed (`Some(true)`).
fn unit_steps(e: &syn::Expr) -> Option<bool> {
    match e {
        syn::Expr::Paren(p) => unit_steps(&p.expr),
        syn::Expr::Group(p) => unit_steps(&p.expr),
        syn::Expr::Range(r) if r.start.is_some() && r.end.is_some() => Some(false),
        syn::Expr::MethodCall(m) if m.method == "rev" && m.args.is_empty() => {
            unit_steps(&m.receiver).map(|d| !d)
        }
        _ => None,
    }
}

/// `k` where node `id` is the loop's item plus the constant `k`.
fn offset(g: &Graph, id: NodeId, item: NodeId) -> Option<i64> {
    if id == item {
        return Some(0);
    }
    match plus_constant(g, id)? {
        (base, k) if base == item => Some(k),
        _ => None,
    }
}

/// The active element reads of a loop body (`nested`: inside a loop within
/// it), and the arrays the carrying must leave alone.
fn scan<'g>(
    g: &'g Graph,
    b: &Block,
    nodes_in: &[Vec<NodeId>],
    nested: bool,
    reads: &mut Vec<(NodeId, VarId, &'g [NodeId])>,
    barred: &mut HashSet<VarId>,
) {
    for &id in &nodes_in[b.id] {
        match &g.nodes[id].op {
            Op::ReadIndex { var, index } if g.vars[*var].active => {
                if nested {
                    barred.insert(*var);
                } else {
                    reads.push((id, *var, index));
                }
            }
            Op::Call { args, result, .. } => {
                barred.extend(result);
                for arg in args {
                    match arg {
                        CallArg::Array { var, .. } | CallArg::Snapshot { var, .. } => {
                            barred.insert(*var);
                        }
                        CallArg::Value(_) => {}
                    }
                }
            }
            _ => {}
        }
    }
    for s in &b.stmts {
        match s {
            Stmt::Store { var, .. } | Stmt::Set { var, .. } | Stmt::Declare { var, .. } => {
                barred.insert(*var);
            }
            Stmt::If { then, els, .. } => {
                scan(g, then, nodes_in, nested, reads, barred);
                scan(g, els, nodes_in, nested, reads, barred);
            }
            Stmt::Loop(l) => scan(g, &l.body, nodes_in, true, reads, barred),
            Stmt::Node(_) | Stmt::Break => {}
        }
    }
}

fn in_loop(g: &Graph, mut r: RegionId) -> bool {
    while r != 0 {
        if g.regions[r].is_loop {
            return true;
        }
        r = g.regions[r].parent;
    }
    false
}

/// Adjoint modes: a term from another block makes a node `Accum`; the rest
/// count their terms in one reverse pass over each block.
fn modes(g: &Graph, a: &mut Analysis) {
    // Every gradient-carrying use, as (target, region of the use).
    let mut uses: Vec<Vec<RegionId>> = vec![Vec::new(); g.nodes.len()];
    for leaf in g.output.leaves() {
        if g.nodes[leaf].active {
            uses[leaf].push(0);
        }
    }
    for node in &g.nodes {
        if !node.active {
            continue;
        }
        for arg in gradient_inputs(g, &node.op) {
            uses[arg].push(node.region);
        }
    }
    let mut sinks = Vec::new();
    collect_sinks(g, &g.body, &mut sinks);
    for (target, region) in sinks {
        uses[target].push(region);
    }
    for (id, node) in g.nodes.iter().enumerate() {
        if !node.active || uses[id].is_empty() {
            continue;
        }
        if uses[id].iter().any(|&r| r != node.region) {
            a.mode[id] = Mode::Accum;
        }
    }
    // Exact counts for the rest, latest node first.
    let mut counts = vec![0usize; g.nodes.len()];
    for leaf in g.output.leaves() {
        if g.nodes[leaf].active {
            counts[leaf] += 1;
        }
    }
    for (target, _) in {
        let mut s = Vec::new();
        collect_sinks(g, &g.body, &mut s);
        s
    } {
        counts[target] += 1;
    }
    for id in (0..g.nodes.len()).rev() {
        let node = &g.nodes[id];
        if a.mode[id] != Mode::Accum && node.active && counts[id] > 0 {
            a.mode[id] = Mode::Let(counts[id]);
        }
        if !has_adjoint(g, a, id) {
            continue;
        }
        for arg in gradient_inputs(g, &node.op) {
            counts[arg] += 1;
        }
    }
}

/// The active inputs a node's pullback sends a gradient to.
pub(crate) fn gradient_inputs(g: &Graph, op: &Op) -> Vec<NodeId> {
    match op {
        Op::Prim { prim, args } if rules::squares(*prim, args) => args[..1]
            .iter()
            .copied()
            .filter(|&a| g.nodes[a].active)
            .collect(),
        Op::Prim { prim, args } => args
            .iter()
            .enumerate()
            .filter(|(i, &arg)| g.nodes[arg].active && rules::flows(*prim, *i))
            .map(|(_, &arg)| arg)
            .collect(),
        Op::Call { args, .. } => args
            .iter()
            .filter_map(|arg| match arg {
                CallArg::Value(n) if g.nodes[*n].active => Some(*n),
                _ => None,
            })
            .collect(),
        _ => vec![],
    }
}

/// Whether the backward pass runs the node's pullback: it has an adjoint,
/// or (a call returning an array) its result variable has one.
pub(crate) fn has_adjoint(g: &Graph, a: &Analysis, id: NodeId) -> bool {
    match &g.nodes[id].op {
        Op::Call {
            result: Some(var), ..
        } => g.vars[*var].active,
        Op::Call { parts, .. } if !parts.is_empty() => {
            parts.iter().any(|&p| a.mode[p] != Mode::None)
        }
        _ => a.mode[id] != Mode::None,
    }
}

/// Nodes that receive a gradient from a variable: what is written into an
/// active variable, with the region of the write.
fn collect_sinks(g: &Graph, b: &Block, out: &mut Vec<(NodeId, RegionId)>) {
    let mut add = |n: NodeId, var: usize| {
        if g.vars[var].active && g.nodes[n].active {
            out.push((n, b.id));
        }
    };
    let mut nested = Vec::new();
    for stmt in &b.stmts {
        match stmt {
            Stmt::Declare { var, init } => match init {
                Init::Value(n) | Init::Fill { value: n, .. } => add(*n, *var),
                Init::Elems { values, .. } => values.iter().for_each(|&n| add(n, *var)),
                Init::Deferred | Init::Call(_) | Init::Copy { .. } => {}
            },
            Stmt::Set { var, value } | Stmt::Store { var, value, .. } => add(*value, *var),
            Stmt::If { then, els, .. } => {
                nested.push(then);
                nested.push(els);
            }
            Stmt::Loop(l) => nested.push(&l.body),
            Stmt::Node(_) | Stmt::Break => {}
        }
    }
    for block in nested {
        collect_sinks(g, block, out);
    }
}

/// Whether reversing `b` does anything: a node with an adjoint, or a write
/// to an active variable.
fn work(g: &Graph, b: &Block, a: &mut Analysis) -> bool {
    let mut any = false;
    for stmt in &b.stmts {
        any |= match stmt {
            Stmt::Node(n) => has_adjoint(g, a, *n),
            Stmt::Declare { var, .. } | Stmt::Set { var, .. } | Stmt::Store { var, .. } => {
                g.vars[*var].active
            }
            Stmt::If { then, els, .. } => {
                let t = work(g, then, a);
                let e = work(g, els, a);
                t || e
            }
            Stmt::Loop(l) => work(g, &l.body, a),
            Stmt::Break => false,
        };
    }
    a.work[b.id] = any;
    any
}

/// What the backward reads, per the rule table and the statements.
fn kept(g: &Graph, b: &Block, a: &mut Analysis) {
    for stmt in &b.stmts {
        match stmt {
            Stmt::Node(id) => {
                let id = *id;
                if !has_adjoint(g, a, id) {
                    continue;
                }
                match &g.nodes[id].op {
                    // The pullback, and the arguments it is given again.
                    Op::Call { args, pullback, .. } => {
                        a.kept[*pullback] = true;
                        for arg in args {
                            match arg {
                                CallArg::Value(n) => a.kept[*n] = true,
                                CallArg::Array { prefix, .. } => {
                                    prefix.iter().for_each(|&x| a.kept[x] = true)
                                }
                                CallArg::Snapshot { node, prefix, .. } => {
                                    a.kept[*node] = true;
                                    prefix.iter().for_each(|&x| a.kept[x] = true);
                                }
                            }
                        }
                    }
                    // `l * r` reads `r` for `l`'s gradient and `l` for `r`'s:
                    // only the operands an active one needs (`x[i] * w[j]`
                    // with constant `x` keeps `x[i]`, not `w[j]`).
                    Op::Prim {
                        prim: crate::graph::Prim::Mul,
                        args,
                    } if args.len() == 2 => {
                        let (l, r) = (args[0], args[1]);
                        if a.mode[r] != Mode::None {
                            a.kept[l] = true;
                        }
                        if a.mode[l] != Mode::None {
                            a.kept[r] = true;
                        }
                    }
                    // Replayed for the iteration that won: all of the
                    // adjoint goes to the new value, no test.
                    Op::Prim { .. } if a.winner_routers.contains(&id) => {}
                    Op::Prim { prim, args } => {
                        let k = rules::keep(*prim);
                        if matches!(k, Keep::Inputs | Keep::InputsAndOutput) {
                            args.iter().for_each(|&x| a.kept[x] = true);
                        }
                        if matches!(k, Keep::Output | Keep::InputsAndOutput) {
                            a.kept[id] = true;
                        }
                    }
                    Op::ReadIndex { index, .. } => index.iter().for_each(|&x| a.kept[x] = true),
                    _ => {}
                }
            }
            Stmt::Store { var, index, .. } if g.vars[*var].active => {
                index.iter().for_each(|&x| a.kept[x] = true)
            }
            Stmt::Declare {
                var,
                init: Init::Fill { lens, .. },
            } if g.vars[*var].active => lens.iter().for_each(|&x| a.kept[x] = true),
            Stmt::Declare {
                var,
                init: Init::Call(_),
            } if g.vars[*var].active => g.vars[*var].len.iter().for_each(|&x| a.kept[x] = true),
            Stmt::If { cond, then, els } => {
                if a.work[then.id] || a.work[els.id] {
                    a.kept[*cond] = true;
                }
                kept(g, then, a);
                kept(g, els, a);
            }
            Stmt::Loop(l) => {
                if a.work[l.body.id] {
                    match (&l.header, &l.counter) {
                        (Some(h), None) => {
                            a.kept[h.iter] = true;
                            a.replayed[h.item] = true;
                        }
                        (_, Some((_, count))) => a.kept[*count] = true,
                        (None, None) => {}
                    }
                }
                kept(g, &l.body, a);
            }
            _ => {}
        }
    }
}

/// Where each kept value comes from; recomputed values keep their inputs.
/// Reads of an array that come after its last write, at the level of the
/// block that declares it (a loop body without `break`, or the fn body):
/// the array can be kept whole, once, and the reads redone from it.
fn settled_reads(g: &Graph) -> Vec<bool> {
    let mut out = vec![false; g.nodes.len()];
    let mut blocks = vec![&g.body];
    while let Some(b) = blocks.pop() {
        // Position (at this level) of each var's last write, and of each read.
        let mut last_write = HashMap::default();
        let mut reads = Vec::new();
        let mut breaks = false;
        for (pos, stmt) in b.stmts.iter().enumerate() {
            collect(g, stmt, pos, &mut last_write, &mut reads, &mut breaks, 0);
            match stmt {
                Stmt::If { then, els, .. } => {
                    blocks.push(then);
                    blocks.push(els);
                }
                Stmt::Loop(l) => blocks.push(&l.body),
                _ => {}
            }
        }
        let eligible = b.id == 0 || (g.regions[b.id].is_loop && !breaks);
        for (read, var, pos) in reads {
            let declared_here = g.vars[var].region == b.id && g.vars[var].param.is_none();
            let is_output = matches!(&g.output, crate::graph::Val::Var(v) if *v == var);
            if eligible
                && declared_here
                && !is_output
                && last_write.get(&var).is_none_or(|&w| pos > w)
            {
                out[read] = true;
            }
        }
    }
    out
}

/// Records, for one statement at position `pos` of a block, the writes to
/// variables, the element reads, and whether a `break` leaves the block's
/// loop.
fn collect(
    g: &Graph,
    s: &Stmt,
    pos: usize,
    last_write: &mut HashMap<usize, usize>,
    reads: &mut Vec<(NodeId, usize, usize)>,
    breaks: &mut bool,
    loops: usize,
) {
    match s {
        Stmt::Node(n) => {
            if let Op::ReadIndex { var, .. } | Op::ReadVar(var) = &g.nodes[*n].op {
                reads.push((*n, *var, pos));
            }
        }
        Stmt::Store { var, .. } | Stmt::Set { var, .. } | Stmt::Declare { var, .. } => {
            last_write.insert(*var, pos);
        }
        Stmt::If { then, els, .. } => {
            for b in [then, els] {
                for s in &b.stmts {
                    collect(g, s, pos, last_write, reads, breaks, loops);
                }
            }
        }
        Stmt::Loop(l) => {
            for s in &l.body.stmts {
                collect(g, s, pos, last_write, reads, breaks, loops + 1);
            }
        }
        Stmt::Break => *breaks |= loops == 0,
    }
}

/// An array the backward pass can read as the forward left it: never
/// written after its `let`, and that `let` at the fn's top level (an array
/// made in a loop or a branch is gone, or another, by then).
fn unchanged(g: &Graph, var: crate::graph::VarId) -> bool {
    !g.vars[var].written && g.vars[var].region == 0
}

/// An element of an array never written, at indices the
/// backward pass has anyway (free, or kept for the element's own adjoint):
/// reading it again costs less than a tape entry.
fn reloads(g: &Graph, a: &Analysis, node: &crate::graph::Node, free: &[bool]) -> bool {
    match &node.op {
        Op::ReadIndex { var, index } => {
            unchanged(g, *var) && index.iter().all(|&d| free[d] || a.kept[d])
        }
        _ => false,
    }
}

/// Cheap arithmetic on values the backward pass has anyway (free, or kept
/// for another node's gradient: `l - rest` beside `l.sqrt()`'s `l`): one
/// operation again costs less than a tape entry.
fn redoes(a: &Analysis, node: &crate::graph::Node, free: &[bool]) -> bool {
    match &node.op {
        Op::Prim { prim, args } => {
            rules::cheap(*prim) && args.iter().all(|&d| free[d] || a.kept[d])
        }
        _ => false,
    }
}

fn storage(g: &Graph, a: &mut Analysis) {
    let n = g.nodes.len();
    let settled = settled_reads(g);
    // Free: available without storage (fn body, parameters, replayed items,
    // and what is recomputed from free values).
    let mut free = vec![false; n];
    let counted: HashSet<NodeId> = a
        .counters
        .iter()
        .flat_map(|c| c.reads.iter().map(|&(r, _)| r))
        .collect();
    for id in 0..n {
        if counted.contains(&id) {
            // Stepped back to in the backward, where its dependents are.
            free[id] = true;
            continue;
        }
        let node = &g.nodes[id];
        free[id] = node.region == 0
            || match &node.op {
                Op::Param => true,
                Op::LoopItem => a.replayed[id],
                Op::Const { deps, var_deps, .. } => {
                    deps.iter().all(|&d| free[d]) && var_deps.iter().all(|&v| unchanged(g, v))
                }
                Op::ReadIndex { var, index } => {
                    (unchanged(g, *var) || settled[id]) && index.iter().all(|&d| free[d])
                }
                // A scalar of the fn body read after its last assignment
                // (`z` summed in one loop, divided by in the next): the
                // value the forward left in it, which the pullback owns.
                Op::ReadVar(var) => settled[id] && g.vars[*var].region == 0,
                // Arithmetic on free values is cheaper to redo than to tape.
                Op::Prim { prim, args } => rules::cheap(*prim) && args.iter().all(|&d| free[d]),
                _ => false,
            };
    }
    for id in (0..n).rev() {
        let node = &g.nodes[id];
        if !a.kept[id] {
            continue;
        }
        a.storage[id] = if node.region == 0 || matches!(node.op, Op::Param) {
            Storage::Captured
        } else if counted.contains(&id) {
            Storage::Counted
        } else if free[id] || reloads(g, a, node, &free) || redoes(a, node, &free) {
            Storage::Recompute
        } else if in_loop(g, node.region) {
            Storage::Tape
        } else {
            Storage::Slot
        };
        // A settled array is kept whole for the reads redone from it.
        if let (Storage::Recompute, Op::ReadIndex { var, .. }) = (a.storage[id], &node.op) {
            if !unchanged(g, *var) {
                a.settled[*var] = true;
            }
        }
        // A recomputed or inline value reads its inputs again.
        let reads_inputs = a.storage[id] == Storage::Recompute
            || matches!(node.op, Op::Const { inline: true, .. });
        if reads_inputs {
            node.op.each_input(|d| a.kept[d] = true);
        }
    }
    // Arrays calls return in a loop or a branch cannot be made again (nor
    // named by the backward): kept whole.
    for v in crate::graph::nested_call_results(g) {
        a.settled[v] = true;
    }
    // Inline constants are written where used; they need no storage.
    for (id, node) in g.nodes.iter().enumerate() {
        if matches!(node.op, Op::Const { inline: true, .. }) {
            a.storage[id] = Storage::Captured;
        }
    }
    let _ = Shape::Scalar;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Args;
    use crate::diag::Diagnostics;
    use crate::names::Names;
    use syn::{parse_quote, ItemFn};

    fn run(item: ItemFn) -> (Graph, Analysis) {
        let cx = Diagnostics::default();
        let f = crate::parse::function(&cx, &Args::default(), &item).unwrap();
        let g = crate::lower::lower(&cx, &f, &mut Names::default());
        cx.finish().unwrap();
        let g = g.unwrap();
        let a = analyse(&g);
        (g, a)
    }

    fn stored(g: &Graph, a: &Analysis) -> Vec<String> {
        (0..g.nodes.len())
            .filter(|&i| a.kept[i] && matches!(a.storage[i], Storage::Tape | Storage::Slot))
            .map(|i| g.nodes[i].ident.to_string())
            .collect()
    }

    #[test]
    fn a_value_used_twice_gets_two_terms() {
        let (_, a) = run(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                x + x
            }
        ));
        assert_eq!(a.mode, [Mode::Let(2), Mode::Let(1)]);
    }

    #[test]
    fn a_square_gives_its_input_one_term() {
        let (_, a) = run(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                (x - 1.0) * (x - 1.0)
            }
        ));
        // x, the first `1.0`, the one difference, the second `1.0` (its
        // own node, unused: the difference is shared), the square.
        assert_eq!(
            a.mode,
            [
                Mode::Let(1),
                Mode::None,
                Mode::Let(1),
                Mode::None,
                Mode::Let(1)
            ]
        );
    }

    #[test]
    fn cheap_arithmetic_on_taped_values_is_redone() {
        // `l` is taped for the square root's gradient; `l - r` is redone
        // from it instead of taped too.
        let (g, a) = run(parse_quote!(
            fn f<T: Float>(x: &[T], r: T) -> T {
                let mut e = T::zero();
                for &v in x {
                    let l = (v * v + r).sqrt();
                    e = e + (l - r) * (l - r);
                }
                e
            }
        ));
        assert_eq!(stored(&g, &a), ["__tl_v_l"]);
    }

    #[test]
    fn dead_and_flat_values_have_no_adjoint() {
        let (_, a) = run(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                let unused = x.exp();
                x.floor() + x
            }
        ));
        // x, exp, floor, add
        assert_eq!(a.mode, [Mode::Let(1), Mode::None, Mode::None, Mode::Let(1)]);
    }

    #[test]
    fn kept_values_follow_the_rules() {
        // The sigmoid neuron keeps the products' inputs and exp's output,
        // not the sums.
        let (g, a) = run(parse_quote!(
            fn f<T: Float>(w0: T, x0: T, w1: T, x1: T, w2: T) -> T {
                let dot = w0 * x0 + w1 * x1 + w2;
                1.0 / (1.0 + (-dot).exp())
            }
        ));
        let kept: Vec<String> = g
            .nodes
            .iter()
            .zip(&a.kept)
            .filter(|(n, k)| **k && !matches!(n.op, Op::Const { .. }))
            .map(|(n, _)| n.ident.to_string())
            .collect();
        // The products' inputs, exp's output, and the output (`1 / u` is a
        // reciprocal, whose gradient is -g y^2).
        assert_eq!(kept.len(), 6, "{kept:?}");
        assert!(kept.contains(&"w0".to_string()) && kept.contains(&"x1".to_string()));
        assert!(!kept.contains(&"__tl_v_dot".to_string()));
        assert!(stored(&g, &a).is_empty());
    }

    #[test]
    fn a_dot_product_stores_nothing_per_iteration() {
        let (g, a) = run(parse_quote!(
            fn dot<T: Float>(w: &[T], x: &[T]) -> T {
                let mut s = T::zero();
                for i in 0..w.len() {
                    s += w[i] * x[i];
                }
                s
            }
        ));
        assert!(stored(&g, &a).is_empty(), "{:?}", stored(&g, &a));
    }

    #[test]
    fn a_running_product_stores_one_value_per_iteration() {
        let (g, a) = run(parse_quote!(
            fn prod<T: Float>(x: &[T]) -> T {
                let mut p = T::one();
                for i in 0..x.len() {
                    p = p * x[i];
                }
                p
            }
        ));
        assert_eq!(stored(&g, &a).len(), 1, "{:?}", stored(&g, &a));
    }

    #[test]
    fn an_input_read_at_a_counted_index_is_read_again_not_taped() {
        // ADBench's triangle index: `idx` is a counter the backward steps
        // back (the scatter of `w[idx]`'s gradient needs it), not a tape;
        // `w[idx]` is read again from it.
        let (g, a) = run(parse_quote!(
            fn tri<T: Float>(w: &[T], x: T, n: usize) -> T {
                let mut s = T::zero();
                let mut idx = 0;
                for _ in 0..n {
                    s = s + w[idx] * x * s.sin();
                    idx += 1;
                }
                s
            }
        ));
        let stored = stored(&g, &a);
        let idx_counted = g.nodes.iter().enumerate().any(|(i, n)| {
            matches!(&n.op, Op::ReadVar(v) if g.vars[*v].ident.to_string().contains("idx"))
                && a.storage[i] == Storage::Counted
                && a.kept[i]
        });
        assert!(idx_counted, "{stored:?}");
        assert!(stored.iter().all(|s| !s.contains("idx")), "{stored:?}");
        let reads = g
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| matches!(n.op, Op::ReadIndex { .. }))
            .map(|(i, _)| i)
            .collect::<Vec<_>>();
        assert!(
            reads.iter().all(|&r| a.storage[r] != Storage::Tape),
            "{stored:?}"
        );
    }
}
