//! Write amplification of a chat tab's storage: the shipped cores (`chat::Tab` driven by the same
//! simulator the tests use, and `chat::User` receiving its index batches) against the two designs
//! of the original product, all measured on the same counting `MemoryStore`. Every put and delete
//! of both objects counts, including the owner record, the index watermark, the history index and
//! the write-counter row each writing request upserts.
//!
//! Run: `cargo bench --bench write_amplification -- [N ...]` (default N = 100 1000 10000).
//!
//! Every design appends the same N messages (content 180..=220 bytes of text, alternating user and
//! assistant, a 22-character id, one message every 300 ms unless noted). "Payload" is the content
//! bytes only, so `bytes/payload` includes keys, ids, timestamps, JSON framing, deletes and meta.
//! The counters are exact (they count operations and bytes, not time), so this table is
//! deterministic.

use edge_assistant::chat::directory::TabRecord;
use edge_assistant::chat::simulator::SimulatedTab;
use edge_assistant::chat::{format_rfc3339_ms, FlushPolicy, Message, NewMessage, Role, User};
use edge_assistant::storage::{KvStore, MemoryStore, WriteStats};
use rand_core::{RngCore, SeedableRng};
use rand_pcg::Pcg64;

const START_MS: u64 = 1_795_785_966_123;

/// The messages every design appends, generated from a fixed seed.
struct Workload {
    messages: Vec<(NewMessage, String)>,
    payload_bytes: u64,
}

fn workload(n: usize, with_client_ids: bool) -> Workload {
    const WORDS: &[&str] = &[
        "the", "edge", "worker", "answers", "a", "question", "about", "durable", "objects", "and",
        "storage", "while", "search", "results", "arrive", "from", "cache", "with", "latency",
        "budget", "message", "tab", "flush", "alarm", "page", "index", "query",
    ];
    const ID_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = Pcg64::seed_from_u64(42);
    let mut pick = |bound: usize| (rng.next_u32() as usize) % bound;
    let mut messages = Vec::with_capacity(n);
    let mut payload_bytes = 0;
    for i in 0..n {
        let target = 180 + pick(41);
        let mut content = String::with_capacity(target + 16);
        while content.len() < target {
            if !content.is_empty() {
                content.push(' ');
            }
            content.push_str(WORDS[pick(WORDS.len())]);
        }
        content.truncate(target);
        payload_bytes += content.len() as u64;
        let id: String = (0..22).map(|_| ID_CHARS[pick(64)] as char).collect();
        // A UUID-shaped idempotency key, as a browser would send.
        let client_id = with_client_ids.then(|| {
            let hex: String = (0..32).map(|_| format!("{:x}", pick(16))).collect();
            format!(
                "{}-{}-{}-{}-{}",
                &hex[..8],
                &hex[8..12],
                &hex[12..16],
                &hex[16..20],
                &hex[20..]
            )
        });
        let role = if i % 2 == 0 {
            Role::User
        } else {
            Role::Assistant
        };
        messages.push((
            NewMessage {
                role,
                content,
                client_id,
            },
            id,
        ));
    }
    Workload {
        messages,
        payload_bytes,
    }
}

/// Bytes counted for the object's write-counter row (`write_stats`: three SQLite integers),
/// upserted once by every request or alarm run that wrote. An estimate of the row's size; the
/// store's own counters do not include it.
const STATS_ROW_BYTES: u64 = 24;

/// What the shipped objects wrote for a workload.
struct ServiceWrites {
    /// The tab's object: messages, pages, meta, owner, index watermark, plus its counter rows.
    tab: WriteStats,
    /// The user's object: the history index and directory updates, plus its counter rows.
    user: WriteStats,
    tab_stored: u64,
    flushes: u64,
}

fn with_stats_rows(stats: WriteStats, rows: u64) -> WriteStats {
    WriteStats {
        write_ops: stats.write_ops + rows,
        bytes_written: stats.bytes_written + rows * STATS_ROW_BYTES,
    }
}

/// The shipped tab core driven as its Durable Object drives it ([`SimulatedTab`]: appends, the
/// alarm, the index loop), with every index batch replayed into the shipped user core over its
/// own store, as the user's object receives them.
fn shipped_design(work: &Workload, gap_ms: u64) -> ServiceWrites {
    let mut sim =
        SimulatedTab::new(MemoryStore::new(), FlushPolicy::default(), START_MS).expect("a new tab");
    for (new, _) in &work.messages {
        sim.append_with(&new.content, new.client_id.as_deref())
            .expect("append");
        sim.advance(gap_ms).expect("alarm");
    }
    // The last alarm fires after the last message.
    sim.advance(FlushPolicy::default().interval_ms)
        .expect("alarm");
    assert_eq!(sim.tab.log().pending(), 0);
    assert_eq!(sim.indexed.len(), work.messages.len());

    let mut user_store = MemoryStore::new();
    let mut user = User::load(&user_store).expect("user");
    let record = TabRecord {
        id: "t1".into(),
        title: "New chat".into(),
        created_ms: START_MS,
        updated_ms: START_MS,
        message_count: 0,
        indexed_through: 0,
    };
    user.create_tab(&mut user_store, &record).expect("create");
    let mut user_requests = 1;
    for batch in &sim.batches {
        user.index(
            &mut user_store,
            &batch.tab_id,
            &batch.messages,
            batch.message_count,
            batch.indexed_through,
            START_MS,
        )
        .expect("index");
        user_requests += 1;
    }
    ServiceWrites {
        tab: with_stats_rows(sim.store.write_stats(), sim.writing_requests),
        user: with_stats_rows(user_store.write_stats(), user_requests),
        tab_stored: sim.store.stored_bytes(),
        flushes: sim.tab.log().flushes(),
    }
}

fn api_message(seq: usize, new: &NewMessage, id: &str, now: u64) -> Message {
    Message {
        id: id.to_owned(),
        seq: seq as u64 + 1,
        role: new.role,
        content: new.content.clone(),
        created_at: format_rfc3339_ms(now),
        client_id: new.client_id.clone(),
        reply_id: None,
        status: None,
    }
}

/// The original product: the whole transcript as one JSON array, rewritten every `every`
/// messages (1 = on every message) and once more at the end for a partial batch.
///
/// The JSON is kept as a growing buffer instead of re-serializing the `Vec<Message>` each time;
/// the bytes written are identical (checked below for small N), it just keeps the O(N²) baseline
/// fast enough to run at N = 10000.
fn rewrite_design(work: &Workload, every: usize) -> MemoryStore {
    let mut store = MemoryStore::new();
    let mut json = b"[".to_vec();
    let mut all = Vec::new();
    let mut now = START_MS;
    let mut dirty = false;
    for (i, (new, id)) in work.messages.iter().enumerate() {
        let message = api_message(i, new, id, now);
        if i > 0 {
            json.push(b',');
        }
        serde_json::to_writer(&mut json, &message).expect("serialize");
        if work.messages.len() <= 100 {
            all.push(message);
        }
        dirty = true;
        if (i + 1).is_multiple_of(every) {
            json.push(b']');
            store.put("transcript", &json).expect("put");
            json.pop();
            dirty = false;
        }
        now += 300;
    }
    if dirty {
        json.push(b']');
        store.put("transcript", &json).expect("put");
    }
    if !all.is_empty() {
        let full = serde_json::to_vec(&all).expect("serialize");
        assert_eq!(store.get("transcript").expect("get"), Some(full));
    }
    store
}

struct Row {
    design: &'static str,
    n: usize,
    stats: WriteStats,
    stored: u64,
    payload: u64,
}

fn add(a: WriteStats, b: WriteStats) -> WriteStats {
    WriteStats {
        write_ops: a.write_ops + b.write_ops,
        bytes_written: a.bytes_written + b.bytes_written,
    }
}

fn main() {
    let mut sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .filter_map(|a| a.parse().ok())
        .collect();
    if sizes.is_empty() {
        sizes = vec![100, 1000, 10_000];
    }
    let mut rows = Vec::new();
    for &n in &sizes {
        let plain = workload(n, false);
        let with_ids = workload(n, true);
        let mut shipped = |design_tab, design_total, work: &Workload, gap_ms| {
            let writes = shipped_design(work, gap_ms);
            rows.push(Row {
                design: design_tab,
                n,
                stats: writes.tab,
                stored: writes.tab_stored,
                payload: work.payload_bytes,
            });
            rows.push(Row {
                design: design_total,
                n,
                stats: add(writes.tab, writes.user),
                stored: writes.tab_stored,
                payload: work.payload_bytes,
            });
            writes.flushes
        };
        shipped(
            "shipped, UI workload (client_id): tab object",
            "shipped, UI workload: tab + user objects (history index)",
            &with_ids,
            300,
        );
        shipped(
            "shipped, no client_id: tab object",
            "shipped, no client_id: tab + user objects",
            &plain,
            300,
        );
        let flushes = shipped(
            "shipped, slow chat (1 msg/3 s, alarm flushes): tab object",
            "shipped, slow chat: tab + user objects",
            &plain,
            3_000,
        );
        eprintln!("n={n}: slow chat made {flushes} alarm flushes");
        let mut push = |design, store: &MemoryStore, work: &Workload| {
            rows.push(Row {
                design,
                n,
                stats: store.write_stats(),
                stored: store.stored_bytes(),
                payload: work.payload_bytes,
            })
        };
        push(
            "original: rewrite every 10 messages",
            &rewrite_design(&plain, 10),
            &plain,
        );
        push(
            "original: rewrite on every message",
            &rewrite_design(&plain, 1),
            &plain,
        );
    }

    println!("| design | n | write ops/msg | bytes written/msg | bytes/payload | fewer bytes than rewrite-per-message | stored bytes/msg |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for row in &rows {
        let per_msg = |x: u64| x as f64 / row.n as f64;
        let baseline = rows
            .iter()
            .find(|r| r.n == row.n && r.design == "original: rewrite on every message")
            .map_or(f64::NAN, |r| r.stats.bytes_written as f64);
        println!(
            "| {} | {} | {:.2} | {:.0} | {:.2}× | {:.0}× | {:.0} |",
            row.design,
            row.n,
            per_msg(row.stats.write_ops),
            per_msg(row.stats.bytes_written),
            row.stats.bytes_written as f64 / row.payload as f64,
            baseline / row.stats.bytes_written as f64,
            per_msg(row.stored),
        );
    }
}
