//! Phase 2, **authenticate**: the client key → the client, its tenant and the groups it
//! may use.
//!
//! The key comes from `authorization: Bearer <key>` (the scheme is case-insensitive,
//! RFC 9110 §11.1) or Anthropic's `x-api-key`. The table compares its sha256 with every
//! client's in constant time. Without `clients:` in the config the data plane needs no
//! key. A request the gateway makes for itself ([`super::dispatch`]) arrives with its
//! client already set and is not asked for a key.

use http::header::AUTHORIZATION;
use http::HeaderMap;
use switchyard_config::AuthFailure;

use super::RequestCtx;
use crate::error::GatewayError;

/// Authenticates the request into `ctx.client`.
pub fn authenticate(ctx: &mut RequestCtx, headers: &HeaderMap) -> Result<(), GatewayError> {
    if ctx.client.is_some() {
        return Ok(());
    }
    let client = ctx.table.authenticate(presented_key(headers)).map_err(|f| match f {
        AuthFailure::Missing => GatewayError::MissingKey,
        AuthFailure::Invalid => GatewayError::InvalidKey,
    })?;
    ctx.client = client.cloned();
    Ok(())
}

/// The key the client presented, if any.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, key) = v.trim_start().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then_some(key)
    });
    bearer.or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok())).map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in ["Bearer k1", "bearer k1", "BEARER k1", "  BeArEr   k1 "] {
            let mut h = HeaderMap::new();
            h.insert(AUTHORIZATION, value.parse().expect("header"));
            assert_eq!(presented_key(&h), Some("k1"), "{value}");
        }
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, "Basic k1".parse().expect("header"));
        assert_eq!(presented_key(&h), None);
        h.insert("x-api-key", "k2".parse().expect("header"));
        assert_eq!(presented_key(&h), Some("k2"));
    }
}
