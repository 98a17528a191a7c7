//! `/openapi.json`: the API description, written by hand next to the routes it describes, one
//! fragment per area in `openapi/` (merged at start), and checked by a test that every route
//! is in it.

use std::sync::OnceLock;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde_json::Value;

/// The fragments; `core.json` holds `openapi`, `info`, the security schemes and the shared
/// components, and the operations' own routes.
const FRAGMENTS: [(&str, &str); 9] = [
    ("core.json", include_str!("openapi/core.json")),
    ("shop.json", include_str!("openapi/shop.json")),
    ("admin.json", include_str!("openapi/admin.json")),
    ("payme.json", include_str!("openapi/payme.json")),
    ("onec.json", include_str!("openapi/onec.json")),
    ("telegram.json", include_str!("openapi/telegram.json")),
    ("miniapp.json", include_str!("openapi/miniapp.json")),
    ("reports.json", include_str!("openapi/reports.json")),
    ("crystalpay.json", include_str!("openapi/crystalpay.json")),
];

/// The merged document: `paths` and `components.schemas` of every fragment.
pub fn document_json() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut merged: Option<Value> = None;
        for (name, text) in FRAGMENTS {
            let fragment: Value = serde_json::from_str(text)
                .unwrap_or_else(|error| panic!("openapi/{name} is not valid JSON: {error}"));
            match merged.as_mut() {
                None => merged = Some(fragment),
                Some(document) => merge(document, fragment),
            }
        }
        merged.expect("at least one fragment")
    })
}

fn merge(document: &mut Value, fragment: Value) {
    for section in ["paths", "components"] {
        let Some(Value::Object(entries)) = fragment.get(section).cloned() else {
            continue;
        };
        let target = document
            .as_object_mut()
            .expect("the document is an object")
            .entry(section)
            .or_insert_with(|| Value::Object(Default::default()));
        for (key, value) in entries {
            match (target.get_mut(&key), value) {
                (Some(Value::Object(existing)), Value::Object(more)) if section == "components" => {
                    existing.extend(more);
                }
                (_, value) => {
                    target[&key] = value;
                }
            }
        }
    }
}

pub async fn document() -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "application/json")],
        document_json().to_string(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn fragments_merge_into_one_document() {
        let document = super::document_json();
        assert_eq!(document["openapi"], "3.1.0");
        assert!(document["paths"].is_object());
    }
}
