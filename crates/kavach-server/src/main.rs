//! The `kavach` binary: the CLI (`cli/`, one module per command group) over the
//! `kavach` library, whose loader (`kavach::Settings`) reads the configuration.

mod cli;

#[tokio::main]
async fn main() {
    std::process::exit(cli::main().await);
}
