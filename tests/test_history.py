"""Real history as the price model (SPEC 11, `history:`): replay and the stationary bootstrap.

The history is arch's S&P 500 / Nasdaq daily bars (arch.data, shipped with the `arch` package
under its permissive licence), written to CSV files in a temporary folder: nothing is read
from the network and no data is vendored.
"""
import math
import sys

import numpy as np
import pandas as pd
import pytest

from plan_factory import random_plan, streams
from simcore import _kernel, _kernel_python
from simcore._plan import BlockOutput, HIST_BOOTSTRAP, block_streams
from simcore.build import build_plan
from simcore.errors import ScenarioError
from simcore.history import POOL_FIRST, build_pool, history_fields, replay_interval
from simcore.runner import simulate
from simcore.scenario import parse_scenario

arch_data = pytest.importorskip("arch.data.sp500")

FIELDS = BlockOutput.PER_PATH + BlockOutput.PER_BLOCK


def _write(df, path):
    df = df.copy()
    df.index.name = "Date"
    df.to_csv(path)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from arch.data import nasdaq, sp500
    d = tmp_path_factory.mktemp("history")
    _write(sp500.load(), d / "sp500.csv")
    _write(nasdaq.load(), d / "nasdaq.csv")
    _write(sp500.load().loc["2010-01-01":"2010-06-30"], d / "sp500_short.csv")
    _write(sp500.load().loc[:"2003-12-31"], d / "sp500_early.csv")
    _write(nasdaq.load().loc["2010-01-01":], d / "nasdaq_late.csv")
    return d


def plan_dict(**over):
    base = {
        "name": "history test", "capital": 30000, "horizon_days": 252, "paths": 500, "seed": 3,
        "markets": {"SP500": {"price": 2000, "vol": 0.18}},
        "contracts": {"MES": {"commission": 0.0}},
        "strategies": {"SP500": {"direction": "long", "stop": "none", "target": "none"}},
        "rules": {"risk_per_trade": 0.01, "margin_cap": "none", "slippage_ticks": 0,
                  "ruin": {"below_fraction": 0.97}},
        "tiers": [{"contracts": {"MES": 1}}],
        "history": {"files": {"SP500": "sp500.csv"}, "mode": "replay", "scale": "actual"},
    }
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            base[k] = {**base[k], **v}
        else:
            base[k] = v
    return base


def load(data_dir, **over):
    return parse_scenario(plan_dict(**over), source=str(data_dir / "plan.yaml"))


def bars(data_dir, name="sp500.csv"):
    df = pd.read_csv(data_dir / name, index_col=0, parse_dates=True)
    o, h, l, c = (df[k].to_numpy(float) for k in ("Open", "High", "Low", "Close"))
    h = np.maximum.reduce([h, o, c])          # the documented cleaning (stale opens)
    l = np.minimum.reduce([l, o, c])
    return o, h, l, c


def run(plan, paths, seed=3, jobs=1):
    return simulate(plan, paths, seed, jobs=jobs, record_equity=False)


# ---- replay against direct computations ------------------------------------------------------

def test_replay_buy_and_hold_equals_direct_computation(data_dir):
    """One MES bought at the first open and held: ruin and final equity over every window,
    computed directly from the CSV with pandas/numpy, equal the replay's."""
    scn = load(data_dir)
    plan = build_plan(scn)
    n = plan.hist_nstart
    out = run(plan, n)
    o, h, l, c = bars(data_dir)
    T = 252
    level = 0.97 * 30000
    B = len(c)
    assert n == B - POOL_FIRST - T + 1
    ruined = np.zeros(n, bool)
    final = np.zeros(n)
    for i in range(n):
        s = POOL_FIRST + i
        eq = 30000 + 5.0 * (c[s:s + T] - o[s])
        hit = np.flatnonzero(eq < level)
        ruined[i] = len(hit) > 0
        final[i] = eq[hit[0]] if len(hit) else eq[-1]
    assert 0 < ruined.sum() < n
    assert abs(out.ruined.mean() - ruined.mean()) <= 1e-12
    assert np.array_equal(out.ruined.astype(bool), ruined)
    q = [0.05, 0.25, 0.5, 0.75, 0.95]
    np.testing.assert_allclose(np.quantile(out.final_equity, q), np.quantile(final, q),
                               rtol=1e-12)
    np.testing.assert_allclose(out.final_equity, final, rtol=1e-12)
    assert out.trades.sum() == n


def _direct_backtest(o, h, l, c, start, T, *, capital, stop_d, target_d, hold, slip, comm, pv,
                     level):
    """A plain bar-by-bar back-test of the stop/target rule (one contract, long, stop first
    when both levels are inside a bar): trades, wins, ruined."""
    cash = capital
    pos = None
    trades = wins = 0
    next_entry = 0

    def close(fill, t):
        nonlocal cash, pos, trades, wins, next_entry
        pnl = pv * (fill - pos["entry"]) - 2 * comm
        cash += pv * (fill - pos["entry"]) - comm
        trades += 1
        wins += pnl > 0
        pos = None
        next_entry = t + 1

    for t in range(T):
        d = start + t
        if pos is not None:
            if o[d] <= pos["stop"]:
                close(o[d] - slip, t)
            elif o[d] >= pos["target"]:
                close(o[d], t)
        if pos is None and t >= next_entry:
            fill = o[d] + slip
            pos = {"entry": fill, "stop": fill - stop_d, "target": fill + target_d, "held": 0}
            cash -= comm
        if pos is not None:
            pos["held"] += 1
            if l[d] <= pos["stop"]:
                close(pos["stop"] - slip, t)
            elif h[d] >= pos["target"]:
                close(pos["target"], t)
            elif pos["held"] >= hold:
                close(c[d] - slip, t)
        E = cash + (pv * (c[d] - pos["entry"]) if pos is not None else 0.0)
        if E < level:
            if pos is not None:
                close(c[d] - slip, t)
            return trades, wins, True
    if pos is not None:
        close(c[start + T - 1], T)
    return trades, wins, False


def test_replay_stop_target_equals_bar_by_bar_backtest(data_dir):
    """Fixed stop and target (off the 0.01 price grid, so no level equals a real price), a
    time stop, slippage and commissions, intraday_order stop_first: per-window trades, wins and
    ruin equal a plain back-test written here."""
    stop_d, target_d = 30.137, 61.371
    scn = load(data_dir, capital=20000,
               contracts={"MES": {"commission": 0.62}},
               strategies={"SP500": {"direction": "long", "stop": {"points": stop_d},
                                     "target": {"points": target_d}, "max_hold_days": 5}},
               rules={"risk_per_trade": 0.5, "margin_cap": "none", "slippage_ticks": 1,
                      "ruin": {"below_fraction": 0.93}},
               history={"files": {"SP500": "sp500.csv"}, "mode": "replay", "scale": "actual",
                        "intraday_order": "stop_first"})
    plan = build_plan(scn)
    n = plan.hist_nstart
    out = run(plan, n)
    o, h, l, c = bars(data_dir)
    exp_trades = np.zeros(n, int)
    exp_wins = np.zeros(n, int)
    exp_ruin = np.zeros(n, bool)
    for i in range(n):
        exp_trades[i], exp_wins[i], exp_ruin[i] = _direct_backtest(
            o, h, l, c, POOL_FIRST + i, 252, capital=20000, stop_d=stop_d, target_d=target_d,
            hold=5, slip=0.25, comm=0.62, pv=5.0, level=0.93 * 20000)
    assert 0 < exp_ruin.sum() < n
    np.testing.assert_array_equal(out.trades, exp_trades)
    np.testing.assert_array_equal(out.wins, exp_wins)
    np.testing.assert_array_equal(out.ruined.astype(bool), exp_ruin)
    assert out.skipped.sum() == 0 and out.margin_calls.sum() == 0


# ---- the bootstrap's dates ---------------------------------------------------------------------

def _bootstrap_plan(data_dir, L, horizon=252):
    scn = load(data_dir, horizon_days=horizon,
               history={"files": {"SP500": "sp500.csv"}, "mode": "bootstrap",
                        "block_days": L, "scale": "actual"})
    return build_plan(scn)


def _dates(plan, paths, seed=11):
    dates_stream = block_streams(np.random.SeedSequence(seed))[-1]
    return np.stack([_kernel.history_path_dates(plan, dates_stream, p) for p in range(paths)])


def test_kernel_dates_equal_twin_dates(data_dir):
    plan = _bootstrap_plan(data_dir, 7.5)
    bg = block_streams(np.random.SeedSequence(5))[-1]
    for p in (0, 1, 17):
        twin = _kernel_python.history_dates(
            plan, p, np.random.Generator(_kernel_python.path_stream(bg.state, p)))
        np.testing.assert_array_equal(_kernel.history_path_dates(plan, bg, p), twin)


def test_bootstrap_paths_follow_their_dates(data_dir):
    """A held contract's day-end equity moves by exactly the chosen dates' closes."""
    plan = _bootstrap_plan(data_dir, 20, horizon=60)
    plan = plan.with_(ruin_level=-math.inf)
    out = BlockOutput.allocate(plan, 4, record_equity=True)
    _kernel.simulate_block(plan, streams(9), out)
    seq = np.stack([_kernel.history_path_dates(plan, streams(9)[-1], p) for p in range(4)])
    lc = plan.hist_lrel[:, 0, 3]
    for p in range(4):
        price = (out.equity[p, 1:] - 30000) / 5.0          # close - entry
        d = np.diff(price)
        # consecutive closes of the path: C_t = C_t-1 x exp(lrel_C of the date)
        cl = np.exp(plan.hist_lc0[seq[p, 0], 0]) * np.exp(np.cumsum(lc[seq[p]]))
        np.testing.assert_allclose(d, np.diff(cl), rtol=1e-9, atol=1e-9)


def test_bootstrap_iid_keeps_the_return_distribution(data_dir):
    from scipy import stats
    plan = _bootstrap_plan(data_dir, 1)
    seq = _dates(plan, 200)
    r_hist = plan.hist_lrel[:, 0, 3]
    r_sim = r_hist[seq].ravel()
    assert stats.ks_2samp(r_sim, r_hist).pvalue > 0.01
    vol_h = r_hist.std(ddof=1) * math.sqrt(252)
    vol_s = r_sim.std(ddof=1) * math.sqrt(252)
    assert abs(vol_s / vol_h - 1) < 0.03
    # iid: |r| has no autocorrelation within paths
    a = np.abs(r_hist[seq])
    ac = np.mean([np.corrcoef(x[:-1], x[1:])[0, 1] for x in a])
    assert abs(ac) < 0.02


def _runs(seq, N):
    """Lengths of runs of consecutive dates within each path (the last run of a path,
    cut by the horizon, left out)."""
    out = []
    for s in seq:
        nxt = (s[:-1] + 1) % N
        brk = np.flatnonzero(s[1:] != nxt)
        edges = np.concatenate([[0], brk + 1])
        out += list(np.diff(edges))
    return np.asarray(out)


def test_bootstrap_block_length_and_volatility_clustering(data_dir):
    plan = _bootstrap_plan(data_dir, 20, horizon=1000)
    seq = _dates(plan, 100)
    runs = _runs(seq, plan.hist_n)
    se = runs.std() / math.sqrt(len(runs))
    assert abs(runs.mean() - 20) < 4 * se + 0.5
    r = plan.hist_lrel[:, 0, 3]
    a_hist = np.abs(r)
    ac_hist = np.corrcoef(a_hist[:-1], a_hist[1:])[0, 1]
    a = np.abs(r[seq])
    ac20 = np.mean([np.corrcoef(x[:-1], x[1:])[0, 1] for x in a])
    assert ac_hist > 0.15                          # the S&P's volatility clustering
    assert ac20 > 0.8 * ac_hist * 19 / 20 - 0.03   # kept (a jump every 20 days breaks 1 in 20)
    seq1 = _dates(_bootstrap_plan(data_dir, 1, horizon=1000), 100)
    ac1 = np.mean([np.corrcoef(x[:-1], x[1:])[0, 1] for x in np.abs(r[seq1])])
    assert abs(ac1) < 0.02                         # removed


# ---- parity, determinism, common random numbers ----------------------------------------------

def _synthetic_aligned(M, B, seed):
    from simcore.calibrate import Aligned
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2001-01-01", periods=B)
    frames = {}
    for i in range(M):
        r = rng.standard_t(4, B) * 0.012
        c = 100 * np.exp(np.cumsum(r))
        o = np.concatenate([[100], c[:-1]]) * np.exp(rng.normal(0, 0.004, B))
        h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.006, B)))
        lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.006, B)))
        frames[f"X{i}"] = pd.DataFrame({"open": o, "high": h, "low": lo, "close": c}, index=idx)
    return Aligned(list(frames), frames, {k: "synthetic" for k in frames}, {k: 0 for k in frames})


class _Spec:
    def __init__(self, **kw):
        self.__dict__.update(kw)


@pytest.mark.parametrize("seed", range(16))
def test_parity_random_history_plans(seed):
    """Random plans (every rule but the GBM-only ones) on synthetic bars, replay and
    bootstrap, both intraday orders, both scales: kernel == twin to the bit."""
    plan = random_plan(seed, stress=False)
    plan = plan.with_(spd=1, dt=1 / 252, max_hold=np.ascontiguousarray(plan.max_hold // plan.spd),
                      cooldown=np.ascontiguousarray(plan.cooldown // plan.spd),
                      alpha=np.zeros(plan.M))
    pool = build_pool(_synthetic_aligned(plan.M, 300, seed))
    spec = _Spec(mode=["replay", "bootstrap"][seed % 2], block_days=[1.0, 5.0, 20.0][seed % 3],
                 scale=["plan", "actual"][seed // 2 % 2],
                 intraday_order=["bridge", "stop_first"][seed // 4 % 2])
    plan = plan.with_(**history_fields(spec, pool))
    n = min(24, plan.hist_nstart)
    ko = BlockOutput.allocate(plan, n, True)
    po = BlockOutput.allocate(plan, n, True)
    _kernel.simulate_block(plan, streams(seed), ko)
    _kernel_python.simulate_block(plan, streams(seed), po)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(ko, f), getattr(po, f), err_msg=f)
    assert ko.trades.sum() > 0


@pytest.mark.parametrize("mode", ["replay", "bootstrap"])
def test_parity_real_history_two_markets(data_dir, mode):
    scn = load(data_dir, capital=8000, horizon_days=120,
               markets={"SP500": {"price": 6000, "vol": 0.18},
                        "NASDAQ100": {"price": 21000, "vol": 0.22}},
               strategies={"SP500": {"direction": "both", "stop": {"atr": 1.0},
                                     "target": {"r": 2.0}, "max_hold_days": 10},
                           "NASDAQ100": {"direction": "long", "stop": {"atr": 0.8},
                                         "target": {"r": 1.5}, "cooldown_days": 2}},
               contracts={"MES": {"commission": 0.62}},
               rules={"risk_per_trade": 0.05, "margin_cap": 0.5, "slippage_ticks": 1,
                      "ruin": {"below_fraction": 0.6},
                      "correlation_review": {"every_days": 10, "window_days": 21,
                                             "limit": 0.8, "action": "one_per_pair"}},
               tiers=[{"contracts": {"MES": 1, "MNQ": 1}},
                      {"at": 10000, "contracts": {"MES": 2, "MNQ": 1}}],
               history={"files": {"SP500": "sp500.csv", "NASDAQ100": "nasdaq.csv"},
                        "mode": mode, "block_days": 10})
    plan = build_plan(scn).with_(hist_first=100)
    ko = BlockOutput.allocate(plan, 40, True)
    po = BlockOutput.allocate(plan, 40, True)
    _kernel.simulate_block(plan, streams(2), ko)
    _kernel_python.simulate_block(plan, streams(2), po)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(ko, f), getattr(po, f), err_msg=f)
    assert ko.trades.sum() > 100 and ko.m_corr_skip.sum() > 0


def test_determinism_across_jobs_and_blocks(data_dir):
    plan = _bootstrap_plan(data_dir, 20)
    a = simulate(plan, 2100, 4, jobs=1)
    b = simulate(plan, 2100, 4, jobs=2)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    rp = build_plan(load(data_dir, horizon_days=2000))      # replay: 3 blocks of start dates
    n = rp.hist_nstart
    assert n > 2048
    x, y = simulate(rp, n, 0, jobs=1), simulate(rp, n, 99, jobs=2)
    for f in FIELDS:                                   # replay does not depend on the seed
        np.testing.assert_array_equal(getattr(x, f), getattr(y, f), err_msg=f)


def test_common_random_numbers_across_cost_rows(data_dir):
    """Two rows that differ only in commission see the same dates path for path: a held
    contract's final equity differs by exactly the round-turn commission."""
    p1 = _bootstrap_plan(data_dir, 20).with_(ruin_level=-math.inf)
    p2 = p1.with_(comm=p1.comm + 1.0)
    a, b = simulate(p1, 300, 8), simulate(p2, 300, 8)
    np.testing.assert_allclose(a.final_equity - b.final_equity, 2.0, rtol=0, atol=1e-9)


def test_gbm_results_unchanged_by_the_dates_stream():
    """GBM runs never touch the 7th stream: the same plan with a different dates stream gives
    identical results."""
    plan = random_plan(3)
    s1 = list(streams(3))
    s2 = list(streams(3))
    s2[-1] = np.random.PCG64(12345)
    o1 = BlockOutput.allocate(plan, 16)
    o2 = BlockOutput.allocate(plan, 16)
    _kernel.simulate_block(plan, s1, o1)
    _kernel.simulate_block(plan, s2, o2)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(o1, f), getattr(o2, f), err_msg=f)


# ---- replay's honest statistics ----------------------------------------------------------------

def test_replay_reports_block_intervals_and_independent_horizons(data_dir):
    from simcore.runner import run_scenario
    s = run_scenario(load(data_dir))
    h = s["history"]
    assert h["mode"] == "replay" and h["independent_horizons"] == h["dates"] // 252
    lo, hi = s["ruin"]["ci95"]
    blo, bhi = s["ruin"]["ci95_binomial"]
    assert lo <= s["ruin"]["probability"] <= hi
    assert hi - lo > 2 * (bhi - blo)                   # overlapping windows: far wider
    assert s["paths"] == build_plan(load(data_dir)).hist_nstart
    # the reported interval is the union of the moving-block one and Wilson at n_eff
    for d, key in [(s["ruin"], "ci95"), (s["ruin"], "blown_ci95"),
                   (s["margin_calls"], "ci95")] + [(t, "ci95") for t in s["tiers"]
                                                   if t.get("ci95_binomial") is not None]:
        mb, ef, ci = d[key + "_moving_block"], d[key + "_effective"], d[key]
        assert ci == [min(mb[0], ef[0]), max(mb[1], ef[1])], key
        assert ci[1] > ci[0], key                     # never a point, even with no event
    assert "block_days" not in h                       # a bootstrap setting: not for replay
    assert "independent_horizons" in h["interval"]


def test_replay_interval_of_independent_values_is_near_binomial():
    rng = np.random.default_rng(0)
    x = (rng.random(4000) < 0.3).astype(float)
    lo, hi = replay_interval(x, 1)
    half = 1.96 * math.sqrt(0.3 * 0.7 / 4000)
    assert abs((hi - lo) / 2 - half) < 0.25 * half


# ---- validation ----------------------------------------------------------------------------------

@pytest.mark.parametrize("over, field, words", [
    ({"markets": {"SP500": {"price": 2000, "vol": 0.18}, "GOLD": {"price": 2600, "vol": 0.16}}},
     "history.files.GOLD", "without history"),
    ({"history": {"files": {"SP500": "sp500.csv", "GOLD": "gold.csv"}}},
     "history.files.GOLD", "not a market"),
    ({"history": {"files": {"SP500": "sp500_short.csv"}, "mode": "replay"}},
     "history.files", "needs at least 252"),
    ({"history": {"files": {"SP500": "sp500.csv"}, "mode": "replay", "from": "2018-06-01"}},
     "history.from", "needs at least 252"),
    ({"history": {"files": {"SP500": "sp500.csv"}, "from": "2019-13-01"}},
     "history.from", "not a date"),
    ({"history": {"files": {"SP500": "sp500.csv"}, "from": "2010-01-01", "to": "2009-01-01"}},
     "history.to", "before"),
    ({"history": {"files": {"SP500": "nope.csv"}}}, "history.files.SP500", "no such file"),
    ({"history": {"files": {"SP500": "sp500.csv"}, "mode": "shuffle"}}, "history.mode", ""),
    ({"history": {"files": {"SP500": "sp500.csv"}, "block_days": 0.5}},
     "history.block_days", ""),
    ({"history": {"files": {"SP500": "sp500.csv"}, "intraday_order": "target_first"}},
     "history.intraday_order", ""),
    ({"steps_per_day": 2}, "steps_per_day", "one step a day"),
    ({"tails": {"student_t": 5}}, "tails", "GBM"),
    ({"strategies": {"SP500": {"direction": "long", "stop": {"atr": 1}, "target": {"r": 2},
                               "win_rate": 0.4}}}, "strategies.SP500.win_rate", "edge"),
])
def test_validation_errors_are_dotted(data_dir, over, field, words):
    with pytest.raises(ScenarioError) as e:
        load(data_dir, **over)
    assert e.value.field == field, str(e.value)
    assert words in str(e.value)


def test_files_that_do_not_overlap(data_dir):
    with pytest.raises(ScenarioError) as e:
        load(data_dir, markets={"SP500": {"price": 2000, "vol": 0.18},
                                "NASDAQ100": {"price": 21000, "vol": 0.22}},
             history={"files": {"SP500": "sp500_early.csv", "NASDAQ100": "nasdaq_late.csv"}})
    assert e.value.field == "history.files" and "overlap" in str(e.value)


# ---- the command line ---------------------------------------------------------------------------

def _cli(*args):
    from click.testing import CliRunner

    from simcore.cli.main import main
    return CliRunner().invoke(main, [str(a) for a in args])


def _plan_file(data_dir, name, **over):
    import yaml
    path = data_dir / name
    path.write_text(yaml.safe_dump(plan_dict(**over), sort_keys=False))
    return path


def test_cli_model_side_by_side(data_dir):
    import json
    f = _plan_file(data_dir, "side.yaml", horizon_days=126,
                   strategies={"SP500": {"direction": "long", "stop": {"atr": 1.0},
                                         "target": {"r": 2.0}, "max_hold_days": 10}},
                   rules={"risk_per_trade": 0.08, "margin_cap": "none", "slippage_ticks": 1,
                          "ruin": {"below_fraction": 0.9}},
                   history={"files": {"SP500": "sp500.csv"}, "mode": "bootstrap",
                            "block_days": 20, "scale": "plan"})
    r = _cli("run", f, "--model", "gbm,bootstrap,replay", "--paths", "300", "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)["models"]
    assert list(res) == ["gbm", "bootstrap", "replay"]
    assert res["gbm"]["paths"] == res["bootstrap"]["paths"] == 300
    assert "history" not in res["gbm"] and res["bootstrap"]["history"]["mode"] == "bootstrap"
    assert res["replay"]["paths"] == res["replay"]["history"]["start_dates"]
    assert "ci95_binomial" in res["replay"]["ruin"]
    # the GBM column's vol is the history's
    r_hist = build_plan(load(data_dir)).hist_lrel[:, 0, 3]
    assert abs(res["gbm"]["gbm_calibration"]["SP500"]["vol"]
               - r_hist.std(ddof=1) * math.sqrt(252)) < 1e-6
    t = _cli("run", f, "--model", "gbm,replay", "--paths", "300")
    assert t.exit_code == 0, t.output
    assert "gbm" in t.stdout and "replay" in t.stdout and "P(ruin)" in t.stdout
    bad = _cli("run", f, "--model", "gbm,garch")
    assert bad.exit_code == 2 and "--model" in bad.stderr


def test_cli_replay_paths_note_and_gbm_only_options(data_dir):
    f = _plan_file(data_dir, "replay.yaml")
    r = _cli("run", f, "--paths", "100", "--json")
    assert r.exit_code == 0, r.output
    assert "one path per start date" in r.stderr
    for args in (["stress", f, "--spike", "0.5"], ["stress", f, "--vol-mult", "2"],
                 ["stress", f], ["size", f, "--max-ruin", "0.1"]):
        b = _cli(*args)
        assert b.exit_code == 2, (args, b.output)
        assert len(b.stderr.splitlines()) == 1 and b.stdout == ""


def test_bar_exit_bridge_and_stop_first():
    """Both levels inside the day: stop_first takes the stop; the bridge, symmetric (open midway,
    close at the open), splits the day evenly; a close beyond the stop makes the stop likely."""
    from simcore._kernel_python import EXIT_STOP, EXIT_TARGET, bar_exit
    from simcore._plan import ORDER_BRIDGE, ORDER_STOP_FIRST
    lstop, ltarget, xo = math.log(99.0), math.log(101.0), math.log(100.0)
    xh, xl = math.log(101.5), math.log(98.5)
    v = (xh - xl) ** 2 / (4 * math.log(2))
    args = (1, xo, xh, xl, xo, True, lstop, True, ltarget, v)
    assert bar_exit(*args, 0.99, ORDER_STOP_FIRST) == EXIT_STOP
    split = [bar_exit(*args, u, ORDER_BRIDGE) for u in (0.49, 0.51)]
    assert split == [EXIT_STOP, EXIT_TARGET]
    xc = math.log(98.6)                              # closed below the stop
    hits = [bar_exit(1, xo, xh, xl, xc, True, lstop, True, ltarget, v, u, ORDER_BRIDGE)
            for u in np.linspace(0.005, 0.995, 100)]
    assert hits.count(EXIT_STOP) > 60
    # one level only, or none
    assert bar_exit(1, xo, math.log(100.5), xl, xo, True, lstop, True, ltarget, v, 0.9,
                    ORDER_BRIDGE) == EXIT_STOP
    assert bar_exit(1, xo, math.log(100.5), math.log(99.5), xo, True, lstop, True, ltarget, v,
                    0.9, ORDER_BRIDGE) == 0
    # a short: the stop above, the target below
    assert bar_exit(-1, xo, xh, math.log(99.5), xo, True, ltarget, True, lstop, v, 0.0,
                    ORDER_BRIDGE) == EXIT_STOP


def test_replay_without_two_independent_horizons_has_no_interval(data_dir):
    from simcore.runner import run_scenario
    s = run_scenario(load(data_dir, horizon_days=3000))
    assert s["history"]["independent_horizons"] == 1
    assert s["ruin"]["ci95"] is None and s["ruin"]["ci95_binomial"] is not None


def test_a_missing_example_csv_names_the_script_that_writes_it(tmp_path):
    """A fresh checkout has no scenarios/data/*.csv (git ignores them): the error says how to
    write them, where a make_history.py stands beside the missing file."""
    from simcore.calibrate import read_bars
    (tmp_path / "make_history.py").write_text("")
    with pytest.raises(ScenarioError, match=r"no such file \(write it first: python .*"
                                            r"make_history\.py\)"):
        read_bars(tmp_path / "sp500.csv")
    (tmp_path / "make_history.py").unlink()
    with pytest.raises(ScenarioError, match=r"no such file$"):
        read_bars(tmp_path / "sp500.csv")


def test_history_without_pandas_is_a_clear_error(monkeypatch):
    """A plain install has no pandas: a plan with history: says which extra to install."""
    import sys
    from simcore.history import load_history
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ScenarioError, match=r"^history: reading price history needs pandas "
                                            r"\(install the history extra"):
        load_history(None, ["SP500"], "<dict>", 10)


def test_model_table_has_each_tier_above_the_capital():
    """`run --model`'s columns carry the tier reach (with its interval and median day) of every
    tier above the starting capital, each model's own figure."""
    from simcore.text import format_models
    tiers = [{"at": 5000, "probability_reached": 1.0, "ci95": [0.99, 1.0], "days_median": 0},
             {"at": 7500, "probability_reached": 0.3386, "ci95": [0.3294, 0.3479],
              "days_median": 135}]
    base = {"paths": 100, "horizon_days": 756, "capital": 5000, "seed": 7, "name": "t",
            "ruin": {"probability": 0.1, "ci95": [0.05, 0.2], "day_median": 3},
            "margin_calls": {"probability_any": 0.0}, "final_equity": {"p5": 1, "median": 2,
                                                                     "p95": 3},
            "max_drawdown": {"median": 0.1, "p95": 0.2}, "trades_per_path": 1.0,
            "win_rate": 0.4, "tiers": tiers}
    other = json_copy(base)
    other["tiers"][1].update(probability_reached=0.8649, ci95=[0.8581, 0.8715], days_median=219)
    text = format_models({"gbm": base, "bootstrap": other})
    line = next(x for x in text.splitlines() if x.startswith("P(reach $7,500)"))
    assert "33.86%" in line and "86.49%" in line
    assert "P(reach $5,000)" not in text                       # the start is no target
    days = [x for x in text.splitlines() if x.strip().startswith("median day")]
    assert len(days) == 1 and "135" in days[0] and "219" in days[0]


def json_copy(d):
    import json
    return json.loads(json.dumps(d))


def test_review_stress_refused_on_replay():
    """Replay's paths are overlapping windows of one history: a stress table's paired
    intervals (which assume independent paths) would be far too narrow, so --review on a
    replay plan is refused (bootstrap is the way to compare reviews on history)."""
    import os
    import simcore
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    plan = simcore.load(os.path.join(root, "scenarios", "history_article.yaml")).replace(
        **{"history.mode": "replay", "horizon_days": 100})
    with pytest.raises(ScenarioError, match=r"^review: replay's paths are overlapping"):
        simcore.stress_test(plan, review="off,21")


def test_a_history_file_is_read_once_while_it_is_unchanged(data_dir, monkeypatch):
    """Every re-validation of a plan (replace, --horizon, each --model column) builds its pool
    again; the CSV is parsed once while the file is unchanged, and again once it changes."""
    import os
    import simcore.calibrate as cal
    from simcore import history
    calls = []
    real = cal.read_bars
    monkeypatch.setattr(cal, "read_bars", lambda p, **k: calls.append(str(p)) or real(p, **k))
    history._BARS_CACHE.clear()
    load(data_dir)
    for h in (60, 70, 80):
        load(data_dir, horizon_days=h)
    assert len(calls) == 1
    csv = data_dir / "sp500.csv"
    st = csv.stat()
    os.utime(csv, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))     # the file changed
    load(data_dir)
    assert len(calls) == 2


# ---- bad rows in a history file: dropped with a warning, as calibrate does ---------------------

def _with_bad_rows(data_dir, name, rows):
    df = pd.read_csv(data_dir / "sp500.csv", index_col=0).iloc[:600].copy()
    for i, value in rows.items():
        df.iloc[i, df.columns.get_loc("Close")] = value
    df.to_csv(data_dir / name)
    return load(data_dir, horizon_days=60,
                history={"files": {"SP500": name}, "mode": "bootstrap"})


def test_dropped_rows_are_plan_warnings(data_dir):
    """A row the reader drops (a missing close, a price beyond simrisk's limits) is a plan
    warning, printed on stderr and in --json's warnings, not silently lost."""
    from simcore.build import _warnings
    scn = _with_bad_rows(data_dir, "sp500_bad.csv", {28: float("nan"), 38: 1e300})
    w = [x for x in _warnings(scn) if x.startswith("history:")]
    assert len(w) == 2, w
    assert "sp500_bad.csv, line 30" in w[0] and "row dropped" in w[0]
    assert "line 40" in w[1] and "1e+300" in w[1] and "price limits" in w[1]


def test_too_many_bad_rows_names_no_missing_option(data_dir):
    with pytest.raises(ScenarioError) as e:
        _with_bad_rows(data_dir, "sp500_worse.csv", {i: -1.0 for i in range(20, 27)})
    assert e.value.field == "history.files.SP500"
    assert "7 bad rows" in str(e.value) and "--max-bad-rows" not in str(e.value)
    assert "mend the file" in str(e.value)
