"""The report's sentences from hand-made results (issue 16): every figure a sentence quotes,
formatted as the report's own rules say (percent with 2 digits, or 1 from 1% up for a tier;
whole dollars with separators; a missing figure as "-"), written here by hand."""
from types import SimpleNamespace

import numpy as np

from simcore.report import run_narrative, size_narrative, stress_narrative


def _summary(**over):
    s = {"paths": 4000, "horizon_days": 252, "capital": 10000.0,
         "ruin": {"probability": 0.0125, "ci95": [0.0095, 0.0163], "paths_ruined": 50,
                  "day_median": 87},
         "final_equity": {"p5": 7250.4, "median": 10400.0, "p95": 15999.6},
         "tiers": [{"at": 5000.0, "probability_reached": 1.0, "days_median": 0},
                   {"at": 25000.0, "probability_reached": 0.0825, "days_median": 190},
                   {"at": 50000.0, "probability_reached": 0.0025, "days_median": 240},
                   {"at": 99000.0, "probability_reached": 0.0, "days_median": None}],
         "max_drawdown": {"median": 0.124, "p95": 0.356},
         "margin_calls": {"probability_any": 0.034, "per_year": 0.0512}}
    s.update(over)
    return s


def test_run_narrative_by_hand():
    d = SimpleNamespace(summary=_summary(), equity=np.zeros((0, 0)))
    assert run_narrative(d) == [
        "P(ruin) is 1.25% (95% CI 0.95-1.63%): 50 of 4,000 paths were ruined within 252 days, "
        "the median of them on day 87.",
        "5% of paths end below $7,250, half below $10,400, and 5% above $16,000 (starting "
        "from $10,000).",
        "8.2% of paths reach $25,000 (median day 190).",
        "0.25% of paths reach $50,000 (median day 240).",
        "No path reaches $99,000.",
        "Half of the paths see a drawdown of at least 12% of their peak, one in twenty at "
        "least 36%.",
        "3.40% of paths meet at least one margin call (0.051 a year on average).",
    ]


def test_run_narrative_without_ruin_or_calls_and_a_missing_interval():
    s = _summary(ruin={"probability": 0.0, "ci95": None, "paths_ruined": 0, "day_median": None},
                 margin_calls={"probability_any": 0.0, "per_year": 0.0}, tiers=[])
    out = run_narrative(SimpleNamespace(summary=s, equity=np.zeros((0, 0))))
    assert out[0] == "P(ruin) is 0.00% (95% CI -): 0 of 4,000 paths were ruined within 252 days."
    assert out[-1] == "No path meets a margin call."


def test_run_narrative_fan_median_reaches_the_next_tier():
    """The fan's median line (day-end equity, median over the recorded paths) first at or
    above $25,000 on day 2 (paths 24k, 26k, 27k on day 2); a 3-path fan of 4,000 paths says
    'the first 3 paths'."""
    eq = np.array([[10000.0, 20000.0, 24000.0, 30000.0],
                   [10000.0, 21000.0, 26000.0, 20000.0],
                   [10000.0, 22000.0, 27000.0, 29000.0]])
    out = run_narrative(SimpleNamespace(summary=_summary(), equity=eq))
    assert out[1] == ("The median path reaches $25,000 on day 2 (the fan's median line, over "
                      "the first 3 paths).")
    s = _summary(paths=3)
    out = run_narrative(SimpleNamespace(summary=s, equity=eq[:, :2]))
    assert out[1] == ("The median path does not reach $25,000 within 252 days (the fan's "
                      "median line, over every path).")


def test_money_of_a_loss_and_size_narrative_by_hand():
    res = {"answer": {"capital": 2784.0, "capital_conservative": 2829.0,
                      "binding": "P(ruin) <= 10%"},
           "capital": 5000.0, "range": {"min_capital": 1500.0, "max_capital": 20000.0},
           "notes": ["a note"]}
    assert size_narrative(res) == [
        "The least starting capital that meets every target is $2,784 (point estimate); "
        "$2,829 meets them at 95% confidence.",
        "The binding target is P(ruin) <= 10%.",
        "The plan's own capital is $5,000.", "a note"]
    res["answer"] = {"capital": None}
    assert size_narrative(res)[0] == ("No capital in the searched range ($1,500 to $20,000) "
                                      "meets every target.")
    res["answer"] = {"capital": 2784.0}
    assert size_narrative(res)[0].endswith("; - meets them at 95% confidence.")


def _row(name, ruin, p5, diff=None, ci=None, p5diff=None):
    r = {"name": name, "ruin_probability": ruin, "final_equity_p5": p5}
    if diff is not None:
        r["vs_base"] = {"ruin_probability": {"diff": diff, "ci95": ci},
                        "final_equity_p5": {"diff": p5diff}}
    return r


def test_stress_narrative_by_hand():
    res = {"rows": [_row("base", 0.02, 8000.0),
                    _row("vol x1.5", 0.05, 6500.0, 0.03, [0.02, 0.04], -1500.0),
                    _row("gap", 0.021, -120.0, 0.001, [-0.002, 0.004], -8120.0)]}
    assert stress_narrative(res) == [
        "The base case's P(ruin) is 2.00% and 5% of its paths end below $8,000.",
        "The worst row for ruin is vol x1.5: 5.00%, +3.00 percentage points from the base "
        "(paired 95% CI +2.00 to +4.00); the rise is clear of chance.",
        "The lowest p5 final equity is gap's, -$120 (-$8,120 from the base).",
        "Rows whose ruin rises clear of chance: vol x1.5."]
    res = {"rows": [_row("base", 0.02, 8000.0),
                    _row("calm", 0.01, 9000.0, -0.01, [-0.015, -0.005], 1000.0)],
           "reference": "row above"}
    out = stress_narrative(res)
    assert out[0] == ("base: P(ruin) 2.00%, 5% of paths end below $8,000. Differences are "
                      "from the row above.")
    assert out[1].endswith("(paired 95% CI -1.50 to -0.50).")
    assert out[2] == "The lowest p5 final equity is calm's, $9,000 (+$1,000 from its reference)."
    assert stress_narrative({"rows": [_row("base", 0.02, 8000.0)]})[1] == "No stress row."



def test_stress_narrative_worst_row_within_chance():
    res = {"rows": [_row("base", 0.02, 8000.0),
                    _row("wide", 0.025, 7000.0, 0.005, [-0.001, 0.011], -1000.0)]}
    assert stress_narrative(res)[1] == (
        "The worst row for ruin is wide: 2.50%, +0.50 percentage points from the base (paired "
        "95% CI -0.10 to +1.10); the interval includes no change.")
    assert len(stress_narrative(res)) == 3            # no row rises clear of chance


def test_run_tables_market_rows_by_hand():
    """The per-market table of the HTML report: trades and skips per path (of 4,000), win rate
    with one digit, average R signed with two, '-' when no trade had a stop."""
    from simcore.report import _run_tables
    s = _summary()
    s["ruin"].update(blown_probability=0.001, blown_ci95=[0.0004, 0.0025], day_p10=20,
                     day_p90=None)
    s["margin_calls"]["ci95"] = [0.029, 0.04]
    for t, i in zip(s["tiers"], range(4)):
        t.update(index=i, ci95=None, days_p10=None, days_p90=None)
    s["final_equity"].update(mean=10500.0, p25=9000.0, p75=12000.0)
    s["max_drawdown"].update(mean=0.15, p5=0.02, max=0.9)
    s["markets"] = {"ES": {"trades": 10000, "win_rate": 0.4567, "avg_win_r": 1.234,
                           "avg_loss_r": -0.987,
                           "skipped_by_reason": {"risk": 400, "margin_cap": 0, "funds": 2000}},
                    "GC": {"trades": 0, "win_rate": None, "avg_win_r": None, "avg_loss_r": None,
                           "skipped_by_reason": {"risk": 0, "margin_cap": 0, "funds": 0}}}
    html = _run_tables(s)
    assert ("<tr><td>ES</td><td>2.5</td><td>45.7%</td><td>+1.23</td><td>-0.99</td>"
            "<td>0.1 / 0.0 / 0.5</td></tr>") in html
    assert ("<tr><td>GC</td><td>0.0</td><td>-</td><td>-</td><td>-</td>"
            "<td>0.0 / 0.0 / 0.0</td></tr>") in html
    assert "<tr><td>day of ruin p10 / median / p90</td><td>20 / 87 / -</td><td></td></tr>" in html
    assert "<tr><td>P(blown, equity &lt;= 0)</td><td>0.10%</td><td>0.04-0.25%</td></tr>" in html


def test_figure_tag_carries_the_png_size():
    """<img width height> are the PNG's own pixel size (read here with matplotlib)."""
    import base64
    import io
    import re

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    from simcore.report import _img
    fig, ax = plt.subplots(figsize=(3.1, 2.2))
    ax.plot([0, 1], [0, 1])
    tag = _img(fig, "a <line>", "cap & tion")
    plt.close(fig)
    m = re.match(r'<figure><img src="data:image/png;base64,([^"]+)" width="(\d+)" '
                 r'height="(\d+)" alt="a &lt;line&gt;"><figcaption>cap &amp; tion</figcaption>'
                 r'</figure>$', tag)
    assert m
    h, w = mpimg.imread(io.BytesIO(base64.b64decode(m.group(1)))).shape[:2]
    assert (int(m.group(2)), int(m.group(3))) == (w, h)


def test_stress_report_table_by_hand(monkeypatch):
    """The stress page's table from a hand-made result (figures left out): percentage-point
    differences signed with two digits and their paired interval, dollars signed with
    separators, the next tier's column, blank comparison cells on the base row."""
    import simcore.figures
    from simcore.report import stress_report
    monkeypatch.setattr(simcore.figures, "stress_figures", lambda result: {})
    tiers0 = [{"at": 5000.0, "probability_reached": 1.0},
              {"at": 20000.0, "probability_reached": 0.125}]
    tiers1 = [{"at": 5000.0, "probability_reached": 1.0},
              {"at": 20000.0, "probability_reached": 0.0875}]
    vs = {"ruin_probability": {"diff": 0.0315, "ci95": [0.021, 0.042]},
          "tiers_reached": [None, {"diff": -0.0375, "ci95": [-0.05, -0.025]}],
          "final_equity_p5": {"diff": -1234.4, "ci95": [-2000.0, -500.6]}}
    result = {"name": "t", "paths": 4000, "seed": 1, "horizon_days": 252, "capital": 10000.0,
              "rows": [{"name": "base", "stress": "none", "ruin_probability": 0.02,
                        "margin_call_probability": 0.1, "final_equity_p5": 8000.0,
                        "tiers": tiers0},
                       {"name": "vol", "stress": "vol x1.5", "ruin_probability": 0.0515,
                        "margin_call_probability": 0.2, "final_equity_p5": 6765.6,
                        "tiers": tiers1, "vs_base": vs}]}
    html = stress_report(result, {})
    assert ("<tr><th>stress</th><th>P(ruin)</th><th>vs base, pp [95% CI]</th>"
            "<th>P(margin call)</th><th>P(reach $20,000)</th><th>vs base, pp</th>"
            "<th>p5 equity</th><th>vs base, USD [95% CI]</th></tr>") in html
    assert ("<tr><td>base</td><td>2.00%</td><td></td><td>10.00%</td><td>12.50%</td><td></td>"
            "<td>$8,000</td><td></td></tr>") in html
    assert ("<tr><td>vol</td><td>5.15%</td><td>+3.15 [+2.10, +4.20]</td><td>20.00%</td>"
            "<td>8.75%</td><td>-3.75 [-5.00, -2.50]</td><td>$6,766</td>"
            "<td>-1,234 [-2,000, -501]</td></tr>") in html


def test_outputs_record_the_fan_subsample_only_for_figures(tmp_path):
    """A page or a figure folder needs the fan chart's day-end equity (FAN_PATHS paths); a CSV
    alone or nothing needs none."""
    from simcore.figures import FAN_PATHS
    from simcore.report import Outputs
    assert Outputs(report=tmp_path / "r.html").equity_paths == FAN_PATHS
    assert Outputs(plot_dir=tmp_path / "figs").equity_paths == FAN_PATHS
    assert Outputs(report=tmp_path / "r.html", plot_dir=tmp_path / "f").equity_paths == FAN_PATHS
    assert Outputs(csv=tmp_path / "x.csv").equity_paths == 0
    assert Outputs().equity_paths == 0


def test_page_meta_names_the_plan_file():
    from simcore._version import __version__
    from simcore.report import Outputs
    plan = SimpleNamespace(extras={"warnings": ["w1"]})
    m = Outputs._meta("simrisk run x.yaml", SimpleNamespace(source="/p/x.yaml"), plan, 7, 100)
    assert m == {"command": "simrisk run x.yaml", "version": __version__, "seed": 7,
                 "paths": 100, "warnings": ["w1"], "plan_file": "/p/x.yaml"}
    assert Outputs._meta("c", None, plan, 7, 100)["plan_file"] is None


def test_stress_words_and_table_of_a_one_path_run(monkeypatch):
    """One path has no paired interval (ci95 None): the sentence and the table cell give the
    difference alone instead of failing (``simrisk stress --paths 1 --report`` raised a
    TypeError)."""
    import simcore.figures
    from simcore.report import stress_report
    monkeypatch.setattr(simcore.figures, "stress_figures", lambda result: {})
    vs = {"ruin_probability": {"diff": 1.0, "ci95": None},
          "tiers_reached": [{"diff": 0.0, "ci95": None}],
          "final_equity_p5": {"diff": -100.0, "ci95": [-100.0, -100.0]}}
    res = {"name": "t", "paths": 1, "seed": 1, "horizon_days": 5, "capital": 1000.0,
           "rows": [{"name": "base", "stress": "none", "ruin_probability": 0.0,
                     "margin_call_probability": 0.0, "final_equity_p5": 1000.0,
                     "tiers": [{"at": 2000.0, "probability_reached": 0.0}]},
                    {"name": "s", "stress": "spike", "ruin_probability": 1.0,
                     "margin_call_probability": 0.0, "final_equity_p5": 900.0,
                     "tiers": [{"at": 2000.0, "probability_reached": 0.0}], "vs_base": vs}]}
    assert stress_narrative(res)[1] == ("The worst row for ruin is s: 100.00%, +100.00 "
                                        "percentage points from the base.")
    html = stress_report(res, {})
    assert "<td>s</td><td>100.00%</td><td>+100.00</td>" in html
    assert "<td>+0.00</td>" in html
