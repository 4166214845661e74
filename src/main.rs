//! Thin entry point: parse the command line, run the chosen mode, exit with its code.
use clap::Parser;

fn main() -> std::process::ExitCode {
    // A command piped into `head` should end quietly when the reader goes away, like
    // any Unix tool (killed by SIGPIPE, status 141), not panic in `println!`. Rust
    // ignores SIGPIPE by default; we restore the default for everything but the
    // gateway itself, which writes to sockets and child pipes and must see EPIPE.
    set_sigpipe(libc::SIG_DFL);
    let cli = clawdbot::cli::Cli::parse();
    if cli.runs_server() {
        set_sigpipe(libc::SIG_IGN);
    }
    clawdbot::cli::run(cli)
}

fn set_sigpipe(action: libc::sighandler_t) {
    // SAFETY: called before any other thread exists; only changes one disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, action);
    }
}
