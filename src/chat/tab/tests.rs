//! Host tests of the tab core, driven through the shared simulator as the object drives it.

use super::*;
use crate::chat::model::Role;
use crate::chat::simulator::SimulatedTab;
use crate::storage::{FaultyStore, MemoryStore};

const T0: u64 = 1_000_000;

fn sim() -> SimulatedTab<FaultyStore> {
    SimulatedTab::new(FaultyStore::new(), FlushPolicy::default(), T0).unwrap()
}

fn msg(content: &str) -> NewMessage {
    NewMessage {
        role: Role::User,
        content: content.into(),
        client_id: None,
    }
}

#[test]
fn a_tab_that_was_never_created_does_not_exist_and_writes_nothing() {
    let mut store = MemoryStore::new();
    let (mut tab, effects) = Tab::load(&store, FlushPolicy::default(), None, T0).unwrap();
    assert!(effects.is_empty());
    let err = tab
        .append(&mut store, msg("hi"), "m1".into(), T0)
        .unwrap_err();
    assert_eq!(err, ChatError::TabNotFound);
    assert!(tab.read(&store, PageQuery::default()).is_err());
    assert!(tab.stats(&store).is_err());
    assert!(tab.unindexed(&store, 0, 10).is_err());
    assert!(store.is_empty(), "probing a tab id must not write");
    assert!(tab.on_alarm(&mut store, T0).unwrap().is_empty());
}

#[test]
fn the_tenth_pending_append_asks_for_an_immediate_alarm_once() {
    let mut tab = sim();
    for i in 1..=9 {
        tab.append(&format!("m{i}")).unwrap();
    }
    assert_eq!(tab.alarm, Some(T0 + 5000));
    tab.append("m10").unwrap();
    assert_eq!(
        tab.alarm,
        Some(T0),
        "a full batch flushes now, in the alarm"
    );
    // The flush runs in the alarm, off the append's path.
    assert_eq!(tab.tab.log().pending(), 10);
    tab.advance(1).unwrap();
    assert_eq!(tab.tab.log().pending(), 0);
    assert_eq!(tab.indexed.len(), 10);
    assert_eq!(tab.alarm, None);
}

#[test]
fn a_flush_indexes_what_it_compacted_without_reading_it_back() {
    let mut tab = sim();
    for i in 1..=5 {
        tab.append(&format!("m{i}")).unwrap();
    }
    let reads = tab.store.entries_read();
    tab.advance(5000).unwrap();
    // The flush reads the pending records once; indexing reads nothing more.
    let flush_reads = tab.store.entries_read() - reads;
    assert!(flush_reads <= 2 + 5, "read {flush_reads} entries");
    assert_eq!(
        tab.indexed.iter().map(|m| m.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(tab.tab.indexed_through(), 5);
}

#[test]
fn a_failed_index_call_is_retried_by_the_alarm_and_never_lost() {
    let mut tab = sim();
    for i in 1..=3 {
        tab.append(&format!("m{i}")).unwrap();
    }
    tab.index_unreachable = true;
    // POST /flush: the compaction succeeds, the index call fails.
    tab.flush_now().unwrap();
    assert_eq!(tab.tab.log().pending(), 0);
    assert_eq!(tab.tab.indexed_through(), 0);
    let retry = tab.alarm.expect("a retry alarm is set");
    assert!(retry <= T0 + INDEX_RETRY_MS);
    tab.index_unreachable = false;
    tab.advance(INDEX_RETRY_MS).unwrap();
    assert_eq!(tab.indexed.len(), 3);
    assert_eq!(tab.tab.indexed_through(), 3);
    assert_eq!(tab.alarm, None, "nothing left to do");
}

#[test]
fn after_a_restart_the_backlog_is_read_from_the_pages_and_indexed_once() {
    let mut tab = sim();
    for i in 1..=250 {
        tab.append(&format!("message {i}")).unwrap();
        if i % 10 == 0 {
            // Let the immediate alarm run, with the index unreachable.
            tab.index_unreachable = true;
            tab.advance(1).unwrap();
        }
    }
    assert_eq!(tab.tab.indexed_through(), 0);
    tab.restart().unwrap();
    assert!(
        tab.alarm.is_some(),
        "the backlog keeps an alarm after a restart"
    );
    tab.index_unreachable = false;
    tab.advance(60_000).unwrap();
    let seqs: Vec<u64> = tab.indexed.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=250).collect::<Vec<_>>());
    assert!(
        tab.index_calls >= 2,
        "batches of at most {INDEX_BATCH_MESSAGES}"
    );
}

#[test]
fn pending_messages_get_an_alarm_after_a_restart_that_lost_it() {
    let mut tab = sim();
    tab.append("one").unwrap();
    tab.alarm = None; // the alarm was lost (never set: set_alarm failed)
    tab.restart().unwrap();
    assert_eq!(tab.alarm, Some(T0 + 5000));
}

#[test]
fn an_alarm_that_could_not_be_set_is_asked_for_again_by_the_next_append() {
    let mut store = MemoryStore::new();
    let (mut tab, _) = Tab::load(&store, FlushPolicy::default(), None, T0).unwrap();
    tab.init(
        &mut store,
        Owner {
            user: "u".into(),
            tab_id: "t".into(),
        },
    )
    .unwrap();
    let first = tab.append(&mut store, msg("a"), "m1".into(), T0).unwrap();
    assert_eq!(first.effects, [Effect::SetAlarm { at_ms: T0 + 5000 }]);
    tab.alarm_not_set();
    let second = tab
        .append(&mut store, msg("b"), "m2".into(), T0 + 10)
        .unwrap();
    assert_eq!(second.effects, [Effect::SetAlarm { at_ms: T0 + 5000 }]);
}

#[test]
fn unindexed_pages_past_any_limit() {
    let mut tab = sim();
    tab.index_unreachable = true;
    for i in 1..=450 {
        tab.append(&format!("m{i}")).unwrap();
        tab.advance(1).unwrap();
    }
    assert_eq!(tab.tab.indexed_through(), 0);
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let page = tab.tab.unindexed(&tab.store, after, 200).unwrap();
        seen.extend(page.messages.iter().map(|m| m.seq));
        match page.messages.last() {
            Some(last) if page.more => after = last.seq,
            _ => break,
        }
    }
    assert_eq!(seen, (1..=450).collect::<Vec<_>>());
}

#[test]
fn a_failed_append_write_acknowledges_nothing_and_a_retry_works() {
    let mut tab = sim();
    tab.store.fail_nth_write(1);
    assert!(tab.append("lost").is_err());
    assert_eq!(tab.tab.log().message_count(), 0);
    let m = tab.append("kept").unwrap();
    assert_eq!(m.seq, 1);
}

#[test]
fn reset_forgets_the_tab() {
    let mut tab = sim();
    tab.append("x").unwrap();
    tab.store.inner = MemoryStore::new();
    let effects = tab.tab.reset(&tab.store).unwrap();
    assert_eq!(effects, [Effect::DeleteAlarm]);
    assert!(!tab.tab.exists());
}
