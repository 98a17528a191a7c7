//! `GET /admin`: the operator page. One server-rendered HTML document (no script, no external
//! asset) answering "is everything flowing?" at a glance: projections with their lag and last
//! error, 1C stores with their last sync and staleness, today's reconciliation per provider
//! with links to the CSVs, and the outbox backlog.
//!
//! The admin token opens it as a bearer token or as the password of HTTP Basic auth (any user
//! name), so a browser can: without one the answer is 401 with a Basic challenge.

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};

use super::html::{escape, link, number, table, text, Cell, STYLE};
use crate::http::auth::OperatorLogin;
use crate::http::error::ApiError;
use crate::onec::monitoring;
use crate::reports::period::Period;
use crate::reports::providers::Provider;
use crate::reports::reconciliation::reconcile;
use crate::state::AppState;
use crate::telegram::outbox::admin as outbox;

pub async fn operator_page(
    State(state): State<AppState>,
    _login: OperatorLogin,
) -> Result<Response, ApiError> {
    let now = Utc::now();
    let head = state.store.head_position().await?;
    let mut body = format!(
        "<h1>Ledger — operations</h1>\n<p class=\"meta\">{} UTC · log head position {head}</p>\n",
        now.format("%Y-%m-%d %H:%M:%S")
    );
    body.push_str(&projections_section(&state).await?);
    body.push_str(&stores_section(&state).await?);
    body.push_str(&reconciliation_section(&state, now).await?);
    body.push_str(&outbox_section(&state).await?);
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>Ledger operations</title><style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n"
    );
    Ok((
        [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response())
}

async fn projections_section(state: &AppState) -> Result<String, ApiError> {
    let statuses = ledger_projections::status::projection_statuses(&state.pool).await?;
    let rows = statuses
        .iter()
        .map(|status| {
            vec![
                text(&status.name),
                number(status.position),
                number(status.lag_events),
                number(format!("{:.1}", status.lag_seconds)),
                Cell::Flag {
                    text: status.state.to_owned(),
                    alarm: status.state == "failing",
                },
                text(status.last_error.clone().unwrap_or_default()),
            ]
        })
        .collect();
    Ok(format!(
        "<h2>Projections</h2>\n{}",
        table(
            &[
                "projection",
                "position",
                "lag (events)",
                "lag (s)",
                "state",
                "last error"
            ],
            rows,
            "No projection has started yet.",
        )
    ))
}

async fn stores_section(state: &AppState) -> Result<String, ApiError> {
    let stores = monitoring::store_sync(&state.pool, state.config.sync_alert_hours).await?;
    let rows = stores
        .iter()
        .map(|store| {
            vec![
                text(&store.store_id),
                text(store.name.clone().unwrap_or_default()),
                text(store.last_operation_at.map_or("never".to_owned(), stamp)),
                number(store.operations_24h),
                number(store.errors_24h),
                Cell::Flag {
                    text: if store.stale { "stale" } else { "syncing" }.to_owned(),
                    alarm: store.stale,
                },
            ]
        })
        .collect();
    Ok(format!(
        "<h2>1C stores</h2>\n{}",
        table(
            &[
                "store",
                "name",
                "last sync (UTC)",
                "operations 24 h",
                "errors 24 h",
                "state"
            ],
            rows,
            "No 1C store is registered.",
        )
    ))
}

async fn reconciliation_section(state: &AppState, now: DateTime<Utc>) -> Result<String, ApiError> {
    let from = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    let period = Period {
        from,
        to: from + Duration::days(1),
    };
    let mut rows = Vec::new();
    for provider in Provider::all() {
        let report = reconcile(&state.pool, provider, period).await?;
        let states: Vec<String> = report
            .by_state()
            .into_iter()
            .map(|((state, currency), (count, minor))| {
                format!(
                    "{state}: {count} ({} {currency})",
                    crate::reports::trial_balance::amount(&currency, minor)
                )
            })
            .collect();
        let problems = report.problems();
        let query = format!(
            "/api/reports/reconciliation?provider={}&from={}&to={}",
            provider.name(),
            period.from.format("%Y-%m-%dT%H:%M:%SZ"),
            period.to.format("%Y-%m-%dT%H:%M:%SZ")
        );
        rows.push(vec![
            text(provider.name()),
            number(report.records.len()),
            text(states.join(", ")),
            Cell::Flag {
                text: if problems == 0 {
                    "none".to_owned()
                } else {
                    problems.to_string()
                },
                alarm: problems > 0,
            },
            Cell::Markup(format!(
                "{} · {}",
                link(&format!("{query}&format=csv"), "CSV"),
                link(&query, "JSON")
            )),
        ]);
    }
    Ok(format!(
        "<h2>Reconciliation today ({} UTC)</h2>\n{}",
        escape(&period.from.format("%Y-%m-%d").to_string()),
        table(
            &["provider", "records", "by state", "to look at", "download"],
            rows,
            "",
        )
    ))
}

async fn outbox_section(state: &AppState) -> Result<String, ApiError> {
    let summary = outbox::summary(&state.pool).await?;
    let failed: Vec<String> = summary
        .failed
        .iter()
        .filter(|(_, count)| **count > 0)
        .map(|(reason, count)| format!("{reason}: {count}"))
        .collect();
    let rows = vec![vec![
        Cell::Flag {
            text: summary.pending.to_string(),
            alarm: summary.pending > 0 && summary.oldest_pending_age_seconds > 300.0,
        },
        number(format!("{:.0}", summary.oldest_pending_age_seconds)),
        text(if failed.is_empty() {
            "none".to_owned()
        } else {
            failed.join(", ")
        }),
    ]];
    Ok(format!(
        "<h2>Outbox (messages to send)</h2>\n{}",
        table(&["pending", "oldest pending (s)", "failed"], rows, "")
    ))
}

fn stamp(moment: DateTime<Utc>) -> String {
    moment.format("%Y-%m-%d %H:%M:%S").to_string()
}
