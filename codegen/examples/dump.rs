fn main() {
    let item: proc_macro2::TokenStream = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or_else(|| tapeless_codegen::synthetic(16));
    println!(
        "{}",
        tapeless_codegen::differentiable(quote::quote!(), item)
    );
}
