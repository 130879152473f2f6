//! The Workers shell: the only code that uses the `worker` crate. Filled in by the foundation work.
