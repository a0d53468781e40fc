//! The quick start (SPEC §12): `switchyard serve` without `--config` prints the console's
//! address and a one-time admin token that signs in to the console and the control API,
//! and starts a private ClickHouse under `./switchyard-data/` (Debian's
//! `clickhouse-server`, installed by `scripts/test.sh`) that the records reach and the
//! experiment report reads. The quick start listens on the fixed 8080/9090; when this
//! shared machine has them in use the start must fail cleanly naming the address (as in
//! cli_serve.rs).

use std::time::Duration;

use switchyard_testkit::clickhouse::Ch;
use switchyard_testkit::process::{Served, Started};
use switchyard_testkit::{chat, client, eventually};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

fn field(stdout: &str, name: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_start_prints_a_working_console_token_and_runs_its_own_clickhouse() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut served = Served::spawn(BIN, &["serve"], dir.path(), &[]);
    let (data, admin) = match served.started().await {
        Started::Serving(d, a) => (d, a),
        Started::Exited(status) => {
            let stderr = served.stderr();
            assert!(stderr.contains("in use"), "exited with {status}:\n{stderr}");
            eprintln!("quick-start ports busy; skipped:\n{stderr}");
            return;
        }
    };
    assert!(eventually(Duration::from_secs(5), async || served.stdout().contains("admin token:")).await);
    let stdout = served.stdout();
    assert_eq!(field(&stdout, "console:"), format!("http://{admin}/ui/"), "{stdout}");
    let token = field(&stdout, "admin token:");
    assert!(token.starts_with("sy_") && token.len() > 40, "{stdout}");
    let ch_url = field(&stdout, "ClickHouse:");
    assert!(ch_url.starts_with("http://127.0.0.1:"), "no private ClickHouse:\n{stdout}\n{}", served.stderr());
    let yaml = std::fs::read_to_string(dir.path().join("switchyard-data/quickstart.yaml")).expect("config");
    assert!(!yaml.contains(&token), "the token is stored in clear");

    // The token signs in to the console and authenticates the control API.
    let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let signin = c
        .post(format!("http://{admin}/ui/signin"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await
        .expect("sign in");
    assert_eq!(signin.status(), 303);
    assert!(signin.headers().get_all("set-cookie").iter().any(|v| v.to_str().is_ok_and(|v| v.contains("HttpOnly"))));
    let groups =
        client().get(format!("http://{admin}/api/v1/groups")).bearer_auth(&token).send().await.expect("groups");
    assert_eq!(groups.status(), 200);

    // Records reach the private ClickHouse and the experiment report reads them.
    for _ in 0..5 {
        let r =
            client().post(format!("http://{data}/v1/chat/completions")).body(chat("demo")).send().await.expect("chat");
        assert_eq!(r.status(), 200);
    }
    let ch = Ch::new(&ch_url);
    let shipped = eventually(Duration::from_secs(20), async || {
        ch.try_query("switchyard", "SELECT count() FROM inferences").await.is_ok_and(|n| n.trim() == "5")
    })
    .await;
    assert!(shipped, "the records did not reach the quick start's ClickHouse");
    let report: serde_json::Value = client()
        .get(format!("http://{admin}/api/v1/groups/demo/experiment"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("experiment")
        .json()
        .await
        .expect("json");
    let requests: u64 = report["members"].as_array().into_iter().flatten().filter_map(|m| m["requests"].as_u64()).sum();
    assert_eq!(requests, 5, "{report}");

    let (status, _, stderr) = served.terminate().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(dir.path().join("switchyard-data/clickhouse/data").is_dir());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_start_with_demo_traffic_gives_the_experiment_requests_and_feedback() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut served = Served::spawn(BIN, &["serve", "--demo-traffic"], dir.path(), &[]);
    let admin = match served.started().await {
        Started::Serving(_, a) => a,
        Started::Exited(status) => {
            let stderr = served.stderr();
            assert!(stderr.contains("in use"), "exited with {status}:\n{stderr}");
            eprintln!("quick-start ports busy; skipped:\n{stderr}");
            return;
        }
    };
    assert!(eventually(Duration::from_secs(5), async || served.stdout().contains("admin token:")).await);
    let token = field(&served.stdout(), "admin token:");
    let mut last = serde_json::Value::Null;
    let filled = eventually(Duration::from_secs(30), async || {
        let Ok(resp) =
            client().get(format!("http://{admin}/api/v1/groups/demo/experiment")).bearer_auth(&token).send().await
        else {
            return false;
        };
        last = resp.json().await.unwrap_or_default();
        let members = last["members"].as_array().cloned().unwrap_or_default();
        let requests: u64 = members.iter().filter_map(|m| m["requests"].as_u64()).sum();
        let scored = members.iter().any(|m| {
            m["feedback"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x["metric"] == "demo_score" && x["samples"].as_u64() > Some(0)))
        });
        requests >= 10 && scored
    })
    .await;
    assert!(filled, "no demo traffic with feedback in the experiment report: {last}");
    let (status, _, stderr) = served.terminate().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
}
