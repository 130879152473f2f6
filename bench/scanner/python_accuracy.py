#!/usr/bin/env python3
"""Accuracy and speed of the Python scanner (src/workspace/scan/python.rs) against `ast`.

Corpus: every .py file of the running Python's standard library (sysconfig "stdlib", without
site-packages) that `ast.parse` accepts, plus tests/data/scanner/python/*.py. Expected symbols per
file, from `ast.parse(bytes)`: top-level FunctionDef/AsyncFunctionDef -> function, ClassDef ->
class, and the FunctionDef/AsyncFunctionDef directly in a top-level class's body -> method with
the class as container; each as (kind, name, line, container). The scanner's come from
`examples/scan_dump.rs`. Prints precision, recall, counts and the first mismatches.

  python3 bench/scanner/python_accuracy.py              # accuracy
  python3 bench/scanner/python_accuracy.py --min 99.9   # exit 1 if precision or recall < 99.9 %
  python3 bench/scanner/python_accuracy.py --min 99.9 --debug-build   # the test command's check
  python3 bench/scanner/python_accuracy.py --speed      # also: ast vs scanner, median of rounds
  python3 bench/scanner/python_accuracy.py --speed --rounds 7 --root DIR

--speed times, over the same files with their bytes already in memory, `ast.parse(src)` plus
walking `tree.body` and each class's body (median of --rounds rounds), and the scanner natively
(`scan_dump --time`, which loads the files before timing its own loop; median of the same number
of rounds), and prints both and the ratio.
"""
import argparse
import ast
import collections
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REGRESSIONS = os.path.join(REPO, "tests", "data", "scanner", "python")
DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


def corpus(root):
    paths = []
    for base in [root, REGRESSIONS]:
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d != "site-packages")
            paths += [os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(".py")]
    return paths


def expected(tree):
    items = []
    for node in tree.body:
        if isinstance(node, DEFS):
            items.append(("function", node.name, node.lineno, None))
        elif isinstance(node, ast.ClassDef):
            items.append(("class", node.name, node.lineno, None))
            for child in node.body:
                if isinstance(child, DEFS):
                    items.append(("method", child.name, child.lineno, node.name))
    return items


def walk(tree):
    """What --speed times after parsing: the same walk as `expected`, without building tuples."""
    n = 0
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for child in node.body:
                n += isinstance(child, DEFS)
        n += 1
    return n


def build(debug):
    """Builds scan_dump: release for --speed, the dev profile for an accuracy check (the test
    command's, whose dependencies `cargo test` has already built)."""
    profile = ["--profile", "dev"] if debug else ["--release"]
    subprocess.run(
        ["cargo", "build", "--quiet", *profile, "--example", "scan_dump"], cwd=REPO, check=True
    )
    return os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")),
                        "debug" if debug else "release", "examples", "scan_dump")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=sysconfig.get_paths()["stdlib"])
    ap.add_argument("--min", type=float, help="fail below this precision/recall (percent)")
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--debug-build", action="store_true",
                    help="build scan_dump in the dev profile (faster to build; not with --speed)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--show", type=int, default=15, help="mismatches to print")
    args = ap.parse_args()
    if args.speed and args.debug_build:
        ap.error("--speed times the release build; drop --debug-build")

    binary = build(args.debug_build)
    # Expected symbols, not trees: thousands of live trees would slow every later parse (the
    # garbage collector walks them), which would flatter the scanner in --speed.
    sources, wanted = {}, {}
    rejected = 0
    for path in corpus(args.root):
        with open(path, "rb") as f:
            src = f.read()
        try:
            wanted[path] = expected(ast.parse(src))
        except (SyntaxError, ValueError):
            rejected += 1
            continue
        sources[path] = src
    paths = list(sources)
    stdin = "".join(p + "\n" for p in paths)
    out = subprocess.run([binary], input=stdin, capture_output=True, text=True, check=True).stdout

    matched = ours_total = theirs_total = 0
    mismatches = []
    for line in out.splitlines():
        rec = json.loads(line)
        ours = collections.Counter(
            (s["kind"], s["name"], s["line"], s.get("container")) for s in rec["symbols"]
        )
        theirs = collections.Counter(wanted[rec["path"]])
        common = ours & theirs
        matched += sum(common.values())
        ours_total += sum(ours.values())
        theirs_total += sum(theirs.values())
        for item in (ours - common):
            mismatches.append((rec["path"], "extra", item))
        for item in (theirs - common):
            mismatches.append((rec["path"], "missing", item))
    precision = 100.0 * matched / max(ours_total, 1)
    recall = 100.0 * matched / max(theirs_total, 1)
    print(f"python {sys.version.split()[0]}, corpus {args.root} + {REGRESSIONS}")
    print(f"files: {len(paths)} parsed by ast ({rejected} rejected by ast, skipped), "
          f"{sum(map(len, sources.values())) / 1e6:.1f} MB")
    print(f"symbols: ast {theirs_total}, scanner {ours_total}, matched {matched}")
    print(f"precision {precision:.3f}%  recall {recall:.3f}%  mismatches {len(mismatches)}")
    for path, what, item in mismatches[: args.show]:
        print(f"  {what}: {item} in {path}")

    if args.speed:
        srcs = list(sources.values())
        ast_times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            for src in srcs:
                walk(ast.parse(src))
            ast_times.append(time.perf_counter() - start)
        timed = subprocess.run([binary, "--time", str(args.rounds)], input=stdin,
                               capture_output=True, text=True, check=True).stdout
        native = json.loads(timed)
        total = sum(map(len, srcs))
        ast_s = statistics.median(ast_times)
        print(f"speed over {len(srcs)} files, {total / 1e6:.1f} MB, median of {args.rounds} rounds:")
        print(f"  ast.parse + body walk: {ast_s:.3f} s  {total / 1e6 / ast_s:.1f} MB/s  "
              f"{len(srcs) / ast_s:.0f} files/s")
        print(f"  scanner (native):      {native['median_s']:.4f} s  {native['mb_per_s']:.1f} MB/s  "
              f"{native['files_per_s']:.0f} files/s")
        print(f"  scanner is {ast_s / native['median_s']:.1f}x faster than ast")

    if args.min is not None and min(precision, recall) < args.min:
        print(f"FAIL: below --min {args.min}%")
        sys.exit(1)


if __name__ == "__main__":
    main()
