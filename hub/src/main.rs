//! The `agenthub` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // One TLS crypto provider for the whole process (server, CLI client, database).
    let _ = rustls::crypto::ring::default_provider().install_default();
    agenthub::cli::run(agenthub::cli::Cli::parse())
}
