// Reading a `#token=<jwt>` sign-in link (./scripts/dev prints one). Pure functions, no DOM: the
// fragment comes from anywhere (a link in a chat, a mistyped copy), so nothing here may throw, and
// a token that cannot be a JWT is reported instead of stored (storing it would sign the user out of
// a working account on the next 401).

/** Accepts a raw token, `Bearer <token>` or the `TOKEN=<token>` line scripts/dev prints. */
export function cleanToken(text) {
  return text.trim().replace(/^TOKEN=/, "").replace(/^Bearer\s+/i, "").replace(/\s+/g, "");
}

/** Decodes one base64url JWT segment to a JSON object, or returns null. */
function segmentJson(segment) {
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(segment)) return null;
  try {
    const binary = atob(segment.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/"));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    return value && typeof value === "object" && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * Why `token` cannot be a JWT (a sentence), or null when it has the JWT shape: three base64url
 * parts, the first two JSON objects. Only the shape: the server verifies the signature.
 */
export function jwtProblem(token) {
  const parts = token.split(".");
  if (parts.length !== 3) return `it has ${parts.length} part${parts.length === 1 ? "" : "s"} instead of the 3 of a JWT`;
  if (!segmentJson(parts[0])) return "its header is not base64url-encoded JSON";
  if (!segmentJson(parts[1])) return "its claims are not base64url-encoded JSON";
  if (!/^[A-Za-z0-9_-]+$/.test(parts[2])) return "its signature is not base64url";
  return null;
}

/**
 * What the address fragment asks for:
 *   { kind: "none" }                     no `#token=` fragment
 *   { kind: "token", token }             a token of JWT shape
 *   { kind: "malformed", reason }        a `#token=` fragment that is not one (reason: a sentence)
 */
export function readTokenLink(hash) {
  const match = /^#token=([^&]*)/.exec(hash ?? "");
  if (!match) return { kind: "none" };
  let text;
  try {
    text = decodeURIComponent(match[1]);
  } catch {
    return { kind: "malformed", reason: "it is not valid percent-encoding" };
  }
  const token = cleanToken(text);
  if (!token) return { kind: "malformed", reason: "it is empty" };
  const problem = jwtProblem(token);
  return problem ? { kind: "malformed", reason: problem } : { kind: "token", token };
}
