"""Parallel runner: fixed-size blocks of paths, one ``SeedSequence`` child per block.

Paths ``[b * BLOCK_SIZE, (b + 1) * BLOCK_SIZE)`` form block ``b``, whose random streams
(one PCG64 per purpose, ``_plan.STREAMS``) are spawned from
``SeedSequence(seed).spawn(n_blocks)[b]``. Which worker runs a block, and in what
order blocks finish, cannot change a single number: results depend only on the plan, the
seed and the number of paths (SPEC 8). Blocks run in threads (the kernel releases the GIL) of
the standard library's thread pool, or, with ``backend="dask"``, on a dask.distributed cluster
through joblib's dask backend, without touching the blocks or their seeds.
"""
from __future__ import annotations

import os
from typing import Callable, Optional

import numpy as np

from ._plan import BLOCK_SIZE, HIST_REPLAY, BlockOutput, Plan, block_streams


def block_sizes(paths: int, block_size: int = BLOCK_SIZE) -> list[int]:
    """Sizes of the blocks ``paths`` is cut into: full blocks, then the remainder."""
    if paths < 1:
        raise ValueError("paths must be >= 1")
    full, rest = divmod(paths, block_size)
    return [block_size] * full + ([rest] if rest else [])


def _run_block(plan: Plan, seed_seq: np.random.SeedSequence, n: int,
               record_equity: bool) -> BlockOutput:
    from . import _kernel
    out = BlockOutput.allocate(plan, n, record_equity)
    _kernel.simulate_block(plan, block_streams(seed_seq), out)
    return out


def merge(outs: list[BlockOutput]) -> BlockOutput:
    """Concatenate per-path fields and add per-block (per-market) sums, in block order.

    ``equity`` is the concatenation of the blocks that recorded it (always the first ones:
    see ``equity_paths`` in :func:`simulate`)."""
    fields = {}
    for name in BlockOutput.PER_PATH:
        arrs = [getattr(o, name) for o in outs]
        if name == "equity":
            arrs = [a for a in arrs if a.shape[0] > 0]
            fields[name] = np.concatenate(arrs, axis=0) if arrs else outs[0].equity
        else:
            fields[name] = np.concatenate(arrs, axis=0)
    for name in BlockOutput.PER_BLOCK:
        fields[name] = np.sum([getattr(o, name) for o in outs], axis=0)
    return BlockOutput(**fields)


def resolve_jobs(jobs: Optional[int]) -> int:
    if jobs is None or jobs == 0:
        return os.cpu_count() or 1
    if jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + jobs)
    return int(jobs)


def block_seed(seed: int, b: int) -> np.random.SeedSequence:
    """Block ``b``'s SeedSequence: ``SeedSequence(seed).spawn(n_blocks)[b]``, for any n_blocks."""
    return np.random.SeedSequence(seed, spawn_key=(b,))


def check_finite(outs: list[BlockOutput]) -> None:
    """Fail the run if any path's state became non-finite (the kernel stops such a path and
    flags it in ``nonfinite``): a broken path must never be reported as a result."""
    # the kernel's flag, and (belt and braces) any path whose reported figures are not finite
    bad = sum(int(np.count_nonzero(o.nonfinite.astype(bool)
                                   | ~np.isfinite(o.final_equity) | ~np.isfinite(o.peak_equity)
                                   | ~np.isfinite(o.max_dd)))
              for o in outs)
    if bad:
        total = sum(o.nonfinite.shape[0] for o in outs)
        from .errors import SimulationError
        raise SimulationError(
            f"{bad:,} of {total:,} simulated paths reached a non-finite price or equity "
            "(an overflow: look at the plan's alpha, stops, prices and capital); "
            "no result is reported")


def _task(t, record_equity: bool):
    """``(plan, seed_seq, n, record)`` from a task of 3 (record = ``record_equity``) or 4."""
    return (t[0], t[1], t[2], t[3] if len(t) > 3 else record_equity)


def run_tasks(tasks, *, jobs: Optional[int] = None, backend: str = "threads",
              scheduler: Optional[str] = None,
              progress: Optional[Callable[[int], None]] = None,
              record_equity: bool = False) -> list:
    """Run blocks ``tasks = [(plan, seed_seq, n), ...]``; return their outputs in task order.

    A task may carry a fourth item, whether that block records its day-end equity
    (otherwise ``record_equity`` decides for every block).

    ``jobs``: worker threads (None or 0 = every core, negative counts back from it).
    ``backend``: ``"threads"`` (local) or ``"dask"`` (joblib's dask backend; ``scheduler`` is
    the address of a dask.distributed scheduler, or None for a local cluster).
    ``progress(n)`` is called with each finished block's number of paths.
    """
    tasks = [_task(t, record_equity) for t in tasks]
    n_jobs = min(resolve_jobs(jobs), max(1, len(tasks)))   # never more threads than blocks
    if backend not in ("threads", "dask"):
        raise ValueError(f"backend: unknown backend {backend!r} (threads or dask)")
    if backend == "threads":
        # the standard library's thread pool (joblib's threading backend does the same work
        # but costs ~0.2 s to import: a tenth of a whole run of the example). One job runs in
        # a worker thread too, so that the main thread waits where Ctrl-C reaches it.
        from concurrent.futures import ThreadPoolExecutor
        pool = ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="simrisk-block")
        try:
            futures = [pool.submit(_run_block, plan, ss, n, rec)
                       for plan, ss, n, rec in tasks]
            outs = []
            for fut in futures:                 # in task order
                out = fut.result()
                outs.append(out)
                if progress is not None:
                    progress(out.ruined.shape[0])
        except BaseException:
            # an error or Ctrl-C: blocks not started are dropped and running ones are asked
            # to stop (they end within a day of their paths); their outputs are discarded.
            # (The request reaches every block of this process: runs are not nested.)
            from . import _kernel
            _kernel.request_stop()
            pool.shutdown(wait=True, cancel_futures=True)
            _kernel.clear_stop()
            raise
        pool.shutdown(wait=False)
        check_finite(outs)
        return outs

    import joblib

    from .distributed import dask_config
    ctx = dask_config(scheduler, n_jobs)
    outs = []
    with ctx:
        gen = joblib.Parallel(return_as="generator")(
            joblib.delayed(_run_block)(plan, ss, n, rec) for plan, ss, n, rec in tasks)
        for out in gen:
            outs.append(out)
            if progress is not None:
                progress(out.ruined.shape[0])
    check_finite(outs)
    return outs


def block_plan(plan: Plan, first: int) -> Plan:
    """The plan a block runs: for replay (real history, SPEC 11) the block's paths start at
    the pool dates ``first, first + 1, ...`` (``hist_first``); any other plan as it is."""
    if plan.hist_mode == HIST_REPLAY and plan.hist_first != first:
        return plan.with_(hist_first=int(first))
    return plan


def history_paths(plan: Plan, paths: int) -> int:
    """The number of paths a run of ``plan`` has: replay, one per start date (whatever was
    asked); otherwise ``paths``."""
    return plan.hist_nstart if plan.hist_mode == HIST_REPLAY else int(paths)


def check_history_paths(plan: Plan, paths: int) -> None:
    if plan.hist_mode == HIST_REPLAY and paths != plan.hist_nstart:
        raise ValueError(f"replay has exactly {plan.hist_nstart} paths (one per start date), "
                         f"not {paths}")


def simulate(plan: Plan, paths: int, seed: int, *, jobs: Optional[int] = None,
             backend: str = "threads", scheduler: Optional[str] = None,
             progress: Optional[Callable[[int], None]] = None,
             record_equity: bool = False, block_size: int = BLOCK_SIZE,
             equity_paths: int = 0) -> BlockOutput:
    """Simulate ``paths`` paths of ``plan`` with ``seed``; return the merged summaries.

    Options as in :func:`run_tasks`; ``record_equity`` also keeps each path's day-end equity
    (``out.equity``, paths x (horizon_days + 1): memory grows with the horizon).
    ``equity_paths = N`` (without ``record_equity``) keeps it for the first
    ``min(N, paths)`` paths only, rounded up to whole blocks (``out.equity`` then has that
    many rows, paths 0, 1, ...): memory bounded whatever ``paths``. Recording changes no
    number of the run (a block's random streams do not depend on it).
    """
    plan.validate_arrays()
    check_history_paths(plan, paths)
    tasks, first = [], 0
    for b, n in enumerate(block_sizes(paths, block_size)):
        tasks.append((block_plan(plan, first), block_seed(seed, b), n,
                      record_equity or first < equity_paths))
        first += n
    return merge(run_tasks(tasks, jobs=jobs, backend=backend, scheduler=scheduler,
                           progress=progress, record_equity=record_equity))


def run_scenario(scenario, *, paths: Optional[int] = None, seed: Optional[int] = None,
                 jobs: Optional[int] = None, progress=None, backend: str = "threads",
                 scheduler: Optional[str] = None) -> dict:
    """Load (if given a path), compile, simulate and summarize a scenario: the JSON of SPEC 10."""
    from .build import build_plan
    from .metrics import summarize
    from .scenario import load_scenario

    if isinstance(scenario, (str, os.PathLike)):
        scenario = load_scenario(scenario)
    plan = build_plan(scenario)
    paths = history_paths(plan, scenario.paths if paths is None else paths)
    seed = scenario.seed if seed is None else seed
    out = simulate(plan, paths, seed, jobs=jobs, progress=progress, backend=backend,
                   scheduler=scheduler)
    return summarize(plan, out, paths, seed)
