//! Checking a `POST /api/v1/jobs` body: its shape (unknown keys, types) with the dotted
//! path of the first problem, then every cross-reference against the running config
//! (group, provider and its kind, the dataset's options, the enrolment) with all problems
//! at once — the config validator's paths and error shape (422).

use switchyard_config::schema::ProviderKind;
use switchyard_config::{Config, ConfigError, Problem};

use super::model::{DatasetSource, JobSpec};
use crate::error::ApiError;

/// Longest accepted `suffix` (OpenAI allows 64 characters).
const MAX_SUFFIX: usize = 64;

/// Parses `bytes` as a [`JobSpec`]; a shape problem is 422 with its path.
pub fn parse(bytes: &[u8]) -> Result<JobSpec, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ApiError::Invalid(ConfigError::one(path, e.inner().to_string()))
    })
}

/// Every problem of `spec` against `cfg` (empty: it can run).
pub fn check(spec: &JobSpec, cfg: &Config) -> Result<(), ApiError> {
    let mut problems = Vec::new();
    if !cfg.groups.contains_key(&spec.group) {
        problems.push(Problem::new("group", format!("group `{}` does not exist", spec.group)));
    }
    match cfg.providers.get(&spec.provider) {
        None => problems.push(Problem::new("provider", format!("provider `{}` does not exist", spec.provider))),
        Some(p) if !matches!(p.kind, ProviderKind::Openai | ProviderKind::Http) => problems.push(Problem::new(
            "provider",
            format!("provider `{}` cannot train: its kind must be `openai` (fine-tuning API) or `http`", spec.provider),
        )),
        Some(p) if p.base_url.is_none() => {
            problems.push(Problem::new("provider", format!("provider `{}` has no base_url", spec.provider)))
        }
        Some(_) => {}
    }
    if spec.base_model.trim().is_empty() {
        problems.push(Problem::new("base_model", "must not be empty"));
    }
    if let Some(s) = &spec.suffix {
        if s.is_empty() || s.len() > MAX_SUFFIX || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            problems.push(Problem::new("suffix", format!("1 to {MAX_SUFFIX} letters, digits or `-`")));
        }
    }
    check_dataset(spec, cfg, &mut problems);
    check_enroll(spec, cfg, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Invalid(problems.into()))
    }
}

fn check_dataset(spec: &JobSpec, cfg: &Config, problems: &mut Vec<Problem>) {
    let d = &spec.dataset;
    match d.source {
        DatasetSource::Records => {
            if d.path.is_some() {
                problems.push(Problem::new("dataset.path", "only for `source: file`"));
            }
            if let (Some(s), Some(u)) = (d.since, d.until) {
                if s >= u {
                    problems.push(Problem::new("dataset.until", "must be after `since`"));
                }
            }
            if d.max_examples == Some(0) {
                problems.push(Problem::new("dataset.max_examples", "must be > 0"));
            }
            if let Some(f) = &d.feedback {
                if f.metric.is_empty() || f.metric.len() > 128 {
                    problems.push(Problem::new("dataset.feedback.metric", "1 to 128 characters"));
                }
                if !f.min.is_finite() {
                    problems.push(Problem::new("dataset.feedback.min", "must be a finite number"));
                }
            }
        }
        DatasetSource::File => {
            let others = d.since.is_some() || d.until.is_some() || d.feedback.is_some() || d.max_examples.is_some();
            if others {
                problems.push(Problem::new(
                    "dataset",
                    "`since`, `until`, `feedback` and `max_examples` are for `source: records`",
                ));
            }
            match (&d.path, &cfg.jobs.dataset_dir) {
                (None, _) => problems.push(Problem::new("dataset.path", "required for `source: file`")),
                (Some(_), None) => problems.push(Problem::new(
                    "dataset.source",
                    "`file` needs `jobs.dataset_dir` in the gateway's config file",
                )),
                (Some(p), Some(_)) => {
                    let path = std::path::Path::new(p);
                    let inside = path.components().all(|c| matches!(c, std::path::Component::Normal(_)));
                    if p.is_empty() || !inside {
                        problems.push(Problem::new(
                            "dataset.path",
                            "must be a relative path inside `jobs.dataset_dir` (no `..`, no leading `/`)",
                        ));
                    }
                }
            }
        }
    }
}

fn check_enroll(spec: &JobSpec, cfg: &Config, problems: &mut Vec<Problem>) {
    let Some(e) = &spec.enroll else { return };
    match cfg.groups.get(&e.group) {
        None => problems.push(Problem::new("enroll.group", format!("group `{}` does not exist", e.group))),
        Some(g) => {
            if let Some(m) = &e.member {
                if g.members.iter().any(|x| &x.name == m) {
                    problems.push(Problem::new("enroll.member", format!("group `{}` has a member `{m}`", e.group)));
                }
            }
        }
    }
    if !e.weight.is_finite() || e.weight < 0.0 {
        problems.push(Problem::new("enroll.weight", "must be a finite number >= 0"));
    }
    if let Some(m) = &e.member {
        let ok = !m.is_empty() && m.len() <= 64 && m.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !ok {
            problems.push(Problem::new("enroll.member", "1 to 64 letters, digits, `-`, `_` or `.`"));
        }
    }
}
