//! Pass 3c: loops that keep the least (or greatest) of their values, whose
//! backward replays only the iteration that won.
//!
//! `for q in 0..k { let d = ..; best = best.min(d); }`: the chain of `min`s
//! routes `best`'s adjoint back through every iteration that kept `best`,
//! to the last one whose `d` won, and there all of it goes to `d`; the
//! iterations before it get zeros. So the forward notes that iteration's
//! item (`win = Some(q)` each time `d` wins, with the test the rule routes
//! by), and the backward runs the body's reversal once, for that item, with
//! the whole adjoint going to `d`; when no `d` won, the adjoint stays with
//! `best`'s value from before the loop. Nothing is taped, and a nearest
//! centre's gradient costs one distance, not `k` (the hand-written k-means
//! gradient keeps the index of the nearest centre the same way).
//!
//! The conditions, on the graph (the first ones here, the rest once storage
//! is known, in [`holds`]):
//! - a `for` loop over a range (its item an integer, copied into `win`),
//!   without `break` or a counter, in it or in the loops nested in it;
//! - in its body (not in a branch or an inner loop, so once an iteration)
//!   one assignment `best = best.min(e)` (or `e.min(best)`, or `max`) to a
//!   scalar declared before the loop that carries a gradient, and no other
//!   write to anything declared before the loop (locals of the body, such
//!   as a distance summed in an inner loop, are fine);
//! - `best` read nowhere else in the body, and the new value read by
//!   nothing but the assignment;
//! - the body's reversal reads nothing stored per iteration: every value it
//!   needs is recomputed from the item (no tape, slot or counter, and no
//!   adjoints carried in a window that moves with the item), so one
//!   iteration can be replayed alone;
//! - the backward sees `win`: the loop is in no other loop (in the fn body,
//!   or in a branch of it, such as the rest of a fn after an early
//!   `return`: `win` is declared at the top, and the pullback keeps it), or
//!   directly in the body of a fused loop (see [`crate::fuse`]), whose
//!   backward runs in the same iteration.

use crate::analyse::{Analysis, Storage};
use crate::graph::{Graph, Loop, NodeId, Op, Prim, RegionId, Shape, Stmt, VarId};
use rustc_hash::FxHashMap as HashMap;

/// A loop that keeps the least or greatest of its values (see the module).
#[derive(Clone, Debug)]
pub(crate) struct Winner {
    /// The variable that keeps it.
    pub var: VarId,
    /// The `min` or `max`.
    pub router: NodeId,
    /// The read of the variable's value before the `min`.
    pub old: NodeId,
    /// The value it is compared with, each iteration.
    pub new: NodeId,
    /// The body's region and those nested in it.
    pub regions: Vec<RegionId>,
}

impl Winner {
    /// Whether `new` is the router's first argument: `a.min(b)` routes to
    /// `a` where `min_first(a, b)` (ties and NaNs decided there), else to
    /// `b`.
    pub(crate) fn new_is_first(&self, g: &Graph) -> bool {
        matches!(&g.nodes[self.router].op, Op::Prim { args, .. } if args[0] == self.new)
    }
}

/// The loops the module describes, by body, before storage is known.
/// `nodes_in` holds each region's nodes.
pub(crate) fn candidates(
    g: &Graph,
    a: &Analysis,
    nodes_in: &[Vec<NodeId>],
) -> HashMap<RegionId, Winner> {
    let mut out = HashMap::default();
    crate::graph::for_each_stmt(&g.body, &mut |s| {
        let Stmt::Loop(l) = s else { return };
        let Some(h) = &l.header else { return };
        if l.counter.is_some() || !a.work[l.body.id] || !ranged(g, h.iter) {
            return;
        }
        if let Some(w) = winner(g, a, nodes_in, l) {
            out.insert(l.body.id, w);
        }
    });
    out
}

/// The loop's winner, if its body has the form the module describes.
fn winner(g: &Graph, a: &Analysis, nodes_in: &[Vec<NodeId>], l: &Loop) -> Option<Winner> {
    let body = l.body.id;
    // The body's regions (its own, its branches' and inner loops'), and
    // whether it leaves or counts anywhere.
    let mut regions = vec![body];
    let mut plain = true;
    crate::graph::for_each_stmt(&l.body, &mut |s| match s {
        Stmt::Break => plain = false,
        Stmt::Loop(inner) => {
            plain &= inner.header.is_some() && inner.counter.is_none();
            regions.push(inner.body.id);
        }
        Stmt::If { then, els, .. } => regions.extend([then.id, els.id]),
        _ => {}
    });
    if !plain {
        return None;
    }
    let inside = |v: VarId| regions.contains(&g.vars[v].region);
    // One write to a variable from before the loop: `best = ..` in the
    // body itself (so once an iteration).
    let mut outer_writes = 0;
    crate::graph::for_each_stmt(&l.body, &mut |s| match s {
        Stmt::Set { var, .. } | Stmt::Store { var, .. } if !inside(*var) => outer_writes += 1,
        _ => {}
    });
    let (var, router) = l.body.stmts.iter().find_map(|s| match s {
        Stmt::Set { var, value } if !inside(*var) => Some((*var, *value)),
        _ => None,
    })?;
    let v = &g.vars[var];
    if outer_writes != 1 || !v.active || !matches!(v.shape, Shape::Scalar) {
        return None;
    }
    let Op::Prim {
        prim: Prim::Min | Prim::Max,
        args,
    } = &g.nodes[router].op
    else {
        return None;
    };
    if args.len() != 2 || a.mode[router] == crate::analyse::Mode::None {
        return None;
    }
    let is_old = |n: NodeId| {
        g.nodes[n].region == body && matches!(g.nodes[n].op, Op::ReadVar(w) if w == var)
    };
    let (old, new) = match (is_old(args[0]), is_old(args[1])) {
        (true, false) => (args[0], args[1]),
        (false, true) => (args[1], args[0]),
        _ => return None,
    };
    // The body reads `best` once, by the router, and nothing reads the
    // router's value but the assignment.
    let (mut reads, mut uses_old, mut uses_router) = (0, 0, 0);
    for &r in &regions {
        for &n in &nodes_in[r] {
            if matches!(g.nodes[n].op, Op::ReadVar(w) if w == var) {
                reads += 1;
            }
            g.nodes[n].op.each_input(|m| {
                uses_old += usize::from(m == old);
                uses_router += usize::from(m == router);
            });
        }
    }
    if reads != 1 || uses_old != 1 || uses_router != 0 {
        return None;
    }
    Some(Winner {
        var,
        router,
        old,
        new,
        regions,
    })
}

/// A `for` over a range: its item is an integer (copied into `win`, or
/// into the list of a deferred scatter, [`crate::scatters`]).
pub(crate) fn ranged(g: &Graph, iter: NodeId) -> bool {
    let Op::Const { expr, .. } = &g.nodes[iter].op else {
        return false;
    };
    matches!(
        syn::parse2::<syn::Expr>(expr.clone()),
        Ok(syn::Expr::Range(syn::ExprRange {
            start: Some(_),
            end: Some(_),
            ..
        }))
    )
}

/// The conditions that need storage and fusion decided: one iteration's
/// reversal can run alone, and where the backward sees `win`. `nodes_in`
/// holds each region's nodes.
pub(crate) fn holds(
    g: &Graph,
    a: &Analysis,
    nodes_in: &[Vec<NodeId>],
    body: RegionId,
    w: &Winner,
) -> bool {
    // Not in any loop (the fn body, or a branch of it: the winner is
    // declared at the top), or directly in a fused loop's body.
    let parent = g.regions[body].parent;
    let mut outer = parent;
    while outer != 0 && !g.regions[outer].is_loop {
        outer = g.regions[outer].parent;
    }
    let seen = outer == 0 || a.fused.contains_key(&parent);
    // Nothing read back from storage kept per iteration: values, arrays
    // kept whole, counters' steps.
    let replayable = w.regions.iter().all(|&r| {
        nodes_in[r].iter().all(|&id| {
            !a.kept[id] || matches!(a.storage[id], Storage::Recompute | Storage::Captured)
        })
    }) && !g
        .vars
        .iter()
        .enumerate()
        .any(|(v, var)| a.settled[v] && w.regions.contains(&var.region))
        && !a
            .counters
            .iter()
            .any(|c| w.regions.contains(&c.block) || w.regions.contains(&g.vars[c.var].region));
    seen && replayable
        && !a.kept[w.old]
        // An element fixed while the loop runs may be summed in a local
        // (written once after the loop); a window moves with the item.
        && a.carries.get(&body).is_none_or(|cs| {
            cs.iter().all(|c| matches!(c.kind, crate::analyse::CarryKind::Fixed { .. }))
        })
}

#[cfg(test)]
mod tests {
    use crate::args::Args;
    use crate::diag::Diagnostics;
    use crate::names::Names;
    use syn::{parse_quote, ItemFn};

    /// How many loops of the fn keep only their winner.
    fn winners(item: ItemFn) -> usize {
        let cx = Diagnostics::default();
        let f = crate::parse::function(&cx, &Args::default(), &item).unwrap();
        let g = crate::lower::lower(&cx, &f, &mut Names::default()).unwrap();
        cx.finish().unwrap();
        crate::analyse::analyse(&g).winners.len()
    }

    #[test]
    fn a_running_max_or_min_keeps_its_winner() {
        // In the fn body, over a slice's items.
        assert_eq!(
            winners(parse_quote! {
                fn f<T: Float>(x: &[T]) -> T {
                    let mut m = x[0];
                    for &v in x { m = m.max(v); }
                    m
                }
            }),
            1
        );
        // A distance summed in an inner loop, a branch.
        assert_eq!(
            winners(parse_quote! {
                fn f<T: Float>(p: &[T], c: &[T], d: usize) -> T {
                    let mut best = T::infinity();
                    for k in 0..c.len() / d {
                        let mut dist = T::zero();
                        for l in 0..d { dist += (p[l] - c[k * d + l]).powi(2); }
                        let e = if p[k] > T::zero() { dist } else { dist * 0.5 };
                        best = best.min(e);
                    }
                    best
                }
            }),
            1
        );
        // In a loop over points (which fuses), the new value first.
        assert_eq!(
            winners(parse_quote! {
                fn f<T: Float>(p: &[T], c: &[T]) -> T {
                    let mut total = T::zero();
                    for i in 0..p.len() {
                        let mut best = T::infinity();
                        for j in 0..c.len() {
                            let d = (p[i] - c[j]).powi(2);
                            best = d.min(best);
                        }
                        total += best;
                    }
                    total
                }
            }),
            1
        );
    }

    #[test]
    fn other_loops_replay_every_iteration() {
        // `m` read twice; a store to an array from before the loop; a
        // `break`; a value taped for the reversal (`exp` keeps its output);
        // the assignment in a branch; a loop over points that does not fuse
        // (it writes an array from before it).
        for item in [
            parse_quote! {
                fn f<T: Float>(x: &[T]) -> T {
                    let mut m = x[0];
                    for &v in x { m = m.max(v) * m; }
                    m
                }
            },
            parse_quote! {
                fn f<T: Float>(x: &[T]) -> T {
                    let mut m = x[0];
                    let mut s = vec![T::zero(); x.len()];
                    for i in 0..x.len() { s[i] = x[i]; m = m.max(x[i]); }
                    m + s[0]
                }
            },
            parse_quote! {
                fn f<T: Float>(x: &[T]) -> T {
                    let mut m = x[0];
                    for &v in x { if v > T::one() { break; } m = m.max(v); }
                    m
                }
            },
            parse_quote! {
                fn f<T: Float>(x: &[T]) -> T {
                    let mut m = x[0];
                    for &v in x { m = m.max(v.exp()); }
                    m
                }
            },
            parse_quote! {
                fn f<T: Float>(x: &[T]) -> T {
                    let mut m = x[0];
                    for &v in x { if v > T::zero() { m = m.max(v); } }
                    m
                }
            },
            parse_quote! {
                fn f<T: Float>(p: &[T], c: &[T]) -> T {
                    let mut total = T::zero();
                    let mut seen = vec![T::zero(); p.len()];
                    for i in 0..p.len() {
                        let mut best = T::infinity();
                        for j in 0..c.len() { best = best.min((p[i] - c[j]).powi(2)); }
                        seen[i] = best;
                        total += best;
                    }
                    total + seen[0]
                }
            },
        ] {
            assert_eq!(winners(item), 0);
        }
    }
}
