#!/usr/bin/env python3
"""A small AST mutation tester for simrisk's pure-Python modules (docs/mutation.md).

Each mutant is one single-point change of one module: a comparison flipped (< <-> <=,
> <-> >=, == <-> !=, in <-> not in, is <-> is not), an arithmetic operator swapped (+ <-> -,
* <-> /, // -> /, ** -> *), a unary minus or ``not`` dropped, ``and`` <-> ``or``, a number
nudged (int n -> n + 1, float x -> 1.5 x, 0.0 -> 1.0), a boolean constant flipped, or a
returned value replaced by None. The mutated module is written into a throw-away copy of the
project (the worktree is never touched) and the module's own test files are run there with
``pytest -x`` and a per-mutant timeout. A mutant is *killed* when the tests fail or time out,
*survives* when they pass.

    python tools/mutate.py sizing                  # default test files of the module
    python tools/mutate.py stress --sample 80      # a reproducible random sample of mutants
    python tools/mutate.py metrics --tests tests/test_metrics.py --timeout 60
    python tools/mutate.py sizing --list           # print the mutants, run nothing

Not part of the default test run; needs only the ``test`` extra (``dev`` adds nothing else).
Equivalent mutants (no behaviour change) must be found by reading the survivors; the report
lists every survivor with its line and the change.
"""
from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: each module's own fast test files (the slow-marked tests are excluded by pytest's addopts)
TESTS = {
    "metrics": ["tests/test_metrics.py", "tests/test_summary_direct.py"],
    "edge": ["tests/test_edge.py", "tests/test_validation_gaps.py"],
    "build": ["tests/test_scenario.py", "tests/test_sizing_search.py",
              "tests/test_validation_gaps.py"],
    "scenario": ["tests/test_scenario.py", "tests/test_scenario_stress_keys.py",
                 "tests/test_include.py", "tests/test_validation_gaps.py"],
    "sizing": ["tests/test_sizing.py", "tests/test_sizing_search.py"],
    "stress": ["tests/test_stress.py", "tests/test_stress_rows.py"],
    "text": ["tests/test_tables.py", "tests/test_models_table.py", "tests/test_summary_direct.py",
             "tests/test_report_words.py"],
    "_kernel_python": ["tests/test_kernel_parity.py", "tests/test_corridor.py",
                       "tests/test_invariants.py", "tests/test_boundaries.py",
                       "tests/test_correlation_review.py", "tests/test_history.py"],
    "runner": ["tests/test_runner.py", "tests/test_streams.py", "tests/test_runner_units.py"],
    "limits": ["tests/test_issue9.py", "tests/test_limits_bounds.py"],
    "history": ["tests/test_history.py", "tests/test_history_pool.py"],
    "models": ["tests/test_history.py", "tests/test_models_table.py"],
    "api": ["tests/test_api.py", "tests/test_api_units.py"],
    "report": ["tests/test_report.py", "tests/test_report_words.py"],
}
#: functions never mutated (drawing code: checked by eye, not by numbers)
SKIP_FUNCS = {"plot_sizing"}

CMP_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
            ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
            ast.Is: ast.IsNot, ast.IsNot: ast.Is}
BIN_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
            ast.FloorDiv: ast.Div, ast.Pow: ast.Mult}


def _docstring_ids(tree) -> set:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _skipped_ids(tree) -> set:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in SKIP_FUNCS:
            ids.update(id(n) for n in ast.walk(node))
        # type annotations and __all__ carry no behaviour
        if isinstance(node, (ast.arg, ast.AnnAssign)) and getattr(node, "annotation", None):
            ids.update(id(n) for n in ast.walk(node.annotation))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns:
            ids.update(id(n) for n in ast.walk(node.returns))
    return ids


def candidates(tree):
    """[(node index in ast.walk order, op index, description, line)] of every mutation."""
    skip = _docstring_ids(tree) | _skipped_ids(tree)
    out = []
    for i, node in enumerate(ast.walk(tree)):
        if id(node) in skip:
            continue
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Compare):
            for j, op in enumerate(node.ops):
                if type(op) in CMP_SWAP:
                    out.append((i, j, f"{type(op).__name__} -> {CMP_SWAP[type(op)].__name__}",
                                line))
        elif isinstance(node, ast.BinOp) and type(node.op) in BIN_SWAP:
            out.append((i, 0, f"{type(node.op).__name__} -> {BIN_SWAP[type(node.op)].__name__}",
                        line))
        elif isinstance(node, ast.AugAssign) and type(node.op) in BIN_SWAP:
            out.append((i, 0, f"{type(node.op).__name__}= -> "
                              f"{BIN_SWAP[type(node.op)].__name__}=", line))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
            out.append((i, 0, f"drop {type(node.op).__name__}", line))
        elif isinstance(node, ast.BoolOp):
            out.append((i, 0, "and <-> or", line))
        elif isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool):
                out.append((i, 0, f"{v} -> {not v}", line))
            elif isinstance(v, int):
                out.append((i, 0, f"{v} -> {v + 1}", line))
            elif isinstance(v, float):
                out.append((i, 0, f"{v!r} -> {_nudge(v)!r}", line))
        elif isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):
            out.append((i, 0, "return value -> None", line))
    return out


def _nudge(v: float) -> float:
    return 1.0 if v == 0.0 else 1.5 * v


def mutate(tree, cand) -> str:
    t = copy.deepcopy(tree)
    i, j, _, _ = cand
    node = list(ast.walk(t))[i]
    if isinstance(node, ast.Compare):
        node.ops[j] = CMP_SWAP[type(node.ops[j])]()
    elif isinstance(node, (ast.BinOp, ast.AugAssign)):
        node.op = BIN_SWAP[type(node.op)]()
    elif isinstance(node, ast.UnaryOp):
        node.op = ast.UAdd() if isinstance(node.op, ast.USub) else _Identity()
        if isinstance(node.op, _Identity):          # `not x` -> `x`: rewrite the parent
            return _replace_not(t, node)
    elif isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif isinstance(node, ast.Constant):
        v = node.value
        node.value = (not v) if isinstance(v, bool) else (v + 1 if isinstance(v, int)
                                                            else _nudge(v))
    elif isinstance(node, ast.Return):
        node.value = ast.Constant(None)
    return ast.unparse(ast.fix_missing_locations(t))


class _Identity(ast.unaryop):
    pass


def _replace_not(tree, target):
    class R(ast.NodeTransformer):
        def visit_UnaryOp(self, node):
            self.generic_visit(node)
            return node.operand if node is target else node
    return ast.unparse(ast.fix_missing_locations(R().visit(tree)))


def _keyed(pairs):
    """(line, change, occurrence) keys: two equal changes on one line are told apart by order."""
    seen: dict = {}
    out = []
    for p in pairs:
        seen[p] = seen.get(p, 0) + 1
        out.append((*p, seen[p]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("module", help="module name under simcore/, e.g. sizing")
    ap.add_argument("--tests", nargs="*", help="test files (default: the module's own)")
    ap.add_argument("--timeout", type=float, default=90.0, help="seconds per mutant")
    ap.add_argument("--sample", type=int, default=0, help="run a random sample of N mutants")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--lines", help="only mutants on lines A-B")
    ap.add_argument("--list", action="store_true", help="list the mutants and stop")
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--rerun-survivors", metavar="JSON",
                    help="run only the mutants that survived in this earlier result (same "
                         "source, same sample): valid when tests were only added or "
                         "strengthened since; the others are carried over as killed")
    args = ap.parse_args(argv)

    rel = f"simcore/{args.module}.py"
    src = (ROOT / rel).read_text()
    tree = ast.parse(src)
    cands = candidates(tree)
    if args.lines:
        a, b = (int(x) for x in args.lines.split("-"))
        cands = [c for c in cands if a <= c[3] <= b]
    base_unparsed = ast.unparse(tree)
    if args.sample and args.sample < len(cands):
        cands = sorted(random.Random(args.seed).sample(cands, args.sample), key=lambda c: c[3])
    carried = []
    if args.rerun_survivors:
        prev = json.loads(Path(args.rerun_survivors).read_text())["results"]
        keys = _keyed([(c[3], c[2]) for c in cands])
        prev_keys = _keyed([(r["line"], r["change"]) for r in prev])
        if sorted(keys) != sorted(prev_keys):
            ap.error("the earlier result is for other mutants (source or sample changed)")
        status = dict(zip(prev_keys, prev))
        carried = [dict(status[k], carried=True) for k in prev_keys
                   if status[k]["status"] != "survived"]
        cands = [c for c, k in zip(cands, keys) if status[k]["status"] == "survived"]
    if args.list:
        for c in cands:
            print(f"{rel}:{c[3]}: {c[2]}")
        print(f"{len(cands)} mutants")
        return 0
    tests = args.tests or [t for t in TESTS.get(args.module, []) if (ROOT / t).exists()]
    if not tests:
        ap.error(f"no test files for {args.module}: pass --tests")

    work = Path(tempfile.mkdtemp(prefix=f"mutate-{args.module}-"))
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))    # clean up the copy on kill
    try:
        for d in ("simcore", "cli", "tests", "scenarios", "docs", "benchmarks"):
            if (ROOT / d).exists():
                shutil.copytree(ROOT / d, work / d, ignore=shutil.ignore_patterns("__pycache__"))
        for f in ("pyproject.toml", "setup.py", "README.md"):
            shutil.copy(ROOT / f, work / f)
        env = dict(os.environ, PYTHONPATH=str(work), PYTHONDONTWRITEBYTECODE="1")
        cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
               "--no-header", *tests]

        def run():
            t0 = time.time()
            try:
                r = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True,
                                   timeout=args.timeout)
                return ("survived" if r.returncode == 0 else "killed"), time.time() - t0, r
            except subprocess.TimeoutExpired:
                return "timeout", time.time() - t0, None

        status, dt, r = run()
        if status != "survived":
            print(r.stdout[-3000:] if r else "timeout", file=sys.stderr)
            print("the unmutated module fails its tests: fix that first", file=sys.stderr)
            return 1
        print(f"{rel}: {len(cands)} mutants, tests {' '.join(tests)} "
              f"(clean run {dt:.1f} s, timeout {args.timeout:g} s)", flush=True)
        results = list(carried)
        if carried:
            print(f"{len(carried)} mutants killed before, carried over", flush=True)
        target = work / rel
        for k, c in enumerate(cands, 1):
            text = mutate(tree, c)
            if text == base_unparsed:
                continue
            target.write_text(text)
            status, dt, _ = run()
            results.append({"line": c[3], "change": c[2], "status": status,
                            "seconds": round(dt, 1)})
            print(f"[{k}/{len(cands)}] {rel}:{c[3]}: {c[2]}: {status} ({dt:.1f} s)",
                  flush=True)
        target.write_text(src)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    killed = sum(r["status"] != "survived" for r in results)
    n = len(results)
    print(f"\n{rel}: {killed}/{n} killed ({100 * killed / max(n, 1):.0f}%)")
    for r in results:
        if r["status"] == "survived":
            print(f"  survived {rel}:{r['line']}: {r['change']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"module": args.module, "tests": tests,
                                               "date": time.strftime("%Y-%m-%d"),
                                               "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
