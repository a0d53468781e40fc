//! Config loading on any text: `validate::parse`, `validate::validate` and
//! `RoutingTable::build` (with a `()` provider factory) never panic; every problem names
//! what is wrong, and every problem found after parsing names the key (a dotted path); a
//! table that builds has a champion first in every group, finite shares in [0, 1] that sum
//! to 1, and a sampler that always picks an existing member.
//!
//! `file:` secrets are pointed at one small file first, so the fuzzer cannot make the
//! target read `/dev/zero` or a FIFO (the file itself is the operator's).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use switchyard_config::validate::{parse, validate};
use switchyard_config::{ConfigError, ProviderFactory, Role, RoutingTable, SecretRef};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut cfg = match parse(text) {
        Ok(cfg) => cfg,
        Err(e) => {
            problems(&e, false);
            return;
        }
    };
    for p in cfg.providers.values_mut() {
        if p.api_key.as_ref().is_some_and(|k| k.0.starts_with("file:")) {
            p.api_key = Some(SecretRef(format!("file:{}", secret_file())));
        }
    }
    let valid = match validate(&cfg) {
        Ok(()) => true,
        Err(e) => {
            problems(&e, true);
            false
        }
    };
    let factory: &ProviderFactory<()> = &|_| Ok(());
    let table = match RoutingTable::build(cfg, 1, factory) {
        Ok(t) => t,
        Err(e) => {
            problems(&e, true);
            return;
        }
    };
    assert!(valid, "a config that fails validation was built");
    for g in table.groups() {
        assert!(!g.members.is_empty());
        assert_eq!(g.champion().role, Role::Champion);
        assert!(g.members[1..].iter().all(|m| m.role == Role::Challenger));
        assert!(g.shadows.iter().all(|m| m.role == Role::Shadow && (0.0..=1.0).contains(&m.mirror)));
        let sum: f64 = g.members.iter().map(|m| m.share).sum();
        assert!(g.members.iter().all(|m| m.share.is_finite() && (0.0..=1.0).contains(&m.share)), "group {}", g.name);
        assert!((sum - 1.0).abs() < 1e-9 || sum == 0.0, "group {} shares sum to {sum}", g.name);
        for bucket in [0.0, 1e-12, 0.25, 0.5, 0.75, 0.999_999_999, 1.0 - f64::EPSILON] {
            assert!(g.pick(bucket) < g.members.len());
        }
    }
});

fn problems(e: &ConfigError, after_parse: bool) {
    assert!(!e.problems.is_empty(), "an error with no problem");
    for p in &e.problems {
        assert!(!p.message.trim().is_empty(), "a problem without a message at {:?}", p.path);
        if after_parse {
            assert!(!p.path.is_empty(), "a problem without a path: {}", p.message);
        }
    }
}

fn secret_file() -> &'static str {
    static PATH: OnceLock<String> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("switchyard-fuzz-secret-{}", std::process::id()));
        std::fs::write(&path, "sk-fuzz\n").expect("temp dir writable");
        path.display().to_string()
    })
}
