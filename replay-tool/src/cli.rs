//! The `ledger-replay` command line. Commands that are agreed with operators but not built yet
//! (`rebuild`, `verify`, `balances`; docs/api.md, "Commands") are listed anyway, marked as
//! planned, so `--help` shows where the tool is going and scripts get a distinct exit code
//! instead of a usage error.

use clap::{Parser, Subcommand};

/// Exit code of a command that is planned but not implemented yet.
pub const EXIT_NOT_IMPLEMENTED: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "ledger-replay",
    version,
    about = "Inspect, rebuild and verify Ledger projections from the event log",
    after_help = "Database: DATABASE_URL, or else the running embedded cluster of \
                  LEDGER_DATA_DIR (default ./.ledger)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Projections: position, checkpoint, events applied, lag, state and last error; the log's
    /// head position and the xmin-horizon age.
    Status,
    /// (planned, not implemented yet) Rebuild a projection (or --all) from the log into shadow
    /// tables and swap them in atomically; --until <position> / --until-time <RFC3339>.
    Rebuild(PlannedArguments),
    /// (planned, not implemented yet) Rebuild in memory and print every difference from the
    /// live tables; exit 1 if any.
    Verify(PlannedArguments),
    /// (planned, not implemented yet) Point-in-time cashback balances:
    /// --until-time <RFC3339> [--format csv].
    Balances(PlannedArguments),
}

/// Whatever a planned command will take; accepted unchecked so that any invocation gets the
/// "not implemented yet" answer rather than a usage error.
#[derive(Debug, clap::Args)]
pub struct PlannedArguments {
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        hide = true,
        num_args = 0..
    )]
    pub arguments: Vec<String>,
}

impl Command {
    /// The name of a planned command, or None for one that works.
    pub fn planned_name(&self) -> Option<&'static str> {
        match self {
            Command::Status => None,
            Command::Rebuild(_) => Some("rebuild"),
            Command::Verify(_) => Some("verify"),
            Command::Balances(_) => Some("balances"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planned_commands_accept_their_future_arguments() {
        let cli = Cli::try_parse_from(["ledger-replay", "rebuild", "orders", "--until", "42"])
            .expect("a planned command accepts any arguments");
        assert_eq!(cli.command.planned_name(), Some("rebuild"));
        let cli = Cli::try_parse_from(["ledger-replay", "balances", "--format", "csv"]).unwrap();
        assert_eq!(cli.command.planned_name(), Some("balances"));
        let cli = Cli::try_parse_from(["ledger-replay", "status"]).unwrap();
        assert_eq!(cli.command.planned_name(), None);
    }

    #[test]
    fn help_lists_the_planned_commands_as_planned() {
        let help = <Cli as clap::CommandFactory>::command()
            .render_long_help()
            .to_string();
        for command in ["status", "rebuild", "verify", "balances"] {
            assert!(help.contains(command), "{command} missing from:\n{help}");
        }
        assert_eq!(help.matches("(planned, not implemented yet)").count(), 3);
    }
}
