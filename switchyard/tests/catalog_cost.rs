//! Cost per inference from the catalog (issue 13, SPEC §8), through the real gateway into
//! the real ClickHouse: members priced by their catalog entries (`catalog:` or
//! `<provider>/<model>`), 1,000 recorded requests whose `cost` is tokens × price exactly
//! (`Decimal(38,12)`), `switchyard_cost_total{group,member}`, the experiment's cost per
//! request per arm against a computation here, a price change that reaches the routing
//! table at once, and the config validator's catalog checks with paths.
//!
//! Needs `SWITCHYARD_TEST_CLICKHOUSE_URL` (`scripts/clickhouse.sh start`).

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use switchyard_catalog::{clickhouse_decimal, cost, Decimal, Price, Pricing};
use switchyard_records::group_table;
use switchyard_testkit::clickhouse::{ch_url, metric, records_total, records_yaml, unique_db, Ch};
use switchyard_testkit::control::{admin_yaml, error_json, Api, ADMIN};
use switchyard_testkit::{client, eventually, TestGateway};

const REQUESTS: usize = 1000;

fn pricing(input: &str, output: &str) -> Pricing {
    Pricing {
        input_per_mtok: Some(Price::parse(input).expect("price")),
        output_per_mtok: Some(Price::parse(output).expect("price")),
        currency: "USD".into(),
    }
}

async fn put_entry(api: &Api, id: &str, body: Value, tag: &str) -> reqwest::Response {
    let header = if tag == "*" { ("if-none-match", "*".to_owned()) } else { ("if-match", tag.to_owned()) };
    api.http
        .put(format!("{}/models/{id}", api.base))
        .bearer_auth(ADMIN)
        .header(header.0, header.1)
        .json(&body)
        .send()
        .await
        .expect("send")
}

fn entry(kind: &str, p: Option<(&str, &str)>) -> Value {
    let pricing = p.map_or(Value::Null, |(i, o)| json!({"input_per_mtok": i, "output_per_mtok": o, "currency": "USD"}));
    json!({"kind": kind, "pricing": pricing})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn record_cost_is_tokens_times_the_catalog_price_and_the_experiment_reports_it() {
    let url = ch_url();
    let db = unique_db("catalog_cost");
    let ch = Ch::new(&url);
    let spool = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        r#"
providers:
  small: {{ kind: mock, input_tokens: 7, output_tokens: 11 }}
  large: {{ kind: mock, input_tokens: 13, output_tokens: 17 }}
groups:
  alpha:
    members:
      - {{ name: champ, role: champion, provider: large, model: large-v1, weight: 70 }}
      - {{ name: chall, role: challenger, provider: small, model: small-v2, catalog: acme/small-v2, weight: 30 }}
{}{}"#,
        records_yaml(&url, &db, spool.path(), ", fsync_interval_ms: 20"),
        admin_yaml()
    );
    let gw = TestGateway::start_with_control(&yaml).await;
    let api = Api::new(&gw);
    let started_ms =
        i64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis())
            .expect("ms");

    // The champion's entry is found as <provider>/<model>; the challenger's by `catalog:`.
    assert_eq!(
        put_entry(&api, "large/large-v1", entry("chat", Some(("2.5", "10"))), "*").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        put_entry(&api, "acme/small-v2", entry("chat", Some(("0.15", "0.6"))), "*").await.status(),
        StatusCode::CREATED
    );
    let large = pricing("2.5", "10");
    let small = pricing("0.15", "0.6");
    let champ_cost = cost(&large, 13, 17).expect("cost");
    let chall_cost = cost(&small, 7, 11).expect("cost");
    assert_eq!(champ_cost.to_string(), "0.0002025");
    assert_eq!(chall_cost.to_string(), "0.00000765");

    // 1,000 requests through the group.
    let http = client();
    let statuses: Vec<u16> = futures_util::stream::iter(0..REQUESTS)
        .map(|_| {
            let http = http.clone();
            let url = gw.url("/v1/chat/completions");
            async move {
                http.post(url).body(switchyard_testkit::chat("alpha")).send().await.expect("send").status().as_u16()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let shipped =
        eventually(Duration::from_secs(30), async || records_total(&gw.metrics().await, "shipped") >= REQUESTS as u64)
            .await;
    assert!(shipped, "records not shipped");

    // Every record: cost = tokens × price, exactly, at Decimal(38,12).
    let table = group_table("alpha");
    let rows = ch
        .rows(
            &db,
            &format!(
                "SELECT member, toString(cost), currency, toString(input_tokens), toString(output_tokens) \
                 FROM `{table}` FINAL ORDER BY request_id"
            ),
        )
        .await;
    assert_eq!(rows.len(), REQUESTS);
    let mut per_member: std::collections::BTreeMap<String, u64> = Default::default();
    for row in &rows {
        let (want, tokens) = match row[0].as_str() {
            "champ" => (clickhouse_decimal(champ_cost).expect("fits"), ("13", "17")),
            "chall" => (clickhouse_decimal(chall_cost).expect("fits"), ("7", "11")),
            other => panic!("member {other}"),
        };
        assert_eq!((row[1].as_str(), row[2].as_str()), (want.as_str(), "USD"), "{row:?}");
        assert_eq!((row[3].as_str(), row[4].as_str()), tokens, "{row:?}");
        *per_member.entry(row[0].clone()).or_default() += 1;
    }
    let n_champ = per_member["champ"];
    let n_chall = per_member["chall"];
    assert!(n_champ > 500 && n_chall > 150, "{per_member:?}");
    // Sums in ClickHouse are exact: n × the per-request cost, to the last digit.
    let sums = ch
        .rows(&db, &format!("SELECT member, toString(sum(cost)) FROM `{table}` FINAL GROUP BY member ORDER BY member"))
        .await;
    let exact = |c: Decimal, n: u64| clickhouse_decimal(c * Decimal::from(n)).expect("fits");
    assert_eq!(
        sums,
        vec![
            vec!["chall".to_owned(), exact(chall_cost, n_chall)],
            vec!["champ".to_owned(), exact(champ_cost, n_champ)]
        ]
    );

    // The metric counts the same amounts (a float, so within rounding).
    let text = gw.metrics().await;
    assert!(text.contains("# HELP switchyard_cost_total") && text.contains("currency"), "the help names the currency");
    for (member, c, n) in [("champ", champ_cost, n_champ), ("chall", chall_cost, n_chall)] {
        let got =
            metric(&text, &format!("switchyard_cost_total{{group=\"alpha\",member=\"{member}\"}}")).expect("series");
        let want: f64 = (c * Decimal::from(n)).to_string().parse().expect("f64");
        assert!((got - want).abs() < 1e-9, "{member}: {got} vs {want}");
    }

    // The experiment: cost per request per arm with an interval, as computed here.
    let r = api.get(&format!("/groups/alpha/experiment?since={started_ms}"), ADMIN).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().await.expect("json");
    for (member, c, n) in [("champ", champ_cost, n_champ), ("chall", chall_cost, n_chall)] {
        let m = report["members"].as_array().expect("members").iter().find(|m| m["member"] == member).expect("member");
        let arm = &m["cost"][0];
        assert_eq!(arm["currency"], "USD", "{m}");
        assert_eq!(arm["requests"].as_u64(), Some(n), "{m}");
        assert_eq!(arm["total"].as_str(), Some((c * Decimal::from(n)).normalize().to_string().as_str()), "{m}");
        assert_eq!(arm["per_request"].as_str(), Some(c.normalize().to_string().as_str()), "{m}");
        // Every request of an arm cost the same: the interval is the mean itself, up to
        // ClickHouse's float variance of equal values (~1e-21 here, not 0).
        let mean: f64 = c.to_string().parse().expect("f64");
        let interval = arm["interval"].as_array().expect("interval");
        let (low, high) = (interval[0].as_f64().expect("f64"), interval[1].as_f64().expect("f64"));
        assert!(low <= mean && mean <= high && high - low < 1e-6 * mean, "{m}");
    }

    // A price change reaches the routing table at once: the next requests cost the new price.
    let current = api.get("/models/acme/small-v2", ADMIN).send().await.expect("send");
    let tag = current.headers()["etag"].to_str().expect("ascii").to_owned();
    let mut changed: Value = current.json().await.expect("json");
    changed["pricing"]["output_per_mtok"] = json!("1.2");
    assert_eq!(put_entry(&api, "acme/small-v2", changed, &tag).await.status(), StatusCode::OK);
    for _ in 0..20 {
        let r = http
            .post(gw.url("/v1/chat/completions"))
            .header("x-switchyard-member", "chall")
            .body(switchyard_testkit::chat("alpha"))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::OK);
    }
    let total = REQUESTS as u64 + 20;
    assert!(eventually(Duration::from_secs(30), async || records_total(&gw.metrics().await, "shipped") >= total).await);
    let repriced = cost(&pricing("0.15", "1.2"), 7, 11).expect("cost");
    let pinned =
        ch.rows(&db, &format!("SELECT DISTINCT toString(cost) FROM `{table}` FINAL WHERE assignment = 'pinned'")).await;
    assert_eq!(pinned, vec![vec![clickhouse_decimal(repriced).expect("fits")]]);

    // The validator checks members against their entries, with paths.
    assert_eq!(put_entry(&api, "acme/embed", entry("embedding", None), "*").await.status(), StatusCode::CREATED);
    let v = api.version().await;
    for (catalog, path) in
        [("acme/embed", "groups.alpha.members[2]: "), ("acme/none", "groups.alpha.members[2].catalog: ")]
    {
        let r = api
            .write(reqwest::Method::POST, "/groups/alpha/members", v)
            .json(&json!({"name": "emb", "role": "challenger", "provider": "small", "catalog": catalog, "weight": 0}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{catalog}");
        let body = error_json(r).await;
        let problem = body["error"]["problems"][0].as_str().expect("problem").to_owned();
        assert!(problem.starts_with(path), "{problem}");
    }
    ch.drop_db(&db).await;
}
