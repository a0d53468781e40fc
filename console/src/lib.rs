//! The operator console's assets (SPEC §12), embedded in the binary at build time with
//! `include_bytes!`, so `cargo build` alone produces the console: no Node, no CDN, no
//! external fonts.
//!
//! Stack (see `console/README.md`): one small single-page app in plain JavaScript
//! (`assets/app.js`, the core, and one file per group of pages; no framework, no build
//! step) that reads and writes only the control API (`/api/v1`), plus the vendored build
//! of uPlot for its charts. The control API's console routes
//! (`switchyard_control_api::console`) serve these files under `/ui/assets/` and own
//! sign-in, sessions and CSRF.
//!
//! Invariant: every asset's name is fixed here; [`asset`] never reads the file system.

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// The file's bytes.
    pub bytes: &'static [u8],
    /// Its `content-type`.
    pub content_type: &'static str,
}

/// The app shell served at `/ui/` to a signed-in operator.
pub const APP_HTML: &str = include_str!("../assets/app.html");
/// The sign-in page; `{{message}}` is replaced by an (escaped) message or nothing.
pub const SIGNIN_HTML: &str = include_str!("../assets/signin.html");

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The asset served at `/ui/assets/<name>`, when there is one.
pub fn asset(name: &str) -> Option<Asset> {
    let (bytes, content_type): (&'static [u8], &'static str) = match name {
        "app.js" => (include_bytes!("../assets/app.js"), JS),
        "stale.js" => (include_bytes!("../assets/stale.js"), JS),
        "charts.js" => (include_bytes!("../assets/charts.js"), JS),
        "groups.js" => (include_bytes!("../assets/groups.js"), JS),
        "providers.js" => (include_bytes!("../assets/providers.js"), JS),
        "models.js" => (include_bytes!("../assets/models.js"), JS),
        "imports.js" => (include_bytes!("../assets/imports.js"), JS),
        "inferences.js" => (include_bytes!("../assets/inferences.js"), JS),
        "history.js" => (include_bytes!("../assets/history.js"), JS),
        "jobs.js" => (include_bytes!("../assets/jobs.js"), JS),
        "job.js" => (include_bytes!("../assets/job.js"), JS),
        "app.css" => (include_bytes!("../assets/app.css"), CSS),
        "favicon.svg" => (include_bytes!("../assets/favicon.svg"), "image/svg+xml"),
        "uPlot.iife.min.js" => (include_bytes!("../assets/vendor/uPlot.iife.min.js"), JS),
        "uPlot.min.css" => (include_bytes!("../assets/vendor/uPlot.min.css"), CSS),
        "uPlot.LICENSE" => (include_bytes!("../assets/vendor/uPlot.LICENSE"), "text/plain; charset=utf-8"),
        _ => return None,
    };
    Some(Asset { bytes, content_type })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_the_shell_links_is_embedded() {
        let scripts = ["app.js", "stale.js", "charts.js", "groups.js", "providers.js", "models.js", "imports.js"];
        let rest = [
            "inferences.js",
            "history.js",
            "jobs.js",
            "job.js",
            "app.css",
            "favicon.svg",
            "uPlot.iife.min.js",
            "uPlot.min.css",
        ];
        for name in scripts.into_iter().chain(rest) {
            assert!(APP_HTML.contains(&format!("/ui/assets/{name}")), "{name} not linked");
            assert!(asset(name).is_some_and(|a| !a.bytes.is_empty()), "{name} not embedded");
        }
        assert!(SIGNIN_HTML.contains(r#"name="token""#));
        assert!(SIGNIN_HTML.contains("/ui/assets/favicon.svg"));
        assert!(asset("../Cargo.toml").is_none());
    }
}
