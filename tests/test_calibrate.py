"""simrisk calibrate (SPEC 11): every figure against an independent computation on arch's
real series, a round trip through a simulated history of known vol and correlation, bad
files, and the plan fragment.

The real data come from the ``arch`` package (a test extra), written to CSV files in a
temporary folder: nothing is vendored, nothing is downloaded. The independent computations
below use plain numpy on the arch frames themselves, not on what simrisk read.
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import pandas as pd  # noqa: E402  (pandas and arch are hard dependencies of the test extra)
from arch.data import nasdaq as arch_nasdaq  # noqa: E402
from arch.data import sp500 as arch_sp500  # noqa: E402
from arch.data import wti as arch_wti  # noqa: E402

from simcore.cli.main import main  # noqa: E402
from simcore.calibrate import spike_weight  # noqa: E402
from simcore.scenario import load_scenario  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXACT = dict(rel=1e-9, abs=1e-12)
GFC = ("2008-09-15", "2008-12-31")


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


# ------------------------------------------------------------------------------------------
# Data: arch's series as CSV files, and the independent figures
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def raw():
    return {"SP500": arch_sp500.load(), "NASDAQ100": arch_nasdaq.load(),
            "CRUDE": arch_wti.load()}


@pytest.fixture(scope="module")
def csvs(raw, tmp_path_factory):
    d = tmp_path_factory.mktemp("arch")
    paths = {}
    for name, frame in raw.items():
        p = d / f"{name.lower()}.csv"
        frame.to_csv(p)                       # WTI keeps FRED's column name, DCOILWTICO
        paths[name] = p
    return paths


@pytest.fixture(scope="module")
def three(csvs):
    r = invoke("calibrate", *(f"{n}={p}" for n, p in csvs.items()), "--window",
               f"gfc={GFC[0]}:{GFC[1]}", "--recent", 63, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def sp_alone(csvs):
    r = invoke("calibrate", f"SP500={csvs['SP500']}", "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def logret(c):
    c = np.asarray(c, float)
    return np.log(c[1:] / c[:-1])


def vol(r):
    r = np.asarray(r, float)
    return math.sqrt(np.sum((r - r.mean()) ** 2) / (len(r) - 1)) * math.sqrt(252)


def kurt_g2(x):
    """Bias-corrected excess kurtosis (Fisher G2), written out."""
    x = np.asarray(x, float)
    n = len(x)
    s2 = np.sum((x - x.mean()) ** 2) / (n - 1)
    m4 = np.sum((x - x.mean()) ** 4)
    return (n * (n + 1) / ((n - 1) * (n - 2) * (n - 3)) * m4 / s2 ** 2
            - 3 * (n - 1) ** 2 / ((n - 2) * (n - 3)))


def atr_ref(h, lo, c):
    """Wilder ATR(14), TA-Lib seeding, the plain way: TR list, seed, recursion."""
    trs = [max(h[t] - lo[t], abs(h[t] - c[t - 1]), abs(lo[t] - c[t - 1]))
           for t in range(1, len(c))]
    atr = [sum(trs[:14]) / 14.0]
    for tr in trs[14:]:
        atr.append((atr[-1] * 13.0 + tr) / 14.0)
    return np.array(atr)                  # ATR at dates 14, 15, ..., n-1


def pearson(x, y):
    x, y = x - x.mean(), y - y.mean()
    return float(x @ y / math.sqrt((x @ x) * (y @ y)))


@pytest.fixture(scope="module")
def shared(raw):
    """The three series on the dates all have (WTI's missing prices dropped), by numpy."""
    wti = raw["CRUDE"]["DCOILWTICO"]
    wti = wti[wti.notna()]
    dates = np.intersect1d(np.intersect1d(raw["SP500"].index.to_numpy(),
                                          raw["NASDAQ100"].index.to_numpy()),
                           wti.index.to_numpy())
    closes = np.column_stack([raw["SP500"]["Close"].loc[dates].to_numpy(),
                              raw["NASDAQ100"]["Close"].loc[dates].to_numpy(),
                              wti.loc[dates].to_numpy()])
    return dates, closes


# ------------------------------------------------------------------------------------------
# Each figure against its independent computation (real data)
# ------------------------------------------------------------------------------------------
def test_vol_whole_and_by_year(sp_alone, raw):
    f = sp_alone["markets"]["SP500"]
    df = raw["SP500"]
    r = logret(df["Close"])
    assert f["vol"] == pytest.approx(vol(r), **EXACT)
    years = df.index.year.to_numpy()[1:]              # a return belongs to its date's year
    for y in np.unique(years):
        assert f["vol_by_year"][str(y)] == pytest.approx(vol(r[years == y]), **EXACT)
    assert f["vol_by_year"]["2008"] > 0.35 > f["vol_by_year"]["2017"] * 4   # crisis vs calm
    assert f["price"] == df["Close"].iloc[-1]
    assert (f["days"], f["first"], f["last"]) == (len(df), "1999-01-04", "2018-12-31")


def test_wilder_atr_last_and_mean(sp_alone, raw):
    f = sp_alone["markets"]["SP500"]
    df = raw["SP500"]
    h, lo, c = (df[k].to_numpy() for k in ("High", "Low", "Close"))
    atr = atr_ref(h, lo, c)
    assert f["atr"]["last"] == pytest.approx(atr[-1], **EXACT)
    assert f["atr"]["mean"] == pytest.approx(atr.mean(), **EXACT)
    assert f["atr_fraction"]["last"] == pytest.approx(atr[-1] / c[-1], **EXACT)
    assert f["atr_fraction"]["mean"] == pytest.approx(np.mean(atr / c[14:]), **EXACT)


def test_wilder_seed_is_talib_s():
    """TA-Lib's ATR(14) on a hand-made series: first value at index 14 = mean(TR 1..14)."""
    from simcore.calibrate import wilder_atr
    c = np.array([10.0 + (i % 3) for i in range(20)])
    h, lo = c + 1.0, c - 1.0
    a = wilder_atr(h, lo, c)
    assert np.isnan(a[:14]).all()
    tr = [max(h[t] - lo[t], abs(h[t] - c[t - 1]), abs(lo[t] - c[t - 1])) for t in range(1, 20)]
    assert a[14] == pytest.approx(np.mean(tr[:14]), **EXACT)
    assert a[15] == pytest.approx((13 * a[14] + tr[14]) / 14, **EXACT)


def test_excess_kurtosis(sp_alone, three, raw, shared):
    r = logret(raw["SP500"]["Close"])
    assert sp_alone["markets"]["SP500"]["excess_kurtosis"] == pytest.approx(kurt_g2(r), **EXACT)
    _, closes = shared
    for j, m in enumerate(("SP500", "NASDAQ100", "CRUDE")):
        assert three["markets"][m]["excess_kurtosis"] == pytest.approx(
            kurt_g2(logret(closes[:, j])), **EXACT)


def test_student_t_nu_is_the_ml_estimate(sp_alone, raw):
    """Our own ML (Nelder-Mead on the t log-likelihood, log nu, loc, log scale free) agrees
    with simrisk's (scipy.stats.t.fit) to 0.1% -- both optimizers stop near the optimum, so
    the figure is exact only to the optimizers' tolerance."""
    from scipy import optimize, special
    r = logret(raw["SP500"]["Close"])
    x = (r - r.mean()) / r.std(ddof=1)

    def nll(p):
        nu, loc, sc = math.exp(p[0]), p[1], math.exp(p[2])
        z = (x - loc) / sc
        return -np.sum(special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2)
                       - 0.5 * np.log(nu * np.pi) - np.log(sc)
                       - (nu + 1) / 2 * np.log1p(z * z / nu))

    res = optimize.minimize(nll, [math.log(4.0), 0.0, math.log(0.7)], method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 20000})
    assert res.success
    nu = sp_alone["markets"]["SP500"]["student_t_nu"]
    assert nu == pytest.approx(math.exp(res.x[0]), rel=1e-3)
    assert 2.0 < nu < 4.0                      # daily index returns: very fat tails


def test_gaps(sp_alone, raw):
    df = raw["SP500"]
    o, c = df["Open"].to_numpy(), df["Close"].to_numpy()
    g = np.abs(o[1:] / c[:-1] - 1.0)
    big = g[g > 0.01]
    f = sp_alone["markets"]["SP500"]
    assert f["gap_frequency"] == pytest.approx(len(big) / len(g), **EXACT)
    assert f["gap_mean"] == pytest.approx(big.mean(), **EXACT)


def test_gap_threshold_option(csvs, raw):
    r = invoke("calibrate", f"NQ={csvs['NASDAQ100']}", "--gap", 0.02, "--json")
    assert r.exit_code == 0, r.output
    f = json.loads(r.stdout)["markets"]["NQ"]
    df = raw["NASDAQ100"]
    g = np.abs(df["Open"].to_numpy()[1:] / df["Close"].to_numpy()[:-1] - 1.0)
    assert f["gap_frequency"] == pytest.approx(np.mean(g > 0.02), **EXACT)
    assert f["gap_mean"] == pytest.approx(g[g > 0.02].mean(), **EXACT)


def test_sp500_opens_before_2006_are_previous_closes(raw):
    """What the docs say about arch's S&P series: on most days of 1999-2005 its open is the
    previous close, so gap figures there are not real gaps (Nasdaq's are)."""
    for name, lo, hi in (("SP500", 0.9, 1.0), ("NASDAQ100", 0.0, 0.05)):
        df = raw[name]
        same = df["Open"].to_numpy()[1:] == df["Close"].to_numpy()[:-1]
        early = df.index.year.to_numpy()[1:] <= 2005
        assert lo <= same[early].mean() <= hi


def test_correlations_whole_recent_window(three, shared):
    dates, closes = shared
    R = np.column_stack([logret(closes[:, j]) for j in range(3)])
    rd = dates[1:]
    names = ["SP500", "NASDAQ100", "CRUDE"]
    lo, hi = np.datetime64(GFC[0]), np.datetime64(GFC[1])
    win = (rd >= lo) & (rd <= hi)
    for i in range(3):
        for j in range(i + 1, 3):
            pair = f"{names[i]}/{names[j]}"
            c = three["correlation"]
            assert c["whole"][pair] == pytest.approx(pearson(R[:, i], R[:, j]), **EXACT)
            assert c["recent"][pair] == pytest.approx(
                pearson(R[-63:, i], R[-63:, j]), **EXACT)
            assert c["windows"]["gfc"][pair] == pytest.approx(
                pearson(R[win, i], R[win, j]), **EXACT)
    assert three["days"] == len(dates)
    periods = three["correlation"]["periods"]
    assert periods["gfc"]["days"] == int(win.sum())
    for j, m in enumerate(names):                        # each period's vol, and its ratio
        assert periods["gfc"]["vol_by_market"][m] == pytest.approx(vol(R[win, j]), **EXACT)
        assert periods["recent"]["vol_by_market"][m] == pytest.approx(vol(R[-63:, j]), **EXACT)
        assert periods["gfc"]["vol_mult_by_market"][m] == pytest.approx(
            vol(R[win, j]) / vol(R[:, j]), **EXACT)
    # per-market figures are on the shared dates too
    assert three["markets"]["CRUDE"]["vol"] == pytest.approx(vol(R[:, 2]), **EXACT)
    assert three["markets"]["CRUDE"]["atr"] is None             # closes only
    assert three["markets"]["CRUDE"]["gap_frequency"] is None
    # the 2008 window: every correlation with crude oil at least doubles
    for pair in ("SP500/CRUDE", "NASDAQ100/CRUDE"):
        assert three["correlation"]["windows"]["gfc"][pair] > 2 * three["correlation"]["whole"][pair]


def test_regimes(three, shared):
    """SPEC 11's rule, by numpy: 21-day rolling vol (ddof 1) over its median, mean across
    markets above 1.5 = stressed; shares, spells, vol multipliers and correlations."""
    _, closes = shared
    R = np.column_stack([logret(closes[:, j]) for j in range(3)])
    win = np.lib.stride_tricks.sliding_window_view(R, 21, axis=0)      # (n-20, 3, 21)
    rv = win.std(axis=2, ddof=1) * math.sqrt(252)
    ratio = rv / np.median(rv, axis=0)
    stressed = ratio.mean(axis=1) > 1.5
    days = R[20:]
    reg = three["regimes"]
    assert reg["classified_days"] == len(stressed)
    names = ["SP500", "NASDAQ100", "CRUDE"]
    for label, sel in (("calm", ~stressed), ("stressed", stressed)):
        st = reg["states"][label]
        assert st["days"] == int(sel.sum())
        assert st["share"] == pytest.approx(sel.mean(), **EXACT)
        runs = sum(1 for k in range(len(sel)) if sel[k] and (k == 0 or not sel[k - 1]))
        assert st["spells"] == runs
        assert st["mean_spell_days"] == pytest.approx(sel.sum() / runs, **EXACT)
        vm = [np.std(days[sel, j], ddof=1) / np.std(R[:, j], ddof=1) for j in range(3)]
        for j, m in enumerate(names):
            assert st["vol_mult_by_market"][m] == pytest.approx(vm[j], **EXACT)
        assert st["vol_mult"] == pytest.approx(np.mean(vm), **EXACT)
        assert st["correlation"]["SP500/CRUDE"] == pytest.approx(
            pearson(days[sel, 0], days[sel, 2]), **EXACT)
    assert reg["last_state"] == ("stressed" if stressed[-1] else "calm")
    # tails net of the regimes: returns standardized within their state, then the t fit
    from scipy import stats
    z = days.copy()
    for sel in (~stressed, stressed):
        z[sel] = (days[sel] - days[sel].mean(axis=0)) / days[sel].std(axis=0, ddof=1)
    for j, m in enumerate(names):
        zj = (z[:, j] - z[:, j].mean()) / z[:, j].std(ddof=1)
        assert reg["student_t_nu_by_market"][m] == pytest.approx(stats.t.fit(zj)[0], rel=1e-3)
        assert reg["student_t_nu_by_market"][m] > three["markets"][m]["student_t_nu"]
    assert reg["states"]["stressed"]["vol_mult"] > 1.3 > 0.9 > reg["states"]["calm"]["vol_mult"]


def test_single_market_regime_rule_is_spec_s(sp_alone, raw):
    r = logret(raw["SP500"]["Close"])
    rv = np.lib.stride_tricks.sliding_window_view(r, 21).std(axis=1, ddof=1)
    stressed = rv > 1.5 * np.median(rv)
    assert sp_alone["regimes"]["states"]["stressed"]["days"] == int(stressed.sum())


def test_spike_weight_is_the_least_squares_fit():
    R = np.array([[1, 0.2, 0.1], [0.2, 1, -0.3], [0.1, -0.3, 1]])
    W = np.array([[1, 0.6, 0.5], [0.6, 1, 0.2], [0.5, 0.2, 1]])
    w = spike_weight(R, W)
    iu = np.triu_indices(3, 1)
    grid = np.linspace(0, 1, 100001)
    err = [np.sum(((1 - g) * R[iu] + g - W[iu]) ** 2) for g in grid]
    assert w == pytest.approx(grid[int(np.argmin(err))], abs=1e-5)
    assert spike_weight(W, R) == 0.0                      # lower correlations: no spike
    assert spike_weight(R, np.ones((3, 3))) == pytest.approx(1.0)


def test_json_keys(three):
    for f in three["markets"].values():
        assert {"price", "vol", "atr", "atr_fraction", "excess_kurtosis", "student_t_nu",
                "gap_frequency", "gap_mean", "days", "first", "last", "vol_by_year"} <= set(f)
    assert {"whole", "recent", "windows"} <= set(three["correlation"])
    assert set(three["correlation"]["windows"]) == {"gfc"}
    assert "regimes" in three


def test_table(csvs):
    r = invoke("calibrate", f"SP500={csvs['SP500']}", f"CRUDE={csvs['CRUDE']}",
               "--window", "gfc=2008-09-15:2008-12-31")
    assert r.exit_code == 0, r.output
    out = r.stdout
    for text in ("Dates used: 1999-01-04 to 2018-12-28", "SP500", "CRUDE", "gfc", "stressed",
                 "Annual vol by calendar year", "SP500/CRUDE"):
        assert text in out
    assert "no Close column; using DCOILWTICO" in r.stderr
    assert "dates used:" in r.stderr


def test_calibrate_does_not_slow_other_commands():
    """pandas is imported by `calibrate` only: loading the CLI does not import it."""
    code = "import sys, simcore.cli.main; print('pandas' in sys.modules, 'simcore.calibrate' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.split()
    assert out == ["False", "False"]


# ------------------------------------------------------------------------------------------
# Round trip: a simulated history of known vol and correlation
# ------------------------------------------------------------------------------------------
N_DAYS, SUB = 5000, 64
VOLS, RHO, PRICES = (0.20, 0.35), 0.6, (4000.0, 70.0)


def gbm_bars(seed=11):
    """Two correlated GBMs on SUB sub-steps a day: Open = previous close (no gaps), High/Low
    the extremes of the day's sub-steps, on business days from 2000-01-03."""
    rng = np.random.default_rng(seed)
    dt = 1.0 / (252 * SUB)
    L = np.linalg.cholesky(np.array([[1.0, RHO], [RHO, 1.0]]))
    z = rng.standard_normal((N_DAYS * SUB, 2)) @ L.T
    sig = np.array(VOLS)
    logp = np.log(PRICES) + np.cumsum(-0.5 * sig ** 2 * dt + sig * math.sqrt(dt) * z, axis=0)
    logp = np.vstack([np.log(PRICES), logp])
    dates = pd.bdate_range("2000-01-03", periods=N_DAYS + 1)
    frames = []
    for j in range(2):
        p = np.exp(logp[:, j])
        close = p[::SUB]
        steps = np.vstack([p[k * SUB:(k + 1) * SUB + 1] for k in range(N_DAYS)])
        high = np.concatenate([[close[0]], steps.max(axis=1)])
        low = np.concatenate([[close[0]], steps.min(axis=1)])
        opn = np.concatenate([[close[0]], close[:-1]])
        frames.append(pd.DataFrame({"Date": dates.strftime("%Y-%m-%d"), "Open": opn,
                                    "High": high, "Low": low, "Close": close}))
    return frames


def test_round_trip_recovers_vol_and_correlation(tmp_path):
    a, b = gbm_bars()
    a.to_csv(tmp_path / "a.csv", index=False)
    b.to_csv(tmp_path / "b.csv", index=False)
    frag = tmp_path / "frag.yaml"
    r = invoke("calibrate", f"IDX={tmp_path / 'a.csv'}", f"OIL={tmp_path / 'b.csv'}",
               "--json", "-o", frag)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    n = N_DAYS
    # standard errors for n iid normal returns: sd -> vol / sqrt(2(n-1)); Pearson ->
    # (1 - rho^2) / sqrt(n); excess kurtosis -> sqrt(24 / n). Bounds: 4 standard errors.
    for name, v in zip(("IDX", "OIL"), VOLS):
        f = out["markets"][name]
        assert abs(f["vol"] - v) < 4 * v / math.sqrt(2 * (n - 1))
        assert abs(f["excess_kurtosis"]) < 4 * math.sqrt(24 / n)
        assert f["student_t_nu"] > 15                    # normal returns: a thin-tailed fit
        assert f["gap_frequency"] == 0.0 and f["gap_mean"] is None
        # mean daily range of a discretely watched Brownian path: sqrt(8/pi) sigma_d less
        # about 2 x 0.5826 sigma_d / sqrt(SUB) (Broadie-Glasserman); within 5%
        expect = (math.sqrt(8 / math.pi) - 2 * 0.5826 / math.sqrt(SUB)) * v / math.sqrt(252)
        assert f["atr_fraction"]["mean"] == pytest.approx(expect, rel=0.05)
    rho = out["correlation"]["whole"]["IDX/OIL"]
    assert abs(rho - RHO) < 4 * (1 - RHO ** 2) / math.sqrt(n)
    # with constant volatility almost no day is stressed
    assert out["regimes"]["states"]["stressed"]["share"] < 0.02

    # the fragment loads, and a plan that includes it runs
    data = yaml.safe_load(frag.read_text())
    assert data["markets"]["IDX"]["vol"] == pytest.approx(out["markets"]["IDX"]["vol"], abs=5e-5)
    assert data["correlation"]["IDX/OIL"] == pytest.approx(rho, abs=5e-5)
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({
        "include": "frag.yaml", "name": "round trip", "capital": 10000, "horizon_days": 40,
        "contracts": {"MES": {"market": "IDX"}, "MCL": {"market": "OIL"}},
        "strategies": {"IDX": {"direction": "long", "stop": {"atr": 1.0}, "target": {"r": 2.0},
                               "win_rate": 0.4},
                       "OIL": {"direction": "both", "stop": {"atr": 1.0}, "target": {"r": 2.0},
                               "alpha": 0.0}},
        "rules": {"risk_per_trade": 0.1, "ruin": {"below_fraction": 0.5}},
        "tiers": [{"contracts": {"MES": 1, "MCL": 1}}]}, sort_keys=False))
    s = load_scenario(plan)
    assert s.markets["OIL"].vol == data["markets"]["OIL"]["vol"]
    assert s.correlation_matrix[0, 1] == data["correlation"]["IDX/OIL"]
    r = invoke("run", plan, "--paths", 200, "--json")
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    assert res["paths"] == 200 and set(res["markets"]) == {"IDX", "OIL"}
    assert res["markets"]["IDX"]["trades"] > 0


# ------------------------------------------------------------------------------------------
# The fragment from real data, and the shipped example
# ------------------------------------------------------------------------------------------
def test_fragment_from_real_data(csvs, three, tmp_path):
    frag = tmp_path / "arch.yaml"
    args = ["calibrate", *(f"{n}={p}" for n, p in csvs.items()), "--window",
            f"gfc={GFC[0]}:{GFC[1]}", "-o", frag]
    r = invoke(*args)
    assert r.exit_code == 0, r.output
    data = yaml.safe_load(frag.read_text())
    assert set(data) == {"markets", "correlation", "tails", "regimes", "stress"}
    gfc = three["correlation"]["periods"]["gfc"]
    assert data["stress"] == [{"name": "gfc", "spike": round(gfc["spike"], 4)}]
    assert 0.1 < gfc["spike"] < 0.6
    st = data["regimes"]["states"]
    assert st["stressed"]["vol_mult"] == round(three["regimes"]["states"]["stressed"]["vol_mult"], 4)
    assert data["tails"]["student_t"] == round(float(np.median(          # net of the regimes
        list(three["regimes"]["student_t_nu_by_market"].values()))), 2)
    # never overwrite without --force; --force replaces it
    before = frag.read_text()
    r = invoke(*args)
    assert r.exit_code == 2 and "exists (use --force" in r.stderr and r.stdout == ""
    r = invoke(*args, "--force")
    assert r.exit_code == 0 and frag.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["arch.yaml"]      # no temporary left


def test_shipped_example_includes_the_committed_fragment():
    s = load_scenario(os.path.join(ROOT, "scenarios", "15k_calibrated.yaml"))
    assert {"SP500", "NASDAQ100", "CRUDE"} <= set(s.markets)
    assert s.regimes is not None and s.tails is not None and s.stress
    frag = yaml.safe_load(open(os.path.join(ROOT, "scenarios", "fragments",
                                            "arch_1999_2018.yaml")))
    assert s.markets["CRUDE"].vol == frag["markets"]["CRUDE"]["vol"]


@pytest.mark.parametrize("path, why", [
    ("out.txt", "must end in .yaml"),
    ("nofolder/out.yaml", "does not exist"),
    (".", "is a directory"),
])
def test_output_path_checked_before_any_work(tmp_path, path, why, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = invoke("calibrate", "missing.csv", "-o", path)       # the CSV is never read
    assert r.exit_code == 2 and why in r.stderr


# ------------------------------------------------------------------------------------------
# Bad files: exit 2 naming the file and the line
# ------------------------------------------------------------------------------------------
def bars_csv(n=60, start="2020-01-01"):
    dates = pd.bdate_range(start, periods=n).strftime("%Y-%m-%d")
    rows = ["Date,Open,High,Low,Close,Volume"]
    for i, d in enumerate(dates):
        c = 100.0 + i % 7
        rows.append(f"{d},{c - 0.5},{c + 1},{c - 1},{c},1000")
    return rows


def write(tmp_path, rows, name="bad.csv"):
    p = tmp_path / name
    p.write_text("\n".join(rows) + "\n")
    return p


def edit(rows, line, field, value):
    """Set one field (0 Date ... 4 Close) of the row on file line `line` (header = 1)."""
    parts = rows[line - 1].split(",")
    parts[field] = value
    rows[line - 1] = ",".join(parts)
    return rows


BAD = {
    "no date column": (lambda r: [r[0].replace("Date", "When")] + r[1:], "line 1",
                       "no date column"),
    "no close column": (lambda r: [",".join(x.split(",")[:4]) for x in r], "line 1",
                        "no Close column"),
    "unparsable date": (lambda r: edit(r, 12, 0, "2020-13-45"), "line 12", "unparsable date"),
    "duplicate date": (lambda r: edit(r, 12, 0, r[10].split(",")[0]), "line 12",
                       "duplicate date"),
    "unsorted dates": (lambda r: r[:10] + [r[11], r[10]] + r[12:], "line 12",
                       "rows must be in date order"),
    "non-positive price": (lambda r: edit(r, 20, 4, "0"), "line 20", "Close 0 is not positive"),
    "negative low": (lambda r: edit(r, 20, 3, "-1"), "line 20", "Low -1 is not positive"),
    "high below low": (lambda r: edit(r, 30, 2, "50"), "line 30", "High 50 is below Low"),
    "not a number": (lambda r: edit(r, 30, 1, "abc"), "line 30", "Open 'abc' is not a number"),
    "missing high": (lambda r: edit(r, 30, 2, ""), "line 30", "High is missing"),
    "gap of months": (lambda r: r[:40] + [",".join([str(pd.Timestamp(x.split(",")[0])
                                                       + pd.Timedelta(days=120))[:10]]
                                                    + x.split(",")[1:]) for x in r[40:]],
                      "line 41", "a gap of months"),
}


@pytest.mark.parametrize("problem", list(BAD), ids=list(BAD))
def test_bad_file_exit_2_names_file_and_line(tmp_path, problem):
    change, line, text = BAD[problem]
    p = write(tmp_path, change(bars_csv()))
    r = invoke("calibrate", p, "--max-bad-rows", 0)
    assert r.exit_code == 2, r.output
    assert r.stdout == ""
    err = r.stderr.strip().splitlines()[-1]
    assert err.startswith(f"Error: {p}") and line in err and text in err, err
    assert "Traceback" not in r.stderr


def test_a_few_bad_rows_are_dropped_with_a_warning(tmp_path):
    rows = edit(edit(bars_csv(), 20, 4, "-3"), 30, 2, "50")
    p = write(tmp_path, rows)
    r = invoke("calibrate", p, "--json")
    assert r.exit_code == 0, r.output
    assert f"{p}, line 20: Close -3 is not positive; row dropped" in r.stderr
    assert f"{p}, line 30: High 50 is below Low" in r.stderr
    assert json.loads(r.stdout)["markets"]["bad"]["days"] == 58
    r = invoke("calibrate", p, "--max-bad-rows", 1)
    assert r.exit_code == 2 and "line 20" in r.stderr and "(2 bad rows in the file, more than --max-bad-rows 1)" in r.stderr


def test_other_bad_inputs(tmp_path):
    good = write(tmp_path, bars_csv(), "good.csv")
    cases = [
        (["calibrate", tmp_path / "nope.csv"], "no such file"),
        (["calibrate", write(tmp_path, [""], "empty.csv")], "empty"),
        (["calibrate", write(tmp_path, bars_csv(10), "short.csv")], "at least 30"),
        (["calibrate", f"A={good}", f"A={good}"], "given twice"),
        (["calibrate", f"a/b={good}"], "use only letters"),
        (["calibrate", good, "--window", "x=2020-01-01"], "NAME=START:END"),
        (["calibrate", good, "--window", "x=2020-03-01:2020-01-01"], "START is after END"),
        (["calibrate", good, "--window", "x=2021-01-01:2021-02-01"], "need at least 3"),
        (["calibrate", good, "--recent", 500], "--recent"),
        (["calibrate", good, write(tmp_path, bars_csv(60, "2021-06-01"), "later.csv")],
         "share 0 dates"),
    ]
    for args, text in cases:
        r = invoke(*args)
        assert r.exit_code == 2, (args, r.output)
        assert text in r.stderr, (args, r.stderr)


def test_constant_prices_and_missing_pandas(tmp_path, monkeypatch):
    rows = ["Date,Close"] + [f"{d},100" for d in pd.bdate_range("2020-01-01", periods=40)
                             .strftime("%Y-%m-%d")]
    p = write(tmp_path, rows, "flat.csv")
    r = invoke("calibrate", p)
    assert r.exit_code == 2 and "never changes" in r.stderr
    monkeypatch.setitem(sys.modules, "pandas", None)          # as if it were not installed
    r = invoke("calibrate", p)
    assert r.exit_code == 2 and "pip install '.[calibrate]'" in r.stderr


def test_descending_file_is_read_oldest_first(tmp_path):
    rows = bars_csv()
    p = write(tmp_path, [rows[0]] + rows[:0:-1], "desc.csv")
    q = write(tmp_path, rows, "asc.csv")
    a = json.loads(invoke("calibrate", p, "--json").stdout)["markets"]["desc"]
    b = json.loads(invoke("calibrate", q, "--json").stdout)["markets"]["asc"]
    assert a["vol"] == b["vol"] and a["atr"] == b["atr"]


def test_us_dates_and_fred_holidays(tmp_path):
    """arch's own raw files: US dates (1/2/1986) and FRED's empty prices on holidays."""
    rows = ["DATE,DCOILWTICO"] + [f"{d.month}/{d.day}/{d.year},{50 + i % 5}" if i % 10
                                  else f"{d.month}/{d.day}/{d.year},."
                                  for i, d in enumerate(pd.bdate_range("2019-01-01",
                                                                       periods=80))]
    p = write(tmp_path, rows, "wti.csv")
    r = invoke("calibrate", p, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["markets"]["wti"]["days"] == 72 and out["first"] == "2019-01-02"
    assert "8 dated row(s) without any price skipped" in r.stderr
