//! Fuzzes `search::history::PersistentIndex` (the chunked index over a KvStore) with arbitrary
//! add / remove_tab / search / reopen sequences, some of them with storage writes failing after
//! N (`storage::FaultyStore`), under an arbitrary cache budget, differentially against the
//! in-memory `HistoryIndex`, which its docs promise gives the same answers for the same
//! operations whatever the budget. Both must agree on every add count, removal count, search
//! total and ranked hit list; a failed update must change nothing (a removal that returns Ok is
//! complete); a reopened index (new object, same store) must answer like the live one; the
//! cache's accounted bytes never exceed the budget.
#![no_main]

use arbitrary::Arbitrary;
use edge_assistant::search::history::persist::CACHE_BUDGET_BYTES;
use edge_assistant::search::history::{HistoryDoc, HistoryIndex, PersistentIndex};
use edge_assistant::storage::FaultyStore;
use libfuzzer_sys::fuzz_target;

/// A small vocabulary (with shared prefixes) so terms collide and prefix expansion matters.
const WORDS: [&str; 16] = [
    "rust",
    "rusty",
    "rustacean",
    "worker",
    "work",
    "cache",
    "cached",
    "caching",
    "durable",
    "object",
    "Straße",
    "strasse",
    "ﬁle",
    "file",
    "日本語",
    "42",
];

#[derive(Debug, Arbitrary)]
struct Text {
    words: Vec<u8>,
    extra: Option<String>,
}

impl Text {
    fn render(&self) -> String {
        let mut out: Vec<String> = self
            .words
            .iter()
            .take(40)
            .map(|&w| WORDS[usize::from(w) % WORDS.len()].to_owned())
            .collect();
        if let Some(extra) = &self.extra {
            out.push(extra.chars().take(200).collect());
        }
        out.join(" ")
    }
}

#[derive(Debug, Arbitrary)]
enum Op {
    Add {
        docs: Vec<(u8, u8, Text)>,
    },
    RemoveTab {
        tab: u8,
    },
    Search {
        query: Text,
        tab: Option<u8>,
        limit: u8,
        pending: Vec<(u8, u8, Text)>,
    },
    Reopen,
    ClearCache,
    /// An add whose writes fail after the first `writes`.
    FailingAdd {
        writes: u8,
        docs: Vec<(u8, u8, Text)>,
    },
    /// A remove_tab whose writes fail after the first `writes`.
    FailingRemove {
        writes: u8,
        tab: u8,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// Cache budget in units of 64 bytes; 0 means the production default.
    budget: u16,
    ops: Vec<Op>,
}

fn docs(raw: &[(u8, u8, Text)]) -> Vec<HistoryDoc> {
    raw.iter()
        .take(16)
        .map(|(tab, seq, text)| HistoryDoc {
            tab_id: format!("t{}", tab % 4),
            seq: u64::from(*seq % 32) + 1,
            role: "user".into(),
            text: text.render(),
        })
        .collect()
}

fuzz_target!(|input: Input| {
    let budget = match input.budget {
        0 => CACHE_BUDGET_BYTES,
        units => usize::from(units) * 64,
    };
    let mut store = FaultyStore::default();
    let mut persistent = PersistentIndex::open_with_budget(&store, budget).expect("empty store");
    let mut memory = HistoryIndex::new();
    for op in input.ops.iter().take(64) {
        match op {
            Op::Add { docs: raw } => {
                let batch = docs(raw);
                let a = persistent.add(&mut store, &batch).expect("persistent add");
                let b = memory.add(&batch).expect("memory add");
                assert_eq!(a, b, "add counts differ");
            }
            Op::RemoveTab { tab } => {
                let tab = format!("t{}", tab % 5);
                let a = persistent
                    .remove_tab(&mut store, &tab)
                    .expect("persistent remove");
                assert_eq!(a, memory.remove_tab(&tab), "remove counts differ");
            }
            Op::Search {
                query,
                tab,
                limit,
                pending,
            } => {
                let q = query.render();
                let tab = tab.map(|t| format!("t{}", t % 5));
                let limit = usize::from(*limit % 60);
                let extra = docs(pending);
                let a = persistent.search(&store, &q, tab.as_deref(), limit, &extra);
                let b = memory.search(&q, tab.as_deref(), limit, &extra);
                match (a, b) {
                    (Ok(a), Ok(b)) => {
                        assert_eq!(a.total, b.total, "totals differ for {q:?}");
                        assert!(a.results.len() <= limit);
                        assert_eq!(a.results, b.results, "hits differ for {q:?}");
                    }
                    (Err(a), Err(b)) => assert_eq!(a, b),
                    (a, b) => panic!("persistent {a:?} vs memory {b:?} for {q:?}"),
                }
            }
            Op::Reopen => {
                persistent = PersistentIndex::open_with_budget(&store, budget).expect("reopen");
            }
            Op::ClearCache => persistent.clear_cache(),
            Op::FailingAdd { writes, docs: raw } => {
                let batch = docs(raw);
                store.crash_after(usize::from(*writes));
                let result = persistent.add(&mut store, &batch);
                store.restart();
                // Either all of the batch went in, or none of it did.
                if let Ok(a) = result {
                    assert_eq!(
                        a,
                        memory.add(&batch).expect("memory add"),
                        "add counts differ"
                    );
                }
            }
            Op::FailingRemove { writes, tab } => {
                let tab = format!("t{}", tab % 5);
                store.crash_after(usize::from(*writes));
                let result = persistent.remove_tab(&mut store, &tab);
                store.restart();
                if let Ok(a) = result {
                    assert_eq!(a, memory.remove_tab(&tab), "remove counts differ");
                }
            }
        }
        assert_eq!(persistent.len(), memory.len(), "document counts differ");
        assert!(persistent.resident_bytes() <= budget, "cache over budget");
    }
});
