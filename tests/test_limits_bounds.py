"""The documented limits of simcore.limits at their edges (issue 16): each bound accepted
exactly at its value and refused just beyond it, with the field it names. The checks are
called directly on a parsed plan (check_inputs before the build, check_edges with the alpha
given here), so the figures are the ones written in the test."""
import math

import numpy as np
import pytest

from simcore.errors import ScenarioError
from simcore.limits import check_edges, check_inputs
from simcore.scenario import parse_scenario
from test_issue9 import _DROP, plan


def _refused(field, **changes):
    with pytest.raises(ScenarioError) as e:
        check_inputs(parse_scenario(plan(**changes)))
    assert e.value.field == field
    return e.value.problem


def test_money_bound_is_1e15_inclusive():
    check_inputs(parse_scenario(plan(capital=1e15)))
    assert "above 1e+15 USD" in _refused("capital", capital=1.2e15)
    check_inputs(parse_scenario(plan(contracts__MES__commission=1e15)))
    _refused("contracts.MES.commission", contracts__MES__commission=1.2e15)
    check_inputs(parse_scenario(plan(contracts__MES__initial_margin=1e15)))
    _refused("contracts.MES.initial_margin", contracts__MES__initial_margin=1.2e15)


def test_point_value_bound_is_1e9_inclusive():
    check_inputs(parse_scenario(plan(contracts__MES__point_value=1e9)))
    assert "above 1e+09" in _refused("contracts.MES.point_value",
                                     contracts__MES__point_value=1.2e9)


def test_slippage_must_be_below_the_price():
    """2 ticks of 0.25 = 0.5 below a price of 5: accepted; 20 ticks = 5.0, not below 5:
    refused."""
    base = dict(markets__SP500__price=5.0, contracts__MES__tick_size=0.25,
                strategies__SP500__stop="none", strategies__SP500__target="none",
                strategies__SP500__win_rate=_DROP)
    check_inputs(parse_scenario(plan(rules__slippage_ticks=2, **base)))
    assert "not below SP500's price" in _refused("rules.slippage_ticks",
                                                 rules__slippage_ticks=20, **base)



@pytest.mark.parametrize("ratio, ok", [(9.5, True), (10.0, True), (10.5, False), (14.0, False)])
def test_edge_bound_is_ten_step_sds_inclusive(ratio, ok):
    """|alpha| dt <= 10 sd of one step (sd = vol sqrt(dt), dt = 1/252 at one step a day):
    SP500's vol 0.18."""
    scn = parse_scenario(plan())
    dt = 1.0 / 252
    sd = 0.18 * math.sqrt(dt)
    a = ratio * sd / dt
    if ratio == 10.0:                  # exactly 10 in the check's own arithmetic
        while abs(a) * dt / sd > 10.0:
            a = math.nextafter(a, 0.0)
        while abs(math.nextafter(a, math.inf)) * dt / sd <= 10.0:
            a = math.nextafter(a, math.inf)
        assert abs(a) * dt / sd == 10.0
    names = list(scn.markets)
    alpha = np.array([a if m == "SP500" else 0.0 for m in names])
    src = ["alpha" if m == "SP500" else "none" for m in names]
    if ok:
        check_edges(scn, names, alpha, src)
    else:
        with pytest.raises(ScenarioError) as e:
            check_edges(scn, names, alpha, src)
        assert e.value.field == "strategies.SP500.alpha" and "at most 10" in e.value.problem


def test_envelope_with_gaps_by_hand():
    """1,000 days, no drift, alpha or volatility; gaps with p = 0.1, mean 1.0, sd 0.5: at most
    n_hi = 100 + 8 sqrt(90) + 8 = 183.9 gap days, a move of n_hi * 1.0 + 8 * 0.5 * sqrt(n_hi)
    = 238.1 > 230: refused, the gaps named; with a mean of 0.2 (91.0) it fits."""
    from simcore.limits import envelope_problem
    n_hi = 100 + 8 * math.sqrt(90) + 8
    move = n_hi * 1.0 + 8 * 0.5 * math.sqrt(n_hi)
    assert 238.0 < move < 238.2
    kw = dict(n_days=1000, spd=1, logp0=[0.0], mu=[0.0], sigma=[0.0], alpha=[0.0],
              vol_mult=1.0, gap_p=[0.1], gap_sd=[0.5], capital=1000.0, position_value=[1.0],
              names=["X"])
    prob = envelope_problem(gap_mu=[1.0], **kw)
    assert (prob.market, prob.part) == (0, "gaps")
    assert "could move by 238 " in prob.text and f"gaps {move:.3g}" in prob.text
    assert envelope_problem(gap_mu=[0.2], **kw) is None


def _envelope_field(**changes):
    from simcore.build import build_plan
    changes.update(strategies__SP500__win_rate=_DROP, strategies__NASDAQ100__alpha=_DROP)
    with pytest.raises(ScenarioError) as e:
        build_plan(parse_scenario(plan(**changes)))
    return e.value.field


def test_envelope_names_the_regime_only_for_volatility():
    """With a regime that doubles the volatility, a horizon too long for the volatility names
    that regime's vol_mult; one too long for the drift still names the drift."""
    regimes = {"states": {"calm": {"expected_days": 120},
                          "crisis": {"expected_days": 15, "vol_mult": 2.0}}}
    assert _envelope_field(regimes=regimes, horizon_days=1_000_000) \
        == "regimes.states.crisis.vol_mult"
    assert _envelope_field(regimes=regimes, horizon_days=40, markets__SP500__drift=2000.0) \
        == "markets.SP500.drift"


def test_human_units_by_hand():
    from simcore.limits import human_bytes, human_seconds
    assert human_bytes(999) == "999 bytes"
    assert human_bytes(1500) == "1.5 KB"
    assert human_bytes(2.5e9) == "2.5 GB"
    assert human_bytes(3.0e18) == "3,000.0 PB"
    assert human_seconds(89) == "89 s"
    assert human_seconds(90) == "2 min"
    assert human_seconds(5400) == "1.5 h"
    assert human_seconds(2 * 86400) == "2.0 days"


def test_estimate_run_by_hand(monkeypatch):
    """Cores: at most one per block of 1,024 paths; memory: (48 + 4 K) bytes a path, times
    the runs kept, plus twice the recorded equity; time (only past a minute at 2e-7 s an
    asset-step): the timed seconds per asset-step x asset-steps / cores."""
    import simcore.limits as L
    from simcore.build import build_plan
    p = build_plan(parse_scenario(plan()))        # 2 markets, 40 days, 1 step, 2 tiers
    monkeypatch.setattr(L.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(L, "memory_available", lambda: 1e12)
    monkeypatch.setattr(L, "_time_kernel", lambda plan, paths: 1e-8)
    assert L.estimate_run(p, 1024, jobs=8).cores == 1
    assert L.estimate_run(p, 1025, jobs=8).cores == 2
    assert L.estimate_run(p, 3000, jobs=2).cores == 2
    e = L.estimate_run(p, 1000, keep=3, record_equity=True, jobs=8)
    assert e.asset_steps == 1000 * 40 * 2
    assert e.equity_memory == 1000 * 41 * 8.0
    assert e.memory == 1000 * (48 + 4 * p.K) * 3 + 2 * 1000 * 41 * 8.0
    assert e.seconds is None                   # 80,000 asset-steps: not timed
    big = 40_000_000
    e = L.estimate_run(p, big, runs=2, jobs=8)  # 6.4e9 asset-steps x 2e-7 / 8 > 60 s
    assert e.cores == 8 and e.asset_steps == big * 40 * 2 * 2
    assert e.seconds == pytest.approx(big * 40 * 2 * 2 * 1e-8 / 8, rel=1e-12)


@pytest.mark.parametrize("d, ok", [(0.04, True), (0.03, False)])
def test_stop_distance_floor_is_a_thousandth_of_one_steps_sd(d, ok):
    """At 4 steps a day, one step's sd of SP500 (6,000, vol 0.18) is 6000 x 0.18 x
    sqrt(1 / 1008) = 34.02; a stop at least 0.034 from the entry passes (a tick of 0.01)."""
    assert 0.03 < 1e-3 * 6000 * 0.18 * math.sqrt(1 / 1008) < 0.04
    ch = dict(steps_per_day=4, contracts__MES__tick_size=0.01,
              strategies__SP500__stop={"points": d}, strategies__SP500__target="none",
              strategies__SP500__win_rate=_DROP)
    if ok:
        check_inputs(parse_scenario(plan(**ch)))
    else:
        assert "tiny fraction" in _refused("strategies.SP500.stop", **ch)
