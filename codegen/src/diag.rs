//! The error collector shared by every pass: record a spanned error and keep
//! going, then report everything at once (serde's `Ctxt`).

use std::cell::RefCell;
use std::fmt::Display;

use quote::ToTokens;

/// Errors recorded so far; [`Diagnostics::finish`] must be called.
#[must_use = "call `finish` to report the errors"]
#[derive(Default)]
pub(crate) struct Diagnostics {
    errors: RefCell<Vec<syn::Error>>,
}

impl Diagnostics {
    /// Records an error spanning `at` (the smallest offending tokens).
    pub(crate) fn error(&self, at: impl ToTokens, msg: impl Display) {
        self.errors
            .borrow_mut()
            .push(syn::Error::new_spanned(at, msg));
    }

    /// Records an error built elsewhere (by syn's parser, say).
    pub(crate) fn push(&self, error: syn::Error) {
        self.errors.borrow_mut().push(error);
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.borrow().is_empty()
    }

    /// Moves `other`'s errors here (a trial run's, once it is kept).
    pub(crate) fn absorb(&self, other: Diagnostics) {
        self.errors.borrow_mut().extend(other.errors.into_inner());
    }

    /// All recorded errors combined into one, or `Ok` if there were none.
    pub(crate) fn finish(self) -> syn::Result<()> {
        let mut errors = self.errors.into_inner().into_iter();
        let Some(mut first) = errors.next() else {
            return Ok(());
        };
        for e in errors {
            first.combine(e);
        }
        Err(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combines_every_error() {
        let cx = Diagnostics::default();
        cx.error(quote::quote!(a), "first");
        cx.error(quote::quote!(b), "second");
        let err = cx.finish().unwrap_err();
        let msgs: Vec<String> = err.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(msgs, ["first", "second"]);
    }

    #[test]
    fn no_errors_is_ok() {
        assert!(Diagnostics::default().finish().is_ok());
    }
}
