"""Stress testing (SPEC 6): correlation spikes, volatility shocks and fat tails, as rows
compared with the base case on common random numbers.

A :class:`Stress` changes a compiled plan only through the kernel's stress layer: inside a
window of days (the whole horizon by default) the correlation matrices become
``(1 - w) R + w J`` and volatilities are multiplied; fat tails switch the shocks to a
standardized multivariate Student-t. Every row runs with the base row's seed and block
layout, and every random purpose has its own stream (``_plan.STREAMS``), so path ``i`` of a
stressed row sees the very same normal shocks and exit uniforms as path ``i`` of the base.
Differences from the base are therefore paired, and their confidence intervals are
computed from the paired outcomes (much tighter than comparing two independent runs): for the
yes/no outcomes (ruin, a margin call, a tier reached) Newcombe's hybrid score interval for a
difference of paired proportions (:func:`paired_proportion_diff`), for the 5th percentile of
equity a paired bootstrap (:func:`paired_quantile_diff`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ._plan import CORR_OFF, CORR_SCALE, SHORT, BlockOutput, Plan
from ._linalg import psd_cholesky  # noqa: F401  (re-exported: stress rows factor spikes)
from .metrics import Z95


@dataclass(frozen=True)
class Stress:
    """One stress row. ``spike`` w in [0, 1]; ``adverse``: J takes the sign pattern of the
    strategies' directions (long +1, short -1; `both` and untraded markets +1), so the spike
    pushes every position the same way; ``vol_mult`` > 0 multiplies every market's
    volatility; ``student_t`` nu > 2 (None = normal shocks; applies to the whole horizon);
    ``window`` = (first day, last day), 1-based inclusive, or None for the whole horizon."""
    name: str = "base"
    spike: float = 0.0
    adverse: bool = False
    vol_mult: float = 1.0
    student_t: Optional[float] = None
    window: Optional[tuple] = None

    def is_base(self) -> bool:
        return self.spike == 0.0 and self.vol_mult == 1.0 and self.student_t is None

    def describe(self) -> str:
        parts = []
        if self.spike:
            parts.append(f"spike {self.spike:g}{' adverse' if self.adverse else ''}")
        if self.vol_mult != 1.0:
            parts.append(f"vol x{self.vol_mult:g}")
        if self.student_t is not None:
            parts.append(f"t({self.student_t:g})")
        if self.window is not None and parts:
            parts.append(f"days {self.window[0]}-{self.window[1]}")
        return ", ".join(parts) or "base"


def spike_matrix(R: np.ndarray, w: float, signs: Optional[np.ndarray] = None) -> np.ndarray:
    """``(1 - w) R + w J`` with ``J = s s^T`` (all ones when ``signs`` is None).

    For a correlation matrix R and w in [0, 1] the result is again a correlation matrix:
    symmetric, unit diagonal (s_i^2 = 1), and positive semi-definite as a convex combination
    of two such matrices (positive definite for w < 1 when R is)."""
    R = np.asarray(R, dtype=float)
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"spike weight must be in [0, 1], got {w}")
    s = np.ones(R.shape[0]) if signs is None else np.asarray(signs, dtype=float)
    return (1.0 - w) * R + w * np.outer(s, s)


def adverse_signs(plan: Plan) -> np.ndarray:
    return np.where(plan.dir_mode == SHORT, -1.0, 1.0)


def apply_stress(plan: Plan, stress: Stress) -> Plan:
    """The plan with ``stress`` applied through the kernel's stress window."""
    if stress.is_base():
        return plan
    lo, hi = stress.window if stress.window is not None else (1, plan.n_days)
    signs = adverse_signs(plan) if stress.adverse else None
    chol = plan.chol.copy()
    volmult = plan.volmult.copy()
    cache = {}
    for g in range(plan.G):
        L0 = plan.chol[0, g]
        if stress.spike:
            R = L0 @ L0.T
            key = R.tobytes()
            if key not in cache:       # factor once per distinct matrix
                cache[key] = psd_cholesky(spike_matrix(R, stress.spike, signs))
            chol[1, g] = cache[key]
        else:
            chol[1, g] = L0
        volmult[1, g] = plan.volmult[0, g] * stress.vol_mult
    nu = plan.student_nu if stress.student_t is None else float(stress.student_t)
    return plan.with_(chol=np.ascontiguousarray(chol), volmult=np.ascontiguousarray(volmult),
                      win_lo=int(lo), win_hi=int(hi), student_nu=nu)


def check_stressed(plan: Plan, stress: Stress, where: str) -> None:
    """Refuse, before any run, a stress row whose volatility multiplier would take prices
    out of the float range over the horizon (:mod:`simcore.limits`); ScenarioError naming
    ``where`` (the option, or the row's field ``stress[i].vol_mult``)."""
    from .errors import ScenarioError
    from .limits import plan_envelope_problem

    if stress.is_base() or stress.vol_mult <= 1.0:
        return
    prob = plan_envelope_problem(plan, stress.vol_mult)
    if prob is not None:
        raise ScenarioError(where, f"volatility x{stress.vol_mult:g}: {prob.text}")


def stresses_from_scenario(scenario) -> list:
    """The rows named under the scenario's ``stress:`` section."""
    return [Stress(name=r.name, spike=r.spike, adverse=r.adverse, vol_mult=r.vol_mult,
                   student_t=r.student_t,
                   window=tuple(r.window) if r.window is not None else None)
            for r in (scenario.stress or ())]


def sweep(spikes=(), vol_mults=(), tails=None, adverse=False, window=None) -> list:
    """Rows for a command-line sweep: one row per spike weight, one per volatility multiplier
    and one for fat tails (one stress at a time, each on the same window)."""
    rows = []
    for w in spikes:
        rows.append(Stress(name=f"spike {w:g}" + (" adverse" if adverse else ""), spike=w,
                           adverse=adverse, window=window))
    for v in vol_mults:
        rows.append(Stress(name=f"vol x{v:g}", vol_mult=v, window=window))
    if tails is not None:       # fat tails apply to the whole horizon (see Stress)
        rows.append(Stress(name=f"t({tails:g})", student_t=tails))
    return rows


# ---- paired comparison ----------------------------------------------------------------------

def paired_mean_diff(x: np.ndarray, y: np.ndarray) -> dict:
    """Mean of ``y - x`` over paths with a normal 95% interval from the per-path differences:
    for continuous outcomes (equity, drawdown). Yes/no outcomes use
    :func:`paired_proportion_diff`, whose interval does not collapse when no pair differs."""
    d = np.asarray(y, float) - np.asarray(x, float)
    n = d.size
    m = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return {"diff": m, "ci95": [m - Z95 * se, m + Z95 * se] if n > 1 else None}


def _newcombe_phi(a: int, b: int, c: int, d: int) -> float:
    """Newcombe's (1998) estimate of the correlation between the two paired proportions: the
    phi coefficient ``A / sqrt((a+b)(c+d)(a+c)(b+d))`` with ``A = ad - bc``, where a positive
    ``A`` is first reduced by ``n / 2`` (to 0 when ``0 <= A <= n / 2``); 0 when a margin is
    empty. This is the published method 10 (Statistics in Medicine 17:2635, as implemented in
    Fagerland, Lydersen and Laake's ``contingencytables`` and in ``biostatUZH``); the plain
    phi does not reproduce the published examples (tests/test_stress_rows.py)."""
    den = float(a + b) * float(c + d) * float(a + c) * float(b + d)
    if den == 0.0:
        return 0.0
    n = a + b + c + d
    A = float(a) * float(d) - float(b) * float(c)
    if A > n / 2:
        A -= n / 2
    elif A >= 0:
        A = 0.0
    return A / math.sqrt(den)


def paired_proportion_diff(x: np.ndarray, y: np.ndarray, *, level: float = 0.95) -> dict:
    """``mean(y) - mean(x)`` for paired yes/no outcomes (path i of a stressed row ``y``
    against path i of the base ``x``) with Newcombe's hybrid score interval for a difference
    of paired proportions (Newcombe 1998, Statistics in Medicine 17:2635-2650, method 10;
    Wilson limits without continuity correction).

    With the paired counts a (both), b (x only), c (y only), d (neither), n = a+b+c+d,
    ``p1 = (a+b)/n`` with Wilson limits [l1, u1], ``p2 = (a+c)/n`` with [l2, u2], and phi from
    :func:`_newcombe_phi`, the difference ``D = p2 - p1`` has limits

        D - sqrt((p2-l2)^2 - 2 phi (p2-l2)(u1-p1) + (u1-p1)^2)
        D + sqrt((u2-p2)^2 - 2 phi (u2-p2)(p1-l1) + (p1-l1)^2)

    Unlike a normal interval from per-path differences it does not collapse to [0, 0] when no
    pair differs (e.g. no margin call in either row) and is not too narrow with few differing
    pairs. ``ci95`` None without paths."""
    from scipy.stats import norm
    from .metrics import wilson

    x = np.asarray(x, bool).ravel()
    y = np.asarray(y, bool).ravel()
    n = int(x.size)
    if n == 0:
        return {"diff": None, "ci95": None}
    a = int(np.count_nonzero(x & y))
    b = int(np.count_nonzero(x & ~y))
    c = int(np.count_nonzero(~x & y))
    d = n - a - b - c
    z = float(norm.ppf((1 + level) / 2))
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson(a + b, n, z)
    l2, u2 = wilson(a + c, n, z)
    phi = _newcombe_phi(a, b, c, d)
    diff = p2 - p1
    lo = diff - math.sqrt(max(0.0, (p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1)
                              + (u1 - p1) ** 2))
    hi = diff + math.sqrt(max(0.0, (u2 - p2) ** 2 - 2 * phi * (u2 - p2) * (p1 - l1)
                              + (p1 - l1) ** 2))
    return {"diff": diff, "ci95": [max(-1.0, lo), min(1.0, hi)]}


def paired_quantile_diff(x: np.ndarray, y: np.ndarray, q: float, *, n_boot: int = 400,
                         seed: int = 12345) -> dict:
    """Difference of the q-th percentiles of y and x, with a paired bootstrap 95% interval
    (paths resampled jointly, so the pairing is kept)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    diff = float(np.percentile(y, q) - np.percentile(x, q))
    rng = np.random.default_rng(seed)
    n = x.size
    boots = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        boots[b] = np.percentile(y[idx], q) - np.percentile(x[idx], q)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"diff": diff, "ci95": [float(lo), float(hi)]}


def _tier_days_median(out: BlockOutput, k: int):
    d = out.tier_day[:, k]
    d = d[d >= 0]
    return int(np.percentile(d, 50, method="inverted_cdf")) if d.size else None


def row_summary(plan: Plan, out: BlockOutput, base: Optional[BlockOutput]) -> dict:
    """One row of the stress table: headline figures, and paired differences from ``base``."""
    n = out.ruined.shape[0]
    ruined = out.ruined.astype(float)
    called = (out.margin_calls > 0).astype(float)
    row = {
        "ruin_probability": float(ruined.mean()),
        "margin_call_probability": float(called.mean()),
        "tiers": [{"at": plan.tier_labels[k] if k < len(plan.tier_labels) else None,
                   "probability_reached": float((out.tier_day[:, k] >= 0).mean()),
                   "days_median": _tier_days_median(out, k)} for k in range(plan.K)],
        "final_equity_p5": float(np.percentile(out.final_equity, 5)),
        "max_drawdown_median": float(np.median(out.max_dd)),
        "gap_fills": int(out.m_gap_fills.sum()),
        "beyond_1r": int(out.m_beyond_1r.sum()),
        "paths": n,
    }
    if base is not None:
        row["vs_base"] = {
            "ruin_probability": paired_proportion_diff(base.ruined, out.ruined),
            "margin_call_probability": paired_proportion_diff(base.margin_calls > 0,
                                                              out.margin_calls > 0),
            "tiers_reached": [paired_proportion_diff(base.tier_day[:, k] >= 0,
                                                     out.tier_day[:, k] >= 0)
                              for k in range(plan.K)],
            "final_equity_p5": paired_quantile_diff(base.final_equity, out.final_equity, 5),
        }
    return row


def run_stress(plan: Plan, stresses: Sequence[Stress], paths: int, seed: int, *,
               jobs=None, progress=None, backend: str = "threads", scheduler=None) -> dict:
    """Run the base row and every stress row on common random numbers; return the table as a
    JSON-ready dict: ``{"paths", "seed", "rows": [{"name", "stress", ...figures, "vs_base"}]}``."""
    from .runner import simulate

    rows = []
    base_out = simulate(plan, paths, seed, jobs=jobs, progress=progress, backend=backend,
                        scheduler=scheduler)
    base_row = row_summary(plan, base_out, None)
    base_row.update(name="base", stress="base")
    rows.append(base_row)
    for st in stresses:
        if st.is_base():
            continue
        splan = apply_stress(plan, st)
        out = simulate(splan, paths, seed, jobs=jobs, progress=progress, backend=backend,
                       scheduler=scheduler)
        row = row_summary(splan, out, base_out)
        row.update(name=st.name, stress=st.describe())
        rows.append(row)
    return {"paths": paths, "seed": seed, "horizon_days": plan.n_days,
            "capital": plan.capital, "name": plan.extras.get("name"), "rows": rows}


# ---- the correlation review under stress (issue 13) ------------------------------------------

def _review_defaults() -> dict:
    """The review settings ``--review N`` uses on a plan without ``rules.correlation_review``:
    the plan key's own defaults (window, limit) and ``scale_risk: 0.5``."""
    from .scenario import CorrelationReviewSpec
    f = CorrelationReviewSpec.model_fields
    return {"window_days": f["window_days"].default, "limit": f["limit"].default,
            "scale_risk": 0.5}


#: review settings used when ``--review N`` meets a plan without ``rules.correlation_review``
REVIEW_DEFAULTS = _review_defaults()


def review_label(every: Optional[int]) -> str:
    return "off" if every is None else f"every {every}d"


def with_review(plan: Plan, every: Optional[int]) -> Plan:
    """``plan`` with its correlation review removed (``every`` None) or held every ``every``
    days: the plan's other review settings, or REVIEW_DEFAULTS if it has none."""
    if every is None:
        from .build import review_fields
        return plan.with_(**review_fields(None))
    if plan.corr_action == CORR_OFF:
        return plan.with_(corr_action=CORR_SCALE, corr_every=int(every),
                          corr_window=REVIEW_DEFAULTS["window_days"],
                          corr_limit=REVIEW_DEFAULTS["limit"],
                          corr_scale=REVIEW_DEFAULTS["scale_risk"])
    return plan.with_(corr_every=int(every))


def run_review_stress(plan: Plan, reviews: Sequence[Optional[int]], stresses: Sequence[Stress],
                      paths: int, seed: int, *, jobs=None, progress=None,
                      backend: str = "threads", scheduler=None) -> dict:
    """The plan with each review setting (``None`` = the rule removed, N = every N days), calm
    and under each stress row, all on common random numbers (the review draws no random
    numbers, so every row sees the same shocks). Each row's ``vs_base`` is its paired difference
    from the *first* review setting under the same stress (e.g. ``off``): what the review buys
    in that market. Rows are grouped by stress, calm first."""
    from .metrics import _review_summary
    from .runner import simulate

    rows = []
    conditions = [Stress(name="calm")] + [st for st in stresses if not st.is_base()]
    for st in conditions:
        splan = apply_stress(plan, st)
        ref = None
        for every in reviews:
            rplan = with_review(splan, every)
            out = simulate(rplan, paths, seed, jobs=jobs, progress=progress, backend=backend,
                           scheduler=scheduler)
            row = row_summary(rplan, out, ref)
            if ref is None:
                ref = out
            cond = "calm" if st.is_base() else st.name
            rs = _review_summary(rplan, out, paths) if every is not None else {}
            row.update(name=f"{review_label(every)}, {cond}", condition=cond,
                       stress="base" if st.is_base() else st.describe(),
                       review=None if every is None else int(every),
                       review_share_flagged=rs.get("share_flagged"),
                       review_days_flagged_per_path=rs.get("days_flagged_per_path"))
            rows.append(row)
    return {"paths": paths, "seed": seed, "horizon_days": plan.n_days,
            "capital": plan.capital, "name": plan.extras.get("name"), "rows": rows,
            "reference": f"review {review_label(reviews[0])}, same stress",
            "reference_label": f"vs review {review_label(reviews[0])}"}


def next_tier_index(result: dict) -> Optional[int]:
    """The first tier above the starting capital (the one a trader is working towards)."""
    tiers = result["rows"][0]["tiers"]
    for k, t in enumerate(tiers):
        if t["at"] is not None and t["at"] > result["capital"]:
            return k
    return None
