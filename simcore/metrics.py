"""Across-path statistics of a run (SPEC 7) and the JSON object they are reported as (SPEC 10;
the human table is :func:`simcore.text.format_table`).

Conventions
-----------
* Probabilities are sample proportions k / n over the ``n`` simulated paths, each with a 95%
  Wilson score interval (:func:`wilson`).
* Day statistics (day of ruin, first day a tier is reached) are nearest-rank percentiles
  (``np.percentile(..., method="inverted_cdf")``), hence whole days, over the paths where the
  event happened; ``None`` where it happened on no path (SPEC 1).
* Money and drawdown percentiles use numpy's default (linear interpolation between order
  statistics), so ``median`` is ``np.median``. ``std`` is the sample standard deviation
  (ddof = 1; ``None`` with fewer than two paths).
* Maximum drawdown is a fraction of peak equity (0.25 = 25%).
* Every value in the summary is a plain JSON type (``int``, ``float``, ``str``, ``None``, ``list``,
  ``dict``); non-finite numbers become ``None``, so ``json.dumps(summary, allow_nan=False)`` works.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._plan import CORR_OFF, CORR_SCALE, SKIP_CORRELATION, SKIP_REASONS, BlockOutput, Plan

__all__ = ["wilson", "wilson_band", "wilson_effective", "summarize", "Z95"]

#: two-sided 95% standard normal quantile, ``scipy.stats.norm.ppf(0.975)``
Z95 = 1.959963984540054
TRADING_DAYS = 252


# ---------------------------------------------------------------------------------------------
# Wilson score interval
# ---------------------------------------------------------------------------------------------
def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion with ``k`` successes out of ``n``.

    The interval is the set of p with ``|k - n p| <= z sqrt(n p (1 - p))``, i.e.

        centre = (k + z^2 / 2) / (n + z^2)
        half   = z / (n + z^2) * sqrt(k (n - k) / n + z^2 / 4)
        (lo, hi) = (centre - half, centre + half)

    Unlike the Wald interval it stays inside [0, 1] and is informative at k = 0 and k = n:
    ``lo`` is exactly 0 when k = 0 and ``hi`` exactly 1 when k = n.

    ``n = 0`` (no paths, so no information) returns the whole range ``(0.0, 1.0)``, which keeps
    the result a valid JSON number pair rather than NaN.

    Raises ValueError unless 0 <= k <= n and z > 0.
    """
    return _wilson(int(k), int(n), float(z))


def wilson_effective(p_hat: float, n_eff: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``p_hat`` estimated with the information of
    ``n_eff`` independent trials (an *effective* sample size, e.g. the independent horizons of
    a replay): :func:`wilson`'s formula with ``k = p_hat * n_eff``, which need not be an
    integer. ``lo`` is exactly 0 at ``p_hat = 0`` and ``hi`` exactly 1 at ``p_hat = 1``.

    Raises ValueError unless 0 <= p_hat <= 1, n_eff >= 0 and z > 0."""
    p_hat, n_eff = float(p_hat), float(n_eff)
    if not 0.0 <= p_hat <= 1.0:
        raise ValueError(f"wilson_effective: need 0 <= p_hat <= 1, got {p_hat!r}")
    if not (n_eff >= 0.0 and math.isfinite(n_eff)):
        raise ValueError(f"wilson_effective: need a finite n_eff >= 0, got {n_eff!r}")
    return _wilson(p_hat * n_eff, n_eff, float(z))


def wilson_band(k, n: int, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """:func:`wilson` for an array of counts ``k`` out of the same ``n`` (the figures' bands of
    P(reached by day t)): arrays ``(lo, hi)``, element by element the very floats
    ``wilson(k[i], n)`` returns (one formula, :func:`_wilson_centre_half`).

    Raises ValueError unless 0 <= k <= n and z > 0."""
    k = np.asarray(k, float)
    n, z = int(n), float(z)
    _wilson_check(k.min() if k.size else 0, k.max() if k.size else 0, n, z)
    if n == 0:
        return np.zeros_like(k), np.ones_like(k)
    centre, half = _wilson_centre_half(k, n, z, np.sqrt)
    lo = np.where(k == 0, 0.0, np.maximum(0.0, centre - half))
    hi = np.where(k == n, 1.0, np.minimum(1.0, centre + half))
    return lo, hi


def _wilson_check(k_min, k_max, n, z) -> None:
    if n < 0 or k_min < 0 or k_max > n:
        raise ValueError(f"wilson: need 0 <= k <= n, got k={k_min if k_min < 0 else k_max}, "
                         f"n={n}")
    if not (z > 0.0 and math.isfinite(z)):
        raise ValueError(f"wilson: z must be finite and > 0, got {z!r}")


def _wilson_centre_half(k, n, z, sqrt):
    """The Wilson interval's centre and half-width (``k`` a number or an array; ``sqrt``
    ``math.sqrt`` or ``np.sqrt``): the one formula behind every Wilson interval here."""
    z2 = z * z
    denom = n + z2
    centre = (k + 0.5 * z2) / denom
    half = z / denom * sqrt(k * (n - k) / n + 0.25 * z2)
    return centre, half


def _wilson(k: float, n: float, z: float) -> tuple[float, float]:
    """:func:`wilson` for real ``k`` and ``n`` (validated here, not converted)."""
    _wilson_check(k, k, n, z)
    if n == 0:
        return 0.0, 1.0
    centre, half = _wilson_centre_half(k, n, z, math.sqrt)
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


# ---------------------------------------------------------------------------------------------
# JSON-safe helpers
# ---------------------------------------------------------------------------------------------
def _f(x) -> float | None:
    """Python float, or None for None / NaN / +-inf."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _i(x) -> int | None:
    return None if x is None else int(x)


def _ratio(num, den) -> float | None:
    return None if den == 0 else _f(float(num) / float(den))


def _prob(k: int, n: int) -> tuple[float | None, list[float]]:
    lo, hi = wilson(k, n)
    return _ratio(k, n), [lo, hi]


def _day_percentiles(days: np.ndarray) -> dict[str, int | None]:
    """Nearest-rank p10 / median / p90 of whole days (None for an empty sample)."""
    if days.size == 0:
        return {"p10": None, "median": None, "p90": None}
    q = np.percentile(days, [10, 50, 90], method="inverted_cdf")
    return {"p10": int(q[0]), "median": int(q[1]), "p90": int(q[2])}


def _label(x) -> Any:
    """A tier's `at` label as a plain JSON scalar (int when integral)."""
    if x is None:
        return None
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if not math.isfinite(x):
            return None
        return int(x) if x.is_integer() and abs(x) < 2**53 else x
    return str(x)


def _opt(seq, k, default=None):
    try:
        return seq[k]
    except (IndexError, TypeError, KeyError):
        return default


# ---------------------------------------------------------------------------------------------
# summarize
# ---------------------------------------------------------------------------------------------
def summarize(plan: Plan, out: BlockOutput, paths: int, seed) -> dict:
    """The SPEC 10 JSON object for one run.

    Parameters
    ----------
    plan : Plan
        The compiled plan the run used (names, tiers, alphas, horizon, capital).
    out : BlockOutput
        The whole run's output: per-path fields concatenated over blocks, per-market fields summed.
    paths : int
        Number of simulated paths; must equal the length of the per-path arrays.
    seed : int or None
        The run's seed, reported as given.

    Returns
    -------
    dict with keys
        ``name, paths, seed, horizon_days, horizon_years, steps_per_day, capital``;
        ``ruin {probability, ci95, blown_probability, blown_ci95, day_median, day_p10, day_p90,
        paths_ruined}``;
        ``margin_calls {probability_any, ci95, mean_per_path, per_year, total}`` with
        ``per_year = mean_per_path * 252 / horizon_days``;
        ``tiers [{index, at, probability_reached, ci95, days_p10, days_median, days_p90}]``;
        ``final_equity {mean, std, p5, p25, median, p75, p95, min, max}``;
        ``max_drawdown {mean, p5, median, p95, max}`` (fractions of peak);
        ``trades_per_path, wins, trades, win_rate, skipped_per_path``;
        ``markets {NAME: {contracts, trades, wins, win_rate, avg_win_r, avg_loss_r, skipped,
        skipped_by_reason {risk, margin_cap, funds}, alpha, alpha_source, target_win_rate,
        gap_fills, beyond_1r}}`` for every market some tier trades;
        ``regimes`` (only with more than one regime): per regime ``{name, share_of_days, spells,
        mean_spell_days}``.
        ``correlation_review`` (only with ``rules.correlation_review``): ``{every_days,
        window_days, limit, action, scale_risk, reviews, reviews_flagged, share_flagged,
        days_flagged_per_path, share_of_days_flagged, entries_reduced, entries_skipped}``
        (reviews summed over paths; ``days_flagged_per_path`` the mean number of days a path
        traded under a flag; ``share_of_days_flagged`` that over the days paths were alive at a
        day end); and then each market also has ``correlation {entries_reduced,
        entries_skipped}``, ``skipped_by_reason`` gains ``correlation`` and ``skipped``
        includes those skips.
        Ratios with a zero denominator (win rate without trades, average R without stopped
        trades, day percentiles of an event that never happened) are ``None``.
    """
    n = int(paths)
    n_out = int(np.asarray(out.ruined).shape[0])
    if n != n_out:
        raise ValueError(f"summarize: paths={n} but the output holds {n_out} paths")
    horizon = int(plan.n_days)

    ruined = np.asarray(out.ruined).astype(bool)
    blown = np.asarray(out.blown).astype(bool)
    ruin_day = np.asarray(out.ruin_day)
    mc = np.asarray(out.margin_calls, dtype=np.int64)
    trades = np.asarray(out.trades, dtype=np.int64)
    wins = np.asarray(out.wins, dtype=np.int64)
    skipped = np.asarray(out.skipped, dtype=np.int64)
    feq = np.asarray(out.final_equity, dtype=float)
    mdd = np.asarray(out.max_dd, dtype=float)
    tier_day = np.asarray(out.tier_day).reshape(n, plan.K)

    # --- ruin ---------------------------------------------------------------------------------
    k_ruin = int(ruined.sum())
    p_ruin, ci_ruin = _prob(k_ruin, n)
    k_blown = int(blown.sum())
    p_blown, ci_blown = _prob(k_blown, n)
    rd = _day_percentiles(ruin_day[ruined & (ruin_day >= 0)])
    ruin = {
        "probability": p_ruin, "ci95": ci_ruin,
        "blown_probability": p_blown, "blown_ci95": ci_blown,
        "day_median": rd["median"], "day_p10": rd["p10"], "day_p90": rd["p90"],
        "paths_ruined": k_ruin,
    }

    # --- margin calls ---------------------------------------------------------------------------
    k_mc = int((mc > 0).sum())
    p_mc, ci_mc = _prob(k_mc, n)
    mean_mc = _ratio(int(mc.sum()), n)
    margin_calls = {
        "probability_any": p_mc, "ci95": ci_mc,
        "mean_per_path": mean_mc,
        "per_year": None if mean_mc is None or horizon <= 0 else mean_mc * TRADING_DAYS / horizon,
        "total": int(mc.sum()),
    }

    # --- tiers ----------------------------------------------------------------------------------
    tiers = []
    for k in range(plan.K):
        col = tier_day[:, k]
        hit = col[col >= 0]
        p_t, ci_t = _prob(int(hit.size), n)
        d = _day_percentiles(hit)
        if k < len(plan.tier_labels or ()):
            at = _label(plan.tier_labels[k])
        else:                                 # no labels: fall back to the reach threshold
            at = _label(plan.tier_reach[k])
        tiers.append({
            "index": k, "at": at, "probability_reached": p_t, "ci95": ci_t,
            "days_p10": d["p10"], "days_median": d["median"], "days_p90": d["p90"],
        })

    # --- final equity and drawdown --------------------------------------------------------------
    if n:
        fq = np.percentile(feq, [5, 25, 50, 75, 95])
        dq = np.percentile(mdd, [5, 50, 95])
        final_equity = {
            "mean": _f(feq.mean()), "std": _f(feq.std(ddof=1)) if n > 1 else None,
            "p5": _f(fq[0]), "p25": _f(fq[1]), "median": _f(fq[2]), "p75": _f(fq[3]),
            "p95": _f(fq[4]), "min": _f(feq.min()), "max": _f(feq.max()),
        }
        max_drawdown = {"mean": _f(mdd.mean()), "p5": _f(dq[0]), "median": _f(dq[1]),
                        "p95": _f(dq[2]), "max": _f(mdd.max())}
    else:
        final_equity = dict.fromkeys(("mean", "std", "p5", "p25", "median", "p75", "p95",
                                      "min", "max"))
        max_drawdown = dict.fromkeys(("mean", "p5", "median", "p95", "max"))

    # --- markets --------------------------------------------------------------------------------
    tier_contract = np.asarray(plan.tier_contract).reshape(plan.K, plan.M)
    review_on = int(getattr(plan, "corr_action", CORR_OFF)) != CORR_OFF
    markets = {}
    for m, name in enumerate(plan.market_names):
        used = tier_contract[:, m]
        if not (used >= 0).any():
            continue
        contracts = []
        for c in used[used >= 0]:
            cname = str(plan.contract_names[int(c)])
            if cname not in contracts:
                contracts.append(cname)
        t_m, w_m = int(out.m_trades[m]), int(out.m_wins[m])
        skips = [int(v) for v in np.asarray(out.m_skip)[m]]
        reasons = SKIP_REASONS
        if review_on:
            skips.append(int(out.m_corr_skip[m]))
            reasons = SKIP_REASONS + (SKIP_CORRELATION,)
        src = _opt(plan.alpha_source, m)
        twr = _opt(plan.target_win_rate, m)
        markets[str(name)] = {
            "contracts": contracts,
            "trades": t_m, "wins": w_m, "win_rate": _ratio(w_m, t_m),
            "avg_win_r": _ratio(float(out.m_win_r[m]), int(out.m_win_rn[m])),
            "avg_loss_r": _ratio(float(out.m_loss_r[m]), int(out.m_loss_rn[m])),
            "skipped": int(sum(skips)),
            "skipped_by_reason": dict(zip(reasons, skips)),
            "alpha": _f(plan.alpha[m]),
            "alpha_source": None if src is None else str(src),
            "target_win_rate": _f(twr),
            "gap_fills": int(out.m_gap_fills[m]),
            "beyond_1r": int(out.m_beyond_1r[m]),
        }
        if review_on:
            markets[str(name)]["correlation"] = {
                "entries_reduced": int(out.m_corr_reduced[m]),
                "entries_skipped": int(out.m_corr_skip[m])}

    n_trades, n_wins = int(trades.sum()), int(wins.sum())
    summary = {
        "name": None if plan.extras.get("name") is None else str(plan.extras.get("name")),
        "paths": n,
        "seed": _label(seed) if seed is not None else None,
        "horizon_days": horizon,
        "horizon_years": horizon / TRADING_DAYS,
        "steps_per_day": int(plan.spd),
        "capital": _f(plan.capital),
        "ruin": ruin,
        "margin_calls": margin_calls,
        "tiers": tiers,
        "final_equity": final_equity,
        "max_drawdown": max_drawdown,
        "trades": n_trades,
        "wins": n_wins,
        "win_rate": _ratio(n_wins, n_trades),
        "trades_per_path": _ratio(n_trades, n),
        "skipped_per_path": _ratio(int(skipped.sum()), n),
        "markets": markets,
    }

    if review_on:
        summary["correlation_review"] = _review_summary(plan, out, n)
    if plan.hist_mode != 0:
        summary["history"] = _history_summary(plan, out, n, summary)

    if plan.G > 1:
        days = np.asarray(out.regime_days, dtype=np.int64)
        spells = np.asarray(out.regime_spells, dtype=np.int64)
        names = plan.extras.get("regime_names") or ()
        total = int(days.sum())
        summary["regimes"] = [{
            "name": str(_opt(names, g, g)),
            "share_of_days": _ratio(int(days[g]), total),
            "spells": int(spells[g]),
            "mean_spell_days": _ratio(int(days[g]), int(spells[g])),
        } for g in range(plan.G)]
    return summary


def _review_summary(plan: Plan, out: BlockOutput, n: int) -> dict:
    """The correlation review's figures (rules.correlation_review)."""
    reviews = int(np.asarray(out.corr_reviews, np.int64).sum())
    flagged = int(np.asarray(out.corr_flagged, np.int64).sum())
    days = int(np.asarray(out.corr_days, np.int64).sum())
    # day ends a path lived through: the horizon, or the days before the day it stopped (ruined
    # or blown, whether or not a ruin rule caught it)
    sd = np.asarray(out.stop_day, np.int64)
    alive_days = int(np.where(sd >= 1, sd - 1, plan.n_days).sum())
    scale = _f(plan.corr_scale) if plan.corr_action == CORR_SCALE else None
    return {
        "every_days": int(plan.corr_every), "window_days": int(plan.corr_window),
        "limit": _f(plan.corr_limit),
        "action": "scale_risk" if plan.corr_action == CORR_SCALE else "one_per_pair",
        "scale_risk": scale,
        "reviews": reviews, "reviews_flagged": flagged,
        "share_flagged": _ratio(flagged, reviews),
        "days_flagged_per_path": _ratio(days, n),
        "share_of_days_flagged": _ratio(days, alive_days),
        "entries_reduced": int(np.asarray(out.m_corr_reduced, np.int64).sum()),
        "entries_skipped": int(np.asarray(out.m_corr_skip, np.int64).sum()),
    }


def _history_summary(plan: Plan, out: BlockOutput, n: int, summary: dict) -> dict:
    """``history`` (SPEC 11): the pool, and for replay honest intervals. Replay's paths are the
    overlapping windows of one history: each probability's ``ci95`` becomes the union of a
    moving-block bootstrap interval over start dates (blocks of one horizon; kept as
    ``ci95_moving_block``) and a Wilson score interval at the effective sample size
    ``n_eff = independent_horizons`` (``ci95_effective``); the binomial Wilson interval over
    all windows, far too narrow here, stays as ``ci95_binomial`` (:func:`history.replay_ci`).
    Fewer than two independent horizons: no interval (None). ``block_days`` is the
    bootstrap's and is left out for replay."""
    from ._plan import HIST_REPLAY
    from .history import replay_ci
    h = dict(plan.extras.get("history") or {})
    h.setdefault("mode", "replay" if plan.hist_mode == HIST_REPLAY else "bootstrap")
    h["dates"] = int(plan.hist_n)
    h["start_dates"] = int(plan.hist_nstart)
    h["independent_horizons"] = int(plan.hist_n // plan.n_days)
    if plan.hist_mode != HIST_REPLAY:
        return h
    h.pop("block_days", None)
    n_eff = h["independent_horizons"]
    h["interval"] = ("union of a moving-block bootstrap over start dates (blocks of "
                     "horizon_days) and a Wilson interval at n_eff = independent_horizons")
    ok = n_eff >= 2

    def swap(d, key, x):
        d[key + "_binomial"] = d.get(key)
        r = replay_ci(x, plan.n_days, n_eff) if ok else None
        d[key] = r["ci95"] if r else None
        d[key + "_moving_block"] = r["moving_block"] if r else None
        d[key + "_effective"] = r["effective"] if r else None

    swap(summary["ruin"], "ci95", np.asarray(out.ruined, float))
    swap(summary["ruin"], "blown_ci95", np.asarray(out.blown, float))
    swap(summary["margin_calls"], "ci95", (np.asarray(out.margin_calls) > 0).astype(float))
    tier_day = np.asarray(out.tier_day).reshape(n, plan.K)
    for k, t in enumerate(summary["tiers"]):
        if t.get("ci95") is not None:
            swap(t, "ci95", (tier_day[:, k] >= 0).astype(float))
    return h
