//! Shared vocabulary of the HTTP API that the core can use without touching the platform:
//! the stable error codes of `shared/API.md`, and strict parsing of JSON bodies and query values.
//!
//! Bodies are parsed without building a `serde_json::Value` tree (up to 90× the body's size):
//! [`parse_json_object`] decodes each allowed field straight from its slice of the body, into
//! types whose size the caller bounds ([`Rows`], [`List`], [`JsonObject`]). The peak per route is
//! measured by `tests/request_memory.rs` and listed in docs/ARCHITECTURE.md.
//!
//! Each core module has its own error enum; each implements [`HasErrorCode`] so the edge maps
//! every error to a status and a JSON body in one place (`edge/error.rs`).

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapDeserializer;
use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The machine-readable error codes of the API contract, with their HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 400: the body is not JSON.
    InvalidJson,
    /// 400: a field or query value is missing, of the wrong type, or out of range.
    InvalidField,
    /// 400: the body holds a field the route does not know.
    UnknownField,
    /// 400: a documented size or count limit was exceeded.
    LimitExceeded,
    /// 401: missing, malformed, expired or wrongly signed bearer token.
    Unauthorized,
    /// 404: no such route or resource (or it belongs to another user).
    NotFound,
    /// 405: the route exists but not with this method.
    MethodNotAllowed,
    /// 409: the resource is busy (a tab already has a reply streaming; a workspace is taking an
    /// upload or still indexing one).
    Conflict,
    /// 413: the request body is larger than the route accepts.
    PayloadTooLarge,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 429: too many requests; `retry-after` says when to come back.
    RateLimited,
    /// 429: the user's daily token budget is used up; `retry-after` says when it renews.
    QuotaExceeded,
    /// 502: the upstream answered with an error or garbage.
    UpstreamError,
    /// 504: the upstream did not answer in time.
    UpstreamTimeout,
    /// 503: a required setting is missing or invalid.
    NotConfigured,
    /// 500: a bug or a platform failure; never caused by input alone.
    Internal,
}

impl ErrorCode {
    /// The snake_case code sent in `{"error": {"code": ...}}`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidJson => "invalid_json",
            Self::InvalidField => "invalid_field",
            Self::UnknownField => "unknown_field",
            Self::LimitExceeded => "limit_exceeded",
            Self::Unauthorized => "unauthorized",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::QuotaExceeded => "quota_exceeded",
            Self::UpstreamError => "upstream_error",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::NotConfigured => "not_configured",
            Self::Internal => "internal",
        }
    }

    /// The code for its snake_case name (used to pass errors from a Durable Object through the
    /// worker unchanged); `None` for a name this version does not know.
    pub fn from_name(name: &str) -> Option<Self> {
        const ALL: [ErrorCode; 16] = [
            ErrorCode::InvalidJson,
            ErrorCode::InvalidField,
            ErrorCode::UnknownField,
            ErrorCode::LimitExceeded,
            ErrorCode::Unauthorized,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::Conflict,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::RateLimited,
            ErrorCode::QuotaExceeded,
            ErrorCode::UpstreamError,
            ErrorCode::UpstreamTimeout,
            ErrorCode::NotConfigured,
            ErrorCode::Internal,
        ];
        ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The HTTP status that goes with the code.
    pub fn status(self) -> u16 {
        match self {
            Self::InvalidJson | Self::InvalidField | Self::UnknownField | Self::LimitExceeded => {
                400
            }
            Self::Unauthorized => 401,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::RateLimited | Self::QuotaExceeded => 429,
            Self::UpstreamError => 502,
            Self::NotConfigured => 503,
            Self::UpstreamTimeout => 504,
            Self::Internal => 500,
        }
    }
}

/// Implemented by every core error so the edge can map it to a status and body.
/// The error's `Display` is the human message: it says what went wrong and what to do.
pub trait HasErrorCode: std::fmt::Display {
    /// The API error code for this error.
    fn error_code(&self) -> ErrorCode;
}

/// A rejected request input (body or query), with the API code and a message for the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InputError {
    /// Which of the 400-class codes applies.
    pub code: ErrorCode,
    /// What went wrong and how to fix it.
    pub message: String,
}

impl InputError {
    /// An `invalid_field` error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::InvalidField,
            message: message.into(),
        }
    }

    /// A `limit_exceeded` error.
    pub fn limit(message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::LimitExceeded,
            message: message.into(),
        }
    }
}

impl HasErrorCode for InputError {
    fn error_code(&self) -> ErrorCode {
        self.code
    }
}

/// Parses a JSON object body into `T`, rejecting fields outside `allowed`.
///
/// Errors: `invalid_json` when the bytes are not JSON, `invalid_field` when the top level is not
/// an object or a field has the wrong type, `unknown_field` naming the first unexpected field (in
/// byte order of the names). Checking field names before typed decoding keeps the three cases
/// apart without relying on serde's error wording.
///
/// Memory: no `serde_json::Value` tree is built (one costs up to 90× the body, see
/// `tests/request_memory.rs`). The body is checked in place, then each allowed field's value is
/// located as a slice of it and decoded straight into `T`'s field type; unknown fields are
/// skipped unread. So the peak is what `T` holds, which the callers keep bounded.
pub fn parse_json_object<'de, T: Deserialize<'de>>(
    body: &'de [u8],
    allowed: &[&str],
) -> Result<T, InputError> {
    let fields = ObjectFields::parse(body, allowed)?;
    fields.check_unknown()?;
    fields
        .decode("invalid request body: ")
        .map_err(InputError::invalid)
}

/// The allowed fields of a JSON object, located in its text but not decoded yet.
///
/// The semantics are those of decoding the object into a map first (what the API did before):
/// a repeated name keeps its last value, unknown names are reported in byte order, and fields
/// decode in byte order of their names, so the first type error reported is the same.
#[derive(Debug)]
pub struct ObjectFields<'a, 'de> {
    allowed: &'a [&'a str],
    /// `(name, value)` of each allowed field present, sorted by name.
    fields: Vec<(&'a str, &'de RawValue)>,
    /// The first unknown name in byte order, if any.
    unknown: Option<String>,
}

impl<'a, 'de> ObjectFields<'a, 'de> {
    /// Checks that `text` is JSON (`invalid_json` otherwise, with serde_json's message and
    /// position) and a single object (`invalid_field`), and locates its allowed fields.
    pub fn parse(text: &'de [u8], allowed: &'a [&'a str]) -> Result<Self, InputError> {
        let invalid_json = |e: serde_json::Error| InputError {
            code: ErrorCode::InvalidJson,
            message: format!("request body is not valid JSON ({e}); send a JSON object"),
        };
        // Pass 1 walks the whole text as the `Value` parser did, with the same errors (numbers
        // out of range, bad escapes, depth), but keeps nothing.
        serde_json::from_slice::<Checked>(text).map_err(invalid_json)?;
        // Pass 2 records where the allowed fields' values are. It cannot fail on checked text.
        let mut de = serde_json::Deserializer::from_slice(text);
        let located = Locate { allowed }
            .deserialize(&mut de)
            .and_then(|located| de.end().map(|()| located))
            .map_err(invalid_json)?;
        let Located::Object(values, unknown) = located else {
            return Err(InputError::invalid("request body must be a JSON object"));
        };
        let mut fields: Vec<(&'a str, &'de RawValue)> = allowed
            .iter()
            .zip(values)
            .filter_map(|(name, value)| Some((*name, value?)))
            .collect();
        fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
        Ok(Self {
            allowed,
            fields,
            unknown,
        })
    }

    /// `unknown_field` naming the first name outside the allowed ones.
    pub fn check_unknown(&self) -> Result<(), InputError> {
        match &self.unknown {
            Some(unknown) => Err(InputError {
                code: ErrorCode::UnknownField,
                message: format!(
                    "unknown field `{unknown}`; allowed fields: {}",
                    self.allowed.join(", ")
                ),
            }),
            None => Ok(()),
        }
    }

    /// Decodes the fields into `T` (a struct of the allowed names), in byte order of the names.
    /// The error is `context` followed by serde's message, without a position (positions would
    /// be relative to one field's value, and the map-first decoding had none).
    pub fn decode<T: Deserialize<'de>>(&self, context: &str) -> Result<T, String> {
        let entries = self.fields.iter().copied();
        T::deserialize(MapDeserializer::<_, serde_json::Error>::new(entries))
            .map_err(|e| without_position(context, e))
    }
}

/// `context` and serde_json's message without its " at line L column C" suffix. The message can
/// echo a long string from the body, so it is written once, at its exact size, and cut in place.
fn without_position(context: &str, e: serde_json::Error) -> String {
    let mut text = format_exact(format_args!("{context}{e}"));
    if e.line() != 0 {
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        if text.ends_with(&suffix) {
            text.truncate(text.len() - suffix.len());
        }
    }
    text
}

/// `format!` that allocates the result once, at its exact size (`format!` guesses a capacity and
/// doubles it). For messages that echo input, which can be as long as the body.
pub fn format_exact(args: fmt::Arguments) -> String {
    struct Count(usize);
    impl fmt::Write for Count {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0 += s.len();
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing into a counter or a `String` cannot fail; a `Display` impl that fails would make
    // `format!` panic, here it only shortens the message.
    let _ = fmt::write(&mut count, args);
    let mut text = String::with_capacity(count.0);
    let _ = fmt::write(&mut text, args);
    text
}

/// Any JSON value, walked the way `serde_json::Value` is parsed (so with its errors) and dropped.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_none<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_key::<Checked>()?.is_some() {
            map.next_value::<Checked>()?;
        }
        Ok(Checked)
    }
}

/// The top level of a checked JSON text: for an object, the value of each allowed name (the last
/// one for a repeated name, as a slice of the text, indexed like `allowed`) and the smallest name
/// that is not allowed; for anything else, `Other`.
enum Located<'de> {
    Object(Vec<Option<&'de RawValue>>, Option<String>),
    Other,
}

/// Walks the top level of a checked text for [`Located`], knowing the allowed names.
struct Locate<'a> {
    allowed: &'a [&'a str],
}

/// An object key, borrowed from the text unless it holds escapes.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(s))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(s.to_owned()))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> DeserializeSeed<'de> for Locate<'_> {
    type Value = Located<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Located<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Locate<'_> {
    type Value = Located<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Located<'de>, E> {
        Ok(Located::Other)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Located<'de>, E> {
        Ok(Located::Other)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Located<'de>, E> {
        Ok(Located::Other)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Located<'de>, E> {
        Ok(Located::Other)
    }

    fn visit_str<E>(self, _: &str) -> Result<Located<'de>, E> {
        Ok(Located::Other)
    }

    fn visit_unit<E>(self) -> Result<Located<'de>, E> {
        Ok(Located::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Located<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Located::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Located<'de>, A::Error> {
        let mut values = vec![None; self.allowed.len()];
        let mut unknown: Option<String> = None;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let key = key.as_str();
            match self.allowed.iter().position(|name| *name == key) {
                Some(i) => values[i] = Some(map.next_value::<&'de RawValue>()?),
                None => {
                    // Unknown values are skipped unread: only the smallest name is kept.
                    if unknown.as_deref().is_none_or(|u| key < u) {
                        unknown = Some(key.to_owned());
                    }
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Located::Object(values, unknown))
    }
}

/// A JSON object inside a body, located but not decoded: the type of a field that holds an
/// object whose own fields are checked later (see [`ObjectFields`]), so its errors come in the
/// same order as when the body was decoded as a map first.
#[derive(Debug, Clone, Copy)]
pub struct JsonObject<'de>(&'de RawValue);

impl<'de> JsonObject<'de> {
    /// The object's JSON text (a slice of the body).
    pub fn text(&self) -> &'de [u8] {
        self.0.get().as_bytes()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonObject<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&'a RawValue>::deserialize(d)?;
        if raw.get().starts_with('{') {
            return Ok(Self(raw));
        }
        // Not an object: the error a map would give ("invalid type: integer `5`, expected a
        // map"), from serde_json itself.
        struct ExpectMap;
        impl<'de> Deserialize<'de> for ExpectMap {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = ExpectMap;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("a map")
                    }
                    fn visit_map<A: MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<ExpectMap, A::Error> {
                        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                        Ok(ExpectMap)
                    }
                }
                d.deserialize_map(V)
            }
        }
        match serde_json::from_str::<ExpectMap>(raw.get()) {
            Err(e) => Err(D::Error::custom(without_position("", e))),
            Ok(ExpectMap) => Ok(Self(raw)),
        }
    }
}

/// Pushes `value` unless `vec` already holds `cap` values, growing the buffer at most to `cap`
/// (so a kept prefix never costs more than `cap` elements).
fn push_capped<T>(vec: &mut Vec<T>, value: T, cap: usize) {
    if vec.len() >= cap {
        return;
    }
    if vec.len() == vec.capacity() {
        let target = (vec.capacity() * 2).max(4).min(cap);
        vec.reserve_exact(target - vec.len());
    }
    vec.push(value);
}

/// A JSON array of `T` decoded with bounded memory: every element is decoded (so a wrong type
/// anywhere is an error, in order, as for a `Vec<T>`), the length is exact, but only the first
/// `MAX` elements are kept. A field whose valid length is at most `MAX` loses nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct List<T, const MAX: usize> {
    len: usize,
    items: Vec<T>,
}

impl<T, const MAX: usize> List<T, MAX> {
    /// How many elements the array had.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array was empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first `min(len, MAX)` elements.
    pub fn items(&self) -> &[T] {
        &self.items
    }
}

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for List<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const MAX: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for V<T, MAX> {
            type Value = List<T, MAX>;
            // serde's words for a `Vec`, so errors read as before.
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut list = List {
                    len: 0,
                    items: Vec::new(),
                };
                while let Some(item) = seq.next_element::<T>()? {
                    list.len += 1;
                    push_capped(&mut list.items, item, MAX);
                }
                Ok(list)
            }
        }
        d.deserialize_seq(V::<T, MAX>(PhantomData))
    }
}

/// A JSON array of arrays of `T` (`[[v, …], …]`) decoded with bounded memory: every element is
/// decoded (a wrong type anywhere is an error, in order, as for a `Vec<Vec<T>>`), the row count
/// is exact, but only the first `ROWS` row lengths and the first `CELLS` values (row-major) are
/// kept. A field whose valid shapes have at most `ROWS` rows and `CELLS` values loses nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows<T, const ROWS: usize, const CELLS: usize> {
    rows: usize,
    row_lens: Vec<usize>,
    cells: Vec<T>,
}

impl<T, const ROWS: usize, const CELLS: usize> Rows<T, ROWS, CELLS> {
    /// How many rows the array had.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the array had no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Whether the array is `rows` rows of `cols` values (`rows * cols` must be at most `CELLS`).
    pub fn has_shape(&self, rows: usize, cols: usize) -> bool {
        self.rows == rows
            && self.row_lens.len() == rows
            && self.row_lens.iter().all(|&n| n == cols)
            && self.cells.len() == rows.saturating_mul(cols)
    }

    /// The kept values, row-major (all of them once [`Rows::has_shape`] holds).
    pub fn cells(&self) -> &[T] {
        &self.cells
    }

    /// The kept values, row-major.
    pub fn into_cells(self) -> Vec<T> {
        self.cells
    }

    /// The row lengths for a message, like `{:?}` of a `Vec<usize>`, ending in `…` when the
    /// array had more rows than were kept.
    pub fn row_lengths(&self) -> String {
        let mut text = format!("{:?}", self.row_lens);
        if self.rows > self.row_lens.len() {
            text.pop();
            text.push_str(if self.row_lens.is_empty() {
                "…]"
            } else {
                ", …]"
            });
        }
        text
    }
}

impl<'de, T: Deserialize<'de>, const ROWS: usize, const CELLS: usize> Deserialize<'de>
    for Rows<T, ROWS, CELLS>
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Decodes one row into the `Rows` being built.
        struct Row<'r, T, const ROWS: usize, const CELLS: usize>(&'r mut Rows<T, ROWS, CELLS>);
        impl<'de, T: Deserialize<'de>, const ROWS: usize, const CELLS: usize> DeserializeSeed<'de>
            for Row<'_, T, ROWS, CELLS>
        {
            type Value = ();
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
                d.deserialize_seq(self)
            }
        }
        impl<'de, T: Deserialize<'de>, const ROWS: usize, const CELLS: usize> Visitor<'de>
            for Row<'_, T, ROWS, CELLS>
        {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
                let mut len = 0;
                while let Some(cell) = seq.next_element::<T>()? {
                    len += 1;
                    push_capped(&mut self.0.cells, cell, CELLS);
                }
                push_capped(&mut self.0.row_lens, len, ROWS);
                Ok(())
            }
        }
        struct V<T, const ROWS: usize, const CELLS: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const ROWS: usize, const CELLS: usize> Visitor<'de>
            for V<T, ROWS, CELLS>
        {
            type Value = Rows<T, ROWS, CELLS>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut rows = Rows {
                    rows: 0,
                    row_lens: Vec::new(),
                    cells: Vec::new(),
                };
                while seq.next_element_seed(Row(&mut rows))?.is_some() {
                    rows.rows += 1;
                }
                Ok(rows)
            }
        }
        d.deserialize_seq(V::<T, ROWS, CELLS>(PhantomData))
    }
}

/// Parses an optional integer query parameter within `min..=max`, with `default` when absent.
pub fn query_int(
    name: &str,
    raw: Option<&str>,
    min: i64,
    max: i64,
    default: i64,
) -> Result<i64, InputError> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    let value: i64 = raw.trim().parse().map_err(|_| {
        InputError::invalid(format!(
            "query parameter `{name}` must be an integer in {min}..={max}, got `{raw}`"
        ))
    })?;
    if !(min..=max).contains(&value) {
        return Err(InputError::invalid(format!(
            "query parameter `{name}` must be in {min}..={max}, got {value}"
        )));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Title {
        title: Option<String>,
    }

    #[test]
    fn body_parsing_separates_json_type_and_field_errors() {
        let code = |b: &[u8]| parse_json_object::<Title>(b, &["title"]).unwrap_err().code;
        assert_eq!(code(b"{"), ErrorCode::InvalidJson);
        assert_eq!(code(b"[1]"), ErrorCode::InvalidField);
        assert_eq!(code(br#"{"title": 5}"#), ErrorCode::InvalidField);
        assert_eq!(code(br#"{"title": "a", "x": 1}"#), ErrorCode::UnknownField);
        let ok: Title = parse_json_object(br#"{"title": "a"}"#, &["title"]).unwrap();
        assert_eq!(ok.title.as_deref(), Some("a"));
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Pair {
        a: Option<i64>,
        b: Option<i64>,
    }

    fn pair(body: &str) -> Result<Pair, InputError> {
        parse_json_object(body.as_bytes(), &["a", "b"])
    }

    #[test]
    fn objects_decode_as_if_read_into_a_map_first() {
        // A repeated name keeps its last value; an earlier bad one is never decoded.
        assert_eq!(
            pair(r#"{"a": "x", "a": 2}"#),
            Ok(Pair {
                a: Some(2),
                b: None
            })
        );
        // Escaped names are names.
        assert_eq!(
            pair(r#"{"\u0062": 3}"#),
            Ok(Pair {
                a: None,
                b: Some(3)
            })
        );
        // The first type error in byte order of the names, without a position.
        assert_eq!(
            pair(r#"{"b": "y", "a": "x"}"#).unwrap_err().message,
            "invalid request body: invalid type: string \"x\", expected i64"
        );
        // The smallest unknown name, whatever the order; unknown values are not decoded.
        let e = pair(r#"{"zz": 1, "c": {"deep": [1, 2]}, "a": "x"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownField);
        assert_eq!(e.message, "unknown field `c`; allowed fields: a, b");
        // Not JSON anywhere (here a number out of range inside an unknown field) comes first,
        // with serde_json's position in the whole body.
        let e = pair(r#"{"zz": [1e400], "a": "x"}"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidJson);
        assert!(e.message.contains("line 1 column"), "{}", e.message);
        assert_eq!(pair("[1] x").unwrap_err().code, ErrorCode::InvalidJson);
        assert_eq!(pair("").unwrap_err().code, ErrorCode::InvalidJson);
        assert_eq!(pair(" 5 ").unwrap_err().code, ErrorCode::InvalidField);
    }

    #[derive(serde::Deserialize, Debug)]
    struct Nested<'a> {
        #[serde(borrow)]
        inner: Option<JsonObject<'a>>,
    }

    #[test]
    fn a_nested_object_is_kept_as_text_and_checked_later() {
        let fields = ["inner"];
        let n: Nested = parse_json_object(br#"{"inner": {"a": 1, "x": [2]}}"#, &fields).unwrap();
        let inner = n.inner.unwrap();
        assert_eq!(inner.text(), br#"{"a": 1, "x": [2]}"#);
        let inner = ObjectFields::parse(inner.text(), &["a", "b"]).unwrap();
        assert_eq!(
            inner.check_unknown().unwrap_err().code,
            ErrorCode::UnknownField
        );
        let n: Nested = parse_json_object(br#"{"inner": null}"#, &fields).unwrap();
        assert!(n.inner.is_none());
        // Not an object: the message a map would give.
        let e = parse_json_object::<Nested>(br#"{"inner": [1]}"#, &fields).unwrap_err();
        assert_eq!(
            e.message,
            "invalid request body: invalid type: sequence, expected a map"
        );
    }

    #[test]
    fn bounded_arrays_count_everything_and_keep_a_prefix() {
        let rows: Rows<i64, 2, 5> = serde_json::from_str("[[1, 2], [3], [4, 5, 6], []]").unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows.cells(), [1, 2, 3, 4, 5]);
        assert_eq!(rows.row_lengths(), "[2, 1, …]");
        assert!(!rows.has_shape(4, 2));
        let rows: Rows<i64, 4, 8> = serde_json::from_str("[[1, 2], [3, 4]]").unwrap();
        assert!(rows.has_shape(2, 2) && !rows.has_shape(2, 3) && !rows.has_shape(1, 2));
        assert_eq!(rows.row_lengths(), "[2, 2]");
        assert_eq!(rows.into_cells(), [1, 2, 3, 4]);
        // Every element is still decoded: a wrong type past the kept prefix is an error, with
        // the words a `Vec` would use.
        let e = serde_json::from_str::<Rows<i64, 1, 1>>(r#"[[1], [2, "x"]]"#).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("invalid type: string \"x\", expected i64"));
        let e = serde_json::from_str::<Rows<i64, 1, 1>>("[[1], 2]").unwrap_err();
        assert!(e
            .to_string()
            .starts_with("invalid type: integer `2`, expected a sequence"));
        let list: List<f64, 2> = serde_json::from_str("[1, 2.5, 3]").unwrap();
        assert_eq!((list.len(), list.items()), (3, &[1.0, 2.5][..]));
        assert!(serde_json::from_str::<List<f64, 2>>("[1, null]").is_err());
        let empty: List<f64, 2> = serde_json::from_str("[]").unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn exact_formatting_matches_format() {
        let long = "x".repeat(10_000);
        let text = format_exact(format_args!("got `{long}` ({})", 5));
        assert_eq!(text, format!("got `{long}` ({})", 5));
        assert_eq!(text.capacity(), text.len());
    }

    #[test]
    fn query_int_checks_type_and_range() {
        assert_eq!(query_int("limit", None, 1, 100, 50), Ok(50));
        assert_eq!(query_int("limit", Some("7"), 1, 100, 50), Ok(7));
        assert!(query_int("limit", Some("abc"), 1, 100, 50).is_err());
        assert!(query_int("limit", Some("0"), 1, 100, 50).is_err());
        assert!(query_int("limit", Some("101"), 1, 100, 50).is_err());
    }

    #[test]
    fn every_code_has_a_fitting_status() {
        assert_eq!(ErrorCode::NotConfigured.status(), 503);
        assert_eq!(ErrorCode::UpstreamTimeout.status(), 504);
        assert_eq!(ErrorCode::RateLimited.as_str(), "rate_limited");
        assert_eq!(ErrorCode::from_name("not_found"), Some(ErrorCode::NotFound));
        assert_eq!(ErrorCode::from_name("nope"), None);
    }
}
