//! Pass 3b: loops whose iterations are independent terms of one sum, whose
//! backward runs in the forward pass, each iteration right after it.
//!
//! `for i in 0..n { ..; loss += term_i; }`, where an iteration reads
//! nothing an earlier one wrote but `loss`, and `loss` only by adding to it:
//! the gradient of every input is `dloss` times the sum over iterations of
//! each term's gradient, and that sum can be built while the loop runs (the
//! hand-written GMM gradient does exactly this: each point's forward, then
//! its backward). The forward pass then keeps one iteration's values, not
//! `n` iterations' (a tape the size of the data is written, and read back
//! in reverse, out of cache), and the pullback only scales the sums by
//! `dloss`. Tapenade calls these "II-loops" (independent iterations).
//!
//! The conditions, all checked on the graph:
//! - a `for` loop directly in the fn body, without `break` or a counter;
//! - exactly one float variable declared before it and written in it that
//!   carries a gradient, the accumulator, read there only as `acc + e`,
//!   `e + acc` or `acc - e` assigned back to it;
//! - every other variable from before the loop that it writes and that
//!   carries a gradient is an array filled with a constant, read nowhere
//!   after the loop, that each iteration overwrites whole (`for l in 0..len
//!   { a[l] = .. }`) before it reads it: scratch, which starts each
//!   iteration afresh;
//! - the values from before the loop it reads get their adjoints summed in
//!   (`Mode::Accum`); calls inside it are fine (their pullbacks run per
//!   iteration), unless one makes an array from before the loop again;
//! - it is worth it: a loop nested in it keeps values on a tape, or one in
//!   it keeps only its winner (see [`crate::winners`]), or every
//!   gradient it sends out is a scalar's (no tape, but the replay of each
//!   iteration's forward is saved, at the cost of a few scalar sums); and
//!   it reads no array from before it at an index read from data (a
//!   gather, `emb[ids[i]]`, touches a few rows of what may be a large
//!   table).

use rustc_hash::FxHashMap as HashMap;

use crate::analyse::{Analysis, Mode, Storage};
use crate::graph::{
    for_each_stmt, within, Block, Graph, Init, Loop, NodeId, Op, Prim, RegionId, Shape, Stmt, VarId,
};
use crate::lower::node_tokens;

/// A loop whose backward runs in the forward pass.
#[derive(Clone, Debug)]
pub(crate) struct Fused {
    /// The accumulator.
    pub acc: VarId,
    /// Variables from before the loop that it reads and that carry a
    /// gradient (not the accumulator, not scratch): each gets a sum of
    /// unit gradients.
    pub vars: Vec<VarId>,
    /// Values from before the loop that it reads, likewise.
    pub nodes: Vec<NodeId>,
    /// Arrays from before the loop that every iteration overwrites first.
    pub scratch: Vec<VarId>,
}

/// The fused loops, by their body's region.
pub(crate) fn fused(g: &Graph, a: &Analysis) -> HashMap<RegionId, Fused> {
    let mut out = HashMap::default();
    // One pass over the nodes: each loop of the fn body gets its own (all
    // the nodes in it), and each variable the number of nodes reading it.
    let mut top: Vec<Option<RegionId>> = vec![None; g.regions.len()];
    for s in &g.body.stmts {
        if let Stmt::Loop(l) = s {
            top[l.body.id] = Some(l.body.id);
        }
    }
    let top_of = |mut r: RegionId| loop {
        if let Some(t) = top[r] {
            return Some(t);
        }
        if r == 0 {
            return None;
        }
        r = g.regions[r].parent;
    };
    let mut nodes_of: HashMap<RegionId, Vec<NodeId>> = HashMap::default();
    let mut read_by = vec![0usize; g.vars.len()];
    for (n, node) in g.nodes.iter().enumerate() {
        if let Some(t) = top_of(node.region) {
            nodes_of.entry(t).or_default().push(n);
        }
        for v in read_vars(&node.op) {
            read_by[v] += 1;
        }
    }
    for s in &g.body.stmts {
        if let Stmt::Loop(l) = s {
            let nodes = nodes_of.remove(&l.body.id).unwrap_or_default();
            if let Some(f) = fusable(g, a, l, &nodes, &read_by) {
                out.insert(l.body.id, f);
            }
        }
    }
    out
}

/// Whether a block breaks out of the loop whose body it is (a `break` not
/// inside a nested loop).
fn breaks(b: &Block) -> bool {
    b.stmts.iter().any(|s| match s {
        Stmt::Break => true,
        Stmt::If { then, els, .. } => breaks(then) || breaks(els),
        _ => false,
    })
}

/// Whether the loop fuses; `nodes` are all the nodes inside it, `read_by`
/// counts each variable's reading nodes in the whole fn.
fn fusable(
    g: &Graph,
    a: &Analysis,
    l: &Loop,
    nodes: &[NodeId],
    read_by: &[usize],
) -> Option<Fused> {
    let body = l.body.id;
    if l.header.is_none() || l.counter.is_some() || !a.work[body] || breaks(&l.body) {
        return None;
    }
    let in_loop = |r: RegionId| within(g, r, body);
    // Worth it where a nested loop keeps values: one iteration's tape stays
    // in cache. Otherwise (checked at the end) only where every gradient
    // the loop sends out is a scalar's: a loop without a tape replays its
    // forward in the backward (`z = (v - mu) / sigma` computed again for
    // each point), which fusing saves, but a loop that adds into arrays
    // (`s += (x[i] - y[i]).powi(2)`) would get sums of unit gradients as
    // long as them, and a pass over those, for a replay of a subtraction.
    // So is one where a loop in it keeps only its winner (see
    // [`crate::winners`]): the winner is at hand in the same iteration.
    let taped = nodes
        .iter()
        .any(|&n| a.kept[n] && a.storage[n] == Storage::Tape && g.nodes[n].region != body)
        || a.winners.keys().any(|&w| g.regions[w].parent == body);
    let mut stmts = Vec::new();
    for_each_stmt(&l.body, &mut |s| stmts.push(s));
    // How often each node is used inside the loop.
    let mut uses: HashMap<NodeId, usize> = HashMap::default();
    let mut use_of = |n: NodeId| *uses.entry(n).or_default() += 1;
    for &n in nodes {
        g.nodes[n].op.each_input(&mut use_of);
    }
    let mut values = Vec::new();
    for s in &stmts {
        match s {
            Stmt::Set { value, .. } | Stmt::Store { value, .. } => values.push(*value),
            Stmt::Declare { init, .. } => match init {
                Init::Value(n) | Init::Fill { value: n, .. } => values.push(*n),
                Init::Elems { values: vs, .. } => values.extend(vs),
                Init::Call(_) | Init::Deferred | Init::Copy { .. } => {}
            },
            Stmt::If { cond, .. } => use_of(*cond),
            _ => {}
        }
    }
    values.iter().for_each(|&n| use_of(n));
    // Variables from before the loop that it writes.
    let outer = |v: VarId| !in_loop(g.vars[v].region);
    let mut acc = None;
    let mut scratch = Vec::new();
    for s in &stmts {
        let (Stmt::Set { var, .. } | Stmt::Store { var, .. }) = s else {
            continue;
        };
        let v = *var;
        if !outer(v) || !g.vars[v].active || acc == Some(v) || scratch.contains(&v) {
            continue;
        }
        match g.vars[v].shape {
            Shape::Scalar if acc.is_none() => acc = Some(v),
            Shape::Scalar => return None,
            Shape::Array { .. } => scratch.push(v),
        }
    }
    let acc = acc?;
    // The accumulator: every read is `acc + e`, `e + acc` or `acc - e`,
    // used once, assigned back.
    let sets: HashMap<NodeId, usize> = stmts
        .iter()
        .filter_map(|s| match s {
            Stmt::Set { var, value } if *var == acc => Some(*value),
            _ => None,
        })
        .fold(HashMap::default(), |mut m, n| {
            *m.entry(n).or_default() += 1;
            m
        });
    // The sum each read of the accumulator feeds.
    let mut sum_of: HashMap<NodeId, NodeId> = HashMap::default();
    for &m in nodes {
        if let Op::Prim {
            prim: prim @ (Prim::Add | Prim::Sub),
            args,
        } = &g.nodes[m].op
        {
            if let [x, y] = args.as_slice() {
                if x != y {
                    sum_of.insert(*x, m);
                    if *prim == Prim::Add {
                        sum_of.insert(*y, m);
                    }
                }
            }
        }
    }
    let mut sums = 0;
    for &n in nodes {
        if !matches!(g.nodes[n].op, Op::ReadVar(v) if v == acc) {
            continue;
        }
        if uses.get(&n).copied().unwrap_or(0) != 1 {
            return None;
        }
        let user = *sum_of.get(&n)?;
        if uses.get(&user).copied().unwrap_or(0) != 1 || sets.get(&user) != Some(&1) {
            return None;
        }
        sums += 1;
    }
    if sums != sets.len() || sets.values().any(|&k| k != 1) {
        return None;
    }
    for &v in &scratch {
        if !scratch_ok(g, l, v, nodes, read_by) {
            return None;
        }
    }
    // What the loop reads from before it. Scratch is read element by
    // element only: passed to a call or copied whole, it is not fused.
    let mut vars = Vec::new();
    let mut read = |v: VarId, whole: bool| -> bool {
        if !outer(v) || !g.vars[v].active || v == acc {
            return true;
        }
        if scratch.contains(&v) {
            return !whole;
        }
        if !vars.contains(&v) {
            vars.push(v);
        }
        true
    };
    for &n in nodes {
        let ok = match &g.nodes[n].op {
            // A gather (`emb[ids[i]][j]`) reads a few rows of what may be
            // a large table: a sum of unit gradients as large as the
            // table, and a pass over it, would cost more than the tape
            // saved. (Scratch, `scores[y[n]]`, gets no sum.)
            Op::ReadIndex { var, index } => {
                !(outer(*var)
                    && g.vars[*var].active
                    && !scratch.contains(var)
                    && index.iter().any(|&i| gathered(g, i)))
                    && read(*var, false)
            }
            Op::ReadVar(v) => read(*v, false),
            // An array from before the loop made again by a call: carried.
            Op::Call { result, .. } if result.is_some_and(|v| outer(v) && g.vars[v].active) => {
                false
            }
            Op::Call { args, .. } => args.iter().all(|arg| match arg {
                crate::graph::CallArg::Array { var, .. }
                | crate::graph::CallArg::Snapshot { var, .. } => read(*var, true),
                crate::graph::CallArg::Value(_) => true,
            }),
            _ => true,
        };
        if !ok {
            return None;
        }
    }
    for s in &stmts {
        if let Stmt::Declare {
            init: Init::Copy { source, .. },
            ..
        } = s
        {
            if !read(*source, true) {
                return None;
            }
        }
    }
    let mut read_nodes = Vec::new();
    let mut consider = |m: NodeId| {
        if !in_loop(g.nodes[m].region) && g.nodes[m].active && !read_nodes.contains(&m) {
            read_nodes.push(m);
        }
    };
    for &n in nodes {
        g.nodes[n].op.each_input(&mut consider);
    }
    values.iter().for_each(|&n| consider(n));
    for &m in &read_nodes {
        match a.mode[m] {
            Mode::Accum | Mode::None => {}
            Mode::Let(_) => return None,
        }
    }
    read_nodes.retain(|&m| a.mode[m] == Mode::Accum);
    let arrays = !scratch.is_empty()
        || vars
            .iter()
            .any(|&v| matches!(g.vars[v].shape, Shape::Array { .. }));
    if !taped && arrays {
        return None;
    }
    vars.sort_unstable();
    read_nodes.sort_unstable();
    Some(Fused {
        acc,
        vars,
        nodes: read_nodes,
        scratch,
    })
}

/// An array from before the loop that each iteration overwrites whole
/// before reading it, and that nothing reads after the loop: filled with a
/// constant of one length, and the first statement of the body touching it
/// is `for l in 0..len { ..; a[l] = e; .. }` reading nothing of it.
fn scratch_ok(g: &Graph, l: &Loop, v: VarId, nodes: &[NodeId], read_by: &[usize]) -> bool {
    // Read only inside the loop; not the fn's value.
    let inside_reads = nodes
        .iter()
        .filter(|&&n| read_vars(&g.nodes[n].op).contains(&v))
        .count();
    let reads_outside = read_by[v] > inside_reads;
    let mut returned = false;
    fn val_mentions(val: &crate::graph::Val, v: VarId, out: &mut bool) {
        match val {
            crate::graph::Val::Var(w) | crate::graph::Val::Row(w, _) => *out |= *w == v,
            crate::graph::Val::Tuple(vs) => vs.iter().for_each(|x| val_mentions(x, v, out)),
            crate::graph::Val::Node(_) => {}
        }
    }
    val_mentions(&g.output, v, &mut returned);
    if reads_outside || returned {
        return false;
    }
    // Filled with a constant, one dimension, its length fixed.
    let len = g.body.stmts.iter().find_map(|s| match s {
        Stmt::Declare {
            var,
            init: Init::Fill { value, lens, .. },
        } if *var == v && !g.nodes[*value].active && lens.len() == 1 => Some(lens[0]),
        _ => None,
    });
    let Some(len) = len else { return false };
    let len_tokens = match &g.nodes[len].op {
        Op::Const { expr, var_deps, .. } if var_deps.is_empty() => expr.to_string(),
        Op::Param => g.nodes[len].ident.to_string(),
        _ => return false,
    };
    let len_ident = g.nodes[len].ident.to_string();
    let whole = [format!("0 .. {len_tokens}"), format!("0 .. {len_ident}")];
    fresh_in(g, &l.body, v, nodes, &whole)
}

/// Whether every run of `b` writes all of `v` before reading any of it:
/// the first statement touching it is a loop over its length that writes
/// `v[item]` and reads nothing of it, or a loop each of whose iterations
/// does so (`for j in 0..k { for l in 0..d { qx[l] = .. } .. }`) and after
/// which the block touches it no more.
fn fresh_in(g: &Graph, b: &Block, v: VarId, nodes: &[NodeId], whole: &[String]) -> bool {
    for (i, s) in b.stmts.iter().enumerate() {
        if !touches(g, s, v) {
            continue;
        }
        let Stmt::Loop(inner) = s else { return false };
        if breaks(&inner.body) {
            return false;
        }
        if let (Some(h), None) = (&inner.header, &inner.counter) {
            let iter = match &g.nodes[h.iter].op {
                Op::Const { var_deps, .. } if var_deps.is_empty() => {
                    node_tokens(&g.nodes[h.iter]).to_string()
                }
                _ => String::new(),
            };
            // Written at the item, unconditionally, and never read in it.
            let writes = inner.body.stmts.iter().any(|s| {
                matches!(s, Stmt::Store { var, index, .. } if *var == v && index.as_slice() == [h.item])
            });
            let read = nodes
                .iter()
                .any(|&n| within(g, g.nodes[n].region, inner.body.id) && reads(&g.nodes[n].op, v));
            if whole.contains(&iter) && writes && !read {
                return true;
            }
        }
        return fresh_in(g, &inner.body, v, nodes, whole)
            && !b.stmts[i + 1..].iter().any(|s| touches(g, s, v));
    }
    false
}

/// Whether an index is read from data: computed (through constants) from
/// an indexing expression, `ids[i]`.
fn gathered(g: &Graph, index: NodeId) -> bool {
    fn bracketed(ts: &proc_macro2::TokenStream) -> bool {
        ts.clone().into_iter().any(|t| match t {
            proc_macro2::TokenTree::Group(gr) => {
                gr.delimiter() == proc_macro2::Delimiter::Bracket || bracketed(&gr.stream())
            }
            _ => false,
        })
    }
    let mut stack = vec![index];
    let mut seen = Vec::new();
    while let Some(n) = stack.pop() {
        if seen.contains(&n) {
            continue;
        }
        seen.push(n);
        if let Op::Const { expr, deps, .. } = &g.nodes[n].op {
            if bracketed(expr) {
                return true;
            }
            stack.extend(deps);
        }
    }
    false
}

/// Whether a node reads the variable `v` (or passes it to a call).
fn reads(op: &Op, v: VarId) -> bool {
    read_vars(op).contains(&v)
}

/// The variables a node reads, passes to a call, or has a call make.
fn read_vars(op: &Op) -> Vec<VarId> {
    match op {
        Op::ReadVar(w) | Op::ReadIndex { var: w, .. } => vec![*w],
        Op::Const { var_deps, .. } => var_deps.clone(),
        Op::Call { args, result, .. } => result
            .iter()
            .copied()
            .chain(args.iter().filter_map(|a| match a {
                crate::graph::CallArg::Array { var, .. }
                | crate::graph::CallArg::Snapshot { var, .. } => Some(*var),
                crate::graph::CallArg::Value(_) => None,
            }))
            .collect(),
        _ => vec![],
    }
}

/// Whether a statement (with everything nested in it) reads or writes `v`.
fn touches(g: &Graph, s: &Stmt, v: VarId) -> bool {
    let node = |n: NodeId| reads(&g.nodes[n].op, v);
    match s {
        Stmt::Node(n) => node(*n),
        Stmt::Set { var, .. } | Stmt::Store { var, .. } => *var == v,
        Stmt::Declare { init, .. } => matches!(init, Init::Copy { source, .. } if *source == v),
        Stmt::If { then, els, .. } => then
            .stmts
            .iter()
            .chain(&els.stmts)
            .any(|s| touches(g, s, v)),
        Stmt::Loop(l) => {
            l.header.as_ref().is_some_and(|h| node(h.iter))
                || l.body.stmts.iter().any(|s| touches(g, s, v))
        }
        Stmt::Break => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Args;
    use crate::diag::Diagnostics;
    use crate::names::Names;
    use syn::{parse_quote, ItemFn};

    /// How many loops of the fn fuse.
    fn fused(item: ItemFn) -> usize {
        let cx = Diagnostics::default();
        let f = crate::parse::function(&cx, &Args::default(), &item).unwrap();
        let g = crate::lower::lower(&cx, &f, &mut Names::default()).unwrap();
        cx.finish().unwrap();
        crate::analyse::analyse(&g).fused.len()
    }

    #[test]
    fn sums_over_points_fuse() {
        // Scratch from before the loop, overwritten per point and component.
        assert_eq!(
            fused(parse_quote! {
                fn f<T: Float>(m: &[T], x: &[T], d: usize) -> T {
                    let k = m.len() / d;
                    let mut diff = vec![T::zero(); d];
                    let mut t = vec![T::zero(); k];
                    let mut s = T::zero();
                    for i in 0..x.len() / d {
                        for j in 0..k {
                            for l in 0..d {
                                diff[l] = x[i * d + l] - m[j * d + l];
                            }
                            let mut q = T::zero();
                            for l in 0..d {
                                q += diff[l] * diff[l];
                            }
                            t[j] = q.sqrt();
                        }
                        for j in 0..k {
                            s -= t[j].exp();
                        }
                    }
                    s
                }
            }),
            1
        );
        // Rows of data, a hidden layer made per sample.
        assert_eq!(
            fused(parse_quote! {
                fn f<T: Float>(w: &[Vec<T>], xs: &[Vec<T>]) -> T {
                    let mut loss = T::zero();
                    for x in xs {
                        let mut h = vec![T::zero(); w.len()];
                        for j in 0..w.len() {
                            for i in 0..x.len() {
                                h[j] += w[j][i] * x[i];
                            }
                        }
                        for j in 0..h.len() {
                            loss += h[j].tanh();
                        }
                    }
                    loss
                }
            }),
            1
        );
    }

    #[test]
    fn scalar_loops_fuse_where_every_gradient_is_a_scalars() {
        // No tape, but only scalars from before the loop get gradients:
        // the replay of each `z` is saved.
        assert_eq!(
            fused(parse_quote! {
                fn f<T: Float>(n: usize, mu: T, ls: T) -> T {
                    let sigma = ls.exp();
                    let mut s = T::zero();
                    for i in 0..n {
                        let z = (T::from(i).unwrap() - mu) / sigma;
                        s += z * z + ls;
                    }
                    s
                }
            }),
            1
        );
    }

    #[test]
    fn dependent_iterations_do_not_fuse() {
        // A scalar loop adding into an array keeps nothing on a tape: not
        // worth it.
        assert_eq!(
            fused(parse_quote! {
                fn f<T: Float>(x: &[T]) -> T {
                    let mut s = T::zero();
                    for i in 0..x.len() - 1 {
                        s += (x[i + 1] - x[i] * x[i]).powi(2);
                    }
                    s
                }
            }),
            0
        );
        // State carried from one point to the next.
        assert_eq!(
            fused(parse_quote! {
                fn f<T: Float>(a: &[T], x: &[T]) -> T {
                    let mut h = vec![T::zero(); a.len()];
                    let mut s = T::zero();
                    for i in 0..x.len() {
                        let p = h[0];
                        for j in 0..a.len() {
                            h[j] = (a[j] * x[i] + p).tanh();
                        }
                        for j in 0..a.len() {
                            s += h[j];
                        }
                    }
                    s
                }
            }),
            0
        );
        // The sum read inside (a recurrence), and two sums.
        assert_eq!(
            fused(parse_quote! {
                fn f<T: Float>(a: &[T], x: &[T]) -> T {
                    let mut s = T::zero();
                    let mut t = T::zero();
                    for i in 0..x.len() {
                        for j in 0..a.len() {
                            s = s * 0.5 + (a[j] * x[i]).exp();
                        }
                    }
                    for i in 0..x.len() {
                        for j in 0..a.len() {
                            let e = (a[j] * x[i]).exp();
                            s += e;
                            t += e * e;
                        }
                    }
                    s + t
                }
            }),
            0
        );
        // A gather from a table.
        assert_eq!(
            fused(parse_quote! {
                fn f<T: Float>(emb: &[Vec<T>], ids: &[usize], w: &[T]) -> T {
                    let mut s = T::zero();
                    for i in 0..ids.len() {
                        let mut z = T::zero();
                        for j in 0..w.len() {
                            z += (emb[ids[i]][j] * w[j]).exp();
                        }
                        s += z.ln();
                    }
                    s
                }
            }),
            0
        );
        // Scratch read after the loop.
        assert_eq!(
            fused(parse_quote! {
                fn f<T: Float>(a: &[T], x: &[T]) -> T {
                    let mut h = vec![T::zero(); a.len()];
                    let mut s = T::zero();
                    for i in 0..x.len() {
                        for j in 0..a.len() {
                            h[j] = (a[j] * x[i]).tanh();
                        }
                        for j in 0..a.len() {
                            s += h[j] * h[j];
                        }
                    }
                    s + h[0]
                }
            }),
            0
        );
    }
}
