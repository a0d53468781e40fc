//! Can a member serve its group's requests? The config validator's catalog check (SPEC §8:
//! "the validator checks the request kinds the group serves (its champion's `kind`) against
//! each member entry's capabilities").
//!
//! A group serves the request kind of its champion's entry ([`RequestKind::of`]); each
//! member's entry must serve the same kind. Problems have an empty path (or a field path of
//! the member's entry for `io_schema`): the caller prefixes the member's config path, e.g.
//! `groups.support-bot.members[1]`. What is unknown is not a problem: a champion or member
//! with no kind, or no `io_schema`, is not checked (the catalog never guesses, and neither
//! does the validator).

use crate::entry::{CatalogEntry, Kind};
use crate::problem::Problem;

/// What a group's clients send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// `/v1/chat/completions` (and `/v1/messages`).
    Chat,
    /// `/v1/completions`.
    Completions,
    /// `/v1/embeddings`.
    Embeddings,
    /// Open Inference Protocol `/v2/models/{group}/infer`.
    Infer,
}

// === impl RequestKind ===

impl RequestKind {
    /// The requests a model of `kind` serves (`other` serves none of the gateway's).
    pub fn of(kind: Kind) -> Option<Self> {
        match kind {
            Kind::Chat => Some(RequestKind::Chat),
            Kind::Completion => Some(RequestKind::Completions),
            Kind::Embedding => Some(RequestKind::Embeddings),
            Kind::Classifier | Kind::Regressor => Some(RequestKind::Infer),
            Kind::Other => None,
        }
    }

    /// How the requests are called in messages (`embeddings`, `chat completions`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Chat => "chat completions",
            RequestKind::Completions => "text completions",
            RequestKind::Embeddings => "embeddings",
            RequestKind::Infer => "OIP inference",
        }
    }
}

/// Problems with `member` serving a group whose champion's kind is `serves` (see the module
/// doc); empty when it can, or when either kind is unknown.
pub fn check_member(member: &CatalogEntry, serves: Option<Kind>) -> Vec<Problem> {
    let (Some(serves), Some(kind)) = (serves, member.kind) else { return Vec::new() };
    let Some(wanted) = RequestKind::of(serves) else { return Vec::new() };
    if RequestKind::of(kind) == Some(wanted) {
        return Vec::new();
    }
    let only = match kind {
        Kind::Other => "a model that serves none of the gateway's request kinds".to_owned(),
        k => format!("a {}-only model", k.as_str()),
    };
    vec![Problem::new(
        "",
        format!(
            "{} to {only}: the group serves {} (its champion's kind is `{}`) but `{}` is a {} model",
            wanted.as_str(),
            wanted.as_str(),
            serves.as_str(),
            member.id,
            kind.as_str()
        ),
    )]
}

/// Problems with `member` taking the same OIP inputs as `champion`: when both publish an
/// `io_schema`, the member's inputs must be the champion's (same names, datatypes, shapes).
pub fn check_io_schema(champion: &CatalogEntry, member: &CatalogEntry) -> Vec<Problem> {
    let (Some(want), Some(have)) = (&champion.io_schema, &member.io_schema) else { return Vec::new() };
    if want.inputs == have.inputs {
        return Vec::new();
    }
    let names = |t: &[crate::entry::Tensor]| {
        t.iter().map(|t| format!("{} {} {:?}", t.name, t.datatype.as_str(), t.shape)).collect::<Vec<_>>().join(", ")
    };
    vec![Problem::new(
        "io_schema.inputs",
        format!(
            "`{}` takes [{}] but the champion `{}` takes [{}]: the group's requests would not fit it",
            member.id,
            names(&have.inputs),
            champion.id,
            names(&want.inputs)
        ),
    )]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::entry::{Datatype, IoSchema, Tensor};

    fn model(id: &str, kind: Option<Kind>) -> CatalogEntry {
        let (provider, name) = id.split_once('/').unwrap();
        let mut e = CatalogEntry::new(provider, name);
        e.kind = kind;
        e
    }

    #[test]
    fn embeddings_to_a_chat_only_model_is_a_problem() {
        let gpt = model("openai/gpt-4o", Some(Kind::Chat));
        let problems = check_member(&gpt, Some(Kind::Embedding));
        assert_eq!(problems.len(), 1);
        let p = problems[0].clone().under("groups.search.members[1]");
        assert_eq!(
            p.to_string(),
            "groups.search.members[1]: embeddings to a chat-only model: the group serves embeddings \
             (its champion's kind is `embedding`) but `openai/gpt-4o` is a chat model"
        );
        let dalle = model("openai/dall-e-3", Some(Kind::Other));
        assert!(check_member(&dalle, Some(Kind::Chat))[0].message.contains("none of the gateway's request kinds"));
        assert_eq!(check_member(&gpt, Some(Kind::Completion)).len(), 1);
    }

    #[test]
    fn same_requests_and_unknown_kinds_pass() {
        let gpt = model("openai/gpt-4o", Some(Kind::Chat));
        assert!(check_member(&gpt, Some(Kind::Chat)).is_empty());
        assert!(check_member(&model("tabular/reg", Some(Kind::Regressor)), Some(Kind::Classifier)).is_empty());
        assert!(check_member(&model("vllm/x", None), Some(Kind::Embedding)).is_empty());
        assert!(check_member(&gpt, None).is_empty());
        assert!(check_member(&gpt, Some(Kind::Other)).is_empty());
    }

    #[test]
    fn oip_members_must_take_the_champions_inputs() {
        let tensor = |dt| Tensor { name: "x".into(), datatype: dt, shape: vec![-1, 4] };
        let mut champion = model("tabular/iris", Some(Kind::Classifier));
        champion.io_schema = Some(IoSchema { inputs: vec![tensor(Datatype::Fp32)], outputs: vec![] });
        let mut same = model("tabular/iris-v2", Some(Kind::Classifier));
        same.io_schema = champion.io_schema.clone();
        assert!(check_io_schema(&champion, &same).is_empty());
        let mut other = model("tabular/iris-int", Some(Kind::Classifier));
        other.io_schema = Some(IoSchema { inputs: vec![tensor(Datatype::Int64)], outputs: vec![] });
        let problems = check_io_schema(&champion, &other);
        assert_eq!(problems[0].path, "io_schema.inputs");
        assert!(problems[0].message.contains("x INT64 [-1, 4]"), "{}", problems[0]);
        assert!(check_io_schema(&champion, &model("tabular/unknown", Some(Kind::Classifier))).is_empty());
    }
}
