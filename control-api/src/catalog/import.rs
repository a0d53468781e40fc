//! Imports into the catalog (SPEC §8): what a provider says it serves (discovery) or a
//! LiteLLM catalog file, merged over the catalog and stored.
//!
//! - [`discover`] asks the provider through the data plane (its URL and credentials stay
//!   there) and maps the answer with the provider kind's mapper from
//!   `switchyard_catalog::discover`, following pages. OIP servers are asked one model at a
//!   time: the models named, else those the config's members use with the provider.
//! - [`import`] merges each stated entry over the stored one
//!   (`switchyard_catalog::write::merge`: stated fields win, with their provenance; an
//!   operator's price survives a discovery that states none) and stores every entry that
//!   changed in one transaction, each with its own compare-and-set and audit entry
//!   (`model.import`). An entry that would not change is not written: importing the same
//!   data twice stores nothing the second time.
//! - `on_error: skip` reports a failing item and goes on; `fail_fast` stops at the first
//!   failing item — the items before it are stored, the rest are reported `skipped`.
//!   `dry_run` plans the same and stores nothing.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use switchyard_catalog::discover::{self, Discovery};
use switchyard_catalog::{CatalogEntry, Problem};
use switchyard_config::ProviderKind;
use switchyard_core::dataplane::Discover;
use switchyard_state::{CatalogWrite, Expect};

use super::{decode, json, target, Stored};
use crate::error::ApiError;
use crate::{AuditEntry, ControlState};

/// Most pages of one provider's model list followed.
const MAX_PAGES: usize = 100;

/// What to do when an item fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Report it and go on.
    #[default]
    Skip,
    /// Stop: the items before it are stored, the rest reported `skipped`.
    FailFast,
}

/// What became of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// A new entry (would be, with `dry_run`).
    Created,
    /// The entry changed (would, with `dry_run`).
    Updated,
    /// The entry already says all this; nothing stored.
    Unchanged,
    /// Not stored; see `problems`.
    Failed,
    /// Not attempted (`fail_fast` stopped before it).
    Skipped,
}

/// One item's result.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Item {
    /// The entry id.
    pub id: String,
    /// What became of it.
    pub status: Status,
    /// The entry's version after the import (null when nothing is stored for it).
    pub version: Option<u64>,
    /// The field paths the import changes.
    pub changes: Vec<String>,
    /// Why it failed.
    #[schema(value_type = Vec<Object>)]
    pub problems: Vec<Problem>,
}

/// Counts of an import's items by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Counts {
    /// New entries.
    pub created: usize,
    /// Changed entries.
    pub updated: usize,
    /// Entries that already said all this.
    pub unchanged: usize,
    /// Items not stored because of a problem.
    pub failed: usize,
    /// Items not attempted.
    pub skipped: usize,
}

/// How an import runs.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// The operator.
    pub actor: &'a str,
    /// The audit reason (`import from provider openai`).
    pub reason: &'a str,
    /// Skip or stop on a failing item.
    pub on_error: OnError,
    /// Plan only; store nothing.
    pub dry_run: bool,
}

/// An item to import: an entry, or a failure found before (a named model the provider
/// does not offer).
#[derive(Debug, Clone)]
pub enum Incoming {
    /// Stated facts of an entry (valid).
    Entry(Box<CatalogEntry>),
    /// An item that failed already.
    Failed(String, Vec<Problem>),
}

/// One planned write: the item it reports to, the entry, what the store must hold now,
/// and its audit entry.
struct Write {
    index: usize,
    entry: CatalogEntry,
    expect: Expect,
    audit: AuditEntry,
}

/// Imports `items` in order (see the module doc): plan every item against what is
/// stored, then store the planned writes in one batch (unless `dry_run`).
pub async fn import(state: &ControlState, items: Vec<Incoming>, options: Options<'_>) -> Result<Vec<Item>, ApiError> {
    let stored = load_stored(state).await?;
    let (mut out, writes) = plan(&stored, items, &options);
    if options.dry_run || writes.is_empty() {
        return Ok(out);
    }
    store(state, &writes, &mut out).await?;
    Ok(out)
}

/// Every stored entry by id.
async fn load_stored(state: &ControlState) -> Result<HashMap<String, Stored>, ApiError> {
    state
        .plane
        .store()
        .catalog()
        .all()
        .await?
        .into_iter()
        .map(|row| decode(row).map(|s| (s.entry.id.clone(), s)))
        .collect::<Result<_, _>>()
}

/// Each item's result as if stored, and the writes that would store it.
fn plan(stored: &HashMap<String, Stored>, items: Vec<Incoming>, options: &Options<'_>) -> (Vec<Item>, Vec<Write>) {
    let now = crate::routes::models::now();
    let mut out = Vec::with_capacity(items.len());
    let mut writes = Vec::new();
    let mut stopped = false;
    for item in items {
        let (id, stated) = match item {
            Incoming::Entry(e) => (e.id.clone(), Ok(*e)),
            Incoming::Failed(id, problems) => (id, Err(problems)),
        };
        if stopped {
            out.push(Item { id, status: Status::Skipped, version: None, changes: Vec::new(), problems: Vec::new() });
            continue;
        }
        let before = stored.get(&id);
        let merged = stated.and_then(|e| {
            let merged = switchyard_catalog::write::merge(before.map(|s| &s.entry), &e, now);
            merged.validate().map(|()| merged)
        });
        let merged = match merged {
            Ok(m) => m,
            Err(problems) => {
                out.push(Item { id, status: Status::Failed, version: None, changes: Vec::new(), problems });
                stopped = options.on_error == OnError::FailFast;
                continue;
            }
        };
        let changes: Vec<String> =
            switchyard_catalog::diff(before.map(|s| &s.entry), &merged).into_iter().map(|c| c.path).collect();
        if let Some(s) = before.filter(|s| s.entry == merged) {
            out.push(Item { id, status: Status::Unchanged, version: Some(s.version), changes, problems: Vec::new() });
            continue;
        }
        let (status, expect) = match before {
            None => (Status::Created, Expect::Absent),
            Some(s) => (Status::Updated, Expect::Version(s.version)),
        };
        let audit = import_audit(options, &id, before.map(|s| &s.entry), &merged);
        writes.push(Write { index: out.len(), entry: merged, expect, audit });
        out.push(Item { id, status, version: None, changes, problems: Vec::new() });
    }
    (out, writes)
}

/// The audit entry of importing `after` over `before`.
fn import_audit(options: &Options<'_>, id: &str, before: Option<&CatalogEntry>, after: &CatalogEntry) -> AuditEntry {
    AuditEntry {
        audit_id: switchyard_core::new_id(),
        timestamp_ms: switchyard_core::unix_ms(),
        actor: options.actor.to_owned(),
        action: "model.import".to_owned(),
        target: target(id),
        tenant: None,
        config_version: 0,
        before: json(before),
        after: json(Some(after)),
        reason: options.reason.to_owned(),
    }
}

/// Stores `writes` in one batch (each a compare-and-set with its audit entry) and marks
/// their items stored, or failed when the entry changed meanwhile.
async fn store(state: &ControlState, writes: &[Write], out: &mut [Item]) -> Result<(), ApiError> {
    let documents = writes
        .iter()
        .map(|w| serde_json::to_string(&w.entry))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::Internal(format!("entry to JSON: {e}")))?;
    let audits = writes
        .iter()
        .map(|w| w.audit.to_stored())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::Internal(format!("audit entry: {e}")))?;
    let batch: Vec<(CatalogWrite<'_>, Expect, switchyard_state::AuditEntry)> = writes
        .iter()
        .zip(&documents)
        .zip(audits)
        .map(|((w, doc), audit)| {
            let e = &w.entry;
            let write = CatalogWrite {
                id: &e.id,
                provider: &e.provider,
                name: &e.name,
                kind: e.kind.map(|k| k.as_str()),
                display_name: e.display_name.as_deref(),
                document: doc,
            };
            (write, w.expect, audit)
        })
        .collect();
    let results = state.plane.store().catalog().put_many(&batch).await?;
    super::published(state).await;
    for (w, result) in writes.iter().zip(results) {
        let item = &mut out[w.index];
        match result {
            Ok(version) => {
                item.version = Some(version);
                state.audit.published(&w.audit);
            }
            Err(current) => {
                item.status = Status::Failed;
                let now = current.map_or("it was deleted".to_owned(), |v| format!("it is at version {v} now"));
                item.problems
                    .push(Problem::new("", format!("the entry changed during the import ({now}); import again")));
            }
        }
    }
    Ok(())
}

/// Counts of `items` by status.
pub fn counts(items: &[Item]) -> Counts {
    let mut c = Counts::default();
    for item in items {
        match item.status {
            Status::Created => c.created += 1,
            Status::Updated => c.updated += 1,
            Status::Unchanged => c.unchanged += 1,
            Status::Failed => c.failed += 1,
            Status::Skipped => c.skipped += 1,
        }
    }
    c
}

/// What provider `name` says it serves (see the module doc); `models` names the models to
/// describe (OIP) — for the other kinds the whole list is returned.
pub async fn discover(state: &ControlState, name: &str, models: &[String]) -> Result<Discovery, ApiError> {
    let (cfg, _) = state.editor.snapshot();
    let provider =
        cfg.providers.get(name).ok_or_else(|| ApiError::NotFound(format!("provider `{name}` does not exist")))?;
    let kind = provider.kind;
    let mapper: fn(&str, &[u8]) -> Result<Discovery, Problem> = match kind {
        ProviderKind::Openai => discover::openai_models,
        ProviderKind::Anthropic => discover::anthropic_models,
        ProviderKind::Gemini => discover::gemini_models,
        ProviderKind::Huggingface => discover::tgi_info,
        ProviderKind::Oip => return discover_oip(state, name, oip_models(&cfg, name, models)).await,
        ProviderKind::Http | ProviderKind::Mock => {
            return Err(ApiError::BadRequest(format!(
                "provider `{name}` is of kind {}, which has no endpoint that lists its models",
                kind.as_str()
            )))
        }
    };
    let mut out = Discovery::default();
    let mut page = None;
    for _ in 0..MAX_PAGES {
        let body = ask(state, name, None, page.take())
            .await?
            .ok_or_else(|| ApiError::BadGateway(format!("provider `{name}` answered 404 to its model list")))?;
        let found = mapper(name, &body).map_err(|p| {
            ApiError::BadGateway(format!("provider `{name}`'s model list is not what its kind sends: {p}"))
        })?;
        out.entries.extend(found.entries);
        out.problems.extend(found.problems);
        match found.next_page {
            Some(next) => page = Some((next.param.to_owned(), next.value)),
            None => return Ok(out),
        }
    }
    out.problems.push(Problem::new("", format!("stopped after {MAX_PAGES} pages of models")));
    Ok(out)
}

/// The OIP models to describe: those named, else those members use with `provider`.
fn oip_models(cfg: &switchyard_config::Config, provider: &str, named: &[String]) -> Vec<String> {
    if !named.is_empty() {
        return named.to_vec();
    }
    let mut models: Vec<String> = cfg
        .groups
        .values()
        .flat_map(|g| g.members.iter())
        .filter(|m| m.provider == provider)
        .map(|m| m.model.clone().unwrap_or_else(|| m.name.clone()))
        .collect();
    models.sort();
    models.dedup();
    models
}

async fn discover_oip(state: &ControlState, name: &str, models: Vec<String>) -> Result<Discovery, ApiError> {
    if models.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "provider `{name}` speaks OIP, which describes one model at a time: name them in `models`"
        )));
    }
    let mut out = Discovery::default();
    for (i, named) in models.iter().enumerate() {
        let Some((model, body)) = ask_oip(state, name, named).await? else {
            out.problems
                .push(Problem::new(format!("models[{i}]"), format!("the server does not serve `{named}` (404)")));
            continue;
        };
        match discover::oip_model(name, &model, &body) {
            Ok(found) => {
                out.entries.extend(found.entries);
                out.problems.extend(found.problems.into_iter().map(|p| p.under(&format!("models[{i}]"))));
            }
            Err(p) => out.problems.push(p.under(&format!("models[{i}]"))),
        }
    }
    Ok(out)
}

/// The metadata of one named OIP model: `named` may be the model's name at the server or its
/// entry id (`provider/name`); an id is asked for by its name first, then verbatim (a server
/// may serve a model whose own name starts with the provider's).
async fn ask_oip(
    state: &ControlState,
    provider: &str,
    named: &str,
) -> Result<Option<(String, axum::body::Bytes)>, ApiError> {
    let bare = named.strip_prefix(provider).and_then(|rest| rest.strip_prefix('/')).filter(|n| !n.is_empty());
    for model in bare.into_iter().chain([named]) {
        if let Some(body) = ask(state, provider, Some(model), None).await? {
            return Ok(Some((model.to_owned(), body)));
        }
    }
    Ok(None)
}

/// One discovery GET: the body of a 2xx answer, `None` for a 404, else an error.
async fn ask(
    state: &ControlState,
    provider: &str,
    model: Option<&str>,
    page: Option<(String, String)>,
) -> Result<Option<axum::body::Bytes>, ApiError> {
    let request = Discover { provider: provider.to_owned(), model: model.map(str::to_owned), page };
    let answer = state.dataplane.discover(request).await.map_err(|e| match e.blame {
        switchyard_core::Blame::Client => ApiError::BadRequest(e.message),
        _ => ApiError::BadGateway(e.message),
    })?;
    match answer.status {
        200..=299 => Ok(Some(answer.body)),
        404 => Ok(None),
        status => Err(ApiError::BadGateway(format!("provider `{provider}` answered {status} to discovery"))),
    }
}
