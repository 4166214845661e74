//! Thin entry point: parse the command line, run the chosen mode, exit with its code.
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = clawdbot::cli::Cli::parse();
    clawdbot::cli::run(cli)
}
