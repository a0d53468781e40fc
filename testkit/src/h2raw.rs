//! A raw HTTP/2 client for protocol tests: frames are written by hand (so a test can
//! break the protocol: floods, resets, streams beyond the limit), and a reader task
//! tallies what the server sends back ([`Seen`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;

/// h2 frame types and flags (RFC 9113 §6).
pub const DATA: u8 = 0;
pub const HEADERS: u8 = 1;
pub const RST_STREAM: u8 = 3;
pub const SETTINGS: u8 = 4;
pub const PING: u8 = 6;
pub const GOAWAY: u8 = 7;
pub const CONTINUATION: u8 = 9;
pub const END_STREAM: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const ACK: u8 = 0x1;
pub const CANCEL: u32 = 0x8;
pub const REFUSED_STREAM: u32 = 0x7;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What a raw connection's reader saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// The server's SETTINGS (id, value), from its first SETTINGS frame.
    pub settings: Vec<(u16, u32)>,
    /// The last GOAWAY's (last stream id, error code).
    pub goaway: Option<(u32, u32)>,
    /// RST_STREAM frames with REFUSED_STREAM.
    pub refused: u32,
    pub pings_acked: u64,
    pub settings_acked: u64,
    /// The payload of the last PING the server sent (not answered unless the test does).
    pub last_ping: Option<[u8; 8]>,
    /// Response HEADERS frames.
    pub responses: u32,
    /// DATA payloads by stream.
    pub data: HashMap<u32, Vec<u8>>,
    /// The server closed the connection.
    pub closed: bool,
}

impl Seen {
    /// The last GOAWAY's error code.
    pub fn goaway_code(&self) -> Option<u32> {
        self.goaway.map(|(_, code)| code)
    }

    /// The DATA received on `stream`, as text.
    pub fn body(&self, stream: u32) -> String {
        self.data.get(&stream).map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default()
    }
}

/// A raw h2 connection: frames are written by hand, frames read are tallied in [`Seen`].
pub struct Raw {
    pub w: OwnedWriteHalf,
    pub seen: Arc<Mutex<Seen>>,
}

/// A frame: 9-byte header, then the payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = Vec::with_capacity(9 + payload.len());
    f.extend_from_slice(&len.to_be_bytes()[1..]);
    f.extend_from_slice(&[kind, flags]);
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// HPACK: a literal field without indexing, name from the static table (`index` < 15).
pub fn literal(index: u8, value: &[u8]) -> Vec<u8> {
    assert!(value.len() < 127);
    let mut out = vec![index, value.len() as u8];
    out.extend_from_slice(value);
    out
}

/// HPACK: a literal field without indexing with a new name.
pub fn literal_new(name: &[u8], value: &[u8]) -> Vec<u8> {
    assert!(name.len() < 127 && value.len() < 127);
    let mut out = vec![0, name.len() as u8];
    out.extend_from_slice(name);
    out.push(value.len() as u8);
    out.extend_from_slice(value);
    out
}

/// The header block of `POST /v1/chat/completions`.
pub fn request_block() -> Vec<u8> {
    // :method POST and :scheme http are static entries 3 and 6.
    let mut b = vec![0x83, 0x86];
    b.extend(literal(4, b"/v1/chat/completions")); // :path
    b.extend(literal(1, b"gw")); // :authority
    b.extend(literal_new(b"content-type", b"application/json"));
    b
}

impl Raw {
    /// Connects, sends the preface and an empty SETTINGS, and starts reading.
    pub async fn connect(addr: SocketAddr) -> Self {
        let s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        let (mut r, mut w) = s.into_split();
        w.write_all(PREFACE).await.expect("preface");
        w.write_all(&frame(SETTINGS, 0, 0, &[])).await.expect("settings");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let tally = seen.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                let n = match r.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                let mut at = 0;
                while buf.len() >= at + 9 {
                    let len = u32::from_be_bytes([0, buf[at], buf[at + 1], buf[at + 2]]) as usize;
                    if buf.len() < at + 9 + len {
                        break;
                    }
                    let (kind, flags) = (buf[at + 3], buf[at + 4]);
                    let payload = &buf[at + 9..at + 9 + len];
                    let mut s = tally.lock().expect("lock");
                    match kind {
                        SETTINGS if flags & ACK != 0 => s.settings_acked += 1,
                        SETTINGS if s.settings.is_empty() => {
                            s.settings = payload
                                .chunks(6)
                                .map(|c| {
                                    (u16::from_be_bytes([c[0], c[1]]), u32::from_be_bytes([c[2], c[3], c[4], c[5]]))
                                })
                                .collect();
                        }
                        PING if flags & ACK != 0 => s.pings_acked += 1,
                        PING if payload.len() == 8 => {
                            let mut p = [0u8; 8];
                            p.copy_from_slice(payload);
                            s.last_ping = Some(p);
                        }
                        HEADERS => s.responses += 1,
                        RST_STREAM
                            if u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]])
                                == REFUSED_STREAM =>
                        {
                            s.refused += 1
                        }
                        GOAWAY => {
                            let word = |i: usize| {
                                u32::from_be_bytes([payload[i], payload[i + 1], payload[i + 2], payload[i + 3]])
                            };
                            s.goaway = Some((word(0) & 0x7fff_ffff, word(4)));
                        }
                        DATA => {
                            let stream =
                                u32::from_be_bytes([buf[at + 5], buf[at + 6], buf[at + 7], buf[at + 8]]) & 0x7fff_ffff;
                            s.data.entry(stream).or_default().extend_from_slice(payload);
                        }
                        _ => {}
                    }
                    at += 9 + len;
                }
                buf.drain(..at);
            }
            tally.lock().expect("lock").closed = true;
        });
        Self { w, seen }
    }

    /// Writes `bytes`; false once the server has closed the connection.
    pub async fn send(&mut self, bytes: &[u8]) -> bool {
        matches!(tokio::time::timeout(Duration::from_secs(10), self.w.write_all(bytes)).await, Ok(Ok(())))
    }

    pub fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().expect("lock"))
    }

    /// Waits (bounded) until `f` holds for what was seen.
    pub async fn until(&self, within: Duration, f: impl Fn(&Seen) -> bool) -> bool {
        let end = tokio::time::Instant::now() + within;
        loop {
            if self.seen(&f) {
                return true;
            }
            if tokio::time::Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (bounded) until the server closed the connection.
    pub async fn closed_within(&self, within: Duration) -> bool {
        self.until(within, |s| s.closed).await
    }
}
