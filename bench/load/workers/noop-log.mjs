// The JS no-op plus one JSON log line per request through console.log, shaped like the Rust
// shell's request line (src/edge/log.rs): isolates the cost of the log line in workerd.
const BODY = '{"status":"ok","version":"0.1.0"}';

export default {
  fetch(request) {
    const url = new URL(request.url);
    console.log(JSON.stringify({
      request_id: "0123456789abcdef0123456789abcdef",
      method: request.method,
      path: url.pathname,
      route: "health",
      status: 200,
      duration_ms: 0,
      user: null,
    }));
    return new Response(BODY, { headers: { "content-type": "application/json; charset=utf-8" } });
  },
};
