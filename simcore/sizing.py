"""Sizing the starting capital (issue 5): the least capital for which a plan meets its targets.

Targets (:class:`Target`) are statements about one run's across-path statistics:

* ``ruin``        -- P(ruin) at most p (``--max-ruin p``);
* ``reach``       -- P(tier reached within D days) at least q (``--reach AT:q[:D]``; the tier is
  named by its ``at`` threshold, D defaults to the horizon; day 0 counts, so a capital at or
  above the threshold reaches it with probability 1);
* ``margin_call`` -- P(at least one margin call) at most m (``--max-margin-call m``).

Common random numbers
---------------------
Every candidate capital is simulated with the same seed and block layout
(:mod:`simcore.runner`), so path ``i`` sees the same shocks, exit uniforms and coin flips at
every capital: differences between capitals come from the capital alone and the curve of ruin
against capital is smooth. Paths are cut into fixed blocks of ``BLOCK_SIZE``; a run with more
paths *extends* a smaller one (its first blocks are identical), so refining a point from the
coarse to the full path count only simulates the missing blocks, and the result at every point
is bit-identical to ``simulate(plan_at(capital), paths, seed)``.

The curve is still not monotone everywhere, even under common random numbers: crossing a tier
threshold changes the contracts traded, integer contract counts from the risk rule and the
margin cap make steps (an account just big enough for one contract is the most exposed), and an
account too small to take a single contract never trades and is never ruined. The answer is
therefore defined on the evaluated points, not by assuming monotonicity:

    **the least evaluated capital beyond which every evaluated point satisfies the target**

(the capital just above the largest evaluated failing point). Points below a failing point that
satisfy the target are reported (``holds_below``) but never returned as the answer.

Three answers per target, from the same evaluations, with p-hat the estimate at n paths and
[lo, hi] its 95% Wilson interval:

* ``capital``              -- point estimate: p-hat meets the target;
* ``capital_conservative`` -- the 95% bound meets it (hi <= p for "at most" targets, lo >= q for
  "at least"): at that capital, taken alone, the target holds with 95% confidence;
* ``capital_optimistic``   -- the other bound meets it: below it every evaluated point, taken
  alone, fails the target with 95% confidence. [optimistic, conservative] is a range for the
  capital the target needs, not a joint 95% interval: its ends rest on per-point 95% bounds,
  and the search evaluates many points with no correction for that multiplicity.

Search
------
1. A coarse geometric grid over [min, max] (plus the scenario's own capital) at ``coarse_paths``
   (a whole number of blocks, about 1/8 of the paths).
2. Refinement near the answer only, up a ladder of path counts (the coarse count, doubling, then
   the full paths; a point climbs one rung at a time, reusing its blocks, so it costs nothing
   extra and stops where its side of the target is settled): (a) points at or above a failing
   point whose 95% interval still contains the target level go a rung up; (b) the ends of each
   bracket (largest failing point, next point) still to be narrowed go up to the rung below the
   full paths (an end must be precise enough to aim with); (c) each
   bracket wider than the resolution gets new points: regula falsi in log capital (Illinois
   variant) while it is wide, then two points one resolution apart around the interpolated
   crossing, then the midpoint; (d) finally each answer itself is extended to the full paths.
   Repeat until nothing changes. The resolution of a target is ``tolerance`` (relative), or a
   quarter of its 95% range [optimistic, conservative] when that is wider (at most 5%).

Several targets: the overall answer is the largest capital any of them needs (per kind of
answer). ``cost`` reports the paths simulated as a multiple of one plain run of ``paths``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from ._plan import BLOCK_SIZE, Plan
from .errors import ScenarioError
from .limits import MONEY_MAX
from .metrics import wilson
from .runner import block_plan, block_seed
from .text import money_cents, pct   # error messages, target labels and notes

__all__ = ["Target", "parse_reach", "make_targets", "resolve_range", "CapitalCurve",
           "size_capital", "evaluate_curve", "plot_sizing", "DEFAULT_MAX_RUIN", "CRITERIA"]

DEFAULT_MAX_RUIN = 0.05
DEFAULT_GRID = 17
DEFAULT_TOLERANCE = 0.01
CRITERIA = ("optimistic", "point", "conservative")
_MAX_ROUNDS = 25


# ---------------------------------------------------------------------------------------------
# targets
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """One sizing target. ``kind``: ``ruin`` / ``margin_call`` (probability at most ``level``)
    or ``reach`` (probability of reaching tier ``tier`` within ``within_days`` at least
    ``level``). ``option`` is the command-line option it came from (for messages)."""
    kind: str
    level: float
    option: str
    tier: Optional[int] = None
    tier_at: Optional[float] = None
    within_days: Optional[int] = None

    @property
    def at_most(self) -> bool:
        return self.kind != "reach"

    @property
    def label(self) -> str:
        level = pct(self.level, None)
        if self.kind == "ruin":
            return f"P(ruin) <= {level}"
        if self.kind == "margin_call":
            return f"P(margin call) <= {level}"
        within = f" in {self.within_days}d" if self.within_days is not None else ""
        return f"P(reach {money_cents(self.tier_at)}{within}) >= {level}"

    @property
    def key(self) -> str:
        """Key of this target's statistic in a curve point's ``counts``."""
        if self.kind == "reach":
            return f"reach:{self.tier}:{self.within_days}"
        return self.kind

    def to_json(self) -> dict:
        d = {"kind": self.kind, "option": self.option, "level": self.level, "label": self.label}
        if self.kind == "reach":
            d.update(tier_index=self.tier, tier_at=_num_json(self.tier_at),
                     within_days=self.within_days)
        return d

    # --- criteria -----------------------------------------------------------------------------
    def gap(self, k: int, n: int, criterion: str) -> float:
        """Signed distance from the target (> 0: fails, <= 0: holds) of the statistic
        ``criterion`` uses at k events out of n paths."""
        p = k / n
        lo, hi = wilson(k, n)
        if self.at_most:
            stat = {"point": p, "conservative": hi, "optimistic": lo}[criterion]
            return stat - self.level
        stat = {"point": p, "conservative": lo, "optimistic": hi}[criterion]
        return self.level - stat

    def holds(self, k: int, n: int, criterion: str) -> bool:
        return self.gap(k, n, criterion) <= 0.0

    def decided(self, k: int, n: int) -> bool:
        """True when the 95% interval at n paths lies wholly on one side of the level: more
        paths would not change whether the point meets the target (in any criterion)."""
        lo, hi = wilson(k, n)
        return hi < self.level or lo > self.level


def _bad(option: str, problem: str) -> ScenarioError:
    return ScenarioError(option, problem)


def _check_prob(option: str, x, what: str = "a probability") -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise _bad(option, f"must be {what} in (0, 1), got {x!r}") from None
    if not (0.0 < x < 1.0):
        raise _bad(option, f"must be {what} strictly between 0 and 1 (0.05 means 5%), "
                           f"got {x:g}")
    return x


def parse_reach(text: str) -> tuple[float, float, Optional[int]]:
    """``"AT:Q"`` or ``"AT:Q:DAYS"`` -> (at, q, days or None). Raises ScenarioError naming
    ``--reach``."""
    s = str(text).strip()
    parts = [p.strip() for p in s.split(":")]
    form = "expected AT:Q or AT:Q:DAYS (e.g. 10000:0.5 or 10000:0.5:252)"
    if len(parts) not in (2, 3) or not all(parts):
        raise _bad("--reach", f"malformed {s!r}: {form}")
    try:
        at = float(parts[0].replace("$", "").replace(",", "").replace("_", ""))
    except ValueError:
        raise _bad("--reach", f"malformed {s!r}: tier threshold {parts[0]!r} is not a number; "
                              f"{form}") from None
    if not (math.isfinite(at) and at > 0):
        raise _bad("--reach", f"malformed {s!r}: tier threshold must be > 0")
    try:
        q = float(parts[1])
    except ValueError:
        raise _bad("--reach", f"malformed {s!r}: probability {parts[1]!r} is not a number; "
                              f"{form}") from None
    if not (0.0 < q < 1.0):
        raise _bad("--reach", f"in {s!r}: probability must be strictly between 0 and 1, "
                              f"got {q:g}")
    days = None
    if len(parts) == 3:
        try:
            days = int(parts[2])
        except ValueError:
            raise _bad("--reach", f"malformed {s!r}: days {parts[2]!r} is not a whole number; "
                                  f"{form}") from None
        if days < 1:
            raise _bad("--reach", f"in {s!r}: days must be >= 1")
    return at, q, days


def make_targets(plan: Plan, *, max_ruin: Optional[float] = None, reach: Sequence = (),
                 max_margin_call: Optional[float] = None) -> list[Target]:
    """Validated targets for ``plan``. ``reach`` items are ``"AT:Q[:DAYS]"`` strings or
    ``(at, q, days)`` tuples. With no target at all, ruin at most ``DEFAULT_MAX_RUIN``.
    Raises ScenarioError naming the option."""
    targets: list[Target] = []
    if max_ruin is not None:
        targets.append(Target("ruin", _check_prob("--max-ruin", max_ruin), "--max-ruin"))
    labels = list(plan.tier_labels or ())
    for item in reach or ():
        at, q, days = parse_reach(item) if isinstance(item, str) else item
        q = _check_prob("--reach", q)
        k = next((j for j, a in enumerate(labels)
                  if a is not None and float(a) == float(at)), None)
        if k is None:
            known = ", ".join(money_cents(a) for a in labels if a is not None)
            raise _bad("--reach", f"no tier at {money_cents(at)} " + (
                f"(the scenario's tiers are at: {known})" if known
                else "(the scenario's tiers have no `at` threshold)"))
        if not math.isfinite(plan.tier_reach[k]):
            raise _bad("--reach", f"tier {k} has no threshold to reach")
        if days is not None and days > plan.n_days:
            raise _bad("--reach", f"{days} days is beyond the horizon ({plan.n_days} days)")
        if days == plan.n_days:
            days = None
        targets.append(Target("reach", q, "--reach", tier=k, tier_at=float(at),
                              within_days=days))
    if max_margin_call is not None:
        targets.append(Target("margin_call", _check_prob("--max-margin-call", max_margin_call),
                              "--max-margin-call"))
    if not targets:
        targets.append(Target("ruin", DEFAULT_MAX_RUIN, "--max-ruin"))
    return targets


def check_search(scenario, targets: Sequence[Target], *, min_capital: Optional[float] = None,
                 max_capital: Optional[float] = None,
                 tolerance: float = DEFAULT_TOLERANCE) -> tuple[float, float]:
    """Every option of a search checked before any simulation: the tolerance, the capital
    range, and the plan at both ends of it (a capital the limits refuse is named by the
    option that led there). Returns the range. Raises ScenarioError."""
    from .build import build_plan

    if not (0.0 < tolerance < 1.0):
        raise _bad("--tolerance", f"must be between 0 and 1 (0.01 = 1%), got {tolerance:g}")
    lo, hi = resolve_range(scenario, targets, min_capital, max_capital)
    for c, opt in ((lo, "--min-capital"), (hi, "--max-capital")):
        try:
            build_plan(scenario.model_copy(update={"capital": float(c)}))
        except ScenarioError as e:
            raise _bad(opt, f"at a capital of {money_cents(c)}: {e}") from None
    return lo, hi


def resolve_range(scenario, targets: Sequence[Target], min_capital: Optional[float] = None,
                  max_capital: Optional[float] = None) -> tuple[float, float]:
    """The capital range to search. Defaults: [max(capital / 10, the least equity at which the
    plan can take a trade (at most 95% of capital)), 10 x capital], the minimum kept
    above an absolute ruin level (``ruin: {below: X}``, which must stay below the capital) and
    the maximum at least a little above every tier a reach target names."""
    cap = float(scenario.capital)
    below = scenario.rules.ruin.below
    for opt, v in (("--min-capital", min_capital), ("--max-capital", max_capital)):
        if v is not None and not (math.isfinite(float(v)) and float(v) > 0):
            raise _bad(opt, f"must be a positive amount, got {v!r}")
    if min_capital is not None and max_capital is not None \
            and not float(min_capital) < float(max_capital):
        raise _bad("--min-capital", f"must be below --max-capital ({money_cents(min_capital)} "
                                    f">= {money_cents(max_capital)})")
    if min_capital is not None:
        lo = float(min_capital)
    else:
        # below the least equity at which the plan can take any trade, ruin is trivially
        # zero: start the search there (docs/sizing.md)
        from .build import trading_floor
        floor = trading_floor(scenario)
        lo = cap / 10.0 if floor is None else max(cap / 10.0, min(floor, 0.95 * cap))
    if below is not None:
        if min_capital is not None and not lo > below:
            raise _bad("--min-capital", f"must be above the ruin level rules.ruin.below "
                                        f"({money_cents(below)}): an account that starts "
                                        f"there is ruined at once")
        lo = max(lo, below * 1.05 if below > 0 else lo)
    hi = float(max_capital) if max_capital is not None else min(MONEY_MAX, max(
        10.0 * cap, *[1.05 * t.tier_at for t in targets if t.kind == "reach"], 0.0))
    if not lo < hi:
        which = "--max-capital" if max_capital is not None else "--min-capital"
        raise _bad(which, f"the range is empty: {money_cents(lo)} to {money_cents(hi)}")
    return lo, hi


# ---------------------------------------------------------------------------------------------
# evaluation on common random numbers
# ---------------------------------------------------------------------------------------------
@dataclass
class _Point:
    capital: float
    plan: Plan
    blocks: dict = field(default_factory=dict)     # (index, size) -> BlockOutput
    paths: int = 0
    counts: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


def _layout(paths: int) -> list[tuple[int, int]]:
    """[(block index, size)] of a run of ``paths`` paths (runner.block_sizes)."""
    from .runner import block_sizes
    return list(enumerate(block_sizes(paths)))


class CapitalCurve:
    """Simulates one scenario at many starting capitals on common random numbers.

    ``evaluate([c1, c2, ...], paths)`` runs, in one parallel batch, only the blocks each point
    does not have yet; each point's statistics are then those of
    ``simulate(plan_at(c), paths, seed)`` exactly. ``paths_simulated`` counts new paths.
    """

    def __init__(self, scenario, targets: Sequence[Target], seed: int, *, jobs=None,
                 progress: Optional[Callable[[int], None]] = None, backend: str = "threads",
                 scheduler: Optional[str] = None):
        self.scenario = scenario
        self.targets = list(targets)
        self.seed = int(seed)
        self.jobs = jobs
        self.backend = backend
        self.scheduler = scheduler
        self.progress = progress
        self.points: dict[float, _Point] = {}
        self.paths_simulated = 0
        self.batches = 0

    def plan_at(self, capital: float) -> Plan:
        """The scenario's plan with another starting capital (build_plan reads the capital
        from the scenario, so a ``below_fraction`` ruin level scales with it)."""
        from .build import build_plan
        return build_plan(self.scenario.model_copy(update={"capital": float(capital)}))

    def point(self, capital: float) -> _Point:
        c = float(capital)
        if c not in self.points:
            self.points[c] = _Point(c, self.plan_at(c))
        return self.points[c]

    def evaluate(self, capitals: Sequence[float], paths: int) -> None:
        from .runner import run_tasks

        layout = _layout(paths)
        tasks, owners = [], []
        for c in capitals:
            pt = self.point(c)
            if pt.paths == paths:
                continue
            for b, size in layout:
                if (b, size) not in pt.blocks:
                    tasks.append((block_plan(pt.plan, b * BLOCK_SIZE), block_seed(self.seed, b), size))
                    owners.append((pt, (b, size)))
        if tasks:
            outs = run_tasks(tasks, jobs=self.jobs, backend=self.backend,
                             scheduler=self.scheduler, progress=self.progress)
            for (pt, key), out in zip(owners, outs):
                pt.blocks[key] = out
                self.paths_simulated += key[1]
            self.batches += 1
        for c in capitals:
            pt = self.point(c)
            if pt.paths != paths:
                self._summarize(pt, paths)

    def _summarize(self, pt: _Point, paths: int) -> None:
        from .runner import merge
        out = merge([pt.blocks[key] for key in _layout(paths)])
        plan = pt.plan
        n = int(out.ruined.shape[0])
        td = np.asarray(out.tier_day).reshape(n, plan.K)
        counts = {
            "ruin": int(np.count_nonzero(out.ruined)),
            "blown": int(np.count_nonzero(out.blown)),
            "margin_call": int(np.count_nonzero(out.margin_calls > 0)),
        }
        for k in range(plan.K):
            counts[f"reach:{k}:None"] = int(np.count_nonzero(td[:, k] >= 0))
        for t in self.targets:
            if t.kind == "reach" and t.within_days is not None:
                col = td[:, t.tier]
                counts[t.key] = int(np.count_nonzero((col >= 0) & (col <= t.within_days)))
        pt.paths, pt.counts = n, counts
        pt.extra = {
            "trades_per_path": float(np.asarray(out.trades, np.int64).sum()) / n,
            "skipped_per_path": float(np.asarray(out.skipped, np.int64).sum()) / n,
            "margin_calls_per_path": float(np.asarray(out.margin_calls, np.int64).sum()) / n,
            "final_equity_median": float(np.median(out.final_equity)),
        }

    def sorted_points(self) -> list[_Point]:
        return [self.points[c] for c in sorted(self.points) if self.points[c].paths > 0]


def evaluate_curve(scenario, capitals: Sequence[float], paths: int, seed: int, *,
                   targets: Sequence[Target] = (), jobs=None) -> list[dict]:
    """The curve at the given capitals, all at ``paths`` paths and one ``seed`` (common random
    numbers): one JSON-ready row per capital (see :func:`size_capital`'s ``curve``)."""
    from .build import build_plan
    plan = build_plan(scenario)
    targets = list(targets)
    cc = CapitalCurve(scenario, targets, seed, jobs=jobs)
    cc.evaluate([float(c) for c in capitals], paths)
    return [_curve_row(plan, pt, targets) for pt in cc.sorted_points()]


# ---------------------------------------------------------------------------------------------
# answers
# ---------------------------------------------------------------------------------------------
def _answer(points: list[_Point], t: Target, criterion: str) -> dict:
    """The least evaluated capital beyond which every evaluated point meets ``t``."""
    oks = [t.holds(p.counts[t.key], p.paths, criterion) for p in points]
    fails = [i for i, ok in enumerate(oks) if not ok]
    if not fails:
        return {"status": "holds_everywhere", "capital": points[0].capital,
                "bracket": [None, points[0].capital], "holds_below": None}
    i = fails[-1]
    below = [p.capital for p, ok in zip(points[:i], oks[:i]) if ok]
    holds_below = max(below) if below else None
    if i == len(points) - 1:
        return {"status": "not_reached", "capital": None,
                "bracket": [points[i].capital, None], "holds_below": holds_below}
    return {"status": "ok", "capital": points[i + 1].capital,
            "bracket": [points[i].capital, points[i + 1].capital], "holds_below": holds_below}


def _round_capital(c: float) -> float:
    return float(round(c)) if c >= 100 else round(c, 2)


def _proposals(cc: CapitalCurve, lo_pt: _Point, hi_pt: _Point, t: Target, criterion: str,
               tol: float, weights: tuple = (1.0, 1.0)) -> list[float]:
    """New capitals inside the bracket (``lo_pt`` fails, ``hi_pt`` holds), [] once the bracket
    is within ``tol`` (relative).

    Wide bracket (> 6 tolerances): one point where the straight line through the two ends'
    distances from the target (in log capital) crosses zero -- regula falsi, with the
    Illinois weights (an end kept twice in a row counts half as much, so a curved stretch
    cannot pin the search to one end). Narrower: two points a tolerance apart around that
    crossing, which close the bracket in one round when the line is right. Narrowest (< 2.5
    tolerances): the midpoint.
    """
    xl, xh = math.log(lo_pt.capital), math.log(hi_pt.capital)
    width = xh - xl
    omega = math.log1p(tol)
    if width <= omega * 1.0000001 or hi_pt.capital - lo_pt.capital <= 1.0:
        return []
    if width <= 2.5 * omega:
        xs = [0.5 * (xl + xh)]
    else:
        gl = t.gap(lo_pt.counts[t.key], lo_pt.paths, criterion) * weights[0]
        gh = t.gap(hi_pt.counts[t.key], hi_pt.paths, criterion) * weights[1]
        frac = gl / (gl - gh) if gl > 0 and gl - gh > 0 else 0.5
        x = xl + frac * width
        margin = 0.15 * omega
        if width > 6 * omega:
            xs = [min(max(x, xl + margin), xh - margin)]
        else:
            xs = [min(max(v, xl + margin), xh - margin)
                  for v in (x - 0.45 * omega, x + 0.45 * omega)]
            if xs[1] - xs[0] < 0.3 * omega:
                xs = [0.5 * (xs[0] + xs[1])]
    out = []
    for x in xs:
        c = _round_capital(math.exp(x))
        if lo_pt.capital < c < hi_pt.capital and c not in cc.points:
            out.append(c)
    return out


#: a target's resolution is at least this fraction of its 95% range (in log capital) ...
RANGE_FRACTION = 0.25
#: ... but the range never loosens it beyond this (relative)
RANGE_RESOLUTION_CAP = 0.05


def _rungs(coarse: int, paths: int) -> list[int]:
    """The path counts a point climbs through: the coarse count, doubling, then the full paths.
    A point goes one rung up only while its side of the target is still uncertain, and a rung
    extends the one below it (its first blocks are reused), so the ladder never costs more than
    going straight to the full paths -- and saves the rest wherever a point is decided early."""
    out = [int(coarse)]
    while out[-1] * 2 < paths:
        out.append(out[-1] * 2)
    if out[-1] != paths:
        out.append(int(paths))
    return out


def _step_up(cc: "CapitalCurve", capitals, rungs: list[int]) -> None:
    """Evaluate each capital at the next rung above its current path count."""
    groups: dict = {}
    for c in capitals:
        n = cc.point(c).paths
        groups.setdefault(next(r for r in rungs if r > n), []).append(c)
    for n, cs in sorted(groups.items()):
        cc.evaluate(sorted(cs), n)


def _resolution(answers: dict, tol: float) -> float:
    """Relative width to which a target's brackets are narrowed: ``tol``, or a quarter of the
    target's current 95% range [optimistic, conservative] when that is wider (at most 5%).

    Pinning an answer much finer than its own statistical uncertainty buys nothing: the range
    is about 4 standard errors wide, so a bracket of a quarter of it (one standard error) adds
    a rounding error of sd 1/sqrt(12) of a standard error, which grows the total by about 4%."""
    lo, hi = answers["optimistic"]["capital"], answers["conservative"]["capital"]
    if lo is None or hi is None or not hi > lo:
        return tol
    return max(tol, min(RANGE_RESOLUTION_CAP, math.expm1(RANGE_FRACTION * math.log(hi / lo))))


def size_capital(scenario, targets: Sequence[Target], *, paths: Optional[int] = None,
                 seed: Optional[int] = None, min_capital: Optional[float] = None,
                 max_capital: Optional[float] = None, jobs=None,
                 grid: int = DEFAULT_GRID, coarse_paths: Optional[int] = None,
                 tolerance: float = DEFAULT_TOLERANCE,
                 progress: Optional[Callable[[int], None]] = None,
                 stage: Optional[Callable[[str], None]] = None, backend: str = "threads",
                 scheduler: Optional[str] = None) -> dict:
    """Search the least starting capital meeting every target; return a JSON-ready dict.

    ``paths`` / ``seed`` default to the scenario's. ``grid``: points of the coarse geometric
    grid; ``coarse_paths``: paths per coarse point (default about paths / 8, a whole number of
    blocks, at least one block; equal to ``paths`` when that is smaller); ``tolerance``: the
    relative width to which each answer's bracket is narrowed. ``progress(n)`` is called after
    each simulated block, ``stage(text)`` at each stage of the search.

    Keys: ``name, capital (the scenario's), paths, coarse_paths, seed, horizon_days, range,
    tolerance, targets [{...target, point, conservative, optimistic: {status, capital, bracket,
    holds_below, at_answer}, capital, capital_conservative, capital_optimistic}], answer
    {capital, capital_conservative, capital_optimistic, status, binding}, curve [...],
    cost {paths_simulated, plain_run_paths, path_equivalents, evaluations, full_evaluations,
    batches}, notes [...]``.
    """
    from .build import build_plan

    if not targets:
        raise ValueError("size_capital: no targets")
    if not (0.0 < tolerance < 1.0):
        raise _bad("--tolerance", f"must be between 0 and 1 (0.01 = 1%), got {tolerance:g}")
    if grid < 3:
        raise _bad("--grid", "must be at least 3")
    base_plan = build_plan(scenario)
    paths = int(scenario.paths if paths is None else paths)
    seed = int(scenario.seed if seed is None else seed)
    if paths < 1:
        raise _bad("--paths", "must be >= 1")
    lo, hi = resolve_range(scenario, targets, min_capital, max_capital)
    if coarse_paths is None:
        coarse_paths = max(BLOCK_SIZE, (paths // 8) // BLOCK_SIZE * BLOCK_SIZE)
    coarse_paths = int(min(coarse_paths, paths))
    if coarse_paths < paths and coarse_paths % BLOCK_SIZE:
        raise _bad("--coarse-paths", f"must be a multiple of {BLOCK_SIZE} (whole blocks)")
    say = stage or (lambda s: None)

    cc = CapitalCurve(scenario, targets, seed, jobs=jobs, progress=progress, backend=backend,
                      scheduler=scheduler)

    # 1. coarse grid ------------------------------------------------------------------------
    caps = [lo] + [_round_capital(c) for c in np.geomspace(lo, hi, grid)[1:-1]] + [hi]
    if lo < float(scenario.capital) < hi:
        caps.append(float(scenario.capital))
    caps = sorted(set(caps))
    say(f"coarse grid: {len(caps)} capitals from {money_cents(lo)} to {money_cents(hi)}, "
        f"{coarse_paths:,} paths each")
    cc.evaluate(caps, coarse_paths)
    rungs = _rungs(coarse_paths, paths)
    aim_paths = rungs[-2] if len(rungs) > 2 else paths

    # 2. refine near the answers --------------------------------------------------------------
    converged = True
    resolution = [tolerance] * len(targets)
    kept: dict = {}                     # bracket -> (lo, hi, rounds lo kept, rounds hi kept)
    for rnd in range(_MAX_ROUNDS + 1):
        pts = cc.sorted_points()
        undecided: set = set()
        answers: set = set()
        brackets = []
        for ti, t in enumerate(targets):
            per = {crit: _answer(pts, t, crit) for crit in CRITERIA}
            res_t = _resolution(per, tolerance)
            resolution[ti] = res_t
            for crit in CRITERIA:
                a = per[crit]
                f_cap, p_cap = a["bracket"]
                if a["capital"] is not None:
                    answers.add(a["capital"])
                floor = -math.inf if f_cap is None else f_cap
                for p in pts:
                    if p.capital >= floor and p.paths < paths \
                            and not t.decided(p.counts[t.key], p.paths):
                        undecided.add(p.capital)
                if a["status"] == "ok":
                    brackets.append(((ti, crit), t, crit, cc.points[f_cap], cc.points[p_cap],
                                     res_t))
        # (a) points whose side of the target is still uncertain, at or above a failing point
        if undecided:
            say(f"refining {len(undecided)} point(s) near the answer, a rung up the ladder "
                f"{'/'.join(f'{r:,}' for r in rungs)} paths")
            _step_up(cc, undecided, rungs)
            continue
        # (b) new points inside brackets wider than the tolerance, interpolated between
        # endpoints at the rung below the full paths at least (a coarse endpoint is too noisy
        # to aim with)
        ends = {p.capital for _, t, crit, lp, hp, r in brackets for p in (lp, hp)
                if p.paths < aim_paths and _proposals(cc, lp, hp, t, crit, r)}
        if ends:
            say(f"refining {len(ends)} bracket end(s), a rung up")
            _step_up(cc, ends, rungs)
            continue
        new: set = set()
        wide_done: set = set()
        # brackets with the same ends (several criteria of one target) share one point while
        # they are wide: the middle criterion's, "point", goes first
        brackets.sort(key=lambda b: b[2] != "point")
        for key, t, crit, lp, hp, r in brackets:
            ends_key = (key[0], lp.capital, hp.capital)
            if math.log(hp.capital / lp.capital) > 6 * math.log1p(r):
                if ends_key in wide_done:
                    continue
                wide_done.add(ends_key)
            prev = kept.get(key)
            nl = prev[2] + 1 if prev is not None and prev[0] == lp.capital else 0
            nh = prev[3] + 1 if prev is not None and prev[1] == hp.capital else 0
            got = _proposals(cc, lp, hp, t, crit, r, (0.5 ** nl, 0.5 ** nh))
            if got:
                kept[key] = (lp.capital, hp.capital, nl, nh)
            new.update(got)
        merged: list[float] = []        # drop proposals closer than a fraction of tolerance
        for c in sorted(new):
            if merged and math.log(c / merged[-1]) < 0.2 * math.log1p(tolerance):
                continue
            merged.append(c)
        if merged and rnd == _MAX_ROUNDS:
            converged = False
            break
        if merged:
            # new points start at the coarse count and climb the ladder while undecided (a)
            say(f"narrowing: {len(merged)} new capital(s)")
            cc.evaluate(merged, coarse_paths)
            continue
        # (c) finally, the answers themselves at the full paths (re-checked next round)
        answers = {c for c in answers if cc.points[c].paths < paths}
        if answers:
            cc.evaluate(sorted(answers), paths)
            continue
        break
    else:
        # the last allowed round still changed something (a rung, an end, the answers):
        # nothing re-checked it, so the search did not converge
        converged = False

    return _result(scenario, base_plan, cc, targets, paths, coarse_paths, seed, lo, hi,
                   tolerance, converged, resolution)


# ---------------------------------------------------------------------------------------------
# result dict
# ---------------------------------------------------------------------------------------------
def _paths_for_zero_bound(level: float) -> int:
    """The fewest paths whose 95% Wilson upper bound with no event is <= ``level``:
    z^2 / (n + z^2) <= level  <=>  n >= z^2 (1 - level) / level."""
    from .metrics import Z95
    n = max(1, math.ceil(Z95 * Z95 * (1.0 - level) / level))
    while wilson(0, n)[1] > level:      # rounding at the edge
        n += 1
    return n


def _prob_json(k: int, n: int) -> dict:
    lo, hi = wilson(k, n)
    return {"probability": k / n, "ci95": [lo, hi], "count": int(k)}


def _curve_row(plan: Plan, pt: _Point, targets: Sequence[Target]) -> dict:
    n = pt.paths
    row = {
        "capital": pt.capital, "paths": n,
        "ruin": _prob_json(pt.counts["ruin"], n),
        "blown_probability": pt.counts["blown"] / n,
        "margin_call": _prob_json(pt.counts["margin_call"], n),
        "tiers": [],
        **{k: v for k, v in pt.extra.items()},
    }
    for k in range(plan.K):
        if not math.isfinite(plan.tier_reach[k]):
            continue
        r = _prob_json(pt.counts[f"reach:{k}:None"], n)
        r = {"index": k, "at": _num_json(plan.tier_labels[k] if k < len(plan.tier_labels)
                                         else plan.tier_reach[k]), **r}
        row["tiers"].append(r)
    row["targets"] = [{"label": t.label, **_prob_json(pt.counts[t.key], n)} for t in targets]
    return row


def _result(scenario, plan: Plan, cc: CapitalCurve, targets, paths, coarse_paths, seed,
            lo, hi, tolerance, converged, resolution) -> dict:
    pts = cc.sorted_points()
    tj = []
    for ti, t in enumerate(targets):
        entry = t.to_json()
        entry["resolution"] = resolution[ti]
        for crit in CRITERIA:
            a = _answer(pts, t, crit)
            if a["capital"] is not None:
                pt = cc.points[a["capital"]]
                a["at_answer"] = {"paths": pt.paths, **_prob_json(pt.counts[t.key], pt.paths),
                                  "trades_per_path": pt.extra["trades_per_path"]}
            else:
                a["at_answer"] = None
            entry[crit] = a
        if t.at_most:
            worst = max(pts, key=lambda p: (p.counts[t.key] / p.paths, -p.capital))
            entry["worst"] = {"capital": worst.capital, "paths": worst.paths,
                              **_prob_json(worst.counts[t.key], worst.paths)}
        entry["capital"] = entry["point"]["capital"]
        entry["capital_conservative"] = entry["conservative"]["capital"]
        entry["capital_optimistic"] = entry["optimistic"]["capital"]
        tj.append(entry)

    answer = {}
    for crit, key in (("point", "capital"), ("conservative", "capital_conservative"),
                      ("optimistic", "capital_optimistic")):
        vals = [e[crit]["capital"] for e in tj]
        answer[key] = None if any(v is None for v in vals) else max(vals)
    binding = None
    if answer["capital"] is not None:
        binding = next(e["label"] for e in tj if e["point"]["capital"] == answer["capital"])
    statuses = [e["point"]["status"] for e in tj]
    answer["status"] = ("not_reached" if "not_reached" in statuses else
                        "holds_everywhere" if all(s == "holds_everywhere" for s in statuses)
                        else "ok")
    answer["binding"] = binding

    notes = []
    floor = wilson(0, paths)[1]             # the 95% upper bound with no event at all
    for e, t in zip(tj, targets):
        for crit in ("point", "conservative"):
            a = e[crit]
            if (a["status"] == "not_reached" and crit == "conservative" and t.at_most
                    and floor > t.level):
                notes.append(f"{e['label']}: no capital can meet the conservative criterion "
                             f"with {paths:,} paths: even no event in {paths:,} paths leaves a "
                             f"95% upper bound of {pct(floor, 2)}, above the target; give more "
                             f"--paths ({_paths_for_zero_bound(t.level):,} at the least, where "
                             "the event never happens; more where it does)")
            elif a["status"] == "not_reached":
                notes.append(f"{e['label']}: the {crit} criterion fails at "
                             f"{money_cents(a['bracket'][0])}, the top of the range; "
                             f"raise --max-capital")
            elif a["status"] == "holds_everywhere":
                tpp = a["at_answer"]["trades_per_path"] if a["at_answer"] else None
                w = e.get("worst")
                notes.append(f"{e['label']}: the {crit} criterion holds at every evaluated "
                             f"capital down to {money_cents(lo)} (the bottom of the search range)"
                             + ("; the plan takes no trade there" if tpp == 0 else
                                f"; the plan averages {tpp:.1f} trades per path there"
                                if tpp is not None else "")
                             + ("" if not w or crit != "point" else
                                "; it never happened at any evaluated capital"
                                if w["count"] == 0 else
                                f"; the highest estimate on the curve is "
                                f"{pct(w['probability'], 2)} at {money_cents(w['capital'])}"))
        hb = e["point"]["holds_below"]
        if hb is not None and e["point"]["status"] == "ok":
            row = cc.points[hb]
            notes.append(f"{e['label']}: not monotone -- also met at {money_cents(hb)} and some "
                         f"lower capitals (the plan averages "
                         f"{row.extra['trades_per_path']:.1f} trades per path at "
                         f"{money_cents(hb)}), but not at {money_cents(e['point']['bracket'][0])}")
        hc = e["conservative"]["holds_below"]
        if hc is not None and e["conservative"]["status"] == "ok":
            notes.append(f"{e['label']}: the conservative (95%) criterion is not monotone "
                         f"-- also met at {money_cents(hc)} and some lower capitals, but not at "
                         f"{money_cents(e['conservative']['bracket'][0])}")
    if not converged:
        notes.append("the refinement stopped after its round limit; brackets may be wider than "
                     "the tolerance")

    n_full = sum(1 for p in pts if p.paths == paths)
    return {
        "name": plan.extras.get("name"),
        "capital": float(scenario.capital),
        "paths": paths, "coarse_paths": coarse_paths, "seed": seed,
        "horizon_days": int(plan.n_days),
        "range": {"min_capital": lo, "max_capital": hi},
        "tolerance": tolerance,
        "targets": tj,
        "answer": answer,
        "curve": [_curve_row(plan, p, targets) for p in pts],
        "cost": {
            "paths_simulated": int(cc.paths_simulated),
            "plain_run_paths": int(paths),
            "path_equivalents": cc.paths_simulated / paths,
            "evaluations": len(pts), "full_evaluations": n_full,
            "batches": cc.batches,
        },
        "notes": notes,
        "converged": converged,
    }


# ---------------------------------------------------------------------------------------------
# JSON numbers (the human report is simcore.text.format_sizing)
# ---------------------------------------------------------------------------------------------
def _num_json(x):
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


# ---------------------------------------------------------------------------------------------
# plot
# ---------------------------------------------------------------------------------------------
def plot_sizing(res: dict, path: str) -> None:
    """A PNG: each target's probability against capital (log scale) with its 95% Wilson band,
    the target level, and the point and conservative answers. The ruin panel is always drawn.
    The figure is :func:`simcore.figures.sizing_figure` (the style of every simrisk figure)."""
    from .figures import DPI, sizing_figure
    sizing_figure(res).savefig(path, format="png", dpi=DPI)
