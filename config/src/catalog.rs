//! The model catalog as the routing table sees it (SPEC §8): a read-only snapshot of the
//! catalog's entries, which member is which entry, and the config validator's catalog
//! check.
//!
//! - A member's entry is the one its `catalog:` key names, else `<provider>/<model>`
//!   (model: the member's `model`, else its name) when the catalog has that entry.
//! - [`CatalogView::problems`]: a `catalog:` key that names no entry; a member whose
//!   entry cannot serve the requests its group serves (the champion's `kind`), e.g.
//!   embeddings to a chat-only model; an OIP member whose inputs are not the champion's.
//!   Each problem has the member's path (`groups.search.members[1]`). What the catalog
//!   does not know is not a problem.
//! - The snapshot lives in the routing table: the data plane reads a member's price at
//!   decision time from the table it already holds, never from the store.

use std::collections::HashMap;
use std::sync::Arc;

use switchyard_catalog::capability::{check_io_schema, check_member};
use switchyard_catalog::CatalogEntry;

use crate::error::Problem;
use crate::schema::{Config, MemberConfig, Role};

/// A snapshot of the catalog's entries, by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CatalogView {
    entries: HashMap<String, Arc<CatalogEntry>>,
}

// === impl CatalogView ===

impl CatalogView {
    /// A view of `entries`.
    pub fn new(entries: impl IntoIterator<Item = CatalogEntry>) -> Self {
        Self { entries: entries.into_iter().map(|e| (e.id.clone(), Arc::new(e))).collect() }
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry `id`.
    pub fn get(&self, id: &str) -> Option<&Arc<CatalogEntry>> {
        self.entries.get(id)
    }

    /// The entry of `member` (see the module doc).
    pub fn entry_for(&self, member: &MemberConfig) -> Option<&Arc<CatalogEntry>> {
        match &member.catalog {
            Some(id) => self.get(id),
            None => {
                let model = member.model.as_deref().unwrap_or(&member.name);
                self.get(&format!("{}/{model}", member.provider))
            }
        }
    }

    /// Every catalog problem of `config` (see the module doc).
    pub fn problems(&self, config: &Config) -> Vec<Problem> {
        let mut out = Vec::new();
        for (group, gc) in &config.groups {
            let champion = gc.members.iter().find(|m| m.role == Role::Champion).and_then(|m| self.entry_for(m));
            for (i, member) in gc.members.iter().enumerate() {
                let at = format!("groups.{group}.members[{i}]");
                if let Some(id) = &member.catalog {
                    if self.get(id).is_none() {
                        out.push(Problem::new(
                            format!("{at}.catalog"),
                            format!("no catalog entry `{id}`: create or import it first (PUT /api/v1/models/{id})"),
                        ));
                        continue;
                    }
                }
                let Some(entry) = self.entry_for(member) else { continue };
                let serves = champion.and_then(|c| c.kind);
                for p in check_member(entry, serves) {
                    out.push(Problem::new(at.clone(), p.message));
                }
                if let Some(champion) = champion.filter(|c| !Arc::ptr_eq(c, entry)) {
                    for p in check_io_schema(champion, entry) {
                        out.push(Problem::new(format!("{at}.catalog"), format!("{}: {}", p.path, p.message)));
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use switchyard_catalog::Kind;

    use super::*;

    fn entry(id: &str, kind: Kind) -> CatalogEntry {
        let (p, n) = id.split_once('/').unwrap();
        let mut e = CatalogEntry::new(p, n);
        e.kind = Some(kind);
        e
    }

    fn config(yaml: &str) -> Config {
        serde_yaml_ng::from_str(yaml).unwrap()
    }

    #[test]
    fn members_find_their_entries_and_mismatches_are_problems_with_paths() {
        let view = CatalogView::new([
            entry("openai/text-embedding-3-small", Kind::Embedding),
            entry("openai/gpt-4o", Kind::Chat),
        ]);
        let cfg = config(
            "providers:\n  openai: { kind: openai, base_url: \"http://x/v1\" }\ngroups:\n  search:\n    members:\n\
             \x20     - { name: small, role: champion, provider: openai, model: text-embedding-3-small, weight: 90 }\n\
             \x20     - { name: big, role: challenger, provider: openai, catalog: openai/gpt-4o, weight: 10 }\n\
             \x20     - { name: ghost, role: challenger, provider: openai, catalog: openai/nope, weight: 0 }\n\
             \x20     - { name: unknown, role: challenger, provider: openai, weight: 0 }\n",
        );
        let members = &cfg.groups["search"].members;
        assert_eq!(view.entry_for(&members[0]).map(|e| e.id.as_str()), Some("openai/text-embedding-3-small"));
        assert_eq!(view.entry_for(&members[1]).map(|e| e.id.as_str()), Some("openai/gpt-4o"));
        assert!(view.entry_for(&members[3]).is_none());
        let problems: Vec<String> = view.problems(&cfg).iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(problems[0].starts_with("groups.search.members[1]: embeddings to a chat-only model"), "{problems:#?}");
        assert!(
            problems[1].starts_with("groups.search.members[2].catalog: no catalog entry `openai/nope`"),
            "{problems:#?}"
        );
        // An empty catalog knows no entry: only the named ones are problems.
        assert_eq!(CatalogView::default().problems(&cfg).len(), 2);
    }
}
