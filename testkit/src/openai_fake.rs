//! A switchable fake OpenAI chat-completions server on loopback (`POST
//! /v1/chat/completions`): a completion with usage 3/5, or SSE with three chunks, a usage
//! chunk and `[DONE]`; error bodies `{"error":{"message","type","code"}}`. Failures are
//! switched with [`Fake::set_mode`](super::fake_server::Fake::set_mode). `GET /v1/models`
//! lists [`MODELS`] (with a bearer key; 401 without).

use std::time::Duration;

use super::fake_server::{Fake, Reply, Seen, Wire};

struct OpenAi;

/// Starts the fake.
pub async fn start() -> Fake {
    Fake::start(OpenAi).await
}

/// `base_url` for a provider pointing at `fake`.
pub fn base_url(fake: &Fake) -> String {
    format!("{}/v1", fake.url())
}

/// `GET /v1/models`: an OpenAI-compatible list with vLLM's extras on one model.
pub const MODELS: &str = r#"{"object":"list","data":[
{"id":"gpt-4o","object":"model","created":1715367049,"owned_by":"system"},
{"id":"meta-llama/Llama-3.1-8B-Instruct","object":"model","created":1,"owned_by":"vllm","root":"meta-llama/Llama-3.1-8B-Instruct","parent":null,"max_model_len":131072},
{"id":"sql-lora","object":"model","created":1,"owned_by":"vllm","parent":"meta-llama/Llama-3.1-8B-Instruct","max_model_len":131072},
{"object":"model","created":1}]}"#;

impl Wire for OpenAi {
    fn answer(&self, seen: &Seen) -> Reply {
        if seen.method == "GET" {
            return match seen.path.as_str() {
                "/v1/models" if seen.headers.get("authorization").is_some() => Reply::Json(200, MODELS.to_owned()),
                "/v1/models" => Reply::Json(401, self.error(401)),
                _ => Reply::Json(404, self.error(404)),
            };
        }
        let model = seen.body["model"].as_str().unwrap_or("").to_owned();
        if seen.body["stream"].as_bool() == Some(true) {
            let chunk = |delta: &str, finish: &str| {
                format!(
                    "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"{model}\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
                )
            };
            let events = vec![
                chunk(r#"{"role":"assistant","content":""}"#, "null"),
                chunk(r#"{"content":"Hello"}"#, "null"),
                chunk(r#"{"content":" world"}"#, "null"),
                chunk("{}", r#""stop""#),
                format!("data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"{model}\",\"choices\":[],\"usage\":{{\"prompt_tokens\":3,\"completion_tokens\":5,\"total_tokens\":8}}}}\n\n"),
                "data: [DONE]\n\n".to_owned(),
            ];
            return Reply::Sse(events, Duration::from_millis(2));
        }
        Reply::Json(
            200,
            format!(
                r#"{{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"{model}","choices":[{{"index":0,"message":{{"role":"assistant","content":"Hello world"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}}}"#
            ),
        )
    }

    fn error(&self, status: u16) -> String {
        let kind = if status == 429 {
            "rate_limit_exceeded"
        } else if status < 500 {
            "invalid_request_error"
        } else {
            "server_error"
        };
        format!(r#"{{"error":{{"message":"fake {status}","type":"{kind}","code":null}}}}"#)
    }
}
