//! Pass 3: which nodes the backward pass visits and what it reads. A node has
//! an adjoint if it is active and the output depends on it (varied and
//! useful); `contributions` counts the terms its adjoint sums, so that emit.rs
//! writes `let` for a single term and accumulates only where there are more.

use crate::graph::{Graph, Op};
use crate::rules::{self, Keep};

pub(crate) struct Analysis {
    /// Terms summed into each node's adjoint (0: it has no adjoint).
    pub contributions: Vec<usize>,
    /// The backward pass reads the node's value.
    pub kept: Vec<bool>,
}

pub(crate) fn analyse(g: &Graph) -> Analysis {
    let n = g.nodes.len();
    let mut contributions = vec![0; n];
    let mut kept = vec![false; n];
    for leaf in g.output.leaves() {
        if g.nodes[leaf].active {
            contributions[leaf] += 1;
        }
    }
    for (id, node) in g.nodes.iter().enumerate().rev() {
        let Op::Prim { prim, args } = &node.op else {
            continue;
        };
        if !node.active || contributions[id] == 0 {
            continue;
        }
        for (i, &arg) in args.iter().enumerate() {
            if g.nodes[arg].active && rules::flows(*prim, i) {
                contributions[arg] += 1;
            }
        }
        let k = rules::keep(*prim);
        if matches!(k, Keep::Inputs | Keep::InputsAndOutput) {
            args.iter().for_each(|&a| kept[a] = true);
        }
        if matches!(k, Keep::Output | Keep::InputsAndOutput) {
            kept[id] = true;
        }
    }
    Analysis {
        contributions,
        kept,
    }
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
        let g = crate::lower::lower(&cx, &f, &mut Names::default()).unwrap();
        cx.finish().unwrap();
        let a = analyse(&g);
        (g, a)
    }

    #[test]
    fn a_value_used_twice_gets_two_terms() {
        let (_, a) = run(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                x * x
            }
        ));
        assert_eq!(a.contributions, [2, 1]);
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
        assert_eq!(a.contributions, [1, 0, 0, 1]);
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
        // The products' inputs, exp's output, and the division's input and output.
        assert_eq!(kept.len(), 7, "{kept:?}");
        assert!(kept.contains(&"w0".to_string()) && kept.contains(&"x1".to_string()));
        assert!(!kept.contains(&"__tl_v_dot".to_string()));
    }
}
