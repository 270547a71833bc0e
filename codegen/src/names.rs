//! Generated identifiers: `__tl_` + role (`v` value, `d` adjoint, `dout`),
//! unique within one expansion, with `Span::mixed_site()` so that they can
//! neither see nor shadow the user's bindings (macro_rules hygiene).

use std::fmt::Write;
use std::hash::BuildHasher;

use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};

use proc_macro2::{Ident, Span};
use quote::format_ident;

/// Hands out fresh generated identifiers.
///
/// Names are remembered by their hashes, not their text: a big fn claims
/// thousands, and a string per name (twice, with the counters) was most of
/// what naming cost. Two names with one hash can only make a free name look
/// taken, so that a claim moves on to the next number: never a duplicate.
#[derive(Default, Clone)]
pub(crate) struct Names {
    taken: FxHashSet<u64>,
    /// The next number to try for each base (by hash, likewise: a shared
    /// hash starts a base at a later number, still free).
    next: FxHashMap<u64, usize>,
    /// The name being built (no allocation per claim).
    buf: String,
}

fn hash(s: &str) -> u64 {
    FxBuildHasher.hash_one(s)
}

impl Names {
    /// A fresh `__tl_{role}_{hint}`, or `__tl_{role}{n}` without a hint.
    pub(crate) fn fresh(&mut self, role: &str, hint: Option<&str>) -> Ident {
        let mut base = std::mem::take(&mut self.buf);
        base.clear();
        base.push_str("__tl_");
        base.push_str(role);
        let sep = match hint {
            Some(h) => {
                base.push('_');
                base.push_str(h.trim_start_matches('_'));
                "_"
            }
            None => "",
        };
        self.claim(base, sep)
    }

    /// A fresh `__tl_{name}`, for the few locals with one role each.
    pub(crate) fn local(&mut self, name: &str) -> Ident {
        let mut base = std::mem::take(&mut self.buf);
        base.clear();
        base.push_str("__tl_");
        base.push_str(name);
        self.claim(base, "_")
    }

    /// `base`, or `base{sep}{n}` with the first free `n` (shadowed user
    /// variables, temporaries); a bare role always gets a number. `name`
    /// holds the base on entry and is kept as the next claim's buffer.
    fn claim(&mut self, mut name: String, sep: &str) -> Ident {
        let base_len = name.len();
        let key = hash(&name);
        // Start where the last claim of this base stopped: the n-th
        // temporary costs O(1), not O(n).
        let mut n = self.next.get(&key).copied().unwrap_or(0);
        let numbered = |name: &mut String, n: usize| {
            name.truncate(base_len);
            name.push_str(sep);
            let _ = write!(name, "{}", n + usize::from(sep.is_empty()));
        };
        if n > 0 || sep.is_empty() {
            numbered(&mut name, n);
        }
        while !self.taken.insert(hash(&name)) {
            n += 1;
            numbered(&mut name, n);
        }
        self.next.insert(key, n + 1);
        let ident = Ident::new(&name, Span::mixed_site());
        self.buf = name;
        ident
    }

    /// The adjoint name that goes with a value: `x` -> `__tl_d_x`,
    /// `__tl_v_q` -> `__tl_d_q`, `__tl_v3` -> `__tl_d3`.
    pub(crate) fn adjoint_of(&mut self, value: &Ident) -> Ident {
        let mut name = std::mem::take(&mut self.buf);
        name.clear();
        let _ = write!(name, "{value}");
        let len = name.len();
        let s = name.strip_prefix("r#").unwrap_or(&name);
        let (prefix, rest) = if let Some(rest) = s.strip_prefix("__tl_v_") {
            ("__tl_d_", rest.trim_start_matches('_'))
        } else if let Some(digits) = s
            .strip_prefix("__tl_v")
            .filter(|d| d.chars().all(|c| c.is_ascii_digit()))
        {
            ("__tl_d", digits)
        } else {
            ("__tl_d_", s.trim_start_matches('_'))
        };
        // The base: the value's text with its prefix replaced.
        let from = len - rest.len();
        name.replace_range(..from, prefix);
        self.claim(name, "_")
    }
}

/// `f` of an identifier's text, without making a `String` of it: the passes
/// look names up for every path they visit, and `Ident::to_string`
/// allocates each time. The text goes into a buffer kept per thread (a
/// nested call, which cannot borrow it, gets a string of its own).
pub(crate) fn text<R>(id: &Ident, f: impl FnOnce(&str) -> R) -> R {
    thread_local! {
        static BUF: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    BUF.with(|buf| match buf.try_borrow_mut() {
        Ok(mut b) => {
            b.clear();
            let _ = write!(b, "{id}");
            f(&b)
        }
        Err(_) => f(&id.to_string()),
    })
}

/// The upstream gradient(s) the pullback receives.
pub(crate) fn dout(index: Option<usize>) -> Ident {
    match index {
        None => format_ident!("__tl_dout", span = Span::mixed_site()),
        Some(i) => format_ident!("__tl_dout{}", i, span = Span::mixed_site()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shadowed_names_get_numbers() {
        let mut n = Names::default();
        assert_eq!(n.fresh("v", Some("x")).to_string(), "__tl_v_x");
        assert_eq!(n.fresh("v", Some("x")).to_string(), "__tl_v_x_1");
        assert_eq!(n.fresh("v", None).to_string(), "__tl_v1");
        assert_eq!(n.fresh("v", None).to_string(), "__tl_v2");
    }

    #[test]
    fn thousands_of_claims_are_all_distinct() {
        // Hints that collide with numbered names (`x_1` against the second
        // `x`), bare roles, adjoints of both: no name handed out twice.
        let mut n = Names::default();
        let mut seen = std::collections::HashSet::new();
        for i in 0..3000 {
            let hint = format!("x{}", ["", "_1", "_2"][i % 3]);
            let v = n.fresh("v", Some(&hint));
            let t = n.fresh("v", None);
            let d = n.adjoint_of(&v);
            let dt = n.adjoint_of(&t);
            for id in [v, t, d, dt] {
                assert!(seen.insert(id.to_string()), "{id} twice");
            }
        }
    }

    #[test]
    fn text_nests() {
        let (a, b) = (
            Ident::new("alpha", Span::call_site()),
            Ident::new("beta", Span::call_site()),
        );
        assert_eq!(text(&a, |x| text(&b, |y| format!("{x}{y}"))), "alphabeta");
    }

    #[test]
    fn adjoints_follow_values() {
        let mut n = Names::default();
        let q = n.fresh("v", Some("q"));
        assert_eq!(n.adjoint_of(&q).to_string(), "__tl_d_q");
        let x = Ident::new("q", Span::call_site());
        assert_eq!(n.adjoint_of(&x).to_string(), "__tl_d_q_1");
        let t = n.fresh("v", None);
        assert_eq!(t.to_string(), "__tl_v1");
        assert_eq!(n.adjoint_of(&t).to_string(), "__tl_d1");
        assert_eq!(n.local("pullback").to_string(), "__tl_pullback");
        assert_eq!(n.local("pullback").to_string(), "__tl_pullback_1");
    }
}
