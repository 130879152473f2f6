// Wasm side of the wasm-vs-native benchmark: loads a wasm-bindgen Node build of
// this crate and runs the same suite as `wasmbench-native run`, printing its JSON on stdout.
//
//   node bench/wasm/run.mjs PKG_DIR CORPUS QUERIES [OPTIONS_JSON [FILES [ARCHIVE]]]
//
// PKG_DIR holds edge_assistant_wasmbench.js (+ _bg.wasm) from `wasm-bindgen --target
// experimental-nodejs-module` (ES module output: the worker crate's JS snippets linked into the
// module are ES modules, which the CommonJS `--target nodejs` output cannot require).
// FILES is the scanner's file bundle (`wasmbench-native bundle`), ARCHIVE a tar.gz; both are read
// here and handed to wasm as bytes (wasm cannot read files); a missing or empty argument skips it.
// Timing happens inside the wasm module with performance.now(), like Instant natively.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [pkgDir, corpusPath, queriesPath, options = "{}", filesPath, archivePath] = process.argv.slice(2);
if (!pkgDir || !corpusPath || !queriesPath) {
  console.error("usage: node run.mjs PKG_DIR CORPUS QUERIES [OPTIONS_JSON [FILES [ARCHIVE]]]");
  process.exit(2);
}
const wasm = await import(pathToFileURL(resolve(pkgDir, "edge_assistant_wasmbench.js")).href);
const corpus = readFileSync(corpusPath, "utf8");
const queries = readFileSync(queriesPath, "utf8");
const bytes = (path) => (path ? readFileSync(path) : new Uint8Array(0));
const result = JSON.parse(wasm.run_suite(corpus, queries, bytes(filesPath), bytes(archivePath), options));
result.runtime = `node ${process.version}`;
result.memory_mb = process.memoryUsage().arrayBuffers / 1e6;
console.log(JSON.stringify(result));
