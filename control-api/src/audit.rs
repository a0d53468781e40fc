//! The audit trail: who changed what, when, with the config before and after.
//!
//! Every change is one [`AuditEntry`] in the state store — a config edit's entry is
//! stored in the same transaction as the version it produced (see `crate::edit`), so a
//! change is audited or did not happen — then logged and, when ClickHouse is configured,
//! mirrored into `control_audit` off the request path (a failed insert is logged; the
//! store stays the source of truth).

use serde::{Deserialize, Serialize};

/// One audited change.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Unique id.
    pub audit_id: String,
    /// When, Unix ms.
    pub timestamp_ms: i64,
    /// The admin token's name, or `auto-promotion`.
    pub actor: String,
    /// What was done, e.g. `group.weights`, `group.promote`, `config.rollback`.
    pub action: String,
    /// What it was done to, e.g. `groups.support-bot`.
    pub target: String,
    /// The tenant the change concerns, when it concerns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The config version it produced.
    pub config_version: u64,
    /// The target before (JSON; secrets as references or `enc:` only).
    #[schema(value_type = Object)]
    pub before: serde_json::Value,
    /// The target after.
    #[schema(value_type = Object)]
    pub after: serde_json::Value,
    /// Why (auto-promotion states its evidence here).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// The audit trail: stored in the state store, logged, mirrored into ClickHouse.
#[derive(Clone)]
pub struct AuditLog {
    store: switchyard_state::Audit,
    clickhouse: Option<(clickhouse::Client, String)>,
}

#[derive(clickhouse::Row, Serialize)]
struct AuditRow {
    audit_id: String,
    ts: u32,
    timestamp_ms: i64,
    actor: String,
    action: String,
    target: String,
    before_json: String,
    after_json: String,
    config_version: u64,
    reason: String,
}

// === impl AuditEntry ===

impl AuditEntry {
    /// The entry as the state store keeps it (same JSON shape).
    pub fn to_stored(&self) -> Result<switchyard_state::AuditEntry, serde_json::Error> {
        serde_json::from_value(serde_json::to_value(self)?)
    }

    fn from_stored(e: switchyard_state::AuditEntry) -> Self {
        Self {
            audit_id: e.audit_id,
            timestamp_ms: e.timestamp_ms,
            actor: e.actor,
            action: e.action,
            target: e.target,
            tenant: e.tenant,
            config_version: e.config_version,
            before: e.before,
            after: e.after,
            reason: e.reason,
        }
    }
}

// === impl AuditLog ===

impl AuditLog {
    /// The trail in `store`, mirrored into ClickHouse when configured.
    pub fn new(store: switchyard_state::Audit, clickhouse: Option<(clickhouse::Client, String)>) -> Self {
        Self { store, clickhouse }
    }

    /// Stores `entry` (a change that did not go through a config edit, whose entries the
    /// edit stores itself), then [`AuditLog::published`].
    pub async fn record(&self, entry: AuditEntry) -> Result<(), switchyard_state::StateError> {
        let stored = entry.to_stored().map_err(|e| switchyard_state::StateError::invalid("audit", e.to_string()))?;
        self.store.append(&stored).await?;
        self.published(&entry);
        Ok(())
    }

    /// An entry the store holds now: log it and mirror it into ClickHouse off the
    /// request path (a failed insert is logged; the store stays the source of truth).
    pub fn published(&self, entry: &AuditEntry) {
        tracing::info!(
            actor = %entry.actor,
            action = %entry.action,
            target = %entry.target,
            config_version = entry.config_version,
            reason = %entry.reason,
            "control change"
        );
        let Some((client, _db)) = &self.clickhouse else { return };
        let client = client.clone();
        let row = AuditRow {
            audit_id: entry.audit_id.clone(),
            ts: u32::try_from(entry.timestamp_ms / 1000).unwrap_or(0),
            timestamp_ms: entry.timestamp_ms,
            actor: entry.actor.clone(),
            action: entry.action.clone(),
            target: entry.target.clone(),
            before_json: entry.before.to_string(),
            after_json: entry.after.to_string(),
            config_version: entry.config_version,
            reason: entry.reason.clone(),
        };
        tokio::spawn(async move {
            let result = async {
                let mut insert = client.insert::<AuditRow>("control_audit").await?;
                insert.write(&row).await?;
                insert.end().await
            }
            .await;
            if let Err(error) = result {
                tracing::warn!(%error, "audit entry not mirrored to ClickHouse (kept in the state store)");
            }
        });
    }

    /// Entries matching `filter`, newest first, with a cursor for the next page.
    pub async fn list(
        &self,
        filter: &switchyard_state::AuditFilter,
    ) -> Result<(Vec<AuditEntry>, Option<String>), switchyard_state::StateError> {
        let page = self.store.list(filter).await?;
        Ok((page.entries.into_iter().map(AuditEntry::from_stored).collect(), page.next_cursor))
    }
}
