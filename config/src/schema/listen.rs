//! `tls:` / `admin_tls:` and `limits:` — a listener's certificate and what one client may
//! cost the gateway (per process).

use serde::{Deserialize, Serialize};

/// `tls:` / `admin_tls:` — PEM files for a listener, re-read when they change and on
/// `SIGHUP` (an unusable pair is refused and the last good one keeps serving).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
}

/// `limits:` — what one client may cost the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body, bytes; larger gets 413. Default 4 MiB.
    pub max_body_bytes: u64,
    /// Time allowed to receive a request's headers (slow-loris guard), ms. Default 10000.
    pub header_timeout_ms: u64,
    /// Time allowed to receive a request's body, ms. Default 30000.
    pub body_timeout_ms: u64,
    /// An idle keep-alive connection (no request in flight) is closed after this, ms.
    /// Default 60000.
    pub keepalive_timeout_ms: u64,
    /// Park idle plaintext HTTP/1.1 keep-alive connections: between requests such a
    /// connection gives back its 16 KiB of read and write buffers and holds ~4.5 KiB; its
    /// next request costs ~4,000 instructions more to set them up again. Default true.
    pub park_idle_connections: bool,
    /// Time SIGTERM waits for requests in flight before closing them, ms. Default 30000.
    pub shutdown_grace_ms: u64,
    /// Largest upstream response body buffered for a non-streamed response, bytes. Default 64 MiB.
    pub max_response_bytes: u64,
    /// Most JSON elements (objects, arrays, items) in a request body that must be
    /// translated into another wire format (which parses it into a tree: a few hundred
    /// bytes of memory per element); more is refused with 413. Bodies served in their own
    /// format are not limited. Default 25000.
    pub max_translated_elements: u64,
    /// h2: streams one connection may have open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`);
    /// more are refused with `REFUSED_STREAM`. Default 256.
    pub h2_max_concurrent_streams: u32,
    /// h2: streams a client may reset before the server took them up; beyond, the
    /// connection is closed with `GOAWAY ENHANCE_YOUR_CALM` (rapid reset). Default 20.
    pub h2_max_pending_accept_reset_streams: u32,
    /// h2: streams the server resets for a client's protocol errors, per connection;
    /// beyond, `GOAWAY ENHANCE_YOUR_CALM`. Default 1024.
    pub h2_max_local_error_reset_streams: u32,
    /// h2: largest request header list (`SETTINGS_MAX_HEADER_LIST_SIZE`: names + values +
    /// 32 per field), bytes; also bounds a header block's CONTINUATION frames. Default 65536.
    pub h2_max_header_list_bytes: u32,
    /// h2: largest frame payload accepted (`SETTINGS_MAX_FRAME_SIZE`), bytes, 16384 to
    /// 16777215. Default 16384.
    pub h2_max_frame_bytes: u32,
    /// h2: the server PINGs a connection this often, ms; 0 disables. Default 20000.
    pub h2_keepalive_interval_ms: u64,
    /// h2: a PING not acknowledged within this closes the connection, ms. Default 20000.
    pub h2_keepalive_timeout_ms: u64,
}

// === impl LimitsConfig ===

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 4 << 20,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            keepalive_timeout_ms: 60_000,
            park_idle_connections: true,
            shutdown_grace_ms: 30_000,
            max_response_bytes: 64 << 20,
            max_translated_elements: 25_000,
            h2_max_concurrent_streams: 256,
            h2_max_pending_accept_reset_streams: 20,
            h2_max_local_error_reset_streams: 1024,
            h2_max_header_list_bytes: 64 << 10,
            h2_max_frame_bytes: 16 << 10,
            h2_keepalive_interval_ms: 20_000,
            h2_keepalive_timeout_ms: 20_000,
        }
    }
}
