//! Reads the configuration from the environment once per isolate and keeps the validated result.
//!
//! Vars and secrets do not change during an isolate's life, so validating them on every request
//! would be wasted work. An invalid value is kept as the error and logged once; every request
//! then answers 503 `not_configured` naming the variable.

use std::cell::RefCell;
use std::rc::Rc;

use worker::Env;

use crate::config::{Config, ConfigError, RawConfig};

use super::log;

thread_local! {
    static CONFIG: RefCell<Option<Result<Rc<Config>, ConfigError>>> = const { RefCell::new(None) };
}

/// The validated configuration, reading and validating the environment on first use.
pub fn load(env: &Env) -> Result<Rc<Config>, ConfigError> {
    if let Some(done) = CONFIG.with(|c| c.borrow().clone()) {
        return done;
    }
    let raw = RawConfig::from_lookup(|name| {
        env.var(name)
            .map(|v| v.to_string())
            .or_else(|_| env.secret(name).map(|s| s.to_string()))
            .ok()
    });
    let result = Config::from_raw(&raw).map(Rc::new);
    if let Err(err) = &result {
        log::event(
            "config_invalid",
            serde_json::json!({ "var": err.var, "message": err.to_string() }),
        );
    }
    CONFIG.with(|c| *c.borrow_mut() = Some(result.clone()));
    result
}

/// The configuration if it was loaded and valid (for response decoration after a request).
pub fn cached() -> Option<Rc<Config>> {
    CONFIG.with(|c| c.borrow().clone().and_then(Result::ok))
}
