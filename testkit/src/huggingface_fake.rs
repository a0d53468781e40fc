//! A fake Text Generation Inference server on loopback: `POST /generate` (with
//! `details`, including the prefill when `decoder_input_details`) and `POST
//! /generate_stream` (SSE `data:{"token":…}` events, the last with `details`), answering
//! the recorded samples in `fixtures/`; errors as `{"error","error_type"}`.

use std::time::Duration;

use super::fake_server::{fixture, split_events, Fake, Reply, Seen, Wire};

struct Tgi;

/// Starts the fake.
pub async fn start() -> Fake {
    Fake::start(Tgi).await
}

impl Wire for Tgi {
    fn answer(&self, seen: &Seen) -> Reply {
        if seen.body["inputs"].as_str().is_none_or(str::is_empty) {
            return Reply::Json(422, self.error(422));
        }
        match seen.path.as_str() {
            "/generate_stream" => Reply::Sse(split_events(&fixture("tgi_stream.sse")), Duration::from_millis(5)),
            "/generate" => Reply::Json(200, fixture("tgi_generate.json")),
            _ => Reply::Json(404, self.error(404)),
        }
    }

    fn error(&self, status: u16) -> String {
        let kind = if status == 422 {
            "validation"
        } else if status == 429 {
            "overloaded"
        } else {
            "generation"
        };
        format!(r#"{{"error":"fake {status}","error_type":"{kind}"}}"#)
    }
}
