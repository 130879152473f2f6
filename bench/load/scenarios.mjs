// Load scenarios for bench.mjs. Each: name, socket ("http": the worker, default; "noop": the
// plain JS no-op worker of the same workerd process), optional async prepare(ctx) (creates
// fixtures over HTTP), path(prepared), lua(ctx, prepared) (a wrk script setting method, headers
// and body), optional after(ctx, prepared) (a check or note printed after the run).
import { createServer } from "node:http";

const auth = (token) => `wrk.headers["authorization"] = "Bearer ${token}"\n`;

// Fixture set-up right after a wrk run can meet a keep-alive socket the server already closed:
// retry network errors a few times.
async function fetch(url, init) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await globalThis.fetch(url, init);
    } catch (err) {
      if (attempt >= 5) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

async function createTab(ctx, token, title) {
  const res = await fetch(`${ctx.base}/api/tabs`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ title }),
  });
  if (res.status !== 201) throw new Error(`create tab: ${res.status} ${await res.text()}`);
  return (await res.json()).id;
}

/** Runs `fn(i)` for i in 0..n with at most `width` in flight. */
async function pool(n, width, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) await fn(next++);
  }));
}

const appendLua = (token) => `${auth(token)}
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"role":"user","content":"${"load test message ".repeat(11).trim()}"}'
`;

/** A wrk script cycling through `paths` (one per request, per-thread counter). */
const cycleLua = (paths, prelude = "") => `${prelude}
local paths = { ${paths.map((p) => JSON.stringify(p)).join(", ")} }
local n = math.random(#paths)
request = function()
  n = n + 1
  return wrk.format(nil, paths[(n % #paths) + 1])
end
`;

/**
 * A SearXNG-compatible fixture upstream on loopback for the web-search scenarios: ten results of
 * ~200 characters of text per query, like a real result page. Resolves to { url, close }.
 */
export async function startFixtureUpstream() {
  const server = createServer((req, res) => {
    const q = new URL(req.url, "http://fixture").searchParams.get("q") ?? "";
    const results = Array.from({ length: 10 }, (_, i) => ({
      url: `https://example.com/${encodeURIComponent(q)}/${i}`,
      title: `${q} — result ${i}`,
      content: `About ${q}: ${"a sentence of snippet text that a search engine returns with each result ".repeat(3)}`.slice(0, 200),
      engine: "fixture",
    }));
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ results }));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

/** Distinct web-search queries of the cache-hit scenario. */
export const WEB_QUERIES = 1000;

export const scenarios = [
  {
    // The ceiling: a plain JS worker answering the health route's bytes, same workerd process.
    name: "js-noop",
    socket: "noop",
    path: () => "/api/health",
    lua: () => "",
  },
  {
    // The Rust worker's cheapest route: the shell's own per-request cost.
    name: "health",
    path: () => "/api/health",
    lua: () => "",
  },
  {
    name: "append-1-tab",
    prepare: async (ctx) => ({ tab: await createTab(ctx, ctx.token, "load one tab") }),
    path: (p) => `/api/tabs/${p.tab}/messages`,
    lua: (ctx) => appendLua(ctx.token),
  },
  {
    // 64 tabs of 64 users: each request picks the next tab by a thread-local counter.
    name: "append-64-tabs",
    prepare: async (ctx) => {
      const tabs = [];
      for (let i = 0; i < 64; i++) {
        const token = ctx.tokenFor(`load-${i}`);
        tabs.push({ token, tab: await createTab(ctx, token, `load ${i}`) });
      }
      return { tabs };
    },
    path: (p) => `/api/tabs/${p.tabs[0].tab}/messages`,
    lua: (ctx, p) => `
local tabs = { ${p.tabs.map((t) => `{ "${t.tab}", "${t.token}" }`).join(", ")} }
local n = 0
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"role":"user","content":"${"load test message ".repeat(11).trim()}"}'
request = function()
  n = n + 1
  local t = tabs[(n % #tabs) + 1]
  wrk.headers["authorization"] = "Bearer " .. t[2]
  return wrk.format(nil, "/api/tabs/" .. t[1] .. "/messages")
end
`,
  },
  {
    name: "page-messages",
    prepare: async (ctx) => {
      const tab = await createTab(ctx, ctx.token, "load paging");
      for (let i = 0; i < 100; i++) {
        await fetch(`${ctx.base}/api/tabs/${tab}/messages`, {
          method: "POST",
          headers: { authorization: `Bearer ${ctx.token}`, "content-type": "application/json" },
          body: JSON.stringify({ role: "user", content: `paging message ${i}` }),
        });
      }
      return { tab };
    },
    path: (p) => `/api/tabs/${p.tab}/messages?after=0&limit=50`,
    lua: (ctx) => auth(ctx.token),
  },
  {
    // Cache hits across WEB_QUERIES distinct queries (each answered by the fixture upstream once,
    // during prepare, then admitted), requested round-robin from a random start per thread.
    name: "search-web-hit",
    prepare: async (ctx) => {
      const paths = Array.from({ length: WEB_QUERIES }, (_, i) => `/api/search?q=${encodeURIComponent(`load query ${i}`)}`);
      await pool(paths.length, 16, async (i) => {
        const res = await fetch(ctx.base + paths[i], { headers: { authorization: `Bearer ${ctx.token}` } });
        if (res.status !== 200) throw new Error(`warm search: ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
      });
      return { paths };
    },
    path: (p) => p.paths[0],
    lua: (ctx, p) => cycleLua(p.paths, auth(ctx.token)),
    // Which tier answered, sampled over 200 of the queries after the run (x-cache-tier).
    after: async (ctx, p) => {
      const tiers = {};
      for (let i = 0; i < 200; i++) {
        const res = await fetch(ctx.base + p.paths[(i * 5) % p.paths.length], { headers: { authorization: `Bearer ${ctx.token}` } });
        const key = `${res.status} ${res.headers.get("x-cache-tier") ?? "-"}`;
        tiers[key] = (tiers[key] ?? 0) + 1;
        await res.arrayBuffer();
      }
      return `${p.paths.length} distinct queries; tier of 200 sampled after the run: ${Object.entries(tiers).map(([k, v]) => `${k}: ${v}`).join(", ")}`;
    },
  },
  {
    name: "search-history",
    prepare: async (ctx) => {
      const token = ctx.tokenFor("load-history");
      const tab = await createTab(ctx, token, "history");
      for (let i = 0; i < 200; i++) {
        await fetch(`${ctx.base}/api/tabs/${tab}/messages`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ role: "user", content: `note ${i} about topic${i % 17} and the durable objects` }),
        });
      }
      await fetch(`${ctx.base}/api/tabs/${tab}/flush`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
      return { token };
    },
    path: () => "/api/search?source=history&q=durable+topic3",
    lua: (ctx, p) => auth(p.token),
  },
  {
    name: "rollout-64x128",
    path: () => "/api/rollout",
    lua: (ctx) => `${auth(ctx.token)}
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.body = '{"env":"CartPole-v1","num_envs":64,"steps":128,"seed":1}'
`,
  },
];
