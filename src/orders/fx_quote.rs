//! The exchange-rate quote an order priced in USD or EUR stores when it is placed.
//!
//! The rate used is written into the order's `OrderPlaced` event, so the UZS amount Payme is
//! asked for never changes afterwards, and a replay computes the same amount.

use ledger_events::domain::FxQuote;

use super::place::PlaceOrder;
use crate::infra::fx_rates::{self, CONVERTIBLE};
use crate::rejection::Rejection;
use crate::state::AppState;

/// For a USD/EUR order: the quote to store with it. None for every other currency.
pub async fn quote_for_order(
    state: &AppState,
    order: &PlaceOrder,
) -> Result<Option<FxQuote>, Rejection> {
    if !CONVERTIBLE.contains(&order.currency.code()) {
        return Ok(None);
    }
    let Some(items_total) = order.items_total_minor() else {
        return Ok(None); // placing the order reports the oversized total
    };
    let amount_minor = items_total - order.cashback_to_redeem_minor.unwrap_or(0).min(items_total);
    let rate = state
        .fx
        .rate(&order.currency)
        .await
        .map_err(|unavailable| Rejection::FxUnavailable {
            message: unavailable.to_string(),
        })?;
    Ok(Some(FxQuote {
        payable_amount_minor: fx_rates::convert_to_tiyin(
            amount_minor,
            &order.currency,
            rate.uzs_per_unit,
        )
        .ok_or_else(|| Rejection::InvalidAmount {
            field: "items".into(),
            message: "the order total is too large to convert".into(),
        })?,
        rate: rate.uzs_per_unit,
        rate_date: rate.date,
        source: state.fx.source_url().to_owned(),
    }))
}
