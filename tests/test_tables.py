"""The rendered tables, cell by cell (issue 16): `simrisk run`'s report
(text.format_table), the stress table (text.format_stress_table) and the sizing report
(text.format_sizing). Inputs are hand-made result dicts with known figures, so every
expected cell is written out here from the documented format, not copied from the output."""
import re

import pytest

from simcore.text import (NA, ci, ci_bare, ci_span, format_sizing, format_stress_table,
                          format_table, money, money_cents, pct)


def cells(text, label):
    """The cells of the table line that starts with ``label`` (columns are separated by two
    or more spaces)."""
    for line in text.splitlines():
        if line.startswith(label):
            return [c for c in re.split(r"\s{2,}", line.strip())]
    raise AssertionError(f"no line starting with {label!r} in\n{text}")


def header_cells(text, first):
    return cells(text, first)


# ---------------------------------------------------------------------------------------------
# simrisk run
# ---------------------------------------------------------------------------------------------
SUMMARY = {
    "name": "tbl", "paths": 1000, "seed": 4, "horizon_days": 504, "capital": 12500.0,
    "ruin": {"probability": 0.0123, "ci95": [0.00705, 0.02145], "blown_probability": 0.0,
             "blown_ci95": [0.0, 0.00383], "day_median": 210, "day_p10": 41, "day_p90": 480},
    "margin_calls": {"probability_any": 0.25, "ci95": [0.2240, 0.2779],
                     "mean_per_path": 0.3125, "per_year": 0.15625},
    "tiers": [
        {"index": 0, "at": None, "probability_reached": 1.0, "ci95": [0.99617, 1.0],
         "days_p10": 0, "days_median": 0, "days_p90": 0},
        {"index": 1, "at": 25000, "probability_reached": 0.4, "ci95": [0.3697, 0.4311],
         "days_p10": 60, "days_median": 250, "days_p90": 470},
        {"index": 2, "at": 100000, "probability_reached": 0.0, "ci95": [0.0, 0.00383],
         "days_p10": None, "days_median": None, "days_p90": None},
    ],
    "final_equity": {"mean": 15321.4, "std": 8765.5, "p5": -1234.0, "p25": 9000.0,
                     "median": 14000.4, "p75": 20000.6, "p95": 1234567.0},
    "max_drawdown": {"mean": 0.2, "p5": 0.051, "median": 0.1875, "p95": 0.4, "max": 0.9},
    "markets": {"SP500": {"trades": 12345, "win_rate": 0.4567, "avg_win_r": 1.8,
                          "avg_loss_r": -0.95, "skipped_by_reason": {"risk": 7, "margin_cap": 0,
                                                                     "funds": 1234},
                          "alpha": 0.123456, "alpha_source": "win_rate",
                          "target_win_rate": 0.4, "gap_fills": 3, "beyond_1r": 2},
                "GOLD": {"trades": 0, "win_rate": None, "avg_win_r": None, "avg_loss_r": None,
                         "skipped_by_reason": {}, "alpha": None}},
    "trades_per_path": 12.345, "win_rate": 0.4567,
}


def test_run_table_header_and_ruin_cells():
    t = format_table(SUMMARY)
    assert t.splitlines()[0] == ("tbl: 1,000 paths, seed 4, horizon 504 days (2.00 y), "
                                 "capital $12,500")
    assert cells(t, "P(ruin)") == ["P(ruin)", "1.23%", "[0.70%, 2.15%]"]
    assert cells(t, "P(blown") == ["P(blown, equity <= 0)", "0.00%", "[0.00%, 0.38%]"]
    assert cells(t, "Day of ruin") == ["Day of ruin p10 / median / p90", "41 / 210 / 480"]


def test_run_table_margin_call_cells():
    t = format_table(SUMMARY)
    assert cells(t, "P(at least one)") == ["P(at least one)", "25.00%", "[22.40%, 27.79%]"]
    assert cells(t, "Mean per path") == ["Mean per path", "0.312"]
    assert cells(t, "Per year") == ["Per year", "0.156"]


def test_run_table_tier_cells():
    t = format_table(SUMMARY)
    assert header_cells(t, "  tier") == ["tier", "at", "P(reached)", "95% CI", "day p10",
                                         "median", "p90"]
    assert cells(t, "     0") == ["0", "-", "100.00%", "[99.62%, 100.00%]", "0", "0", "0"]
    assert cells(t, "     1") == ["1", "$25,000", "40.00%", "[36.97%, 43.11%]", "60", "250",
                                  "470"]
    assert cells(t, "     2") == ["2", "$100,000", "0.00%", "[0.00%, 0.38%]", "-", "-", "-"]


def test_run_table_equity_and_drawdown_cells():
    t = format_table(SUMMARY)
    lines = t.splitlines()
    i = lines.index("Final equity")
    assert re.split(r"\s{2,}", lines[i + 1].strip()) == ["mean", "sd", "p5", "p25", "median",
                                                         "p75", "p95"]
    assert re.split(r"\s{2,}", lines[i + 3].strip()) == [
        "$15,321", "$8,766", "-$1,234", "$9,000", "$14,000", "$20,001", "$1,234,567"]
    i = lines.index("Max drawdown (fraction of peak equity)")
    assert re.split(r"\s{2,}", lines[i + 1].strip()) == ["mean", "p5", "median", "p95", "max"]
    assert re.split(r"\s{2,}", lines[i + 3].strip()) == ["20.0%", "5.1%", "18.8%", "40.0%",
                                                         "90.0%"]


def test_run_table_market_cells():
    t = format_table(SUMMARY)
    assert cells(t, "SP500") == ["SP500", "12,345", "45.7%", "+1.80", "-0.95", "7/0/1,234",
                                 "+0.1235 (wr 40%)"]
    assert cells(t, "GOLD") == ["GOLD", "0", "-", "-", "-", "-/-/-", "-"]
    assert cells(t, "trades per path") == [
        "trades per path 12.3; overall win rate 45.7%; gap stop fills 3 (2 beyond -1R)"]


def test_run_table_missing_values_are_dashes():
    s = dict(SUMMARY, seed=None, horizon_days=None, name=None, tiers=[],
             ruin={"probability": None, "ci95": None},
             margin_calls={"probability_any": None, "ci95": [None, None]},
             final_equity={}, max_drawdown={}, markets={})
    t = format_table(s)
    assert t.splitlines()[0] == "scenario: 1,000 paths, seed -, horizon - days (- y), capital $12,500"
    assert cells(t, "P(ruin)") == ["P(ruin)", "-", "-"]
    assert cells(t, "P(at least one)") == ["P(at least one)", "-", "-"]
    assert "Tiers" not in t and "Markets" not in t


def test_run_table_regimes():
    s = dict(SUMMARY, regimes=[{"name": "calm", "share_of_days": 0.75, "spells": 1200,
                                "mean_spell_days": 31.5},
                               {"name": "crisis", "share_of_days": 0.25, "spells": 1190,
                                "mean_spell_days": 10.55}])
    t = format_table(s)
    assert cells(t, "calm") == ["calm", "75.0%", "1,200", "31.5"]
    assert cells(t, "crisis") == ["crisis", "25.0%", "1,190", "10.6"]   # 10.55 -> 10.6 (binary)


# ---------------------------------------------------------------------------------------------
# simrisk stress
# ---------------------------------------------------------------------------------------------
def _tiers(p0, d0, p1, d1):
    return [{"at": None, "probability_reached": 1.0, "days_median": 0},
            {"at": 10000, "probability_reached": p0, "days_median": d0},
            {"at": 15000, "probability_reached": p1, "days_median": d1}]


STRESS = {
    "paths": 2048, "seed": 9, "horizon_days": 252, "capital": 12000.0, "name": "st",
    "rows": [
        {"name": "base", "stress": "base", "ruin_probability": 0.05,
         "margin_call_probability": 0.125, "tiers": _tiers(1.0, 0, 0.375, 120),
         "final_equity_p5": 6543.2},
        {"name": "spike 1", "stress": "spike 1", "ruin_probability": 0.0625,
         "margin_call_probability": 0.1875, "tiers": _tiers(1.0, 0, 0.25, None),
         "final_equity_p5": 5000.0,
         "vs_base": {"ruin_probability": {"diff": 0.0125, "ci95": [0.005, 0.02]},
                     "margin_call_probability": {"diff": 0.0625, "ci95": [0.05, 0.075]},
                     "tiers_reached": [], "final_equity_p5": {"diff": -1543.2,
                                                              "ci95": [-2000.4, -1100.6]}}},
        {"name": "crash", "stress": "spike 0.9 adverse, vol x2", "ruin_probability": 0.5,
         "margin_call_probability": 0.0, "tiers": _tiers(1.0, 0, 0.0, None),
         "final_equity_p5": -250.0,
         "vs_base": {"ruin_probability": {"diff": 0.45, "ci95": [0.42, 0.48]},
                     "margin_call_probability": {"diff": -0.125, "ci95": None},
                     "tiers_reached": [], "final_equity_p5": {"diff": -6793.2,
                                                              "ci95": [-7000, -6500]}}},
    ],
}


def test_stress_table_cells():
    t = format_stress_table(STRESS)
    assert t.splitlines()[0] == ("st: stress test, 2,048 paths, seed 9, 252 days, "
                                 "capital $12,000")
    assert cells(t, "stress") == ["stress", "P(ruin)", "vs base, pp [95% CI]", "P(margin call)",
                                  "vs base, pp [95% CI]", "P(reach $15,000)", "median day",
                                  "p5 equity", "vs base [95% CI]"]
    assert cells(t, "base") == ["base", "5.00%", "12.50%", "37.50%", "120", "$6,543"]
    assert cells(t, "spike 1") == ["spike 1", "6.25%", "+1.25 [+0.50, +2.00]", "18.75%",
                                   "+6.25 [+5.00, +7.50]", "25.00%", "-", "$5,000",
                                   "-1,543 [-2,000, -1,101]"]
    assert cells(t, "crash") == ["crash", "50.00%", "+45.00 [+42.00, +48.00]", "0.00%",
                                 "-12.50", "0.00%", "-", "-$250", "-6,793 [-7,000, -6,500]"]
    # a row whose name is not its description gets a note; one whose name is, does not
    assert "  crash: spike 0.9 adverse, vol x2" in t
    assert "  spike 1:" not in t


def test_stress_table_base_row_only():
    """`--spike 0` leaves only the base row: a table of one row, no differences."""
    res = dict(STRESS, rows=STRESS["rows"][:1])
    t = format_stress_table(res)
    assert cells(t, "base") == ["base", "5.00%", "12.50%", "37.50%", "120", "$6,543"]
    assert len([ln for ln in t.splitlines() if ln.startswith(("base", "spike", "crash"))]) == 1


def test_stress_table_without_a_tier_above_the_capital():
    res = dict(STRESS, capital=20000.0)
    t = format_stress_table(res)
    head = cells(t, "stress")
    assert head == ["stress", "P(ruin)", "vs base, pp [95% CI]", "P(margin call)",
                    "vs base, pp [95% CI]", "p5 equity", "vs base [95% CI]"]
    assert cells(t, "spike 1") == ["spike 1", "6.25%", "+1.25 [+0.50, +2.00]", "18.75%",
                                   "+6.25 [+5.00, +7.50]", "$5,000", "-1,543 [-2,000, -1,101]"]


def test_stress_table_tier_column_is_the_first_above_capital():
    res = dict(STRESS, capital=9000.0)
    t = format_stress_table(res)
    assert "P(reach $10,000)" in cells(t, "stress")
    assert cells(t, "base")[3:5] == ["100.00%", "0"]


# ---------------------------------------------------------------------------------------------
# simrisk size
# ---------------------------------------------------------------------------------------------
def _ans(status, capital, bracket, prob=None, ci=None):
    return {"status": status, "capital": capital, "bracket": bracket, "holds_below": None,
            "at_answer": None if prob is None else {"probability": prob, "ci95": ci}}


SIZING = {
    "name": "sz", "capital": 5000.0, "paths": 4096, "coarse_paths": 512, "seed": 3,
    "horizon_days": 252, "tolerance": 0.01,
    "targets": [
        {"kind": "ruin", "label": "P(ruin) <= 5%",
         "point": _ans("ok", 6400.0, [6300.0, 6400.0], 0.0488, [0.0425, 0.056]),
         "conservative": _ans("ok", 7250.5, [7100.0, 7250.5], 0.04, [0.034, 0.0466]),
         "optimistic": _ans("ok", 5600.0, [5500.0, 5600.0])},
        {"kind": "reach", "label": "P(reach $10,000 in 126d) >= 50%", "tier_at": 10000,
         "within_days": 126,
         "point": _ans("not_reached", None, [50000.0, None]),
         "conservative": _ans("holds_everywhere", 1000.0, [None, 1000.0], 0.75, [0.7, 0.8]),
         "optimistic": _ans("ok", 900.0, [850.0, 900.0])},
    ],
    "answer": {"capital": None, "capital_conservative": 7250.5, "capital_optimistic": 5600.0},
    "curve": [
        {"capital": 1000.0, "paths": 512, "ruin": {"probability": 0.0, "ci95": [0.0, 0.0075]},
         "margin_call": {"probability": 0.001953125}, "tiers": [{"probability": 0.125}],
         "targets": [{"probability": 0.0}, {"probability": 0.0625}], "trades_per_path": 0.0},
        {"capital": 12345.67, "paths": 4096,
         "ruin": {"probability": 0.1234, "ci95": [0.1136, 0.1339]},
         "margin_call": {"probability": 0.5}, "tiers": [{"probability": 0.9876}],
         "targets": [{"probability": 0.1234}, {"probability": 0.5}],
         "trades_per_path": 1234.56},
    ],
    "cost": {"paths_simulated": 30720, "path_equivalents": 7.5, "plain_run_paths": 4096,
             "evaluations": 21, "full_evaluations": 4},
    "notes": ["a note"],
}
SIZING["curve"][0]["tiers"][0]["at"] = 10000


def test_sizing_curve_cells():
    s = SIZING
    for r in s["curve"]:
        r["tiers"][0]["at"] = 10000
    t = format_sizing(s)
    assert t.splitlines()[0] == ("sz: starting capital, seed 3, 4,096 paths (coarse grid 512), "
                                 "horizon 252 days; scenario capital $5,000")
    assert cells(t, "  capital") == ["capital", "paths", "P(ruin)", "95% CI (%)",
                                     "P(margin call)", "reach $10,000", "$10,000 in 126d",
                                     "trades/path"]
    assert cells(t, "   $1,000") == ["$1,000", "512", "0.00%", "[0.00, 0.75]", "0.20%",
                                     "12.5%", "6.2%", "0.0"]
    assert cells(t, "  $12,346") == ["$12,346", "4,096", "12.34%", "[11.36, 13.39]", "50.00%",
                                     "98.8%", "50.0%", "1,234.6"]


def test_sizing_answer_cells():
    t = format_sizing(SIZING)
    assert cells(t, "P(ruin) <= 5%") == ["P(ruin) <= 5%", "$6,400", "$7,250",
                                         "$5,600 - $7,250", "4.88% [4.25, 5.60]",
                                         "4.00% [3.40, 4.66]"]
    assert cells(t, "P(reach $10,000 in 126d)") == [
        "P(reach $10,000 in 126d) >= 50%", "> $50,000", "$1,000 (min)", "$900 - $1,000", "-",
        "75.00% [70.00, 80.00]"]
    assert cells(t, "overall (largest)") == ["overall (largest)", "not reached", "$7,250",
                                             "$5,600 - $7,250"]
    assert "note: a note" in t
    assert t.rstrip().splitlines()[-1] == ("cost: 30,720 paths simulated = 7.50 x one run of "
                                           "4,096 paths (21 capitals, 4 at full paths)")


def test_stress_table_notes_every_renamed_row_and_keeps_text_alignment():
    rows = [dict(STRESS["rows"][0]), dict(STRESS["rows"][1], name="crisis"),
            dict(STRESS["rows"][2])]
    for r in rows:
        r["tiers"] = _tiers(1.0, 0, 0.5, 77)          # every median day a number
    t = format_stress_table(dict(STRESS, rows=rows))
    assert "  crisis: spike 1" in t and "  crash: spike 0.9 adverse, vol x2" in t
    assert "  base:" not in t
    # cells are text (no number parsing): an all-numeric column stays left-aligned
    lines = t.splitlines()
    head = next(ln for ln in lines if ln.startswith("stress"))
    col = head.index("median day")
    for name in ("base", "crisis", "crash"):
        line = next(ln for ln in lines if ln.startswith(name + " "))
        assert line[col:col + 2] == "77", line


def test_sizing_overall_row_without_an_optimistic_answer():
    s = dict(SIZING, answer={"capital": 6400.0, "capital_conservative": None,
                             "capital_optimistic": None})
    t = format_sizing(s)
    assert cells(t, "overall (largest)") == ["overall (largest)", "$6,400", "not reached",
                                             "- - -"]


def test_shared_cells_keep_each_table_s_form():
    # one formatter per kind of cell; where tables differ, the difference is a named choice
    assert pct(0.012345) == "1.23%" and pct(0.05, None) == "5%" and pct(0.0125, None) == "1.25%"
    assert pct(None) == "-" and pct(None, 1, NA) == "n/a"
    assert ci([0.0005, 0.0018]) == "[0.05%, 0.18%]" and ci([None, 0.1]) == "-"
    assert ci_bare([0.0005, 0.0018]) == "[0.05, 0.18]"
    assert ci_span([0.0005, 0.0018]) == "0.05-0.18%" and ci_span(None) == "-"
    assert money(-1234.4) == "-$1,234" and money(12.5) == "$12"
    assert money_cents(12.5) == "$12.50" and money_cents(50) == "$50"
    assert money_cents(50, trim_whole=False) == "$50.00"
    assert money_cents(1234.5) == money_cents(1234.5, trim_whole=False) == "$1,234"

