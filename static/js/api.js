// The API client: bearer token from localStorage, JSON in and out, and for every call the
// client round-trip time (performance.now) and the server's x-request-id, so panels can show them.

const TOKEN_KEY = "edge-assistant.token";

/** An API call that did not succeed. status 0 means the request never got an answer. */
export class ApiError extends Error {
  constructor(status, code, message, info = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.requestId = info.requestId ?? null;
    this.ms = info.ms ?? null;
  }
  /** Network failures, 429 and 5xx may succeed when sent again; other 4xx will not. */
  get retryable() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

let unauthorizedHandler = () => {};

/** Registers what to do when a call answers 401 (show the sign-in form with the message). */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

export function getToken() {
  try { return localStorage.getItem(TOKEN_KEY) ?? ""; } catch { return ""; }
}

export function setToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: the token lives for this page only */ }
}

/** The `sub` claim of a JWT, for display only (the server verifies the token). */
export function tokenSubject(token) {
  try {
    const payload = token.split(".")[1];
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const sub = JSON.parse(json).sub;
    return typeof sub === "string" ? sub : null;
  } catch {
    return null;
  }
}

/** The `app` duration of a Server-Timing header in ms, or null when the server sends none. */
function serverTime(headers) {
  const value = headers.get("server-timing");
  if (!value) return null;
  const match = /(?:^|,)\s*app\s*;[^,]*dur=([0-9.]+)/.exec(value);
  return match ? Number(match[1]) : null;
}

/**
 * Calls the API. Resolves to { status, body, bytes, requestId, ms, serverMs } for 2xx answers;
 * rejects with ApiError otherwise (status 0 when the network failed). A 401 also calls the
 * onUnauthorized handler. With `binary`, the request prefers application/octet-stream and a
 * binary 2xx body is returned as a Uint8Array (errors are JSON either way).
 */
export async function api(method, path, { body, auth = true, binary = false } = {}) {
  const headers = { accept: binary ? "application/octet-stream, application/json;q=0.5" : "application/json" };
  if (auth) headers.authorization = `Bearer ${getToken()}`;
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const started = performance.now();
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    const ms = performance.now() - started;
    throw new ApiError(0, "network_error",
      `Could not reach the server (${err?.message ?? "network error"}). Check your connection and retry.`, { ms });
  }
  const raw = new Uint8Array(await response.arrayBuffer().catch(() => new ArrayBuffer(0)));
  const ms = performance.now() - started;
  const requestId = response.headers.get("x-request-id");
  const isBinary = (response.headers.get("content-type") ?? "").startsWith("application/octet-stream");
  let parsed = null;
  if (response.ok && isBinary) {
    parsed = raw;
  } else if (raw.length) {
    const text = new TextDecoder().decode(raw);
    try { parsed = JSON.parse(text); } catch { parsed = text; }
  }
  if (!response.ok) throw errorOf(response, parsed, { requestId, ms });
  return { status: response.status, body: parsed, bytes: raw.length, requestId, ms, serverMs: serverTime(response.headers) };
}

/** The ApiError for a non-2xx answer whose body parsed to `parsed`; a 401 also signs out. */
function errorOf(response, parsed, info) {
  const err = parsed && typeof parsed === "object" ? parsed.error : null;
  const code = err?.code ?? `http_${response.status}`;
  let message = err?.message ?? `The server answered ${response.status} ${response.statusText}.`;
  if (response.status === 429) {
    const after = response.headers.get("retry-after");
    if (after) message += ` Retry after ${after} s.`;
  }
  const error = new ApiError(response.status, code, message, info);
  if (response.status === 401) unauthorizedHandler(error);
  return error;
}

/**
 * Opens a server-sent-events stream (GET with the bearer token, which EventSource cannot send).
 * Resolves to the 200 Response, whose `body` the caller reads; rejects with ApiError (status 0
 * when the network failed, or on `signal`'s abort).
 */
export async function openEventStream(path, { signal } = {}) {
  const headers = { accept: "text/event-stream", authorization: `Bearer ${getToken()}` };
  let response;
  try {
    response = await fetch(path, { headers, cache: "no-store", signal });
  } catch (err) {
    throw new ApiError(0, err?.name === "AbortError" ? "aborted" : "network_error",
      `Could not reach the server (${err?.message ?? "network error"}).`);
  }
  if (!response.ok) {
    const text = await response.text().catch(() => "");
    let parsed = null;
    try { parsed = JSON.parse(text); } catch { parsed = text; }
    throw errorOf(response, parsed, { requestId: response.headers.get("x-request-id") });
  }
  return response;
}

/** "12.3 ms round trip · request abc" (plus server time when the server reports it). */
export function timingText(result) {
  const parts = [];
  if (result.ms != null) parts.push(`${result.ms.toFixed(1)} ms round trip`);
  if (result.serverMs != null) parts.push(`${result.serverMs.toFixed(1)} ms in the worker`);
  if (result.requestId) parts.push(`x-request-id ${result.requestId}`);
  return parts.join(" · ");
}

/**
 * Sends `body` (a Blob) as-is with `contentType` — an archive upload — through XMLHttpRequest,
 * since fetch cannot report upload progress. `onProgress(sent, total)` follows the upload.
 * Resolves and rejects like api().
 */
export function apiUpload(method, path, body, contentType, { onProgress = () => {} } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    const started = performance.now();
    xhr.open(method, path);
    xhr.setRequestHeader("authorization", `Bearer ${getToken()}`);
    xhr.setRequestHeader("content-type", contentType);
    xhr.setRequestHeader("accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => onProgress(event.loaded, event.lengthComputable ? event.total : body.size));
    xhr.addEventListener("error", () => reject(new ApiError(0, "network_error",
      "Could not reach the server (the upload did not get an answer). Check your connection and retry.",
      { ms: performance.now() - started })));
    xhr.addEventListener("load", () => {
      const ms = performance.now() - started;
      const requestId = xhr.getResponseHeader("x-request-id");
      let parsed = null;
      try { parsed = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { parsed = xhr.responseText; }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve({ status: xhr.status, body: parsed, requestId, ms, serverMs: null });
        return;
      }
      // errorOf reads headers through `get`, like a fetch Response.
      const response = {
        status: xhr.status, statusText: xhr.statusText,
        headers: { get: (name) => xhr.getResponseHeader(name) },
      };
      reject(errorOf(response, parsed, { requestId, ms }));
    });
    xhr.send(body);
  });
}

/** GETs `path` and resolves to its body as text (a workspace file); rejects like api(). */
export async function apiText(path) {
  let response;
  try {
    response = await fetch(path, { headers: { authorization: `Bearer ${getToken()}` }, cache: "no-store" });
  } catch (err) {
    throw new ApiError(0, "network_error", `Could not reach the server (${err?.message ?? "network error"}).`);
  }
  const raw = new Uint8Array(await response.arrayBuffer().catch(() => new ArrayBuffer(0)));
  const text = new TextDecoder().decode(raw);
  if (!response.ok) {
    let parsed = null;
    try { parsed = JSON.parse(text); } catch { parsed = text; }
    throw errorOf(response, parsed, { requestId: response.headers.get("x-request-id") });
  }
  return text;
}
