//! A fake Gemini API on loopback: `POST /v1beta/models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse` (SSE with `\r\n\r\n` framing), answering the recorded
//! samples in `fixtures/` (8 prompt and 11 candidate tokens); errors as
//! `{"error":{"code","message","status"}}`. `GET /v1beta/models` lists two models on two
//! pages.

use std::time::Duration;

use super::fake_server::{fixture, split_events, Fake, Reply, Seen, Wire};

struct Gemini;

/// Starts the fake.
pub async fn start() -> Fake {
    Fake::start(Gemini).await
}

/// `GET /v1beta/models`, first page (continued with `pageToken=page-2`).
pub const MODELS_PAGE_1: &str = r#"{"models":[
{"name":"models/gemini-2.0-flash","version":"2.0","displayName":"Gemini 2.0 Flash","inputTokenLimit":1048576,"outputTokenLimit":8192,
 "supportedGenerationMethods":["generateContent","countTokens"]}],"nextPageToken":"page-2"}"#;
/// `GET /v1beta/models?pageToken=page-2`, the last page.
pub const MODELS_PAGE_2: &str = r#"{"models":[
{"name":"models/text-embedding-004","version":"004","displayName":"Text Embedding 004","inputTokenLimit":2048,"outputTokenLimit":1,
 "supportedGenerationMethods":["embedContent"]}]}"#;

impl Wire for Gemini {
    fn answer(&self, seen: &Seen) -> Reply {
        if seen.headers.get("x-goog-api-key").is_none() {
            return Reply::Json(403, self.error(403));
        }
        if seen.method == "GET" {
            return match seen.path.as_str() {
                "/v1beta/models" => Reply::Json(200, MODELS_PAGE_1.to_owned()),
                "/v1beta/models?pageToken=page-2" => Reply::Json(200, MODELS_PAGE_2.to_owned()),
                _ => Reply::Json(404, self.error(404)),
            };
        }
        if seen.body["contents"].as_array().is_none_or(|c| c.is_empty()) {
            return Reply::Json(400, self.error(400));
        }
        if seen.path.ends_with(":streamGenerateContent?alt=sse") {
            return Reply::Sse(split_events(&fixture("gemini_stream.sse")), Duration::from_millis(5));
        }
        if seen.path.ends_with(":generateContent") {
            return Reply::Json(200, fixture("gemini_response.json"));
        }
        Reply::Json(404, self.error(404))
    }

    fn error(&self, status: u16) -> String {
        let s = match status {
            400 => "INVALID_ARGUMENT",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            429 => "RESOURCE_EXHAUSTED",
            _ => "INTERNAL",
        };
        format!(r#"{{"error":{{"code":{status},"message":"fake {status}","status":"{s}"}}}}"#)
    }
}
