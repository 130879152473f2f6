// Mints an HS256 JWT for local development and tests. See scripts/token.
import { createHmac } from "node:crypto";
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export function devSecret() {
  if (process.env.AUTH_SECRET) return process.env.AUTH_SECRET;
  for (const file of [".dev.vars", ".dev.vars.example"]) {
    const path = join(root, file);
    if (!existsSync(path)) continue;
    const match = readFileSync(path, "utf8").match(/^\s*AUTH_SECRET\s*=\s*"?([^"\n]*)"?\s*$/m);
    if (match) return match[1];
  }
  throw new Error("AUTH_SECRET not set and not found in .dev.vars");
}

const b64url = (data) => Buffer.from(data).toString("base64url");

export function signToken(claims, secret = devSecret(), header = { alg: "HS256", typ: "JWT" }) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = createHmac("sha256", secret).update(input).digest("base64url");
  return `${input}.${sig}`;
}

export function tokenFor(user, ttlSeconds = 30 * 24 * 3600, secret = devSecret()) {
  const now = Math.floor(Date.now() / 1000);
  return signToken({ sub: user, iat: now, exp: now + ttlSeconds }, secret);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [user, ttl] = process.argv.slice(2);
  if (!user || !/^[A-Za-z0-9_-]{1,64}$/.test(user)) {
    console.error("usage: scripts/token USER [TTL_SECONDS]   (USER: 1-64 chars of A-Za-z0-9_-)");
    process.exit(2);
  }
  console.log(tokenFor(user, ttl ? Number(ttl) : undefined));
}
