//! `limits.h2_*` (hyper's h2 server settings) and `admin_tls`: defaults, and every bad
//! value refused with its path.

use switchyard_config::schema::LimitsConfig;
use switchyard_config::{check, validate::parse, ConfigError};

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
      - { name: a, role: champion, provider: m, weight: 1 }
"#;

#[test]
fn h2_limits_have_deliberate_defaults() {
    let l = LimitsConfig::default();
    assert_eq!(
        (
            l.h2_max_concurrent_streams,
            l.h2_max_pending_accept_reset_streams,
            l.h2_max_local_error_reset_streams,
            l.h2_max_header_list_bytes,
            l.h2_max_frame_bytes,
            l.h2_keepalive_interval_ms,
            l.h2_keepalive_timeout_ms,
        ),
        (256, 20, 1024, 65_536, 16_384, 20_000, 20_000)
    );
    let cfg = parse(&format!("limits: {{ h2_max_concurrent_streams: 64, h2_keepalive_interval_ms: 0 }}\n{BASE}"))
        .expect("parses");
    assert_eq!((cfg.limits.h2_max_concurrent_streams, cfg.limits.h2_keepalive_interval_ms), (64, 0));
    assert_eq!(cfg.limits.h2_max_header_list_bytes, 65_536, "unset keys keep their defaults");
}

#[test]
fn bad_h2_limits_are_refused_with_their_paths() {
    let y = format!(
        "limits: {{ h2_max_concurrent_streams: 0, h2_max_pending_accept_reset_streams: 0, \
         h2_max_local_error_reset_streams: 0, h2_max_header_list_bytes: 0, h2_max_frame_bytes: 1024, \
         h2_keepalive_timeout_ms: 0 }}\n{BASE}"
    );
    assert_eq!(
        problems(&y),
        vec![
            "limits.h2_max_concurrent_streams: must be > 0",
            "limits.h2_max_pending_accept_reset_streams: must be > 0",
            "limits.h2_max_local_error_reset_streams: must be > 0",
            "limits.h2_max_header_list_bytes: must be > 0",
            "limits.h2_keepalive_timeout_ms: must be > 0",
            "limits.h2_max_frame_bytes: must be between 16384 and 16777215",
        ]
    );
    let y = format!("limits: {{ h2_max_frame_bytes: 16777216 }}\n{BASE}");
    assert_eq!(problems(&y), vec!["limits.h2_max_frame_bytes: must be between 16384 and 16777215"]);
    let y = format!("limits: {{ h2_max_concurrent_streams: -1 }}\n{BASE}");
    assert!(problems(&y)[0].starts_with("limits.h2_max_concurrent_streams: invalid type"), "{:?}", problems(&y));
}

#[test]
fn admin_tls_is_its_own_section() {
    let cfg = parse(&format!("admin_tls: {{ cert: /a.crt, key: /a.key }}\n{BASE}")).expect("parses");
    let admin = cfg.admin_tls.expect("admin_tls");
    assert_eq!((admin.cert.as_str(), admin.key.as_str()), ("/a.crt", "/a.key"));
    assert!(cfg.tls.is_none());
    let p = problems(&format!("admin_tls: {{ cert: /a.crt }}\n{BASE}"));
    assert!(p[0].starts_with("admin_tls: missing field `key`"), "{p:?}");
}
