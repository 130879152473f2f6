//! Typed configuration, validated in two phases (ripgrep's `LowArgs` → `HiArgs`).
//!
//! The edge reads the `wrangler.toml` vars and secrets once per isolate into [`RawConfig`] (plain
//! optional strings); [`Config::from_raw`] validates them against documented bounds and fills the
//! documented defaults. A present but invalid value is an error naming the variable — never a silent
//! fallback — and the edge answers 503 `not_configured` with that message until it is fixed.
//!
//! `DEV_MODE = "1"` marks local development (`.dev.vars` and the test harness set it; wrangler.toml
//! never does). Only then are the public secret of `.dev.vars.example` and the test-only fault
//! injection (`FAULT_FAIL_ALARMS`) accepted, so neither can reach a deployment by accident.

use crate::api::{ErrorCode, HasErrorCode};

/// The configuration as read from the environment: every value optional and unparsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawConfig {
    pub flush_max_pending: Option<String>,
    pub flush_interval_ms: Option<String>,
    pub max_message_bytes: Option<String>,
    pub search_upstream_url: Option<String>,
    pub cache_max_entries: Option<String>,
    pub cache_max_bytes: Option<String>,
    pub cache_ttl_seconds: Option<String>,
    pub allowed_origins: Option<String>,
    pub rate_limit_per_minute: Option<String>,
    pub run_idle_expiry_seconds: Option<String>,
    pub auth_secret: Option<String>,
    pub dev_mode: Option<String>,
    pub fault_fail_alarms: Option<String>,
    pub fault_web_cache: Option<String>,
    pub llm_upstream_url: Option<String>,
    pub llm_model: Option<String>,
    pub llm_api_key: Option<String>,
    pub llm_max_output_tokens: Option<String>,
    pub llm_context_tokens: Option<String>,
    pub llm_first_byte_timeout_ms: Option<String>,
    pub llm_idle_timeout_ms: Option<String>,
    pub user_daily_tokens: Option<String>,
    pub workspace_max_archive_bytes: Option<String>,
    pub workspace_max_file_bytes: Option<String>,
}

impl RawConfig {
    /// The variable names, in the order of the fields above (for docs and the edge's reader).
    pub const VARS: [&'static str; 24] = [
        "FLUSH_MAX_PENDING",
        "FLUSH_INTERVAL_MS",
        "MAX_MESSAGE_BYTES",
        "SEARCH_UPSTREAM_URL",
        "CACHE_MAX_ENTRIES",
        "CACHE_MAX_BYTES",
        "CACHE_TTL_SECONDS",
        "ALLOWED_ORIGINS",
        "RATE_LIMIT_PER_MINUTE",
        "RUN_IDLE_EXPIRY_SECONDS",
        "AUTH_SECRET",
        "DEV_MODE",
        "FAULT_FAIL_ALARMS",
        "FAULT_WEB_CACHE",
        "LLM_UPSTREAM_URL",
        "LLM_MODEL",
        "LLM_API_KEY",
        "LLM_MAX_OUTPUT_TOKENS",
        "LLM_CONTEXT_TOKENS",
        "LLM_FIRST_BYTE_TIMEOUT_MS",
        "LLM_IDLE_TIMEOUT_MS",
        "USER_DAILY_TOKENS",
        "WORKSPACE_MAX_ARCHIVE_BYTES",
        "WORKSPACE_MAX_FILE_BYTES",
    ];

    /// Builds a raw config from a lookup function (`env.var` / `env.secret` in the edge).
    pub fn from_lookup(mut lookup: impl FnMut(&str) -> Option<String>) -> Self {
        let mut next = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        Self {
            flush_max_pending: next("FLUSH_MAX_PENDING"),
            flush_interval_ms: next("FLUSH_INTERVAL_MS"),
            max_message_bytes: next("MAX_MESSAGE_BYTES"),
            search_upstream_url: next("SEARCH_UPSTREAM_URL"),
            cache_max_entries: next("CACHE_MAX_ENTRIES"),
            cache_max_bytes: next("CACHE_MAX_BYTES"),
            cache_ttl_seconds: next("CACHE_TTL_SECONDS"),
            allowed_origins: next("ALLOWED_ORIGINS"),
            rate_limit_per_minute: next("RATE_LIMIT_PER_MINUTE"),
            run_idle_expiry_seconds: next("RUN_IDLE_EXPIRY_SECONDS"),
            auth_secret: next("AUTH_SECRET"),
            dev_mode: next("DEV_MODE"),
            fault_fail_alarms: next("FAULT_FAIL_ALARMS"),
            fault_web_cache: next("FAULT_WEB_CACHE"),
            llm_upstream_url: next("LLM_UPSTREAM_URL"),
            llm_model: next("LLM_MODEL"),
            llm_api_key: next("LLM_API_KEY"),
            llm_max_output_tokens: next("LLM_MAX_OUTPUT_TOKENS"),
            llm_context_tokens: next("LLM_CONTEXT_TOKENS"),
            llm_first_byte_timeout_ms: next("LLM_FIRST_BYTE_TIMEOUT_MS"),
            llm_idle_timeout_ms: next("LLM_IDLE_TIMEOUT_MS"),
            user_daily_tokens: next("USER_DAILY_TOKENS"),
            workspace_max_archive_bytes: next("WORKSPACE_MAX_ARCHIVE_BYTES"),
            workspace_max_file_bytes: next("WORKSPACE_MAX_FILE_BYTES"),
        }
    }
}

/// Validated configuration with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Pending messages that trigger a flush. 1..=100, default 10.
    pub flush_max_pending: u32,
    /// Delay from the first pending append to the alarm flush, in ms. 10..=3_600_000, default 5000.
    pub flush_interval_ms: u64,
    /// Largest accepted message content, in UTF-8 bytes. 1..=65536, default 32768.
    pub max_message_bytes: usize,
    /// Base URL of the SearXNG-compatible upstream (http or https); `None` disables web search.
    pub search_upstream_url: Option<String>,
    /// Most entries the KV web-search cache may hold. 1..=1_000_000, default 10_000.
    pub cache_max_entries: u64,
    /// Most value bytes the KV web-search cache may hold. 1024..=1 GiB, default 64 MiB.
    pub cache_max_bytes: u64,
    /// Freshness lifetime of a cached result set, in seconds. 1..=604_800, default 3600.
    pub cache_ttl_seconds: u64,
    /// Origins allowed for cross-origin browser calls (exact `scheme://host[:port]` matches).
    pub allowed_origins: Vec<String>,
    /// Requests per user per minute before 429. 1..=1_000_000, default 600.
    pub rate_limit_per_minute: u32,
    /// A rollout run neither created nor stepped for this long is deleted (its own alarm).
    pub run_idle_expiry_seconds: u64,
    /// HS256 secret for bearer tokens; `None` makes authenticated routes answer 503.
    pub auth_secret: Option<String>,
    /// Local development (`DEV_MODE = "1"`, set only by `.dev.vars` and the test harness, never
    /// in wrangler.toml): allows the public secret of `.dev.vars.example` and fault injection.
    pub dev_mode: bool,
    /// Fault injection for the reliability tests: each tab object's first N alarm runs fail as a
    /// flush failure would. 0..=1000, default 0; any value without `dev_mode` is an error.
    pub fault_fail_alarms: u32,
    /// Injected web-cache failures (`FAULT_WEB_CACHE`, tests only); all zero unless `dev_mode`.
    pub web_cache_faults: WebCacheFaults,
    /// The language model behind assistant replies; `None` (no `LLM_UPSTREAM_URL`) makes the
    /// reply routes answer 503 `not_configured`.
    pub llm: Option<LlmUpstream>,
    /// Most tokens one reply may generate (`max_tokens` of the request). 1..=100_000, default 1024.
    pub llm_max_output_tokens: u32,
    /// The model's context window in tokens: the prompt is fitted into this minus
    /// `llm_max_output_tokens` (estimated, `assistant::llm::tokens`). 1024..=2_000_000, default
    /// 8192, and more than `llm_max_output_tokens`.
    pub llm_context_tokens: u32,
    /// A reply whose upstream sends no body byte this long after the request fails as
    /// `upstream_timeout`. 100..=600_000 ms, default 30_000.
    pub llm_first_byte_timeout_ms: u64,
    /// A reply whose upstream then sends nothing for this long fails as `upstream_timeout`.
    /// 100..=600_000 ms, default 30_000.
    pub llm_idle_timeout_ms: u64,
    /// Tokens (prompt + completion) one user may spend per UTC day. 1..=1_000_000_000,
    /// default 200_000.
    pub user_daily_tokens: u64,
    /// Largest archive `PUT /api/workspaces/{id}/archive` accepts, in bytes (413 beyond).
    /// 1024..=104_857_600, default 33_554_432 (32 MiB).
    pub workspace_max_archive_bytes: u64,
    /// Largest single file a workspace keeps (an archive entry over it is skipped as
    /// `too_large`; a single-file PUT over it is 413). 1024..=16_777_216, default 1_048_576.
    pub workspace_max_file_bytes: u64,
}

/// Where and how to call the OpenAI-compatible Chat Completions API (`LLM_UPSTREAM_URL`,
/// `LLM_MODEL`, secret `LLM_API_KEY`).
#[derive(Clone, PartialEq, Eq)]
pub struct LlmUpstream {
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:11434/v1`; requests go to
    /// `{url}/chat/completions`.
    pub url: String,
    /// The model name sent in each request (a reply may name another).
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set (Ollama and llama.cpp need none).
    pub api_key: Option<String>,
}

// Hand-written so that a debug print of the config (logs, test failures) never shows the key.
impl std::fmt::Debug for LlmUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmUpstream")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// The `AUTH_SECRET` of `.dev.vars.example`: public (it is in the repository), so tokens signed
/// with it prove nothing. Accepted only in [`Config::dev_mode`].
pub const DEV_AUTH_SECRET: &str = "dev-only-secret-change-me-0123456789abcdef";

impl Default for Config {
    fn default() -> Self {
        Self {
            flush_max_pending: 10,
            flush_interval_ms: 5000,
            max_message_bytes: 32 * 1024,
            search_upstream_url: None,
            cache_max_entries: 10_000,
            cache_max_bytes: 64 * 1024 * 1024,
            cache_ttl_seconds: 3600,
            allowed_origins: Vec::new(),
            rate_limit_per_minute: 600,
            run_idle_expiry_seconds: 7 * 24 * 3600,
            auth_secret: None,
            dev_mode: false,
            fault_fail_alarms: 0,
            web_cache_faults: WebCacheFaults::default(),
            llm: None,
            llm_max_output_tokens: 1024,
            llm_context_tokens: 8192,
            llm_first_byte_timeout_ms: 30_000,
            llm_idle_timeout_ms: 30_000,
            user_daily_tokens: 200_000,
            workspace_max_archive_bytes: 32 * 1024 * 1024,
            workspace_max_file_bytes: 1024 * 1024,
        }
    }
}

/// A configuration variable holds a value outside its documented form or bounds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration variable {var} is invalid: {reason}; fix it in wrangler.toml [vars] (or .dev.vars / `wrangler secret put` for secrets)")]
pub struct ConfigError {
    /// The variable's name, e.g. `FLUSH_MAX_PENDING`.
    pub var: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl HasErrorCode for ConfigError {
    fn error_code(&self) -> ErrorCode {
        ErrorCode::NotConfigured
    }
}

fn bounded<T>(
    var: &'static str,
    raw: &Option<String>,
    min: T,
    max: T,
    default: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(raw) = raw else {
        return Ok(default);
    };
    let value: T = raw.trim().parse().map_err(|_| ConfigError {
        var,
        reason: format!("expected an integer in {min}..={max}, got `{raw}`"),
    })?;
    if value < min || value > max {
        return Err(ConfigError {
            var,
            reason: format!("expected a value in {min}..={max}, got {value}"),
        });
    }
    Ok(value)
}

fn http_url(var: &'static str, raw: &str) -> Result<String, ConfigError> {
    let url = raw.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| ConfigError {
            var,
            reason: format!("expected an http:// or https:// URL, got `{raw}`"),
        })?;
    if rest.is_empty() || rest.contains(char::is_whitespace) || rest.contains(['?', '#']) {
        return Err(ConfigError {
            var,
            reason: format!("expected a base URL without query or fragment, got `{raw}`"),
        });
    }
    Ok(url.to_owned())
}

fn origins(raw: &Option<String>) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|origin| {
            let url = http_url("ALLOWED_ORIGINS", origin)?;
            let host = url.split_once("://").map(|(_, h)| h).unwrap_or_default();
            if host.contains('/') {
                return Err(ConfigError {
                    var: "ALLOWED_ORIGINS",
                    reason: format!("`{origin}` is not an origin (scheme://host[:port], no path)"),
                });
            }
            Ok(url)
        })
        .collect()
}

/// `DEV_MODE`: exactly `1` (on) or `0` (off); anything else is a typo that must not be guessed.
fn dev_flag(raw: &Option<String>) -> Result<bool, ConfigError> {
    match raw.as_deref().map(str::trim) {
        None | Some("0") => Ok(false),
        Some("1") => Ok(true),
        Some(other) => Err(ConfigError {
            var: "DEV_MODE",
            reason: format!("expected `1` (local development) or `0`, got `{other}`"),
        }),
    }
}

/// Failure rates (percent, 0..=100) injected into the web cache's writes, so the end-to-end tests
/// can show that a miss still answers and that the KV bound holds when KV or the shard fails.
/// Set with `FAULT_WEB_CACHE = "admit:10,kv_put:30,kv_delete:30,drop_miss:1"`; honoured only with
/// `DEV_MODE`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebCacheFaults {
    /// The worker's admission call to the cache shard fails before it is sent.
    pub admit_percent: u8,
    /// A KV put of a cached value fails: half of these before the value is written, half after
    /// (the caller cannot tell whether it landed).
    pub kv_put_percent: u8,
    /// A KV delete of an evicted value fails before it is issued.
    pub kv_delete_percent: u8,
    /// A count, not a percentage: the first N web-search misses of each isolate stop 200 ms in
    /// and their future is dropped, as the runtime may do with a cancelled request's.
    pub drop_misses: u8,
    /// A count: the N misses after those stop 200 ms in and their future is leaked, never polled
    /// nor dropped again (a cancelled request whose future the runtime just abandons).
    pub freeze_misses: u8,
}

fn web_cache_faults(raw: &Option<String>, dev_mode: bool) -> Result<WebCacheFaults, ConfigError> {
    const VAR: &str = "FAULT_WEB_CACHE";
    let Some(raw) = raw else {
        return Ok(WebCacheFaults::default());
    };
    let invalid = |reason: String| ConfigError { var: VAR, reason };
    if !dev_mode {
        // Never silently active in a deployment: a stray fault var is a configuration error.
        return Err(invalid(
            "fault injection is for tests and needs DEV_MODE=1; remove it".into(),
        ));
    }
    let mut faults = WebCacheFaults::default();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, percent) = part
            .split_once(':')
            .ok_or_else(|| invalid(format!("expected `point:percent` items, got `{part}`")))?;
        let percent: u8 = percent
            .trim()
            .parse()
            .ok()
            .filter(|p| *p <= 100)
            .ok_or_else(|| invalid(format!("expected 0..=100 in `{part}`")))?;
        let slot = match name.trim() {
            "admit" => &mut faults.admit_percent,
            "kv_put" => &mut faults.kv_put_percent,
            "kv_delete" => &mut faults.kv_delete_percent,
            "drop_miss" => &mut faults.drop_misses,
            "freeze_miss" => &mut faults.freeze_misses,
            other => {
                return Err(invalid(format!(
                    "unknown fault point `{other}`; known: admit, kv_put, kv_delete, drop_miss, \
                     freeze_miss"
                )))
            }
        };
        *slot = percent;
    }
    Ok(faults)
}

/// Largest accepted `LLM_MODEL` (bytes); real names are far shorter.
const MAX_MODEL_BYTES: usize = 256;
/// Largest accepted `LLM_API_KEY` (bytes); it becomes one header value.
const MAX_API_KEY_BYTES: usize = 4096;

/// `LLM_UPSTREAM_URL`, `LLM_MODEL`, `LLM_API_KEY`: the model is required with a URL because no
/// default name works across OpenAI, Ollama and Workers AI, and a guessed one would only fail
/// later, at every reply. A model or key without a URL is ignored (replies are off), so a key
/// left in `.dev.vars` while the URL is switched off does not take the whole API down.
fn llm_upstream(raw: &RawConfig) -> Result<Option<LlmUpstream>, ConfigError> {
    let Some(url) = raw.llm_upstream_url.as_deref() else {
        return Ok(None);
    };
    let url = http_url("LLM_UPSTREAM_URL", url)?;
    let model = raw.llm_model.as_deref().map(str::trim).ok_or(ConfigError {
        var: "LLM_MODEL",
        reason: "required when LLM_UPSTREAM_URL is set (e.g. `llama3.2` for Ollama, \
                 `gpt-4o-mini` for OpenAI)"
            .to_owned(),
    })?;
    if model.len() > MAX_MODEL_BYTES || model.chars().any(char::is_control) {
        return Err(ConfigError {
            var: "LLM_MODEL",
            reason: format!(
                "expected a model name of at most {MAX_MODEL_BYTES} bytes without control \
                 characters"
            ),
        });
    }
    // Trimmed: a newline from `echo … | wrangler secret put` must not end up in the header.
    let api_key = match raw.llm_api_key.as_deref().map(str::trim) {
        None => None,
        Some(key)
            if key.len() > MAX_API_KEY_BYTES || !key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            // The value itself is never echoed: it is a secret.
            return Err(ConfigError {
                var: "LLM_API_KEY",
                reason: format!(
                    "expected at most {MAX_API_KEY_BYTES} visible ASCII characters without \
                     spaces (it is sent as a bearer token)"
                ),
            });
        }
        Some(key) => Some(key.to_owned()),
    };
    Ok(Some(LlmUpstream {
        url,
        model: model.to_owned(),
        api_key,
    }))
}

impl Config {
    /// Validates a raw config. Errors name the first invalid variable; `DEV_MODE` is read first
    /// because it decides whether the public dev secret and fault injection are allowed.
    pub fn from_raw(raw: &RawConfig) -> Result<Self, ConfigError> {
        let d = Config::default();
        let dev_mode = dev_flag(&raw.dev_mode)?;
        let auth_secret = match &raw.auth_secret {
            Some(secret) if secret.len() < 32 => {
                return Err(ConfigError {
                    var: "AUTH_SECRET",
                    reason: format!(
                        "must be at least 32 bytes of random data, got {} bytes",
                        secret.len()
                    ),
                })
            }
            // Trimmed: a stray newline from `echo … | wrangler secret put` would change the key
            // bytes but not how easily the value is guessed.
            Some(secret) if secret.trim() == DEV_AUTH_SECRET && !dev_mode => {
                return Err(ConfigError {
                    var: "AUTH_SECRET",
                    reason: "it is the public development secret from .dev.vars.example \
                             (anyone can sign tokens with it), accepted only with DEV_MODE = \"1\" \
                             for local development; set a random secret of at least 32 bytes"
                        .to_owned(),
                })
            }
            other => other.clone(),
        };
        if raw.fault_fail_alarms.is_some() && !dev_mode {
            return Err(ConfigError {
                var: "FAULT_FAIL_ALARMS",
                reason: "fault injection for the tests is honoured only with DEV_MODE = \"1\"; \
                         remove it"
                    .to_owned(),
            });
        }
        let llm_max_output_tokens = bounded(
            "LLM_MAX_OUTPUT_TOKENS",
            &raw.llm_max_output_tokens,
            1,
            100_000,
            d.llm_max_output_tokens,
        )?;
        let llm_context_tokens = bounded(
            "LLM_CONTEXT_TOKENS",
            &raw.llm_context_tokens,
            1024,
            2_000_000,
            d.llm_context_tokens,
        )?;
        if llm_context_tokens <= llm_max_output_tokens {
            // Otherwise no prompt could fit beside the reply.
            return Err(ConfigError {
                var: "LLM_CONTEXT_TOKENS",
                reason: format!(
                    "must be larger than LLM_MAX_OUTPUT_TOKENS ({llm_max_output_tokens}), got \
                     {llm_context_tokens}"
                ),
            });
        }
        Ok(Self {
            flush_max_pending: bounded(
                "FLUSH_MAX_PENDING",
                &raw.flush_max_pending,
                1,
                100,
                d.flush_max_pending,
            )?,
            flush_interval_ms: bounded(
                "FLUSH_INTERVAL_MS",
                &raw.flush_interval_ms,
                10,
                3_600_000,
                d.flush_interval_ms,
            )?,
            max_message_bytes: bounded(
                "MAX_MESSAGE_BYTES",
                &raw.max_message_bytes,
                1,
                crate::chat::model::MAX_MAX_MESSAGE_BYTES,
                d.max_message_bytes,
            )?,
            search_upstream_url: raw
                .search_upstream_url
                .as_deref()
                .map(|u| http_url("SEARCH_UPSTREAM_URL", u))
                .transpose()?,
            cache_max_entries: bounded(
                "CACHE_MAX_ENTRIES",
                &raw.cache_max_entries,
                1,
                1_000_000,
                d.cache_max_entries,
            )?,
            cache_max_bytes: bounded(
                "CACHE_MAX_BYTES",
                &raw.cache_max_bytes,
                1024,
                1 << 30,
                d.cache_max_bytes,
            )?,
            cache_ttl_seconds: bounded(
                "CACHE_TTL_SECONDS",
                &raw.cache_ttl_seconds,
                1,
                604_800,
                d.cache_ttl_seconds,
            )?,
            allowed_origins: origins(&raw.allowed_origins)?,
            rate_limit_per_minute: bounded(
                "RATE_LIMIT_PER_MINUTE",
                &raw.rate_limit_per_minute,
                1,
                1_000_000,
                d.rate_limit_per_minute,
            )?,
            run_idle_expiry_seconds: bounded(
                "RUN_IDLE_EXPIRY_SECONDS",
                &raw.run_idle_expiry_seconds,
                1,
                31_536_000,
                d.run_idle_expiry_seconds,
            )?,
            auth_secret,
            dev_mode,
            fault_fail_alarms: bounded(
                "FAULT_FAIL_ALARMS",
                &raw.fault_fail_alarms,
                0,
                1000,
                d.fault_fail_alarms,
            )?,
            web_cache_faults: web_cache_faults(&raw.fault_web_cache, dev_mode)?,
            llm: llm_upstream(raw)?,
            llm_max_output_tokens,
            llm_context_tokens,
            llm_first_byte_timeout_ms: bounded(
                "LLM_FIRST_BYTE_TIMEOUT_MS",
                &raw.llm_first_byte_timeout_ms,
                100,
                600_000,
                d.llm_first_byte_timeout_ms,
            )?,
            llm_idle_timeout_ms: bounded(
                "LLM_IDLE_TIMEOUT_MS",
                &raw.llm_idle_timeout_ms,
                100,
                600_000,
                d.llm_idle_timeout_ms,
            )?,
            user_daily_tokens: bounded(
                "USER_DAILY_TOKENS",
                &raw.user_daily_tokens,
                1,
                1_000_000_000,
                d.user_daily_tokens,
            )?,
            workspace_max_archive_bytes: bounded(
                "WORKSPACE_MAX_ARCHIVE_BYTES",
                &raw.workspace_max_archive_bytes,
                1024,
                100 * 1024 * 1024,
                d.workspace_max_archive_bytes,
            )?,
            workspace_max_file_bytes: bounded(
                "WORKSPACE_MAX_FILE_BYTES",
                &raw.workspace_max_file_bytes,
                1024,
                16 * 1024 * 1024,
                d.workspace_max_file_bytes,
            )?,
        })
    }

    /// Tokens the prompt may take: the context window less the room kept for the reply.
    pub fn llm_prompt_tokens(&self) -> u32 {
        self.llm_context_tokens
            .saturating_sub(self.llm_max_output_tokens)
    }

    /// Whether a browser at `origin` may call the API cross-origin.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o == origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawConfig {
        RawConfig::from_lookup(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn empty_environment_gives_documented_defaults() {
        assert_eq!(Config::from_raw(&raw(&[])).unwrap(), Config::default());
        assert_eq!(Config::default().flush_max_pending, 10);
        assert_eq!(Config::default().flush_interval_ms, 5000);
        assert_eq!(Config::default().max_message_bytes, 32768);
    }

    #[test]
    fn valid_values_are_parsed() {
        let config = Config::from_raw(&raw(&[
            ("FLUSH_MAX_PENDING", "3"),
            ("SEARCH_UPSTREAM_URL", "http://127.0.0.1:9001/"),
            (
                "ALLOWED_ORIGINS",
                "https://app.example, http://localhost:5173",
            ),
            ("AUTH_SECRET", "0123456789abcdef0123456789abcdef"),
        ]))
        .unwrap();
        assert_eq!(config.flush_max_pending, 3);
        assert_eq!(
            config.search_upstream_url.as_deref(),
            Some("http://127.0.0.1:9001")
        );
        assert!(config.origin_allowed("http://localhost:5173"));
        assert!(!config.origin_allowed("http://evil.example"));
    }

    #[test]
    fn invalid_values_fail_naming_the_variable() {
        let var = |pairs: &[(&str, &str)]| Config::from_raw(&raw(pairs)).unwrap_err().var;
        assert_eq!(var(&[("FLUSH_MAX_PENDING", "ten")]), "FLUSH_MAX_PENDING");
        assert_eq!(var(&[("FLUSH_MAX_PENDING", "0")]), "FLUSH_MAX_PENDING");
        assert_eq!(
            var(&[("MAX_MESSAGE_BYTES", "99999999")]),
            "MAX_MESSAGE_BYTES"
        );
        assert_eq!(
            var(&[("SEARCH_UPSTREAM_URL", "ftp://x")]),
            "SEARCH_UPSTREAM_URL"
        );
        assert_eq!(
            var(&[("ALLOWED_ORIGINS", "https://a.example/path")]),
            "ALLOWED_ORIGINS"
        );
        assert_eq!(var(&[("AUTH_SECRET", "short")]), "AUTH_SECRET");
        assert_eq!(var(&[("CACHE_TTL_SECONDS", "-5")]), "CACHE_TTL_SECONDS");
    }

    const DEV_SECRET: &str = "dev-only-secret-change-me-0123456789abcdef";

    #[test]
    fn the_public_dev_secret_is_refused_without_dev_mode() {
        let err = Config::from_raw(&raw(&[("AUTH_SECRET", DEV_SECRET)])).unwrap_err();
        assert_eq!(err.var, "AUTH_SECRET");
        assert!(err.to_string().contains("DEV_MODE"), "{err}");
        // Padding does not sneak it past the check.
        let padded = format!(" {DEV_SECRET}\n");
        let err = Config::from_raw(&raw(&[("AUTH_SECRET", &padded)])).unwrap_err();
        assert_eq!(err.var, "AUTH_SECRET");
        let off = raw(&[("AUTH_SECRET", DEV_SECRET), ("DEV_MODE", "0")]);
        assert_eq!(Config::from_raw(&off).unwrap_err().var, "AUTH_SECRET");
    }

    #[test]
    fn the_public_dev_secret_is_accepted_in_dev_mode() {
        let config =
            Config::from_raw(&raw(&[("AUTH_SECRET", DEV_SECRET), ("DEV_MODE", "1")])).unwrap();
        assert!(config.dev_mode);
        assert_eq!(config.auth_secret.as_deref(), Some(DEV_SECRET));
    }

    #[test]
    fn the_known_dev_secret_is_the_one_in_dev_vars_example() {
        assert_eq!(DEV_AUTH_SECRET, DEV_SECRET);
        let example = include_str!("../.dev.vars.example");
        assert!(
            example.contains(&format!("AUTH_SECRET=\"{DEV_AUTH_SECRET}\"")),
            ".dev.vars.example and config::DEV_AUTH_SECRET must agree"
        );
        assert!(example.contains("DEV_MODE=\"1\""), "{example}");
    }

    #[test]
    fn dev_mode_accepts_only_0_or_1() {
        assert!(!Config::from_raw(&raw(&[])).unwrap().dev_mode);
        assert!(
            !Config::from_raw(&raw(&[("DEV_MODE", "0")]))
                .unwrap()
                .dev_mode
        );
        assert!(
            Config::from_raw(&raw(&[("DEV_MODE", " 1 ")]))
                .unwrap()
                .dev_mode
        );
        for bad in ["true", "yes", "2", "on"] {
            let err = Config::from_raw(&raw(&[("DEV_MODE", bad)])).unwrap_err();
            assert_eq!(err.var, "DEV_MODE", "{bad}");
        }
    }

    #[test]
    fn fault_injection_needs_dev_mode_and_a_valid_count() {
        assert_eq!(Config::from_raw(&raw(&[])).unwrap().fault_fail_alarms, 0);
        let on = |v: &str| Config::from_raw(&raw(&[("DEV_MODE", "1"), ("FAULT_FAIL_ALARMS", v)]));
        assert_eq!(on("1").unwrap().fault_fail_alarms, 1);
        assert_eq!(on("0").unwrap().fault_fail_alarms, 0);
        assert_eq!(on("1000").unwrap().fault_fail_alarms, 1000);
        for bad in ["one", "-1", "1.5", "1001", "99999999999"] {
            assert_eq!(on(bad).unwrap_err().var, "FAULT_FAIL_ALARMS", "{bad}");
        }
        // Without the dev flag any value is an error, so it cannot be switched on by accident.
        for value in ["1", "0", "one"] {
            let err = Config::from_raw(&raw(&[("FAULT_FAIL_ALARMS", value)])).unwrap_err();
            assert_eq!(err.var, "FAULT_FAIL_ALARMS", "{value}");
            assert!(err.to_string().contains("DEV_MODE"), "{err}");
        }
        let off = raw(&[("DEV_MODE", "0"), ("FAULT_FAIL_ALARMS", "1")]);
        assert_eq!(Config::from_raw(&off).unwrap_err().var, "FAULT_FAIL_ALARMS");
    }

    #[test]
    fn run_idle_expiry_defaults_to_a_week_and_is_bounded() {
        assert_eq!(
            Config::from_raw(&raw(&[])).unwrap().run_idle_expiry_seconds,
            604_800
        );
        let set = |v: &str| Config::from_raw(&raw(&[("RUN_IDLE_EXPIRY_SECONDS", v)]));
        assert_eq!(set("2").unwrap().run_idle_expiry_seconds, 2);
        for bad in ["0", "-1", "31536001", "week"] {
            assert_eq!(
                set(bad).unwrap_err().var,
                "RUN_IDLE_EXPIRY_SECONDS",
                "{bad}"
            );
        }
    }

    #[test]
    fn wrangler_toml_never_sets_the_dev_only_vars() {
        // Deployed vars come from wrangler.toml: the dev flag and fault injection must only ever
        // come from .dev.vars or the test harness.
        for line in include_str!("../wrangler.toml").lines() {
            let name = line.split('=').next().unwrap_or_default().trim();
            assert!(
                name != "DEV_MODE" && name != "FAULT_FAIL_ALARMS",
                "wrangler.toml sets {name}"
            );
        }
    }

    #[test]
    fn web_cache_faults_need_dev_mode_and_valid_points() {
        let faults = |pairs: &[(&str, &str)]| Config::from_raw(&raw(pairs));
        assert_eq!(
            faults(&[]).unwrap().web_cache_faults,
            WebCacheFaults::default()
        );
        let on = faults(&[
            ("DEV_MODE", "1"),
            (
                "FAULT_WEB_CACHE",
                "admit:5, kv_put:30,kv_delete:100,drop_miss:1,freeze_miss:2",
            ),
        ])
        .unwrap();
        assert!(on.dev_mode);
        assert_eq!(
            on.web_cache_faults,
            WebCacheFaults {
                admit_percent: 5,
                kv_put_percent: 30,
                kv_delete_percent: 100,
                drop_misses: 1,
                freeze_misses: 2,
            }
        );
        assert_eq!(faults(&[("DEV_MODE", "TRUE")]).unwrap_err().var, "DEV_MODE");
        assert!(!faults(&[("DEV_MODE", "0")]).unwrap().dev_mode);
        for bad in [
            &[("FAULT_WEB_CACHE", "kv_put:30")][..],
            &[("DEV_MODE", "1"), ("FAULT_WEB_CACHE", "kv_put:101")],
            &[("DEV_MODE", "1"), ("FAULT_WEB_CACHE", "kv_put")],
            &[("DEV_MODE", "1"), ("FAULT_WEB_CACHE", "disk:5")],
        ] {
            assert_eq!(faults(bad).unwrap_err().var, "FAULT_WEB_CACHE", "{bad:?}");
        }
    }

    #[test]
    fn llm_is_off_without_a_url_and_has_documented_defaults() {
        let config = Config::from_raw(&raw(&[])).unwrap();
        assert_eq!(config.llm, None);
        assert_eq!(config.llm_max_output_tokens, 1024);
        assert_eq!(config.llm_context_tokens, 8192);
        assert_eq!(config.llm_prompt_tokens(), 8192 - 1024);
        assert_eq!(config.llm_first_byte_timeout_ms, 30_000);
        assert_eq!(config.llm_idle_timeout_ms, 30_000);
        assert_eq!(config.user_daily_tokens, 200_000);
        assert_eq!(config.workspace_max_archive_bytes, 32 * 1024 * 1024);
        // A model or key alone does not switch replies on, nor break the rest of the API.
        let alone = Config::from_raw(&raw(&[("LLM_MODEL", "m"), ("LLM_API_KEY", "k")])).unwrap();
        assert_eq!(alone.llm, None);
    }

    #[test]
    fn llm_upstream_is_parsed_and_the_key_never_printed() {
        let config = Config::from_raw(&raw(&[
            ("LLM_UPSTREAM_URL", "http://127.0.0.1:11434/v1/"),
            ("LLM_MODEL", " llama3.2 "),
            ("LLM_API_KEY", "sk-secret-123\n"),
            ("LLM_MAX_OUTPUT_TOKENS", "256"),
            ("LLM_CONTEXT_TOKENS", "4096"),
            ("LLM_FIRST_BYTE_TIMEOUT_MS", "500"),
            ("LLM_IDLE_TIMEOUT_MS", "250"),
            ("USER_DAILY_TOKENS", "5000"),
            ("WORKSPACE_MAX_ARCHIVE_BYTES", "2048"),
            ("WORKSPACE_MAX_FILE_BYTES", "4096"),
        ]))
        .unwrap();
        let llm = config.llm.clone().unwrap();
        assert_eq!(llm.url, "http://127.0.0.1:11434/v1");
        assert_eq!(llm.model, "llama3.2");
        assert_eq!(llm.api_key.as_deref(), Some("sk-secret-123"));
        assert_eq!(config.llm_max_output_tokens, 256);
        assert_eq!(config.llm_context_tokens, 4096);
        assert_eq!(config.llm_first_byte_timeout_ms, 500);
        assert_eq!(config.llm_idle_timeout_ms, 250);
        assert_eq!(config.user_daily_tokens, 5000);
        assert_eq!(config.workspace_max_archive_bytes, 2048);
        assert_eq!(config.workspace_max_file_bytes, 4096);
        let printed = format!("{config:?}");
        assert!(!printed.contains("sk-secret"), "{printed}");
        assert!(printed.contains("<set>"), "{printed}");
    }

    #[test]
    fn invalid_llm_values_fail_naming_the_variable() {
        let url = ("LLM_UPSTREAM_URL", "https://api.openai.com/v1");
        let model = ("LLM_MODEL", "gpt-4o-mini");
        let var = |pairs: &[(&str, &str)]| Config::from_raw(&raw(pairs)).unwrap_err().var;
        assert_eq!(var(&[url]), "LLM_MODEL", "a URL needs a model");
        assert_eq!(
            var(&[("LLM_UPSTREAM_URL", "api.openai.com"), model]),
            "LLM_UPSTREAM_URL"
        );
        assert_eq!(
            var(&[("LLM_UPSTREAM_URL", "http://x/v1?key=1"), model]),
            "LLM_UPSTREAM_URL"
        );
        let long_model = "m".repeat(257);
        assert_eq!(var(&[url, ("LLM_MODEL", &long_model)]), "LLM_MODEL");
        assert_eq!(var(&[url, ("LLM_MODEL", "a\u{7}b")]), "LLM_MODEL");
        for bad_key in ["two words", "tab\there", "caf\u{e9}"] {
            let err = Config::from_raw(&raw(&[url, model, ("LLM_API_KEY", bad_key)])).unwrap_err();
            assert_eq!(err.var, "LLM_API_KEY");
            assert!(
                !err.to_string().contains(bad_key),
                "the secret is not echoed"
            );
        }
        for (name, bad) in [
            ("LLM_MAX_OUTPUT_TOKENS", "0"),
            ("LLM_MAX_OUTPUT_TOKENS", "100001"),
            ("LLM_MAX_OUTPUT_TOKENS", "many"),
            ("LLM_CONTEXT_TOKENS", "1023"),
            ("LLM_CONTEXT_TOKENS", "2000001"),
            ("LLM_FIRST_BYTE_TIMEOUT_MS", "99"),
            ("LLM_FIRST_BYTE_TIMEOUT_MS", "600001"),
            ("LLM_IDLE_TIMEOUT_MS", "-1"),
            ("LLM_IDLE_TIMEOUT_MS", "1.5"),
            ("USER_DAILY_TOKENS", "0"),
            ("USER_DAILY_TOKENS", "1000000001"),
        ] {
            assert_eq!(var(&[(name, bad)]), name, "{name}={bad}");
        }
        // The prompt needs room beside the reply.
        assert_eq!(
            var(&[
                ("LLM_MAX_OUTPUT_TOKENS", "4096"),
                ("LLM_CONTEXT_TOKENS", "4096")
            ]),
            "LLM_CONTEXT_TOKENS"
        );
    }
}
