//! `explain:` of a member (SPEC §9): the provider exists, its kind fits the protocol, and
//! every range is checked with the key's path.

use switchyard_config::schema::ExplainProtocol;
use switchyard_config::{check, ConfigError};

fn problems(yaml: &str) -> Vec<String> {
    let factory = |_: &switchyard_config::ProviderSpec| Ok(());
    match check::<()>(yaml, &factory) {
        Ok(_) => vec![],
        Err(ConfigError { problems }) => problems.iter().map(|p| p.to_string()).collect(),
    }
}

fn config(explain: &str) -> String {
    format!(
        r#"
providers:
  models: {{ kind: oip, base_url: "http://127.0.0.1:1" }}
  shapsvc: {{ kind: http, base_url: "http://127.0.0.1:2/v1/models/{{model}}:explain" }}
  llm: {{ kind: openai, base_url: "http://127.0.0.1:3/v1" }}
groups:
  tabular:
    members:
      - {{ name: gbr, role: champion, provider: models, weight: 1, explain: {explain} }}
"#
    )
}

#[test]
fn a_valid_explainer_compiles_with_its_defaults() {
    let yaml = config("{ provider: shapsvc }");
    assert_eq!(problems(&yaml), Vec::<String>::new());
    let factory = |_: &switchyard_config::ProviderSpec| Ok(());
    let table = check::<()>(&yaml, &factory).expect("valid");
    let x = table.group("tabular").expect("group").members[0].explain.as_ref().expect("explain");
    assert_eq!(x.protocol, ExplainProtocol::KserveV1);
    assert_eq!((x.model.as_str(), x.sample_percent, x.max_in_flight), ("gbr", 10.0, 4));
    assert_eq!(x.timeout.as_millis(), 10_000);
    assert_eq!(x.provider.spec.name, "shapsvc");
    for ok in ["{ provider: models, protocol: oip }", "{ provider: models }", "{ provider: shapsvc, protocol: http }"] {
        assert_eq!(problems(&config(ok)), Vec::<String>::new(), "{ok}");
    }
}

#[test]
fn every_explain_problem_names_its_path() {
    let at = "groups.tabular.members[0].explain";
    assert_eq!(problems(&config("{ provider: nowhere }")), vec![format!("{at}.provider: unknown provider `nowhere`")]);
    assert_eq!(
        problems(&config("{ provider: llm }")),
        vec![format!("{at}.provider: provider `llm` is of kind openai; protocol kserve_v1 needs kind http or oip")]
    );
    assert_eq!(
        problems(&config("{ provider: shapsvc, protocol: oip }")),
        vec![format!("{at}.provider: provider `shapsvc` is of kind http; protocol oip needs kind oip")]
    );
    assert_eq!(
        problems(&config("{ provider: models, protocol: http }")),
        vec![format!("{at}.provider: provider `models` is of kind oip; protocol http needs kind http")]
    );
    let p = problems(&config("{ provider: shapsvc, sample_percent: 101, timeout_ms: 0, max_in_flight: 0 }"));
    assert_eq!(
        p,
        vec![
            format!("{at}.sample_percent: must be between 0 and 100"),
            format!("{at}.timeout_ms: must be > 0"),
            format!("{at}.max_in_flight: must be >= 1"),
        ]
    );
    let p = problems(&config("{ provider: shapsvc, protocol: kserve_v2 }"));
    assert!(p[0].starts_with(&format!("{at}.protocol: unknown variant `kserve_v2`")), "{p:?}");
    let p = problems(&config("{ provider: shapsvc, sample: 5 }"));
    assert!(p[0].starts_with(&format!("{at}.sample: unknown field `sample`")), "{p:?}");
}
