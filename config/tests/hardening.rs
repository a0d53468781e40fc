//! Issue 11's config findings: numbers that overflow or are denormal, duplicate keys, names
//! that could forge log lines, and the secret allow-list — each refused with its path.

use switchyard_config::{check, ConfigError};

fn problems(yaml: &str) -> Vec<String> {
    let factory = |_: &switchyard_config::ProviderSpec| Ok(());
    match check::<()>(yaml, &factory) {
        Ok(_) => vec![],
        Err(ConfigError { problems }) => problems.iter().map(|p| p.to_string()).collect(),
    }
}

const BASE: &str = r#"
providers:
  m: { kind: mock }
groups:
  g:
    members:
      - { name: a, role: champion, provider: m, weight: 90 }
      - { name: b, role: challenger, provider: m, weight: 10 }
"#;

#[test]
fn weights_whose_sum_overflows_are_refused() {
    let y = BASE.replace("weight: 90", "weight: 1e308").replace("weight: 10", "weight: 1e308");
    assert_eq!(
        problems(&y),
        vec!["groups.g.members: weights of champion and challengers must sum to a finite number (1e308 + 1e308 overflows)"]
    );
    // Large but finite sums are fine.
    let y = BASE.replace("weight: 90", "weight: 1e307").replace("weight: 10", "weight: 1e307");
    assert_eq!(problems(&y), Vec::<String>::new());
}

#[test]
fn denormal_weights_are_refused() {
    let y = BASE.replace("weight: 10", "weight: 5e-324");
    assert_eq!(
        problems(&y),
        vec!["groups.g.members[1].weight: must be 0 or at least 2.2250738585072014e-308 (a subnormal number cannot be a share)"]
    );
    let y = BASE.replace("weight: 10", "weight: 0");
    assert_eq!(problems(&y), Vec::<String>::new(), "zero stays a valid weight");
}

#[test]
fn duplicate_yaml_keys_are_refused_with_their_path() {
    let one = |y: &str, want: &str| {
        let p = problems(y);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].starts_with(want), "{p:?}");
    };
    one(&format!("{BASE}\nproviders:\n  n: {{ kind: mock }}\n"), "providers: duplicate key `providers`");
    let y = BASE.replace("  m: { kind: mock }", "  m: { kind: mock }\n  m: { kind: mock, latency_ms: 5 }");
    one(&y, "providers.m: duplicate key `m`");
    let y = BASE.replace("{ name: b, role: challenger,", "{ name: b, name: c, role: challenger,");
    one(&y, "groups.g.members[1].name: duplicate key `name`");
}

#[test]
fn names_with_control_or_bidi_characters_are_refused() {
    let client = |name: &str, tenant: &str| {
        format!(
            "{BASE}clients:\n  - {{ name: \"{name}\", tenant: \"{tenant}\", key_sha256: \"{}\", groups: [\"*\"] }}\n",
            "a".repeat(64)
        )
    };
    assert_eq!(problems(&client("web", "acme")), Vec::<String>::new());
    for bad in ["we\\nb", "we\\rb", "we\\0b", "we\\tb", "we\\u202Eb", "we\\u2066b", "we\\x1bb", "we b"] {
        let p = problems(&client(bad, "acme"));
        assert_eq!(p.len(), 1, "{bad}: {p:?}");
        assert!(p[0].starts_with("clients[0].name: "), "{bad}: {p:?}");
        assert!(
            !p[0].contains(['\n', '\r', '\0', '\u{202e}', '\u{2066}', '\u{1b}']),
            "messages escape the name: {p:?}"
        );
        let p = problems(&client("web", bad));
        assert_eq!(p.len(), 1, "{bad}: {p:?}");
        assert!(p[0].starts_with("clients[0].tenant: "), "{bad}: {p:?}");
    }
    let y = BASE
        .replace("  m: { kind: mock }", "  \"m\\u202E\": { kind: mock }")
        .replace("provider: m,", "provider: \"m\\u202E\",");
    let p = problems(&y);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("providers.m\\u{202e}: "), "{p:?}");
    for bad in ["gpt\\n4", "gpt\\u2069", "gpt\\0"] {
        let y = BASE.replace("weight: 10 }", &format!("weight: 10, model: \"{bad}\" }}"));
        let p = problems(&y);
        assert_eq!(p.len(), 1, "{bad}: {p:?}");
        assert!(p[0].starts_with("groups.g.members[1].model: "), "{bad}: {p:?}");
    }
    for fine in ["gpt-4o", "meta-llama/Llama-3.1-8B-Instruct", "llama3:8b", "anthropic.claude-3-sonnet-20240229-v1:0"] {
        let y = BASE.replace("weight: 10 }", &format!("weight: 10, model: \"{fine}\" }}"));
        assert_eq!(problems(&y), Vec::<String>::new(), "{fine}");
    }
}

#[test]
fn the_secret_allow_list_takes_only_references() {
    let y = format!("{BASE}admin:\n  secret_allow_list: [\"env:OPENAI_KEY\", \"file:/run/secrets/a\"]\n");
    assert_eq!(problems(&y), Vec::<String>::new());
    let y = format!(
        "{BASE}admin:\n  secret_allow_list: [\"sk-literal\", \"env:\", \"file:relative/path\", \"enc:abcd\"]\n"
    );
    let p = problems(&y);
    assert_eq!(p.len(), 4, "{p:?}");
    for (i, line) in p.iter().enumerate() {
        assert!(line.starts_with(&format!("admin.secret_allow_list[{i}]: ")), "{p:?}");
    }
    assert!(!p.concat().contains("sk-literal"), "a literal is not echoed: {p:?}");
}

#[test]
fn console_session_lengths_are_bounded() {
    let with = |admin: &str| format!("{BASE}admin:\n{admin}");
    assert_eq!(problems(&with("  session_idle_ms: 60000\n  session_absolute_ms: 3600000\n")), Vec::<String>::new());
    for (admin, path) in [
        ("  session_idle_ms: 999\n", "admin.session_idle_ms"),
        ("  session_idle_ms: 7200000\n  session_absolute_ms: 3600000\n", "admin.session_idle_ms"),
        ("  session_absolute_ms: 2592000001\n", "admin.session_absolute_ms"),
        ("  session_absolute_ms: 0\n", "admin.session_absolute_ms"),
    ] {
        let found = problems(&with(admin));
        assert!(found.len() == 1 && found[0].starts_with(path), "{admin}: {found:?}");
    }
}
