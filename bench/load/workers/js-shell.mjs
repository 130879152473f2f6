// What the Rust shell does for GET /api/health (src/edge/mod.rs `fetch`, router.rs, http.rs,
// log.rs), written directly in JS against the same runtime APIs: request id from 16 random bytes,
// headers read (x-request-id, origin), method and URL parsed, two clock reads, the JSON body built
// into a Response, then `finish`: a fresh Headers copied from the response's, five headers set,
// a new Response around the body, and the JSON log line. No wasm: the gap between this and the
// Rust worker is the cost of doing the same work through Rust + wasm-bindgen + worker-rs.
const ALLOWED_ORIGINS = [];
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

export default {
  fetch(request) {
    const started = Date.now();
    let requestId = request.headers.get("x-request-id");
    if (!requestId || requestId.length > 128) requestId = hex(crypto.getRandomValues(new Uint8Array(16)));
    const origin = request.headers.get("origin");
    const method = request.method;
    const path = new URL(request.url).pathname;
    const inner = new Response(JSON.stringify({ status: "ok", version: "0.1.0" }), {
      status: 200,
      headers: { "content-type": "application/json; charset=utf-8" },
    });
    const duration = Date.now() - started;
    const headers = new Headers();
    for (const [name, value] of inner.headers) headers.append(name, value);
    headers.set("x-request-id", requestId);
    headers.set("server-timing", `app;dur=${duration}`);
    headers.set("x-content-type-options", "nosniff");
    headers.set("referrer-policy", "no-referrer");
    if ((headers.get("content-type") ?? "").startsWith("text/html")) headers.set("x-frame-options", "DENY");
    if (origin && ALLOWED_ORIGINS.includes(origin)) headers.set("access-control-allow-origin", origin);
    const response = new Response(inner.body, { status: inner.status, headers });
    console.log(JSON.stringify({
      request_id: requestId, method, path, route: "health", status: 200, duration_ms: duration, user: null,
    }));
    return response;
  },
};
