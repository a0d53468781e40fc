//! `/api/v1/clients…`: data-plane client keys — create (the key is shown once), list,
//! revoke. Only the key's sha256 is stored. Creating the first client turns key checks on
//! for the whole data plane (a config without `clients` needs no key).
//!
//! A tenant-scoped token lists, creates, edits and revokes only its tenant's clients (a
//! client's tenant is its `tenant`, else its name); another tenant's client answers the
//! same 404 as a missing one, and the clients it creates are its tenant's ([`claim`]).

use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use switchyard_config::schema::ClientConfig;
use switchyard_config::Config;

use super::tagged;
use crate::auth::{Operator, Writer};
use crate::edit::{apply, claim, refuse, Edit};
use crate::error::ApiError;
use crate::extract::{Body, IfMatch};
use crate::ControlState;

/// `POST /clients` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    /// Client name (recorded with each inference).
    pub name: String,
    /// Groups it may use (`["*"]` for all).
    pub groups: Vec<String>,
    /// Tenant (default: the name).
    #[serde(default)]
    pub tenant: Option<String>,
}

/// A client as listed (never its key or hash).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClientView {
    /// Name.
    pub name: String,
    /// Allowed groups.
    pub groups: Vec<String>,
    /// Tenant.
    pub tenant: String,
}

/// The answer to a create: the only time the key is shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClientCreated {
    /// The client.
    pub client: ClientView,
    /// The key; store it now, it cannot be shown again.
    pub key: String,
    /// Config version.
    pub version: u64,
}

fn view(c: &ClientConfig) -> ClientView {
    ClientView {
        name: c.name.clone(),
        groups: c.groups.clone(),
        tenant: c.tenant.clone().unwrap_or_else(|| c.name.clone()),
    }
}

fn client_json(cfg: &Config, name: &str) -> serde_json::Value {
    cfg.clients
        .as_ref()
        .and_then(|cs| cs.iter().find(|c| c.name == name))
        .map_or(serde_json::Value::Null, |c| serde_json::to_value(view(c)).unwrap_or_default())
}

/// `GET /api/v1/clients`
#[utoipa::path(get, path = "/api/v1/clients", tag = "clients", responses((status = 200, body = [ClientView])))]
pub async fn list(State(state): State<ControlState>, op: Operator) -> Response {
    let (cfg, version) = state.editor.snapshot();
    let clients: Vec<ClientView> =
        cfg.clients.iter().flatten().map(view).filter(|c| op.sees_tenant(&c.tenant)).collect();
    tagged(version, clients)
}

/// `POST /api/v1/clients`: creates a client and returns its key once.
#[utoipa::path(post, path = "/api/v1/clients", tag = "clients", request_body = NewClient,
    responses((status = 200, body = ClientCreated), (status = 409), (status = 412), (status = 422)))]
pub async fn create(
    State(state): State<ControlState>,
    Writer(op): Writer,
    IfMatch(expected): IfMatch,
    Body(mut new): Body<NewClient>,
) -> Result<Response, ApiError> {
    claim(op.tenant.as_deref(), "tenant", &mut new.tenant)?;
    let key = format!("sy-{:032x}", rand::random::<u128>());
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    let name = new.name.clone();
    let edited = apply(
        &state,
        &Edit { actor: &op.name, reason: "", expected, action: "client.create" },
        &format!("clients.{name}"),
        |c| client_json(c, &name),
        |cfg, refusal| {
            let clients = cfg.clients.get_or_insert_with(Vec::new);
            if clients.iter().any(|c| c.name == new.name) {
                return refuse(refusal, ApiError::Conflict(format!("client `{}` already exists", new.name)));
            }
            clients.push(ClientConfig {
                name: new.name.clone(),
                key_sha256: hash.clone(),
                groups: new.groups.clone(),
                tenant: new.tenant.clone(),
            });
            Ok(())
        },
    )
    .await?;
    let client = edited
        .after
        .clients
        .iter()
        .flatten()
        .find(|c| c.name == name)
        .map(view)
        .ok_or_else(|| ApiError::Internal("client vanished".into()))?;
    Ok(tagged(edited.version, ClientCreated { client, key, version: edited.version }))
}

/// `DELETE /api/v1/clients/{client}`: revokes the key at once.
#[utoipa::path(delete, path = "/api/v1/clients/{client}", tag = "clients",
    responses((status = 200), (status = 404), (status = 412)))]
pub async fn revoke(
    State(state): State<ControlState>,
    Writer(op): Writer,
    IfMatch(expected): IfMatch,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let edited = apply(
        &state,
        &Edit { actor: &op.name, reason: "", expected, action: "client.revoke" },
        &format!("clients.{name}"),
        |c| client_json(c, &name),
        |cfg, refusal| {
            let clients = cfg.clients.get_or_insert_with(Vec::new);
            let before = clients.len();
            clients.retain(|c| c.name != name || !op.sees_tenant(&view(c).tenant));
            if clients.len() == before {
                return refuse(refusal, missing_client(&name));
            }
            Ok(())
        },
    )
    .await?;
    Ok(tagged(edited.version, serde_json::json!({ "revoked": name, "version": edited.version })))
}

/// `PUT /clients/{client}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientEdit {
    /// The groups it may use from now on (`["*"]` for all of its tenant's).
    pub groups: Vec<String>,
}

/// `PUT /api/v1/clients/{client}`: changes the groups a client may use (its key, name and
/// tenant stay).
#[utoipa::path(put, path = "/api/v1/clients/{client}", tag = "clients", request_body = ClientEdit,
    responses((status = 200, body = ClientView), (status = 404), (status = 412), (status = 422)))]
pub async fn edit(
    State(state): State<ControlState>,
    Writer(op): Writer,
    IfMatch(expected): IfMatch,
    Path(name): Path<String>,
    Body(req): Body<ClientEdit>,
) -> Result<Response, ApiError> {
    let edited = apply(
        &state,
        &Edit { actor: &op.name, reason: "", expected, action: "client.edit" },
        &format!("clients.{name}"),
        |c| client_json(c, &name),
        |cfg, refusal| {
            let found = cfg.clients.iter_mut().flatten().find(|c| c.name == name && op.sees_tenant(&view(c).tenant));
            match found {
                Some(c) => c.groups.clone_from(&req.groups),
                None => return refuse(refusal, missing_client(&name)),
            }
            Ok(())
        },
    )
    .await?;
    let client = edited.after.clients.iter().flatten().find(|c| c.name == name).map(view);
    Ok(tagged(edited.version, client.ok_or_else(|| missing_client(&name))?))
}

fn missing_client(name: &str) -> ApiError {
    ApiError::NotFound(format!("client `{name}` does not exist"))
}
