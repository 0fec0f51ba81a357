"""Scenario keys of SPEC 6: regimes, tails, gaps and stress rows -- parsing, errors, and
what build_plan makes of them."""
import copy
import math

import numpy as np
import pytest

from simcore.build import build_plan
from simcore.errors import ScenarioError
from simcore.scenario import parse_scenario
from simcore.stress import stresses_from_scenario

BASE = {
    "capital": 10000, "horizon_days": 100,
    "markets": {"SP500": {"price": 6000, "vol": 0.18}, "GOLD": {"price": 2600, "vol": 0.16}},
    "correlation": {"SP500/GOLD": 0.1},
    "strategies": {
        "SP500": {"direction": "long", "stop": {"atr": 1.0}, "target": {"r": 2}},
        "GOLD": {"direction": "short", "stop": {"atr": 1.0}, "target": "none"},
    },
    "rules": {"risk_per_trade": 0.02},
    "tiers": [{"contracts": {"MES": 1, "MGC": 1}}],
}


def with_(**kw):
    d = copy.deepcopy(BASE)
    d.update(copy.deepcopy(kw))
    return d


def test_regimes_from_expected_days():
    s = parse_scenario(with_(regimes={
        "states": {"calm": {"expected_days": 50},
                   "crisis": {"expected_days": 10, "vol_mult": 2.0,
                              "correlation": {"SP500/GOLD": -0.6}}},
        "start": "crisis"}))
    p = build_plan(s)
    assert p.G == 2 and p.regime0 == 1
    np.testing.assert_allclose(p.trans_cum, [[0.98, 1.0], [0.1, 1.0]])
    np.testing.assert_allclose(p.volmult, [[1, 2], [1, 2]])
    for h in (0, 1):
        R0 = p.chol[h, 0] @ p.chol[h, 0].T
        R1 = p.chol[h, 1] @ p.chol[h, 1].T
        assert R0[0, 1] == pytest.approx(0.1) and R1[0, 1] == pytest.approx(-0.6)
    assert p.extras["regime_names"] == ("calm", "crisis")
    assert p.win_lo > p.win_hi     # no stress window in a plain run


def test_regimes_from_transition_matrix_three_states():
    P = [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.0, 0.5, 0.5]]
    s = parse_scenario(with_(regimes={"states": {"a": {}, "b": {}, "c": {"vol_mult": 3}},
                                      "transitions": P}))
    p = build_plan(s)
    np.testing.assert_allclose(p.trans_cum, np.cumsum(P, axis=1))
    assert p.regime0 == 0 and p.trans_cum[:, -1].tolist() == [1.0, 1.0, 1.0]


def test_tails_and_gaps_build():
    p = build_plan(parse_scenario(with_(tails={"student_t": 5},
                                        gaps={"GOLD": {"probability": 0.02, "mean": -0.01,
                                                       "sd": 0.03}})))
    assert p.student_nu == 5.0
    np.testing.assert_allclose(p.gap_p, [0, 0.02])
    np.testing.assert_allclose(p.gap_mu, [0, -0.01])
    np.testing.assert_allclose(p.gap_sd, [0, 0.03])
    assert p.gap_common == 0
    p = build_plan(parse_scenario(with_(gaps={"common": {"probability": 0.01, "mean": -0.03}})))
    assert p.gap_common == 1
    np.testing.assert_allclose(p.gap_p, [0.01, 0.01])
    np.testing.assert_allclose(p.gap_sd, [0, 0])


def test_stress_rows():
    s = parse_scenario(with_(stress=[
        {"name": "crash", "spike": 1.0, "adverse": True, "vol_mult": 2, "window": [10, 30]},
        {"name": "fat", "student_t": 4}]))
    rows = stresses_from_scenario(s)
    assert [r.name for r in rows] == ["crash", "fat"]
    assert rows[0].window == (10, 30) and rows[0].adverse and rows[0].vol_mult == 2
    assert rows[1].student_t == 4


@pytest.mark.parametrize("extra, field", [
    ({"regimes": {"states": {"calm": {"expected_days": 5}, "crisis": {}}}},
     "regimes.states.crisis.expected_days"),
    ({"regimes": {"states": {"calm": {}, "crisis": {}}, "transitions": [[1, 0]]}},
     "regimes.transitions"),
    ({"regimes": {"states": {"calm": {}, "crisis": {}},
                  "transitions": [[0.5, 0.4], [0.5, 0.5]]}}, "regimes.transitions[0]"),
    ({"regimes": {"states": {"calm": {}, "crisis": {}},
                  "transitions": [[0.5, 1.5], [0.5, 0.5]]}}, "regimes.transitions[0][1]"),
    ({"regimes": {"states": {"calm": {"expected_days": 9}, "crisis": {"expected_days": 2}},
                  "transitions": [[0.5, 0.5], [0.5, 0.5]]}},
     "regimes.states.calm.expected_days"),
    ({"regimes": {"states": {"calm": {"expected_days": 5}}, "start": "calmm"}},
     "regimes.start"),
    ({"regimes": {"states": {"calm": {"vol_mult": 0}}}}, "regimes.states.calm.vol_mult"),
    ({"regimes": {"states": {"calm": {"expected_days": 0.5}}}},
     "regimes.states.calm.expected_days"),
    ({"regimes": {"states": {"calm": {"correlation": {"matrix": [[1, 0.2], [0.3, 1]],
                                                      "order": ["SP500", "GOLD"]}}}}},
     "regimes.states.calm.correlation.matrix"),
    ({"regimes": {"states": {"calm": {"correlation": {"SP500/GLD": 0.2}}}}},
     "regimes.states.calm.correlation.SP500/GLD"),
    ({"regimes": {"states": {}}}, "regimes.states"),
    ({"regimes": {"states": {"calm": {}}, "extra": 1}}, "regimes.extra"),
    ({"tails": {"student_t": 2}}, "tails.student_t"),
    ({"tails": {"nu": 5}}, "tails.nu"),
    ({"gaps": {"CRUDE": {"probability": 0.1}}}, "gaps.CRUDE"),
    ({"gaps": {"GOLD": {"probability": 1.5}}}, "gaps.GOLD.probability"),
    ({"gaps": {"GOLD": {"probability": 0.1, "sd": -1}}}, "gaps.GOLD.sd"),
    ({"gaps": {"common": {"probability": 0.1}, "GOLD": {"probability": 0.1}}}, "gaps.GOLD"),
    ({"stress": [{"name": "x", "spike": 1.2}]}, "stress[0].spike"),
    ({"stress": [{"spike": 0.5}]}, "stress[0].name"),
    # a window past the horizon is refused by `simrisk stress` only (issue 9: `run` never
    # uses the rows, and --horizon may shorten the horizon): tests/test_issue9.py
    ({"stress": [{"name": "x", "spike": 1, "window": [50, 10]}]}, "stress[0].window"),
    ({"stress": [{"name": "x", "spike": 1}, {"name": "x", "spike": 1}]}, "stress[1].name"),
    ({"stress": [{"name": "x", "adverse": True, "window": [1, 5]}]}, "stress[0]"),
    ({"stress": [{"name": "x", "student_t": 1}]}, "stress[0].student_t"),
])
def test_bad_stress_keys_name_the_field(extra, field):
    with pytest.raises(ScenarioError) as e:
        parse_scenario(with_(**extra))
    assert e.value.field == field, str(e.value)
    assert "\n" not in str(e.value)
