"""Human-readable text: the formatters and tables every command prints (SPEC 10).

The computation modules (:mod:`simcore.metrics`, :mod:`simcore.stress`, :mod:`simcore.sizing`,
:mod:`simcore.models`, :mod:`simcore.calibrate`) compute and return JSON-ready dicts; turning
those dicts into text is presentation, and it lives here, apart from the computing, so that a
number is written the same way wherever it appears (tables, the HTML report's words, error
messages) and a change of wording never touches a computation.

* Cell formatters: :func:`pct`, :func:`ci` / :func:`ci_bare` / :func:`ci_span` (the three
  forms of an interval), :func:`money` / :func:`money_cents` (whole dollars, or cents where
  they matter), :func:`num`, :func:`integer`, :func:`diff_pp` / :func:`diff_money` (paired
  differences with their interval). ``None`` (a figure that does not exist) is :data:`DASH`
  unless a caller asks for another mark.
* Tables: :func:`format_table` (``simrisk run``), :func:`format_stress_table`
  (``simrisk stress``), :func:`format_sizing` (``simrisk size``), :func:`format_models`
  (``simrisk run --model``), :func:`format_calibration` (``simrisk calibrate``).

Dependencies point one way: this module reads the computation modules (lazily, inside the
tables, so importing it costs nothing and creates no cycle); they import only its formatters
(sizing's error messages and target labels, build's plan warnings), never its tables.
"""
from __future__ import annotations

from typing import Optional

__all__ = ["DASH", "NA", "pct", "ci", "ci_bare", "ci_span", "money", "money_cents", "num",
           "integer", "diff_pp", "diff_money", "reference_label", "format_table",
           "format_stress_table", "format_sizing", "format_models", "format_calibration"]

#: a missing figure in a table cell
DASH = "-"
#: a figure the calibration table cannot give (too few dates, no Open column, ...)
NA = "n/a"


# ---------------------------------------------------------------------------------------------
# cells
# ---------------------------------------------------------------------------------------------
def pct(x, digits: Optional[int] = 2, missing: str = DASH) -> str:
    """A fraction as a percentage: ``pct(0.0123) == "1.23%"``. ``digits=None``: as many
    decimals as needed, up to 4 (``pct(0.05, None) == "5%"``; sizing's targets and tolerance).
    ``missing`` for None."""
    if x is None:
        return missing
    v = 100.0 * float(x)
    if digits is None:
        s = f"{v:.4f}".rstrip("0").rstrip(".")
        return f"{s}%"
    return f"{v:.{digits}f}%"


def ci(interval, digits: int = 2) -> str:
    """A 95% interval in a table cell: ``[0.05%, 0.18%]`` (DASH if either end is missing)."""
    if not interval or interval[0] is None or interval[1] is None:
        return DASH
    return f"[{pct(interval[0], digits)}, {pct(interval[1], digits)}]"


def ci_bare(interval, digits: int = 2) -> str:
    """An interval under a ``95% CI (%)`` header, in percent without the signs:
    ``[0.05, 0.18]`` (the sizing curve)."""
    return f"[{100 * interval[0]:.{digits}f}, {100 * interval[1]:.{digits}f}]"


def ci_span(interval, digits: int = 2) -> str:
    """An interval in running text: ``0.05-0.18%`` (the report's sentences and tables)."""
    if not interval or interval[0] is None:
        return DASH
    return f"{100 * interval[0]:.{digits}f}-{100 * interval[1]:.{digits}f}%"


def money(x) -> str:
    """Whole dollars with thousands separators, the sign first: ``$5,000``, ``-$1,234``."""
    if x is None:
        return DASH
    return f"-${-x:,.0f}" if x < 0 else f"${x:,.0f}"


def money_cents(x, *, trim_whole: bool = True) -> str:
    """Dollars with cents below $100, where they matter: ``$12.50``, ``$1,234``.
    ``trim_whole`` (capitals and tier thresholds: sizing) writes a whole amount without cents
    at any size (``$50``); without it (contract risks and margins: build's plan warnings)
    every amount below $100 has its cents (``$50.00``)."""
    if x is None:
        return DASH
    x = float(x)
    whole = (abs(x) >= 100 or x.is_integer()) if trim_whole else x >= 100
    return f"${x:,.0f}" if whole else f"${x:,.2f}"


def num(x, fmt: str = ",.2f", missing: str = DASH) -> str:
    """A number in format ``fmt``; ``missing`` for None."""
    return missing if x is None else format(x, fmt)


def integer(x) -> str:
    """A whole number with thousands separators (paths, trades, days)."""
    return DASH if x is None else f"{int(x):,}"


def diff_pp(d) -> str:
    """A paired difference of probabilities in percentage points with its interval:
    ``+1.20 [+0.40, +2.00]`` (just the difference when there is no interval; "" for None)."""
    if d is None:
        return ""
    lo, hi = d["ci95"] if d.get("ci95") else (None, None)
    core = f"{100 * d['diff']:+.2f}"
    return core if lo is None else f"{core} [{100 * lo:+.2f}, {100 * hi:+.2f}]"


def diff_money(d) -> str:
    """A paired difference in dollars with its interval: ``-120 [-180, -60]`` ("" for None)."""
    if d is None:
        return ""
    lo, hi = d["ci95"]
    return f"{d['diff']:+,.0f} [{lo:+,.0f}, {hi:+,.0f}]"


def reference_label(result: dict) -> str:
    """What a stress table's differences are taken from, as a column label."""
    return result.get("reference_label") or "vs base"


# ---------------------------------------------------------------------------------------------
# the run table
# ---------------------------------------------------------------------------------------------
def _at(x) -> str:
    """A tier's ``at``: dollars, or the label as written."""
    if x is None:
        return DASH
    if isinstance(x, (int, float)):
        return money(x)
    return str(x)


def _alpha(mk: dict) -> str:
    a = mk.get("alpha")
    if a is None:
        return DASH
    s = f"{a:+.4f}"
    twr = mk.get("target_win_rate")
    if mk.get("alpha_source") == "win_rate" and twr is not None:
        s += f" (wr {100 * twr:.0f}%)"
    return s


def format_table(summary: dict) -> str:
    """The human-readable report printed by ``simrisk run`` (fits in 100 columns).

    A header line (name, paths, seed, horizon in days and years, capital), then the sections
    Ruin, Margin calls, Tiers, Final equity, Max drawdown, Markets (and Regimes when present).
    Probabilities are percentages with their 95% Wilson interval, money is whole dollars with
    thousands separators, drawdowns are percentages of peak equity, ``-`` marks a missing value.
    """
    from tabulate import tabulate

    from ._plan import SKIP_REASONS
    from .metrics import TRADING_DAYS

    def table(rows, headers=(), align=None):
        return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True,
                        colalign=align)

    s = summary
    horizon = s.get("horizon_days")
    years = f"{horizon / TRADING_DAYS:.2f}" if horizon is not None else DASH
    seed = s.get("seed")
    head = (f"{s.get('name') or 'scenario'}: {integer(s.get('paths'))} paths, "
            f"seed {DASH if seed is None else seed}, "
            f"horizon {integer(horizon)} days ({years} y), capital {money(s.get('capital'))}")
    parts = [head]
    hist = s.get("history")
    if hist:
        line = (f"price model: {hist.get('mode')} of real history, {integer(hist.get('dates'))} dates"
                + (f" {hist['first']} .. {hist['last']}" if hist.get("first") else "")
                + f", {integer(hist.get('independent_horizons'))} independent horizons")
        if hist.get("mode") == "bootstrap":
            line += f", mean block {hist.get('block_days', 1):g} days"
        else:
            line += ("; paths are overlapping windows: intervals are the union of a "
                     "moving-block bootstrap over start dates and Wilson at the independent "
                     "horizons")
        parts.append(line)
    parts.append("")

    ruin = s["ruin"]
    parts += ["Ruin", table([
        ["P(ruin)", pct(ruin.get("probability")), ci(ruin.get("ci95"))],
        ["P(blown, equity <= 0)", pct(ruin.get("blown_probability")),
         ci(ruin.get("blown_ci95"))],
        ["Day of ruin p10 / median / p90",
         f"{integer(ruin.get('day_p10'))} / {integer(ruin.get('day_median'))} / "
         f"{integer(ruin.get('day_p90'))}", ""],
    ], headers=("", "value", "95% CI"), align=("left", "right", "left")), ""]

    mc = s["margin_calls"]
    parts += ["Margin calls", table([
        ["P(at least one)", pct(mc.get("probability_any")), ci(mc.get("ci95"))],
        ["Mean per path", num(mc.get("mean_per_path"), ",.3f"), ""],
        ["Per year", num(mc.get("per_year"), ",.3f"), ""],
    ], headers=("", "value", "95% CI"), align=("left", "right", "left")), ""]

    if s.get("tiers"):
        rows = [[t.get("index", i), _at(t.get("at")), pct(t.get("probability_reached")),
                 ci(t.get("ci95")) if t.get("ci95") else DASH,
                 integer(t.get("days_p10")), integer(t.get("days_median")), integer(t.get("days_p90"))]
                for i, t in enumerate(s["tiers"])]
        parts += ["Tiers (first day equity closes at or above the threshold)",
                  table(rows, headers=("tier", "at", "P(reached)", "95% CI", "day p10",
                                       "median", "p90"),
                        align=("right", "right", "right", "left", "right", "right", "right")),
                  ""]

    fe = s["final_equity"]
    keys = ("mean", "std", "p5", "p25", "median", "p75", "p95")
    parts += ["Final equity", table([[money(fe.get(k)) for k in keys]],
                                    headers=("mean", "sd", "p5", "p25", "median", "p75", "p95"),
                                    align=("right",) * 7), ""]

    dd = s["max_drawdown"]
    dkeys = [k for k in ("mean", "p5", "median", "p95", "max") if k in dd]
    parts += ["Max drawdown (fraction of peak equity)",
              table([[pct(dd.get(k), 1) for k in dkeys]], headers=dkeys,
                    align=("right",) * len(dkeys)), ""]

    markets = s.get("markets") or {}
    if markets:
        rows = []
        for name, mk in markets.items():
            by = mk.get("skipped_by_reason") or {}
            rows.append([name, integer(mk.get("trades")), pct(mk.get("win_rate"), 1),
                         num(mk.get("avg_win_r"), "+.2f"), num(mk.get("avg_loss_r"), "+.2f"),
                         "/".join(integer(by.get(r)) for r in SKIP_REASONS), _alpha(mk)])
        parts += ["Markets", table(rows, headers=("market", "trades", "win", "avg win R",
                                                  "avg loss R", "skip risk/cap/funds", "alpha"),
                                   align=("left", "right", "right", "right", "right", "right",
                                          "left")), ""]
        extra = [f"trades per path {num(s.get('trades_per_path'), ',.1f')}"]
        if s.get("win_rate") is not None:
            extra.append(f"overall win rate {pct(s['win_rate'], 1)}")
        gaps = sum(int(mk.get("gap_fills") or 0) for mk in markets.values())
        if gaps:
            beyond = sum(int(mk.get("beyond_1r") or 0) for mk in markets.values())
            extra.append(f"gap stop fills {gaps:,} ({beyond:,} beyond -1R)")
        parts += ["; ".join(extra), ""]

    cr = s.get("correlation_review")
    if cr:
        act = ("scale_risk " + num(cr.get("scale_risk"), "g") if cr.get("action") == "scale_risk"
               else str(cr.get("action")))
        rows = [["Reviews (all paths)", integer(cr.get("reviews"))],
                ["Share of reviews flagging a pair", pct(cr.get("share_flagged"), 1)],
                ["Days per path under a flag (mean)", num(cr.get("days_flagged_per_path"),
                                                           ",.1f")],
                ["Share of days under a flag", pct(cr.get("share_of_days_flagged"), 1)]]
        for name, mk in markets.items():
            c = mk.get("correlation") or {}
            rows.append([f"{name}: entries reduced / skipped",
                         f"{integer(c.get('entries_reduced'))} / {integer(c.get('entries_skipped'))}"])
        parts += [f"Correlation review (every {cr.get('every_days')} days, window "
                  f"{cr.get('window_days')}, limit {num(cr.get('limit'), 'g')}, {act})",
                  table(rows, headers=("", "value"), align=("left", "right")), ""]

    if s.get("regimes"):
        parts += ["Regimes", table(
            [[r.get("name"), pct(r.get("share_of_days"), 1), integer(r.get("spells")),
              num(r.get("mean_spell_days"), ",.1f")] for r in s["regimes"]],
            headers=("regime", "share of days", "spells", "mean spell (days)"),
            align=("left", "right", "right", "right")), ""]

    return "\n".join(parts).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------
# the stress table
# ---------------------------------------------------------------------------------------------
def format_stress_table(result: dict) -> str:
    """The ``simrisk stress`` table: one row per stress, differences from the base in
    percentage points (or dollars) with paired 95% intervals."""
    from tabulate import tabulate

    from .stress import next_tier_index

    k = next_tier_index(result)
    rows = []
    for r in result["rows"]:
        vs = r.get("vs_base")
        row = [r["name"], pct(r["ruin_probability"]),
               diff_pp(vs["ruin_probability"]) if vs else "",
               pct(r["margin_call_probability"]),
               diff_pp(vs["margin_call_probability"]) if vs else ""]
        if k is not None:
            t = r["tiers"][k]
            row += [pct(t["probability_reached"]),
                    "-" if t["days_median"] is None else str(t["days_median"])]
        row += [money(r["final_equity_p5"]), diff_money(vs["final_equity_p5"]) if vs else ""]
        rows.append(row)
    ref = reference_label(result)
    head = ["stress", "P(ruin)", f"{ref}, pp [95% CI]", "P(margin call)",
            f"{ref}, pp [95% CI]"]
    if k is not None:
        at = result["rows"][0]["tiers"][k]["at"]
        head += [f"P(reach ${at:,.0f})", "median day"]
    head += ["p5 equity", f"{ref} [95% CI]"]
    title = (f"{result.get('name') or 'scenario'}: stress test, {result['paths']:,} paths, "
             f"seed {result['seed']}, {result['horizon_days']} days, capital "
             f"${result['capital']:,.0f}")
    notes = ("Every row uses the base row's random numbers (common random numbers); "
             "intervals are paired (probabilities: Newcombe's score interval\n"
             "for paired proportions; p5 equity: paired bootstrap).")
    if result.get("reference"):
        notes += (f"\nDifferences are from the row with {result['reference']} (review "
                  "settings: rules.correlation_review).")
        seen = set()
        for r in result["rows"]:
            if r["stress"] != "base" and r["stress"] not in seen:
                seen.add(r["stress"])
                notes += f"\n  {r['condition']}: {r['stress']}"
    else:
        for r in result["rows"][1:]:
            if r["stress"] != r["name"]:
                notes += f"\n  {r['name']}: {r['stress']}"
    return "\n".join([title, "", tabulate(rows, headers=head, disable_numparse=True), "",
                      notes])


# ---------------------------------------------------------------------------------------------
# the sizing report
# ---------------------------------------------------------------------------------------------
def format_sizing(res: dict) -> str:
    """The ``simrisk size`` report of :func:`simcore.sizing.size_capital`'s result: the
    evaluated curve, then the answer per target and overall, then the cost."""
    from tabulate import tabulate

    def table(rows, headers, align):
        return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True,
                        colalign=align)

    head = (f"{res.get('name') or 'scenario'}: starting capital, seed {res['seed']}, "
            f"{res['paths']:,} paths (coarse grid {res['coarse_paths']:,}), horizon "
            f"{res['horizon_days']} days; scenario capital {money_cents(res['capital'])}")
    parts = [head, ""]

    tiers = res["curve"][0]["tiers"] if res["curve"] else []
    extra_t = [i for i, t in enumerate(res["targets"])
               if t["kind"] == "reach" and t.get("within_days") is not None]
    headers = (["capital", "paths", "P(ruin)", "95% CI (%)", "P(margin call)"]
               + [f"reach {money_cents(t['at'])}" for t in tiers]
               + [f"{money_cents(res['targets'][i]['tier_at'])} in "
                  f"{res['targets'][i]['within_days']}d" for i in extra_t]
               + ["trades/path"])
    rows = []
    for r in res["curve"]:
        rows.append([money_cents(r["capital"]), f"{r['paths']:,}",
                     pct(r["ruin"]["probability"], 2), ci_bare(r["ruin"]["ci95"]),
                     pct(r["margin_call"]["probability"], 2)]
                    + [pct(t["probability"], 1) for t in r["tiers"]]
                    + [pct(r["targets"][i]["probability"], 1) for i in extra_t]
                    + [f"{r['trades_per_path']:,.1f}"])
    parts += ["Curve (common random numbers: the same paths at every capital)",
              table(rows, headers, ["right"] * 3 + ["left"] + ["right"] * (len(headers) - 4)),
              ""]

    def cap(a):
        if a["status"] == "not_reached":
            return f"> {money_cents(a['bracket'][0])}"
        s = money_cents(a["capital"])
        return s + (" (min)" if a["status"] == "holds_everywhere" else "")

    def at(a):
        x = a.get("at_answer")
        if not x:
            return "-"
        return f"{pct(x['probability'], 2)} {ci_bare(x['ci95'])}"

    def _range_txt(lo, hi):
        if lo["capital"] is None or hi["capital"] is None:
            return "-"
        return f"{money_cents(lo['capital'])} - {money_cents(hi['capital'])}"

    arows = []
    for t in res["targets"]:
        arows.append([t["label"], cap(t["point"]), cap(t["conservative"]),
                      _range_txt(t["optimistic"], t["conservative"]),
                      at(t["point"]), at(t["conservative"])])
    ans = res["answer"]
    arows.append(["overall (largest)", money_cents(ans["capital"]) if ans["capital"] is not None
                  else "not reached", money_cents(ans["capital_conservative"])
                  if ans["capital_conservative"] is not None else "not reached",
                  f"{money_cents(ans['capital_optimistic'])} - "
                  f"{money_cents(ans['capital_conservative'])}", "", ""])
    parts += [f"Least starting capital: beyond it every evaluated capital meets the target "
              f"(answers resolved to {pct(res['tolerance'], None)}, or a quarter of the 95% "
              f"range if wider)",
              table(arows, ["target", "point estimate", "conservative (95%)", "95% range",
                            "at point", "at conservative"],
                    ["left", "right", "right", "right", "left", "left"]), ""]
    for n in res.get("notes", ()):
        parts.append(f"note: {n}")
    if res.get("notes"):
        parts.append("")
    c = res["cost"]
    parts.append(f"cost: {c['paths_simulated']:,} paths simulated = "
                 f"{c['path_equivalents']:.2f} x one run of {c['plain_run_paths']:,} paths "
                 f"({c['evaluations']} capitals, {c['full_evaluations']} at full paths)")
    if res.get("plot"):
        parts.append(f"plot: {res['plot']}")
    return "\n".join(parts).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------
# the price models side by side
# ---------------------------------------------------------------------------------------------
def format_models(res: dict) -> str:
    """``simrisk run --model``: :func:`simcore.models.run_models`' summaries, one column per
    price model."""
    from tabulate import tabulate

    models = list(res)
    rows = []

    def row(label, f):
        rows.append([label] + [f(res[m]) for m in models])

    row("paths", lambda s: integer(s["paths"]))
    row("P(ruin)", lambda s: pct(s["ruin"]["probability"]))
    row("  95% interval", lambda s: ci(s["ruin"]["ci95"]))
    row("P(margin call)", lambda s: pct(s["margin_calls"]["probability_any"]))
    row("day of ruin, median", lambda s: integer(s["ruin"]["day_median"]))
    first = res[models[0]]
    for k, t in enumerate(first["tiers"]):       # the tiers a path works towards
        if t["at"] is None or t["at"] <= first["capital"]:
            continue
        row(f"P(reach {money(t['at'])})",
            lambda s, k=k: pct(s["tiers"][k]["probability_reached"]))
        row("  95% interval", lambda s, k=k: ci(s["tiers"][k].get("ci95")))
        row("  median day", lambda s, k=k: integer(s["tiers"][k]["days_median"]))
    row("final equity p5", lambda s: money(s["final_equity"]["p5"]))
    row("final equity median", lambda s: money(s["final_equity"]["median"]))
    row("final equity p95", lambda s: money(s["final_equity"]["p95"]))
    row("max drawdown median", lambda s: pct(s["max_drawdown"]["median"], 1))
    row("max drawdown p95", lambda s: pct(s["max_drawdown"]["p95"], 1))
    row("trades per path", lambda s: num(s["trades_per_path"]))
    row("win rate", lambda s: pct(s["win_rate"], 1))
    row("independent horizons", lambda s: integer((s.get("history") or {}).get(
        "independent_horizons")))
    head = (f"{first.get('name') or 'scenario'}: horizon {integer(first['horizon_days'])} days, "
            f"capital {money(first['capital'])}, seed {first.get('seed')}")
    notes = []
    if "gbm" in res:
        vols = ", ".join(f"{m} {100 * v['vol']:.1f}%"
                         for m, v in res["gbm"].get("gbm_calibration", {}).items())
        notes.append(f"gbm: vol calibrated from the same history ({vols})")
    if "replay" in res:
        notes.append("replay: overlapping windows of one history; its interval is the union "
                     "of a moving-block bootstrap over start dates and Wilson at the "
                     "independent horizons")
    return "\n".join([head, "", tabulate(rows, headers=[""] + models, tablefmt="simple",
                                          disable_numparse=True,
                                          colalign=("left",) + ("right",) * len(models)),
                      ""] + notes)


# ---------------------------------------------------------------------------------------------
# the calibration table
# ---------------------------------------------------------------------------------------------
def format_calibration(fig: dict) -> str:
    """The ``simrisk calibrate`` tables: per market, annual vol by year, correlations (and
    vol) by period, the regime fit. ``n/a`` marks a figure the bars cannot give."""
    from tabulate import tabulate

    from .calibrate import ROLL_DAYS, STRESS_RATIO

    names = fig["markets_order"]
    ms = fig["markets"]
    lines = [f"Dates used: {fig['first']} to {fig['last']}, {fig['days']} dates every file has "
             f"({fig['days'] - 1} daily returns)", ""]
    rows = []
    for m in names:
        f = ms[m]
        atr = f["atr"]
        rows.append([m, f"{f['price']:.6g}", pct(f["vol"], 1, NA),
                     NA if atr is None else f"{atr['last']:.4g} ({pct(f['atr_fraction']['last'], 2, NA)})",
                     NA if atr is None else f"{atr['mean']:.4g} ({pct(f['atr_fraction']['mean'], 2, NA)})",
                     num(f["excess_kurtosis"], ".2f", NA), num(f["student_t_nu"], ".2f", NA),
                     pct(f["gap_frequency"], 1, NA), pct(f["gap_mean"], 2, NA)])
    lines.append(tabulate(rows, headers=["market", "last close", "vol", "ATR(14) last",
                                         "ATR mean", "ex. kurt", "t nu",
                                         f"gaps >{100 * fig['gap_threshold']:g}%",
                                         "gap mean"],
                          disable_numparse=True, colalign=("left",) + ("right",) * 8))
    years = sorted({y for m in names for y in ms[m]["vol_by_year"]})
    if years:
        lines += ["", "Annual vol by calendar year"]
        yrows = [[y] + [pct(ms[m]["vol_by_year"].get(y), 1, NA) for m in names] for y in years]
        lines.append(tabulate(yrows, headers=["year"] + names, disable_numparse=True,
                              colalign=("left",) + ("right",) * len(names)))
    corr = fig["correlation"]
    periods = corr["periods"]
    if len(names) > 1:
        cols = [("whole", corr["whole"]), ("recent", corr["recent"])] + list(corr["windows"].items())
        lines += ["", "Correlation of daily log returns (and annual vol) by period"]
        hdr = ["pair"] + [f"{k}\n{periods[k]['first']}..{periods[k]['last']}\n{periods[k]['days']} days"
                          for k, _ in cols]
        reg = fig["regimes"]
        if reg.get("available"):
            for label, st in reg["states"].items():
                hdr.append(f"{label}\n{pct(st['share'], 1, NA)} of days\n{st['days']} days")
        crows = []
        for pair in corr["whole"]:
            row = [pair] + [num(c[pair], "+.2f", NA) for _, c in cols]
            if reg.get("available"):
                row += [num(st["correlation"][pair], "+.2f", NA) for st in reg["states"].values()]
            crows.append(row)
        for m in names:
            row = [f"vol {m}"] + [pct(periods[k]["vol_by_market"][m], 1, NA) for k, _ in cols]
            if reg.get("available"):
                row += [num(st["vol_mult_by_market"][m], ".2f", NA) + "x"
                        for st in reg["states"].values()]
            crows.append(row)
        lines.append(tabulate(crows, headers=hdr, disable_numparse=True,
                              colalign=("left",) + ("right",) * (len(hdr) - 1)))
        spikes = [(k, p) for k, p in periods.items() if "spike" in p]
        for k, p in spikes:
            lines.append(f"  {k}: closest spike w = {p['spike']:.2f} (rms error "
                         f"{p['spike_rms_error']:.3f}); vol x " + ", ".join(
                             f"{m} {p['vol_mult_by_market'][m]:.2f}" for m in names))
    reg = fig["regimes"]
    lines += ["", f"Regimes (stressed: {ROLL_DAYS}-day rolling vol above {STRESS_RATIO}x its "
                  "median" + (", mean over markets)" if len(names) > 1 else ")")]
    if reg.get("available"):
        rrows = []
        for label, st in reg["states"].items():
            rrows.append([label, pct(st["share"], 1, NA), st["days"], st["spells"],
                          num(st["mean_spell_days"], ".1f", NA), num(st["vol_mult"], ".2f", NA),
                          ", ".join(f"{m} {num(v, '.2f', NA)}" for m, v in st["vol_mult_by_market"].items())])
        lines.append(tabulate(rrows, headers=["state", "share", "days", "spells", "mean spell",
                                              "vol mult", "by market"], disable_numparse=True))
        lines.append(f"classified from {reg['first']}; the last date is {reg['last_state']}")
        nus = reg.get("student_t_nu_by_market") or {}
        if any(v is not None for v in nus.values()):
            lines.append("Student-t nu of returns standardized within their state: "
                         + ", ".join(f"{m} {num(v, '.2f', NA)}" for m, v in nus.items()))
    else:
        lines.append(f"not available: {reg.get('reason')}")
    return "\n".join(lines) + "\n"
