//! Every unsupported construct is a compile error at the user's tokens with
//! a sentence saying what to write instead; `tests/ui/*.stderr` pins them.
//! Regenerate with `TRYBUILD=overwrite cargo test --test compiletest` and
//! read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
