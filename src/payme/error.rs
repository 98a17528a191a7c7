//! Payme's error answers (listed in `docs/payme.md`): one enum, each variant with its code,
//! its message in Russian, Uzbek and English, and its `data`.
//!
//! Payme shows `message` to the payer in the app's language, and treats anything but an HTTP 200
//! JSON-RPC answer as a system failure; so every failure of `/api/payme`, including our own
//! internal ones, ends up as one of these, never as an `ApiError`.

use serde::Serialize;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaymeError {
    /// -32300: the HTTP method is not POST.
    NotPost,
    /// -32700: the body is not JSON.
    ParseError,
    /// -32600: a required field is missing or of the wrong type; `field` names it
    /// (`method`, `params`, `params.amount`, ...) and is sent as `data`.
    InvalidRequest { field: String },
    /// -32601: unknown method; the method's name is sent as `data`.
    MethodNotFound { method: String },
    /// -32504: missing or wrong authorization.
    InsufficientPrivileges,
    /// -32400: our failure. The cause is logged, never sent.
    Internal,
    /// -31001: the amount differs from the order's, or is not a positive integer.
    WrongAmount,
    /// -31003: no transaction with this Payme id.
    TransactionNotFound,
    /// -31007: the order is completed (goods delivered); its payment can no longer be cancelled.
    OrderCompleted,
    /// -31008: the transaction is in the wrong state, or it timed out.
    CannotPerform,
    /// -31050: the account names no order.
    OrderNotFound,
    /// -31051: the order does not await payment (paid, cancelled, completed, refunded).
    OrderNotAwaitingPayment,
    /// -31052: the order's currency cannot be paid through Payme.
    CurrencyNotPayable,
    /// -31099: the order already has another active transaction.
    AnotherActiveTransaction,
}

/// The three languages Payme shows messages in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Messages {
    pub ru: &'static str,
    pub uz: &'static str,
    pub en: &'static str,
}

/// The `error` member of an answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ErrorBody {
    pub code: i32,
    pub message: Messages,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// Longest method name echoed back in `data` (the rest is cut: it is the caller's input).
const MAX_ECHOED_METHOD_CHARS: usize = 64;

impl PaymeError {
    pub fn invalid(field: impl Into<String>) -> Self {
        PaymeError::InvalidRequest {
            field: field.into(),
        }
    }

    pub fn code(&self) -> i32 {
        match self {
            PaymeError::NotPost => -32300,
            PaymeError::ParseError => -32700,
            PaymeError::InvalidRequest { .. } => -32600,
            PaymeError::MethodNotFound { .. } => -32601,
            PaymeError::InsufficientPrivileges => -32504,
            PaymeError::Internal => -32400,
            PaymeError::WrongAmount => -31001,
            PaymeError::TransactionNotFound => -31003,
            PaymeError::OrderCompleted => -31007,
            PaymeError::CannotPerform => -31008,
            PaymeError::OrderNotFound => -31050,
            PaymeError::OrderNotAwaitingPayment => -31051,
            PaymeError::CurrencyNotPayable => -31052,
            PaymeError::AnotherActiveTransaction => -31099,
        }
    }

    pub fn messages(&self) -> Messages {
        let (ru, uz, en) = match self {
            PaymeError::NotPost => (
                "Метод запроса должен быть POST",
                "So'rov usuli POST bo'lishi kerak",
                "The request method must be POST",
            ),
            PaymeError::ParseError => (
                "Ошибка разбора JSON",
                "JSON ni tahlil qilishda xatolik",
                "The request body is not valid JSON",
            ),
            PaymeError::InvalidRequest { .. } => (
                "Неверный запрос: поле отсутствует или имеет неверный тип",
                "Noto'g'ri so'rov: maydon yo'q yoki uning turi noto'g'ri",
                "Invalid request: a field is missing or has the wrong type",
            ),
            PaymeError::MethodNotFound { .. } => {
                ("Метод не найден", "Usul topilmadi", "Method not found")
            }
            PaymeError::InsufficientPrivileges => (
                "Недостаточно привилегий для выполнения метода",
                "Usulni bajarish uchun huquqlar yetarli emas",
                "Insufficient privileges to perform this method",
            ),
            PaymeError::Internal => ("Системная ошибка", "Tizim xatosi", "Internal system error"),
            PaymeError::WrongAmount => ("Неверная сумма", "Noto'g'ri summa", "Incorrect amount"),
            PaymeError::TransactionNotFound => (
                "Транзакция не найдена",
                "Tranzaksiya topilmadi",
                "Transaction not found",
            ),
            PaymeError::OrderCompleted => (
                "Заказ выполнен, отменить транзакцию невозможно",
                "Buyurtma bajarilgan, tranzaksiyani bekor qilib bo'lmaydi",
                "The order is completed; the transaction cannot be cancelled",
            ),
            PaymeError::CannotPerform => (
                "Невозможно выполнить данную операцию",
                "Ushbu amalni bajarib bo'lmaydi",
                "Unable to perform this operation",
            ),
            PaymeError::OrderNotFound => {
                ("Заказ не найден", "Buyurtma topilmadi", "Order not found")
            }
            PaymeError::OrderNotAwaitingPayment => (
                "Заказ не ожидает оплаты",
                "Buyurtma to'lovni kutmayapti",
                "The order is not awaiting payment",
            ),
            PaymeError::CurrencyNotPayable => (
                "Валюта заказа не поддерживается",
                "Buyurtma valyutasi qo'llab-quvvatlanmaydi",
                "The order's currency cannot be paid through Payme",
            ),
            PaymeError::AnotherActiveTransaction => (
                "По заказу уже есть другая активная транзакция",
                "Buyurtma bo'yicha boshqa faol tranzaksiya mavjud",
                "The order already has another active transaction",
            ),
        };
        Messages { ru, uz, en }
    }

    /// The `data` member: the account field for account errors (so Payme highlights it),
    /// the offending field for -32600, the method for -32601.
    pub fn data(&self, account_field: &str) -> Option<Value> {
        match self {
            PaymeError::OrderNotFound
            | PaymeError::OrderNotAwaitingPayment
            | PaymeError::CurrencyNotPayable
            | PaymeError::AnotherActiveTransaction => Some(Value::from(account_field)),
            PaymeError::InvalidRequest { field } => Some(Value::from(field.as_str())),
            PaymeError::MethodNotFound { method } => Some(Value::from(
                method
                    .chars()
                    .take(MAX_ECHOED_METHOD_CHARS)
                    .collect::<String>(),
            )),
            _ => None,
        }
    }

    pub fn body(&self, account_field: &str) -> ErrorBody {
        ErrorBody {
            code: self.code(),
            message: self.messages(),
            data: self.data(account_field),
        }
    }

    /// Account errors are the -31050 … -31099 range.
    pub fn is_account_error(&self) -> bool {
        (-31099..=-31050).contains(&self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_error() -> Vec<PaymeError> {
        vec![
            PaymeError::NotPost,
            PaymeError::ParseError,
            PaymeError::invalid("params.amount"),
            PaymeError::MethodNotFound {
                method: "Nope".into(),
            },
            PaymeError::InsufficientPrivileges,
            PaymeError::Internal,
            PaymeError::WrongAmount,
            PaymeError::TransactionNotFound,
            PaymeError::OrderCompleted,
            PaymeError::CannotPerform,
            PaymeError::OrderNotFound,
            PaymeError::OrderNotAwaitingPayment,
            PaymeError::CurrencyNotPayable,
            PaymeError::AnotherActiveTransaction,
        ]
    }

    #[test]
    fn every_error_speaks_three_languages_and_has_its_own_code() {
        let errors = every_error();
        let mut codes: Vec<i32> = errors.iter().map(PaymeError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len(), "codes are distinct");
        for error in errors {
            let messages = error.messages();
            for text in [messages.ru, messages.uz, messages.en] {
                assert!(!text.trim().is_empty(), "{error:?}");
            }
            assert_ne!(messages.ru, messages.en, "{error:?}: really translated");
        }
    }

    #[test]
    fn account_errors_name_the_account_field() {
        for error in every_error() {
            let data = error.data("order_id");
            if error.is_account_error() {
                assert_eq!(data, Some(Value::from("order_id")), "{error:?}");
            }
        }
        assert_eq!(PaymeError::WrongAmount.data("order_id"), None);
        let long = PaymeError::MethodNotFound {
            method: "x".repeat(500),
        };
        assert_eq!(
            long.data("order_id").unwrap().as_str().unwrap().len(),
            MAX_ECHOED_METHOD_CHARS
        );
    }
}
