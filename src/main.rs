//! The `sqlkeep` command: the core for cron/systemd users and for people at a shell.
//! Exit status: 0 success, 1 the operation failed (a failed verification included),
//! 2 usage or configuration error.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
