//! Configuration: environment variables (listed in `docs/api.md`, "Settings"), optionally under a
//! TOML file given by `--config`. The file uses the same names in lower case without the
//! `LEDGER_` prefix (`listen`, `database_url`, `payme_key`, ...); the environment wins.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context};
use ledger_events::Currency;
use rust_decimal::Decimal;

/// A secret value: never printed, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Clone, Debug)]
pub struct CrystalPayConfig {
    pub login: String,
    pub secret: Secret,
    pub salt: Secret,
    pub api_url: String,
    pub webhook_secret: Option<Secret>,
    /// Longest one call to the CrystalPay API may take (`LEDGER_CRYSTALPAY_TIMEOUT_MS`).
    pub timeout: Duration,
    /// The lifetime sweep: how long after its creation a live invoice without a callback is
    /// re-checked with `invoice/info`, and how often the sweep runs. Not settings: the
    /// invoice's own lifetime and a minute by default ([`CrystalPaySweep::default`]); tests
    /// shorten them.
    pub sweep: CrystalPaySweep,
}

/// How long a CrystalPay invoice stays payable (sent as its `lifetime`; the sweep's default
/// `after`).
pub const CRYSTALPAY_INVOICE_LIFETIME_MINUTES: u32 = 60;

/// When the re-check worker looks at live invoices past their lifetime
/// (`crystalpay::sweep`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrystalPaySweep {
    /// A live invoice this old is due for a re-check.
    pub after: Duration,
    /// Pause between two sweep passes.
    pub every: Duration,
    /// Invoices one pass re-checks at most (the next pass takes the next page).
    pub per_pass: u32,
}

impl Default for CrystalPaySweep {
    fn default() -> Self {
        CrystalPaySweep {
            after: Duration::from_secs(60 * u64::from(CRYSTALPAY_INVOICE_LIFETIME_MINUTES)),
            every: Duration::from_secs(60),
            per_pass: 100,
        }
    }
}

#[derive(Clone, Debug)]
pub struct TelegramConfig {
    pub bot_token: Option<Secret>,
    pub api_url: String,
    pub webhook_secret: Option<Secret>,
    pub bot_username: Option<String>,
    pub app_name: Option<String>,
    pub payment_provider_token: Secret,
    pub init_data_max_age_s: u64,
    pub admin_chat_id: Option<i64>,
    /// How long a Mini App session token stays valid (`LEDGER_TELEGRAM_SESSION_TTL_S`).
    pub session_ttl_s: u64,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// None: start the embedded cluster under `data_dir`.
    pub database_url: Option<Secret>,
    /// A streaming replica of that database, for projected reads (`LEDGER_READ_DATABASE_URL`).
    pub read_database_url: Option<Secret>,
    pub data_dir: PathBuf,
    pub database_pool_size: u32,
    /// How long a request waits for a free database connection (or for the database to come
    /// back) before it is answered 503 `database_unavailable`.
    pub database_acquire_timeout: Duration,
    /// Longest a single SQL statement may run before the database cancels it.
    pub statement_timeout: Duration,
    pub admin_token: Option<Secret>,
    /// Seed keys for the Payme endpoint (used only while the log holds no Payme key event).
    pub payme_keys: Vec<Secret>,
    pub payme_account_field: String,
    pub crystalpay: Option<CrystalPayConfig>,
    pub telegram: TelegramConfig,
    pub public_url: String,
    pub test_mode: bool,
    pub cashback_rate: Decimal,
    pub cashback_currency: Currency,
    pub sync_alert_hours: u32,
    pub order_ttl_hours: u32,
    pub fx_rates_url: String,
    pub limits: Limits,
}

/// Shortest `LEDGER_ADMIN_TOKEN` accepted: a bootstrap token with every scope must not be
/// guessable.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 24;

/// Time-outs and concurrency limits that keep slow, stalled or flooding clients from holding the
/// server's connections, tasks and database pool.
#[derive(Clone, Debug)]
pub struct Limits {
    /// A connection must deliver a request's line and headers within this, once it started one.
    pub header_timeout: Duration,
    /// A request must be answered within this (body read included): 408 `request_timeout`.
    pub request_timeout: Duration,
    /// A keep-alive connection with no request under way is closed after this.
    pub idle_timeout: Duration,
    /// Requests handled at once; beyond it, 503 `overloaded` at once.
    pub max_concurrent_requests: usize,
    /// `?min_position` reads waiting for a projection at once; beyond it, 503 `overloaded`.
    pub max_waiting_reads: usize,
    /// 1C batches of one store handled at once; beyond it, 429 `too_many_requests`.
    pub onec_batches_per_store: usize,
}

/// Where configuration values come from: the environment first, then the file.
struct Sources {
    file: HashMap<String, String>,
}

impl Sources {
    fn get(&self, env_name: &str) -> Option<String> {
        if let Ok(value) = std::env::var(env_name) {
            return Some(value);
        }
        let file_key = env_name.trim_start_matches("LEDGER_").to_ascii_lowercase();
        self.file.get(&file_key).cloned()
    }

    fn non_empty(&self, env_name: &str) -> Option<String> {
        self.get(env_name).filter(|value| !value.trim().is_empty())
    }

    fn parsed<T: FromStr>(&self, env_name: &str, default: T) -> anyhow::Result<T>
    where
        T::Err: fmt::Display,
    {
        match self.non_empty(env_name) {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse()
                .map_err(|error| anyhow::anyhow!("{env_name}={text:?} is invalid: {error}")),
        }
    }
}

impl Config {
    /// Reads the environment, over the TOML file if one is given.
    pub fn load(config_file: Option<&Path>) -> anyhow::Result<Config> {
        let file = match config_file {
            Some(path) => read_toml(path)?,
            None => HashMap::new(),
        };
        Self::from_sources(&Sources { file })
    }

    fn from_sources(sources: &Sources) -> anyhow::Result<Config> {
        let listen: SocketAddr = sources.parsed("LEDGER_LISTEN", "127.0.0.1:8080".parse()?)?;
        let cashback_rate: Decimal = sources.parsed("LEDGER_CASHBACK_RATE", Decimal::new(5, 2))?;
        if cashback_rate < Decimal::ZERO || cashback_rate > Decimal::ONE {
            bail!("LEDGER_CASHBACK_RATE must be a fraction between 0 and 1, got {cashback_rate}");
        }
        let cashback_currency = Currency::new(
            &sources
                .non_empty("LEDGER_CASHBACK_CURRENCY")
                .unwrap_or_else(|| "UZS".into()),
        )
        .context("LEDGER_CASHBACK_CURRENCY")?;
        let payme_keys = sources
            .non_empty("LEDGER_PAYME_KEY")
            .map(|keys| {
                keys.split(',')
                    .map(str::trim)
                    .filter(|key| !key.is_empty())
                    .map(Secret::new)
                    .collect()
            })
            .unwrap_or_default();
        let config = Config {
            listen,
            database_url: sources.non_empty("DATABASE_URL").map(Secret::new),
            read_database_url: sources
                .non_empty("LEDGER_READ_DATABASE_URL")
                .map(Secret::new),
            data_dir: PathBuf::from(
                sources
                    .non_empty("LEDGER_DATA_DIR")
                    .unwrap_or_else(|| "./.ledger".into()),
            ),
            database_pool_size: sources.parsed("LEDGER_DATABASE_POOL_SIZE", 32)?,
            database_acquire_timeout: Duration::from_millis(
                sources.parsed("LEDGER_DATABASE_ACQUIRE_TIMEOUT_MS", 2_000)?,
            ),
            statement_timeout: Duration::from_millis(
                sources.parsed("LEDGER_STATEMENT_TIMEOUT_MS", 10_000)?,
            ),
            admin_token: sources.non_empty("LEDGER_ADMIN_TOKEN").map(Secret::new),
            payme_keys,
            payme_account_field: sources
                .non_empty("LEDGER_PAYME_ACCOUNT_FIELD")
                .unwrap_or_else(|| "order_id".into()),
            crystalpay: crystalpay(sources)?,
            telegram: telegram(sources)?,
            public_url: sources
                .non_empty("LEDGER_PUBLIC_URL")
                .unwrap_or_else(|| format!("http://{listen}"))
                .trim_end_matches('/')
                .to_owned(),
            test_mode: sources.parsed("LEDGER_TEST_MODE", false)?,
            cashback_rate,
            cashback_currency,
            sync_alert_hours: sources.parsed("LEDGER_SYNC_ALERT_HOURS", 4)?,
            order_ttl_hours: sources.parsed("LEDGER_ORDER_TTL_HOURS", 24)?,
            fx_rates_url: sources
                .non_empty("LEDGER_FX_RATES_URL")
                .unwrap_or_else(|| "https://cbu.uz/uz/arkhiv-kursov-valyut/json/".into()),
            limits: limits(sources)?,
        };
        config.validate()?;
        Ok(config)
    }

    /// Refuses settings the server must not run with. `app::start` checks again, for
    /// configurations built in code.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(token) = &self.admin_token {
            let length = token.expose().chars().count();
            if length < MIN_ADMIN_TOKEN_CHARS {
                bail!(
                    "LEDGER_ADMIN_TOKEN is {length} characters long; it must have at least \
                     {MIN_ADMIN_TOKEN_CHARS}. Make one with `openssl rand -hex 32`"
                );
            }
        }
        Ok(())
    }

    /// A configuration with every default and no file or environment (tests build on it).
    pub fn defaults() -> Config {
        Self::from_sources(&Sources {
            file: HashMap::new(),
        })
        .map(|mut config| {
            config.database_url = None;
            config.read_database_url = None;
            config
        })
        .expect("defaults are valid")
    }
}

fn limits(sources: &Sources) -> anyhow::Result<Limits> {
    let seconds = |name: &str, default: u64| -> anyhow::Result<Duration> {
        match sources.parsed(name, default)? {
            0 => bail!("{name} must be at least 1 (seconds)"),
            seconds => Ok(Duration::from_secs(seconds)),
        }
    };
    let count = |name: &str, default: usize| -> anyhow::Result<usize> {
        match sources.parsed(name, default)? {
            0 => bail!("{name} must be at least 1"),
            count => Ok(count),
        }
    };
    Ok(Limits {
        header_timeout: seconds("LEDGER_HEADER_TIMEOUT_S", 10)?,
        request_timeout: seconds("LEDGER_REQUEST_TIMEOUT_S", 30)?,
        idle_timeout: seconds("LEDGER_IDLE_TIMEOUT_S", 60)?,
        max_concurrent_requests: count("LEDGER_MAX_CONCURRENT_REQUESTS", 512)?,
        max_waiting_reads: count("LEDGER_MAX_WAITING_READS", 64)?,
        onec_batches_per_store: count("LEDGER_ONEC_BATCHES_PER_STORE", 2)?,
    })
}

fn crystalpay(sources: &Sources) -> anyhow::Result<Option<CrystalPayConfig>> {
    let timeout_ms: u64 = sources.parsed("LEDGER_CRYSTALPAY_TIMEOUT_MS", 10_000)?;
    if timeout_ms == 0 {
        bail!("LEDGER_CRYSTALPAY_TIMEOUT_MS must be at least 1");
    }
    Ok(crystalpay_credentials(
        sources,
        Duration::from_millis(timeout_ms),
    ))
}

fn crystalpay_credentials(sources: &Sources, timeout: Duration) -> Option<CrystalPayConfig> {
    let login = sources.non_empty("LEDGER_CRYSTALPAY_LOGIN")?;
    let secret = sources.non_empty("LEDGER_CRYSTALPAY_SECRET")?;
    let salt = sources.non_empty("LEDGER_CRYSTALPAY_SALT")?;
    Some(CrystalPayConfig {
        login,
        secret: Secret::new(secret),
        salt: Secret::new(salt),
        api_url: sources
            .non_empty("LEDGER_CRYSTALPAY_API_URL")
            .unwrap_or_else(|| "https://api.crystalpay.io".into()),
        webhook_secret: sources
            .non_empty("LEDGER_CRYSTALPAY_WEBHOOK_SECRET")
            .map(Secret::new),
        timeout,
        sweep: CrystalPaySweep::default(),
    })
}

fn telegram(sources: &Sources) -> anyhow::Result<TelegramConfig> {
    Ok(TelegramConfig {
        bot_token: sources
            .non_empty("LEDGER_TELEGRAM_BOT_TOKEN")
            .map(Secret::new),
        api_url: sources
            .non_empty("LEDGER_TELEGRAM_API_URL")
            .unwrap_or_else(|| "https://api.telegram.org".into()),
        webhook_secret: sources
            .non_empty("LEDGER_TELEGRAM_WEBHOOK_SECRET")
            .map(Secret::new),
        bot_username: sources.non_empty("LEDGER_TELEGRAM_BOT_USERNAME"),
        app_name: sources.non_empty("LEDGER_TELEGRAM_APP_NAME"),
        payment_provider_token: Secret::new(
            sources
                .get("LEDGER_TELEGRAM_PAYMENT_PROVIDER_TOKEN")
                .unwrap_or_default(),
        ),
        init_data_max_age_s: sources.parsed("LEDGER_INIT_DATA_MAX_AGE_S", 86_400)?,
        admin_chat_id: match sources.non_empty("LEDGER_TELEGRAM_ADMIN_CHAT_ID") {
            None => None,
            Some(id) => Some(id.trim().parse().context("LEDGER_TELEGRAM_ADMIN_CHAT_ID")?),
        },
        session_ttl_s: match sources.parsed("LEDGER_TELEGRAM_SESSION_TTL_S", 86_400)? {
            0 => bail!("LEDGER_TELEGRAM_SESSION_TTL_S must be at least 1 (seconds)"),
            seconds => seconds,
        },
    })
}

/// Flattens a TOML table of scalars into text values keyed by name.
fn read_toml(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading configuration file {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("parsing {} as TOML", path.display()))?;
    table
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                toml::Value::String(text) => text,
                toml::Value::Integer(number) => number.to_string(),
                toml::Value::Float(number) => number.to_string(),
                toml::Value::Boolean(flag) => flag.to_string(),
                toml::Value::Array(items) => items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| item.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                other => bail!(
                    "{}: key {key} has an unsupported value {other}",
                    path.display()
                ),
            };
            Ok((key.to_ascii_lowercase(), text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_file(pairs: &[(&str, &str)]) -> anyhow::Result<Config> {
        let file = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_sources(&Sources { file })
    }

    #[test]
    fn file_values_use_lower_case_names_without_prefix() {
        let config = from_file(&[
            ("listen", "127.0.0.1:9999"),
            ("cashback_rate", "0.1"),
            ("payme_key", "k1, k2"),
        ])
        .unwrap();
        assert_eq!(config.listen.port(), 9999);
        assert_eq!(config.cashback_rate, Decimal::new(1, 1));
        assert_eq!(config.payme_keys.len(), 2);
        assert_eq!(config.public_url, "http://127.0.0.1:9999");
    }

    #[test]
    fn bad_values_are_reported_by_name() {
        let error = from_file(&[("cashback_rate", "lots")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("LEDGER_CASHBACK_RATE"), "{error}");
        assert!(from_file(&[("cashback_rate", "1.5")]).is_err());
    }

    #[test]
    fn limits_have_defaults_and_refuse_zero() {
        let limits = from_file(&[]).unwrap().limits;
        assert_eq!(limits.header_timeout, Duration::from_secs(10));
        assert_eq!(limits.max_concurrent_requests, 512);
        let limits = from_file(&[("request_timeout_s", "3")]).unwrap().limits;
        assert_eq!(limits.request_timeout, Duration::from_secs(3));
        let error = from_file(&[("idle_timeout_s", "0")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("LEDGER_IDLE_TIMEOUT_S"), "{error}");
    }

    #[test]
    fn a_short_admin_token_is_refused_with_a_way_to_make_one() {
        let error = from_file(&[("admin_token", "too-short")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("LEDGER_ADMIN_TOKEN"), "{error}");
        assert!(error.contains("openssl rand -hex 32"), "{error}");
        assert!(
            !error.contains("too-short"),
            "the token itself is never shown: {error}"
        );
        let long = "a".repeat(MIN_ADMIN_TOKEN_CHARS);
        assert!(from_file(&[("admin_token", long.as_str())]).is_ok());
    }

    #[test]
    fn secrets_do_not_print() {
        let secret = Secret::new("hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
