//! Generated identifiers: `__tl_` + role (`v` value, `d` adjoint, `dout`),
//! unique within one expansion, with `Span::mixed_site()` so that they can
//! neither see nor shadow the user's bindings (macro_rules hygiene).

use rustc_hash::{FxHashMap, FxHashSet};

use proc_macro2::{Ident, Span};
use quote::format_ident;

/// Hands out fresh generated identifiers.
#[derive(Default, Clone)]
pub(crate) struct Names {
    taken: FxHashSet<String>,
    /// The next number to try for each base.
    next: FxHashMap<String, usize>,
}

impl Names {
    /// A fresh `__tl_{role}_{hint}`, or `__tl_{role}{n}` without a hint.
    pub(crate) fn fresh(&mut self, role: &str, hint: Option<&str>) -> Ident {
        let mut base = String::with_capacity(24);
        base.push_str("__tl_");
        base.push_str(role);
        match hint {
            Some(h) => {
                base.push('_');
                base.push_str(h.trim_start_matches('_'));
                self.claim(base, "_")
            }
            None => self.claim(base, ""),
        }
    }

    /// A fresh `__tl_{name}`, for the few locals with one role each.
    pub(crate) fn local(&mut self, name: &str) -> Ident {
        self.claim(format!("__tl_{name}"), "_")
    }

    /// `base`, or `base{sep}{n}` with the first free `n` (shadowed user
    /// variables, temporaries); a bare role always gets a number.
    fn claim(&mut self, base: String, sep: &str) -> Ident {
        // Start where the last claim of this base stopped: the n-th
        // temporary costs O(1), not O(n).
        let next = self.next.get_mut(&base);
        let mut n = next.as_deref().copied().unwrap_or(0);
        let numbered = |n: usize| {
            use std::fmt::Write;
            let mut name = String::with_capacity(base.len() + sep.len() + 4);
            name.push_str(&base);
            name.push_str(sep);
            let _ = write!(name, "{}", n + usize::from(sep.is_empty()));
            name
        };
        let mut name = if n == 0 && !sep.is_empty() {
            base.clone()
        } else {
            numbered(n)
        };
        while self.taken.contains(&name) {
            n += 1;
            name = numbered(n);
        }
        match next {
            Some(next) => *next = n + 1,
            None => {
                self.next.insert(base, n + 1);
            }
        }
        let ident = Ident::new(&name, Span::mixed_site());
        self.taken.insert(name);
        ident
    }

    /// The adjoint name that goes with a value: `x` -> `__tl_d_x`,
    /// `__tl_v_q` -> `__tl_d_q`, `__tl_v3` -> `__tl_d3`.
    pub(crate) fn adjoint_of(&mut self, value: &Ident) -> Ident {
        let s = value.to_string();
        let s = s.strip_prefix("r#").unwrap_or(&s);
        if let Some(rest) = s.strip_prefix("__tl_v_") {
            self.fresh("d", Some(rest))
        } else if let Some(digits) = s
            .strip_prefix("__tl_v")
            .filter(|d| d.chars().all(|c| c.is_ascii_digit()))
        {
            self.claim(format!("__tl_d{digits}"), "_")
        } else {
            self.fresh("d", Some(s))
        }
    }
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
