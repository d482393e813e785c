//! The `marketprism` binary; everything is in the library (`lib.rs`).

fn main() -> anyhow::Result<()> {
    marketprism::main()
}
