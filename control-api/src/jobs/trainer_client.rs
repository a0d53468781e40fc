//! The HTTP client both trainers use: one base URL (no trailing `/`) and an optional
//! bearer key, which is only ever sent to that base.

/// A trainer's endpoint.
pub struct TrainerClient {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
}

// === impl TrainerClient ===

impl TrainerClient {
    /// A client of `base` with an optional bearer `key`.
    pub fn new(http: reqwest::Client, base: &str, key: Option<String>) -> Self {
        Self { http, base: base.trim_end_matches('/').to_owned(), key }
    }

    /// A request to `base` + `path` (`path` starts with `/`), with the key when there is one.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.key {
            Some(k) => r.bearer_auth(k),
            None => r,
        }
    }
}
