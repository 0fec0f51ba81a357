"""``run --model`` by hand (issue 16): the side-by-side table's every row from hand-made
summaries, the model list's parsing, and the GBM calibration's figures recomputed with numpy
from a made-up pool."""
import math
import re
from types import SimpleNamespace

import numpy as np
import pytest

from simcore.models import gbm_figures, parse_models
from simcore.text import DASH as D, format_models


def _summary(**over):
    s = {"name": "side", "paths": 1200, "horizon_days": 126, "capital": 5000.0, "seed": 7,
         "ruin": {"probability": 0.0125, "ci95": [0.0071, 0.0213], "day_median": 44},
         "margin_calls": {"probability_any": 0.25},
         "tiers": [{"at": 5000.0, "probability_reached": 1.0, "ci95": [1.0, 1.0],
                    "days_median": 0},
                   {"at": 10000.0, "probability_reached": 0.125, "ci95": [0.1, 0.15],
                    "days_median": 99}],
         "final_equity": {"p5": -250.0, "median": 5100.4, "p95": 12000.0},
         "max_drawdown": {"median": 0.1234, "p95": 0.5},
         "trades_per_path": 12.3, "win_rate": 0.4, }
    s.update(over)
    return s


def _rows(text):
    lines = text.splitlines()
    return {re.split(r"\s{2,}", x.strip())[0]: re.split(r"\s{2,}", x.strip())[1:]
            for x in lines[3:] if x.strip() and not x.startswith("-")}, lines


def test_model_table_by_hand():
    a = _summary()
    b = _summary(paths=2, ruin={"probability": 0.0, "ci95": None, "day_median": None},
                 history={"independent_horizons": 39}, trades_per_path=None, win_rate=None)
    b["tiers"] = [dict(t) for t in a["tiers"]]
    b["tiers"][1].update(probability_reached=0.5, ci95=[0.3, 0.7], days_median=None)
    res = {"gbm": {**a, "gbm_calibration": {"SP500": {"vol": 0.1834}}}, "replay": b}
    text = format_models(res)
    rows, lines = _rows(text)
    assert lines[0] == "side: horizon 126 days, capital $5,000, seed 7"
    assert lines[1] == ""
    assert re.split(r"\s{2,}", lines[2].strip()) == ["gbm", "replay"]
    assert rows["paths"] == ["1,200", "2"]
    assert rows["P(ruin)"] == ["1.25%", "0.00%"]
    assert rows["day of ruin, median"] == ["44", D]
    assert rows["P(margin call)"] == ["25.00%", "25.00%"]
    assert rows["P(reach $10,000)"] == ["12.50%", "50.00%"]
    assert rows["median day"] == ["99", D]
    assert "P(reach $5,000)" not in rows
    assert rows["final equity p5"] == ["-$250", "-$250"]
    assert rows["final equity median"] == ["$5,100", "$5,100"]
    assert rows["final equity p95"] == ["$12,000", "$12,000"]
    assert rows["max drawdown median"] == ["12.3%", "12.3%"]
    assert rows["max drawdown p95"] == ["50.0%", "50.0%"]
    assert rows["trades per path"] == ["12.30", D]      # as written: no number re-parsing
    assert rows["win rate"] == ["40.0%", D]
    assert rows["independent horizons"] == [D, "39"]
    intervals = [re.split(r"\s{2,}", x.strip()) for x in lines if x.strip().startswith("95%")]
    assert intervals == [["95% interval", "[0.71%, 2.13%]", D],
                         ["95% interval", "[10.00%, 15.00%]", "[30.00%, 70.00%]"]]
    assert lines[-2] == "gbm: vol calibrated from the same history (SP500 18.3%)"
    assert lines[-1] == ("replay: overlapping windows of one history; its interval is the "
                         "union of a moving-block bootstrap over start dates and Wilson at "
                         "the independent horizons")
    # numbers are right-aligned under their model: each row ends at the table's right edge
    width = len(lines[2].rstrip())
    assert all(len(x.rstrip()) == width for x in lines[3:-3] if x.strip())


def test_model_table_without_gbm_or_replay_has_no_notes():
    text = format_models({"bootstrap": _summary()})
    assert text.endswith("-\n")            # the last row, then nothing: no notes
    assert "calibrated" not in text and "overlapping" not in text


def test_parse_models():
    assert parse_models(" GBM, replay ,") == ["gbm", "replay"]
    assert parse_models("bootstrap") == ["bootstrap"]
    with pytest.raises(ValueError, match="one or more"):
        parse_models(" , ")
    with pytest.raises(ValueError, match="unknown model 'garch'"):
        parse_models("gbm,garch")
    with pytest.raises(ValueError, match="listed twice"):
        parse_models("gbm,replay,GBM")


def test_gbm_figures_by_hand():
    """Annual vol = sd (ddof 1) of the pool's daily log close-to-close returns x sqrt(252);
    the pairs' Pearson correlation, named A/B in market order."""
    from simcore.calibrate import annual_vol
    rng = np.random.default_rng(4)
    r = rng.normal(0, 0.01, (300, 3))
    r[:, 1] += 0.8 * r[:, 0]
    lrel = np.zeros((300, 3, 4))
    lrel[:, :, 3] = r
    scn = SimpleNamespace(_history=SimpleNamespace(lrel=lrel, names=("A", "B", "C")))
    f = gbm_figures(scn)
    for i, m in enumerate("ABC"):
        assert f["vol"][m] == pytest.approx(np.std(r[:, i], ddof=1) * math.sqrt(252),
                                            rel=1e-12)
    assert list(f["correlation"]) == ["A/B", "A/C", "B/C"]
    for k, (i, j) in zip(f["correlation"], [(0, 1), (0, 2), (1, 2)]):
        x, y = r[:, i] - r[:, i].mean(), r[:, j] - r[:, j].mean()
        assert f["correlation"][k] == pytest.approx(
            (x @ y) / math.sqrt((x @ x) * (y @ y)), rel=1e-12)
    one = SimpleNamespace(_history=SimpleNamespace(lrel=lrel[:, :1], names=("A",)))
    assert gbm_figures(one)["correlation"] == {}


def _history_plan(tmp_path):
    import pandas as pd

    from simcore.scenario import parse_scenario
    B = 80
    k = np.arange(B, dtype=float)
    for name, ph in (("a.csv", 0.0), ("b.csv", 0.4)):
        c = 100.0 * np.exp(0.01 * np.sin(1.3 * k + ph) + 0.002 * np.cos(0.7 * k * (1 + ph)))
        df = pd.DataFrame({"Open": c, "High": c * 1.01, "Low": c * 0.99, "Close": c},
                          index=pd.bdate_range("2020-01-01", periods=B))
        df.index.name = "Date"
        df.to_csv(tmp_path / name)
    d = {"name": "m", "capital": 30000, "horizon_days": 10, "paths": 10, "seed": 1,
         "markets": {"SP500": {"price": 5000, "vol": 0.5},
                     "NASDAQ100": {"price": 20000, "vol": 0.5}},
         "strategies": {"SP500": {"direction": "long", "stop": "none", "target": "none"}},
         "rules": {"risk_per_trade": 0.01, "margin_cap": "none", "slippage_ticks": 0,
                   "ruin": {}},
         "tiers": [{"contracts": {"MES": 1}}],
         "history": {"files": {"SP500": "a.csv", "NASDAQ100": "b.csv"}, "mode": "replay",
                     "from": "2020-01-27", "block_days": 3}}
    return parse_scenario(d, source=str(tmp_path / "plan.yaml"))


def test_scenario_for_each_model(tmp_path):
    """gbm: the plan without history:, each market's vol and the pair's correlation from the
    pool (rounded to 6 digits), everything else as the plan gives it; bootstrap / replay: the
    history with its mode set, the rest (from, block_days) kept."""
    from simcore.models import scenario_for
    scn = _history_plan(tmp_path)
    fig = gbm_figures(scn)
    g = scenario_for(scn, "gbm")
    assert g.history is None
    for m in ("SP500", "NASDAQ100"):
        assert g.markets[m].vol == round(fig["vol"][m], 6) != 0.5
        assert g.markets[m].price == scn.markets[m].price
    assert g.capital == 30000 and g.horizon_days == 10
    b = scenario_for(scn, "bootstrap")
    assert b.history.mode == "bootstrap" and b.history.block_days == 3
    assert str(b.history.from_) == "2020-01-27"
    assert b.markets["SP500"].vol == 0.5
    assert scenario_for(b, "replay").history.mode == "replay"


def test_run_models_columns(tmp_path):
    import time

    from simcore.models import run_models
    scn = _history_plan(tmp_path)
    t0 = time.perf_counter()
    res = run_models(scn, ["gbm", "replay"], paths=20, seed=3, jobs=1)
    wall = time.perf_counter() - t0
    assert list(res) == ["gbm", "replay"]
    assert res["gbm"]["model"] == "gbm" and res["replay"]["model"] == "replay"
    assert res["gbm"]["paths"] == 20 and res["gbm"]["seed"] == 3
    # replay: one path per start date of the pool cut at `from`, for a 10-day horizon
    import pandas as pd
    pool_dates = pd.bdate_range("2020-01-01", periods=80)[15:]
    n_pool = int((pool_dates >= pd.Timestamp("2020-01-27")).sum())
    assert res["replay"]["paths"] == n_pool - 10 + 1
    vols = gbm_figures(scn)["vol"]
    assert {m: v["vol"] for m, v in res["gbm"]["gbm_calibration"].items()} == {
        m: round(v, 6) for m, v in vols.items()}
    assert "gbm_calibration" not in res["replay"]
    # no wall-clock figure in a result: the same seed gives the same output
    assert all("seconds" not in res[m] for m in res) and wall > 0.0
    assert run_models(scn, ["gbm", "replay"], paths=20, seed=3, jobs=2) == res
