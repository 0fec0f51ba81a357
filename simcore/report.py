"""A run's (a stress table's, a sizing search's) report: one self-contained HTML page, PNG
figures in a folder, and the run's per-path CSV.

Every function takes the result the engine already returns -- a :class:`~simcore.figures.
RunData` for a run, the ``run_stress`` dict, the ``size_capital`` dict -- plus a ``meta``
dict naming what made it (``command``, ``version``, ``seed``, ``paths``, ``warnings``,
``plan_file``); none reads the command line. Files are checked before any work
(:func:`check_plot_dir`, :func:`simcore._files.check_destination`) and written atomically.

The page has no script, no stylesheet or font from elsewhere and no network request: the
figures are PNGs embedded as ``data:`` URIs, the style is inline.
"""
from __future__ import annotations

import base64
import csv
import html
import os
import pathlib
from typing import Optional

import numpy as np

from .errors import ScenarioError
from .text import (ci_span, diff_money, diff_pp, money, pct,   # as the text tables write them
                   reference_label)

__all__ = ["need_matplotlib", "check_plot_dir", "write_plot_dir", "write_csv", "csv_header",
           "run_report", "stress_report", "size_report", "write_text", "run_narrative",
           "stress_narrative", "size_narrative", "RUN_PLOTS", "STRESS_PLOTS", "SIZE_PLOTS",
           "plot_is_file"]

#: the PNG files ``--plot DIR`` writes
RUN_PLOTS = ("fan.png", "tiers.png", "histograms.png", "markets.png")
STRESS_PLOTS = ("stress.png",)
SIZE_PLOTS = ("sizing.png",)
_PLOTS = {"run": RUN_PLOTS, "stress": STRESS_PLOTS, "size": SIZE_PLOTS}


_IMAGE_SUFFIXES = (".png", ".svg", ".pdf", ".jpg", ".jpeg")


def plot_is_file(path) -> bool:
    """``size --plot``: a folder (as for run and stress) unless the name has an extension and
    is not an existing folder -- then it is the one PNG file (``curve.png``), as before."""
    p = pathlib.Path(os.fspath(path))
    return bool(p.suffix) and not p.is_dir()


def need_matplotlib(option: str) -> None:
    """Raise :class:`ScenarioError` (a bad option, exit 2) if matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ScenarioError(option, "needs matplotlib (the plot extra: pip install '.[plot]' in "
                                   "the source tree)") from None


def check_plot_dir(folder, names, *, force: bool, option: str = "--plot") -> pathlib.Path:
    """Check, before any work, that ``folder`` (made if missing, in an existing parent) can take
    the files ``names``, none of which may exist unless ``force``."""
    from ._files import check_destination
    text = os.fspath(folder)
    if not text:
        raise ScenarioError(option, "the folder name is empty")
    p = pathlib.Path(text)
    if p.exists() and not p.is_dir():
        raise ScenarioError(option, f"{text} is a file (give a folder)")
    if not p.exists():
        from ._files import _can_create_in
        parent = p.parent if str(p.parent) else pathlib.Path(".")
        if not parent.is_dir():
            raise ScenarioError(option, f"folder {parent} does not exist")
        if not _can_create_in(parent):
            raise ScenarioError(option, f"cannot create a folder in {parent}")
        return p                                  # made at write time; nothing to overwrite
    for n in names:
        check_destination(p / n, force=force, suffixes=(".png",), option=option)
    return p


def write_plot_dir(folder, figures: dict) -> list[str]:
    """Write ``{name: Figure}`` as ``folder/NAME.png`` (each atomically); return the paths."""
    from .figures import save_png
    p = pathlib.Path(os.fspath(folder))
    p.mkdir(parents=False, exist_ok=True)
    written = []
    for name, fig in figures.items():
        dest = p / f"{name}.png"
        save_png(fig, dest)
        written.append(str(dest))
    return written


def write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8) atomically."""
    from ._files import atomic_path
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


# ---- CSV ------------------------------------------------------------------------------------

def csv_header(K: int) -> list[str]:
    return (["path", "ruined", "ruin_day", "stop_day", "blown", "margin_calls", "trades", "wins", "skipped",
             "final_equity", "peak_equity", "max_drawdown"]
            + [f"tier{k}_day" for k in range(K)])


def write_csv(out, path, chunk: int = 65536) -> int:
    """One row per path of the run's output ``out`` (the runner's merged BlockOutput): ruin,
    ruin day, the day it stopped early (ruined or blown), blown, margin calls, trades, wins, skipped entries, final and peak equity (USD),
    maximum drawdown (fraction of peak), and the first day at or above each tier. A day that
    never came (never ruined, tier never reached) is an empty cell. Written atomically, in
    chunks (memory bounded by ``chunk`` rows); returns the number of rows."""
    from ._files import atomic_path
    n = int(out.ruined.shape[0])
    K = int(np.asarray(out.tier_day).reshape(n, -1).shape[1]) if n else 0
    td = np.asarray(out.tier_day).reshape(n, K)

    def day(a):
        return ["" if v < 0 else str(v) for v in a.tolist()]

    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(csv_header(K))
            for s in range(0, n, chunk):
                e = min(n, s + chunk)
                cols = [range(s, e), out.ruined[s:e].tolist(), day(out.ruin_day[s:e]),
                        day(out.stop_day[s:e]),
                        out.blown[s:e].tolist(), out.margin_calls[s:e].tolist(),
                        out.trades[s:e].tolist(), out.wins[s:e].tolist(),
                        out.skipped[s:e].tolist(),
                        [repr(x) for x in out.final_equity[s:e].tolist()],
                        [repr(x) for x in out.peak_equity[s:e].tolist()],
                        [repr(x) for x in out.max_dd[s:e].tolist()]]
                cols += [day(td[s:e, k]) for k in range(K)]
                w.writerows(zip(*cols))
    return n


# ---- words ----------------------------------------------------------------------------------

def run_narrative(d) -> list[str]:
    """Sentences saying what a run's numbers say (from the summary and the fan's median)."""
    from .figures import fan_quantiles, first_day_at_or_above
    s = d.summary
    r = s["ruin"]
    out = []
    n = s["paths"]
    txt = (f"P(ruin) is {pct(r['probability'])} (95% CI {ci_span(r['ci95'])}): "
           f"{r['paths_ruined']:,} of {n:,} paths were ruined within {s['horizon_days']} days")
    if r["day_median"] is not None:
        txt += f", the median of them on day {r['day_median']}"
    out.append(txt + ".")
    h = s.get("history") or {}
    if h.get("mode") == "replay":
        out.append(f"The paths are the {n:,} overlapping windows of one history (it holds "
                   f"{h.get('independent_horizons')} independent horizons), so the intervals "
                   f"are not binomial ones: each is the union of a moving-block bootstrap "
                   f"interval over start dates and a Wilson interval at the independent "
                   f"horizons.")
    cap = s["capital"]
    fe = s["final_equity"]
    nxt = next((t for t in s["tiers"] if t["at"] is not None and t["at"] > cap), None)
    if d.equity.shape[0]:
        med = fan_quantiles(d.equity, (50,))[0]
        m = d.equity.shape[0]
        # the fan's median line: the median of day-end equity, day by day, over its subsample
        # (not one path; its last point is near, not equal to, the median of every path)
        of = f"the first {m:,} paths" if m < n else "every path"
        if nxt is not None:
            day = first_day_at_or_above(med, float(nxt["at"]))
            if day is not None:
                out.append(f"The median path reaches {money(nxt['at'])} on day {day} (the "
                           f"fan's median line, over {of}).")
            else:
                out.append(f"The median path does not reach {money(nxt['at'])} within "
                           f"{s['horizon_days']} days (the fan's median line, over {of}).")
    out.append(f"5% of paths end below {money(fe['p5'])}, half below "
               f"{money(fe['median'])}, and 5% above {money(fe['p95'])} "
               f"(starting from {money(cap)}).")
    for t in s["tiers"]:
        if t["at"] is None or t["at"] <= cap:
            continue
        p = t["probability_reached"]
        if p:
            out.append(f"{pct(p, 1 if p >= 0.01 else 2)} of paths reach {money(t['at'])} (median day "
                       f"{t['days_median']}).")
        else:
            out.append(f"No path reaches {money(t['at'])}.")
    dd = s["max_drawdown"]
    out.append(f"Half of the paths see a drawdown of at least {pct(dd['median'], 0)} of their "
               f"peak, one in twenty at least {pct(dd['p95'], 0)}.")
    mc = s["margin_calls"]
    out.append("No path meets a margin call." if not mc["probability_any"] else
               f"{pct(mc['probability_any'])} of paths meet at least one margin call "
               f"({mc['per_year']:.3f} a year on average).")
    return out


def _sig(d) -> Optional[int]:
    """+1 / -1 when a paired interval excludes zero above / below, else 0."""
    ci = d.get("ci95")
    if not ci or ci[0] is None:
        return 0
    return 1 if ci[0] > 0 else -1 if ci[1] < 0 else 0


def stress_narrative(result: dict) -> list[str]:
    rows = result["rows"]
    base = rows[0]
    out = [f"The base case's P(ruin) is {pct(base['ruin_probability'])} and 5% of its paths "
           f"end below {money(base['final_equity_p5'])}."]
    if result.get("reference"):      # --review: each row against its own reference row
        out[0] = (f"{base['name']}: P(ruin) {pct(base['ruin_probability'])}, 5% of paths end "
                  f"below {money(base['final_equity_p5'])}. Differences are from the "
                  f"{result['reference']}.")
    st = [r for r in rows if r.get("vs_base")]
    frm = "its reference" if result.get("reference") else "the base"
    if not st:
        return out + ["No stress row."]
    worst = max(st, key=lambda r: r["ruin_probability"])
    v = worst["vs_base"]["ruin_probability"]
    # one path has no paired interval (ci95 None)
    ci = (f" (paired 95% CI {100 * v['ci95'][0]:+.2f} to {100 * v['ci95'][1]:+.2f})"
          if v["ci95"] else "")
    out.append(f"The worst row for ruin is {worst['name']}: {pct(worst['ruin_probability'])}, "
               f"{100 * v['diff']:+.2f} percentage points from {frm}{ci}"
               + ("." if not v["ci95"] else "; the rise is clear of chance." if _sig(v) > 0 else
                  "; the interval includes no change." if _sig(v) == 0 else "."))
    low = min(st, key=lambda r: r["final_equity_p5"])
    v = low["vs_base"]["final_equity_p5"]
    out.append(f"The lowest p5 final equity is {low['name']}'s, {money(low['final_equity_p5'])} "
               f"({'+' if v['diff'] >= 0 else '-'}{money(abs(v['diff']))} from {frm}).")
    clear = [r["name"] for r in st if _sig(r["vs_base"]["ruin_probability"]) > 0]
    if clear:
        out.append(f"Rows whose ruin rises clear of chance: {', '.join(clear)}.")
    return out


def size_narrative(res: dict) -> list[str]:
    a = res["answer"]
    if a.get("capital") is None:
        out = ["No capital in the searched range "
               f"({money(res['range']['min_capital'])} to "
               f"{money(res['range']['max_capital'])}) meets every target."]
    else:
        out = [f"The least starting capital that meets every target is {money(a['capital'])} "
               f"(point estimate); {money(a.get('capital_conservative'))} meets them at 95% "
               f"confidence."]
        if a.get("binding"):
            out.append(f"The binding target is {a['binding']}.")
    out.append(f"The plan's own capital is {money(res['capital'])}.")
    out += [str(n) for n in res.get("notes", [])]
    return out


# ---- HTML -----------------------------------------------------------------------------------

_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:960px;
margin:1.5em auto;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em;
border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f2f2f2}
td:first-child,th:first-child{text-align:left}
.meta td,.left td,.left th{text-align:left}.warn{color:#8a4b00}
figure{margin:1em 0}img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}.says{background:#f6f8fa;padding:.6em 1em;
border-left:4px solid #1f77b4}
@media print{body{max-width:none}figure{page-break-inside:avoid}}
"""


def _e(x) -> str:
    return html.escape("" if x is None else str(x))


def _table(head, rows, cls: str = "") -> str:
    h = "".join(f"<th>{_e(c)}</th>" for c in head)
    b = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    c = f" class={cls}" if cls else ""
    return f"<table{c}><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>"


def _img(fig, alt: str, caption: str) -> str:
    from .figures import png_bytes
    data = png_bytes(fig)
    w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return (f'<figure><img src="{src}" width="{w}" height="{h}" alt="{_e(alt)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _page(title: str, meta: dict, says: list, sections: list) -> str:
    rows = [("plan", meta.get("name") or "-")]
    if meta.get("plan_file"):
        rows.append(("plan file", meta["plan_file"]))
    rows += [("command", meta.get("command") or "-"),
            ("simrisk version", meta.get("version") or "-"),
            ("seed", meta.get("seed")), ("paths", f"{meta['paths']:,}"
                                         if isinstance(meta.get("paths"), int) else "-")]
    for k, v in meta.get("extra", ()):
        rows.append((k, v))
    meta_html = "<table class=meta>" + "".join(
        f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows) + "</table>"
    warns = meta.get("warnings") or ()
    warn_html = ("<h2>Warnings</h2><ul>" + "".join(f'<li class=warn>{_e(w)}</li>'
                                                    for w in warns) + "</ul>") if warns else ""
    says_html = '<h2>What it says</h2><div class=says><p>' + " ".join(
        _e(s) for s in says) + "</p></div>"
    body = "".join(f"<h2>{_e(h)}</h2>{c}" for h, c in sections)
    return ("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'>"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{_e(title)}</h1>{meta_html}{warn_html}{says_html}{body}"
            f"<p style='font-size:.8em;color:#777'>Made by simrisk {_e(meta.get('version'))}"
            "; figures are PNG images embedded in this file.</p></body></html>\n")


def _run_tables(s: dict) -> str:
    r, mc = s["ruin"], s["margin_calls"]
    t1 = _table(["", "value", "95% CI"], [
        ["P(ruin)", pct(r["probability"]), ci_span(r["ci95"])],
        ["P(blown, equity <= 0)", pct(r["blown_probability"]), ci_span(r["blown_ci95"])],
        ["day of ruin p10 / median / p90",
         " / ".join("-" if r[k] is None else str(r[k])
                    for k in ("day_p10", "day_median", "day_p90")), ""],
        ["P(at least one margin call)", pct(mc["probability_any"]), ci_span(mc["ci95"])],
        ["margin calls per year", f"{mc['per_year']:.3f}" if mc["per_year"] is not None
         else "-", ""]])
    t2 = _table(["tier", "at", "P(reached)", "95% CI", "day p10", "median", "p90"], [
        [t["index"], money(t["at"]) if isinstance(t["at"], (int, float)) else t["at"],
         pct(t["probability_reached"]), ci_span(t["ci95"]),
         *("-" if t[k] is None else t[k] for k in ("days_p10", "days_median", "days_p90"))]
        for t in s["tiers"]])
    fe, dd = s["final_equity"], s["max_drawdown"]
    t3 = _table(["final equity", "mean", "p5", "p25", "median", "p75", "p95"],
                [["USD", *(money(fe[k]) for k in ("mean", "p5", "p25", "median", "p75",
                                                    "p95"))]])
    t4 = _table(["max drawdown", "mean", "p5", "median", "p95", "max"],
                [["of peak", *(pct(dd[k], 1) for k in ("mean", "p5", "median", "p95",
                                                         "max"))]])
    n = max(s["paths"], 1)
    t5 = _table(["market", "trades / path", "win rate", "avg win R", "avg loss R",
                 "skipped / path (risk / cap / funds)"], [
        [m, f"{v['trades'] / n:,.1f}", pct(v["win_rate"], 1),
         "-" if v["avg_win_r"] is None else f"{v['avg_win_r']:+.2f}",
         "-" if v["avg_loss_r"] is None else f"{v['avg_loss_r']:+.2f}",
         " / ".join(f"{v['skipped_by_reason'][k] / n:,.1f}"
                    for k in ("risk", "margin_cap", "funds"))]
        for m, v in (s.get("markets") or {}).items()])
    return t1 + t2 + t3 + t4 + t5


def run_report(d, meta: dict, figs: Optional[dict] = None) -> str:
    """The HTML page of a run (``d`` a :class:`~simcore.figures.RunData`; ``figs`` its
    figures if already drawn)."""
    from .figures import FAN_PATHS, quantile_rank_error, run_figures
    s = d.summary
    figs = run_figures(d) if figs is None else figs
    m = d.equity.shape[0]
    e = quantile_rank_error(m, 0.05)
    caps = {
        "fan": (f"Day-end equity percentiles (5/25/50/75/95) of the first {m:,} paths "
                f"(of {d.paths:,}; at most {FAN_PATHS:,}), five sample paths, the tiers and "
                f"the ruin level. The subsample's p5 lies between the run's exact "
                f"p{100 * (0.05 - e):.1f} and p{100 * (0.05 + e):.1f} with 95% confidence."),
        "tiers": "Share of paths that reached each tier (top) and that were ruined (bottom) "
                 "by each day, with 95% Wilson bands; every path counted.",
        "histograms": "Maximum drawdown (fraction of the path's peak) and final equity of "
                      "every path, with p5, median and p95 marked.",
        "markets": "Per market: closed trades per path, win rate, average R of winning and "
                   "losing trades, and skipped entries per path by reason.",
    }
    meta = dict(meta)
    meta.setdefault("name", s.get("name"))
    meta.setdefault("paths", s["paths"])
    meta.setdefault("seed", s["seed"])
    meta["extra"] = [("horizon", f"{s['horizon_days']} days ({s['horizon_years']:.2f} y)"),
                     ("capital", money(s["capital"]))]
    sections = [("Tables", _run_tables(s))]
    sections += [("Figures", "".join(_img(f, caps[k], caps[k]) for k, f in figs.items()))]
    return _page(f"{s.get('name') or 'scenario'}: simrisk run", meta, run_narrative(d),
                 sections)


def stress_report(result: dict, meta: dict, figs: Optional[dict] = None) -> str:
    from .figures import stress_figures
    from .stress import next_tier_index
    k = next_tier_index(result)
    vs_l = reference_label(result)
    head = ["stress", "P(ruin)", f"{vs_l}, pp [95% CI]", "P(margin call)"]
    if k is not None:
        head += [f"P(reach {money(result['rows'][0]['tiers'][k]['at'])})", f"{vs_l}, pp"]
    head += ["p5 equity", f"{vs_l}, USD [95% CI]"]

    rows = []
    for r in result["rows"]:
        vs = r.get("vs_base")
        row = [r["name"], pct(r["ruin_probability"]),
               diff_pp(vs["ruin_probability"]) if vs else "",
               pct(r["margin_call_probability"])]
        if k is not None:
            row += [pct(r["tiers"][k]["probability_reached"]),
                    diff_pp(vs["tiers_reached"][k]) if vs else ""]
        row += [money(r["final_equity_p5"]), diff_money(vs["final_equity_p5"]) if vs else ""]
        rows.append(row)
    descr = _table(["row", "stress"], [[r["name"], r["stress"]] for r in result["rows"]],
                   cls="left")
    cap = ("Each stress row's difference from the base case in P(ruin), in P(reach the next "
           "tier) and in p5 final equity, with paired 95% intervals (common random numbers).")
    figs = stress_figures(result) if figs is None else figs
    meta = _table_meta(meta, result, "capital")
    sections = [("Table", _table(head, rows) + descr),
                ("Figures", "".join(_img(f, cap, cap) for f in figs.values()))]
    return _page(f"{result.get('name') or 'scenario'}: simrisk stress", meta,
                 stress_narrative(result), sections)


def _table_meta(meta: dict, result: dict, capital_label: str) -> dict:
    """The page header's facts for a stress table or a sizing search (their JSON's keys)."""
    meta = dict(meta)
    meta.setdefault("name", result.get("name"))
    meta.setdefault("paths", result["paths"])
    meta.setdefault("seed", result["seed"])
    meta["extra"] = [("horizon", f"{result['horizon_days']} days"),
                     (capital_label, money(result["capital"]))]
    return meta


def size_report(res: dict, meta: dict) -> str:
    from .figures import size_figures
    trows = []
    for t in res["targets"]:
        trows.append([t["label"], money(t["point"]["capital"]),
                      money(t["conservative"]["capital"]),
                      money(t["optimistic"]["capital"])])
    crow = []
    for r in res["curve"]:
        crow.append([money(r["capital"]), f"{r['paths']:,}", pct(r["ruin"]["probability"]),
                     ci_span(r["ruin"]["ci95"])])
    cap = ("Each target's probability against starting capital (log scale), with 95% Wilson "
           "bands, the target level and the point and conservative answers.")
    figs = size_figures(res)
    meta = _table_meta(meta, res, "plan's capital")
    sections = [("Answers", _table(["target", "point", "conservative (95%)", "optimistic"],
                                   trows)),
                ("Curve", _table(["capital", "paths", "P(ruin)", "95% CI"], crow)),
                ("Figures", "".join(_img(f, cap, cap) for f in figs.values()))]
    return _page(f"{res.get('name') or 'scenario'}: simrisk size", meta, size_narrative(res),
                 sections)



# ---- the options, checked before the run and written after it -------------------------------

class Outputs:
    """What ``--report``, ``--plot DIR`` and ``--csv`` ask of one command: checked before any
    work by :meth:`check` (bad destinations, missing matplotlib: :class:`ScenarioError` naming
    the option), written after the run by :meth:`write_run` / :meth:`write_stress` /
    :meth:`write_size`, each returning the JSON keys to add (new keys only)."""

    def __init__(self, report=None, plot_dir=None, csv=None, kind: str = "run",
                 plot_file=None):
        self.report, self.plot_dir, self.csv, self.kind = report, plot_dir, csv, kind
        self.plot_file = plot_file       # size --plot FILE.png: (the checked path, as given)

    @classmethod
    def check(cls, report_file=None, plot_dir=None, csv_file=None, *, force: bool = False,
              kind: str = "run") -> "Outputs":
        from ._files import check_destination
        report = plot = csv_p = plot_file = None
        if report_file is not None:
            report = check_destination(report_file, force=force, suffixes=(".html", ".htm"),
                                       option="--report")
            need_matplotlib("--report")
        if plot_dir is not None and kind == "size" and plot_is_file(plot_dir):
            plot_file = (check_destination(plot_dir, force=force, suffixes=(".png",),
                                           option="--plot"), os.fspath(plot_dir))
            need_matplotlib("--plot")
        elif plot_dir is not None:
            p = pathlib.Path(os.fspath(plot_dir))
            if p.suffix.lower() in _IMAGE_SUFFIXES and not p.is_dir():
                names = _PLOTS[kind]
                what = (f"several figures ({', '.join(names)})" if len(names) > 1
                        else f"its figure as {names[0]}")
                raise ScenarioError("--plot", f"{plot_dir} names an image file, but {kind} "
                                              f"writes {what} in a folder: give a folder")
            plot = check_plot_dir(plot_dir, _PLOTS[kind], force=force)
            need_matplotlib("--plot")
        if csv_file is not None:
            csv_p = check_destination(csv_file, force=force, suffixes=(".csv",),
                                      option="--csv")
        if plot is not None:
            for other, opt in ((report, "--report"), (csv_p, "--csv")):
                if other is not None and other.resolve() == plot.resolve():
                    raise ScenarioError("--plot", f"{plot_dir} is also the {opt} file (give "
                                                  "another folder)")
        return cls(report, plot, csv_p, kind, plot_file)

    @staticmethod
    def written(keys: dict) -> str:
        """Lines for the human output naming what was written ("" if nothing)."""
        lines = []
        if keys.get("report"):
            lines.append(f"report: {keys['report']}")
        if keys.get("plot_files"):
            lines.append(f"figures: {', '.join(keys['plot_files'])}")
        if keys.get("csv"):
            lines.append(f"one row per path: {keys['csv']}")
        return "".join(f"\n{x}" for x in lines) + ("\n" if lines else "")

    @property
    def equity_paths(self) -> int:
        """Paths whose day-end equity the run must record (the fan chart's subsample)."""
        if self.report is None and self.plot_dir is None:
            return 0                    # no figure: the figures module is not even imported
        from .figures import FAN_PATHS
        return FAN_PATHS

    @staticmethod
    def _meta(command: str, scenario, plan, seed, paths) -> dict:
        from ._version import __version__
        return {"command": command, "version": __version__, "seed": seed, "paths": paths,
                "warnings": list(plan.extras.get("warnings", ())),
                "plan_file": getattr(scenario, "source", None) if scenario is not None
                else None}

    def write_run(self, plan, out, summary: dict, command: str = "", scenario=None) -> dict:
        """After ``simrisk run``: the CSV, the figures, the page (the figures drawn once for
        both). Returns the JSON keys ``report``, ``plot_files``, ``csv`` of what it wrote."""
        keys = {}
        if self.csv is not None:
            write_csv(out, self.csv)
            keys["csv"] = str(self.csv)
        if self.report is None and self.plot_dir is None:
            return keys
        from .figures import run_data, run_figures
        d = run_data(plan, out, summary)
        figs = run_figures(d)
        if self.plot_dir is not None:
            keys["plot_files"] = write_plot_dir(self.plot_dir, figs)
        if self.report is not None:
            meta = self._meta(command, scenario, plan, summary["seed"], summary["paths"])
            write_text(self.report, run_report(d, meta, figs))
            keys["report"] = str(self.report)
        return keys

    def write_stress(self, result: dict, plan, command: str = "", scenario=None) -> dict:
        """After ``simrisk stress``: figures and page (drawn once for both); JSON keys
        ``report``, ``plot_files``."""
        keys = {}
        if self.report is None and self.plot_dir is None:
            return keys
        from .figures import stress_figures
        figs = stress_figures(result)
        if self.plot_dir is not None:
            keys["plot_files"] = write_plot_dir(self.plot_dir, figs)
        if self.report is not None:
            meta = self._meta(command, scenario, plan, result["seed"], result["paths"])
            write_text(self.report, stress_report(result, meta, figs))
            keys["report"] = str(self.report)
        return keys

    def write_size(self, res: dict, plan, command: str = "", scenario=None) -> dict:
        """After ``simrisk size``: the figure (``--plot DIR``: ``DIR/sizing.png``, JSON key
        ``plot_files``; ``--plot FILE.png``: that file, JSON key ``plot``) and the page
        (JSON key ``report``)."""
        keys: dict = {}
        if self.plot_file is not None:
            from . import sizing
            from ._files import atomic_path
            dest, given = self.plot_file
            with atomic_path(dest) as tmp:      # complete or absent, never a truncated file
                sizing.plot_sizing(res, str(tmp))
            keys["plot"] = given
        if self.plot_dir is not None:
            from .figures import size_figures
            keys["plot_files"] = write_plot_dir(self.plot_dir, size_figures(res))
        if self.report is not None:
            meta = self._meta(command, scenario, plan, res["seed"], res["paths"])
            write_text(self.report, size_report(res, meta))
            keys["report"] = str(self.report)
        return keys
