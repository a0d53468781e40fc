//! One table's rows of a batch into ClickHouse: retried until accepted, provisioned when
//! the table is missing, dead-lettered when malformed, and — for a group table that keeps
//! failing while ClickHouse answers — isolated so the other groups keep shipping (the
//! invariants are in the [`super`] module's doc).

use std::time::{Duration, Instant};

use clickhouse::{Client, RowOwned, RowWrite};

use super::{Shipper, Stopped, END_TIMEOUT, SEND_TIMEOUT};
use crate::entry::Entry;
use crate::error::{classify, Failure};
use crate::metrics::Outcome;
use crate::schema::{self, ensure_group_table_on, Cluster};

// === impl Shipper ===

impl Shipper {
    /// Inserts `rows` into `table` until it succeeds or is dead-lettered; returns the rows
    /// ClickHouse accepted.
    pub(super) async fn insert<R: RowOwned + RowWrite>(
        &mut self,
        table: &str,
        group: Option<&str>,
        rows: &[R],
        sources: &[&Entry],
    ) -> Result<u64, Stopped> {
        if rows.is_empty() {
            return Ok(0);
        }
        let mut attempt = 0;
        let failing_since = Instant::now();
        loop {
            if let Some(g) = group.filter(|_| !self.ready.contains(table)) {
                match ensure_group_table_on(&self.client, Cluster::of(&self.opts), g).await {
                    Ok(t) => {
                        self.ready.insert(t);
                    }
                    Err(error) => {
                        tracing::warn!(table, %error, attempt, "cannot create group table; retrying");
                        if self.should_isolate(table, group, failing_since.elapsed()).await {
                            return self.isolate(table, &error.to_string(), rows.len(), sources).await;
                        }
                        self.backoff(attempt).await?;
                        attempt += 1;
                        continue;
                    }
                }
            }
            let error = match insert_rows(&self.client, table, rows).await {
                Ok(()) => {
                    if self.isolated.remove(table) {
                        tracing::info!(table, "group table takes rows again; isolation ended");
                    }
                    return Ok(rows.len() as u64);
                }
                Err(error) => error,
            };
            if classify(&error) != Failure::Malformed
                && self.should_isolate(table, group, failing_since.elapsed()).await
            {
                return self.isolate(table, &error.to_string(), rows.len(), sources).await;
            }
            match classify(&error) {
                Failure::Retry => {
                    tracing::warn!(table, rows = rows.len(), %error, attempt, "clickhouse insert failed; retrying");
                }
                Failure::MissingTable => {
                    tracing::warn!(table, %error, "clickhouse table missing; provisioning");
                    self.ready.remove(table);
                    if group.is_none() {
                        if let Err(error) = schema::migrate(&self.opts).await {
                            tracing::warn!(%error, "migration failed");
                        }
                    }
                }
                Failure::Malformed => {
                    let message = error.to_string();
                    match self.dead_letter.write_entries(table, &message, sources.iter().copied()) {
                        Ok(()) => {
                            tracing::error!(
                                table,
                                rows = rows.len(),
                                error = %message,
                                path = %self.dead_letter.path().display(),
                                "clickhouse rejected a batch as malformed; dead-lettered"
                            );
                            self.metrics.count(Outcome::DeadLetter, rows.len() as u64);
                            return Ok(0);
                        }
                        Err(io) => {
                            tracing::error!(error = %io, "cannot write the dead-letter file; retrying");
                        }
                    }
                }
            }
            self.backoff(attempt).await?;
            attempt += 1;
        }
    }

    /// Whether `table` (a group's) should be isolated after `attempt` failed: already
    /// isolated, or failing for `isolate_after_ms` while ClickHouse answers a probe.
    async fn should_isolate(&self, table: &str, group: Option<&str>, failing_for: Duration) -> bool {
        if group.is_none() {
            return false;
        }
        if self.isolated.contains(table) {
            return true;
        }
        failing_for >= Duration::from_millis(self.retry.isolate_after_ms)
            && self.client.query("SELECT 1").execute().await.is_ok()
    }

    /// Dead-letters a group's rows of this batch and marks the group isolated.
    async fn isolate(&mut self, table: &str, error: &str, rows: usize, sources: &[&Entry]) -> Result<u64, Stopped> {
        let message = format!("group table `{table}` takes no rows while ClickHouse answers: {error}");
        let mut attempt = 0;
        while let Err(io) = self.dead_letter.write_entries(table, &message, sources.iter().copied()) {
            tracing::error!(error = %io, "cannot write the dead-letter file; retrying");
            self.backoff(attempt).await?;
            attempt += 1;
        }
        if self.isolated.insert(table.to_owned()) {
            tracing::error!(
                table, rows, error = %message, path = %self.dead_letter.path().display(),
                "group table failing while ClickHouse answers; isolated: its rows go to the dead-letter file \
                 so other groups keep shipping"
            );
        }
        self.metrics.count(Outcome::DeadLetter, rows as u64);
        Ok(0)
    }
}

async fn insert_rows<R: RowOwned + RowWrite>(
    client: &Client,
    table: &str,
    rows: &[R],
) -> clickhouse::error::Result<()> {
    let mut insert = client.insert::<R>(table).await?.with_timeouts(Some(SEND_TIMEOUT), Some(END_TIMEOUT));
    for row in rows {
        insert.write(row).await?;
    }
    insert.end().await
}
