//! `ledger-replay`: parses the command line, runs the command, maps the outcome to an exit
//! code (0 done, 1 failed, 2 not implemented yet). Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use ledger_replay::cli::{Cli, Command, EXIT_NOT_IMPLEMENTED};
use ledger_replay::{database, status};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(name) = cli.command.planned_name() {
        eprintln!("ledger-replay {name}: not implemented yet (planned; see docs/api.md)");
        return ExitCode::from(EXIT_NOT_IMPLEMENTED);
    }
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ledger-replay: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Status => {
            let pool = database::connect_from_environment().await?;
            let report = status::gather(&pool).await?;
            print!("{}", status::render(&report));
            Ok(())
        }
        Command::Rebuild(_) | Command::Verify(_) | Command::Balances(_) => {
            unreachable!("planned commands are answered before connecting")
        }
    }
}
