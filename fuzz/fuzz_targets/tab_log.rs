//! Fuzzes `chat::TabLog` over the project's one fault-injecting store (`storage::FaultyStore`) with arbitrary sequences of append (with
//! and without idempotency keys), flush, reload (a restarted object), page reads, single reads,
//! a wipe (the tab deleted), and injected storage failures that stop an append or flush after N writes (the
//! object then restarts and reloads, as after a crash).
//!
//! Checked against a model (the list of acknowledged messages): no acknowledged message is ever
//! lost, changed, duplicated or reordered; a repeated `client_id` returns the original; counts
//! (`message_count`, `pending`) match; paging forward and backward sees exactly the model.
#![no_main]

use arbitrary::Arbitrary;
use edge_assistant::chat::{
    AppendOutcome, Message, NewMessage, PageCursor, PageQuery, Role, TabLog,
};
use edge_assistant::storage::FaultyStore;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Op {
    Append {
        role: u8,
        content: String,
        client_id: Option<u8>,
        big: bool,
    },
    Flush,
    Reload,
    ReadAfter {
        after: u8,
        limit: u8,
    },
    ReadBefore {
        before: u8,
        limit: u8,
    },
    ReadBetween {
        after: u8,
        before: u8,
        limit: u8,
    },
    Message {
        seq: u8,
    },
    DeleteAll,
    /// The next append or flush fails after this many writes; the object restarts.
    FailNext {
        writes: u8,
    },
}

fn same(stored: &Message, expected: &Message) {
    assert_eq!(
        (
            &stored.id,
            stored.seq,
            stored.role,
            &stored.content,
            &stored.created_at,
            &stored.client_id
        ),
        (
            &expected.id,
            expected.seq,
            expected.role,
            &expected.content,
            &expected.created_at,
            &expected.client_id
        ),
    );
}

fn check_all(log: &TabLog, store: &FaultyStore, model: &[Message]) {
    assert_eq!(log.message_count(), model.len() as u64);
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let page = log
            .read(
                &store.inner,
                PageQuery {
                    cursor: PageCursor::After(after),
                    limit: 7,
                },
            )
            .expect("reading acknowledged messages failed");
        seen.extend(page.messages);
        match page.next_after {
            Some(next) => {
                assert!(next > after, "paging does not advance");
                after = next;
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), model.len(), "messages lost or duplicated");
    for (s, m) in seen.iter().zip(model) {
        same(s, m);
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let mut store = FaultyStore::new();
    let mut log = TabLog::load(&store).expect("empty store");
    let mut model: Vec<Message> = Vec::new();
    let mut flushed_through = 0usize;
    let mut now_ms: u64 = 1_700_000_000_000;
    let mut ids = 0u64;
    for op in ops.iter().take(128) {
        now_ms += 7;
        match op {
            Op::Append {
                role,
                content,
                client_id,
                big,
            } => {
                let mut content = if content.is_empty() {
                    "x".to_owned()
                } else {
                    content.clone()
                };
                if *big {
                    // Messages near the page byte limit exercise page splitting.
                    content = content.repeat(4096 / content.len() + 1);
                }
                let role = Role::ALL[usize::from(*role) % Role::ALL.len()];
                let client_id = client_id.map(|c| format!("c-{}", c % 16));
                ids += 1;
                let new = NewMessage {
                    role,
                    content,
                    client_id: client_id.clone(),
                };
                let earlier = client_id
                    .as_ref()
                    .and_then(|cid| model.iter().find(|m| m.client_id.as_ref() == Some(cid)));
                let result = log.append(&mut store, new.clone(), now_ms, format!("m{ids}"));
                match (result, earlier) {
                    (Ok(AppendOutcome::Existing(m)), Some(e)) => same(&m, e),
                    (Ok(AppendOutcome::Created(m)), None) => {
                        assert_eq!(m.seq, model.len() as u64 + 1);
                        assert_eq!(
                            (m.role, &m.content, &m.client_id),
                            (role, &new.content, &new.client_id)
                        );
                        model.push(m);
                    }
                    (Ok(other), earlier) => {
                        panic!("append gave {other:?} with earlier {earlier:?}")
                    }
                    (Err(_), _) => {
                        assert!(store.is_failing(), "append failed without a fault");
                        log = TabLog::load(&store).expect("reload after a failed append");
                    }
                }
                store.restart();
            }
            Op::Flush => {
                match log.flush(&mut store, now_ms) {
                    Ok(report) => {
                        assert_eq!(report.message_count, model.len() as u64);
                        let expected = model.get(flushed_through..).unwrap_or_default();
                        // A flush after a crashed one reports the messages again.
                        assert!(report.flushed.len() >= expected.len());
                        let tail = &report.flushed[report.flushed.len() - expected.len()..];
                        for (f, m) in tail.iter().zip(expected) {
                            same(f, m);
                        }
                        flushed_through = model.len();
                        assert_eq!(log.pending(), 0);
                    }
                    Err(_) => {
                        assert!(store.is_failing(), "flush failed without a fault");
                        log = TabLog::load(&store).expect("reload after a failed flush");
                    }
                }
                store.restart();
            }
            Op::Reload => {
                let reloaded = TabLog::load(&store).expect("reload");
                assert_eq!(reloaded, log, "a reloaded log differs from the live one");
                log = reloaded;
            }
            Op::ReadAfter { after, limit } => {
                let q = PageQuery {
                    cursor: PageCursor::After(u64::from(*after)),
                    limit: u32::from(*limit),
                };
                let page = log.read(&store.inner, q).expect("read");
                let lo = usize::from(*after).min(model.len());
                let hi = (lo + usize::from(*limit)).min(model.len());
                let expected = if *limit == 0 {
                    &model[..0]
                } else {
                    &model[lo..hi]
                };
                assert_eq!(page.messages.len(), expected.len());
                for (s, m) in page.messages.iter().zip(expected) {
                    same(s, m);
                }
            }
            Op::ReadBefore { before, limit } => {
                let q = PageQuery {
                    cursor: PageCursor::Before(u64::from(*before)),
                    limit: u32::from(*limit),
                };
                let page = log.read(&store.inner, q).expect("read");
                let hi = usize::from(*before).saturating_sub(1).min(model.len());
                let lo = hi.saturating_sub(usize::from(*limit));
                let expected = if *limit == 0 {
                    &model[..0]
                } else {
                    &model[lo..hi]
                };
                assert_eq!(page.messages.len(), expected.len());
                for (s, m) in page.messages.iter().zip(expected) {
                    same(s, m);
                }
            }
            Op::ReadBetween {
                after,
                before,
                limit,
            } => {
                let q = PageQuery {
                    cursor: PageCursor::Between(u64::from(*after), u64::from(*before)),
                    limit: u32::from(*limit),
                };
                let page = log.read(&store.inner, q).expect("read");
                // seqs after < seq < before, i.e. model indices after..before-1, first `limit`.
                let top = usize::from(*before).saturating_sub(1).min(model.len());
                let lo = usize::from(*after).min(top);
                let hi = (lo + usize::from(*limit)).min(top);
                let expected = if *limit == 0 {
                    &model[..0]
                } else {
                    &model[lo..hi]
                };
                assert_eq!(page.messages.len(), expected.len());
                for (s, m) in page.messages.iter().zip(expected) {
                    same(s, m);
                }
                let more = hi < top;
                assert_eq!(page.next_after.is_some(), more && !expected.is_empty());
            }
            Op::Message { seq } => {
                let got = log.message(&store.inner, u64::from(*seq)).expect("message");
                let expected = usize::from(*seq).checked_sub(1).and_then(|i| model.get(i));
                match (got, expected) {
                    (Some(g), Some(e)) => same(&g, e),
                    (None, None) => {}
                    (g, e) => panic!("message({seq}) = {g:?}, expected {e:?}"),
                }
            }
            Op::DeleteAll => {
                // The object deletes a tab by wiping its storage (one SQL statement) and
                // reloading: an empty store must load as an empty tab that takes new messages.
                store = FaultyStore::new();
                log = TabLog::load(&store).expect("an empty store loads");
                model.clear();
                flushed_through = 0;
            }
            Op::FailNext { writes } => store.crash_after(usize::from(*writes % 8)),
        }
        assert_eq!(log.message_count(), model.len() as u64);
        assert_eq!(
            log.pending() as usize,
            model.len() - flushed_through.min(model.len())
        );
    }
    store.restart();
    check_all(&log, &store, &model);
    let reloaded = TabLog::load(&store).expect("final reload");
    check_all(&reloaded, &store, &model);
});
