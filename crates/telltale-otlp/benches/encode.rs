//! Encoder benchmark (skeleton).
fn main() {}
