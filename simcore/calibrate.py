"""Calibration (SPEC 11): a plan's market figures from daily bars.

Three steps, each usable on its own::

    bars = {"SP500": read_bars("sp500.csv"), "CRUDE": read_bars("wti.csv")}   # checked
    data = align(bars)                                # shared dates only
    fig = calibrate(data, gap=0.01, recent=63, windows={"gfc": ("2008-09-15", "2008-12-31")})
    fragment_yaml(fig)                                # a plan fragment (``include:``)

Every figure follows SPEC 11 exactly, on the aligned sample (the dates every file has), from
the daily log returns ``r_t = ln(C_t / C_t-1)`` between consecutive shared dates:

- annual vol: ``std(r, ddof=1) * sqrt(252)``, over the whole sample and per calendar year
  (the year of the return's date);
- ATR(14) by Wilder with TA-Lib's seeding: ``TR_t = max(H-L, |H-C_t-1|, |L-C_t-1|)``
  (t >= 1), the first ATR (at t = 14) the mean of TR_1..TR_14, then
  ``ATR_t = (13 ATR_t-1 + TR_t) / 14``; reported at the last date and as the mean over
  t >= 14, in points and as a fraction of the close;
- excess kurtosis: pandas' ``Series.kurt()`` (Fisher, bias-corrected);
- Student-t degrees of freedom: maximum likelihood with location and scale free
  (``scipy.stats.t.fit``, on the returns standardized to mean 0 and sd 1, which leaves the
  ML estimate of nu unchanged and keeps the optimizer on a well-scaled problem);
- gaps: ``g_t = |O_t / C_t-1 - 1|``; frequency = share of days with ``g_t > gap``, mean size =
  mean of those ``g_t``;
- correlation: Pearson of the daily log returns, whole sample, last ``recent`` returns, and
  named windows (returns dated START..END inclusive);
- regimes: each market's 21-day rolling vol (ddof 1, returns t-20..t) over its sample
  median; a day is *stressed* when that ratio is above 1.5 -- with several markets, when the
  mean of the markets' ratios is (one regime chain drives every market in a plan; with one
  market this is SPEC 11's rule exactly). Days before the first full 21-day window are not
  classified. Per state: share of classified days, mean spell length (days in the state /
  number of runs of it), vol multiplier (the state's return sd over the whole sample's, per
  market; the plan's ``vol_mult`` is their mean across markets) and correlation matrix;
  and, for a plan that has both ``regimes`` and ``tails``, the Student-t nu of the returns
  standardized by their state's mean and sd (the tails the regimes leave unexplained).

pandas is imported here, and this module is imported only by ``simrisk calibrate``, so the
other commands do not pay for it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from .errors import ScenarioError
from .limits import PRICE_MAX, PRICE_MIN

__all__ = ["Bars", "read_bars", "align", "calibrate", "fragment_yaml",
           "spike_weight", "wilder_atr", "TRADING_DAYS", "MIN_DAYS", "MAX_GAP_DAYS"]

TRADING_DAYS = 252
ATR_PERIOD = 14
ROLL_DAYS = 21          # rolling window of the regime rule
STRESS_RATIO = 1.5      # stressed when the rolling vol is above 1.5x its sample median
MIN_DAYS = 30           # fewer shared dates than this is not a history
MAX_GAP_DAYS = 31       # consecutive dates further apart than this: a hole in the data

_DATE_NAMES = ("date", "datetime", "timestamp", "time", "day", "observation_date",
               "trade_date", "tradedate")
_PRICE_COLS = ("open", "high", "low", "close")
_IGNORED = {"adj close", "adj_close", "adjclose", "adjusted close", "adjusted_close",
            "volume", "vol", "vol.", "open interest", "open_interest", "openinterest", "oi",
            "change", "change %", "change_pct"}
_MISSING = {"", ".", "nan", "na", "n/a", "null", "none", "-", "#n/a"}
_DATE_FORMATS = ("ISO8601", "%Y%m%d", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%m/%d/%y")


# ------------------------------------------------------------------------------------------
# Reading and checking one file
# ------------------------------------------------------------------------------------------
@dataclass
class Bars:
    """One file's checked daily bars: ``frame`` has a DatetimeIndex (strictly increasing,
    whole dates) and float columns ``close`` and, when the file has them, ``open``, ``high``,
    ``low``, plus ``line`` (the file's line number of each row). ``notes`` are warnings to
    show (dropped rows, a column taken as the close...)."""
    source: str
    frame: pd.DataFrame
    notes: list = field(default_factory=list)

    @property
    def has_ohlc(self) -> bool:
        return all(c in self.frame for c in _PRICE_COLS)


def _err(src: str, line: Optional[int], problem: str) -> ScenarioError:
    return ScenarioError(f"{src}, line {line}" if line is not None else src, problem)


def _parse_dates(raw: pd.Series):
    """Parse a column of date strings with the first format that reads every row (ISO
    first, then 20080915, US 9/15/2008, day-first 15/09/2008 ...); if none reads them all, the
    format that reads the most, leaving NaT where it fails."""
    best, best_ok = None, -1
    want = int(raw.notna().sum())
    for fmt in _DATE_FORMATS:
        try:
            parsed = pd.to_datetime(raw, format=fmt, errors="coerce")
        except (ValueError, TypeError):          # e.g. mixed time-zone offsets
            continue
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)   # the local calendar date is the bar's
        ok = int(parsed.notna().sum())
        if ok == want:
            return parsed
        if ok > best_ok:
            best, best_ok = parsed, ok
    if best is None:
        best = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
    return best


def read_bars(path, *, max_bad_rows: int = 5,
              bad_rows_option: Optional[str] = "--max-bad-rows") -> Bars:
    """Read and check one CSV of daily bars (SPEC 11). Raises :class:`ScenarioError` naming
    the file (and the line) for: an unreadable file, no date column, no close column, more
    than ``max_bad_rows`` bad rows, duplicate or unsorted dates, a gap of months, too few rows.

    A *bad row* is one with an unparsable date, a price that is not a number, missing or not
    positive or outside simrisk's price limits, or High below Low; up to ``max_bad_rows`` of
    them are dropped, each named in a note (too many: the error names ``bad_rows_option``,
    the caller's option for the limit, or none for a plan's history file). Rows without any price (holidays in FRED-style exports) and blank lines are skipped
    with one note. A file in descending date order (newest first) is read in reverse."""
    from ._files import note_input
    src = str(path)
    note_input(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False,
                         encoding="utf-8-sig")
    except FileNotFoundError:
        import os
        maker = os.path.join(os.path.dirname(os.path.abspath(src)), "make_history.py")
        hint = f" (write it first: python {os.path.relpath(maker)})" \
            if os.path.isfile(maker) else ""
        raise _err(src, None, "no such file" + hint) from None
    except IsADirectoryError:
        raise _err(src, None, "is a directory, not a CSV file") from None
    except UnicodeDecodeError:
        raise _err(src, None, "is not UTF-8 text") from None
    except pd.errors.EmptyDataError:
        raise _err(src, None, "is empty") from None
    except pd.errors.ParserError as e:
        raise _err(src, None, f"is not a readable CSV file ({str(e).strip()})") from None
    except OSError as e:
        raise _err(src, None, f"cannot read ({e.strerror or e})") from None

    cols = {str(c).strip().lower(): c for c in df.columns}
    notes: list = []
    date_col = next((cols[n] for n in _DATE_NAMES if n in cols), None)
    if date_col is None:
        date_col = next((c for k, c in cols.items() if "date" in k), None)
    if date_col is None:
        raise _err(src, 1, "no date column (expected a column named Date; found "
                           + ", ".join(str(c) for c in df.columns) + ")")
    price = {k: cols[k] for k in _PRICE_COLS if k in cols}
    if "close" not in price:
        others = [c for k, c in cols.items()
                  if c != date_col and k not in _PRICE_COLS and k not in _IGNORED]
        if len(others) == 1:
            price["close"] = others[0]
            notes.append(f"{src}: no Close column; using {others[0]}, its only price column, "
                         "as the close")
        else:
            raise _err(src, 1, "no Close column (found " + ", ".join(str(c) for c in df.columns)
                               + ")")
    if ("high" in price) != ("low" in price):
        raise _err(src, 1, "has " + ("High" if "high" in price else "Low") + " without "
                           + ("Low" if "high" in price else "High"))

    lines = np.arange(len(df)) + 2                       # line 1 is the header
    raw = {k: df[c].astype(str).str.strip() for k, c in price.items()}
    raw_date = df[date_col].astype(str).str.strip()
    missing = {k: v.str.lower().isin(_MISSING) for k, v in raw.items()}
    all_missing = np.logical_and.reduce([m.to_numpy() for m in missing.values()])
    blank = all_missing & (raw_date == "").to_numpy()
    no_price = all_missing & ~blank
    values = {k: pd.to_numeric(v.where(~missing[k]), errors="coerce").to_numpy(float)
              for k, v in raw.items()}
    dates = _parse_dates(raw_date.where(~pd.Series(blank, index=raw_date.index), None))

    bad: list = []                                       # (line, problem)
    keep = ~blank & ~no_price
    names = {"open": "Open", "high": "High", "low": "Low", "close": "Close"}
    for i in np.flatnonzero(keep):
        problem = None
        if pd.isna(dates.iloc[i]):
            problem = f"unparsable date {raw_date.iloc[i]!r}"
        else:
            for k in price:
                x = values[k][i]
                if missing[k].iloc[i]:
                    problem = f"{names[k]} is missing"
                elif not np.isfinite(x):
                    problem = f"{names[k]} {raw[k].iloc[i]!r} is not a number"
                elif x <= 0:
                    problem = f"{names[k]} {raw[k].iloc[i]} is not positive"
                elif not PRICE_MIN <= x <= PRICE_MAX:
                    problem = (f"{names[k]} {raw[k].iloc[i]} is outside simrisk's price "
                               f"limits [{PRICE_MIN:g}, {PRICE_MAX:g}]")
                if problem:
                    break
            if problem is None and "high" in price and values["high"][i] < values["low"][i]:
                problem = (f"High {raw['high'].iloc[i]} is below Low {raw['low'].iloc[i]}")
        if problem:
            bad.append((int(lines[i]), problem))
            keep[i] = False
    if len(bad) > max_bad_rows:
        line, problem = bad[0]
        n = len(bad)
        limit = (f"more than {bad_rows_option} {max_bad_rows}" if bad_rows_option else
                 f"more than the {max_bad_rows} that are dropped with a warning; mend the file")
        raise _err(src, line, f"{problem} ({n} bad row{'s' if n > 1 else ''} in the file, "
                              f"{limit})")
    for line, problem in bad:
        notes.append(f"{src}, line {line}: {problem}; row dropped")
    n_no_price = int(no_price.sum())
    if n_no_price:
        notes.append(f"{src}: {n_no_price} dated row(s) without any price skipped "
                     "(market holidays, as FRED marks them)")

    frame = pd.DataFrame({k: values[k][keep] for k in _PRICE_COLS if k in price},
                         index=pd.DatetimeIndex(dates[keep]).normalize())
    frame.index.name = "date"
    frame["line"] = lines[keep]
    if len(frame) >= 2:
        d = frame.index.to_numpy()
        if (d[1:] < d[:-1]).all():                       # newest first: read it reversed
            frame = frame.iloc[::-1]
            notes.append(f"{src}: dates in descending order (newest first); read oldest first")
    d = frame.index.to_numpy()
    ln = frame["line"].to_numpy()
    step = d[1:] - d[:-1]
    dup = np.flatnonzero(step == np.timedelta64(0))
    if len(dup):
        i = dup[0]
        raise _err(src, int(ln[i + 1]), f"duplicate date {_day(d[i + 1])} (also line "
                                        f"{ln[i]}; daily bars need one row a date)")
    back = np.flatnonzero(step < np.timedelta64(0))
    if len(back):
        i = back[0]
        raise _err(src, int(ln[i + 1]), f"date {_day(d[i + 1])} is before {_day(d[i])} on "
                                        f"line {ln[i]} (rows must be in date order)")
    days = step.astype("timedelta64[D]").astype(np.int64)
    far = np.flatnonzero(days > MAX_GAP_DAYS)
    if len(far):
        i = far[0]
        raise _err(src, int(ln[i + 1]), f"{days[i]} days after the previous row's date "
                                        f"{_day(d[i])} (line {ln[i]}): a gap of months is a "
                                        "hole in the data, not a market holiday")
    if len(frame) < MIN_DAYS:
        raise _err(src, None, f"has {len(frame)} usable rows; calibration needs at least "
                              f"{MIN_DAYS} days")
    return Bars(src, frame, notes)


def _day(x) -> str:
    return str(np.datetime64(x, "D"))


# ------------------------------------------------------------------------------------------
# Aligning
# ------------------------------------------------------------------------------------------
@dataclass
class Aligned:
    """The markets on the dates every file has: ``closes`` (dates x markets) and, per
    market, its bars (``open``/``high``/``low`` where the file has them) on those dates."""
    names: list
    bars: dict                   # name -> DataFrame on the shared dates
    sources: dict                # name -> file
    dropped: dict                # name -> rows of the file outside the shared dates

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.bars[self.names[0]].index

    @property
    def closes(self) -> pd.DataFrame:
        return pd.DataFrame({n: self.bars[n]["close"] for n in self.names})


def align(bars: dict) -> Aligned:
    """Keep the dates every market has. Raises ScenarioError when they share too few dates
    or when the shared dates have a hole of months."""
    names = list(bars)
    common = None
    for b in bars.values():
        common = b.frame.index if common is None else common.intersection(b.frame.index)
    common = common.sort_values()
    if len(common) < MIN_DAYS:
        raise ScenarioError("", f"the files share {len(common)} dates; calibration needs at "
                                f"least {MIN_DAYS}")
    step = np.diff(common.to_numpy()).astype("timedelta64[D]").astype(np.int64)
    far = np.flatnonzero(step > MAX_GAP_DAYS)
    if len(far):
        i = far[0]
        raise ScenarioError("", f"the files share no date between {_day(common[i])} and "
                                f"{_day(common[i + 1])} ({step[i]} days)")
    return Aligned(names, {n: bars[n].frame.loc[common] for n in names},
                   {n: bars[n].source for n in names},
                   {n: len(bars[n].frame) - len(common) for n in names})


# ------------------------------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------------------------------
def annual_vol(r) -> float:
    return float(np.std(np.asarray(r, float), ddof=1) * math.sqrt(TRADING_DAYS))


def wilder_atr(high, low, close, period: int = ATR_PERIOD) -> np.ndarray:
    """Wilder's ATR with TA-Lib's seeding: an array the length of the input, NaN before
    index ``period``; ATR[period] = mean(TR[1..period]), then (13 ATR + TR) / 14."""
    h, lo, c = (np.asarray(x, float) for x in (high, low, close))
    n = len(c)
    out = np.full(n, np.nan)
    if n <= period:
        return out
    pc = c[:-1]
    tr = np.maximum.reduce([h[1:] - lo[1:], np.abs(h[1:] - pc), np.abs(lo[1:] - pc)])
    a = float(np.mean(tr[:period]))               # TR_1 .. TR_period
    out[period] = a
    for t in range(period + 1, n):
        a = ((period - 1) * a + tr[t - 1]) / period
        out[t] = a
    return out


def student_t_nu(r) -> float:
    """Degrees of freedom of a Student-t fitted by maximum likelihood, location and scale
    free (scipy.stats.t.fit on the standardized returns; nu is invariant to that)."""
    from scipy import stats
    x = np.asarray(r, float)
    z = (x - x.mean()) / x.std(ddof=1)
    nu, _loc, _scale = stats.t.fit(z)
    return float(nu)


def _pairs(names, R) -> dict:
    out = {}
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            v = R[i, j]
            out[f"{names[i]}/{names[j]}"] = None if not np.isfinite(v) else float(v)
    return out


def _corr(rets: pd.DataFrame) -> np.ndarray:
    x = rets.to_numpy(float)
    if x.shape[1] < 2:
        return np.ones((x.shape[1], x.shape[1]))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.corrcoef(x, rowvar=False)


def spike_weight(R: np.ndarray, W: np.ndarray) -> float:
    """The w in [0, 1] whose spike ``(1 - w) R + w J`` is closest to W (least squares over
    the pairs): ``w = sum((1 - R)(W - R)) / sum((1 - R)^2)``, clipped to [0, 1]."""
    iu = np.triu_indices(R.shape[0], 1)
    a, b = 1.0 - R[iu], W[iu] - R[iu]
    den = float(a @ a)
    if den == 0.0:
        return 0.0
    return float(min(1.0, max(0.0, (a @ b) / den)))


def _spells(states: np.ndarray) -> dict:
    """Runs of consecutive equal values: {state: number of runs}."""
    if len(states) == 0:
        return {}
    starts = np.concatenate(([True], states[1:] != states[:-1]))
    vals, counts = np.unique(states[starts], return_counts=True)
    return dict(zip(vals.tolist(), counts.tolist()))


def regime_fit(rets: pd.DataFrame) -> dict:
    """The two-state regime rule of SPEC 11 (see the module docstring)."""
    names = list(rets.columns)
    roll = rets.rolling(ROLL_DAYS).std(ddof=1) * math.sqrt(TRADING_DAYS)
    ratio = roll / roll.median()
    score = ratio.mean(axis=1, skipna=False).dropna()
    if score.empty:
        return {"available": False, "reason": f"fewer than {ROLL_DAYS} returns"}
    stressed = (score > STRESS_RATIO).to_numpy()
    state = np.where(stressed, 1, 0)
    days = rets.loc[score.index]
    runs = _spells(state)
    whole_sd = rets.std(ddof=1)
    out = {"available": True, "rule": {"window_days": ROLL_DAYS, "above_median": STRESS_RATIO,
                                       "markets": "mean of the markets' ratios"},
           "classified_days": int(len(state)), "first": _day(score.index[0]),
           "last_state": "stressed" if state[-1] else "calm", "states": {}}
    for code, label in ((0, "calm"), (1, "stressed")):
        sel = days[state == code]
        n = len(sel)
        st = {"days": int(n), "share": n / len(state), "spells": int(runs.get(code, 0)),
              "mean_spell_days": (n / runs[code]) if runs.get(code) else None}
        if n >= 2:
            vm = (sel.std(ddof=1) / whole_sd)
            st["vol_mult_by_market"] = {m: float(vm[m]) for m in names}
            st["vol_mult"] = float(vm.mean())
        else:
            st["vol_mult_by_market"] = {m: None for m in names}
            st["vol_mult"] = None
        R = _corr(sel) if n >= 3 else np.full((len(names), len(names)), np.nan)
        st["correlation"] = _pairs(names, R)
        st["_R"] = R
        out["states"][label] = st
    # Tails net of the regimes: each day's return standardized by its state's mean and sd,
    # then the same ML fit. The unconditional nu counts the regimes' volatility mixture as
    # fat tails too; a plan with both `regimes` and `tails` wants this one.
    if all(s["days"] >= 3 for s in out["states"].values()):
        z = days.copy()
        for code in (0, 1):
            sel = state == code
            part = days[sel]
            z[sel] = (part - part.mean()) / part.std(ddof=1)
        out["student_t_nu_by_market"] = {m: student_t_nu(z[m]) for m in names}
    else:
        out["student_t_nu_by_market"] = {m: None for m in names}
    return out


def calibrate(data: Aligned, *, gap: float = 0.01, recent: int = 63,
              windows: Optional[dict] = None) -> dict:
    """Every figure of SPEC 11 for aligned markets; a JSON-ready dict (numpy arrays kept only
    under keys starting with ``_``, which :func:`public` strips)."""
    windows = dict(windows or {})
    names = data.names
    idx = data.index
    closes = data.closes
    rets = np.log(closes / closes.shift(1)).iloc[1:]
    n_ret = len(rets)
    if recent > n_ret:
        raise ScenarioError("--recent", f"{recent} days asked for, but the shared dates give "
                                        f"{n_ret} daily returns")
    for m in names:
        if not np.std(rets[m].to_numpy()) > 0:
            raise ScenarioError(data.sources[m], "the close never changes on the shared dates: "
                                                 "nothing to measure")
    markets = {}
    for m in names:
        b = data.bars[m]
        r = rets[m]
        c = b["close"].to_numpy(float)
        fig = {"file": data.sources[m], "price": float(c[-1]), "vol": annual_vol(r),
               "days": int(len(b)), "returns": int(n_ret), "first": _day(idx[0]),
               "last": _day(idx[-1]), "rows_not_shared": int(data.dropped[m])}
        by_year = r.groupby(r.index.year)
        fig["vol_by_year"] = {str(y): annual_vol(g) for y, g in by_year if len(g) >= 2}
        if "high" in b:
            atr = wilder_atr(b["high"], b["low"], c)
            ok = np.isfinite(atr)
            if ok.any():
                fig["atr"] = {"last": float(atr[-1]), "mean": float(atr[ok].mean())}
                fig["atr_fraction"] = {"last": float(atr[-1] / c[-1]),
                                       "mean": float((atr[ok] / c[ok]).mean())}
        fig.setdefault("atr", None)
        fig.setdefault("atr_fraction", None)
        fig["excess_kurtosis"] = float(r.kurt())
        fig["student_t_nu"] = student_t_nu(r)
        if "open" in b:
            g = np.abs(b["open"].to_numpy(float)[1:] / c[:-1] - 1.0)
            big = g[g > gap]
            fig["gap_frequency"] = float(len(big) / len(g))
            fig["gap_mean"] = float(big.mean()) if len(big) else None
            fig["gap_days"] = int(len(big))
        else:
            fig["gap_frequency"] = fig["gap_mean"] = fig["gap_days"] = None
        markets[m] = fig

    R = _corr(rets)
    periods = {"whole": {"first": _day(rets.index[0]), "last": _day(rets.index[-1]),
                         "days": n_ret}}
    tail = rets.iloc[-recent:]
    Rr = _corr(tail)
    periods["recent"] = {"first": _day(tail.index[0]), "last": _day(tail.index[-1]),
                         "days": int(recent)}
    corr = {"whole": _pairs(names, R), "recent": _pairs(names, Rr), "windows": {}}
    mats = {"whole": R, "recent": Rr}
    window_vol = {}
    for wname, (start, end) in windows.items():
        sel = rets.loc[(rets.index >= pd.Timestamp(start)) & (rets.index <= pd.Timestamp(end))]
        if len(sel) < 3:
            raise ScenarioError(f"--window {wname}", f"{len(sel)} daily returns between "
                                                     f"{start} and {end} in the shared dates "
                                                     f"({periods['whole']['first']} to "
                                                     f"{periods['whole']['last']}); need at "
                                                     "least 3")
        W = _corr(sel)
        mats[wname] = W
        corr["windows"][wname] = _pairs(names, W)
        periods[wname] = {"first": _day(sel.index[0]), "last": _day(sel.index[-1]),
                          "days": int(len(sel)), "start": str(start), "end": str(end)}
        vm = sel.std(ddof=1) / rets.std(ddof=1)
        window_vol[wname] = {m: float(vm[m]) for m in names}
        if len(names) >= 2 and np.isfinite(W).all() and np.isfinite(R).all():
            w = spike_weight(R, W)
            S = (1 - w) * R + w
            iu = np.triu_indices(len(names), 1)
            periods[wname]["spike"] = w
            periods[wname]["spike_rms_error"] = float(np.sqrt(np.mean((S[iu] - W[iu]) ** 2)))
        periods[wname]["vol_mult_by_market"] = window_vol[wname]
    for pname, p in periods.items():
        sel = rets.loc[p["first"]:p["last"]]
        p["vol_by_market"] = {m: annual_vol(sel[m]) for m in names}
    corr["periods"] = periods
    return {"files": dict(data.sources), "markets_order": names, "first": _day(idx[0]),
            "last": _day(idx[-1]), "days": int(len(idx)), "gap_threshold": gap,
            "markets": markets, "correlation": corr, "regimes": regime_fit(rets),
            "_mats": mats}


def public(fig: dict):
    """The figures without the private numpy parts (``_`` keys), for JSON."""
    if isinstance(fig, dict):
        return {k: public(v) for k, v in fig.items() if not str(k).startswith("_")}
    return fig


# ------------------------------------------------------------------------------------------
# The plan fragment
# ------------------------------------------------------------------------------------------
def _num(x: float, digits: int = 4) -> str:
    return f"{round(float(x), digits):.{digits}f}".rstrip("0").rstrip(".") if x != 0 else "0"


def _price(x: float) -> str:
    return f"{float(x):.6g}"


def _pd_check(R: np.ndarray, what: str) -> None:
    if not np.isfinite(R).all():
        raise ScenarioError(what, "undefined (a market does not move in that period)")
    lam = float(np.linalg.eigvalsh(R)[0]) if R.shape[0] > 1 else 1.0
    if lam <= 1e-10:
        raise ScenarioError(what, f"not positive definite (smallest eigenvalue {lam:.2g}): "
                                  "two markets move identically?")


def _pairs_yaml(names, R, indent: str) -> list:
    lines = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            lines.append(f"{indent}{names[i]}/{names[j]}: {_num(R[i, j])}")
    return lines


def _rounded(R: np.ndarray) -> np.ndarray:
    out = np.round(R, 4)
    np.fill_diagonal(out, 1.0)
    return out


MAX_NU = 100               # a fitted nu at or above this is written as normal shocks
MIN_STATE_DAYS = ROLL_DAYS   # a regime state with fewer days is not written to a fragment


def _regimes_unusable(reg: dict, M: int) -> Optional[str]:
    """Why the regime fit cannot go into a plan (None if it can)."""
    if not reg.get("available"):
        return reg.get("reason", "not available")
    for label, st in reg["states"].items():
        if st["days"] < MIN_STATE_DAYS:
            return (f"{st['days']} {label} days in the history (a state needs at least "
                    f"{MIN_STATE_DAYS} for its figures)")
        if M > 1:
            try:
                _pd_check(_rounded(st["_R"]), label)
            except ScenarioError as e:
                return f"the {label} correlation is {e.problem}"
    return None


def fragment_yaml(fig: dict, *, command: str = "", version: str = "") -> str:
    """A plan fragment (for ``include:``): markets (last close, whole-sample vol),
    correlation (whole sample), tails (median Student-t nu, net of the regimes when they are
    written), regimes (the two-state fit) and
    one stress row per named window (the spike weight closest to its correlation)."""
    names = fig["markets_order"]
    mats = fig["_mats"]
    M = len(names)
    out = [f"# Plan fragment written by simrisk calibrate{' ' + version if version else ''}.",
           f"# Data: {fig['first']} to {fig['last']} ({fig['days']} shared dates) from "
           + ", ".join(f"{m}={Path(f).name}" for m, f in fig["files"].items()) + ".",
           ]
    if command:
        out.append(f"# Command: {command}")
    out += ["# Take it into a plan with `include: THIS_FILE.yaml`; the plan's own keys override it",
            "# (docs/calibration.md). Figures per SPEC 11; price = last close, vol = annual",
            "# volatility of daily log returns over the whole sample, drift left at 0.",
            "", "markets:"]
    for m in names:
        f = fig["markets"][m]
        extra = ""
        if f["atr"] is not None:
            extra = f"  # ATR(14) {f['atr']['last']:.4g} ({100 * f['atr_fraction']['last']:.2f}% of price)"
        out.append(f"  {m}: {{price: {_price(f['price'])}, vol: {_num(f['vol'])}}}{extra}")
    if M > 1:
        R = _rounded(mats["whole"])
        _pd_check(R, "correlation (whole sample)")
        out += ["", f"# Pearson correlation of daily log returns, {fig['first']} to {fig['last']}.",
                "correlation:"] + _pairs_yaml(names, R, "  ")
    reg = fig["regimes"]
    why = _regimes_unusable(reg, M)
    if why is None:        # the regimes go in: the tails net of them
        nus = [reg["student_t_nu_by_market"][m] for m in names]
        what = ["# Student-t degrees of freedom by maximum likelihood on each day's return",
                "# standardized by its regime's mean and sd (the regimes below model the rest of",
                "# the fat tails: volatility clustering): "
                + ", ".join(f"{m} {v:.2f}" for m, v in zip(names, nus)) + "; the median.",
                "# Unconditional fits: " + ", ".join(
                    f"{m} {fig['markets'][m]['student_t_nu']:.2f}" for m in names) + "."]
    else:
        nus = [fig["markets"][m]["student_t_nu"] for m in names]
        what = ["# Student-t degrees of freedom by maximum likelihood: "
                + ", ".join(f"{m} {v:.2f}" for m, v in zip(names, nus)) + "; the median."]
    nu = float(np.median(nus))
    out += [""]
    if 2.0 < nu < MAX_NU:
        out += what + [f"tails: {{student_t: {_num(nu, 2)}}}"]
    elif nu >= MAX_NU:
        out += [f"# tails: omitted -- the median fitted nu ({nu:.4g}) is at least {MAX_NU}: "
                "normal shocks fit as well."]
    else:
        out += [f"# tails: omitted -- the median fitted nu ({nu:.2f}) is not above 2, which a "
                "plan does not accept."]
    if why is None:
        out += ["", f"# Two states (SPEC 11): a day is stressed when the {ROLL_DAYS}-day rolling vol is",
                f"# above {STRESS_RATIO}x its sample median (mean ratio over the markets); start = the",
                "# state of the last date. vol_mult is relative to the markets' vol above.",
                "regimes:", f"  start: {reg['last_state']}", "  states:"]
        for label, st in reg["states"].items():
            out.append(f"    {label}:  # {100 * st['share']:.1f}% of days, {st['spells']} spells")
            out.append(f"      expected_days: {_num(st['mean_spell_days'], 2)}")
            out.append(f"      vol_mult: {_num(st['vol_mult'])}")
            if M > 1:
                out.append("      correlation:")
                out += _pairs_yaml(names, _rounded(st["_R"]), "        ")
    else:
        out += ["", f"# regimes: omitted -- {why}."]
    rows = []
    for wname, p in fig["correlation"]["periods"].items():
        if wname in ("whole", "recent") or "spike" not in p:
            continue
        vm = p["vol_mult_by_market"]
        detail = (f"{p['first']}..{p['last']}, {p['days']} days; rms error "
                  f"{p['spike_rms_error']:.3f}; vol x " + ", ".join(f"{m} {vm[m]:.2f}"
                                                                    for m in names))
        if p["spike"] > 0:
            rows.append(f"  - {{name: {wname}, spike: {_num(p['spike'])}}}  # {detail}")
        else:
            rows.append(f"  # {wname}: correlations no higher than the whole sample's, so no "
                        f"spike row ({detail})")
    if rows:
        out += ["", "# Spike weight w whose (1-w)R + wJ comes closest (least squares over the pairs)",
                "# to each window's correlation matrix.",
                "stress:" if any(r.startswith("  -") for r in rows) else "# stress: none"]
        out += rows
    return "\n".join(out) + "\n"
