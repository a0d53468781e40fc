//! The inference browser: `GET /api/v1/inferences` (filtered, newest first, cursor-paginated)
//! and `GET /api/v1/inferences/{id}` (record, feedback, attributions).
//!
//! Invariants:
//! - order is `(timestamp_ms DESC, request_id DESC)`, a total order; the opaque cursor encodes
//!   the last item's `(timestamp_ms, request_id)` and the next page starts strictly after it,
//!   so pages never repeat or skip an item, and records inserted while paging (newer ones)
//!   never shift later pages. A record replayed *late* with an older timestamp than the cursor
//!   appears only when browsing again from the start;
//! - every request id appears once (rows collapsed by `request_id`), feedback once per
//!   `feedback_id`, attributions once per (source, method, instance, output, ordinal);
//! - with a group the group's table is read, otherwise the `inferences` Merge table.
//!
//! The listing lives here; one inference with its feedback and attributions is in `detail`.

use base64::Engine as _;
use clickhouse::Client;
use serde::{Deserialize, Serialize};
use switchyard_records::rows::seconds;
use utoipa::ToSchema;

use super::{checked_database, table_exists, AnalyticsError, ERROR_SQL};

mod detail;

pub use detail::{attributions_sql, get_inference, Attribution, FeedbackItem, InferenceDetail};

/// Page size without `limit`.
pub const DEFAULT_PAGE_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_PAGE_LIMIT: u32 = 1000;

/// The columns of an [`InferenceItem`], in order, each collapsed over replayed rows.
const ITEM_COLUMNS: &str = "request_id, any(timestamp_ms) AS t, any(group_name), any(member), any(role), \
    any(provider), any(upstream_model), any(assignment), any(endpoint), any(stream), any(status), \
    any(error_class), any(total_us), any(upstream_us), any(overhead_us), any(ttft_us), any(input_tokens), \
    any(output_tokens), any(config_version), any(weight), any(client_request_id), any(trace_id)";

/// Status filter of the browser (`status=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// Exactly this HTTP status, e.g. `502`.
    Code(u16),
    /// A status class, e.g. `5xx` → `Class(5)`.
    Class(u16),
    /// Member errors by the experiment's definition (`error`).
    Error,
    /// Everything else (`ok`).
    Ok,
}

/// Filters of `GET /api/v1/inferences`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InferenceFilter {
    /// Only this group.
    pub group: Option<String>,
    /// Only this member.
    pub member: Option<String>,
    /// Only these statuses.
    pub status: Option<StatusFilter>,
    /// From this Unix ms (inclusive).
    pub since_ms: Option<i64>,
    /// Until this Unix ms (exclusive).
    pub until_ms: Option<i64>,
    /// Only requests whose client sent this `x-request-id`.
    pub client_request_id: Option<String>,
    /// Only requests of this W3C trace (32 lowercase hex characters).
    pub trace_id: Option<String>,
    /// Only requests of this tenant's clients (set from a tenant-scoped token, never
    /// from the query).
    pub tenant: Option<String>,
}

/// One inference in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, clickhouse::Row)]
pub struct InferenceItem {
    /// Request id.
    pub request_id: String,
    /// Accept time, Unix ms.
    pub timestamp_ms: i64,
    /// Group.
    pub group: String,
    /// Member that served it.
    pub member: String,
    /// Member role at the time.
    pub role: String,
    /// Provider name.
    pub provider: String,
    /// Upstream model.
    pub upstream_model: String,
    /// Why the member was chosen.
    pub assignment: String,
    /// Endpoint, e.g. `chat.completions`.
    pub endpoint: String,
    /// 1 if streamed.
    pub stream: u8,
    /// HTTP status sent to the client.
    pub status: u16,
    /// Error class ("" on success).
    pub error_class: String,
    /// Total latency, µs.
    pub total_us: u64,
    /// Upstream latency, µs.
    pub upstream_us: u64,
    /// Gateway overhead, µs.
    pub overhead_us: u64,
    /// Time to first token, µs.
    pub ttft_us: Option<u64>,
    /// Prompt tokens.
    pub input_tokens: Option<u32>,
    /// Completion tokens.
    pub output_tokens: Option<u32>,
    /// Config version that routed it.
    pub config_version: u64,
    /// The member's share at decision time.
    pub weight: f64,
    /// The client's `x-request-id` ("" when it sent none).
    pub client_request_id: String,
    /// The W3C trace id (32 lowercase hex; "" when the request had no trace).
    pub trace_id: String,
}

/// A page of the listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Page {
    /// Newest first.
    pub items: Vec<InferenceItem>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

// === impl StatusFilter ===

impl StatusFilter {
    /// Parses `502`, `5xx`, `error` or `ok`.
    pub fn parse(s: &str) -> Result<Self, AnalyticsError> {
        let bad = || AnalyticsError::InvalidInput {
            field: "status",
            message: "expected an HTTP status (502), a class (5xx), `error` or `ok`".into(),
        };
        match s {
            "error" => Ok(Self::Error),
            "ok" => Ok(Self::Ok),
            _ if s.len() == 3 && s.ends_with("xx") => match s.as_bytes()[0] {
                d @ b'1'..=b'5' => Ok(Self::Class(u16::from(d - b'0'))),
                _ => Err(bad()),
            },
            _ => s.parse::<u16>().ok().filter(|c| (100..600).contains(c)).map(Self::Code).ok_or_else(bad),
        }
    }

    fn sql(self) -> String {
        match self {
            Self::Code(c) => format!("status = {c}"),
            Self::Class(d) => format!("intDiv(status, 100) = {d}"),
            Self::Error => format!("{ERROR_SQL} = 1"),
            Self::Ok => format!("{ERROR_SQL} = 0"),
        }
    }
}

/// The `trace_id=` filter: 32 hex characters, compared in lower case (as recorded).
pub fn trace_id_filter(s: &str) -> Result<String, AnalyticsError> {
    if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(AnalyticsError::InvalidInput { field: "trace_id", message: "expected 32 hex characters".into() })
    }
}

/// Encodes a cursor after `(timestamp_ms, request_id)`. Public for the fuzz targets.
#[doc(hidden)]
pub fn encode_cursor(timestamp_ms: i64, request_id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{timestamp_ms}:{request_id}"))
}

/// Decodes a cursor of [`encode_cursor`]; anything else is a 400 naming `cursor`. Public for
/// the fuzz targets.
#[doc(hidden)]
pub fn decode_cursor(cursor: &str) -> Result<(i64, String), AnalyticsError> {
    let bad = || AnalyticsError::InvalidInput { field: "cursor", message: "not a cursor from this API".into() };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (ts, id) = text.split_once(':').ok_or_else(bad)?;
    Ok((ts.parse().map_err(|_| bad())?, id.to_owned()))
}

/// One page of inferences matching `filter`, newest first, after `cursor`; `limit` is clamped
/// to `1..=`[`MAX_PAGE_LIMIT`].
pub async fn list_inferences(
    client: &Client,
    database: &str,
    filter: &InferenceFilter,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page, AnalyticsError> {
    let db = checked_database(database)?;
    let table = match &filter.group {
        Some(g) => switchyard_records::group_table(g),
        None => "inferences".to_owned(),
    };
    // A bad cursor is refused whether or not the table exists yet.
    let after = cursor.map(decode_cursor).transpose()?;
    if !table_exists(client, db, &table).await? {
        return Ok(Page { items: Vec::new(), next_cursor: None });
    }
    let limit = limit.clamp(1, MAX_PAGE_LIMIT);
    let where_sql = where_clause(filter, after.is_some());
    let sql = format!(
        "SELECT {ITEM_COLUMNS} FROM `{db}`.`{table}` {where_sql} GROUP BY request_id \
         ORDER BY t DESC, request_id DESC LIMIT {fetch}",
        fetch = u64::from(limit) + 1
    );
    let q = bind_filter(client.query(&sql), filter, after.as_ref());
    let mut items: Vec<InferenceItem> =
        q.fetch_all().await.map_err(|e| AnalyticsError::clickhouse("list inferences", e))?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|i| encode_cursor(i.timestamp_ms, &i.request_id))
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// The `WHERE` clause of a listing; [`bind_filter`] binds its values in the same order.
/// Conditions are on raw columns: replays of a request carry identical values.
fn where_clause(filter: &InferenceFilter, after_cursor: bool) -> String {
    let mut conditions: Vec<String> = Vec::new();
    if filter.member.is_some() {
        conditions.push("member = ?".into());
    }
    if filter.client_request_id.is_some() {
        conditions.push("client_request_id = ?".into());
    }
    if filter.trace_id.is_some() {
        conditions.push("trace_id = ?".into());
    }
    if filter.tenant.is_some() {
        conditions.push("tenant = ?".into());
    }
    if let Some(status) = filter.status {
        conditions.push(status.sql());
    }
    if filter.since_ms.is_some() {
        conditions.push("ts >= toDateTime(?) AND timestamp_ms >= ?".into());
    }
    if filter.until_ms.is_some() {
        conditions.push("ts <= toDateTime(?) AND timestamp_ms < ?".into());
    }
    if after_cursor {
        conditions.push("ts <= toDateTime(?) AND (timestamp_ms < ? OR (timestamp_ms = ? AND request_id < ?))".into());
    }
    if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    }
}

/// Binds the values of [`where_clause`]'s conditions, in its order.
fn bind_filter(
    mut q: clickhouse::query::Query,
    filter: &InferenceFilter,
    after: Option<&(i64, String)>,
) -> clickhouse::query::Query {
    if let Some(m) = &filter.member {
        q = q.bind(m.as_str());
    }
    if let Some(c) = &filter.client_request_id {
        q = q.bind(c.as_str());
    }
    if let Some(t) = &filter.trace_id {
        q = q.bind(t.as_str());
    }
    if let Some(t) = &filter.tenant {
        q = q.bind(t.as_str());
    }
    if let Some(s) = filter.since_ms {
        q = q.bind(seconds(s)).bind(s);
    }
    if let Some(u) = filter.until_ms {
        q = q.bind(seconds(u)).bind(u);
    }
    if let Some((ts, id)) = after {
        q = q.bind(seconds(*ts)).bind(*ts).bind(*ts).bind(id.as_str());
    }
    q
}
