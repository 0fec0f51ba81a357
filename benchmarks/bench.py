#!/usr/bin/env python
"""simrisk benchmark: what one asset-step costs, against numpy's own floor.

An *asset-step* is one market, one step, one path -- the unit of work of the kernel (each
one draws a normal shock and an exit uniform, moves a price, and runs the trading rules).

Run from the repository root, after building the kernel in place:

    python setup.py build_ext --inplace
    python benchmarks/bench.py             # the default run: about five minutes on 2 cores
    python benchmarks/bench.py --full      # + 1M paths x 756 days x 4 markets (the example
                                           #   scenario as is): peak RSS, a few minutes on 2 cores
    python benchmarks/bench.py --quick     # small sizes, a smoke test (~1 min)

It is not part of the test suite. Sections:

1. Cost per asset-step on the example scenario's compiled plan (``scenarios/5k_four_asset.yaml``,
   every trading rule on; horizon shortened): the compiled kernel on 1 thread and on every
   core, the Python twin (on a small size: it is ~100x slower), and the floor -- numpy's
   ``Generator.standard_normal`` drawing the same count of normals in block-sized chunks into
   a preallocated buffer (that is the floor; the one-big-array figure is shown too) -- with
   each row's ratio to the floor.
2. Horizon: the same plan at several horizons, each in a fresh process: cost per asset-step
   and peak RSS do not depend on the horizon.
3. Sweep: paths (10k, 100k, 1M) x markets (1, 4, 9) x steps per day (1, 4) on plans shaped
   like the example (same rules; 1 market = its CRUDE leg, 9 = five more CME micros), each
   configuration in a fresh process (peak RSS from ``resource.getrusage``, ``ru_maxrss``):
   cost per asset-step stays flat, peak RSS grows at most linearly in paths.
4. The whole ``simrisk run`` process on the example scenario at 10k paths (wall time) and
   its fixed cost (the same command at 1 path: interpreter, imports, scenario, solver).
5. With ``--full``: the example scenario as is (756 days x 1 step x 4 markets) at 1M paths.

Figures depend on the machine and on what else it runs; the table in docs/performance.md is
from one run of this script.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

EXAMPLE = os.path.join(ROOT, "scenarios", "5k_four_asset.yaml")
SEED = 7

# the five extra markets of the 9-market plans: (market, micro contract, price, annual vol)
EXTRA_MARKETS = [("NASDAQ100", "MNQ", 21000.0, 0.22), ("DOW", "MYM", 44000.0, 0.16),
                 ("RUSSELL2000", "M2K", 2300.0, 0.22), ("SILVER", "SIL", 30.0, 0.28),
                 ("GBPUSD", "M6B", 1.27, 0.08)]
EXTRA_CORR = {"SP500/NASDAQ100": 0.6, "SP500/DOW": 0.6, "SP500/RUSSELL2000": 0.6,
              "NASDAQ100/DOW": 0.6, "NASDAQ100/RUSSELL2000": 0.6, "DOW/RUSSELL2000": 0.6,
              "GOLD/SILVER": 0.6, "EURUSD/GBPUSD": 0.5}


# ---- plans ------------------------------------------------------------------------------------

def example_dict() -> dict:
    from simcore.scenario import load_yaml
    with open(EXAMPLE, encoding="utf-8") as f:
        return load_yaml(f.read(), EXAMPLE)


def shaped_dict(markets: int, spd: int | None = None, days: int | None = None) -> dict:
    """The example scenario with 1, 4 or 9 markets (same rules, same kind of strategies)."""
    import math

    from simcore.catalog import CATALOG

    d = copy.deepcopy(example_dict())
    d.pop("stress", None)
    if spd is not None:
        d["steps_per_day"] = spd
    if days is not None:
        d["horizon_days"] = days
    if markets == 4:
        return d
    if markets == 1:
        keep = {"CRUDE"}              # the leg that trades from the start at $5,000
        contracts = {"MCL", "CL"}
        d["markets"] = {k: v for k, v in d["markets"].items() if k in keep}
        d["strategies"] = {k: v for k, v in d["strategies"].items() if k in keep}
        d["correlation"] = {}
        for tier in d["tiers"]:
            tier["contracts"] = {c: n for c, n in tier["contracts"].items() if c in contracts}
        return d
    if markets == 9:
        for k, (mkt, micro, price, vol) in enumerate(EXTRA_MARKETS):
            d["markets"][mkt] = {"price": price, "vol": vol, "drift": 0.0}
            # like the example: an ATR stop risking about $55 per contract at the start
            atr_points = math.sqrt(8.0 / math.pi) * price * vol / math.sqrt(252.0)
            k_atr = round(55.0 / (atr_points * CATALOG[micro].point_value), 3)
            d["strategies"][mkt] = {"direction": "long" if k % 2 == 0 else "both",
                                    "stop": {"atr": k_atr}, "target": {"r": 2.0},
                                    "win_rate": 0.37, "max_hold_days": 10, "cooldown_days": 1}
            for tier in d["tiers"]:
                tier["contracts"][micro] = 1
        d["correlation"].update(EXTRA_CORR)
        return d
    raise ValueError("markets: 1, 4 or 9")


def worst_case_dict(days: int) -> dict:
    """The worst case per asset-step: the example's four markets and rules, one step a day,
    capital enough to trade every market from the start, 1-ATR stops (trades last days) and no
    cooldown, so a trade is open on ~99.9% of market-days; every rule is checked every step
    (risk sizing, ATR stops, 2R targets, 10-day time stops, tiers with a demotion buffer, the
    20% margin cap, funds, maintenance margin, ruin), two markets trade both directions."""
    d = copy.deepcopy(example_dict())
    d.pop("stress", None)
    d.update(capital=50_000, steps_per_day=1, horizon_days=days)
    for st in d["strategies"].values():
        st["stop"] = {"atr": 1.0}
        st["cooldown_days"] = 0
    d["tiers"] = [{"contracts": {"MES": 1, "MGC": 1, "MCL": 1, "M6E": 1}},
                  {"at": 60_000, "contracts": {"MES": 2, "MGC": 2, "MCL": 2, "M6E": 2},
                   "demote_buffer": 0.05}]
    return d


def build(markets: int = 4, spd: int | None = None, days: int | None = None):
    from simcore.build import build_plan
    from simcore.scenario import parse_scenario
    return build_plan(parse_scenario(shaped_dict(markets, spd, days), "<bench>"))


def asset_steps(plan, paths: int) -> int:
    return paths * plan.n_steps * plan.M


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # KiB on Linux


# ---- one configuration, in a fresh process ----------------------------------------------------

def child(spec: dict) -> dict:
    if spec.get("kind") == "table":
        rows, info = section_main(**spec["args"])
        return {"rows": rows, "info": info, "rss_mb": maxrss_mb()}
    from simcore.runner import simulate
    if spec.get("example_as_is"):
        from simcore.build import build_plan
        from simcore.scenario import load_scenario
        plan = build_plan(load_scenario(EXAMPLE))
    else:
        plan = build(spec["markets"], spec.get("spd"), spec.get("days"))
        if spec.get("min_asset_steps") or spec.get("min_per_path"):
            # a longer horizon where the given one leaves little work, so that fixed costs
            # (thread pool; per block: streams, state, merge) do not swamp the per-asset-step
            # figure; section 2 shows that the horizon itself does not change it
            per_day = plan.spd * plan.M
            days = max(plan.n_days,
                       -(-spec.get("min_asset_steps", 0) // (spec["paths"] * per_day)),
                       -(-spec.get("min_per_path", 0) // per_day))
            plan = plan.with_(n_days=days)
    # warm up (imports, thread pool) on a small run, then measure
    simulate(plan.with_(n_days=min(plan.n_days, 5)), 2048, SEED, jobs=spec.get("jobs"))
    base = maxrss_mb()
    wall = cpu = float("inf")
    peak = None
    for _ in range(spec.get("reps", 1)):     # the best of a few: other work on the machine
        out = None
        t, c = time.perf_counter(), time.process_time()
        out = simulate(plan, spec["paths"], SEED, jobs=spec.get("jobs"))
        wall = min(wall, time.perf_counter() - t)
        cpu = min(cpu, time.process_time() - c)   # every thread's CPU time
        if peak is None:
            peak = maxrss_mb()                   # the first run's peak (later runs reuse a
                                                 # fragmented heap)
    if spec.get("summarize"):
        from simcore.metrics import summarize
        summarize(plan, out, spec["paths"], SEED)
        peak = maxrss_mb()
    n = asset_steps(plan, spec["paths"])
    return {"wall": wall, "asset_steps": n, "ns": wall / n * 1e9, "cpu_ns": cpu / n * 1e9,
            "rss_base_mb": base, "rss_mb": peak, "steps": plan.n_steps, "M": plan.M,
            "days": plan.n_days,
            "trades": int(out.trades.sum())}


def run_child(spec: dict) -> dict:
    """Run one measurement in a fresh interpreter. (The orchestrating process never imports
    numpy or allocates much: on Linux a child's ru_maxrss starts from its parent's peak RSS at
    fork time, so a heavy parent would inflate every child's figure.)"""
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)],
                       capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise RuntimeError(f"child {spec} failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# ---- measurements -----------------------------------------------------------------------------

def best_of(fn, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def section_main(cores: int, days: int, paths: int, twin_paths: int, twin_days: int, reps: int,
                 worst: bool = False):
    import numpy as np

    from simcore import _kernel, _kernel_python
    from simcore._plan import BLOCK_SIZE, BOTH, BlockOutput, block_streams
    from simcore.runner import simulate

    if worst:
        from simcore.build import build_plan
        from simcore.scenario import parse_scenario
        plan = build_plan(parse_scenario(worst_case_dict(days), "<bench>"))
    else:
        plan = build(4, None, days)
    n = asset_steps(plan, paths)
    rows = []

    # floor: numpy's standard_normal, the same count, block-sized chunks, preallocated buffer
    chunk = BLOCK_SIZE * plan.M
    nchunks = n // chunk
    buf = np.empty(chunk)
    gen = np.random.Generator(np.random.PCG64(1))

    def floor_chunks():
        for _ in range(nchunks):
            gen.standard_normal(out=buf)
    t_floor = best_of(floor_chunks, reps) / (nchunks * chunk)
    t_big = best_of(lambda: gen.standard_normal(nchunks * chunk), reps) / (nchunks * chunk)
    # the kernel's own sampler alone, and the uniforms it draws besides
    t_zig = best_of(lambda: _kernel.standard_normal_fill(np.random.PCG64(2), nchunks * chunk),
                    reps) / (nchunks * chunk)

    def uniforms():
        for _ in range(nchunks):
            gen.random(out=buf)
    t_unif = best_of(uniforms, reps) / (nchunks * chunk)
    n_unif = 1 + (1 if bool(np.any(plan.dir_mode == BOTH)) else 0)
    # what an asset-step draws (a normal shock, an exit uniform, and an entry coin where a
    # market trades both directions), each number costed by numpy: the kernel's target is
    # 1.5x this
    t_draws = t_floor + n_unif * t_unif

    # the kernel through the runner (as `simrisk run` calls it)
    ref = {}

    def kernel(jobs):
        ref[jobs] = simulate(plan, paths, SEED, jobs=jobs)
    t_k1 = best_of(lambda: kernel(1), reps) / n
    t_kn = best_of(lambda: kernel(cores), reps) / n
    t_idle = None
    if worst:
        # the same plan and draws with too little capital for any contract: every entry attempt
        # is skipped, so this is the kernel's cost of a step without trading (draws, moves, the
        # checks of equity, margin, ruin, the day's ATR and tiers); the rest is the trades' cost
        idle = build_plan(parse_scenario(dict(worst_case_dict(days), capital=400), "<bench>"))
        t_idle = best_of(lambda: simulate(idle, paths, SEED, jobs=1), reps) / n
        assert int(simulate(idle, 64, SEED, jobs=1).trades.sum()) == 0
    same = all(np.array_equal(getattr(ref[1], f), getattr(ref[cores], f))
               for f in BlockOutput.PER_PATH + BlockOutput.PER_BLOCK)

    # the Python twin, on a small size
    tplan = plan.with_(n_days=twin_days)
    tn = asset_steps(tplan, twin_paths)

    def twin():
        out = BlockOutput.allocate(tplan, twin_paths)
        _kernel_python.simulate_block(tplan, block_streams(np.random.SeedSequence(1)), out)
    t_twin = best_of(twin, 1) / tn

    ns = 1e9
    rows.append(("numpy standard_normal, block-sized chunks, preallocated  [FLOOR]",
                 t_floor * ns))
    rows.append(("numpy standard_normal, one big array (allocation included)", t_big * ns))
    rows.append(("kernel's inline ziggurat alone (_kernel.standard_normal_fill)", t_zig * ns))
    rows.append(("numpy uniform (Generator.random), block-sized chunks", t_unif * ns))
    rows.append((f"an asset-step's draws by numpy: 1 normal + {n_unif} uniform(s)  [DRAWS]",
                 t_draws * ns))
    rows.append(("compiled kernel, 1 thread", t_k1 * ns))
    rows.append((f"compiled kernel, {cores} threads (all cores; wall time / asset-steps)",
                 t_kn * ns))
    if t_idle is not None:
        rows.append(("compiled kernel, 1 thread, same plan, no trade ever opens ($400)",
                     t_idle * ns))
    rows.append((f"Python twin (_kernel_python), {twin_paths} paths x {twin_days} days only",
                 t_twin * ns))
    info = {"plan": f"example scenario's plan: {plan.M} markets, {plan.spd} steps/day, "
                    f"horizon cut to {days} days; {paths:,} paths = {n:,} asset-steps",
            "speedup": t_k1 / t_kn, "identical": same, "floor": t_floor * ns,
            "draws": t_draws * ns, "kernel_vs_draws": t_k1 / t_draws,
            "trades": int(ref[1].trades.sum()),
            "idle_vs_draws": None if t_idle is None else t_idle / t_draws,
            "ns_per_trade": None if t_idle is None
            else (t_k1 - t_idle) * n / max(int(ref[1].trades.sum()), 1) * ns}
    return rows, info


def print_table(rows, floor_ns, draws_ns):
    w = max(len(r[0]) for r in rows)
    print(f"  {'':{w}}  {'ns/asset-step':>13}  {'x floor':>8}  {'x draws':>8}")
    for name, v in rows:
        print(f"  {name:{w}}  {v:13.2f}  {v / floor_ns:8.2f}  {v / draws_ns:8.2f}")


def cli_run(paths: int) -> tuple[float, float]:
    """Wall time and peak RSS of the whole `simrisk run` process on the example scenario."""
    cmd = [sys.executable, "-m", "simcore.cli.main", "run", EXAMPLE, "--paths", str(paths), "--json"]
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    t = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}")
    return wall, ru.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--full", action="store_true",
                    help="also run the example scenario as is at 1M paths (peak RSS check)")
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                    help="threads for the all-cores rows (default: every core)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(json.loads(a.child))))
        return

    cores = a.jobs
    q = a.quick
    from importlib.metadata import version
    print("simrisk benchmark")
    print(f"  machine: {platform.machine()}, {os.cpu_count()} cores ({_cpu_name()}), "
          f"Python {platform.python_version()}, numpy {version('numpy')}")
    print(f"  {time.strftime('%Y-%m-%d %H:%M')}, load average {os.getloadavg()[0]:.2f} "
          "(other work on the machine skews every figure)")
    t0 = time.perf_counter()

    # 1. the table
    r = run_child({"kind": "table", "args": dict(
        cores=cores, days=10 if q else 40, paths=4096 if q else 8192,
        twin_paths=16 if q else 64, twin_days=5 if q else 20, reps=2 if q else 3)})
    rows, info = r["rows"], r["info"]
    print(f"\n1. Cost per asset-step -- {info['plan']}")
    print_table(rows, info["floor"], info["draws"])
    print(f"  {cores} threads vs 1: {info['speedup']:.2f}x throughput; results identical: "
          f"{info['identical']} ({info['trades']:,} trades)")
    print("  The floor is numpy drawing the same count of normals in block-sized chunks into a "
          "preallocated buffer;\n  DRAWS adds the uniforms an asset-step draws; the Python twin "
          "runs on a small size only (it is slow).")
    r = run_child({"kind": "table", "args": dict(
        cores=cores, days=20 if q else 100, paths=2048 if q else 8192,
        twin_paths=8 if q else 32, twin_days=5 if q else 20, reps=2 if q else 3, worst=True)})
    rows, info = r["rows"], r["info"]
    print("\n1b. The worst case per asset-step -- a daily plan on the example's 4 markets, every "
          "rule on,\n    a trade open on ~99.9% of market-days (1-ATR stops, no cooldown, $50,000): "
          f"{info['plan'].split(';')[-1].strip()}")
    print_table(rows, info["floor"], info["draws"])
    print(f"  kernel (1 thread) / DRAWS = {info['kernel_vs_draws']:.2f} (target <= 1.5); "
          f"{info['trades']:,} trades")
    print(f"  without trades the kernel costs {info['idle_vs_draws']:.2f}x DRAWS; the trading "
          f"costs {info['ns_per_trade']:.0f} ns per trade\n  (its entry, its exit, and the "
          "exit tests and marks to market of every step it is open)")

    # 2. horizon
    print("\n2. Horizon (example plan, 4,096 paths, each in a fresh process; ns/asset-step: wall "
          "time, all cores;\n   CPU ns: CPU time of all threads per asset-step)")
    print(f"  {'days':>6} {'asset-steps':>14} {'ns/asset-step':>14} {'CPU ns':>7} {'base MB':>8} "
          f"{'peak RSS MB':>12}")
    for days in ((20, 80) if q else (20, 80, 320, 756)):
        r = run_child({"markets": 4, "days": days, "paths": 4096, "jobs": cores,
                       "reps": 1 if q else 3})
        print(f"  {days:6d} {r['asset_steps']:14,d} {r['ns']:14.2f} {r['cpu_ns']:7.2f} "
              f"{r['rss_base_mb']:8.1f} {r['rss_mb']:12.1f}")

    # 3. sweep
    sweep_days = 5 if q else 10
    path_list = (10_000, 100_000) if q else (10_000, 100_000, 1_000_000)
    min_steps = 4_000_000 if q else 20_000_000
    min_per_path = 100 if q else 500
    print(f"\n3. Sweep (horizon {sweep_days} days, longer where that leaves fewer than "
          f"{min_steps / 1e6:.0f}M asset-steps in all or {min_per_path} per path; all cores;\n"
          "   each configuration in a fresh process. ns/asset-step: wall time, all cores; "
          "CPU ns: CPU time of all threads;\n   trades/as: trades per asset-step; base = peak RSS "
          "before simulating, growth = (peak - base) per 100k paths)")
    print(f"  {'paths':>9} {'mkts':>4} {'steps/day':>9} {'days':>5} {'asset-steps':>14} "
          f"{'ns/asset-step':>14} {'CPU ns':>7} {'trades/as':>9} {'base MB':>8} {'peak RSS MB':>12} "
          f"{'growth MB':>10}")
    for paths in path_list:
        for m in (1, 4, 9):
            for spd in (1, 4):
                r = run_child({"markets": m, "spd": spd, "days": sweep_days, "paths": paths,
                               "jobs": cores, "min_asset_steps": min_steps,
                               "min_per_path": min_per_path, "reps": 1 if q else 2})
                grow = (r["rss_mb"] - r["rss_base_mb"]) / paths * 100_000
                print(f"  {paths:9,d} {m:4d} {spd:9d} {r['days']:5d} {r['asset_steps']:14,d} "
                      f"{r['ns']:14.2f} {r['cpu_ns']:7.2f} "
                      f"{r['trades'] / r['asset_steps']:9.3f} {r['rss_base_mb']:8.1f} "
                      f"{r['rss_mb']:12.1f} {grow:10.1f}")

    # 4. the whole process
    print("\n4. `simrisk run scenarios/5k_four_asset.yaml` (whole process, wall time; "
          "all cores)")
    for paths in ((1, 1000) if q else (1, 10_000)):
        wall, rss = cli_run(paths)
        print(f"  --paths {paths:<7,d} {wall:7.2f} s   peak RSS {rss:7.1f} MB")

    # 5. full size
    if a.full:
        print("\n5. Full size: the example scenario as is, 1,000,000 paths (fresh process)")
        r = run_child({"markets": 4, "example_as_is": True, "paths": 1_000_000, "jobs": cores,
                       "summarize": True})
        print(f"  {r['asset_steps']:,} asset-steps ({r['steps']} steps x {r['M']} markets), "
              f"{r['wall']:.1f} s, {r['ns']:.2f} ns/asset-step ({r['cpu_ns']:.2f} CPU ns), "
              f"peak RSS {r['rss_mb']:.1f} MB with the summary (before simulating: "
              f"{r['rss_base_mb']:.1f} MB)")
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
