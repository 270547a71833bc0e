//! Pass 5: the graph -> Rust. Writes the user's fn back (literals made the
//! float type), the call protocol's `__tl_forward` (the forward pass, then a
//! `move` closure that is the backward pass, taking the arguments again),
//! `NAME_forward` (which calls it, where the arguments are `Copy`; else a
//! second emission of the same statements) and, for a scalar output,
//! `NAME_grad`.
//!
//! The forward pass mirrors the user's code: one `let` per node, the same
//! branches and loops. Values a loop computes that the backward reads are
//! pushed on a tape (one `Vec` per value); the backward visits the
//! statements in reverse, replaying ranges backwards (`.rev()`) or counting
//! iterations, and pops what it reads. For straight-line code:
//!
//! ```text
//! fn __tl_forward<T: Float>(x: T, y: T, z: T)
//!     -> (T, impl Fn(T, (T, T, T), &[bool]) -> (T, T, T) + use<T>) {
//!     let __tl_v_q = x + y;
//!     let __tl_v_out = __tl_v_q * z;
//!     (__tl_v_out, move |__tl_dout: T, (x, y, z): (T, T, T), _: &[bool]| {
//!         let __tl_d_q = __tl_dout * z;       // mul swaps
//!         let __tl_d_z = __tl_dout * __tl_v_q;
//!         (__tl_d_q, __tl_d_q, __tl_d_z)      // add distributes
//!     })
//! }
//! ```

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use proc_macro2::{Delimiter, Group, Ident, Punct, Spacing, Span, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::visit::Visit;
use syn::visit_mut::VisitMut;

use crate::analyse::{Analysis, CarryKind, Mode, Storage};
use crate::graph::{
    for_each_stmt, within, Block, CallArg, Graph, Init, Loop, NodeId, Op, Prim, RegionId, Shape,
    Stmt, VarId,
};
use crate::lower::{node_ref, node_refs, node_tokens};
use crate::names::{self, Names};
use crate::parse::{Function, Holds, Output};
use crate::rules::{self, Kept, Local};
use crate::sugar;

/// `quote!` that writes onto the end of a stream: `put!(out => let #x =
/// #y;)`, or `put!(out, span => ..)` for `quote_spanned!`. `quote!` makes
/// a stream of its own, which the caller then moves into the enclosing
/// one: an allocation, regrown as it fills, for every statement. Here
/// `quote!`'s stream first takes over `out`'s tokens (a swap, the
/// [`Append`] as its first interpolation) and adds to them.
macro_rules! put {
    ($out:expr => $($tt:tt)*) => {{
        let out: &mut TokenStream = $out;
        let written = {
            let onto = Append(std::cell::Cell::new(Some(&mut *out)));
            quote!(#onto $($tt)*)
        };
        *out = written;
    }};
    ($out:expr, $span:expr => $($tt:tt)*) => {{
        let out: &mut TokenStream = $out;
        let span: Span = $span;
        let written = {
            let onto = Append(std::cell::Cell::new(Some(&mut *out)));
            quote_spanned!(span=> #onto $($tt)*)
        };
        *out = written;
    }};
}

/// [`put!`]'s first interpolation: hands the stream being appended to over
/// to the one `quote!` writes (which is empty then).
struct Append<'a>(std::cell::Cell<Option<&'a mut TokenStream>>);

impl ToTokens for Append<'_> {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        if let Some(out) = self.0.take() {
            std::mem::swap(out, tokens);
        }
    }
}

/// Everything the attribute expands to, after the user's fn (see
/// [`original_owned`]). `all` is the same fn differentiated with respect to every float
/// parameter, where `wrt(..)` leaves some out: callers need every gradient.
pub(crate) fn expand(
    f: &Function,
    g: &Graph,
    a: &Analysis,
    names: &mut Names,
    all: Option<(&Function, &Graph, &Analysis)>,
) -> TokenStream {
    let grad = match f.output {
        Output::Scalar => grad(f, names),
        Output::Tuple(_) | Output::Array => TokenStream::new(),
    };
    // One emission of the graph serves both forwards, unless `wrt(..)` left
    // floats out: the protocol differentiates all of them (DESIGN.md: a call
    // differentiates every argument that carries a gradient).
    let protocol_name = format_ident!("__tl_forward", span = f.item.sig.ident.span());
    let (forward, mut method) = forward(
        f,
        g,
        a,
        names,
        &forward_name(f),
        all.is_none().then_some(&protocol_name),
    );
    if let Some((sf, sg, sa)) = all {
        method = forward_protocol(sf, sg, sa, names, &protocol_name);
    }
    let protocol = protocol_carrier(&f.item.vis, &f.item.sig.ident, method);
    quote!(#forward #grad #protocol)
}

/// The hidden braced struct `name` (type namespace only) whose `impl`
/// holds `method`, the `__tl_forward` callers use. Shared by generated fns,
/// `#[custom_gradient]` and the error stubs.
pub(crate) fn protocol_carrier(
    vis: &syn::Visibility,
    name: &Ident,
    method: TokenStream,
) -> TokenStream {
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        #vis struct #name {}

        #[allow(dead_code)]
        impl #name {
            #method
        }
    }
}

/// The user's fn as written, with plain float literals made the float type.
pub(crate) fn original(f: &Function) -> TokenStream {
    original_owned(f.item.clone(), &f.float, f.generic)
}

/// [`original`] on the fn itself, where the caller is done with it (no copy
/// of the syntax tree).
pub(crate) fn original_owned(
    mut item: syn::ItemFn,
    float: &syn::Type,
    generic: bool,
) -> TokenStream {
    if generic {
        if sugar::convert_block(float, &mut item.block) {
            // `acc += x` became `acc = acc + (x)`: ours, not the user's style.
            item.attrs
                .push(syn::parse_quote!(#[allow(clippy::assign_op_pattern)]));
        }
        // The literals' `lit::<T>(..)`.
        item.block
            .stmts
            .insert(0, syn::Stmt::Item(syn::Item::Verbatim(alias())));
    }
    item.to_token_stream()
}

/// `use ::tapeless::__private as __tl;` at the top of each generated body
/// (and of the user's generic fn, for its literals): the runtime's helpers
/// are `__tl::zero::<T>()`, 3 tokens where the full path is 8, in every
/// statement that names one (an eighth of a big fn's expansion, for the
/// macro to make and for rustc to read). Signatures keep the full path. The
/// name is ours: user names never start with `__tl`.
pub(crate) fn alias() -> TokenStream {
    quote!(
        #[allow(unused_imports)]
        use ::tapeless::__private as __tl;
    )
}

/// The parts of a generated fn's signature, shared with fallback.rs.
pub(crate) struct Signature {
    pub attrs: Vec<syn::Attribute>,
    pub vis: syn::Visibility,
    pub generics: syn::Generics,
    /// `x: T, n: usize` (no `mut`, no attributes).
    pub params: Vec<TokenStream>,
    pub out: syn::Type,
    pub grads: TokenStream,
    /// `+ use<..>` for the forward's `impl Fn` when it borrows parameters.
    pub captures: TokenStream,
}

pub(crate) fn signature(f: &Function) -> Signature {
    let item = f.item;
    // Attributes that decide whether or how the fn compiles go along.
    let attrs = item
        .attrs
        .iter()
        .filter(|a| {
            let p = a.path();
            [
                "cfg", "cfg_attr", "allow", "expect", "warn", "deny", "forbid",
            ]
            .iter()
            .any(|k| p.is_ident(k))
        })
        .cloned()
        .collect();
    let mut generics = item.sig.generics.clone();
    // Elided lifetimes get names, so that the pullback may borrow them.
    let mut namer = NameLifetimes { count: 0 };
    let params: Vec<TokenStream> = f
        .params
        .iter()
        .map(|p| {
            let id = p.ident;
            let mut ty = p.ty.clone();
            namer.visit_type_mut(&mut ty);
            // An array parameter the body writes stays `mut`; a scalar one is
            // copied into a variable of its own.
            let mutability =
                (p.mutable && matches!(p.float, Some(Holds::Array { .. }))).then(|| quote!(mut));
            quote!(#mutability #id: #ty)
        })
        .collect();
    let borrowed = namer.count > 0 || generics.lifetimes().next().is_some();
    for i in 0..namer.count {
        let lt = syn::Lifetime::new(&format!("'__tl_a{i}"), Span::call_site());
        generics
            .params
            .insert(i, syn::GenericParam::Lifetime(syn::LifetimeParam::new(lt)));
    }
    let captures = if borrowed {
        let names = generics.params.iter().map(|p| match p {
            syn::GenericParam::Lifetime(l) => l.lifetime.to_token_stream(),
            syn::GenericParam::Type(t) => t.ident.to_token_stream(),
            syn::GenericParam::Const(c) => c.ident.to_token_stream(),
        });
        quote!(+ use<#(#names),*>)
    } else {
        TokenStream::new()
    };
    let diff: Vec<TokenStream> = f
        .params
        .iter()
        .filter(|p| p.diff)
        .map(|p| match &p.float {
            Some(Holds::Array { grad, .. }) => grad.to_token_stream(),
            _ => p.ty.to_token_stream(),
        })
        .collect();
    let grads = match diff.as_slice() {
        [one] => one.clone(),
        many => quote!((#(#many),*)),
    };
    let out = match &item.sig.output {
        syn::ReturnType::Type(_, t) => (**t).clone(),
        syn::ReturnType::Default => syn::parse_quote!(()),
    };
    Signature {
        attrs,
        vis: item.vis.clone(),
        generics,
        params,
        out,
        grads,
        captures,
    }
}

struct NameLifetimes {
    count: usize,
}

impl VisitMut for NameLifetimes {
    fn visit_type_reference_mut(&mut self, r: &mut syn::TypeReference) {
        if r.lifetime.as_ref().is_none_or(|l| l.ident == "_") {
            r.lifetime = Some(syn::Lifetime::new(
                &format!("'__tl_a{}", self.count),
                Span::call_site(),
            ));
            self.count += 1;
        }
        syn::visit_mut::visit_type_reference_mut(self, r);
    }
}

/// `+ k` or `- k`, nothing for zero.
fn shift(k: i64) -> TokenStream {
    let n = proc_macro2::Literal::u64_unsuffixed(k.unsigned_abs());
    match k {
        0 => TokenStream::new(),
        k if k > 0 => quote!(+ #n),
        _ => quote!(- #n),
    }
}

/// A [`crate::analyse::Counter`] with the names the emission gives it.
#[derive(Clone)]
struct PlannedCounter {
    var: VarId,
    block: RegionId,
    total: i64,
    /// The backward's copy of the variable, stepped back.
    back: Ident,
    /// Where it is declared in a loop: its tape and cursor.
    tape: Option<(Ident, Ident)>,
}

/// The names a fused loop's emission adds (see [`crate::fuse`]).
#[derive(Clone)]
struct FusedPlan {
    /// The sums of unit gradients, per variable and per value from before
    /// the loop.
    var_units: Vec<(VarId, Ident)>,
    node_units: Vec<(NodeId, Ident)>,
    /// The accumulator's adjoint in an iteration's backward (one).
    seed: Ident,
    /// The values of loops nested in it kept on tapes, which hold one
    /// iteration's values.
    tapes: Vec<NodeId>,
    /// Likewise the tapes of arrays kept whole and of counters: tape and
    /// cursor.
    other_tapes: Vec<(Ident, Ident)>,
    /// The accumulator, and the arrays each iteration overwrites first.
    acc: VarId,
    scratch: Vec<VarId>,
}

/// Generated names for the storage of values and the adjoints of variables.
#[derive(Clone)]
struct Plan {
    tape: HashMap<NodeId, (Ident, Ident)>,
    /// Tapes of arrays kept whole, one copy per iteration (`settled`).
    var_tape: HashMap<VarId, (Ident, Ident)>,
    slot: HashMap<NodeId, Ident>,
    var_adjoint: Vec<Ident>,
    /// The loop whose body each region is (for tape capacities).
    loop_of: HashMap<RegionId, (TokenStream, RegionId)>,
    /// Per region: its nodes, its variables, and its arrays kept whole
    /// (sorted), so that emitting a block visits its own (linear overall).
    nodes_in: Vec<Vec<NodeId>>,
    vars_in: Vec<Vec<VarId>>,
    var_tapes_in: Vec<Vec<VarId>>,
    /// Loop bodies whose trip count the iterator gives (`for`, no `break`).
    counted: HashSet<RegionId>,
    /// Write positions of tapes of floats, for the tapes sized exactly.
    cursor: HashMap<NodeId, Ident>,
    /// Arrays copied for a call's pullback (kept, and read, by reference).
    snapshots: HashSet<NodeId>,
    /// Per [`crate::analyse::Counter`] (by variable): the backward's copy,
    /// and the tape of its values at the end of each iteration of the loop
    /// that declares it.
    counters: Vec<PlannedCounter>,
    /// Counted reads: the counter's backward copy, and what its block adds
    /// after the read.
    counted_reads: HashMap<NodeId, (Ident, i64)>,
    /// Fused loops, by body.
    fused: HashMap<RegionId, FusedPlan>,
    /// Values of a fused loop's own body: its backward finds them bound.
    fused_local: HashSet<NodeId>,
    /// Loops that keep only their winner, by body: the local holding the
    /// winning iteration's item, and the loop (see [`crate::winners`]).
    winners: HashMap<RegionId, (Ident, crate::winners::Winner)>,
    /// Their `min`s and `max`s, with the value each compares.
    winner_routers: HashMap<NodeId, NodeId>,
    /// Inner loops whose scatter is deferred (see [`crate::scatters`]), by
    /// body: the list of `(column, adjoint)` pairs, and whether it is
    /// declared at the top of the forward (the outer loop is in a fused
    /// loop, whose backward runs there) rather than of the pullback.
    deferred: HashMap<RegionId, (Ident, bool)>,
}

fn plan(g: &Graph, a: &Analysis, names: &mut Names) -> Plan {
    let mut p = Plan {
        tape: HashMap::default(),
        var_tape: HashMap::default(),
        slot: HashMap::default(),
        var_adjoint: Vec::new(),
        loop_of: HashMap::default(),
        nodes_in: vec![Vec::new(); g.regions.len()],
        vars_in: vec![Vec::new(); g.regions.len()],
        var_tapes_in: vec![Vec::new(); g.regions.len()],
        counted: HashSet::default(),
        cursor: HashMap::default(),
        snapshots: g
            .nodes
            .iter()
            .flat_map(|n| match &n.op {
                Op::Call { args, .. } => args
                    .iter()
                    .filter_map(|a| match a {
                        CallArg::Snapshot { node, .. } => Some(*node),
                        _ => None,
                    })
                    .collect(),
                _ => vec![],
            })
            .collect(),
        counters: Vec::new(),
        counted_reads: HashMap::default(),
        fused: HashMap::default(),
        fused_local: HashSet::default(),
        winners: HashMap::default(),
        winner_routers: HashMap::default(),
        deferred: HashMap::default(),
    };
    let mut winners: Vec<(&RegionId, &crate::winners::Winner)> = a.winners.iter().collect();
    winners.sort_by_key(|(r, _)| **r);
    for (&body, w) in winners {
        let base = g.vars[w.var].ident.to_string();
        let base = base.strip_prefix("__tl_v_").unwrap_or(&base).to_string();
        p.winners
            .insert(body, (names.fresh("win", Some(&base)), w.clone()));
        p.winner_routers.insert(w.router, w.new);
    }
    for c in &a.counters {
        let var = &g.vars[c.var];
        let base = var.ident.to_string();
        let base = base.strip_prefix("__tl_v_").unwrap_or(&base).to_string();
        let back = names.fresh("back", Some(&base));
        let tape = (var.region != 0).then(|| {
            let end = format!("{base}_end");
            (
                names.fresh("tape", Some(&end)),
                names.fresh("at", Some(&end)),
            )
        });
        for &(r, after) in &c.reads {
            p.counted_reads.insert(r, (back.clone(), after));
        }
        p.counters.push(PlannedCounter {
            var: c.var,
            block: c.block,
            total: c.total,
            back,
            tape,
        });
    }
    for (id, node) in g.nodes.iter().enumerate() {
        if let Some(r) = p.nodes_in.get_mut(node.region) {
            r.push(id);
        }
    }
    for (v, var) in g.vars.iter().enumerate() {
        if let Some(r) = p.vars_in.get_mut(var.region) {
            r.push(v);
        }
    }
    for (id, node) in g.nodes.iter().enumerate() {
        if !a.kept[id] || !matches!(a.storage[id], Storage::Tape | Storage::Slot) {
            continue;
        }
        // Name the storage after the user's variable where there is one.
        let base = match &node.op {
            Op::ReadVar(v) => g.vars[*v].ident.to_string(),
            _ => node.ident.to_string(),
        };
        let base = base
            .strip_prefix("__tl_v")
            .unwrap_or(&base)
            .trim_start_matches('_')
            .to_string();
        match a.storage[id] {
            Storage::Tape => {
                let t = names.fresh("tape", Some(&base));
                let c = names.fresh("at", Some(&base));
                p.tape.insert(id, (t, c));
                if node.active {
                    p.cursor.insert(id, names.fresh("put", Some(&base)));
                }
            }
            Storage::Slot => {
                p.slot.insert(id, names.fresh("kept", Some(&base)));
            }
            _ => {}
        }
    }
    for (i, v) in g.vars.iter().enumerate() {
        p.var_adjoint.push(names.adjoint_of(&v.ident));
        if a.settled[i] && v.region != 0 {
            let base = v.ident.to_string();
            let base = base
                .strip_prefix("__tl_v")
                .unwrap_or(&base)
                .trim_start_matches('_')
                .to_string();
            p.var_tape.insert(
                i,
                (
                    names.fresh("tape", Some(&base)),
                    names.fresh("at", Some(&base)),
                ),
            );
            if let Some(r) = p.var_tapes_in.get_mut(v.region) {
                r.push(i);
            }
        }
    }
    fn walk(g: &Graph, b: &Block, p: &mut Plan) {
        for s in &b.stmts {
            match s {
                Stmt::If { then, els, .. } => {
                    walk(g, then, p);
                    walk(g, els, p);
                }
                Stmt::Loop(l) => {
                    let hint = match &l.header {
                        Some(h) => {
                            let iter = node_ref(&g.nodes[h.iter]);
                            quote!(__tl::trip_hint(&(#iter)))
                        }
                        None => TokenStream::new(),
                    };
                    let iter_region = l.header.as_ref().map_or(0, |h| dep_region(g, h.iter));
                    if l.header.is_some() && l.counter.is_none() {
                        p.counted.insert(l.body.id);
                    }
                    p.loop_of.insert(l.body.id, (hint, iter_region));
                    walk(g, &l.body, p);
                }
                _ => {}
            }
        }
    }
    walk(g, &g.body, &mut p);
    // The fused loop each region is in (one walk up per region), so that
    // each tape is looked at once, whatever the number of fused loops.
    let fused_in = |mut r: RegionId| loop {
        if a.fused.contains_key(&r) {
            return Some(r);
        }
        if r == 0 {
            return None;
        }
        r = g.regions[r].parent;
    };
    let region_fused: Vec<Option<RegionId>> = (0..g.regions.len()).map(fused_in).collect();
    // Deferred scatters, but not of a fused loop's own inner loops (its
    // body's reversal is written apart from its loop's).
    let mut deferred: Vec<(&RegionId, &crate::scatters::Deferred)> = a.deferred.iter().collect();
    deferred.sort_by_key(|(r, _)| **r);
    for (&inner, d) in deferred {
        if a.fused.contains_key(&d.outer) {
            continue;
        }
        let base = g.vars[d.acc].ident.to_string();
        let base = base.strip_prefix("__tl_v_").unwrap_or(&base).to_string();
        let list = names.fresh("noted", Some(&base));
        p.deferred
            .insert(inner, (list, region_fused[d.outer].is_some()));
    }
    let mut nested: HashMap<RegionId, Vec<NodeId>> = HashMap::default();
    let mut ids: Vec<NodeId> = p.tape.keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let region = g.nodes[id].region;
        match region_fused[region] {
            Some(body) if body == region => {
                p.tape.remove(&id);
                p.cursor.remove(&id);
            }
            Some(body) => nested.entry(body).or_default().push(id),
            None => {}
        }
    }
    let mut other_tapes: HashMap<RegionId, Vec<(Ident, Ident)>> = HashMap::default();
    let mut kept: Vec<VarId> = p.var_tape.keys().copied().collect();
    kept.sort_unstable();
    for v in kept {
        let region = g.vars[v].region;
        match region_fused[region] {
            Some(body) if body == region => {
                p.var_tape.remove(&v);
                p.var_tapes_in[region].retain(|&w| w != v);
            }
            Some(body) => other_tapes
                .entry(body)
                .or_default()
                .push(p.var_tape[&v].clone()),
            None => {}
        }
    }
    for c in &mut p.counters {
        let region = g.vars[c.var].region;
        match region_fused[region] {
            Some(body) if body == region => c.tape = None,
            Some(body) => other_tapes.entry(body).or_default().extend(c.tape.clone()),
            None => {}
        }
    }
    let mut fused: Vec<(&RegionId, &crate::fuse::Fused)> = a.fused.iter().collect();
    fused.sort_by_key(|(r, _)| **r);
    for (&body, f) in fused {
        let base = |ident: &Ident| {
            let s = ident.to_string();
            s.strip_prefix("__tl_v")
                .unwrap_or(&s)
                .trim_start_matches('_')
                .to_string()
        };
        let var_units = f
            .vars
            .iter()
            .map(|&v| (v, names.fresh("unit", Some(&base(&g.vars[v].ident)))))
            .collect();
        let node_units = f
            .nodes
            .iter()
            .map(|&n| (n, names.fresh("unit", Some(&base(&g.nodes[n].ident)))))
            .collect();
        // The body's own values are bound where its backward runs.
        for &id in &p.nodes_in[body] {
            p.slot.remove(&id);
            p.fused_local.insert(id);
        }
        let tapes = nested.remove(&body).unwrap_or_default();
        let other_tapes = other_tapes.remove(&body).unwrap_or_default();
        p.fused.insert(
            body,
            FusedPlan {
                var_units,
                node_units,
                seed: names.local("seed"),
                tapes,
                other_tapes,
                acc: f.acc,
                scratch: f.scratch.clone(),
            },
        );
    }
    p
}

/// The innermost region any input of an inline constant comes from.
fn dep_region(g: &Graph, n: NodeId) -> RegionId {
    let mut deepest = 0;
    let mut deeper = |r: RegionId| {
        if depth(g, r) > depth(g, deepest) {
            deepest = r;
        }
    };
    // The arrays an inline constant reads (`0..y.len()`) count where they
    // are declared.
    let arrays = |op: &Op| match op {
        Op::Const {
            inline: true,
            var_deps,
            ..
        } => var_deps.clone(),
        _ => vec![],
    };
    arrays(&g.nodes[n].op)
        .into_iter()
        .for_each(|v| deeper(g.vars[v].region));
    let mut stack = g.nodes[n].op.inputs();
    while let Some(d) = stack.pop() {
        deeper(g.nodes[d].region);
        if matches!(g.nodes[d].op, Op::Const { inline: true, .. }) {
            arrays(&g.nodes[d].op)
                .into_iter()
                .for_each(|v| deeper(g.vars[v].region));
            g.nodes[d].op.each_input(|i| stack.push(i));
        }
    }
    deepest
}

fn depth(g: &Graph, mut r: RegionId) -> usize {
    let mut d = 0;
    while r != 0 {
        r = g.regions[r].parent;
        d += 1;
    }
    d
}

/// The protocol's `__tl_forward` alone (from the all-floats expansion).
fn forward_protocol(
    f: &Function,
    g: &Graph,
    a: &Analysis,
    names: &mut Names,
    name: &Ident,
) -> TokenStream {
    let public = forward_name(f);
    forward(f, g, a, names, &public, Some(name)).1
}

/// `NAME_forward` and, when `protocol` is given, the protocol's
/// `__tl_forward` (else empty), from one emission of the graph: the two
/// differ only in their signatures and in the gradients' tuple.
fn forward(
    f: &Function,
    g: &Graph,
    a: &Analysis,
    names: &mut Names,
    name: &Ident,
    protocol: Option<&Ident>,
) -> (TokenStream, TokenStream) {
    let Signature {
        attrs,
        vis,
        generics,
        params,
        out,
        grads,
        captures,
    } = signature(f);
    let where_clause = &generics.where_clause;
    let doc = format!(
        "Runs [`{0}`] and returns its value with the pullback: a closure that maps an upstream \
         gradient of the output to the gradients of the inputs. Generated by `#[differentiable]`.\n\n{1}",
        f.item.sig.ident,
        kept_doc(g, a)
    );
    let plan = plan(g, a, names);
    let items = &g.items;
    let fused = fused_backwards(f, g, a, &plan, names);
    let fw = Forward {
        g,
        plan: &plan,
        float: f.float.to_token_stream(),
        fused,
        tapes_within: Default::default(),
    };
    // With the protocol emitted here, `NAME_forward` calls it: the graph is
    // written once (half the tokens for rustc), where the arguments can be
    // handed to the protocol's pullback again by copy.
    let delegate = protocol.is_some() && f.params.iter().all(|p| copies(p.ty, &f.float));
    // The bodies are built by moving streams, each written once
    // (interpolating or extending a stream copies its tokens): the
    // statements go straight after the head where only the protocol's body
    // holds them.
    let mut head = alias();
    head.extend(quote! {
        #(#items)*
    });
    fw.storage_decls(&mut head);
    let mut stmts = TokenStream::new();
    fw.block(&g.body, if delegate { &mut head } else { &mut stmts });
    let value = match f.output {
        Output::Scalar | Output::Tuple(_) => {
            let parts: Vec<TokenStream> = g
                .output
                .leaves()
                .iter()
                .map(|&n| node_tokens(&g.nodes[n]))
                .collect();
            match f.output {
                Output::Tuple(_) => quote!((#(#parts),*)),
                _ => quote!(#(#parts)*),
            }
        }
        Output::Array => match &g.output {
            crate::graph::Val::Var(v) => g.vars[*v].ident.to_token_stream(),
            _ => TokenStream::new(),
        },
    };
    let bw = backward(f, g, a, &plan, names);
    // A returned array the pullback still reads (its length, replaying
    // `for i in 0..y.len()`) is returned as a copy: the pullback keeps it.
    let value = match (&f.output, &g.output) {
        (Output::Array, crate::graph::Val::Var(v))
            if mentioned(std::slice::from_ref(&bw.body), &[&g.vars[*v].ident])[0] =>
        {
            quote!(::core::clone::Clone::clone(&#value))
        }
        _ => value,
    };
    // Using the gradient counts as using the fn (no "never used" warning).
    let user_fn = &f.item.sig.ident;
    let mention = turbofish(f).map(|t| quote!(let _ = #user_fn #t;));
    // No gradient at all (`wrt()`): the pullback returns `()`, unwritten.
    let returns_grads = (grads.to_string() != "()").then(|| quote!(-> #grads));
    let public = if delegate {
        let idents: Vec<&Ident> = f.params.iter().map(|p| p.ident).collect();
        let turbofish = turbofish(f).unwrap_or_default();
        let (value, pullback, dout) = (
            Ident::new("__tl_value", Span::mixed_site()),
            Ident::new("__tl_pullback", Span::mixed_site()),
            Ident::new("__tl_dout", Span::mixed_site()),
        );
        // One name per parameter's gradient (`_` for constants).
        let slots: Vec<TokenStream> = f
            .params
            .iter()
            .enumerate()
            .map(|(k, p)| match p.float {
                Some(_) => {
                    format_ident!("__tl_g{}", k, span = Span::mixed_site()).into_token_stream()
                }
                None => quote!(_),
            })
            .collect();
        let needed = f.params.iter().map(|p| p.diff);
        let picked: Vec<&TokenStream> = f
            .params
            .iter()
            .zip(&slots)
            .filter(|(p, _)| p.diff)
            .map(|(_, s)| s)
            .collect();
        let picked = match picked.as_slice() {
            [one] => quote!(#one),
            many => quote!((#(#many),*)),
        };
        quote! {
            #(#attrs)*
            #[doc = #doc]
            #[inline]
            #[allow(dead_code)]
            #vis fn #name #generics (#(#params),*) -> (#out, impl Fn(#out) #returns_grads #captures) #where_clause {
                #mention
                let (#value, #pullback) = #user_fn::#protocol #turbofish (#(#idents),*);
                (#value, move |#dout: #out| {
                    let (#(#slots,)*) = #pullback(#dout, (#(#idents,)*), &[#(#needed),*]);
                    #picked
                })
            }
        }
    } else {
        // The parameters the pullback's body and the forward's statements
        // use (one walk of the tokens, stopping once all are found).
        let param_names: Vec<&Ident> = f.params.iter().map(|p| p.ident).collect();
        let in_backward = mentioned(std::slice::from_ref(&bw.body), &param_names);
        let in_fn = mentioned(std::slice::from_ref(&stmts), &param_names);
        let in_value = mentioned(std::slice::from_ref(&value), &param_names);
        // A parameter that only fed a `let _` in the body is read here, so
        // that the generated fn warns about nothing the user's fn does not.
        let unread = f
            .params
            .iter()
            .enumerate()
            .filter(|&(k, _)| !in_fn[k] && !in_value[k] && !in_backward[k])
            .map(|(_, p)| p.ident);
        let mut body = quote! {
            #mention
            #(let _ = #unread;)*
        };
        body.extend(head.clone());
        body.extend(stmts.clone());
        let dout_pat = &bw.dout_pat;
        let backward = bw.with(&bw.grads);
        body.extend(quote!((#value, move |#dout_pat: #out| #backward)));
        let body = Group::new(Delimiter::Brace, body);
        quote! {
            #(#attrs)*
            #[doc = #doc]
            #[inline]
            #[allow(dead_code)]
            #vis fn #name #generics (#(#params),*) -> (#out, impl Fn(#out) #returns_grads #captures) #where_clause
            #body
        }
    };
    let Some(name) = protocol else {
        return (public, TokenStream::new());
    };
    // The protocol: the pullback takes the arguments again, so that it
    // borrows nothing and a caller may keep it (on a tape, in a loop). It
    // binds every argument (unused ones are allowed below).
    let types: Vec<syn::Type> = f.params.iter().map(|p| unbound(p.ty)).collect();
    let pats = f.params.iter().map(|p| p.ident);
    let returns = protocol_return(f);
    let _ = captures;
    let needed = Ident::new("__tl_needed", Span::mixed_site());
    let dout_pat = bw.dout_pat.clone();
    let mut body = head;
    body.extend(stmts);
    let backward = bw.into_positional();
    body.extend(
        quote!((#value, move |#dout_pat: #out, (#(#pats,)*): (#(#types,)*), #needed: &[bool]| #backward)),
    );
    let body = Group::new(Delimiter::Brace, body);
    let method = quote! {
        #(#attrs)*
        #[doc(hidden)]
        #[inline]
        #[allow(dead_code, unused_variables)]
        #vis fn #name #generics (#(#params),*) -> #returns #where_clause
        #body
    };
    (public, method)
}

/// A type whose values are `Copy` on its face: a shared reference, the
/// float type (`Float: Copy`) or a primitive, or an array or tuple of such.
fn copies(ty: &syn::Type, float: &syn::Type) -> bool {
    if crate::parse::same_type(ty, float) {
        // `Float: Copy`.
        return true;
    }
    match ty {
        syn::Type::Reference(r) => r.mutability.is_none(),
        syn::Type::Path(p) => {
            p.qself.is_none()
                && p.path.get_ident().is_some_and(|id| {
                    // Other single names may be user types.
                    [
                        "usize", "isize", "u8", "u16", "u32", "u64", "u128", "i8", "i16", "i32",
                        "i64", "i128", "f32", "f64", "bool", "char",
                    ]
                    .iter()
                    .any(|k| id == k)
                })
        }
        syn::Type::Array(a) => copies(&a.elem, float),
        syn::Type::Tuple(t) => t.elems.iter().all(|e| copies(e, float)),
        syn::Type::Paren(p) => copies(&p.elem, float),
        _ => false,
    }
}

/// A parameter type for the protocol pullback's arguments: every lifetime
/// elided, so that the pullback accepts borrows of any lifetime (it is
/// higher-ranked) and borrows nothing itself.
pub(crate) fn unbound(ty: &syn::Type) -> syn::Type {
    struct Erase;
    impl VisitMut for Erase {
        fn visit_type_reference_mut(&mut self, r: &mut syn::TypeReference) {
            r.lifetime = None;
            syn::visit_mut::visit_type_reference_mut(self, r);
        }
        fn visit_lifetime_mut(&mut self, l: &mut syn::Lifetime) {
            *l = syn::Lifetime::new("'_", l.span());
        }
    }
    let mut ty = ty.clone();
    Erase.visit_type_mut(&mut ty);
    ty
}

/// The protocol's return type: the value, and a pullback that takes the
/// upstream gradient, the arguments again and which gradients are needed,
/// and gives one gradient per parameter (`()` for constants).
pub(crate) fn protocol_return(f: &Function) -> TokenStream {
    let out = match &f.item.sig.output {
        syn::ReturnType::Type(_, t) => t.to_token_stream(),
        syn::ReturnType::Default => quote!(()),
    };
    let types = f.params.iter().map(|p| unbound(p.ty));
    let grads = f.params.iter().map(|p| match &p.float {
        Some(Holds::Array { grad, .. }) => grad.to_token_stream(),
        Some(Holds::Scalar) => p.ty.to_token_stream(),
        None => quote!(()),
    });
    let owned = crate::parse::generic_args(&f.item.sig.generics);
    quote!((#out, impl Fn(#out, (#(#types,)*), &[bool]) -> (#(#grads,)*) + use<#(#owned),*>))
}

/// Tapes (region, name, order) under each region.
type TapesByRegion<'a> = HashMap<RegionId, Vec<(RegionId, &'a Ident, usize)>>;

struct Forward<'a> {
    g: &'a Graph,
    plan: &'a Plan,
    float: TokenStream,
    /// The backward of each fused loop's iteration (see [`crate::fuse`]).
    fused: HashMap<RegionId, Vec<TokenStream>>,
    /// [`Forward::tapes_by_region`], made at the first loop.
    tapes_within: std::cell::OnceCell<TapesByRegion<'a>>,
}

impl<'a> Forward<'a> {
    /// Tapes and slots, declared once at the top.
    fn storage_decls(&self, out: &mut TokenStream) {
        let mut ids: Vec<&NodeId> = self.plan.tape.keys().chain(self.plan.slot.keys()).collect();
        ids.sort();
        for id in ids {
            if let Some((t, _)) = self.plan.tape.get(id) {
                put!(out => let mut #t = __tl::Vec::new(););
                if self.exact(*id) {
                    let w = &self.plan.cursor[id];
                    put!(out => let mut #w = 0usize;);
                }
            }
            if let Some(s) = self.plan.slot.get(id) {
                put!(out => let mut #s = ::core::option::Option::None;);
            }
        }
        let mut vars: Vec<&VarId> = self.plan.var_tape.keys().collect();
        vars.sort();
        for v in vars {
            let (t, _) = &self.plan.var_tape[v];
            put!(out => let mut #t = __tl::Vec::new(););
        }
        for c in &self.plan.counters {
            if let Some((t, _)) = &c.tape {
                put!(out => let mut #t = __tl::Vec::new(););
            }
        }
        // Lists of deferred scatters reversed in the forward pass.
        let mut lists: Vec<&(Ident, bool)> = self.plan.deferred.values().collect();
        lists.sort_by_key(|(l, _)| l.to_string());
        for (list, in_forward) in lists {
            if *in_forward {
                put!(out => let mut #list = __tl::Vec::new(););
            }
        }
        // The winners of loops in no other loop: seen by the pullback also
        // where the loop is in a branch.
        let mut winners: Vec<(&RegionId, &Ident)> =
            self.plan.winners.iter().map(|(r, (w, _))| (r, w)).collect();
        winners.sort();
        for (&body, win) in winners {
            if !within_loop(self.g, self.g.regions[body].parent) {
                put!(out => let mut #win = ::core::option::Option::None;);
            }
        }
    }

    /// Saves a value the backward reads, where it is computed.
    fn save(&self, id: NodeId, out: &mut TokenStream) {
        let v = &self.g.nodes[id].ident;
        if let Some((t, _)) = self.plan.tape.get(&id) {
            if self.exact(id) {
                // Sized before the loop nest: a write, and no call in the loop.
                let w = &self.plan.cursor[&id];
                put!(out => #t[#w] = #v; #w += 1;);
            } else {
                put!(out => __tl::push(&mut #t, #v););
            }
        } else if let Some(s) = self.plan.slot.get(&id) {
            put!(out => #s = ::core::option::Option::Some(#v););
        }
    }

    /// The block's statements, written onto `out`.
    fn block(&self, b: &Block, out: &mut TokenStream) {
        let deferred = self.deferred_pushes(b);
        let moved: HashSet<NodeId> = deferred.values().flatten().copied().collect();
        // Arrays kept whole leave the iteration on their tape (before the
        // `break` that ends a block that leaves; no push is deferred past a
        // statement that may break), and counters declared here their last
        // value.
        let leaves = matches!(b.stmts.last(), Some(Stmt::Break));
        for (i, s) in b.stmts.iter().enumerate() {
            if leaves && i + 1 == b.stmts.len() {
                break;
            }
            match s {
                Stmt::Node(id) if moved.contains(id) => self.node_stmt(*id, false, out),
                _ => self.stmt(s, out),
            }
            for &id in deferred.get(&i).into_iter().flatten() {
                self.save(id, out);
            }
        }
        for v in &self.plan.var_tapes_in[b.id] {
            let (t, _) = &self.plan.var_tape[v];
            let id = &self.g.vars[*v].ident;
            put!(out => __tl::push(&mut #t, #id););
        }
        if leaves {
            put!(out => break;);
        }
        for c in &self.plan.counters {
            let var = &self.g.vars[c.var];
            if let (true, Some((t, _))) = (var.region == b.id, &c.tape) {
                let id = &var.ident;
                put!(out => __tl::push(&mut #t, #id););
            }
        }
    }

    fn var_decl(&self, var: VarId) -> TokenStream {
        let v = &self.g.vars[var];
        let id = &v.ident;
        if v.written {
            quote!(mut #id)
        } else {
            quote!(#id)
        }
    }

    /// Where each taped value of the block is pushed, when not right where
    /// it is computed: at the end of the block (or just before a statement
    /// that may `break`), if the block reads it again. A value, or one
    /// computed from it, still needed after a `push` is live across
    /// `Vec::push`'s growth call, and LLVM then keeps it (and the loop that
    /// computed it) on the stack: the mlp's inner product ran 1.3 x slower.
    fn deferred_pushes(&self, b: &Block) -> HashMap<usize, Vec<NodeId>> {
        let g = self.g;
        let mut last_use: HashMap<NodeId, usize> = HashMap::default();
        let mut breaks = vec![false; b.stmts.len()];
        for (i, s) in b.stmts.iter().enumerate() {
            let mut reads = Vec::new();
            stmt_reads(g, s, &mut reads);
            for n in reads {
                last_use.insert(n, i);
            }
            breaks[i] = may_break(s);
        }
        let mut out: HashMap<usize, Vec<NodeId>> = HashMap::default();
        for (i, s) in b.stmts.iter().enumerate() {
            let Stmt::Node(id) = s else { continue };
            let id = *id;
            if !self.plan.tape.contains_key(&id)
                || matches!(g.nodes[id].op, Op::Pullback { .. } | Op::Call { .. })
                || self.plan.snapshots.contains(&id)
            {
                continue;
            }
            if last_use.get(&id).is_none_or(|&l| l <= i) {
                continue;
            }
            let last = b.stmts.len() - 1;
            let mut at = i;
            while at < last && !breaks[at + 1] {
                at += 1;
            }
            if at > i {
                out.entry(at).or_default().push(id);
            }
        }
        out
    }

    /// A node's `let`, and its save where `save` (else the block saves it).
    fn node_stmt(&self, id: NodeId, save: bool, out: &mut TokenStream) {
        let g = self.g;
        let node = &g.nodes[id];
        let ident = &node.ident;
        match &node.op {
            Op::Param | Op::LoopItem | Op::Const { inline: true, .. } => {}
            Op::Const { expr, ty, .. } => {
                let ty = ty.as_ref().map(|t| quote!(: #t));
                put!(out => let #ident #ty = #expr;);
            }
            Op::Prim { prim, args } => {
                let value = rules::forward(*prim, &node_refs(g, args));
                // Type errors in the forward point at the user's expression.
                put!(out, node.span => let #ident =);
                out.extend(value);
                put!(out, node.span => ;);
            }
            Op::ReadVar(v) => {
                let var = &g.vars[*v].ident;
                put!(out => let #ident = #var;);
            }
            Op::ReadIndex { var, index } => {
                let place = place(g, *var, index);
                put!(out => let #ident = #place;);
            }
            Op::LoopCount { counter } => put!(out => let #ident = #counter;),
            Op::Call {
                func,
                args,
                pullback,
                result,
                parts,
                ..
            } => {
                let pb = &g.nodes[*pullback].ident;
                let args = args.iter().map(|a| call_arg(g, a));
                // A value taken as one float says so, at the user's call: an
                // array bound without its type is a type error there, whose
                // message says to write the type.
                let call = quote_spanned!(node.span=> #func(#(#args),*));
                if result.is_none() && parts.is_empty() {
                    let float = &self.float;
                    put!(out, node.span =>
                        let (#ident, #pb) = __tl::float_result::<#float, _, _>(#call);
                    );
                } else {
                    put!(out, node.span => let (#ident, #pb) = #call;);
                }
            }
            // Bound with its call.
            Op::Pullback { .. } => {}
            Op::Project { call, index } => {
                let whole = &g.nodes[*call].ident;
                let index = syn::Index::from(*index);
                put!(out => let #ident = #whole.#index;);
            }
        }
        if save {
            self.save(id, out);
        }
    }

    fn stmt(&self, s: &Stmt, out: &mut TokenStream) {
        let g = self.g;
        match s {
            Stmt::Node(id) => self.node_stmt(*id, true, out),
            Stmt::Declare { var, init } => {
                let decl = self.var_decl(*var);
                match init {
                    Init::Value(n) => {
                        let v = node_ref(&g.nodes[*n]);
                        put!(out => let #decl = #v;);
                    }
                    Init::Deferred => {
                        let id = &g.vars[*var].ident;
                        put!(out => let #id;);
                    }
                    Init::Call(n) => {
                        let v = &g.nodes[*n].ident;
                        put!(out => let #decl = #v;);
                    }
                    Init::Fill { fill, .. } => put!(out => let #decl = #fill;),
                    Init::Copy { expr, .. } => put!(out => let #decl = #expr;),
                    Init::Elems { values, vec } => {
                        let vs = values.iter().map(|&n| node_ref(&g.nodes[n]));
                        if *vec {
                            put!(out => let #decl = __tl::vec![#(#vs),*];);
                        } else {
                            put!(out => let #decl = [#(#vs),*];);
                        }
                    }
                }
            }
            Stmt::Set { var, value } => {
                let id = &g.vars[*var].ident;
                let v = node_ref(&g.nodes[*value]);
                put!(out => #id = #v;);
            }
            Stmt::Store { var, index, value } => {
                let place = place(g, *var, index);
                let v = node_ref(&g.nodes[*value]);
                put!(out => #place = #v;);
            }
            Stmt::If { cond, then, els } => {
                let c = node_ref(&g.nodes[*cond]);
                let mut then_body = TokenStream::new();
                self.block(then, &mut then_body);
                let then = Group::new(Delimiter::Brace, then_body);
                let mut els_body = TokenStream::new();
                self.block(els, &mut els_body);
                if els_body.is_empty() {
                    put!(out => if #c #then);
                } else {
                    let els = Group::new(Delimiter::Brace, els_body);
                    put!(out => if #c #then else #els);
                }
            }
            Stmt::Loop(l) => self.for_loop(l, out),
            Stmt::Break => put!(out => break;),
        }
    }

    fn for_loop(&self, l: &Loop, out: &mut TokenStream) {
        if let Some(f) = self.plan.fused.get(&l.body.id) {
            return self.fused_loop(l, f, out);
        }
        let g = self.g;
        let counter = l.counter.as_ref().map(|(c, _)| c);
        let mut body = TokenStream::new();
        if let Some(c) = counter {
            put!(&mut body => #c += 1;);
        }
        if let Some(h) = &l.header {
            self.save(h.item, &mut body);
        }
        self.block(&l.body, &mut body);
        // A loop that keeps only its winner notes the item each time the
        // new value wins, by the test its rule routes with.
        let win = self.plan.winners.get(&l.body.id);
        let router = win.map(|(_, w)| &g.nodes[w.router].op);
        if let (Some((win, w)), Some(h), Some(Op::Prim { prim, args })) = (win, &l.header, router) {
            let (a, b) = (node_ref(&g.nodes[args[0]]), node_ref(&g.nodes[args[1]]));
            let first = match prim {
                Prim::Max => quote!(__tl::max_first(#a, #b)),
                _ => quote!(__tl::min_first(#a, #b)),
            };
            let won = match w.new_is_first(g) {
                true => first,
                false => quote!(!#first),
            };
            let item = &g.nodes[h.item].ident;
            put!(&mut body => if #won { #win = ::core::option::Option::Some(#item); });
        }
        let body = Group::new(Delimiter::Brace, body);
        // Tapes of this loop nest are sized once, before the outermost loop.
        let outermost = !within_loop(g, g.regions[l.body.id].parent);
        if outermost {
            self.reserve(l.body.id, out);
        }
        if let Some(c) = counter {
            put!(out => let mut #c = 0usize;);
        }
        // In a fused loop's body, fresh for each point; in no loop, declared
        // at the top (see `storage_decls`).
        if let (Some((win, _)), true) = (win, within_loop(g, g.regions[l.body.id].parent)) {
            put!(out => let mut #win = ::core::option::Option::None;);
        }
        match &l.header {
            Some(h) => {
                let item = &g.nodes[h.item].ident;
                let iter = node_ref(&g.nodes[h.iter]);
                put!(out => for #item in #iter #body);
            }
            None => put!(out => loop #body),
        }
    }

    /// A fused loop (see [`crate::fuse`]): before it, the sums of unit
    /// gradients and the scratch arrays' adjoints; in each iteration, the
    /// forward (its nested loops' tapes emptied first), then its backward
    /// with the accumulator's adjoint one.
    fn fused_loop(&self, l: &Loop, f: &FusedPlan, out: &mut TokenStream) {
        let (g, plan) = (self.g, self.plan);
        let float = &self.float;
        let Some(h) = &l.header else {
            return;
        };
        let zero = quote!(__tl::zero::<#float>());
        for (v, u) in &f.var_units {
            let init = match &g.vars[*v].shape {
                Shape::Scalar => &zero,
                Shape::Array { zeros, .. } => zeros,
            };
            put!(out => let mut #u = #init;);
        }
        for (_, u) in &f.node_units {
            put!(out => let mut #u = #zero;);
        }
        for &v in &f.scratch {
            if let Shape::Array { zeros, .. } = &g.vars[v].shape {
                let d = &plan.var_adjoint[v];
                put!(out => let mut #d = #zeros;);
            }
        }
        self.reserve(l.body.id, out);
        let mut body = TokenStream::new();
        for id in &f.tapes {
            let (t, _) = &plan.tape[id];
            if self.exact(*id) {
                let w = &plan.cursor[id];
                put!(&mut body => #w = 0;);
            } else {
                put!(&mut body => #t.clear(););
            }
        }
        for (t, _) in &f.other_tapes {
            put!(&mut body => #t.clear(););
        }
        self.block(&l.body, &mut body);
        for id in &f.tapes {
            let (t, c) = &plan.tape[id];
            put!(&mut body => let mut #c = #t.len(););
        }
        for (t, c) in &f.other_tapes {
            put!(&mut body => let mut #c = #t.len(););
        }
        let seed = &f.seed;
        put!(&mut body => let mut #seed = __tl::one::<#float>(););
        for b in self.fused.get(&l.body.id).into_iter().flatten() {
            body.extend(b.clone());
        }
        put!(&mut body => __tl::spent(#seed););
        let body = Group::new(Delimiter::Brace, body);
        let item = &g.nodes[h.item].ident;
        let iter = node_ref(&g.nodes[h.iter]);
        put!(out => for #item in #iter #body);
    }

    /// `tape.reserve(n)` for the tapes of values computed inside the loop
    /// whose body is `outer`, with `n` the product of the trip counts known
    /// before it.
    fn reserve(&self, outer: RegionId, out: &mut TokenStream) {
        let tapes = self.tapes_within.get_or_init(|| self.tapes_by_region());
        let Some(tapes) = tapes.get(&outer) else {
            return;
        };
        let g = self.g;
        for &(r, t, order) in tapes {
            let Some(n) = self.capacity(r, outer) else {
                continue;
            };
            if order < g.nodes.len() && self.exact(order) {
                let float = &self.float;
                put!(out => #t.resize(#n, __tl::zero::<#float>()););
            } else {
                put!(out => #t.reserve(#n););
            }
        }
    }

    /// Every tape under each region (its own and its nested regions'), in
    /// one order: once per expansion, not once per loop (sorting all tapes
    /// for each of a long fn's loops was quadratic).
    fn tapes_by_region(&self) -> TapesByRegion<'a> {
        let g = self.g;
        let mut tapes: Vec<(RegionId, &Ident, usize)> = Vec::new();
        for (id, (t, _)) in &self.plan.tape {
            tapes.push((g.nodes[*id].region, t, *id));
        }
        // Whole-array tapes: one entry per iteration of their loop nest.
        for (v, (t, _)) in &self.plan.var_tape {
            tapes.push((g.vars[*v].region, t, g.nodes.len() + *v));
        }
        // Counters' last values: one per iteration of the block declaring
        // them.
        for (k, c) in self.plan.counters.iter().enumerate() {
            if let Some((t, _)) = &c.tape {
                tapes.push((g.vars[c.var].region, t, g.nodes.len() + g.vars.len() + k));
            }
        }
        tapes.sort_by_key(|(_, _, order)| *order);
        let mut by_region: TapesByRegion = HashMap::default();
        for tape in tapes {
            let mut r = tape.0;
            loop {
                by_region.entry(r).or_default().push(tape);
                if r == 0 {
                    break;
                }
                r = g.regions[r].parent;
            }
        }
        by_region
    }

    /// A tape of floats whose length is known before its loop nest starts:
    /// every region around the value is the body of a `for` loop without
    /// `break` whose iterator comes from outside the nest (no branch, no
    /// `while`). It is sized once and written by position: a push inside the
    /// loop is a call LLVM must keep values live across, a write is not.
    fn exact(&self, id: NodeId) -> bool {
        let g = self.g;
        if !self.plan.cursor.contains_key(&id)
            || matches!(g.nodes[id].op, Op::Pullback { .. } | Op::Call { .. })
        {
            return false;
        }
        let mut outer = g.nodes[id].region;
        let mut r = outer;
        while r != 0 {
            if !self.plan.counted.contains(&r) {
                return false;
            }
            outer = r;
            r = g.regions[r].parent;
        }
        let mut r = g.nodes[id].region;
        while r != 0 {
            match self.plan.loop_of.get(&r) {
                Some((hint, iter_region))
                    if !hint.is_empty() && !within(g, *iter_region, outer) => {}
                _ => return false,
            }
            r = g.regions[r].parent;
        }
        outer != 0
    }

    /// The product of the trip counts of the loops from `region` out to
    /// `outer` that are known before `outer` starts.
    fn capacity(&self, region: RegionId, outer: RegionId) -> Option<TokenStream> {
        let g = self.g;
        let mut factors = Vec::new();
        let mut cur = region;
        loop {
            if let Some((hint, iter_region)) = self.plan.loop_of.get(&cur) {
                // Known before the loop nest: its inputs come from outside it.
                // A fused loop's tapes hold one iteration.
                if !hint.is_empty()
                    && !within(g, *iter_region, outer)
                    && !self.plan.fused.contains_key(&cur)
                {
                    factors.push(hint.clone());
                }
            }
            if cur == outer || cur == 0 {
                break;
            }
            cur = g.regions[cur].parent;
        }
        let (first, rest) = factors.split_first()?;
        Some(rest.iter().fold(first.clone(), |acc, f| quote!(#acc * #f)))
    }
}

fn within_loop(g: &Graph, mut r: RegionId) -> bool {
    while r != 0 {
        if g.regions[r].is_loop {
            return true;
        }
        r = g.regions[r].parent;
    }
    false
}

/// An argument as the callee receives it in the forward pass: `x`, `&w`,
/// `&w[i]`, or a copy of an array passed by value.
fn call_arg(g: &Graph, a: &CallArg) -> TokenStream {
    let (p, by_ref) = match a {
        CallArg::Value(n) => return node_tokens(&g.nodes[*n]),
        CallArg::Array {
            var,
            prefix,
            by_ref,
        }
        | CallArg::Snapshot {
            var,
            prefix,
            by_ref,
            ..
        } => (place(g, *var, prefix), *by_ref),
    };
    if by_ref {
        quote!(&#p)
    } else {
        quote!(::core::clone::Clone::clone(&#p))
    }
}

/// The same argument given again to the callee's pullback: an array that
/// may have changed since is read from its copy (a reference, where the
/// copy was kept on a tape or in a slot).
fn again_arg(g: &Graph, a: &Analysis, arg: &CallArg) -> TokenStream {
    match arg {
        CallArg::Snapshot { node, by_ref, .. } => {
            let id = &g.nodes[*node].ident;
            let r = match a.storage[*node] {
                Storage::Tape | Storage::Slot => id.to_token_stream(),
                _ => quote!(&#id),
            };
            if *by_ref {
                r
            } else {
                quote!(::core::clone::Clone::clone(#r))
            }
        }
        other => call_arg(g, other),
    }
}

/// Whether a node is the copy of an array a call was given.
/// Every node a statement reads, nested statements and the inputs of
/// inline constants included.
fn stmt_reads(g: &Graph, s: &Stmt, out: &mut Vec<NodeId>) {
    fn node(g: &Graph, n: NodeId, out: &mut Vec<NodeId>) {
        out.push(n);
        if let Op::Const {
            inline: true, deps, ..
        } = &g.nodes[n].op
        {
            for &d in deps {
                node(g, d, out);
            }
        }
    }
    let block = |b: &Block, out: &mut Vec<NodeId>| {
        for s in &b.stmts {
            stmt_reads(g, s, out);
        }
    };
    match s {
        Stmt::Node(id) => {
            g.nodes[*id].op.each_input(|n| node(g, n, out));
        }
        Stmt::Declare { init, .. } => match init {
            Init::Value(n) | Init::Call(n) => node(g, *n, out),
            Init::Deferred | Init::Copy { .. } => {}
            Init::Fill { value, lens, .. } => {
                node(g, *value, out);
                lens.iter().for_each(|&n| node(g, n, out));
            }
            Init::Elems { values, .. } => values.iter().for_each(|&n| node(g, n, out)),
        },
        Stmt::Set { value, .. } => node(g, *value, out),
        Stmt::Store { index, value, .. } => {
            index.iter().for_each(|&n| node(g, n, out));
            node(g, *value, out);
        }
        Stmt::If { cond, then, els } => {
            node(g, *cond, out);
            block(then, out);
            block(els, out);
        }
        Stmt::Loop(l) => {
            if let Some(h) = &l.header {
                node(g, h.iter, out);
            }
            block(&l.body, out);
        }
        Stmt::Break => {}
    }
}

/// Whether a statement may leave the loop around it (a `break` not inside
/// a loop of its own).
fn may_break(s: &Stmt) -> bool {
    match s {
        Stmt::Break => true,
        Stmt::If { then, els, .. } => then.stmts.iter().chain(&els.stmts).any(may_break),
        _ => false,
    }
}

/// `a[i][j]`.
fn place(g: &Graph, var: VarId, index: &[NodeId]) -> TokenStream {
    let base = &g.vars[var].ident;
    let index = index.iter().map(|&i| node_ref(&g.nodes[i]));
    quote!(#base #([#index])*)
}

fn adjoint_place(plan: &Plan, g: &Graph, var: VarId, index: &[NodeId]) -> TokenStream {
    let base = &plan.var_adjoint[var];
    let index = index.iter().map(|&i| node_ref(&g.nodes[i]));
    quote!(#base #([#index])*)
}

/// What the pullback keeps, for the generated fn's docs: the lecture's
/// "forward stores what backward needs", made visible.
fn kept_doc(g: &Graph, a: &Analysis) -> String {
    use std::fmt::Write;
    let mut inputs = Vec::new();
    let mut named = Vec::new();
    let mut temps = 0;
    let mut name = String::new();
    for (node, _) in g
        .nodes
        .iter()
        .zip(&a.kept)
        .filter(|(n, k)| **k && n.region == 0)
    {
        if matches!(node.op, Op::Const { inline: true, .. }) {
            continue;
        }
        name.clear();
        let _ = write!(name, "{}", node.ident);
        match &node.op {
            Op::Param => inputs.push(format!("`{name}`")),
            _ => match name.strip_prefix("__tl_v_") {
                Some(user) => named.push(format!("`{user}`")),
                None => temps += 1,
            },
        }
    }
    let stored = (0..g.nodes.len())
        .filter(|&i| a.kept[i] && matches!(a.storage[i], Storage::Tape))
        .count();
    if inputs.is_empty() && named.is_empty() && temps == 0 && stored == 0 {
        return "The pullback keeps no values: its gradient does not depend on the inputs.".into();
    }
    let mut parts = Vec::new();
    if !inputs.is_empty() {
        parts.push(format!("the inputs {}", inputs.join(", ")));
    }
    if !named.is_empty() {
        parts.push(format!("the intermediates {}", named.join(", ")));
    }
    if temps > 0 {
        parts.push(format!(
            "{temps} unnamed intermediate value{}",
            if temps == 1 { "" } else { "s" }
        ));
    }
    if stored > 0 {
        parts.push(format!(
            "{stored} value{} per loop iteration",
            if stored == 1 { "" } else { "s" }
        ));
    }
    format!("The pullback keeps {}.", parts.join(" and "))
}

/// Which of `names` occur in `streams` as identifiers: one walk, no
/// allocation per token, stopping once all are found.
fn mentioned(streams: &[TokenStream], names: &[&Ident]) -> Vec<bool> {
    fn walk(tokens: &TokenStream, names: &[String], found: &mut [bool], left: &mut usize) {
        for t in tokens.clone() {
            if *left == 0 {
                return;
            }
            match t {
                proc_macro2::TokenTree::Ident(i) => {
                    for (k, n) in names.iter().enumerate() {
                        if !found[k] && i == n {
                            found[k] = true;
                            *left -= 1;
                        }
                    }
                }
                proc_macro2::TokenTree::Group(g) => walk(&g.stream(), names, found, left),
                _ => {}
            }
        }
    }
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut found = vec![false; names.len()];
    let mut left = names.len();
    for s in streams {
        walk(s, &names, &mut found, &mut left);
    }
    found
}

/// The backward pass, emitted once for both forwards.
struct BackwardPass {
    /// The closure's upstream-gradient pattern.
    dout_pat: TokenStream,
    /// Its statements.
    body: TokenStream,
    /// The gradients of `NAME_forward` (the `wrt` parameters').
    grads: TokenStream,
    /// The protocol's: one per parameter, `()` for constants.
    positional: TokenStream,
    /// Per parameter, whether `NAME_forward` returns its gradient.
    needed: Vec<bool>,
    /// Whether the body tests the mask of needed gradients.
    masked: bool,
}

impl BackwardPass {
    /// The closure's body, ending in `grads`.
    fn with(&self, grads: &TokenStream) -> TokenStream {
        let body = &self.body;
        // Every gradient this closure returns is needed (the protocol's
        // caller passes its own mask instead).
        if !self.masked {
            return quote!({ #body #grads });
        }
        let needed = Ident::new("__tl_needed", Span::mixed_site());
        let all = &self.needed;
        quote!({ let #needed: &[bool] = &[#(#all),*]; #body #grads })
    }

    /// The protocol's closure body (ending in the positional gradients),
    /// moving the statements: their last use.
    fn into_positional(self) -> Group {
        let mut body = self.body;
        body.extend(self.positional);
        Group::new(Delimiter::Brace, body)
    }
}

/// The backward pass: the closure's parameter pattern, body, and both
/// gradient tuples.
fn backward(f: &Function, g: &Graph, a: &Analysis, plan: &Plan, names: &mut Names) -> BackwardPass {
    let douts: Vec<Ident> = match f.output {
        Output::Scalar | Output::Array => vec![names::dout(None)],
        Output::Tuple(n) => (0..n).map(|i| names::dout(Some(i))).collect(),
    };
    let dout_pat = match f.output {
        Output::Scalar | Output::Array => douts[0].to_token_stream(),
        Output::Tuple(_) => quote!((#(#douts),*)),
    };
    let mut b = Backward::new(f, g, a, plan, names, douts);
    // A fused loop's tapes are read in the forward pass.
    let in_fused: HashSet<NodeId> = plan.fused.values().flat_map(|f| f.tapes.clone()).collect();
    let mut cursors: Vec<(&NodeId, &(Ident, Ident))> = plan
        .tape
        .iter()
        .filter(|(id, _)| !in_fused.contains(id))
        .collect();
    cursors.sort_by_key(|(id, _)| **id);
    let fused_others: HashSet<&Ident> = plan
        .fused
        .values()
        .flat_map(|f| f.other_tapes.iter().map(|(t, _)| t))
        .collect();
    let mut var_cursors: Vec<(&VarId, &(Ident, Ident))> = plan
        .var_tape
        .iter()
        .filter(|(_, (t, _))| !fused_others.contains(t))
        .collect();
    var_cursors.sort_by_key(|(id, _)| **id);
    let counter_cursors = plan
        .counters
        .iter()
        .filter_map(|c| c.tape.as_ref().map(|t| (&c.var, t)))
        .filter(|(_, (t, _))| !fused_others.contains(t));
    let cursors: Vec<TokenStream> = cursors
        .into_iter()
        .chain(var_cursors)
        .chain(counter_cursors)
        .map(|(_, (t, c))| quote!(let mut #c = #t.len();))
        .collect();
    let body = b.block(&g.body);
    let float = &b.float;
    let needed = Ident::new("__tl_needed", Span::mixed_site());
    let fn_name = f.item.sig.ident.to_string();
    // The protocol's gradient of a float that `wrt(..)` leaves out, where
    // the fn could not be differentiated with respect to every float (see
    // lib.rs): no caller may need it.
    let left_out = |k: usize, p: &crate::parse::Param| {
        let zeros = match &p.float {
            Some(Holds::Array { zeros, .. }) => zeros.clone(),
            _ => quote!(__tl::zero::<#float>()),
        };
        let message = format!(
            "`{fn_name}` is not differentiated with respect to `{}`: it is outside `wrt(..)`, and \
             the fn cannot be differentiated with respect to it (its own errors say why when it is \
             named in `wrt(..)`); pass a constant there",
            p.ident
        );
        quote!({
            ::core::assert!(!#needed[#k], #message);
            #zeros
        })
    };
    let grads: Vec<TokenStream> = f
        .params
        .iter()
        .map(|p| {
            if !p.diff {
                return quote!(());
            }
            let scope = g
                .nodes
                .iter()
                .position(|n| matches!(n.op, Op::Param) && n.ident == *p.ident);
            let var = g
                .vars
                .iter()
                .position(|v| v.param.is_some() && v.ident == *p.ident);
            match (scope, var) {
                (Some(id), _) => match &b.adjoint[id] {
                    Some(adj) => adj.to_token_stream(),
                    None => quote!(__tl::zero::<#float>()),
                },
                (None, Some(v)) => plan.var_adjoint[v].to_token_stream(),
                (None, None) => quote!(__tl::zero::<#float>()),
            }
        })
        .collect();
    let positional =
        f.params
            .iter()
            .zip(&grads)
            .enumerate()
            .map(|(k, (p, g))| match (p.diff, &p.float) {
                (false, Some(_)) => left_out(k, p),
                _ => g.clone(),
            });
    let positional = quote!((#(#positional,)*));
    let wrt: Vec<&TokenStream> = f
        .params
        .iter()
        .zip(&grads)
        .filter(|(p, _)| p.diff)
        .map(|(_, g)| g)
        .collect();
    let grads = match wrt.as_slice() {
        [one] => (*one).clone(),
        // No gradient at all: the block's value is `()` already.
        [] => TokenStream::new(),
        many => quote!((#(#many),*)),
    };
    BackwardPass {
        dout_pat,
        body: cursors.into_iter().chain(body).collect(),
        grads,
        positional,
        needed: f.params.iter().map(|p| p.diff).collect(),
        masked: b.masked,
    }
}

struct Backward<'g, 'n> {
    g: &'g Graph,
    a: &'g Analysis,
    plan: &'g Plan,
    names: &'n mut Names,
    float: TokenStream,
    generic: bool,
    /// The adjoint of each node once it exists: the name of its local, or
    /// of the upstream gradient it equals.
    adjoint: Vec<Option<Ident>>,
    seen: Vec<usize>,
    douts: Vec<Ident>,
    /// Element reads whose adjoint goes to a carried local (see
    /// [`crate::analyse::Carry`]).
    carried: HashMap<NodeId, Ident>,
    /// Element reads of an update in place (`a[i] = a[i] + e`) whose adjoint
    /// the element keeps: see [`Backward::updates`].
    kept_in_place: HashSet<NodeId>,
    /// Whether an accumulation tests the mask of needed gradients.
    masked: bool,
    /// Emitting a fused loop's iteration in the forward pass, where there
    /// is no mask: every gradient is summed.
    fusing: bool,
    /// Per variable: whether the backward has written its adjoint yet
    /// (since its declaration).
    touched: Vec<bool>,
    /// Per variable: the block whose start declares its adjoint as zeros,
    /// while that declaration may still be replaced by a moved gradient.
    zeroed_in: Vec<Option<RegionId>>,
    /// Per variable: its adjoint was declared where a call's gradient
    /// moved in (see [`Backward::call`]), so its zeros are not declared.
    moved: Vec<bool>,
    /// The block whose own statement (not one nested in a branch or loop)
    /// is being reversed.
    top: Option<RegionId>,
    /// Rows bound before the loops being reversed (see [`Backward::rows`]),
    /// by array and first index.
    rows: HashMap<(VarId, NodeId), Row>,
    /// Arrays of one dimension a loop being reversed reads only at its
    /// item, bound as slices of the loop's length (see
    /// [`Backward::slice_candidates`]).
    slices: HashMap<VarId, Slice>,
    /// Taped values read in the forward's order (`t[c]; c += 1`): the
    /// reversal of the loop being written runs forward
    /// ([`Backward::taped_order_free`]).
    forward_reads: HashSet<NodeId>,
    /// Reads of constant data at a loop's item (`x[i * d + l]`, `x` a
    /// parameter outside `wrt(..)`), recomputed by the loop's reversal
    /// from a slice bound before it: the read's slice, by node.
    data_reads: HashMap<NodeId, usize>,
    data_slices: Vec<DataSlice>,
    /// While an outer loop whose inner loop's scatter is deferred is being
    /// reversed (see [`crate::scatters`]): the inner loop's body, the list
    /// of `(item, adjoint)` pairs, and the outer item.
    deferring: Option<(RegionId, Ident, NodeId)>,
    /// The deferred inner loop's reversal, run row by row after the outer
    /// loop's.
    deferred_nest: Option<TokenStream>,
}

/// A slice of constant data (a parameter the fn does not differentiate nor
/// write) that a loop being reversed reads at `[offset + item]` in every
/// iteration: bound as `&x[offset..offset + end]` (see [`Slice`]).
struct DataSlice {
    item: NodeId,
    base: TokenStream,
    offset: Option<TokenStream>,
    start: Option<Ident>,
    name: Ident,
    used: bool,
}

/// An index's part fixed while a loop runs (see [`Slice`]).
type Offset = TokenStream;

/// An array read at a loop's item only, bound before the loop's reversal as
/// `&x[..end]` and `&mut d_x[..end]`: LLVM then knows every index is in
/// bounds and drops the checks (and may vectorize the adds).
struct Slice {
    item: NodeId,
    /// Read at `[offset + item]`, `offset` fixed while the loop runs (a
    /// flat index `x[i * d + l]`): bound as `&x[offset..offset + end]`.
    offset: Option<TokenStream>,
    /// The range starts after 0 (`a + 1..d`): bound from the start, as
    /// `&x[start..end]` read at `[item - start]`, which LLVM knows is in
    /// bounds on a reversed range (at `[item]` of `&x[..end]` it keeps
    /// the check).
    start: Option<Ident>,
    d: Ident,
    value: Ident,
    value_ok: bool,
    d_used: bool,
    value_used: bool,
}

/// A row of an array (`w[i]`) fixed while a loop runs: the loop's reversal
/// indexes locals bound to it, `d_row[j]` and `row[j]`, instead of
/// `__tl_d_w[i][j]` and `w[i][j]`, whose row LLVM reloads (and checks)
/// at every access, as a store to any float might have changed it.
struct Row {
    d: Ident,
    value: Ident,
    /// The forward value's row may be bound too (the array is never written).
    value_ok: bool,
    d_used: bool,
    value_used: bool,
    /// Read only at the loop's item, by every iteration: bound as a slice
    /// of the loop's length (see [`Slice`]).
    sliced: bool,
}

/// The backward of each fused loop's iteration (see [`crate::fuse`]),
/// emitted before the forward that holds it: adjoints of what comes from
/// before the loop go to its sums of unit gradients, the accumulator's is
/// the seed, and the body's own values are found bound.
fn fused_backwards(
    f: &Function,
    g: &Graph,
    a: &Analysis,
    plan: &Plan,
    names: &mut Names,
) -> HashMap<RegionId, Vec<TokenStream>> {
    let mut out = HashMap::default();
    let mut bodies: Vec<&RegionId> = plan.fused.keys().collect();
    bodies.sort();
    if bodies.is_empty() {
        return out;
    }
    // One copy of the plan, its adjoints renamed for each loop in turn.
    let mut local = plan.clone();
    for &body in bodies {
        let fp = &plan.fused[&body];
        let Some(l) = find_loop(&g.body, body) else {
            continue;
        };
        for (v, u) in &fp.var_units {
            local.var_adjoint[*v] = u.clone();
        }
        local.var_adjoint[fp.acc] = fp.seed.clone();
        let mut b = Backward::new(f, g, a, &local, names, Vec::new());
        b.fusing = true;
        for (n, u) in &fp.node_units {
            b.adjoint[*n] = Some(u.clone());
        }
        out.insert(body, b.block(&l.body));
        for (v, _) in &fp.var_units {
            local.var_adjoint[*v] = plan.var_adjoint[*v].clone();
        }
        local.var_adjoint[fp.acc] = plan.var_adjoint[fp.acc].clone();
    }
    out
}

/// An element of a slice a loop's reversal bound (see [`Slice`]): at the
/// item, less the range's start where the slice begins there.
fn slice_at(name: &Ident, item: NodeId, start: Option<&Ident>, g: &Graph) -> TokenStream {
    let i = node_ref(&g.nodes[item]);
    match start {
        Some(s) => quote!(#name[#i - #s]),
        None => quote!(#name[#i]),
    }
}

/// An index node's expression and inputs, where it is computed from nodes
/// only (no variable read as it stands: see [`fixed_names`]).
fn index_expr(g: &Graph, index: NodeId) -> Option<(&TokenStream, &[NodeId])> {
    match &g.nodes[index].op {
        Op::Const {
            expr,
            deps,
            var_deps,
            ..
        } if var_deps.is_empty() => Some((expr, deps)),
        _ => None,
    }
}

/// The names of an index's inputs other than the loop's item, where all
/// are bound before the loop (SSA nodes, which no statement changes; a
/// `.len()` or an index could see a vector or array the loop changes).
fn fixed_names(g: &Graph, deps: &[NodeId], item: NodeId) -> Option<Vec<String>> {
    let body = g.nodes[item].region;
    let outside = deps.iter().filter(|&&d| d != item);
    if outside.clone().any(|&d| within(g, g.nodes[d].region, body)) {
        return None;
    }
    Some(outside.map(|&d| g.nodes[d].ident.to_string()).collect())
}

/// Index arithmetic (`a * b`, `a - b`, `(..)`, literals) on the names
/// `names` only: values bound before a loop, which no statement changes
/// (SSA nodes; a `.len()` or an index could see a vector or array the loop
/// changes).
fn simple_index(tokens: &[TokenTree], names: &[String]) -> bool {
    tokens.iter().all(|t| match t {
        TokenTree::Punct(p) => matches!(p.as_char(), '*' | '/' | '%' | '+' | '-'),
        TokenTree::Ident(i) => names.iter().any(|n| *i == n.as_str()),
        TokenTree::Group(gr) => {
            matches!(gr.delimiter(), Delimiter::Parenthesis | Delimiter::None)
                && simple_index(&gr.stream().into_iter().collect::<Vec<_>>(), names)
        }
        TokenTree::Literal(_) => true,
    })
}

/// The range of a slice a loop's reversal binds (see [`Slice`]):
/// `offset + start..offset + end`, without the parts it lacks; an offset is
/// bound first, on `sliced`.
fn slice_range(
    names: &mut Names,
    offset: Option<&TokenStream>,
    start: Option<&Ident>,
    end: &Ident,
    sliced: &mut Vec<TokenStream>,
) -> TokenStream {
    match offset {
        Some(off) => {
            let o = names.local("offset");
            sliced.push(quote!(let #o = #off;));
            match start {
                Some(s) => quote!(#o + #s..#o + #end),
                None => quote!(#o..#o + #end),
            }
        }
        None => quote!(#start..#end),
    }
}

/// A `for` over `start..end` (the iterator node's tokens): `Some(None)`
/// where it starts at 0, `Some(Some(start))` otherwise; `None` for any
/// other iterator.
fn half_open(g: &Graph, iter: NodeId) -> Option<Option<Box<syn::Expr>>> {
    match syn::parse2::<syn::Expr>(node_tokens(&g.nodes[iter])) {
        Ok(syn::Expr::Range(syn::ExprRange {
            limits: syn::RangeLimits::HalfOpen(_),
            start,
            end: Some(_),
            ..
        })) => Some(start.filter(|s| {
            !matches!(&**s, syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(i), .. })
                if i.base10_digits() == "0")
        })),
        _ => None,
    }
}

/// The loop statement whose body is `body`, among a block's own.
fn find_loop(b: &Block, body: RegionId) -> Option<&Loop> {
    b.stmts.iter().find_map(|s| match s {
        Stmt::Loop(l) if l.body.id == body => Some(l),
        _ => None,
    })
}

impl<'g, 'n> Backward<'g, 'n> {
    fn new(
        f: &Function,
        g: &'g Graph,
        a: &'g Analysis,
        plan: &'g Plan,
        names: &'n mut Names,
        douts: Vec<Ident>,
    ) -> Self {
        Backward {
            g,
            a,
            plan,
            names,
            float: f.float.to_token_stream(),
            generic: f.generic,
            adjoint: vec![None; g.nodes.len()],
            seen: vec![0; g.nodes.len()],
            douts,
            carried: HashMap::default(),
            kept_in_place: HashSet::default(),
            masked: false,
            fusing: false,
            touched: vec![false; g.vars.len()],
            zeroed_in: vec![None; g.vars.len()],
            moved: vec![false; g.vars.len()],
            top: None,
            rows: HashMap::default(),
            slices: HashMap::default(),
            forward_reads: HashSet::default(),
            data_reads: HashMap::default(),
            data_slices: Vec::new(),
            deferring: None,
            deferred_nest: None,
        }
    }
}

impl Backward<'_, '_> {
    /// A variable's adjoint, noting that the backward uses it from here on.
    fn var_d(&mut self, v: VarId) -> Ident {
        self.touched[v] = true;
        self.plan.var_adjoint[v].clone()
    }

    /// An element of a variable's adjoint (see [`Backward::var_d`]), through
    /// its row where a loop being reversed bound it.
    fn d_place(&mut self, v: VarId, index: &[NodeId]) -> TokenStream {
        self.touched[v] = true;
        if let (Some(slice), [only]) = (self.slices.get(&v), index) {
            if self.slice_reads(slice, *only) {
                let out = slice_at(&slice.d, slice.item, slice.start.as_ref(), self.g);
                if let Some(slice) = self.slices.get_mut(&v) {
                    slice.d_used = true;
                }
                return out;
            }
        }
        if let [first, rest @ ..] = index {
            if let (Some(row), false) = (self.rows.get_mut(&(v, *first)), rest.is_empty()) {
                row.d_used = true;
                let (d, g) = (&row.d, self.g);
                let rest = rest.iter().map(|&i| node_ref(&g.nodes[i]));
                return quote!(#d #([#rest])*);
            }
        }
        adjoint_place(self.plan, self.g, v, index)
    }

    /// An element of a forward array, read again by the backward.
    fn value_place(&mut self, v: VarId, index: &[NodeId]) -> TokenStream {
        if let (Some(slice), [only]) = (self.slices.get(&v), index) {
            if slice.value_ok && self.slice_reads(slice, *only) {
                let out = slice_at(&slice.value, slice.item, slice.start.as_ref(), self.g);
                if let Some(slice) = self.slices.get_mut(&v) {
                    slice.value_used = true;
                }
                return out;
            }
        }
        if let [first, rest @ ..] = index {
            if let Some(row) = self.rows.get_mut(&(v, *first)) {
                if row.value_ok && !rest.is_empty() {
                    row.value_used = true;
                    let (r, g) = (&row.value, self.g);
                    let rest = rest.iter().map(|&i| node_ref(&g.nodes[i]));
                    return quote!(#r #([#rest])*);
                }
            }
        }
        place(self.g, v, index)
    }

    /// Whether an index is one a slice stands for: the loop's item, or
    /// `offset + item` with the slice's offset.
    fn slice_reads(&self, slice: &Slice, index: NodeId) -> bool {
        match &slice.offset {
            None => slice.item == index,
            Some(off) => self
                .offset_of(index, slice.item)
                .is_some_and(|o| o.to_string() == off.to_string()),
        }
    }

    /// `offset` where an index is `offset + item`, `offset` computed from
    /// values bound before the loop (`i * d + l` with `l` the item): its
    /// tokens.
    fn offset_of(&self, index: NodeId, item: NodeId) -> Option<TokenStream> {
        let (expr, deps) = index_expr(self.g, index)?;
        self.offset_in(expr.clone(), deps, item)
    }

    /// `offset` where the tokens of an index (computed from `deps`) are
    /// `offset + item`: see [`Backward::offset_of`].
    fn offset_in(&self, index: TokenStream, deps: &[NodeId], item: NodeId) -> Option<TokenStream> {
        use proc_macro2::{Spacing, TokenTree};
        let g = self.g;
        let outside = fixed_names(g, deps, item)?;
        let tokens: Vec<TokenTree> = index.into_iter().collect();
        let plus = tokens.iter().rposition(
            |t| matches!(t, TokenTree::Punct(p) if p.as_char() == '+' && p.spacing() == Spacing::Alone),
        )?;
        let item_tokens = node_tokens(&g.nodes[item]).to_string();
        let right: TokenStream = tokens[plus + 1..].iter().cloned().collect();
        if right.to_string() != item_tokens || plus == 0 {
            return None;
        }
        // The left side binds as tight as `+` or tighter (`a * b`, `a - b`,
        // `(..)`) and names only values bound before the loop.
        let simple = simple_index(&tokens[..plus], &outside);
        simple.then(|| tokens[..plus].iter().cloned().collect())
    }

    /// Reads of constant data a loop's reversal may recompute from slices
    /// bound before it (see [`DataSlice`]): statements of the loop's own
    /// body (every iteration made them in the forward) reading `x[item]` or
    /// `x[offset + item]` of a one-dimensional parameter the fn neither
    /// differentiates nor writes. Registered in `data_reads`.
    fn data_candidates(&mut self, l: &Loop, start: Option<&Ident>) {
        use proc_macro2::{Delimiter, TokenTree};
        let g = self.g;
        let Some(h) = &l.header else { return };
        let item_tokens = node_tokens(&g.nodes[h.item]).to_string();
        for s in &l.body.stmts {
            let Stmt::Node(id) = s else { continue };
            let Op::Const {
                expr,
                deps,
                var_deps,
                inline: false,
                ..
            } = &g.nodes[*id].op
            else {
                continue;
            };
            let ([v], Storage::Recompute) = (var_deps.as_slice(), self.a.storage[*id]) else {
                continue;
            };
            let var = &g.vars[*v];
            if var.param.is_none()
                || var.active
                || var.written
                || !matches!(var.shape, Shape::Array { depth: 1, .. })
            {
                continue;
            }
            let tokens: Vec<TokenTree> = expr.clone().into_iter().collect();
            let [TokenTree::Ident(base), TokenTree::Group(index)] = tokens.as_slice() else {
                continue;
            };
            if *base != var.ident || index.delimiter() != Delimiter::Bracket {
                continue;
            }
            let offset = if index.stream().to_string() == item_tokens {
                None
            } else {
                match self.offset_in(index.stream(), deps, h.item) {
                    Some(off) => Some(off),
                    None => continue,
                }
            };
            let key = offset.as_ref().map(|o| o.to_string());
            let base_name = base.to_string();
            let found = self.data_slices.iter().position(|d| {
                d.item == h.item
                    && d.base.to_string() == base_name
                    && d.offset.as_ref().map(|o| o.to_string()) == key
            });
            let at = match found {
                Some(at) => at,
                None => {
                    let name = self.names.fresh("data_slice", Some(&base_name));
                    self.data_slices.push(DataSlice {
                        item: h.item,
                        base: base.to_token_stream(),
                        offset,
                        start: start.cloned(),
                        name,
                        used: false,
                    });
                    self.data_slices.len() - 1
                }
            };
            self.data_reads.insert(*id, at);
        }
    }

    /// The rows a loop's reversal may bind before it: arrays that the loop
    /// (with everything nested in it) indexes only as `a[i][..]` with one
    /// `i` computed outside it, and neither declares, assigns whole, copies,
    /// passes to a call, nor carries. Rows an enclosing loop bound stay.
    /// The arrays a loop's reversal may bind as slices of the loop's length
    /// (see [`Slice`]), with the row they are read through, if any: every
    /// access inside the loop is a statement of its own body (so every
    /// iteration makes it) at `[item]` or `[i, item]` with one `i` from
    /// outside; the loop replays its range and never breaks.
    fn slice_candidates(&self, l: &Loop) -> Vec<(VarId, Option<NodeId>, Option<Offset>)> {
        let g = self.g;
        let Some(h) = &l.header else {
            return vec![];
        };
        if l.counter.is_some() {
            return vec![];
        }
        // How each array is indexed: `Some((prefix, None))` while every
        // access is a statement of the loop's own body at `[prefix..,
        // item]`, `Some(([], Some(offset)))` while every one is at
        // `[offset + item]`.
        type Seen = Option<(Vec<NodeId>, Option<String>)>;
        let mut offsets: HashMap<String, Offset> = HashMap::default();
        let mut uses: HashMap<VarId, Seen> = HashMap::default();
        let mut note = |var: VarId, index: Option<&[NodeId]>| {
            let seen = match index {
                Some([prefix @ .., last]) if *last == h.item && prefix.len() <= 1 => {
                    Some((prefix.to_vec(), None))
                }
                Some([only]) => self.offset_of(*only, h.item).map(|off| {
                    let key = off.to_string();
                    offsets.insert(key.clone(), off);
                    (vec![], Some(key))
                }),
                _ => None,
            };
            let e = uses.entry(var).or_insert_with(|| seen.clone());
            if *e != seen {
                *e = None;
            }
        };
        fn whole(g: &Graph, s: &Stmt, note: &mut dyn FnMut(VarId, Option<&[NodeId]>)) {
            match s {
                Stmt::Node(id) => match &g.nodes[*id].op {
                    Op::ReadVar(var) => note(*var, None),
                    Op::Call { args, result, .. } => {
                        for a in args {
                            if let CallArg::Array { var, .. } | CallArg::Snapshot { var, .. } = a {
                                note(*var, None);
                            }
                        }
                        if let Some(var) = result {
                            note(*var, None);
                        }
                    }
                    _ => {}
                },
                Stmt::Declare { var, init } => {
                    note(*var, None);
                    if let Init::Copy { source, .. } = init {
                        note(*source, None);
                    }
                }
                Stmt::Set { var, .. } => note(*var, None),
                _ => {}
            }
        }
        fn nested(g: &Graph, b: &Block, note: &mut dyn FnMut(VarId, Option<&[NodeId]>)) {
            for s in &b.stmts {
                match s {
                    Stmt::Node(id) => {
                        if let Op::ReadIndex { var, .. } = &g.nodes[*id].op {
                            note(*var, None);
                        }
                        whole(g, s, note);
                    }
                    Stmt::Store { var, .. } => note(*var, None),
                    Stmt::If { then, els, .. } => {
                        nested(g, then, note);
                        nested(g, els, note);
                    }
                    Stmt::Loop(inner) => nested(g, &inner.body, note),
                    _ => whole(g, s, note),
                }
            }
        }
        for s in &l.body.stmts {
            match s {
                Stmt::Node(id) => {
                    if let Op::ReadIndex { var, index } = &g.nodes[*id].op {
                        note(*var, Some(index));
                    }
                    whole(g, s, &mut note);
                }
                Stmt::Store { var, index, .. } => note(*var, Some(index)),
                Stmt::If { then, els, .. } => {
                    nested(g, then, &mut note);
                    nested(g, els, &mut note);
                }
                Stmt::Loop(inner) => nested(g, &inner.body, &mut note),
                _ => whole(g, s, &mut note),
            }
        }
        let carried: Vec<VarId> = self
            .a
            .carries
            .get(&l.body.id)
            .map(|cs| cs.iter().map(|c| c.var).collect())
            .unwrap_or_default();
        let mut found: Vec<(VarId, Option<NodeId>, Option<Offset>)> = uses
            .into_iter()
            .filter_map(|(var, u)| match u {
                Some((prefix, None)) => match prefix.as_slice() {
                    [] => Some((var, None, None)),
                    [first] => Some((var, Some(*first), None)),
                    _ => None,
                },
                Some((_, Some(key))) => Some((var, None, offsets.get(&key).cloned())),
                None => None,
            })
            .filter(|(var, first, _)| {
                let (var, first) = (*var, *first);
                (g.vars[var].active || !g.vars[var].written)
                    && matches!(g.vars[var].shape, Shape::Array { .. })
                    && first.is_none_or(|f| !within(g, g.nodes[f].region, l.body.id))
                    && !within(g, g.vars[var].region, l.body.id)
                    && !carried.contains(&var)
                    && !self.rows.keys().any(|(v, _)| *v == var)
                    && !self.slices.contains_key(&var)
            })
            .collect();
        found.sort_unstable_by_key(|(var, first, _)| (*var, *first));
        found
    }

    fn row_candidates(&self, l: &Loop) -> Vec<(VarId, NodeId)> {
        #[derive(Clone, Copy, PartialEq)]
        enum Use {
            Row(NodeId),
            Other,
        }
        fn note(uses: &mut HashMap<VarId, Use>, var: VarId, u: Use) {
            let e = uses.entry(var).or_insert(u);
            if *e != u {
                *e = Use::Other;
            }
        }
        fn walk(g: &Graph, b: &Block, uses: &mut HashMap<VarId, Use>) {
            let row = |index: &[NodeId]| match index {
                [first, _, ..] => Use::Row(*first),
                _ => Use::Other,
            };
            for s in &b.stmts {
                match s {
                    Stmt::Node(id) => match &g.nodes[*id].op {
                        Op::ReadIndex { var, index } => note(uses, *var, row(index)),
                        Op::ReadVar(var) => note(uses, *var, Use::Other),
                        Op::Call { args, result, .. } => {
                            for a in args {
                                if let CallArg::Array { var, .. } | CallArg::Snapshot { var, .. } =
                                    a
                                {
                                    note(uses, *var, Use::Other);
                                }
                            }
                            if let Some(var) = result {
                                note(uses, *var, Use::Other);
                            }
                        }
                        _ => {}
                    },
                    Stmt::Declare { var, init } => {
                        note(uses, *var, Use::Other);
                        if let Init::Copy { source, .. } = init {
                            note(uses, *source, Use::Other);
                        }
                    }
                    Stmt::Set { var, .. } => note(uses, *var, Use::Other),
                    Stmt::Store { var, index, .. } => note(uses, *var, row(index)),
                    Stmt::If { then, els, .. } => {
                        walk(g, then, uses);
                        walk(g, els, uses);
                    }
                    Stmt::Loop(inner) => walk(g, &inner.body, uses),
                    Stmt::Break => {}
                }
            }
        }
        let g = self.g;
        let mut uses = HashMap::default();
        walk(g, &l.body, &mut uses);
        let carried: Vec<VarId> = self
            .a
            .carries
            .get(&l.body.id)
            .map(|cs| cs.iter().map(|c| c.var).collect())
            .unwrap_or_default();
        let mut found: Vec<(VarId, NodeId)> = uses
            .into_iter()
            .filter_map(|(var, u)| match u {
                Use::Row(first) => Some((var, first)),
                Use::Other => None,
            })
            .filter(|&(var, first)| {
                (g.vars[var].active || !g.vars[var].written)
                    && matches!(g.vars[var].shape, Shape::Array { .. })
                    && !within(g, g.nodes[first].region, l.body.id)
                    && !within(g, g.vars[var].region, l.body.id)
                    && !carried.contains(&var)
                    && !self.rows.keys().any(|(v, _)| *v == var)
            })
            .collect();
        found.sort_unstable();
        found
    }

    fn zero(&self) -> TokenStream {
        let t = &self.float;
        quote!(__tl::zero::<#t>())
    }

    /// `d = d + term`, or `d += term` where the float type has `AddAssign`.
    fn accumulate(&self, d: &impl ToTokens, term: TokenStream) -> TokenStream {
        let head = if self.generic {
            quote!(#d = #d +)
        } else {
            quote!(#d +=)
        };
        ended(head, term, Span::call_site())
    }

    /// The reverse of a block: what it reads, its fresh adjoints, then its
    /// statements backwards.
    fn block(&mut self, b: &Block) -> Vec<TokenStream> {
        let g = self.g;
        let mut out = Vec::new();
        // Lists of deferred scatters reversed in the pullback: one for its
        // whole run.
        if b.id == 0 && !self.fusing {
            let mut lists: Vec<&(Ident, bool)> = self.plan.deferred.values().collect();
            lists.sort_by_key(|(l, _)| l.to_string());
            for (list, in_forward) in lists {
                if !in_forward {
                    out.push(quote!(let mut #list = __tl::Vec::new();));
                }
            }
        }
        // Counters declared here start from their value at the block's end.
        for c in &self.plan.counters {
            let var = &g.vars[c.var];
            if var.region != b.id {
                continue;
            }
            let back = &c.back;
            match &c.tape {
                Some((t, at)) => out.push(quote!(#at -= 1; let mut #back = #t[#at];)),
                None => {
                    let id = &var.ident;
                    out.push(quote!(let mut #back = #id;));
                }
            }
        }
        if b.id != 0 {
            // Arrays kept whole: their copy for this iteration, by reference.
            for v in &self.plan.var_tapes_in[b.id] {
                let (t, c) = &self.plan.var_tape[v];
                let id = &g.vars[*v].ident;
                out.push(quote!(#c -= 1; let #id = &#t[#c];));
            }
            for &id in &self.plan.nodes_in[b.id] {
                let node = &g.nodes[id];
                if !self.a.kept[id] {
                    continue;
                }
                // A fused loop's own values are bound where its backward
                // runs; an array's copy for a call is read by reference.
                if self.plan.fused_local.contains(&id) {
                    if self.plan.snapshots.contains(&id) {
                        let ident = &node.ident;
                        out.push(quote!(let #ident = &#ident;));
                    }
                    continue;
                }
                let ident = &node.ident;
                match self.a.storage[id] {
                    // A pullback, or an array's copy, is used where it is
                    // stored, not moved out.
                    Storage::Tape
                        if matches!(node.op, Op::Pullback { .. })
                            || self.plan.snapshots.contains(&id) =>
                    {
                        let (t, c) = &self.plan.tape[&id];
                        out.push(quote!(#c -= 1; let #ident = &#t[#c];));
                    }
                    Storage::Slot
                        if matches!(node.op, Op::Pullback { .. })
                            || self.plan.snapshots.contains(&id) =>
                    {
                        let s = &self.plan.slot[&id];
                        out.push(quote!(let #ident = __tl::stored_ref(&#s);));
                    }
                    Storage::Tape if self.forward_reads.contains(&id) => {
                        let (t, c) = &self.plan.tape[&id];
                        out.push(quote!(let #ident = #t[#c]; #c += 1;));
                    }
                    Storage::Tape => {
                        let (t, c) = &self.plan.tape[&id];
                        out.push(quote!(#c -= 1; let #ident = #t[#c];));
                    }
                    Storage::Slot => {
                        let s = &self.plan.slot[&id];
                        out.push(quote!(let #ident = __tl::stored(#s);));
                    }
                    Storage::Recompute => match &node.op {
                        Op::Const {
                            expr,
                            ty,
                            inline: false,
                            ..
                        } => {
                            let ty = ty.as_ref().map(|t| quote!(: #t));
                            let value = match self.data_reads.get(&id) {
                                Some(&at) => {
                                    let d = &mut self.data_slices[at];
                                    d.used = true;
                                    slice_at(&d.name, d.item, d.start.as_ref(), g)
                                }
                                None => expr.clone(),
                            };
                            out.push(quote!(let #ident #ty = #value;));
                        }
                        Op::ReadIndex { var, index } => {
                            let p = self.value_place(*var, index);
                            out.push(quote!(let #ident = #p;));
                        }
                        Op::ReadVar(var) => {
                            let v = &g.vars[*var].ident;
                            out.push(quote!(let #ident = #v;));
                        }
                        Op::Prim { prim, args } => {
                            let args: Vec<_> =
                                args.iter().map(|&n| node_ref(&g.nodes[n])).collect();
                            let value = rules::forward(*prim, &args);
                            out.push(quote!(let #ident = #value;));
                        }
                        _ => {}
                    },
                    Storage::Counted => {
                        let (back, after) = &self.plan.counted_reads[&id];
                        let delta = shift(-after);
                        out.push(quote!(let #ident = #back #delta;));
                    }
                    Storage::Captured => {}
                }
            }
        }
        let zero = self.zero();
        let mut decls = Vec::new();
        let mut declared = HashSet::default();
        for &id in &self.plan.nodes_in[b.id] {
            let node = &g.nodes[id];
            if self.a.mode[id] == Mode::Accum {
                let d = self.names.adjoint_of(&node.ident);
                out.push(quote!(let mut #d = #zero;));
                self.adjoint[id] = Some(d);
            }
        }
        for &v in &self.plan.vars_in[b.id] {
            let var = &g.vars[v];
            // A fused loop's scratch has its adjoint in the forward pass.
            if !var.active || self.plan.fused.values().any(|f| f.scratch.contains(&v)) {
                continue;
            }
            let d = &self.plan.var_adjoint[v];
            let is_output = matches!(&g.output, crate::graph::Val::Var(o) if *o == v);
            // The arrays whose adjoints this block declares (and frees).
            if matches!(var.shape, Shape::Array { .. }) {
                declared.insert(v);
            }
            self.touched[v] = false;
            self.moved[v] = false;
            let init = if is_output {
                self.douts[0].to_token_stream()
            } else {
                match &var.shape {
                    Shape::Scalar => zero.clone(),
                    Shape::Array { zeros, .. } => {
                        self.zeroed_in[v] = Some(b.id);
                        decls.push((v, out.len()));
                        zeros.clone()
                    }
                }
            };
            out.push(quote!(let mut #d = #init;));
        }
        if b.id == 0 {
            let leaves = g.output.leaves();
            let douts = self.douts.clone();
            for (&leaf, dout) in leaves.iter().zip(&douts) {
                if g.nodes[leaf].active {
                    out.extend(self.contribute(leaf, Local::Same, dout));
                }
            }
        }
        let updates = self.updates(b);
        let routed = self.routed(b);
        // The reversal of a routed cone, while it is being written: its
        // lowest statement, the test, and what it writes.
        let mut cone: Option<(usize, TokenStream, Vec<TokenStream>)> = None;
        for (i, s) in b.stmts.iter().enumerate().rev() {
            if let (None, Some(&lo), Stmt::Node(root)) = (&cone, routed.get(&i), s) {
                if let Some(d) = self.adjoint[*root].clone() {
                    cone = Some((lo, quote!(#d != #zero), Vec::new()));
                }
            }
            let reversed = match (s, updates.get(&i)) {
                // The element's adjoint is the new value's, and stays the
                // old value's: not zeroed, and not added back.
                (Stmt::Store { var, index, value }, Some(&read)) => {
                    let d = self.d_place(*var, index);
                    self.kept_in_place.insert(read);
                    self.add(*value, Term::Expr(d)).into_iter().collect()
                }
                _ => {
                    self.top = Some(b.id);
                    let mut reversed = self.stmt(s);
                    self.top = None;
                    // Past its declaration, an array's adjoint is dead: a
                    // heap one is freed (one a call returned was moved into
                    // the call's pullback).
                    if let Stmt::Declare { var, init } = s {
                        if !matches!(init, Init::Call(_))
                            && heap_array(&g.vars[*var].shape)
                            && declared.contains(var)
                        {
                            let d = &self.plan.var_adjoint[*var];
                            reversed.push(quote!(__tl::free(#d);));
                        }
                    }
                    reversed
                }
            };
            match &mut cone {
                Some((lo, test, inside)) => {
                    inside.extend(reversed);
                    if i == *lo {
                        if !inside.is_empty() {
                            let inside = braced(std::mem::take(inside));
                            out.push(quote!(if #test #inside));
                        }
                        cone = None;
                    }
                }
                None => out.extend(reversed),
            }
        }
        // Zeros a moved gradient replaced are not made; a heap adjoint is
        // allocated where the backward first mentions it, not at the top.
        let lazy: Vec<(VarId, usize)> = decls
            .iter()
            .copied()
            .filter(|&(v, _)| !self.moved[v] && heap_array(&g.vars[v].shape))
            .collect();
        let firsts = first_mentions(&out, &lazy, &self.plan.var_adjoint);
        for ((_, at), first) in lazy.into_iter().zip(firsts) {
            if let Some(first) = first {
                let mut moved_down = std::mem::take(&mut out[at]);
                moved_down.extend(std::mem::take(&mut out[first]));
                out[first] = moved_down;
            }
        }
        for (v, at) in decls {
            if self.moved[v] {
                out[at] = TokenStream::new();
            }
            self.zeroed_in[v] = None;
        }
        // Counters stepped here go back to their value at the block's start.
        for c in &self.plan.counters {
            if c.block == b.id && c.total != 0 {
                let back = &c.back;
                let n = proc_macro2::Literal::u64_unsuffixed(c.total.unsigned_abs());
                out.push(match c.total > 0 {
                    true => quote!(#back -= #n;),
                    false => quote!(#back += #n;),
                });
            }
        }
        out
    }

    /// The cones of a block whose whole gradient a `max` or `min` routes:
    /// by the position of the cone's root (an argument of the `max`, its
    /// only use), the position of the cone's first statement. The cone is
    /// the run of statements just before the root computing values used
    /// once, by the cone (`d = (p[0] - q[0]).powi(2) + ..` before
    /// `best.min(d)`): when the route goes elsewhere, as it does for all
    /// but one point in a nearest-point search, their reversal adds zeros,
    /// and is skipped. At least three values, or the test costs more than
    /// it saves.
    fn routed(&self, b: &Block) -> HashMap<usize, usize> {
        let (g, a) = (self.g, self.a);
        let mut out = HashMap::default();
        let mut routers = HashSet::default();
        for s in &b.stmts {
            if let Stmt::Node(n) = s {
                if let Op::Prim {
                    prim: crate::graph::Prim::Max | crate::graph::Prim::Min,
                    args,
                } = &g.nodes[*n].op
                {
                    routers.extend(args.iter().copied());
                }
            }
        }
        if routers.is_empty() {
            return out;
        }
        let simple = |n: NodeId| {
            matches!(
                g.nodes[n].op,
                Op::Prim { .. } | Op::ReadIndex { .. } | Op::ReadVar(_)
            )
        };
        for (i, s) in b.stmts.iter().enumerate() {
            let Stmt::Node(root) = s else { continue };
            if !routers.contains(root) || a.mode[*root] != Mode::Let(1) || !simple(*root) {
                continue;
            }
            // Terms each value gets from the cone; a value joins it when
            // all its terms come from there.
            let mut terms: HashMap<NodeId, usize> = HashMap::default();
            let add = |n: NodeId, terms: &mut HashMap<NodeId, usize>| {
                for m in crate::analyse::gradient_inputs(g, &g.nodes[n].op) {
                    *terms.entry(m).or_default() += 1;
                }
            };
            add(*root, &mut terms);
            let mut size = 1;
            let mut lo = i;
            for j in (0..i).rev() {
                let Stmt::Node(n) = &b.stmts[j] else { break };
                match a.mode[*n] {
                    Mode::Let(k) if simple(*n) && terms.get(n) == Some(&k) => {
                        add(*n, &mut terms);
                        size += 1;
                        terms.insert(*n, usize::MAX);
                        lo = j;
                    }
                    // Reversed to nothing (an index, a constant).
                    Mode::None if !matches!(g.nodes[*n].op, Op::Call { .. }) => lo = j,
                    _ => break,
                }
            }
            // Every adjoint the cone adds to is its own (marked), or
            // declared before it (accumulated), or none.
            let closed = terms
                .iter()
                .all(|(m, &k)| k == usize::MAX || matches!(a.mode[*m], Mode::None | Mode::Accum));
            if closed && size >= 3 {
                out.insert(i, lo);
            }
        }
        out
    }

    /// The stores of a block that update an element in place,
    /// `a[i] = a[i] + e` (or `- e`, or `e + a[i]`), by position, with the
    /// read of the element: where the sum and the read have no other use and
    /// nothing between them writes `a`, the read's adjoint is the element's
    /// adjoint after the store, so the reversal neither zeroes the element's
    /// adjoint nor adds it back.
    fn updates(&self, b: &Block) -> HashMap<usize, NodeId> {
        let g = self.g;
        let mut found = HashMap::default();
        for (i, s) in b.stmts.iter().enumerate() {
            let Stmt::Store { var, index, value } = s else {
                continue;
            };
            if !g.vars[*var].active || self.a.mode[*value] != Mode::Let(1) {
                continue;
            }
            let Op::Prim { prim, args } = &g.nodes[*value].op else {
                continue;
            };
            let candidates: &[NodeId] = match prim {
                Prim::Add => args,
                Prim::Sub => &args[..1],
                _ => continue,
            };
            // `a[i + 1] += e` computes its index twice: the same expression
            // of the same values (no variable changes in between, below).
            let same = |p: NodeId, q: NodeId| {
                p == q
                    || match (&g.nodes[p].op, &g.nodes[q].op) {
                        (
                            Op::Const {
                                expr: e1,
                                deps: d1,
                                var_deps: v1,
                                ..
                            },
                            Op::Const {
                                expr: e2,
                                deps: d2,
                                var_deps: v2,
                                ..
                            },
                        ) => d1 == d2 && v1 == v2 && e1.to_string() == e2.to_string(),
                        _ => false,
                    }
            };
            let read = candidates.iter().copied().find(|&r| {
                matches!(&g.nodes[r].op, Op::ReadIndex { var: v, index: at }
                    if v == var && at.len() == index.len()
                        && at.iter().zip(index).all(|(&p, &q)| same(p, q)))
                    && self.a.mode[r] == Mode::Let(1)
                    && !self.carried.contains_key(&r)
            });
            let Some(read) = read else {
                continue;
            };
            // The read is computed in this block, a few statements before,
            // with nothing but other values computed in between.
            let window = &b.stmts[i.saturating_sub(64)..i];
            let at = window
                .iter()
                .rposition(|s| matches!(s, Stmt::Node(n) if *n == read));
            let clean =
                |s: &Stmt| matches!(s, Stmt::Node(n) if !matches!(g.nodes[*n].op, Op::Call { .. }));
            if at.is_some_and(|at| window[at + 1..].iter().all(clean)) {
                found.insert(i, read);
            }
        }
        found
    }

    fn stmt(&mut self, s: &Stmt) -> Vec<TokenStream> {
        let g = self.g;
        match s {
            Stmt::Node(id) => self.node(*id),
            Stmt::Declare { var, init } => {
                if !g.vars[*var].active {
                    return vec![];
                }
                let d = self.var_d(*var);
                match init {
                    Init::Value(n) if g.nodes[*n].active => self
                        .add(*n, Term::Expr(d.into_token_stream()))
                        .into_iter()
                        .collect(),
                    Init::Fill { value, .. } if g.nodes[*value].active => {
                        let depth = match &g.vars[*var].shape {
                            Shape::Array { depth, .. } => *depth,
                            Shape::Scalar => 1,
                        };
                        let total = self.sum_all(&d, depth);
                        self.add(*value, Term::Expr(total)).into_iter().collect()
                    }
                    Init::Elems { values, .. } => {
                        let mut out = Vec::new();
                        for (i, &n) in values.iter().enumerate() {
                            if g.nodes[n].active {
                                out.extend(self.add(n, Term::Expr(quote!(#d[#i]))));
                            }
                        }
                        out
                    }
                    // The copy's gradient is the source's, element by element.
                    Init::Copy { source, .. } if g.vars[*source].active => {
                        let depth = match &g.vars[*var].shape {
                            Shape::Array { depth, .. } => *depth,
                            Shape::Scalar => 0,
                        };
                        let ds = self.var_d(*source);
                        vec![add_into(&ds, &d, depth, self.generic)]
                    }
                    _ => vec![],
                }
            }
            // An overwrite hands the adjoint to the value written, then
            // zeroes it: the old value's adjoint starts afresh.
            Stmt::Set { var, value } if g.vars[*var].active => {
                let d = self.var_d(*var);
                self.overwrite(d, *value)
            }
            Stmt::Store { var, index, value } if g.vars[*var].active => {
                let d = self.d_place(*var, index);
                self.overwrite(d, *value)
            }
            Stmt::Set { .. } | Stmt::Store { .. } => vec![],
            Stmt::If { cond, then, els } => {
                if !self.a.work[then.id] && !self.a.work[els.id] {
                    return vec![];
                }
                let c = node_ref(&g.nodes[*cond]);
                let then = braced(self.block(then));
                let els = self.block(els);
                if els.is_empty() {
                    vec![quote!(if #c #then)]
                } else {
                    let els = braced(els);
                    vec![quote!(if #c #then else #els)]
                }
            }
            Stmt::Loop(l) if self.plan.fused.contains_key(&l.body.id) && !self.fusing => {
                self.fused_sums(l.body.id)
            }
            Stmt::Loop(l) => {
                if !self.a.work[l.body.id] {
                    return vec![];
                }
                if let Some((inner, active, j)) = self.deferring.clone() {
                    if inner == l.body.id {
                        return self.deferred_inner(l, &active, j);
                    }
                }
                let carries = self.carries(l);
                // A range `start..end` the reversal replays: slices of its
                // length may be bound; from its start if that is not 0.
                let range = l.header.as_ref().and_then(|h| half_open(g, h.iter));
                let ranged = range.is_some();
                // Named per loop: a nested loop's slices are read inside
                // this one's.
                let from_start = matches!(range, Some(Some(_)));
                let start_id = match from_start {
                    true => self.names.local("start"),
                    false => Ident::new("__tl_start", Span::mixed_site()),
                };
                let sliceable = if ranged {
                    self.slice_candidates(l)
                } else {
                    vec![]
                };
                let candidates = self.row_candidates(l);
                for (var, first, offset) in &sliceable {
                    let (var, first) = (*var, *first);
                    let (Some(h), None) = (&l.header, first) else {
                        continue;
                    };
                    let offset = offset.clone();
                    let base = g.vars[var].ident.to_string();
                    let base = base
                        .strip_prefix("__tl_v")
                        .unwrap_or(&base)
                        .trim_start_matches('_')
                        .to_string();
                    let slice = Slice {
                        item: h.item,
                        offset,
                        start: from_start.then(|| start_id.clone()),
                        d: self.names.fresh("d_slice", Some(&base)),
                        value: self.names.fresh("slice", Some(&base)),
                        value_ok: !g.vars[var].written,
                        d_used: false,
                        value_used: false,
                    };
                    self.slices.insert(var, slice);
                }
                for &(var, first) in &candidates {
                    let base = g.vars[var].ident.to_string();
                    let base = base
                        .strip_prefix("__tl_v")
                        .unwrap_or(&base)
                        .trim_start_matches('_');
                    let row = Row {
                        d: self.names.fresh("d_row", Some(base)),
                        value: self.names.fresh("row", Some(base)),
                        value_ok: !g.vars[var].written,
                        d_used: false,
                        value_used: false,
                        sliced: sliceable
                            .iter()
                            .any(|(v, f, o)| *v == var && *f == Some(first) && o.is_none()),
                    };
                    self.rows.insert((var, first), row);
                }
                let data_from = self.data_slices.len();
                if ranged && l.counter.is_none() {
                    self.data_candidates(l, from_start.then_some(&start_id));
                }
                let win = self.plan.winners.get(&l.body.id).map(|(w, _)| w.clone());
                // A reversal that reads tapes may still run forward.
                let taped_forward = match ranged
                    && win.is_none()
                    && carries.decls.is_empty()
                    && carries.shift.is_empty()
                    && carries.flush.is_empty()
                {
                    true => self.taped_order_free(l),
                    false => None,
                };
                let saved_reads = std::mem::take(&mut self.forward_reads);
                if let Some(taped) = &taped_forward {
                    self.forward_reads.extend(taped.iter().copied());
                }
                // An inner loop whose scatter runs after this loop, row by
                // row (see `crate::scatters`).
                let deferral = self.deferral(l);
                let outer_deferring = self.deferring.take();
                if let (Some((inner, active)), Some(h)) = (&deferral, &l.header) {
                    self.deferring = Some((*inner, active.clone(), h.item));
                }
                let body = self.block(&l.body);
                let nest = self.deferred_nest.take();
                self.deferring = outer_deferring;
                self.forward_reads = saved_reads;
                let mut bound = Vec::new();
                // Bound where the range is not empty: every iteration read
                // these arrays at its item, so the forward, which ran them
                // all, showed they hold `end` elements.
                let mut sliced = Vec::new();
                let end_id = Ident::new("__tl_end", Span::mixed_site());
                for (var, _, _) in &sliceable {
                    let Some(slice) = self.slices.remove(var) else {
                        continue;
                    };
                    // Every iteration read `offset + item`, so the array
                    // holds `offset + end` elements.
                    if !slice.d_used && !slice.value_used {
                        continue;
                    }
                    let range = slice_range(
                        self.names,
                        slice.offset.as_ref(),
                        slice.start.as_ref(),
                        &end_id,
                        &mut sliced,
                    );
                    if slice.d_used {
                        let (d, base) = (&slice.d, &self.plan.var_adjoint[*var]);
                        sliced.push(quote!(let #d = &mut #base[#range];));
                    }
                    if slice.value_used {
                        let (v, base) = (&slice.value, &g.vars[*var].ident);
                        sliced.push(quote!(let #v = &#base[#range];));
                    }
                }
                // Constant data read at the item: sliced the same way.
                self.bind_data_slices(data_from, &end_id, &mut sliced);
                for key in candidates {
                    let Some(row) = self.rows.remove(&key) else {
                        continue;
                    };
                    let (var, first) = key;
                    let i = node_ref(&g.nodes[first]);
                    let r = Ident::new("__tl_r", Span::mixed_site());
                    if row.sliced {
                        if row.d_used {
                            let (d, base) = (&row.d, &self.plan.var_adjoint[var]);
                            sliced.push(quote!(let #d = &mut #base[#i][..#end_id];));
                        }
                        if row.value_used {
                            let (v, base) = (&row.value, &g.vars[var].ident);
                            sliced.push(quote!(let #v = &#base[#i][..#end_id];));
                        }
                        continue;
                    }
                    if row.d_used {
                        let (d, base) = (&row.d, &self.plan.var_adjoint[var]);
                        bound.push(quote! {
                            let #d: &mut [_] = match #base.get_mut(#i) {
                                ::core::option::Option::Some(#r) => &mut #r[..],
                                ::core::option::Option::None => &mut [],
                            };
                        });
                    }
                    if row.value_used {
                        let (v, base) = (&row.value, &g.vars[var].ident);
                        bound.push(quote! {
                            let #v: &[_] = match #base.get(#i) {
                                ::core::option::Option::Some(#r) => &#r[..],
                                ::core::option::Option::None => &[],
                            };
                        });
                    }
                }
                let skippable = self.skippable(l);
                let reversed = match (&l.header, &l.counter) {
                    (Some(h), None) => {
                        let item = &g.nodes[h.item].ident;
                        let iter = node_ref(&g.nodes[h.iter]);
                        let Carried {
                            decls,
                            shift,
                            flush,
                        } = carries;
                        // Iterations whose reversals commute run in the
                        // forward's order: a forward walk of an array is
                        // one LLVM vectorizes, its reverse often not.
                        let order_free = decls.is_empty()
                            && shift.is_empty()
                            && flush.is_empty()
                            && skippable
                                .as_ref()
                                .is_some_and(|vars| order_free(g, l, vars));
                        let walk = match order_free || taped_forward.is_some() {
                            true => quote!(#iter),
                            false => quote!((#iter).rev()),
                        };
                        let body = braced(body.into_iter().chain(shift));
                        let mut looped = match &win {
                            // Only the iteration that won, if one did.
                            Some(win) => quote! {
                                #(#decls)*
                                if let ::core::option::Option::Some(#item) = #win #body
                                #(#flush)*
                            },
                            None => quote!(#(#decls)* for #item in #walk #body #(#flush)*),
                        };
                        // Forward, a tape is read from this loop's first
                        // entry, as many back as the loop ran, and its
                        // cursor left there after, as the reversed walk
                        // would leave it.
                        if let Some(taped) = &taped_forward {
                            let trips = self.names.local("trips");
                            let cursors: Vec<&Ident> =
                                taped.iter().map(|id| &self.plan.tape[id].1).collect();
                            looped = quote! {
                                let #trips = ::core::iter::Iterator::size_hint(&(#iter)).0;
                                #(#cursors -= #trips;)*
                                #looped
                                #(#cursors -= #trips;)*
                            };
                        }
                        if let (Some((_, active)), Some(nest)) = (&deferral, nest) {
                            looped = quote! {
                                #active.clear();
                                #looped
                                #nest
                            };
                        }
                        if sliced.is_empty() {
                            quote!(#(#bound)* #looped)
                        } else {
                            let start = from_start.then(|| quote!(let #start_id = (#iter).start;));
                            quote! {
                                #(#bound)*
                                if !(#iter).is_empty() {
                                    #start
                                    let #end_id = (#iter).end;
                                    #(#sliced)*
                                    #looped
                                }
                            }
                        }
                    }
                    (_, Some((_, count))) => {
                        let n = node_ref(&g.nodes[*count]);
                        let body = braced(body);
                        quote!(#(#bound)* for _ in 0..#n #body)
                    }
                    (None, None) => return vec![],
                };
                // A loop that reads no tape and only writes scalars declared
                // outside it does nothing when their adjoints are all zero
                // (an inactive ReLU unit, a satisfied margin): skip it then,
                // as a careful person would.
                match skippable {
                    Some(vars) if !vars.is_empty() => {
                        let zero = self.zero();
                        let tests: Vec<TokenStream> = vars
                            .iter()
                            .map(|&v| {
                                let d = self.var_d(v);
                                quote!(#d != #zero)
                            })
                            .collect();
                        vec![quote!(if #(#tests)||* { #reversed })]
                    }
                    _ => vec![reversed],
                }
            }
            Stmt::Break => vec![],
        }
    }

    /// The `let`s of the data slices registered since `from` that the
    /// reversal used (`&x[offset..offset + end]`), onto `sliced`; the rest
    /// are dropped with their reads.
    fn bind_data_slices(&mut self, from: usize, end: &Ident, sliced: &mut Vec<TokenStream>) {
        for d in self.data_slices.drain(from..) {
            if !d.used {
                continue;
            }
            let range = slice_range(self.names, d.offset.as_ref(), d.start.as_ref(), end, sliced);
            let (name, base) = (&d.name, &d.base);
            sliced.push(quote!(let #name = &#base[#range];));
        }
        self.data_reads.retain(|_, at| *at < from);
    }

    /// The inner loop of `l` whose scatter is deferred (see
    /// [`crate::scatters`]), and the list of its `(item, adjoint)` pairs.
    fn deferral(&mut self, l: &Loop) -> Option<(RegionId, Ident)> {
        if l.header.is_none() || l.counter.is_some() {
            return None;
        }
        l.body.stmts.iter().find_map(|s| match s {
            Stmt::Loop(inner) => {
                let (list, _) = self.plan.deferred.get(&inner.body.id)?;
                Some((inner.body.id, list.clone()))
            }
            _ => None,
        })
    }

    /// The deferred inner loop (see [`crate::scatters`]): where the outer
    /// loop's reversal reaches it, the pair `(j, d_a)` is noted if `d_a` is
    /// not zero; its reversal is kept for after the outer loop's, each of
    /// its items running over the noted pairs.
    fn deferred_inner(&mut self, l: &Loop, active: &Ident, j: NodeId) -> Vec<TokenStream> {
        let g = self.g;
        let (Some(h), Some(d)) = (&l.header, self.a.deferred.get(&l.body.id)) else {
            return vec![];
        };
        let acc = d.acc;
        let item = &g.nodes[h.item].ident;
        let iter = node_ref(&g.nodes[h.iter]);
        // Constant data read at the item (`x[n * d + i]`), from a slice
        // bound before the nest, as the loop's own reversal would: where
        // the range starts at 0 and the slice does not depend on the
        // column.
        let from_zero = matches!(half_open(g, h.iter), Some(None));
        let data_from = self.data_slices.len();
        if from_zero {
            self.data_candidates(l, None);
        }
        let column = g.nodes[j].ident.to_string();
        let moves: Vec<usize> = (data_from..self.data_slices.len())
            .filter(|&k| {
                self.data_slices[k]
                    .offset
                    .as_ref()
                    .is_some_and(|o| o.to_string().split_whitespace().any(|t| t == column))
            })
            .collect();
        self.data_reads.retain(|_, at| !moves.contains(at));
        let body = self.block(&l.body);
        let end_id = Ident::new("__tl_end", Span::mixed_site());
        let mut sliced = Vec::new();
        self.bind_data_slices(data_from, &end_id, &mut sliced);
        let d = self.var_d(acc);
        let da = self.names.local("noted");
        let j = &g.nodes[j].ident;
        let zero = self.zero();
        // Row by row where many columns were noted; with a few, column by
        // column as the loop was written (a short row does not pay for
        // reading the list at every add: the svm's 10 classes).
        let body = quote!({ let mut #d = #da; #(#body)* let _ = #d; });
        let nest = quote! {
            if #active.len() >= 16 {
                for #item in #iter {
                    for &(#j, #da) in #active.iter() #body
                }
            } else {
                for &(#j, #da) in #active.iter() {
                    for #item in #iter #body
                }
            }
        };
        self.deferred_nest = Some(match sliced.is_empty() {
            true => nest,
            false => quote! {
                if !(#iter).is_empty() {
                    let #end_id = (#iter).end;
                    #(#sliced)*
                    #nest
                }
            },
        });
        // Noted only where the loop's reversal would run: it is skipped
        // where the sum's adjoint is zero (an inactive ReLU unit).
        match self.skippable(l).as_deref() == Some(&[acc][..]) {
            true => vec![quote!(if #d != #zero { #active.push((#j, #d)); })],
            false => vec![quote!(#active.push((#j, #d));)],
        }
    }

    /// `add`, where the caller needs parameter `k`'s gradient (the mask of
    /// needed gradients is a constant in `NAME_grad`; the test folds).
    fn if_needed(&mut self, k: usize, add: TokenStream) -> TokenStream {
        self.masked = true;
        let needed = Ident::new("__tl_needed", Span::mixed_site());
        let k = proc_macro2::Literal::usize_unsuffixed(k);
        quote!(if #needed[#k] { #add })
    }

    /// The reversal of a fused loop: the forward summed each input's
    /// gradient of the loop's terms, which the accumulator's adjoint
    /// scales; the accumulator's own passes through.
    fn fused_sums(&mut self, body: RegionId) -> Vec<TokenStream> {
        let g = self.g;
        let fp = &self.plan.fused[&body];
        let zero = self.zero();
        let scale = self.var_d(fp.acc);
        let mut adds = Vec::new();
        for (v, u) in &fp.var_units {
            let depth = match &g.vars[*v].shape {
                Shape::Array { depth, .. } => *depth,
                Shape::Scalar => 0,
            };
            let d = self.var_d(*v);
            let add = match g.vars[*v].shape {
                // Of a type the macro does not see (`Whole`).
                Shape::Array { depth: 0, .. } => {
                    let float = &self.float;
                    quote!(__tl::Whole::<#float>::add_scaled(&mut #d, #scale, &#u);)
                }
                _ => add_scaled(&d, &u.to_token_stream(), Some(&scale), depth, self.generic),
            };
            match (g.vars[*v].param, g.vars[*v].written) {
                (Some(k), false) => adds.push(self.if_needed(k, add)),
                _ => adds.push(add),
            }
        }
        for (n, u) in &fp.node_units {
            adds.extend(self.add(*n, Term::Expr(quote!(#scale * #u))));
        }
        if adds.is_empty() {
            return vec![];
        }
        let adds = braced(adds);
        vec![quote!(if #scale != #zero #adds)]
    }

    /// The reverse of `place = value`: `value` gets the place's adjoint, which
    /// is then zero.
    fn overwrite(&mut self, d: impl ToTokens, value: NodeId) -> Vec<TokenStream> {
        let zero = self.zero();
        let added = match self.g.nodes[value].active {
            true => self.add(value, Term::Expr(d.to_token_stream())),
            false => None,
        };
        added.into_iter().chain([quote!(#d = #zero;)]).collect()
    }

    /// The active scalar variables a loop writes, if its reversal reads no
    /// tape or slot and writes no array or scalar declared outside it other
    /// than those: then zero adjoints for them make the reversal a no-op.
    fn skippable(&self, l: &Loop) -> Option<Vec<VarId>> {
        struct Walk<'w> {
            g: &'w Graph,
            a: &'w Analysis,
            plan: &'w Plan,
            outer: RegionId,
            vars: Vec<VarId>,
            ok: bool,
        }
        impl Walk<'_> {
            fn block(&mut self, b: &Block) {
                let (g, a) = (self.g, self.a);
                // Values read back from storage inside: skipping would
                // desync cursors (or leave a counter unstepped).
                let stored = self.plan.nodes_in[b.id].iter().any(|&id| {
                    a.kept[id]
                        && matches!(
                            a.storage[id],
                            Storage::Tape | Storage::Slot | Storage::Counted
                        )
                }) || !self.plan.var_tapes_in[b.id].is_empty();
                self.ok &= !stored;
                for s in &b.stmts {
                    match s {
                        Stmt::Set { var, .. }
                            if g.vars[*var].active
                                && !within(g, g.vars[*var].region, self.outer)
                                && !self.vars.contains(var) =>
                        {
                            self.vars.push(*var)
                        }
                        Stmt::Store { var, .. }
                            if g.vars[*var].active
                                && !within(g, g.vars[*var].region, self.outer) =>
                        {
                            self.ok = false
                        }
                        Stmt::If { then, els, .. } => {
                            self.block(then);
                            self.block(els);
                        }
                        Stmt::Loop(inner) => self.block(&inner.body),
                        _ => {}
                    }
                }
            }
        }
        let mut w = Walk {
            g: self.g,
            a: self.a,
            plan: self.plan,
            outer: l.body.id,
            vars: Vec::new(),
            ok: true,
        };
        w.block(&l.body);
        w.ok.then_some(w.vars)
    }

    /// The taped values whose reads go forward, where `l`'s reversal may
    /// run in the forward's order though it reads tapes (a loop over a
    /// range whose reversal has no carries): every taped value is read at
    /// the body's top level, once an iteration, each from its own tape;
    /// nothing nested reads storage; the loop never breaks; of what is
    /// declared outside it, it writes scalar accumulators whose old value
    /// nothing else reads ([`order_free`]) and arrays at the item only
    /// (`hid[j] = ..`), which it reads nowhere else. Each iteration's
    /// reversal then touches the adjoint elements of its own item and
    /// adds into shared adjoints, so the order changes only the rounding.
    fn taped_order_free(&self, l: &Loop) -> Option<Vec<NodeId>> {
        let (g, a, plan) = (self.g, self.a, self.plan);
        let h = l.header.as_ref()?;
        if l.counter.is_some() {
            return None;
        }
        let top = l.body.id;
        let stored = |id: NodeId| {
            a.kept[id]
                && matches!(
                    a.storage[id],
                    Storage::Tape | Storage::Slot | Storage::Counted
                )
        };
        let mut taped = Vec::new();
        let mut cursors: HashSet<String> = HashSet::default();
        for &id in &plan.nodes_in[top] {
            if !stored(id) {
                continue;
            }
            if a.storage[id] != Storage::Tape
                || matches!(g.nodes[id].op, Op::Pullback { .. })
                || plan.snapshots.contains(&id)
            {
                return None;
            }
            if !cursors.insert(plan.tape[&id].1.to_string()) {
                return None;
            }
            taped.push(id);
        }
        if taped.is_empty() || !plan.var_tapes_in[top].is_empty() {
            return None;
        }
        /// What the loop writes outside itself and how it reaches arrays.
        struct Walk<'w> {
            g: &'w Graph,
            stored: &'w dyn Fn(NodeId) -> bool,
            plan: &'w Plan,
            top: RegionId,
            outer: RegionId,
            scalars: Vec<VarId>,
            arrays: Vec<VarId>,
            nested: bool,
            ok: bool,
        }
        impl Walk<'_> {
            fn block(&mut self, b: &Block) {
                if b.id != self.top
                    && (self.plan.nodes_in[b.id].iter().any(|&id| (self.stored)(id))
                        || !self.plan.var_tapes_in[b.id].is_empty())
                {
                    self.ok = false;
                }
                for s in &b.stmts {
                    let outside = |v: VarId| {
                        self.g.vars[v].active && !within(self.g, self.g.vars[v].region, self.outer)
                    };
                    match s {
                        Stmt::Set { var, .. } if outside(*var) => match self.g.vars[*var].shape {
                            Shape::Scalar => {
                                if !self.scalars.contains(var) {
                                    self.scalars.push(*var)
                                }
                            }
                            Shape::Array { .. } => self.ok = false,
                        },
                        Stmt::Store { var, .. } if outside(*var) && !self.arrays.contains(var) => {
                            self.arrays.push(*var)
                        }
                        Stmt::If { then, els, .. } => {
                            self.block(then);
                            self.block(els);
                        }
                        Stmt::Loop(inner) => {
                            self.nested = true;
                            self.block(&inner.body)
                        }
                        Stmt::Break => self.ok = false,
                        _ => {}
                    }
                }
            }
        }
        let mut w = Walk {
            g,
            stored: &stored,
            plan,
            top,
            outer: l.body.id,
            scalars: Vec::new(),
            arrays: Vec::new(),
            nested: false,
            ok: true,
        };
        w.block(&l.body);
        // Only a loop around loops: its order decides how the inner loops
        // walk memory (the mlp's columns of `w1`, one per unit). A flat
        // taped loop gains nothing from the order, and LLVM's vectorized
        // forward walk costs loops of a few trips (the GMM at d = 2, 7%).
        if !w.ok || !w.nested || !order_free(g, l, &w.scalars) {
            return None;
        }
        // The arrays written outside: reached at the item alone.
        let arrays = w.arrays;
        let at_item = |index: &[NodeId]| index.len() == 1 && index[0] == h.item;
        let mut ok = true;
        for_each_stmt(&l.body, &mut |s| match s {
            Stmt::Store { var, index, .. } if arrays.contains(var) => ok &= at_item(index),
            Stmt::Set { var, .. } if arrays.contains(var) => ok = false,
            Stmt::Declare {
                init: Init::Copy { source, .. },
                ..
            } if arrays.contains(source) => ok = false,
            Stmt::Node(id) => match &g.nodes[*id].op {
                Op::ReadIndex { var, index } if arrays.contains(var) => ok &= at_item(index),
                Op::ReadVar(var) if arrays.contains(var) => ok = false,
                Op::Const { var_deps, .. } if var_deps.iter().any(|v| arrays.contains(v)) => {
                    ok = false
                }
                Op::Call { args, result, .. } => {
                    ok &= !result.is_some_and(|v| arrays.contains(&v));
                    ok &= !args.iter().any(|a| match a {
                        CallArg::Array { var, .. } | CallArg::Snapshot { var, .. } => {
                            arrays.contains(var)
                        }
                        CallArg::Value(_) => false,
                    });
                }
                _ => {}
            },
            // A loop header's iterator reads the arrays it walks.
            Stmt::Loop(inner) => {
                if let Some(ih) = &inner.header {
                    if let Op::Const { var_deps, .. } = &g.nodes[ih.iter].op {
                        ok &= !var_deps.iter().any(|v| arrays.contains(v));
                    }
                }
            }
            _ => {}
        });
        ok.then_some(taped)
    }

    /// The sum of every element of an adjoint array (`[x; n]`'s gradient
    /// with respect to `x`).
    fn sum_all(&self, d: &dyn ToTokens, depth: usize) -> TokenStream {
        let zero = self.zero();
        let s = format_ident!("__tl_sum", span = Span::mixed_site());
        let elem = format_ident!("__tl_elem", span = Span::mixed_site());
        let rows: Vec<Ident> = (0..depth)
            .map(|i| format_ident!("__tl_row{}", i, span = Span::mixed_site()))
            .collect();
        // for row0 in d.iter() { for row1 in row0.iter() { .. s = s + *elem } }
        let mut body = self.accumulate(&s.to_token_stream(), quote!(*#elem));
        for level in (0..depth).rev() {
            let source = if level == 0 {
                d.to_token_stream()
            } else {
                rows[level - 1].to_token_stream()
            };
            let bind = if level + 1 == depth {
                elem.clone()
            } else {
                rows[level].clone()
            };
            body = quote!(for #bind in #source.iter() { #body });
        }
        quote!({ let mut #s = #zero; #body #s })
    }

    /// A call's pullback: the callee's gradients, one per argument.
    fn call(&mut self, id: NodeId) -> Vec<TokenStream> {
        let g = self.g;
        let Op::Call {
            args,
            result,
            pullback,
            parts,
            open,
            ..
        } = &g.nodes[id].op
        else {
            return vec![];
        };
        let zero = self.zero();
        let pb = &g.nodes[*pullback].ident;
        let upstream = match result {
            // A tuple of unknown length: zeros of the type the pullback
            // takes, its first fields set to the parts' adjoints.
            None if *open => {
                if !parts.iter().any(|&p| self.a.mode[p] != Mode::None) {
                    return vec![];
                }
                let up = self.names.local("up");
                let sets = parts.iter().enumerate().filter_map(|(i, &p)| {
                    let adj = self.adjoint[p].clone()?;
                    let i = syn::Index::from(i);
                    Some(quote!(#up.#i = #adj;))
                });
                quote!({
                    #[allow(unused_mut)]
                    let mut #up = __tl::zero_out(&#pb);
                    #(#sets)*
                    #up
                })
            }
            // A tuple: each part's adjoint, or zero.
            None if !parts.is_empty() => {
                if !parts.iter().any(|&p| self.a.mode[p] != Mode::None) {
                    return vec![];
                }
                let adj = parts.iter().map(|&p| match &self.adjoint[p] {
                    Some(adj) => adj.to_token_stream(),
                    None => zero.clone(),
                });
                // On the user's call: a tuple of another length than the
                // callee returns is reported there.
                quote_spanned!(g.nodes[id].span=> (#(#adj,)*))
            }
            // The array the call returned: its adjoint is the upstream gradient.
            Some(var) if g.vars[*var].active => self.var_d(*var).into_token_stream(),
            Some(_) => return vec![],
            None => match &self.adjoint[id] {
                Some(adj) => adj.to_token_stream(),
                None => return vec![],
            },
        };
        let active = |a: &CallArg| match a {
            CallArg::Value(n) => g.nodes[*n].active,
            CallArg::Array { var, .. } | CallArg::Snapshot { var, .. } => g.vars[*var].active,
        };
        let grads: Vec<Option<Ident>> = args
            .iter()
            .map(|a| active(a).then(|| self.names.local("g")))
            .collect();
        let pats = grads.iter().map(|g| match g {
            Some(id) => id.to_token_stream(),
            None => quote!(_),
        });
        let again = args.iter().map(|a| again_arg(g, self.a, a));
        // Which gradients the caller uses: a callee may skip the others.
        let needs = grads.iter().map(|g| g.is_some());
        let mut out =
            vec![quote!(let (#(#pats,)*) = #pb(#upstream, (#(#again,)*), &[#(#needs),*]);)];
        for (arg, grad) in args.iter().zip(&grads) {
            let Some(grad) = grad else { continue };
            match arg {
                CallArg::Value(n) => out.extend(self.add(*n, Term::Expr(grad.to_token_stream()))),
                CallArg::Array { var, prefix, .. } | CallArg::Snapshot { var, prefix, .. } => {
                    let depth = match &g.vars[*var].shape {
                        Shape::Array { depth, .. } => *depth - prefix.len(),
                        Shape::Scalar => 0,
                    };
                    // The first contribution to an array's adjoint, made
                    // by the block that declares it, where the whole array
                    // went in: the callee's gradient becomes the adjoint.
                    let first = prefix.is_empty()
                        && self.top.is_some()
                        && self.zeroed_in[*var] == self.top
                        && !self.touched[*var];
                    if let (true, Shape::Array { zeros, .. }) = (first, &g.vars[*var].shape) {
                        let d = self.var_d(*var);
                        self.moved[*var] = true;
                        out.push(quote! {
                            #[allow(unused_mut)]
                            let mut #d = __tl::moved(#grad, || #zeros);
                        });
                        continue;
                    }
                    let target = self.d_place(*var, prefix);
                    // A call's result of a type the macro does not see,
                    // passed on whole (`Whole` in the runtime).
                    if matches!(g.vars[*var].shape, Shape::Array { depth: 0, .. }) {
                        let float = &self.float;
                        out.push(quote! {
                            __tl::Whole::<#float>::add_grad(&mut #target, #grad);
                        });
                        continue;
                    }
                    out.push(add_consumed(&target, grad, depth, self.generic));
                }
            }
        }
        out
    }

    /// The pullback of one node, into the adjoints of its inputs.
    fn node(&mut self, id: NodeId) -> Vec<TokenStream> {
        let g = self.g;
        if matches!(g.nodes[id].op, Op::Call { .. }) {
            return self.call(id);
        }
        let Some(adj) = self.adjoint[id].clone() else {
            return vec![];
        };
        let node = &g.nodes[id];
        // The router of a loop that keeps only its winner, replayed for the
        // iteration that won: all of the adjoint goes to the new value.
        if let Some(&new) = self.plan.winner_routers.get(&id) {
            return match g.nodes[new].active {
                true => self
                    .contribute(new, Local::Same, &adj)
                    .into_iter()
                    .collect(),
                false => vec![],
            };
        }
        match &node.op {
            Op::Prim { prim, args } => {
                let refs = node_refs(g, args);
                let kept = Kept {
                    args: &refs,
                    out: node_ref(node),
                    g: &adj,
                    float: &self.float,
                };
                if rules::squares(*prim, args) {
                    return match g.nodes[args[0]].active {
                        true => self
                            .contribute(args[0], rules::square(&kept), &adj)
                            .into_iter()
                            .collect(),
                        false => vec![],
                    };
                }
                let mut out = Vec::new();
                for (&arg, local) in args.iter().zip(rules::pullback(*prim, &kept)) {
                    if g.nodes[arg].active && !matches!(local, Local::Zero) {
                        out.extend(self.contribute(arg, local, &adj));
                    }
                }
                out
            }
            Op::ReadVar(v) if g.vars[*v].active => {
                let d = self.var_d(*v);
                vec![self.accumulate(&d, adj.into_token_stream())]
            }
            Op::ReadIndex { .. } if self.kept_in_place.contains(&id) => vec![],
            Op::ReadIndex { var, index } if g.vars[*var].active => {
                let d = match self.carried.get(&id) {
                    Some(c) => c.to_token_stream(),
                    None => self.d_place(*var, index),
                };
                let add = self.accumulate(&d, adj.into_token_stream());
                // An element of a parameter never written: its adjoint is
                // only returned, so a caller that does not need it (data
                // outside `wrt(..)` passed to `NAME_grad`) is spared the
                // work; the mask is a constant there, and the test folds.
                match (
                    g.vars[*var].param,
                    g.vars[*var].written,
                    self.carried.contains_key(&id),
                ) {
                    (Some(k), false, false) if !self.fusing => vec![self.if_needed(k, add)],
                    _ => vec![add],
                }
            }
            _ => vec![],
        }
    }

    /// The locals of a loop's [`crate::analyse::Carry`]s: declared before the
    /// reversed loop; at the end of each iteration the element no later
    /// iteration touches is written and the others move one place; after the
    /// loop the rest are written at the positions of its last iteration (the
    /// iterator's first item). Registers the reads whose adjoints go to them.
    fn carries(&mut self, l: &Loop) -> Carried {
        let mut out = Carried::default();
        let (Some(carries), Some(h)) = (self.a.carries.get(&l.body.id), &l.header) else {
            return out;
        };
        let g = self.g;
        let zero = self.zero();
        let item = node_tokens(&g.nodes[h.item]);
        let iter = node_ref(&g.nodes[h.iter]);
        let first = self.names.local("first").to_token_stream();
        let mut window_flush = Vec::new();
        for c in carries {
            let var = &g.vars[c.var];
            let base = var.ident.to_string();
            let base = base
                .strip_prefix("__tl_v")
                .unwrap_or(&base)
                .trim_start_matches('_');
            let locals: Vec<Ident> = match c.kind {
                CarryKind::Window { width, .. } => (0..width)
                    .map(|j| self.names.fresh("carry", Some(&format!("{base}_{j}"))))
                    .collect(),
                CarryKind::Fixed { .. } => vec![self.names.fresh("carry", Some(base))],
            };
            for &(id, j) in &c.reads {
                self.carried.insert(id, locals[j].clone());
            }
            out.decls
                .extend(locals.iter().map(|c| quote!(let mut #c = #zero;)));
            let d = &self.var_d(c.var);
            let (low, descends) = match &c.kind {
                CarryKind::Fixed { index } => {
                    // Indexed only where a read added something: a read in a
                    // branch may never have run, its index never checked.
                    let place = self.d_place(c.var, index);
                    let l = &locals[0];
                    let add = self.accumulate(&place, l.to_token_stream());
                    out.flush.push(quote!(if #l != #zero { #add }));
                    continue;
                }
                CarryKind::Window { low, descends, .. } => (*low, *descends),
            };
            let at = |base: &TokenStream, j: usize, shift: i64| {
                let k = low + j as i64 + shift;
                let n = proc_macro2::Literal::u64_unsuffixed(k.unsigned_abs());
                match k {
                    0 => quote!(#d[#base]),
                    k if k > 0 => quote!(#d[#base + #n]),
                    _ => quote!(#d[#base - #n]),
                }
            };
            let width = locals.len();
            let last = width - 1;
            // The reversal counting up, local 0 is complete after each
            // iteration; counting down, the last one.
            let (done, moves, fresh, pending, shift) = if descends {
                let moves: Vec<(usize, usize)> = (0..last).map(|j| (j, j + 1)).collect();
                (0, moves, last, 0..last, 1)
            } else {
                let moves: Vec<(usize, usize)> = (1..=last).rev().map(|j| (j, j - 1)).collect();
                (last, moves, 0, 1..width, -1)
            };
            let place = at(&item, done, 0);
            out.shift
                .push(self.accumulate(&place, locals[done].to_token_stream()));
            for (to, from) in moves {
                let (to, from) = (&locals[to], &locals[from]);
                out.shift.push(quote!(#to = #from;));
            }
            let f = &locals[fresh];
            out.shift.push(quote!(#f = #zero;));
            for j in pending {
                let place = at(&first, j, shift);
                window_flush.push(self.accumulate(&place, locals[j].to_token_stream()));
            }
        }
        if !window_flush.is_empty() {
            out.flush.push(
                quote!(if let ::core::option::Option::Some(#first) = (#iter).next() { #(#window_flush)* }),
            );
        }
        out
    }

    /// Adds `local`, one term of a pullback of upstream gradient `g`, to
    /// `target`'s adjoint (see [`Backward::add`]).
    fn contribute(&mut self, target: NodeId, local: Local, g: &Ident) -> Option<TokenStream> {
        let term = match local {
            Local::Same | Local::Zero => Term::Same(g),
            Local::Neg => Term::Neg(g),
            Local::Expr(e) => Term::Expr(e),
        };
        self.add(target, term)
    }

    /// Adds one term to `target`'s adjoint: `let` for the only term, `let mut`
    /// then `d = d + ..` where there are several, `+=` into an `Accum`
    /// adjoint; a lone `g` is not copied.
    fn add(&mut self, target: NodeId, term: Term) -> Option<TokenStream> {
        match self.a.mode[target] {
            Mode::None => None,
            Mode::Accum => {
                let d = self.adjoint[target].as_ref()?;
                Some(self.accumulate(d, term.into_tokens()))
            }
            Mode::Let(total) => {
                self.seen[target] += 1;
                let first = self.seen[target] == 1;
                if let (1, Term::Same(g)) = (total, &term) {
                    self.adjoint[target] = Some((*g).clone());
                    return None;
                }
                if first {
                    let d = self.names.adjoint_of(&self.g.nodes[target].ident);
                    let mutability = (total > 1).then(|| quote!(mut));
                    let head = quote!(let #mutability #d =);
                    self.adjoint[target] = Some(d);
                    Some(ended(head, term.into_tokens(), Span::call_site()))
                } else {
                    let d = self.adjoint[target].as_ref()?;
                    Some(self.accumulate(d, term.into_tokens()))
                }
            }
        }
    }
}

/// One term added to an adjoint: the upstream gradient (a name), its
/// negation, or an expression of its own (moved in: interpolating a stream
/// would copy its tokens, each an allocation in proc_macro2's own
/// representation).
enum Term<'g> {
    Same(&'g Ident),
    Neg(&'g Ident),
    Expr(TokenStream),
}

impl Term<'_> {
    fn into_tokens(self) -> TokenStream {
        match self {
            Term::Same(g) => g.to_token_stream(),
            Term::Neg(g) => quote!(-#g),
            Term::Expr(e) => e,
        }
    }
}

/// What a reversed loop adds for its [`crate::analyse::Carry`]s: before it,
/// at the end of each iteration, and after it.
#[derive(Default)]
struct Carried {
    decls: Vec<TokenStream>,
    shift: Vec<TokenStream>,
    flush: Vec<TokenStream>,
}

/// Whether the reversals of `l`'s iterations commute, so that the
/// backward may run them in the forward's order, the one LLVM vectorizes
/// (a reversed walk of an array it mostly does not): `l` reads nothing
/// back from storage, never breaks, and writes no variable declared
/// outside it but the scalars `vars` ([`Backward::skippable`]), each an
/// accumulator (`s += t`, `s = s - t`) whose old value nothing else in the
/// loop reads. Then `s`'s adjoint is the same before and after every
/// iteration's reversal, each iteration's adjoints depend on it and the
/// iteration's own values only, and the order changes at most the rounding
/// of sums into shared adjoints (as in a hand-written backward loop, which
/// runs forward).
fn order_free(g: &Graph, l: &Loop, vars: &[VarId]) -> bool {
    /// What the loop reads and writes: how often each node is read, the
    /// assignments, and every read of a variable as it stands.
    #[derive(Default)]
    struct Seen {
        uses: HashMap<NodeId, usize>,
        sets: Vec<(VarId, NodeId)>,
        reads: Vec<(NodeId, VarId)>,
    }
    impl Seen {
        fn note(&mut self, n: NodeId) {
            *self.uses.entry(n).or_default() += 1;
        }
    }
    fn walk(g: &Graph, b: &Block, seen: &mut Seen) -> bool {
        for s in &b.stmts {
            match s {
                Stmt::Node(id) => {
                    let op = &g.nodes[*id].op;
                    op.each_input(|n| seen.note(n));
                    if let Op::ReadVar(v) = op {
                        seen.reads.push((*id, *v));
                    }
                }
                Stmt::Set { var, value } => {
                    seen.note(*value);
                    seen.sets.push((*var, *value));
                }
                Stmt::Store { index, value, .. } => {
                    index.iter().copied().for_each(|n| seen.note(n));
                    seen.note(*value);
                }
                Stmt::Declare { init, .. } => match init {
                    Init::Value(n) | Init::Call(n) => seen.note(*n),
                    Init::Fill { value, lens, .. } => {
                        seen.note(*value);
                        lens.iter().copied().for_each(|n| seen.note(n));
                    }
                    Init::Elems { values, .. } => values.iter().copied().for_each(|n| seen.note(n)),
                    Init::Deferred | Init::Copy { .. } => {}
                },
                Stmt::If { cond, then, els } => {
                    seen.note(*cond);
                    if !walk(g, then, seen) || !walk(g, els, seen) {
                        return false;
                    }
                }
                Stmt::Loop(inner) => {
                    if let Some(h) = &inner.header {
                        seen.note(h.iter);
                    }
                    if let Some((_, count)) = &inner.counter {
                        seen.note(*count);
                    }
                    if !walk(g, &inner.body, seen) {
                        return false;
                    }
                }
                Stmt::Break => return false,
            }
        }
        true
    }
    let mut seen = Seen::default();
    if !walk(g, &l.body, &mut seen) {
        return false;
    }
    let uses = &seen.uses;
    // The reads of an accumulator's old value its updates consume.
    let mut consumed: HashSet<NodeId> = HashSet::default();
    for &(var, value) in &seen.sets {
        if !vars.contains(&var) {
            continue;
        }
        let old = match &g.nodes[value].op {
            Op::Prim {
                prim: Prim::Add,
                args,
            } if args.len() == 2 => args
                .iter()
                .copied()
                .find(|&a| matches!(g.nodes[a].op, Op::ReadVar(v) if v == var)),
            Op::Prim {
                prim: Prim::Sub,
                args,
            } if args.len() == 2 => {
                Some(args[0]).filter(|&a| matches!(g.nodes[a].op, Op::ReadVar(v) if v == var))
            }
            _ => None,
        };
        match old {
            Some(r) if uses.get(&r) == Some(&1) && uses.get(&value) == Some(&1) => {
                consumed.insert(r);
            }
            _ => return false,
        }
    }
    // No other read of an accumulator (its adjoint would change with the
    // iteration).
    seen.reads
        .iter()
        .all(|(id, v)| !vars.contains(v) || consumed.contains(id))
}

/// For each `(var, at)`, the first statement after `at` that mentions the
/// var's adjoint: one walk over the statements for all of them (a block
/// may declare hundreds of arrays).
fn first_mentions(
    out: &[TokenStream],
    decls: &[(VarId, usize)],
    adjoint: &[Ident],
) -> Vec<Option<usize>> {
    fn walk(
        tokens: &TokenStream,
        j: usize,
        wanted: &HashMap<String, usize>,
        decls: &[(VarId, usize)],
        found: &mut [Option<usize>],
        left: &mut usize,
    ) {
        for t in tokens.clone() {
            match t {
                TokenTree::Ident(i) => {
                    if let Some(k) = names::text(&i, |s| wanted.get(s).copied()) {
                        if found[k].is_none() && j > decls[k].1 {
                            found[k] = Some(j);
                            *left -= 1;
                        }
                    }
                }
                TokenTree::Group(g) => walk(&g.stream(), j, wanted, decls, found, left),
                _ => {}
            }
        }
    }
    let mut found = vec![None; decls.len()];
    let Some(start) = decls.iter().map(|&(_, at)| at + 1).min() else {
        return found;
    };
    let wanted: HashMap<String, usize> = decls
        .iter()
        .enumerate()
        .map(|(k, &(v, _))| (adjoint[v].to_string(), k))
        .collect();
    let mut left = decls.len();
    for (j, s) in out.iter().enumerate().skip(start) {
        if left == 0 {
            break;
        }
        walk(s, j, &wanted, decls, &mut found, &mut left);
    }
    found
}

/// Whether an array's adjoint lives on the heap (a `vec!` outermost).
fn heap_array(shape: &Shape) -> bool {
    let Shape::Array { zeros, .. } = shape else {
        return false;
    };
    let mut last = None;
    for t in zeros.clone() {
        match t {
            TokenTree::Punct(p) if p.as_char() == '!' => {
                return last.is_some_and(|i: Ident| i == "vec");
            }
            TokenTree::Ident(i) => last = Some(i),
            TokenTree::Punct(_) => {}
            _ => return false,
        }
    }
    false
}

/// `target += source` elementwise, for arrays of `depth` dimensions.
fn add_into(
    target: &dyn ToTokens,
    source: &dyn ToTokens,
    depth: usize,
    generic: bool,
) -> TokenStream {
    add_scaled(target, source, None, depth, generic)
}

/// `target += source` elementwise, `source` an owned array (a callee's
/// gradient) consumed by the loop: its buffer is freed there, not at the
/// end of the pullback, so a gradient's temporaries do not pile up.
fn add_consumed(target: &dyn ToTokens, source: &Ident, depth: usize, generic: bool) -> TokenStream {
    if depth == 0 {
        return add_into(target, source, 0, generic);
    }
    let (t, s) = (
        format_ident!("__tl_into", span = Span::mixed_site()),
        format_ident!("__tl_from", span = Span::mixed_site()),
    );
    let inner_t = match depth {
        1 => quote!(*#t),
        _ => quote!((*#t)),
    };
    // Items by value: the element itself, or an owned row read by `.iter()`.
    let inner = add_into(&inner_t, &s, depth - 1, generic);
    quote!(for (#t, #s) in #target.iter_mut().zip(#source) { #inner })
}

/// `target += scale * source` elementwise (`target += source` without a
/// scale), for arrays of `depth` dimensions.
fn add_scaled(
    target: &dyn ToTokens,
    source: &dyn ToTokens,
    scale: Option<&dyn ToTokens>,
    depth: usize,
    generic: bool,
) -> TokenStream {
    if depth == 0 {
        let term = match scale {
            Some(k) => quote!(#k * #source),
            None => source.to_token_stream(),
        };
        // `Float` has no `AddAssign`; `f32` and `f64` do.
        return if generic {
            quote!(#target = #target + #term;)
        } else {
            quote!(#target += #term;)
        };
    }
    let (t, s) = (
        format_ident!("__tl_into", span = Span::mixed_site()),
        format_ident!("__tl_from", span = Span::mixed_site()),
    );
    let (inner_t, inner_s) = if depth > 1 {
        (quote!((*#t)), quote!((*#s)))
    } else {
        (quote!(*#t), quote!(*#s))
    };
    let inner = add_scaled(&inner_t, &inner_s, scale, depth - 1, generic);
    quote!(for (#t, #s) in #target.iter_mut().zip(#source.iter()) { #inner })
}

/// `head value;`, the value moved in (an interpolation would copy its
/// tokens), the `;` at `span`.
fn ended(mut head: TokenStream, value: TokenStream, span: Span) -> TokenStream {
    head.extend(value);
    let mut semi = Punct::new(';', Spacing::Alone);
    semi.set_span(span);
    head.extend([TokenTree::Punct(semi)]);
    head
}

/// Statements in braces, moved in: interpolated, a group is one token, so
/// the statements are not copied again at each enclosing block (copying a
/// stream copies its tokens, and most of the pipeline's time was tokens
/// made and copied).
fn braced(stmts: impl IntoIterator<Item = TokenStream>) -> Group {
    Group::new(Delimiter::Brace, stmts.into_iter().collect())
}

pub(crate) fn forward_name(f: &Function) -> Ident {
    let id = &f.item.sig.ident;
    format_ident!("{}_forward", id, span = id.span())
}

pub(crate) fn grad_name(f: &Function) -> Ident {
    let id = &f.item.sig.ident;
    format_ident!("{}_grad", id, span = id.span())
}

/// `NAME_grad`: the forward pass, then the pullback of `1`.
fn grad(f: &Function, names: &mut Names) -> TokenStream {
    let Signature {
        attrs,
        vis,
        out,
        grads,
        ..
    } = signature(f);
    // The user's own signature: `_grad` borrows nothing past its return.
    let generics = f.item.sig.generics.clone();
    let params: Vec<TokenStream> = f
        .params
        .iter()
        .map(|p| {
            let (id, ty) = (p.ident, p.ty);
            quote!(#id: #ty)
        })
        .collect();
    let (name, fwd) = (grad_name(f), forward_name(f));
    let where_clause = &generics.where_clause;
    let doc = format!(
        "Value and gradient of [`{0}`] (in parameter order). Generated by `#[differentiable]`.",
        f.item.sig.ident
    );
    let idents = f.params.iter().map(|p| p.ident);
    let turbofish = turbofish(f).unwrap_or_default();
    let (value, pullback) = (names.local("value"), names.local("pullback"));
    let float = &f.float;
    quote! {
        #(#attrs)*
        #[doc = #doc]
        #[inline]
        #[allow(dead_code)]
        #vis fn #name #generics (#(#params),*) -> (#out, #grads) #where_clause {
            let (#value, #pullback) = #fwd #turbofish (#(#idents),*);
            (#value, #pullback(::tapeless::__private::one::<#float>()))
        }
    }
}

/// `::<T, N>` so that the call does not depend on inference (empty without
/// type or const parameters); `None` where a parameter is `impl Trait`, which
/// forbids explicit generic arguments.
fn turbofish(f: &Function) -> Option<TokenStream> {
    struct ImplTrait(bool);
    impl<'a> Visit<'a> for ImplTrait {
        fn visit_type_impl_trait(&mut self, _: &'a syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut v = ImplTrait(false);
    f.params.iter().for_each(|p| v.visit_type(p.ty));
    let args = crate::parse::generic_args(&f.item.sig.generics);
    match (v.0, args.is_empty()) {
        (true, _) => None,
        (false, true) => Some(TokenStream::new()),
        (false, false) => Some(quote!(::<#(#args),*>)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Args;
    use crate::diag::Diagnostics;
    use syn::{parse_quote, ItemFn};

    fn expand_fn(item: ItemFn) -> String {
        let cx = Diagnostics::default();
        let f = crate::parse::function(&cx, &Args::default(), &item).unwrap();
        let mut names = Names::default();
        let g = crate::lower::lower(&cx, &f, &mut names).unwrap();
        cx.finish().unwrap();
        let a = crate::analyse::analyse(&g);
        forward(&f, &g, &a, &mut names, &forward_name(&f), None)
            .0
            .to_string()
    }

    fn normalise(ts: TokenStream) -> String {
        ts.to_string()
    }

    #[test]
    fn lecture_example_reads_like_hand_written_backprop() {
        let s = expand_fn(parse_quote!(
            fn f<T: Float>(x: T, y: T, z: T) -> T {
                let q = x + y;
                q * z
            }
        ));
        let body = normalise(quote! {
            let __tl_v_q = x + y;
            let __tl_v_out = __tl_v_q * z;
            (__tl_v_out, move |__tl_dout: T| {
                let __tl_d_q = __tl_dout * z;
                let __tl_d_z = __tl_dout * __tl_v_q;
                (__tl_d_q, __tl_d_q, __tl_d_z)
            })
        });
        assert!(s.contains(&body), "{s}");
    }

    /// A column of a flat matrix (`w[i * h + j]` in a loop over `i`) is
    /// read at its full index, not through a span bound before the loop
    /// (`&w[j..j + (d - 1) * h + 1]` at `[i * h]`): the span took the bounds
    /// checks out, and LLVM then packed pairs of strided elements into
    /// vectors, which measured 3-10% slower on the loop mlp (README,
    /// changelog). tests/strides.rs checks the gradients.
    #[test]
    fn columns_read_at_their_index() {
        let s = expand_fn(parse_quote!(
            fn f<T: Float>(w: &[T], x: &[T], h: usize) -> T {
                let d = x.len();
                let mut s = T::zero();
                for j in 0..h {
                    let mut a = T::zero();
                    for i in 0..d {
                        a += x[i] * w[i * h + j];
                    }
                    s += a.tanh();
                }
                s
            }
        ));
        assert!(!s.contains("(__tl_end - 1) * h"), "{s}");
        // `let __tl_v10 = __tl_v7 * h + __tl_v4;` in the forward and again
        // in the backward, which reads `w` and writes its adjoint there.
        assert_eq!(s.matches("* h + __tl_v").count(), 2, "{s}");
    }

    /// An accumulator's loop is reversed in the forward's order; one whose
    /// running value is read again keeps `.rev()` (tests/commuting.rs
    /// checks the gradients).
    #[test]
    fn commuting_iterations_run_forward() {
        let s = expand_fn(parse_quote!(
            fn f<T: Float>(x: &[T], w: &[T]) -> T {
                let mut s = T::zero();
                for i in 0..x.len() {
                    s += x[i] * w[i];
                }
                s
            }
        ));
        let backward = &s[s.find("move |").unwrap()..];
        assert!(backward.contains("in 0 .. x . len ()"), "{s}");
        assert!(!backward.contains(". rev ()"), "{s}");
        let s = expand_fn(parse_quote!(
            fn f<T: Float>(x: &[T], w: &[T]) -> T {
                let mut s = T::zero();
                let mut t = T::zero();
                for i in 0..x.len() {
                    s += x[i];
                    t += s * w[i];
                }
                t
            }
        ));
        let backward = &s[s.find("move |").unwrap()..];
        assert!(backward.contains("in (0 .. x . len ()) . rev ()"), "{s}");
    }

    #[test]
    fn taped_iterations_that_commute_run_forward() {
        // Each unit's sum is taped; the layer is written at the item only.
        let s = expand_fn(parse_quote!(
            fn f<T: Float>(x: &[T], w: &[T]) -> T {
                let mut h = vec![T::zero(); w.len()];
                for j in 0..w.len() {
                    let mut a = T::zero();
                    for i in 0..x.len() {
                        a += x[i] * w[j];
                    }
                    h[j] = a.tanh();
                }
                h[0] * h[w.len() - 1]
            }
        ));
        let backward = &s[s.find("move |").unwrap()..];
        assert!(backward.contains("__tl_trips"), "{s}");
        assert!(!backward.contains("in (0 .. w . len ()) . rev ()"), "{s}");
        // The element before read back: a recurrence, kept reversed.
        let s = expand_fn(parse_quote!(
            fn f<T: Float>(x: &[T], w: &[T]) -> T {
                let mut h = vec![T::one(); w.len()];
                for j in 1..w.len() {
                    let mut a = T::zero();
                    for i in 0..x.len() {
                        a += x[i] * w[j];
                    }
                    h[j] = h[j - 1] * a.tanh();
                }
                h[w.len() - 1]
            }
        ));
        let backward = &s[s.find("move |").unwrap()..];
        assert!(backward.contains("in (1 .. w . len ()) . rev ()"), "{s}");
    }

    #[test]
    fn repeated_uses_accumulate() {
        let s = expand_fn(parse_quote!(
            fn f<T: Float>(x: T, y: T) -> T {
                x * y + x
            }
        ));
        let body = normalise(quote! {
            let mut __tl_d_x = __tl_dout;
            __tl_d_x = __tl_d_x + __tl_dout * y;
        });
        assert!(s.contains(&body), "{s}");
    }

    #[test]
    fn a_square_is_one_term() {
        let s = expand_fn(parse_quote!(
            fn f<T: Float>(x: T) -> T {
                x * x
            }
        ));
        let body = normalise(quote! {
            let __tl_d_x = __tl_dout * (x + x);
            __tl_d_x
        });
        assert!(s.contains(&body), "{s}");
    }

    #[test]
    fn unused_inputs_get_zero() {
        let s = expand_fn(parse_quote!(
            fn f(x: f64, y: f64) -> f64 {
                x.floor() + 2.0
            }
        ));
        assert!(
            s.contains(&normalise(quote!((
                __tl::zero::<f64>(),
                __tl::zero::<f64>()
            )))),
            "{s}"
        );
    }

    #[test]
    fn counted_loop_nests_write_their_tapes_by_position() {
        // Known trip counts (ranges, no break): sized once, written in place.
        let s = expand_fn(parse_quote!(
            fn f<T: Float>(x: &[T], n: usize) -> T {
                let mut p = T::one();
                for _ in 0..n {
                    for i in 0..x.len() {
                        p = p * x[i];
                    }
                }
                p
            }
        ));
        assert!(s.contains("__tl_tape_p . resize"), "{s}");
        assert!(s.contains("__tl_tape_p [__tl_put_p] = "), "{s}");
        // A `break`, a branch, or a triangular range: pushed.
        for item in [
            parse_quote!(
                fn f<T: Float>(x: &[T]) -> T {
                    let mut p = T::one();
                    for i in 0..x.len() {
                        p = p * x[i];
                        if p > 10.0 {
                            break;
                        }
                    }
                    p
                }
            ),
            parse_quote!(
                fn f<T: Float>(x: &[T]) -> T {
                    let mut p = T::one();
                    for i in 0..x.len() {
                        if x[i] > 0.0 {
                            p = p * x[i];
                        }
                    }
                    p
                }
            ),
            parse_quote!(
                fn f<T: Float>(x: &[T]) -> T {
                    let mut p = T::one();
                    for a in 0..x.len() {
                        for b in a + 1..x.len() {
                            p = p * x[b];
                        }
                    }
                    p
                }
            ),
        ] {
            let s = expand_fn(item);
            assert!(!s.contains("resize"), "{s}");
            assert!(s.contains("__tl :: push (& mut __tl_tape_p"), "{s}");
        }
    }

    #[test]
    fn neighbouring_reads_carry_their_adjoints() {
        // x[i] and x[i + 1]: two locals, one write of the adjoint per
        // iteration, the rest written after the loop.
        let s = expand_fn(parse_quote!(
            fn f<T: Float>(x: &[T]) -> T {
                let mut s = T::zero();
                for i in 0..x.len() - 1 {
                    s += x[i] * x[i + 1];
                }
                s
            }
        ));
        assert!(s.contains("let mut __tl_carry_x_0"), "{s}");
        assert!(s.contains("let mut __tl_carry_x_1"), "{s}");
        assert!(s.contains(". next ()"), "{s}");
        // Written in the loop, read by a nested loop, stepped by two,
        // indexed by something else, or one element per iteration: as before.
        for item in [
            parse_quote!(
                fn f<T: Float>(x: &[T]) -> T {
                    let mut y = vec![T::zero(); x.len()];
                    for i in 0..x.len() {
                        y[i] = x[i];
                    }
                    let mut s = T::zero();
                    for i in 0..x.len() - 1 {
                        s += y[i] * y[i + 1];
                        y[i] = s;
                    }
                    s
                }
            ),
            parse_quote!(
                fn f<T: Float>(x: &[T]) -> T {
                    let mut s = T::zero();
                    for i in 0..x.len() - 1 {
                        s += x[i];
                        for _ in 0..2 {
                            s += x[i + 1];
                        }
                    }
                    s
                }
            ),
            parse_quote!(
                fn f<T: Float>(x: &[T]) -> T {
                    let mut s = T::zero();
                    for i in (0..x.len() - 1).step_by(2) {
                        s += x[i] * x[i + 1];
                    }
                    s
                }
            ),
            parse_quote!(
                fn f<T: Float>(x: &[T]) -> T {
                    let mut s = T::zero();
                    for i in 0..x.len() / 2 {
                        s += x[i] * x[2 * i];
                    }
                    s
                }
            ),
            parse_quote!(
                fn f<T: Float>(x: &[T]) -> T {
                    let mut s = T::zero();
                    for i in 0..x.len() - 9 {
                        s += x[i] * x[i + 9];
                    }
                    s
                }
            ),
            parse_quote!(
                fn f<T: Float>(x: &[T]) -> T {
                    let mut s = T::zero();
                    for i in 0..x.len() {
                        s += x[i] * x[i];
                    }
                    s
                }
            ),
        ] {
            let s = expand_fn(item);
            assert!(!s.contains("__tl_carry"), "{s}");
        }
    }

    #[test]
    fn updates_in_place_leave_the_adjoint_alone() {
        // `a[i] += e`: the reversal reads the element's adjoint and neither
        // zeroes it nor adds it back; with the old value used again, or the
        // element overwritten in between, it does both.
        let count = |item: ItemFn| {
            let s = expand_fn(item);
            // Indexed directly or through a slice bound before the loop.
            s.matches("__tl_d_a [__tl_v").count() + s.matches("__tl_d_slice_a [__tl_v").count()
        };
        let plain = count(parse_quote!(
            fn f<T: Float>(x: &[T]) -> T {
                let mut a = vec![T::zero(); x.len()];
                for i in 0..x.len() {
                    a[i] += x[i] * x[i];
                }
                a[0]
            }
        ));
        let reused = count(parse_quote!(
            fn f<T: Float>(x: &[T]) -> T {
                let mut a = vec![T::zero(); x.len()];
                let mut s = T::zero();
                for i in 0..x.len() {
                    let old = a[i];
                    a[i] = old + x[i] * x[i];
                    s += old;
                }
                a[0] + s
            }
        ));
        // One read of the element's adjoint, against a read, a zeroing and
        // an add (two mentions).
        assert_eq!(plain, 1);
        assert_eq!(reused, 4);
    }
}
