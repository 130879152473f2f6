// Serves the built worker on plain `workerd serve` (no Miniflare), from a Cap'n Proto config
// generated from wrangler.toml:
//   - the worker's modules from build/: worker/entry.mjs (wrangler's `main`), build/index.js and
//     build/index_bg.wasm (worker-build's output), embedded under the same relative names so the
//     entry's `../build/index.js` import resolves as it does in the bundle;
//   - compatibility date and flags, [vars], and the secrets of .dev.vars (AUTH_SECRET) as text
//     bindings; `--var KEY=VALUE` overrides;
//   - every [[durable_objects.bindings]] as a namespace, SQLite-backed (`enableSql`) when the
//     class is in a migration's `new_sqlite_classes`, stored on local disk (`localDisk`) in a
//     temporary state directory;
//   - every [[kv_namespaces]] binding as a small KV service (workers/kv.mjs: workerd's KV
//     protocol over a SQLite-backed object on the same local disk);
//   - [assets] as the ASSETS binding (workers/assets.mjs over a read-only disk service);
//   - an `internet` service that also allows loopback, for the benches' fixture upstream;
//   - a second socket, `noop`, serving a plain JS no-op worker (workers/noop.mjs) in the same
//     process: the ceiling the load bench reports every route against;
//   - with `ladder`, more sockets for the profile's decomposition (see bench/load/profile.mjs):
//     `noop-log` (no-op + the JSON log line), `js-shell` (the Rust shell's health work written in
//     JS), `rust-direct` (the Rust worker without worker/entry.mjs's wrapper), and two what-if
//     entry variants around the same Rust worker: `rust-promise-microtask` (wasm-bindgen's
//     futures scheduled with Promise.then instead of workerd's queueMicrotask) and `rust-no-log`
//     (console.log emptied);
//   - with `variantBuild` (a directory holding another build's index.js and index_bg.wasm), a
//     socket `rust-variant` serving that build behind the same entry module and vars.
// Sockets listen on 127.0.0.1 on free ports (workerd reports them on its control fd).
//
// CLI: node bench/load/workerd.mjs [--out DIR] [--serve] [--port N] [--var KEY=VALUE ...] [--ladder]
//   writes DIR/workerd.capnp (default: a new temporary directory) and prints the command that
//   serves it; with --serve, runs it, prints `READY <url>` lines, and stops on SIGINT/SIGTERM.
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { devSecret } from "../../scripts/lib/token.mjs";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const WORKERD = join(ROOT, "node_modules/workerd/bin/workerd");
const HELPERS = join(ROOT, "bench/load/workers");

/** wrangler.toml as wrangler itself reads it (the project's pinned wrangler). */
export async function readWranglerConfig() {
  const { unstable_readConfig } = await import("wrangler");
  return unstable_readConfig({ config: join(ROOT, "wrangler.toml") }, {});
}

/** .dev.vars (KEY="value" lines), the local secrets wrangler dev would bind. */
function readDevVars() {
  const out = {};
  const path = join(ROOT, ".dev.vars");
  if (existsSync(path)) {
    for (const m of readFileSync(path, "utf8").matchAll(/^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"?([^"\n]*)"?\s*$/gm)) out[m[1]] = m[2];
  }
  if (!out.AUTH_SECRET) out.AUTH_SECRET = devSecret();
  return out;
}

const str = (s) => {
  s = String(s);
  if (/[\x00-\x08\x0b-\x1f]/.test(s)) throw new Error(`control character in config value: ${JSON.stringify(s)}`);
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
};
// A Cap'n Proto list, one item per line; multi-line items are indented as a block.
const list = (items, indent = "    ") =>
  `[\n${items.map((i) => `${indent}${i.split("\n").join(`\n${indent}`)}`).join(",\n")}\n${indent.slice(2)}]`;

/**
 * Writes `dir/workerd.capnp` and returns { configPath, stateDir, sockets }.
 * options: vars ({KEY: value}, over wrangler.toml's and .dev.vars'), ladder (bool), port (app
 * socket port, default 0 = free), stateDir (default dir/state), v8Flags (list, e.g.
 * ["--perf-basic-prof"] for bench/load/profile.mjs), variantBuild (directory of another build),
 * build (the directory of the build to serve instead of build/, e.g. a baseline's copy).
 */
export async function writeWorkerdConfig(dir, options = {}) {
  const config = await readWranglerConfig();
  const stateDir = options.stateDir ?? join(dir, "state");
  mkdirSync(join(stateDir, "do"), { recursive: true });
  mkdirSync(join(stateDir, "kv"), { recursive: true });
  const embed = (file) => `embed ${str(relative(dir, file))}`;
  const date = str(config.compatibility_date);
  const flags = `[${(config.compatibility_flags ?? []).map(str).join(", ")}]`;

  const build = options.build ?? join(ROOT, "build");
  for (const f of ["index.js", "index_bg.wasm"]) {
    if (!existsSync(join(build, f))) throw new Error(`build/${f} is missing: run ./scripts/build first`);
  }
  const mainRel = relative(ROOT, config.main); // worker/entry.mjs
  const appModules = [
    `(name = ${str(mainRel)}, esModule = ${embed(config.main)})`,
    `(name = "build/index.js", esModule = ${embed(join(build, "index.js"))})`,
    `(name = "build/index_bg.wasm", wasm = ${embed(join(build, "index_bg.wasm"))})`,
  ];

  const textVars = { ...config.vars, ...readDevVars(), ...(options.vars ?? {}) };
  for (const [k, v] of Object.entries(textVars)) {
    if (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean") throw new Error(`var ${k}: only text vars are supported`);
  }
  const varBindings = Object.entries(textVars).map(([k, v]) => `(name = ${str(k)}, text = ${str(v)})`);

  const sqliteClasses = new Set((config.migrations ?? []).flatMap((m) => [...(m.new_sqlite_classes ?? [])]));
  const doBindings = (config.durable_objects?.bindings ?? []).map((b) => {
    if (b.script_name) throw new Error(`durable object ${b.name}: script_name is not supported`);
    return b;
  });
  const classes = [...new Set(doBindings.map((b) => b.class_name))];
  const kvBindings = config.kv_namespaces ?? [];
  const assets = config.assets?.directory ? config.assets : null;

  const services = [];
  const appBindings = [
    ...varBindings,
    ...doBindings.map((b) => `(name = ${str(b.name)}, durableObjectNamespace = ${str(b.class_name)})`),
    ...kvBindings.map((k) => `(name = ${str(k.binding)}, kvNamespace = ${str(`kv-${k.binding}`)})`),
    ...(assets ? [`(name = ${str(assets.binding ?? "ASSETS")}, service = "assets")`] : []),
  ];
  services.push(`(name = "main", worker = (
  compatibilityDate = ${date},
  compatibilityFlags = ${flags},
  modules = ${list(appModules)},
  bindings = ${list(appBindings)},
  durableObjectNamespaces = ${list(classes.map((c) => `(className = ${str(c)}, uniqueKey = ${str(`${config.name}-${c}`)}, enableSql = ${sqliteClasses.has(c)})`), "    ")},
  durableObjectStorage = (localDisk = "do-disk"),
))`);
  services.push(`(name = "do-disk", disk = (path = ${str(join(stateDir, "do"))}, writable = true))`);
  // workerd's default `internet` service refuses private and loopback addresses; the benches'
  // fixture upstream listens on 127.0.0.1.
  services.push(`(name = "internet", network = (allow = ["public", "private", "local"]))`);

  if (kvBindings.length) {
    services.push(`(name = "kv-disk", disk = (path = ${str(join(stateDir, "kv"))}, writable = true))`);
    for (const k of kvBindings) {
      services.push(`(name = ${str(`kv-${k.binding}`)}, worker = (
  compatibilityDate = ${date},
  modules = [(name = "kv.mjs", esModule = ${embed(join(HELPERS, "kv.mjs"))})],
  bindings = [(name = "KV", durableObjectNamespace = "KvNamespace"), (name = "NAMESPACE", text = ${str(k.id ?? k.binding)})],
  durableObjectNamespaces = [(className = "KvNamespace", uniqueKey = ${str(`kv-${k.binding}`)}, enableSql = true)],
  durableObjectStorage = (localDisk = "kv-disk"),
))`);
    }
  }
  if (assets) {
    services.push(`(name = "assets", worker = (
  compatibilityDate = ${date},
  modules = [(name = "assets.mjs", esModule = ${embed(join(HELPERS, "assets.mjs"))})],
  bindings = [(name = "DIR", service = "assets-dir")],
))`);
    services.push(`(name = "assets-dir", disk = (path = ${str(resolve(ROOT, assets.directory))}))`);
  }
  const jsWorker = (name, file) => `(name = ${str(name)}, worker = (
  compatibilityDate = ${date},
  modules = [(name = ${str(file)}, esModule = ${embed(join(HELPERS, file))})],
))`;
  services.push(jsWorker("noop", "noop.mjs"));
  const sockets = { http: "main", noop: "noop" };
  if (options.ladder) {
    services.push(jsWorker("noop-log", "noop-log.mjs"));
    services.push(jsWorker("js-shell", "js-shell.mjs"));
    // The Rust worker's own module as the main module: no WorkerEntrypoint wrapper around it.
    services.push(`(name = "rust-direct", worker = (
  compatibilityDate = ${date},
  compatibilityFlags = ${flags},
  modules = ${list(appModules.slice(1))},
  bindings = ${list(varBindings)},
))`);
    // What-if variants of the entry module around the same Rust worker (see workers/variant-*.mjs).
    for (const [name, file] of [["rust-promise-microtask", "variant-no-queue-microtask.mjs"], ["rust-no-log", "variant-no-log.mjs"]]) {
      services.push(`(name = ${str(name)}, worker = (
  compatibilityDate = ${date},
  compatibilityFlags = ${flags},
  modules = ${list([`(name = ${str(`variants/${file}`)}, esModule = ${embed(join(HELPERS, file))})`, ...appModules])},
  bindings = ${list(varBindings)},
))`);
      sockets[name] = name;
    }
    Object.assign(sockets, { "noop-log": "noop-log", "js-shell": "js-shell", "rust-direct": "rust-direct" });
  }
  if (options.variantBuild) {
    // Another build of the worker (e.g. a scratch checkout with a change to the shell), behind the
    // same entry module and vars, to compare with this build in the same process.
    const vb = options.variantBuild;
    for (const f of ["index.js", "index_bg.wasm"]) {
      if (!existsSync(join(vb, f))) throw new Error(`${vb}/${f} is missing`);
    }
    services.push(`(name = "rust-variant", worker = (
  compatibilityDate = ${date},
  compatibilityFlags = ${flags},
  modules = ${list([
    `(name = ${str(mainRel)}, esModule = ${embed(config.main)})`,
    `(name = "build/index.js", esModule = ${embed(join(vb, "index.js"))})`,
    `(name = "build/index_bg.wasm", wasm = ${embed(join(vb, "index_bg.wasm"))})`,
  ])},
  bindings = ${list(varBindings)},
))`);
    sockets["rust-variant"] = "rust-variant";
  }
  const socketLines = Object.entries(sockets).map(([name, service]) =>
    `(name = ${str(name)}, address = ${str(`127.0.0.1:${name === "http" ? options.port ?? 0 : 0}`)}, http = (), service = ${str(service)})`);

  const text = `# Generated by bench/load/workerd.mjs from wrangler.toml; serve with:
#   ${relative(ROOT, WORKERD)} serve ${join(dir, "workerd.capnp")}
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = ${list(services, "    ")},${options.v8Flags?.length ? `\n  v8Flags = [${options.v8Flags.map(str).join(", ")}],` : ""}
  sockets = ${list(socketLines, "    ")},
);
`;
  const configPath = join(dir, "workerd.capnp");
  writeFileSync(configPath, text);
  return { configPath, stateDir, sockets: Object.keys(sockets) };
}

/**
 * Generates a config in a fresh temporary directory (under $TMPDIR) and serves it with
 * `workerd serve`. Resolves to { base, urls: {socket: url}, pid, configPath, logPath, dir,
 * inspectorPort, stop } once every socket listens. stop() sends SIGTERM to workerd (by PID),
 * waits for it, and removes the directory (state included) unless keepDir.
 * options: as writeWorkerdConfig, plus inspector (bool: `--inspector-addr` on a free port).
 */
export async function startWorkerd(options = {}) {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "edge-assistant-workerd-"));
  const { configPath, sockets } = await writeWorkerdConfig(dir, options);
  // workerd writes the worker's console.log lines (one per request) straight into this file: a
  // pipe read by this process would stall workerd whenever this process is busy (wrk runs
  // synchronously), and would add a Node process to the measured path.
  const logPath = join(dir, "workerd.log");
  const logFd = openSync(logPath, "a");
  const args = ["serve", configPath, "--control-fd=3"];
  if (options.inspector) args.push("--inspector-addr=127.0.0.1:0");
  const child = spawn(WORKERD, args, { cwd: dir, stdio: ["ignore", logFd, logFd, "pipe"] });
  closeSync(logFd);
  // Never leave workerd behind if this process dies first (it is stopped by its PID).
  const reap = () => { try { process.kill(child.pid, "SIGKILL"); } catch { /* gone */ } };
  process.once("exit", reap);
  const exited = new Promise((r) => child.once("exit", (code, signal) => {
    process.removeListener("exit", reap);
    r({ code, signal });
  }));
  const stop = async ({ keepDir = false } = {}) => {
    if (child.exitCode === null && child.signalCode === null) {
      try { process.kill(child.pid, "SIGTERM"); } catch { /* already gone */ }
      const timeout = new Promise((r) => setTimeout(() => r("timeout"), 5000));
      if ((await Promise.race([exited, timeout])) === "timeout") {
        try { process.kill(child.pid, "SIGKILL"); } catch { /* gone */ }
        await exited;
      }
    }
    if (!keepDir && !options.dir) rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ports = await new Promise((resolve, reject) => {
      const found = {};
      let inspectorPort;
      let buf = "";
      child.stdio[3].on("data", (d) => {
        buf += d;
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const msg = JSON.parse(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          if (msg.event === "listen") found[msg.socket] = msg.port;
          if (msg.event === "listen-inspector") inspectorPort = msg.port;
          if (sockets.every((s) => s in found) && (!options.inspector || inspectorPort)) resolve({ found, inspectorPort });
        }
      });
      exited.then(({ code, signal }) => {
        let out = "";
        try { out = readFileSync(logPath, "utf8"); } catch { /* none */ }
        reject(new Error(`workerd exited (${code ?? signal}) before listening:\n${out}`));
      });
    });
    const urls = Object.fromEntries(Object.entries(ports.found).map(([s, p]) => [s, `http://127.0.0.1:${p}`]));
    return { base: urls.http, urls, pid: child.pid, configPath, logPath, dir, inspectorPort: ports.inspectorPort, stop, exited };
  } catch (err) {
    await stop({ keepDir: true });
    throw err;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const vars = {};
  let out;
  let serve = false;
  let ladder = false;
  let port;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--out") out = args[++i];
    else if (args[i] === "--serve") serve = true;
    else if (args[i] === "--ladder") ladder = true;
    else if (args[i] === "--port") port = Number(args[++i]);
    else if (args[i] === "--var") {
      const [k, ...v] = args[++i].split("=");
      vars[k] = v.join("=");
    } else {
      console.error("usage: workerd.mjs [--out DIR] [--serve] [--port N] [--var KEY=VALUE ...] [--ladder]");
      process.exit(2);
    }
  }
  if (!serve) {
    const dir = out ?? mkdtempSync(join(tmpdir(), "edge-assistant-workerd-"));
    mkdirSync(dir, { recursive: true });
    const { configPath } = await writeWorkerdConfig(dir, { vars, ladder, port });
    console.log(configPath);
    console.error(`serve it with: ${WORKERD} serve ${configPath}`);
  } else {
    const server = await startWorkerd({ vars, ladder, port, dir: out });
    for (const [name, url] of Object.entries(server.urls)) console.log(`READY ${name} ${url}`);
    console.log(`config ${server.configPath}\nlog ${server.logPath}`);
    let stopping = false;
    const shutdown = async () => { stopping = true; await server.stop(); process.exit(0); };
    process.on("SIGINT", shutdown);
    process.on("SIGTERM", shutdown);
    server.exited.then(({ code, signal }) => {
      if (stopping) return;
      console.error(`workerd exited (${code ?? signal})`);
      process.exit(1);
    });
  }
}
