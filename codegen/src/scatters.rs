//! Pass 3d: inner loops whose reversal adds into a matrix along its
//! column, run after the outer loop's reversal, row by row.
//!
//! `for j in 0..h { let mut a = b[j]; for i in 0..d { a += x[i] *
//! w[i * h + j]; } .. }`: reversed as written, each `j` adds `d_a_j *
//! x[i]` into `d_w[i * h + j]` for every `i`, a walk down a column (a
//! stride of `h` elements: with `h = 128` every access misses L1). The outer loop's
//! reversal instead notes each `(j, d_a_j)` whose `d_a_j` is not zero (the
//! inner loop's reversal is skipped for the others anyway, an inactive ReLU
//! unit), and after it the inner loop runs once, each `i` adding into row
//! `i` for every noted `j` in turn: the same adds, each element getting
//! its one term per `(i, j)`, in rows. This is what a careful person does
//! for a dense layer's weight gradient (an outer product), and what the
//! hand-written mlp gradient does not.
//!
//! The conditions, on the graph:
//! - the outer loop is a `for` over a range without a counter (its items
//!   integers, kept in the list), and the inner one (the first such) a
//!   `for` without a counter directly in its body, straight-line: values, and one
//!   assignment `a = a + e` (or `e + a`) to a float `a` of the outer body,
//!   which the inner body reads nowhere else;
//! - the inner body reads from the outer body nothing but its item and
//!   `a`, from outside the outer loop no value with a gradient (so no sum
//!   but the arrays' elements changes order), and nothing from storage;
//! - every array with a gradient it reads, it reads at `r + j` with `j` the
//!   outer item and `r` an expression of the inner one without `j` (row
//!   `r`, column `j`: its adds move along rows), and no other statement of
//!   the outer body reads that array;
//! - the inner loop's reversal is skipped where `a`'s adjoint is zero, and
//!   carries no adjoint in locals across its iterations.

use crate::analyse::{Analysis, Storage};
use crate::graph::{Graph, NodeId, Op, Prim, RegionId, Stmt, VarId};
use rustc_hash::FxHashMap as HashMap;

/// An inner loop whose reversal runs after its outer loop's (see the
/// module), by the inner loop's body.
#[derive(Clone, Debug)]
pub(crate) struct Deferred {
    /// The outer loop's body.
    pub outer: RegionId,
    /// The variable the inner loop sums into (`a`).
    pub acc: VarId,
}

/// The inner loops the module describes, by body. `nodes_in` holds each
/// region's nodes.
pub(crate) fn deferred(
    g: &Graph,
    a: &Analysis,
    nodes_in: &[Vec<NodeId>],
) -> HashMap<RegionId, Deferred> {
    let mut out = HashMap::default();
    crate::graph::for_each_stmt(&g.body, &mut |s| {
        let Stmt::Loop(outer) = s else { return };
        let Some(h) = &outer.header else { return };
        if outer.counter.is_some() || !crate::winners::ranged(g, h.iter) {
            return;
        }
        // One per outer loop: the first.
        for s in &outer.body.stmts {
            let Stmt::Loop(inner) = s else { continue };
            if let Some(acc) = candidate(g, a, nodes_in, outer, inner, h.item) {
                out.insert(
                    inner.body.id,
                    Deferred {
                        outer: outer.body.id,
                        acc,
                    },
                );
                break;
            }
        }
    });
    out
}

/// The variable the inner loop sums into, where the module's conditions
/// hold.
fn candidate(
    g: &Graph,
    a: &Analysis,
    nodes_in: &[Vec<NodeId>],
    outer: &crate::graph::Loop,
    inner: &crate::graph::Loop,
    j: NodeId,
) -> Option<VarId> {
    let (ob, ib) = (outer.body.id, inner.body.id);
    let ih = inner.header.as_ref()?;
    if inner.counter.is_some() || !a.work[ib] || a.carries.get(&ib).is_some_and(|c| !c.is_empty()) {
        return None;
    }
    // Straight-line, one assignment `acc = acc + e`.
    let mut set = None;
    for s in &inner.body.stmts {
        match s {
            Stmt::Node(_) => {}
            Stmt::Set { var, value } if set.is_none() => set = Some((*var, *value)),
            _ => return None,
        }
    }
    let (acc, sum) = set?;
    if g.vars[acc].region != ob || !g.vars[acc].active {
        return None;
    }
    let Op::Prim {
        prim: Prim::Add,
        args,
    } = &g.nodes[sum].op
    else {
        return None;
    };
    let reads_acc = |n: NodeId| matches!(g.nodes[n].op, Op::ReadVar(v) if v == acc);
    if args.len() != 2 || reads_acc(args[0]) == reads_acc(args[1]) {
        return None;
    }
    let j_name = g.nodes[j].ident.to_string();
    let i_name = g.nodes[ih.item].ident.to_string();
    let mut columns = Vec::new();
    for &n in &nodes_in[ib] {
        let node = &g.nodes[n];
        if a.kept[n] && !matches!(a.storage[n], Storage::Recompute | Storage::Captured) {
            return None;
        }
        match &node.op {
            Op::ReadVar(v) if *v == acc => {}
            Op::ReadVar(v) if g.vars[*v].active || g.vars[*v].region == ob => return None,
            Op::ReadIndex { var, index } if g.vars[*var].active => {
                // Row `r`, column `j`: `r + j` or `j + r`.
                let [k] = index.as_slice() else { return None };
                if !column(g, *k, &j_name, &i_name) {
                    return None;
                }
                columns.push(*var);
            }
            _ => {}
        }
        let mut from_outside = false;
        node.op.each_input(|m| {
            let r = g.nodes[m].region;
            let inside = r == ib || m == j || (r != ob && !crate::graph::within(g, r, ob));
            from_outside |= !inside || (r != ib && m != j && g.nodes[m].active);
        });
        if from_outside {
            return None;
        }
    }
    if columns.is_empty() {
        return None;
    }
    // No other statement of the outer body reads those arrays.
    let mut others = false;
    crate::graph::for_each_stmt(&outer.body, &mut |s| {
        if let Stmt::Node(n) = s {
            if g.nodes[*n].region != ib {
                if let Op::ReadIndex { var, .. } = &g.nodes[*n].op {
                    others |= columns.contains(var);
                }
            }
        }
        if let Stmt::Store { var, .. } = s {
            others |= columns.contains(var);
        }
    });
    (!others).then_some(acc)
}

/// `index` is `r + j` or `j + r`, `r` naming the inner item `i` and not `j`.
fn column(g: &Graph, index: NodeId, j: &str, i: &str) -> bool {
    let Op::Const { expr, .. } = &g.nodes[index].op else {
        return false;
    };
    let Ok(syn::Expr::Binary(syn::ExprBinary {
        left,
        op: syn::BinOp::Add(_),
        right,
        ..
    })) = syn::parse2::<syn::Expr>(expr.clone())
    else {
        return false;
    };
    let is_j = |e: &syn::Expr| matches!(e, syn::Expr::Path(p) if p.path.is_ident(j));
    fn mentions(ts: proc_macro2::TokenStream, n: &str) -> bool {
        ts.into_iter().any(|t| match t {
            proc_macro2::TokenTree::Group(g) => mentions(g.stream(), n),
            t => t.to_string() == n,
        })
    }
    let names = |e: &syn::Expr, n: &str| mentions(quote::ToTokens::to_token_stream(e), n);
    let row = match (is_j(&left), is_j(&right)) {
        (true, false) => right,
        (false, true) => left,
        _ => return false,
    };
    names(&row, i) && !names(&row, j)
}

#[cfg(test)]
mod tests {
    use crate::diag::Diagnostics;
    use crate::names::Names;
    use syn::{parse_quote, ItemFn};

    /// How many inner loops of the fn, differentiated in `w` (and `s`),
    /// have their scatter deferred.
    fn deferred(item: ItemFn) -> usize {
        let cx = Diagnostics::default();
        let wrt = match item.sig.inputs.len() {
            4 => quote::quote!(wrt(w, s)),
            _ => quote::quote!(wrt(w)),
        };
        let args = crate::args::parse(&cx, wrt);
        let f = crate::parse::function(&cx, &args, &item).unwrap();
        let g = crate::lower::lower(&cx, &f, &mut Names::default()).unwrap();
        cx.finish().unwrap();
        crate::analyse::analyse(&g).deferred.len()
    }

    #[test]
    fn a_dense_layers_column_sums_are_deferred() {
        assert_eq!(
            deferred(parse_quote! {
                fn f<T: Float>(w: &[T], x: &[T], h: usize) -> T {
                    let mut out = T::zero();
                    for j in 0..h {
                        let mut a = T::zero();
                        for i in 0..x.len() { a += x[i] * w[i * h + j]; }
                        out += a.max(T::zero());
                    }
                    out
                }
            }),
            1
        );
    }

    #[test]
    fn other_inner_loops_are_not() {
        // A row (`w[j * d + i]`: already along a row); the input
        // differentiated too (summed along a row); `w` read again in the
        // outer body; a running index; an active scalar from outside.
        for item in [
            parse_quote! {
                fn f<T: Float>(w: &[T], x: &[T], d: usize) -> T {
                    let mut out = T::zero();
                    for j in 0..w.len() / d {
                        let mut a = T::zero();
                        for i in 0..d { a += x[i] * w[j * d + i]; }
                        out += a.tanh();
                    }
                    out
                }
            },
            parse_quote! {
                fn f<T: Float>(w: &[T], s: &[T], h: usize, k: usize) -> T {
                    let mut out = T::zero();
                    for j in 0..h {
                        let mut a = T::zero();
                        for i in 0..k { a += s[i] * w[i * h + j]; }
                        out += a.tanh();
                    }
                    out
                }
            },
            parse_quote! {
                fn f<T: Float>(w: &[T], x: &[T], h: usize) -> T {
                    let mut out = T::zero();
                    for j in 0..h {
                        let mut a = w[j];
                        for i in 0..x.len() { a += x[i] * w[i * h + j]; }
                        out += a.tanh();
                    }
                    out
                }
            },
            parse_quote! {
                fn f<T: Float>(w: &[T], x: &[T], h: usize) -> T {
                    let mut out = T::zero();
                    for j in 0..h {
                        let mut a = T::zero();
                        let mut k = j;
                        for i in 0..x.len() { a += x[i] * w[k]; k += h; }
                        out += a.tanh();
                    }
                    out
                }
            },
            parse_quote! {
                fn f<T: Float>(w: &[T], x: &[T], s: T, h: usize) -> T {
                    let mut out = T::zero();
                    for j in 0..h {
                        let mut a = T::zero();
                        for i in 0..x.len() { a += x[i] * w[i * h + j] * s; }
                        out += a.tanh();
                    }
                    out
                }
            },
        ] {
            assert_eq!(deferred(item), 0);
        }
    }
}
