//! The `ledger-replay` command line (docs/api.md, "ledger-replay").

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Exit code of `verify` when a difference was found (and of any other failure once running).
pub const EXIT_DIFFERENCES: u8 = 1;
/// Exit code of a usage error (clap's own) or of a database that cannot be reached.
pub const EXIT_USAGE_OR_CONNECTION: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "ledger-replay",
    version,
    about = "Inspect, rebuild and verify Ledger projections from the event log",
    after_help = "Database: DATABASE_URL, or else the running embedded cluster of \
                  LEDGER_DATA_DIR (default ./.ledger).\n\
                  Exit codes: 0 done (verify: no difference), 1 differences found or the \
                  command failed, 2 usage or connection error."
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
    /// Rebuild a projection (or --all) from the log into scratch tables and swap them in
    /// atomically while the server keeps answering; with --until / --until-time, keep a
    /// point-in-time copy in a schema of its own instead.
    Rebuild(RebuildArguments),
    /// Rebuild a projection (or --all) into scratch tables and print every row that differs
    /// from the live tables; exit 1 if any.
    Verify(Which),
    /// Point-in-time cashback balances of every customer and currency.
    Balances(BalancesArguments),
}

/// A projection by name, or every one.
#[derive(Debug, Args)]
pub struct Which {
    /// The projection (as `ledger-replay status` names it).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub projection: Option<String>,
    /// Every projection, one after the other.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct RebuildArguments {
    #[command(flatten)]
    pub which: Which,
    /// Build a copy as of this global log position (inclusive).
    #[arg(long, conflicts_with = "until_time")]
    pub until: Option<i64>,
    /// Build a copy as of this moment (RFC 3339, inclusive).
    #[arg(long)]
    pub until_time: Option<DateTime<Utc>>,
    /// Events read and applied per transaction.
    #[arg(long, default_value_t = crate::rebuild::DEFAULT_BATCH_SIZE,
          value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub batch_size: i64,
}

#[derive(Debug, Args)]
pub struct BalancesArguments {
    /// The moment (RFC 3339, inclusive).
    #[arg(long)]
    pub until_time: DateTime<Utc>,
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuild_takes_a_projection_or_all_and_a_moment() {
        let cli =
            Cli::try_parse_from(["ledger-replay", "rebuild", "orders", "--until", "42"]).unwrap();
        let Command::Rebuild(arguments) = cli.command else {
            panic!("rebuild expected")
        };
        assert_eq!(arguments.which.projection.as_deref(), Some("orders"));
        assert_eq!(arguments.until, Some(42));
        let cli = Cli::try_parse_from([
            "ledger-replay",
            "rebuild",
            "--all",
            "--until-time",
            "2026-01-02T03:04:05Z",
        ])
        .unwrap();
        let Command::Rebuild(arguments) = cli.command else {
            panic!("rebuild expected")
        };
        assert!(arguments.which.all);
        assert!(arguments.until_time.is_some());
    }

    #[test]
    fn usage_errors_are_refused() {
        for arguments in [
            vec!["ledger-replay", "rebuild"],
            vec!["ledger-replay", "rebuild", "orders", "--all"],
            vec![
                "ledger-replay",
                "rebuild",
                "orders",
                "--until",
                "1",
                "--until-time",
                "2026-01-01T00:00:00Z",
            ],
            vec!["ledger-replay", "verify"],
            vec!["ledger-replay", "balances"],
            vec!["ledger-replay", "balances", "--until-time", "yesterday"],
            vec![
                "ledger-replay",
                "balances",
                "--until-time",
                "2026-01-01T00:00:00Z",
                "--format",
                "xml",
            ],
        ] {
            let error = Cli::try_parse_from(&arguments).unwrap_err();
            assert_eq!(
                error.exit_code(),
                i32::from(EXIT_USAGE_OR_CONNECTION),
                "{arguments:?}"
            );
        }
    }
}
