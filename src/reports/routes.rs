//! `/api/reports/reconciliation` (JSON or CSV), `/api/reports/reconciliation/upload` and
//! `/api/reports/trial-balance` (JSON or CSV), all `reports:read`. The Payme statement report
//! lives with Payme.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;

use super::csv;
use super::period::{moment, Period};
use super::providers::Provider;
use super::reconciliation::{reconcile, Reconciliation};
use super::trial_balance;
use super::upload;
use crate::http::auth::{Authorized, ReportsRead};
use crate::http::body::TextBody;
use crate::http::error::ApiError;
use crate::http::extract::Query;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/reports/reconciliation", get(reconciliation))
        .route("/api/reports/reconciliation/upload", post(upload_statement))
        .route("/api/reports/trial-balance", get(trial_balance_report))
}

#[derive(Deserialize)]
struct ReconciliationQuery {
    provider: Option<String>,
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
}

/// `json` (default) or `csv`.
fn wants_csv(format: Option<&str>) -> Result<bool, ApiError> {
    match format.map(str::trim) {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(_) => Err(ApiError::invalid("format", "format must be json or csv")),
    }
}

fn provider(name: Option<&str>) -> Result<Provider, ApiError> {
    let name = name.ok_or_else(|| {
        ApiError::invalid(
            "provider",
            format!("provider is required ({})", Provider::names()),
        )
    })?;
    Provider::named(name.trim()).ok_or_else(|| {
        ApiError::invalid(
            "provider",
            format!("provider must be one of {}", Provider::names()),
        )
    })
}

async fn reconciliation(
    State(state): State<AppState>,
    _auth: Authorized<ReportsRead>,
    Query(query): Query<ReconciliationQuery>,
) -> Result<Response, ApiError> {
    let provider = provider(query.provider.as_deref())?;
    let period = Period::parse(query.from.as_deref(), query.to.as_deref())?;
    let csv_wanted = wants_csv(query.format.as_deref())?;
    let position = state.store.head_position().await?;
    let report = reconcile(&state.pool, provider, period).await?;
    if csv_wanted {
        let file = format!("reconciliation-{}-{}.csv", provider.name(), period.label());
        return Ok(csv::attachment(
            &file,
            Reconciliation::CSV_HEADER,
            &report.csv_rows(),
        ));
    }
    Ok(Json(report.to_json(position)).into_response())
}

#[derive(Deserialize)]
struct TrialBalanceQuery {
    at: Option<String>,
    format: Option<String>,
}

async fn trial_balance_report(
    State(state): State<AppState>,
    _auth: Authorized<ReportsRead>,
    Query(query): Query<TrialBalanceQuery>,
) -> Result<Response, ApiError> {
    let at = query
        .at
        .as_deref()
        .map(|text| moment("at", text))
        .transpose()?;
    let csv_wanted = wants_csv(query.format.as_deref())?;
    let position = state.store.head_position().await?;
    let lines = match at {
        Some(at) => trial_balance::from_log(&state.pool, at).await?,
        None => trial_balance::current(&state.pool).await?,
    };
    let at = at.unwrap_or_else(Utc::now);
    if csv_wanted {
        let file = format!("trial-balance-{}.csv", at.format("%Y%m%dT%H%M%SZ"));
        return Ok(csv::attachment(
            &file,
            trial_balance::CSV_HEADER,
            &trial_balance::csv_rows(&lines),
        ));
    }
    Ok(Json(json!({
        "at": at,
        "currencies": trial_balance::per_currency(&lines),
        "accounts": trial_balance::per_account(&lines),
        "position": position,
    }))
    .into_response())
}

#[derive(Deserialize)]
struct UploadQuery {
    provider: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

async fn upload_statement(
    State(state): State<AppState>,
    _auth: Authorized<ReportsRead>,
    Query(query): Query<UploadQuery>,
    TextBody(text): TextBody,
) -> Result<Response, ApiError> {
    let provider = provider(query.provider.as_deref())?;
    let gateway = match provider {
        Provider::Gateway(gateway) if gateway.uploads => gateway,
        _ => {
            return Err(ApiError::invalid(
                "provider",
                "statements are uploaded for payme or crystalpay",
            ))
        }
    };
    let period = Period::parse(query.from.as_deref(), query.to.as_deref())?;
    let lines = upload::read_statement(&text)
        .map_err(|refusal| ApiError::invalid("body", refusal.to_string()))?;
    let report = reconcile(&state.pool, Provider::Gateway(gateway), period).await?;
    let mut answer = upload::match_statement(&lines, &report.records);
    answer["provider"] = json!(gateway.name);
    Ok(Json(answer).into_response())
}
