// Entry module of the Worker: the Rust worker built by worker-build (build/index.js), plus a last
// line of defence. The Rust code answers every error as JSON itself and must never panic; should a
// panic or a platform fault still escape as an exception, this wrapper answers the contract's 500
// JSON (instead of the runtime's HTML error page) and logs it. worker-build's shim then
// re-instantiates the Wasm module on the next request.
import { WorkerEntrypoint } from "cloudflare:workers";
import RustWorker from "../build/index.js";

// Durable Object classes and other named exports of the Rust worker.
export * from "../build/index.js";

export default class extends WorkerEntrypoint {
  // Not `async`: the Rust `fetch` answers a request that needed no I/O with a Response at once
  // (src/edge/mod.rs), and that Response goes back as is; only a pending answer is a promise.
  fetch(request) {
    try {
      const answer = new RustWorker(this.ctx, this.env).fetch(request);
      if (answer instanceof Response) return answer;
      return answer.catch((err) => internalError(request, err));
    } catch (err) {
      return internalError(request, err);
    }
  }
}

// The contract's 500 JSON for an exception that escaped the Rust worker, logged.
function internalError(request, err) {
  const requestId = request.headers.get("x-request-id") || crypto.randomUUID();
  console.error(JSON.stringify({
    request_id: requestId,
    method: request.method,
    path: new URL(request.url).pathname,
    status: 500,
    error: `uncaught: ${err && err.stack ? err.stack : String(err)}`,
  }));
  const body = JSON.stringify({
    error: {
      code: "internal",
      message: "internal error; retry later, and report the x-request-id if it persists",
    },
  });
  return new Response(body, {
    status: 500,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "x-request-id": requestId,
      "x-content-type-options": "nosniff",
    },
  });
}
