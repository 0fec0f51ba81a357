"""Sizing the starting capital (issue 5): ``simcore.sizing`` and ``simrisk size``.

The reference case is a one-contract buy-and-hold (no stop, no target, no time stop: the
position is held the whole path), no costs, margins that never bind, ruin below a fixed amount
X. Equity is ``C + (P_t - P0) pv``, so ruin happens iff the price closes a step below
``B = P0 - (C - X) / pv``: a first passage of GBM below a barrier, monitored once a step.
With the Broadie-Glasserman-Kou correction (the barrier moved away from the start by
``0.5826 sigma sqrt(dt)`` in log price) the continuous-time formula gives the discrete
probability, so the least capital for a ruin target is known in closed form.
"""
import json
import math

import numpy as np
import yaml
import pytest
from click.testing import CliRunner

from simcore.cli.main import main
from simcore.build import build_plan
from simcore.errors import ScenarioError
from simcore.runner import simulate
from simcore.scenario import parse_scenario
from simcore.sizing import (CapitalCurve, Target, _answer, _Point, evaluate_curve,
                            make_targets, parse_reach, plot_sizing, resolve_range,
                            size_capital)
from simcore.text import format_sizing

BGK = 0.5826
P0, PV, SIGMA, X = 100.0, 100.0, 0.25, 1000.0


def buy_and_hold(capital=5000.0, *, below=X, horizon=252, paths=8192, seed=11, tiers=None,
                 ruin=None):
    data = {
        "name": "buy and hold",
        "capital": capital, "horizon_days": horizon, "paths": paths, "seed": seed,
        "markets": {"ASSET": {"price": P0, "vol": SIGMA, "drift": 0.0}},
        "contracts": {"TST": {"market": "ASSET", "point_value": PV, "tick_size": 0.01,
                              "initial_margin": 1.0, "maintenance_margin": 1.0,
                              "commission": 0.0}},
        "strategies": {"ASSET": {"direction": "long", "stop": "none", "target": "none"}},
        "rules": {"risk_per_trade": 0.01, "margin_cap": "none", "slippage_ticks": 0,
                  "ruin": ruin if ruin is not None else {"below": below}},
        "tiers": tiers or [{"contracts": {"TST": 1}}],
    }
    return parse_scenario(data)


def ruin_probability(C, *, T=1.0, dt=1 / 252, sigma=SIGMA, mu=0.0, below=X):
    """Discretely monitored first passage below B = P0 - (C - X) / pv (BGK-corrected)."""
    from scipy.stats import norm
    ratio = 1.0 - (C - below) / (PV * P0)
    if ratio <= 0:
        return 0.0
    b = math.log(ratio) - BGK * sigma * math.sqrt(dt)
    nu = mu - 0.5 * sigma ** 2
    s = sigma * math.sqrt(T)
    return float(norm.cdf((b - nu * T) / s)
                 + math.exp(2 * nu * b / sigma ** 2) * norm.cdf((b + nu * T) / s))


def analytic_capital(p):
    from scipy.optimize import brentq
    return brentq(lambda C: ruin_probability(C) - p, X + 1e-6, X + PV * P0 - 1e-6)


def check(name, expected, found, lo, hi):
    print(f"CHECK {name}: expected={expected:.2f} found={found} range=[{lo}, {hi}]")


# ---------------------------------------------------------------------------------------------
# closed form
# ---------------------------------------------------------------------------------------------
def _analytic_case(p, paths, seed, tol=0.01):
    scn = buy_and_hold(paths=paths, seed=seed)
    targets = make_targets(build_plan(scn), max_ruin=p)
    res = size_capital(scn, targets, min_capital=2000, max_capital=10000, jobs=2,
                       tolerance=tol)
    t = res["targets"][0]
    expected = analytic_capital(p)
    lo, point, hi = t["capital_optimistic"], t["capital"], t["capital_conservative"]
    r = t["resolution"]                      # the relative width each answer is known to
    check(f"buy-and-hold capital for ruin <= {p} ({paths} paths, seed {seed})",
          expected, point, lo, hi)
    # the documented resolution: the tolerance, or a quarter of the 95% range (in log capital)
    # when that is wider, capped at 5% -- and every answer's bracket is narrowed to it
    assert r == pytest.approx(max(tol, min(0.05, (hi / lo) ** 0.25 - 1)), rel=1e-9)
    for crit in ("point", "conservative", "optimistic"):
        f_cap, p_cap = t[crit]["bracket"]
        assert p_cap == t[crit]["capital"]
        assert p_cap / f_cap <= (1 + r) * (1 + 1e-6) or p_cap - f_cap <= 1.0
    # The stated confidence: [optimistic, conservative] is a 95% range for the capital the
    # target needs, each end known to the resolution (an answer is the upper end of a
    # bracket that wide).
    assert lo <= point <= hi
    assert lo / (1 + r) <= expected <= hi * (1 + r)
    # and the point estimate is no further from the truth than the range is wide
    assert abs(point - expected) <= (hi - lo) + r * expected
    return res


@pytest.mark.parametrize("p", [0.05, 0.2])
def test_buy_and_hold_capital_matches_first_passage_closed_form(p):
    res = _analytic_case(p, paths=8192, seed=11)
    assert res["answer"]["status"] == "ok"
    assert res["answer"]["capital"] == res["targets"][0]["capital"]
    # the search refined near the answer only: far fewer full evaluations than grid points
    assert res["cost"]["full_evaluations"] < res["cost"]["evaluations"]
    assert res["cost"]["path_equivalents"] < 15


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("p", [0.01, 0.05, 0.2])
def test_buy_and_hold_capital_closed_form_many_paths(p, seed):
    _analytic_case(p, paths=65536, seed=seed, tol=0.005)


def test_closed_form_agrees_with_the_engine_at_a_fixed_capital():
    """The closed form the sizing test relies on, checked directly at one capital."""
    C = 4500.0
    scn = buy_and_hold(capital=C)
    out = simulate(build_plan(scn), 16384, 3, jobs=2)
    p = ruin_probability(C)
    phat = out.ruined.mean()
    se = math.sqrt(p * (1 - p) / out.ruined.size)
    print(f"CHECK ruin at {C}: expected={p:.5f} measured={phat:.5f} se={se:.5f}")
    assert abs(phat - p) < 4 * se


# ---------------------------------------------------------------------------------------------
# common random numbers
# ---------------------------------------------------------------------------------------------
def test_capital_is_read_from_the_scenario_so_fractional_ruin_scales():
    scn = buy_and_hold(ruin={"below_fraction": 0.5})
    cc = CapitalCurve(scn, make_targets(build_plan(scn)), seed=1)
    for c in (1234.0, 5000.0, 20000.0):
        plan = cc.plan_at(c)
        assert plan.capital == c
        assert plan.ruin_level == pytest.approx(0.5 * c)


def test_extended_runs_are_bit_identical_to_plain_runs():
    """Coarse blocks are reused when a point is refined: the result equals a plain run."""
    scn = buy_and_hold(horizon=60)
    plan0 = build_plan(scn)
    targets = make_targets(plan0, max_ruin=0.1, reach=[], max_margin_call=0.1)
    cc = CapitalCurve(scn, targets, seed=5, jobs=2)
    caps = [3000.0, 4000.0, 4001.0]
    cc.evaluate(caps, 1024)
    cc.evaluate(caps, 3000)                  # two more blocks, one of them partial
    assert cc.paths_simulated == 3 * 3000
    for c in caps:
        out = simulate(cc.plan_at(c), 3000, 5, jobs=1)
        pt = cc.points[c]
        assert pt.paths == 3000
        assert pt.counts["ruin"] == int(out.ruined.sum())
        assert pt.extra["final_equity_median"] == float(np.median(out.final_equity))


def test_monotone_inputs_give_a_monotone_curve():
    """Buy-and-hold: at a fixed seed each path is ruined at capital C only if it is ruined at
    every lower capital (the barrier only moves down), so on common random numbers the curve
    is exactly monotone -- no statistical tolerance. Same for reaching a tier that does not
    change what is traded."""
    tiers = [{"contracts": {"TST": 1}}, {"at": 9000, "contracts": {"TST": 1}}]
    scn = buy_and_hold(tiers=tiers, horizon=126)
    caps = np.linspace(1500, 8500, 15)
    rows = evaluate_curve(scn, caps, 2048, seed=3, jobs=2)
    ruin = [r["ruin"]["probability"] for r in rows]
    reach = [r["tiers"][0]["probability"] for r in rows]
    assert [r["capital"] for r in rows] == sorted(caps)
    assert all(a >= b for a, b in zip(ruin, ruin[1:])), ruin
    assert all(a <= b for a, b in zip(reach, reach[1:])), reach
    assert ruin[0] > ruin[-1] and reach[0] < reach[-1]
    # and the search's own curve, restricted to one path count, is monotone too
    res = size_capital(scn, make_targets(build_plan(scn), max_ruin=0.1), min_capital=1500,
                       max_capital=9000, paths=2048, jobs=2)
    full = [r["ruin"]["probability"] for r in res["curve"] if r["paths"] == 2048]
    assert all(a >= b for a, b in zip(full, full[1:]))


# ---------------------------------------------------------------------------------------------
# the answer rule on a non-monotone curve
# ---------------------------------------------------------------------------------------------
def _pts(pairs, n=1000):
    return [_Point(float(c), None, paths=n, counts={"ruin": k}) for c, k in pairs]


def test_answer_is_the_least_capital_beyond_which_every_point_holds():
    t = Target("ruin", 0.05, "--max-ruin")
    # holds where nothing trades (0), fails at 3000 and 5000, dips at 4000, holds from 6000
    pts = _pts([(1000, 0), (2000, 10), (3000, 80), (4000, 30), (5000, 60), (6000, 40),
                (7000, 20)])
    a = _answer(pts, t, "point")
    assert a["status"] == "ok" and a["capital"] == 6000.0
    assert a["bracket"] == [5000.0, 6000.0] and a["holds_below"] == 4000.0
    # conservative: the Wilson upper bound at 40/1000 is above 5%, so 7000
    assert _answer(pts, t, "conservative")["capital"] == 7000.0
    assert _answer(_pts([(1000, 0), (2000, 10)]), t, "point")["status"] == "holds_everywhere"
    a = _answer(_pts([(1000, 0), (2000, 90)]), t, "point")
    assert a["status"] == "not_reached" and a["capital"] is None


def test_reach_targets_use_the_lower_bound_conservatively():
    t = Target("reach", 0.5, "--reach", tier=1, tier_at=7500.0)
    assert t.holds(520, 1000, "point") and not t.holds(520, 1000, "conservative")
    assert t.holds(480, 1000, "optimistic") and not t.holds(480, 1000, "point")


# ---------------------------------------------------------------------------------------------
# targets and their validation
# ---------------------------------------------------------------------------------------------
def test_parse_reach():
    assert parse_reach("10000:0.5") == (10000.0, 0.5, None)
    assert parse_reach(" 10,000 : 0.25 : 252 ") == (10000.0, 0.25, 252)
    for bad in ("10000", "10000:", ":0.5", "10000:0.5:252:1", "ten:0.5", "10000:half",
                "10000:0.5:1.5", "10000:0:10", "10000:1", "10000:0.5:0", "-5:0.5"):
        with pytest.raises(ScenarioError) as e:
            parse_reach(bad)
        assert e.value.field == "--reach"


def test_make_targets_defaults_and_tiers():
    scn = buy_and_hold(tiers=[{"at": 4000, "contracts": {"TST": 1}},
                              {"at": 9000, "contracts": {"TST": 1}}])
    plan = build_plan(scn)
    (t,) = make_targets(plan)
    assert (t.kind, t.level) == ("ruin", 0.05)
    ts = make_targets(plan, max_ruin=0.01, reach=["9000:0.5:100", "9000:0.4:252"],
                      max_margin_call=0.1)
    assert [x.kind for x in ts] == ["ruin", "reach", "reach", "margin_call"]
    assert ts[1].tier == 1 and ts[1].within_days == 100
    assert ts[2].within_days is None                     # the whole horizon
    with pytest.raises(ScenarioError, match="no tier at"):
        make_targets(plan, reach=["8000:0.5"])
    with pytest.raises(ScenarioError, match="beyond the horizon"):
        make_targets(plan, reach=["9000:0.5:253"])


def test_range_checks():
    scn = buy_and_hold()
    ts = make_targets(build_plan(scn))
    assert resolve_range(scn, ts) == (X * 1.05, 50000.0)   # kept above ruin below X
    for kw, opt in (({"min_capital": 5000, "max_capital": 1000}, "--min-capital"),
                    ({"min_capital": 900}, "--min-capital"),
                    ({"max_capital": 1020}, "--max-capital"),
                    ({"max_capital": -1}, "--max-capital")):
        with pytest.raises(ScenarioError) as e:
            resolve_range(scn, ts, **kw)
        assert e.value.field == opt


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def _write(tmp_path, **kw):
    import yaml
    scn = buy_and_hold(**kw)
    data = scn.model_dump(exclude_none=True)
    data["strategies"]["ASSET"].update(stop="none", target="none")
    data["rules"]["margin_cap"] = "none"
    path = tmp_path / "bh.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def invoke(*args):
    return CliRunner().invoke(main, ["size", *map(str, args)])


@pytest.mark.parametrize("args, option", [
    (["--max-ruin", "0"], "--max-ruin"),
    (["--max-ruin", "1"], "--max-ruin"),
    (["--max-ruin", "1.5"], "--max-ruin"),
    (["--max-ruin", "-0.1"], "--max-ruin"),
    (["--max-ruin", "abc"], "--max-ruin"),
    (["--max-margin-call", "2"], "--max-margin-call"),
    (["--min-capital", "5000", "--max-capital", "2000"], "--min-capital"),
    (["--min-capital", "500"], "--min-capital"),          # at or below ruin `below`
    (["--reach", "12345:0.5"], "--reach"),                 # no such tier
    (["--reach", "10000"], "--reach"),
    (["--reach", "10000:x"], "--reach"),
    (["--reach", "10000:0.5:x"], "--reach"),
    (["--reach", "10000:1.2"], "--reach"),
    (["--reach", "10000:0.5:9999"], "--reach"),            # beyond the horizon
    (["--tolerance", "0"], "--tolerance"),
])
def test_bad_options_exit_2_naming_the_option(tmp_path, args, option):
    f = _write(tmp_path, tiers=[{"contracts": {"TST": 1}},
                                {"at": 10000, "contracts": {"TST": 1}}])
    r = invoke(f, *args, "--paths", 1024, "--json")
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert r.stdout == ""
    assert option in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_json_and_plot(tmp_path):
    f = _write(tmp_path, tiers=[{"contracts": {"TST": 1}},
                                {"at": 8000, "contracts": {"TST": 1}}])
    png = tmp_path / "curve.png"
    r = invoke(f, "--max-ruin", 0.05, "--reach", "8000:0.3", "--max-margin-call", 0.5,
               "--min-capital", 2000, "--max-capital", 10000, "--paths", 2048, "--seed", 4,
               "--json", "--plot", png, "--jobs", 2)
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)                      # stdout is exactly one JSON object
    ans = res["answer"]
    assert ans["status"] == "ok"
    per = {t["kind"]: t for t in res["targets"]}
    assert ans["capital"] == max(t["capital"] for t in res["targets"])
    assert ans["capital_conservative"] == max(t["capital_conservative"]
                                              for t in res["targets"])
    assert ans["capital"] <= ans["capital_conservative"]
    assert per["margin_call"]["point"]["status"] == "holds_everywhere"
    assert per["reach"]["capital"] <= 8000
    assert res["paths"] == 2048 and res["seed"] == 4 and res["plot"] == str(png)
    assert {"capital", "paths", "ruin", "margin_call", "tiers"} <= set(res["curve"][0])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # never overwrite without --force
    before = png.read_bytes()
    r = invoke(f, "--paths", 1024, "--plot", png)
    assert r.exit_code == 2 and r.stdout == "" and "--plot" in r.stderr
    assert png.read_bytes() == before
    r = invoke(f, "--paths", 1024, "--min-capital", 2000, "--max-capital", 9000, "--plot",
               png, "--force")
    assert r.exit_code == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.read_bytes() != before
    assert "Least starting capital" in r.stdout and "plot:" in r.stdout


def test_table_and_plot_functions(tmp_path):
    scn = buy_and_hold(horizon=60)
    res = size_capital(scn, make_targets(build_plan(scn), max_ruin=0.05), paths=1024,
                       min_capital=1500, max_capital=9000, jobs=2)
    text = format_sizing(res)
    assert "P(ruin) <= 5%" in text and "cost:" in text
    json.dumps(res, allow_nan=False)
    plot_sizing(res, str(tmp_path / "x.png"))
    assert (tmp_path / "x.png").read_bytes()[:4] == b"\x89PNG"



def test_notes_say_when_the_conservative_answer_is_not_monotone():
    """On the example plan ruin rises to a hump near $6,000-$8,500 and falls again, so the
    conservative (95%) criterion also holds below its answer: the text notes say so, with the
    capitals of the JSON's ``holds_below`` and bracket (they used to cover the point answer
    only)."""
    from pathlib import Path

    from simcore.scenario import load_scenario
    from simcore.sizing import make_targets, size_capital
    scn = load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / "5k_four_asset.yaml")
    res = size_capital(scn, make_targets(build_plan(scn), max_ruin=0.01), paths=2048, seed=7,
                       jobs=2)
    cons = res["targets"][0]["conservative"]
    assert cons["status"] == "ok" and cons["holds_below"] is not None
    assert cons["holds_below"] < cons["bracket"][0] < cons["capital"]
    note = [n for n in res["notes"] if "conservative (95%) criterion is not monotone --" in n]
    assert len(note) == 1
    assert f"${cons['holds_below']:,.0f}" in note[0] and f"${cons['bracket'][0]:,.0f}" in note[0]


def test_a_target_below_what_the_paths_can_show_says_give_more_paths(tmp_path):
    """P(margin call) <= 1% on 200 paths: even no margin call leaves a 95% upper bound of
    1.88%, so no capital passes the conservative test; the note says more --paths (381 is the
    least), not "raise --max-capital"."""
    plan = tmp_path / "base.yaml"
    plan.write_text(yaml.safe_dump({
        "name": "base", "capital": 30000, "horizon_days": 20, "paths": 200,
        "markets": {"SP500": {"price": 6000, "vol": 0.18}},
        "strategies": {"SP500": {"direction": "long", "stop": {"atr": 1.0},
                                 "target": {"r": 2.0}, "win_rate": 0.38}},
        "rules": {"risk_per_trade": 0.02, "ruin": {"below_fraction": 0.5}},
        "tiers": [{"contracts": {"MES": 1}}]}))
    r = invoke(plan, "--max-margin-call", "0.01", "--json")
    assert r.exit_code == 0, r.output
    notes = [n for n in json.loads(r.stdout)["notes"] if "conservative" in n]
    assert any("no capital can meet the conservative criterion with 200 paths" in n
               and "1.88%" in n and "381 at the least" in n for n in notes), notes
    assert not any("raise --max-capital" in n for n in notes), notes
