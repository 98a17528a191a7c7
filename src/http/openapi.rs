//! `/openapi.json`: the API description, written by hand next to the routes it describes
//! (`openapi.json` in this folder) and checked by a test that every route is in it.

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

pub const DOCUMENT: &str = include_str!("openapi.json");

pub async fn document() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT)
}
