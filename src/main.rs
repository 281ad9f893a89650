use clap::Parser;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    schedulight::cli::run(schedulight::cli::Cli::parse()).await
}
