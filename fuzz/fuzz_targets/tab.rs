//! Fuzzes the tab's whole core, `chat::Tab`, driven by the shared `chat::simulator::SimulatedTab`
//! exactly as the Durable Object drives it (appends, the alarm, `POST …/flush`, the index loop),
//! over `storage::FaultyStore` with injected storage crashes, object restarts and an unreachable
//! history index.
//!
//! Checked after every operation: no acknowledged message is lost or changed; while messages
//! are pending or the index is behind, an alarm is set (nothing is ever stranded); the index
//! receives messages in order with no gap (a batch may repeat only after a failure, and the user
//! object drops repeats by watermark). At the end, with the index reachable and the clock
//! advanced, every message has been indexed and no alarm is left.
#![no_main]

use arbitrary::Arbitrary;
use edge_assistant::chat::simulator::SimulatedTab;
use edge_assistant::chat::{FlushPolicy, Message, PageCursor, PageQuery};
use edge_assistant::storage::FaultyStore;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Op {
    Append {
        content: u8,
        client_id: Option<u8>,
    },
    Advance {
        ms: u16,
    },
    FlushNow,
    Restart,
    IndexDown,
    IndexUp,
    /// The next operation's writes fail after this many; the object then restarts.
    FailNext {
        writes: u8,
    },
}

fn all_messages(sim: &SimulatedTab<FaultyStore>) -> Vec<Message> {
    let mut after = 0;
    let mut all = Vec::new();
    loop {
        let page = sim
            .tab
            .read(
                &sim.store,
                PageQuery {
                    cursor: PageCursor::After(after),
                    limit: 200,
                },
            )
            .expect("read");
        all.extend(page.messages);
        match page.next_after {
            Some(next) => after = next,
            None => return all,
        }
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let policy = FlushPolicy {
        max_pending: 4,
        interval_ms: 1000,
    };
    let mut sim = SimulatedTab::new(FaultyStore::new(), policy, 1_700_000_000_000).expect("new");
    let mut acknowledged: Vec<Message> = Vec::new();
    for op in ops.iter().take(200) {
        let outcome = match op {
            Op::Append { content, client_id } => {
                let cid = client_id.map(|c| format!("c-{}", c % 8));
                match sim.append_with(&format!("message {content}"), cid.as_deref()) {
                    Ok(m) => {
                        if !acknowledged.iter().any(|a| a.seq == m.seq) {
                            assert_eq!(m.seq, acknowledged.len() as u64 + 1);
                            acknowledged.push(m);
                        }
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            Op::Advance { ms } => sim.advance(u64::from(*ms)),
            Op::FlushNow => sim.flush_now(),
            Op::Restart => sim.restart(),
            Op::IndexDown => {
                sim.index_unreachable = true;
                Ok(())
            }
            Op::IndexUp => {
                sim.index_unreachable = false;
                Ok(())
            }
            Op::FailNext { writes } => {
                sim.store.crash_after(usize::from(*writes % 6));
                Ok(())
            }
        };
        if outcome.is_err() {
            assert!(
                sim.store.is_failing(),
                "failed without a fault: {outcome:?}"
            );
        }
        if sim.store.is_failing() {
            // Whatever the operation did, the object restarts after the fault, as in production.
            sim.store.restart();
            sim.restart().expect("restart after a fault");
        }
        let stored = all_messages(&sim);
        assert_eq!(
            stored.len(),
            acknowledged.len(),
            "acknowledged messages lost"
        );
        for (s, a) in stored.iter().zip(&acknowledged) {
            assert_eq!((s.seq, &s.id, &s.content), (a.seq, &a.id, &a.content));
        }
        let behind = sim.tab.log().pending() > 0
            || sim.tab.indexed_through() < sim.tab.log().message_count() - sim.tab.log().pending();
        assert!(!behind || sim.alarm.is_some(), "work left without an alarm");
        // The index only ever moves forward without gaps.
        let mut through = 0;
        for m in &sim.indexed {
            assert!(m.seq <= through + 1, "index gap before {}", m.seq);
            through = through.max(m.seq);
        }
    }
    sim.store.restart();
    sim.index_unreachable = false;
    for _ in 0..50 {
        if sim.alarm.is_none() {
            break;
        }
        sim.advance(10_000).expect("final alarms");
    }
    assert_eq!(sim.tab.log().pending(), 0);
    assert_eq!(sim.tab.indexed_through(), acknowledged.len() as u64);
    assert_eq!(sim.alarm, None, "an alarm outlived the work");
});
