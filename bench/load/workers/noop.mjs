// The ceiling of the load bench: a plain JS worker that answers every request with the same bytes
// as the Rust worker's GET /api/health (33-byte JSON body, same content-type) and does nothing else.
const BODY = '{"status":"ok","version":"0.1.0"}';

export default {
  fetch() {
    return new Response(BODY, { headers: { "content-type": "application/json; charset=utf-8" } });
  },
};
