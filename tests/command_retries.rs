//! A command is re-run only when it lost a race: a unique violation on a constraint that means
//! "someone created the same thing first" (or a serialization failure / deadlock). Any other
//! violation is a failure, reported at once and never retried.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};

use ledger::command::{self, Command, CommandError, CommandFailure};
use ledger::state::AppState;
use sqlx::{PgConnection, PgPool};

/// Inserts a row that already exists, counting how often it was run.
struct InsertDuplicate {
    statement: &'static str,
    runs: AtomicU32,
}

impl Command for InsertDuplicate {
    type Output = ();

    async fn run(
        &self,
        _state: &AppState,
        connection: &mut PgConnection,
    ) -> Result<(), CommandError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        sqlx::query(self.statement)
            .execute(&mut *connection)
            .await?;
        Ok(())
    }
}

async fn state_with(pool: PgPool, setup: &str) -> AppState {
    ledger::infra::database::migrate(&pool).await.unwrap();
    sqlx::query(setup).execute(&pool).await.unwrap();
    AppState::new(common::test_config(), pool).unwrap()
}

#[sqlx::test]
async fn a_violation_that_is_not_a_race_fails_at_once(pool: PgPool) {
    let state = state_with(
        pool,
        "INSERT INTO api_tokens (token_sha256, name, scopes) VALUES ('t', 'n', '{admin}')",
    )
    .await;
    let command = InsertDuplicate {
        statement:
            "INSERT INTO api_tokens (token_sha256, name, scopes) VALUES ('t', 'n', '{admin}')",
        runs: AtomicU32::new(0),
    };

    let outcome = command::execute(&state, &command).await;

    assert!(
        matches!(outcome, Err(CommandFailure::Internal(_))),
        "{outcome:?}"
    );
    assert_eq!(command.runs.load(Ordering::SeqCst), 1, "not retried");
}

#[sqlx::test]
async fn a_lost_race_on_a_lookup_index_is_retried(pool: PgPool) {
    let state = state_with(
        pool,
        "INSERT INTO customer_index (customer_id, phone) VALUES ('c-1', '998901234567')",
    )
    .await;
    // Stands for a command that keeps losing the same race: it is re-run, a bounded number of
    // times, then reported.
    let command = InsertDuplicate {
        statement: "INSERT INTO customer_index (customer_id, phone) VALUES ('c-2', '998901234567')",
        runs: AtomicU32::new(0),
    };

    let outcome = command::execute(&state, &command).await;

    assert!(
        matches!(outcome, Err(CommandFailure::Internal(_))),
        "{outcome:?}"
    );
    assert!(
        command.runs.load(Ordering::SeqCst) > 1,
        "re-run after losing the race on customer_index_phone_key"
    );
}
