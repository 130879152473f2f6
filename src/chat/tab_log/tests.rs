//! Host tests of the tab log: batching with a fake clock, paging, idempotency keys, write cost,
//! crash safety at every write, and a property test over random operation sequences.

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;

use super::*;
use crate::api::{ErrorCode, HasErrorCode};
use crate::chat::batch::FlushPolicy;
use crate::storage::MemoryStore;

type TestStore = crate::storage::FaultyStore;

fn new_msg(content: &str, client_id: Option<&str>) -> NewMessage {
    NewMessage {
        role: Role::User,
        content: content.to_owned(),
        client_id: client_id.map(str::to_owned),
    }
}

fn append(log: &mut TabLog, store: &mut impl KvStore, content: &str, now_ms: u64) -> Message {
    let id = format!("m{}", log.message_count() + 1);
    match log
        .append(store, new_msg(content, None), now_ms, id)
        .unwrap()
    {
        AppendOutcome::Created(m) => m,
        AppendOutcome::Existing(m) => panic!("unexpected existing {m:?}"),
    }
}

fn page(
    log: &TabLog,
    store: &impl KvStore,
    cursor: PageCursor,
    limit: u32,
) -> (Vec<u64>, Option<u64>) {
    let page = log.read(store, PageQuery { cursor, limit }).unwrap();
    (
        page.messages.iter().map(|m| m.seq).collect(),
        page.next_after,
    )
}

/// Every message, by walking `after` pages of 200.
fn read_all(log: &TabLog, store: &impl KvStore) -> Vec<Message> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let page = log
            .read(
                store,
                PageQuery {
                    cursor: PageCursor::After(after),
                    limit: 200,
                },
            )
            .unwrap();
        all.extend(page.messages);
        match page.next_after {
            Some(next) => after = next,
            None => return all,
        }
    }
}

/// A tab as its Durable Object drives it (the shared simulator over the real core).
struct SimulatedTab(crate::chat::simulator::SimulatedTab<TestStore>);

impl SimulatedTab {
    fn new() -> Self {
        Self(
            crate::chat::simulator::SimulatedTab::new(
                TestStore::default(),
                FlushPolicy::default(),
                1_000_000,
            )
            .unwrap(),
        )
    }
    fn append(&mut self, content: &str) -> Message {
        self.0.append(content).unwrap()
    }
    fn advance(&mut self, ms: u64) {
        self.0.advance(ms).unwrap()
    }
}

impl std::ops::Deref for SimulatedTab {
    type Target = crate::chat::simulator::SimulatedTab<TestStore>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

#[test]
fn appended_messages_are_readable_before_any_flush() {
    let mut store = TestStore::default();
    let mut log = TabLog::load(&store).unwrap();
    let first = append(&mut log, &mut store, "hello", 1_795_785_966_123);
    assert_eq!(
        first,
        Message {
            id: "m1".into(),
            seq: 1,
            role: Role::User,
            content: "hello".into(),
            created_at: "2026-11-27T13:26:06.123Z".into(),
            client_id: None,
            reply_id: None,
            status: None,
        }
    );
    append(&mut log, &mut store, "world", 1_795_785_966_500);
    assert_eq!(log.pending(), 2);
    assert_eq!(log.first_pending_at_ms(), Some(1_795_785_966_123));
    let all = read_all(&log, &store);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], first);
    assert_eq!(all[1].content, "world");
    assert_eq!(all[1].seq, 2);
}

#[test]
fn an_append_writes_one_small_record_whatever_the_transcript_length() {
    let mut store = TestStore::default();
    let mut log = TabLog::load(&store).unwrap();
    let before = store.write_stats();
    log.append(&mut store, new_msg("hello", None), 1000, "m1".into())
        .unwrap();
    // key `l/0000000001` (12 bytes) + record `["u",1000,"m1","hello"]` (23 bytes).
    let one = store.write_stats();
    assert_eq!(one.write_ops - before.write_ops, 1);
    assert_eq!(one.bytes_written - before.bytes_written, 12 + 23);

    for i in 2..=500 {
        append(&mut log, &mut store, "some earlier message", 1000 + i);
        if i % 10 == 0 {
            log.flush(&mut store, 1000 + i).unwrap();
        }
    }
    let before = store.write_stats();
    log.append(&mut store, new_msg("hello", Some("k1")), 1000, "m1".into())
        .unwrap();
    let after = store.write_stats();
    // index `c/k1` → `501` (4 + 3 bytes) + key (12) + `["u",1000,"m1","hello","k1"]` (28 bytes).
    assert_eq!(after.write_ops - before.write_ops, 2);
    assert_eq!(after.bytes_written - before.bytes_written, 7 + 12 + 28);
}

#[test]
fn threshold_flush_then_timer_flush_with_a_fake_clock() {
    let mut tab = SimulatedTab::new();
    let t0 = tab.now_ms;
    for i in 1..=25u64 {
        tab.append(&format!("message {i}"));
        tab.advance(100);
    }
    // Flushes after appends 10 and 20; 21..=25 pending with one alarm from append 21.
    assert_eq!(tab.tab.log().flushes(), 2);
    assert_eq!(tab.tab.log().pending(), 5);
    // Flushes commit records where they are: no pages, every record in the log.
    assert!(tab.store.keys("p/").is_empty());
    assert_eq!(tab.store.keys("l/").len(), 25);
    let first_pending = t0 + 20 * 100;
    assert_eq!(tab.tab.log().first_pending_at_ms(), Some(first_pending));
    assert_eq!(tab.alarm, Some(first_pending + 5000));

    // Nothing happens until the interval has passed since the first pending append.
    tab.advance(first_pending + 4999 - tab.now_ms);
    assert_eq!(tab.tab.log().pending(), 5);
    tab.advance(1);
    assert_eq!(tab.tab.log().pending(), 0);
    assert_eq!(tab.tab.log().flushes(), 3);
    assert_eq!(tab.tab.log().last_flush_at_ms(), Some(first_pending + 5000));
    assert_eq!(tab.alarm, None);
    assert!(tab.store.keys("p/").is_empty());
    let seqs: Vec<u64> = read_all(tab.tab.log(), &tab.store)
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(seqs, (1..=25).collect::<Vec<_>>());
}

#[test]
fn flushing_twice_is_a_no_op_the_second_time() {
    let mut store = TestStore::default();
    let mut log = TabLog::load(&store).unwrap();
    for i in 0..3 {
        append(&mut log, &mut store, "x", i);
    }
    let first = log.flush(&mut store, 50).unwrap();
    assert_eq!(
        first.flushed.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(first.message_count, 3);
    let stats = store.write_stats();
    let second = log.flush(&mut store, 60).unwrap();
    assert_eq!(
        second,
        FlushReport {
            flushed: vec![],
            message_count: 3
        }
    );
    assert_eq!(store.write_stats(), stats);
    assert_eq!(log.flushes(), 1);
    assert_eq!(log.last_flush_at_ms(), Some(50));
    // Same after a restart (an alarm redelivered to a fresh object).
    let mut reloaded = TabLog::load(&store).unwrap();
    assert_eq!(reloaded.flush(&mut store, 70).unwrap().flushed, vec![]);
    assert_eq!(store.write_stats(), stats);
}

#[test]
fn paging_across_page_and_pending_boundaries() {
    let mut store = TestStore::default();
    let mut log = TabLog::load(&store).unwrap();
    // Pages of an earlier version 1..=10, 11..=20, then 21..=25 committed in the log by this
    // version, and pending 26..=28: reads cross every boundary.
    for i in 1..=28u64 {
        append(&mut log, &mut store, &format!("c{i}"), i);
        if i == 10 || i == 20 {
            log.legacy_compact(&mut store, i).unwrap();
        }
        if i == 25 {
            log.flush(&mut store, i).unwrap();
        }
    }
    assert_eq!(store.keys("p/"), ["p/0000000001", "p/0000000011"]);
    assert_eq!(store.keys("l/").len(), 8);
    use PageCursor::{After, Before};
    assert_eq!(page(&log, &store, After(0), 3), (vec![1, 2, 3], Some(3)));
    assert_eq!(
        page(&log, &store, After(9), 3),
        (vec![10, 11, 12], Some(12))
    );
    assert_eq!(
        page(&log, &store, After(10), 10),
        ((11..=20).collect(), Some(20))
    );
    assert_eq!(
        page(&log, &store, After(23), 4),
        ((24..=27).collect(), Some(27))
    );
    assert_eq!(
        page(&log, &store, After(20), 50),
        ((21..=28).collect(), None)
    );
    assert_eq!(page(&log, &store, After(28), 5), (vec![], None));
    assert_eq!(page(&log, &store, After(1000), 5), (vec![], None));
    assert_eq!(
        page(&log, &store, Before(11), 3),
        (vec![8, 9, 10], Some(10))
    );
    assert_eq!(
        page(&log, &store, Before(26), 10),
        ((16..=25).collect(), Some(25))
    );
    assert_eq!(page(&log, &store, Before(29), 2), (vec![27, 28], None));
    assert_eq!(
        page(&log, &store, Before(1000), 3),
        (vec![26, 27, 28], None)
    );
    assert_eq!(page(&log, &store, Before(3), 50), (vec![1, 2], Some(2)));
    assert_eq!(page(&log, &store, Before(1), 50), (vec![], None));
    assert_eq!(page(&log, &store, Before(0), 50), (vec![], None));
    let contents: Vec<String> = log
        .read(
            &store,
            PageQuery {
                cursor: After(19),
                limit: 8,
            },
        )
        .unwrap()
        .messages
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(
        contents,
        ["c20", "c21", "c22", "c23", "c24", "c25", "c26", "c27"]
    );
    assert_eq!(log.message(&store, 21).unwrap().unwrap().content, "c21");
    assert_eq!(log.message(&store, 27).unwrap().unwrap().content, "c27");
    assert_eq!(log.message(&store, 29).unwrap(), None);
    assert_eq!(log.message(&store, 0).unwrap(), None);
}

#[test]
fn pages_of_earlier_versions_are_read_with_the_log() {
    let mut store = TestStore::default();
    let mut log = TabLog::load(&store).unwrap();
    for i in 0..250 {
        append(&mut log, &mut store, "x", i);
    }
    log.legacy_compact(&mut store, 1).unwrap();
    assert_eq!(
        store.keys("p/"),
        ["p/0000000001", "p/0000000101", "p/0000000201"]
    );
    // 50 KB messages: two fit under PAGE_MAX_BYTES (128 KiB), a third does not.
    let big = "y".repeat(50_000);
    for i in 0..5 {
        append(&mut log, &mut store, &big, i);
    }
    log.legacy_compact(&mut store, 2).unwrap();
    assert_eq!(
        store.keys("p/")[3..],
        ["p/0000000251", "p/0000000253", "p/0000000255"]
    );
    assert_eq!(read_all(&log, &store).len(), 255);
}

#[test]
fn client_ids_make_appends_idempotent() {
    let mut store = TestStore::default();
    let mut log = TabLog::load(&store).unwrap();
    let original = log
        .append(
            &mut store,
            new_msg("first", Some("retry-1")),
            10,
            "a".into(),
        )
        .unwrap();
    let AppendOutcome::Created(original) = original else {
        panic!("first append must create")
    };
    let stats = store.write_stats();
    let again = log
        .append(
            &mut store,
            new_msg("first (resent)", Some("retry-1")),
            20,
            "b".into(),
        )
        .unwrap();
    assert_eq!(again, AppendOutcome::Existing(original.clone()));
    assert_eq!(store.write_stats(), stats, "a retry stores nothing");
    assert_eq!(log.message_count(), 1);

    // Still recognised once flushed into a page and after a restart.
    append(&mut log, &mut store, "other", 30);
    log.flush(&mut store, 40).unwrap();
    let mut log = TabLog::load(&store).unwrap();
    let again = log
        .append(&mut store, new_msg("x", Some("retry-1")), 50, "c".into())
        .unwrap();
    assert_eq!(again.message(), &original);
    // A different key is a different message.
    let other = log
        .append(&mut store, new_msg("x", Some("retry-2")), 60, "d".into())
        .unwrap();
    assert!(matches!(other, AppendOutcome::Created(ref m) if m.seq == 3));
    assert_eq!(read_all(&log, &store).len(), 3);
}

#[test]
fn a_thousand_appends_page_back_in_order() {
    let mut tab = SimulatedTab::new();
    for i in 1..=1000 {
        tab.append(&format!("message number {i}"));
        tab.advance(37);
    }
    let all = read_all(tab.tab.log(), &tab.store);
    assert_eq!(all.len(), 1000);
    for (i, message) in all.iter().enumerate() {
        assert_eq!(message.seq, i as u64 + 1);
        assert_eq!(message.content, format!("message number {}", i + 1));
    }
    assert!(all.windows(2).all(|w| w[0].created_at <= w[1].created_at));
    // Walking backwards with `before` gives the same messages.
    let mut backwards = Vec::new();
    let mut before = 1001;
    loop {
        let page = tab
            .tab
            .log()
            .read(
                &tab.store,
                PageQuery {
                    cursor: PageCursor::Before(before),
                    limit: 64,
                },
            )
            .unwrap();
        let Some(first) = page.messages.first() else {
            break;
        };
        before = first.seq;
        backwards.splice(0..0, page.messages);
    }
    assert_eq!(backwards, all);
    assert_eq!(tab.tab.log().flushes(), 100);
}

#[test]
fn loading_reads_only_the_pending_part() {
    let mut store = TestStore::default();
    let mut log = TabLog::load(&store).unwrap();
    for i in 1..=1003u64 {
        append(&mut log, &mut store, "text", i);
        if i % 10 == 0 {
            log.flush(&mut store, i).unwrap();
        }
    }
    let read_before = store.entries_read();
    let reloaded = TabLog::load(&store).unwrap();
    // One meta get, two range calls, three pending log entries.
    assert_eq!(store.entries_read() - read_before, 1 + 2 + 3);
    assert_eq!(reloaded, log);
    assert_eq!(reloaded.message_count(), 1003);
    assert_eq!(reloaded.pending(), 3);
}

/// Builds 12 flushed + 7 pending messages (two with client ids), then returns the store.
fn tab_with_pending() -> (TestStore, TabLog) {
    let mut store = TestStore::default();
    let mut log = TabLog::load(&store).unwrap();
    for i in 1..=19u64 {
        let cid = (i % 9 == 0).then(|| format!("cid-{i}"));
        log.append(
            &mut store,
            new_msg(&format!("c{i}"), cid.as_deref()),
            i * 10,
            format!("m{i}"),
        )
        .unwrap();
        if i == 12 {
            log.flush(&mut store, 125).unwrap();
        }
    }
    (store, log)
}

#[test]
fn a_failed_flush_changes_nothing_and_the_retry_reports_the_same_messages() {
    let (mut reference_store, mut reference) = tab_with_pending();
    let before = reference_store.write_stats();
    reference.flush(&mut reference_store, 999).unwrap();
    let after = reference_store.write_stats();
    assert_eq!(after.write_ops - before.write_ops, 1, "one meta put");

    let (mut store, mut log) = tab_with_pending();
    let expected = read_all(&log, &store);
    store.crash_after(0);
    assert_eq!(
        log.flush(&mut store, 999).unwrap_err().error_code(),
        ErrorCode::Internal
    );
    store.restart();
    let mut log = TabLog::load(&store).unwrap();
    assert_eq!(log.pending(), 7);
    assert_eq!(read_all(&log, &store), expected);
    let report = log.flush(&mut store, 1000).unwrap();
    assert_eq!(
        report.flushed.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (13..=19).collect::<Vec<_>>()
    );
    assert_eq!(read_all(&log, &store), expected);
}

#[test]
fn a_compaction_of_an_earlier_version_that_crashed_at_any_write_is_recovered() {
    // Earlier versions compacted at flush: one page, seven log deletes, one meta put. A store
    // left by a crash after any of those writes must load, read and flush with this version
    // without losing or duplicating a message.
    let (mut reference_store, mut reference) = tab_with_pending();
    let expected = read_all(&reference, &reference_store);
    let before = reference_store.write_stats().write_ops;
    reference.legacy_compact(&mut reference_store, 999).unwrap();
    let compaction_writes = (reference_store.write_stats().write_ops - before) as usize;
    assert_eq!(compaction_writes, 1 + 7 + 1);

    for crash_at in 0..compaction_writes {
        let (mut store, mut log) = tab_with_pending();
        store.crash_after(crash_at);
        assert!(log.legacy_compact(&mut store, 999).is_err());
        store.restart();

        // The restarted object sees every message exactly once, still pending.
        let mut log = TabLog::load(&store).unwrap();
        assert_eq!(log.pending(), 7, "crash after {crash_at} writes");
        assert_eq!(read_all(&log, &store), expected, "crash after {crash_at}");
        let extra = append(&mut log, &mut store, "after the crash", 1000);
        assert_eq!(extra.seq, 20);
        // This version's flush commits everything the crashed one did not, exactly once.
        let report = log.flush(&mut store, 1001).unwrap();
        assert_eq!(
            report.flushed.iter().map(|m| m.seq).collect::<Vec<_>>(),
            (13..=20).collect::<Vec<_>>()
        );
        assert_eq!(log.pending(), 0);
        let reloaded = TabLog::load(&store).unwrap();
        let mut all = read_all(&reloaded, &store);
        assert_eq!(all.pop().unwrap().content, "after the crash");
        assert_eq!(all, expected, "crash after {crash_at}");
        // The client ids still resolve.
        let mut log = reloaded;
        let retry = log.append(&mut store, new_msg("dup", Some("cid-18")), 2000, "z".into());
        assert_eq!(retry.unwrap().message().seq, 18);
    }
}

#[test]
fn a_crash_at_any_write_of_an_append_never_duplicates_a_retry() {
    for crash_at in 0..2 {
        let (mut store, mut log) = tab_with_pending();
        store.crash_after(crash_at);
        assert!(log
            .append(
                &mut store,
                new_msg("new", Some("retry-me")),
                500,
                "n1".into()
            )
            .is_err());
        store.restart();
        let mut log = TabLog::load(&store).unwrap();
        // Unacknowledged, so it may or may not be there; here both writes were needed for it.
        assert_eq!(log.message_count(), 19);
        // An append without a client id takes seq 20, leaving the stale index entry dangling.
        append(&mut log, &mut store, "someone else", 510);
        let retried = log
            .append(
                &mut store,
                new_msg("new", Some("retry-me")),
                520,
                "n2".into(),
            )
            .unwrap();
        assert!(matches!(retried, AppendOutcome::Created(ref m) if m.seq == 21));
        let again = log
            .append(
                &mut store,
                new_msg("new", Some("retry-me")),
                530,
                "n3".into(),
            )
            .unwrap();
        assert!(matches!(again, AppendOutcome::Existing(ref m) if m.seq == 21 && m.id == "n2"));
        assert_eq!(read_all(&log, &store).len(), 21);
    }
}

#[test]
fn corrupt_storage_is_an_internal_error_not_a_panic() {
    let (mut store, _) = tab_with_pending();
    store.inner.put("l/0000000015", b"{not json").unwrap();
    let err = TabLog::load(&store).unwrap_err();
    assert_eq!(err.error_code(), ErrorCode::Internal);
    assert!(err.to_string().contains("message 15"), "{err}");

    let (mut store, _) = tab_with_pending();
    store.inner.delete("l/0000000015").unwrap();
    let err = TabLog::load(&store).unwrap_err();
    assert!(err.to_string().contains("message 15 is missing"), "{err}");

    let (mut store, _) = tab_with_pending();
    store.inner.delete("l/0000000002").unwrap();
    // Loaded again: the log that wrote the messages would answer from its tail in memory.
    let err = TabLog::load(&store)
        .unwrap()
        .read(
            &store,
            PageQuery {
                cursor: PageCursor::After(0),
                limit: 20,
            },
        )
        .unwrap_err();
    assert!(err.to_string().contains("message 2 is missing"), "{err}");

    let (mut store, _) = tab_with_pending();
    store.inner.put("m", b"[]").unwrap();
    assert!(TabLog::load(&store)
        .unwrap_err()
        .to_string()
        .contains("meta"));
    store
        .inner
        .put(
            "m",
            format!(r#"{{"through":{},"flushes":1}}"#, u64::MAX).as_bytes(),
        )
        .unwrap();
    assert_eq!(
        TabLog::load(&store).unwrap_err().error_code(),
        ErrorCode::Internal
    );

    for bad in [
        r#"["x",1,"a","b"]"#,
        r#"["u",-1,"a","b"]"#,
        r#"["u",1,"a"]"#,
        r#"["u",1,"a","b",2]"#,
        r#"["u",1,"a","b","c","d"]"#,
        "{}",
    ] {
        let (mut store, _) = tab_with_pending();
        store.inner.put("l/0000000016", bad.as_bytes()).unwrap();
        assert_eq!(
            TabLog::load(&store).unwrap_err().error_code(),
            ErrorCode::Internal,
            "{bad}"
        );
    }
}

#[test]
fn stats_report_counts_and_storage_writes() {
    let (store, log) = tab_with_pending();
    let stats = log.stats(&store);
    assert_eq!(stats.message_count, 19);
    assert_eq!(stats.pending, 7);
    assert_eq!(stats.flushes, 1);
    assert_eq!(
        stats.last_flush_at.as_deref(),
        Some("1970-01-01T00:00:00.125Z")
    );
    assert_eq!(stats.storage, store.write_stats());
    assert!(stats.storage.write_ops > 19);
}

#[test]
fn a_full_tab_refuses_appends() {
    let mut store = TestStore::default();
    store
        .inner
        .put(
            "m",
            format!(r#"{{"through":{MAX_SEQ},"flushes":1}}"#).as_bytes(),
        )
        .unwrap();
    let mut log = TabLog::load(&store).unwrap();
    let err = log
        .append(&mut store, new_msg("x", None), 1, "m".into())
        .unwrap_err();
    assert_eq!(err.error_code(), ErrorCode::LimitExceeded);
}

#[derive(Debug, Clone)]
enum Op {
    Append { client_id: Option<u8>, len: usize },
    Flush,
    Reload,
    CrashFlush { after_writes: usize },
    ReadAfter { after: u64, limit: u32 },
    ReadBefore { before: u64, limit: u32 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (proptest::option::weighted(0.3, 0u8..6), 1usize..40)
            .prop_map(|(client_id, len)| Op::Append { client_id, len }),
        2 => Just(Op::Flush),
        1 => Just(Op::Reload),
        1 => (0usize..12).prop_map(|after_writes| Op::CrashFlush { after_writes }),
        1 => (0u64..60, 1u32..30).prop_map(|(after, limit)| Op::ReadAfter { after, limit }),
        1 => (0u64..60, 1u32..30).prop_map(|(before, limit)| Op::ReadBefore { before, limit }),
    ]
}

proptest! {
    /// Random interleavings of appends, flushes (some crashing midway), restarts and reads never
    /// lose, duplicate or reorder an acknowledged message, and every message is reported by some
    /// successful flush.
    #[test]
    fn random_interleavings_keep_every_message_in_order(ops in proptest::collection::vec(op(), 1..60)) {
        let mut store = TestStore::default();
        let mut log = TabLog::load(&store).unwrap();
        let mut model: Vec<(String, Option<String>)> = Vec::new();
        let mut by_client: HashMap<String, u64> = HashMap::new();
        let mut reported = BTreeSet::new();
        let mut now = 0u64;
        for op in ops {
            now += 1;
            match op {
                Op::Append { client_id, len } => {
                    let cid = client_id.map(|c| format!("c{c}"));
                    let content = format!("{}{}", model.len() + 1, "x".repeat(len));
                    let outcome = log
                        .append(&mut store, new_msg(&content, cid.as_deref()), now, format!("id{now}"))
                        .unwrap();
                    match (cid.as_ref().and_then(|c| by_client.get(c)), outcome) {
                        (Some(&seq), AppendOutcome::Existing(m)) => prop_assert_eq!(m.seq, seq),
                        (None, AppendOutcome::Created(m)) => {
                            model.push((content, cid.clone()));
                            prop_assert_eq!(m.seq, model.len() as u64);
                            if let Some(c) = cid {
                                by_client.insert(c, m.seq);
                            }
                        }
                        (expected, outcome) => prop_assert!(false, "expected {:?}, got {:?}", expected, outcome),
                    }
                }
                Op::Flush => {
                    let report = log.flush(&mut store, now).unwrap();
                    reported.extend(report.flushed.iter().map(|m| m.seq));
                    prop_assert_eq!(log.pending(), 0);
                }
                Op::Reload => log = TabLog::load(&store).unwrap(),
                Op::CrashFlush { after_writes } => {
                    store.crash_after(after_writes);
                    if let Ok(report) = log.flush(&mut store, now) {
                        reported.extend(report.flushed.iter().map(|m| m.seq));
                    }
                    store.restart();
                    log = TabLog::load(&store).unwrap();
                }
                Op::ReadAfter { after, limit } => {
                    let page = log.read(&store, PageQuery { cursor: PageCursor::After(after), limit }).unwrap();
                    let n = model.len() as u64;
                    let expected: Vec<u64> = (after + 1..=n.min(after + u64::from(limit))).collect();
                    prop_assert_eq!(page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), expected);
                }
                Op::ReadBefore { before, limit } => {
                    let page = log.read(&store, PageQuery { cursor: PageCursor::Before(before), limit }).unwrap();
                    let hi = (model.len() as u64).min(before.saturating_sub(1));
                    let lo = (hi + 1).saturating_sub(u64::from(limit)).max(1);
                    let expected: Vec<u64> = (lo..=hi).collect();
                    prop_assert_eq!(page.messages.iter().map(|m| m.seq).collect::<Vec<_>>(), expected);
                }
            }
            let all = read_all(&log, &store);
            let seen: Vec<(String, Option<String>)> =
                all.iter().map(|m| (m.content.clone(), m.client_id.clone())).collect();
            prop_assert_eq!(&seen, &model);
            prop_assert!(all.iter().enumerate().all(|(i, m)| m.seq == i as u64 + 1));
            prop_assert_eq!(log.message_count(), model.len() as u64);
        }
        let report = log.flush(&mut store, now + 1).unwrap();
        reported.extend(report.flushed.iter().map(|m| m.seq));
        prop_assert_eq!(reported, (1..=model.len() as u64).collect::<BTreeSet<_>>());
        prop_assert!(store.keys("p/").is_empty());
        prop_assert_eq!(store.keys("l/").len(), model.len());
    }
}

#[test]
fn between_reads_the_open_range_and_pages_within_it() {
    let mut store = MemoryStore::new();
    let mut log = TabLog::load(&store).unwrap();
    for i in 1..=30u64 {
        append(&mut log, &mut store, &format!("m{i}"), i);
        if i == 12 {
            log.flush(&mut store, 100).unwrap();
        }
    }
    let between = |after, before, limit| {
        log.read(
            &store,
            PageQuery {
                cursor: PageCursor::Between(after, before),
                limit,
            },
        )
        .unwrap()
    };
    let first = between(5, 20, 10);
    assert_eq!(
        first.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (6..=15).collect::<Vec<_>>()
    );
    assert_eq!(first.next_after, Some(15));
    let second = between(15, 20, 10);
    assert_eq!(
        second.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (16..=19).collect::<Vec<_>>()
    );
    assert_eq!(second.next_after, None);
    assert!(between(19, 20, 10).messages.is_empty());
    assert!(between(10, 5, 10).messages.is_empty());
}

#[test]
fn a_pending_message_is_one_range_read_when_no_orphan_pages_exist() {
    // Only an earlier version's crashed compaction leaves pages above the flushed watermark;
    // without them a pending read skips the page range (a reply's start reads its question so).
    let mut store = TestStore::new();
    let mut log = TabLog::load(&store).unwrap();
    append(&mut log, &mut store, "one", 1);
    append(&mut log, &mut store, "two", 2);
    // Loaded again, so the message is not in the log's tail in memory.
    let log = TabLog::load(&store).unwrap();
    let before = store.entries_read();
    let second = log.message(&store, 2).unwrap().unwrap();
    assert_eq!(second.content, "two");
    // One range read with its one row; the page range would count one more.
    assert_eq!(store.entries_read() - before, 2);

    // With orphan pages (a crashed compaction), load finds them and reads keep the page range:
    // here the pending messages are in the orphan page only.
    let (mut store, mut log) = tab_with_pending();
    let expected = read_all(&log, &store);
    store.crash_after(1 + 7); // the page and the log deletes are written, the meta is not
    assert!(log.legacy_compact(&mut store, 999).is_err());
    store.restart();
    let log = TabLog::load(&store).unwrap();
    assert_eq!(read_all(&log, &store), expected);
}

/// Entries the store returns to `read`: what a query of the log costs in storage reads.
fn reads_of<T>(store: &TestStore, read: impl FnOnce() -> T) -> (T, u64) {
    let before = store.entries_read();
    let out = read();
    (out, store.entries_read() - before)
}

fn before(seq: u64, limit: u32) -> PageQuery {
    PageQuery {
        cursor: PageCursor::Before(seq),
        limit,
    }
}

#[test]
fn the_newest_messages_are_read_from_memory() {
    let mut store = TestStore::new();
    let mut log = TabLog::load(&store).unwrap();
    for i in 1..=150 {
        append(&mut log, &mut store, &format!("message {i}"), i);
        if i % 10 == 0 {
            log.flush(&mut store, i).unwrap();
        }
    }
    // A reply's history (the 101 messages up to its question) and the UI's newest page.
    let (page, reads) = reads_of(&store, || log.read(&store, before(151, 101)).unwrap());
    assert_eq!(reads, 0);
    assert_eq!(page.messages.len(), 101);
    assert_eq!(page.messages[0].seq, 50);
    assert_eq!(page.messages[100].content, "message 150");
    // Older than the tail holds (128 messages): from storage.
    let (page, reads) = reads_of(&store, || log.read(&store, before(20, 5)).unwrap());
    assert!(reads >= 5, "{reads}");
    assert_eq!(page.messages[4].content, "message 19");

    // After a restart the tail is empty; the first read of the end fills it.
    let log = TabLog::load(&store).unwrap();
    let (first, reads) = reads_of(&store, || log.read(&store, before(151, 101)).unwrap());
    assert!(reads > 101, "{reads}");
    let (again, reads) = reads_of(&store, || log.read(&store, before(151, 101)).unwrap());
    assert_eq!(reads, 0);
    assert_eq!(again, first);
}

/// A tab with a question (message 1) and the streaming message of its reply `r1` (message 2).
fn question_and_streaming_reply() -> (TestStore, TabLog, Message) {
    let mut store = TestStore::new();
    let mut log = TabLog::load(&store).unwrap();
    append(&mut log, &mut store, "question", 1);
    let started = log
        .append_reply_message(&mut store, "r1", 2, "m2".into())
        .unwrap();
    (store, log, started)
}

#[test]
fn a_reply_message_is_read_from_memory_with_its_final_text() {
    let (mut store, mut log, started) = question_and_streaming_reply();
    let (page, reads) = reads_of(&store, || log.read(&store, before(3, 10)).unwrap());
    assert_eq!(reads, 0);
    assert_eq!(page.messages[1], started);
    let finished = log
        .finish_reply_message(
            &mut store,
            2,
            "r1",
            "the answer".into(),
            ReplyStatus::Complete,
        )
        .unwrap();
    let (page, reads) = reads_of(&store, || log.read(&store, before(3, 10)).unwrap());
    assert_eq!(reads, 0);
    assert_eq!(page.messages[1], finished);
    assert_eq!(page.messages[1].content, "the answer");
    // What storage holds, read by a log without a tail, is the same.
    assert_eq!(
        TabLog::load(&store)
            .unwrap()
            .read(&store, before(3, 10))
            .unwrap(),
        page
    );
}

#[test]
fn a_failed_rewrite_forgets_the_tail_and_reads_what_storage_holds() {
    let (mut store, mut log, started) = question_and_streaming_reply();
    store.fail_nth_write(1);
    assert!(log
        .finish_reply_message(&mut store, 2, "r1", "lost".into(), ReplyStatus::Complete)
        .is_err());
    let (page, reads) = reads_of(&store, || log.read(&store, before(3, 10)).unwrap());
    assert!(reads > 0);
    assert_eq!(page.messages[1], started);

    // A failed append leaves the tail as it was: the message does not exist.
    store.fail_nth_write(1);
    assert!(log
        .append(&mut store, new_msg("not stored", None), 3, "m3".into())
        .is_err());
    let (page, reads) = reads_of(&store, || log.read(&store, before(4, 10)).unwrap());
    assert_eq!(reads, 0);
    assert_eq!(page.messages.len(), 2);
    assert_eq!(page.messages[1], started);
}

#[test]
fn the_tail_is_bounded_in_messages_and_bytes() {
    let mut store = TestStore::new();
    let mut log = TabLog::load(&store).unwrap();
    for i in 1..=200 {
        append(&mut log, &mut store, "short", i);
    }
    assert_eq!(log.tail.borrow().len(), tail::MAX_MESSAGES);
    // One message larger than the byte bound is not kept, and reads of it go to storage.
    let big = "x".repeat(tail::MAX_BYTES + 1);
    append(&mut log, &mut store, &big, 201);
    assert_eq!(log.tail.borrow().len(), 0);
    let (page, reads) = reads_of(&store, || log.read(&store, before(202, 2)).unwrap());
    assert!(reads > 0);
    assert_eq!(page.messages[1].content, big);
    assert_eq!(page.messages[0].content, "short");
    // Half the bound each: the tail keeps the newest one only.
    let half = "y".repeat(tail::MAX_BYTES / 2);
    append(&mut log, &mut store, &half, 202);
    append(&mut log, &mut store, &half, 203);
    assert_eq!(log.tail.borrow().len(), 1);
}

#[derive(Debug, Clone)]
enum TailOp {
    Append { len: usize, fail: bool },
    StartReply,
    FinishReply { len: usize, fail: bool },
    Flush,
    Read { before: u64, limit: u32 },
    ReadAfter { after: u64, limit: u32 },
}

fn tail_op() -> impl Strategy<Value = TailOp> {
    prop_oneof![
        6 => (0usize..30_000, proptest::bool::weighted(0.1))
            .prop_map(|(len, fail)| TailOp::Append { len, fail }),
        2 => Just(TailOp::StartReply),
        2 => (0usize..60_000, proptest::bool::weighted(0.2))
            .prop_map(|(len, fail)| TailOp::FinishReply { len, fail }),
        1 => Just(TailOp::Flush),
        3 => (0u64..200, 1u32..130).prop_map(|(before, limit)| TailOp::Read { before, limit }),
        1 => (0u64..200, 1u32..130).prop_map(|(after, limit)| TailOp::ReadAfter { after, limit }),
    ]
}

proptest! {
    // Each case reloads the log for every read and writes up to 60 KB messages: 64 cases keep
    // the test near a few seconds.
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the writes (large or small, some failing) and reads, every read of the log that
    /// keeps its tail equals the same read by a log loaded from the store, which has none.
    #[test]
    fn reads_through_the_tail_equal_reads_of_storage(ops in proptest::collection::vec(tail_op(), 1..120)) {
        let mut store = TestStore::default();
        let mut log = TabLog::load(&store).unwrap();
        let mut streaming: Option<(u64, String)> = None;
        let mut now = 0u64;
        for op in ops {
            now += 1;
            match op {
                TailOp::Append { len, fail } => {
                    if fail {
                        store.fail_nth_write(1);
                    }
                    let content = format!("{now}:{}", "a".repeat(len));
                    let appended = log.append(&mut store, new_msg(&content, None), now, format!("m{now}"));
                    prop_assert_eq!(appended.is_err(), fail);
                }
                TailOp::StartReply => {
                    if streaming.is_none() {
                        let id = format!("r{now}");
                        let message = log.append_reply_message(&mut store, &id, now, format!("m{now}")).unwrap();
                        streaming = Some((message.seq, id));
                    }
                }
                TailOp::FinishReply { len, fail } => {
                    if let Some((seq, id)) = streaming.take() {
                        if fail {
                            store.fail_nth_write(1);
                        }
                        let text = format!("{now}:{}", "b".repeat(len));
                        let finished = log.finish_reply_message(&mut store, seq, &id, text, ReplyStatus::Complete);
                        prop_assert_eq!(finished.is_err(), fail);
                        if fail {
                            streaming = Some((seq, id));
                        }
                    }
                }
                TailOp::Flush => {
                    log.flush(&mut store, now).unwrap();
                }
                TailOp::Read { before: seq, limit } => {
                    let query = before(seq, limit);
                    let fresh = TabLog::load(&store).unwrap().read(&store, query).unwrap();
                    prop_assert_eq!(log.read(&store, query).unwrap(), fresh);
                }
                TailOp::ReadAfter { after, limit } => {
                    let query = PageQuery { cursor: PageCursor::After(after), limit };
                    let fresh = TabLog::load(&store).unwrap().read(&store, query).unwrap();
                    prop_assert_eq!(log.read(&store, query).unwrap(), fresh);
                }
            }
        }
        // And the newest page at the end, whatever the last operation was.
        let last = log.message_count() + 1;
        let fresh = TabLog::load(&store).unwrap().read(&store, before(last, 129)).unwrap();
        prop_assert_eq!(log.read(&store, before(last, 129)).unwrap(), fresh);
    }
}
