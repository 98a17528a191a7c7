//! `ledger-replay`: parses the command line, runs the command, maps the outcome to an exit
//! code (0 done, 1 differences found or failed, 2 usage or connection error). Everything else
//! lives in the library.

use std::process::ExitCode;

use clap::Parser;
use ledger_replay::cli::{Cli, Command, Format, EXIT_DIFFERENCES, EXIT_USAGE_OR_CONNECTION};
use ledger_replay::rebuild::RebuildOptions;
use ledger_replay::{balances, database, projectors, rebuild, status, verify};

// Two workers: one reads and decodes the next batch while the other applies the last.
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let pool = match database::connect_from_environment().await {
        Ok(pool) => pool,
        Err(error) => {
            eprintln!("ledger-replay: {error:#}");
            return ExitCode::from(EXIT_USAGE_OR_CONNECTION);
        }
    };
    match run(cli.command, &pool).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ledger-replay: {error:#}");
            ExitCode::from(EXIT_DIFFERENCES)
        }
    }
}

async fn run(command: Command, pool: &sqlx::PgPool) -> anyhow::Result<ExitCode> {
    // A bar on a terminal, plain lines on standard error otherwise (never on standard output).
    let show_progress = true;
    match command {
        Command::Status => {
            let report = status::gather(pool).await?;
            print!("{}", status::render(&report));
        }
        Command::Rebuild(arguments) => {
            let options = RebuildOptions {
                until_position: arguments.until,
                until_time: arguments.until_time,
                batch_size: Some(arguments.batch_size),
            };
            for projector in projectors(arguments.which.projection.as_deref(), arguments.which.all)?
            {
                let summary =
                    rebuild::rebuild(pool, projector.as_ref(), &options, show_progress).await?;
                print!("{}", summary.render());
            }
        }
        Command::Verify(which) => {
            let mut found = 0_usize;
            let Some(list) = named(which.projection.as_deref(), which.all) else {
                return Ok(ExitCode::from(EXIT_USAGE_OR_CONNECTION));
            };
            for projector in list {
                let differences = verify::verify(pool, projector.as_ref(), show_progress).await?;
                for difference in &differences {
                    println!("{}", difference.render(projector.name()));
                }
                println!(
                    "{}: {}",
                    projector.name(),
                    match differences.len() {
                        0 => "no difference".to_owned(),
                        count => format!("{count} rows differ"),
                    }
                );
                found += differences.len();
            }
            if found > 0 {
                return Ok(ExitCode::from(EXIT_DIFFERENCES));
            }
        }
        Command::Balances(arguments) => {
            let balances = balances::balances_at(pool, arguments.until_time).await?;
            match arguments.format {
                Format::Csv => print!("{}", balances::to_csv(&balances)),
                Format::Json => {
                    let text = serde_json::to_string_pretty(&balances)?;
                    println!("{text}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The projectors named on the command line; an unknown name is a usage error (printed).
fn named(
    name: Option<&str>,
    all: bool,
) -> Option<Vec<std::sync::Arc<dyn ledger_projections::Projector>>> {
    projectors(name, all)
        .map_err(|error| eprintln!("ledger-replay: {error:#}"))
        .ok()
}
