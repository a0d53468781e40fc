//! Shared by `catalog/tests/litellm_file.rs` and `switchyard/tests/catalog_import_file.rs`:
//! the pinned LiteLLM file's path, the ten rows both check field by field, and the
//! independent reading of the file in Python (`catalog/tests/litellm_expect.py`).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// Rows checked field by field: chat, completion, embedding and `other` modes; float token
/// limits; prices tiered above a prompt size; per-second pricing; a name with `/` and `*`;
/// a key not prefixed by its provider; the provider-qualified winner of a duplicate.
pub const SPOT: [&str; 10] = [
    "gpt-4o",
    "groq/llama-3.3-70b-versatile",
    "text-embedding-3-small",
    "gpt-3.5-turbo-instruct",
    "dall-e-3",
    "xai/grok-4-1-fast",
    "gemini/gemini-2.5-pro",
    "bedrock/*/1-month-commitment/cohere.command-text-v14",
    "vertex_ai/claude-3-5-sonnet@20240620",
    "deepseek/deepseek-chat",
];

pub fn file_path() -> PathBuf {
    if let Ok(p) = std::env::var("SWITCHYARD_LITELLM_FILE") {
        return p.into();
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/litellm-file.sh");
    let out = Command::new("bash").args([script, "--path"]).output().expect("run scripts/litellm-file.sh --path");
    PathBuf::from(String::from_utf8(out.stdout).expect("utf-8 path").trim())
}

pub fn python_reading(path: &PathBuf) -> Value {
    let python = std::env::var("SWITCHYARD_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../catalog/tests/litellm_expect.py");
    let out = Command::new(&python)
        .arg(script)
        .arg(path)
        .args(SPOT)
        .output()
        .unwrap_or_else(|e| panic!("{python} is required (scripts/python-test-deps.sh installs it): {e}"));
    assert!(out.status.success(), "litellm_expect.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("litellm_expect.py prints JSON")
}
