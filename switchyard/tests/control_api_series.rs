//! `GET /api/v1/groups/{g}/series` against the real ClickHouse: traffic to a group with a
//! healthy and an always-failing member lands in the buckets it was sent in, each request
//! once; per member the series' requests and errors add up to the experiment report's
//! (the same error definition); a window of too many buckets is 400, an unknown group 404.

use std::time::Duration;

use serde_json::Value;
use switchyard_testkit::clickhouse::{ch_url, records_yaml, unique_db, Ch};
use switchyard_testkit::control::{admin_yaml, VIEWER};
use switchyard_testkit::{client, eventually, TestGateway};

const SENT: usize = 60;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64
}

fn yaml(dir: &std::path::Path, database: &str) -> String {
    format!(
        r#"
providers:
  mock: {{ kind: mock }}
  broken: {{ kind: mock, error_rate: 1.0 }}
groups:
  g:
    members:
      - {{ name: ok, role: champion, provider: mock, model: m, weight: 1 }}
      - {{ name: bad, role: challenger, provider: broken, model: m, weight: 1 }}
{records}{admin}"#,
        records = records_yaml(&ch_url(), database, &dir.join("spool"), ""),
        admin = admin_yaml(),
    )
}

/// Per member: (requests, errors) summed over the series' buckets.
fn totals(series: &Value, member: &str) -> (u64, u64) {
    let points = series["members"].as_array().into_iter().flatten().filter(|m| m["member"] == member);
    points
        .flat_map(|m| m["points"].as_array().cloned().unwrap_or_default())
        .fold((0, 0), |(r, e), p| (r + p["requests"].as_u64().unwrap_or(0), e + p["errors"].as_u64().unwrap_or(0)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_series_counts_every_request_once_in_its_bucket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database = unique_db("series");
    let yaml = yaml(dir.path(), &database);
    let gw = TestGateway::start_in(dir, &yaml).await;
    let c = client();
    let started = now_ms();
    for i in 0..SENT {
        let body = serde_json::json!({"model": "g", "messages": [{"role": "user", "content": format!("q{i}")}]});
        c.post(gw.url("/v1/chat/completions")).json(&body).send().await.expect("send");
    }
    let ch = Ch::new(&ch_url());
    let shipped = eventually(Duration::from_secs(30), async || {
        ch.try_query(&database, "SELECT uniqExact(request_id) FROM inferences")
            .await
            .is_ok_and(|n| n.trim().parse::<usize>() == Ok(SENT))
    })
    .await;
    assert!(shipped, "the records did not reach ClickHouse");
    let until = now_ms() + 1;
    let api = |path: String| {
        let c = c.clone();
        let url = format!("{}/api/v1{path}", gw.admin);
        async move { c.get(url).bearer_auth(VIEWER).send().await.expect("send") }
    };

    let r = api(format!("/groups/g/series?since={}&until={until}&step_ms=1000", started - 1000)).await;
    assert_eq!(r.status(), 200);
    let series: Value = r.json().await.expect("json");
    assert_eq!(series["step_ms"], 1000);
    let r = api(format!("/groups/g/experiment?since={}&until={until}", started - 1000)).await;
    let report: Value = r.json().await.expect("json");
    let mut all = 0;
    for member in ["ok", "bad"] {
        let row = report["members"].as_array().expect("members").iter().find(|m| m["member"] == member).expect(member);
        let (requests, errors) = totals(&series, member);
        assert_eq!((requests, errors), (row["requests"].as_u64().unwrap_or(0), row["errors"].as_u64().unwrap_or(0)));
        all += requests;
    }
    assert_eq!(all, SENT as u64, "{series:#}");
    let (ok, bad) = (totals(&series, "ok"), totals(&series, "bad"));
    assert!(ok.0 > 0 && ok.1 == 0 && bad.0 > 0 && bad.1 == bad.0, "ok {ok:?}, bad {bad:?}");
    for m in series["members"].as_array().expect("members") {
        for p in m["points"].as_array().expect("points") {
            let t = p["t_ms"].as_i64().expect("t");
            assert!(t % 1000 == 0 && t >= started - 2000 && t < until, "{p}");
            assert!(p["p95_us"].as_f64() >= p["p50_us"].as_f64(), "{p}");
        }
    }

    // The default: the last hour in 60 buckets of a minute.
    let r = api("/groups/g/series".into()).await;
    let default: Value = r.json().await.expect("json");
    assert_eq!(default["step_ms"], 60_000);
    assert_eq!(totals(&default, "ok").0 + totals(&default, "bad").0, SENT as u64);
    // Refused: too many buckets, a step under a second; unknown group.
    assert_eq!(api(format!("/groups/g/series?since=0&until={until}&step_ms=1000")).await.status(), 400);
    assert_eq!(api("/groups/g/series?step_ms=10".into()).await.status(), 400);
    assert_eq!(api("/groups/nope/series".into()).await.status(), 404);
    gw.stop().await;
    ch.drop_db(&database).await;
}
