//! The operators' side: the admin event browser's filters (stream, type, source, time), which
//! answer "what happened to order X" in one call.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::PgPool;

use crate::common::ADMIN_TOKEN;
use crate::support::{full_app, order};

fn positions(answer: &Value) -> Vec<(String, String)> {
    answer["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["stream_id"].as_str().unwrap().to_owned(),
                e["event_type"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[sqlx::test]
async fn event_filters_combine(pool: PgPool) {
    let (app, payme, _fake) = full_app(pool.clone()).await;
    let (first, amount) = order(&app, "adm-1", "998932220001", "100").await;
    payme.pay("adm-p1", &first, amount).await;
    let (second, _) = order(&app, "adm-2", "998932220002", "100").await;
    let get = |query: String| {
        let app = &app;
        async move {
            let answer = app
                .get(&format!("/api/admin/events?{query}"), Some(ADMIN_TOKEN))
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{query}: {:?}", answer.body);
            answer.body
        }
    };

    let stream = format!("order-{first}");
    let order_events = positions(&get(format!("stream_id={stream}")).await);
    assert!(
        order_events.iter().all(|(s, _)| *s == stream),
        "{order_events:?}"
    );
    let types: Vec<&str> = order_events.iter().map(|(_, t)| t.as_str()).collect();
    assert!(
        types.starts_with(&["OrderPlaced"]) && types.contains(&"OrderPaid"),
        "{types:?}"
    );

    let placed = positions(&get("type=OrderPlaced".into()).await);
    assert_eq!(placed.len(), 2);
    assert_eq!(
        placed[1],
        (format!("order-{second}"), "OrderPlaced".to_owned())
    );
    let from_payme = positions(&get("source=payme".into()).await);
    assert!(!from_payme.is_empty());
    assert!(from_payme.iter().all(|(s, _)| s.starts_with("payme_tx-")
        || s.starts_with("order-")
        || s.starts_with("cashback-")));
    assert!(positions(&get("source=payme&type=OrderPlaced".into()).await).is_empty());
    let combined = positions(&get(format!("stream_id={stream}&type=OrderPaid&source=payme")).await);
    assert_eq!(combined, vec![(stream.clone(), "OrderPaid".to_owned())]);

    let later = (Utc::now() + Duration::minutes(5))
        .to_rfc3339()
        .replace('+', "%2B");
    let earlier = (Utc::now() - Duration::minutes(5))
        .to_rfc3339()
        .replace('+', "%2B");
    assert!(positions(&get(format!("from={later}")).await).is_empty());
    assert!(positions(&get(format!("to={earlier}")).await).is_empty());
    assert_eq!(
        positions(&get(format!("from={earlier}&to={later}&type=OrderPlaced")).await).len(),
        2
    );
    assert_eq!(
        positions(&get("type=OrderPlaced&limit=1".into()).await).len(),
        1
    );

    for (query, field) in [
        ("source=bank", "source"),
        ("from=yesterday", "from"),
        ("to=1", "to"),
    ] {
        let answer = app
            .get(&format!("/api/admin/events?{query}"), Some(ADMIN_TOKEN))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(answer.body["field"], field, "{query}");
    }
    app.stop().await;
}
