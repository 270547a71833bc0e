//! Prints what `#[differentiable]` expands a fn to, without rustc:
//! `cargo run -p tapeless-codegen --example dump -- 'fn f<T: Float>(x: T) -> T { x * x }'`
//! (no argument: the pipeline benchmark's `synthetic(16)`; a second
//! argument is the attribute's, e.g. `'wrt(x)'`). Pipe it through `rustfmt`
//! to read it.

fn main() {
    let item: proc_macro2::TokenStream = match std::env::args().nth(1) {
        Some(src) => match src.parse() {
            Ok(ts) => ts,
            Err(e) => {
                eprintln!("not Rust tokens: {e}");
                std::process::exit(1);
            }
        },
        None => tapeless_codegen::synthetic(16),
    };
    let attr: proc_macro2::TokenStream = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or_default();
    println!("{}", tapeless_codegen::differentiable(attr, item));
}
