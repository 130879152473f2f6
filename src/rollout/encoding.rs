//! The two representations of a `POST /api/rollout` answer (and of a run's experience buffer,
//! `GET /api/rollout/runs/{id}/buffer`), and how a client picks one.
//!
//! JSON (the default) prints every float with full round-trip precision: at 64 envs × 128 steps
//! a trajectory is ~1.3 MB of text, and printing it is ~90% of the request's CPU time. A client
//! that sends `Accept: application/octet-stream` gets the same answer as a
//! [safetensors](https://huggingface.co/docs/safetensors) file instead: the trajectory arrays as
//! raw little-endian tensors (bit-identical to the JSON numbers), the summary object as JSON text
//! in the header's `__metadata__["summary"]`. It is about half the bytes and is written with memory copies, so the
//! whole request stays within a couple of milliseconds of Worker CPU. Any safetensors reader
//! loads it (`safetensors.numpy.load(body)` in Python); the layout is simple enough to read by
//! hand in a browser (`static/js/safetensors.js`; README, "Binary rollout answers").

use std::borrow::Cow;

use ndarray::{Array1, Array2, ArrayBase, Data, Dimension};
use safetensors::{Dtype, View};
use serde::Serialize;

use super::buffer::BufferView;
use super::request::RolloutResponse;
use super::RolloutError;

/// The media type of the binary answer (safetensors has no registered one; the Hugging Face Hub
/// serves `.safetensors` files as `application/octet-stream` too).
pub const SAFETENSORS_MEDIA_TYPE: &str = "application/octet-stream";

/// How a rollout answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ResponseFormat {
    /// `application/json`: the documented JSON object (the default).
    Json,
    /// `application/octet-stream`: a safetensors file ([`encode_safetensors`]).
    Safetensors,
}

impl ResponseFormat {
    /// Picks the format from an `Accept` header: safetensors only when the client lists
    /// `application/octet-stream` with a q-value above 0 and ranks it above `application/json`
    /// (wildcards such as `*/*` or `application/*` count for JSON, so browsers, curl and clients
    /// that send nothing keep getting JSON). Malformed parts are ignored.
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Self::Json;
        };
        let mut binary_q: f32 = 0.0;
        let mut json_q: f32 = 0.0;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    (k.trim().eq_ignore_ascii_case("q")).then(|| v.trim().parse::<f32>().ok())?
                })
                .next()
                .filter(|q| q.is_finite())
                .unwrap_or(1.0)
                .clamp(0.0, 1.0);
            match media.as_str() {
                "application/octet-stream" => binary_q = binary_q.max(q),
                "application/json" | "application/*" | "*/*" => json_q = json_q.max(q),
                _ => {}
            }
        }
        if binary_q > 0.0 && binary_q > json_q {
            Self::Safetensors
        } else {
            Self::Json
        }
    }
}

/// One tensor, already in little-endian bytes.
struct Tensor {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for Tensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }

    fn shape(&self) -> &[usize] {
        &self.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }

    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Elements that have a safetensors dtype, written little-endian.
trait Element: Copy {
    const DTYPE: Dtype;
    const SIZE: usize;
    fn put(self, out: &mut Vec<u8>);
}

impl Element for f64 {
    const DTYPE: Dtype = Dtype::F64;
    const SIZE: usize = 8;
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Element for f32 {
    const DTYPE: Dtype = Dtype::F32;
    const SIZE: usize = 4;
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Element for u8 {
    const DTYPE: Dtype = Dtype::U8;
    const SIZE: usize = 1;
    fn put(self, out: &mut Vec<u8>) {
        out.push(self);
    }
}

impl Element for bool {
    const DTYPE: Dtype = Dtype::BOOL;
    const SIZE: usize = 1;
    fn put(self, out: &mut Vec<u8>) {
        out.push(u8::from(self));
    }
}

/// Row-major (C order) bytes of `array`, whatever its memory layout.
fn tensor<T: Element, S: Data<Elem = T>, D: Dimension>(array: &ArrayBase<S, D>) -> Tensor {
    let mut bytes = Vec::with_capacity(array.len() * T::SIZE);
    match array.as_slice() {
        Some(slice) => slice.iter().for_each(|v| v.put(&mut bytes)),
        None => array.iter().for_each(|v| v.put(&mut bytes)),
    }
    Tensor {
        dtype: T::DTYPE,
        shape: array.shape().to_vec(),
        bytes,
    }
}

/// The metadata key holding the summary.
pub const SUMMARY_KEY: &str = "summary";

/// The summary as safetensors metadata: one entry, [`SUMMARY_KEY`], whose value is the summary
/// object in JSON, exactly the JSON answer's other (non-array) fields. One entry rather than one
/// per field because the writer's metadata map is a `HashMap`: several keys would come out in a
/// different order per process, and the same answer must give the same bytes.
fn summary_metadata(
    summary: &impl Serialize,
) -> Result<hashbrown::HashMap<String, String>, RolloutError> {
    let json = serde_json::to_string(summary)
        .map_err(|e| RolloutError::Encode(format!("summary: {e}")))?;
    Ok(hashbrown::HashMap::from([(SUMMARY_KEY.to_owned(), json)]))
}

/// Writes `response` as a safetensors file: the summary in `__metadata__["summary"]`, and, when the request
/// asked for the trajectory, one tensor per trajectory array with the JSON answer's names,
/// indexed `[t][i]` like the JSON (`observations` is `(steps, num_envs, 4)` F64; `actions` U8;
/// `terminated` and `truncated` BOOL; `rewards`, `values`, `advantages`, `returns`, `log_probs`
/// F64, all `(steps, num_envs)`). Without the trajectory the file has no tensors.
///
/// Errors: `Encode` only if the writer rejects its own input (a bug).
pub fn encode_safetensors(response: &RolloutResponse) -> Result<Vec<u8>, RolloutError> {
    let metadata = summary_metadata(&response.summary)?;
    let tensors: Vec<(&str, Tensor)> = match &response.trajectory {
        None => Vec::new(),
        Some(t) => vec![
            ("observations", tensor(&t.observations)),
            ("actions", tensor(&t.actions)),
            ("rewards", tensor(&t.rewards)),
            ("terminated", tensor(&t.terminated)),
            ("truncated", tensor(&t.truncated)),
            ("values", tensor(&t.values)),
            ("advantages", tensor(&t.advantages)),
            ("returns", tensor(&t.returns)),
            ("log_probs", tensor(&t.log_probs)),
        ],
    };
    safetensors::serialize(tensors, Some(metadata))
        .map_err(|e| RolloutError::Encode(format!("safetensors: {e}")))
}

/// Writes a run's buffer answer as a safetensors file: `{"len", "capacity"}` in
/// `__metadata__["summary"]`, and the transitions, oldest first, as tensors named like the JSON
/// transition fields: `obs` F32 `(n, 4)`, `action` U8 `(n)`, `reward` F32 `(n)`, `terminated` and
/// `truncated` BOOL `(n)`. The values are the stored ones (the buffer keeps f32), so they equal
/// the JSON numbers exactly.
///
/// Errors: `Encode` only if the writer rejects its own input (a bug).
pub fn encode_buffer_safetensors(view: &BufferView) -> Result<Vec<u8>, RolloutError> {
    #[derive(Serialize)]
    struct Summary {
        len: usize,
        capacity: usize,
    }
    let metadata = summary_metadata(&Summary {
        len: view.len,
        capacity: view.capacity,
    })?;
    let ts = &view.transitions;
    let obs = Array2::from_shape_fn((ts.len(), 4), |(i, j)| ts[i].obs[j]);
    let tensors = vec![
        ("obs", tensor(&obs)),
        (
            "action",
            tensor(&ts.iter().map(|t| t.action).collect::<Array1<u8>>()),
        ),
        (
            "reward",
            tensor(&ts.iter().map(|t| t.reward).collect::<Array1<f32>>()),
        ),
        (
            "terminated",
            tensor(&ts.iter().map(|t| t.terminated).collect::<Array1<bool>>()),
        ),
        (
            "truncated",
            tensor(&ts.iter().map(|t| t.truncated).collect::<Array1<bool>>()),
        ),
    ];
    safetensors::serialize(tensors, Some(metadata))
        .map_err(|e| RolloutError::Encode(format!("safetensors: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::{rollout, RolloutRequest};
    use safetensors::SafeTensors;

    fn response(body: &str) -> RolloutResponse {
        let request = RolloutRequest::parse(body.as_bytes()).unwrap();
        rollout(&request, 7).unwrap()
    }

    fn f64s(bytes: &[u8]) -> Vec<f64> {
        bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn json_stays_the_default_for_browsers_curl_and_wildcards() {
        for accept in [
            None,
            Some(""),
            Some("*/*"),
            Some("application/json"),
            Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
            Some("application/octet-stream;q=0"),
            Some("application/json, application/octet-stream"),
            Some("application/octet-stream;q=0.5, application/*"),
            Some("application/octet-stream;q=nonsense, */*"),
        ] {
            assert_eq!(
                ResponseFormat::negotiate(accept),
                ResponseFormat::Json,
                "{accept:?}"
            );
        }
    }

    #[test]
    fn octet_stream_ranked_first_selects_safetensors() {
        for accept in [
            "application/octet-stream",
            "Application/Octet-Stream",
            "application/octet-stream, application/json;q=0.5",
            "application/json;q=0.1, application/octet-stream;q=0.2",
            " application/octet-stream ; q=1 , */*;q=0.1",
        ] {
            assert_eq!(
                ResponseFormat::negotiate(Some(accept)),
                ResponseFormat::Safetensors,
                "{accept}"
            );
        }
    }

    proptest::proptest! {
        /// Any header value is answered, and binary only when the client named octet-stream.
        #[test]
        fn any_accept_header_is_negotiated_without_panicking(accept in "\\PC{0,80}") {
            let format = ResponseFormat::negotiate(Some(&accept));
            if !accept.to_ascii_lowercase().contains("application/octet-stream") {
                proptest::prop_assert_eq!(format, ResponseFormat::Json);
            }
        }
    }

    #[test]
    fn the_trajectory_round_trips_bit_for_bit_through_the_reference_reader() {
        let r = response(
            r#"{"env":"CartPole-v1","num_envs":3,"steps":40,"include":["trajectory"],
                "policy":{"weights":[[0.1,-0.1],[0.2,0.3],[-1,1],[0.5,-0.5]],"bias":[0,0.1],
                          "value_weights":[1,2,3,4],"value_bias":0.5}}"#,
        );
        let t = r.trajectory.as_ref().unwrap();
        let bytes = encode_safetensors(&r).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(file.len(), 9);

        let obs = file.tensor("observations").unwrap();
        assert_eq!((obs.dtype(), obs.shape()), (Dtype::F64, &[40, 3, 4][..]));
        assert_eq!(
            f64s(obs.data()),
            t.observations.iter().copied().collect::<Vec<_>>()
        );
        for (name, array) in [
            ("rewards", &t.rewards),
            ("values", &t.values),
            ("advantages", &t.advantages),
            ("returns", &t.returns),
            ("log_probs", &t.log_probs),
        ] {
            let view = file.tensor(name).unwrap();
            assert_eq!(
                (view.dtype(), view.shape()),
                (Dtype::F64, &[40, 3][..]),
                "{name}"
            );
            let got = f64s(view.data());
            let want: Vec<f64> = array.iter().copied().collect();
            // Bit-for-bit, so -0.0 and every last digit survive.
            assert!(
                got.iter()
                    .zip(&want)
                    .all(|(a, b)| a.to_bits() == b.to_bits())
                    && got.len() == want.len(),
                "{name}"
            );
        }
        let actions = file.tensor("actions").unwrap();
        assert_eq!(actions.dtype(), Dtype::U8);
        assert_eq!(
            actions.data(),
            t.actions.iter().copied().collect::<Vec<u8>>()
        );
        let terminated = file.tensor("terminated").unwrap();
        assert_eq!(terminated.dtype(), Dtype::BOOL);
        assert_eq!(
            terminated.data(),
            t.terminated
                .iter()
                .map(|&b| u8::from(b))
                .collect::<Vec<u8>>()
        );
        // Some episode ended inside the horizon, so the BOOL tensor is not trivially all zero.
        assert!(terminated.data().contains(&1));
        assert_eq!(file.tensor("truncated").unwrap().shape(), &[40, 3]);
    }

    fn metadata(bytes: &[u8]) -> hashbrown::HashMap<String, String> {
        let (_, metadata) = SafeTensors::read_metadata(bytes).unwrap();
        metadata.metadata().clone().unwrap()
    }

    #[test]
    fn the_summary_is_in_the_metadata_as_json_text() {
        let r = response(r#"{"env":"CartPole-v1","num_envs":2,"steps":30}"#);
        let bytes = encode_safetensors(&r).unwrap();
        let fields = metadata(&bytes);
        assert_eq!(fields.len(), 1);
        let summary: serde_json::Value = serde_json::from_str(&fields[SUMMARY_KEY]).unwrap();
        assert_eq!(summary, serde_json::to_value(&r.summary).unwrap());
        assert_eq!(
            (summary["seed"].as_u64(), summary["num_envs"].as_u64()),
            (Some(7), Some(2))
        );
        // Without `include: ["trajectory"]` there are no tensors, only the header.
        assert!(SafeTensors::deserialize(&bytes).unwrap().is_empty());
    }

    #[test]
    fn a_summary_with_no_finished_episode_says_null() {
        let r = response(r#"{"env":"CartPole-v1","num_envs":1,"steps":1}"#);
        let fields = metadata(&encode_safetensors(&r).unwrap());
        assert!(fields[SUMMARY_KEY].contains(r#""mean_episode_return":null"#));
    }

    #[test]
    fn the_same_rollout_gives_the_same_bytes() {
        let body = r#"{"env":"CartPole-v1","num_envs":4,"steps":20,"include":["trajectory"]}"#;
        assert_eq!(
            encode_safetensors(&response(body)).unwrap(),
            encode_safetensors(&response(body)).unwrap()
        );
    }

    #[test]
    fn a_run_buffer_round_trips_exactly() {
        let mut run = crate::rollout::RunState::new(3, 9, 100).unwrap();
        run.step(50, &crate::rollout::Policy::Random).unwrap();
        let view = BufferView {
            transitions: run.latest(80),
            len: run.buffer().len(),
            capacity: run.buffer().capacity(),
        };
        let bytes = encode_buffer_safetensors(&view).unwrap();
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let obs = file.tensor("obs").unwrap();
        assert_eq!((obs.dtype(), obs.shape()), (Dtype::F32, &[80, 4][..]));
        let f32s: Vec<f32> = obs
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let want: Vec<f32> = view.transitions.iter().flat_map(|t| t.obs).collect();
        assert!(f32s
            .iter()
            .zip(&want)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        let actions: Vec<u8> = view.transitions.iter().map(|t| t.action).collect();
        assert_eq!(file.tensor("action").unwrap().data(), &actions[..]);
        let ends: Vec<u8> = view
            .transitions
            .iter()
            .map(|t| u8::from(t.terminated))
            .collect();
        assert!(ends.contains(&1), "150 random steps end some episodes");
        assert_eq!(file.tensor("terminated").unwrap().data(), &ends[..]);
        assert_eq!(file.tensor("reward").unwrap().shape(), &[80]);
        assert_eq!(
            metadata(&bytes)[SUMMARY_KEY],
            r#"{"len":100,"capacity":100}"#
        );
        // An empty buffer is a valid file with empty tensors.
        let empty = BufferView {
            transitions: Vec::new(),
            len: 0,
            capacity: 10,
        };
        let file_bytes = encode_buffer_safetensors(&empty).unwrap();
        let file = SafeTensors::deserialize(&file_bytes).unwrap();
        assert_eq!(file.tensor("obs").unwrap().shape(), &[0, 4]);
    }

    #[test]
    fn the_binary_answer_is_much_smaller_than_the_json_one() {
        let r =
            response(r#"{"env":"CartPole-v1","num_envs":64,"steps":128,"include":["trajectory"]}"#);
        let binary = encode_safetensors(&r).unwrap().len();
        let json = serde_json::to_vec(&r).unwrap().len();
        // 8192 steps × (5 f64 + 4 observation f64 + 3 bytes) ≈ 600 kB vs ≈ 1.3 MB of JSON.
        assert!(binary < 620_000 && json > 2 * binary, "{binary} vs {json}");
    }
}
