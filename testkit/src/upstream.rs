//! A fake OpenAI-compatible upstream on `127.0.0.1:0`.
//!
//! The upstream model name (set per member in the gateway config) picks the behaviour:
//! - `ok` (or anything else): a chat completion with usage 3/5;
//! - `stream` : SSE, 3 chunks, the last with usage 3/5, then `[DONE]`;
//! - `gated-stream`: SSE, first chunk, then waits for [`FakeUpstream::release`];
//! - `reset-stream`: SSE, one chunk, then the connection is cut;
//! - `stall-stream`: SSE, one chunk, then nothing (never ends);
//! - `slow-stream`: SSE, 6 chunks 150 ms apart, the last with usage 3/5, then `[DONE]`
//!   (0.9 s in all: longer than a 300 ms idle timeout, no gap as long);
//! - `non-json`: 200 with an HTML body; `error-500`: 500 JSON; `error-429`: 429 JSON;
//!   `error-400`: 400 JSON; `error-401`: 401 JSON that echoes part of the key;
//! - `echo-400`: 400 JSON whose message echoes the request's `authorization` header (a
//!   provider that quotes the request back); `echo-ok`: a 200 completion whose content
//!   echoes it; `echo-stream`: SSE whose first chunk echoes it.
//!
//! A request to `…/embeddings` gets an embeddings list (one 3-value vector, usage 3).
//! Every request's headers and body are kept for assertions.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::Notify;

type BoxBody = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

/// The running fake.
#[derive(Clone)]
pub struct FakeUpstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    gate: Arc<Notify>,
}

impl FakeUpstream {
    /// Starts the fake.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let fake = Self { addr, seen: Arc::default(), gate: Arc::new(Notify::new()) };
        let f = fake.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let _ = stream.set_nodelay(true);
                let f = f.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let f = f.clone();
                        async move { Ok::<_, Infallible>(f.answer(req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        fake
    }

    /// `base_url` for a provider pointing here.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Lets a `gated-stream` continue.
    pub fn release(&self) {
        self.gate.notify_waiters();
        self.gate.notify_one();
    }

    /// Requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    async fn answer(&self, req: Request<Incoming>) -> Response<BoxBody> {
        let (parts, body) = req.into_parts();
        let bytes = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        let model = json["model"].as_str().unwrap_or("").to_owned();
        self.seen.lock().expect("lock").push(Seen {
            path: parts.uri.path().to_owned(),
            headers: parts.headers.clone(),
            body: json,
        });
        if parts.uri.path().ends_with("/embeddings") {
            return embeddings(&model);
        }
        self.streamed(&model)
            .or_else(|| failed(&model, &parts.headers))
            .or_else(|| echoed(&model, &parts.headers))
            .unwrap_or_else(|| completion(&model))
    }

    /// The SSE answers (`stream`, `gated-stream`, `reset-stream`, `stall-stream`,
    /// `slow-stream`); `None` for another model.
    fn streamed(&self, model: &str) -> Option<Response<BoxBody>> {
        let answer = match model {
            "stream" => sse(vec![Ok(chunk(model, 0)), Ok(chunk(model, 1)), Ok(usage_chunk(model)), Ok(done())]),
            "gated-stream" => {
                let gate = self.gate.clone();
                let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
                let (first, usage) = (chunk(model, 0), usage_chunk(model));
                tokio::spawn(async move {
                    let _ = tx.send(Ok(first)).await;
                    gate.notified().await;
                    let _ = tx.send(Ok(usage)).await;
                    let _ = tx.send(Ok(done())).await;
                });
                sse_from(rx)
            }
            "reset-stream" => {
                // The error comes after the first chunk has been flushed to the gateway.
                let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
                let first = chunk(model, 0);
                tokio::spawn(async move {
                    let _ = tx.send(Ok(first)).await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let _ = tx.send(Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut"))).await;
                });
                sse_from(rx)
            }
            "stall-stream" => {
                let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
                let first = chunk(model, 0);
                tokio::spawn(async move {
                    let _ = tx.send(Ok(first)).await;
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    drop(tx);
                });
                sse_from(rx)
            }
            "slow-stream" => {
                let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
                let chunks: Vec<Bytes> = (0..5).map(|i| chunk(model, i)).collect();
                let usage = usage_chunk(model);
                tokio::spawn(async move {
                    for c in chunks {
                        let _ = tx.send(Ok(c)).await;
                        tokio::time::sleep(Duration::from_millis(150)).await;
                    }
                    let _ = tx.send(Ok(usage)).await;
                    let _ = tx.send(Ok(done())).await;
                });
                sse_from(rx)
            }
            _ => return None,
        };
        Some(answer)
    }
}

/// The failures (`non-json`, `error-500`, `error-429`, `error-400`, `error-401`); `None`
/// for another model.
fn failed(model: &str, headers: &HeaderMap) -> Option<Response<BoxBody>> {
    let answer = match model {
        "non-json" => full(StatusCode::OK, "text/html", "<html>502 Bad Gateway</html>"),
        "error-500" => full(
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/json",
            r#"{"error":{"message":"boom","type":"server_error"}}"#,
        ),
        "error-429" => full(
            StatusCode::TOO_MANY_REQUESTS,
            "application/json",
            r#"{"error":{"message":"slow down","type":"rate_limit"}}"#,
        ),
        "error-400" => full(
            StatusCode::BAD_REQUEST,
            "application/json",
            r#"{"error":{"message":"messages is required","type":"invalid_request_error"}}"#,
        ),
        "error-401" => {
            let key = auth(headers);
            full(
                StatusCode::UNAUTHORIZED,
                "application/json",
                &format!(r#"{{"error":{{"message":"Incorrect API key provided: {key}"}}}}"#),
            )
        }
        _ => return None,
    };
    Some(answer)
}

/// The answers that quote the request's `authorization` header back (`echo-400`,
/// `echo-ok`, `echo-stream`); `None` for another model.
fn echoed(model: &str, headers: &HeaderMap) -> Option<Response<BoxBody>> {
    let answer = match model {
        "echo-400" => full(
            StatusCode::BAD_REQUEST,
            "application/json",
            &format!(
                r#"{{"error":{{"message":"bad request; you sent Authorization: {}","type":"invalid_request_error"}}}}"#,
                auth(headers)
            ),
        ),
        "echo-ok" => full(
            StatusCode::OK,
            "application/json",
            &format!(
                r#"{{"id":"x","object":"chat.completion","model":"echo-ok","choices":[{{"index":0,"message":{{"role":"assistant","content":"you sent {}"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}}}"#,
                auth(headers)
            ),
        ),
        "echo-stream" => {
            let echoed = Bytes::from(format!(
                "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"echo-stream\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"you sent {}\"}}}}]}}\n\n",
                auth(headers)
            ));
            sse(vec![Ok(echoed), Ok(usage_chunk(model)), Ok(done())])
        }
        _ => return None,
    };
    Some(answer)
}

/// A chat completion with usage 3/5 (`ok` and every model no other answer claims).
fn completion(model: &str) -> Response<BoxBody> {
    full(
        StatusCode::OK,
        "application/json",
        &format!(
            r#"{{"id":"x","object":"chat.completion","model":"{model}","choices":[{{"index":0,"message":{{"role":"assistant","content":"hello"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}}}"#
        ),
    )
}

/// An embeddings list: one 3-value vector, usage 3.
fn embeddings(model: &str) -> Response<BoxBody> {
    let body = format!(
        r#"{{"object":"list","model":"{model}","data":[{{"object":"embedding","index":0,"embedding":[0.25,-0.5,1.0]}}],"usage":{{"prompt_tokens":3,"total_tokens":3}}}}"#
    );
    full(StatusCode::OK, "application/json", &body)
}

/// SSE chunk `i` of a streamed completion: content `t<i>`.
fn chunk(model: &str, i: u32) -> Bytes {
    Bytes::from(format!(
        "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"{model}\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"t{i}\"}}}}]}}\n\n"
    ))
}

/// The last SSE chunk of a streamed completion: no choices, usage 3/5.
fn usage_chunk(model: &str) -> Bytes {
    Bytes::from(format!(
        "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"{model}\",\"choices\":[],\"usage\":{{\"prompt_tokens\":3,\"completion_tokens\":5,\"total_tokens\":8}}}}\n\n"
    ))
}

/// The SSE end marker.
fn done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}

/// The request's `authorization` header as text (empty when absent).
fn auth(headers: &HeaderMap) -> String {
    headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

fn full(status: StatusCode, ct: &str, body: &str) -> Response<BoxBody> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_owned())).map_err(|e: Infallible| match e {}).boxed());
    *r.status_mut() = status;
    r.headers_mut().insert("content-type", ct.parse().expect("ct"));
    r
}

fn sse(items: Vec<Result<Bytes, std::io::Error>>) -> Response<BoxBody> {
    let stream = futures_util::stream::iter(items.into_iter().map(|r| r.map(Frame::data)));
    let mut r = Response::new(StreamBody::new(stream).boxed());
    r.headers_mut().insert("content-type", "text/event-stream".parse().expect("ct"));
    r
}

fn sse_from(mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>) -> Response<BoxBody> {
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data))));
    let mut r = Response::new(StreamBody::new(stream).boxed());
    r.headers_mut().insert("content-type", "text/event-stream".parse().expect("ct"));
    r
}
