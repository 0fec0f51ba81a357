"""What a plan may ask of the engine: magnitudes, the edge, the float range, time and memory.

A run that went wrong must never look like one that went right (issue 9). The engine fails a
run whose state became non-finite (:func:`simcore.runner.check_finite`); this module makes
sure a plan that *would* go there -- or whose figures would be meaningless -- is refused
before it starts, as a bad scenario (:class:`~simcore.errors.ScenarioError`, exit status 2)
naming the field and saying why:

* **Magnitudes** (:func:`check_inputs`, before any arithmetic of :func:`simcore.build.build_plan`):
  prices in [1e-6, 1e9]; money amounts (capital, margins, commissions, ``ruin.below``) at most
  1e15 USD; point values at most 1e9 USD; a tick below the price; slippage below the price;
  stop and target distances at least one tick of the market's contract, at least a
  thousandth of one step's standard deviation (``price x vol x sqrt(dt)``), and at most 100
  times the price.
* **The edge** (:func:`check_edges`): a strategy's alpha (typed, or solved from a
  ``win_rate``) may move the price by at most ``EDGE_STEP_SDS`` = 10 standard deviations of one
  step, in one step (``|alpha| dt <= 10 vol sqrt(dt)``). Beyond that the "edge" is not an edge
  but the market itself: a stop a hundredth of a step's move with a 42% win rate solves to an
  alpha of about +24,500 a year, which drives prices past any float in a few days.
* **The float range** (:func:`check_envelope`): over the horizon, a generous envelope of each
  market's log price -- drift, alpha and ``-vol^2/2`` all in one direction for the whole
  horizon, ``Z_ENVELOPE`` = 8 standard deviations of the diffusion, and gaps -- must stay
  within ``LOG_ENVELOPE`` = 230 of the start (a factor of 1e100), and the equity that prices
  could give (capital + every step's largest position value) below 1e150, so that every sum
  and square of the statistics stays finite. Stress rows (volatility multipliers) are checked
  the same way before they run (:func:`simcore.stress.check_stressed`).

:func:`estimate_run` estimates a run's memory and time from its asset-steps (a short timing of
the kernel on the plan itself when the run may be long); the CLI refuses what cannot fit in
memory and warns about what takes more than a minute.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .errors import ScenarioError

__all__ = ["check_inputs", "check_edges", "check_envelope", "envelope_problem",
           "estimate_run", "RunEstimate", "MONEY_MAX", "PRICE_MIN", "PRICE_MAX",
           "EDGE_STEP_SDS", "LOG_ENVELOPE"]

TRADING_DAYS = 252
MONEY_MAX = 1e15            # USD: capital, margins, commissions, ruin.below
PRICE_MIN, PRICE_MAX = 1e-6, 1e9
POINT_VALUE_MAX = 1e9       # USD per 1.0 of price (the largest real one is about 1.25e7)
STOP_MIN_STEP_SD = 1e-3     # stop/target distance >= this fraction of one step's sd
DISTANCE_MAX_PRICES = 100.0 # stop/target distance <= this many times the price
EDGE_STEP_SDS = 10.0        # |alpha| dt <= this many step standard deviations
Z_ENVELOPE = 8.0            # standard deviations of the diffusion in the log-price envelope
LOG_ENVELOPE = 230.0        # |log price move| allowed by the envelope (e^230 ~ 1e100)
EQUITY_MAX = 1e150          # the envelope's equity bound (squares stay finite)


def _g(x: float) -> str:
    return f"{x:.4g}"


# ------------------------------------------------------------------------------------------
# magnitudes
# ------------------------------------------------------------------------------------------
def _market_contracts(scn) -> dict:
    """Market -> the contracts that trade it in some tier (first appearance order)."""
    table = scn.contract_table
    out: dict = {}
    for c in scn.tier_contract_names:
        out.setdefault(table[c].market, []).append(c)
    return out


def _contract_field(scn, c: str, key: str, market: str) -> str:
    """Where a contract figure comes from: the scenario's ``contracts:`` entry when it sets
    it, else the market (a catalog contract on a market whose price is off)."""
    ov = scn.contracts.get(c)
    if ov is not None and getattr(ov, key, None) is not None:
        return f"contracts.{c}.{key}"
    return f"markets.{market}.price"


def check_inputs(scn) -> None:
    """Magnitudes of a validated scenario (see the module docstring); ScenarioError naming the
    field. Runs before any arithmetic of the build, so none of it can overflow."""
    if not scn.capital <= MONEY_MAX:
        raise ScenarioError("capital", f"{_g(scn.capital)} is above {MONEY_MAX:g} USD (a typo, "
                                       "or more than any account)")
    below = scn.rules.ruin.below
    if below is not None and not below <= MONEY_MAX:
        raise ScenarioError("rules.ruin.below", f"must be at most {MONEY_MAX:g} USD")
    for m, spec in scn.markets.items():
        if not PRICE_MIN <= spec.price <= PRICE_MAX:
            raise ScenarioError(f"markets.{m}.price", f"{_g(spec.price)} is outside "
                                f"[{PRICE_MIN:g}, {PRICE_MAX:g}] (quote units: index points, "
                                "$/oz, $ per EUR)")
    table = scn.contract_table
    by_market = _market_contracts(scn)
    slip = scn.rules.slippage_ticks
    for m, cs in by_market.items():
        price = scn.markets[m].price
        for c in cs:
            spec = table[c]
            if not spec.point_value <= POINT_VALUE_MAX:
                raise ScenarioError(f"contracts.{c}.point_value",
                                    f"{_g(spec.point_value)} USD per point is above "
                                    f"{POINT_VALUE_MAX:g}")
            for key in ("initial_margin", "maintenance_margin", "commission"):
                v = getattr(spec, key)
                if not v <= MONEY_MAX:
                    raise ScenarioError(f"contracts.{c}.{key}", f"{_g(v)} is above "
                                                                f"{MONEY_MAX:g} USD")
            if not spec.tick_size < price:
                raise ScenarioError(_contract_field(scn, c, "tick_size", m),
                                    f"{m}'s price {_g(price)} is not above one tick of {c} "
                                    f"({_g(spec.tick_size)})")
            if not slip * spec.tick_size < price:
                raise ScenarioError("rules.slippage_ticks",
                                    f"{_g(slip)} ticks of {c} ({_g(slip * spec.tick_size)}) "
                                    f"is not below {m}'s price ({_g(price)})")
    dt = 1.0 / (TRADING_DAYS * scn.steps_per_day)
    for m in scn.traded_markets:
        st = scn.strategies.get(m)
        if st is None:
            continue
        mk = scn.markets[m]
        tick = min(table[c].tick_size for c in by_market[m])
        tick_c = min(by_market[m], key=lambda c: table[c].tick_size)
        step_sd = mk.price * mk.vol * math.sqrt(dt)
        for key, d in (("stop", scn.stop_distance0(m)), ("target", scn.target_distance0(m))):
            if d is None:
                continue
            here = f"strategies.{m}.{key}"
            if not d <= DISTANCE_MAX_PRICES * mk.price:
                raise ScenarioError(here, f"distance {_g(d)} at the start is more than "
                                          f"{DISTANCE_MAX_PRICES:g} times the price "
                                          f"({_g(mk.price)})")
            if not d >= tick:
                raise ScenarioError(here, f"distance {_g(d)} at the start is less than one tick "
                                          f"of {tick_c} ({_g(tick)}): prices move in ticks")
            if not d >= STOP_MIN_STEP_SD * step_sd:
                raise ScenarioError(here, f"distance {_g(d)} at the start is a tiny fraction "
                                          f"({d / step_sd:.2g}) of one step's move ({_g(step_sd)}"
                                          f" at steps_per_day {scn.steps_per_day}): at least "
                                          f"{STOP_MIN_STEP_SD:g} of it")


# ------------------------------------------------------------------------------------------
# the edge
# ------------------------------------------------------------------------------------------
def check_edges(scn, names, alpha, alpha_source) -> None:
    """Refuse an alpha that moves the price by more than ``EDGE_STEP_SDS`` standard deviations
    of one step, in one step (typed ``alpha``, or solved from ``win_rate``)."""
    dt = 1.0 / (TRADING_DAYS * scn.steps_per_day)
    traded = set(scn.traded_markets)
    for i, m in enumerate(names):
        a = float(alpha[i])
        if m not in traded or alpha_source[i] == "none":
            continue
        sd = scn.markets[m].vol * math.sqrt(dt)
        field = f"strategies.{m}.{alpha_source[i]}"
        what = (f"alpha {a:+.4g}" if alpha_source[i] == "alpha"
                else f"the solved alpha {a:+.4g} (for win_rate {_g(scn.strategies[m].win_rate)})")
        if not math.isfinite(a):
            raise ScenarioError(field, f"{what} is not finite")
        ratio = abs(a) * dt / sd
        if ratio > EDGE_STEP_SDS:
            fix = ("widen the stop or the target, lower win_rate, or raise steps_per_day"
                   if alpha_source[i] == "win_rate" else
                   "alpha is an annual log drift: a few units at most; or raise steps_per_day")
            raise ScenarioError(field, f"{what} a year moves the price {a * dt:+.3g} in log "
                                       f"every step a trade is open, {ratio:,.0f} times a "
                                       f"step's standard deviation ({sd:.3g}; at most "
                                       f"{EDGE_STEP_SDS:g}): an edge that swamps the market is "
                                       f"not a trading edge ({fix})")


# ------------------------------------------------------------------------------------------
# the float range
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EnvelopeProblem:
    market: int                 # index, or -1 for the equity bound
    part: str                   # "price", "drift", "alpha", "vol", "gaps", "equity"
    text: str


def envelope_problem(*, n_days: int, spd: int, logp0, mu, sigma, alpha, vol_mult: float, gap_p, gap_mu,
                     gap_sd, capital: float, position_value, names) -> Optional[EnvelopeProblem]:
    """The first problem of the log-price / equity envelope (module docstring), or None.

    ``vol_mult`` is the largest volatility multiplier (regimes x stress); ``position_value``
    per market is the most contracts any tier holds x the largest point value (USD per 1.0)."""
    T = n_days / TRADING_DAYS
    steps_bound = 0.0
    for i, name in enumerate(names):
        s = float(sigma[i]) * vol_mult
        terms = {
            "drift": abs(float(mu[i])) * T,
            "alpha": abs(float(alpha[i])) * T,
            "vol": 0.5 * s * s * T + Z_ENVELOPE * s * math.sqrt(T),
        }
        p = float(gap_p[i])
        if p > 0:
            n_hi = min(float(n_days), n_days * p + Z_ENVELOPE * math.sqrt(n_days * p * (1 - p))
                       + Z_ENVELOPE)
            terms["gaps"] = n_hi * abs(float(gap_mu[i])) + Z_ENVELOPE * float(gap_sd[i]) \
                * math.sqrt(n_hi)
        move = sum(terms.values())
        if not move <= LOG_ENVELOPE:
            part = max(terms, key=terms.get)
            return EnvelopeProblem(i, part, f"over {n_days:,} days the log price of {name} "
                                   f"could move by {move:,.0f} (a factor e^{move:,.0f}; "
                                   f"drift {terms['drift']:.3g}, alpha {terms['alpha']:.3g}, "
                                   f"volatility {terms['vol']:.3g}"
                                   + (f", gaps {terms['gaps']:.3g}" if "gaps" in terms else "")
                                   + f"), beyond the {LOG_ENVELOPE:g} the engine allows")
        steps_bound += float(position_value[i]) * math.exp(float(logp0[i]) + move)
    equity = capital + float(n_days) * spd * steps_bound     # every step's largest P&L
    if not equity <= EQUITY_MAX:
        return EnvelopeProblem(-1, "equity", f"prices, point values and contract counts could "
                               f"take equity to {equity:.3g} within the horizon, beyond the "
                               f"{EQUITY_MAX:g} the engine allows")
    return None


def check_envelope(scn, names, logp0, mu, sigma, alpha, alpha_source, gap_p, gap_mu,
                   gap_sd) -> None:
    """The envelope of a scenario's plan (build time); ScenarioError naming the field that
    contributes most."""
    vmax = 1.0
    if scn.regimes is not None:
        vmax = max(st.vol_mult for st in scn.regimes.states.values())
    pv_max = _position_values(scn, names)
    prob = envelope_problem(n_days=scn.horizon_days, spd=scn.steps_per_day, logp0=logp0, mu=mu, sigma=sigma,
                            alpha=alpha, vol_mult=vmax, gap_p=gap_p, gap_mu=gap_mu,
                            gap_sd=gap_sd, capital=scn.capital, position_value=pv_max,
                            names=names)
    if prob is None:
        return
    if prob.market < 0:
        raise ScenarioError("horizon_days", prob.text)
    m = names[prob.market]
    field = {
        "drift": f"markets.{m}.drift", "vol": f"markets.{m}.vol",
        "alpha": f"strategies.{m}.{alpha_source[prob.market]}",
        "gaps": f"gaps.{'common' if scn.gaps and 'common' in scn.gaps else m}",
    }[prob.part]
    if prob.part == "vol" and vmax > 1.0:
        g = max(scn.regimes.states, key=lambda k: scn.regimes.states[k].vol_mult)
        field = f"regimes.states.{g}.vol_mult"
    raise ScenarioError(field, prob.text + "; shorten horizon_days")


def _position_values(scn, names) -> np.ndarray:
    table = scn.contract_table
    out = np.zeros(len(names))
    pos = {m: i for i, m in enumerate(names)}
    for tier in scn.tiers:
        for c, n in tier.contracts.items():
            spec = table[c]
            i = pos[spec.market]
            out[i] = max(out[i], n * spec.point_value)
    return out


def plan_envelope_problem(plan, vol_mult: float = 1.0) -> Optional[EnvelopeProblem]:
    """The envelope of a compiled plan with its volatilities multiplied by ``vol_mult`` on
    top of its own multipliers (a stress row)."""
    M = plan.M
    pv = np.zeros(M)
    for k in range(plan.K):
        for i in range(M):
            c = int(plan.tier_contract[k, i])
            if c >= 0:
                pv[i] = max(pv[i], float(plan.tier_max[k, i]) * float(plan.pv[c]))
    return envelope_problem(n_days=plan.n_days, spd=plan.spd, logp0=plan.logp0, mu=plan.mu, sigma=plan.sigma,
                            alpha=plan.alpha, vol_mult=float(np.max(plan.volmult)) * vol_mult,
                            gap_p=plan.gap_p, gap_mu=plan.gap_mu, gap_sd=plan.gap_sd,
                            capital=plan.capital, position_value=pv, names=plan.market_names)


# ------------------------------------------------------------------------------------------
# time and memory
# ------------------------------------------------------------------------------------------
#: a generous upper bound of the kernel's cost per asset-step (s; it measures 25-40 ns on
#: the example plans): a run under a minute even at this cost is not timed at all
SLOW_ASSET_STEP = 2e-7
LONG_RUN_SECONDS = 60.0
#: bytes a path's summaries take (BlockOutput, per path) besides 4 per tier
PATH_BYTES = 48


@dataclass(frozen=True)
class RunEstimate:
    asset_steps: float          # paths x steps x markets x runs
    memory: float               # bytes, peak estimate
    memory_available: float     # bytes, this machine (MemAvailable)
    equity_memory: float        # bytes of the --save-equity array
    seconds: Optional[float]    # wall-clock estimate (None: certainly under a minute)
    cpu_seconds: Optional[float]
    per_asset_step: Optional[float]     # measured kernel cost (s)
    cores: int


def memory_available() -> float:
    """Bytes this process could allocate now: MemAvailable, else the physical memory."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return math.inf


def _time_kernel(plan, paths: int) -> float:
    """Seconds per asset-step of ``plan`` on this machine: one short block of the real
    kernel (about 2 million asset-steps, some tens of milliseconds; at least one path-day, so
    a plan with more than 2 million asset-steps a day times one path's first day)."""
    from .runner import _run_block, block_seed

    n = int(max(1, min(paths, 256, 2_000_000 // max(1, plan.spd * plan.M))))
    days = int(max(1, min(plan.n_days, 2_000_000 // max(1, n * plan.spd * plan.M))))
    short = plan.with_(n_days=days, win_hi=min(plan.win_hi, days))
    t0 = time.perf_counter()
    _run_block(short, block_seed(2**31 - 1, 0), n, False)
    dt = time.perf_counter() - t0
    return dt / (n * days * plan.spd * plan.M)


def estimate_run(plan, paths: int, *, runs: float = 1, keep: float = 2,
                 record_equity: bool = False, jobs=None) -> RunEstimate:
    """Memory and time of ``runs`` runs of ``paths`` paths of ``plan``.

    ``keep``: how many runs' per-path summaries are held at once (a run merges its blocks: 2;
    a stress table keeps the base row too; a sizing search every point it evaluated).
    Time is only estimated (with a short timing of the kernel) when the run could take more
    than a minute at ``SLOW_ASSET_STEP`` per asset-step."""
    from .runner import resolve_jobs

    steps = float(plan.n_days) * plan.spd
    asset_steps = float(paths) * steps * plan.M * runs
    per_path = PATH_BYTES + 4 * plan.K
    equity = float(paths) * (plan.n_days + 1) * 8.0 if record_equity else 0.0
    memory = float(paths) * per_path * keep + 2.0 * equity
    n_blocks = max(1, -(-int(paths) // 1024))
    cores = max(1, min(resolve_jobs(jobs), os.cpu_count() or 1, n_blocks))
    avail = memory_available()
    seconds = cpu = per = None
    if asset_steps * SLOW_ASSET_STEP / cores > LONG_RUN_SECONDS and memory <= avail:
        per = _time_kernel(plan, paths)
        cpu = asset_steps * per
        seconds = cpu / cores
    return RunEstimate(asset_steps, memory, avail, equity, seconds, cpu, per, cores)


def human_bytes(x: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if x < 1000 or unit == "PB":
            return f"{x:,.0f} {unit}" if unit == "bytes" else f"{x:,.1f} {unit}"
        x /= 1000.0
    return f"{x:.3g}"


def human_seconds(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:,.1f} days"
