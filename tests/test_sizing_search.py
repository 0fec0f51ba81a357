"""The sizing search's heuristics and range (issue 16): the proposal rule, the path ladder,
the default coarse path count, the trading floor and the default search range, and reach
targets counted within D days at day D exactly. Expected values are worked out by hand from
the rules documented in simcore/sizing.py and docs/sizing.md."""
import math

import numpy as np
import pytest

from simcore.build import build_plan, trading_floor
from simcore.errors import ScenarioError
from simcore.metrics import wilson
from simcore.runner import simulate
from simcore.scenario import parse_scenario
from simcore.sizing import (DEFAULT_GRID, DEFAULT_MAX_RUIN, DEFAULT_TOLERANCE, CapitalCurve,
                            Target, _Point, _proposals, _resolution, _rungs, make_targets,
                            resolve_range, size_capital)

P0, PV, SIGMA = 100.0, 100.0, 0.25


def scenario(capital=5000.0, *, stop="none", rules=None, tiers=None, horizon=60, paths=1024,
             contract=None, drift=0.0):
    c = {"market": "ASSET", "point_value": PV, "tick_size": 0.01, "initial_margin": 1.0,
         "maintenance_margin": 1.0, "commission": 0.0}
    c.update(contract or {})
    r = {"risk_per_trade": 0.01, "margin_cap": "none", "slippage_ticks": 0,
         "ruin": {"below": 1000.0}}
    r.update(rules or {})
    return parse_scenario({
        "name": "search", "capital": capital, "horizon_days": horizon, "paths": paths,
        "seed": 5,
        "markets": {"ASSET": {"price": P0, "vol": SIGMA, "drift": drift}},
        "contracts": {"TST": c},
        "strategies": {"ASSET": {"direction": "long", "stop": stop, "target": "none"}},
        "rules": r,
        "tiers": tiers or [{"contracts": {"TST": 1}}],
    })


# ---------------------------------------------------------------------------------------------
# constants
# ---------------------------------------------------------------------------------------------
def test_documented_defaults():
    assert DEFAULT_MAX_RUIN == 0.05 and DEFAULT_GRID == 17 and DEFAULT_TOLERANCE == 0.01


# ---------------------------------------------------------------------------------------------
# targets: gap, holds, decided
# ---------------------------------------------------------------------------------------------
def test_gap_per_criterion_by_hand():
    t = Target("ruin", 0.05, "--max-ruin")
    lo, hi = wilson(60, 1000)
    assert t.gap(60, 1000, "point") == pytest.approx(0.06 - 0.05)
    assert t.gap(60, 1000, "conservative") == pytest.approx(hi - 0.05)
    assert t.gap(60, 1000, "optimistic") == pytest.approx(lo - 0.05)
    r = Target("reach", 0.5, "--reach", tier=1, tier_at=9000.0)
    lo, hi = wilson(520, 1000)
    assert r.gap(520, 1000, "point") == pytest.approx(0.5 - 0.52)
    assert r.gap(520, 1000, "conservative") == pytest.approx(0.5 - lo)
    assert r.gap(520, 1000, "optimistic") == pytest.approx(0.5 - hi)
    # exactly on the level holds (gap 0 <= 0)
    assert t.holds(50, 1000, "point") and r.holds(500, 1000, "point")
    assert not t.holds(51, 1000, "point") and not r.holds(499, 1000, "point")


def test_decided_means_the_interval_is_on_one_side():
    t = Target("ruin", 0.05, "--max-ruin")
    assert not t.decided(50, 1000)                 # the interval straddles 5%
    assert t.decided(10, 1000)                     # hi = 1.8% < 5%
    assert t.decided(120, 1000)                    # lo = 10% > 5%
    k = next(k for k in range(1000) if wilson(k, 1000)[1] >= 0.05)   # first hi >= level
    assert t.decided(k - 1, 1000) and not t.decided(k, 1000)


def test_labels_and_keys():
    assert Target("ruin", 0.05, "--max-ruin").label == "P(ruin) <= 5%"
    assert Target("margin_call", 0.125, "x").label == "P(margin call) <= 12.5%"
    r = Target("reach", 0.5, "--reach", tier=2, tier_at=10000.0, within_days=63)
    assert r.label == "P(reach $10,000 in 63d) >= 50%" and r.key == "reach:2:63"
    assert not r.at_most and Target("ruin", 0.1, "x").at_most
    assert Target("margin_call", 0.1, "x").key == "margin_call"
    assert r.to_json() == {"kind": "reach", "option": "--reach", "level": 0.5,
                           "label": "P(reach $10,000 in 63d) >= 50%", "tier_index": 2,
                           "tier_at": 10000, "within_days": 63}


# ---------------------------------------------------------------------------------------------
# the proposal rule
# ---------------------------------------------------------------------------------------------
class _CC:
    def __init__(self, *caps):
        self.points = {float(c): None for c in caps}


def _pt(c, k, n=4096):
    return _Point(float(c), None, paths=n, counts={"ruin": k})


T5 = Target("ruin", 0.05, "--max-ruin")


def test_wide_bracket_regula_falsi_in_log_capital():
    lo, hi = _pt(2000, 0.15 * 4096), _pt(8000, 0.0 * 4096)
    gl, gh = T5.gap(lo.counts["ruin"], 4096, "point"), T5.gap(0, 4096, "point")
    # the line through (ln 2000, 0.10) and (ln 8000, -0.05) crosses zero 2/3 of the way
    assert gl == pytest.approx(0.10) and gh == pytest.approx(-0.05)
    expected = round(math.exp(math.log(2000) + (2 / 3) * math.log(4)))
    assert _proposals(_CC(2000, 8000), lo, hi, T5, "point", 0.01) == [expected]
    # Illinois: halving the kept low end's weight moves the point toward it
    # (frac = 0.05 / (0.05 + 0.05) = 1/2)
    got = _proposals(_CC(2000, 8000), lo, hi, T5, "point", 0.01, (0.5, 1.0))
    assert got == [round(math.exp(math.log(2000) + 0.5 * math.log(4)))] == [4000]


def test_wide_bracket_clamped_away_from_the_ends():
    # the low end barely fails: the crossing is at the low end, clamped 0.15 tol inside
    lo, hi = _pt(2000, 205), _pt(8000, 0)           # 205/4096 = 5.005%
    omega = math.log1p(0.01)
    got = _proposals(_CC(), lo, hi, T5, "point", 0.01)
    assert got == [round(math.exp(math.log(2000) + 0.15 * omega))]
    # no usable slope (the low end's gap not > 0 with the given weights): the midpoint
    got = _proposals(_CC(), lo, hi, T5, "point", 0.01, (0.0, 1.0))
    assert got == [round(math.exp(0.5 * (math.log(2000) + math.log(8000))))] == [4000]


def test_narrow_bracket_two_points_a_tolerance_apart():
    omega = math.log1p(0.01)
    xl = math.log(10000)
    xh = xl + 4 * omega                                # between 2.5 and 6 tolerances
    hi_c = round(math.exp(xh))
    lo, hi = _pt(10000, 0.07 * 4096), _pt(hi_c, 0.03 * 4096)
    frac = 0.02 / (0.02 + 0.02)                        # gaps +2% and -2%
    x = xl + frac * (math.log(hi_c) - xl)
    expected = [round(math.exp(x - 0.45 * omega)), round(math.exp(x + 0.45 * omega))]
    assert _proposals(_CC(), lo, hi, T5, "point", 0.01) == expected
    # a proposal already evaluated is not proposed again
    assert _proposals(_CC(expected[0]), lo, hi, T5, "point", 0.01) == expected[1:]


def test_narrowest_bracket_midpoint_and_done():
    omega = math.log1p(0.01)
    hi_c = round(math.exp(math.log(10000) + 2 * omega))
    lo, hi = _pt(10000, 400), _pt(hi_c, 100)
    assert _proposals(_CC(), lo, hi, T5, "point", 0.01) == [
        round(math.exp(0.5 * (math.log(10000) + math.log(hi_c))))]
    # within one tolerance: nothing more
    assert _proposals(_CC(), _pt(10000, 400), _pt(10100, 100), T5, "point", 0.01) == []
    # a bracket a dollar wide is done whatever the tolerance
    assert _proposals(_CC(), _pt(50, 400), _pt(51, 100), T5, "point", 0.001) == []
    # small capitals are rounded to cents, large ones to dollars
    got = _proposals(_CC(), _pt(20, 400), _pt(30, 100), T5, "point", 0.01)
    assert got and all(g == round(g, 2) and g != round(g) for g in got)


def test_rungs_and_resolution():
    assert _rungs(1024, 8192) == [1024, 2048, 4096, 8192]
    assert _rungs(1024, 10000) == [1024, 2048, 4096, 8192, 10000]
    assert _rungs(1024, 2048) == [1024, 2048]
    assert _rungs(1024, 1024) == [1024]
    a = lambda lo, hi: {"optimistic": {"capital": lo}, "conservative": {"capital": hi}}
    assert _resolution(a(None, 5000), 0.01) == 0.01
    assert _resolution(a(5000, 5000), 0.01) == 0.01
    assert _resolution(a(5000, 5100), 0.01) == 0.01              # quarter range ~0.5%
    assert _resolution(a(5000, 6000), 0.01) == pytest.approx(1.2 ** 0.25 - 1)   # ~4.7%
    assert _resolution(a(5000, 10000), 0.01) == 0.05             # capped
    assert _resolution(a(5000, 10000), 0.08) == 0.08             # never below the tolerance


# ---------------------------------------------------------------------------------------------
# trading floor and the default range
# ---------------------------------------------------------------------------------------------
def test_trading_floor_by_hand():
    # no stop, no cap: the funds rule alone -- one initial margin
    assert trading_floor(scenario(contract={"initial_margin": 700.0})) == 700.0
    # margin cap 20%: im / 0.2
    assert trading_floor(scenario(contract={"initial_margin": 700.0},
                                  rules={"margin_cap": 0.2})) == pytest.approx(3500.0)
    # a 2-point stop, 3 ticks of slippage, $1.25 commission: per contract
    # (2 + 3 x 0.01) x 100 + 2 x 1.25 = 205.5, at 1% risk -> 20,550
    s = scenario(stop={"points": 2.0}, rules={"slippage_ticks": 3},
                 contract={"commission": 1.25})
    assert trading_floor(s) == pytest.approx(20550.0)
    # a tier that starts above the need: its threshold; the cheapest tier wins
    s = scenario(stop={"points": 2.0}, tiers=[{"contracts": {"TST": 1}}],
                 rules={"risk_per_trade": 0.5})
    assert trading_floor(s) == pytest.approx(400.0)


def test_trading_floor_with_tiers():
    tiers = [{"at": 1000, "contracts": {"TST": 1}}, {"at": 30000, "contracts": {"TST": 2}}]
    # needs 20,000 (2 points x 100 at 1%): tier 0 covers [0, 30000), so 20,000
    s = scenario(stop={"points": 2.0}, tiers=tiers)
    assert trading_floor(s) == pytest.approx(20000.0)
    # needs 40,000: beyond tier 0's range; tier 1 starts at 30,000 -> 40,000
    s = scenario(stop={"points": 4.0}, tiers=tiers)
    assert trading_floor(s) == pytest.approx(40000.0)
    # beyond 1e9: no floor at all
    s = scenario(stop={"points": 4.0}, rules={"risk_per_trade": 1e-9})
    assert trading_floor(s) is None


def test_default_range_by_hand():
    t = [Target("ruin", 0.05, "--max-ruin")]
    # floor 700 < capital / 10 = 1000 ... but the ruin level 1000 lifts it to 1050
    assert resolve_range(scenario(10000.0, contract={"initial_margin": 700.0}), t) == \
        (1050.0, 100000.0)
    # floor 3500 above capital / 10 (and below 95% of it)
    s = scenario(10000.0, contract={"initial_margin": 700.0},
                 rules={"margin_cap": 0.2, "ruin": {}})
    assert resolve_range(s, t) == (pytest.approx(3500.0), 100000.0)
    # a floor above the capital is cut to 95% of it
    s = scenario(10000.0, stop={"points": 2.0}, rules={"ruin": {}})   # floor 20,000
    assert resolve_range(s, t) == (pytest.approx(9500.0), 100000.0)
    # no floor: capital / 10
    s = scenario(10000.0, stop={"points": 4.0}, rules={"risk_per_trade": 1e-9, "ruin": {}})
    assert resolve_range(s, t) == (1000.0, 100000.0)


def test_default_range_top_covers_reach_tiers():
    tiers = [{"contracts": {"TST": 1}}, {"at": 200000, "contracts": {"TST": 1}}]
    s = scenario(10000.0, tiers=tiers, rules={"ruin": {}})
    plan = build_plan(s)
    ts = make_targets(plan, reach=["200000:0.5"])
    lo, hi = resolve_range(s, ts)
    assert hi == pytest.approx(210000.0)
    ts = make_targets(plan, reach=["200000:0.5"], max_ruin=0.1)
    assert resolve_range(s, ts)[1] == pytest.approx(210000.0)
    # a ruin target alone: 10 x capital
    assert resolve_range(s, make_targets(plan))[1] == 100000.0


def test_explicit_range_and_ruin_level():
    t = [Target("ruin", 0.05, "--max-ruin")]
    s = scenario(10000.0)
    assert resolve_range(s, t, 2000.0, 3000.0) == (2000.0, 3000.0)
    with pytest.raises(ScenarioError) as e:
        resolve_range(s, t, 1000.0, 3000.0)              # at the ruin level: ruined at once
    assert e.value.field == "--min-capital"
    assert resolve_range(s, t, 1000.01, 3000.0) == (1050.0, 3000.0)


# ---------------------------------------------------------------------------------------------
# the coarse path count
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("paths, coarse", [(16384, 2048), (8192, 1024), (4096, 1024),
                                           (12000, 1024), (700, 700)])
def test_default_coarse_paths(paths, coarse):
    s = scenario(5000.0, horizon=5, paths=paths)
    res = size_capital(s, [Target("ruin", 0.5, "--max-ruin")], min_capital=2000.0,
                       max_capital=2200.0, grid=3, jobs=1)
    assert res["coarse_paths"] == coarse
    assert min(r["paths"] for r in res["curve"]) == coarse


# ---------------------------------------------------------------------------------------------
# reach within D days, at day D exactly
# ---------------------------------------------------------------------------------------------
def test_reach_within_days_counts_day_d_itself():
    tiers = [{"contracts": {"TST": 1}}, {"at": 5400, "contracts": {"TST": 1}}]
    s = scenario(5000.0, tiers=tiers, horizon=40, rules={"ruin": {}}, drift=0.5)
    plan = build_plan(s)
    out = simulate(plan, 1024, 5, jobs=1)
    col = np.asarray(out.tier_day)[:, 1]
    days = np.unique(col[col > 0])
    d = int(days[len(days) // 2])                  # a day on which some path reaches the tier
    on_d = int(np.count_nonzero(col == d))
    assert on_d > 0
    targets = make_targets(plan, reach=[f"5400:0.5:{d}", f"5400:0.5:{d - 1}"])
    cc = CapitalCurve(s, targets, 5)
    cc.evaluate([5000.0], 1024)
    counts = cc.points[5000.0].counts
    within = sum(1 for x in col if 0 <= x <= d)
    assert counts[f"reach:1:{d}"] == within
    assert counts[f"reach:1:{d - 1}"] == within - on_d
    assert counts["reach:1:None"] == int(np.count_nonzero(col >= 0))
    assert counts["ruin"] == int(np.count_nonzero(out.ruined))
    assert counts["margin_call"] == int(np.count_nonzero(out.margin_calls))
    extra = cc.points[5000.0].extra
    assert extra["trades_per_path"] == pytest.approx(np.sum(out.trades) / 1024)
    assert extra["skipped_per_path"] == pytest.approx(np.sum(out.skipped) / 1024)
    assert extra["margin_calls_per_path"] == pytest.approx(np.sum(out.margin_calls) / 1024)
    assert extra["final_equity_median"] == pytest.approx(np.median(out.final_equity))
    # the horizon itself means "within the horizon": the plain reach statistic
    (t,) = make_targets(plan, reach=["5400:0.5:40"])
    assert t.within_days is None


def test_parse_reach_edges():
    from simcore.sizing import parse_reach
    assert parse_reach("10000:0.5:1") == (10000.0, 0.5, 1)          # one day is a horizon
    assert parse_reach("$0.01:0.5") == (0.01, 0.5, None)             # any positive threshold
    for bad in ("0:0.5", "-0:0.5", "inf:0.5", "nan:0.5"):
        with pytest.raises(ScenarioError, match="threshold must be > 0"):
            parse_reach(bad)


def test_targets_are_immutable_values():
    t = Target("ruin", 0.05, "--max-ruin")
    with pytest.raises(Exception):
        t.level = 0.1
    assert t == Target("ruin", 0.05, "--max-ruin") and hash(t) == hash(Target("ruin", 0.05,
                                                                                "--max-ruin"))


@pytest.mark.parametrize("opt, kw", [("--min-capital", {"min_capital": 0.0}),
                                     ("--max-capital", {"max_capital": 0}),
                                     ("--min-capital", {"min_capital": -5.0}),
                                     ("--max-capital", {"max_capital": math.inf})])
def test_range_bounds_must_be_positive_amounts(opt, kw):
    with pytest.raises(ScenarioError) as e:
        resolve_range(scenario(10000.0, rules={"ruin": {}}), [T5], **kw)
    assert e.value.field == opt and "must be a positive amount" in str(e.value)


def test_curve_counts_batches_and_new_paths_only():
    s = scenario(5000.0, horizon=5)
    cc = CapitalCurve(s, [T5], 5, jobs=1)
    cc.evaluate([4000.0, 5000.0], 1024)
    assert (cc.batches, cc.paths_simulated) == (1, 2048)
    cc.evaluate([4000.0, 5000.0], 1024)                # nothing new: no batch
    assert (cc.batches, cc.paths_simulated) == (1, 2048)
    cc.evaluate([5000.0], 2048)                        # one more block for one point
    assert (cc.batches, cc.paths_simulated) == (2, 3072)
    assert [p.paths for p in cc.sorted_points()] == [1024, 2048]


@pytest.mark.parametrize("tol", [0.0, 1.0, 1.5, -0.1])
def test_tolerance_must_be_between_0_and_1(tol):
    with pytest.raises(ScenarioError) as e:
        size_capital(scenario(5000.0, horizon=5), [T5], tolerance=tol, jobs=1)
    assert e.value.field == "--tolerance"


def test_grid_and_paths_options():
    s = scenario(5000.0, horizon=5)
    with pytest.raises(ScenarioError) as e:
        size_capital(s, [T5], grid=2, jobs=1)
    assert e.value.field == "--grid"
    with pytest.raises(ScenarioError) as e:
        size_capital(s, [T5], paths=0, jobs=1)
    assert e.value.field == "--paths"
    with pytest.raises(ScenarioError) as e:
        size_capital(s, [T5], paths=4096, coarse_paths=1000, jobs=1)
    assert e.value.field == "--coarse-paths"
    with pytest.raises(ValueError):
        size_capital(s, [], jobs=1)


# ---------------------------------------------------------------------------------------------
# the whole search: what its result promises
# ---------------------------------------------------------------------------------------------
def _search(**kw):
    s = scenario(5000.0, horizon=60, paths=4096)
    plan = build_plan(s)
    targets = make_targets(plan, max_ruin=0.1, max_margin_call=0.5)
    return size_capital(s, targets, min_capital=1500.0, max_capital=20000.0, jobs=1, **kw)


@pytest.fixture(scope="module")
def searched():
    return _search()


def test_search_answers_are_at_full_paths_and_bracketed(searched):
    res = searched
    assert res["converged"] and res["paths"] == 4096 and res["coarse_paths"] == 1024
    rows = {r["capital"]: r for r in res["curve"]}
    t = res["targets"][0]
    assert t["label"] == "P(ruin) <= 10%"
    for crit in ("point", "conservative", "optimistic"):
        a = t[crit]
        assert a["status"] == "ok"
        assert a["at_answer"]["paths"] == 4096                     # step (d)
        lo_c, hi_c = a["bracket"]
        assert hi_c == a["capital"] and rows[hi_c]["paths"] >= 1024
        # the failing end fails and the answer holds, by the criterion's own statistic
        k_hi, n_hi = rows[hi_c]["ruin"]["count"], rows[hi_c]["paths"]
        k_lo, n_lo = rows[lo_c]["ruin"]["count"], rows[lo_c]["paths"]
        stat = {"point": lambda k, n: k / n, "conservative": lambda k, n: wilson(k, n)[1],
                "optimistic": lambda k, n: wilson(k, n)[0]}[crit]
        assert stat(k_hi, n_hi) <= 0.1 < stat(k_lo, n_lo)
        # and every evaluated capital above the answer holds too
        assert all(stat(r["ruin"]["count"], r["paths"]) <= 0.1 for c, r in rows.items()
                   if c > hi_c)
    assert t["optimistic"]["capital"] <= t["capital"] <= t["capital_conservative"]


def test_search_overall_answer_binding_and_cost(searched):
    res = searched
    caps = [t["capital"] for t in res["targets"]]
    assert res["answer"]["capital"] == max(caps)
    assert res["answer"]["binding"] == res["targets"][caps.index(max(caps))]["label"]
    assert res["answer"]["capital_conservative"] == max(
        t["capital_conservative"] for t in res["targets"])
    assert res["answer"]["status"] == "ok"
    c = res["cost"]
    assert c["evaluations"] == len(res["curve"])
    assert c["full_evaluations"] == sum(1 for r in res["curve"] if r["paths"] == 4096)
    assert 0 < c["full_evaluations"] < c["evaluations"]
    # each point's blocks are simulated once: the paths simulated are the curve's paths
    assert c["paths_simulated"] == sum(r["paths"] for r in res["curve"])
    assert c["path_equivalents"] == pytest.approx(c["paths_simulated"] / 4096)
    assert res["range"] == {"min_capital": 1500.0, "max_capital": 20000.0}
    # the coarse grid: 17 geometric points from 1,500 to 20,000 plus the scenario's capital
    grid = {1500.0, 20000.0, 5000.0} | {float(round(x)) for x in
                                        np.geomspace(1500.0, 20000.0, 17)[1:-1]}
    assert grid <= {r["capital"] for r in res["curve"]}


def test_search_round_limit_is_reported(monkeypatch):
    import simcore.sizing as sz
    monkeypatch.setattr(sz, "_MAX_ROUNDS", 1)
    res = _search()
    assert res["converged"] is False
    assert any("round limit" in n for n in res["notes"])


def test_curve_extras_count_skipped_entries():
    """An initial margin above the capital: every daily entry is skipped (funds), 5 a path
    over 5 days, and nothing trades."""
    s = scenario(5000.0, horizon=5, contract={"initial_margin": 6000.0,
                                              "maintenance_margin": 5000.0})
    cc = CapitalCurve(s, [T5], 5, jobs=1)
    cc.evaluate([5000.0, 7000.0], 1024)
    assert cc.points[5000.0].extra["skipped_per_path"] == 5.0
    assert cc.points[5000.0].extra["trades_per_path"] == 0.0
    assert cc.points[7000.0].extra["skipped_per_path"] == 0.0
    assert cc.points[7000.0].extra["trades_per_path"] == 1.0


def test_trading_floor_a_later_tier_with_a_smaller_contract():
    """Tier 0 trades TST (needs 40,000: beyond its range, which ends at 30,000); tier 1 from
    30,000 trades TS2, a smaller contract on the same market (point value 87.5: 4 x 87.5 /
    1% = 35,000). The floor is 35,000 -- tier 1's need, not tier 0's."""
    base = {
        "name": "floor", "capital": 5000.0, "horizon_days": 10,
        "markets": {"ASSET": {"price": P0, "vol": SIGMA}},
        "contracts": {n: {"market": "ASSET", "point_value": pv, "tick_size": 0.01,
                          "initial_margin": 1.0, "maintenance_margin": 1.0, "commission": 0.0}
                      for n, pv in (("TST", PV), ("TS2", 87.5))},
        "strategies": {"ASSET": {"direction": "long", "stop": {"points": 4.0},
                                 "target": "none"}},
        "rules": {"risk_per_trade": 0.01, "margin_cap": "none", "slippage_ticks": 0,
                  "ruin": {}},
        "tiers": [{"contracts": {"TST": 1}}, {"at": 30000, "contracts": {"TS2": 1}}],
    }
    assert trading_floor(parse_scenario(base)) == pytest.approx(35000.0)


@pytest.mark.parametrize("rounds", [0, 1, 2])
def test_search_cut_short_by_the_round_limit_never_claims_convergence(monkeypatch, rounds):
    """Whatever step the last allowed round took (a rung up, a bracket end, new points or the
    answers at full paths), a search that ran out of rounds says so."""
    import simcore.sizing as sz
    monkeypatch.setattr(sz, "_MAX_ROUNDS", rounds)
    res = _search()
    assert res["converged"] is False
    assert any("round limit" in n for n in res["notes"])


def test_an_answer_at_the_bottom_of_the_range_is_extended_to_full_paths():
    """Ruin never happens at any capital in range: the answer is the minimum (holds
    everywhere), decided at the coarse count, and still reported at the full paths."""
    s = scenario(5000.0, horizon=5, paths=4096)
    res = size_capital(s, [Target("ruin", 0.5, "--max-ruin")], min_capital=4000.0,
                       max_capital=8000.0, jobs=1)
    t = res["targets"][0]
    assert t["point"]["status"] == "holds_everywhere" and t["capital"] == 4000.0
    assert t["point"]["at_answer"]["paths"] == 4096
    assert t["point"]["at_answer"]["count"] == 0
    assert res["answer"]["status"] == "holds_everywhere"
    notes = " | ".join(res["notes"])
    assert ("P(ruin) <= 50%: the point criterion holds at every evaluated capital down to "
            "$4,000 (the bottom of the search range); the plan averages 1.0 trades per path "
            "there; it never happened at any evaluated capital") in notes


def test_num_json():
    from simcore.sizing import _num_json
    assert _num_json(5000.0) == 5000 and isinstance(_num_json(5000.0), int)
    assert isinstance(_num_json(2.0 ** 60), float) and _num_json(2.5) == 2.5
    assert _num_json(float("nan")) is None and _num_json(None) is None


def test_reach_within_days_counts_day_zero():
    """Day 0 counts: a capital at the threshold reaches the tier on day 0, within any D."""
    tiers = [{"contracts": {"TST": 1}}, {"at": 5400, "contracts": {"TST": 1}}]
    s = scenario(5000.0, tiers=tiers, horizon=40, rules={"ruin": {}})
    plan = build_plan(s)
    targets = make_targets(plan, reach=["5400:0.5:1"])
    cc = CapitalCurve(s, targets, 5, jobs=1)
    cc.evaluate([5400.0], 1024)
    assert cc.points[5400.0].counts["reach:1:1"] == 1024


def test_curve_extras_count_margin_calls_and_skip_unevaluated_points():
    """Maintenance margin = initial margin = the whole account: any loss on the first day
    is a margin call. The curve's figures are the simulation's, recomputed with numpy."""
    s = scenario(5000.0, horizon=5, contract={"initial_margin": 5000.0,
                                              "maintenance_margin": 5000.0})
    out = simulate(build_plan(s), 1024, 5, jobs=1)
    assert 100 < np.count_nonzero(out.margin_calls) < 1000
    cc = CapitalCurve(s, [T5], 5, jobs=1)
    cc.evaluate([5000.0], 1024)
    assert cc.points[5000.0].extra["margin_calls_per_path"] == pytest.approx(
        np.sum(out.margin_calls) / 1024)
    assert cc.points[5000.0].counts["margin_call"] == np.count_nonzero(out.margin_calls)
    cc.point(7000.0)                                  # built, never evaluated
    assert [p.capital for p in cc.sorted_points()] == [5000.0]


def test_narrow_bracket_crossing_near_the_low_end_is_clamped_inside():
    """The crossing at the failing end: the lower of the two points is clamped 0.15
    tolerance inside the bracket (not outside it), the upper one is 0.45 tolerance above the
    crossing."""
    omega = math.log1p(0.01)
    xl = math.log(10000)
    hi_c = round(math.exp(xl + 4 * omega))
    lo, hi = _pt(10000, 206), _pt(hi_c, 0.03 * 4096)        # 206/4096 = 5.03% fails barely
    gl = 206 / 4096 - 0.05
    gh = 0.03 * 4096 / 4096 - 0.05
    x = xl + gl / (gl - gh) * (math.log(hi_c) - xl)
    assert x - 0.45 * omega < xl + 0.15 * omega                # the clamp is in play
    got = _proposals(_CC(10000, hi_c), lo, hi, T5, "point", 0.01)
    assert got == [round(math.exp(xl + 0.15 * omega)), round(math.exp(x + 0.45 * omega))]


def test_search_narrows_with_ends_a_rung_below_full_and_illinois_weights(monkeypatch):
    """Two documented rules of the refinement (docs/sizing.md, Search 2), checked on every
    narrowing proposal of a whole search at 10,000 paths (ladder 1,024 / 2,048 / 4,096 /
    8,192 / 10,000): (b) a bracket is narrowed only once both its ends are at least at the
    rung below the full paths, 8,192 -- a coarse end is too noisy to aim with; (c) the Illinois
    weights of the regula falsi: per (target, criterion), an end that is the same as at the
    last narrowing call that proposed points has its weight halved once more (1, 1/2, 1/4,
    ...); an end that moved starts again at weight 1."""
    import simcore.sizing as sz
    calls = []
    real = sz._proposals

    def spy(cc, lp, hp, t, crit, r, *weights):
        got = real(cc, lp, hp, t, crit, r, *weights)
        if weights:               # the narrowing call (the bracket-end check passes none)
            calls.append(((t.key, crit), lp.capital, hp.capital, weights[0], bool(got),
                          lp.paths, hp.paths))
        return got
    monkeypatch.setattr(sz, "_proposals", spy)
    s = scenario(5000.0, horizon=60, paths=10000)
    res = size_capital(s, make_targets(build_plan(s), max_ruin=0.1), min_capital=1500.0,
                       max_capital=20000.0, jobs=1)
    assert res["coarse_paths"] == 1024 and res["converged"]
    last: dict = {}       # (target, criterion) -> (lo, hi, weight lo, weight hi)
    for key, lo, hi, w, got, n_lo, n_hi in calls:
        prev = last.get(key)
        want_lo = prev[2] / 2 if prev is not None and prev[0] == lo else 1.0
        want_hi = prev[3] / 2 if prev is not None and prev[1] == hi else 1.0
        assert w == (want_lo, want_hi), (key, lo, hi, w, prev)
        if got:
            assert n_lo >= 8192 and n_hi >= 8192, (key, lo, hi, n_lo, n_hi)
            last[key] = (lo, hi, w[0], w[1])
    assert sum(c[4] for c in calls) >= 2
