// Top functions by self time in a V8 CPU profile (`node --cpu-prof`), for finding what dominates
// the wasm side. Wasm functions appear under their Rust names (wasm-opt keeps the name section).
//
//   node --cpu-prof --cpu-prof-dir=out/prof bench/wasm/run.mjs pkg/s CORPUS QUERIES '{...}'
//   node bench/wasm/profile_top.mjs out/prof/*.cpuprofile [N]
import { readFileSync } from "node:fs";

const [path, n = "20"] = process.argv.slice(2);
const prof = JSON.parse(readFileSync(path, "utf8"));
const byId = new Map(prof.nodes.map((node) => [node.id, node]));
const dt = new Map();
prof.samples.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
const self = new Map();
let total = 0;
for (const [id, us] of dt) {
  const name = byId.get(id)?.callFrame.functionName || "(anonymous)";
  self.set(name, (self.get(name) ?? 0) + us);
  total += us;
}
const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(n));
console.log(`| self % | self ms | function |\n|---:|---:|---|`);
for (const [name, us] of top) {
  const short = name.length > 110 ? `${name.slice(0, 107)}...` : name;
  console.log(`| ${((100 * us) / total).toFixed(1)} | ${(us / 1e3).toFixed(0)} | \`${short.replaceAll("|", "\\|")}\` |`);
}
