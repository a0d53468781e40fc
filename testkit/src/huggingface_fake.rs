//! A fake Text Generation Inference server on loopback: `POST /generate` (with
//! `details`, including the prefill when `decoder_input_details`) and `POST
//! /generate_stream` (SSE `data:{"token":…}` events, the last with `details`), answering
//! the recorded samples in `fixtures/`; errors as `{"error","error_type"}`. `GET /info`
//! answers [`INFO`].

use std::time::Duration;

use super::fake_server::{fixture, split_events, Fake, Reply, Seen, Wire};

struct Tgi;

/// Starts the fake.
pub async fn start() -> Fake {
    Fake::start(Tgi).await
}

/// `GET /info`: what a TGI 3 server says about itself.
pub const INFO: &str = r#"{"model_id":"meta-llama/Llama-3.1-8B-Instruct","model_sha":"0e9e39f","model_dtype":"torch.float16",
"model_device_type":"cuda","model_pipeline_tag":"text-generation","max_concurrent_requests":128,"max_best_of":2,
"max_stop_sequences":4,"max_input_tokens":8191,"max_total_tokens":8192,"validation_workers":2,
"max_client_batch_size":4,"router":"text-generation-router","version":"3.0.1"}"#;

impl Wire for Tgi {
    fn answer(&self, seen: &Seen) -> Reply {
        if seen.method == "GET" {
            return match seen.path.as_str() {
                "/info" => Reply::Json(200, INFO.to_owned()),
                _ => Reply::Json(404, self.error(404)),
            };
        }
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
