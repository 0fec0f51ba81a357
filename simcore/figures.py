"""Figures of a run, a stress table and a sizing search (matplotlib, Agg backend).

Every figure is a function of a result -- the dicts and arrays the runner, ``run_stress`` and
``size_capital`` already return -- never of the command line; each returns a
:class:`matplotlib.figure.Figure` (no pyplot, no global state) of exactly ``FIGSIZE`` inches at
``DPI``, in one style (:data:`STYLE`). :func:`save_png` writes one atomically.

A run's figures take a :class:`RunData` (:func:`run_data`): the summary JSON, the per-path
summaries of every path (ruin day, tier days, final equity, drawdown) and the day-end equity of
a fixed subsample -- the first :data:`FAN_PATHS` paths, recorded by the runner for their blocks
only (``simulate(..., equity_paths=FAN_PATHS)``), so the fan chart's memory does not grow with
the number of paths. See docs/report.md for the fan chart's quantile error.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .metrics import Z95, wilson_band   # the 95% quantile and interval (one definition each)

#: paths whose day-end equity the fan chart uses (the first ones of the run)
FAN_PATHS = 2048
#: the fan chart's percentiles
FAN_PERCENTILES = (5, 25, 50, 75, 95)
#: how many sample paths the fan chart draws
FAN_SAMPLES = 5
FIGSIZE = (8.0, 4.5)      # inches
DPI = 100                 # -> 800 x 450 pixels

STYLE = {
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 7.5,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3,
    "axes.spines.top": False, "axes.spines.right": False, "font.family": "DejaVu Sans",
    "figure.facecolor": "white", "axes.facecolor": "white", "savefig.facecolor": "white",
}
BLUE, ORANGE, GREEN, RED, GREY, PURPLE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                          "#7f7f7f", "#9467bd")
TIER_COLORS = (GREEN, PURPLE, ORANGE, "#8c564b", "#e377c2", "#17becf", "#bcbd22")


# ---- helpers --------------------------------------------------------------------------------

def _mpl():
    import matplotlib
    matplotlib.use("Agg", force=False)
    return matplotlib


def styled(fn):
    """Run a figure function inside the style's rc context (every artist gets the style)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*a, **kw):
        mpl = _mpl()
        with mpl.rc_context(STYLE):
            return fn(*a, **kw)
    return wrapper


def _figure(nrows: int = 1, ncols: int = 1, **kw):
    mpl = _mpl()
    from matplotlib.figure import Figure
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    for ax in axes.flat:
        _style_axes(ax)
    return fig, axes


def _style_axes(ax) -> None:
    """The rc settings, applied to an axes made outside the rc context (labels and grid)."""
    for k, v in STYLE.items():
        if k.startswith(("xtick.labelsize",)):
            ax.tick_params(axis="x", labelsize=v)
        elif k.startswith("ytick.labelsize"):
            ax.tick_params(axis="y", labelsize=v)
    ax.grid(True, alpha=STYLE["grid.alpha"])
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)


def money(x: float, _pos=None) -> str:
    """A dollar tick label: $950, $7,500, $12k, $1.5M."""
    x = float(x)
    sign = "-" if x < 0 else ""
    a = abs(x)
    if a >= 1e6:
        return f"{sign}${a / 1e6:.3g}M"
    if a >= 1e5:
        return f"{sign}${a / 1e3:.0f}k"
    return f"{sign}${a:,.0f}"


def _money_axis(axis) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator
    axis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    axis.set_major_formatter(FuncFormatter(money))


def _day_axis(axis) -> None:
    from matplotlib.ticker import MaxNLocator
    axis.set_major_locator(MaxNLocator(nbins=8, integer=True))


def _pct_axis(axis, decimals=None) -> None:
    from matplotlib.ticker import PercentFormatter
    axis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))


def _title(fig, text: str) -> None:
    fig.suptitle(text, fontsize=STYLE["axes.titlesize"])


def quantile_rank_error(n: int, p: float, z: float = Z95) -> float:
    """The fan chart's stated error, in probability: the ``p``-quantile of a subsample of ``n``
    paths lies, with about 95% confidence, between the run's exact ``p - e`` and ``p + e``
    quantiles, ``e = z sqrt(p (1 - p) / n)`` (binomial order-statistic bound: the number of
    the ``n`` paths below the true ``q`` quantile is Binomial(n, q))."""
    return z * math.sqrt(p * (1 - p) / max(n, 1))


def save_png(fig, path) -> None:
    """Write ``fig`` as a PNG of exactly FIGSIZE x DPI pixels, atomically."""
    from ._files import atomic_path
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)


def png_bytes(fig) -> bytes:
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


# ---- the run's data -------------------------------------------------------------------------

@dataclass
class RunData:
    """What a run's figures and report read: the summary (SPEC 10 JSON), per-path summaries of
    every path, and the day-end equity of the first ``equity.shape[0]`` paths."""
    summary: dict
    ruin_day: np.ndarray          # i4[n], -1 never
    tier_day: np.ndarray          # i4[n, K], -1 never
    final_equity: np.ndarray      # f8[n]
    max_dd: np.ndarray            # f8[n]
    equity: np.ndarray            # f8[m, horizon + 1], m <= FAN_PATHS (may be 0)
    tier_levels: list             # reach threshold of each tier (None: reached at day 0)
    ruin_level: Optional[float]   # equity below which a path is ruined (None: no such rule)
    ruin_dd: Optional[float]      # drawdown (fraction of peak) that ruins (None: no such rule)

    @property
    def paths(self) -> int:
        return int(self.final_equity.shape[0])

    @property
    def horizon(self) -> int:
        return int(self.summary["horizon_days"])


def is_replay(summary: dict) -> bool:
    """A run of history replay (SPEC 11): its paths are the overlapping windows of one history,
    so binomial bands and subsample errors do not apply."""
    return (summary.get("history") or {}).get("mode") == "replay"


def run_data(plan, out, summary: dict, fan_paths: int = FAN_PATHS) -> RunData:
    """A :class:`RunData` from the plan, the runner's merged output and its summary. The
    output's ``equity`` (if any rows) must be the first paths' (as ``equity_paths`` or
    ``record_equity`` gives); only its first ``fan_paths`` rows are kept (a view)."""
    eq = np.asarray(out.equity)
    if eq.ndim != 2 or eq.shape[0] == 0:
        eq = np.zeros((0, plan.n_days + 1))
    if is_replay(summary):
        fan_paths = eq.shape[0]     # replay's windows are consecutive start dates: the first
                                    # ones are no sample of the rest; keep every recorded one
    levels = [None if not math.isfinite(float(x)) else float(x) for x in plan.tier_reach]
    rl = float(plan.ruin_level)
    rd = float(plan.ruin_dd)
    return RunData(summary=summary, ruin_day=np.asarray(out.ruin_day),
                   tier_day=np.asarray(out.tier_day).reshape(-1, plan.K),
                   final_equity=np.asarray(out.final_equity, float),
                   max_dd=np.asarray(out.max_dd, float), equity=eq[:fan_paths],
                   tier_levels=levels, ruin_level=rl if math.isfinite(rl) else None,
                   ruin_dd=rd if math.isfinite(rd) else None)


def fan_quantiles(equity: np.ndarray, percentiles=FAN_PERCENTILES) -> np.ndarray:
    """Day-end equity percentiles of the subsample, shape (len(percentiles), horizon + 1);
    numpy's default (linear) percentile, as ``np.percentile(equity, q, axis=0)``."""
    if equity.shape[0] == 0:
        return np.zeros((len(percentiles), 0))
    return np.percentile(equity, percentiles, axis=0)


def first_day_at_or_above(curve: np.ndarray, level: float) -> Optional[int]:
    idx = np.flatnonzero(curve >= level)
    return int(idx[0]) if idx.size else None


# ---- run figures ----------------------------------------------------------------------------

@styled
def fan_chart(d: RunData):
    """Day-end equity percentiles (5/25/50/75/95) of the first paths, a few sample paths,
    the tiers and the ruin level."""
    fig, axes = _figure()
    ax = axes[0, 0]
    eq = d.equity
    n_sub = eq.shape[0]
    days = np.arange(d.horizon + 1)
    cap = float(d.summary["capital"])
    if n_sub:
        q = fan_quantiles(eq)
        ax.fill_between(days, q[0], q[4], color=BLUE, alpha=0.15, lw=0, label="5-95%")
        ax.fill_between(days, q[1], q[3], color=BLUE, alpha=0.30, lw=0, label="25-75%")
        ax.plot(days, q[2], color=BLUE, lw=1.6, label="median")
        for i in range(min(FAN_SAMPLES, n_sub)):
            ax.plot(days, eq[i], color=GREY, lw=0.6, alpha=0.7,
                    label="sample paths" if i == 0 else None)
        lo = float(np.nanmin(q[0]))
        hi = float(np.nanmax(q[4]))
    else:
        lo = hi = cap
    if d.ruin_level is not None:
        ax.axhline(d.ruin_level, color=RED, lw=1.2, ls="--",
                   label=f"ruin below {money(d.ruin_level)}")
        lo = min(lo, d.ruin_level)
    if d.ruin_dd is not None:           # a rule relative to each path's peak: no fixed line
        ax.plot([], [], color=RED, lw=1.2, ls="-.",
                label=f"ruin at a {d.ruin_dd:.0%} drawdown from peak")
    shown = 0
    for k, lvl in enumerate(d.tier_levels):
        if lvl is None or lvl <= 0:
            continue
        if lvl > hi * 1.6 and shown:            # far above the fan: would squash it
            continue
        ax.axhline(lvl, color=TIER_COLORS[k % len(TIER_COLORS)], lw=1, ls=":",
                   label=f"tier {k}: {money(lvl)}")
        hi = max(hi, lvl)
        shown += 1
    pad = 0.06 * max(hi - lo, 1.0)
    ax.set_ylim(max(lo - pad, 0 if lo >= 0 else lo - pad), hi + pad)
    ax.set_xlim(0, d.horizon)
    _money_axis(ax.yaxis)
    _day_axis(ax.xaxis)
    ax.set_xlabel("trading day")
    ax.set_ylabel("day-end equity (USD)")
    e5 = quantile_rank_error(n_sub, 0.05)
    if is_replay(d.summary):
        what = (f"every one of {n_sub:,} replay windows" if n_sub == d.paths else
                f"{n_sub:,} of {d.paths:,} replay windows (run with every window recorded)")
        ax.set_title(f"Equity fan: {what}", fontsize=STYLE["axes.titlesize"])
    else:
        ax.set_title(f"Equity fan: first {n_sub:,} of {d.paths:,} paths "
                     f"(p5 within true p{100 * (0.05 - e5):.1f}-p{100 * (0.05 + e5):.1f}, 95%)",
                     fontsize=STYLE["axes.titlesize"])
    ax.legend(loc="upper left", ncol=2, fontsize=STYLE["legend.fontsize"])
    return fig


def cumulative_by_day(days: np.ndarray, horizon: int) -> np.ndarray:
    """Number of paths whose event day (>= 0; -1 = never) is <= t, for t = 0..horizon."""
    days = np.asarray(days)
    hit = days[(days >= 0) & (days <= horizon)]
    return np.cumsum(np.bincount(hit, minlength=horizon + 1)[:horizon + 1])


@styled
def tier_reach(d: RunData):
    """P(tier reached by day t) for each tier above the start, and P(ruined by day t), with 95%
    Wilson bands, from every path's first day at each tier and its ruin day."""
    fig, axes = _figure(2, 1, sharex=True)
    ax, ax2 = axes[0, 0], axes[1, 0]
    n, hz = d.paths, d.horizon
    days = np.arange(hz + 1)
    drawn = 0
    bands = not is_replay(d.summary)    # replay's windows overlap: a binomial band lies
    for k, lvl in enumerate(d.tier_levels):
        if lvl is None or lvl <= float(d.summary["capital"]):
            continue
        c = cumulative_by_day(d.tier_day[:, k], hz)
        lo, hi = wilson_band(c, n)
        col = TIER_COLORS[k % len(TIER_COLORS)]
        if bands:
            ax.fill_between(days, lo, hi, color=col, alpha=0.2, lw=0)
        ax.plot(days, c / n, color=col, lw=1.4,
                label=f"tier {k} ({money(lvl)}): {c[-1] / n:.1%}")
        drawn += 1
    if not drawn:
        ax.text(0.5, 0.5, "no tier above the starting capital", ha="center", va="center",
                transform=ax.transAxes, color=GREY)
    ax.set_ylim(0, 1)
    _pct_axis(ax.yaxis, 0)
    ax.set_ylabel("P(reached by day)")
    if drawn:
        ax.legend(loc="upper left")
    c = cumulative_by_day(d.ruin_day, hz)
    lo, hi = wilson_band(c, n)
    if bands:
        ax2.fill_between(days, lo, hi, color=RED, alpha=0.2, lw=0, label="95% Wilson band")
    else:
        hi = c / n
    ax2.plot(days, c / n, color=RED, lw=1.4, label=f"P(ruined by day): {c[-1] / n:.2%}")
    ax2.set_ylim(0, max(float(hi.max()) * 1.1, 0.001))
    _pct_axis(ax2.yaxis, 1 if float(hi.max()) >= 0.02 else 2)
    ax2.set_ylabel("P(ruined by day)")
    ax2.set_xlabel("trading day")
    ax2.set_xlim(0, hz)
    _day_axis(ax2.xaxis)
    ax2.legend(loc="upper left")
    _title(fig, f"Tier reach and ruin over time ({n:,} paths, 95% Wilson bands)" if bands else
           f"Tier reach and ruin over time ({n:,} overlapping replay windows; no band: "
           f"see the table's moving-block intervals)")
    return fig


def _hist(ax, x, color, fmt, label, marks):
    x = np.asarray(x, float)
    lo, hi = float(np.min(x)), float(np.percentile(x, 99.5))
    if not hi > lo:
        lo, hi = lo - 0.5 * (abs(lo) + 1e-9), lo + 0.5 * (abs(lo) + 1e-9)
    counts, edges = np.histogram(np.clip(x, lo, hi), bins=50, range=(lo, hi))
    ax.bar(edges[:-1], counts / x.size, width=np.diff(edges), align="edge", color=color,
           alpha=0.6, lw=0)
    for (name, v), ls in zip(marks, ("--", "-", ":")):
        ax.axvline(v, color="black", lw=1.1, ls=ls, label=f"{name} {fmt(v)}")
    ax.legend(loc="upper right")
    ax.set_xlabel(label)
    ax.set_ylabel("share of paths")
    _pct_axis(ax.yaxis, 1)


@styled
def histograms(d: RunData):
    """Histograms of maximum drawdown (fraction of peak) and final equity (USD), with p5,
    median and p95 marked (the top 0.5% of final equity is folded into the last bar)."""
    fig, axes = _figure(1, 2)
    dd = d.max_dd
    q = np.percentile(dd, [5, 50, 95])
    _hist(axes[0, 0], dd, ORANGE, lambda v: f"{v:.1%}", "maximum drawdown (fraction of peak)",
          list(zip(("p5", "median", "p95"), q)))
    _pct_axis(axes[0, 0].xaxis, 0)
    fe = d.final_equity
    q = np.percentile(fe, [5, 50, 95])
    _hist(axes[0, 1], fe, BLUE, money, "final equity (USD)",
          list(zip(("p5", "median", "p95"), q)))
    from matplotlib.ticker import FuncFormatter, MaxNLocator
    axes[0, 1].xaxis.set_major_locator(MaxNLocator(nbins=5))
    axes[0, 1].xaxis.set_major_formatter(FuncFormatter(money))
    axes[0, 0].xaxis.set_major_locator(MaxNLocator(nbins=5))
    _title(fig, f"Maximum drawdown and final equity ({d.paths:,} paths, day {d.horizon})")
    return fig


@styled
def markets_figure(summary: dict):
    """Per market: trades per path, win rate, average win and loss R, and skipped entries per
    path by reason -- from the summary's ``markets``."""
    fig, axes = _figure(2, 2)
    mk = summary.get("markets") or {}
    names = list(mk)
    x = np.arange(len(names))
    n = max(int(summary["paths"]), 1)
    a = axes[0, 0]
    a.bar(x, [mk[m]["trades"] / n for m in names], color=BLUE)
    a.set_ylabel("trades per path")
    a = axes[0, 1]
    wr = [mk[m]["win_rate"] if mk[m]["win_rate"] is not None else 0.0 for m in names]
    a.bar(x, wr, color=GREEN)
    a.set_ylim(0, 1)
    _pct_axis(a.yaxis, 0)
    a.set_ylabel("win rate")
    a = axes[1, 0]
    w = 0.38
    a.bar(x - w / 2, [mk[m]["avg_win_r"] or 0.0 for m in names], w, color=GREEN,
          label="avg win")
    a.bar(x + w / 2, [mk[m]["avg_loss_r"] or 0.0 for m in names], w, color=RED,
          label="avg loss")
    a.axhline(0, color="black", lw=0.8)
    a.set_ylabel("average R")
    ymin, ymax = a.get_ylim()
    a.set_ylim(ymin, ymax + 0.45 * (ymax - ymin))
    a.legend(loc="upper center", ncol=2)
    a = axes[1, 1]
    bottom = np.zeros(len(names))
    for reason, col in (("risk", ORANGE), ("margin_cap", PURPLE), ("funds", RED)):
        v = np.array([mk[m]["skipped_by_reason"].get(reason, 0) / n for m in names], float)
        a.bar(x, v, bottom=bottom, color=col, label=reason.replace("_", " "))
        bottom += v
    a.set_ylabel("skipped entries per path")
    a.set_ylim(0, max(float(bottom.max()), 1e-9) * 1.4)
    a.legend(loc="upper center", ncol=3, title="skipped because of", title_fontsize=7)
    rot = 30 if len(names) > 4 or max((len(s) for s in names), default=0) > 8 else 0
    for a in axes.flat:
        a.set_xticks(x, names, rotation=rot, ha="right" if rot else "center")
        if not names:
            a.text(0.5, 0.5, "no market traded", ha="center", va="center",
                   transform=a.transAxes, color=GREY)
    _title(fig, f"Markets ({summary['paths']:,} paths)")
    return fig


RUN_FIGURES = (("fan", "equity fan chart", "fan_chart"),
               ("tiers", "tier reach and ruin over time", "tier_reach"),
               ("histograms", "maximum drawdown and final equity", "histograms"),
               ("markets", "per-market statistics", "markets_figure"))


def run_figures(d: RunData) -> dict:
    """Every figure of a run: ``{name: Figure}`` in display order."""
    return {"fan": fan_chart(d), "tiers": tier_reach(d), "histograms": histograms(d),
            "markets": markets_figure(d.summary)}


# ---- stress ---------------------------------------------------------------------------------

def _next_tier(result: dict) -> Optional[int]:
    from .stress import next_tier_index
    return next_tier_index(result)


@styled
def stress_forest(result: dict):
    """A forest plot: each stress row's difference from the base in P(ruin), in P(reach the
    next tier) and in p5 final equity, with its paired 95% interval; the row's own value is in
    the label."""
    # rows paired against a reference (the base; under --review, the first review setting
    # under the same stress, ``result["reference"]``)
    rows = [r for r in result["rows"] if r.get("vs_base")]
    base = result["rows"][0]
    ref = result.get("reference")
    k = _next_tier(result)
    panels = [("P(ruin)", lambda r: r["ruin_probability"],
               lambda v: v["ruin_probability"], "pp"),
              ("p5 final equity", lambda r: r["final_equity_p5"],
               lambda v: v["final_equity_p5"], "$")]
    if k is not None:
        at = base["tiers"][k]["at"]
        panels.insert(1, (f"P(reach {money(at)})",
                          lambda r: r["tiers"][k]["probability_reached"],
                          lambda v: v["tiers_reached"][k], "pp"))
    fig, axes = _figure(1, len(panels), sharey=True)
    y = np.arange(len(rows))[::-1]
    for ax, (title, val, diff, unit) in zip(axes[0], panels):
        scale = 100.0 if unit == "pp" else 1.0
        for yi, r in zip(y, rows):
            dd = diff(r["vs_base"])
            lo, hi = dd["ci95"] if dd.get("ci95") else (dd["diff"], dd["diff"])
            lo = dd["diff"] if lo is None else lo
            hi = dd["diff"] if hi is None else hi
            d0 = dd["diff"] * scale
            col = RED if (lo * scale > 0 and unit == "pp" and "ruin" in title) or \
                (hi * scale < 0 and unit != "pp") or \
                (hi * scale < 0 and unit == "pp" and "reach" in title) else BLUE
            ax.errorbar([d0], [yi], xerr=[[d0 - lo * scale], [hi * scale - d0]], fmt="o",
                        color=col, ms=4, capsize=3, lw=1.2)
        ax.axvline(0, color="black", lw=0.8)
        b = val(base)
        ax.set_title(f"{title}\n" + (f"base {money(b) if unit == '$' else f'{b:.2%}'}"
                                     if ref is None else "vs its reference row"),
                     fontsize=STYLE["axes.titlesize"] - 1)
        vs = "vs base" if ref is None else "difference"
        if unit == "pp":
            ax.set_xlabel(f"{vs} (percentage points)")
        else:
            ax.set_xlabel(f"{vs} (USD)")
            _money_axis(ax.xaxis)
            from matplotlib.ticker import MaxNLocator
            ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.margins(x=0.15)
    labels = []
    for r in rows:
        extra = f"ruin {r['ruin_probability']:.2%}"
        labels.append(f"{r['name']}\n({extra})")
    axes[0, 0].set_yticks(y, labels)
    if not rows:
        axes[0, 0].text(0.5, 0.5, "no stress row", ha="center", va="center",
                        transform=axes[0, 0].transAxes, color=GREY)
    _title(fig, f"{result.get('name') or 'scenario'}: "
                + ("stress rows vs base " if ref is None else f"\neach row vs the {ref} ")
                + f"({result['paths']:,} paths, paired 95% intervals)")
    return fig


def stress_figures(result: dict) -> dict:
    return {"stress": stress_forest(result)}


# ---- sizing ---------------------------------------------------------------------------------

def _log_money_axis(axis, lo: float, hi: float) -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator
    ticks = []
    for subs in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7)):
        ticks = [m * 10 ** e for e in range(int(math.floor(math.log10(lo))) - 1,
                                             int(math.ceil(math.log10(hi))) + 1)
                 for m in subs if lo <= m * 10 ** e <= hi]
        if len(ticks) >= 3:
            break
    if len(ticks) < 2:
        ticks = [lo, hi]
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(money))
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


@styled
def sizing_figure(res: dict):
    """Each target's probability against starting capital (log scale) with its 95% Wilson
    band, the target level, and the point and conservative answers."""
    curve = res["curve"]
    caps = np.array([r["capital"] for r in curve], float)
    full = np.array([r["paths"] == res["paths"] for r in curve], bool)
    panels = []
    ruin_t = [t for t in res["targets"] if t["kind"] == "ruin"]
    panels.append(("P(ruin)", lambda r: r["ruin"], ruin_t))
    mc_t = [t for t in res["targets"] if t["kind"] == "margin_call"]
    if mc_t:
        panels.append(("P(margin call)", lambda r: r["margin_call"], mc_t))
    for i, t in enumerate(res["targets"]):
        if t["kind"] == "reach":
            panels.append((t["label"].split(" >=")[0], (lambda i: lambda r: r["targets"][i])(i),
                           [t]))
    mpl = _mpl()
    from matplotlib.figure import Figure
    h = max(FIGSIZE[1], 2.6 * len(panels) + 0.8)
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(FIGSIZE[0], h), dpi=DPI, layout="constrained")
        axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (title, get, tlist) in zip(axes, panels):
        _style_axes(ax)
        p = np.array([get(r)["probability"] for r in curve], float)
        lo = np.array([get(r)["ci95"][0] for r in curve], float)
        hi = np.array([get(r)["ci95"][1] for r in curve], float)
        ax.fill_between(caps, lo, hi, color=BLUE, alpha=0.2, lw=0, label="95% Wilson interval")
        ax.plot(caps, p, "-", color=BLUE, lw=1.2)
        ax.plot(caps[full], p[full], "o", color=BLUE, ms=3, label=f"{res['paths']:,} paths")
        if (~full).any():
            fewer = sorted({r["paths"] for r, f in zip(curve, full) if not f})
            ax.plot(caps[~full], p[~full], "o", mfc="none", color=BLUE, ms=4,
                    label=f"{'/'.join(f'{n:,}' for n in fewer)} paths (decided early)")
        for t in tlist:
            ax.axhline(t["level"], color=RED, lw=1, ls="--", label=t["label"])
            for crit, style, name in (("point", "-", "point"), ("conservative", ":",
                                                                "conservative")):
                c = t[crit]["capital"]
                if c is not None:
                    ax.axvline(c, color=GREEN, ls=style, lw=1.2, label=f"{name} {money(c)}")
        ax.set_ylabel(title)
        ax.set_xscale("log")
        _pct_axis(ax.yaxis)
        ax.legend(loc="best")
    if len(caps):
        _log_money_axis(axes[-1].xaxis, float(caps.min()), float(caps.max()))
    axes[-1].set_xlabel("starting capital (USD, log scale)")
    _title(fig, f"{res.get('name') or 'scenario'}: targets against starting capital "
                f"(seed {res['seed']})")
    return fig


def size_figures(res: dict) -> dict:
    return {"sizing": sizing_figure(res)}
