"""Tests for simcore.metrics: Wilson intervals, the SPEC 10 summary and the human table."""
import json
import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from simcore._plan import BlockOutput, Plan
from simcore.metrics import Z95, summarize, wilson, wilson_band
from simcore.text import format_table


# --------------------------------------------------------------------------------------------
# Wilson
# --------------------------------------------------------------------------------------------
def wilson_by_score_inversion(k, n, z):
    """Independent reference: the p where the score statistic (k - n p) / sqrt(n p (1 - p)) = +-z"""
    def f(p, s):
        return (k - n * p) - s * z * math.sqrt(n * p * (1 - p))
    # f vanishes trivially at p = k/n when k is 0 or n: keep the brackets off 0 and 1
    p_hat = k / n
    lo = 0.0 if k == 0 else brentq(f, 1e-300, min(p_hat, 1 - 1e-16), args=(1.0,),
                                   xtol=1e-15, rtol=1e-15)
    hi = 1.0 if k == n else brentq(f, max(p_hat, 1e-300), 1 - 1e-16, args=(-1.0,),
                                   xtol=1e-15, rtol=1e-15)
    return lo, hi


def test_z95_is_the_normal_quantile():
    assert Z95 == pytest.approx(norm.ppf(0.975), abs=1e-15)


@pytest.mark.parametrize("k,n,expected", [
    # statsmodels.stats.proportion.proportion_confint(k, n, method="wilson"), 4 decimals
    (5, 10, (0.2366, 0.7634)),
    (1, 10, (0.0179, 0.4042)),
    (0, 10, (0.0, 0.2775)),
    (10, 10, (0.7225, 1.0)),
    (81, 263, (0.2553, 0.3662)),
])
def test_wilson_known_values(k, n, expected):
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(expected[0], abs=5e-5)
    assert hi == pytest.approx(expected[1], abs=5e-5)


@pytest.mark.parametrize("n", [1, 2, 7, 50, 1000, 100_000])
def test_wilson_matches_score_inversion(n):
    for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
        for z in (1.0, Z95, 3.0):
            lo, hi = wilson(k, n, z)
            rlo, rhi = wilson_by_score_inversion(k, n, z)
            assert lo == pytest.approx(rlo, abs=1e-12)
            assert hi == pytest.approx(rhi, abs=1e-12)
            # Wilson's centre is the shrunk estimate (k + z^2/2) / (n + z^2) and its half width
            # z sqrt(k (n - k) / n + z^2 / 4) / (n + z^2) (an independent statement of the formula)
            centre = (k + z * z / 2) / (n + z * z)
            half = z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
            assert lo == pytest.approx(max(0.0, centre - half), abs=1e-12)
            assert hi == pytest.approx(min(1.0, centre + half), abs=1e-12)


def test_wilson_edges():
    assert wilson(0, 25)[0] == 0.0
    assert wilson(25, 25)[1] == 1.0
    lo, hi = wilson(0, 25)
    # k = 0: upper bound z^2 / (n + z^2)
    assert hi == pytest.approx(Z95**2 / (25 + Z95**2), rel=1e-14)
    # n = 0: documented as the whole range
    assert wilson(0, 0) == (0.0, 1.0)
    # symmetric under k -> n - k
    lo1, hi1 = wilson(3, 20)
    lo2, hi2 = wilson(17, 20)
    assert lo1 == pytest.approx(1 - hi2, abs=1e-15) and hi1 == pytest.approx(1 - lo2, abs=1e-15)
    # plain floats
    assert all(type(v) is float for v in wilson(np.int64(3), np.int64(20)))


@pytest.mark.parametrize("k,n", [(-1, 10), (11, 10), (0, -1)])
def test_wilson_rejects_bad_counts(k, n):
    with pytest.raises(ValueError):
        wilson(k, n)


@pytest.mark.parametrize("n", [1, 7, 500, 2048, 10_000])
def test_wilson_band_is_wilson_element_by_element(n):
    # the figures' vectorized bands are the very floats of the scalar interval
    k = np.arange(n + 1)
    lo, hi = wilson_band(k, n)
    ref = np.array([wilson(int(i), n) for i in k])
    assert (lo == ref[:, 0]).all() and (hi == ref[:, 1]).all()
    assert wilson_band([], 5)[0].shape == (0,) and wilson_band([0], 0)[1].tolist() == [1.0]
    with pytest.raises(ValueError):
        wilson_band([0, n + 1], n)


# --------------------------------------------------------------------------------------------
# a hand-made plan and output
# --------------------------------------------------------------------------------------------
def make_plan(K=3, M=3, name="test scenario", G=1, **over):
    C = 3
    f8 = lambda *v: np.array(v, dtype=np.float64)     # noqa: E731
    eye = np.broadcast_to(np.eye(M), (2, G, M, M)).copy()
    tc = np.full((K, M), -1, np.int32)
    tm = np.zeros((K, M), np.int32)
    # market 0 (SP500): MES in tiers 0, 1; ES in tier 2. market 1 (GOLD): MGC in every tier.
    # market 2 (CRUDE): never traded.
    tc[:, 0] = [0, 0, 1][:K]
    tc[:, 1] = 2
    tm[:, 0] = [1, 2, 1][:K]
    tm[:, 1] = 1
    kw = dict(
        n_days=504, spd=1, dt=1 / 252, capital=5000.0,
        market_names=("SP500", "GOLD", "CRUDE")[:M],
        logp0=np.log(f8(6000, 2600, 70)[:M]), mu=np.zeros(M), sigma=f8(0.18, 0.16, 0.35)[:M],
        chol=eye, volmult=np.ones((2, G)), trans_cum=np.ones((G, G)), regime0=0,
        win_lo=1, win_hi=0, student_nu=0.0,
        gap_p=np.zeros(M), gap_mu=np.zeros(M), gap_sd=np.zeros(M), gap_common=0,
        dir_mode=np.array([1, 0, 1][:M], np.int32), stop_kind=np.array([1, 2, 2][:M], np.int32),
        stop_val=f8(1.0, 15.0, 0.5)[:M], target_kind=np.array([1, 0, 1][:M], np.int32),
        target_val=f8(2.0, 0.0, 2.0)[:M], alpha=f8(0.4737, 0.05, 0.0)[:M],
        max_hold=np.array([10, 0, 0][:M], np.int32), cooldown=np.zeros(M, np.int32),
        contract_names=("MES", "ES", "MGC"), pv=f8(5, 50, 10), tick=f8(0.25, 0.25, 0.1),
        im=f8(2400, 24000, 1800), mm=f8(2200, 22000, 1640), comm=f8(0.62, 2.0, 0.82),
        tier_thr=f8(-np.inf, 7500, 25000)[:K], tier_buf=f8(0, 0.05, 0)[:K],
        tier_reach=f8(-np.inf, 7500, 25000)[:K], tier_contract=tc, tier_max=tm,
        risk_per_trade=0.015, margin_cap=0.2, slip_ticks=1.0, ruin_level=2500.0, ruin_dd=np.inf,
        tier_labels=(5000, 7500.0, 25000)[:K], alpha_source=("win_rate", "alpha", "none")[:M],
        target_win_rate=(0.4, None, None)[:M], extras={"name": name} if name else {},
    )
    kw.update(over)
    plan = Plan(**kw)
    plan.validate_arrays()
    return plan


def make_output(plan, n=10):
    out = BlockOutput.allocate(plan, n)
    # ruin on paths 0..3 at days 40, 10, 30, 20 (nearest-rank median of {10,20,30,40} = 20)
    out.ruined[:4] = 1
    out.ruin_day[:4] = [40, 10, 30, 20]
    out.blown[1] = 1
    out.margin_calls[:] = [2, 1, 0, 0, 0, 3, 0, 0, 0, 0]          # 3 paths, 6 calls
    out.trades[:] = np.arange(10) + 5
    out.wins[:] = (np.arange(10) + 5) // 2
    out.skipped[:] = 1
    out.final_equity[:] = [2400, 2300, 2450, 2480, 5000, 6000, 8000, 9000, 30000, 12000]
    out.peak_equity[:] = np.maximum(out.final_equity, 5000)
    out.max_dd[:] = np.linspace(0.05, 0.6, n)
    # tier 0 always reached on day 0; tier 1 by 6 paths; tier 2 by none
    out.tier_day[:, 0] = 0
    out.tier_day[:, 1] = [-1, -1, -1, -1, 100, 7, 50, 3, 200, 80]
    out.tier_day[:, 2] = -1
    out.m_trades[:] = [60, 35, 0]
    out.m_wins[:] = [24, 20, 0]
    out.m_win_r[:] = [48.0, 0.0, 0.0]
    out.m_win_rn[:] = [24, 0, 0]                 # GOLD has no target? wins without stop R: none
    out.m_loss_r[:] = [-36.0, -15.0, 0.0]
    out.m_loss_rn[:] = [36, 15, 0]
    out.m_skip[:] = [[3, 2, 1], [0, 4, 0], [0, 0, 0]]
    out.m_gap_fills[:] = [2, 0, 0]
    out.m_beyond_1r[:] = [1, 0, 0]
    return out


def _walk(x, path="$"):
    """Yield (path, value) over a JSON-like structure."""
    yield path, x
    if isinstance(x, dict):
        for k, v in x.items():
            assert type(k) is str, f"{path}: non-string key {k!r}"
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _walk(v, f"{path}[{i}]")


PLAIN = (dict, list, str, int, float, bool, type(None))


def assert_plain_json(s):
    for p, v in _walk(s):
        assert type(v) in PLAIN, f"{p}: {type(v).__name__}"
        if type(v) is float:
            assert math.isfinite(v), p
    json.dumps(s, allow_nan=False)


# --------------------------------------------------------------------------------------------
# summarize
# --------------------------------------------------------------------------------------------
def test_summary_has_every_spec10_key_with_plain_types():
    plan = make_plan()
    s = summarize(plan, make_output(plan), 10, 7)
    assert_plain_json(s)
    for key in ("paths", "seed", "horizon_days", "capital", "name", "ruin", "margin_calls", "tiers",
                "final_equity", "max_drawdown", "markets"):
        assert key in s
    assert s["paths"] == 10 and s["seed"] == 7 and s["horizon_days"] == 504
    assert s["capital"] == 5000.0 and s["name"] == "test scenario"
    assert set(s["ruin"]) >= {"probability", "ci95", "blown_probability", "day_median",
                              "day_p10", "day_p90"}
    assert set(s["margin_calls"]) >= {"probability_any", "ci95", "mean_per_path", "per_year"}
    assert isinstance(s["tiers"], list) and len(s["tiers"]) == 3
    for t in s["tiers"]:
        assert set(t) >= {"at", "probability_reached", "days_p10", "days_median", "days_p90"}
    assert set(s["final_equity"]) >= {"mean", "std", "p5", "p25", "median", "p75", "p95"}
    assert set(s["max_drawdown"]) >= {"median", "p95"}
    for mk in s["markets"].values():
        assert set(mk) >= {"trades", "win_rate", "avg_win_r", "avg_loss_r", "skipped",
                           "skipped_by_reason", "alpha", "alpha_source", "target_win_rate",
                           "gap_fills", "beyond_1r"}
        assert set(mk["skipped_by_reason"]) == {"risk", "margin_cap", "funds"}


def test_summary_values():
    plan = make_plan()
    out = make_output(plan)
    s = summarize(plan, out, 10, 7)

    r = s["ruin"]
    assert r["probability"] == 0.4
    assert r["ci95"] == list(wilson(4, 10))
    assert r["blown_probability"] == 0.1
    # nearest-rank over {10, 20, 30, 40}: p10 -> 10, median -> 20 (not 25), p90 -> 40
    assert (r["day_p10"], r["day_median"], r["day_p90"]) == (10, 20, 40)
    assert all(type(r[k]) is int for k in ("day_p10", "day_median", "day_p90"))

    mc = s["margin_calls"]
    assert mc["probability_any"] == 0.3 and mc["ci95"] == list(wilson(3, 10))
    assert mc["mean_per_path"] == pytest.approx(0.6)
    assert mc["per_year"] == pytest.approx(0.6 * 252 / 504)

    t0, t1, t2 = s["tiers"]
    assert t0["at"] == 5000 and t1["at"] == 7500 and t2["at"] == 25000
    assert type(t1["at"]) is int                    # 7500.0 label reported as an integer
    assert t0["probability_reached"] == 1.0
    assert (t0["days_p10"], t0["days_median"], t0["days_p90"]) == (0, 0, 0)
    # reached: {3, 7, 50, 80, 100, 200}; nearest rank: ceil(0.1*6)=1 -> 3, ceil(0.5*6)=3 -> 50,
    # ceil(0.9*6)=6 -> 200
    assert t1["probability_reached"] == 0.6
    assert (t1["days_p10"], t1["days_median"], t1["days_p90"]) == (3, 50, 200)
    assert t2["probability_reached"] == 0.0
    assert (t2["days_p10"], t2["days_median"], t2["days_p90"]) == (None, None, None)

    fe = s["final_equity"]
    feq = out.final_equity
    assert fe["mean"] == pytest.approx(feq.mean())
    assert fe["std"] == pytest.approx(feq.std(ddof=1))
    assert fe["median"] == pytest.approx(np.median(feq))
    for q in (5, 25, 75, 95):
        assert fe[f"p{q}"] == pytest.approx(np.percentile(feq, q))
    assert fe["p5"] <= fe["p25"] <= fe["median"] <= fe["p75"] <= fe["p95"]
    dd = s["max_drawdown"]
    assert dd["median"] == pytest.approx(np.median(out.max_dd))
    assert dd["p95"] == pytest.approx(np.percentile(out.max_dd, 95))

    # markets: CRUDE is in no tier -> absent
    assert list(s["markets"]) == ["SP500", "GOLD"]
    sp, gold = s["markets"]["SP500"], s["markets"]["GOLD"]
    assert sp["contracts"] == ["MES", "ES"] and gold["contracts"] == ["MGC"]
    assert sp["trades"] == 60 and sp["win_rate"] == pytest.approx(0.4)
    assert sp["avg_win_r"] == pytest.approx(2.0) and sp["avg_loss_r"] == pytest.approx(-1.0)
    assert sp["skipped"] == 6
    assert sp["skipped_by_reason"] == {"risk": 3, "margin_cap": 2, "funds": 1}
    assert sp["alpha"] == pytest.approx(0.4737) and sp["alpha_source"] == "win_rate"
    assert sp["target_win_rate"] == 0.4
    assert sp["gap_fills"] == 2 and sp["beyond_1r"] == 1
    assert gold["avg_win_r"] is None                # no winning trade with a stop R
    assert gold["avg_loss_r"] == pytest.approx(-1.0)
    assert gold["target_win_rate"] is None and gold["alpha_source"] == "alpha"

    assert s["trades"] == int(out.trades.sum()) and s["wins"] == int(out.wins.sum())
    assert s["trades_per_path"] == pytest.approx(out.trades.mean())
    assert "regimes" not in s


def test_summary_nothing_happened():
    """No ruin, no margin call, no trade on a market: Nones, never NaN."""
    plan = make_plan(name=None)
    out = BlockOutput.allocate(plan, 5)
    out.final_equity[:] = 5000.0
    out.peak_equity[:] = 5000.0
    out.tier_day[:, 0] = 0
    s = summarize(plan, out, 5, None)
    assert_plain_json(s)
    assert s["name"] is None and s["seed"] is None
    assert s["ruin"]["probability"] == 0.0 and s["ruin"]["ci95"][0] == 0.0
    assert s["ruin"]["day_median"] is None and s["ruin"]["day_p10"] is None
    assert s["margin_calls"]["probability_any"] == 0.0
    assert s["margin_calls"]["mean_per_path"] == 0.0 and s["margin_calls"]["per_year"] == 0.0
    assert s["final_equity"]["std"] == 0.0
    for mk in s["markets"].values():
        assert mk["trades"] == 0
        assert mk["win_rate"] is None and mk["avg_win_r"] is None and mk["avg_loss_r"] is None
    assert s["win_rate"] is None
    assert s["tiers"][1]["days_median"] is None


def test_summary_single_path_and_all_ruined():
    plan = make_plan()
    out = BlockOutput.allocate(plan, 1)
    out.ruined[0] = 1
    out.ruin_day[0] = 17
    out.final_equity[0] = 2000.0
    out.tier_day[0, 0] = 0
    s = summarize(plan, out, 1, 0)
    assert_plain_json(s)
    assert s["ruin"]["probability"] == 1.0 and s["ruin"]["ci95"][1] == 1.0
    assert s["ruin"]["day_median"] == 17 == s["ruin"]["day_p10"] == s["ruin"]["day_p90"]
    assert s["final_equity"]["std"] is None           # sample sd undefined for one path
    assert s["final_equity"]["median"] == 2000.0


def test_summary_zero_paths_is_still_json():
    plan = make_plan()
    s = summarize(plan, BlockOutput.allocate(plan, 0), 0, 1)
    assert_plain_json(s)
    assert s["ruin"]["probability"] is None and s["ruin"]["ci95"] == [0.0, 1.0]
    assert s["final_equity"]["mean"] is None


def test_summary_rejects_mismatched_paths():
    plan = make_plan()
    with pytest.raises(ValueError, match="paths"):
        summarize(plan, make_output(plan), 11, 7)


def test_summary_tier_without_labels_falls_back_to_threshold():
    plan = make_plan(tier_labels=())
    s = summarize(plan, make_output(plan), 10, 7)
    assert [t["at"] for t in s["tiers"]] == [None, 7500, 25000]
    # labels with the first tier's `at` omitted
    plan = make_plan(tier_labels=(None, 7500, 25000))
    s = summarize(plan, make_output(plan), 10, 7)
    assert s["tiers"][0]["at"] is None


def test_summary_regimes_section():
    plan = make_plan(G=2, trans_cum=np.array([[0.9, 1.0], [0.2, 1.0]]),
                     extras={"name": "x", "regime_names": ["calm", "crisis"]})
    out = make_output(plan)
    out.regime_days[:] = [4500, 500]
    out.regime_spells[:] = [15, 10]
    s = summarize(plan, out, 10, 7)
    assert_plain_json(s)
    calm, crisis = s["regimes"]
    assert calm["name"] == "calm" and crisis["share_of_days"] == pytest.approx(0.1)
    assert crisis["mean_spell_days"] == pytest.approx(50.0)
    assert "crisis" in format_table(s)


def test_summary_accepts_numpy_seed_and_round_trips_json():
    plan = make_plan()
    s = summarize(plan, make_output(plan), np.int64(10), np.uint32(7))
    assert type(s["seed"]) is int and type(s["paths"]) is int
    assert json.loads(json.dumps(s, allow_nan=False)) == s


# --------------------------------------------------------------------------------------------
# format_table
# --------------------------------------------------------------------------------------------
def test_format_table_contains_key_figures():
    plan = make_plan()
    s = summarize(plan, make_output(plan), 10, 7)
    text = format_table(s)
    assert isinstance(text, str)
    for needle in ("test scenario", "10 paths", "seed 7", "504 days", "2.00 y", "$5,000",
                   "Ruin", "40.00%", "10.00%",                         # P(ruin), P(blown)
                   "Margin calls", "30.00%", "0.600", "0.300",          # P(any), mean, per year
                   "Tiers", "$7,500", "60.00%", "$25,000",
                   "Final equity", f"${s['final_equity']['p95']:,.0f}",
                   "Max drawdown", "Markets", "SP500", "GOLD", "3/2/1", "+2.00", "-1.00",
                   "+0.4737", "wr 40%"):
        assert needle in text, needle
    assert "CRUDE" not in text
    # the median final equity with thousands separators
    assert f"${s['final_equity']['median']:,.0f}" in text
    # unreached tier rendered with dashes
    tier_lines = [ln for ln in text.splitlines() if "$25,000" in ln]
    assert tier_lines and "-" in tier_lines[0]
    assert max(len(ln) for ln in text.splitlines()) <= 100


def test_format_table_with_nothing_happened():
    plan = make_plan(name=None)
    out = BlockOutput.allocate(plan, 3)
    out.final_equity[:] = 5000.0
    text = format_table(summarize(plan, out, 3, 1))
    assert "scenario" in text and "0.00%" in text
    assert max(len(ln) for ln in text.splitlines()) <= 100
