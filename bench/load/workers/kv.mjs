// A Workers KV namespace for the generated workerd config: the HTTP protocol workerd speaks to a
// `kvNamespace` binding's service (GET/PUT/DELETE /<url-encoded key>?urlencoded=true, list on
// GET /?prefix=&key_count_limit=&cursor=; `expiration`/`expiration_ttl` in seconds,
// `CF-KV-Metadata` and `CF-Expiration` headers), the same protocol Miniflare's KV worker serves.
// Values live in one SQLite-backed Durable Object per namespace, on the config's local disk.
// It models KV's interface, not its performance (Cloudflare reads hot keys from a colo cache).
import { DurableObject } from "cloudflare:workers";

const MIN_TTL = 60;

export class KvNamespace extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB, expiration INTEGER, metadata TEXT)");
  }

  async fetch(request) {
    const url = new URL(request.url);
    const now = Math.floor(Date.now() / 1000);
    if (url.pathname === "/" && request.method === "GET") return this.list(url, now);
    let key = url.pathname.slice(1);
    if (url.searchParams.get("urlencoded")?.toLowerCase() === "true") key = decodeURIComponent(key);
    if (!key || key === "." || key === ".." || new TextEncoder().encode(key).length > 512) {
      return new Response("invalid key", { status: 400 });
    }
    switch (request.method) {
      case "GET": {
        const row = this.sql.exec("SELECT value, expiration, metadata FROM kv WHERE key = ?", key).toArray()[0];
        if (!row || (row.expiration !== null && row.expiration <= now)) return new Response("Not Found", { status: 404 });
        const headers = new Headers();
        if (row.expiration !== null) headers.set("CF-Expiration", String(row.expiration));
        if (row.metadata !== null) headers.set("CF-KV-Metadata", row.metadata);
        return new Response(row.value, { headers });
      }
      case "PUT": {
        let expiration = null;
        const ttl = url.searchParams.get("expiration_ttl");
        const at = url.searchParams.get("expiration");
        if (ttl !== null) {
          const n = parseInt(ttl, 10);
          if (!(n >= MIN_TTL)) return new Response(`Invalid expiration_ttl of ${ttl}`, { status: 400 });
          expiration = now + n;
        } else if (at !== null) {
          const n = parseInt(at, 10);
          if (!(n >= now + MIN_TTL)) return new Response(`Invalid expiration of ${at}`, { status: 400 });
          expiration = n;
        }
        const value = new Uint8Array(await request.arrayBuffer());
        if (value.length > 25 * 1024 * 1024) return new Response("value too large", { status: 413 });
        this.sql.exec(
          "INSERT OR REPLACE INTO kv (key, value, expiration, metadata) VALUES (?, ?, ?, ?)",
          key, value, expiration, request.headers.get("CF-KV-Metadata"),
        );
        return new Response(null);
      }
      case "DELETE":
        this.sql.exec("DELETE FROM kv WHERE key = ?", key);
        return new Response(null);
      default:
        return new Response("method not allowed", { status: 405 });
    }
  }

  list(url, now) {
    const limit = Math.min(1000, Math.max(1, parseInt(url.searchParams.get("key_count_limit") ?? "1000", 10) || 1000));
    const prefix = url.searchParams.get("prefix") ?? "";
    const after = url.searchParams.get("cursor") ?? "";
    const rows = this.sql.exec(
      "SELECT key, expiration, metadata FROM kv WHERE key > ? AND substr(key, 1, ?) = ? AND (expiration IS NULL OR expiration > ?) ORDER BY key LIMIT ?",
      after, prefix.length, prefix, now, limit + 1,
    ).toArray();
    const more = rows.length > limit;
    const keys = rows.slice(0, limit).map((r) => ({
      name: r.key,
      ...(r.expiration !== null ? { expiration: r.expiration } : {}),
      ...(r.metadata !== null ? { metadata: r.metadata } : {}),
    }));
    return Response.json(more
      ? { keys, list_complete: false, cursor: keys[keys.length - 1].name, cacheStatus: null }
      : { keys, list_complete: true, cacheStatus: null });
  }
}

// The namespace's service: every request goes to the namespace's one object (NAMESPACE text binding).
export default {
  fetch(request, env) {
    return env.KV.get(env.KV.idFromName(env.NAMESPACE)).fetch(request);
  },
};
