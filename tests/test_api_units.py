"""simcore.api's small rules by hand (issue 16): dotted keys, the option checks shared with the
command line, and what the defaults record."""
import numpy as np
import pytest

from simcore import ScenarioError, api


def test_key_parts():
    assert api._key_parts("tiers[1].at") == ["tiers", 1, "at"]
    assert api._key_parts("tiers[-1].at") == ["tiers", -1, "at"]
    assert api._key_parts("rules.ruin.below") == ["rules", "ruin", "below"]
    assert api._key_parts("capital") == ["capital"]
    for bad in ("", "[1].at", 5, "a..b", "a[x]"):
        with pytest.raises(ScenarioError, match="not a field name"):
            api._key_parts(bad)


def test_set_dotted():
    d = {"tiers": [{"at": 1}, {"at": 2}], "rules": {"ruin": {}}}
    api._set_dotted(d, "tiers[1].at", 5)
    api._set_dotted(d, "tiers[-2].at", 4)
    api._set_dotted(d, "rules.ruin.below", 100.0)
    api._set_dotted(d, "markets.ES.vol", 0.2)                  # new sections are made
    assert d == {"tiers": [{"at": 4}, {"at": 5}], "rules": {"ruin": {"below": 100.0}},
                 "markets": {"ES": {"vol": 0.2}}}
    with pytest.raises(ScenarioError) as e:
        api._set_dotted(d, "tiers[2].at", 1)
    assert e.value.field == "tiers[2]" and "no such item (tiers has 2)" in e.value.problem
    with pytest.raises(ScenarioError) as e:
        api._set_dotted(d, "tiers[-3].at", 1)
    assert e.value.field == "tiers[-3]"
    with pytest.raises(ScenarioError) as e:
        api._set_dotted(d, "tiers.at", 1)
    assert e.value.field == "tiers.at" and "is a list" in e.value.problem
    with pytest.raises(ScenarioError, match="not a section"):
        api._set_dotted(d, "markets.ES.vol.x", 1)


def test_whole():
    assert api._whole("paths", 5, 1) == 5 and api._whole("paths", np.int64(3), 1) == 3
    assert api._whole("seed", 0, 0) == 0
    for bad in (True, 2.0, "3"):
        with pytest.raises(ScenarioError, match="whole number"):
            api._whole("paths", bad, 1)
    with pytest.raises(ScenarioError, match=">= 1, got 0"):
        api._whole("paths", 0, 1)


@pytest.mark.parametrize("tails, ok", [(None, True), (2.0, False), (2.0001, True), (4, True),
                                       (1000, True), (1000.5, False), (True, False),
                                       ("5", False)])
def test_check_tails(tails, ok):
    if ok:
        api.check_tails(tails)
    else:
        with pytest.raises(ScenarioError, match="must be > 2"):
            api.check_tails(tails)


def test_list_and_reviews():
    assert api._list(None) == [] and api._list(3) == [3] and api._list(2.5) == [2.5]
    assert api._list(np.float64(1.0)) == [1.0] and api._list(np.array(7)) == [np.array(7)]
    assert api._list((1, 2)) == [1, 2] and api._list(np.array([1, 2])) == [1, 2]
    assert api.check_reviews(None) is None
    assert api.check_reviews("off, 21,63") == [None, 21, 63]
    assert api.check_reviews([None, 5, 7.0, np.int64(100_000)]) == [None, 5, 7, 100_000]
    assert api.check_reviews(["OFF", 5]) == [None, 5]
    with pytest.raises(ScenarioError, match="given twice"):      # two identical rows
        api.check_reviews([None, "OFF", 5])
    assert api.check_reviews(1) == [1]
    for bad in ("0", "21,x", [True], [2.5], [100_001]):
        with pytest.raises(ScenarioError, match="neither off nor a number"):
            api.check_reviews(bad)
    with pytest.raises(ScenarioError, match="at least one setting"):
        api.check_reviews([])


def test_check_backend():
    api._check_backend("threads", None)
    with pytest.raises(ScenarioError, match="must be threads or dask"):
        api._check_backend("mpi", None)
    with pytest.raises(ScenarioError) as e:
        api._check_backend("threads", "tcp://x:8786")
    assert e.value.field == "--scheduler"


def test_stress_runs():
    from types import SimpleNamespace
    base = SimpleNamespace(is_base=lambda: True)
    row = SimpleNamespace(is_base=lambda: False)
    assert api.stress_runs([base, row, row]) == 3
    assert api.stress_runs([base, row, row], [None, 21]) == 6
    assert api.stress_runs([row]) == 2


def test_report_pages_name_the_python_call(tmp_path):
    """A page written from Python says which call made it: simcore.run(...) /
    simcore.stress_test(...) from Python, in the page's command line row."""
    from pathlib import Path

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import simcore
    plan = Path(__file__).resolve().parents[1] / "scenarios" / "aggressive_3k.yaml"
    res = simcore.run(plan, paths=256, horizon=20, seed=1, equity_paths=256)
    text = Path(res.report(tmp_path / "run.html")).read_text()
    assert "<tr><th>command</th><td>simcore.run(...) from Python</td></tr>" in text
    st = simcore.stress_test(plan, spike=1.0, paths=256, horizon=20, seed=1)
    text = Path(st.report(tmp_path / "st.html")).read_text()
    assert "<tr><th>command</th><td>simcore.stress_test(...) from Python</td></tr>" in text
    plt.close("all")


def test_size_result_figures_and_page(tmp_path):
    """A sizing result draws the curve figure (one, ``sizing``) and writes its page, naming
    the call."""
    from pathlib import Path

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import simcore
    plan = Path(__file__).resolve().parents[1] / "scenarios" / "aggressive_3k.yaml"
    res = simcore.size(plan, max_ruin=0.05, paths=300, seed=3, horizon=20)
    figs = res.figures()
    assert list(figs) == ["sizing"] and isinstance(figs["sizing"], matplotlib.figure.Figure)
    text = Path(res.report(tmp_path / "size.html")).read_text()
    assert "<tr><th>command</th><td>simcore.size(...) from Python</td></tr>" in text
    plt.close("all")


def test_seed_zero_is_a_seed_and_paths_start_at_one():
    from pathlib import Path

    import simcore
    plan = Path(__file__).resolve().parents[1] / "scenarios" / "aggressive_3k.yaml"
    assert simcore.run(plan, paths=64, horizon=5, seed=0).to_dict()["seed"] == 0
    assert simcore.run(plan, paths=1, horizon=5, seed=2).to_dict()["paths"] == 1
    with pytest.raises(ScenarioError, match="seed: must be >= 0, got -1"):
        simcore.run(plan, paths=64, horizon=5, seed=-1)
    with pytest.raises(ScenarioError, match="paths: must be >= 1, got 0"):
        simcore.run(plan, paths=0, horizon=5, seed=1)


def test_run_records_no_equity_by_default():
    """Day-end equity is kept only when asked (record_equity, equity_paths): memory."""
    from pathlib import Path

    import simcore
    plan = Path(__file__).resolve().parents[1] / "scenarios" / "aggressive_3k.yaml"
    res = simcore.run(plan, paths=64, horizon=5, seed=1)
    assert res.equity is None and res.output.equity.shape[0] == 0
    res = simcore.run(plan, paths=64, horizon=5, seed=1, equity_paths=1)
    assert res.equity.shape == (64, 6)


def test_compare_models_checks_replay_length_only_when_replay_is_asked(tmp_path):
    """A bootstrap plan whose history is shorter than its horizon: gbm and bootstrap run;
    asking for replay is refused up front, naming --model/model."""
    import pandas as pd

    import simcore
    B = 60
    k = np.arange(B, dtype=float)
    c = 100.0 * np.exp(0.01 * np.sin(1.3 * k))
    df = pd.DataFrame({"Open": c, "High": c * 1.01, "Low": c * 0.99, "Close": c},
                      index=pd.bdate_range("2020-01-01", periods=B))
    df.index.name = "Date"
    df.to_csv(tmp_path / "a.csv")
    d = {"name": "m", "capital": 30000, "horizon_days": 50, "paths": 20, "seed": 1,
         "markets": {"SP500": {"price": 5000, "vol": 0.5}},
         "strategies": {"SP500": {"direction": "long", "stop": "none", "target": "none"}},
         "rules": {"risk_per_trade": 0.01, "margin_cap": "none", "slippage_ticks": 0,
                   "ruin": {}},
         "tiers": [{"contracts": {"MES": 1}}],
         "history": {"files": {"SP500": str(tmp_path / "a.csv")}, "mode": "bootstrap"}}
    res = simcore.compare_models(d, "gbm,bootstrap", paths=20, seed=1)
    assert list(res) == ["gbm", "bootstrap"]
    with pytest.raises(ScenarioError, match="needs at least 50"):
        simcore.compare_models(d, "bootstrap,replay", paths=20, seed=1)


def test_stress_of_one_market_needs_no_review_and_refuses_one():
    import simcore
    d = {"capital": 10000, "horizon_days": 10, "paths": 64, "seed": 4,
         "markets": {"SP500": {"price": 6000, "vol": 0.18}},
         "strategies": {"SP500": {"direction": "long", "stop": {"atr": 1.0},
                                  "target": {"r": 2.0}}},
         "rules": {"risk_per_trade": 0.05, "margin_cap": "none", "slippage_ticks": 1,
                   "ruin": {}},
         "tiers": [{"contracts": {"MES": 1}}]}
    res = simcore.stress_test(d, spike=0.5, paths=64)
    assert [r["name"] for r in res.to_dict()["rows"]][0] == "base"
    with pytest.raises(ScenarioError, match="at least two markets"):
        simcore.stress_test(d, spike=0.5, paths=64, review="off,21")
