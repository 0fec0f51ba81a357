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
