#!/usr/bin/env python3
"""Top-10 agreement between the Rust history index and bm25s (method "lucene"), same tokens.

Usage:
    cargo bench --bench history_search -- --dump            # writes the files below
    python3 bench/history_bm25s_agreement.py [DIR]          # DIR defaults to $TMPDIR/edge-assistant-history-bench

Reads DIR/corpus_tokens.jsonl (each document's terms from the Rust tokenizer),
DIR/query_tokens.jsonl (each query's terms after the Rust prefix expansion: exactly what the
index scores) and DIR/rust_top10.jsonl. Installs bm25s (and numba when it can) into the venv
under ${XDG_CACHE_HOME:-~/.cache}/edge-assistant/venv and re-executes itself there.

Agreement of one query = share of the Rust top 10 that bm25s ranks in its top 10, where a Rust
hit outside bm25s's top 10 still agrees when bm25s scores it at least as high as bm25s's 10th
hit (minus 1e-4 relative): a tie at the cut, ordered differently ("ties aside"). Also reports
bm25s's query latency p50/p99 (one query per call, k = 10) with numpy and, if available, numba.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

VENV = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                    "edge-assistant", "venv")


def ensure_venv():
    py = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    subprocess.check_call([py, "-m", "pip", "install", "-q", "bm25s", "numpy"])
    # numba is optional: bm25s's fast backend; its absence only drops one row.
    subprocess.call([py, "-m", "pip", "install", "-q", "numba"])
    os.execv(py, [py] + sys.argv)


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def pct(values, p):
    values = sorted(values)
    return values[round((len(values) - 1) * p)] if values else float("nan")


def main():
    ensure_venv()
    import numpy as np
    import bm25s

    folder = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        tempfile.gettempdir(), "edge-assistant-history-bench")
    corpus = read_jsonl(os.path.join(folder, "corpus_tokens.jsonl"))
    queries = read_jsonl(os.path.join(folder, "query_tokens.jsonl"))
    rust = read_jsonl(os.path.join(folder, "rust_top10.jsonl"))

    t = time.perf_counter()
    retriever = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    retriever.index(corpus, show_progress=False)
    build_s = time.perf_counter() - t

    agree = compared = exact_lists = 0
    rows = []
    for q_tokens, r in zip(queries, rust):
        if not q_tokens:
            continue
        known = [t for t in q_tokens if t in retriever.vocab_dict]
        scores = retriever.get_scores(known) if known else np.zeros(len(corpus), dtype=np.float32)
        order = np.argsort(-scores, kind="stable")[:10]
        ours = [int(d) for d in order if scores[d] > 0]
        theirs_min = min((float(scores[d]) for d in ours), default=0.0)
        rust_top = r["top"]
        if not rust_top and not ours:
            continue
        compared += 1
        hits = 0
        for d in rust_top:
            if d in ours or float(scores[d]) >= theirs_min - 1e-4 * max(theirs_min, 1e-9):
                hits += 1
        denom = max(len(rust_top), len(ours))
        agree += hits / denom
        exact_lists += rust_top == ours
        rows.append(q_tokens)

    def latency(backend):
        retr = bm25s.BM25(method="lucene", k1=1.2, b=0.75, backend=backend)
        retr.index(corpus, show_progress=False)
        ts = []
        for q in rows:
            known = [t for t in q if t in retr.vocab_dict]
            if not known:
                continue
            t0 = time.perf_counter()
            retr.retrieve([known], k=10, show_progress=False, backend_selection=backend,
                          n_threads=1)
            ts.append((time.perf_counter() - t0) * 1e3)
        return ts

    print(f"bm25s {bm25s.__version__} (method lucene, k1 1.2, b 0.75), same tokens as Rust: "
          f"{len(corpus)} docs, {compared} queries compared, index build {build_s:.1f} s\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| top-10 agreement with Rust (ties aside) | {100 * agree / max(compared, 1):.2f} % |")
    print(f"| identical top-10 lists (same order) | {100 * exact_lists / max(compared, 1):.1f} % |")
    for backend in ("numpy", "numba"):
        try:
            ts = latency(backend)
            if backend == "numba":
                ts = ts[1:]  # the first call compiles
        except Exception as e:  # numba missing or incompatible
            print(f"| bm25s {backend} | unavailable ({type(e).__name__}) |")
            continue
        print(f"| bm25s {backend} query latency p50 / p99 | {pct(ts, .5):.3f} ms / {pct(ts, .99):.3f} ms |")


if __name__ == "__main__":
    main()
