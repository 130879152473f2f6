//! Peak heap per request, measured with a counting global allocator: parsing the worst request
//! bodies each route accepts up to its body limit, and building the largest answers.
//!
//! `cargo test --release --test request_memory -- --nocapture` prints the tables that
//! docs/ARCHITECTURE.md ("Memory per request") quotes, and fails when a figure passes its
//! documented bound. Figures are for this (64-bit) host; on wasm32 pointers and `Vec` headers are
//! half as large, so the Worker's figures are at most these. A debug build (plain `cargo test`)
//! checks the same bounds on fewer bodies and the smallest answer only, to stay quick.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use edge_assistant::body::{BodyCollector, ChunkedBody, ANSWER_CHUNK_BYTES};
use edge_assistant::chat::model::{
    parse_new_message, parse_new_tab, parse_tab_patch, APPEND_BODY_BYTES_MAX, SMALL_BODY_BYTES,
};
use edge_assistant::rollout::request::{ROLLOUT_BODY_BYTES, RUN_BODY_BYTES};
use edge_assistant::rollout::{
    encode_buffer_safetensors, encode_safetensors, rollout, BufferView, RolloutRequest,
    RunCreateRequest, RunStepRequest, Transition,
};

/// Whether to measure every body and answer (release), or a quick subset (debug).
const FULL: bool = !cfg!(debug_assertions);

/// Counts live heap bytes per thread (tests run on several threads) and their high-water mark.
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grow(n: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + n;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrink(n: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(n)));
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrink(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Old and new block coexist during a moving realloc: count the new one first.
            grow(new_size);
            shrink(layout.size());
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes `f` needs at its peak beyond what was live before it (its result is dropped inside).
fn peak_of<R>(f: impl FnOnce() -> R) -> usize {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    drop(f());
    PEAK.with(Cell::get) - base
}

/// `prefix`, then as many `item`s joined by `,` as fit, then `suffix`: at most `limit` bytes.
fn fill(prefix: &str, item: &str, suffix: &str, limit: usize) -> Vec<u8> {
    let mut body = prefix.as_bytes().to_vec();
    let mut first = true;
    while body.len() + item.len() + 1 + suffix.len() <= limit {
        if !first {
            body.push(b',');
        }
        first = false;
        body.extend_from_slice(item.as_bytes());
    }
    body.extend_from_slice(suffix.as_bytes());
    body
}

/// The body shapes that cost a `serde_json::Value` tree the most per input byte, inside field
/// `field` of an object, plus a long string.
fn hostile_bodies(field: &str, limit: usize) -> Vec<(String, Vec<u8>)> {
    let open = format!("{{\"{field}\":[");
    let mut out = vec![
        (
            "numbers `[0,0,…]`".to_owned(),
            fill(&open, "0", "]}", limit),
        ),
        (
            "empty arrays `[[],[],…]`".to_owned(),
            fill(&open, "[]", "]}", limit),
        ),
        (
            "empty objects `[{},{},…]`".to_owned(),
            fill(&open, "{}", "]}", limit),
        ),
        (
            "one-key objects `[{\"a\":0},…]`".to_owned(),
            fill(&open, "{\"a\":0}", "]}", limit),
        ),
        (
            "empty strings `[\"\",…]`".to_owned(),
            fill(&open, "\"\"", "]}", limit),
        ),
        (
            "rows of numbers `[[0,…],[0,…],…]`".to_owned(),
            fill(&open, &format!("[{}]", ["0"; 16].join(",")), "]}", limit),
        ),
    ];
    let long = "a".repeat(limit.saturating_sub(field.len() + 7));
    out.push((
        "one long string".to_owned(),
        format!("{{\"{field}\":\"{long}\"}}").into_bytes(),
    ));
    let mut keys = format!("{{\"{field}\":{{");
    let mut i = 0;
    while keys.len() + 24 < limit {
        if i > 0 {
            keys.push(',');
        }
        keys.push_str(&format!("\"k{i}\":0"));
        i += 1;
    }
    keys.push_str("}}");
    out.push(("many keys `{\"k0\":0,…}`".to_owned(), keys.into_bytes()));
    out
}

struct Row {
    route: &'static str,
    limit: usize,
    shape: String,
    body: usize,
    peak: usize,
}

/// Measures `parse` on the hostile bodies of each field in `fields`, each body wrapped in
/// `outer` (`{"policy":` … `}` to put the field one level down), at most `limit` bytes in all.
fn measure(
    route: &'static str,
    limit: usize,
    (open, close, label): (&str, &str, &str),
    fields: &[&str],
    parse: &dyn Fn(&[u8]),
    rows: &mut Vec<Row>,
) {
    for field in fields {
        for (shape, inner) in hostile_bodies(field, limit - open.len() - close.len()) {
            let body = [open.as_bytes(), &inner, close.as_bytes()].concat();
            let shape = format!("{label}`{field}`: {shape}");
            assert!(body.len() <= limit, "{route} {shape}");
            let peak = peak_of(|| parse(&body));
            rows.push(Row {
                route,
                limit,
                shape,
                body: body.len(),
                peak,
            });
        }
    }
}

/// Peak heap of parsing each route's worst bodies, and the bound each must stay under.
#[test]
fn request_body_parsing_has_a_bounded_peak() {
    let mut rows = Vec::new();
    let top = ("", "", "");
    let rollout_parse = |b: &[u8]| drop(RolloutRequest::parse(b));
    measure(
        "POST /api/rollout",
        ROLLOUT_BODY_BYTES,
        top,
        if FULL {
            &["unknown", "actions", "initial_state", "include", "env"]
        } else {
            &["unknown", "actions", "env"]
        },
        &rollout_parse,
        &mut rows,
    );
    measure(
        "POST /api/rollout",
        ROLLOUT_BODY_BYTES,
        ("{\"policy\":", "}", "in `policy`, "),
        if FULL {
            &["weights", "bias", "other"]
        } else {
            &["weights"]
        },
        &rollout_parse,
        &mut rows,
    );
    measure(
        "POST /api/rollout/runs",
        RUN_BODY_BYTES,
        top,
        &["unknown", "num_envs"],
        &|b: &[u8]| drop(RunCreateRequest::parse(b)),
        &mut rows,
    );
    measure(
        "POST /api/rollout/runs/{id}/step",
        RUN_BODY_BYTES,
        top,
        &["unknown", "policy"],
        &|b: &[u8]| drop(RunStepRequest::parse(b)),
        &mut rows,
    );
    measure(
        "POST /api/tabs/{id}/messages",
        APPEND_BODY_BYTES_MAX,
        top,
        &["unknown", "content", "role"],
        &|b: &[u8]| drop(parse_new_message(b, 65_536)),
        &mut rows,
    );
    measure(
        "POST /api/tabs, PATCH /api/tabs/{id}",
        SMALL_BODY_BYTES,
        top,
        &["unknown", "title"],
        &|b: &[u8]| {
            drop(parse_new_tab(b));
            drop(parse_tab_patch(b));
        },
        &mut rows,
    );

    println!("\n| route (body limit) | worst body | body bytes | peak heap of parsing | × body |");
    println!("|---|---|---:|---:|---:|");
    let mut worst: Vec<(&str, usize, usize)> = Vec::new();
    for row in &rows {
        println!(
            "| {} ({}) | {} | {} | {} | {:.1} |",
            row.route,
            row.limit,
            row.shape,
            row.body,
            row.peak,
            row.peak as f64 / row.body as f64
        );
        match worst.iter_mut().find(|(route, _, _)| *route == row.route) {
            Some(w) => w.2 = w.2.max(row.peak),
            None => worst.push((row.route, row.limit, row.peak)),
        }
    }
    println!("\n| route | body limit | worst peak heap of parsing | × limit |");
    println!("|---|---:|---:|---:|");
    for (route, limit, peak) in &worst {
        println!(
            "| {route} | {limit} | {peak} | {:.2} |",
            *peak as f64 / *limit as f64
        );
    }
    // The documented bounds, beyond the body itself: at most the limit, except where an error
    // message echoes one long string (serde's "invalid type: string \"…\"" builds its message
    // in a doubling `String` and shrinks it): at most 3 × the limit (plus the message's words).
    for row in &rows {
        let bound = if row.shape.contains("long string") {
            3 * row.limit + 1024
        } else {
            row.limit
        };
        assert!(
            row.peak <= bound,
            "{} {}: peak {} > {bound}",
            row.route,
            row.shape,
            row.peak
        );
    }
}

/// Peak heap of collecting a body: at most 1.5 × the limit (the buffer doubles up to the limit,
/// and a doubling copies), plus the chunk in hand, whatever the client sends; with
/// `content-length`, the buffer is sized once.
#[test]
fn collecting_a_body_needs_the_limit_at_most() {
    let chunk = vec![b' '; 64 * 1024];
    let peak = peak_of(|| {
        let mut body = BodyCollector::new(ROLLOUT_BODY_BYTES, None).ok()?;
        for _ in 0..1600 {
            body.push(&chunk).ok()?;
        }
        Some(body.finish())
    });
    println!("\ncollecting a 100 MiB chunked body against 2 MiB: peak heap {peak}");
    assert!(peak <= ROLLOUT_BODY_BYTES / 2 * 3);
    let announced = peak_of(|| {
        let length = ROLLOUT_BODY_BYTES.to_string();
        let mut body = BodyCollector::new(ROLLOUT_BODY_BYTES, Some(&length)).ok()?;
        for _ in 0..32 {
            body.push(&chunk).ok()?;
        }
        Some(body.finish())
    });
    println!("collecting a 2 MiB body with content-length: peak heap {announced}");
    assert!(announced <= ROLLOUT_BODY_BYTES + 64);
}

/// Peak heap of the largest rollout answers: the trajectory arrays plus the encoded answer (JSON
/// as `edge/http.rs` writes it, in 1 MiB chunks, and for comparison into one growing `Vec` as it
/// did before; or safetensors).
#[test]
fn the_largest_answers_have_a_bounded_peak() {
    println!("\n| answer | encoded bytes | peak heap |");
    println!("|---|---:|---:|");
    let sizes: &[(usize, usize)] = if FULL {
        &[(1024, 128), (256, 512), (64, 128)]
    } else {
        &[(64, 128)]
    };
    for &(num_envs, steps) in sizes {
        let body = edge_assistant::rollout::request::benchmark_body(num_envs, steps, true, true);
        let request = RolloutRequest::parse(body.as_bytes()).expect("benchmark body parses");
        let mut json_len = 0;
        let json_peak = peak_of(|| {
            let response = rollout(&request, 1).expect("rollout runs");
            let mut out = ChunkedBody::new(ANSWER_CHUNK_BYTES);
            serde_json::to_writer(&mut out, &response).expect("JSON encodes");
            json_len = out.len();
        });
        let vec_peak = peak_of(|| {
            let response = rollout(&request, 1).expect("rollout runs");
            let mut bytes = Vec::with_capacity(4096);
            serde_json::to_writer(&mut bytes, &response).expect("JSON encodes");
        });
        let mut st_len = 0;
        let st_peak = peak_of(|| {
            let response = rollout(&request, 1).expect("rollout runs");
            st_len = encode_safetensors(&response)
                .expect("safetensors encodes")
                .len();
        });
        println!(
            "| `POST /api/rollout` {num_envs} × {steps} with trajectory, JSON | {json_len} | {json_peak} |"
        );
        println!("| (the same into one growing `Vec`, as before) | {json_len} | {vec_peak} |");
        println!(
            "| `POST /api/rollout` {num_envs} × {steps} with trajectory, safetensors | {st_len} | {st_peak} |"
        );
        // The arrays and the encoded answer, plus at most one chunk: ~270 bytes per env-step
        // for JSON (the text is ~177 of them), ~225 for safetensors.
        let env_steps = num_envs * steps;
        assert!(
            json_peak <= 300 * env_steps + ANSWER_CHUNK_BYTES,
            "{json_peak}"
        );
        assert!(st_peak <= 240 * env_steps, "{st_peak}");
    }
    let transitions: Vec<Transition> = (0..65_536)
        .map(|i| Transition {
            obs: [0.012_345_67, -0.234_567_8, 0.034_567_89, 0.456_789_01],
            action: (i % 2) as u8,
            reward: 1.0,
            terminated: false,
            truncated: i % 500 == 0,
        })
        .collect();
    let view = BufferView {
        transitions,
        len: 65_536,
        capacity: 65_536,
    };
    let mut json_len = 0;
    let json_peak = peak_of(|| {
        let mut out = ChunkedBody::new(ANSWER_CHUNK_BYTES);
        serde_json::to_writer(&mut out, &view).expect("JSON encodes");
        json_len = out.len();
    });
    let mut st_len = 0;
    let st_peak = peak_of(|| {
        st_len = encode_buffer_safetensors(&view)
            .map(|b| b.len())
            .unwrap_or(0)
    });
    println!("| `GET /api/rollout/runs/{{id}}/buffer?limit=65536`, JSON (in the RunObject) | {json_len} | {json_peak} |");
    println!("| `GET /api/rollout/runs/{{id}}/buffer?limit=65536`, safetensors (in the RunObject) | {st_len} | {st_peak} |");
}
