use proptest::prelude::*;

use super::*;

fn sym(name: &str, kind: SymbolKind, line: u32) -> Symbol {
    Symbol {
        name: name.into(),
        kind,
        line,
        container: None,
        signature: format!("{} {name}", kind.as_str()),
    }
}

fn func(name: &str, line: u32) -> Symbol {
    sym(name, SymbolKind::Function, line)
}

fn add(index: &mut CodeIndex, path: &str, text: &str, symbols: &[Symbol]) {
    index.insert(path, index_file(text, symbols)).unwrap();
}

fn paths(results: &CodeResults) -> Vec<(&str, u32)> {
    results
        .hits
        .iter()
        .map(|h| (h.path.as_str(), h.line))
        .collect()
}

/// Three files, each defining the same function in one spelling, plus noise.
fn spellings() -> CodeIndex {
    let mut index = CodeIndex::new();
    add(
        &mut index,
        "a.py",
        "import os\n\ndef parse_config(path):\n    return os.path\n",
        &[func("parse_config", 3)],
    );
    add(
        &mut index,
        "b.js",
        "// helpers\nfunction parseConfig(text) {\n  return JSON.parse(text);\n}\n",
        &[func("parseConfig", 2)],
    );
    add(
        &mut index,
        "c.rs",
        "use std::fs;\n\npub struct ParseConfig {\n    strict: bool,\n}\n",
        &[sym("ParseConfig", SymbolKind::Struct, 3)],
    );
    add(
        &mut index,
        "noise.txt",
        "nothing to see here\nreally nothing\n",
        &[],
    );
    index
}

#[test]
fn every_spelling_matches_every_spelling_and_the_words() {
    let index = spellings();
    for q in [
        "parse config",
        "parse_config",
        "parseConfig",
        "ParseConfig",
        "PARSE-CONFIG",
    ] {
        let results = index.search(q, 10).unwrap();
        let mut found = paths(&results);
        found.sort();
        assert_eq!(found, [("a.py", 3), ("b.js", 2), ("c.rs", 3)], "query {q}");
        assert!(results.hits.iter().all(|h| h.symbol.is_some()), "query {q}");
    }
}

#[test]
fn a_definition_outranks_mentions() {
    let mut index = CodeIndex::new();
    // Many mentions in a long file...
    let mentions = "result = load_settings(x)\n".repeat(30);
    add(&mut index, "callers.py", &mentions, &[]);
    // ...and one definition with a single mention.
    add(
        &mut index,
        "settings.py",
        "import os\n\n\n\ndef load_settings(x):\n    return x\n",
        &[func("load_settings", 5)],
    );
    for q in ["load_settings", "load settings", "loadSettings"] {
        let results = index.search(q, 10).unwrap();
        assert_eq!(paths(&results)[0], ("settings.py", 5), "query {q}");
        assert_eq!(results.hits[0].symbol.as_deref(), Some("load_settings"));
        assert_eq!(results.total, 2);
    }
    // A symbol holding the query's only part also outranks mentions.
    let results = index.search("settings", 10).unwrap();
    assert_eq!(paths(&results)[0], ("settings.py", 5));
}

#[test]
fn an_exact_name_outranks_a_longer_name_and_more_parts_win() {
    let mut index = CodeIndex::new();
    add(
        &mut index,
        "a.py",
        "def parse_config_file(p):\n    pass\n",
        &[func("parse_config_file", 1)],
    );
    add(
        &mut index,
        "b.py",
        "def config():\n    pass\n",
        &[func("config", 1)],
    );
    add(
        &mut index,
        "c.py",
        "def parse_config(p):\n    pass\n",
        &[func("parse_config", 1)],
    );
    let results = index.search("parse config", 10).unwrap();
    let order: Vec<&str> = results.hits.iter().map(|h| h.path.as_str()).collect();
    // parse_config names the whole query; parse_config_file holds all its parts; config is
    // only one of its words.
    assert_eq!(order, ["c.py", "a.py", "b.py"]);
    // Two words naming one identifier: `url parse` names `urlparse` before `url` or `parse`.
    let mut index = CodeIndex::new();
    add(
        &mut index,
        "a.py",
        "def url(x):\n    pass\n",
        &[func("url", 1)],
    );
    add(
        &mut index,
        "b.py",
        "def parse(x):\n    pass\n",
        &[func("parse", 1)],
    );
    add(
        &mut index,
        "c.py",
        "def urlparse(x):\n    pass\n",
        &[func("urlparse", 1)],
    );
    let results = index.search("url parse", 10).unwrap();
    assert_eq!(paths(&results)[0], ("c.py", 1));
}

#[test]
fn the_hit_line_is_where_the_weightiest_term_is() {
    let mut index = CodeIndex::new();
    let text = "a = 1\nb = 2\nc = 3\nzebra = frobnicate(a)\nd = 4\n";
    add(&mut index, "x.py", text, &[]);
    let results = index.search("frobnicate", 5).unwrap();
    assert_eq!(paths(&results), [("x.py", 4)]);
    assert_eq!(snippet(text, &results.hits[0]), "zebra = frobnicate(a)");
    let row = serde_json::to_value(results.hits[0].row(Some(text))).unwrap();
    assert_eq!(row["path"], "x.py");
    assert_eq!(row["line"], 4);
    assert_eq!(row["snippet"], "zebra = frobnicate(a)");
    assert!(row.get("symbol").is_none() && row["score"].as_f64().unwrap() > 0.0);
    assert_eq!(results.hits[0].row(None).snippet, "");
}

#[test]
fn replace_and_remove_a_file() {
    let mut index = spellings();
    assert_eq!(index.len(), 4);
    add(
        &mut index,
        "a.py",
        "def other_thing():\n    pass\n",
        &[func("other_thing", 1)],
    );
    assert_eq!(index.len(), 4);
    let results = index.search("parse config", 10).unwrap();
    let found = paths(&results);
    assert!(!found.iter().any(|(p, _)| *p == "a.py"), "{found:?}");
    assert_eq!(
        paths(&index.search("other thing", 10).unwrap()),
        [("a.py", 1)]
    );
    assert!(index.remove("b.js"));
    assert!(!index.remove("b.js"));
    assert_eq!(
        paths(&index.search("parseConfig", 10).unwrap()),
        [("c.rs", 3)]
    );
    assert!(index
        .symbols(Some("parseConfig"), None, None, 10)
        .iter()
        .all(|s| s.path == "c.rs"));
    // Removing everything leaves an index that answers nothing, and freed chunk slots are reused.
    let docs_before = index.docs.len();
    for p in ["a.py", "c.rs", "noise.txt"] {
        assert!(index.remove(p));
    }
    assert!(index.is_empty());
    assert_eq!(index.search("parse", 10).unwrap().total, 0);
    add(&mut index, "d.py", "def parse_config():\n    pass\n", &[]);
    assert_eq!(index.docs.len(), docs_before);
    assert_eq!(paths(&index.search("parse", 10).unwrap()), [("d.py", 1)]);
}

#[test]
fn the_order_is_deterministic_whatever_the_insertion_order() {
    let files: Vec<(String, String)> = (0..12)
        .map(|i| {
            (
                format!("f{:02}.py", (i * 7) % 12),
                "value = compute(value)\n".to_owned(),
            )
        })
        .collect();
    let mut forward = CodeIndex::new();
    for (p, t) in &files {
        add(&mut forward, p, t, &[]);
    }
    let mut backward = CodeIndex::new();
    for (p, t) in files.iter().rev() {
        add(&mut backward, p, t, &[]);
    }
    let a = forward.search("compute value", 50).unwrap();
    let b = backward.search("compute value", 50).unwrap();
    assert_eq!(paths(&a), paths(&b));
    // Equal scores: by path.
    let order: Vec<&str> = a.hits.iter().map(|h| h.path.as_str()).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    // A limit below the matches keeps the first ones of the same order.
    let top3 = forward.search("compute value", 3).unwrap();
    assert_eq!(paths(&top3), paths(&a)[..3]);
    assert_eq!(top3.total, 12);
}

#[test]
fn query_bounds() {
    let index = spellings();
    assert_eq!(
        index.search("", 10).unwrap_err(),
        CodeSearchError::EmptyQuery
    );
    assert_eq!(
        index
            .search(&"a".repeat(MAX_QUERY_CHARS + 1), 10)
            .unwrap_err(),
        CodeSearchError::QueryTooLong(MAX_QUERY_CHARS + 1)
    );
    assert_eq!(
        index.search("-- ()", 10).unwrap_err(),
        CodeSearchError::NoSearchableWords
    );
    assert_eq!(
        index.search("", 1).unwrap_err().error_code(),
        ErrorCode::InvalidField
    );
    // 400 chars of "é" are accepted; the limit is capped.
    assert!(index.search(&"é".repeat(MAX_QUERY_CHARS), 10).is_ok());
    let many: Vec<(String, String)> = (0..80)
        .map(|i| (format!("{i}.py"), "same\n".into()))
        .collect();
    let mut big = CodeIndex::new();
    for (p, t) in &many {
        add(&mut big, p, t, &[]);
    }
    let results = big.search("same", 1000).unwrap();
    assert_eq!(results.hits.len(), MAX_LIMIT);
    assert_eq!(results.total, 80);
    assert!(big.search("same", 0).unwrap().hits.is_empty());
}

#[test]
fn the_last_part_matches_longer_terms_as_a_prefix() {
    let mut index = CodeIndex::new();
    add(&mut index, "a.py", "configuration = load()\n", &[]);
    add(&mut index, "b.py", "config = load()\n", &[]);
    let results = index.search("configur", 10).unwrap();
    assert_eq!(paths(&results), [("a.py", 1)]);
    // A full term outranks a prefix match of the same length context.
    let results = index.search("config", 10).unwrap();
    assert_eq!(paths(&results), [("b.py", 1), ("a.py", 1)]);
    // Two letters do not expand.
    assert_eq!(index.search("co", 10).unwrap().total, 0);
}

#[test]
fn unicode_text_is_searchable() {
    let mut index = CodeIndex::new();
    let text = "# Größe der Datei\ndef größe_berechnen():\n    return \"東京\"\n";
    add(&mut index, "de.py", text, &[func("größe_berechnen", 2)]);
    let results = index.search("GRÖSSE", 10).unwrap();
    assert_eq!(results.total, 0, "no NFKC/ß folding: stated, not hidden");
    let results = index.search("Größe", 10).unwrap();
    assert_eq!(paths(&results), [("de.py", 2)]);
    assert_eq!(results.hits[0].symbol.as_deref(), Some("größe_berechnen"));
    let results = index.search("東京", 10).unwrap();
    assert_eq!(paths(&results), [("de.py", 3)]);
    assert_eq!(snippet(text, &results.hits[0]), "return \"東京\"");
}

#[test]
fn an_empty_index_answers_nothing() {
    let index = CodeIndex::new();
    let results = index.search("anything", 10).unwrap();
    assert_eq!(results.total, 0);
    assert!(results.hits.is_empty());
    assert!(index.symbols(None, None, None, 10).is_empty());
    assert_eq!(index.files().count(), 0);
    // An empty file is indexed with no chunk.
    let mut index = CodeIndex::new();
    add(&mut index, "empty.py", "", &[]);
    assert_eq!(index.len(), 1);
    assert_eq!(index.search("x", 1).unwrap().total, 0);
}

#[test]
fn a_huge_single_line_gives_a_hit_and_snippet_near_the_match() {
    let mut index = CodeIndex::new();
    let mut text = "var a=b;".repeat(50_000);
    text.push_str("function needleHandler(){}");
    text.push_str(&"var c=d;".repeat(50_000));
    add(&mut index, "min.js", &text, &[]);
    let results = index.search("needle handler", 5).unwrap();
    let hit = &results.hits[0];
    assert_eq!((hit.path.as_str(), hit.line), ("min.js", 1));
    assert!(hit.chunk.end_byte - hit.chunk.start_byte <= 2 * record::MAX_CHUNK_BYTES as u32);
    let s = snippet(&text, hit);
    assert!(s.contains("needleHandler"), "{s}");
    assert!(s.chars().count() <= SNIPPET_CHARS + 2);
    assert!(s.starts_with('…') && s.ends_with('…'));
}

#[test]
fn snippet_of_a_changed_file_does_not_panic() {
    let index = spellings();
    let hit = index.search("parse config", 1).unwrap().hits.remove(0);
    assert_eq!(snippet("", &hit), "");
    assert_eq!(snippet("é\né\né\né\né", &hit), "é");
}

#[test]
fn corrupt_records_are_refused_and_change_nothing() {
    let mut index = spellings();
    let mut bad = index_file("alpha beta\n", &[]);
    bad.terms.push(("gamma".into(), vec![7, 1, 0]));
    assert_eq!(
        index.insert("a.py", bad),
        Err(CodeSearchError::CorruptRecord("a.py".into()))
    );
    let mut bad = index_file("alpha beta\n", &[]);
    bad.chunks.push(1);
    assert!(index.insert("a.py", bad).is_err());
    // a.py is still the old one.
    assert_eq!(paths(&index.search("parse_config", 10).unwrap()).len(), 3);
    // A record from storage round-trips.
    let record = index_file(
        "def parse_config():\n    pass\n",
        &[func("parse_config", 1)],
    );
    let stored: FileRecord = serde_json::from_slice(&serde_json::to_vec(&record).unwrap()).unwrap();
    assert!(index.insert("z.py", stored).is_ok());
}

#[test]
fn symbol_lookup_exact_then_prefix_then_parts() {
    let mut index = CodeIndex::new();
    add(
        &mut index,
        "src/a.py",
        "class Config:\n    pass\ndef config_loader():\n    pass\ndef parse_config():\n    pass\n",
        &[
            sym("Config", SymbolKind::Class, 1),
            func("config_loader", 3),
            func("parse_config", 5),
        ],
    );
    add(
        &mut index,
        "lib/b.py",
        "def configure():\n    pass\nCONFIG = 1\n",
        &[func("configure", 1), sym("CONFIG", SymbolKind::Const, 3)],
    );
    let names = |hits: Vec<SymbolHit>| -> Vec<String> {
        hits.into_iter()
            .map(|h| format!("{}:{}", h.path, h.name))
            .collect()
    };
    assert_eq!(
        names(index.symbols(Some("config"), None, None, 10)),
        [
            "lib/b.py:CONFIG",
            "src/a.py:Config",
            "lib/b.py:configure",
            "src/a.py:config_loader",
            "src/a.py:parse_config",
        ]
    );
    assert_eq!(
        names(index.symbols(Some("config"), Some("src/"), None, 10)),
        [
            "src/a.py:Config",
            "src/a.py:config_loader",
            "src/a.py:parse_config"
        ]
    );
    assert_eq!(
        names(index.symbols(Some("CONF"), None, Some(SymbolKind::Function), 10)),
        ["lib/b.py:configure", "src/a.py:config_loader"]
    );
    assert_eq!(
        names(index.symbols(Some("parseConfig"), None, None, 10)),
        ["src/a.py:parse_config"]
    );
    assert_eq!(index.symbols(None, None, None, 2).len(), 2);
    assert_eq!(index.symbols(Some("nothing"), None, None, 10), []);
    let json = serde_json::to_string(&index.symbols(Some("Config"), Some("src"), None, 1)).unwrap();
    assert_eq!(
        json,
        r#"[{"name":"Config","kind":"class","path":"src/a.py","line":1,"signature":"class Config"}]"#
    );
}

#[test]
fn heap_bytes_grow_with_content_and_shrink_on_remove() {
    let mut index = CodeIndex::new();
    let empty = index.heap_bytes();
    let text = (0..500)
        .map(|i| format!("value_{i} = compute_{i}(x)\n"))
        .collect::<String>();
    add(&mut index, "big.py", &text, &[]);
    let full = index.heap_bytes();
    assert!(full > empty + 500 * 8, "{empty} {full}");
    index.remove("big.py");
    assert!(index.heap_bytes() < full);
}

fn arb_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("parse_config".to_owned()),
        Just("HTTPServer".to_owned()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("  ".to_owned()),
        Just("é東😀".to_owned()),
        "[a-zA-Z_]{1,12}",
        "[ -~]{0,20}",
        any::<String>(),
    ];
    proptest::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn search_never_panics_and_points_at_existing_lines(
        files in proptest::collection::vec(
            (arb_text(), proptest::collection::vec(("[a-zA-Z_]{0,10}", 0u32..80), 0..5)),
            0..6,
        ),
        queries in proptest::collection::vec("[ -~]{0,30}|\\PC{0,10}", 1..5),
        removed in 0usize..6,
    ) {
        let mut index = CodeIndex::new();
        let mut texts = HashMap::new();
        for (i, (text, symbols)) in files.iter().enumerate() {
            let path = format!("dir/{i}.py");
            let symbols: Vec<Symbol> = symbols.iter().map(|(n, l)| func(n, *l)).collect();
            index.insert(&path, index_file(text, &symbols)).unwrap();
            texts.insert(path, text.clone());
        }
        let gone = format!("dir/{removed}.py");
        index.remove(&gone);
        texts.remove(&gone);
        for q in &queries {
            let Ok(results) = index.search(q, 20) else { continue };
            prop_assert!(results.hits.len() as u64 <= results.total);
            for hit in &results.hits {
                let text = texts.get(&hit.path);
                prop_assert!(text.is_some(), "hit in a missing file {}", hit.path);
                let text = text.unwrap();
                let lines = text.split('\n').count() as u32;
                prop_assert!(hit.line >= 1 && hit.line <= lines, "{} of {}", hit.line, lines);
                prop_assert_eq!(hit_line(text, hit), nth_line(text, hit.line));
                let s = snippet(text, hit);
                prop_assert!(s.chars().count() <= SNIPPET_CHARS + 2);
            }
            let q_lower = q.to_lowercase();
            let (q_parts, _) = symbol_terms(q);
            for s in index.symbols(Some(q), None, None, 10) {
                prop_assert!(texts.contains_key(&s.path));
                let (parts, _) = symbol_terms(&s.name);
                let named = s.name.to_lowercase().starts_with(&q_lower)
                    || (!q_parts.is_empty() && q_parts.iter().all(|p| parts.contains(p)));
                prop_assert!(named, "{} for {:?}", s.name, q);
            }
        }
    }
}

#[test]
fn postings_pack_chunk_ids_past_16_bits_and_saturate_counts() {
    let p = Posting::new(0x0012_3456, 300, 7);
    assert_eq!(p.doc(), 0x0012_3456);
    assert_eq!((p.tf, p.line), (255, 7));
    assert_eq!(std::mem::size_of::<Posting>(), 6);
}
