//! A minimal CrystalPay for the benchmark, on 127.0.0.1: `invoice/create` hands out ids,
//! `invoice/info` answers `payed` for every invoice once the bench says the buyers paid.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Default)]
pub struct Gateway {
    next_id: AtomicU64,
    paid: AtomicBool,
}

impl Gateway {
    pub fn everyone_paid(&self) {
        self.paid.store(true, Ordering::SeqCst);
    }
}

/// Starts the fake; returns its base URL and its state.
pub async fn start() -> anyhow::Result<(String, Arc<Gateway>)> {
    let gateway = Arc::new(Gateway::default());
    let router = Router::new()
        .route("/v3/invoice/create/", post(create))
        .route("/v3/invoice/info/", post(info))
        .with_state(gateway.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((format!("http://{address}"), gateway))
}

async fn create(State(gateway): State<Arc<Gateway>>, Json(_body): Json<Value>) -> Json<Value> {
    let id = format!(
        "bench{:08}",
        gateway.next_id.fetch_add(1, Ordering::Relaxed)
    );
    Json(json!({"error": false, "errors": [], "id": id,
        "url": format!("https://pay.example/?i={id}"), "type": "purchase"}))
}

async fn info(State(gateway): State<Arc<Gateway>>, Json(body): Json<Value>) -> Json<Value> {
    let state = if gateway.paid.load(Ordering::SeqCst) {
        "payed"
    } else {
        "notpayed"
    };
    Json(
        json!({"error": false, "errors": [], "id": body["id"], "state": state,
        "amount": "10.00", "initial_amount": "10.00", "remaining_amount": "0",
        "balance_amount": "10.00", "currency": "RUB"}),
    )
}
