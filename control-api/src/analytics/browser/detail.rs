//! One inference in the browser: `GET /api/v1/inferences/{id}` reads its record, bodies,
//! feedback (once per `feedback_id`) and attributions (rows collapsed over replays, then
//! grouped per (source, method, instance, output)).

use clickhouse::Client;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{InferenceItem, ITEM_COLUMNS};
use crate::analytics::{checked_database, table_exists, AnalyticsError};

/// One feedback event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, clickhouse::Row)]
pub struct FeedbackItem {
    /// Event id.
    pub feedback_id: String,
    /// Metric name.
    pub metric: String,
    /// Value.
    pub value: f64,
    /// Received at, Unix ms.
    pub timestamp_ms: i64,
}

/// The attributions of one (instance, output) of an inference (SPEC §9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Attribution {
    /// `inline` (in the backend's answer) or `explainer`.
    pub source: String,
    /// Row of the request's batch (0-based).
    pub instance: u32,
    /// Output (class, target) explained (0-based).
    pub output: u32,
    /// The output's name where the source gave one ("" otherwise).
    pub output_name: String,
    /// `shap`, `lime`, `saliency`, `integrated_gradients`, `anchor` or `other`.
    pub method: String,
    /// The explainer's base (expected) value.
    pub base_value: Option<f64>,
    /// The model output explained, when reported.
    pub output_value: Option<f64>,
    /// Explainer call latency, µs (null for inline attributions).
    pub explainer_latency_us: Option<u64>,
    /// Feature names (anchors: rules), aligned with `values`.
    pub names: Vec<String>,
    /// Attribution values (anchors: the precision).
    pub values: Vec<f64>,
}

/// One stored explanation row, collapsed over replays.
#[derive(Debug, clickhouse::Row, Deserialize)]
struct ExplanationCell {
    source: String,
    method: String,
    instance: u32,
    output: u32,
    /// Read for its position in the row (RowBinary is positional); the order is the query's.
    _ordinal: u32,
    feature: String,
    value: f64,
    base_value: Option<f64>,
    output_value: Option<f64>,
    output_name: String,
    explainer_latency_us: Option<u64>,
}

/// `GET /api/v1/inferences/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InferenceDetail {
    /// The record.
    pub record: InferenceItem,
    /// Request body, when the group logs bodies.
    pub request_body: Option<String>,
    /// Response body, when the group logs bodies.
    pub response_body: Option<String>,
    /// Feedback events, oldest first.
    pub feedback: Vec<FeedbackItem>,
    /// Attributions, one entry per (source, method, instance, output).
    pub attributions: Vec<Attribution>,
}

#[derive(Debug, clickhouse::Row, Deserialize)]
struct Bodies {
    request_body: Option<String>,
    response_body: Option<String>,
}

/// The inference `request_id` with its feedback and attributions, or `None` if unknown —
/// or, with `tenant`, when its record is not that tenant's.
pub async fn get_inference(
    client: &Client,
    database: &str,
    request_id: &str,
    tenant: Option<&str>,
) -> Result<Option<InferenceDetail>, AnalyticsError> {
    let db = checked_database(database)?;
    if !table_exists(client, db, "inferences").await? {
        return Ok(None);
    }
    let scope = if tenant.is_some() { " AND tenant = ?" } else { "" };
    let mut query = client
        .query(&format!("SELECT {ITEM_COLUMNS} FROM `{db}`.inferences WHERE request_id = ?{scope} GROUP BY request_id"))
        .bind(request_id);
    if let Some(t) = tenant {
        query = query.bind(t);
    }
    let record: Option<InferenceItem> =
        query.fetch_optional().await.map_err(|e| AnalyticsError::clickhouse("get inference", e))?;
    let Some(record) = record else { return Ok(None) };
    let bodies: Bodies = client
        .query(&format!("SELECT any(request_body), any(response_body) FROM `{db}`.inferences WHERE request_id = ?"))
        .bind(request_id)
        .fetch_one()
        .await
        .map_err(|e| AnalyticsError::clickhouse("get inference bodies", e))?;
    let feedback: Vec<FeedbackItem> = client
        .query(&format!(
            "SELECT feedback_id, any(metric), any(value), any(timestamp_ms) AS t FROM `{db}`.feedback \
             WHERE request_id = ? GROUP BY feedback_id ORDER BY t, feedback_id"
        ))
        .bind(request_id)
        .fetch_all()
        .await
        .map_err(|e| AnalyticsError::clickhouse("get inference feedback", e))?;
    let cells: Vec<ExplanationCell> = client
        .query(&attributions_sql(db))
        .bind(request_id)
        .fetch_all()
        .await
        .map_err(|e| AnalyticsError::clickhouse("get inference attributions", e))?;
    let attributions = group_cells(cells);
    Ok(Some(InferenceDetail {
        record,
        request_body: bodies.request_body,
        response_body: bodies.response_body,
        feedback,
        attributions,
    }))
}

/// The explanation rows of one request (bound: request id), collapsed over replays.
pub fn attributions_sql(db: &str) -> String {
    format!(
        "SELECT source, method, instance, output, ordinal, any(feature), any(value), any(base_value), \
         any(output_value), any(output_name), any(explainer_latency_us) FROM `{db}`.explanations \
         WHERE request_id = ? GROUP BY source, method, instance, output, ordinal \
         ORDER BY source, method, instance, output, ordinal"
    )
}

/// Rows ordered by (source, method, instance, output, ordinal) into one set each.
fn group_cells(cells: Vec<ExplanationCell>) -> Vec<Attribution> {
    let mut out: Vec<Attribution> = Vec::new();
    for c in cells {
        let same = out.last().is_some_and(|a| {
            a.source == c.source && a.method == c.method && a.instance == c.instance && a.output == c.output
        });
        if !same {
            out.push(Attribution {
                source: c.source,
                instance: c.instance,
                output: c.output,
                output_name: c.output_name,
                method: c.method,
                base_value: c.base_value,
                output_value: c.output_value,
                explainer_latency_us: c.explainer_latency_us,
                names: Vec::new(),
                values: Vec::new(),
            });
        }
        if let Some(a) = out.last_mut() {
            a.names.push(c.feature);
            a.values.push(c.value);
        }
    }
    out
}
