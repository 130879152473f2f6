// Static assets for the generated workerd config (the ASSETS binding): serves files of the
// `[assets] directory` through workerd's disk service (binding DIR), with a content-type from the
// extension and wrangler's `not_found_handling = "single-page-application"` (unknown paths get
// index.html). A stand-in for Cloudflare's asset server, good enough for the UI and benches.
const TYPES = {
  html: "text/html; charset=utf-8", js: "text/javascript; charset=utf-8", mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8", json: "application/json", svg: "image/svg+xml", png: "image/png",
  ico: "image/x-icon", txt: "text/plain; charset=utf-8", webmanifest: "application/manifest+json",
};

async function file(env, path, method) {
  const res = await env.DIR.fetch(`http://assets${path}`, { method });
  // A directory answers with a JSON listing and no content-length: not a file.
  if (res.status !== 200 || !res.headers.has("content-length")) return null;
  const ext = path.split(".").pop().toLowerCase();
  const headers = new Headers({ "content-type": TYPES[ext] ?? "application/octet-stream" });
  headers.set("content-length", res.headers.get("content-length"));
  return new Response(method === "HEAD" ? null : res.body, { status: 200, headers });
}

export default {
  async fetch(request, env) {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("method not allowed", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    let path;
    try { path = decodeURIComponent(new URL(request.url).pathname); } catch { path = "/"; }
    if (path.split("/").some((part) => part === ".." || part.startsWith("."))) path = "/";
    if (path.endsWith("/")) path += "index.html";
    return (await file(env, path, request.method))
      ?? (await file(env, `${path}/index.html`, request.method))
      ?? (await file(env, "/index.html", request.method))
      ?? new Response("not found", { status: 404 });
  },
};
