//! An OpenAI-format upstream for load tests: answers from memory in microseconds.
//!
//! `POST */chat/completions` returns a fixed completion with usage; with `"stream":true`
//! in the body it returns `--chunks` SSE chunks `--chunk-delay-us` apart, a usage chunk
//! and `[DONE]`. Connections get `TCP_NODELAY`. HTTP/1.1 and h2 (prior knowledge).
//! `--listen` may be given several times: one process (one CPU account) serves every
//! port, which is how the load harness gives a 90/10 split two distinct upstreams.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http::{Request, Response};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};

#[derive(Parser, Clone)]
struct Args {
    /// Listen address; repeat to serve several ports from one process.
    #[arg(long, default_value = "127.0.0.1:9500")]
    listen: Vec<String>,
    /// SSE chunks per streamed answer.
    #[arg(long, default_value_t = 20)]
    chunks: u32,
    /// Pause between chunks, microseconds.
    #[arg(long, default_value_t = 0)]
    chunk_delay_us: u64,
    /// Pause before answering, microseconds.
    #[arg(long, default_value_t = 0)]
    latency_us: u64,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

const COMPLETION: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":0,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the fast upstream."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16}}"#;
const CHUNK: &str = "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"bench\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok \"},\"finish_reason\":null}]}\n\n";
const LAST: &str = "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"bench\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":20,\"total_tokens\":29}}\n\ndata: [DONE]\n\n";

type Body = BoxBody<Bytes, Infallible>;

async fn answer(args: Args, req: Request<Incoming>) -> Response<Body> {
    let body = req.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    if args.latency_us > 0 {
        tokio::time::sleep(Duration::from_micros(args.latency_us)).await;
    }
    let stream =
        body.windows(13).any(|w| w == b"\"stream\":true") || body.windows(14).any(|w| w == b"\"stream\": true");
    if !stream {
        let mut r = Response::new(Full::new(Bytes::from_static(COMPLETION.as_bytes())).boxed());
        r.headers_mut().insert("content-type", http::HeaderValue::from_static("application/json"));
        return r;
    }
    let delay = Duration::from_micros(args.chunk_delay_us);
    let n = args.chunks;
    let s = futures_stream(n, delay);
    let mut r = Response::new(s.boxed());
    r.headers_mut().insert("content-type", http::HeaderValue::from_static("text/event-stream"));
    r
}

fn futures_stream(
    n: u32,
    delay: Duration,
) -> impl hyper::body::Body<Data = Bytes, Error = Infallible> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        for i in 0..n {
            if i > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if tx.send(Bytes::from_static(CHUNK.as_bytes())).await.is_err() {
                return;
            }
        }
        let _ = tx.send(Bytes::from_static(LAST.as_bytes())).await;
    });
    ChannelBody { rx }
}

struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads).enable_all().build()?;
    rt.block_on(async move {
        let mut accept_loops = tokio::task::JoinSet::new();
        for addr in &args.listen {
            let listener = tokio::net::TcpListener::bind(addr).await?;
            eprintln!("fast-upstream listening on {}", listener.local_addr()?);
            accept_loops.spawn(serve(listener, args.clone()));
        }
        match accept_loops.join_next().await {
            Some(done) => done?,
            None => Ok(()),
        }
    })
}

async fn serve(listener: tokio::net::TcpListener, args: Args) -> anyhow::Result<()> {
    loop {
        // An accept error (e.g. out of file descriptors) must not end the server.
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("fast-upstream: accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let args = args.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let args = args.clone();
                async move { Ok::<_, Infallible>(answer(args, req).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
