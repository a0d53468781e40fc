//! LLM members (SPEC §9 (c)): an answer carrying OpenAI token `logprobs` leaves a
//! summary on its record — tokens, mean and min log-probability, perplexity — for
//! complete answers and streams alike; an answer without them leaves none.

use std::time::Duration;

use switchyard_testkit::{chat, chat_stream, client, TestGateway};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const ANSWER: &str = r#"{"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi there"},"finish_reason":"stop","logprobs":{"content":[{"token":"Hi","logprob":-0.5,"bytes":[72,105],"top_logprobs":[]},{"token":" there","logprob":-1.5,"bytes":[32],"top_logprobs":[]}]}}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#;
const STREAM: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"logprobs\":{\"content\":[{\"token\":\"Hi\",\"logprob\":-0.25,\"top_logprobs\":[]}]}}]}\n\ndata: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\"},\"logprobs\":{\"content\":[{\"token\":\"!\",\"logprob\":-0.75,\"top_logprobs\":[]}]}}]}\n\ndata: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
const PLAIN: &str = r#"{"id":"c2","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;

/// An OpenAI-compatible upstream answering with logprobs (or without, for model `plain`).
async fn upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = sock.read(&mut chunk).await else { return };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some(end) = text.find("\r\n\r\n") else { continue };
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() < end + 4 + len {
                        continue;
                    }
                    let body = &text[end + 4..];
                    let (ctype, answer) = if body.contains("\"stream\":true") {
                        ("text/event-stream", STREAM)
                    } else if body.contains("\"plain\"") {
                        ("application/json", PLAIN)
                    } else {
                        ("application/json", ANSWER)
                    };
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        answer.len()
                    );
                    let _ = sock.write_all(format!("{head}{answer}").as_bytes()).await;
                    return;
                }
            });
        }
    });
    format!("http://{addr}/v1")
}

#[tokio::test]
async fn logprob_summaries_are_recorded_for_answers_and_streams() {
    let url = upstream().await;
    let gw = TestGateway::start(&format!(
        r#"
providers:
  llm: {{ kind: openai, base_url: "{url}" }}
groups:
  chat:
    members: [ {{ name: m, role: champion, provider: llm, model: m, weight: 1 }} ]
  plain:
    members: [ {{ name: p, role: champion, provider: llm, model: plain, weight: 1 }} ]
"#
    ))
    .await;
    for (group, body) in [("chat", chat("chat")), ("chat", chat_stream("chat")), ("plain", chat("plain"))] {
        let r = client().post(gw.url("/v1/chat/completions")).body(body).send().await.expect("send");
        assert_eq!(r.status(), 200, "{group}");
        r.bytes().await.expect("body");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let dir = gw.stop().await;
    let records = TestGateway::records(&dir);
    let summary = |stream: bool, group: &str| {
        records.iter().find(|r| r.stream == stream && r.group == group).expect("record").logprobs
    };
    let whole = summary(false, "chat").expect("summary of the answer");
    assert_eq!((whole.tokens, whole.mean, whole.min), (2, -1.0, -1.5));
    assert!((whole.perplexity - 1f64.exp()).abs() < 1e-12);
    let streamed = summary(true, "chat").expect("summary of the stream");
    assert_eq!((streamed.tokens, streamed.mean, streamed.min), (2, -0.5, -0.75));
    assert!((streamed.perplexity - 0.5f64.exp()).abs() < 1e-12);
    assert_eq!(summary(false, "plain"), None, "no logprobs, no summary");
}
