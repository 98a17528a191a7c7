//! `/api/cashback/v1/...` with `X-API-Key`: balance, one operation, a batch of operations.

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use ledger_events::{Currency, Source};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sqlx::Row;

use super::auth::StoreContext;
use super::engine::{self, ItemOutcome, Submission};
use super::{monitoring, operation};
use crate::customers::phone;
use crate::http::body::JsonBody;
use crate::http::error::ApiError;
use crate::http::extract::Query;
use crate::http::request::RequestId;
use crate::infra::metrics::Family;
use crate::state::AppState;

/// Most operations one batch may carry (1C sends at most 1,000).
pub const MAX_BATCH_ITEMS: usize = 1_000;
/// A batch body may be this large (other routes: 1 MiB).
pub const BATCH_BODY_LIMIT_BYTES: usize = 16 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/cashback/v1/balance", get(balance))
        .route("/api/cashback/v1/transactions", post(transaction))
        .route(
            "/api/cashback/v1/transactions/batch",
            post(batch).layer(DefaultBodyLimit::max(BATCH_BODY_LIMIT_BYTES)),
        )
        .route("/api/admin/sync/stores", get(monitoring::stores_route))
}

#[derive(Deserialize)]
struct BalanceQuery {
    user_phone: Option<String>,
}

async fn balance(
    State(state): State<AppState>,
    store: StoreContext,
    Query(query): Query<BalanceQuery>,
) -> Result<Json<Value>, ApiError> {
    let raw = query
        .user_phone
        .filter(|phone| !phone.trim().is_empty())
        .ok_or_else(|| ApiError::invalid("user_phone", "user_phone is required"))?;
    let phone = phone::normalize(&raw).ok_or(ApiError::InvalidPhone {
        field: "user_phone".into(),
    })?;
    let row = sqlx::query(
        "SELECT c.customer_id, a.balance_minor, a.held_minor, a.updated_at \
         FROM customer_index c LEFT JOIN cashback_accounts a \
           ON a.customer_id = c.customer_id AND a.currency = $2 \
         WHERE c.phone = $1",
    )
    .bind(&phone)
    .bind(store.currency.code())
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| {
        ApiError::not_found("user_not_found", format!("no customer with phone {phone}"))
    })?;
    let balance: i64 = row.try_get::<Option<i64>, _>("balance_minor")?.unwrap_or(0);
    let held: i64 = row.try_get::<Option<i64>, _>("held_minor")?.unwrap_or(0);
    let currency = &store.currency;
    Ok(Json(json!({
        "user_id": row.try_get::<String, _>("customer_id")?,
        "phone": phone,
        "balance": currency.format_minor(balance),
        "available": currency.format_minor(balance.saturating_sub(held).max(0)),
        "held": currency.format_minor(held),
        "currency": currency.code(),
        "updated_at": row.try_get::<Option<DateTime<Utc>>, _>("updated_at")?,
    })))
}

async fn transaction(
    State(state): State<AppState>,
    store: StoreContext,
    request_id: RequestId,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let received = Instant::now();
    let submission = Submission {
        ids: vec![(
            operation::external_id_of(&body),
            operation::register_id_of(&body),
        )],
        items: vec![operation::parse(&body, &store, "")],
        store: &store,
        request_kind: "single",
        received,
        received_at: Utc::now(),
        metadata: request_id.metadata(Source::OneC, format!("store:{}", store.store_id)),
    };
    let outcome = engine::apply(&state, submission)
        .await?
        .pop()
        .expect("one outcome per item");
    count_outcomes(&state, &store, std::slice::from_ref(&outcome));
    let currency = &store.currency;
    Ok(match outcome {
        ItemOutcome::Applied {
            transaction_id,
            balance_after_minor,
            position,
        } => (
            StatusCode::CREATED,
            Json(json!({
                "status": "ok",
                "transaction_id": transaction_id,
                "balance_after": currency.format_minor(balance_after_minor),
                "position": position,
            })),
        )
            .into_response(),
        ItemOutcome::Duplicate {
            transaction_id,
            balance_after_minor,
            position,
        } => (
            StatusCode::OK,
            Json(json!({
                "status": "already_exists",
                "idempotent": true,
                "transaction_id": transaction_id,
                "balance_after": currency.format_minor(balance_after_minor),
                "position": position,
            })),
        )
            .into_response(),
        ItemOutcome::Refused(rejection) => ApiError::from(rejection).into_response(),
        ItemOutcome::Invalid(error) => error.into_response(),
    })
}

/// At most `LEDGER_ONEC_BATCHES_PER_STORE` batches of one store run at once: a register that
/// re-sends its backlog on many connections gets 429 (nothing applied) instead of taking every
/// pool connection. The slot is taken before the body (up to 16 MiB) is read.
async fn batch(
    State(state): State<AppState>,
    store: StoreContext,
    request_id: RequestId,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    let received = Instant::now();
    let _slot = state
        .admission
        .onec_batches
        .try_acquire(&store.store_id)
        .ok_or_else(|| ApiError::TooManyRequests {
            message: format!(
                "store {} already has {} batches in progress; nothing was applied, retry when one \
                 has been answered",
                store.store_id,
                state.admission.onec_batches.per_key()
            ),
        })?;
    let JsonBody(body) = JsonBody::from_request(request, &state).await?;
    let items = match body.get("transactions") {
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ApiError::invalid(
                "transactions",
                "transactions must be an array",
            ))
        }
        None => {
            return Err(ApiError::invalid(
                "transactions",
                "transactions is required",
            ))
        }
    };
    if items.is_empty() || items.len() > MAX_BATCH_ITEMS {
        return Err(ApiError::invalid(
            "transactions",
            format!(
                "a batch holds 1 to {MAX_BATCH_ITEMS} operations, this one holds {}; nothing was applied",
                items.len()
            ),
        ));
    }
    let ids: Vec<(Option<String>, Option<String>)> = items
        .iter()
        .map(|item| {
            (
                operation::external_id_of(item),
                operation::register_id_of(item),
            )
        })
        .collect();
    let submission = Submission {
        items: items
            .iter()
            .map(|item| operation::parse(item, &store, ""))
            .collect(),
        ids: ids.clone(),
        store: &store,
        request_kind: "batch",
        received,
        received_at: Utc::now(),
        metadata: request_id.metadata(Source::OneC, format!("store:{}", store.store_id)),
    };
    let outcomes = engine::apply(&state, submission).await?;
    count_outcomes(&state, &store, &outcomes);
    let position = outcomes
        .iter()
        .filter_map(|outcome| match outcome {
            ItemOutcome::Applied { position, .. } | ItemOutcome::Duplicate { position, .. } => {
                Some(*position)
            }
            ItemOutcome::Refused(_) | ItemOutcome::Invalid(_) => None,
        })
        .max();
    let results: Vec<Value> = ids
        .iter()
        .zip(&outcomes)
        .map(|((external_id, _), outcome)| {
            item_json(external_id.as_deref(), outcome, &store.currency)
        })
        .collect();
    Ok(Json(json!({ "results": results, "position": position })))
}

/// One batch result: `{external_id, status, transaction_id?, balance_after?, error?, ...}`.
fn item_json(external_id: Option<&str>, outcome: &ItemOutcome, currency: &Currency) -> Value {
    let mut result = Map::new();
    result.insert("external_id".into(), json!(external_id));
    match outcome {
        ItemOutcome::Applied {
            transaction_id,
            balance_after_minor,
            ..
        }
        | ItemOutcome::Duplicate {
            transaction_id,
            balance_after_minor,
            ..
        } => {
            let status = if matches!(outcome, ItemOutcome::Applied { .. }) {
                "ok"
            } else {
                "duplicate"
            };
            result.insert("status".into(), json!(status));
            result.insert("transaction_id".into(), json!(transaction_id));
            result.insert(
                "balance_after".into(),
                json!(currency.format_minor(*balance_after_minor)),
            );
        }
        ItemOutcome::Refused(rejection) => {
            result.insert("status".into(), json!("error"));
            // `error` (the code), `message` and the same details as the single route.
            result.extend(ApiError::from(rejection.clone()).body());
        }
        ItemOutcome::Invalid(error) => {
            result.insert("status".into(), json!("error"));
            result.extend(error.body());
        }
    }
    Value::Object(result)
}

/// 1C operations answered, by store and outcome (`ok`, `duplicate`, or the error code).
static ONEC_OPERATIONS: Family = Family {
    name: "ledger_onec_operations_total",
    help: "1C operations answered, by store and outcome (ok, duplicate or the error code).",
};

fn count_outcomes(state: &AppState, store: &StoreContext, outcomes: &[ItemOutcome]) {
    for outcome in outcomes {
        let label = match outcome {
            ItemOutcome::Applied { .. } => "ok",
            ItemOutcome::Duplicate { .. } => "duplicate",
            failed => failed.error_code().unwrap_or("error"),
        };
        state.metrics.increment(
            &ONEC_OPERATIONS,
            &[("store", &store.store_id), ("outcome", label)],
        );
    }
}
