//! `/api/v1/providers…`: provider CRUD with write-only secrets.
//!
//! A key sent in a `PUT` body as a literal is sealed with the master key
//! (`SWITCHYARD_MASTER_KEY`) before it reaches the config file. An `env:`/`file:`
//! reference is accepted only when the file's `admin.secret_allow_list` names it exactly
//! (an API caller must not read any variable or file the process can: the master key, the
//! ClickHouse password). A `PUT` without `api_key` keeps the stored key only while
//! `base_url` stays the same: a key never follows a URL to another host, so a new URL
//! needs the key again (422 at `providers.<p>.api_key`). Responses and audit entries show
//! only whether a key is set and where it comes from; admins also see its last four
//! characters.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use switchyard_config::schema::{AdminRole, ProviderConfig};
use switchyard_config::secret::SecretSource;
use switchyard_config::{Config, ConfigError, SecretRef};

use super::tagged;
use crate::auth::{Operator, Writer};
use crate::credentials::normalized;
use crate::edit::{apply, refuse, Edit};
use crate::error::ApiError;
use crate::extract::{Body, IfMatch};
use crate::{redact, ControlState};

/// What the API says about a secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SecretView {
    /// `env`, `file` or `encrypted`.
    pub source: &'static str,
    /// Last four characters of the value, when it can be read (admins only).
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
    /// Every other key of the entry as in the YAML file (`latency_ms`, `api_version`,
    /// `max_in_flight`, …; none is a secret), so an editor can send the entry back whole.
    #[schema(value_type = Object)]
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// `PUT /providers/{p}` body: like the YAML entry, with `api_key` as a literal (sealed on
/// write) or an allow-listed `env:`/`file:` reference; omit `api_key` to keep the current
/// one (only while `base_url` is unchanged).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ProviderBody {
    /// Everything but the key, as in the YAML file.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

fn view(name: &str, p: &ProviderConfig, role: AdminRole) -> ProviderView {
    let admin = role == AdminRole::Admin;
    ProviderView {
        name: name.to_owned(),
        kind: p.kind.as_str().to_owned(),
        base_url: p.base_url.clone(),
        headers: if admin { p.headers.clone() } else { redacted_headers(&p.headers) },
        api_key: p
            .api_key
            .as_ref()
            .map(|k| SecretView { last4: if admin { last4(k) } else { None }, ..secret_view(k) }),
        settings: settings(p),
    }
}

/// The entry's keys besides those the view names (kind, URL, headers, key).
fn settings(p: &ProviderConfig) -> serde_json::Map<String, serde_json::Value> {
    let mut all = match serde_json::to_value(p) {
        Ok(serde_json::Value::Object(all)) => all,
        _ => serde_json::Map::new(),
    };
    for named in ["kind", "base_url", "headers", "api_key"] {
        all.remove(named);
    }
    all
}

/// Header values a viewer may see (credential-looking ones redacted).
fn redacted_headers(headers: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut doc = serde_json::json!({ "headers": headers });
    redact::json(&mut doc);
    serde_json::from_value(doc["headers"].take()).unwrap_or_default()
}

fn secret_view(s: &SecretRef) -> SecretView {
    let source = match s.source() {
        Ok(SecretSource::Env(_)) => "env",
        Ok(SecretSource::File(_)) => "file",
        Ok(SecretSource::Encrypted(_)) => "encrypted",
        Err(_) => "invalid",
    };
    SecretView { source, last4: None }
}

/// The last four characters of the key's value, when it can be read.
fn last4(s: &SecretRef) -> Option<String> {
    s.resolve().ok().map(|v| {
        let chars: Vec<char> = v.expose().chars().collect();
        chars[chars.len().saturating_sub(4)..].iter().collect()
    })
}

/// The audit view of a provider: no key, no last four characters.
fn redacted(cfg: &Config, name: &str) -> serde_json::Value {
    cfg.providers
        .get(name)
        .map_or(serde_json::Value::Null, |p| serde_json::to_value(view(name, p, AdminRole::Viewer)).unwrap_or_default())
}

/// `GET /api/v1/providers`
#[utoipa::path(get, path = "/api/v1/providers", tag = "providers", responses((status = 200, body = [ProviderView])))]
pub async fn list(State(state): State<ControlState>, op: Operator) -> Response {
    let (cfg, version) = state.editor.snapshot();
    tagged(version, cfg.providers.iter().map(|(n, p)| view(n, p, reader(&op))).collect::<Vec<_>>())
}

/// `GET /api/v1/providers/{provider}`
#[utoipa::path(get, path = "/api/v1/providers/{provider}", tag = "providers",
    responses((status = 200, body = ProviderView), (status = 404)))]
pub async fn get_one(
    State(state): State<ControlState>,
    op: Operator,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let (cfg, version) = state.editor.snapshot();
    let p = cfg.providers.get(&name).ok_or_else(|| ApiError::NotFound(format!("provider `{name}` does not exist")))?;
    Ok(tagged(version, view(&name, p, reader(&op))))
}

/// The role a provider is shown to `op` with: a tenant-scoped token sees providers as a
/// viewer does (providers are global: no last four characters, credential headers
/// redacted), whatever its role.
fn reader(op: &Operator) -> AdminRole {
    if op.tenant.is_some() {
        AdminRole::Viewer
    } else {
        op.role
    }
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
    let key_path = format!("providers.{name}.api_key");
    let sealed = match key {
        None => None,
        Some(k) if k.starts_with("env:") || k.starts_with("file:") => {
            let (cfg, _) = state.editor.snapshot();
            if !cfg.admin.secret_allow_list.contains(&k) {
                return Err(invalid(
                    &key_path,
                    format!(
                        "`{k}` is not in admin.secret_allow_list (set in the config file); send the key itself \
                         (it is sealed) or ask the operator to allow the reference"
                    ),
                ));
            }
            Some(SecretRef(k))
        }
        Some(k) => Some(SecretRef::seal(&k).map_err(|e| {
            ApiError::Conflict(format!(
                "cannot store a key: {e}; set SWITCHYARD_MASTER_KEY or use an allow-listed env:/file: reference"
            ))
        })?),
    };
    let edited = apply(
        &state,
        &Edit { actor: &op.name, reason: "", expected, action: "provider.put" },
        &format!("providers.{name}"),
        |c| redacted(c, &name),
        |cfg, refusal| {
            let stored = cfg.providers.get(&name);
            let keep = match (&sealed, stored) {
                (Some(_), _) | (None, None) => None,
                (None, Some(old))
                    if old.api_key.is_some() && normalized(&old.base_url) != normalized(&provider.base_url) =>
                {
                    return refuse(
                        refusal,
                        invalid(
                            &key_path,
                            "base_url changes: send the key again (a stored key never follows a URL to another host)",
                        ),
                    );
                }
                (None, Some(old)) => old.api_key.clone(),
            };
            provider.api_key = sealed.clone().or(keep);
            cfg.providers.insert(name.clone(), provider.clone());
            Ok(())
        },
    )
    .await?;
    let p = edited.after.providers.get(&name).ok_or_else(|| ApiError::Internal("provider vanished".into()))?;
    Ok(tagged(edited.version, view(&name, p, op.role)))
}

/// A 422 with one problem at `path`.
fn invalid(path: &str, message: impl Into<String>) -> ApiError {
    ApiError::Invalid(ConfigError::one(path, message))
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
