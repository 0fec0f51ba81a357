"""runner.py's own rules (issue 16): the job count, merging blocks, progress reports from
either local path, the default of record_equity, and run_scenario's defaults."""
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
