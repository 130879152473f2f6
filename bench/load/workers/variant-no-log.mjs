// What-if variant of worker/entry.mjs for bench/load/profile.mjs (target rust-no-log): the same
// Rust worker with console.log replaced by an empty function, so the request's JSON log line is
// still built in Rust and passed to JS, but not written. Measures what writing the log line
// costs in workerd. Not used in production.
import Entry from "../worker/entry.mjs";

console.log = () => {};

export default Entry;
