// Prints the markdown tables of the wasm-vs-native benchmark from the JSON lines run.sh collects:
// one line per (side, round): {"side": "native" | "wasm ...", "round": k, "result": {...}}.
// Every figure is the median over rounds of each side's in-process median; ratios are
// wasm ÷ native (> 1 means wasm is slower).
//
//   node bench/wasm/report.mjs RESULTS.jsonl
import { readFileSync } from "node:fs";

const lines = readFileSync(process.argv[2], "utf8").split("\n").filter((l) => l.startsWith("{"));
const runs = lines.map((l) => JSON.parse(l));
const sides = [...new Set(runs.map((r) => r.side))];
const base = sides[0];
const others = sides.slice(1);
const bySide = (side) => runs.filter((r) => r.side === side).map((r) => r.result);

const median = (xs) => {
  const v = xs.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};
const fmt = (x, digits) => (Number.isFinite(x) ? x.toFixed(digits) : "–");
const ratio = (w, n) => (Number.isFinite(w) && Number.isFinite(n) && n > 0 ? `${(w / n).toFixed(2)}×` : "–");
const header = (first, unit) => {
  let h = `| ${first} | ${base} ${unit} |`;
  let s = "|---|---:|";
  for (const o of others) {
    h += ` ${o} ${unit} | ratio |`;
    s += "---:|---:|";
  }
  return `${h}\n${s}`;
};
const row = (label, pick, digits) => {
  const b = median(bySide(base).map(pick));
  let out = `| ${label} | ${fmt(b, digits)} |`;
  for (const o of others) {
    const w = median(bySide(o).map(pick));
    out += ` ${fmt(w, digits)} | ${ratio(w, b)} |`;
  }
  return out;
};
const same = (pick) => {
  const values = new Set(runs.map((r) => pick(r.result)).filter((v) => v !== undefined));
  return values.size <= 1 ? "identical" : `DIFFERENT (${[...values].join(", ")})`;
};

const rounds = Math.max(...sides.map((s) => bySide(s).length));
console.log(`Sides: ${sides.join(", ")}; ${rounds} round(s) each, alternating; ratio = wasm ÷ ${base}.\n`);

const h = runs[0].result.history;
if (h) {
  console.log(`### History search: ${h.docs} docs, ${h.queries} queries (full search path, top 10)\n`);
  console.log(header("figure", "µs"));
  for (const [key, name] of [["in_memory", "in-memory index"], ["persistent_warm", "persistent index, warm cache"]]) {
    if (!h[key]) continue;
    console.log(row(`${name}: query p50`, (r) => r.history?.[key]?.p50_us, 1));
    console.log(row(`${name}: query p99`, (r) => r.history?.[key]?.p99_us, 1));
    console.log(row(`${name}: query mean`, (r) => r.history?.[key]?.mean_us, 1));
  }
  console.log(row("in-memory index build (batches of 10), ms", (r) => r.history?.build_ms, 0));
  if (h.persist_ms !== undefined) {
    console.log(row("persistent index build into MemoryStore, ms", (r) => r.history?.persist_ms, 0));
  }
  console.log(`\nSearch results (hits and snippets) across sides: in-memory ${same((r) => r.history?.in_memory?.checksum)}` +
    (h.persistent_warm ? `, persistent ${same((r) => r.history?.persistent_warm?.checksum)}` : "") + ".\n");
}

const rollout = runs[0].result.rollout;
if (rollout) {
  console.log("### Rollout, 128 steps: one `POST /api/rollout` body (parse → rollout → encode), and parts\n");
  let hdr = header("case", "ms").split("\n");
  console.log(`${hdr[0]} response bytes |\n${hdr[1]}---:|`);
  const mismatched = [];
  for (const c of rollout) {
    const key = (r) => (r.rollout ?? []).find((x) => x.case === c.case && x.variant === c.variant && x.num_envs === c.num_envs);
    const label = `${c.num_envs} envs, ${c.case}${c.variant ? `: ${c.variant}` : ""}`;
    const digits = c.ms < 0.1 ? 4 : 3;
    console.log(`${row(label, (r) => key(r)?.ms, digits)} ${c.bytes ?? ""} |`);
    if (c.hash && same((r) => key(r)?.hash) !== "identical") mismatched.push(label);
  }
  console.log(`\nResponse JSON bytes across sides: ${mismatched.length ? `DIFFERENT for ${mismatched.join("; ")}` : "identical for every request"}.`);
}

// Rates from the median time: MB/s of input (10^6 bytes) and files/s.
const rate = (amount, ms) => (Number.isFinite(ms) && ms > 0 ? amount / (ms / 1e3) : NaN);
const count = (x) => (Number.isFinite(x) ? x.toLocaleString("en-US") : "–");

const scanned = runs[0].result.scan;
if (scanned) {
  console.log("\n### Scanner (issue 14): one pass over every file of a language (`workspace::scan::scan`)\n");
  let h = `| language | files | MB | symbols ${base} |`;
  let s = "|---|---:|---:|---:|";
  for (const o of others) {
    h += ` symbols ${o} |`;
    s += "---:|";
  }
  h += ` ${base} ms | ${base} MB/s | ${base} files/s |`;
  s += "---:|---:|---:|";
  for (const o of others) {
    h += ` ${o} ms | ${o} MB/s | ${o} files/s | ratio |`;
    s += "---:|---:|---:|---:|";
  }
  console.log(`${h}\n${s}`);
  const mismatched = [];
  for (const l of scanned) {
    if (l.error) {
      console.log(`| error: ${l.error} |`);
      continue;
    }
    const pick = (side) => bySide(side).map((r) => (r.scan ?? []).find((x) => x.language === l.language));
    const ms = (side) => median(pick(side).map((x) => x?.ms));
    const symbols = (side) => median(pick(side).map((x) => x?.symbols));
    const b = ms(base);
    const mb = l.bytes / 1e6;
    let out = `| ${l.language} | ${count(l.files)} | ${fmt(mb, 1)} | ${count(symbols(base))} |`;
    for (const o of others) out += ` ${count(symbols(o))} |`;
    out += ` ${fmt(b, 1)} | ${fmt(rate(mb, b), 0)} | ${count(Math.round(rate(l.files, b)))} |`;
    for (const o of others) {
      const w = ms(o);
      out += ` ${fmt(w, 1)} | ${fmt(rate(mb, w), 0)} | ${count(Math.round(rate(l.files, w)))} | ${ratio(w, b)} |`;
    }
    console.log(out);
    if (same((r) => (r.scan ?? []).find((x) => x.language === l.language)?.hash) !== "identical") {
      mismatched.push(l.language);
    }
  }
  console.log(`\nSymbols (kind, name, line, container, signature) across sides: ${mismatched.length ? `DIFFERENT for ${mismatched.join(", ")}` : "identical for every language"}.`);
}

const arch = runs[0].result.archive;
if (arch) {
  console.log(`\n### Archive extraction (issue 14): \`workspace::archive::extract\`, default caps\n`);
  if (arch.error) {
    console.log(`error: ${arch.error}`);
  } else {
    const ms = (side) => median(bySide(side).map((r) => r.archive?.ms));
    const mb = arch.bytes / 1e6;
    let h = `| archive | files kept | MB of text | ${base} ms | ${base} MB/s | ${base} files/s |`;
    let s = "|---|---:|---:|---:|---:|---:|";
    for (const o of others) {
      h += ` ${o} ms | ${o} MB/s | ${o} files/s | ratio |`;
      s += "---:|---:|---:|---:|";
    }
    const b = ms(base);
    let out = `| ${arch.format}, ${fmt(arch.archive_bytes / 1e6, 1)} MB | ${count(arch.files)} | ${fmt(mb, 1)} | ${fmt(b, 1)} | ${fmt(rate(mb, b), 0)} | ${count(Math.round(rate(arch.files, b)))} |`;
    for (const o of others) {
      const w = ms(o);
      out += ` ${fmt(w, 1)} | ${fmt(rate(mb, w), 0)} | ${count(Math.round(rate(arch.files, w)))} | ${ratio(w, b)} |`;
    }
    console.log(`${h}\n${s}\n${out}`);
    console.log(`\nExtracted files (paths and bytes) across sides: ${same((r) => r.archive?.hash)}.`);
  }
}
