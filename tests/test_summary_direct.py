"""metrics.summarize against the same statistics computed directly with numpy from the
per-path outputs (issue 16): day percentiles by nearest rank, equity and drawdown
percentiles, per-market figures."""
import math

import numpy as np
import pytest

from simcore.build import build_plan
from simcore.metrics import summarize, wilson
from simcore.runner import simulate
from simcore.scenario import parse_scenario
from simcore.text import money
from test_stress_rows import SCN

PATHS, SEED = 512, 4


@pytest.fixture(scope="module")
def run():
    d = dict(SCN, rules=dict(SCN["rules"], ruin={"below_fraction": 0.85}))
    plan = build_plan(parse_scenario(d))
    out = simulate(plan, PATHS, SEED, jobs=1)
    return plan, out, summarize(plan, out, PATHS, SEED)


def nearest_rank(x, q):
    x = np.sort(np.asarray(x))
    return int(x[max(1, math.ceil(q / 100 * x.size)) - 1])


def test_ruin_days_by_nearest_rank(run):
    plan, out, s = run
    days = out.ruin_day[out.ruined == 1]
    assert days.size > 20 and len(set(days.tolist())) > 5
    assert s["ruin"]["day_p10"] == nearest_rank(days, 10)
    assert s["ruin"]["day_median"] == nearest_rank(days, 50)
    assert s["ruin"]["day_p90"] == nearest_rank(days, 90)
    k = int(np.count_nonzero(out.ruined))
    assert s["ruin"]["probability"] == k / PATHS
    assert s["ruin"]["ci95"] == pytest.approx(list(wilson(k, PATHS)))


def test_tier_days_by_nearest_rank(run):
    plan, out, s = run
    for k, t in enumerate(s["tiers"]):
        col = out.tier_day[:, k]
        hit = col[col >= 0]
        assert t["probability_reached"] == hit.size / PATHS
        if hit.size:
            assert (t["days_p10"], t["days_median"], t["days_p90"]) == (
                nearest_rank(hit, 10), nearest_rank(hit, 50), nearest_rank(hit, 90))
        else:
            assert t["days_median"] is None
    assert s["tiers"][1]["days_p10"] < s["tiers"][1]["days_p90"]


def test_equity_and_drawdown_percentiles(run):
    plan, out, s = run
    fe, dd = out.final_equity, out.max_dd
    for key, q in (("p5", 5), ("p25", 25), ("median", 50), ("p75", 75), ("p95", 95)):
        assert s["final_equity"][key] == pytest.approx(np.percentile(fe, q), rel=1e-12)
    assert s["final_equity"]["std"] == pytest.approx(np.std(fe, ddof=1), rel=1e-12)
    for key, q in (("p5", 5), ("median", 50), ("p95", 95)):
        assert s["max_drawdown"][key] == pytest.approx(np.percentile(dd, q), rel=1e-12)
    assert s["max_drawdown"]["p5"] < s["max_drawdown"]["median"] < s["max_drawdown"]["p95"]
    assert s["max_drawdown"]["max"] == dd.max() and s["max_drawdown"]["mean"] == \
        pytest.approx(dd.mean())


def test_markets_figures(run):
    plan, out, s = run
    assert list(s["markets"]) == ["SP500", "CRUDE"]
    assert s["markets"]["SP500"]["contracts"] == ["MES"]
    assert s["markets"]["CRUDE"]["contracts"] == ["MCL"]
    for m, name in enumerate(["SP500", "CRUDE"]):
        mk = s["markets"][name]
        assert mk["trades"] == int(out.m_trades[m]) > 0
        assert mk["win_rate"] == pytest.approx(out.m_wins[m] / out.m_trades[m])
        assert mk["skipped"] == int(np.sum(out.m_skip[m]))
    mc = out.margin_calls
    assert s["margin_calls"]["mean_per_path"] == pytest.approx(mc.sum() / PATHS)
    assert s["margin_calls"]["per_year"] == pytest.approx(mc.sum() / PATHS * 252 / 60)
    assert s["margin_calls"]["probability_any"] == np.count_nonzero(mc) / PATHS


@pytest.mark.parametrize("x, text", [(0, "$0"), (0.6, "$1"), (-0.6, "-$1"), (-1234.4, "-$1,234"),
                                     (999.5, "$1,000"), (None, "-")])
def test_money_cells(x, text):
    assert money(x) == text


def test_day_percentiles_by_hand():
    from simcore.metrics import _day_percentiles
    got = _day_percentiles(np.arange(1, 101))
    assert got == {"p10": 10, "median": 50, "p90": 90}
    assert _day_percentiles(np.array([7, 3, 5])) == {"p10": 3, "median": 5, "p90": 7}
    assert _day_percentiles(np.array([], dtype=int)) == {"p10": None, "median": None,
                                                         "p90": None}


def test_labels_and_optional_items():
    from simcore.metrics import _label, _opt
    assert _label(5000.0) == 5000 and isinstance(_label(5000.0), int)
    assert _label(2.0 ** 60) == 2.0 ** 60 and isinstance(_label(2.0 ** 60), float)
    assert _label(2.0 ** 53 - 1) == 2 ** 53 - 1 and isinstance(_label(2.0 ** 53 - 1), int)
    assert _label(float("inf")) is None and _label(None) is None and _label(True) is True
    assert _label("gold") == "gold" and _label(np.int64(3)) == 3
    assert _opt([1, 2], 1) == 2 and _opt([1], 3, "dflt") == "dflt" and _opt(None, 0, 9) == 9
