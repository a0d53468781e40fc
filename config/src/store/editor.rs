//! The [`ConfigEditor`] face of the store: what the control API may do with it.

use std::sync::Arc;

use crate::log::{BoxFuture, VersionInfo};
use crate::schema::Config;
use crate::split::compose;
use crate::validate::parse;

use super::{edit_error, Change, ConfigEditor, ConfigStore, Describe, EditError, Edited};

impl<P: Send + Sync + 'static> ConfigEditor for ConfigStore<P> {
    fn snapshot(&self) -> (Arc<Config>, u64) {
        let t = self.current.load();
        (t.config.clone(), t.version)
    }

    fn edit_with<'a>(
        &'a self,
        expected: u64,
        change: Change<'a>,
        describe: Describe<'a>,
    ) -> BoxFuture<'a, Result<Edited, EditError>> {
        Box::pin(self.edit(expected, change, describe))
    }

    fn rollback<'a>(
        &'a self,
        expected: u64,
        to: u64,
        describe: Describe<'a>,
    ) -> BoxFuture<'a, Result<Edited, EditError>> {
        Box::pin(async move {
            let stored = self.log.get(to).await.map_err(edit_error)?.ok_or(EditError::UnknownVersion(to))?;
            let target = match &self.process {
                Some(process) => compose(process, &stored.text),
                None => parse(&stored.text),
            }
            .map_err(EditError::Invalid)?;
            self.edit(
                expected,
                move |cfg| {
                    *cfg = target;
                    Ok(())
                },
                describe,
            )
            .await
        })
    }

    fn set_catalog(&self, catalog: Arc<crate::catalog::CatalogView>) -> BoxFuture<'_, ()> {
        Box::pin(ConfigStore::set_catalog(self, catalog))
    }

    fn versions(&self, limit: u32) -> BoxFuture<'_, Result<Vec<VersionInfo>, EditError>> {
        Box::pin(async move { self.log.list(limit).await.map_err(edit_error) })
    }

    fn version_text(&self, version: u64) -> BoxFuture<'_, Result<Option<String>, EditError>> {
        Box::pin(async move { Ok(self.log.get(version).await.map_err(edit_error)?.map(|v| v.text)) })
    }
}
