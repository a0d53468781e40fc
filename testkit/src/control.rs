//! Helpers for control-API tests: two admin tokens (an admin and a viewer), the YAML
//! block that configures them, and a small client that reads ETags and sends `If-Match`.

use sha2::{Digest, Sha256};

use crate::{client, TestGateway};

/// The admin token's secret (token name `alice`).
pub const ADMIN: &str = "admin-token-for-tests";
/// The viewer token's secret (token name `val`).
pub const VIEWER: &str = "viewer-token-for-tests";

/// The `admin:` block configuring [`ADMIN`] and [`VIEWER`].
pub fn admin_yaml() -> String {
    format!(
        "admin:\n  tokens:\n    - {{ name: alice, token_sha256: \"{}\", role: admin }}\n    - {{ name: val, token_sha256: \"{}\", role: viewer }}\n",
        hash(ADMIN),
        hash(VIEWER)
    )
}

/// Hex sha256 of a secret, as the config takes it.
pub fn hash(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// The control API of a test gateway.
pub struct Api {
    /// `http://<admin>/api/v1`.
    pub base: String,
    /// The HTTP client.
    pub http: reqwest::Client,
}

impl Api {
    /// The API of `gw`.
    pub fn new(gw: &TestGateway) -> Self {
        Self { base: format!("{}/api/v1", gw.admin), http: client() }
    }
    /// A GET with `token`.
    pub fn get(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.base)).bearer_auth(token)
    }
    /// A write as the admin, based on `version`.
    pub fn write(&self, method: reqwest::Method, path: &str, version: u64) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN)
            .header("if-match", format!("\"{version}\""))
    }
    /// The current config version (the groups' ETag).
    pub async fn version(&self) -> u64 {
        let r = self.get("/groups", ADMIN).send().await.expect("send");
        etag(&r)
    }
}

/// The version in a response's `ETag`.
pub fn etag(r: &reqwest::Response) -> u64 {
    r.headers()["etag"].to_str().expect("ascii").trim_matches('"').parse().expect("numeric etag")
}

/// An error body, checked to carry a message.
pub async fn error_json(r: reqwest::Response) -> serde_json::Value {
    let body: serde_json::Value = r.json().await.expect("json error body");
    assert!(body["error"]["message"].is_string(), "{body}");
    body
}

/// `GET url` with a bearer token, its body as JSON (whatever the status).
pub async fn get_json(c: &reqwest::Client, url: impl reqwest::IntoUrl, token: &str) -> serde_json::Value {
    c.get(url).bearer_auth(token).send().await.expect("send").json().await.expect("json")
}
