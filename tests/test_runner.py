"""Reproducibility (SPEC 8): results depend on the plan, the seed and the number of paths
only -- not on the number of workers or the order in which blocks run."""
import numpy as np
import pytest

from plan_factory import random_plan, assert_identical
from simcore import runner
from simcore._plan import BLOCK_SIZE



def test_block_sizes():
    assert runner.block_sizes(1) == [1]
    assert runner.block_sizes(BLOCK_SIZE) == [BLOCK_SIZE]
    assert runner.block_sizes(2 * BLOCK_SIZE + 5) == [BLOCK_SIZE, BLOCK_SIZE, 5]
    with pytest.raises(ValueError):
        runner.block_sizes(0)


@pytest.mark.parametrize("seed", [1, 4])
def test_same_results_for_any_number_of_jobs(seed):
    plan = random_plan(seed)
    paths = 2 * BLOCK_SIZE + 300
    ref = runner.simulate(plan, paths, 42, jobs=1)
    for jobs in (2, 3):
        assert_identical(ref, runner.simulate(plan, paths, 42, jobs=jobs))


def test_same_results_for_any_block_schedule():
    """Running the blocks in any order and merging them in block order gives the same run."""
    plan = random_plan(2)
    paths = 3 * BLOCK_SIZE + 17
    ref = runner.simulate(plan, paths, 9, jobs=1)
    sizes = runner.block_sizes(paths)
    children = np.random.SeedSequence(9).spawn(len(sizes))
    order = [3, 1, 0, 2]
    done = {b: runner._run_block(plan, children[b], sizes[b], False) for b in order}
    assert_identical(ref, runner.merge([done[b] for b in range(len(sizes))]))


def test_more_paths_extend_a_run():
    """The first full blocks of a larger run are the smaller run's (a prefix property that
    sizing refinements rely on)."""
    plan = random_plan(6)
    small = runner.simulate(plan, 2 * BLOCK_SIZE, 5, jobs=2)
    big = runner.simulate(plan, 3 * BLOCK_SIZE, 5, jobs=2)
    np.testing.assert_array_equal(small.final_equity, big.final_equity[:2 * BLOCK_SIZE])


def test_different_seeds_differ():
    plan = random_plan(1)
    a = runner.simulate(plan, 200, 1)
    b = runner.simulate(plan, 200, 2)
    assert not np.array_equal(a.final_equity, b.final_equity)


def test_progress_reports_every_path():
    plan = random_plan(0)
    seen = []
    runner.simulate(plan, BLOCK_SIZE + 10, 0, jobs=2, progress=seen.append)
    assert sum(seen) == BLOCK_SIZE + 10


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend"):
        runner.simulate(random_plan(0), 2 * BLOCK_SIZE, 0, jobs=2, backend="spark")


def test_common_random_numbers_survive_neutral_stress_features():
    """One random stream per purpose: switching on regimes or gaps that change nothing
    (two identical regimes; gaps of size zero) leaves every result bit-identical, because the
    shocks and exit uniforms do not move in their streams."""
    from plan_factory import make_plan
    from simcore._plan import STOP_FIXED, TARGET_R
    common = dict(M=2, n_days=120, corr=[[1, .3], [.3, 1]], stop_kind=[STOP_FIXED] * 2,
                  stop_val=[2.0, 2.0], target_kind=[TARGET_R] * 2, target_val=[2.0, 2.0],
                  tier_max=[[3, 3]], risk_per_trade=0.02, capital=5000, im=[50.0])
    base = runner.simulate(make_plan(**common), 2000, 3, jobs=2)
    regimes = make_plan(**common, regimes=([[[1, .3], [.3, 1]]] * 2, [1.0, 1.0],
                                           [[.9, .1], [.2, .8]], 0))
    gaps = make_plan(**common, gaps=([0.3, 0.3], [0.0, 0.0], [0.0, 0.0]))
    for other in (regimes, gaps):
        out = runner.simulate(other, 2000, 3, jobs=2)
        for f in ("final_equity", "trades", "ruined", "max_dd"):
            np.testing.assert_array_equal(getattr(base, f), getattr(out, f), err_msg=f)


# ---- a stop request (Ctrl-C) reaches running blocks ------------------------------------------

def test_a_stop_request_ends_a_block_and_leaves_later_runs_untouched():
    from simcore import _kernel
    from simcore._plan import BlockOutput, block_streams
    plan = random_plan(3)
    ref = runner.simulate(plan, 64, 5, jobs=1)
    out = BlockOutput.allocate(plan, 64)
    _kernel.request_stop()
    try:
        with pytest.raises(KeyboardInterrupt):
            _kernel.simulate_block(plan, block_streams(runner.block_seed(5, 0)), out)
    finally:
        _kernel.clear_stop()
    assert_identical(runner.simulate(plan, 64, 5, jobs=1), ref)


@pytest.mark.parametrize("jobs", [1, 2])
def test_ctrl_c_stops_a_long_block_within_a_day_of_its_paths(jobs):
    """A block of a plan with millions of steps a day took minutes; Ctrl-C waited for it.
    Now the runner asks running blocks to stop, and they end at their next day end."""
    import signal
    import threading
    import time
    from simcore.build import build_plan
    from simcore.scenario import parse_scenario
    plan = build_plan(parse_scenario({     # a block takes minutes; a day of it ~5 ms
        "name": "long block", "capital": 30000, "horizon_days": 400, "steps_per_day": 200_000,
        "markets": {"SP500": {"price": 6000, "vol": 0.18}},
        "strategies": {"SP500": {"direction": "long", "stop": {"atr": 1.0},
                                 "target": {"r": 2.0}}},
        "rules": {"risk_per_trade": 0.02}, "tiers": [{"contracts": {"MES": 1}}]}, "<test>"))
    timer = threading.Timer(0.5, signal.pthread_kill,
                            (threading.main_thread().ident, signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            runner.simulate(plan, 2048, 1, jobs=jobs)
    finally:
        timer.cancel()
    assert time.perf_counter() - t0 < 20.0        # (uninterrupted: well over a minute)
