// Load scenarios for bench.mjs. Each: name, optional async prepare(ctx) (creates fixtures over
// HTTP), path(prepared), lua(ctx, prepared) (a wrk script setting method, headers and body).
const auth = (token) => `wrk.headers["authorization"] = "Bearer ${token}"\n`;

export const scenarios = [
  {
    name: "noop",
    path: () => "/api/health",
    lua: () => "",
  },
];
