//! Fuzzes `config::Config::from_raw` (the validation of wrangler vars and secrets): it must
//! never panic, and an accepted config must lie within the documented bounds (and accept the
//! public dev secret or fault injection only with `DEV_MODE`).
#![no_main]

use arbitrary::Arbitrary;
use edge_assistant::config::{Config, RawConfig, DEV_AUTH_SECRET};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    values: [Option<String>; 12],
}

fuzz_target!(|input: Input| {
    let [a, b, c, d, e, f, g, h, i, j, k, l] = input.values;
    let raw = RawConfig {
        flush_max_pending: a,
        flush_interval_ms: b,
        max_message_bytes: c,
        search_upstream_url: d,
        cache_max_entries: e,
        cache_max_bytes: f,
        cache_ttl_seconds: g,
        allowed_origins: h,
        rate_limit_per_minute: i,
        auth_secret: j,
        dev_mode: k,
        fault_fail_alarms: l,
        ..RawConfig::default()
    };
    let Ok(config) = Config::from_raw(&raw) else {
        return;
    };
    assert!((1..=100).contains(&config.flush_max_pending));
    assert!((10..=3_600_000).contains(&config.flush_interval_ms));
    assert!((1..=65_536).contains(&config.max_message_bytes));
    assert!((1..=1_000_000).contains(&config.cache_max_entries));
    assert!((1024..=1 << 30).contains(&config.cache_max_bytes));
    assert!((1..=604_800).contains(&config.cache_ttl_seconds));
    assert!((1..=1_000_000).contains(&config.rate_limit_per_minute));
    assert!(config.auth_secret.as_ref().is_none_or(|s| s.len() >= 32));
    if !config.dev_mode {
        assert!(config.auth_secret.as_deref().map(str::trim) != Some(DEV_AUTH_SECRET));
        assert!(raw.fault_fail_alarms.is_none() && config.fault_fail_alarms == 0);
    }
    assert!(config.fault_fail_alarms <= 1000);
    let http = |u: &str| u.starts_with("http://") || u.starts_with("https://");
    if let Some(url) = &config.search_upstream_url {
        assert!(http(url) && !url.ends_with('/') && !url.contains(['?', '#']));
    }
    for origin in &config.allowed_origins {
        assert!(http(origin) && !origin.ends_with('/'));
        assert!(config.origin_allowed(origin));
    }
});
