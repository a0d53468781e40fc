//! `deploy/`'s manifests checked as far as this machine allows (it has no Docker engine and
//! no Kubernetes), with real tools and a real gateway:
//!
//! - the Kubernetes manifests validate against the Kubernetes 1.27 and 1.37 schemas
//!   (`kubernetes-validate --strict`), the ConfigMap's config passes `switchyard
//!   check-config`, and the pod's probes, ports, secrets and grace period agree with it;
//! - the compose file has the stack (2 gateway replicas, Postgres, ClickHouse, Prometheus,
//!   Grafana), every file it mounts exists, and its configs pass `check-config` and
//!   `promtool check config`;
//! - the Dockerfile passes hadolint, runs as a non-root user, builds the binary this
//!   workspace defines, and its HEALTHCHECK command, run against a real `switchyard`,
//!   passes on /healthz and fails on a closed port.
//!
//! Tools: promtool (Debian `prometheus`), kubernetes-validate and hadolint (PyPI,
//! `scripts/python-test-deps.sh`). The alert rules and the dashboard: `deploy_prometheus.rs`.

use crate::deploy;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};

use deploy::{check_config, closed_port, deploy, port_of, python, read, run_ok, yaml, Served};
use serde_json::Value;

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
    // Several pods share one state store (its password is a Secret env, checked above).
    let state = &config["state"];
    assert!(state["url"].as_str().is_some_and(|u| u.starts_with("postgres://")), "state.url: {state}");
    assert_eq!(state["shared_config"], true, "the pods share the routing config");
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
    // The replicas share one state store: the `postgres` service, healthy before they start.
    let state = &cfg["state"];
    assert!(state["url"].as_str().is_some_and(|u| u.starts_with("postgres://") && u.contains("@postgres:")), "{state}");
    assert_eq!(state["shared_config"], true, "the replicas share the routing config");
    assert_eq!(gw["depends_on"]["postgres"]["condition"], "service_healthy");
    let password = state["password"].as_str().and_then(|p| p.strip_prefix("env:")).expect("state.password: env:NAME");
    assert!(gw["environment"][password].is_string(), "compose sets {password} for the gateways");

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
