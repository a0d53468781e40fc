//! `switchyard-catalog`: the model catalog's pure core (SPEC §8) — no HTTP, no storage.
//!
//! The control API, the config validator and the state store build on it:
//! - [`entry`]: the [`CatalogEntry`] schema; [`validate`](CatalogEntry::validate) and
//!   [`parse_entry`] report every problem with its path; [`schema::entry_schema`] is the
//!   published JSON Schema; [`text`] holds the rules for names and free text.
//! - [`capability`]: can a member serve its group's requests (the config validator's
//!   catalog check)?
//! - [`cost`]: exact cost of an inference from the catalog price, and its ClickHouse
//!   `Decimal(38,12)` text.
//! - [`discover`]: provider answers (OpenAI-compatible, Anthropic, Gemini, TGI, OIP) →
//!   entries, and [`discover::compare`] with the catalog.
//! - [`fields`]: field paths, the vocabulary of provenance, diffs and confidence.
//! - [`litellm`]: LiteLLM's `model_prices_and_context_window.json` → entries, every
//!   row that does not map reported.
//! - [`write`]: an operator's PUT and an import's merge → the entry to store
//!   (read-only fields, provenance of edits, timestamps, idempotence).
//! - [`price`]: exact decimal prices written as strings.
//! - [`transform`]: the LLM-assisted transform's prompt, answer parsing, one retry,
//!   per-field confidence from agreement with provider/file data, and the diff.
//! - [`problem`]: [`Problem`] (path + message) and [`CatalogError`].

pub mod capability;
pub mod cost;
pub mod discover;
pub mod entry;
pub mod fields;
pub mod litellm;
pub mod price;
pub mod problem;
pub mod schema;
pub mod text;
pub mod transform;
pub mod validate;
pub mod write;

pub use cost::{clickhouse_decimal, cost};
pub use entry::{
    Capabilities, CatalogEntry, Datatype, IoSchema, Kind, Limits, Modalities, Modality, Pricing, Provenance, Source,
    Tensor, Training,
};
pub use fields::{diff, field_values, FieldChange};
pub use price::Price;
pub use problem::{CatalogError, Problem};
pub use rust_decimal::Decimal;
pub use schema::entry_schema;
pub use validate::{entry_from_value, parse_entry};
