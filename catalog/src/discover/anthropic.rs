//! Anthropic `GET /v1/models`: `{"data": [{"type": "model", "id", "display_name",
//! "created_at"}], "has_more", "first_id", "last_id"}`.
//!
//! `id` and `display_name` are taken verbatim. Every model this API lists is served by the
//! Messages API, so `kind` is `chat` with confidence [`IMPLIED`](super::IMPLIED). Limits,
//! prices and capabilities are not in the answer and stay unknown. `created_at` is the
//! model's release date, not the entry's, and is not copied. When `has_more` is true the
//! next page is `after_id=<last_id>`.

use serde::Deserialize;
use serde_json::Value;

use super::{keep, parse_body, parse_item, verbatim, Discovery, NextPage, IMPLIED};
use crate::entry::{CatalogEntry, Kind, Source};
use crate::problem::Problem;

#[derive(Deserialize)]
struct List {
    data: Vec<Value>,
    #[serde(default)]
    has_more: bool,
    #[serde(default)]
    last_id: Option<String>,
}

#[derive(Deserialize)]
struct Model {
    id: String,
    #[serde(default)]
    display_name: Option<String>,
}

/// Maps Anthropic's model list; `provider` is the Switchyard provider's name.
pub fn anthropic_models(provider: &str, body: &[u8]) -> Result<Discovery, Problem> {
    let list: List = parse_body(body, "an Anthropic model list ({\"data\": [...]})")?;
    let mut out = Discovery::default();
    for (i, item) in list.data.into_iter().enumerate() {
        let at = format!("data[{i}]");
        let model: Model = match parse_item(item, &at) {
            Ok(m) => m,
            Err(p) => {
                out.problems.push(p);
                continue;
            }
        };
        let mut entry = CatalogEntry::new(provider, &model.id);
        if let Some(name) = model.display_name.filter(|n| !n.is_empty()) {
            entry.display_name = Some(name);
            verbatim(&mut entry, "display_name");
        }
        entry.kind = Some(Kind::Chat);
        entry.mark("kind", Source::Provider, IMPLIED);
        keep(&mut out, &at, entry);
    }
    if list.has_more {
        match list.last_id {
            Some(last) => out.next_page = Some(NextPage { param: "after_id", value: last }),
            None => out.problems.push(Problem::new("last_id", "has_more is true but last_id is missing")),
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_list_maps_names_and_pages_on() {
        let body = br#"{"data":[
            {"type":"model","id":"claude-sonnet-4-20250514","display_name":"Claude Sonnet 4","created_at":"2025-05-22T00:00:00Z"},
            {"type":"model","id":"claude-3-5-haiku-20241022","display_name":"Claude Haiku 3.5","created_at":"2024-10-22T00:00:00Z"}
        ],"has_more":true,"first_id":"claude-sonnet-4-20250514","last_id":"claude-3-5-haiku-20241022"}"#;
        let d = anthropic_models("anthropic", body).unwrap();
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        let e = &d.entries[0];
        assert_eq!(e.id, "anthropic/claude-sonnet-4-20250514");
        assert_eq!(e.display_name.as_deref(), Some("Claude Sonnet 4"));
        assert_eq!(e.kind, Some(Kind::Chat));
        assert_eq!(e.provenance["kind"].confidence, IMPLIED);
        assert_eq!(e.provenance["display_name"].confidence, 1.0);
        assert_eq!(e.limits, Default::default());
        assert_eq!(e.pricing, None);
        assert_eq!(e.created_at, None, "a release date is not the entry's creation");
        assert_eq!(d.next_page, Some(NextPage { param: "after_id", value: "claude-3-5-haiku-20241022".into() }));
        let last = anthropic_models("anthropic", br#"{"data":[],"has_more":false}"#).unwrap();
        assert_eq!(last.next_page, None);
        assert!(last.entries.is_empty());
    }
}
