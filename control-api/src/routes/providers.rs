//! `/api/v1/providers…`: provider CRUD with write-only secrets.
//!
//! A key sent in a `PUT` body as a literal is sealed with the master key
//! (`SWITCHYARD_MASTER_KEY`) before it reaches the config file; `env:`/`file:` references
//! are stored as they are. Responses and audit entries show only whether a key is set,
//! where it comes from and its last four characters.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use switchyard_config::schema::ProviderConfig;
use switchyard_config::secret::SecretSource;
use switchyard_config::{Config, SecretRef};

use super::tagged;
use crate::auth::{Operator, Writer};
use crate::edit::{apply, refuse, Edit};
use crate::error::ApiError;
use crate::extract::{Body, IfMatch};
use crate::ControlState;

/// What the API says about a secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SecretView {
    /// `env`, `file` or `encrypted`.
    pub source: &'static str,
    /// Last four characters of the value, when it can be read.
    pub last4: Option<String>,
}

/// A provider as the API shows it (never its key).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    /// Name.
    pub name: String,
    /// Kind (`openai`, `mock`, …).
    pub kind: String,
    /// Base URL.
    pub base_url: Option<String>,
    /// Extra headers.
    pub headers: BTreeMap<String, String>,
    /// The key, redacted.
    pub api_key: Option<SecretView>,
}

/// `PUT /providers/{p}` body: like the YAML entry, with `api_key` as a literal (sealed on
/// write) or an `env:`/`file:` reference; omit `api_key` to keep the current one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ProviderBody {
    /// Everything but the key, as in the YAML file.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

fn view(name: &str, p: &ProviderConfig) -> ProviderView {
    ProviderView {
        name: name.to_owned(),
        kind: p.kind.as_str().to_owned(),
        base_url: p.base_url.clone(),
        headers: p.headers.clone(),
        api_key: p.api_key.as_ref().map(secret_view),
    }
}

fn secret_view(s: &SecretRef) -> SecretView {
    let source = match s.source() {
        Ok(SecretSource::Env(_)) => "env",
        Ok(SecretSource::File(_)) => "file",
        Ok(SecretSource::Encrypted(_)) => "encrypted",
        Err(_) => "invalid",
    };
    let last4 = s.resolve().ok().map(|v| {
        let chars: Vec<char> = v.expose().chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    });
    SecretView { source, last4 }
}

fn redacted(cfg: &Config, name: &str) -> serde_json::Value {
    cfg.providers.get(name).map_or(serde_json::Value::Null, |p| serde_json::to_value(view(name, p)).unwrap_or_default())
}

/// `GET /api/v1/providers`
#[utoipa::path(get, path = "/api/v1/providers", tag = "providers", responses((status = 200, body = [ProviderView])))]
pub async fn list(State(state): State<ControlState>, _: Operator) -> Response {
    let (cfg, version) = state.editor.snapshot();
    tagged(version, cfg.providers.iter().map(|(n, p)| view(n, p)).collect::<Vec<_>>())
}

/// `GET /api/v1/providers/{provider}`
#[utoipa::path(get, path = "/api/v1/providers/{provider}", tag = "providers",
    responses((status = 200, body = ProviderView), (status = 404)))]
pub async fn get_one(
    State(state): State<ControlState>,
    _: Operator,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let (cfg, version) = state.editor.snapshot();
    let p = cfg.providers.get(&name).ok_or_else(|| ApiError::NotFound(format!("provider `{name}` does not exist")))?;
    Ok(tagged(version, view(&name, p)))
}

/// `PUT /api/v1/providers/{provider}`: create or replace; a literal `api_key` is sealed.
#[utoipa::path(put, path = "/api/v1/providers/{provider}", tag = "providers", request_body = ProviderBody,
    responses((status = 200, body = ProviderView), (status = 400), (status = 412), (status = 422)))]
pub async fn put(
    State(state): State<ControlState>,
    Writer(op): Writer,
    IfMatch(expected): IfMatch,
    Path(name): Path<String>,
    Body(body): Body<ProviderBody>,
) -> Result<Response, ApiError> {
    let mut fields = body.rest;
    let key = match fields.remove("api_key") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(k)) if k.is_empty() => None,
        Some(serde_json::Value::String(k)) => Some(k),
        Some(_) => return Err(ApiError::BadRequest("`api_key` must be a string".into())),
    };
    let mut provider: ProviderConfig = serde_json::from_value(serde_json::Value::Object(fields))
        .map_err(|e| ApiError::BadRequest(format!("provider: {e}")))?;
    let sealed = match key {
        None => None,
        Some(k) if k.starts_with("env:") || k.starts_with("file:") => Some(SecretRef(k)),
        Some(k) => Some(SecretRef::seal(&k).map_err(|e| {
            ApiError::Conflict(format!(
                "cannot store a key: {e}; set SWITCHYARD_MASTER_KEY or use an env:/file: reference"
            ))
        })?),
    };
    let edited = apply(
        &state,
        &Edit { actor: &op.name, reason: "", expected, action: "provider.put" },
        &format!("providers.{name}"),
        |c| redacted(c, &name),
        |cfg, _| {
            let keep = cfg.providers.get(&name).and_then(|p| p.api_key.clone());
            provider.api_key = sealed.clone().or(keep);
            cfg.providers.insert(name.clone(), provider.clone());
            Ok(())
        },
    )
    .await?;
    let p = edited.after.providers.get(&name).ok_or_else(|| ApiError::Internal("provider vanished".into()))?;
    Ok(tagged(edited.version, view(&name, p)))
}

/// `DELETE /api/v1/providers/{provider}` (422 while a member uses it).
#[utoipa::path(delete, path = "/api/v1/providers/{provider}", tag = "providers",
    responses((status = 200), (status = 404), (status = 412), (status = 422)))]
pub async fn remove(
    State(state): State<ControlState>,
    Writer(op): Writer,
    IfMatch(expected): IfMatch,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let edited = apply(
        &state,
        &Edit { actor: &op.name, reason: "", expected, action: "provider.delete" },
        &format!("providers.{name}"),
        |c| redacted(c, &name),
        |cfg, refusal| {
            if cfg.providers.remove(&name).is_none() {
                return refuse(refusal, ApiError::NotFound(format!("provider `{name}` does not exist")));
            }
            Ok(())
        },
    )
    .await?;
    Ok(tagged(edited.version, serde_json::json!({ "deleted": name, "version": edited.version })))
}
