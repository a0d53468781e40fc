//! The console's browser tests' Rust side: runs a selenium script (headless Chromium from
//! Debian's `chromium` + `chromium-driver`, PyPI `selenium`) by its path, so it can import
//! its sibling `browser.py`, and reads the one JSON object it prints. Fails — never skips —
//! when the browser or selenium is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `python3 <script>` (or `$SWITCHYARD_PYTHON`) with `envs` and returns what it printed.
pub fn run_script(script: &Path, envs: &[(&str, String)]) -> serde_json::Value {
    let python = std::env::var("SWITCHYARD_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg(script)
        // No __pycache__ beside the scripts in the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap_or_else(|e| panic!("{python} is required (scripts/python-test-deps.sh): {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser script {} failed (chromium and chromium-driver from scripts/test.sh, selenium from \
         scripts/python-test-deps.sh):\n{stderr}",
        script.display()
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("script output is not JSON ({e}): {stderr}"))
}

/// `target/console-screenshots/`, where the browser tests leave their screenshots.
pub fn screenshots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    // Canonical: chromedriver refuses to upload a file by a path with `..` in it.
    dir.canonicalize().expect("screenshot dir")
}
