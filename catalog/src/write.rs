//! Turning a write into the entry to store: an operator's PUT ([`prepare_put`]) and an
//! import from a provider or a file ([`merge`]).
//!
//! - A PUT carries the whole entry. Its `id` must be the URL's; `created_at`/`updated_at`
//!   are read-only (ignored when unchanged, a problem when changed). A field the PUT changes
//!   gets provenance `operator` (1.0) unless the body gives it a new provenance itself (an
//!   accepted LLM proposal keeps `llm`); a field it clears loses its provenance.
//! - An import states some fields; [`merge`] lays them over the existing entry, so an
//!   operator's price survives a discovery that knows no price. Stated fields bring their
//!   provenance. Merging the same data twice changes nothing (imports are idempotent).
//! - `updated_at` moves only when a field or a provenance changed; `created_at` is set once.

use time::OffsetDateTime;

use crate::entry::{CatalogEntry, Source};
use crate::fields::diff;
use crate::problem::Problem;

/// The entry to store for a PUT of `incoming` at `id` over `existing` (none: a create).
pub fn prepare_put(
    id: &str,
    mut incoming: CatalogEntry,
    existing: Option<&CatalogEntry>,
    now: OffsetDateTime,
) -> Result<CatalogEntry, Vec<Problem>> {
    let mut problems = Vec::new();
    if incoming.id != id {
        problems.push(Problem::new("id", format!("`{}` is not the entry this URL names (`{id}`)", incoming.id)));
    }
    for (field, sent, stored) in [
        ("created_at", incoming.created_at, existing.and_then(|e| e.created_at)),
        ("updated_at", incoming.updated_at, existing.and_then(|e| e.updated_at)),
    ] {
        if sent.is_some() && sent != stored {
            problems.push(Problem::new(field, "is read-only; leave it out or send it unchanged"));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    for change in diff(existing, &incoming) {
        let before = existing.and_then(|e| e.provenance.get(&change.path));
        let given = incoming.provenance.get(&change.path);
        if change.after.is_null() {
            incoming.provenance.remove(&change.path);
        } else if given.is_none() || given == before {
            incoming.mark(&change.path, Source::Operator, 1.0);
        }
    }
    stamp(&mut incoming, existing, now);
    incoming.validate()?;
    Ok(incoming)
}

/// `existing` with every field `stated` knows laid over it (with its provenance); a new
/// entry when there is none. Both must have the same id.
pub fn merge(existing: Option<&CatalogEntry>, stated: &CatalogEntry, now: OffsetDateTime) -> CatalogEntry {
    let Some(old) = existing else {
        let mut new = stated.clone();
        stamp(&mut new, None, now);
        return new;
    };
    let mut out = old.clone();
    let s = stated;
    take(&mut out.display_name, &s.display_name);
    take(&mut out.kind, &s.kind);
    take(&mut out.modalities.input, &s.modalities.input);
    take(&mut out.modalities.output, &s.modalities.output);
    take(&mut out.limits.context_tokens, &s.limits.context_tokens);
    take(&mut out.limits.max_input_tokens, &s.limits.max_input_tokens);
    take(&mut out.limits.max_output_tokens, &s.limits.max_output_tokens);
    match (&mut out.pricing, &s.pricing) {
        (Some(mine), Some(theirs)) if mine.currency == theirs.currency => {
            take(&mut mine.input_per_mtok, &theirs.input_per_mtok);
            take(&mut mine.output_per_mtok, &theirs.output_per_mtok);
        }
        (mine, Some(theirs)) => {
            // Another currency (or none before): the stated pricing replaces the old one whole.
            *mine = Some(theirs.clone());
            out.provenance.retain(|path, _| !path.starts_with("pricing."));
        }
        (_, None) => {}
    }
    let (c, sc) = (&mut out.capabilities, &s.capabilities);
    take(&mut c.streaming, &sc.streaming);
    take(&mut c.tools, &sc.tools);
    take(&mut c.json_mode, &sc.json_mode);
    take(&mut c.logprobs, &sc.logprobs);
    take(&mut c.explanations, &sc.explanations);
    take(&mut out.io_schema, &s.io_schema);
    let (t, st) = (&mut out.training, &s.training);
    take(&mut t.base_model, &st.base_model);
    take(&mut t.dataset, &st.dataset);
    take(&mut t.framework, &st.framework);
    take(&mut t.job, &st.job);
    out.metrics.extend(s.metrics.iter().map(|(k, v)| (k.clone(), *v)));
    out.labels.extend(s.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    out.provenance.extend(s.provenance.iter().map(|(k, v)| (k.clone(), *v)));
    stamp(&mut out, Some(old), now);
    out
}

fn take<T: Clone>(mine: &mut Option<T>, theirs: &Option<T>) {
    if theirs.is_some() {
        mine.clone_from(theirs);
    }
}

/// Sets the timestamps: `created_at` once; `updated_at` when anything changed.
fn stamp(entry: &mut CatalogEntry, existing: Option<&CatalogEntry>, now: OffsetDateTime) {
    let now = now.replace_nanosecond(0).unwrap_or(now);
    match existing {
        None => {
            entry.created_at = Some(now);
            entry.updated_at = Some(now);
        }
        Some(old) => {
            entry.created_at = old.created_at.or(Some(now));
            let changed = !diff(Some(old), entry).is_empty() || old.provenance != entry.provenance;
            entry.updated_at = if changed { Some(now) } else { old.updated_at.or(Some(now)) };
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::entry::{Kind, Pricing};
    use crate::price::Price;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2025-01-01 00:00 UTC);
    const T1: OffsetDateTime = datetime!(2025-02-01 00:00 UTC);

    fn usd(input: &str) -> Option<Pricing> {
        Some(Pricing {
            input_per_mtok: Some(Price::parse(input).unwrap()),
            output_per_mtok: None,
            currency: "USD".into(),
        })
    }

    #[test]
    fn a_put_marks_what_the_operator_changed_and_guards_read_only_fields() {
        let created = prepare_put("openai/gpt-4o", CatalogEntry::new("openai", "gpt-4o"), None, T0).unwrap();
        assert_eq!((created.created_at, created.updated_at), (Some(T0), Some(T0)));

        let mut edit = created.clone();
        edit.pricing = usd("2.5");
        edit.kind = Some(Kind::Chat);
        edit.mark("kind", Source::Llm, 0.5); // an accepted LLM proposal keeps its provenance
        let stored = prepare_put("openai/gpt-4o", edit, Some(&created), T1).unwrap();
        assert_eq!(stored.provenance["pricing.input_per_mtok"].source, Source::Operator);
        assert_eq!(stored.provenance["pricing.currency"].source, Source::Operator);
        assert_eq!(stored.provenance["kind"].source, Source::Llm);
        assert_eq!((stored.created_at, stored.updated_at), (Some(T0), Some(T1)));

        // Clearing a field drops its provenance; the same PUT again changes nothing.
        let mut clear = stored.clone();
        clear.pricing = None;
        let cleared = prepare_put("openai/gpt-4o", clear, Some(&stored), T1).unwrap();
        assert!(!cleared.provenance.keys().any(|k| k.starts_with("pricing.")));
        let again =
            prepare_put("openai/gpt-4o", stored.clone(), Some(&stored), datetime!(2025-03-01 00:00 UTC)).unwrap();
        assert_eq!(again, stored);

        let mut bad = stored.clone();
        bad.created_at = Some(T1);
        let problems = prepare_put("openai/gpt-4o-mini", bad, Some(&stored), T1).unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["id", "created_at"]);
    }

    #[test]
    fn an_import_lays_stated_fields_over_the_entry_and_is_idempotent() {
        let mut existing = CatalogEntry::new("openai", "gpt-4o");
        existing.pricing = usd("2.5");
        existing.mark("pricing.input_per_mtok", Source::Operator, 1.0);
        existing.created_at = Some(T0);
        existing.updated_at = Some(T0);
        let mut discovered = CatalogEntry::new("openai", "gpt-4o");
        discovered.limits.context_tokens = Some(128_000);
        discovered.mark("limits.context_tokens", Source::Provider, 1.0);

        let merged = merge(Some(&existing), &discovered, T1);
        assert_eq!(merged.pricing, existing.pricing, "the operator's price survives");
        assert_eq!(merged.limits.context_tokens, Some(128_000));
        assert_eq!(merged.provenance["limits.context_tokens"].source, Source::Provider);
        assert_eq!((merged.created_at, merged.updated_at), (Some(T0), Some(T1)));
        assert!(merged.validate().is_ok());
        let twice = merge(Some(&merged), &discovered, datetime!(2025-03-01 00:00 UTC));
        assert_eq!(twice, merged);

        // Another currency replaces the pricing whole, with its provenance.
        let mut eur = discovered.clone();
        eur.pricing = Some(Pricing {
            input_per_mtok: None,
            output_per_mtok: Some(Price::parse("9").unwrap()),
            currency: "EUR".into(),
        });
        eur.mark("pricing.output_per_mtok", Source::File, 1.0);
        let replaced = merge(Some(&merged), &eur, T1);
        assert_eq!(replaced.pricing, eur.pricing);
        assert!(!replaced.provenance.contains_key("pricing.input_per_mtok"));
        let fresh = merge(None, &discovered, T1);
        assert_eq!(fresh.created_at, Some(T1));
    }
}
