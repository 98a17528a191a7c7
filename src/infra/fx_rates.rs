//! Exchange rates of the Central Bank of Uzbekistan, for orders priced in USD or EUR and paid
//! in UZS through Payme.
//!
//! The rate is fetched lazily from `LEDGER_FX_RATES_URL` (CBU's JSON: an array of
//! `{"Ccy": "USD", "Rate": "12650.45", "Nominal": "1", "Date": "22.11.2026", ...}`) and cached for
//! an hour. An unreachable source never stops the server: the caller gets
//! [`RateUnavailable`] and decides what it means (orders answer 503 `fx_unavailable`).
//!
//! Infrastructure: this module knows the rate source, not orders; `orders::fx_quote` turns a rate
//! into the quote an order stores.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ledger_events::Currency;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;
use tokio::sync::Mutex;

const CACHE_TTL: Duration = Duration::from_secs(3600);
/// The currencies Payme orders may be priced in besides UZS.
pub const CONVERTIBLE: [&str; 2] = ["USD", "EUR"];

/// One currency's published rate: UZS per one unit.
#[derive(Clone, Debug, PartialEq)]
pub struct PublishedRate {
    pub uzs_per_unit: Decimal,
    pub date: String,
}

/// Why no rate could be given; the message is safe to show to a client.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RateUnavailable(pub String);

/// The last answer of the rate source, shared by every request of this process.
pub struct RateCache {
    source_url: String,
    http_client: reqwest::Client,
    fetched: Mutex<Option<(Instant, HashMap<String, PublishedRate>)>>,
}

#[derive(Deserialize)]
struct CbuEntry {
    #[serde(rename = "Ccy")]
    currency: String,
    #[serde(rename = "Rate")]
    rate: String,
    #[serde(rename = "Nominal", default)]
    nominal: Option<String>,
    #[serde(rename = "Date", default)]
    date: Option<String>,
}

/// Minor units of `currency` × UZS per unit → tiyin, to the nearest tiyin.
pub fn convert_to_tiyin(
    amount_minor: i64,
    currency: &Currency,
    uzs_per_unit: Decimal,
) -> Option<i64> {
    let units = currency.minor_to_decimal(amount_minor);
    let tiyin = units
        .checked_mul(uzs_per_unit)?
        .checked_mul(Decimal::ONE_HUNDRED)?
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    tiyin.to_i64()
}

impl RateCache {
    pub fn new(source_url: String, http_client: reqwest::Client) -> Self {
        RateCache {
            source_url,
            http_client,
            fetched: Mutex::new(None),
        }
    }

    /// Where the rates come from (stored with each quote for audit).
    pub fn source_url(&self) -> &str {
        &self.source_url
    }

    pub async fn rate(&self, currency: &Currency) -> Result<PublishedRate, RateUnavailable> {
        let mut fetched = self.fetched.lock().await;
        let fresh = fetched
            .as_ref()
            .filter(|(at, _)| at.elapsed() < CACHE_TTL)
            .map(|(_, rates)| rates.clone());
        let rates = match fresh {
            Some(rates) => rates,
            None => {
                let rates = self.fetch().await.map_err(|error| {
                    tracing::warn!(error = format!("{error:#}"), url = %self.source_url, "exchange-rate source unavailable");
                    RateUnavailable(
                        "the exchange-rate source is unavailable; try again later".into(),
                    )
                })?;
                *fetched = Some((Instant::now(), rates.clone()));
                rates
            }
        };
        rates.get(currency.code()).cloned().ok_or_else(|| {
            RateUnavailable(format!(
                "the exchange-rate source publishes no rate for {currency}"
            ))
        })
    }

    async fn fetch(&self) -> anyhow::Result<HashMap<String, PublishedRate>> {
        let entries: Vec<CbuEntry> = self
            .http_client
            .get(&self.source_url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        parse(entries)
    }
}

fn parse(entries: Vec<CbuEntry>) -> anyhow::Result<HashMap<String, PublishedRate>> {
    let mut rates = HashMap::new();
    for entry in entries {
        let rate: Decimal = entry.rate.trim().parse()?;
        let nominal: Decimal = entry.nominal.as_deref().unwrap_or("1").trim().parse()?;
        anyhow::ensure!(
            rate > Decimal::ZERO && nominal > Decimal::ZERO,
            "non-positive rate for {}",
            entry.currency
        );
        rates.insert(
            entry.currency.trim().to_ascii_uppercase(),
            PublishedRate {
                uzs_per_unit: rate
                    .checked_div(nominal)
                    .ok_or_else(|| anyhow::anyhow!("rate of {} out of range", entry.currency))?,
                date: entry.date.unwrap_or_default(),
            },
        );
    }
    anyhow::ensure!(!rates.is_empty(), "the rate source answered no rates");
    Ok(rates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cbu_json_is_read_per_unit() {
        let body = r#"[{"id":69,"Code":"840","Ccy":"USD","Nominal":"1","Rate":"12650.45","Date":"22.11.2026"},
                      {"Ccy":"JPY","Nominal":"10","Rate":"850.00","Date":"22.11.2026"}]"#;
        let rates = parse(serde_json::from_str(body).unwrap()).unwrap();
        assert_eq!(rates["USD"].uzs_per_unit, Decimal::new(1265045, 2));
        assert_eq!(rates["JPY"].uzs_per_unit, Decimal::new(85, 0));
        assert_eq!(rates["USD"].date, "22.11.2026");
    }

    #[test]
    fn conversion_rounds_to_the_nearest_tiyin() {
        let usd = Currency::new("USD").unwrap();
        // $10.00 at 12650.45 = 126 504.50 UZS = 12 650 450 tiyin
        assert_eq!(
            convert_to_tiyin(1_000, &usd, Decimal::new(1265045, 2)),
            Some(12_650_450)
        );
        // $0.01 at 12650.455 = 126.50455 UZS → 12 650.455 tiyin → 12 650
        assert_eq!(
            convert_to_tiyin(1, &usd, Decimal::new(12650455, 3)),
            Some(12_650)
        );
    }
}
