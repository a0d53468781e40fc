//! `serve --demo-traffic`: a gentle stream of requests through the gateway's own data
//! plane, each with a feedback event, so every chart of the console has data from the
//! first minute (SPEC §12, quick start).
//!
//! One plain thread, about three requests a second to every group the config has at
//! start, over loopback HTTP/1.1 like any client (so the requests take every phase and
//! are recorded as usual); the feedback metric `demo_score` is a number in [0, 1] drawn
//! a little higher for challengers, so an experiment has something to find. Failures are
//! ignored (the gateway may be draining); the thread ends with the process.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Requests per second to each group, about.
const PER_SECOND: u64 = 3;

/// Starts the stream against the data plane at `data` for `groups`.
pub fn start(data: SocketAddr, groups: Vec<String>) {
    if groups.is_empty() {
        return;
    }
    let _ = std::thread::Builder::new().name("demo-traffic".into()).spawn(move || {
        let pause = Duration::from_millis(1000 / PER_SECOND / groups.len().max(1) as u64 + 1);
        let mut seed: u64 = u64::from(std::process::id()) | 1;
        loop {
            for group in &groups {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let body = format!(r#"{{"model":"{group}","messages":[{{"role":"user","content":"demo {seed}"}}]}}"#);
                if let Some((id, role)) = send(data, "/v1/chat/completions", &body) {
                    let base = if role == "challenger" { 0.62 } else { 0.55 };
                    let value = base + ((seed % 1000) as f64 / 1000.0 - 0.5) * 0.6;
                    let fb = format!(r#"{{"request_id":"{id}","metric":"demo_score","value":{value:.3}}}"#);
                    let _ = send(data, "/v1/feedback", &fb);
                }
                std::thread::sleep(pause);
            }
        }
    });
}

/// POSTs `body` to `path`; the request id and role the gateway answered with.
fn send(addr: SocketAddr, path: &str, body: &str) -> Option<(String, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    let head = answer.split("\r\n\r\n").next()?;
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    };
    Some((header("x-switchyard-request-id")?, header("x-switchyard-role").unwrap_or_default()))
}
