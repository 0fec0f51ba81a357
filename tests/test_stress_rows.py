"""Stress rows (simcore/stress.py) against the same statistics computed directly, with numpy,
from the per-path outputs of the simulations the rows come from (issue 16).

Every expected figure here is recomputed from ``simulate(apply_stress(plan, s), paths, seed)``
-- the documented meaning of a row -- never copied from the row under test."""
import math

import numpy as np
import pytest

from simcore.build import build_plan
from simcore.runner import simulate
from simcore.scenario import parse_scenario
from simcore.stress import (Stress, apply_stress, next_tier_index, paired_mean_diff,
                            paired_quantile_diff, run_stress, stresses_from_scenario, sweep)

Z95 = 1.959963984540054
PATHS, SEED = 512, 11

SCN = {
    "name": "stress rows",
    "capital": 10000,
    "horizon_days": 60,
    "markets": {"SP500": {"price": 6000, "vol": 0.18}, "CRUDE": {"price": 70, "vol": 0.35}},
    "correlation": {"SP500/CRUDE": 0.3},
    "contracts": {"MES": {"initial_margin": 600, "maintenance_margin": 500},
                  "MCL": {"initial_margin": 3000, "maintenance_margin": 2900}},
    "strategies": {
        "SP500": {"direction": "long", "stop": {"atr": 1.0}, "target": {"r": 2.0},
                  "alpha": 0.1, "max_hold_days": 5},
        # no stop: losses are bounded by nothing but the maintenance margin (margin calls)
        "CRUDE": {"direction": "short", "stop": "none", "target": "none",
                  "alpha": 0.2, "max_hold_days": 5},
    },
    "rules": {"risk_per_trade": 0.05, "margin_cap": "none", "slippage_ticks": 1,
              "ruin": {"below_fraction": 0.6}},
    "tiers": [{"at": 10000, "contracts": {"MES": 1, "MCL": 3}},
              {"at": 11000, "contracts": {"MES": 3, "MCL": 3}, "demote_buffer": 0.05},
              {"at": 14000, "contracts": {"MES": 5, "MCL": 4}}],
}


@pytest.fixture(scope="module")
def plan():
    return build_plan(parse_scenario(SCN))


STRESSES = [Stress(name="spike", spike=0.8, adverse=True),
            Stress(name="calm", vol_mult=0.6),          # a multiplier below 1 is valid
            Stress(name="wild", vol_mult=2.5, window=(10, 40))]


@pytest.fixture(scope="module")
def result(plan):
    return run_stress(plan, STRESSES, PATHS, SEED, jobs=1)


@pytest.fixture(scope="module")
def outs(plan):
    base = simulate(plan, PATHS, SEED, jobs=1)
    return base, [simulate(apply_stress(plan, s), PATHS, SEED, jobs=1) for s in STRESSES]


def _median_day(col):
    d = np.sort(col[col >= 0])
    if d.size == 0:
        return None
    return int(d[math.ceil(0.5 * d.size) - 1])         # nearest rank, by hand


def _p5(x):
    return float(np.percentile(x, 5))


def test_rows_are_named_in_order_with_base_first(result):
    assert [r["name"] for r in result["rows"]] == ["base", "spike", "calm", "wild"]
    assert [r["stress"] for r in result["rows"]] == [
        "base", "spike 0.8 adverse", "vol x0.6", "vol x2.5, days 10-40"]
    assert "vs_base" not in result["rows"][0]
    assert result["paths"] == PATHS and result["seed"] == SEED
    assert result["horizon_days"] == 60 and result["capital"] == 10000
    assert result["name"] == "stress rows"


def test_row_figures_match_direct_statistics(plan, result, outs):
    base, stressed = outs
    for row, out in zip(result["rows"], [base] + stressed):
        n = out.ruined.shape[0]
        assert row["paths"] == n == PATHS
        assert row["ruin_probability"] == np.count_nonzero(out.ruined) / n
        assert row["margin_call_probability"] == np.count_nonzero(out.margin_calls) / n
        assert row["final_equity_p5"] == pytest.approx(_p5(out.final_equity), rel=1e-12)
        assert row["max_drawdown_median"] == pytest.approx(float(np.median(out.max_dd)),
                                                           rel=1e-12)
        assert row["gap_fills"] == int(np.sum(out.m_gap_fills))
        assert row["beyond_1r"] == int(np.sum(out.m_beyond_1r))
        assert len(row["tiers"]) == plan.K == 3
        for k, t in enumerate(row["tiers"]):
            col = out.tier_day[:, k]
            assert t["at"] == [10000, 11000, 14000][k]
            assert t["probability_reached"] == np.count_nonzero(col >= 0) / n
            assert t["days_median"] == _median_day(col)


def test_the_scenario_exercises_every_figure(result):
    """The rows above compare something: margin calls, tier reaching and stress effects all
    happen in this scenario (else the comparisons would be vacuous)."""
    rows = result["rows"]
    assert rows[0]["tiers"][0]["probability_reached"] == 1.0        # day 0: at the capital
    assert rows[0]["tiers"][0]["days_median"] == 0
    assert 0.05 < rows[0]["tiers"][1]["probability_reached"] < 0.95
    assert rows[0]["tiers"][1]["days_median"] > 0
    assert 0.1 < rows[0]["margin_call_probability"] < rows[3]["margin_call_probability"]
    assert rows[2]["margin_call_probability"] < rows[0]["margin_call_probability"]
    assert rows[3]["ruin_probability"] > rows[0]["ruin_probability"]
    assert rows[2]["ruin_probability"] < rows[0]["ruin_probability"]


def test_paired_differences_match_per_path_differences(plan, result, outs):
    """The yes/no rows: the difference of the rows' proportions with Newcombe's paired
    interval of the same paths' outcomes."""
    from simcore.stress import paired_proportion_diff
    base, stressed = outs
    for row, out in zip(result["rows"][1:], stressed):
        vs = row["vs_base"]
        for key, f in (("ruin_probability", lambda o: o.ruined > 0),
                       ("margin_call_probability", lambda o: o.margin_calls > 0)):
            d = f(out) * 1.0 - f(base) * 1.0
            assert vs[key]["diff"] == pytest.approx(d.mean(), abs=1e-12)
            assert vs[key] == paired_proportion_diff(f(base), f(out))
        assert len(vs["tiers_reached"]) == 3
        for k, tv in enumerate(vs["tiers_reached"]):
            xb, yo = base.tier_day[:, k] >= 0, out.tier_day[:, k] >= 0
            assert tv["diff"] == pytest.approx(yo.mean() - xb.mean(), abs=1e-12)
            assert tv == paired_proportion_diff(xb, yo)
            lo, hi = tv["ci95"]
            assert lo <= tv["diff"] <= hi and hi > lo
        p5 = vs["final_equity_p5"]
        assert p5["diff"] == pytest.approx(_p5(out.final_equity) - _p5(base.final_equity),
                                           rel=1e-9, abs=1e-9)
        lo, hi = p5["ci95"]
        assert lo < hi


def test_tier_reach_differences_are_not_all_zero(result):
    diffs = [tv["diff"] for r in result["rows"][1:] for tv in r["vs_base"]["tiers_reached"]]
    assert any(abs(d) > 0.01 for d in diffs)


def test_paired_mean_diff_by_hand():
    x = np.array([0, 0, 1, 1, 0], float)
    y = np.array([1, 0, 1, 0, 1], float)
    d = np.array([1, 0, 0, -1, 1], float)       # mean 0.2, sample sd sqrt(0.7)
    r = paired_mean_diff(x, y)
    assert r["diff"] == pytest.approx(0.2)
    se = math.sqrt(0.7) / math.sqrt(5)
    assert r["ci95"] == pytest.approx([0.2 - Z95 * se, 0.2 + Z95 * se])
    assert d.mean() == pytest.approx(r["diff"])
    one = paired_mean_diff(np.array([1.0]), np.array([3.0]))
    assert one == {"diff": 2.0, "ci95": None}


def test_paired_quantile_diff_by_hand():
    x = np.arange(101, dtype=float)             # p5 = 5
    y = 2 * x + 1                               # p5 = 11
    r = paired_quantile_diff(x, y, 5)
    assert r["diff"] == pytest.approx(6.0)
    lo, hi = r["ci95"]
    assert lo < 6.0 < hi and hi - lo < 10
    # a constant shift is the same on every bootstrap sample: a zero-width interval
    r = paired_quantile_diff(x, x + 3, 50)
    assert r["diff"] == pytest.approx(3.0) and r["ci95"] == pytest.approx([3.0, 3.0])


def test_stress_defaults_and_description():
    s = Stress()
    assert (s.name, s.spike, s.adverse, s.vol_mult, s.student_t, s.window) == \
        ("base", 0.0, False, 1.0, None, None)
    assert s.is_base() and s.describe() == "base"
    assert not Stress(spike=0.1).is_base()
    assert not Stress(vol_mult=0.5).is_base()
    assert not Stress(student_t=5).is_base()
    assert Stress(adverse=True, window=(1, 5)).is_base()          # nothing changes
    assert Stress(adverse=True, window=(1, 5)).describe() == "base"
    assert Stress(spike=0.5).describe() == "spike 0.5"
    assert Stress(student_t=4, vol_mult=2, spike=1, adverse=True, window=(3, 9)).describe() \
        == "spike 1 adverse, vol x2, t(4), days 3-9"


def test_sweep_rows():
    rows = sweep(spikes=(0.25, 1), vol_mults=(0.5,), tails=4, adverse=True, window=(2, 7))
    assert [r.name for r in rows] == ["spike 0.25 adverse", "spike 1 adverse", "vol x0.5",
                                      "t(4)"]
    assert [(r.spike, r.adverse, r.window) for r in rows[:2]] == [(0.25, True, (2, 7)),
                                                                   (1, True, (2, 7))]
    assert (rows[2].vol_mult, rows[2].window, rows[2].adverse) == (0.5, (2, 7), False)
    assert (rows[3].student_t, rows[3].window) == (4, None)
    assert sweep() == []


def test_apply_stress_window_and_multipliers(plan):
    s = apply_stress(plan, Stress(vol_mult=0.6, window=(5, 9)))
    assert (s.win_lo, s.win_hi) == (5, 9)
    np.testing.assert_allclose(s.volmult[1], plan.volmult[0] * 0.6)
    np.testing.assert_array_equal(s.chol[1], plan.chol[0])
    s = apply_stress(plan, Stress(spike=0.5))
    assert (s.win_lo, s.win_hi) == (1, plan.n_days)
    np.testing.assert_array_equal(s.volmult[1], plan.volmult[0])
    L = s.chol[1, 0]
    R = plan.chol[0, 0] @ plan.chol[0, 0].T
    np.testing.assert_allclose(L @ L.T, 0.5 * R + 0.5, atol=1e-12)
    assert s.student_nu == plan.student_nu
    assert apply_stress(plan, Stress(student_t=5)).student_nu == 5.0
    assert apply_stress(plan, Stress()) is plan


def test_base_rows_in_the_input_are_skipped(plan):
    res = run_stress(plan, [Stress(name="zero", spike=0.0), Stress(name="s", spike=0.3)],
                     128, 2, jobs=1)
    assert [r["name"] for r in res["rows"]] == ["base", "s"]


def test_next_tier_index():
    mk = lambda ats, cap: {"capital": cap, "rows": [{"tiers": [{"at": a} for a in ats]}]}
    assert next_tier_index(mk([None, 10000, 12000], 10000)) == 2
    assert next_tier_index(mk([None, 10000, 12000], 9999)) == 1
    assert next_tier_index(mk([5000], 10000)) is None
    assert next_tier_index(mk([None], 10000)) is None


def test_stresses_from_scenario_rows():
    d = dict(SCN, stress=[{"name": "crash", "spike": 0.9, "adverse": True, "vol_mult": 0.8,
                           "window": [3, 9]}, {"name": "tails", "student_t": 4}])
    rows = stresses_from_scenario(parse_scenario(d))
    assert rows == [Stress(name="crash", spike=0.9, adverse=True, vol_mult=0.8, window=(3, 9)),
                    Stress(name="tails", student_t=4.0)]


def test_paired_mean_diff_two_paths():
    r = paired_mean_diff(np.array([0.0, 0.0]), np.array([1.0, 3.0]))
    # d = (1, 3): mean 2, sample sd sqrt(2), se 1
    assert r["diff"] == 2.0
    assert r["ci95"] == pytest.approx([2 - Z95, 2 + Z95])


def test_paired_quantile_bootstrap_recomputed():
    """The interval is the 2.5th and 97.5th percentiles of 400 paired bootstrap differences
    drawn with numpy's default_rng(12345) (documented, reproducible): recomputed here."""
    rng0 = np.random.default_rng(7)
    x = rng0.normal(size=300)
    y = x + rng0.normal(0.5, 1.0, size=300)
    r = paired_quantile_diff(x, y, 5)
    rng = np.random.default_rng(12345)
    boots = []
    for _ in range(400):
        idx = rng.integers(0, 300, 300)
        boots.append(np.percentile(y[idx], 5) - np.percentile(x[idx], 5))
    assert r["diff"] == pytest.approx(np.percentile(y, 5) - np.percentile(x, 5))
    assert r["ci95"] == pytest.approx(list(np.percentile(boots, [2.5, 97.5])), rel=1e-12)
    # another seed or size changes it (the arguments are used)
    assert paired_quantile_diff(x, y, 5, seed=1)["ci95"] != r["ci95"]
    assert paired_quantile_diff(x, y, 5, n_boot=50)["ci95"] != r["ci95"]


def test_stress_is_immutable():
    s = Stress(spike=0.5)
    with pytest.raises(Exception):
        s.spike = 0.7
    assert hash(s) == hash(Stress(spike=0.5))


def test_check_stressed_names_the_field(plan):
    from simcore.errors import ScenarioError
    from simcore.stress import check_stressed
    with pytest.raises(ScenarioError) as e:
        check_stressed(plan, Stress(vol_mult=1e4), "stress[2].vol_mult")
    assert e.value.field == "stress[2].vol_mult"
    assert str(e.value).startswith("stress[2].vol_mult: volatility x10000: ")
    for ok in (Stress(), Stress(vol_mult=0.5), Stress(vol_mult=2.0), Stress(spike=1.0)):
        check_stressed(plan, ok, "x")


# ---- Newcombe's interval for paired proportions (the yes/no rows of vs_base) -----------------

def _pairs(a, b, c, d):
    """Paired 0/1 outcomes with a (both), b (x only), c (y only), d (neither) pairs."""
    x = np.array([1] * a + [1] * b + [0] * c + [0] * d, bool)
    y = np.array([1] * a + [0] * b + [1] * c + [0] * d, bool)
    return x, y


def test_paired_proportion_diff_published_example():
    """Cavo et al. (2012), complete response before and after consolidation therapy: the paired
    table [[59, 6], [16, 80]] of Fagerland, Lydersen and Laake, "Statistical Analysis of
    Contingency Tables" (2017), chapter 8. Their R package's test pins Newcombe's
    square-and-add (method 10) interval at estimate -0.0621, 95% CI -0.1186 to -0.0046
    (github.com/ocbe-uio/contingencytables, tests/testthat/test-chapter8.R, function
    Newcombe_square_and_add_CI_paired_2x2). Their estimate is p(row 1) - p(column 1) =
    (59+6)/161 - (59+16)/161: x (the base) is the column, y the row, so a = 59, b = 16
    (column only), c = 6 (row only), d = 80."""
    from simcore.stress import paired_proportion_diff
    r = paired_proportion_diff(*_pairs(59, 16, 6, 80))
    assert r["diff"] == pytest.approx(-10 / 161, abs=1e-12)
    assert round(r["diff"], 4) == -0.0621
    assert [round(v, 4) for v in r["ci95"]] == [-0.1186, -0.0046]


def test_newcombe_phi_adjustment():
    """phi is the phi coefficient with ad - bc reduced by n/2 when positive (0 up to n/2);
    with the plain phi the example above would be [-0.1174, -0.0059], not the published one."""
    from simcore.stress import _newcombe_phi
    A, n = 59 * 80 - 16 * 6, 161
    den = math.sqrt(65 * 96 * 75 * 86)
    assert _newcombe_phi(59, 16, 6, 80) == pytest.approx((A - n / 2) / den, rel=1e-12)
    assert _newcombe_phi(1, 0, 0, 1) == 0.0                 # A = 1 <= n / 2 = 1
    assert _newcombe_phi(0, 3, 2, 0) == pytest.approx(-6 / math.sqrt(3 * 2 * 2 * 3))
    assert _newcombe_phi(0, 0, 0, 7) == 0.0                 # an empty margin


@pytest.mark.parametrize("a, d", [(0, 10_000), (10_000, 0), (120, 9_880), (3, 2)])
def test_paired_proportion_diff_with_no_differing_pair(a, d):
    """No pair differs (say no margin call in either row): the difference is 0 and the
    interval has width and contains 0 (the normal interval is [0, 0] here)."""
    from simcore.stress import paired_proportion_diff
    x, y = _pairs(a, 0, 0, d)
    r = paired_proportion_diff(x, y)
    lo, hi = r["ci95"]
    assert r["diff"] == 0.0 and lo < 0.0 < hi
    assert paired_mean_diff(x, y)["ci95"] == [0.0, 0.0]
    if a == 0:
        # nothing happened in either row: the limits are the Wilson limits of 0 of n
        from simcore.metrics import wilson
        u = wilson(0, a + d)[1]
        assert (lo, hi) == pytest.approx((-u, u), rel=1e-12)


def test_paired_proportion_diff_properties():
    """The estimate is inside its interval, the interval inside [-1, 1], mirrored when x and y
    swap, and wider than the normal one with few differing pairs."""
    from simcore.stress import paired_proportion_diff
    rng = np.random.default_rng(3)
    for _ in range(200):
        a, b, c, d = (int(v) for v in rng.integers(0, 30, 4))
        if a + b + c + d == 0:
            continue
        x, y = _pairs(a, b, c, d)
        r = paired_proportion_diff(x, y)
        lo, hi = r["ci95"]
        assert -1.0 <= lo <= r["diff"] <= hi <= 1.0
        m = paired_proportion_diff(y, x)
        assert m["diff"] == pytest.approx(-r["diff"], abs=1e-15)
        assert m["ci95"] == pytest.approx([-hi, -lo], abs=1e-12)
    x, y = _pairs(40, 0, 2, 9958)                # two differing pairs in 10,000
    lo, hi = paired_proportion_diff(x, y)["ci95"]
    nlo, nhi = paired_mean_diff(x, y)["ci95"]
    assert lo < nlo and hi > nhi


def test_paired_proportion_diff_no_paths():
    from simcore.stress import paired_proportion_diff
    assert paired_proportion_diff(np.array([], bool), np.array([], bool)) == \
        {"diff": None, "ci95": None}
