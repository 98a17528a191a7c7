//! The `ledger` binary: see `ledger --help` and `docs/api.md`.

fn main() -> std::process::ExitCode {
    ledger::cli::main()
}
