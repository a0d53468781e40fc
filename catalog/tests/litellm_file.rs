//! Imports the real `model_prices_and_context_window.json` from the pinned `litellm` wheel
//! (`bash scripts/litellm-file.sh`, run by `scripts/python-test-deps.sh`) and holds the
//! result to an independent reading of the same file in Python (`litellm_expect.py`):
//! the same rows mapped and skipped, in file order, and ten entries field by field.
//! Every mapped entry is also valid under the published JSON Schema. Fails, never skips, when the file or Python is missing.

use serde_json::Value;
use switchyard_catalog::litellm::import_litellm;
use switchyard_catalog::CatalogEntry;

use crate::litellm;

use litellm::{file_path, python_reading, SPOT};

#[test]
fn the_real_litellm_file_maps_as_an_independent_reading_says() {
    let path = file_path();
    let body = std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{}: {e}; fetch it with `bash scripts/python-test-deps.sh` (or scripts/litellm-file.sh)", path.display())
    });
    let import = import_litellm(&body).expect("the file is a JSON object");
    let expect = python_reading(&path);

    let rows = expect["rows"].as_array().expect("rows");
    let keys: Vec<&str> = rows.iter().map(|r| r[0].as_str().unwrap_or_default()).collect();
    let ours: Vec<&str> = import.report.rows.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(ours, keys, "the same rows in the same order");
    let mut disagree = Vec::new();
    for (row, theirs) in import.report.rows.iter().zip(rows) {
        let mapped = theirs[1] == "mapped";
        if row.id.is_some() != mapped {
            disagree.push(format!("{}: ours {:?} {:?}, python {}", row.key, row.id, row.problems, theirs));
        }
    }
    assert!(disagree.is_empty(), "rows mapped differently:\n{}", disagree.join("\n"));
    let python_mapped = rows.iter().filter(|r| r[1] == "mapped").count();
    assert_eq!(import.report.mapped, python_mapped);
    assert_eq!(import.report.skipped, rows.len() - python_mapped);
    assert_eq!(import.entries.len(), import.report.mapped);
    assert!(import.report.mapped > 2000, "a real file maps most rows: {}", import.report.mapped);
    assert!(import.report.rows.iter().filter(|r| r.id.is_none()).all(|r| !r.problems.is_empty()));
    assert!(import.entries.iter().all(|e| e.validate().is_ok()));
    let schema = jsonschema::validator_for(&switchyard_catalog::entry_schema()).expect("schema compiles");
    for e in &import.entries {
        let v = serde_json::to_value(e).expect("entry serialises");
        assert!(schema.is_valid(&v), "{} is not valid under the published schema", e.id);
    }
    eprintln!(
        "{}: {} rows, {} mapped, {} skipped",
        path.display(),
        import.report.rows.len(),
        import.report.mapped,
        import.report.skipped
    );

    for key in SPOT {
        let want = &expect["spot"][key];
        let id = want["id"].as_str().expect("spot id");
        let entry = import.entries.iter().find(|e| e.id == id).unwrap_or_else(|| panic!("{key} ({id}) not mapped"));
        assert_eq!(observed(entry), *want, "{key}");
    }
}

/// The fields `litellm_expect.py` computes, read from our entry.
fn observed(e: &CatalogEntry) -> Value {
    let json = serde_json::to_value(e).expect("entry serialises");
    serde_json::json!({
        "id": e.id, "provider": e.provider, "name": e.name,
        "kind": json["kind"],
        "max_input_tokens": e.limits.max_input_tokens,
        "max_output_tokens": e.limits.max_output_tokens,
        "context_tokens": e.limits.context_tokens,
        "pricing": json["pricing"],
        "tools": e.capabilities.tools,
        "streaming": e.capabilities.streaming,
        "json_mode": e.capabilities.json_mode,
        "input": json["modalities"]["input"],
        "output": json["modalities"]["output"],
    })
}
