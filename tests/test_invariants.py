"""Invariants of the accounting and the sizing rules, checked on the Python twin's event
stream (the kernel matches the twin bit for bit, see test_kernel_parity.py)."""
import math
from collections import defaultdict

import numpy as np
import pytest

from plan_factory import random_plan, streams
from simcore import _kernel, _kernel_python
from simcore._plan import BlockOutput

SEEDS = range(25)


def run_twin(plan, n, seed):
    events = []
    out = BlockOutput.allocate(plan, n, record_equity=True)
    _kernel_python.simulate_block(plan, streams(seed), out,
                                  on_event=lambda kind, **kw: events.append((kind, kw)))
    return out, events


@pytest.mark.parametrize("seed", SEEDS)
def test_cash_plus_trade_pnl_is_final_equity(seed):
    """Every dollar is accounted for: final equity = capital + sum of closed trades' P&L
    after costs (all positions are closed by the end of a path)."""
    plan = random_plan(seed)
    out, events = run_twin(plan, 16, seed)
    pnl = defaultdict(float)
    count = defaultdict(int)
    for kind, kw in events:
        if kind == "exit":
            pnl[kw["path"]] += kw["pnl"]
            count[kw["path"]] += 1
    for p in range(16):
        assert out.final_equity[p] == pytest.approx(plan.capital + pnl[p], rel=1e-9, abs=1e-6)
        assert out.trades[p] == count[p]


@pytest.mark.parametrize("seed", SEEDS)
def test_entries_respect_every_limit(seed):
    """At entry n <= n_tier, n_risk, n_cap, n_funds; the margin cap and the funds rule hold
    in dollars; the contract is the current tier's."""
    plan = random_plan(seed)
    _, events = run_twin(plan, 16, seed)
    entries = [kw for kind, kw in events if kind == "entry"]
    for e in entries:
        n = e["contracts"]
        assert 1 <= n <= min(e["n_tier"], e["n_risk"], e["n_cap"], e["n_funds"])
        assert n <= plan.tier_max[e["tier"], e["market"]]
        assert e["contract"] == plan.tier_contract[e["tier"], e["market"]]
        if math.isfinite(plan.margin_cap):
            assert n * e["im"] <= plan.margin_cap * e["equity"] + 1e-9
        assert e["open_im"] + n * e["im"] <= e["equity"] + 1e-9
        if e["D"] > 0:
            c = e["contract"]
            risk = n * (e["D"] * plan.pv[c] + plan.slip_ticks * plan.tick[c] * plan.pv[c]
                        + 2 * plan.comm[c])
            assert risk <= plan.risk_per_trade * e["equity"] + 1e-9


@pytest.mark.parametrize("seed", SEEDS)
def test_ruin_and_blown_are_absorbing(seed):
    plan = random_plan(seed)
    out, events = run_twin(plan, 16, seed)
    last_step = defaultdict(lambda: -1)
    for kind, kw in events:
        last_step[kw["path"]] = max(last_step[kw["path"]], kw["step"])
    for p in range(16):
        if out.ruined[p]:
            day = out.ruin_day[p]
            assert 1 <= day <= plan.n_days
            # nothing happens after the step of ruin
            assert last_step[p] <= day * plan.spd - 1
            # equity is frozen from the day of ruin on
            assert np.all(out.equity[p, day:] == out.final_equity[p])
            # no tier is first reached after ruin
            assert np.all(out.tier_day[p] <= day)
        else:
            assert out.ruin_day[p] == -1
        if out.blown[p]:
            assert out.final_equity[p] <= 0.0
            stop = np.flatnonzero(out.equity[p] <= 0.0)
            assert stop.size and np.all(out.equity[p, stop[0]:] == out.final_equity[p])


def test_blown_without_a_ruin_rule_is_not_ruin():
    """SPEC 9: `ruin: {}` means never ruined; an account at or below zero still stops and
    counts as blown (kernel and twin alike)."""
    from plan_factory import make_plan
    from simcore._plan import BlockOutput
    from simcore import _kernel
    from plan_factory import streams
    plan = make_plan(n_days=40, capital=1000.0, sigma=0.5, pv=[100.0], im=[1.0], mm=[0.5],
                     tier_max=[[1000]], slip_ticks=1)
    ko = BlockOutput.allocate(plan, 64, record_equity=True)
    _kernel.simulate_block(plan, streams(1), ko)
    po, _ = run_twin(plan, 64, 1)
    for f in BlockOutput.PER_PATH + BlockOutput.PER_BLOCK:
        np.testing.assert_array_equal(getattr(ko, f), getattr(po, f), err_msg=f)
    assert ko.blown.sum() > 32
    assert ko.ruined.sum() == 0 and np.all(ko.ruin_day == -1)
    # with a stated rule the same paths are ruined
    ruled = plan.with_(ruin_level=100.0)
    ro = BlockOutput.allocate(ruled, 64)
    _kernel.simulate_block(ruled, streams(1), ro)
    assert ro.ruined.sum() >= ko.blown.sum()


@pytest.mark.parametrize("seed", SEEDS)
def test_margin_calls_only_below_maintenance(seed):
    plan = random_plan(seed)
    out, events = run_twin(plan, 16, seed)
    # The event's own `equity < maintenance` holds by construction (it is only emitted then);
    # what can fail is the maintenance figure itself: rebuild the open positions from the
    # entry and exit events and sum their maintenance margins independently.
    calls = defaultdict(int)
    open_pos = defaultdict(dict)            # path -> market -> (contract, contracts)
    for kind, kw in events:
        if kind == "entry":
            open_pos[kw["path"]][kw["market"]] = (kw["contract"], kw["contracts"])
        elif kind == "exit":
            open_pos[kw["path"]].pop(kw["market"], None)
        elif kind == "margin_call":
            held = open_pos[kw["path"]]
            assert held, "a margin call with no open position"
            mm = sum(n * plan.mm[c] for c, n in held.values())
            assert kw["maintenance"] == pytest.approx(mm, rel=1e-12)
            assert kw["equity"] < mm
            calls[kw["path"]] += 1
    for p in range(16):
        assert out.margin_calls[p] == calls[p]


@pytest.mark.parametrize("seed", [0, 5, 9])
def test_equity_paths_reproducible_and_consistent(seed):
    """Same plan, seed and size give the same daily equity paths, kernel and twin alike; the
    summaries agree with the recorded path."""
    plan = random_plan(seed)
    a = BlockOutput.allocate(plan, 16, record_equity=True)
    b = BlockOutput.allocate(plan, 16, record_equity=True)
    _kernel.simulate_block(plan, streams(seed), a)
    _kernel.simulate_block(plan, streams(seed), b)
    np.testing.assert_array_equal(a.equity, b.equity)
    twin, _ = run_twin(plan, 16, seed)
    np.testing.assert_array_equal(a.equity, twin.equity)
    assert np.all(a.equity[:, 0] == plan.capital)
    # the recorded day-end equity never exceeds the tracked peak
    assert np.all(a.equity.max(axis=1) <= a.peak_equity + 1e-9)
    # max drawdown is at least the drawdown visible in day-end equity
    run_peak = np.maximum.accumulate(a.equity, axis=1)
    dd = np.where(run_peak > 0, (run_peak - a.equity) / run_peak, 1.0).max(axis=1)
    assert np.all(a.max_dd >= dd - 1e-12)
