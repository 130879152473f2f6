//! The intent router against the labelled set `tests/data/intent/labelled.jsonl`: prints
//! precision, recall and F1 per label and the macro F1, for the whole set and for its two splits
//! (`tune`: the messages the lexicon was tuned on; `holdout`: every 4th message of each label,
//! set aside before tuning and only scored). Fails below macro F1 0.9 or `web` precision 0.9 on
//! the whole set.
//!
//! ```text
//! cargo test --test intent_eval -- --nocapture            # the tables
//! INTENT_ERRORS=tune cargo test --test intent_eval -- --nocapture   # plus the tune split's misses
//! ```

use edge_assistant::assistant::intent::{route, Label};
use serde::Deserialize;

#[derive(Deserialize)]
struct Example {
    text: String,
    label: String,
    split: String,
}

fn examples() -> Vec<(Example, Label)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/intent/labelled.jsonl"
    );
    let text = std::fs::read_to_string(path).expect("read the labelled set");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let e: Example = serde_json::from_str(line).expect("a labelled line");
            let label = Label::from_name(&e.label).expect("a known label");
            (e, label)
        })
        .collect()
}

/// One label's (label, precision, recall, F1, messages).
type Row = (Label, f64, f64, f64, usize);

/// Per-label rows and the macro F1, over `(truth, predicted)`.
fn metrics(pairs: &[(Label, Label)]) -> (Vec<Row>, f64) {
    let mut rows = Vec::new();
    for label in Label::ALL {
        let tp = pairs
            .iter()
            .filter(|(t, p)| *t == label && *p == label)
            .count() as f64;
        let predicted = pairs.iter().filter(|(_, p)| *p == label).count() as f64;
        let support = pairs.iter().filter(|(t, _)| *t == label).count();
        let precision = if predicted > 0.0 { tp / predicted } else { 0.0 };
        let recall = if support > 0 {
            tp / support as f64
        } else {
            0.0
        };
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        rows.push((label, precision, recall, f1, support));
    }
    let macro_f1 = rows.iter().map(|r| r.3).sum::<f64>() / rows.len() as f64;
    (rows, macro_f1)
}

fn print_table(title: &str, pairs: &[(Label, Label)]) -> (Vec<Row>, f64) {
    let (rows, macro_f1) = metrics(pairs);
    println!("\n{title} ({} messages)\n", pairs.len());
    println!("| label | precision | recall | F1 | messages |");
    println!("|---|---:|---:|---:|---:|");
    for (label, p, r, f1, n) in &rows {
        println!("| {} | {p:.3} | {r:.3} | {f1:.3} | {n} |", label.as_str());
    }
    println!("| **macro** | | | **{macro_f1:.3}** | |");
    (rows, macro_f1)
}

#[test]
fn labelled_set_macro_f1_and_web_precision() {
    let examples = examples();
    assert!(examples.len() >= 300, "at least 300 labelled messages");
    let show = std::env::var("INTENT_ERRORS").unwrap_or_default();
    let mut all = Vec::new();
    let mut tune = Vec::new();
    let mut holdout = Vec::new();
    for (e, truth) in &examples {
        let intent = route(&e.text);
        let pair = (*truth, intent.label);
        all.push(pair);
        if e.split == "holdout" {
            holdout.push(pair);
        } else {
            tune.push(pair);
        }
        if intent.label != *truth && (show == "all" || show == e.split) {
            println!(
                "MISS [{}] {:?}: want {}, got {} {:?} {:?}",
                e.split,
                e.text,
                truth.as_str(),
                intent.label.as_str(),
                intent.scores,
                intent.matched.as_slice()
            );
        }
    }
    let (rows, macro_f1) = print_table("All", &all);
    print_table("Tune split", &tune);
    print_table("Held-out split", &holdout);
    let web_precision = rows.iter().find(|r| r.0 == Label::Web).map_or(0.0, |r| r.1);
    assert!(macro_f1 >= 0.9, "macro F1 {macro_f1:.3} < 0.9");
    assert!(
        web_precision >= 0.9,
        "web precision {web_precision:.3} < 0.9"
    );
}
