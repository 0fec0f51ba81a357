"""Real price history as the price model (SPEC 11, `history:`): the kernel's arrays, and honest
statistics for replay.

From the aligned daily bars of the plan's files (:func:`simcore.calibrate.read_bars` and
:func:`~simcore.calibrate.align`, the reader of ``simrisk calibrate``), per market:

- bars are made consistent first: ``high = max(H, O, C)``, ``low = min(L, O, C)`` (old data
  has stale opens outside the day's range); a Close-only file gives ``open = previous close``
  (no gap), ``high = max(previous close, close)``, ``low = min(...)``;
- ``TR_t = max(H-L, |H-C_t-1|, |L-C_t-1|)`` and Wilder's ATR(14) with TA-Lib's seeding
  (:func:`simcore.calibrate.wilder_atr`: first at bar 14);
- the *pool*: bars ``t >= 15`` (a previous close, and an ATR known before the open) within
  ``from``/``to``; its N dates are what paths are made of. Per pool date and market, relative
  to the previous real close ``Cp``: ``hist_lrel = ln(O/Cp, H/Cp, L/Cp, C/Cp)``,
  ``hist_tr = TR / Cp``, ``hist_atr = ATR_t-1 / Cp`` (the seed of a path that starts there),
  ``hist_pvar = ln(H/L)^2 / (4 ln 2)`` (Parkinson's daily variance), ``hist_lc0 = ln Cp``.

Replay: path i starts at pool date i and runs ``horizon_days`` consecutive dates, so there are
``N - horizon_days + 1`` paths. The windows overlap: a probability over them is a mean of
strongly dependent indicators, and a binomial interval is far too narrow. :func:`replay_interval`
gives a moving-block bootstrap interval over start dates (Kunsch 1989) with blocks of one
horizon, and :func:`independent_horizons` says how many non-overlapping horizons the history
holds (``N // horizon_days``): the honest sample size of a replay. A bootstrap of a few
independent horizons is itself too narrow (and has zero width when every window agrees: an
event on no path or on every path), so :func:`replay_ci` reports the union of that interval
and a Wilson score interval at the effective sample size ``n_eff = independent_horizons``.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .errors import ScenarioError

__all__ = ["HistoryData", "load_history", "history_fields", "replay_interval", "replay_ci",
           "independent_horizons", "POOL_FIRST"]

POOL_FIRST = 15          # the first bar with a previous close and an ATR(14) before its open
LN2x4 = 4.0 * math.log(2.0)


@dataclass
class HistoryData:
    """The pool of a plan's history: dates (N), per-market arrays [N, M], the aligned bars."""
    names: tuple
    dates: object            # pandas DatetimeIndex of the pool dates
    lrel: np.ndarray         # [N, M, 4]
    tr: np.ndarray           # [N, M]
    atr: np.ndarray          # [N, M]
    pvar: np.ndarray         # [N, M]
    lc0: np.ndarray          # [N, M]
    aligned: object          # simcore.calibrate.Aligned (all shared dates, for calibration)
    sources: dict
    notes: list

    @property
    def n(self) -> int:
        return int(self.lrel.shape[0])


def _consistent(frame):
    """open, high, low, close arrays of one market's aligned bars (see the module doc)."""
    c = frame["close"].to_numpy(float)
    cp = np.concatenate([[c[0]], c[:-1]])
    if all(k in frame for k in ("open", "high", "low")):
        o = frame["open"].to_numpy(float)
        h = np.maximum.reduce([frame["high"].to_numpy(float), o, c])
        lo = np.minimum.reduce([frame["low"].to_numpy(float), o, c])
    else:
        o = cp.copy()
        h = np.maximum(cp, c)
        lo = np.minimum(cp, c)
    return o, h, lo, c


def build_pool(aligned, frm=None, to=None, where: str = "history") -> HistoryData:
    """The pool arrays of ``aligned`` bars (a :class:`simcore.calibrate.Aligned`)."""
    import pandas as pd

    from .calibrate import wilder_atr

    names = tuple(aligned.names)
    idx = aligned.index
    B, M = len(idx), len(names)
    keep = np.zeros(B, bool)
    keep[POOL_FIRST:] = True
    if frm is not None:
        keep &= np.asarray(idx >= pd.Timestamp(frm))
    if to is not None:
        keep &= np.asarray(idx <= pd.Timestamp(to))
    sel = np.flatnonzero(keep)
    N = len(sel)
    lrel = np.zeros((N, M, 4))
    tr = np.zeros((N, M))
    atr = np.zeros((N, M))
    pvar = np.zeros((N, M))
    lc0 = np.zeros((N, M))
    for i, m in enumerate(names):
        o, h, lo, c = _consistent(aligned.bars[m])
        a = wilder_atr(h, lo, c)
        if N == 0:
            continue
        cp = c[sel - 1]
        lrel[:, i, 0] = np.log(o[sel] / cp)
        lrel[:, i, 1] = np.log(h[sel] / cp)
        lrel[:, i, 2] = np.log(lo[sel] / cp)
        lrel[:, i, 3] = np.log(c[sel] / cp)
        hs, ls = h[sel], lo[sel]
        tr[:, i] = np.maximum.reduce([hs - ls, np.abs(hs - cp), np.abs(ls - cp)]) / cp
        atr[:, i] = a[sel - 1] / cp
        lr = np.log(hs / ls)
        pvar[:, i] = lr * lr / LN2x4
        lc0[:, i] = np.log(cp)
    return HistoryData(names, idx[sel], np.ascontiguousarray(lrel), np.ascontiguousarray(tr),
                       np.ascontiguousarray(atr), np.ascontiguousarray(pvar),
                       np.ascontiguousarray(lc0), aligned, dict(aligned.sources), [])


def resolve_file(plan_source: str, path: str) -> Path:
    """A history file's path: relative to the plan file's folder (the working folder for a
    plan given as a dict)."""
    p = Path(path).expanduser()
    if p.is_absolute() or plan_source.startswith("<"):
        return p
    return Path(plan_source).parent / p


_BARS_CACHE: dict = {}


def _read_bars_once(path, read_bars):
    """``read_bars(path)``, read once per file as it is on disk (keyed by its resolved path,
    size and modification time): a plan is validated again by every ``replace``, ``--horizon``
    and ``--model`` column, and parsing the CSV is most of what that costs. The Bars are not
    modified by their users."""
    try:
        st = os.stat(path)
    except OSError:
        return read_bars(path)                      # its own error names the problem
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    if key not in _BARS_CACHE:
        if len(_BARS_CACHE) >= 16:
            _BARS_CACHE.clear()
        _BARS_CACHE[key] = read_bars(path)
    return _BARS_CACHE[key]


def _read_history_bars(path):
    """calibrate's reader; a plan has no --max-bad-rows, so the error says so."""
    from .calibrate import read_bars
    return read_bars(path, bad_rows_option=None)


def load_history(spec, markets, plan_source: str, horizon_days: int) -> HistoryData:
    """Read, align and pool the files of a ``history:`` spec for ``markets`` (the plan's
    market names, in order). Raises ScenarioError naming the field."""
    try:
        import pandas  # noqa: F401  (the CSV reader's; not a dependency of a GBM plan)
    except ImportError:
        raise ScenarioError("history", "reading price history needs pandas (install the "
                                       "history extra: pip install '.[history]' in the "
                                       "source tree)") from None
    from ._files import note_input
    from .calibrate import align

    files = spec.files
    for m in markets:
        if m not in files:
            raise ScenarioError(f"history.files.{m}", "market without history (every market "
                                                      "of the plan needs a file)")
    for m in files:
        if m not in markets:
            raise ScenarioError(f"history.files.{m}", "not a market of the plan (markets: "
                                                      + ", ".join(markets) + ")")
    bars = {}
    notes = []
    for m in markets:
        path = resolve_file(plan_source, files[m])
        note_input(path)                # never a destination (cached reads skip read_bars)
        try:
            b = _read_bars_once(path, _read_history_bars)
        except ScenarioError as e:
            raise ScenarioError(f"history.files.{m}", f"{e.field}: {e.problem}") from None
        bars[m] = b
        notes += b.notes
    try:
        aligned = align(bars)
    except ScenarioError as e:
        raise ScenarioError("history.files", "the files' dates do not overlap enough: "
                            + e.problem) from None
    pool = build_pool(aligned, spec.from_, spec.to)
    pool.notes = notes
    need = max(2, horizon_days if spec.mode == "replay" else 2)
    if pool.n < need:
        first, last = aligned.index[0].date(), aligned.index[-1].date()
        cut = bool(spec.from_ or spec.to)
        what = (f"replay of a {horizon_days}-day horizon needs at least {need}"
                if spec.mode == "replay" else f"the bootstrap needs at least {need}")
        raise ScenarioError("history.from" if cut else "history.files",
                            f"{pool.n} usable dates (the files share {first} .. {last}; the "
                            f"first {POOL_FIRST} seed the ATR" + ("; from/to applied" if cut
                                                                  else "") + f"): {what}")
    return pool


def history_fields(spec, pool: HistoryData) -> dict:
    """The plan's ``hist_*`` fields for a validated ``history:`` spec and its pool."""
    from ._plan import HIST_BOOTSTRAP, HIST_REPLAY, ORDER_BRIDGE, ORDER_STOP_FIRST
    return dict(
        hist_mode=HIST_REPLAY if spec.mode == "replay" else HIST_BOOTSTRAP,
        hist_lrel=pool.lrel, hist_tr=pool.tr, hist_atr=pool.atr, hist_pvar=pool.pvar,
        hist_lc0=pool.lc0, hist_block=float(spec.block_days),
        hist_scale=0 if spec.scale == "plan" else 1,
        hist_order=ORDER_STOP_FIRST if spec.intraday_order == "stop_first" else ORDER_BRIDGE,
        hist_first=0,
    )


def independent_horizons(n_dates: int, horizon_days: int) -> int:
    """Non-overlapping horizons in ``n_dates`` pool dates: a replay's honest sample size."""
    return int(n_dates // horizon_days)


def replay_interval(x, block: int, *, n_boot: int = 2000, level: float = 0.95,
                    seed: int = 0) -> Optional[list]:
    """Moving-block bootstrap interval (percentile) for the mean of ``x``, a series over
    consecutive start dates: resample ``ceil(n / block)`` blocks of ``block`` consecutive
    values (start uniform over the n - block + 1 possible), keep the first n, take the mean;
    the (1-level)/2 and (1+level)/2 quantiles of the means. None for fewer than 2 values."""
    x = np.asarray(x, float)
    n = len(x)
    if n < 2:
        return None
    b = max(1, min(int(block), n))
    k = -(-n // b)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n - b + 1, size=(n_boot, k))
    cs = np.concatenate([[0.0], np.cumsum(x)])
    sums = cs[starts + b] - cs[starts]                  # each block's sum
    # the last block is cut to n - (k - 1) b values
    last = n - (k - 1) * b
    sums[:, -1] = cs[starts[:, -1] + last] - cs[starts[:, -1]]
    means = sums.sum(axis=1) / n
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def replay_ci(x, block: int, n_eff: int, *, level: float = 0.95) -> Optional[dict]:
    """A replay probability's honest interval: ``x`` the 0/1 outcome of each window (in start
    date order), ``block`` the horizon in days, ``n_eff`` the independent horizons.

    Returns ``{"ci95": union, "moving_block": mb, "effective": wl}``: ``mb`` is
    :func:`replay_interval` (blocks of one horizon), ``wl`` the Wilson score interval of
    ``p_hat = mean(x)`` at ``n_eff`` trials (:func:`simcore.metrics.wilson_effective`,
    ``k_eff = p_hat * n_eff`` need not be an integer), and ``ci95 = [min(lo), max(hi)]``.
    The union contains ``p_hat`` (the Wilson interval does) and is never narrower than ``mb``;
    when every window agrees ``mb`` is a point and the Wilson interval carries the width.
    None for fewer than 2 values or ``n_eff < 1``."""
    from scipy.stats import norm
    from .metrics import wilson_effective

    x = np.asarray(x, float)
    mb = replay_interval(x, block, level=level)
    if mb is None or n_eff < 1:
        return None
    p_hat = float(np.clip(x.mean(), 0.0, 1.0))
    wl = list(wilson_effective(p_hat, n_eff, float(norm.ppf((1 + level) / 2))))
    return {"ci95": [min(mb[0], wl[0]), max(mb[1], wl[1])], "moving_block": mb,
            "effective": wl}
