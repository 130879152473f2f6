// What-if variant of worker/entry.mjs for bench/load/profile.mjs (target rust-promise-microtask):
// hides workerd's global queueMicrotask, so wasm-bindgen's futures queue (js_sys::futures::queue,
// which checks `globalThis.queueMicrotask` once, when it is created on the first request) falls
// back to `Promise.resolve().then(...)`, V8's own microtask, to schedule the Rust futures.
// Measures what workerd's queueMicrotask costs the shell per request. Not used in production.
import Entry from "../worker/entry.mjs";

Object.defineProperty(globalThis, "queueMicrotask", { value: undefined, writable: true, configurable: true });

export default Entry;
