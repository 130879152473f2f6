//! Host tests of assistant replies, through the tab core as the object drives it.

use super::*;
use crate::chat::model::{NewMessage, PageQuery, Role};
use crate::chat::tab::REPLY_HEARTBEAT_MS;
use crate::chat::{Effect, FlushPolicy, Owner, Tab};
use crate::storage::{FaultyStore, KvStore, MemoryStore};

const T0: u64 = 1_000_000;

fn tab_with_question(store: &mut impl KvStore) -> Tab {
    let (mut tab, _) = Tab::load(store, FlushPolicy::default(), None, T0).unwrap();
    tab.init(
        store,
        Owner {
            user: "u".into(),
            tab_id: "t".into(),
        },
    )
    .unwrap();
    tab.append(
        store,
        NewMessage {
            role: Role::User,
            content: "why is the sky blue?".into(),
            client_id: None,
        },
        "m1".into(),
        T0,
    )
    .unwrap();
    tab
}

fn new_reply(id: &str, client_id: Option<&str>) -> NewReply {
    NewReply {
        reply_id: id.into(),
        message_id: format!("msg-{id}"),
        message_seq: None,
        client_id: client_id.map(Into::into),
        model: "m".into(),
    }
}

fn texts(events: &[ReplyEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Delta(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_reply_streams_into_its_message_and_replays_with_stable_ids() {
    let mut store = MemoryStore::new();
    let mut tab = tab_with_question(&mut store);
    let (started, effects) = tab
        .start_reply(&mut store, new_reply("r1", None), T0)
        .unwrap();
    assert!(started.created);
    assert_eq!(started.record.message_seq, 1);
    assert_eq!(started.record.assistant_seq, 2);
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::SetAlarm { at_ms } if *at_ms <= T0 + REPLY_HEARTBEAT_MS)),
        "a streaming reply keeps an alarm: {effects:?}"
    );
    let context = tab
        .reply_context(&mut store, "r1", ReplyIntent::default(), Vec::new(), 10)
        .unwrap()
        .unwrap();
    assert_eq!(context.id, 1);
    let mut live = Vec::new();
    for (i, word) in ["Rayleigh ", "scattering ", "é", "!"].iter().enumerate() {
        let taken = tab
            .reply_delta(&mut store, "r1", word, T0 + i as u64)
            .unwrap()
            .unwrap();
        live.push(taken.event.unwrap());
    }
    assert_eq!(
        live.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![2, 3, 4, 5]
    );
    // While streaming, the message shows the text so far.
    let page = tab.read(&store, PageQuery::default()).unwrap();
    assert_eq!(page.messages[1].content, "Rayleigh scattering é!");
    assert_eq!(page.messages[1].status, Some(ReplyStatus::Streaming));
    assert_eq!(page.messages[1].reply_id.as_deref(), Some("r1"));
    // Resume after id 3 from memory.
    let (_, replay) = tab.reply_events(&store, "r1", 3).unwrap();
    assert_eq!(replay.events, live[2..].to_vec());
    assert!(!replay.finished);

    let ended = tab
        .finish_reply(&mut store, "r1", Ending::complete("stop", None), T0 + 10)
        .unwrap()
        .unwrap();
    assert_eq!(ended.done.id, 6);
    assert_eq!(ended.content, "Rayleigh scattering é!");
    assert_eq!(tab.streaming_reply(), None);
    // After the end, every resume point replays the same events from storage.
    for after in 0..=7 {
        let (_, replay) = tab.reply_events(&store, "r1", after).unwrap();
        let ids: Vec<u64> = replay.events.iter().map(|e| e.id).collect();
        assert_eq!(ids, ((after + 1)..=6).collect::<Vec<_>>(), "after {after}");
        if after <= 1 {
            assert_eq!(texts(&replay.events), "Rayleigh scattering é!");
        }
    }
    let page = tab.read(&store, PageQuery::default()).unwrap();
    assert_eq!(page.messages[1].content, "Rayleigh scattering é!");
    assert_eq!(page.messages[1].status, Some(ReplyStatus::Complete));
    // And the same after a restart of the object.
    let (tab, _) = Tab::load(&store, FlushPolicy::default(), None, T0 + 20).unwrap();
    let (record, replay) = tab.reply_events(&store, "r1", 0).unwrap();
    assert_eq!(record.status, ReplyStatus::Complete);
    assert_eq!(texts(&replay.events), "Rayleigh scattering é!");
}

#[test]
fn deltas_are_written_in_batches_by_count_or_age() {
    let mut store = MemoryStore::new();
    let mut tab = tab_with_question(&mut store);
    let at_start = store.write_stats();
    tab.start_reply(&mut store, new_reply("r1", None), T0)
        .unwrap();
    let before = store.write_stats().write_ops;
    let rule = DeltaFlushRule::default();
    for i in 0..1000u64 {
        // 1000 deltas in 10 s: the count rule decides.
        tab.reply_delta(&mut store, "r1", "tok ", T0 + i * 10)
            .unwrap();
    }
    let during = store.write_stats().write_ops - before;
    assert!(
        during <= 1000 / rule.max_deltas as u64 + 1,
        "{during} writes for 1000 deltas"
    );
    tab.finish_reply(
        &mut store,
        "r1",
        Ending::complete("stop", None),
        T0 + 10_000,
    )
    .unwrap();
    let total = store.write_stats();
    assert!(
        total.write_ops - before <= 1000 / 10,
        "at most one write per 10 deltas, got {}",
        total.write_ops - before
    );
    // Every byte the reply wrote, from its start: at most 3x its text (4000 bytes).
    let bytes = total.bytes_written - at_start.bytes_written;
    assert!(bytes <= 3 * 4000, "{bytes} bytes for 4000 bytes of text");
    let writes = total.write_ops - at_start.write_ops;
    assert!(writes <= 1000 / 10, "{writes} writes from the start");
    // A slow stream: the age rule writes a waiting delta after max_ms, even with no new delta.
    let mut store = MemoryStore::new();
    let mut tab = tab_with_question(&mut store);
    tab.start_reply(&mut store, new_reply("r2", None), T0)
        .unwrap();
    let before = store.write_stats().write_ops;
    tab.reply_delta(&mut store, "r2", "slow", T0).unwrap();
    tab.reply_tick(&mut store, T0 + rule.max_ms - 1).unwrap();
    assert_eq!(store.write_stats().write_ops, before);
    tab.reply_tick(&mut store, T0 + rule.max_ms).unwrap();
    assert_eq!(store.write_stats().write_ops, before + 1);
}

#[test]
fn one_reply_at_a_time_and_client_id_finds_the_same_reply() {
    let mut store = MemoryStore::new();
    let mut tab = tab_with_question(&mut store);
    tab.start_reply(&mut store, new_reply("r1", Some("k1")), T0)
        .unwrap();
    let err = tab
        .start_reply(&mut store, new_reply("r2", None), T0)
        .unwrap_err();
    assert_eq!(
        err,
        ChatError::ReplyBusy {
            reply_id: "r1".into()
        }
    );
    let (again, effects) = tab
        .start_reply(&mut store, new_reply("r3", Some("k1")), T0)
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.record.id, "r1");
    assert!(effects.is_empty());
    tab.finish_reply(&mut store, "r1", Ending::complete("stop", None), T0)
        .unwrap();
    // Still found after the end (and after a restart).
    let (mut tab, _) = Tab::load(&store, FlushPolicy::default(), None, T0).unwrap();
    let (again, _) = tab
        .start_reply(&mut store, new_reply("r4", Some("k1")), T0)
        .unwrap();
    assert_eq!(again.record.id, "r1");
    assert_eq!(again.record.status, ReplyStatus::Complete);
}

#[test]
fn a_reply_answers_a_user_message_only() {
    let mut store = MemoryStore::new();
    let mut tab = tab_with_question(&mut store);
    tab.start_reply(&mut store, new_reply("r1", None), T0)
        .unwrap();
    tab.finish_reply(&mut store, "r1", Ending::complete("stop", None), T0)
        .unwrap();
    // The latest message is now the assistant's.
    let err = tab
        .start_reply(&mut store, new_reply("r2", None), T0)
        .unwrap_err();
    assert!(matches!(err, ChatError::Input(_)), "{err:?}");
    let mut explicit = new_reply("r3", None);
    explicit.message_seq = Some(9);
    assert!(matches!(
        tab.start_reply(&mut store, explicit, T0),
        Err(ChatError::Input(_))
    ));
    let mut explicit = new_reply("r4", None);
    explicit.message_seq = Some(1);
    let (started, _) = tab.start_reply(&mut store, explicit, T0).unwrap();
    assert_eq!(started.record.message_seq, 1);
    assert_eq!(started.record.assistant_seq, 3);
}

#[test]
fn cancel_keeps_the_text_and_later_deltas_are_dropped() {
    let mut store = MemoryStore::new();
    let mut tab = tab_with_question(&mut store);
    tab.start_reply(&mut store, new_reply("r1", None), T0)
        .unwrap();
    tab.reply_delta(&mut store, "r1", "partial", T0).unwrap();
    let (record, content, ended) = tab.cancel_reply(&mut store, "r1", T0 + 1).unwrap();
    assert_eq!(record.status, ReplyStatus::Cancelled);
    assert_eq!(content, "partial");
    assert!(ended.is_some());
    assert_eq!(
        tab.reply_delta(&mut store, "r1", " more", T0 + 2).unwrap(),
        None
    );
    // Cancelling again changes nothing.
    let (again, content, ended) = tab.cancel_reply(&mut store, "r1", T0 + 3).unwrap();
    assert_eq!(again, record);
    assert_eq!(content, "partial");
    assert!(ended.is_none());
    assert_eq!(
        tab.reply(&store, "nope").unwrap_err(),
        ChatError::ReplyNotFound
    );
}

#[test]
fn a_reply_lost_mid_stream_ends_failed_with_what_was_stored() {
    let mut store = MemoryStore::new();
    let mut tab = tab_with_question(&mut store);
    tab.start_reply(&mut store, new_reply("r1", None), T0)
        .unwrap();
    let rule = DeltaFlushRule::default();
    for i in 0..(rule.max_deltas + 3) {
        tab.reply_delta(&mut store, "r1", &format!("{i} "), T0)
            .unwrap();
    }
    drop(tab); // the object goes away: the 3 waiting deltas are lost, the chunk is not
    let (mut tab, _) = Tab::load(&store, FlushPolicy::default(), None, T0 + 5).unwrap();
    let ended = tab.recover_reply(&mut store, T0 + 5).unwrap().unwrap();
    assert_eq!(ended.record.status, ReplyStatus::Failed);
    assert_eq!(ended.record.error.as_ref().unwrap().code, "interrupted");
    let expected: String = (0..rule.max_deltas).map(|i| format!("{i} ")).collect();
    assert_eq!(ended.content, expected);
    let page = tab.read(&store, PageQuery::default()).unwrap();
    assert_eq!(page.messages[1].content, expected);
    assert_eq!(page.messages[1].status, Some(ReplyStatus::Failed));
    // Replays end with done, and a second recovery finds nothing.
    let (_, replay) = tab.reply_events(&store, "r1", 0).unwrap();
    assert!(replay.finished);
    assert_eq!(texts(&replay.events), expected);
    assert!(tab.recover_reply(&mut store, T0 + 6).unwrap().is_none());
    // A new reply may start.
    tab.append(
        &mut store,
        NewMessage {
            role: Role::User,
            content: "again".into(),
            client_id: None,
        },
        "m9".into(),
        T0 + 7,
    )
    .unwrap();
    assert!(tab
        .start_reply(&mut store, new_reply("r2", None), T0 + 8)
        .is_ok());
}

#[test]
fn the_reply_text_is_capped_at_a_char_boundary() {
    let mut store = MemoryStore::new();
    let mut tab = tab_with_question(&mut store);
    tab.start_reply(&mut store, new_reply("r1", None), T0)
        .unwrap();
    let big = "é".repeat(REPLY_MAX_BYTES / 2 - 1) + "x";
    let taken = tab
        .reply_delta(&mut store, "r1", &big, T0)
        .unwrap()
        .unwrap();
    assert!(!taken.full);
    let taken = tab
        .reply_delta(&mut store, "r1", "éé", T0)
        .unwrap()
        .unwrap();
    assert!(taken.full, "the cap was reached");
    let (_, content) = tab.reply(&store, "r1").unwrap();
    assert!(content.len() <= REPLY_MAX_BYTES);
    assert!(content.ends_with('x') || content.ends_with('é'));
}

#[test]
fn the_index_waits_for_a_streaming_reply_and_the_alarm_stays() {
    let mut store = MemoryStore::new();
    let mut tab = tab_with_question(&mut store);
    tab.start_reply(&mut store, new_reply("r1", None), T0)
        .unwrap();
    tab.flush(&mut store, T0 + 1).unwrap();
    let batch = tab.next_index_batch(&store).unwrap().unwrap();
    assert_eq!(
        batch.messages.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1],
        "the streaming message is not indexed empty"
    );
    tab.mark_indexed(&mut store, 1).unwrap();
    assert!(tab.next_index_batch(&store).unwrap().is_none());
    assert!(tab.settle().is_empty(), "the heartbeat alarm stays");
    tab.reply_delta(&mut store, "r1", "answer", T0 + 2).unwrap();
    let ended = tab
        .finish_reply(&mut store, "r1", Ending::complete("stop", None), T0 + 3)
        .unwrap()
        .unwrap();
    assert!(!ended.effects.is_empty());
    let batch = tab.next_index_batch(&store).unwrap().unwrap();
    assert_eq!(batch.messages.len(), 1);
    assert_eq!(batch.messages[0].content, "answer");
}

#[test]
fn a_failed_chunk_write_is_an_error_and_the_deltas_stay_in_memory() {
    let mut store = FaultyStore::new();
    let mut tab = tab_with_question(&mut store);
    tab.start_reply(&mut store, new_reply("r1", None), T0)
        .unwrap();
    let rule = DeltaFlushRule::default();
    for _ in 0..rule.max_deltas - 1 {
        tab.reply_delta(&mut store, "r1", "a", T0).unwrap();
    }
    store.crash_after(0);
    let taken = tab.reply_delta(&mut store, "r1", "b", T0).unwrap().unwrap();
    assert!(taken.store_error.is_some());
    assert_eq!(taken.event.unwrap().id, rule.max_deltas as u64 + 1);
    store.restart();
    let (_, content) = tab.reply(&store, "r1").unwrap();
    assert_eq!(content.len(), rule.max_deltas);
    tab.finish_reply(&mut store, "r1", Ending::complete("stop", None), T0)
        .unwrap();
    let (tab, _) = Tab::load(&store, FlushPolicy::default(), None, T0).unwrap();
    let (_, replay) = tab.reply_events(&store, "r1", 0).unwrap();
    assert_eq!(texts(&replay.events).len(), rule.max_deltas);
}

#[test]
fn chunks_round_trip_and_garbage_is_corrupt_not_a_panic() {
    let deltas = ["", "a", "é", &"x".repeat(300)];
    let encoded = encode_chunk(deltas.iter().copied());
    assert_eq!(decode_chunk(&encoded).unwrap(), deltas);
    for bad in [&[0x05, b'a'][..], &[0xff; 12][..], &[0x02, 0xff, 0xfe][..]] {
        assert!(matches!(decode_chunk(bad), Err(ChatError::Corrupt(_))));
    }
}

#[test]
fn events_render_as_server_sent_events() {
    let event = ReplyEvent {
        id: 7,
        kind: EventKind::Delta("a\nb \"q\"".into()),
    };
    assert_eq!(
        event.to_sse(),
        "id: 7\nevent: delta\ndata: {\"text\":\"a\\nb \\\"q\\\"\"}\n\n"
    );
}
