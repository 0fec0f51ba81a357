"""Scenario files: loading, validation messages, the catalog, and the compiled Plan."""
from __future__ import annotations

import copy
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from simcore import catalog
from simcore._plan import (BOTH, LONG, SHORT, STOP_ATR, STOP_FIXED, STOP_NONE, TARGET_FIXED,
                           TARGET_NONE, TARGET_R)
from simcore.build import build_plan
from simcore.catalog import CATALOG, CONTRACT_FIELDS, MARGINS_AS_OF
from simcore.errors import ScenarioError
from simcore.scenario import load_scenario, load_yaml, parse_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
ATR_K = math.sqrt(8.0 / math.pi)

GOOD = {
    "name": "test",
    "capital": 10000,
    "horizon_days": 20,
    "steps_per_day": 2,
    "paths": 100,
    "seed": 3,
    "markets": {
        "SP500": {"price": 6000, "vol": 0.18, "drift": 0.02},
        "GOLD": {"price": 2600, "vol": 0.16},
        "EURUSD": {"price": 1.08, "vol": 0.08, "asset_class": "currency"},
        "CRUDE": {"price": 70, "vol": 0.35},             # not traded: simulated only
    },
    "correlation": {"SP500/GOLD": 0.05, "EURUSD/GOLD": 0.35, "SP500/CRUDE": 0.3},
    "strategies": {
        "SP500": {"direction": "long", "stop": {"atr": 1.5}, "target": {"r": 2.0},
                  "alpha": 0.05, "max_hold_days": 10, "cooldown_days": 1},
        "GOLD": {"direction": "both", "stop": {"points": 15}, "target": "none",
                 "alpha": -0.01},
        "EURUSD": {"direction": "short", "stop": {"ticks": 40},
                   "target": {"points": 0.008}},
    },
    "rules": {"risk_per_trade": 0.02, "margin_cap": 0.5, "slippage_ticks": 1.5,
              "ruin": {"below": 3000, "below_fraction": 0.6, "max_drawdown": 0.4}},
    "tiers": [
        {"contracts": {"MES": 1, "MGC": 1, "M6E": 1}},
        {"at": 15000, "contracts": {"MES": 2, "M6E": 2}, "demote_buffer": 0.05},
        {"at": 40000, "contracts": {"ES": 1, "MGC": 2, "6E": 1}, "demote_buffer": 0.1},
    ],
}


def good():
    return copy.deepcopy(GOOD)


def _fake_solve_alpha(direction, price, mu, sigma, stop_dist, target_dist, win_rate):
    _fake_solve_alpha.calls.append((direction, price, mu, sigma, stop_dist, target_dist,
                                    win_rate))
    return 0.1234 + direction


_fake_solve_alpha.calls = []


@pytest.fixture
def fake_edge(monkeypatch):
    """Replace simcore.edge by a recorder (build_plan imports it lazily)."""
    mod = types.ModuleType("simcore.edge")
    mod.solve_alpha = _fake_solve_alpha
    _fake_solve_alpha.calls = []
    monkeypatch.setitem(sys.modules, "simcore.edge", mod)
    return _fake_solve_alpha


@pytest.fixture
def any_edge(monkeypatch):
    """The real simcore.edge when it exists, else the recorder."""
    try:
        import simcore.edge  # noqa: F401
    except ImportError:
        mod = types.ModuleType("simcore.edge")
        mod.solve_alpha = _fake_solve_alpha
        monkeypatch.setitem(sys.modules, "simcore.edge", mod)


def err_of(data) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data)
    return info.value


# ----------------------------------------------------------------------------------------
# A valid scenario and its plan
# ----------------------------------------------------------------------------------------
def test_good_scenario_model():
    s = parse_scenario(good())
    assert s.name == "test" and s.capital == 10000 and s.horizon_days == 20
    assert s.market_names == ("SP500", "GOLD", "EURUSD", "CRUDE")
    assert s.traded_markets == ("SP500", "GOLD", "EURUSD")
    assert s.tier_contract_names == ("MES", "MGC", "M6E", "ES", "6E")
    assert s.asset_classes == {"SP500": "equity", "GOLD": "metal", "EURUSD": "currency",
                               "CRUDE": "energy"}
    assert s.contract_table["MES"] == CATALOG["MES"]
    assert s.first_contract("EURUSD") == "M6E" and s.first_contract("CRUDE") is None
    assert s.strategies["GOLD"].target is None
    assert s.strategies["SP500"].stop.kind == "atr" and s.strategies["SP500"].stop.value == 1.5
    with pytest.raises(TypeError):
        s.contract_table["MES"] = None                       # read-only view
    with pytest.raises(ValueError):
        s.correlation_matrix[0, 1] = 0.9                     # read-only view


def test_defaults():
    d = good()
    for k in ("name", "steps_per_day", "paths", "seed"):
        del d[k]
    del d["rules"]["margin_cap"], d["rules"]["slippage_ticks"], d["rules"]["ruin"]
    del d["tiers"][1]["demote_buffer"]
    s = parse_scenario(d, source="dir/my_plan.yaml")
    assert s.name == "my_plan" and s.source == "dir/my_plan.yaml"
    assert (s.steps_per_day, s.paths, s.seed) == (1, 10000, 7)
    assert s.rules.margin_cap is None and s.rules.slippage_ticks == 1.0
    assert s.strategies["GOLD"].max_hold_days == 0 and s.strategies["GOLD"].cooldown_days == 0
    p = build_plan(s)
    assert p.margin_cap == math.inf and p.slip_ticks == 1.0
    assert p.ruin_level == -math.inf and p.ruin_dd == math.inf
    assert p.tier_buf.tolist() == [0.0, 0.0, 0.1]
    assert p.dt == pytest.approx(1 / 252)
    assert parse_scenario(good()).name == "test"
    assert parse_scenario({k: v for k, v in good().items() if k != "name"}).name == "unnamed"


def test_build_plan_arrays():
    s = parse_scenario(good())
    p = build_plan(s)
    p.validate_arrays()
    M = 4
    assert p.market_names == ("SP500", "GOLD", "EURUSD", "CRUDE")
    assert (p.n_days, p.spd, p.capital) == (20, 2, 10000.0)
    assert p.dt == pytest.approx(1 / (252 * 2))
    np.testing.assert_allclose(p.logp0, np.log([6000, 2600, 1.08, 70]))
    np.testing.assert_array_equal(p.mu, [0.02, 0, 0, 0])
    np.testing.assert_array_equal(p.sigma, [0.18, 0.16, 0.08, 0.35])

    # correlation: unlisted pairs 0; Cholesky reproduces R; both halves equal; one regime
    R = np.eye(M)
    for a, b, v in ((0, 1, 0.05), (2, 1, 0.35), (0, 3, 0.3)):
        R[a, b] = R[b, a] = v
    np.testing.assert_array_equal(s.correlation_matrix, R)
    assert p.chol.shape == (2, 1, M, M)
    L = p.chol[0, 0]
    np.testing.assert_allclose(L @ L.T, R, atol=1e-14)
    np.testing.assert_array_equal(L, np.tril(L))
    np.testing.assert_array_equal(p.chol[0], p.chol[1])
    np.testing.assert_array_equal(p.volmult, np.ones((2, 1)))
    np.testing.assert_array_equal(p.trans_cum, [[1.0]])
    assert (p.regime0, p.win_lo, p.win_hi, p.student_nu, p.gap_common) == (0, 1, 0, 0.0, 0)
    assert not p.gap_p.any() and not p.gap_mu.any() and not p.gap_sd.any()

    # strategies (CRUDE untraded: long, no stop/target, no edge)
    assert p.dir_mode.tolist() == [LONG, BOTH, SHORT, LONG]
    assert p.stop_kind.tolist() == [STOP_ATR, STOP_FIXED, STOP_FIXED, STOP_NONE]
    np.testing.assert_allclose(p.stop_val, [1.5, 15.0, 40 * 0.0001, 0.0])  # ticks of M6E
    assert p.target_kind.tolist() == [TARGET_R, TARGET_NONE, TARGET_FIXED, TARGET_NONE]
    np.testing.assert_allclose(p.target_val, [2.0, 0.0, 0.008, 0.0])
    np.testing.assert_array_equal(p.alpha, [0.05, -0.01, 0.0, 0.0])
    assert p.alpha_source == ("alpha", "alpha", "none", "none")
    assert p.target_win_rate == (None, None, None, None)
    assert p.max_hold.tolist() == [20, 0, 0, 0]
    assert p.cooldown.tolist() == [2, 0, 0, 0]

    # contracts: tier order of first appearance, resolved fields
    assert p.contract_names == ("MES", "MGC", "M6E", "ES", "6E")
    for j, c in enumerate(p.contract_names):
        spec = CATALOG[c]
        assert (p.pv[j], p.tick[j], p.im[j], p.mm[j], p.comm[j]) == (
            spec.point_value, spec.tick_size, spec.initial_margin, spec.maintenance_margin,
            spec.commission)

    # tiers
    np.testing.assert_array_equal(p.tier_thr, [-np.inf, 15000, 40000])
    np.testing.assert_array_equal(p.tier_reach, [-np.inf, 15000, 40000])
    np.testing.assert_array_equal(p.tier_buf, [0.0, 0.05, 0.1])
    assert p.tier_contract.tolist() == [[0, 1, 2, -1], [0, -1, 2, -1], [3, 1, 4, -1]]
    assert p.tier_max.tolist() == [[1, 1, 1, 0], [2, 0, 2, 0], [1, 2, 1, 0]]
    assert p.tier_labels == (None, 15000.0, 40000.0)

    # rules: ruin level is the strictest of `below` and `below_fraction x capital`
    assert (p.risk_per_trade, p.margin_cap, p.slip_ticks) == (0.02, 0.5, 1.5)
    assert p.ruin_level == 6000.0 and p.ruin_dd == 0.4
    assert p.extras["name"] == "test" and p.extras["margins_as_of"] == MARGINS_AS_OF
    assert p.extras["asset_class"] == ("equity", "metal", "currency", "energy")


def test_plan_arrays_dtypes_and_contiguity():
    p = build_plan(parse_scenario(good()))
    for name in ("logp0", "mu", "sigma", "chol", "volmult", "trans_cum", "stop_val",
                 "target_val", "alpha", "pv", "tick", "im", "mm", "comm", "tier_thr",
                 "tier_buf", "tier_reach", "gap_p", "gap_mu", "gap_sd"):
        a = getattr(p, name)
        assert a.dtype == np.float64 and a.flags.c_contiguous, name
    for name in ("dir_mode", "stop_kind", "target_kind", "max_hold", "cooldown",
                 "tier_contract", "tier_max"):
        a = getattr(p, name)
        assert a.dtype == np.int32 and a.flags.c_contiguous, name


@pytest.mark.parametrize("first_at, reach0", [(None, -np.inf), (8000, 8000.0)])
def test_first_tier_at_is_only_a_label(first_at, reach0):
    d = good()
    if first_at is not None:
        d["tiers"][0]["at"] = first_at
    p = build_plan(parse_scenario(d))
    assert p.tier_thr[0] == -np.inf and p.tier_reach[0] == reach0
    assert p.tier_labels[0] == first_at


@pytest.mark.parametrize("ruin, level, dd", [
    ({}, -math.inf, math.inf),
    (None, -math.inf, math.inf),
    ("none", -math.inf, math.inf),
    ({"below": 2500}, 2500.0, math.inf),
    ({"below_fraction": 0.5}, 5000.0, math.inf),
    ({"below": 7000, "below_fraction": 0.5}, 7000.0, math.inf),
    ({"max_drawdown": 0.3}, -math.inf, 0.3),
    ({"below": 0}, 0.0, math.inf),
])
def test_ruin_levels(ruin, level, dd):
    d = good()
    d["rules"]["ruin"] = ruin
    p = build_plan(parse_scenario(d))
    assert p.ruin_level == level and p.ruin_dd == dd


@pytest.mark.parametrize("none", ["none", "None", None])
def test_stop_and_target_none_spellings(none):
    d = good()
    d["strategies"]["GOLD"].update(stop=none, target=none)
    p = build_plan(parse_scenario(d))
    assert p.stop_kind[1] == STOP_NONE and p.target_kind[1] == TARGET_NONE
    assert p.stop_val[1] == 0.0 and p.target_val[1] == 0.0


def test_margin_cap_none():
    d = good()
    d["rules"]["margin_cap"] = "none"
    assert build_plan(parse_scenario(d)).margin_cap == math.inf


def test_ticks_use_first_tier_that_trades_the_market():
    d = good()
    d["tiers"][0]["contracts"] = {"MES": 1}             # EURUSD first traded in tier 1 (M6E)
    d["tiers"][1]["contracts"] = {"MES": 2, "6E": 1}    # ... now with 6E, tick 0.00005
    d["strategies"].pop("GOLD")
    d["tiers"][2]["contracts"] = {"ES": 1, "M6E": 1}
    s = parse_scenario(d)
    assert s.first_contract("EURUSD") == "6E"
    assert build_plan(s).stop_val[2] == pytest.approx(40 * 0.00005)


def test_win_rate_calls_solver(fake_edge):
    d = good()
    d["strategies"]["SP500"].pop("alpha")
    d["strategies"]["SP500"]["win_rate"] = 0.4
    d["strategies"]["EURUSD"]["win_rate"] = 0.35
    d["strategies"]["GOLD"] = {"direction": "both", "stop": {"points": 15},
                               "target": {"points": 30}, "win_rate": 0.45}
    p = build_plan(parse_scenario(d))
    atr0 = ATR_K * 6000 * 0.18 / math.sqrt(252)
    (c0, c1, c2) = fake_edge.calls
    assert c0[:4] == (LONG, 6000, 0.02, 0.18) and c0[6] == 0.4
    assert c0[4] == pytest.approx(1.5 * atr0) and c0[5] == pytest.approx(3.0 * atr0)
    assert c1 == (BOTH, 2600, 0.0, 0.16, 15.0, 30.0, 0.45)
    assert c2[0] == SHORT and c2[4] == pytest.approx(0.004) and c2[5] == 0.008
    np.testing.assert_allclose(p.alpha, [1.1234, 0.1234, -0.8766, 0.0])
    assert p.alpha_source == ("win_rate", "win_rate", "win_rate", "none")
    assert p.target_win_rate == (0.4, 0.45, 0.35, None)


def test_win_rate_solver_failure_is_a_scenario_error(monkeypatch):
    mod = types.ModuleType("simcore.edge")

    def boom(*args):
        raise ValueError("win rate 0.999 cannot be reached\nsecond line")
    mod.solve_alpha = boom
    monkeypatch.setitem(sys.modules, "simcore.edge", mod)
    d = good()
    d["strategies"]["SP500"].pop("alpha")
    d["strategies"]["SP500"]["win_rate"] = 0.999
    with pytest.raises(ScenarioError) as info:
        build_plan(parse_scenario(d))
    assert str(info.value) == "strategies.SP500.win_rate: win rate 0.999 cannot be reached"


def test_win_rate_with_real_solver():
    from simcore import edge
    d = good()
    d["strategies"]["SP500"].pop("alpha")
    d["strategies"]["SP500"]["win_rate"] = 0.40
    p = build_plan(parse_scenario(d))
    atr0 = ATR_K * 6000 * 0.18 / math.sqrt(252)
    want = edge.solve_alpha(1, 6000, 0.02, 0.18, 1.5 * atr0, 3.0 * atr0, 0.40)
    assert p.alpha[0] == pytest.approx(want) and p.alpha[0] > 0


def test_correlation_matrix_form_equals_pairs():
    d = good()
    d["correlation"] = {
        "order": ["CRUDE", "GOLD", "SP500", "EURUSD"],
        "matrix": [[1.0, 0.0, 0.3, 0.0],
                   [0.0, 1.0, 0.05, 0.35],
                   [0.3, 0.05, 1.0, 0.0],
                   [0.0, 0.35, 0.0, 1.0]],
    }
    a = parse_scenario(d).correlation_matrix
    np.testing.assert_array_equal(a, parse_scenario(good()).correlation_matrix)


@pytest.mark.parametrize("corr", [None, {}])
def test_no_correlation_is_identity(corr):
    d = good()
    d["correlation"] = corr
    np.testing.assert_array_equal(build_plan(parse_scenario(d)).chol[0, 0], np.eye(4))


def test_scenario_without_contracts_builds():
    d = good()
    d["strategies"] = {}
    d["tiers"] = [{"contracts": {}}]
    p = build_plan(parse_scenario(d))
    assert p.contract_names == () and p.pv.shape == (0,)
    assert (p.tier_contract == -1).all()


# ----------------------------------------------------------------------------------------
# Catalog
# ----------------------------------------------------------------------------------------
SPEC_TABLE = {
    "SP500": (("MES", 5, 0.25), ("ES", 50, 0.25)),
    "NASDAQ100": (("MNQ", 2, 0.25), ("NQ", 20, 0.25)),
    "DOW": (("MYM", 0.5, 1), ("YM", 5, 1)),
    "RUSSELL2000": (("M2K", 5, 0.1), ("RTY", 50, 0.1)),
    "GOLD": (("MGC", 10, 0.1), ("GC", 100, 0.1)),
    "SILVER": (("SIL", 1000, 0.005), ("SI", 5000, 0.005)),
    "CRUDE": (("MCL", 100, 0.01), ("CL", 1000, 0.01)),
    "EURUSD": (("M6E", 12500, 0.0001), ("6E", 125000, 0.00005)),
    "GBPUSD": (("M6B", 6250, 0.0001), ("6B", 62500, 0.0001)),
}


def test_catalog_matches_spec_table():
    assert MARGINS_AS_OF == "2026-11"
    assert len(CATALOG) == 18
    for market, rows in SPEC_TABLE.items():
        assert catalog.DEFAULT_ASSET_CLASS[market] in catalog.ASSET_CLASSES
        for name, pv, tick in rows:
            c = CATALOG[name]
            assert (c.market, c.point_value, c.tick_size) == (market, pv, tick)
            assert 0 < c.maintenance_margin <= c.initial_margin
            assert c.initial_margin == pytest.approx(1.1 * c.maintenance_margin, abs=1)
            assert 0 < c.commission < 5
        micro, full = CATALOG[rows[0][0]], CATALOG[rows[1][0]]
        assert micro.initial_margin < full.initial_margin
        assert catalog.MICRO_OF[rows[1][0]] == rows[0][0]
    with pytest.raises(TypeError):
        CATALOG["MES"] = None


def test_catalog_override_one_field():
    d = good()
    d["contracts"] = {"MES": {"commission": 1.5}}
    s = parse_scenario(d)
    mes = s.contract_table["MES"]
    assert mes.commission == 1.5
    for f in CONTRACT_FIELDS:
        if f != "commission":
            assert getattr(mes, f) == getattr(CATALOG["MES"], f)
    assert CATALOG["MES"].commission == 0.62                 # the catalog is untouched
    assert build_plan(s).comm[0] == 1.5


def test_override_market_of_a_catalog_contract():
    d = good()
    d["markets"] = {"SPX": d["markets"].pop("SP500"), **d["markets"]}
    d["correlation"] = {"SPX/GOLD": 0.05}
    d["strategies"]["SPX"] = d["strategies"].pop("SP500")
    d["contracts"] = {"MES": {"market": "SPX"}, "ES": {"market": "SPX"}}
    p = build_plan(parse_scenario(d))
    assert p.market_names[0] == "SPX" and p.tier_contract[0, 0] == 0


def test_new_contract_with_all_six_fields():
    d = good()
    d["contracts"] = {"XSP": {"market": "SP500", "point_value": 1.0, "tick_size": 0.05,
                              "initial_margin": 550, "maintenance_margin": 500,
                              "commission": 0.3}}
    d["tiers"][0]["contracts"] = {"XSP": 3, "MGC": 1, "M6E": 1}
    s = parse_scenario(d)
    p = build_plan(s)
    assert p.contract_names[0] == "XSP" and p.tier_max[0, 0] == 3
    assert (p.pv[0], p.tick[0], p.im[0], p.mm[0], p.comm[0]) == (1.0, 0.05, 550, 500, 0.3)


@pytest.mark.parametrize("missing", CONTRACT_FIELDS)
def test_new_contract_missing_a_field(missing):
    d = good()
    full = {"market": "SP500", "point_value": 1.0, "tick_size": 0.05, "initial_margin": 550,
            "maintenance_margin": 500, "commission": 0.3}
    del full[missing]
    d["contracts"] = {"XSP": full}
    e = err_of(d)
    assert e.field == f"contracts.XSP.{missing}" and e.problem.startswith("missing")


# ----------------------------------------------------------------------------------------
# Validation: one rule per case. (mutation, exact dotted field, words in the problem)
# ----------------------------------------------------------------------------------------
def _set(path, value):
    def mut(d):
        node = d
        for k in path[:-1]:
            node = node[k]
        node[path[-1]] = value
    return mut


def _del(path):
    def mut(d):
        node = d
        for k in path[:-1]:
            node = node[k]
        del node[path[-1]]
    return mut


def _both(*muts):
    def mut(d):
        for m in muts:
            m(d)
    return mut


BAD = [
    # top level: presence, types, ranges
    (_del(["capital"]), "capital", "missing"),
    (_del(["horizon_days"]), "horizon_days", "missing"),
    (_del(["markets"]), "markets", "missing"),
    (_del(["strategies"]), "strategies", "missing"),
    (_del(["rules"]), "rules", "missing"),
    (_del(["tiers"]), "tiers", "missing"),
    (_set(["capital"], 0), "capital", "> 0"),
    (_set(["capital"], "5000"), "capital", "must be a number"),
    (_set(["capital"], True), "capital", "must be a number"),
    (_set(["capital"], float("nan")), "capital", "finite"),
    (_set(["horizon_days"], 75.5), "horizon_days", "must be an integer"),
    (_set(["horizon_days"], "756"), "horizon_days", "must be an integer"),
    (_set(["horizon_days"], 0), "horizon_days", ">= 1"),
    (_set(["steps_per_day"], 0), "steps_per_day", ">= 1"),
    (_set(["paths"], 0), "paths", ">= 1"),
    (_set(["seed"], -1), "seed", ">= 0"),
    (_set(["name"], 5), "name", "must be a string"),
    (_set(["name"], ""), "name", "empty"),
    (_set(["captial"], 5000), "captial", "unknown key (did you mean capital?)"),
    # markets
    (_set(["markets"], {}), "markets", "empty"),
    (_set(["markets"], [1, 2]), "markets", "mapping"),
    (_set(["markets", "CRUDE", "vol"], 0), "markets.CRUDE.vol", "must be > 0"),
    (_set(["markets", "CRUDE", "vol"], 35), "markets.CRUDE.vol", "0.18 means 18%"),
    (_set(["markets", "CRUDE", "price"], -70), "markets.CRUDE.price", "must be > 0"),
    (_del(["markets", "CRUDE", "price"]), "markets.CRUDE.price", "missing"),
    (_set(["markets", "CRUDE", "drift"], 5), "markets.CRUDE.drift", "<= 1"),
    (_set(["markets", "CRUDE", "asset_class"], "oil"), "markets.CRUDE.asset_class",
     "must be one of equity, metal, energy"),
    (_set(["markets", "CRUDE"], 70), "markets.CRUDE", "mapping"),
    (_set(["markets", "S&P"], {"price": 1, "vol": 0.1}), "markets.S&P", "invalid name"),
    (_set(["markets", 7], {"price": 1, "vol": 0.1}), "markets.7", "name must be a string"),
    # correlation
    (_set(["correlation", "SP500/GLD"], 0.1), "correlation.SP500/GLD",
     "unknown market GLD (did you mean GOLD?)"),
    (_set(["correlation", "GOLD/SP500"], 0.1), "correlation.GOLD/SP500", "listed twice"),
    (_set(["correlation", "SP500-CRUDE"], 0.1), "correlation.SP500-CRUDE", "A/B"),
    (_set(["correlation", "GOLD/GOLD"], 1), "correlation.GOLD/GOLD", "itself"),
    (_set(["correlation", "SP500/EURUSD"], 1.2), "correlation.SP500/EURUSD", "<= 1"),
    (_set(["correlation", "SP500/EURUSD"], "high"), "correlation.SP500/EURUSD", "number"),
    (_set(["correlation"], {"SP500/GOLD": 0.9, "GOLD/EURUSD": 0.9, "SP500/EURUSD": -0.9}),
     "correlation", "not positive semi-definite (smallest eigenvalue -"),
    # +1 with A and with C but 0 between A and C: indefinite (a +1 pair alone is fine, issue 9)
    (_set(["correlation"], {"SP500/GOLD": 1.0, "GOLD/EURUSD": 1.0}), "correlation",
     "not positive semi-definite"),
    (_set(["correlation"], [0.1]), "correlation", "mapping"),
    (_set(["correlation"], {"matrix": [[1.0, 0.0], [0.0, 1.0]],
                            "order": ["SP500", "GOLD"]}), "correlation.order",
     "missing market EURUSD"),
    (_set(["correlation"], {"matrix": [[1.0]]}), "correlation.order", "missing"),
    (_set(["correlation"], {"order": ["SP500", "GOLD", "EURUSD", "CRUDE"]}),
     "correlation.matrix", "missing"),
    (_set(["correlation"], {"order": ["SP500", "GOLD", "EURUSD", "GLD"],
                            "matrix": np.eye(4).tolist()}), "correlation.order[3]",
     "unknown market GLD"),
    (_set(["correlation"], {"order": ["SP500", "GOLD", "EURUSD", "GOLD"],
                            "matrix": np.eye(4).tolist()}), "correlation.order[3]",
     "listed twice"),
    (_set(["correlation"], {"order": ["SP500", "GOLD", "EURUSD", "CRUDE"],
                            "matrix": np.eye(3).tolist()}), "correlation.matrix", "4 x 4"),
    (_set(["correlation"], {"order": ["SP500", "GOLD", "EURUSD", "CRUDE"],
                            "matrix": [[1, .2, 0, 0], [.3, 1, 0, 0], [0, 0, 1, 0],
                                       [0, 0, 0, 1]]}), "correlation.matrix",
     "not symmetric (SP500/GOLD is 0.2 but GOLD/SP500 is 0.3)"),
    (_set(["correlation"], {"order": ["SP500", "GOLD", "EURUSD", "CRUDE"],
                            "matrix": [[1, 0, 0, 0], [0, 0.9, 0, 0], [0, 0, 1, 0],
                                       [0, 0, 0, 1]]}), "correlation.matrix",
     "diagonal must be 1"),
    (_set(["correlation"], {"order": ["SP500", "GOLD", "EURUSD", "CRUDE"],
                            "matrix": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1.5],
                                       [0, 0, 1.5, 1]]}), "correlation.matrix[2][3]",
     "between -1 and 1"),
    (_set(["correlation"], {"order": ["SP500", "GOLD", "EURUSD", "CRUDE"],
                            "matrix": [[1, 0.9, 0.9, 0], [0.9, 1, -0.9, 0],
                                       [0.9, -0.9, 1, 0], [0, 0, 0, 1]]}),
     "correlation", "not positive semi-definite"),
    (_set(["correlation"], {"order": ["SP500", "GOLD", "EURUSD", "CRUDE"],
                            "matrix": [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, "x"],
                                       [0, 0, 0, 1]]}), "correlation.matrix[2][3]", "number"),
    # contracts
    (_set(["contracts"], {"MES": {"maintenance_margin": 3000}}),
     "contracts.MES.maintenance_margin", "must be <= initial_margin (3000 > 2420)"),
    (_set(["contracts"], {"MES": {"initial_margin": 0}}), "contracts.MES.initial_margin", "> 0"),
    (_set(["contracts"], {"MES": {"maintenance_margin": -1}}),
     "contracts.MES.maintenance_margin", "> 0"),
    (_set(["contracts"], {"MES": {"commission": -0.1}}), "contracts.MES.commission", ">= 0"),
    (_set(["contracts"], {"MES": {"tick_size": 0}}), "contracts.MES.tick_size", "> 0"),
    (_set(["contracts"], {"MES": {"point_value": "5"}}), "contracts.MES.point_value", "number"),
    (_set(["contracts"], {"MES": {"margin": 5}}), "contracts.MES.margin", "unknown key"),
    # strategies
    (_set(["strategies", "GOLD", "direction"], "up"), "strategies.GOLD.direction",
     "must be one of long, short, both"),
    (_del(["strategies", "GOLD", "direction"]), "strategies.GOLD.direction", "missing"),
    (_del(["strategies", "GOLD", "stop"]), "strategies.GOLD.stop", "missing"),
    (_del(["strategies", "GOLD", "target"]), "strategies.GOLD.target", "missing"),
    (_set(["strategies", "GOLD", "stop"], {"atr": 1, "points": 3}), "strategies.GOLD.stop",
     "exactly one of atr, points, ticks"),
    (_set(["strategies", "GOLD", "stop"], {}), "strategies.GOLD.stop", "exactly one"),
    (_set(["strategies", "GOLD", "stop"], 1.5), "strategies.GOLD.stop",
     "must be {atr: k}, {points: x}, {ticks: n} or none"),
    (_set(["strategies", "GOLD", "stop"], "wide"), "strategies.GOLD.stop", "or none"),
    (_set(["strategies", "GOLD", "stop"], {"atr": 0}), "strategies.GOLD.stop.atr", "> 0"),
    (_set(["strategies", "GOLD", "stop"], {"atr": "none"}), "strategies.GOLD.stop.atr",
     "number"),
    (_set(["strategies", "GOLD", "stop"], {"ticks": 2.5}), "strategies.GOLD.stop.ticks",
     "integer"),
    (_set(["strategies", "GOLD", "stop"], {"points": -1}), "strategies.GOLD.stop.points", "> 0"),
    (_set(["strategies", "GOLD", "stop"], {"points": 3000}), "strategies.GOLD.stop",
     "not below the price 2600"),
    (_set(["strategies", "GOLD", "target"], {"r": 2, "points": 5}), "strategies.GOLD.target",
     "exactly one of r, points"),
    (_set(["strategies", "GOLD", "target"], {"r": 0}), "strategies.GOLD.target.r", "> 0"),
    (_set(["strategies", "GOLD", "target"], 2.0), "strategies.GOLD.target",
     "must be {r: m}, {points: x} or none"),
    (_set(["strategies", "EURUSD", "target"], {"points": 2}), "strategies.EURUSD.target",
     "not below the price"),
    (_both(_set(["strategies", "GOLD", "stop"], "none"),
           _set(["strategies", "GOLD", "target"], {"r": 2})), "strategies.GOLD.target",
     "needs a stop"),
    (_set(["strategies", "GOLD", "win_rate"], 0.4), "strategies.GOLD.win_rate",
     "alpha or win_rate, not both"),
    (_both(_del(["strategies", "GOLD", "alpha"]),
           _set(["strategies", "GOLD", "win_rate"], 0.4)), "strategies.GOLD.win_rate",
     "needs both a stop and a target"),
    (_both(_del(["strategies", "GOLD", "alpha"]),
           _set(["strategies", "GOLD", "stop"], None),
           _set(["strategies", "GOLD", "win_rate"], 0.4)), "strategies.GOLD.win_rate",
     "needs both a stop and a target"),
    (_set(["strategies", "SP500", "win_rate"], 1.0), "strategies.SP500.win_rate", "< 1"),
    (_set(["strategies", "SP500", "win_rate"], 0), "strategies.SP500.win_rate", "> 0"),
    (_set(["strategies", "SP500", "alpha"], "big"), "strategies.SP500.alpha", "number"),
    (_set(["strategies", "SP500", "max_hold_days"], -1), "strategies.SP500.max_hold_days",
     ">= 0"),
    (_set(["strategies", "SP500", "max_hold_days"], 2.5), "strategies.SP500.max_hold_days",
     "integer"),
    (_set(["strategies", "SP500", "cooldown_days"], -2), "strategies.SP500.cooldown_days",
     ">= 0"),
    (_set(["strategies", "GLD"], {"direction": "long", "stop": None, "target": None}),
     "strategies.GLD", "unknown market GLD (did you mean GOLD?)"),
    (_del(["strategies", "EURUSD"]), "strategies.EURUSD", "missing (tiers[0] trades it with M6E)"),
    (_set(["strategies", "CRUDE"], {"direction": "long", "stop": None, "target": None}),
     "strategies.CRUDE", "not traded in any tier"),
    # rules
    (_del(["rules", "risk_per_trade"]), "rules.risk_per_trade", "missing"),
    (_set(["rules", "risk_per_trade"], 0), "rules.risk_per_trade", "> 0"),
    (_set(["rules", "risk_per_trade"], 1.5), "rules.risk_per_trade",
     "<= 1 (a fraction: 0.02 means 2%)"),
    (_set(["rules", "margin_cap"], 0), "rules.margin_cap", "> 0"),
    (_set(["rules", "margin_cap"], 1.2), "rules.margin_cap", "<= 1"),
    (_set(["rules", "margin_cap"], "off"), "rules.margin_cap", "must be a number or none"),
    (_set(["rules", "slippage_ticks"], -1), "rules.slippage_ticks", ">= 0"),
    (_set(["rules", "ruin"], {"below_fraction": 1.0}), "rules.ruin.below_fraction", "< 1"),
    (_set(["rules", "ruin"], {"below_fraction": 0}), "rules.ruin.below_fraction", "> 0"),
    (_set(["rules", "ruin"], {"max_drawdown": 1.0}), "rules.ruin.max_drawdown", "< 1"),
    (_set(["rules", "ruin"], {"below": -5}), "rules.ruin.below", ">= 0"),
    (_set(["rules", "ruin"], {"below": 10000}), "rules.ruin.below", "below capital"),
    (_set(["rules", "ruin"], "never"), "rules.ruin", "mapping"),
    # tiers
    (_set(["tiers"], []), "tiers", "empty"),
    (_set(["tiers"], {"at": 5000}), "tiers", "must be a list"),
    (_set(["tiers", 2, "at"], 12000), "tiers[2].at", "above the previous tier's (15000)"),
    (_set(["tiers", 2, "at"], 15000), "tiers[2].at", "above the previous tier's"),
    (_del(["tiers", 1, "at"]), "tiers[1].at", "only the first tier may omit it"),
    (_set(["tiers", 1, "at"], 0), "tiers[1].at", "> 0"),
    (_del(["tiers", 1, "contracts"]), "tiers[1].contracts", "missing"),
    (_set(["tiers", 1, "contracts", "MES"], 0), "tiers[1].contracts.MES", ">= 1"),
    (_set(["tiers", 1, "contracts", "MES"], 1.5), "tiers[1].contracts.MES", "integer"),
    (_set(["tiers", 1, "contracts", "MESS"], 1), "tiers[1].contracts.MESS",
     "unknown contract (did you mean MES?)"),
    (_set(["tiers", 1, "contracts", "ZZZZ"], 1), "tiers[1].contracts.ZZZZ",
     "unknown contract: not in the built-in catalog"),
    # MCL trades CRUDE, which is listed under markets but has no strategy
    (_set(["tiers", 1, "contracts", "MCL"], 1), "strategies.CRUDE",
     "missing (tiers[1] trades it with MCL)"),
    (_set(["tiers", 1, "contracts", "M6B"], 1), "tiers[1].contracts.M6B",
     "trades GBPUSD, which is not listed under markets"),
    (_set(["tiers", 1, "contracts", "ES"], 1), "tiers[1].contracts",
     "MES and ES both trade SP500"),
    (_set(["tiers", 1, "demote_buffer"], 1.0), "tiers[1].demote_buffer", "< 1"),
    (_set(["tiers", 1, "demote_buffer"], -0.1), "tiers[1].demote_buffer", ">= 0"),
    (_set(["tiers", 0, "demote_buffer"], 0.1), "tiers[0].demote_buffer", "first tier"),
]


@pytest.mark.parametrize("mutate, field, words", BAD,
                         ids=[f"{i}-{f}" for i, (_, f, _) in enumerate(BAD)])
def test_validation_rule(mutate, field, words):
    d = good()
    mutate(d)
    e = err_of(d)
    assert e.field == field, str(e)
    assert words in e.problem, str(e)
    assert str(e) == f"{field}: {e.problem}"
    assert "\n" not in str(e) and "pydantic" not in str(e).lower()
    assert "Input should" not in str(e)


UNKNOWN_KEY_AT = [
    ([], "capitol", "capitol"),
    (["markets", "GOLD"], "volatility", "markets.GOLD.volatility"),
    (["strategies", "SP500"], "stopp", "strategies.SP500.stopp"),
    (["strategies", "SP500", "stop"], "atrs", "strategies.SP500.stop.atrs"),
    (["strategies", "SP500", "target"], "rr", "strategies.SP500.target.rr"),
    (["rules"], "risk", "rules.risk"),
    (["rules", "ruin"], "below_pct", "rules.ruin.below_pct"),
    (["tiers", 1], "buffer", "tiers[1].buffer"),
]


@pytest.mark.parametrize("where, key, field", UNKNOWN_KEY_AT)
def test_unknown_key_at_every_level(where, key, field):
    d = good()
    node = d
    for k in where:
        node = node[k]
    node[key] = 1
    e = err_of(d)
    assert e.field == field and e.problem.startswith("unknown key"), str(e)


def test_unknown_key_in_contracts_and_correlation_matrix():
    d = good()
    d["contracts"] = {"MES": {"comission": 1.0}}
    e = err_of(d)
    assert str(e) == "contracts.MES.comission: unknown key (did you mean commission?)"
    d = good()
    d["correlation"] = {"order": list(d["markets"]), "matrix": np.eye(4).tolist(), "size": 4}
    assert str(err_of(d)) == "correlation.size: unknown key"


def test_typo_reported_before_the_missing_key_it_causes():
    d = good()
    d["horizon"] = d.pop("horizon_days")
    assert str(err_of(d)) == "horizon: unknown key (did you mean horizon_days?)"


def test_not_a_mapping_and_empty():
    with pytest.raises(ScenarioError, match=r"^x\.yaml: must be a mapping of keys, not a list$"):
        parse_scenario([1, 2], source="x.yaml")
    with pytest.raises(ScenarioError, match=r"^x\.yaml: is empty$"):
        parse_scenario(None, source="x.yaml")


# ----------------------------------------------------------------------------------------
# YAML loading
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, field", [
    ("capital: 1\ncapital: 2\n", "capital"),
    ("markets:\n  SP500: {price: 1, vol: 0.1}\n  SP500: {price: 2, vol: 0.1}\n",
     "markets.SP500"),
    ("rules:\n  ruin: {below: 1, below: 2}\n", "rules.ruin.below"),
    ("tiers:\n  - {at: 1, contracts: {}}\n  - at: 2\n    at: 3\n", "tiers[1].at"),
    ("correlation:\n  A/B: 0.1\n  A/B: 0.2\n", "correlation.A/B"),
])
def test_duplicate_yaml_keys(text, field):
    with pytest.raises(ScenarioError) as info:
        load_yaml(text, "f.yaml")
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: duplicate key (line")


def test_duplicate_key_in_a_file(tmp_path):
    text = (ROOT / "scenarios" / "single_mes.yaml").read_text()
    f = tmp_path / "dup.yaml"
    f.write_text(text + "\nmarkets:\n  SP500: {price: 1, vol: 0.1}\n")
    with pytest.raises(ScenarioError, match=r"^markets: duplicate key \(lines \d+ and \d+\)$"):
        load_scenario(f)


def test_yaml_numbers_and_merge_keys():
    # YAML 1.2, decimal numbers only: 1_000 is a string (issue 9), which the types refuse
    assert load_yaml("a: 1e-4\nb: 2.5E3\nc: -3e2\nd: 1_000\n") == \
        {"a": 1e-4, "b": 2500.0, "c": -300.0, "d": "1_000"}
    assert load_yaml("base: &b {x: 1}\nm: {<<: *b, y: 2}\n")["m"] == {"x": 1, "y": 2}


def test_yaml_syntax_and_file_errors(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text("capital: [1, 2\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(f)
    assert info.value.field == str(f) and "invalid YAML at line" in info.value.problem
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(tmp_path / "missing.yaml")
    with pytest.raises(ScenarioError, match="is a directory"):
        load_scenario(tmp_path)
    f.write_text("!!python/object:os.system {}\n")
    with pytest.raises(ScenarioError, match="invalid YAML"):
        load_scenario(f)
    f.write_text("")
    with pytest.raises(ScenarioError, match="is empty"):
        load_scenario(f)


def test_load_scenario_from_file(tmp_path):
    import yaml
    f = tmp_path / "plan.yaml"
    f.write_text(yaml.safe_dump(good(), sort_keys=False))
    s = load_scenario(f)
    assert s.source == str(f) and s.market_names == ("SP500", "GOLD", "EURUSD", "CRUDE")
    want = build_plan(parse_scenario(good())).tier_max
    np.testing.assert_array_equal(build_plan(s).tier_max, want)


# ----------------------------------------------------------------------------------------
# Shipped scenarios
# ----------------------------------------------------------------------------------------
def test_scenarios_exist():
    names = {p.name for p in SCENARIOS}
    assert {"5k_four_asset.yaml", "single_mes.yaml", "conservative_10k.yaml",
            "aggressive_3k.yaml"} <= names


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_every_scenario_loads_and_builds(path, any_edge):
    s = load_scenario(path)
    p = build_plan(s)
    p.validate_arrays()
    assert np.isfinite(p.alpha).all()
    assert p.K == len(s.tiers) and p.M == len(s.markets)
    L = p.chol[0, 0]
    np.testing.assert_allclose(L @ L.T, s.regime_correlations[0], atol=1e-12)   # first regime


def test_article_scenario_encodes_the_article(any_edge):
    s = load_scenario(ROOT / "scenarios" / "5k_four_asset.yaml")
    p = build_plan(s)
    assert s.capital == 5000 and s.horizon_days == 756
    assert s.rules.risk_per_trade == 0.015 and s.rules.margin_cap == 0.20
    assert p.ruin_level == 2500.0
    assert [t.at for t in s.tiers] == [5000, 7500, 10000, 25000]
    assert s.tiers[0].contracts == {"MES": 1, "MGC": 1, "MCL": 1, "M6E": 1}
    assert s.tiers[1].contracts["MES"] == 2 and "ES" in s.tiers[-1].contracts
    # one contract of each fits the 1.5% risk budget at the start (SPEC 5 per-contract risk)
    for m in s.market_names:
        c = s.contract_table[s.first_contract(m)]
        risk = (s.stop_distance0(m) * c.point_value + s.rules.slippage_ticks * c.tick_size
                * c.point_value + 2 * c.commission)
        assert risk <= 0.015 * 5000, m


# ----------------------------------------------------------------------------------------
# Robustness: any value anywhere gives a Scenario or a one-line ScenarioError
# ----------------------------------------------------------------------------------------
def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


JUNK = [None, [], {}, "x", "none", -1, 0, 10**30, 1e308, -1e308, float("inf"), True, [1], {"a": 1}]


@pytest.mark.parametrize("path", [p for p in _paths(GOOD) if p],
                         ids=lambda p: ".".join(map(str, p)))
def test_junk_values_never_escape_as_other_errors(path, fake_edge):
    for junk in JUNK:
        d = good()
        _set(list(path), copy.deepcopy(junk))(d)
        try:
            build_plan(parse_scenario(d))
        except ScenarioError as e:
            assert "\n" not in str(e) and str(e).startswith(e.field), str(e)


def test_scenario_pickles_and_copies():
    import pickle
    s = parse_scenario(good(), source="x.yaml")
    for t in (pickle.loads(pickle.dumps(s)), copy.deepcopy(s)):
        assert t.source == "x.yaml" and t.contract_table["MES"] == CATALOG["MES"]
        np.testing.assert_array_equal(t.correlation_matrix, s.correlation_matrix)
        assert build_plan(t).tier_max.tolist() == build_plan(s).tier_max.tolist()


def test_model_validate_alone_is_not_resolved():
    from simcore.scenario import Scenario
    s = Scenario.model_validate(good())
    with pytest.raises(RuntimeError, match="parse_scenario"):
        s.contract_table


# ----------------------------------------------------------------------------------------
# Plausibility warnings (plan.extras["warnings"], printed by the CLI)
# ----------------------------------------------------------------------------------------
def _single(**over):
    d = {"capital": 5000, "horizon_days": 10,
         "markets": {"SP500": {"price": 6000, "vol": 0.18}},
         "strategies": {"SP500": {"direction": "long", "stop": {"atr": 0.1},
                                  "target": {"r": 2.0}}},
         "rules": {"risk_per_trade": 0.015, "margin_cap": "none"},
         "tiers": [{"contracts": {"MES": 1}}]}
    for k, v in over.items():
        d[k] = v
    return build_plan(parse_scenario(d)).extras["warnings"]


def test_warning_margin_cap_blocks_the_start():
    (w,) = _single(rules={"risk_per_trade": 0.015, "margin_cap": 0.2}, steps_per_day=16)
    assert w.startswith("SP500: no entry at the start") and "$12,100" in w and "margin cap" in w


def test_warning_risk_budget_and_funds():
    (w,) = _single(capital=2000, steps_per_day=16,
                   strategies={"SP500": {"direction": "long", "stop": {"points": 20},
                                         "target": None}})
    # one MES risks 20 x 5 + 0.25 x 5 + 2 x 0.62 = 102.49 > 1.5% of 2000; margin 2420 > 2000
    assert "one MES risks $102" in w and "above the equity" in w and "$6,833 of equity" in w


def test_no_time_grid_warning_for_tight_stops():
    """A stop a tenth of an ATR at one step a day used to draw a warning (the stop-first rule
    lost wins when a step crossed both barriers). Exits are now exact at any grid (SPEC 4;
    tests/test_corridor.py realizes the stated win rate there), so nothing is said."""
    assert _single() == ()                            # 0.1 ATR stop at 1 step a day
    # one tick (0.25 points, 1/270 of a daily sd); a stop under a tick is refused (issue 9)
    assert _single(strategies={"SP500": {"direction": "long", "stop": {"ticks": 1},
                                         "target": {"r": 2.0}}}) == ()


def test_no_warnings_for_a_plausible_scenario(any_edge):
    plan = build_plan(load_scenario(ROOT / "scenarios" / "single_mes.yaml"))
    assert plan.extras["warnings"] == ()
