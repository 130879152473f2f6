// Serves the bundled worker from workerd through Miniflare (no `wrangler dev` proxy), for
// bench/rollout_runtime.mjs (via bundled.mjs). Miniflare's own entry layer still caps throughput;
// the load bench uses plain `workerd serve` instead (workerd.mjs). Prints `READY <url>` once up.
// Usage: node bench/load/serve.mjs BUNDLE_DIR [--port N] [--persist DIR] [--var KEY=VALUE ...]
import { Miniflare, convertV4MiniflareOptions } from "miniflare";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

const args = process.argv.slice(2);
const bundleDir = args[0];
if (!bundleDir) {
  console.error("usage: serve.mjs BUNDLE_DIR [--port N] [--persist DIR] [--var KEY=VALUE ...]");
  process.exit(2);
}
let port = 0;
let persist;
const vars = {};
for (let i = 1; i < args.length; i++) {
  if (args[i] === "--port") port = Number(args[++i]);
  else if (args[i] === "--persist") persist = args[++i];
  else if (args[i] === "--var") {
    const [k, ...v] = args[++i].split("=");
    vars[k] = v.join("=");
  }
}

// Vars and bindings come from wrangler.toml (a tiny reader for the [vars] table and bindings
// this project uses), so the harness serves the same configuration as `wrangler dev`.
const toml = readFileSync(new URL("../../wrangler.toml", import.meta.url), "utf8");
const tomlVars = {};
const varsBlock = toml.split(/^\[vars\]$/m)[1]?.split(/^\[/m)[0] ?? "";
for (const m of varsBlock.matchAll(/^([A-Z_]+)\s*=\s*"([^"]*)"/gm)) tomlVars[m[1]] = m[2];
const compatibilityDate = toml.match(/^compatibility_date\s*=\s*"([^"]+)"/m)[1];
const durableObjects = {};
for (const m of toml.matchAll(/\[\[durable_objects\.bindings\]\]\s*name\s*=\s*"([^"]+)"\s*class_name\s*=\s*"([^"]+)"/g)) {
  durableObjects[m[1]] = { className: m[2], useSQLite: true };
}
const kvNamespaces = [...toml.matchAll(/\[\[kv_namespaces\]\]\s*binding\s*=\s*"([^"]+)"/g)].map((m) => m[1]);
const devVars = {};
try {
  for (const m of readFileSync(new URL("../../.dev.vars", import.meta.url), "utf8").matchAll(/^([A-Z_]+)\s*=\s*"?([^"\n]*)"?/gm)) devVars[m[1]] = m[2];
} catch { /* no .dev.vars: AUTH_SECRET must come from --var */ }

const wasm = readdirSync(bundleDir).filter((f) => f.endsWith(".wasm"));
// Miniflare 5 (the version wrangler uses) takes a new option shape; it still converts the
// well-documented v4 shape, which is what this harness speaks.
const mf = new Miniflare(convertV4MiniflareOptions({
  host: "127.0.0.1",
  port,
  compatibilityDate,
  modulesRoot: bundleDir,
  modules: [
    { type: "ESModule", path: join(bundleDir, "entry.js") },
    ...wasm.map((f) => ({ type: "CompiledWasm", path: join(bundleDir, f) })),
  ],
  bindings: { ...tomlVars, ...devVars, ...vars },
  durableObjects,
  kvNamespaces,
  ...(persist ? { durableObjectsPersist: join(persist, "do"), kvPersist: join(persist, "kv") } : {}),
}));
const url = await mf.ready;
console.log(`READY ${url.href.replace(/\/$/, "")}`);
const stop = async () => { await mf.dispose(); process.exit(0); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
