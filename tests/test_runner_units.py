"""runner.py's own rules (issue 16): the job count, merging blocks, progress reports from
either local path, the default of record_equity, and run_scenario's defaults."""
import math

import numpy as np
import pytest

from plan_factory import random_plan
from simcore import runner
from simcore._plan import BlockOutput
from simcore.runner import block_sizes, merge, resolve_jobs, run_scenario, simulate


@pytest.mark.parametrize("jobs, expected", [(None, 4), (0, 4), (3, 3), (-1, 4), (-2, 3),
                                            (-4, 1), (-10, 1)])
def test_resolve_jobs(monkeypatch, jobs, expected):
    monkeypatch.setattr(runner.os, "cpu_count", lambda: 4)
    assert resolve_jobs(jobs) == expected


def test_resolve_jobs_unknown_core_count(monkeypatch):
    monkeypatch.setattr(runner.os, "cpu_count", lambda: None)
    assert resolve_jobs(None) == 1 and resolve_jobs(-1) == 1 and resolve_jobs(-3) == 1


@pytest.mark.parametrize("jobs", [1, 2])
def test_progress_reports_every_block_and_outputs_do_not_depend_on_jobs(jobs):
    plan = random_plan(3)
    seen = []
    out = simulate(plan, 2500, 7, jobs=jobs, progress=seen.append, block_size=1024)
    assert sorted(seen) == [452, 1024, 1024] and sum(seen) == 2500
    ref = simulate(plan, 2500, 7, jobs=1, block_size=1024)
    for f in BlockOutput.PER_PATH + BlockOutput.PER_BLOCK:
        np.testing.assert_array_equal(getattr(out, f), getattr(ref, f), err_msg=f)
    assert out.equity.shape[0] == 0                       # not recorded by default


def test_merge_concatenates_paths_and_sums_blocks():
    plan = random_plan(5)
    tasks = [(plan, runner.block_seed(9, b), n) for b, n in enumerate([30, 20])]
    a, b = runner.run_tasks(tasks, jobs=1)
    m = merge([a, b])
    np.testing.assert_array_equal(m.final_equity, np.concatenate([a.final_equity,
                                                                  b.final_equity]))
    for f in BlockOutput.PER_BLOCK:
        np.testing.assert_array_equal(getattr(m, f), getattr(a, f) + getattr(b, f), err_msg=f)
    assert m.equity.shape[0] == 0
    a, b = runner.run_tasks(tasks, jobs=1, record_equity=True)
    m = merge([a, b])
    assert m.equity.shape == (50, plan.n_days + 1)
    np.testing.assert_array_equal(m.equity[30:], b.equity)


def test_block_sizes():
    assert block_sizes(2500, 1024) == [1024, 1024, 452]
    assert block_sizes(2048, 1024) == [1024, 1024]
    assert block_sizes(5, 1024) == [5]


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend"):
        runner.run_tasks([(random_plan(1), runner.block_seed(1, 0), 4)], backend="mpi")


def test_run_scenario_defaults_and_overrides():
    from simcore.scenario import parse_scenario
    scn = parse_scenario({
        "capital": 10000, "horizon_days": 10, "paths": 300, "seed": 4,
        "markets": {"SP500": {"price": 6000, "vol": 0.18}},
        "strategies": {"SP500": {"direction": "long", "stop": {"atr": 1.0},
                                 "target": {"r": 2.0}}},
        "rules": {"risk_per_trade": 0.05, "margin_cap": "none", "slippage_ticks": 1,
                  "ruin": {}},
        "tiers": [{"contracts": {"MES": 1}}]})
    s = run_scenario(scn, jobs=1)
    assert (s["paths"], s["seed"]) == (300, 4)
    s2 = run_scenario(scn, paths=200, seed=5, jobs=1)
    assert (s2["paths"], s2["seed"]) == (200, 5)
    assert s2["final_equity"] != s["final_equity"]


def test_a_task_of_four_carries_its_own_record_flag():
    plan = random_plan(5)
    tasks = [(plan, runner.block_seed(9, 0), 6, True), (plan, runner.block_seed(9, 1), 4, False),
             (plan, runner.block_seed(9, 2), 3)]
    a, b, c = runner.run_tasks(tasks, jobs=1, record_equity=False)
    assert a.equity.shape == (6, plan.n_days + 1)
    assert b.equity.shape[0] == 0 and c.equity.shape[0] == 0
    *_, c = runner.run_tasks(tasks, jobs=1, record_equity=True)
    assert c.equity.shape == (3, plan.n_days + 1)


@pytest.mark.parametrize("equity_paths, rows", [(0, 0), (1, 2), (2, 2), (3, 4), (4, 4),
                                                (5, 5), (99, 5)])
def test_equity_paths_keeps_the_first_paths_in_whole_blocks(equity_paths, rows):
    """Blocks of 2, 2, 1 paths: equity_paths = N records the first min(N, 5) paths rounded up
    to whole blocks (SPEC: memory bounded), rows equal to a full recording's first rows --
    including a last block of a single path."""
    plan = random_plan(4)
    full = simulate(plan, 5, 3, jobs=1, block_size=2, record_equity=True)
    out = simulate(plan, 5, 3, jobs=1, block_size=2, equity_paths=equity_paths)
    assert out.equity.shape[0] == rows
    if rows:
        np.testing.assert_array_equal(out.equity, full.equity[:rows])
    np.testing.assert_array_equal(out.final_equity, full.final_equity)


def _replay_plan(n_days=4, N=11):
    """A one-market replay plan on a made-up pool of N dates (close-to-close log returns
    0.01 k on date k): buy and hold, no stop, so a path's result depends on its start only."""
    from plan_factory import make_plan
    from simcore._plan import HIST_REPLAY
    lrel = np.zeros((N, 1, 4))
    lrel[:, 0, 3] = 0.01 * np.arange(N)
    lrel[:, 0, 1] = np.maximum(lrel[:, 0, 3], 0.0)
    lrel[:, 0, 2] = np.minimum(lrel[:, 0, 3], 0.0)
    z = np.zeros((N, 1))
    return make_plan(n_days=n_days, capital=1e6, im=[1.0], mm=[1.0], tier_max=[[1]]).with_(
        hist_mode=HIST_REPLAY, hist_lrel=lrel, hist_tr=z + 0.01, hist_atr=z + 0.01,
        hist_pvar=z.copy(), hist_lc0=z + math.log(100.0), hist_scale=1, hist_first=0)


def test_replay_blocks_start_at_their_own_dates():
    """Replay: a block's paths start at the pool dates first, first + 1, ... (block_plan), so
    cutting the run into blocks changes nothing; a GBM plan is handed on unchanged."""
    plan = _replay_plan()
    assert plan.hist_nstart == 8
    assert runner.block_plan(plan, 5).hist_first == 5
    assert runner.block_plan(plan, 0) is plan
    gbm = random_plan(2)
    assert runner.block_plan(gbm, 5) is gbm
    one = simulate(plan, 8, 1, jobs=1)
    cut = simulate(plan, 8, 1, jobs=1, block_size=3)
    np.testing.assert_array_equal(cut.final_equity, one.final_equity)
    assert len(set(one.final_equity.tolist())) == 8       # every start date is its own path


def test_replay_has_exactly_one_path_per_start_date():
    plan = _replay_plan()
    runner.check_history_paths(plan, 8)
    for wrong in (7, 9):
        with pytest.raises(ValueError, match="exactly 8 paths"):
            runner.check_history_paths(plan, wrong)
    assert runner.history_paths(plan, 500) == 8 and runner.history_paths(random_plan(2), 500) == 500
