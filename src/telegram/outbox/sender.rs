//! The sender: takes due messages from the outbox one at a time and sends them with
//! `sendMessage`, recording each final outcome ([`super::settle`]).
//!
//! - **Claim, then call, then record.** A message is claimed (`claimed_until`) in a short
//!   transaction of its own; the call is made outside any transaction (an open transaction
//!   would hold back every projection); the outcome is recorded afterwards. Several server
//!   processes may run senders: `FOR UPDATE SKIP LOCKED` gives each message to one of them.
//! - **At most once per fact.** A claim that runs out with no outcome means its sender died
//!   during the call: the message may have arrived, so it is recorded `interrupted` and not
//!   sent again. A graceful stop finishes the call under way first.
//! - **Retries**: a network failure, time-out, 5xx, or a 401/404 (our token or URL is wrong,
//!   not the message) is retried with exponential backoff (1 s doubling, at most 10 min), up to
//!   [`MAX_ATTEMPTS`], then `abandoned`. A 429 waits Telegram's `retry_after` — for every
//!   message, since the limit is the bot's — and does not count as an attempt. 403 (the user
//!   blocked the bot) is `blocked` and 400-class refusals `rejected`: never retried.
//! - **Bounded in time**: a message whose fact is older than [`MAX_MESSAGE_AGE`] is not worth
//!   sending any more and is marked `expired` (row state only: being older than a day stays
//!   true, so a rebuilt outbox expires it again instead of sending it). Without a bot token,
//!   pending messages are marked `telegram_closed` (row state only).
//! - Never on the write path: it only reads the outbox, which the projection fills behind the
//!   log.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Row};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::settle::{settle, Outcome, Settle};
use crate::state::AppState;
use crate::telegram::bot_api::{BotApi, BotApiError};

/// Attempts (not counting 429 answers) before a message is abandoned.
pub const MAX_ATTEMPTS: i32 = 10;
/// Older facts are not told any more.
pub const MAX_MESSAGE_AGE: Duration = Duration::from_secs(24 * 3600);
/// How long a claim lasts: longer than one call (the client's time-out is 10 s) plus recording.
const CLAIM: Duration = Duration::from_secs(60);
/// Poll interval when nothing wakes the sender.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Pause between two sends, keeping under Telegram's ~30 messages per second per bot.
const PACING: Duration = Duration::from_millis(35);
/// Longest `retry_after` honoured as given.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// A claimed message.
struct Claimed {
    message_id: Uuid,
    chat_id: i64,
    text: String,
    /// Including this one.
    attempts: i32,
}

/// What to do after one send.
enum Next {
    Continue,
    /// Telegram asked every sender of this bot to wait.
    PauseFor(Duration),
}

pub fn spawn(tasks: &mut JoinSet<()>, state: AppState, shutdown: CancellationToken) {
    tasks.spawn(async move {
        let mut progress = state.board.subscribe("outbox");
        let mut paused_until: Option<Instant> = None;
        loop {
            if let Err(error) = sweep(&state).await {
                tracing::warn!(error = format!("{error:#}"), "outbox sweep failed");
            }
            let bot = BotApi::of(&state);
            let may_send = paused_until.is_none_or(|until| Instant::now() >= until);
            if let (Some(bot), true) = (bot, may_send) {
                paused_until = None;
                match send_due(&state, &bot, &shutdown).await {
                    Ok(Next::Continue) => {}
                    Ok(Next::PauseFor(wait)) => paused_until = Some(Instant::now() + wait),
                    Err(error) => {
                        tracing::warn!(error = format!("{error:#}"), "outbox sender failed")
                    }
                }
            }
            let wake_at = paused_until.unwrap_or_else(|| Instant::now() + IDLE_POLL);
            tokio::select! {
                _ = progress.changed() => {}
                _ = tokio::time::sleep_until(wake_at.min(Instant::now() + IDLE_POLL)) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    });
}

/// Sends due messages one at a time until none is due, shutdown is asked, or Telegram asks to
/// wait.
async fn send_due(
    state: &AppState,
    bot: &BotApi,
    shutdown: &CancellationToken,
) -> anyhow::Result<Next> {
    while !shutdown.is_cancelled() {
        let Some(message) = claim(&state.pool).await? else {
            return Ok(Next::Continue);
        };
        let result = bot.send_message(message.chat_id, &message.text).await;
        if let Next::PauseFor(wait) = record(state, &message, result).await? {
            return Ok(Next::PauseFor(wait));
        }
        tokio::time::sleep(PACING).await;
    }
    Ok(Next::Continue)
}

async fn claim(pool: &PgPool) -> Result<Option<Claimed>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE outbox SET claimed_until = now() + $1, attempts = attempts + 1 \
         WHERE message_id = (SELECT message_id FROM outbox \
             WHERE state = 'pending' AND claimed_until IS NULL AND next_attempt_at <= now() \
               AND created_at >= now() - $2 \
             ORDER BY next_attempt_at, fact_position LIMIT 1 FOR UPDATE SKIP LOCKED) \
         RETURNING message_id, chat_id, text, attempts",
    )
    .bind(CLAIM)
    .bind(MAX_MESSAGE_AGE)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Ok(Claimed {
            message_id: row.try_get("message_id")?,
            chat_id: row.try_get("chat_id")?,
            text: row.try_get("text")?,
            attempts: row.try_get("attempts")?,
        })
    })
    .transpose()
}

/// Records what one `sendMessage` came to.
async fn record(
    state: &AppState,
    message: &Claimed,
    result: Result<Option<i64>, BotApiError>,
) -> anyhow::Result<Next> {
    let finally = |outcome| Settle {
        message_id: message.message_id,
        chat_id: message.chat_id,
        attempts: message.attempts,
        outcome,
    };
    let error = match result {
        Ok(telegram_message_id) => {
            settle(
                state,
                &finally(Outcome::Delivered {
                    telegram_message_id,
                }),
            )
            .await?;
            return Ok(Next::Continue);
        }
        Err(error) => error,
    };
    match &error {
        BotApiError::Refused {
            error_code: 429,
            retry_after_s,
            ..
        } => {
            let wait = Duration::from_secs(retry_after_s.unwrap_or(1).max(1)).min(MAX_RETRY_AFTER);
            tracing::info!(
                retry_after_s = wait.as_secs(),
                "Telegram asked the sender to wait"
            );
            // Not an attempt: the message was never looked at.
            reschedule(&state.pool, message, wait, &error, -1).await?;
            Ok(Next::PauseFor(wait))
        }
        BotApiError::Refused {
            error_code,
            description,
            ..
        } if is_final(*error_code) => {
            let reason = if *error_code == 403 {
                "blocked"
            } else {
                "rejected"
            };
            tracing::info!(
                reason,
                error_code,
                "a Telegram message was refused for good"
            );
            let outcome = Outcome::Failed {
                reason,
                description: description.clone(),
            };
            settle(state, &finally(outcome)).await?;
            Ok(Next::Continue)
        }
        _ if message.attempts >= MAX_ATTEMPTS => {
            tracing::warn!(%error, attempts = message.attempts, "a Telegram message was abandoned");
            let outcome = Outcome::Failed {
                reason: "abandoned",
                description: error.to_string(),
            };
            settle(state, &finally(outcome)).await?;
            Ok(Next::Continue)
        }
        _ => {
            reschedule(&state.pool, message, backoff(message.attempts), &error, 0).await?;
            Ok(Next::Continue)
        }
    }
}

/// A refusal about the message itself (403 blocked, 400 chat not found, ...), as opposed to
/// our token or URL (401, 404), flooding (429) or Telegram's own trouble (5xx).
fn is_final(error_code: i64) -> bool {
    (400..500).contains(&error_code) && !matches!(error_code, 401 | 404 | 429)
}

/// 1 s, 2 s, 4 s, ... at most [`MAX_BACKOFF`], after attempt `attempts`.
pub fn backoff(attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(16);
    Duration::from_secs(1u64 << exponent).min(MAX_BACKOFF)
}

async fn reschedule(
    pool: &PgPool,
    message: &Claimed,
    wait: Duration,
    error: &BotApiError,
    attempt_correction: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET claimed_until = NULL, next_attempt_at = now() + $2, last_error = $3, \
           attempts = attempts + $4 \
         WHERE message_id = $1 AND state = 'pending'",
    )
    .bind(message.message_id)
    .bind(wait)
    .bind(error.to_string())
    .bind(attempt_correction)
    .execute(pool)
    .await?;
    Ok(())
}

/// Settles what needs no call: claims that ran out (`interrupted`), messages too old
/// (`expired`), and, without a bot token, everything pending (`telegram_closed`).
async fn sweep(state: &AppState) -> anyhow::Result<()> {
    let stale = sqlx::query(
        "SELECT message_id, chat_id, attempts, claimed_until FROM outbox \
         WHERE state = 'pending' AND claimed_until < now() LIMIT 100",
    )
    .fetch_all(&state.pool)
    .await?;
    for row in stale {
        let claimed_until: DateTime<Utc> = row.try_get("claimed_until")?;
        let settle_as = Settle {
            message_id: row.try_get("message_id")?,
            chat_id: row.try_get("chat_id")?,
            attempts: row.try_get("attempts")?,
            outcome: Outcome::Failed {
                reason: "interrupted",
                description: format!(
                    "the sender stopped during the call (claim ran out at {claimed_until}); \
                     not sent again, it may have arrived"
                ),
            },
        };
        tracing::warn!(message_id = %settle_as.message_id, "an outbox message was interrupted");
        settle(state, &settle_as).await?;
    }
    sqlx::query(
        "UPDATE outbox SET state = 'failed', failure_reason = 'expired', settled_at = now() \
         WHERE state = 'pending' AND claimed_until IS NULL AND created_at < now() - $1",
    )
    .bind(MAX_MESSAGE_AGE)
    .execute(&state.pool)
    .await?;
    if BotApi::of(state).is_none() {
        sqlx::query(
            "UPDATE outbox SET state = 'failed', failure_reason = 'telegram_closed', \
               settled_at = now() WHERE state = 'pending' AND claimed_until IS NULL",
        )
        .execute(&state.pool)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_stops_growing() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }

    #[test]
    fn only_refusals_about_the_message_are_final() {
        assert!(is_final(403));
        assert!(is_final(400));
        for retried in [401, 404, 429, 500, 502] {
            assert!(!is_final(retried), "{retried}");
        }
    }
}
