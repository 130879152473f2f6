//! Typed calls between the worker and its Durable Objects: the one protocol both sides share.
//!
//! Every object accepts one enum of calls ([`tab::TabCall`], [`user::UserCall`],
//! [`run::RunCall`], [`shard::ShardCall`]); each variant wraps a struct that implements
//! [`ObjectCall`], which names the enum it belongs to and the type of its answer. The shell sends
//! a call with `edge::objects::send(env, &ObjectName, call)` and gets `Result<C::Answer, ApiError>`
//! back; the object decodes the enum, runs its core and encodes the variant's answer. Nothing
//! between worker and objects is a string path or hand-built JSON, and a field cannot go missing
//! silently: a call that does not decode is an internal error, not a default.
//!
//! Names: [`ObjectName`] builds every object name (which binding, which instance) in one place,
//! so the per-user isolation that the names provide is written and tested once.
//!
//! Wire format: the call enum as JSON in the body of a `POST https://object/call`; the answer is
//! the variant's [`Answer`] bytes with status 200, or the API's `{"error": …}` body with the
//! error's status (`edge::objects` turns it back into the same `ApiError`).

pub mod name;
pub mod run;
pub mod shard;
pub mod tab;
pub mod user;
pub mod workspace;

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::{ErrorCode, HasErrorCode};

pub use name::{ObjectKind, ObjectName};

/// The only path objects are called on (the body says which call it is).
pub const CALL_PATH: &str = "/call";

/// A call one object accepts, with the type of its answer.
pub trait ObjectCall: Into<Self::Enum> {
    /// The enum of every call of the target object (what goes on the wire).
    type Enum: Serialize + DeserializeOwned;
    /// What the object answers to this call.
    type Answer: Answer;
}

/// Failures of the call protocol itself (never the object's own errors, which travel as the
/// API's error body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// A call or an answer did not decode: the worker and the object disagree about the protocol
    /// (a deploy in progress) or a bug. Answered as 500.
    #[error("object protocol: cannot decode {what}: {detail}")]
    Decode {
        /// What was being decoded (a call enum or an answer type).
        what: &'static str,
        /// The decoder's message.
        detail: String,
    },
    /// A name part that would let names of different users or kinds collide.
    #[error("invalid object name part `{0}`")]
    InvalidName(String),
}

impl HasErrorCode for CallError {
    fn error_code(&self) -> ErrorCode {
        ErrorCode::Internal
    }
}

/// Encodes a call enum for the wire.
pub fn encode_call<E: Serialize>(call: &E) -> Result<Vec<u8>, CallError> {
    serde_json::to_vec(call).map_err(|e| CallError::Decode {
        what: std::any::type_name::<E>(),
        detail: e.to_string(),
    })
}

/// Decodes a call enum received by an object.
pub fn decode_call<E: DeserializeOwned>(bytes: &[u8]) -> Result<E, CallError> {
    serde_json::from_slice(bytes).map_err(|e| CallError::Decode {
        what: std::any::type_name::<E>(),
        detail: e.to_string(),
    })
}

/// How an answer crosses from the object to the worker.
pub trait Answer: Sized {
    /// The answer's `content-type` (the worker may pass the bytes straight to the client).
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";
    /// Encodes the answer in the object (by value: a pass-through answer is not copied).
    fn encode(self) -> Result<Vec<u8>, CallError>;
    /// Decodes the answer in the worker.
    fn decode(bytes: Vec<u8>) -> Result<Self, CallError>;
}

/// No answer beyond success.
impl Answer for () {
    fn encode(self) -> Result<Vec<u8>, CallError> {
        Ok(Vec::new())
    }
    fn decode(_: Vec<u8>) -> Result<Self, CallError> {
        Ok(())
    }
}

/// An answer of type `T` already encoded as JSON by the object, which the worker passes on to
/// the client without parsing and printing it again (message pages, stats, search results).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded<T> {
    bytes: Vec<u8>,
    of: PhantomData<fn() -> T>,
}

impl<T: Serialize> Encoded<T> {
    /// Encodes `value` (in the object).
    pub fn new(value: &T) -> Result<Self, CallError> {
        Self::from_json(value)
    }
}

impl<T> Encoded<T> {
    /// Encodes `value`, a borrowed form of `T` that serializes the same (in the object).
    pub fn from_json(value: &impl Serialize) -> Result<Self, CallError> {
        let bytes = serde_json::to_vec(value).map_err(|e| CallError::Decode {
            what: std::any::type_name::<T>(),
            detail: e.to_string(),
        })?;
        Ok(Self {
            bytes,
            of: PhantomData,
        })
    }

    /// The JSON text of the `T`.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

impl<T> Answer for Encoded<T> {
    fn encode(self) -> Result<Vec<u8>, CallError> {
        Ok(self.bytes)
    }
    fn decode(bytes: Vec<u8>) -> Result<Self, CallError> {
        Ok(Self {
            bytes,
            of: PhantomData,
        })
    }
}

/// Implements [`Answer`] as JSON for types the worker needs to read.
macro_rules! json_answer {
    ($($ty:ty),* $(,)?) => {$(
        impl $crate::calls::Answer for $ty {
            fn encode(self) -> Result<Vec<u8>, $crate::calls::CallError> {
                serde_json::to_vec(&self).map_err(|e| $crate::calls::CallError::Decode {
                    what: stringify!($ty),
                    detail: e.to_string(),
                })
            }
            fn decode(bytes: Vec<u8>) -> Result<Self, $crate::calls::CallError> {
                serde_json::from_slice(&bytes).map_err(|e| $crate::calls::CallError::Decode {
                    what: stringify!($ty),
                    detail: e.to_string(),
                })
            }
        }
    )*};
}
pub(crate) use json_answer;

/// Ties call structs to their object's enum: `From<Struct> for Enum` and the answer type.
macro_rules! calls {
    ($enum:ident { $($variant:ident => $answer:ty),* $(,)? }) => {
        $(
            impl From<$variant> for $enum {
                fn from(call: $variant) -> Self {
                    $enum::$variant(call)
                }
            }
            impl $crate::calls::ObjectCall for $variant {
                type Enum = $enum;
                type Answer = $answer;
            }
        )*
    };
}
pub(crate) use calls;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_answers_pass_bytes_through_unchanged() {
        let encoded = Encoded::new(&vec![1u32, 2, 3]).expect("encodes");
        let bytes = encoded.encode().expect("bytes");
        assert_eq!(bytes, b"[1,2,3]");
        let back: Encoded<Vec<u32>> = Encoded::decode(bytes).expect("decodes");
        assert_eq!(back.into_bytes(), b"[1,2,3]");
    }

    #[test]
    fn a_call_that_does_not_decode_is_an_internal_error_naming_the_type() {
        let err = decode_call::<tab::TabCall>(br#"{"Append":{}}"#).unwrap_err();
        assert_eq!(err.error_code(), ErrorCode::Internal);
        assert!(err.to_string().contains("TabCall"), "{err}");
    }
}
