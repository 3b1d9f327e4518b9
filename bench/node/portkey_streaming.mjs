// Starts the Portkey gateway (same arguments as its start-server.js) with a workaround that
// lets it stream at all. Portkey 1.15.2 wraps the upstream's fetch() Response in
// @hono/node-server's lightweight Response, which (in the 1.19 line it depends on) adopts the
// upstream's Headers object, immutable per the fetch spec; Portkey then appends its own
// headers and every `stream: true` request fails with 500 "TypeError: immutable"
// (Portkey-AI/gateway#1389, #1550; fixed by honojs/node-server#382, only in 2.x).
// Re-wrapping each fetch() answer in a native Response gives it mutable headers: one object
// per upstream call, small against Portkey's own cost. Only scenario 4 uses this; the other
// scenarios start start-server.js unchanged.
const nativeFetch = globalThis.fetch;
const NativeResponse = globalThis.Response;  // before @hono/node-server replaces the global
globalThis.fetch = async (...args) => {
  const response = await nativeFetch(...args);
  return new NativeResponse(response.body, response);
};
await import('./node_modules/@portkey-ai/gateway/build/start-server.js');
