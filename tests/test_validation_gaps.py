"""Validation gaps (issue 16): a strategy direction that is not a word, valid inputs no test
tried (negative drift, a stress vol_mult below 1), and the position and hint of YAML errors."""
import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from simcore.cli.main import main
from simcore.build import build_plan
from simcore.errors import ScenarioError
from simcore.runner import simulate
from simcore.scenario import load_yaml, parse_scenario
from simcore.stress import Stress, apply_stress, stresses_from_scenario

BASE = {
    "name": "gaps", "capital": 10000, "horizon_days": 40, "paths": 256, "seed": 2,
    "markets": {"ASSET": {"price": 100.0, "vol": 0.2, "drift": 0.0}},
    "contracts": {"TST": {"market": "ASSET", "point_value": 10.0, "tick_size": 0.01,
                          "initial_margin": 100.0, "maintenance_margin": 80.0,
                          "commission": 0.0}},
    "strategies": {"ASSET": {"direction": "long", "stop": "none", "target": "none"}},
    "rules": {"risk_per_trade": 0.01, "margin_cap": "none", "slippage_ticks": 0,
              "ruin": {}},
    "tiers": [{"contracts": {"TST": 1}}],
}


def data(**changes):
    d = json.loads(json.dumps(BASE))
    for path, v in changes.items():
        node = d
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = v
    return d


@pytest.mark.parametrize("value", [1.5, True, 1, 0, None, "Long", "up", ["long"]])
def test_direction_must_be_one_of_the_words(value):
    with pytest.raises(ScenarioError) as e:
        parse_scenario(data(strategies__ASSET__direction=value))
    assert e.value.field == "strategies.ASSET.direction"
    assert str(e.value) == "strategies.ASSET.direction: must be one of long, short, both"


@pytest.mark.parametrize("text", ["1.5", "true", "yes", "1"])
def test_direction_from_yaml_and_the_command_line(tmp_path, text):
    src = yaml.safe_dump(BASE, sort_keys=False).replace("direction: long",
                                                        f"direction: {text}")
    assert f"direction: {text}" in src
    with pytest.raises(ScenarioError) as e:
        parse_scenario(load_yaml(src, "s.yaml"))
    assert e.value.field == "strategies.ASSET.direction"
    f = tmp_path / "s.yaml"
    f.write_text(src)
    r = CliRunner().invoke(main, ["run", str(f), "--json"])
    assert r.exit_code == 2 and r.stdout == ""
    assert "strategies.ASSET.direction" in r.stderr and "Traceback" not in r.stderr


def test_negative_drift_is_valid_and_moves_prices_down():
    """A falling market is a plan, not an error: a long buy-and-hold loses money on average.
    With one contract held the whole path, final equity is C + (P_T - P0) pv, and E[P_T] =
    P0 exp(mu T): with mu = -0.5 over 40 days the mean loss is 100 x (1 - e^(-0.5 x 40/252))
    x 10 = $76.3, far beyond the standard error (~$16 at 256 paths)."""
    up = build_plan(parse_scenario(data()))
    down = build_plan(parse_scenario(data(markets__ASSET__drift=-0.5)))
    assert down.mu[0] == -0.5
    a = simulate(up, 256, 2, jobs=1).final_equity
    b = simulate(down, 256, 2, jobs=1).final_equity
    expected = 10000 + 1000 * (np.exp(-0.5 * 40 / 252) - 1)
    se = b.std(ddof=1) / np.sqrt(b.size)
    assert abs(b.mean() - expected) < 4 * se
    assert b.mean() < a.mean() - 50                 # common random numbers: same shocks


def test_stress_vol_mult_below_one_is_valid():
    d = data(stress=[{"name": "quiet", "vol_mult": 0.5}])
    rows = stresses_from_scenario(parse_scenario(d))
    assert rows == [Stress(name="quiet", vol_mult=0.5)]
    plan = build_plan(parse_scenario(data()))
    out = simulate(apply_stress(plan, rows[0]), 256, 2, jobs=1)
    base = simulate(plan, 256, 2, jobs=1)
    # half the volatility: the spread of final equity roughly halves
    ratio = out.final_equity.std() / base.final_equity.std()
    assert 0.4 < ratio < 0.6
    for bad in (0, -1):
        with pytest.raises(ScenarioError) as e:
            parse_scenario(data(stress=[{"name": "x", "vol_mult": bad}]))
        assert e.value.field == "stress[0].vol_mult"


def test_stress_command_vol_mult_below_one(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(BASE, sort_keys=False))
    r = CliRunner().invoke(main, ["stress", str(f), "--vol-mult", "0.5", "--json",
                                  "--paths", "128"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert [row["name"] for row in out["rows"]] == ["base", "vol x0.5"]


def test_yaml_syntax_error_names_line_and_column():
    src = "name: x\ncapital: [5000\nhorizon_days: 10\n"
    with pytest.raises(ScenarioError) as e:
        load_yaml(src, "plan.yaml")
    # the flow sequence opened on line 2 is broken by the ':' after horizon_days (line 3,
    # column 13: 12 characters of key, then the colon)
    assert e.value.field == "plan.yaml"
    assert "invalid YAML at line 3, column 13" in str(e.value)


def test_duplicate_key_names_both_lines():
    src = "name: x\ncapital: 5000\ncapital: 6000\n"
    with pytest.raises(ScenarioError) as e:
        load_yaml(src, "plan.yaml")
    assert e.value.field == "capital"
    assert "duplicate key (lines 2 and 3)" in str(e.value)


@pytest.mark.parametrize("key, hint", [("captial", "capital"), ("horizon_day", "horizon_days"),
                                       ("sed", "seed")])
def test_unknown_key_did_you_mean(key, hint):
    d = data()
    d[key] = d.pop(hint)
    with pytest.raises(ScenarioError) as e:
        parse_scenario(d)
    assert str(e.value) == f"{key}: unknown key (did you mean {hint}?)"


def test_unknown_key_without_a_close_match_has_no_hint():
    d = data(zzzzzz=1)
    with pytest.raises(ScenarioError) as e:
        parse_scenario(d)
    assert str(e.value) == "zzzzzz: unknown key"


def test_nested_unknown_key_is_dotted_with_hint():
    d = data()
    d["strategies"]["ASSET"]["max_hold_dayz"] = 3
    with pytest.raises(ScenarioError) as e:
        parse_scenario(d)
    assert str(e.value) == ("strategies.ASSET.max_hold_dayz: unknown key "
                            "(did you mean max_hold_days?)")


@pytest.mark.parametrize("value", [1.5, True, False, 2, "up", None, 0.5])
def test_edge_solver_refuses_a_direction_that_is_not_one(value):
    from simcore.edge import solve_alpha
    with pytest.raises(ValueError, match="direction must be"):
        solve_alpha(value, 100.0, 0.0, 0.2, 2.0, 4.0, 0.4)


@pytest.mark.parametrize("value, same", [(1.0, "long"), (-1, "short"), ("LONG", "long"),
                                         (0, "both")])
def test_edge_solver_accepts_the_documented_spellings(value, same):
    from simcore.edge import solve_alpha
    assert solve_alpha(value, 100.0, 0.0, 0.2, 2.0, 4.0, 0.4) == \
        solve_alpha(same, 100.0, 0.0, 0.2, 2.0, 4.0, 0.4)


def test_plausibility_warnings_name_every_missing_amount():
    """Warnings (not errors) when a tier cannot enter: the risk budget, the margin cap and the
    funds, each with the amounts worked out by hand."""
    from simcore.build import _warnings
    d = data(capital=900, rules__risk_per_trade=0.02, rules__margin_cap=0.1,
             contracts__TST__initial_margin=1000.0, contracts__TST__commission=1.0,
             rules__slippage_ticks=2,
             strategies__ASSET__stop={"points": 5.0},
             tiers=[{"contracts": {"TST": 1}}])
    (w,) = _warnings(parse_scenario(d))
    # risk per contract (5 + 2 x 0.01) x 10 + 2 x 1 = 52.20 > 2% of 900 = 18.00;
    # the cap 10% of 900 = 90.00 < 1,000; the margin 1,000 > 900; the need is the largest:
    # 1,000 / 0.1 = 10,000
    assert w == ("ASSET: no entry at the start: one TST risks $52.20 against a risk budget of "
                 "$18.00; TST's initial margin $1,000 is above the margin cap of $90.00; "
                 "TST's initial margin $1,000 is above the equity (one TST needs $10,000 of "
                 "equity)")
    # at exactly the initial margin the funds rule is met: no funds note
    d = data(capital=1000, contracts__TST__initial_margin=1000.0)
    assert _warnings(parse_scenario(d)) == []


def test_common_gaps_flag():
    d = data(gaps={"common": {"probability": 0.01, "mean": -0.02, "sd": 0.01}})
    plan = build_plan(parse_scenario(d))
    assert plan.gap_common == 1 and plan.gap_p[0] == 0.01
    assert build_plan(parse_scenario(data())).gap_common == 0


def test_warning_amounts_from_100_dollars_are_whole():
    from simcore.build import _warnings
    d = data(capital=5000, rules__risk_per_trade=0.02, rules__slippage_ticks=2,
             contracts__TST__commission=1.0, strategies__ASSET__stop={"points": 15.0})
    # (15 + 0.02) x 10 + 2 = 152.2 against exactly $100 (whole dollars from $100 up)
    assert _warnings(parse_scenario(d)) == [
        "ASSET: no entry at the start: one TST risks $152 against a risk budget of $100 "
        "(one TST needs $7,610 of equity)"]


def test_stress_vol_mult_range_ends():
    assert stresses_from_scenario(parse_scenario(
        data(stress=[{"name": "x", "vol_mult": 20}])))[0].vol_mult == 20
    with pytest.raises(ScenarioError) as e:
        parse_scenario(data(stress=[{"name": "x", "vol_mult": 20.5}]))
    assert e.value.field == "stress[0].vol_mult"


def test_one_letter_name_and_empty_name():
    assert parse_scenario(data(name="a")).name == "a"
    with pytest.raises(ScenarioError) as e:
        parse_scenario(data(name=""))
    assert e.value.field == "name"


def test_scenarios_are_frozen():
    s = parse_scenario(data())
    with pytest.raises(Exception):
        s.capital = 1.0
    with pytest.raises(Exception):
        s.markets["ASSET"].vol = 0.5
    assert s.capital == 10000


@pytest.mark.parametrize("price", [0.0, -1.0, float("nan"), float("inf")])
def test_barrier_distances_need_a_positive_finite_price(price):
    from simcore.edge import barrier_log_distances
    with pytest.raises(ValueError, match="price must be finite and > 0"):
        barrier_log_distances("long", price, 1.0, 2.0)


def test_barrier_distances_by_hand():
    import math
    from simcore.edge import barrier_log_distances
    a, b = barrier_log_distances("long", 100.0, 10.0, 20.0)
    assert (a, b) == (pytest.approx(-math.log(0.9)), pytest.approx(math.log(1.2)))
    a, b = barrier_log_distances("short", 100.0, 10.0, 20.0)
    assert (a, b) == (pytest.approx(math.log(1.1)), pytest.approx(-math.log(0.8)))
