//! The wasm entry point: [`run_suite`](crate::run_suite) exported to JavaScript, timed with the
//! host's `performance.now()` (Node 22 and workerd both provide it as a global).

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str);
}

/// Runs the suite on `corpus` and `queries` (one item per line), the scanner's file bundle
/// `files` and the tar.gz `archive` (empty arrays skip those parts; see [`crate::Inputs`]) with
/// `options_json` (see [`crate::Options`]) and returns the figures as a JSON string; an error
/// string on bad options.
#[wasm_bindgen]
pub fn run_suite(
    corpus: &str,
    queries: &str,
    files: &[u8],
    archive: &[u8],
    options_json: &str,
) -> Result<String, JsError> {
    let options: crate::Options =
        serde_json::from_str(options_json).map_err(|e| JsError::new(&format!("options: {e}")))?;
    let inputs = crate::Inputs {
        corpus,
        queries,
        files,
        archive,
    };
    let result = crate::run_suite(&inputs, &options, &performance_now, &|m| console_error(m));
    Ok(result.to_string())
}
