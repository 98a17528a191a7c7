//! The `ledger` binary: see `ledger --help` and `specs/api.md` §1.

fn main() -> std::process::ExitCode {
    ledger::cli::main()
}
