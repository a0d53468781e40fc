//! The operator console (SPEC §12) in a real browser: headless Chromium (Debian's
//! `chromium` + `chromium-driver`, installed by `scripts/test.sh`) driven by PyPI
//! `selenium` (`scripts/python-test-deps.sh`) against the real `switchyard` binary, the
//! real ClickHouse and its SQLite state store, with 20 groups of traffic recorded.
//!
//! One browser runs every scenario in order (`tests/console/console_browser.py`): sign in;
//! overview's first load (bytes and time, Performance API); every page renders with real
//! data and no console error (the jobs page too; its flows are console_jobs.rs); the
//! group page's latency and error series; screenshots of overview, group and inference
//! detail at 1440 px and 390 px (under `<target>/console-screenshots/`); an inference
//! opened from the browser shows its
//! attributions chart; weights changed on the group page change the data plane's split (χ²
//! here); promote and rollback from the page (audited as the operator); an open group page
//! announces a newer config version and the audit page shows a new change, both without
//! reloading; a stale save, a stale config rollback and a stale provider edit each show
//! what changed since the page loaded (a diff); a provider created with a key that then
//! appears in no page and no API response; a provider's models discovered and imported from
//! the page; a write without the CSRF header is refused; sign-out ends the session in the
//! store; a viewer sees no write controls and a forged write is 403; failed sign-ins are
//! throttled. Fails — never skips — without the browser or selenium.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use switchyard_testkit::clickhouse::{ch_url, records_yaml, unique_db, Ch};
use switchyard_testkit::fake_server::{Fake, Reply, Seen, Wire};
use switchyard_testkit::process::Served;
use switchyard_testkit::{browser, client, eventually, oip_fake};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/console/console_browser.py");
const ADMIN_TOKEN: &str = "console-admin-token-0123456789abcdef";
const VIEWER_TOKEN: &str = "console-viewer-token-fedcba9876543210";
const SECRET: &str = "sk-console-SEALED-4c1d9e7f0a2b58e3";
/// Groups besides `ab`, `tabular` and `catalog-llm`: 20 in all on the overview.
const FILLER: usize = 17;
/// The group whose fake LLM answers the catalog's LLM-assisted proposals.
const LLM_GROUP: &str = "catalog-llm";
const INFER: &str = r#"{"inputs":[{"name":"input-0","shape":[1,3],"datatype":"FP32","data":[[39,40,2174]]}]}"#;

fn sha(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// An OpenAI-compatible LLM that proposes an entry for the OIP model (a display name, a
/// kind, a framework and a metric; nothing about its tensors).
struct Llm;

impl Wire for Llm {
    fn answer(&self, _: &Seen) -> Reply {
        let proposal = serde_json::json!({
            "id": "kserve/income-xgb", "provider": "kserve", "name": "income-xgb",
            "display_name": "Income classifier (XGBoost)", "kind": "classifier",
            "training": {"framework": "xgboost"}, "metrics": {"auc": 0.91}
        });
        let body = serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "fake-llm",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": proposal.to_string()}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140}
        });
        Reply::Json(200, body.to_string())
    }

    fn error(&self, status: u16) -> String {
        format!(r#"{{"error":{{"message":"fake {status}","type":"server_error","code":null}}}}"#)
    }
}

fn config(oip: &str, llm: &str, ch: &str, db: &str, spool: &std::path::Path) -> String {
    let mut yaml = format!(
        r#"listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
providers:
  mock: {{ kind: mock, latency_ms: 1 }}
  kserve: {{ kind: oip, base_url: "{oip}" }}
  llm: {{ kind: openai, base_url: "{llm}/v1", max_in_flight: 8, pool_max_idle_per_host: 4 }}
admin:
  tokens:
    - {{ name: ops, token_sha256: "{}", role: admin }}
    - {{ name: watcher, token_sha256: "{}", role: viewer }}
groups:
  ab:
    members:
      - {{ name: alpha, role: champion, provider: mock, model: m, weight: 50 }}
      - {{ name: beta, role: challenger, provider: mock, model: m, weight: 50 }}
  tabular:
    records: {{ log_bodies: true }}
    members: [ {{ name: xgb, role: champion, provider: kserve, model: income-xgb, weight: 1 }} ]
  {LLM_GROUP}:
    members: [ {{ name: m, role: champion, provider: llm, model: fake-llm, weight: 1 }} ]
"#,
        sha(ADMIN_TOKEN),
        sha(VIEWER_TOKEN)
    );
    for i in 0..FILLER {
        yaml.push_str(&format!(
            "  g{i:02}:\n    members:\n      - {{ name: main, role: champion, provider: mock, model: m, weight: 3 }}\n      \
             - {{ name: alt, role: challenger, provider: mock, model: m, weight: 1 }}\n"
        ));
    }
    yaml + &records_yaml(ch, db, spool, "")
}

/// Sends traffic to every group and waits until ClickHouse holds all of it.
async fn traffic(data: &str, ch: &Ch, db: &str) {
    let http = client();
    let mut sent = 0u64;
    let chat = |g: &str| format!(r#"{{"model":"{g}","messages":[{{"role":"user","content":"hi"}}]}}"#);
    let mut groups: Vec<String> = (0..FILLER).map(|i| format!("g{i:02}")).collect();
    groups.push("ab".into());
    for g in &groups {
        for _ in 0..20 {
            let r = http.post(format!("{data}/v1/chat/completions")).body(chat(g)).send().await.expect("send");
            assert_eq!(r.status(), 200, "{g}");
            sent += 1;
        }
    }
    for _ in 0..10 {
        let r = http.post(format!("{data}/v2/models/tabular/infer")).body(INFER).send().await.expect("send");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
        sent += 1;
    }
    let shipped = eventually(Duration::from_secs(30), async || {
        ch.try_query(db, "SELECT count() FROM inferences").await.is_ok_and(|c| c.trim().parse::<u64>() == Ok(sent))
            && ch.try_query(db, "SELECT count() FROM explanations").await.is_ok_and(|c| c.trim() != "0")
    })
    .await;
    assert!(shipped, "{sent} records and their attributions did not reach ClickHouse");
}

fn run_browser(admin: String, data: String, shots: PathBuf) -> serde_json::Value {
    let envs = [("ADMIN_URL", admin), ("DATA_URL", data), ("SHOTS", shots.display().to_string())];
    let tokens =
        [("ADMIN_TOKEN", ADMIN_TOKEN.into()), ("VIEWER_TOKEN", VIEWER_TOKEN.into()), ("SECRET_KEY", SECRET.into())];
    let groups = [("AB_GROUP", "ab".into()), ("TABULAR_GROUP", "tabular".into()), ("LLM_GROUP", LLM_GROUP.into())];
    browser::run_script(Path::new(SCRIPT), &[envs.as_slice(), &tokens, &groups].concat())
}

/// Pearson's χ² of `counts` against `shares`.
fn chi_squared(counts: &[f64], shares: &[f64]) -> f64 {
    let n: f64 = counts.iter().sum();
    counts.iter().zip(shares).map(|(c, s)| (c - n * s).powi(2) / (n * s)).sum()
}

fn screenshots_dir() -> PathBuf {
    let dir = browser::screenshots_dir();
    // Only a run that stops leaves one (the script's last view).
    let _ = std::fs::remove_file(dir.join("failure.png"));
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    let url = ch_url();
    let ch = Ch::new(&url);
    let db = unique_db("console");
    let oip = oip_fake::start().await;
    let llm = Fake::start(Llm).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("switchyard.yaml");
    std::fs::write(&path, config(&oip.url(), &llm.url(), &url, &db, &dir.path().join("spool"))).expect("config");
    let master = "5a".repeat(32);
    let mut served = Served::spawn(
        BIN,
        &["serve", "--config", path.to_str().expect("utf-8")],
        dir.path(),
        &[("SWITCHYARD_MASTER_KEY", &master)],
    );
    let (data, admin) = served.serving().await;
    let (data, admin) = (format!("http://{data}"), format!("http://{admin}"));
    traffic(&data, &ch, &db).await;

    let shots = screenshots_dir();
    let out = tokio::task::spawn_blocking(move || run_browser(admin, data, shots.clone())).await.expect("browser");
    let show = serde_json::to_string_pretty(&out).unwrap_or_default();
    assert!(out.get("failed").is_none(), "the browser run stopped:\n{show}");
    eprintln!("overview first load: {}", out["perf"]);

    // Signed in; the overview: 20 cards from the experiment API, ≤ 300 KB, interactive < 1 s.
    assert!(out["who_admin"].as_str().is_some_and(|w| w.contains("ops (admin)")), "{show}");
    assert_eq!(out["cards"], 20, "{show}");
    let ab = out["overview_kpis"].as_str().unwrap_or_default();
    assert!(ab.contains("20\nrequests") || ab.contains("requests"), "{ab}");
    assert!(!ab.contains("No analytics"), "{ab}");
    let perf = &out["perf"];
    assert!(perf["transfer"].as_f64().is_some_and(|b| b > 0.0 && b <= 300_000.0), "{perf}");
    // Interactive: every group's card and link on screen (the KPIs then arrive from one
    // experiment report per group, each a few ClickHouse queries; bounded more loosely).
    assert!(perf["dom_interactive"].as_f64().is_some_and(|t| t < 1000.0), "{perf}");
    assert!(perf["cards_shown"].as_f64().is_some_and(|t| t < 1000.0), "{perf}");
    assert!(perf["cards_filled"].as_f64().is_some_and(|t| t < 3000.0), "{perf}");

    // Every page rendered real data without a console error.
    for (page, errors) in out["errors"].as_object().expect("errors") {
        assert_eq!(errors, &serde_json::json!([]), "console errors on {page}");
    }
    let pages = &out["pages"];
    let page = |p: &str| pages[p].as_str().unwrap_or_default().to_owned();
    assert!(page("groupPage").contains("alpha") && page("groupPage").contains("beta"), "{}", page("groupPage"));
    assert!(page("groupPage").contains("SRM check"), "{}", page("groupPage"));
    // The group's latency and error series: every request of the last hour, by member.
    let errors = out["series"]["errors"].as_str().unwrap_or_default();
    let counted: u64 = errors
        .split(", ")
        .map(|part| part.rsplit(" of ").next().and_then(|n| n.trim_end_matches(" requests").parse().ok()).unwrap_or(0))
        .sum();
    assert!(errors.contains("alpha 0 of") && errors.contains("beta 0 of") && counted == 20, "{errors}");
    assert!(out["series"]["latency"].as_str().is_some_and(|l| l.contains("alpha max")), "{show}");
    assert!(page("providersPage").contains("kserve"), "{}", page("providersPage"));
    assert!(page("inferencesPage").contains("tabular"), "{}", page("inferencesPage"));
    assert!(page("configPage").contains("(current)"), "{}", page("configPage"));

    // The attributions chart of an inference opened from the list.
    let label = out["attribution"]["label"].as_str().unwrap_or_default();
    assert!(label.contains("age 0.210") && label.contains("capital_gain 0.130"), "{show}");
    assert!(out["attribution"]["canvas"]["width"].as_f64().is_some_and(|w| w > 100.0), "{show}");
    assert!(out["inference_text"].as_str().is_some_and(|t| t.contains("income-xgb")), "{show}");

    // Weights 20/80 set on the page: the data plane's split follows (χ², 1 df).
    assert_eq!(out["weights_after"], serde_json::json!({"alpha": 20.0, "beta": 80.0}), "{show}");
    let split = &out["split_after"];
    let counts = [split["alpha"].as_f64().unwrap_or(0.0), split["beta"].as_f64().unwrap_or(0.0)];
    assert_eq!(counts.iter().sum::<f64>(), 600.0, "{split}");
    let (new, old) = (chi_squared(&counts, &[0.2, 0.8]), chi_squared(&counts, &[0.5, 0.5]));
    assert!(new < 10.83, "split {counts:?} does not fit 20/80 (χ² {new:.1})");
    assert!(old > 10.83, "split {counts:?} still fits 50/50 (χ² {old:.1})");

    // Promote and roll back from the page, audited as the signed-in operator.
    assert_eq!(out["after_promote"], serde_json::json!({"alpha": "challenger", "beta": "champion"}), "{show}");
    assert_eq!(out["after_rollback"], serde_json::json!({"alpha": "champion", "beta": "challenger"}), "{show}");
    let actions = out["audit_actions"].to_string();
    for action in ["group.weights", "group.promote", "config.rollback"] {
        assert!(actions.contains(&format!("[\"ops\",\"{action}\"]")), "{action} not audited as ops: {actions}");
    }

    // A stale save shows what changed since the page was loaded.
    assert_eq!(out["other_edit"], 200, "{show}");
    let stale = out["stale_text"].as_str().unwrap_or_default();
    assert!(stale.contains("changed since you loaded it") && stale.contains("33"), "{stale}");
    let notice = out["version_notice"].as_str().unwrap_or_default();
    assert!(notice.contains("changed on the server") && notice.contains("→"), "{show}");
    // Live refresh: the audit page shows a change made elsewhere without reloading.
    let live = &out["audit_live"];
    assert!(live["top"].as_str().is_some_and(|t| t.contains("group.weights")), "{live}");
    assert_eq!(live["marker"], true, "the audit page was reloaded: {live}");
    // A stale rollback on the versions page: the config as loaded against the config now.
    assert_eq!(out["other_edit_config"], 200, "{show}");
    let stale = out["stale_rollback"].as_str().unwrap_or_default();
    assert!(stale.contains("changed since you loaded it") && stale.contains("44"), "{stale}");
    // A stale provider edit, in its dialog: the provider as loaded against the provider now.
    assert_eq!(out["other_edit_provider"], 200, "{show}");
    let stale = out["stale_provider"].as_str().unwrap_or_default();
    assert!(
        stale.contains("changed since you loaded it") && stale.contains("+ ") && stale.contains("x-team"),
        "{stale}"
    );

    // A provider edited in its dialog keeps the entry's other keys (only max_in_flight changed).
    let dialog = &out["llm_dialog"];
    assert_eq!(
        (dialog["max_in_flight"].as_str(), dialog["pool_max_idle_per_host"].as_str()),
        (Some("8"), Some("4")),
        "{dialog}"
    );
    let llm_now = &out["llm_after_edit"];
    assert_eq!(llm_now["settings"], serde_json::json!({"max_in_flight": 16, "pool_max_idle_per_host": 4}), "{llm_now}");
    assert!(llm_now["base_url"].as_str().is_some_and(|u| u.ends_with("/v1")), "{llm_now}");

    // The provider's key: sealed, shown nowhere.
    let row = out["provider_row"].as_str().unwrap_or_default();
    assert!(row.contains("sealed-prov") && row.contains("encrypted"), "{row}");
    assert_eq!(out["search_rows"], 1, "{show}");
    // Discover and import from the providers page: the OIP model lands in the catalog.
    assert!(out["discovered"].as_str().is_some_and(|t| t.contains("kserve/income-xgb") && t.contains("new")), "{show}");
    assert!(out["models_after_import"].as_str().is_some_and(|t| t.contains("kserve/income-xgb")), "{show}");
    catalog_pages(&out, &show);
    assert!(out["pages_checked"].as_u64().is_some_and(|n| n >= 14), "{show}");
    assert_eq!((out["secret_in_pages"].as_u64(), out["secret_in_api"].as_u64()), (Some(0), Some(0)), "{show}");
    let on_disk = std::fs::read_to_string(&path).expect("config");
    assert!(!on_disk.contains(SECRET), "the key is in the config file in clear");

    // CSRF, sign-out, viewer.
    assert_eq!((out["csrf_less"].as_u64(), out["csrf_with"].as_u64()), (Some(403), Some(200)), "{show}");
    assert_eq!((out["before_signout"].as_u64(), out["after_signout"].as_u64()), (Some(200), Some(401)), "{show}");
    assert!(out["who_viewer"].as_str().is_some_and(|w| w.contains("watcher (viewer)")), "{show}");
    let viewer = &out["viewer_controls"];
    assert_eq!(viewer["weight_inputs"], 0, "{viewer}");
    assert_eq!(viewer["job_forms"], 0, "{viewer}");
    for b in viewer["buttons"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(viewer["provider_buttons"].as_array().into_iter().flatten())
    {
        let b = b.as_str().unwrap_or_default();
        assert!(
            !["Save weights", "Promote", "Pause", "Roll back", "New provider", "Edit", "Delete", "Create job"]
                .iter()
                .any(|w| b.starts_with(w)),
            "a viewer sees the write control {b:?}"
        );
    }
    assert_eq!((viewer["model_links"].as_u64(), viewer["model_editor"].as_u64()), (Some(0), Some(0)), "{viewer}");
    assert_eq!(out["viewer_errors"], serde_json::json!([]), "{show}");
    assert_eq!(out["viewer_forged"], 403, "{show}");

    // Five failed sign-ins from one address, then 429 — even with the right token.
    assert_eq!(out["signin_statuses"], serde_json::json!([401, 401, 401, 401, 401, 429, 429]), "{show}");
    assert_eq!(out["throttled_good_token"], 429, "{show}");

    // Usable at 390 px: nothing wider than the screen (wide tables scroll inside their box).
    for (shot, overflow) in out["overflow"].as_object().expect("overflow") {
        assert_eq!(overflow, 0, "{shot} scrolls sideways by {overflow} px");
    }
    let shots = screenshots_dir();
    for name in ["overview", "group", "inference"] {
        for width in ["desktop", "phone"] {
            let file = shots.join(format!("{name}-{width}.png"));
            assert!(std::fs::metadata(&file).is_ok_and(|m| m.len() > 5_000), "{} missing", file.display());
        }
    }
    let (status, _, _) = served.terminate().await;
    assert!(status.success());
    ch.drop_db(&db).await;
}

/// The catalog's pages, as the browser saw them (`catalog_pages` in the script).
fn catalog_pages(out: &serde_json::Value, show: &str) {
    assert_eq!(out["model_search"], serde_json::json!(["kserve/income-xgb"]), "{show}");
    // The detail: the tensors discovered from the OIP server, their provenance, who serves it.
    let detail = out["model_detail"].as_str().unwrap_or_default();
    for part in ["io_schema.inputs", "provider", "tabular · xgb (champion, weight 1)", "Inputs and outputs"] {
        assert!(detail.contains(part), "{part:?} not on the model page:\n{detail}");
    }
    // Stale edit: the diff shows the label set elsewhere; the saved edit then lands.
    assert_eq!(out["other_edit_model"], 200, "{show}");
    let stale = out["stale_model"].as_str().unwrap_or_default();
    assert!(stale.contains("changed since you loaded it") && stale.contains("elsewhere"), "{stale}");
    assert_eq!(out["model_labels_after"], serde_json::json!({"team": "risk"}), "{show}");

    // The LLM's proposal: stated fields checked, what it does not state (the tensors, the
    // operator's label) unchecked; saving takes the checked ones and keeps the rest.
    let review = &out["review"];
    for field in ["display_name", "training.framework", "metrics.auc"] {
        assert_eq!(review[field]["take"], true, "{field} not offered: {review}");
    }
    for field in ["io_schema.inputs", "labels.team"] {
        assert_eq!(review[field]["take"], false, "{field} would be dropped by default: {review}");
    }
    assert!(out["review_text"].as_str().is_some_and(|t| t.contains("Inferences: ")), "{show}");
    let after = &out["after_review"];
    assert_eq!(after["display_name"], "Income classifier (XGBoost)", "{after}");
    assert_eq!(
        (&after["training"]["framework"], &after["metrics"]["auc"]),
        (&"xgboost".into(), &0.91.into()),
        "{after}"
    );
    assert_eq!(after["labels"], serde_json::json!({"team": "risk"}), "{after}");
    assert!(after["io_schema"]["inputs"].as_array().is_some_and(|i| !i.is_empty()), "{after}");
    assert_eq!(after["provenance"]["display_name"]["source"], "llm", "{after}");
    assert_eq!(after["provenance"]["io_schema.inputs"]["source"], "provider", "{after}");

    // The LiteLLM file: a dry run stores nothing and says what each row does; the import stores.
    assert_eq!(out["before_import"], 404, "the dry run stored something: {show}");
    let dry = out["import_dry"].as_str().unwrap_or_default();
    assert!(dry.starts_with("Dry run") && dry.contains("2 mapped") && dry.contains("2 created"), "{dry}");
    let rows = &out["import_rows"];
    assert!(rows["mystery-model"].as_str().is_some_and(|r| r.contains("mode")), "{rows}");
    assert!(rows["gpt-4o-mini"].as_str().is_some_and(|r| r.contains("openai/gpt-4o-mini")), "{rows}");
    let done = out["import_done"].as_str().unwrap_or_default();
    assert!(done.starts_with("Imported") && done.contains("2 created"), "{done}");
    let entry = &out["imported_entry"];
    assert_eq!(entry["pricing"]["input_per_mtok"], "0.15", "{entry}");
    assert_eq!(entry["limits"]["max_input_tokens"], 128000, "{entry}");
    let audit = out["catalog_audit"].to_string();
    for action in ["model.update", "model.import"] {
        assert!(audit.contains(&format!("[\"ops\",\"{action}\"")), "{action} not audited as ops: {audit}");
    }
}
