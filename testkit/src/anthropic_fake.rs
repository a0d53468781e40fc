//! A fake Anthropic Messages API (`POST /v1/messages`) on loopback, in its real wire
//! format: JSON messages, SSE (`message_start` … `message_stop`, with `ping`), error
//! bodies `{"type":"error","error":{"type","message"}}`. Answers echo the requested model
//! and carry the recorded usage of `fixtures/anthropic_stream.sse` (12 in, 15 out). A
//! request whose last user text is `use the tool` gets the recorded `tool_use` answer.
//! `GET /v1/models` lists three models on two pages.

use std::time::Duration;

use super::fake_server::{fixture, split_events, Fake, Reply, Seen, Wire};

struct Anthropic;

/// Starts the fake.
pub async fn start() -> Fake {
    Fake::start(Anthropic).await
}

/// `GET /v1/models`, first page (`has_more`, continued with `after_id`).
pub const MODELS_PAGE_1: &str = r#"{"data":[
{"type":"model","id":"claude-3-5-sonnet-20241022","display_name":"Claude 3.5 Sonnet (New)","created_at":"2024-10-22T00:00:00Z"},
{"type":"model","id":"claude-3-5-haiku-20241022","display_name":"Claude 3.5 Haiku","created_at":"2024-10-22T00:00:00Z"}],
"has_more":true,"first_id":"claude-3-5-sonnet-20241022","last_id":"claude-3-5-haiku-20241022"}"#;
/// `GET /v1/models?after_id=claude-3-5-haiku-20241022`, the last page.
pub const MODELS_PAGE_2: &str = r#"{"data":[
{"type":"model","id":"claude-3-opus-20240229","display_name":"Claude 3 Opus","created_at":"2024-02-29T00:00:00Z"}],
"has_more":false,"first_id":"claude-3-opus-20240229","last_id":"claude-3-opus-20240229"}"#;

impl Wire for Anthropic {
    fn answer(&self, seen: &Seen) -> Reply {
        if seen.method == "GET" && seen.path.starts_with("/v1/models") {
            if seen.headers.get("x-api-key").is_none() || seen.headers.get("anthropic-version").is_none() {
                return Reply::Json(401, self.error(401));
            }
            return match seen.path.as_str() {
                "/v1/models" => Reply::Json(200, MODELS_PAGE_1.to_owned()),
                "/v1/models?after_id=claude-3-5-haiku-20241022" => Reply::Json(200, MODELS_PAGE_2.to_owned()),
                _ => Reply::Json(400, self.error(400)),
            };
        }
        if seen.path != "/v1/messages" || seen.method != "POST" {
            return Reply::Json(404, self.error(404));
        }
        if seen.headers.get("x-api-key").is_none() || seen.headers.get("anthropic-version").is_none() {
            return Reply::Json(401, self.error(401));
        }
        if seen.body["max_tokens"].as_u64().is_none() {
            return Reply::Json(400, self.error(400));
        }
        let model = seen.body["model"].as_str().unwrap_or("").to_owned();
        let wants_tool = seen.body["messages"].as_array().and_then(|m| m.last()).is_some_and(|m| {
            m["content"].as_str() == Some("use the tool") || m["content"][0]["text"].as_str() == Some("use the tool")
        });
        if seen.body["stream"].as_bool() == Some(true) {
            let text = fixture("anthropic_stream.sse").replace("claude-sonnet-4-5-20250929", &model);
            return Reply::Sse(split_events(&text), Duration::from_millis(5));
        }
        let file = if wants_tool { "anthropic_tool_use.json" } else { "anthropic_message.json" };
        Reply::Json(200, fixture(file).replace("claude-sonnet-4-5-20250929", &model))
    }

    fn error(&self, status: u16) -> String {
        let kind = match status {
            400 => "invalid_request_error",
            401 => "authentication_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            529 => "overloaded_error",
            _ => "api_error",
        };
        format!(r#"{{"type":"error","error":{{"type":"{kind}","message":"fake {status}"}}}}"#)
    }
}
